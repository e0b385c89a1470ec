//! A toolchain as a read-only, verity-protected disk: the unpacked toolchain tree written as a
//! SquashFS 4.0 image (gzip, 128 KiB blocks, padded to 4 KiB) followed by its dm-verity hash
//! tree ([`crate::verity`]), in one file that QEMU attaches as a read-only virtio-blk disk.
//!
//! Reproducible by construction: entries are added in byte order of their paths, every owner is
//! root (uid and gid 0), every time is the one given (the recipe's `SOURCE_DATE_EPOCH`; the root
//! folder's, which backhand does not let a writer set, is always 0), modes
//! keep only their permission bits, and the verity salt is derived from the SquashFS bytes
//! (`SHA-256("kiln-toolchain-disk/v1\0" ‖ SHA-256(squashfs))`). Two builds of one tree give the
//! same file and the same root hash, whatever the files' owners and times on the building
//! machine. Only directories, regular files and symbolic links may be in the tree.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use backhand::compression::Compressor;
use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};
use kiln_provenance::toolchain_disk::ToolchainDiskParam;
use sha2::{Digest, Sha256};

use crate::verity::{self, VerityTree, BLOCK};
use crate::ImageError;

/// SquashFS data block size.
const SQUASHFS_BLOCK: u32 = 128 * 1024;
/// Deepest directory nesting accepted in a toolchain tree.
const MAX_DEPTH: usize = 64;

/// A written toolchain disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolchainDisk {
    /// The disk file.
    pub path: PathBuf,
    /// Bytes of the SquashFS image at its start (a whole number of [`BLOCK`]s).
    pub filesystem_bytes: u64,
    /// The verity tree over those bytes, stored right after them.
    pub verity: VerityTree,
    /// SHA-256 of the whole disk file.
    pub sha256: [u8; 32],
}

fn disk_err(reason: impl Into<String>) -> ImageError {
    ImageError::Disk {
        reason: reason.into(),
    }
}

fn header(mode: u32, mtime: u32) -> NodeHeader {
    // Only the permission bits (and setuid/setgid/sticky): the type is the node's.
    let permissions = u16::try_from(mode & 0o7777).unwrap_or(0o755);
    NodeHeader::new(permissions, 0, 0, mtime)
}

/// Adds everything below `dir` (as `rel`) in byte order of the names.
fn add_tree(
    fs_writer: &mut FilesystemWriter<'_, '_, '_>,
    dir: &Path,
    rel: &Path,
    mtime: u32,
    depth: usize,
) -> Result<(), ImageError> {
    if depth > MAX_DEPTH {
        return Err(disk_err(format!(
            "{} is nested deeper than {MAX_DEPTH} folders",
            dir.display()
        )));
    }
    let mut entries = fs::read_dir(dir)
        .map_err(ImageError::io(dir, "listing"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(ImageError::io(dir, "listing"))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let inside = rel.join(entry.file_name());
        let meta = fs::symlink_metadata(&path).map_err(ImageError::io(&path, "reading"))?;
        let h = header(meta.permissions().mode(), mtime);
        let kind = meta.file_type();
        let pushed = if kind.is_dir() {
            fs_writer.push_dir(&inside, h)
        } else if kind.is_file() {
            fs_writer.push_file_from_path(&path, &inside, h)
        } else if kind.is_symlink() {
            let target = fs::read_link(&path).map_err(ImageError::io(&path, "reading"))?;
            fs_writer.push_symlink(target, &inside, h)
        } else {
            return Err(disk_err(format!(
                "{} is neither a folder, a file nor a symbolic link",
                path.display()
            )));
        };
        pushed.map_err(|e| disk_err(format!("adding {}: {e}", inside.display())))?;
        if kind.is_dir() {
            add_tree(fs_writer, &path, &inside, mtime, depth + 1)?;
        }
    }
    Ok(())
}

/// Writes the toolchain `tree` as a disk at `out` (through a temporary sibling renamed into
/// place, so `out` is complete or absent), every time set to `mtime`.
pub fn build_toolchain_disk(
    tree: &Path,
    out: &Path,
    mtime: u32,
) -> Result<ToolchainDisk, ImageError> {
    if !tree.is_dir() {
        return Err(disk_err(format!("{} is not a folder", tree.display())));
    }
    let mut fs_writer = FilesystemWriter::default();
    fs_writer.set_time(mtime);
    fs_writer.set_block_size(SQUASHFS_BLOCK);
    fs_writer.set_only_root_id();
    fs_writer.set_root_mode(0o755);
    // The padding makes the image a whole number of verity blocks.
    fs_writer.set_kib_padding(4);
    let gzip = FilesystemCompressor::new(Compressor::Gzip, None)
        .map_err(|e| disk_err(format!("gzip compressor: {e}")))?;
    fs_writer.set_compressor(gzip);
    add_tree(&mut fs_writer, tree, Path::new("/"), mtime, 0)?;

    let parent = out.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(ImageError::io(parent, "creating"))?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent)
        .map_err(ImageError::io(parent, "creating a file in"))?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        fs_writer
            .write(&mut w)
            .map_err(|e| disk_err(format!("writing the SquashFS image: {e}")))?;
        w.flush().map_err(ImageError::io(out, "writing"))?;
    }
    let file = tmp.as_file_mut();
    let mut filesystem_bytes = file
        .seek(SeekFrom::End(0))
        .map_err(ImageError::io(out, "writing"))?;
    if filesystem_bytes % BLOCK as u64 != 0 {
        return Err(disk_err(format!(
            "the SquashFS image is {filesystem_bytes} bytes, not a whole number of {BLOCK}-byte blocks"
        )));
    }
    // A verity tree needs two data blocks at least; SquashFS ignores what follows its image.
    let min = 2 * BLOCK as u64;
    if filesystem_bytes < min {
        file.set_len(min).map_err(ImageError::io(out, "writing"))?;
        filesystem_bytes = min;
    }
    // The salt: a digest of the filesystem, so that equal trees give equal disks.
    file.seek(SeekFrom::Start(0))
        .map_err(ImageError::io(out, "reading"))?;
    let mut h = Sha256::new();
    std::io::copy(
        &mut BufReader::new(&mut *file).take(filesystem_bytes),
        &mut h,
    )
    .map_err(ImageError::io(out, "reading"))?;
    // The disk's own digest continues the filesystem's over the hash area: no third read.
    let mut whole = h.clone();
    let salt: [u8; 32] = Sha256::new()
        .chain_update(b"kiln-toolchain-disk/v1\0")
        .chain_update(h.finalize())
        .finalize()
        .into();
    file.seek(SeekFrom::Start(0))
        .map_err(ImageError::io(out, "reading"))?;
    let tree_hashes = verity::hash_tree(BufReader::new(&mut *file).take(filesystem_bytes), salt)?;
    file.seek(SeekFrom::End(0))
        .map_err(ImageError::io(out, "writing"))?;
    file.write_all(&tree_hashes.hash_area)
        .map_err(ImageError::io(out, "writing"))?;
    file.sync_all().map_err(ImageError::io(out, "writing"))?;
    whole.update(&tree_hashes.hash_area);
    let sha256: [u8; 32] = whole.finalize().into();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
        .map_err(ImageError::io(out, "writing"))?;
    tmp.persist(out)
        .map_err(|e| ImageError::io(out, "renaming into place")(e.error))?;
    Ok(ToolchainDisk {
        path: out.to_path_buf(),
        filesystem_bytes,
        verity: tree_hashes,
        sha256,
    })
}

impl ToolchainDisk {
    /// The kernel command-line parameter that names this disk as `/dev/<disk>`.
    pub fn cmdline_param(&self, disk: &str) -> ToolchainDiskParam {
        ToolchainDiskParam {
            disk: disk.to_owned(),
            data_blocks: self.verity.data_blocks,
            root: self.verity.root,
            salt: self.verity.salt,
        }
    }
}

/// The SquashFS image at the start of a disk written by [`build_toolchain_disk`], for readers
/// that check its contents.
pub fn read_filesystem(disk: &ToolchainDisk) -> Result<Vec<u8>, ImageError> {
    let mut f = File::open(&disk.path).map_err(ImageError::io(&disk.path, "opening"))?;
    let mut out = Vec::new();
    (&mut f)
        .take(disk.filesystem_bytes)
        .read_to_end(&mut out)
        .map_err(ImageError::io(&disk.path, "reading"))?;
    Ok(out)
}
