//! The source archive: received in chunks, checked against the request's size and SHA-256
//! before anything is unpacked, then unpacked with only regular files, directories and
//! symlinks that stay inside the tree.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use kiln_proto::{read_message, Message};
use kiln_provenance::SourceRef;
use kiln_tee::device::{message_kind, Channel};
use sha2::{Digest, Sha256};
use tar::EntryType;

use crate::error::EnclaveError;

/// Receives `SourceChunk*` then `SourceEnd` into `dest`, refusing more bytes than the request
/// names, and checks the size and digest once the end arrives.
pub fn receive(
    control: &mut dyn Channel,
    source: &SourceRef,
    dest: &Path,
) -> Result<(), EnclaveError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .map_err(|e| EnclaveError::io("create", dest, e))?;
    let mut hasher = Sha256::new();
    let mut got: u64 = 0;
    let mut control = control;
    loop {
        match read_message(&mut control).map_err(EnclaveError::frame("receive the source"))? {
            Message::SourceChunk { data } => {
                got = got.saturating_add(data.len() as u64);
                if got > source.size {
                    return Err(EnclaveError::SourceTooLong {
                        expected: source.size,
                        got,
                    });
                }
                hasher.update(&data);
                file.write_all(&data)
                    .map_err(|e| EnclaveError::io("write", dest, e))?;
            }
            Message::SourceEnd => break,
            other => {
                return Err(EnclaveError::Protocol {
                    expected: "a source chunk or the source end",
                    got: message_kind(&other),
                })
            }
        }
    }
    file.sync_all()
        .map_err(|e| EnclaveError::io("write", dest, e))?;
    let digest = hex::encode(hasher.finalize());
    if got != source.size || !digest.eq_ignore_ascii_case(&source.sha256) {
        return Err(EnclaveError::SourceMismatch {
            expected: source.sha256.clone(),
            got: digest,
            expected_size: source.size,
            got_size: got,
        });
    }
    Ok(())
}

/// The archive path of an entry as a relative path of normal components (`.` dropped);
/// absolute paths and `..` are refused.
fn safe_relative(raw: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("the path contains \"..\"".into()),
            Component::RootDir | Component::Prefix(_) => return Err("the path is absolute".into()),
        }
    }
    Ok(out)
}

/// Whether a symlink at `link` (relative to the root) with `target` stays inside the root
/// when read lexically.
fn link_stays_inside(link: &Path, target: &Path) -> bool {
    if target.has_root() {
        return false;
    }
    let mut depth: usize = link.parent().map_or(0, |p| p.components().count());
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Every parent of `rel` under `root` that exists must be a real directory (never a
/// symlink), so that nothing is written through a link.
fn check_parents(root: &Path, rel: &Path, entry: &str) -> Result<(), EnclaveError> {
    let mut cur = root.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(EnclaveError::Unpack {
                        entry: entry.to_owned(),
                        reason: format!(
                            "its parent {} is not a directory",
                            cur.strip_prefix(root).unwrap_or(&cur).display()
                        ),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&cur).map_err(|e| EnclaveError::io("create", &cur, e))?;
                }
                Err(e) => return Err(EnclaveError::io("inspect", &cur, e)),
            }
        }
    }
    Ok(())
}

/// Unpacks the tar at `archive` into the (empty) directory `root`. Regular files keep their
/// executable bit; symlinks are created last, after every file, so that no entry is ever
/// written through one.
pub fn unpack(archive: &Path, root: &Path) -> Result<usize, EnclaveError> {
    let file = File::open(archive).map_err(|e| EnclaveError::io("open", archive, e))?;
    let mut tar = tar::Archive::new(file);
    let entries = tar.entries().map_err(|e| EnclaveError::Unpack {
        entry: "(archive)".into(),
        reason: e.to_string(),
    })?;
    let mut links: Vec<(PathBuf, PathBuf, String)> = Vec::new();
    let mut count = 0usize;
    for entry in entries {
        let mut entry = entry.map_err(|e| EnclaveError::Unpack {
            entry: "(archive)".into(),
            reason: e.to_string(),
        })?;
        let raw = entry
            .path()
            .map_err(|e| EnclaveError::Unpack {
                entry: "(unreadable path)".into(),
                reason: e.to_string(),
            })?
            .into_owned();
        let shown = raw.display().to_string();
        let refuse = |reason: String| EnclaveError::Unpack {
            entry: shown.clone(),
            reason,
        };
        let rel = safe_relative(&raw).map_err(&refuse)?;
        let kind = entry.header().entry_type();
        if rel.as_os_str().is_empty() {
            if kind == EntryType::Directory {
                continue;
            }
            return Err(refuse("an entry without a name".into()));
        }
        let dest = root.join(&rel);
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                check_parents(root, &rel, &shown)?;
                let mode = entry.header().mode().map_err(|e| refuse(e.to_string()))?;
                let mut out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(if mode & 0o111 != 0 { 0o755 } else { 0o644 })
                    .open(&dest)
                    .map_err(|e| EnclaveError::io("create", &dest, e))?;
                io::copy(&mut entry, &mut out).map_err(|e| EnclaveError::io("write", &dest, e))?;
            }
            EntryType::Directory => {
                check_parents(root, &rel, &shown)?;
                match fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(refuse("a directory over an existing file".into())),
                    Err(_) => {
                        fs::create_dir(&dest).map_err(|e| EnclaveError::io("create", &dest, e))?
                    }
                }
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| refuse(e.to_string()))?
                    .ok_or_else(|| refuse("a symlink without a target".into()))?
                    .into_owned();
                if !link_stays_inside(&rel, &target) {
                    return Err(refuse(format!(
                        "the symlink points outside the source: {}",
                        target.display()
                    )));
                }
                links.push((rel, target, shown.clone()));
            }
            EntryType::XGlobalHeader | EntryType::XHeader => continue,
            other => {
                return Err(refuse(format!(
                    "{other:?} entries are not allowed (only regular files, directories and \
                     symlinks)"
                )))
            }
        }
        count += 1;
    }
    create_links(root, &links)?;
    Ok(count)
}

fn create_links(root: &Path, links: &[(PathBuf, PathBuf, String)]) -> Result<(), EnclaveError> {
    for (rel, target, shown) in links {
        check_parents(root, rel, shown)?;
        let dest = root.join(rel);
        std::os::unix::fs::symlink(target, &dest)
            .map_err(|e| EnclaveError::io("create symlink", &dest, e))?;
    }
    // Chains of links can leave the tree even when each stays inside lexically: resolve them.
    let canon_root = fs::canonicalize(root).map_err(|e| EnclaveError::io("resolve", root, e))?;
    for (rel, target, shown) in links {
        if let Ok(resolved) = fs::canonicalize(root.join(rel)) {
            if !resolved.starts_with(&canon_root) {
                return Err(EnclaveError::Unpack {
                    entry: shown.clone(),
                    reason: format!(
                        "the symlink resolves outside the source: {}",
                        target.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> tempfile::NamedTempFile {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let bytes = b.into_inner().unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        f
    }

    fn header(kind: EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h
    }

    /// Writes a raw name into the header, bypassing the tar crate's own checks, as a hostile
    /// packer would.
    fn raw_name(h: &mut tar::Header, name: &str) {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
    }

    fn unpack_err(f: &tempfile::NamedTempFile) -> String {
        let dir = tempfile::tempdir().unwrap();
        crate::error::report(&unpack(f.path(), dir.path()).unwrap_err())
    }

    #[test]
    fn files_dirs_and_inner_links_unpack() {
        let f = archive(|b| {
            let mut h = header(EntryType::Directory, 0);
            h.set_mode(0o755);
            b.append_data(&mut h, "d/", io::empty()).unwrap();
            let mut h = header(EntryType::Regular, 2);
            h.set_mode(0o755);
            b.append_data(&mut h, "d/run.sh", &b"hi"[..]).unwrap();
            let mut h = header(EntryType::Symlink, 0);
            b.append_link(&mut h, "link", "d/run.sh").unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(unpack(f.path(), dir.path()).unwrap(), 3);
        assert_eq!(fs::read(dir.path().join("link")).unwrap(), b"hi");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("d/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
    }

    #[test]
    fn traversal_absolute_devices_and_outside_links_are_refused() {
        let f = archive(|b| {
            let mut h = header(EntryType::Regular, 1);
            raw_name(&mut h, "../evil");
            b.append(&h, &b"x"[..]).unwrap();
        });
        assert!(unpack_err(&f).contains("\"..\""), "{}", unpack_err(&f));
        let f = archive(|b| {
            let mut h = header(EntryType::Regular, 1);
            raw_name(&mut h, "/etc/evil");
            b.append(&h, &b"x"[..]).unwrap();
        });
        assert!(unpack_err(&f).contains("absolute"));
        let f = archive(|b| {
            let mut h = header(EntryType::Char, 0);
            b.append_data(&mut h, "tty", io::empty()).unwrap();
        });
        assert!(unpack_err(&f).contains("not allowed"));
        let f = archive(|b| {
            let mut h = header(EntryType::Link, 0);
            b.append_link(&mut h, "hard", "x").unwrap();
        });
        assert!(unpack_err(&f).contains("not allowed"));
        for target in ["/etc/passwd", "../x", "a/../../x"] {
            let f = archive(|b| {
                let mut h = header(EntryType::Symlink, 0);
                b.append_link(&mut h, "l", target).unwrap();
            });
            assert!(unpack_err(&f).contains("outside"), "{target}");
        }
    }

    #[test]
    fn a_chain_of_links_leaving_the_tree_is_refused() {
        // a/y -> ../x stays inside lexically, and so does a/z -> y/../.. read as text; but
        // the kernel resolves a/z through a/y (= x) and then two levels up: outside.
        let f = archive(|b| {
            let mut h = header(EntryType::Directory, 0);
            b.append_data(&mut h, "a/", io::empty()).unwrap();
            let mut h = header(EntryType::Directory, 0);
            b.append_data(&mut h, "x/", io::empty()).unwrap();
            let mut h = header(EntryType::Symlink, 0);
            b.append_link(&mut h, "a/y", "../x").unwrap();
            let mut h = header(EntryType::Symlink, 0);
            b.append_link(&mut h, "a/z", "y/../..").unwrap();
        });
        assert!(
            unpack_err(&f).contains("resolves outside"),
            "{}",
            unpack_err(&f)
        );
    }

    #[test]
    fn nothing_is_written_through_a_link() {
        // A link to a directory, then a file "through" it: the file must not land in the
        // link's target (links are made after files, so the parent is a real directory).
        let f = archive(|b| {
            let mut h = header(EntryType::Directory, 0);
            b.append_data(&mut h, "real/", io::empty()).unwrap();
            let mut h = header(EntryType::Symlink, 0);
            b.append_link(&mut h, "via", "real").unwrap();
            let mut h = header(EntryType::Regular, 1);
            b.append_data(&mut h, "via/f", &b"x"[..]).unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(f.path(), dir.path()).unwrap_err();
        assert!(crate::error::report(&err).contains("via"));
        assert!(!dir.path().join("real/f").exists());
    }
}
