//! How the kernel command line names a verity-protected toolchain disk, the one format the
//! image builder writes and the guest's `/init` reads:
//!
//! ```text
//! kiln.toolchain=<disk>,<data blocks>,<root hash hex>,<salt hex>
//! ```
//!
//! `<disk>` is the block device's name under `/dev` (`vda`: the first virtio-blk disk), holding
//! `<data blocks>` 4 KiB blocks of SquashFS followed by the dm-verity hash tree (format 1,
//! SHA-256, 4 KiB hash blocks). The command line is part of every launch measurement, so the
//! root hash here is what the evidence covers.

use std::collections::BTreeMap;
use std::fmt;

use crate::statement::ResourceDescriptor;

/// The command-line key.
pub const CMDLINE_KEY: &str = "kiln.toolchain";
/// The URI prefix of a toolchain disk's builder dependency: `kiln:toolchain/<name>`.
pub const TOOLCHAIN_URI_PREFIX: &str = "kiln:toolchain/";
/// The digest name under which the provenance records a disk's dm-verity root hash.
pub const VERITY_ROOT_DIGEST: &str = "dmVeritySha256Root";

/// A toolchain disk as the command line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolchainDiskParam {
    /// The block device's name under `/dev`.
    pub disk: String,
    /// 4 KiB blocks of filesystem before the hash tree.
    pub data_blocks: u64,
    /// The verity root hash.
    pub root: [u8; 32],
    /// The verity salt.
    pub salt: [u8; 32],
}

impl ToolchainDiskParam {
    /// The `key=value` word for the kernel command line.
    pub fn to_cmdline_word(&self) -> String {
        format!(
            "{CMDLINE_KEY}={},{},{},{}",
            self.disk,
            self.data_blocks,
            hex::encode(self.root),
            hex::encode(self.salt)
        )
    }

    /// The toolchain disk a kernel command line names, if it names one.
    pub fn from_cmdline(cmdline: &str) -> Result<Option<Self>, String> {
        let Some(value) = cmdline.split_ascii_whitespace().find_map(|w| {
            w.strip_prefix(CMDLINE_KEY)
                .and_then(|r| r.strip_prefix('='))
        }) else {
            return Ok(None);
        };
        let parts: Vec<&str> = value.split(',').collect();
        let [disk, blocks, root, salt] = parts.as_slice() else {
            return Err(format!(
                "{CMDLINE_KEY}={value}: expected disk,blocks,root,salt"
            ));
        };
        if disk.is_empty() || !disk.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("{CMDLINE_KEY}: disk {disk:?} is not a device name"));
        }
        let data_blocks = blocks
            .parse::<u64>()
            .ok()
            .filter(|b| *b >= 2)
            .ok_or_else(|| format!("{CMDLINE_KEY}: {blocks:?} is not a block count"))?;
        let hash = |what: &str, text: &str| -> Result<[u8; 32], String> {
            hex::decode(text)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| format!("{CMDLINE_KEY}: the {what} is not 64 hex digits"))
        };
        Ok(Some(Self {
            disk: (*disk).to_owned(),
            data_blocks,
            root: hash("root hash", root)?,
            salt: hash("salt", salt)?,
        }))
    }

    /// The kernel `verity` target's parameters for this disk, holding the data followed by the
    /// hash tree (`dm-verity.rst`: version 1, data and hash device, 4 KiB blocks, the data
    /// blocks, the hash start block, sha256, root, salt).
    pub fn verity_table_params(&self) -> String {
        let dev = format!("/dev/{}", self.disk);
        format!(
            "1 {dev} {dev} 4096 4096 {} {} sha256 {} {}",
            self.data_blocks,
            self.data_blocks,
            hex::encode(self.root),
            hex::encode(self.salt)
        )
    }
}

impl ToolchainDiskParam {
    /// The builder dependency the guest records for the disk it verified and mounted, holding
    /// the toolchain `toolchain` (the name in the disk's manifest): `kiln:toolchain/<name>`,
    /// the root hash as its digest, the device, salt and size as annotations.
    pub fn builder_dependency(&self, toolchain: &str) -> ResourceDescriptor {
        ResourceDescriptor {
            uri: Some(format!("{TOOLCHAIN_URI_PREFIX}{toolchain}")),
            digest: BTreeMap::from([(VERITY_ROOT_DIGEST.to_owned(), hex::encode(self.root))]),
            name: Some("toolchain.img".into()),
            annotations: Some(serde_json::json!({
                "disk": format!("/dev/{}", self.disk),
                "verity": "format 1, sha256, 4096-byte blocks",
                "dataBlocks": self.data_blocks,
                "salt": hex::encode(self.salt),
            })),
            ..ResourceDescriptor::default()
        }
    }
}

impl fmt::Display for ToolchainDiskParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_cmdline_word())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_word_round_trips_and_malformed_ones_are_refused() {
        let p = ToolchainDiskParam {
            disk: "vda".into(),
            data_blocks: 300,
            root: [0xab; 32],
            salt: [0xcd; 32],
        };
        let cmdline = format!("console=ttyS0 {} quiet", p.to_cmdline_word());
        assert_eq!(
            ToolchainDiskParam::from_cmdline(&cmdline).unwrap(),
            Some(p.clone())
        );
        assert_eq!(
            ToolchainDiskParam::from_cmdline("console=ttyS0").unwrap(),
            None
        );
        assert_eq!(
            p.verity_table_params(),
            format!(
                "1 /dev/vda /dev/vda 4096 4096 300 300 sha256 {} {}",
                "ab".repeat(32),
                "cd".repeat(32)
            )
        );
        let root = "ab".repeat(32);
        for bad in [
            format!("kiln.toolchain=vda,300,{root}"),
            format!("kiln.toolchain=../x,300,{root},{root}"),
            format!("kiln.toolchain=vda,1,{root},{root}"),
            format!("kiln.toolchain=vda,x,{root},{root}"),
            format!("kiln.toolchain=vda,300,{},{root}", "ab".repeat(31)),
            format!("kiln.toolchain=vda,300,{root},zz"),
        ] {
            assert!(ToolchainDiskParam::from_cmdline(&bad).is_err(), "{bad}");
        }
    }
}
