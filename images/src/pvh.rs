//! The kernel a local VM boots: the bzImage's own uncompressed ELF (`vmlinux`), entered through
//! its PVH entry point, so neither firmware real-mode setup nor the decompressor runs under
//! emulation (about half a second of boot-to-ready under TCG here; `scripts/bench-qemu`).
//!
//! The ELF is the bzImage's payload (Linux boot protocol ≥ 2.08: `payload_offset` and
//! `payload_length` in the setup header, counted from the protected-mode code at
//! `(setup_sects + 1) × 512`), a zstd frame followed by the uncompressed size as a 32-bit
//! little-endian number (`size_append` of the kernel's build). Decompression is deterministic,
//! so the same bzImage always gives the same ELF; the ELF is used only when it carries the
//! `XEN_ELFNOTE_PHYS32_ENTRY` note QEMU's PVH loader needs. SEV-SNP, TDX and Nitro launches
//! keep booting the bzImage (their firmware or EIF measures it).

use std::io::Read;

/// Why a bzImage gives no PVH kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoPvhKernel(pub String);

impl std::fmt::Display for NoPvhKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The largest uncompressed kernel accepted.
const MAX_ELF: u64 = 512 << 20;
/// ELF note type of the PVH entry point (`XEN_ELFNOTE_PHYS32_ENTRY`).
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
const PT_NOTE: u32 = 4;
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn no(reason: impl Into<String>) -> NoPvhKernel {
    NoPvhKernel(reason.into())
}

/// The compressed payload of a bzImage.
fn payload(bz: &[u8]) -> Result<&[u8], NoPvhKernel> {
    if bz.get(0x202..0x206) != Some(b"HdrS") {
        return Err(no("not a bzImage (no HdrS setup header)"));
    }
    let version = le_u16(bz, 0x206).ok_or_else(|| no("truncated setup header"))?;
    if version < 0x208 {
        return Err(no(format!(
            "boot protocol {version:#x} has no payload fields (2.08 or later needed)"
        )));
    }
    let setup_sects = match bz.get(0x1f1).copied() {
        Some(0) => 4,
        Some(n) => usize::from(n),
        None => return Err(no("truncated setup header")),
    };
    let (offset, length) = (le_u32(bz, 0x248), le_u32(bz, 0x24c));
    let (Some(offset), Some(length)) = (offset, length) else {
        return Err(no("truncated setup header"));
    };
    let start = (setup_sects + 1)
        .checked_mul(512)
        .and_then(|pm| pm.checked_add(usize::try_from(offset).ok()?))
        .ok_or_else(|| no("payload offset out of range"))?;
    let end = start
        .checked_add(usize::try_from(length).map_err(|_| no("payload length out of range"))?)
        .ok_or_else(|| no("payload length out of range"))?;
    bz.get(start..end)
        .ok_or_else(|| no("the payload lies outside the file"))
}

/// Whether an ELF64 image has the PVH entry note.
fn has_pvh_note(elf: &[u8]) -> bool {
    if elf.get(..5) != Some(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) =
        (le_u64(elf, 0x20), le_u16(elf, 0x36), le_u16(elf, 0x38))
    else {
        return false;
    };
    (0..usize::from(phnum)).any(|i| {
        let Some(ph) = usize::try_from(phoff)
            .ok()
            .and_then(|o| o.checked_add(i.checked_mul(usize::from(phentsize))?))
        else {
            return false;
        };
        if le_u32(elf, ph) != Some(PT_NOTE) {
            return false;
        }
        let field = |at: usize| ph.checked_add(at).and_then(|a| le_u64(elf, a));
        let (Some(off), Some(size)) = (field(8), field(32)) else {
            return false;
        };
        let notes = usize::try_from(off)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(o, s)| elf.get(o..o.checked_add(s)?));
        notes.is_some_and(notes_have_pvh)
    })
}

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

fn notes_have_pvh(mut n: &[u8]) -> bool {
    while n.len() >= 12 {
        let (Some(namesz), Some(descsz), Some(kind)) = (le_u32(n, 0), le_u32(n, 4), le_u32(n, 8))
        else {
            return false;
        };
        let (Ok(namesz), Ok(descsz)) = (usize::try_from(namesz), usize::try_from(descsz)) else {
            return false;
        };
        let name = n.get(12..12 + namesz.min(n.len()));
        if kind == XEN_ELFNOTE_PHYS32_ENTRY && name.is_some_and(|s| s.starts_with(b"Xen")) {
            return true;
        }
        let Some(next) = align4(namesz)
            .and_then(|a| a.checked_add(align4(descsz)?))
            .and_then(|a| a.checked_add(12))
        else {
            return false;
        };
        match n.get(next..) {
            Some(rest) => n = rest,
            None => return false,
        }
    }
    false
}

/// The uncompressed, PVH-bootable kernel inside `bzimage`, or why there is none.
pub fn pvh_kernel(bzimage: &[u8]) -> Result<Vec<u8>, NoPvhKernel> {
    let payload = payload(bzimage)?;
    if payload.get(..4) != Some(&ZSTD_MAGIC[..]) {
        return Err(no(
            "the payload is not zstd-compressed (only zstd kernels are unpacked)",
        ));
    }
    let size_at = payload
        .len()
        .checked_sub(4)
        .ok_or_else(|| no("truncated payload"))?;
    let size = u64::from(le_u32(payload, size_at).ok_or_else(|| no("truncated payload"))?);
    if size > MAX_ELF {
        return Err(no(format!("the kernel claims {size} bytes uncompressed")));
    }
    let mut frame = payload.get(..size_at).unwrap_or_default();
    let decoder = ruzstd::decoding::StreamingDecoder::new(&mut frame)
        .map_err(|e| no(format!("zstd: {e}")))?;
    let mut elf = Vec::new();
    decoder
        .take(MAX_ELF + 1)
        .read_to_end(&mut elf)
        .map_err(|e| no(format!("zstd: {e}")))?;
    if u64::try_from(elf.len()).ok() != Some(size) {
        return Err(no(format!(
            "the payload unpacks to {} bytes, not the {size} its trailer says",
            elf.len()
        )));
    }
    if !has_pvh_note(&elf) {
        return Err(no(
            "the kernel has no PVH entry note (CONFIG_PVH is not set)",
        ));
    }
    Ok(elf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn what_is_not_a_bzimage_gives_a_reason_not_a_panic() {
        assert!(pvh_kernel(b"").unwrap_err().0.contains("HdrS"));
        let mut bz = vec![0u8; 0x260];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        bz[0x206] = 0x07;
        bz[0x207] = 0x02;
        assert!(pvh_kernel(&bz).unwrap_err().0.contains("2.08"));
        bz[0x206] = 0x0f;
        bz[0x1f1] = 1;
        bz[0x248..0x24c].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(pvh_kernel(&bz).is_err());
        bz[0x248..0x24c].copy_from_slice(&0u32.to_le_bytes());
        bz[0x24c..0x250].copy_from_slice(&16u32.to_le_bytes());
        assert!(pvh_kernel(&bz).unwrap_err().0.contains("outside"));
        assert!(!has_pvh_note(b"\x7fELF\x02"));
        assert!(!notes_have_pvh(&[0xff; 24]));
    }
}
