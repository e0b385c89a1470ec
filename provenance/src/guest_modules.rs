//! The kernel modules a guest's `/init` loads, one line each, as the image recipe lists them
//! and the image's `kiln-modules` file repeats them (both measured):
//!
//! ```text
//! kernel/drivers/md/dm-mod.ko
//! kernel/drivers/virt/coco/sev-guest/sev-guest.ko if platform:sev-guest
//! kernel/fs/configfs/configfs.ko if platform:sev-guest|cpu:tdx_guest
//! ```
//!
//! A module with an `if` is loaded only when one of its conditions holds on the machine that
//! booted: `cpu:FLAG` (a word of the `flags` line of `/proc/cpuinfo`), `platform:NAME` (a
//! device `/sys/bus/platform/devices/NAME`, such as the `sev-guest` device an SEV-SNP guest's
//! kernel registers) or `virtio:ID` (a virtio device of that id, as
//! `/sys/bus/virtio/devices/*/device` gives it: `0x0013` vsock, `0x0021` the Nitro Security
//! Module). Drivers for hardware the machine lacks are then not loaded at all, which saves their
//! load time at every boot; the conditions are in the measured image, so the host cannot change
//! which drivers a guest loads.

use std::fmt;

/// One condition of a module line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleCondition {
    /// A CPU flag in `/proc/cpuinfo`.
    Cpu(String),
    /// A platform device by name.
    Platform(String),
    /// A virtio device id, `0x` and four hex digits.
    Virtio(String),
}

/// A module to load, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleLine {
    /// The module's path under `/lib/modules/<release>/`.
    pub path: String,
    /// Load only when one of these holds; always when empty.
    pub when: Vec<ModuleCondition>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

impl ModuleLine {
    /// Parses `PATH` or `PATH if COND|COND…`.
    pub fn parse(line: &str) -> Result<Self, String> {
        let line = line.trim();
        let (path, when) = match line.split_once(" if ") {
            Some((p, c)) => (p.trim(), Some(c.trim())),
            None => (line, None),
        };
        if !path.ends_with(".ko")
            || path.starts_with('/')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
            || path.bytes().any(|b| b.is_ascii_whitespace())
        {
            return Err(format!("module path {path:?}"));
        }
        let mut conditions = Vec::new();
        if let Some(when) = when {
            for c in when.split('|') {
                let cond = match c.trim().split_once(':') {
                    Some(("cpu", f)) if is_name(f) => ModuleCondition::Cpu(f.to_owned()),
                    Some(("platform", n)) if is_name(n) => ModuleCondition::Platform(n.to_owned()),
                    Some(("virtio", id))
                        if id.len() == 6
                            && id.starts_with("0x")
                            && id.bytes().skip(2).all(|b| b.is_ascii_hexdigit()) =>
                    {
                        ModuleCondition::Virtio(id.to_ascii_lowercase())
                    }
                    _ => {
                        return Err(format!(
                            "{path}: condition {c:?} is not cpu:FLAG, platform:NAME or \
                             virtio:0xNNNN"
                        ))
                    }
                };
                conditions.push(cond);
            }
        }
        Ok(Self {
            path: path.to_owned(),
            when: conditions,
        })
    }
}

impl fmt::Display for ModuleCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu(x) => write!(f, "cpu:{x}"),
            Self::Platform(x) => write!(f, "platform:{x}"),
            Self::Virtio(x) => write!(f, "virtio:{x}"),
        }
    }
}

impl fmt::Display for ModuleLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        for (i, c) in self.when.iter().enumerate() {
            f.write_str(if i == 0 { " if " } else { "|" })?;
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_round_trip_and_bad_ones_are_refused() {
        for line in [
            "kernel/drivers/md/dm-mod.ko",
            "kernel/drivers/virt/coco/sev-guest/sev-guest.ko if platform:sev-guest",
            "kernel/fs/configfs/configfs.ko if platform:sev-guest|cpu:tdx_guest|virtio:0x0021",
        ] {
            assert_eq!(ModuleLine::parse(line).unwrap().to_string(), line);
        }
        let l = ModuleLine::parse("a/b.ko if virtio:0x00AB").unwrap();
        assert_eq!(l.when, vec![ModuleCondition::Virtio("0x00ab".into())]);
        for bad in [
            "a/b",
            "/a/b.ko",
            "a/../b.ko",
            "a/b.ko if",
            "a/b.ko if gpu:x",
            "a/b.ko if cpu:",
            "a/b.ko if virtio:33",
            "a/b.ko if cpu:a b",
            "a/b.ko if platform:../x",
        ] {
            assert!(ModuleLine::parse(bad).is_err(), "{bad}");
        }
    }
}
