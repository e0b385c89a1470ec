//! TDX RTMR1 and RTMR2 of a QEMU direct-kernel boot through TDVF, predicted from the kernel,
//! the initrd, the command line and the memory size: the registers the boot path extends,
//! which (unlike MRTD and RTMR0) do not depend on the firmware binary or the machine's ACPI
//! tables.
//!
//! Each register starts at 48 zero bytes and is extended per event: `R = SHA-384(R ‖ d)`.
//! TDVF maps TCG PCRs to RTMRs (UEFI 2.10 §38.4.1: PCR 2–6 → RTMR1, PCR 8–15 → RTMR2).
//!
//! **RTMR1**, from TDVF's boot manager (edk2 `OvmfPkg/IntelTdx`, `TdTcg2Dxe` and
//! `DxeTpm2MeasureBootLib`), in order:
//! 1. `EV_EFI_BOOT_SERVICES_APPLICATION`: the PE/COFF Authenticode SHA-384 of the kernel as
//!    OVMF's QEMU kernel loader serves it: QEMU's fw_cfg setup and kernel blobs, i.e. the
//!    bzImage *with the setup header QEMU patched* ([`qemu_patched_kernel`]);
//! 2. `EV_EFI_ACTION` "Calling EFI Application from Boot Option";
//! 3. `EV_SEPARATOR`, 4 zero bytes;
//! 4. `EV_EFI_ACTION` "Exit Boot Services Invocation";
//! 5. `EV_EFI_ACTION` "Exit Boot Services Returned with Success".
//!
//! **RTMR2**, from the Linux EFI stub (PCR 9), which uses the confidential-computing
//! measurement protocol where there is no TPM since Linux 6.9 (older kernels leave the initrd
//! and command line unmeasured on TDX: [`predict`] refuses them):
//! 1. `EV_EVENT_TAG` "LOADED_IMAGE::LoadOptions": the load options as OVMF's
//!    `X86QemuLoadImageLib` builds them, UTF-16LE of `"initrd=initrd " ‖ cmdline` with its
//!    terminating NUL ([`load_options`]);
//! 2. `EV_EVENT_TAG` "Linux initrd": the initrd's bytes, served through the
//!    `LINUX_EFI_INITRD_MEDIA_GUID` LoadFile2 protocol.
//!
//! What this does **not** cover, and why: MRTD (the TDVF image as its metadata lays it out)
//! and RTMR0 (TDVF's configuration: the TD HOB, the ACPI tables QEMU generates, the boot
//! variables) need the exact TDVF binary and QEMU machine; take them from a launch you trust.
//! Older edk2 releases appended `" initrd=initrd"` instead of prefixing it; a kernel booted
//! through shim gets a `"kernel "` prefix; a `vga=` option makes QEMU patch the video mode
//! (refused here). The same algorithm is published by dstack's `dstack-mr`; no TDX hardware or
//! TDX event log is reachable here to compare against.

use sha2::{Digest, Sha384};

use crate::ImageError;

/// QEMU's ACPI data area reserved below 4 GiB on the PC machines (`pcmc->acpi_data_size`,
/// 0x20000 + 0x8000): the initrd is placed below it.
pub const QEMU_ACPI_DATA_SIZE: u64 = 0x28000;

/// The first Linux release whose EFI stub measures the load options and the initrd through the
/// confidential-computing measurement protocol (TDX RTMR2).
pub const FIRST_MEASURING_KERNEL: (u32, u32) = (6, 9);

/// The RTMR1 events after the kernel's Authenticode digest: how an event log names each, and
/// the data that is hashed.
const RTMR1_ACTIONS: [(&str, &[u8]); 4] = [
    (
        "EV_EFI_ACTION \"Calling EFI Application from Boot Option\"",
        b"Calling EFI Application from Boot Option",
    ),
    ("EV_SEPARATOR", &[0, 0, 0, 0]),
    (
        "EV_EFI_ACTION \"Exit Boot Services Invocation\"",
        b"Exit Boot Services Invocation",
    ),
    (
        "EV_EFI_ACTION \"Exit Boot Services Returned with Success\"",
        b"Exit Boot Services Returned with Success",
    ),
];

/// One measured event: what it is and its SHA-384 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event, as an event log would name it.
    pub what: String,
    /// Its digest.
    pub digest: [u8; 48],
}

/// The prediction: each register and the events it replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxBootRegisters {
    /// RTMR1.
    pub rtmr1: [u8; 48],
    /// RTMR2.
    pub rtmr2: [u8; 48],
    /// RTMR1's events, in order.
    pub rtmr1_events: Vec<Event>,
    /// RTMR2's events, in order.
    pub rtmr2_events: Vec<Event>,
    /// The kernel release the setup header names.
    pub kernel_release: String,
    /// The load options measured, as text.
    pub load_options: String,
}

/// Extends a zeroed register with each event's digest in turn.
pub fn replay(events: &[Event]) -> [u8; 48] {
    events.iter().fold([0u8; 48], |reg, e| {
        let mut h = Sha384::new();
        h.update(reg);
        h.update(e.digest);
        h.finalize().into()
    })
}

fn event(what: impl Into<String>, data: &[u8]) -> Event {
    Event {
        what: what.into(),
        digest: Sha384::digest(data).into(),
    }
}

/// Predicts RTMR1 and RTMR2 of booting `kernel` with `initrd` and `cmdline` in a TD of
/// `memory_bytes` (see the module documentation for the event sequence).
pub fn predict(
    kernel: &[u8],
    initrd: &[u8],
    cmdline: &str,
    memory_bytes: u64,
) -> Result<TdxBootRegisters, ImageError> {
    let release = kernel_release(kernel)?;
    let version = release_version(&release).ok_or_else(|| {
        ImageError::Measurement(format!("kernel release {release:?}: no version number"))
    })?;
    if version < FIRST_MEASURING_KERNEL {
        return Err(ImageError::Measurement(format!(
            "kernel {release} does not measure the initrd and the command line on TDX (its EFI \
             stub uses the confidential-computing measurement protocol from Linux {}.{} on): \
             kiln-enclave in the initrd would be covered by no register",
            FIRST_MEASURING_KERNEL.0, FIRST_MEASURING_KERNEL.1
        )));
    }
    let patched = qemu_patched_kernel(kernel, initrd.len() as u64, cmdline, memory_bytes)?;
    let mut rtmr1_events = vec![Event {
        what: "EV_EFI_BOOT_SERVICES_APPLICATION: the kernel (Authenticode SHA-384, QEMU's \
               patched setup header)"
            .into(),
        digest: authenticode::<Sha384>(&patched)?.into(),
    }];
    rtmr1_events.extend(RTMR1_ACTIONS.iter().map(|(what, data)| event(*what, data)));
    let options = load_options_text(cmdline, !initrd.is_empty());
    let rtmr2_events = vec![
        event("EV_EVENT_TAG LOADED_IMAGE::LoadOptions", &utf16z(&options)),
        event("EV_EVENT_TAG Linux initrd", initrd),
    ];
    Ok(TdxBootRegisters {
        rtmr1: replay(&rtmr1_events),
        rtmr2: replay(&rtmr2_events),
        rtmr1_events,
        rtmr2_events,
        kernel_release: release,
        load_options: options,
    })
}

fn load_options_text(cmdline: &str, initrd: bool) -> String {
    format!("{}{cmdline}", if initrd { "initrd=initrd " } else { "" })
}

/// The kernel's load options as OVMF's `X86QemuLoadImageLib` builds them for a direct boot
/// without shim: UTF-16LE of `"initrd=initrd " ‖ cmdline` (the prefix only with an initrd),
/// NUL-terminated.
pub fn load_options(cmdline: &str, initrd: bool) -> Vec<u8> {
    utf16z(&load_options_text(cmdline, initrd))
}

/// UTF-16LE with a terminating NUL, as UEFI strings are.
fn utf16z(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// `image` read as a PE32+ file.
fn pe64(image: &[u8]) -> Result<object::read::pe::PeFile64<'_>, ImageError> {
    object::read::pe::PeFile64::parse(image)
        .map_err(|e| ImageError::Measurement(format!("the kernel is not a PE32+ image: {e}")))
}

/// The PE/COFF Authenticode digest of `image` (google's `authenticode` crate over `object`'s
/// PE reader).
pub fn authenticode<D: Digest + sha2::digest::Update>(
    image: &[u8],
) -> Result<sha2::digest::Output<D>, ImageError> {
    let pe = pe64(image)?;
    let mut d = <D as Digest>::new();
    ::authenticode::authenticode_digest(&pe, &mut d)
        .map_err(|_| ImageError::Measurement("the kernel's PE offsets are invalid".into()))?;
    Ok(Digest::finalize(d))
}

/// The Authenticode SHA-256 digest a signed PE image's own signature names (the
/// `SpcIndirectDataContent` digest of its first certificate), if it has one.
pub fn signed_authenticode_sha256(image: &[u8]) -> Result<Option<Vec<u8>>, ImageError> {
    let pe = pe64(image)?;
    let Some(mut certs) = ::authenticode::AttributeCertificateIterator::new(&pe)
        .map_err(|_| ImageError::Measurement("the certificate table is invalid".into()))?
    else {
        return Ok(None);
    };
    let Some(first) = certs.next() else {
        return Ok(None);
    };
    let cert = first.map_err(|e| ImageError::Measurement(format!("a certificate: {e:?}")))?;
    let sig = cert
        .get_authenticode_signature()
        .map_err(|e| ImageError::Measurement(format!("the signature: {e:?}")))?;
    Ok(Some(sig.digest().to_vec()))
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn write(b: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), ImageError> {
    b.get_mut(at..at + bytes.len())
        .ok_or_else(|| ImageError::Measurement("the kernel's setup header is truncated".into()))?
        .copy_from_slice(bytes);
    Ok(())
}

/// The kernel release the setup header names (`kernel_version`, boot protocol 2.00+: a
/// pointer at 0x20e to a NUL-terminated string, relative to 0x200).
pub fn kernel_release(kernel: &[u8]) -> Result<String, ImageError> {
    let bad = |why: &str| ImageError::Measurement(format!("the kernel's setup header: {why}"));
    if kernel.get(0x202..0x206) != Some(b"HdrS") {
        return Err(bad("no \"HdrS\" signature (not a bzImage)"));
    }
    let ptr = read_u16(kernel, 0x20e).ok_or_else(|| bad("truncated"))?;
    let start = 0x200 + usize::from(ptr);
    let tail = kernel
        .get(start..)
        .ok_or_else(|| bad("kernel_version out of range"))?;
    let text = tail.split(|&b| b == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(text);
    text.split_whitespace()
        .next()
        .map(str::to_owned)
        .ok_or_else(|| bad("empty kernel_version"))
}

/// `(major, minor)` of a release such as `6.12.43+deb12-cloud-amd64`.
fn release_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The bzImage as QEMU's `x86_load_linux` (hw/i386/x86-common.c) hands it to the firmware for a
/// q35 direct boot with `memory_bytes` of RAM, an initrd of `initrd_size` bytes and `cmdline`.
/// The fields, per the Linux x86 boot protocol (Documentation/arch/x86/boot.rst):
///
/// | offset | field | QEMU writes |
/// |---|---|---|
/// | 0x210 | `type_of_loader` | 0xb0 (QEMU), protocol 2.00+ |
/// | 0x211 | `loadflags` | `CAN_USE_HEAP` (0x80) added, protocol 2.01+ |
/// | 0x224 | `heap_end_ptr` (u16) | `cmdline_addr - real_addr - 0x200`, protocol 2.01+ |
/// | 0x228 | `cmd_line_ptr` | `cmdline_addr`, protocol 2.02+ |
/// | 0x218 | `ramdisk_image` | `(initrd_max - initrd_size) & !0xfff` |
/// | 0x21c | `ramdisk_size` | `initrd_size` |
///
/// `real_addr`/`cmdline_addr` are 0x10000/0x20000 for a protocol 2.02+ kernel loaded high;
/// `initrd_max` is the kernel's limit (`initrd_addr_max`, or 4 GiB - 1 with
/// `XLF_CAN_BE_LOADED_ABOVE_4G` on 2.12+) capped below `below_4g - ACPI data` (q35 keeps
/// 2 GiB below 4 GiB from 2.75 GiB of RAM on, all of it below that).
pub fn qemu_patched_kernel(
    kernel: &[u8],
    initrd_size: u64,
    cmdline: &str,
    memory_bytes: u64,
) -> Result<Vec<u8>, ImageError> {
    let bad = |why: String| ImageError::Measurement(format!("QEMU's kernel patch: {why}"));
    if kernel.get(0x202..0x206) != Some(b"HdrS") {
        return Err(bad("the kernel has no \"HdrS\" setup header".into()));
    }
    if cmdline.split_whitespace().any(|w| w.starts_with("vga=")) {
        return Err(bad(
            "a vga= option makes QEMU patch the video mode too, which is not modelled".into(),
        ));
    }
    let mut k = kernel.to_vec();
    let protocol = read_u16(&k, 0x206).ok_or_else(|| bad("truncated header".into()))?;
    let loadflags = *k.get(0x211).ok_or_else(|| bad("truncated header".into()))?;
    if protocol < 0x202 || loadflags & 0x01 == 0 {
        return Err(bad(format!(
            "boot protocol {protocol:#x} (loadflags {loadflags:#x}): only 2.02+ kernels loaded \
             high are modelled"
        )));
    }
    let (real_addr, cmdline_addr) = (0x10000u32, 0x20000u32);
    write(&mut k, 0x210, &[0xb0])?;
    write(&mut k, 0x211, &[loadflags | 0x80])?;
    let heap_end = u16::try_from(cmdline_addr - real_addr - 0x200)
        .map_err(|_| bad("heap end out of range".into()))?;
    write(&mut k, 0x224, &heap_end.to_le_bytes())?;
    write(&mut k, 0x228, &cmdline_addr.to_le_bytes())?;
    if initrd_size > 0 {
        let xloadflags = read_u16(&k, 0x236).ok_or_else(|| bad("truncated header".into()))?;
        let mut initrd_max: u64 = if protocol >= 0x20c && xloadflags & 0x40 != 0 {
            u64::from(u32::MAX)
        } else {
            match read_u32(&k, 0x22c) {
                Some(0) | None => 0x37ff_ffff,
                Some(max) => u64::from(max),
            }
        };
        let lowmem: u64 = if memory_bytes >= 0xb000_0000 {
            0x8000_0000
        } else {
            0xb000_0000
        };
        let below_4g = memory_bytes.min(lowmem);
        let usable = below_4g
            .checked_sub(QEMU_ACPI_DATA_SIZE)
            .ok_or_else(|| bad(format!("{memory_bytes} bytes of memory leave no room")))?;
        if initrd_max >= usable {
            initrd_max = usable - 1;
        }
        if initrd_size >= initrd_max {
            return Err(bad(format!(
                "an initrd of {initrd_size} bytes does not fit below {initrd_max:#x}"
            )));
        }
        let addr = u32::try_from((initrd_max - initrd_size) & !0xfff)
            .map_err(|_| bad("initrd address above 4 GiB".into()))?;
        let size =
            u32::try_from(initrd_size).map_err(|_| bad("initrd larger than 4 GiB".into()))?;
        write(&mut k, 0x218, &addr.to_le_bytes())?;
        write(&mut k, 0x21c, &size.to_le_bytes())?;
    }
    Ok(k)
}
