//! Debian `Packages` indices: the entries kiln needs from them, read from the indices apt has
//! downloaded and verified (`apt-get indextargets`, decompressed by `apt-helper cat-file`).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::str::FromStr;

use super::ArchiveError;

/// One binary package version in an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEntry {
    /// `Package:`.
    pub package: String,
    /// `Version:`.
    pub version: String,
    /// `Architecture:`.
    pub architecture: String,
    /// Path in the archive, `pool/...`.
    pub filename: String,
    /// SHA-256 of the `.deb`, lowercase hex.
    pub sha256: String,
    /// The raw `Depends:` field (empty when absent).
    pub depends: String,
    /// The suite (distribution) as the apt sources name it: `bookworm-security`.
    pub suite: String,
    /// The archive's base URL as the apt sources name it: `http://deb.debian.org/debian`.
    pub site: String,
}

impl PackageEntry {
    /// The archive name for the snapshot service: the last path part of the site
    /// (`debian`, `debian-security`).
    pub fn archive(&self) -> &str {
        self.site
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
    }

    /// The Debian version, parsed; `None` when the index holds something that is not one.
    pub fn parsed_version(&self) -> Option<debversion::Version> {
        debversion::Version::from_str(&self.version).ok()
    }
}

/// Which packages to keep from an index: these names, and any name with one of the prefixes.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// Package names kept exactly.
    pub names: BTreeSet<String>,
    /// Name prefixes kept (the kernel's versioned package names).
    pub prefixes: Vec<String>,
}

impl Wanted {
    /// Whether `package` is wanted.
    pub fn contains(&self, package: &str) -> bool {
        self.names.contains(package)
            || self
                .prefixes
                .iter()
                .any(|p| package.starts_with(p.as_str()))
    }
}

/// The architectures kiln's guest takes packages of.
const ARCHES: [&str; 2] = ["amd64", "all"];

/// Reads the paragraphs of a `Packages` index, keeping the entries of `wanted` packages for the
/// guest's architectures. Multi-line fields are skipped; a paragraph of a wanted package that
/// lacks Version, Filename or SHA256 is an error naming the package.
pub fn parse_packages(
    reader: impl BufRead,
    file: &str,
    suite: &str,
    site: &str,
    wanted: &Wanted,
    out: &mut Vec<PackageEntry>,
) -> Result<(), ArchiveError> {
    #[derive(Default)]
    struct Para {
        package: Option<String>,
        version: Option<String>,
        arch: Option<String>,
        filename: Option<String>,
        sha256: Option<String>,
        depends: Option<String>,
    }
    let finish = |p: Para, out: &mut Vec<PackageEntry>| -> Result<(), ArchiveError> {
        let Some(package) = p.package else {
            return Ok(());
        };
        if !wanted.contains(&package) {
            return Ok(());
        }
        let arch = p.arch.unwrap_or_default();
        if !ARCHES.contains(&arch.as_str()) {
            return Ok(());
        }
        let missing = |field: &str| ArchiveError::Index {
            file: file.to_owned(),
            reason: format!("{package}: no {field} field"),
        };
        let sha256 = p
            .sha256
            .ok_or_else(|| missing("SHA256"))?
            .to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ArchiveError::Index {
                file: file.to_owned(),
                reason: format!("{package}: SHA256 {sha256:?} is not 64 hex digits"),
            });
        }
        out.push(PackageEntry {
            version: p.version.ok_or_else(|| missing("Version"))?,
            filename: p.filename.ok_or_else(|| missing("Filename"))?,
            package,
            architecture: arch,
            sha256,
            depends: p.depends.unwrap_or_default(),
            suite: suite.to_owned(),
            site: site.to_owned(),
        });
        Ok(())
    };
    let mut para = Para::default();
    for line in reader.lines() {
        let line = line.map_err(|e| ArchiveError::Index {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
        if line.trim().is_empty() {
            finish(std::mem::take(&mut para), out)?;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_owned();
        match key.to_ascii_lowercase().as_str() {
            "package" => para.package = Some(value),
            "version" => para.version = Some(value),
            "architecture" => para.arch = Some(value),
            "filename" => para.filename = Some(value),
            "sha256" => para.sha256 = Some(value),
            "depends" => para.depends = Some(value),
            _ => {}
        }
    }
    finish(para, out)
}

/// The entries of the wanted packages in every trusted `Packages` index apt holds.
#[derive(Debug, Clone, Default)]
pub struct AptIndices {
    /// Every wanted entry, in index order.
    pub entries: Vec<PackageEntry>,
}

fn run(cmd: &mut Command) -> Result<Vec<u8>, ArchiveError> {
    let command = format!("{cmd:?}").replace('"', "");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ArchiveError::Apt {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(ArchiveError::Apt {
            command,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}

impl AptIndices {
    /// Reads apt's `Packages` indices (the configured sources, as of the last `apt-get
    /// update`; `APT_CONFIG` is honoured) for the `wanted` packages. Indices apt does not mark
    /// trusted are skipped.
    pub fn load(wanted: &Wanted) -> Result<Self, ArchiveError> {
        let targets = run(Command::new("apt-get").args([
            "indextargets",
            "--format",
            "$(FILENAME)\t$(RELEASE)\t$(SITE)\t$(TRUSTED)",
            "Identifier: Packages",
        ]))?;
        let mut entries = Vec::new();
        for line in String::from_utf8_lossy(&targets).lines() {
            let mut parts = line.split('\t');
            let (Some(file), Some(suite), Some(site), Some(trusted)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if trusted != "yes" || !std::path::Path::new(file).is_file() {
                continue;
            }
            let mut child = Command::new("/usr/lib/apt/apt-helper")
                .args(["cat-file", file])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| ArchiveError::Apt {
                    command: format!("apt-helper cat-file {file}"),
                    detail: e.to_string(),
                })?;
            let parsed = match child.stdout.take() {
                Some(stdout) => parse_packages(
                    BufReader::with_capacity(1 << 20, stdout),
                    file,
                    suite,
                    site,
                    wanted,
                    &mut entries,
                ),
                None => Ok(()),
            };
            let status = child
                .wait()
                .map_err(ArchiveError::io("wait for apt-helper"))?;
            parsed?;
            if !status.success() {
                return Err(ArchiveError::Apt {
                    command: format!("apt-helper cat-file {file}"),
                    detail: format!("exit status {status}"),
                });
            }
        }
        Ok(AptIndices { entries })
    }

    /// The entries of `package` at `version`, in any suite.
    pub fn find<'a>(
        &'a self,
        package: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a PackageEntry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.package == package && e.version == version)
    }

    /// The newest version of `package` in `suite` (Debian version order).
    pub fn newest(&self, package: &str, suite: &str) -> Option<&PackageEntry> {
        self.entries
            .iter()
            .filter(|e| e.package == package && e.suite == suite)
            .filter_map(|e| e.parsed_version().map(|v| (v, e)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, e)| e)
    }
}

/// The kernel package a kernel metapackage's `Depends:` names: the first alternative that
/// starts with `linux-image-` (`linux-image-cloud-amd64` → `linux-image-6.12.43+deb12-cloud-amd64`).
pub fn kernel_of_metapackage(depends: &str) -> Option<&str> {
    depends
        .split([',', '|'])
        .map(|d| d.trim().split([' ', '(']).next().unwrap_or_default())
        .find(|name| name.starts_with("linux-image-"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const INDEX: &str = "\
Package: hello
Version: 1.0-1
Architecture: amd64
Filename: pool/main/h/hello/hello_1.0-1_amd64.deb
SHA256: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
Description: a
 continued: not a field

Package: hello
Version: 1.0-1+deb12u1
Architecture: amd64
Filename: pool/main/h/hello/hello_1.0-1+deb12u1_amd64.deb
SHA256: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb

Package: hello
Version: 1:0.1
Architecture: arm64
Filename: pool/main/h/hello/hello_0.1_arm64.deb
SHA256: cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc

Package: other
Version: 9
Architecture: amd64
Filename: pool/main/o/other/other_9_amd64.deb
SHA256: dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
";

    fn indices(text: &str) -> Result<AptIndices, ArchiveError> {
        let wanted = Wanted {
            names: BTreeSet::from(["hello".to_owned()]),
            prefixes: Vec::new(),
        };
        let mut entries = Vec::new();
        parse_packages(
            text.as_bytes(),
            "f",
            "bookworm",
            "http://x/debian",
            &wanted,
            &mut entries,
        )?;
        Ok(AptIndices { entries })
    }

    #[test]
    fn wanted_entries_of_the_guest_architecture_and_the_newest_by_debian_order() {
        let ix = indices(INDEX).unwrap();
        assert_eq!(
            ix.entries.len(),
            2,
            "arm64 and unwanted packages are left out"
        );
        assert_eq!(ix.entries[0].sha256, "a".repeat(64), "lowercased");
        let newest = ix.newest("hello", "bookworm").unwrap();
        assert_eq!(newest.version, "1.0-1+deb12u1");
        assert_eq!(newest.archive(), "debian");
        assert!(ix.newest("hello", "bookworm-security").is_none());
        assert_eq!(ix.find("hello", "1.0-1").count(), 1);
    }

    #[test]
    fn a_wanted_paragraph_without_a_digest_is_an_error_naming_it() {
        let text = INDEX.replace(
            "SHA256: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n",
            "",
        );
        let e = indices(&text).unwrap_err().to_string();
        assert!(e.contains("hello: no SHA256"), "{e}");
        let text = INDEX.replace(&"b".repeat(64), "xyz");
        let e = indices(&text).unwrap_err().to_string();
        assert!(e.contains("not 64 hex digits"), "{e}");
    }

    #[test]
    fn the_kernel_of_a_metapackage() {
        assert_eq!(
            kernel_of_metapackage("linux-image-6.12.43+deb12-cloud-amd64 (= 6.12.43-1~bpo12+1)"),
            Some("linux-image-6.12.43+deb12-cloud-amd64")
        );
        assert_eq!(
            kernel_of_metapackage(
                "initramfs-tools | linux-initramfs-tool, linux-image-6.1.0-28-cloud-amd64"
            ),
            Some("linux-image-6.1.0-28-cloud-amd64")
        );
        assert_eq!(kernel_of_metapackage("libc6 (>= 2.36)"), None);
    }
}
