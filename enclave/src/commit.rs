//! The guest's proof of the source's git commit and its reading of the recipe, both from the
//! unpacked, digest-checked source, before the build runs (nothing else writes there yet).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use kiln_provenance::git::{self, Hasher, Node, ObjectFormat};
use kiln_provenance::{parse_recipe, Recipe, SourceRef};

use crate::error::EnclaveError;

/// A commit the guest proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenCommit {
    /// The commit id.
    pub commit: String,
    /// `sha1` or `sha256`.
    pub format: &'static str,
    /// The tree id of the unpacked source, hex.
    pub tree: String,
    /// The packed folder's path in the commit.
    pub path: String,
}

/// Proves the request's commit over the unpacked source at `src`, or returns `None` when the
/// request names no commit (a plain folder). See [`git::check_proof`] for the steps.
pub fn prove(source: &SourceRef, src: &Path) -> Result<Option<ProvenCommit>, EnclaveError> {
    let (commit, proof) = match (&source.commit, &source.git) {
        (None, None) => return Ok(None),
        (Some(c), Some(p)) => (c, p),
        (Some(c), None) => {
            return Err(EnclaveError::Commit {
                commit: c.clone(),
                reason: "the host sent no git objects to prove it".into(),
            })
        }
        (None, Some(_)) => {
            return Err(EnclaveError::Request {
                reason: "git objects without a commit".into(),
            })
        }
    };
    let fail = |reason: String| EnclaveError::Commit {
        commit: commit.clone(),
        reason,
    };
    let format = ObjectFormat::of_commit(commit)
        .ok_or_else(|| fail("not a 40- or 64-hex-digit commit id".into()))?;
    let tree = tree_of(src, format)?;
    git::check_proof(commit, proof, &tree, source.source_date_epoch)
        .map_err(|e| fail(e.to_string()))?;
    Ok(Some(ProvenCommit {
        commit: commit.to_ascii_lowercase(),
        format: format.as_str(),
        tree: hex::encode(tree),
        path: proof.path.clone(),
    }))
}

/// The git tree id of the folder `dir`, as git would compute it for the same files.
pub fn tree_of(dir: &Path, format: ObjectFormat) -> Result<Vec<u8>, EnclaveError> {
    let node = walk(dir, format)?;
    git::tree_id(format, &node).map_err(|e| EnclaveError::Commit {
        commit: "(source)".into(),
        reason: e.to_string(),
    })
}

fn walk(dir: &Path, format: ObjectFormat) -> Result<BTreeMap<Vec<u8>, Node>, EnclaveError> {
    let mut out = BTreeMap::new();
    let entries = fs::read_dir(dir).map_err(|e| EnclaveError::io("read", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| EnclaveError::io("read", dir, e))?;
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| EnclaveError::io("stat", &path, e))?;
        let name = entry.file_name().as_bytes().to_vec();
        let node = if meta.is_dir() {
            Node::Dir(walk(&path, format)?)
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(|e| EnclaveError::io("read", &path, e))?;
            let bytes = target.as_os_str().as_bytes();
            Node::Symlink {
                id: finish(
                    {
                        let mut h = Hasher::new(format, "blob", bytes.len() as u64);
                        h.update(bytes);
                        h
                    },
                    &path,
                )?,
            }
        } else if meta.is_file() {
            let mut f = File::open(&path).map_err(|e| EnclaveError::io("open", &path, e))?;
            let mut h = Hasher::new(format, "blob", meta.len());
            let mut buf = vec![0u8; 1 << 16];
            let mut total: u64 = 0;
            loop {
                let n = f
                    .read(&mut buf)
                    .map_err(|e| EnclaveError::io("read", &path, e))?;
                if n == 0 {
                    break;
                }
                total = total.saturating_add(n as u64);
                h.update(buf.get(..n).unwrap_or_default());
            }
            if total != meta.len() {
                return Err(EnclaveError::io(
                    "read",
                    &path,
                    std::io::Error::other("the file changed size while it was hashed"),
                ));
            }
            Node::File {
                executable: meta.permissions().mode() & 0o111 != 0,
                id: finish(h, &path)?,
            }
        } else {
            return Err(EnclaveError::io(
                "hash",
                &path,
                std::io::Error::other("neither a file, a folder nor a symlink"),
            ));
        };
        out.insert(name, node);
    }
    Ok(out)
}

fn finish(h: Hasher, path: &Path) -> Result<Vec<u8>, EnclaveError> {
    h.finish(&path.display().to_string())
        .map_err(|e| EnclaveError::Commit {
            commit: "(source)".into(),
            reason: e.to_string(),
        })
}

/// Reads and parses the recipe at `recipe_path` in the unpacked source: a relative path of
/// plain components, every one a real folder or (the last) a regular file, never a symlink.
pub fn read_recipe(src: &Path, recipe_path: &str) -> Result<Recipe, EnclaveError> {
    let fail = |reason: String| EnclaveError::Recipe {
        path: recipe_path.to_owned(),
        reason,
    };
    let rel = Path::new(recipe_path);
    if recipe_path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(fail("not a relative path of plain names".into()));
    }
    let mut cur = src.to_path_buf();
    let count = rel.components().count();
    for (i, c) in rel.components().enumerate() {
        cur.push(c);
        let meta = fs::symlink_metadata(&cur).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => fail("the source has no such file".into()),
            _ => fail(e.to_string()),
        })?;
        let last = i + 1 == count;
        if (last && !meta.is_file()) || (!last && !meta.is_dir()) {
            return Err(fail(format!(
                "{} is not a plain {} (symlinks are not followed)",
                cur.strip_prefix(src).unwrap_or(&cur).display(),
                if last { "file" } else { "folder" }
            )));
        }
    }
    let bytes = fs::read(&cur).map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8".into()))?;
    parse_recipe(&text).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let o = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_DATE", "1700000000 +0000")
            .env("GIT_COMMITTER_DATE", "1700000000 +0000")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    }

    /// The tree recomputed from files on disk equals git's own, for SHA-1 and SHA-256
    /// repositories, with executables, symlinks and names that sort differently as folders.
    #[test]
    fn the_recomputed_tree_is_git_s() {
        for format in ["sha1", "sha256"] {
            let d = tempfile::tempdir().unwrap();
            let r = d.path();
            git(r, &["init", "-q", &format!("--object-format={format}")]);
            fs::create_dir_all(r.join("a/deep")).unwrap();
            fs::write(r.join("a/deep/x.c"), b"int x;\n").unwrap();
            fs::write(r.join("a-b"), b"file\n").unwrap();
            fs::write(r.join("a.txt"), b"").unwrap();
            fs::write(r.join("run.sh"), b"#!/bin/sh\n").unwrap();
            fs::set_permissions(r.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::symlink("a/deep/x.c", r.join("link")).unwrap();
            git(r, &["add", "-A"]);
            git(
                r,
                &[
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@t",
                    "commit",
                    "-qm",
                    "m",
                ],
            );
            let want = git(r, &["rev-parse", "HEAD^{tree}"]);
            fs::remove_dir_all(r.join(".git")).unwrap();
            let f = if format == "sha1" {
                ObjectFormat::Sha1
            } else {
                ObjectFormat::Sha256
            };
            assert_eq!(hex::encode(tree_of(r, f).unwrap()), want, "{format}");
        }
    }

    #[test]
    fn the_recipe_is_a_plain_file_of_the_source() {
        let d = tempfile::tempdir().unwrap();
        let good = "[build]\ncommand = \"make\"\noutputs = [\"out\"]\n";
        fs::write(d.path().join("kiln.toml"), good).unwrap();
        assert_eq!(read_recipe(d.path(), "kiln.toml").unwrap().command, "make");
        std::os::unix::fs::symlink("kiln.toml", d.path().join("linked.toml")).unwrap();
        for (path, why) in [
            ("linked.toml", "not a plain file"),
            ("missing.toml", "no such file"),
            ("../kiln.toml", "plain names"),
            ("/etc/passwd", "plain names"),
            ("", "plain names"),
        ] {
            let e = read_recipe(d.path(), path).unwrap_err().to_string();
            assert!(e.contains(why), "{path}: {e}");
        }
        fs::write(
            d.path().join("bad.toml"),
            "[build]\ncommand = \"\"\noutputs = [\"x\"]\n",
        )
        .unwrap();
        let e = read_recipe(d.path(), "bad.toml").unwrap_err().to_string();
        assert!(e.contains("build.command"), "{e}");
    }
}
