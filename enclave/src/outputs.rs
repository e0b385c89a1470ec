//! The outputs: the files under the source root that the recipe's paths or globs match
//! (a matched directory brings every file under it), walked in sorted order, within the
//! output size limit, hashed while they are streamed to the host.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use kiln_provenance::Subject;
use sha2::{Digest, Sha256};

use crate::error::EnclaveError;

/// Largest artifact chunk sent.
pub const CHUNK: usize = 1024 * 1024;

/// One output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Path relative to the source root, `/`-separated (the subject name).
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Whether any execute bit is set.
    pub executable: bool,
}

fn glob_set(patterns: &[String]) -> Result<GlobSet, EnclaveError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let trimmed = p.trim_start_matches("./").trim_end_matches('/');
        let glob = GlobBuilder::new(trimmed)
            .literal_separator(true)
            .build()
            .map_err(|e| EnclaveError::Outputs {
                reason: format!("bad output pattern {p:?}: {e}"),
            })?;
        b.add(glob);
    }
    b.build().map_err(|e| EnclaveError::Outputs {
        reason: e.to_string(),
    })
}

/// Every entry under `dir`, sorted by name, depth first; symlinks are not followed.
fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf, fs::Metadata)>,
) -> Result<(), EnclaveError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| EnclaveError::io("list", dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| EnclaveError::io("list", dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let meta =
            fs::symlink_metadata(&path).map_err(|err| EnclaveError::io("inspect", &path, err))?;
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let name = rel
            .to_str()
            .ok_or_else(|| EnclaveError::Outputs {
                reason: format!("{} is not UTF-8", rel.display()),
            })?
            .to_owned();
        let is_dir = meta.is_dir();
        out.push((name, path.clone(), meta));
        if is_dir {
            walk(root, &path, out)?;
        }
    }
    Ok(())
}

/// The files the recipe's `outputs` match under `root`, sorted by name, and their total
/// size checked against `limit`. A match that is a symlink, or a pattern that matches
/// nothing, is an error.
pub fn collect(root: &Path, patterns: &[String], limit: u64) -> Result<Vec<Output>, EnclaveError> {
    let set = glob_set(patterns)?;
    let mut all = Vec::new();
    walk(root, root, &mut all)?;
    let mut picked: BTreeMap<String, Output> = BTreeMap::new();
    let mut hits = vec![false; patterns.len()];
    let mut matched_dirs: Vec<String> = Vec::new();
    for (name, path, meta) in &all {
        let direct = set.matches(name);
        let under_dir = matched_dirs.iter().any(|d| {
            name.strip_prefix(d.as_str())
                .is_some_and(|r| r.starts_with('/'))
        });
        for i in &direct {
            if let Some(h) = hits.get_mut(*i) {
                *h = true;
            }
        }
        if direct.is_empty() && !under_dir {
            continue;
        }
        if meta.file_type().is_symlink() {
            return Err(EnclaveError::Outputs {
                reason: format!("output {name} is a symlink; outputs must be regular files"),
            });
        }
        if meta.is_dir() {
            matched_dirs.push(name.clone());
        } else if meta.is_file() {
            picked.insert(
                name.clone(),
                Output {
                    name: name.clone(),
                    path: path.clone(),
                    size: meta.len(),
                    executable: std::os::unix::fs::PermissionsExt::mode(&meta.permissions())
                        & 0o111
                        != 0,
                },
            );
        } else {
            return Err(EnclaveError::Outputs {
                reason: format!("output {name} is not a regular file"),
            });
        }
    }
    if let Some((p, _)) = patterns.iter().zip(&hits).find(|(_, h)| !**h) {
        return Err(EnclaveError::Outputs {
            reason: format!("the output pattern {p:?} matched nothing"),
        });
    }
    if picked.is_empty() {
        return Err(EnclaveError::Outputs {
            reason: "no output files".into(),
        });
    }
    let total = picked
        .values()
        .fold(0u64, |acc, o| acc.saturating_add(o.size));
    if total > limit {
        return Err(EnclaveError::OutputLimit { total, limit });
    }
    Ok(picked.into_values().collect())
}

/// Receives each artifact chunk: the subject name, the bytes, and (meaningful on the empty
/// chunk that ends a file) whether the file is executable.
pub type ChunkSink<'a> = dyn FnMut(&str, Vec<u8>, bool) -> Result<(), EnclaveError> + 'a;

/// Reads each output once, in chunks of at most [`CHUNK`] bytes given to `send` (an empty
/// chunk ends each file), and returns its subject with the SHA-256 of exactly what was sent.
pub fn stream(outputs: &[Output], send: &mut ChunkSink<'_>) -> Result<Vec<Subject>, EnclaveError> {
    let mut subjects = Vec::with_capacity(outputs.len());
    for o in outputs {
        let mut file = File::open(&o.path).map_err(|e| EnclaveError::io("open", &o.path, e))?;
        let mut hasher = Sha256::new();
        let mut sent: u64 = 0;
        loop {
            let mut buf = vec![0u8; CHUNK];
            let mut filled = 0;
            while filled < CHUNK {
                let n = file
                    .read(buf.get_mut(filled..).unwrap_or_default())
                    .map_err(|e| EnclaveError::io("read", &o.path, e))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            buf.truncate(filled);
            if buf.is_empty() {
                break;
            }
            sent = sent.saturating_add(buf.len() as u64);
            if sent > o.size {
                return Err(EnclaveError::Outputs {
                    reason: format!("{} grew while it was read", o.name),
                });
            }
            hasher.update(&buf);
            send(&o.name, buf, false)?;
        }
        send(&o.name, Vec::new(), o.executable)?;
        subjects.push(Subject {
            name: o.name.clone(),
            digest: [("sha256".to_owned(), hex::encode(hasher.finalize()))]
                .into_iter()
                .collect(),
        });
    }
    Ok(subjects)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("out/sub")).unwrap();
        fs::write(d.path().join("out/b.txt"), b"bb").unwrap();
        fs::write(d.path().join("out/a.txt"), b"a").unwrap();
        fs::write(d.path().join("out/sub/c.bin"), vec![7u8; CHUNK + 1]).unwrap();
        fs::write(d.path().join("top"), b"t").unwrap();
        d
    }

    fn names(o: &[Output]) -> Vec<&str> {
        o.iter().map(|o| o.name.as_str()).collect()
    }

    #[test]
    fn globs_do_not_cross_directories_and_directories_bring_their_files() {
        let d = tree();
        let star = collect(d.path(), &["out/*.txt".into()], u64::MAX).unwrap();
        assert_eq!(names(&star), ["out/a.txt", "out/b.txt"]);
        let dir = collect(d.path(), &["out".into(), "top".into()], u64::MAX).unwrap();
        assert_eq!(
            names(&dir),
            ["out/a.txt", "out/b.txt", "out/sub/c.bin", "top"]
        );
        let deep = collect(d.path(), &["**/*.bin".into()], u64::MAX).unwrap();
        assert_eq!(names(&deep), ["out/sub/c.bin"]);
    }

    #[test]
    fn limits_unmatched_patterns_and_links_are_errors() {
        let d = tree();
        let err = collect(d.path(), &["out/*.txt".into()], 2).unwrap_err();
        assert!(matches!(
            err,
            EnclaveError::OutputLimit { total: 3, limit: 2 }
        ));
        let err = collect(d.path(), &["nothing/*".into()], u64::MAX).unwrap_err();
        assert!(err.to_string().contains("matched nothing"));
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("out/l.txt")).unwrap();
        let err = collect(d.path(), &["out/*.txt".into()], u64::MAX).unwrap_err();
        assert!(err.to_string().contains("symlink"));
    }

    #[test]
    fn streaming_chunks_and_hashes_what_was_sent() {
        let d = tree();
        let outs = collect(d.path(), &["out/sub/*".into()], u64::MAX).unwrap();
        let mut chunks = Vec::new();
        let subjects = stream(&outs, &mut |name, data, _executable| {
            chunks.push((name.to_owned(), data.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            chunks.iter().map(|c| c.1).collect::<Vec<_>>(),
            [CHUNK, 1, 0]
        );
        assert_eq!(
            subjects[0].digest["sha256"],
            hex::encode(Sha256::digest(vec![7u8; CHUNK + 1]))
        );
    }
}
