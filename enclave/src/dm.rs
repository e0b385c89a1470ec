//! device-mapper through `/dev/mapper/control` (`linux/dm-ioctl.h`, interface version 4), just
//! what a read-only dm-verity disk needs: create a device, load a one-target read-only table,
//! resume it. The guest's kernel has no `dm-mod.create=` (CONFIG_DM_INIT), and `veritysetup`
//! would bring libcryptsetup and its libraries into the measured image, so `/init` speaks the
//! interface itself.
//!
//! This is the one module of kiln-enclave with `unsafe` code: the ioctl call over a buffer this
//! module lays out (a `struct dm_ioctl` header, then for a table a `struct dm_target_spec` and
//! its NUL-terminated parameters, 8-byte aligned) and whose `data_size` is the buffer's length,
//! so the kernel reads and writes only inside it. The layout is built and checked by safe code
//! and unit tests against the header's offsets.

#![allow(unsafe_code)]

use std::fmt;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use nix::errno::Errno;

/// `sizeof(struct dm_ioctl)`.
const HEADER_LEN: usize = 312;
/// The same, as the header's `data_start` field holds it.
const HEADER_LEN_U32: u32 = 312;
/// `sizeof(struct dm_target_spec)`.
const SPEC_LEN: usize = 40;
/// `DM_NAME_LEN` (with its NUL).
const NAME_LEN: usize = 128;
/// `DM_MAX_TYPE_NAME` (with its NUL).
const TYPE_LEN: usize = 16;
/// Offsets in `struct dm_ioctl`.
const OFF_DATA_SIZE: usize = 12;
const OFF_DATA_START: usize = 16;
const OFF_TARGET_COUNT: usize = 20;
const OFF_FLAGS: usize = 28;
const OFF_DEV: usize = 40;
const OFF_NAME: usize = 48;
/// The interface version kiln speaks (the kernel accepts any equal major and lower minor).
const VERSION: [u32; 3] = [4, 0, 0];
/// `DM_READONLY_FLAG`.
const READONLY_FLAG: u32 = 1 << 0;
/// `DM_IOCTL`, the ioctl type.
const DM_IOCTL: u8 = 0xfd;
/// Commands (`enum { DM_VERSION_CMD = 0, ... }`).
const DEV_CREATE_CMD: u8 = 3;
const DEV_SUSPEND_CMD: u8 = 6;
const TABLE_LOAD_CMD: u8 = 9;
/// A sector, the unit of a table's start and length.
const SECTOR: u64 = 512;

/// Why a device-mapper device could not be set up.
#[derive(Debug)]
pub enum DmError {
    /// An argument cannot be encoded (a name too long, a NUL inside).
    Invalid(String),
    /// `/dev/mapper/control` cannot be opened.
    Control(std::io::Error),
    /// The kernel refused an ioctl.
    Ioctl {
        /// Which step.
        step: &'static str,
        /// The kernel's answer.
        errno: Errno,
    },
}

impl fmt::Display for DmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(m) => write!(f, "device-mapper: {m}"),
            Self::Control(e) => write!(f, "device-mapper: cannot open /dev/mapper/control: {e}"),
            Self::Ioctl { step, errno } => {
                write!(f, "device-mapper: the kernel refused to {step}: {errno}")
            }
        }
    }
}

impl std::error::Error for DmError {}

/// Writes `bytes` at `at`; a field outside the buffer is an error, never skipped.
fn put(buf: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), DmError> {
    buf.get_mut(at..at + bytes.len())
        .ok_or_else(|| DmError::Invalid("field outside the buffer".into()))?
        .copy_from_slice(bytes);
    Ok(())
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) -> Result<(), DmError> {
    put(buf, at, &v.to_ne_bytes())
}

fn put_u64(buf: &mut [u8], at: usize, v: u64) -> Result<(), DmError> {
    put(buf, at, &v.to_ne_bytes())
}

/// Copies `text` and a NUL into a `cap`-byte field at `at`.
fn put_str(buf: &mut [u8], at: usize, cap: usize, text: &str) -> Result<(), DmError> {
    if text.len() >= cap || text.as_bytes().contains(&0) {
        return Err(DmError::Invalid(format!(
            "{text:?} does not fit a {cap}-byte field with its NUL"
        )));
    }
    put(buf, at, text.as_bytes())
}

/// A `struct dm_ioctl` for device `name` in a buffer of `total` bytes (at least the header).
fn header(name: &str, flags: u32, total: usize) -> Result<Vec<u8>, DmError> {
    let mut buf = vec![0u8; total.max(HEADER_LEN)];
    for (i, v) in VERSION.iter().enumerate() {
        put_u32(&mut buf, i * 4, *v)?;
    }
    let size = u32::try_from(buf.len()).map_err(|_| DmError::Invalid("buffer too large".into()))?;
    put_u32(&mut buf, OFF_DATA_SIZE, size)?;
    put_u32(&mut buf, OFF_DATA_START, HEADER_LEN_U32)?;
    put_u32(&mut buf, OFF_FLAGS, flags)?;
    put_str(&mut buf, OFF_NAME, NAME_LEN, name)?;
    Ok(buf)
}

/// The `DM_TABLE_LOAD` buffer: a read-only table of one `target` over `sectors` sectors.
fn table_load(name: &str, sectors: u64, target: &str, params: &str) -> Result<Vec<u8>, DmError> {
    if params.as_bytes().contains(&0) {
        return Err(DmError::Invalid("a NUL in the target's parameters".into()));
    }
    // Header, spec, parameters and their NUL, rounded up to 8 bytes.
    let total = (HEADER_LEN + SPEC_LEN + params.len() + 1).div_ceil(8) * 8;
    let mut buf = header(name, READONLY_FLAG, total)?;
    put_u32(&mut buf, OFF_TARGET_COUNT, 1)?;
    let spec = HEADER_LEN;
    put_u64(&mut buf, spec, 0)?; // sector_start
    put_u64(&mut buf, spec + 8, sectors)?; // length
    put_str(&mut buf, spec + 24, TYPE_LEN, target)?; // after status (s32) and next (u32)
    put_str(&mut buf, spec + SPEC_LEN, params.len() + 1, params)?;
    Ok(buf)
}

/// The minor number in the `dev` field the kernel returns (`huge_encode_dev`: minor bits 0-7
/// and 20-31, major bits 8-19).
fn minor_of(buf: &[u8]) -> Option<u64> {
    let raw = buf.get(OFF_DEV..OFF_DEV + 8)?;
    let dev = u64::from_ne_bytes(raw.try_into().ok()?);
    Some((dev & 0xff) | ((dev >> 12) & !0xff))
}

nix::ioctl_readwrite_bad!(
    dm_dev_create,
    nix::request_code_readwrite!(DM_IOCTL, DEV_CREATE_CMD, HEADER_LEN),
    u8
);
nix::ioctl_readwrite_bad!(
    dm_table_load,
    nix::request_code_readwrite!(DM_IOCTL, TABLE_LOAD_CMD, HEADER_LEN),
    u8
);
nix::ioctl_readwrite_bad!(
    dm_dev_suspend,
    nix::request_code_readwrite!(DM_IOCTL, DEV_SUSPEND_CMD, HEADER_LEN),
    u8
);

/// Creates the read-only dm-verity device `name` with the verity `params` (see
/// `kiln_image::verity::VerityTree::table_params`) over `data_blocks` 4 KiB blocks, and returns
/// its node (`/dev/dm-N`, which devtmpfs creates).
pub fn open_verity(name: &str, data_blocks: u64, params: &str) -> Result<PathBuf, DmError> {
    let sectors = data_blocks
        .checked_mul(4096 / SECTOR)
        .ok_or_else(|| DmError::Invalid(format!("{data_blocks} blocks overflow")))?;
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/mapper/control")
        .map_err(DmError::Control)?;
    let fd = control.as_raw_fd();
    let mut create = header(name, 0, HEADER_LEN)?;
    // SAFETY: `create` is a `struct dm_ioctl` whose `data_size` is its own length; the kernel
    // reads and writes at most `data_size` bytes of it.
    unsafe { dm_dev_create(fd, create.as_mut_ptr()) }.map_err(|errno| DmError::Ioctl {
        step: "create the device",
        errno,
    })?;
    let minor = minor_of(&create).ok_or_else(|| DmError::Invalid("no device number".into()))?;
    let mut table = table_load(name, sectors, "verity", params)?;
    // SAFETY: as above; the spec and parameters lie inside `data_size`.
    unsafe { dm_table_load(fd, table.as_mut_ptr()) }.map_err(|errno| DmError::Ioctl {
        step: "load the verity table",
        errno,
    })?;
    let mut resume = header(name, 0, HEADER_LEN)?;
    // SAFETY: as above (no DM_SUSPEND_FLAG: this resumes, activating the loaded table).
    unsafe { dm_dev_suspend(fd, resume.as_mut_ptr()) }.map_err(|errno| DmError::Ioctl {
        step: "activate the device",
        errno,
    })?;
    Ok(PathBuf::from(format!("/dev/dm-{minor}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_ne_bytes(b[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn the_header_has_dm_ioctl_h_s_layout() {
        let h = header("kiln-toolchain", 0, HEADER_LEN).unwrap();
        assert_eq!(h.len(), 312);
        assert_eq!([u32_at(&h, 0), u32_at(&h, 4), u32_at(&h, 8)], [4, 0, 0]);
        assert_eq!(u32_at(&h, 12), 312, "data_size");
        assert_eq!(u32_at(&h, 16), 312, "data_start");
        assert_eq!(&h[48..62], b"kiln-toolchain");
        assert_eq!(h[62], 0);
        // The uuid field (176..305) and everything else stay zero.
        assert!(h[176..].iter().all(|b| *b == 0));
        // The request numbers are _IOWR(0xfd, cmd, struct dm_ioctl), as dmsetup uses them.
        assert_eq!(
            nix::request_code_readwrite!(DM_IOCTL, DEV_CREATE_CMD, HEADER_LEN),
            0xc138_fd03
        );
        assert_eq!(
            nix::request_code_readwrite!(DM_IOCTL, TABLE_LOAD_CMD, HEADER_LEN),
            0xc138_fd09
        );
    }

    #[test]
    fn a_table_load_carries_one_read_only_target_and_its_parameters() {
        let params = "1 /dev/vda /dev/vda 4096 4096 300 300 sha256 ab cd";
        let b = table_load("kiln-toolchain", 2400, "verity", params).unwrap();
        assert_eq!(b.len() % 8, 0);
        assert_eq!(u32_at(&b, 12) as usize, b.len(), "data_size is the buffer");
        assert_eq!(u32_at(&b, 20), 1, "target_count");
        assert_eq!(u32_at(&b, 28), READONLY_FLAG);
        assert_eq!(u64_at(&b, 312), 0, "sector_start");
        assert_eq!(u64_at(&b, 320), 2400, "length");
        assert_eq!(&b[336..343], b"verity\0");
        assert_eq!(&b[352..352 + params.len()], params.as_bytes());
        assert_eq!(b[352 + params.len()], 0);
    }

    #[test]
    fn names_and_parameters_that_do_not_fit_are_refused() {
        assert!(header(&"x".repeat(127), 0, HEADER_LEN).is_ok());
        assert!(matches!(
            header(&"x".repeat(128), 0, HEADER_LEN),
            Err(DmError::Invalid(_))
        ));
        assert!(header("a\0b", 0, HEADER_LEN).is_err());
        assert!(table_load("n", 8, "verity", "1 a\0b").is_err());
        assert!(table_load("n", 8, &"t".repeat(16), "x").is_err());
    }

    #[test]
    fn the_minor_number_is_decoded_as_the_kernel_encodes_it() {
        let mut b = vec![0u8; HEADER_LEN];
        // major 254, minor 0x1203: huge_encode_dev = (minor & 0xff) | major << 8 | (minor & !0xff) << 12
        let dev: u64 = 0x03 | (254 << 8) | (0x1200 << 12);
        b[40..48].copy_from_slice(&dev.to_ne_bytes());
        assert_eq!(minor_of(&b), Some(0x1203));
    }
}
