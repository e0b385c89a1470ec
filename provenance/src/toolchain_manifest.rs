//! The manifest every toolchain disk carries at [`MANIFEST_PATH`]: the toolchain's name in the
//! image recipe and the Debian packages unpacked into it. `kiln image fetch` writes it into the
//! tree before the disk is made, so the disk's dm-verity root hash (on the kernel command line,
//! so in the launch measurement) covers it; the guest reads it from the verified disk and
//! records the toolchain and its packages in the provenance.
//!
//! ```json
//! {"_type": "kiln-toolchain/v1", "name": "rust",
//!  "packages": [{"name": "rustc-web", "version": "1.96.0+dfsg1-1~deb12u2",
//!                "architecture": "amd64", "sha256": "…"}]}
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::statement::ResourceDescriptor;

/// Where the manifest lives in a toolchain tree (and so, once the disk joins the guest's
/// root, at `/usr/share/kiln/toolchain.json`).
pub const MANIFEST_PATH: &str = "usr/share/kiln/toolchain.json";
/// The manifest's `_type`.
pub const MANIFEST_TYPE: &str = "kiln-toolchain/v1";
/// The largest manifest the guest reads.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;
/// The most packages a manifest may list.
pub const MAX_PACKAGES: usize = 4096;

/// A toolchain disk's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolchainManifest {
    /// Always [`MANIFEST_TYPE`].
    #[serde(rename = "_type")]
    pub kind: String,
    /// The toolchain's name in the image recipe (`c`, `rust`).
    pub name: String,
    /// The packages unpacked into the tree, in recipe order.
    pub packages: Vec<DebPackage>,
}

/// One Debian package of a toolchain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebPackage {
    /// The package name.
    pub name: String,
    /// Its exact Debian version.
    pub version: String,
    /// `amd64` or `all`.
    pub architecture: String,
    /// SHA-256 of the `.deb`, lowercase hex (as pinned in the recipe).
    pub sha256: String,
}

impl DebPackage {
    /// The package URL: `pkg:deb/debian/NAME@VERSION?arch=ARCH`, the version percent-encoded
    /// (the purl specification's rule for `:`, `+` and the like).
    pub fn purl(&self) -> String {
        format!(
            "pkg:deb/debian/{}@{}?arch={}",
            percent_encode(&self.name),
            percent_encode(&self.version),
            percent_encode(&self.architecture)
        )
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn is_word(s: &str, extra: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

impl ToolchainManifest {
    /// A manifest for `name` and `packages`.
    pub fn new(name: &str, packages: Vec<DebPackage>) -> Self {
        Self {
            kind: MANIFEST_TYPE.to_owned(),
            name: name.to_owned(),
            packages,
        }
    }

    /// The manifest's bytes (pretty JSON with a final newline).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings and vectors cannot fail.
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parses and checks a manifest read from a disk: its type, a toolchain name, package
    /// names, versions, architectures and digests of the right shape, no package twice.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(format!(
                "the toolchain manifest is {} bytes, more than {MAX_MANIFEST_BYTES}",
                bytes.len()
            ));
        }
        let m: Self = serde_json::from_slice(bytes)
            .map_err(|e| format!("the toolchain manifest is not valid: {e}"))?;
        if m.kind != MANIFEST_TYPE {
            return Err(format!(
                "the toolchain manifest's _type is {:?}, not {MANIFEST_TYPE:?}",
                m.kind
            ));
        }
        if !is_word(&m.name, b"-") || m.name.len() > 32 {
            return Err(format!("{:?} is not a toolchain name", m.name));
        }
        if m.packages.len() > MAX_PACKAGES {
            return Err(format!(
                "the toolchain manifest lists {} packages, more than {MAX_PACKAGES}",
                m.packages.len()
            ));
        }
        let mut seen = BTreeMap::new();
        for p in &m.packages {
            if !is_word(&p.name, b"+-.") {
                return Err(format!("{:?} is not a Debian package name", p.name));
            }
            if !is_word(&p.version, b"+-.~:") {
                return Err(format!(
                    "{}: {:?} is not a Debian version",
                    p.name, p.version
                ));
            }
            if !is_word(&p.architecture, b"") {
                return Err(format!(
                    "{}: {:?} is not an architecture",
                    p.name, p.architecture
                ));
            }
            if p.sha256.len() != 64
                || !p
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(format!("{}: sha256 is not 64 lowercase hex digits", p.name));
            }
            if seen.insert(p.name.as_str(), ()).is_some() {
                return Err(format!("{} is listed twice", p.name));
            }
        }
        Ok(m)
    }

    /// The provenance's resolved dependencies for the packages: one per package, its purl as
    /// URI, the `.deb`'s SHA-256 as digest, the toolchain named in an annotation.
    pub fn resolved_dependencies(&self) -> Vec<ResourceDescriptor> {
        self.packages
            .iter()
            .map(|p| ResourceDescriptor {
                uri: Some(p.purl()),
                digest: BTreeMap::from([("sha256".to_owned(), p.sha256.clone())]),
                name: Some(p.name.clone()),
                annotations: Some(serde_json::json!({ "toolchain": self.name })),
                ..ResourceDescriptor::default()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sample() -> ToolchainManifest {
        ToolchainManifest::new(
            "rust",
            vec![
                DebPackage {
                    name: "rustc-web".into(),
                    version: "1.96.0+dfsg1-1~deb12u2".into(),
                    architecture: "amd64".into(),
                    sha256: "ab".repeat(32),
                },
                DebPackage {
                    name: "busybox-static".into(),
                    version: "1:1.35.0-4+deb12u1+b1".into(),
                    architecture: "amd64".into(),
                    sha256: "cd".repeat(32),
                },
            ],
        )
    }

    #[test]
    fn a_manifest_round_trips_and_names_its_packages_by_purl() {
        let m = sample();
        assert_eq!(ToolchainManifest::parse(&m.to_json()).unwrap(), m);
        let deps = m.resolved_dependencies();
        assert_eq!(
            deps[0].uri.as_deref(),
            Some("pkg:deb/debian/rustc-web@1.96.0%2Bdfsg1-1~deb12u2?arch=amd64")
        );
        assert_eq!(
            deps[1].uri.as_deref(),
            Some("pkg:deb/debian/busybox-static@1%3A1.35.0-4%2Bdeb12u1%2Bb1?arch=amd64")
        );
        assert_eq!(deps[1].digest["sha256"], "cd".repeat(32));
        assert_eq!(deps[0].annotations.as_ref().unwrap()["toolchain"], "rust");
    }

    #[test]
    fn malformed_manifests_are_refused_with_the_reason() {
        let good = String::from_utf8(sample().to_json()).unwrap();
        for (from, to, needle) in [
            ("kiln-toolchain/v1", "kiln-toolchain/v2", "_type"),
            ("\"rust\"", "\"../x\"", "not a toolchain name"),
            (
                "\"rustc-web\"",
                "\"rustc web\"",
                "not a Debian package name",
            ),
            ("1.96.0+dfsg1", "1.96.0/dfsg1", "not a Debian version"),
            ("\"amd64\"", "\"amd 64\"", "not an architecture"),
            (&"ab".repeat(32), &"AB".repeat(32), "64 lowercase hex"),
            ("\"busybox-static\"", "\"rustc-web\"", "listed twice"),
            ("\"packages\"", "\"extra\": 1, \"packages\"", "not valid"),
        ] {
            assert!(good.contains(from), "{from}");
            let e = ToolchainManifest::parse(good.replacen(from, to, 1).as_bytes()).unwrap_err();
            assert!(e.contains(needle), "{from} → {e}");
        }
        assert!(
            ToolchainManifest::parse(&vec![b' '; MAX_MANIFEST_BYTES + 1])
                .unwrap_err()
                .contains("more than")
        );
        assert!(ToolchainManifest::parse(&good.as_bytes()[..40]).is_err());
    }
}
