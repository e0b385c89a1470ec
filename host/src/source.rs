//! Deterministic source packing.
//!
//! A directory inside a git work tree is packed from the committed tree at HEAD (restricted to
//! that directory's subtree), never from the working tree; any other directory is packed as it
//! is on disk, without `.git` and the output folder. Either way the archive is a tar with GNU
//! headers whose entries are sorted by path, owned by uid/gid 0 with empty user and group
//! names, dated `SOURCE_DATE_EPOCH` (the commit time, or 0 for a plain directory), with modes
//! 0755 (directories and executables) or 0644, and symlinks kept as symlinks (refused when they
//! would point outside the tree). Packing the same tree twice gives the same bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

/// Why the source could not be packed.
#[derive(Debug)]
pub enum SourceError {
    /// A git command failed.
    Git {
        /// The command line.
        command: String,
        /// What went wrong.
        reason: String,
    },
    /// A file could not be read.
    Io {
        /// The path.
        path: PathBuf,
        /// The operation.
        op: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A symlink points outside the tree (or is absolute).
    EscapingSymlink {
        /// The link, relative to the source root.
        path: String,
        /// Its target.
        target: String,
    },
    /// A file of a kind that cannot be packed (socket, device, fifo, submodule).
    Unsupported {
        /// The path, relative to the source root.
        path: String,
        /// What it is.
        kind: String,
    },
    /// A path is not valid UTF-8.
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// Writing the archive failed.
    Archive {
        /// The entry being written.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Git { command, reason } => write!(f, "`{command}` failed: {reason}"),
            Self::Io { path, op, .. } => write!(f, "cannot {op} {}", path.display()),
            Self::EscapingSymlink { path, target } => write!(
                f,
                "symlink {path} -> {target} points outside the source tree; refusing to pack it"
            ),
            Self::Unsupported { path, kind } => write!(f, "{path}: cannot pack a {kind}"),
            Self::NonUtf8Path { path } => {
                write!(f, "{}: path is not valid UTF-8", path.display())
            }
            Self::Archive { path, .. } => write!(f, "cannot add {path} to the source archive"),
        }
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } | Self::Archive { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A packed source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedSource {
    /// The tar archive.
    pub archive: Vec<u8>,
    /// SHA-256 of the archive, hex.
    pub sha256: String,
    /// The git commit, for a git tree.
    pub commit: Option<String>,
    /// `SOURCE_DATE_EPOCH`: the commit time, or 0.
    pub source_date_epoch: i64,
    /// The working tree has uncommitted changes (which are not packed).
    pub dirty: bool,
    /// Number of entries (files, directories, symlinks).
    pub entries: usize,
    /// The packed bytes of the recipe (`kiln.toml` at the top of the tree), if packed.
    pub recipe: Option<Vec<u8>>,
    /// For a git tree: the objects that let the guest prove `commit` (the commit object and
    /// the trees from the root down to the packed folder's parent).
    pub git: Option<kiln_verifier::build_output::GitProof>,
}

impl PackedSource {
    /// The archive's size in bytes.
    pub fn size(&self) -> u64 {
        self.archive.len() as u64
    }
}

/// One entry to pack.
#[derive(Debug)]
enum Entry {
    Dir,
    File { data: Vec<u8>, executable: bool },
    Symlink { target: String },
}

/// Packs `dir`: from git HEAD if it is inside a git work tree with at least one commit,
/// otherwise from disk (skipping `.git` and `exclude`, typically the output folder).
pub fn pack(dir: &Path, exclude: Option<&Path>) -> Result<PackedSource, SourceError> {
    match git_top(dir) {
        Some(_) => pack_git(dir),
        None => pack_dir(dir, exclude),
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, SourceError> {
    let command = format!("git {}", args.join(" "));
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| SourceError::Git {
            command: command.clone(),
            reason: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        return Err(SourceError::Git {
            command,
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}

fn git_text(dir: &Path, args: &[&str]) -> Result<String, SourceError> {
    let out = git(dir, args)?;
    Ok(String::from_utf8_lossy(&out)
        .trim_end_matches('\n')
        .to_owned())
}

/// The top of the git work tree holding `dir`, when there is one with a commit at HEAD.
fn git_top(dir: &Path) -> Option<String> {
    let inside = git_text(dir, &["rev-parse", "--is-inside-work-tree"]).ok()?;
    if inside != "true" {
        return None;
    }
    git_text(dir, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).ok()?;
    git_text(dir, &["rev-parse", "--show-toplevel"]).ok()
}

/// Packs the committed tree at HEAD below `dir`.
pub fn pack_git(dir: &Path) -> Result<PackedSource, SourceError> {
    let commit = git_text(dir, &["rev-parse", "--verify", "HEAD^{commit}"])?;
    let epoch_text = git_text(dir, &["show", "-s", "--format=%ct", &commit])?;
    let source_date_epoch: i64 = epoch_text.parse().map_err(|_| SourceError::Git {
        command: "git show -s --format=%ct".into(),
        reason: format!("unexpected commit time {epoch_text:?}"),
    })?;
    let prefix = git_text(dir, &["rev-parse", "--show-prefix"])?;
    let dirty = !git(
        dir,
        &["status", "--porcelain", "--untracked-files=no", "--", "."],
    )?
    .is_empty();

    let mut args = vec!["ls-tree", "-r", "-z", "--full-tree", commit.as_str()];
    if !prefix.is_empty() {
        args.push("--");
        args.push(prefix.as_str());
    }
    let listing = git(dir, &args)?;
    let mut blobs: Vec<(String, String, String)> = Vec::new(); // (path, mode, oid)
    for record in listing.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let text = String::from_utf8_lossy(record);
        let (meta, path) = text.split_once('\t').ok_or_else(|| SourceError::Git {
            command: "git ls-tree".into(),
            reason: format!("unexpected line {text:?}"),
        })?;
        let mut parts = meta.split(' ');
        let (mode, kind, oid) = match (parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(k), Some(o)) => (m, k, o),
            _ => {
                return Err(SourceError::Git {
                    command: "git ls-tree".into(),
                    reason: format!("unexpected line {text:?}"),
                })
            }
        };
        let rel = path
            .strip_prefix(prefix.as_str())
            .unwrap_or(path)
            .to_owned();
        if kind != "blob" {
            return Err(SourceError::Unsupported {
                path: rel,
                kind: format!("git {kind} (submodules are not packed)"),
            });
        }
        blobs.push((rel, mode.to_owned(), oid.to_owned()));
    }

    let contents = cat_blobs(dir, blobs.iter().map(|(_, _, oid)| oid.as_str()))?;
    let mut entries = BTreeMap::new();
    for ((rel, mode, _), data) in blobs.into_iter().zip(contents) {
        add_parents(&mut entries, &rel);
        let entry = match mode.as_str() {
            "120000" => {
                let target = String::from_utf8_lossy(&data).into_owned();
                check_symlink(&rel, &target)?;
                Entry::Symlink { target }
            }
            "100755" => Entry::File {
                data,
                executable: true,
            },
            _ => Entry::File {
                data,
                executable: false,
            },
        };
        entries.insert(rel, entry);
    }
    let mut packed = write_tar(entries, source_date_epoch)?;
    packed.git = Some(git_proof(dir, &commit, &prefix)?);
    packed.commit = Some(commit);
    packed.dirty = dirty;
    Ok(packed)
}

/// The commit object and the tree objects from the root down to the parent of `prefix`.
fn git_proof(
    dir: &Path,
    commit: &str,
    prefix: &str,
) -> Result<kiln_verifier::build_output::GitProof, SourceError> {
    use kiln_verifier::build_output::dsse::encode_base64;
    let commit_object = git(dir, &["cat-file", "commit", commit])?;
    let components: Vec<&str> = prefix.split('/').filter(|c| !c.is_empty()).collect();
    let mut trees = Vec::with_capacity(components.len());
    for depth in 0..components.len() {
        let above = components.get(..depth).unwrap_or_default().join("/");
        let tree = git(dir, &["cat-file", "tree", &format!("{commit}:{above}")])?;
        trees.push(encode_base64(&tree));
    }
    Ok(kiln_verifier::build_output::GitProof {
        commit_object: encode_base64(&commit_object),
        path: components.join("/"),
        trees,
    })
}

/// Reads blobs through one `git cat-file --batch`.
fn cat_blobs<'a>(
    dir: &Path,
    oids: impl Iterator<Item = &'a str>,
) -> Result<Vec<Vec<u8>>, SourceError> {
    let err = |reason: String| SourceError::Git {
        command: "git cat-file --batch".into(),
        reason,
    };
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| err(format!("cannot run git: {e}")))?;
    let request: String = oids.map(|o| format!("{o}\n")).collect();
    let count = request.lines().count();
    let mut stdin = child.stdin.take().ok_or_else(|| err("no stdin".into()))?;
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let stdout = child.stdout.take().ok_or_else(|| err("no stdout".into()))?;
    let mut reader = BufReader::new(stdout);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|e| err(e.to_string()))?;
        let size: usize = header
            .trim_end()
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err(format!("unexpected header {header:?}")))?;
        let mut data = vec![0u8; size];
        reader
            .read_exact(&mut data)
            .map_err(|e| err(e.to_string()))?;
        let mut newline = [0u8; 1];
        reader
            .read_exact(&mut newline)
            .map_err(|e| err(e.to_string()))?;
        out.push(data);
    }
    writer
        .join()
        .map_err(|_| err("writer thread panicked".into()))?
        .map_err(|e| err(e.to_string()))?;
    let status = child.wait().map_err(|e| err(e.to_string()))?;
    if !status.success() {
        return Err(err(format!("exited with {status}")));
    }
    Ok(out)
}

/// Packs a plain directory from disk.
pub fn pack_dir(dir: &Path, exclude: Option<&Path>) -> Result<PackedSource, SourceError> {
    let exclude = exclude.and_then(|e| std::fs::canonicalize(e).ok());
    let mut entries = BTreeMap::new();
    walk(dir, dir, exclude.as_deref(), &mut entries)?;
    write_tar(entries, 0)
}

fn walk(
    root: &Path,
    dir: &Path,
    exclude: Option<&Path>,
    entries: &mut BTreeMap<String, Entry>,
) -> Result<(), SourceError> {
    let io = |path: &Path, op: &'static str| {
        let path = path.to_path_buf();
        move |source| SourceError::Io { path, op, source }
    };
    let reader = std::fs::read_dir(dir).map_err(io(dir, "list"))?;
    for item in reader {
        let item = item.map_err(io(dir, "list"))?;
        let path = item.path();
        let rel_path = path.strip_prefix(root).unwrap_or(&path);
        let rel = rel_path
            .to_str()
            .ok_or_else(|| SourceError::NonUtf8Path { path: path.clone() })?
            .replace('\\', "/");
        if item.file_name() == ".git" {
            continue;
        }
        if let Some(ex) = exclude {
            if std::fs::canonicalize(&path).ok().as_deref() == Some(ex) {
                continue;
            }
        }
        let meta = std::fs::symlink_metadata(&path).map_err(io(&path, "inspect"))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            entries.insert(rel, Entry::Dir);
            walk(root, &path, exclude, entries)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path).map_err(io(&path, "read the link"))?;
            let target = target
                .to_str()
                .ok_or_else(|| SourceError::NonUtf8Path {
                    path: target.clone(),
                })?
                .to_owned();
            check_symlink(&rel, &target)?;
            entries.insert(rel, Entry::Symlink { target });
        } else if ft.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let data = std::fs::read(&path).map_err(io(&path, "read"))?;
            let executable = meta.permissions().mode() & 0o111 != 0;
            entries.insert(rel, Entry::File { data, executable });
        } else {
            return Err(SourceError::Unsupported {
                path: rel,
                kind: "special file (socket, fifo or device)".into(),
            });
        }
    }
    Ok(())
}

/// Adds every parent directory of `rel` as an entry.
fn add_parents(entries: &mut BTreeMap<String, Entry>, rel: &str) {
    let mut end = 0;
    while let Some(pos) = rel.get(end..).and_then(|s| s.find('/')) {
        end += pos;
        if let Some(parent) = rel.get(..end) {
            entries.entry(parent.to_owned()).or_insert(Entry::Dir);
        }
        end += 1;
    }
}

/// Refuses absolute symlinks and relative ones that climb out of the tree.
fn check_symlink(rel: &str, target: &str) -> Result<(), SourceError> {
    let escape = || SourceError::EscapingSymlink {
        path: rel.to_owned(),
        target: target.to_owned(),
    };
    let target_path = Path::new(target);
    if target.is_empty() || target_path.is_absolute() {
        return Err(escape());
    }
    // Depth of the link's directory below the root.
    let mut depth = rel.matches('/').count();
    for c in target_path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth = depth.checked_sub(1).ok_or_else(escape)?,
            Component::RootDir | Component::Prefix(_) => return Err(escape()),
        }
    }
    Ok(())
}

fn write_tar(
    entries: BTreeMap<String, Entry>,
    source_date_epoch: i64,
) -> Result<PackedSource, SourceError> {
    let mtime = u64::try_from(source_date_epoch).unwrap_or(0);
    let recipe = match entries.get(kiln_provenance::RECIPE_FILE) {
        Some(Entry::File { data, .. }) => Some(data.clone()),
        _ => None,
    };
    let mut builder = tar::Builder::new(Vec::new());
    let count = entries.len();
    for (path, entry) in entries {
        let fail = |source| SourceError::Archive {
            path: path.clone(),
            source,
        };
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_username("").map_err(fail)?;
        header.set_groupname("").map_err(fail)?;
        match entry {
            Entry::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, format!("{path}/"), std::io::empty())
                    .map_err(fail)?;
            }
            Entry::File { data, executable } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if executable { 0o755 } else { 0o644 });
                header.set_size(data.len() as u64);
                builder
                    .append_data(&mut header, &path, data.as_slice())
                    .map_err(fail)?;
            }
            Entry::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder
                    .append_link(&mut header, &path, &target)
                    .map_err(fail)?;
            }
        }
    }
    let archive = builder
        .into_inner()
        .map_err(|source| SourceError::Archive {
            path: "(end of archive)".into(),
            source,
        })?;
    Ok(PackedSource {
        sha256: hex::encode(Sha256::digest(&archive)),
        archive,
        commit: None,
        source_date_epoch,
        dirty: false,
        git: None,
        entries: count,
        recipe,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn symlink_escapes_are_refused() {
        assert!(check_symlink("a/link", "../b").is_ok());
        assert!(check_symlink("a/link", "b/../../c").is_ok());
        assert!(check_symlink("a/link", "../../b").is_err());
        assert!(check_symlink("link", "/etc/passwd").is_err());
        assert!(check_symlink("link", "..").is_err());
    }

    #[test]
    fn parents_are_added() {
        let mut e = BTreeMap::new();
        add_parents(&mut e, "a/b/c.txt");
        assert_eq!(e.keys().cloned().collect::<Vec<_>>(), ["a", "a/b"]);
    }
}
