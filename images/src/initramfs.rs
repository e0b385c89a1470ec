//! Deterministic initramfs: a `newc` cpio archive (the format the kernel unpacks, see
//! Documentation/driver-api/early-userspace/buffer-format.rst).
//!
//! Determinism rules, so that two builds from the same inputs give the same bytes:
//! - entries sorted by path (byte order); every parent directory is an explicit entry;
//! - uid = gid = 0, mtime = 0, dev/rdev = 0 (except declared character devices);
//! - inode numbers 1, 2, 3, ... in sorted order; nlink = 2 + subdirectories for a directory,
//!   1 otherwise (hard links in the input are stored as separate files);
//! - modes normalised: directories 0755, files 0755 when any execute bit is set else 0644,
//!   symlinks 0777, declared devices as given; setuid/setgid/sticky are dropped;
//! - **no compression**: the kernel accepts an uncompressed archive, it boots fastest under
//!   TCG (no in-kernel inflate of ~90 MB), and the bytes do not depend on a compressor's
//!   version or settings. Several archives may be concatenated (the kernel unpacks them in
//!   order); each ends with the `TRAILER!!!` entry and is padded to 4 bytes.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::ImageError;

/// Where a regular file's bytes come from.
#[derive(Debug, Clone)]
enum Content {
    Bytes(Vec<u8>),
    File { path: PathBuf, len: u64 },
}

#[derive(Debug, Clone)]
enum Node {
    Dir,
    File { content: Content, executable: bool },
    Symlink(String),
    CharDev { major: u32, minor: u32, mode: u32 },
}

/// An initramfs under construction: a sorted map from archive path (no leading `/`) to node.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    entries: BTreeMap<String, Node>,
}

fn check_path(path: &str) -> Result<String, ImageError> {
    let p = path.trim_start_matches('/');
    let bad = p.is_empty()
        || p.ends_with('/')
        || p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        || p.bytes().any(|b| b == 0);
    if bad {
        return Err(ImageError::Invalid(format!("archive path {path:?}")));
    }
    Ok(p.to_string())
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    fn insert(&mut self, path: &str, node: Node) -> Result<(), ImageError> {
        let p = check_path(path)?;
        // Every ancestor becomes a directory entry.
        let mut acc = String::new();
        let mut parts = p.split('/').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                break;
            }
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            match self.entries.get(&acc) {
                None => {
                    self.entries.insert(acc.clone(), Node::Dir);
                }
                Some(Node::Dir) => {}
                Some(_) => return Err(ImageError::Invalid(format!("{acc} is not a directory"))),
            }
        }
        if let Some(Node::Dir) = self.entries.get(&p) {
            if matches!(node, Node::Dir) {
                return Ok(());
            }
        }
        self.entries.insert(p, node);
        Ok(())
    }

    /// Adds (or replaces) a regular file with in-memory contents.
    pub fn add_bytes(
        &mut self,
        path: &str,
        data: Vec<u8>,
        executable: bool,
    ) -> Result<(), ImageError> {
        self.insert(
            path,
            Node::File {
                content: Content::Bytes(data),
                executable,
            },
        )
    }

    /// Adds (or replaces) a regular file read from `src` when the archive is written.
    pub fn add_file(&mut self, path: &str, src: &Path, executable: bool) -> Result<(), ImageError> {
        let meta = fs::metadata(src).map_err(ImageError::io(src, "reading metadata of"))?;
        if !meta.is_file() {
            return Err(ImageError::Invalid(format!(
                "{} is not a regular file",
                src.display()
            )));
        }
        let content = Content::File {
            path: src.to_path_buf(),
            len: meta.len(),
        };
        self.insert(
            path,
            Node::File {
                content,
                executable,
            },
        )
    }

    /// Adds a directory (parents included).
    pub fn add_dir(&mut self, path: &str) -> Result<(), ImageError> {
        self.insert(path, Node::Dir)
    }

    /// Adds a symbolic link.
    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<(), ImageError> {
        if target.is_empty() || target.bytes().any(|b| b == 0) {
            return Err(ImageError::Invalid(format!("symlink target {target:?}")));
        }
        self.insert(path, Node::Symlink(target.to_string()))
    }

    /// Adds a character device node (e.g. `dev/console` 5:1, which the kernel opens for init's
    /// standard streams before any devtmpfs is mounted).
    pub fn add_char_device(
        &mut self,
        path: &str,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> Result<(), ImageError> {
        self.insert(
            path,
            Node::CharDev {
                major,
                minor,
                mode: mode & 0o777,
            },
        )
    }

    /// Adds the tree under `src` at `dest` ("" for the root): directories, regular files and
    /// symlinks (not followed). Other file types are an error.
    pub fn add_tree(&mut self, dest: &str, src: &Path) -> Result<(), ImageError> {
        let mut stack = vec![(dest.trim_matches('/').to_string(), src.to_path_buf())];
        while let Some((d, s)) = stack.pop() {
            let rd = fs::read_dir(&s).map_err(ImageError::io(&s, "reading directory"))?;
            for entry in rd {
                let entry = entry.map_err(ImageError::io(&s, "reading directory"))?;
                let name = entry.file_name();
                let name = name.to_str().ok_or_else(|| {
                    ImageError::Invalid(format!("non-UTF-8 name in {}", s.display()))
                })?;
                let ap = if d.is_empty() {
                    name.to_string()
                } else {
                    format!("{d}/{name}")
                };
                let sp = entry.path();
                let meta = fs::symlink_metadata(&sp)
                    .map_err(ImageError::io(&sp, "reading metadata of"))?;
                let ft = meta.file_type();
                if ft.is_symlink() {
                    let t = fs::read_link(&sp).map_err(ImageError::io(&sp, "reading link"))?;
                    let t = t.to_str().ok_or_else(|| {
                        ImageError::Invalid(format!("non-UTF-8 link {}", sp.display()))
                    })?;
                    self.add_symlink(&ap, t)?;
                } else if ft.is_dir() {
                    self.add_dir(&ap)?;
                    stack.push((ap, sp));
                } else if ft.is_file() {
                    let exec = meta.permissions().mode() & 0o111 != 0;
                    self.insert(
                        &ap,
                        Node::File {
                            content: Content::File {
                                path: sp,
                                len: meta.len(),
                            },
                            executable: exec,
                        },
                    )?;
                } else {
                    return Err(ImageError::Invalid(format!(
                        "{}: unsupported file type",
                        sp.display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Number of entries (directories included, trailer excluded).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the archive in `newc` format; returns the number of bytes written.
    pub fn write_newc<W: Write>(&self, out: &mut W) -> Result<u64, ImageError> {
        let mut w = Counting { inner: out, n: 0 };
        let wio = |e: io::Error| ImageError::Io {
            path: PathBuf::from("<archive>"),
            what: "writing",
            source: e,
        };
        // nlink of a directory: 2 + its direct subdirectories.
        let mut subdirs: BTreeMap<&str, u32> = BTreeMap::new();
        for (p, n) in &self.entries {
            if let (Node::Dir, Some((parent, _))) = (n, p.rsplit_once('/')) {
                *subdirs.entry(parent).or_insert(0) += 1;
            }
        }
        let mut ino: u32 = 0;
        for (path, node) in &self.entries {
            ino = ino
                .checked_add(1)
                .ok_or_else(|| ImageError::Invalid("too many entries".into()))?;
            let (mode, nlink, size, rdev) = match node {
                Node::Dir => (
                    0o040_755,
                    2 + subdirs.get(path.as_str()).copied().unwrap_or(0),
                    0,
                    (0, 0),
                ),
                Node::File {
                    content,
                    executable,
                } => {
                    let len = match content {
                        Content::Bytes(b) => b.len() as u64,
                        Content::File { len, .. } => *len,
                    };
                    (
                        if *executable { 0o100_755 } else { 0o100_644 },
                        1,
                        len,
                        (0, 0),
                    )
                }
                Node::Symlink(t) => (0o120_777, 1, t.len() as u64, (0, 0)),
                Node::CharDev { major, minor, mode } => (0o020_000 | mode, 1, 0, (*major, *minor)),
            };
            let size = u32::try_from(size).map_err(|_| {
                ImageError::Invalid(format!("{path}: larger than 4 GiB (newc limit)"))
            })?;
            write_header(&mut w, ino, mode, nlink, size, rdev, path).map_err(wio)?;
            match node {
                Node::Dir | Node::CharDev { .. } => {}
                Node::Symlink(t) => w.write_all(t.as_bytes()).map_err(wio)?,
                Node::File {
                    content: Content::Bytes(b),
                    ..
                } => w.write_all(b).map_err(wio)?,
                Node::File {
                    content: Content::File { path: src, len },
                    ..
                } => {
                    let f = fs::File::open(src).map_err(ImageError::io(src, "opening"))?;
                    let copied = io::copy(&mut f.take(*len), &mut w)
                        .map_err(ImageError::io(src, "copying"))?;
                    if copied != *len {
                        return Err(ImageError::Invalid(format!(
                            "{} changed size while archiving",
                            src.display()
                        )));
                    }
                }
            }
            pad4(&mut w).map_err(wio)?;
        }
        write_header(&mut w, 0, 0, 1, 0, (0, 0), "TRAILER!!!").map_err(wio)?;
        Ok(w.n)
    }

    /// The archive as bytes (small archives and tests; large ones should stream to a file).
    pub fn to_newc(&self) -> Result<Vec<u8>, ImageError> {
        let mut v = Vec::new();
        self.write_newc(&mut v)?;
        Ok(v)
    }
}

struct Counting<'a, W: Write> {
    inner: &'a mut W,
    n: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn pad4<W: Write>(w: &mut Counting<'_, W>) -> io::Result<()> {
    let pad = (4 - (w.n % 4)) % 4;
    let zeros = [0u8; 3];
    w.write_all(
        zeros
            .get(..usize::from(u8::try_from(pad).unwrap_or(0)))
            .unwrap_or(&[]),
    )
}

fn write_header<W: Write>(
    w: &mut Counting<'_, W>,
    ino: u32,
    mode: u32,
    nlink: u32,
    size: u32,
    rdev: (u32, u32),
    name: &str,
) -> io::Result<()> {
    let namesize = u32::try_from(name.len() + 1).map_err(|_| io::Error::other("name too long"))?;
    // c_magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
    // rdevminor, namesize, check
    let hdr = format!(
        "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
        0, 0, 0, 0, 0, rdev.0, rdev.1, 0
    );
    w.write_all(hdr.as_bytes())?;
    w.write_all(name.as_bytes())?;
    w.write_all(&[0])?;
    pad4(w)
}
