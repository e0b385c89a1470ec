//! AWS Nitro Enclave Image Format (EIF) writer and PCR computation, written from the format as
//! `aws-nitro-enclaves-image-format` (Apache-2.0) defines it (version 4):
//!
//! - header, 548 bytes, big-endian: magic `.eif`, version u16 (4), flags u16 (0 = x86_64),
//!   default_mem u64, default_cpus u64, reserved u16, num_sections u16,
//!   section_offsets [u64; 32], section_sizes [u64; 32], unused u32, crc32 u32;
//! - sections in file order kernel (type 1), cmdline (2), metadata (5), ramdisks (3)...,
//!   [signature (4)]; each is a 12-byte header (type u16, flags u16, size u64) followed by the
//!   data; `section_offsets` point at the section header, `section_sizes` are data sizes;
//! - crc32 (IEEE, as zlib/`CRC_32_ISO_HDLC`) over the whole file except the crc field itself;
//! - PCRs (SHA-384, no block cache): PCR0 = extend(H(kernel ‖ cmdline ‖ ramdisk₀ ‖ … ‖ ramdiskₙ)),
//!   PCR1 = extend(H(kernel ‖ cmdline ‖ ramdisk₀)), PCR2 = extend(H(ramdisk₁ ‖ … ‖ ramdiskₙ)),
//!   where extend(d) = SHA-384(0⁴⁸ ‖ d). Headers and metadata are not measured. The cmdline is
//!   measured without a trailing NUL. Unsigned images only (PCR8 needs a signing certificate).
//!
//! kiln's EIF has two ramdisks: the base initramfs (`/init` = kiln-enclave + modules, in PCR1
//! with the kernel) and the toolchain archive (PCR2).

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha384};

use crate::ImageError;

/// `.eif`
pub const EIF_MAGIC: [u8; 4] = *b".eif";
/// The format version written.
pub const EIF_VERSION: u16 = 4;
const MAX_SECTIONS: usize = 32;
/// Size of the EIF header.
pub const HEADER_SIZE: usize = 548;
/// Size of a section header.
pub const SECTION_HEADER_SIZE: usize = 12;

const SECTION_KERNEL: u16 = 1;
const SECTION_CMDLINE: u16 = 2;
const SECTION_RAMDISK: u16 = 3;
const SECTION_METADATA: u16 = 5;

/// The PCRs a Nitro enclave booted from an EIF reports (SHA-384).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NitroPcrs {
    #[serde(with = "hex_bytes")]
    /// PCR0: the whole image (kernel, command line, every ramdisk).
    pub pcr0: [u8; 48],
    #[serde(with = "hex_bytes")]
    /// PCR1: the kernel, the command line and the bootstrap ramdisk.
    pub pcr1: [u8; 48],
    #[serde(with = "hex_bytes")]
    /// PCR2: the application ramdisks.
    pub pcr2: [u8; 48],
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(v: &[u8; 48], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
}

/// The EIF metadata section (JSON, as nitro-cli writes it; not measured). Fixed values keep the
/// image reproducible: the build time is the epoch.
#[derive(Debug, Clone, Serialize)]
pub struct EifMetadata {
    #[serde(rename = "ImageName")]
    /// `ImageName`.
    pub image_name: String,
    #[serde(rename = "ImageVersion")]
    /// `ImageVersion`.
    pub image_version: String,
    #[serde(rename = "BuildMetadata")]
    /// `BuildMetadata`.
    pub build: EifBuildInfo,
    #[serde(rename = "DockerInfo")]
    /// `DockerInfo` (kiln builds no Docker image: an empty object).
    pub docker_info: serde_json::Value,
    #[serde(rename = "CustomMetadata")]
    /// `CustomMetadata`.
    pub custom: serde_json::Value,
}

/// `BuildMetadata` of [`EifMetadata`].
#[derive(Debug, Clone, Serialize)]
pub struct EifBuildInfo {
    #[serde(rename = "BuildTime")]
    /// `BuildTime` (the epoch, for reproducibility).
    pub build_time: String,
    #[serde(rename = "BuildTool")]
    /// `BuildTool`.
    pub build_tool: String,
    #[serde(rename = "BuildToolVersion")]
    /// `BuildToolVersion`.
    pub build_tool_version: String,
    #[serde(rename = "OperatingSystem")]
    /// `OperatingSystem`.
    pub os: String,
    #[serde(rename = "KernelVersion")]
    /// `KernelVersion`.
    pub kernel_version: String,
}

impl EifMetadata {
    /// kiln's fixed metadata for a kernel release.
    pub fn kiln(kernel_release: &str, custom: serde_json::Value) -> Self {
        EifMetadata {
            image_name: "kiln-builder".into(),
            image_version: env!("CARGO_PKG_VERSION").into(),
            build: EifBuildInfo {
                build_time: "1970-01-01T00:00:00+00:00".into(),
                build_tool: "kiln-image".into(),
                build_tool_version: env!("CARGO_PKG_VERSION").into(),
                os: "Debian GNU/Linux".into(),
                kernel_version: kernel_release.into(),
            },
            docker_info: serde_json::json!({}),
            custom,
        }
    }
}

/// What goes into an EIF.
#[derive(Debug, Clone)]
pub struct EifInputs {
    /// bzImage.
    pub kernel: PathBuf,
    /// The kernel command line.
    pub cmdline: String,
    /// First = bootstrap ramdisk (PCR1), the rest = application ramdisks (PCR2).
    pub ramdisks: Vec<PathBuf>,
    /// The metadata section.
    pub metadata: EifMetadata,
    /// Memory the enclave is started with by default, MiB.
    pub default_mem: u64,
    /// vCPUs the enclave is started with by default.
    pub default_cpus: u64,
}

/// CRC-32 (IEEE 802.3, reflected, init and final xor 0xFFFFFFFF), as zlib computes it.
#[derive(Debug, Clone)]
pub struct Crc32(u32);

// Invariant: i < 256, so the cast is exact and the index in bounds (a const fn cannot use
// `get_mut` or `try_from`).
#[allow(clippy::cast_possible_truncation, clippy::indexing_slicing)]
const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}
static CRC_TABLE: [u32; 256] = crc_table();

impl Default for Crc32 {
    fn default() -> Self {
        Crc32(0xFFFF_FFFF)
    }
}

impl Crc32 {
    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for &b in data {
            let idx = usize::from(c.to_le_bytes()[0] ^ b);
            // Invariant: idx < 256 (a byte), the table has 256 entries.
            c = CRC_TABLE.get(idx).copied().unwrap_or(0) ^ (c >> 8);
        }
        self.0 = c;
    }
    /// The CRC-32 of everything fed.
    pub fn finish(&self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

fn extend(d: &[u8]) -> [u8; 48] {
    let mut h = Sha384::new();
    h.update([0u8; 48]);
    h.update(d);
    h.finalize().into()
}

fn file_len(p: &Path) -> Result<u64, ImageError> {
    Ok(fs::metadata(p)
        .map_err(ImageError::io(p, "reading metadata of"))?
        .len())
}

fn header_bytes(
    flags: u16,
    mem: u64,
    cpus: u64,
    offsets: &[u64],
    sizes: &[u64],
    crc: u32,
) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_SIZE);
    h.extend_from_slice(&EIF_MAGIC);
    h.extend_from_slice(&EIF_VERSION.to_be_bytes());
    h.extend_from_slice(&flags.to_be_bytes());
    h.extend_from_slice(&mem.to_be_bytes());
    h.extend_from_slice(&cpus.to_be_bytes());
    h.extend_from_slice(&0u16.to_be_bytes());
    let n = u16::try_from(offsets.len()).unwrap_or(u16::MAX);
    h.extend_from_slice(&n.to_be_bytes());
    for i in 0..MAX_SECTIONS {
        h.extend_from_slice(&offsets.get(i).copied().unwrap_or(0).to_be_bytes());
    }
    for i in 0..MAX_SECTIONS {
        h.extend_from_slice(&sizes.get(i).copied().unwrap_or(0).to_be_bytes());
    }
    h.extend_from_slice(&0u32.to_be_bytes());
    h.extend_from_slice(&crc.to_be_bytes());
    h
}

fn section_header(kind: u16, size: u64) -> [u8; SECTION_HEADER_SIZE] {
    let mut s = [0u8; SECTION_HEADER_SIZE];
    let (a, b) = s.split_at_mut(2);
    a.copy_from_slice(&kind.to_be_bytes());
    let (f, z) = b.split_at_mut(2);
    f.copy_from_slice(&0u16.to_be_bytes());
    z.copy_from_slice(&size.to_be_bytes());
    s
}

enum Src<'a> {
    Path(&'a Path),
    Bytes(&'a [u8]),
}

/// Writes the EIF to `out` and returns its PCRs. The file is written to a temporary name and
/// renamed, so `out` never holds a partial image.
pub fn write_eif(inputs: &EifInputs, out: &Path) -> Result<NitroPcrs, ImageError> {
    if inputs.ramdisks.is_empty() || inputs.ramdisks.len() + 3 > MAX_SECTIONS {
        return Err(ImageError::Invalid(format!(
            "EIF needs 1..={} ramdisks",
            MAX_SECTIONS - 3
        )));
    }
    if inputs.cmdline.bytes().any(|b| b == 0) {
        return Err(ImageError::Invalid(
            "kernel command line contains NUL".into(),
        ));
    }
    let metadata = serde_json::to_vec(&inputs.metadata)
        .map_err(|e| ImageError::Invalid(format!("EIF metadata: {e}")))?;
    let mut sections: Vec<(u16, u64, Src<'_>)> = vec![
        (
            SECTION_KERNEL,
            file_len(&inputs.kernel)?,
            Src::Path(&inputs.kernel),
        ),
        (
            SECTION_CMDLINE,
            inputs.cmdline.len() as u64,
            Src::Bytes(inputs.cmdline.as_bytes()),
        ),
        (
            SECTION_METADATA,
            metadata.len() as u64,
            Src::Bytes(&metadata),
        ),
    ];
    for r in &inputs.ramdisks {
        sections.push((SECTION_RAMDISK, file_len(r)?, Src::Path(r)));
    }
    let mut offsets = Vec::new();
    let mut sizes = Vec::new();
    let mut off = HEADER_SIZE as u64;
    for (_, size, _) in &sections {
        offsets.push(off);
        sizes.push(*size);
        off += SECTION_HEADER_SIZE as u64 + size;
    }
    let hdr0 = header_bytes(
        0,
        inputs.default_mem,
        inputs.default_cpus,
        &offsets,
        &sizes,
        0,
    );
    let mut crc = Crc32::default();
    crc.update(hdr0.get(..HEADER_SIZE - 4).unwrap_or(&[]));

    let tmp = out.with_extension("eif.partial");
    let mut f = fs::File::create(&tmp).map_err(ImageError::io(&tmp, "creating"))?;
    let werr = |e| ImageError::Io {
        path: tmp.clone(),
        what: "writing",
        source: e,
    };
    f.write_all(&hdr0).map_err(werr)?;
    let (mut all, mut boot, mut app) = (Sha384::new(), Sha384::new(), Sha384::new());
    let mut ramdisk_index = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    for (kind, size, src) in &sections {
        let sh = section_header(*kind, *size);
        crc.update(&sh);
        f.write_all(&sh).map_err(werr)?;
        let mut feed = |chunk: &[u8]| -> Result<(), ImageError> {
            crc.update(chunk);
            match *kind {
                SECTION_KERNEL | SECTION_CMDLINE => {
                    all.update(chunk);
                    boot.update(chunk);
                }
                SECTION_RAMDISK => {
                    all.update(chunk);
                    if ramdisk_index == 0 {
                        boot.update(chunk)
                    } else {
                        app.update(chunk)
                    }
                }
                _ => {}
            }
            f.write_all(chunk).map_err(werr)
        };
        match src {
            Src::Bytes(b) => feed(b)?,
            Src::Path(p) => {
                let mut r = fs::File::open(p).map_err(ImageError::io(*p, "opening"))?;
                let mut seen = 0u64;
                loop {
                    let n = r.read(&mut buf).map_err(ImageError::io(*p, "reading"))?;
                    if n == 0 {
                        break;
                    }
                    seen += n as u64;
                    feed(buf.get(..n).unwrap_or(&[]))?;
                }
                if seen != *size {
                    return Err(ImageError::Invalid(format!(
                        "{} changed size while writing",
                        p.display()
                    )));
                }
            }
        }
        if *kind == SECTION_RAMDISK {
            ramdisk_index += 1;
        }
    }
    let hdr = header_bytes(
        0,
        inputs.default_mem,
        inputs.default_cpus,
        &offsets,
        &sizes,
        crc.finish(),
    );
    f.seek(SeekFrom::Start(0)).map_err(werr)?;
    f.write_all(&hdr).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    drop(f);
    fs::rename(&tmp, out).map_err(ImageError::io(out, "renaming into"))?;
    Ok(NitroPcrs {
        pcr0: extend(&all.finalize()),
        pcr1: extend(&boot.finalize()),
        pcr2: extend(&app.finalize()),
    })
}

/// A parsed EIF: version, CRC check, sections.
#[derive(Debug, Clone)]
pub struct EifSummary {
    /// The EIF format version.
    pub version: u16,
    /// Default memory, MiB.
    pub default_mem: u64,
    /// Default vCPUs.
    pub default_cpus: u64,
    /// (type, data) in file order.
    pub sections: Vec<(u16, Vec<u8>)>,
    /// Whether the header's CRC matches the file.
    pub crc_ok: bool,
}

fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Parses an EIF image held in memory (for tests and `kiln image measure` on an EIF).
pub fn parse_eif(b: &[u8]) -> Result<EifSummary, ImageError> {
    let bad = |m: &str| ImageError::Invalid(format!("EIF: {m}"));
    if b.get(..4) != Some(&EIF_MAGIC[..]) {
        return Err(bad("bad magic"));
    }
    let version = be_u16(b, 4).ok_or_else(|| bad("short header"))?;
    let default_mem = be_u64(b, 8).ok_or_else(|| bad("short header"))?;
    let default_cpus = be_u64(b, 16).ok_or_else(|| bad("short header"))?;
    let n = usize::from(be_u16(b, 26).ok_or_else(|| bad("short header"))?);
    if n > MAX_SECTIONS {
        return Err(bad("too many sections"));
    }
    let crc_stored = be_u32(b, HEADER_SIZE - 4).ok_or_else(|| bad("short header"))?;
    let mut crc = Crc32::default();
    crc.update(b.get(..HEADER_SIZE - 4).unwrap_or(&[]));
    crc.update(b.get(HEADER_SIZE..).unwrap_or(&[]));
    let mut sections = Vec::new();
    for i in 0..n {
        let off = be_u64(b, 28 + 8 * i).ok_or_else(|| bad("short header"))?;
        let size = be_u64(b, 28 + 8 * MAX_SECTIONS + 8 * i).ok_or_else(|| bad("short header"))?;
        let off = usize::try_from(off).map_err(|_| bad("offset"))?;
        let size = usize::try_from(size).map_err(|_| bad("size"))?;
        let kind = be_u16(b, off).ok_or_else(|| bad("section header out of bounds"))?;
        let hsize = be_u64(b, off + 4).ok_or_else(|| bad("section header out of bounds"))?;
        if usize::try_from(hsize).ok() != Some(size) {
            return Err(bad("section size mismatch"));
        }
        let start = off + SECTION_HEADER_SIZE;
        let data = b
            .get(start..start + size)
            .ok_or_else(|| bad("section out of bounds"))?;
        sections.push((kind, data.to_vec()));
    }
    Ok(EifSummary {
        version,
        default_mem,
        default_cpus,
        sections,
        crc_ok: crc.finish() == crc_stored,
    })
}

impl EifSummary {
    /// The PCRs of this image, recomputed from its sections.
    pub fn pcrs(&self) -> NitroPcrs {
        let (mut all, mut boot, mut app) = (Sha384::new(), Sha384::new(), Sha384::new());
        let mut ri = 0;
        for (kind, data) in &self.sections {
            match *kind {
                SECTION_KERNEL | SECTION_CMDLINE => {
                    all.update(data);
                    boot.update(data);
                }
                SECTION_RAMDISK => {
                    all.update(data);
                    if ri == 0 {
                        boot.update(data)
                    } else {
                        app.update(data)
                    }
                    ri += 1;
                }
                _ => {}
            }
        }
        NitroPcrs {
            pcr0: extend(&all.finalize()),
            pcr1: extend(&boot.finalize()),
            pcr2: extend(&app.finalize()),
        }
    }
}
