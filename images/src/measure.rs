//! Predicted measurements of a guest image, per platform.
//!
//! - `sim` ([`sim_vm_measurement`]): what the host's simulated security processor signs for a
//!   VM it launched. 48 bytes, SHA-384 over this exact encoding (integers little-endian):
//!
//!   ```text
//!   "kiln-sim-vm-measurement/v1\0"          (27 bytes, domain separation)
//!   u64 len(kernel)  ‖ SHA-384(kernel)
//!   u64 len(initrd)  ‖ SHA-384(initrd)
//!   u64 len(cmdline) ‖ cmdline bytes       (UTF-8, no trailing NUL)
//!   u32 vcpus
//!   u64 memory in MiB
//!   ```
//! - SEV-SNP ([`snp_launch_digest`]): the launch digest of QEMU + OVMF with
//!   `kernel-hashes=on`, via the `sev` crate's `measurement` module (the same algorithm as
//!   AMD's/virtee's `sev-snp-measure`). Needs an OVMF built with the SNP kernel-hashes
//!   metadata section (edk2 `OvmfPkg/AmdSev/AmdSevX64.dsc`); Debian's `ovmf` package (bookworm
//!   and trixie) ships only `OvmfPkgX64` builds, which carry the SEV metadata but no
//!   `SNP_KERNEL_HASHES` section, so with them only the firmware-only digest
//!   ([`snp_firmware_digest`]) can be computed, and QEMU refuses `kernel-hashes=on`.
//! - Nitro: PCR0/1/2 from the EIF ([`crate::eif`]).
//! - TDX: RTMR1 and RTMR2 of a direct boot through TDVF ([`crate::tdx_boot`]); MRTD and RTMR0
//!   need the exact TDVF binary and QEMU machine and are not predicted.

use std::path::{Path, PathBuf};

use sev::measurement::sev_hashes::SevHashes;
use sev::measurement::snp::{snp_calc_launch_digest, SnpMeasurementArgs};
use sev::measurement::vcpu_types::CpuType;
use sev::measurement::vmsa::{GuestFeatures, VMMType};
use sha2::{Digest, Sha384};

use crate::ImageError;

/// Domain separator of the sim VM measurement.
pub const SIM_VM_DOMAIN: &[u8] = b"kiln-sim-vm-measurement/v1\0";

/// What was booted, as the launcher knows it.
#[derive(Debug, Clone)]
pub struct VmLaunch {
    /// The kernel.
    pub kernel: PathBuf,
    /// The initrd.
    pub initrd: PathBuf,
    /// The kernel command line.
    pub cmdline: String,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
}

fn sha384_file(path: &Path) -> Result<(u64, [u8; 48]), ImageError> {
    crate::image::digest_file::<Sha384>(path).map(|(n, d)| (n, d.into()))
}

/// The `sim` VM measurement (see the module documentation for the encoding).
pub fn sim_vm_measurement(l: &VmLaunch) -> Result<[u8; 48], ImageError> {
    let (klen, kd) = sha384_file(&l.kernel)?;
    let (ilen, id) = sha384_file(&l.initrd)?;
    Ok(sim_vm_measurement_from_digests(
        klen,
        &kd,
        ilen,
        &id,
        &l.cmdline,
        l.vcpus,
        l.memory_mib,
    ))
}

/// The `sim` VM measurement from precomputed file digests.
pub fn sim_vm_measurement_from_digests(
    kernel_len: u64,
    kernel_sha384: &[u8; 48],
    initrd_len: u64,
    initrd_sha384: &[u8; 48],
    cmdline: &str,
    vcpus: u32,
    memory_mib: u64,
) -> [u8; 48] {
    let mut h = Sha384::new();
    h.update(SIM_VM_DOMAIN);
    h.update(kernel_len.to_le_bytes());
    h.update(kernel_sha384);
    h.update(initrd_len.to_le_bytes());
    h.update(initrd_sha384);
    h.update((cmdline.len() as u64).to_le_bytes());
    h.update(cmdline.as_bytes());
    h.update(vcpus.to_le_bytes());
    h.update(memory_mib.to_le_bytes());
    h.finalize().into()
}

/// SEV-SNP launch parameters besides the image.
#[derive(Debug, Clone)]
pub struct SnpParams {
    /// The OVMF firmware file (with SEV metadata).
    pub ovmf: PathBuf,
    /// vCPUs (one VMSA each).
    pub vcpus: u32,
    /// QEMU's CPU model name: `EPYC-v4`, `EPYC-Milan`, `EPYC-Genoa`, ...
    pub vcpu_type: String,
    /// SEV_FEATURES of the VMSA; QEMU's default is 0x1 (SNPActive).
    pub guest_features: u64,
}

/// Parses a QEMU CPU model name as the `sev` crate names it (case-insensitive).
pub fn parse_vcpu_type(name: &str) -> Result<CpuType, ImageError> {
    let mut known = Vec::new();
    for i in 0..=u8::MAX {
        if let Ok(t) = CpuType::try_from(i) {
            let s = t.to_string();
            if s.eq_ignore_ascii_case(name) {
                return Ok(t);
            }
            known.push(s);
        }
    }
    Err(ImageError::Measurement(format!(
        "unknown vCPU type {name:?} (known: {})",
        known.join(", ")
    )))
}

fn snp_digest(
    p: &SnpParams,
    kernel: Option<&Path>,
    initrd: Option<&Path>,
    cmdline: Option<&str>,
) -> Result<[u8; 48], ImageError> {
    if !p.ovmf.is_file() {
        return Err(ImageError::MissingInput {
            path: p.ovmf.clone(),
            hint: "pass an OVMF firmware file",
        });
    }
    let args = SnpMeasurementArgs {
        vcpus: p.vcpus,
        vcpu_type: parse_vcpu_type(&p.vcpu_type)?,
        ovmf_file: p.ovmf.clone(),
        guest_features: GuestFeatures(p.guest_features),
        kernel_file: kernel.map(Path::to_path_buf),
        initrd_file: initrd.map(Path::to_path_buf),
        append: cmdline,
        ovmf_hash_str: None,
        vmm_type: Some(VMMType::QEMU),
    };
    let ld = snp_calc_launch_digest(args).map_err(|e| {
        ImageError::Measurement(format!(
            "SEV-SNP launch digest with {} ({e}); kernel hashes need an OVMF built from \
             OvmfPkg/AmdSev (Debian's OVMF has no SNP_KERNEL_HASHES section)",
            p.ovmf.display()
        ))
    })?;
    let v: Vec<u8> = ld
        .try_into()
        .map_err(|e| ImageError::Measurement(format!("launch digest: {e}")))?;
    v.try_into()
        .map_err(|_| ImageError::Measurement("launch digest is not 48 bytes".into()))
}

/// SEV-SNP launch digest of a direct kernel boot with `kernel-hashes=on`.
pub fn snp_launch_digest(
    p: &SnpParams,
    kernel: &Path,
    initrd: &Path,
    cmdline: &str,
) -> Result<[u8; 48], ImageError> {
    snp_digest(p, Some(kernel), Some(initrd), Some(cmdline))
}

/// SEV-SNP launch digest of the firmware alone (no kernel hashes): works with any OVMF that
/// carries the SEV metadata, Debian's included.
pub fn snp_firmware_digest(p: &SnpParams) -> Result<[u8; 48], ImageError> {
    snp_digest(p, None, None, None)
}

/// The SEV hashes table page (kernel, initrd, cmdline hashes) that OVMF's AmdSev build
/// measures at `offset` in its page; exposed so tests can compare it with other tools.
pub fn sev_hashes_page(
    kernel: &Path,
    initrd: &Path,
    cmdline: &str,
    offset: usize,
) -> Result<Vec<u8>, ImageError> {
    let h = SevHashes::new(
        kernel.to_path_buf(),
        Some(initrd.to_path_buf()),
        Some(cmdline),
    )
    .map_err(|e| ImageError::Measurement(format!("SEV hashes: {e}")))?;
    h.construct_page(offset)
        .map_err(|e| ImageError::Measurement(format!("SEV hashes page: {e}")))
}
