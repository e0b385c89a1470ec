//! The dm-verity hash tree of a read-only disk (format version 1, SHA-256, 4096-byte data and
//! hash blocks), as the kernel's `verity` target checks it and `veritysetup format
//! --no-superblock` writes it:
//!
//! - every data block is hashed as `SHA-256(salt ‖ block)`; a hash block holds 128 digests,
//!   zero-padded to 4096 bytes, and is hashed the same way for the level above it;
//! - the levels are stored top first (the kernel's `hash_level_block`: the level with one
//!   block, then each level below it, the level over the data last);
//! - the root hash is `SHA-256(salt ‖ top block)`.
//!
//! kiln appends the tree to the data on the same disk, so the kernel's table names the disk
//! twice with the hash area starting at block `data_blocks`
//! (`kiln_provenance::toolchain_disk::ToolchainDiskParam::verity_table_params`). The root hash goes on the kernel
//! command line, which the launch measurement covers: a changed block of the disk then fails
//! to read in the guest, and a changed root hash is a different measurement.

use std::io::Read;

use sha2::{Digest, Sha256};

use crate::ImageError;

/// Data and hash block size.
pub const BLOCK: usize = 4096;
/// SHA-256 digests per hash block.
const DIGESTS_PER_BLOCK: usize = BLOCK / 32;

/// A computed hash tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityTree {
    /// The data's length in blocks.
    pub data_blocks: u64,
    /// The salt every hash is computed with.
    pub salt: [u8; 32],
    /// The root hash.
    pub root: [u8; 32],
    /// The hash area: every level, top first, each a whole number of blocks.
    pub hash_area: Vec<u8>,
}

fn salted(salt: &[u8; 32], block: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(salt)
        .chain_update(block)
        .finalize()
        .into()
}

/// Packs digests into zero-padded hash blocks.
fn hash_blocks(digests: &[[u8; 32]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(digests.len().div_ceil(DIGESTS_PER_BLOCK) * BLOCK);
    for chunk in digests.chunks(DIGESTS_PER_BLOCK) {
        for d in chunk {
            out.extend_from_slice(d);
        }
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    out
}

/// Reads until `block` is full or the data ends; returns how many bytes were read.
fn fill(data: &mut impl Read, block: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = block.get_mut(filled..).filter(|r| !r.is_empty()) {
        match data.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Computes the tree over `data`, which must be a whole number of blocks (at least two: a
/// one-block disk has no hash level).
pub fn hash_tree(mut data: impl Read, salt: [u8; 32]) -> Result<VerityTree, ImageError> {
    let bad = |reason: String| ImageError::Verity { reason };
    // Level 0: one digest a data block.
    let mut digests = Vec::new();
    let mut block = vec![0u8; BLOCK];
    loop {
        let filled =
            fill(&mut data, &mut block).map_err(|e| bad(format!("reading the data: {e}")))?;
        if filled == 0 {
            break;
        }
        if filled != BLOCK {
            return Err(bad(format!(
                "the data is not a whole number of {BLOCK}-byte blocks ({filled} bytes over)"
            )));
        }
        digests.push(salted(&salt, &block));
    }
    let data_blocks = u64::try_from(digests.len()).map_err(|_| bad("too many blocks".into()))?;
    if data_blocks < 2 {
        return Err(bad(format!(
            "{data_blocks} data block(s): a verity disk needs at least two"
        )));
    }
    // Each level's blocks, bottom first; a level of one block is the top.
    let mut levels: Vec<Vec<u8>> = Vec::new();
    loop {
        let level = hash_blocks(&digests);
        let blocks = level.len() / BLOCK;
        if blocks == 1 {
            let root = salted(&salt, &level);
            levels.push(level);
            let mut hash_area = Vec::with_capacity(levels.iter().map(Vec::len).sum());
            for level in levels.iter().rev() {
                hash_area.extend_from_slice(level);
            }
            return Ok(VerityTree {
                data_blocks,
                salt,
                root,
                hash_area,
            });
        }
        digests = level.chunks(BLOCK).map(|b| salted(&salt, b)).collect();
        levels.push(level);
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::cast_possible_truncation
    )]

    use super::*;

    fn data(blocks: usize) -> Vec<u8> {
        (0..blocks * BLOCK).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn levels_sizes_and_root_follow_the_kernel_layout() {
        let salt = [3u8; 32];
        // 2 blocks: one hash block, the root over it.
        let t = hash_tree(&data(2)[..], salt).unwrap();
        assert_eq!(t.hash_area.len(), BLOCK);
        assert_eq!(t.root, salted(&salt, &t.hash_area));
        assert_eq!(&t.hash_area[..32], &salted(&salt, &data(2)[..BLOCK]));
        assert!(t.hash_area[64..].iter().all(|b| *b == 0));
        // 129 blocks: two blocks at level 0, one above; the top level comes first.
        let t = hash_tree(&data(129)[..], salt).unwrap();
        assert_eq!(t.hash_area.len(), 3 * BLOCK);
        let (top, level0) = t.hash_area.split_at(BLOCK);
        assert_eq!(&top[..32], &salted(&salt, &level0[..BLOCK]));
        assert_eq!(&top[32..64], &salted(&salt, &level0[BLOCK..]));
        assert_eq!(t.root, salted(&salt, top));
    }

    #[test]
    fn one_changed_byte_changes_the_root_and_partial_blocks_are_refused() {
        let salt = [9u8; 32];
        let mut d = data(300);
        let a = hash_tree(&d[..], salt).unwrap();
        d[200 * BLOCK + 17] ^= 1;
        let b = hash_tree(&d[..], salt).unwrap();
        assert_ne!(a.root, b.root);
        assert_ne!(a.root, hash_tree(&data(300)[..], [8u8; 32]).unwrap().root);
        let err = hash_tree(&d[..BLOCK * 3 + 5], salt).unwrap_err();
        assert!(err.to_string().contains("whole number"), "{err}");
        assert!(hash_tree(&d[..BLOCK], salt).is_err());
    }
}
