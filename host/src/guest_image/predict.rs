//! Predicting an image's measurements: the reference document of `kiln image measure` for the
//! simulated processor, SEV-SNP (launch digest), TDX (MRTD/RTMRs, in [`super::predict_tdx`])
//! and Nitro (PCRs of the EIF).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use kiln_image::image::{sha256_file, ImagePaths};
use kiln_image::measure::{
    sim_vm_measurement, snp_firmware_digest, snp_launch_digest, SnpParams, VmLaunch,
};
use kiln_provenance::reference::{write_document, ReferencePlatform};
use kiln_provenance::Platform;
use serde_json::json;

use super::{image_err, image_paths, io_err, GuestImageError};

/// The `builder.id` that `kiln build` writes by default for a guest booted from an image
/// predicted for `platform` (`--backend qemu` for the simulated processor, else the hardware
/// backend).
pub fn default_builder_id(platform: ReferencePlatform) -> &'static str {
    match platform {
        ReferencePlatform::Sim => "https://kiln.dev/builders/qemu@v1",
        ReferencePlatform::Tee(Platform::SevSnp) => "https://kiln.dev/builders/snp@v1",
        ReferencePlatform::Tee(Platform::Tdx) => "https://kiln.dev/builders/tdx@v1",
        ReferencePlatform::Tee(Platform::Nitro) => "https://kiln.dev/builders/nitro@v1",
    }
}

/// What `kiln image measure` needs besides the image.
#[derive(Debug, Clone)]
pub struct MeasureOptions {
    /// The platform.
    pub platform: ReferencePlatform,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory, MiB (sim).
    pub memory_mib: u64,
    /// OVMF (SEV-SNP).
    pub ovmf: Option<PathBuf>,
    /// vCPU model (SEV-SNP).
    pub vcpu_type: String,
    /// SEV-SNP: the firmware alone (no kernel hashes).
    pub firmware_only: bool,
    /// The builder id the reference names (default: [`default_builder_id`]).
    pub builder_id: Option<String>,
    /// TDX: MRTD and RTMR0 taken from a launch the caller trusts (kiln cannot predict them).
    pub tdx_firmware: crate::guest_image::predict_tdx::FirmwareRegisters,
}

/// The sim measurement of booting `p` with `vcpus` and `memory_mib`.
pub fn sim_measurement(
    p: &ImagePaths,
    vcpus: u32,
    memory_mib: u64,
) -> Result<[u8; 48], GuestImageError> {
    let cmdline = p
        .read_cmdline()
        .map_err(image_err("read the image's command line"))?;
    sim_vm_measurement(&VmLaunch {
        kernel: p.local_kernel().to_path_buf(),
        initrd: p.initrd.clone(),
        cmdline,
        vcpus,
        memory_mib,
    })
    .map_err(image_err("compute the sim measurement"))
}

/// Predicts the measurement of the image in `dir`: the reference document.
pub fn measure(dir: &Path, o: &MeasureOptions) -> Result<serde_json::Value, GuestImageError> {
    let p = image_paths(dir)?;
    let cmdline = p
        .read_cmdline()
        .map_err(image_err("read the image's command line"))?;
    let mut measurements = BTreeMap::new();
    let mut launch = json!({});
    match o.platform {
        ReferencePlatform::Sim => {
            let m = sim_measurement(&p, o.vcpus, o.memory_mib)?;
            measurements.insert("measurement".to_owned(), hex::encode(m));
            launch = json!({"vcpus": o.vcpus, "memoryMiB": o.memory_mib});
        }
        ReferencePlatform::Tee(Platform::SevSnp) => {
            let ovmf = o.ovmf.clone().ok_or_else(|| {
                GuestImageError::Usage(
                    "--platform sev-snp needs --ovmf FILE (an OVMF with SEV metadata; for kernel \
                     hashes one built from OvmfPkg/AmdSev)"
                        .into(),
                )
            })?;
            let params = SnpParams {
                ovmf: ovmf.clone(),
                vcpus: o.vcpus,
                vcpu_type: o.vcpu_type.clone(),
                guest_features: 0x1,
            };
            let m = if o.firmware_only {
                snp_firmware_digest(&params)
            } else {
                snp_launch_digest(&params, &p.kernel, &p.initrd, &cmdline)
            }
            .map_err(image_err("compute the SEV-SNP launch digest"))?;
            measurements.insert("measurement".to_owned(), hex::encode(m));
            let (_, ovmf_sha256) = sha256_file(&ovmf).map_err(image_err("hash the OVMF"))?;
            launch = json!({
                "vcpus": o.vcpus,
                "vcpuType": o.vcpu_type,
                "ovmf": ovmf.display().to_string(),
                "ovmfSha256": hex::encode(ovmf_sha256),
                "kernelHashes": !o.firmware_only,
                "guestFeatures": "0x1",
            });
        }
        ReferencePlatform::Tee(Platform::Tdx) => {
            launch = crate::guest_image::predict_tdx::measure(&p, &cmdline, o, &mut measurements)?;
        }
        ReferencePlatform::Tee(Platform::Nitro) => {
            let bytes = fs::read(&p.eif).map_err(io_err(format!(
                "read {} (build it with `kiln image build --format eif`)",
                p.eif.display()
            )))?;
            let summary = kiln_image::eif::parse_eif(&bytes).map_err(image_err("parse the EIF"))?;
            let pcrs = summary.pcrs();
            for (key, value) in [
                ("pcr0", pcrs.pcr0),
                ("pcr1", pcrs.pcr1),
                ("pcr2", pcrs.pcr2),
            ] {
                measurements.insert(key.to_owned(), hex::encode(value));
            }
        }
    }
    let mut files = serde_json::Map::new();
    for f in [&p.kernel, &p.initrd, &p.cmdline] {
        let (_, d) = sha256_file(f).map_err(image_err("hash the image"))?;
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.insert(name, json!(hex::encode(d)));
    }
    let builder_id = o
        .builder_id
        .clone()
        .unwrap_or_else(|| default_builder_id(o.platform).to_owned());
    Ok(write_document(
        o.platform,
        &builder_id,
        &measurements,
        launch,
        Some(json!({
            "dir": dir.display().to_string(),
            "cmdline": cmdline,
            "files": files,
        })),
    ))
}
