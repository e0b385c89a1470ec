//! `kiln image measure --platform tdx`: RTMR1 and RTMR2 predicted from the image
//! ([`kiln_image::tdx_boot`]), MRTD and RTMR0 only as the caller gives them from a launch
//! they trust (they depend on the TDVF binary and the machine's ACPI tables, which kiln does
//! not model).

use std::collections::BTreeMap;

use kiln_image::image::ImagePaths;
use serde_json::json;

use crate::guest_image::{GuestImageError, MeasureOptions};

/// MRTD and RTMR0 as the caller gives them (`--mrtd`, `--rtmr0`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirmwareRegisters {
    /// MRTD.
    pub mrtd: Option<[u8; 48]>,
    /// RTMR0.
    pub rtmr0: Option<[u8; 48]>,
}

impl FirmwareRegisters {
    /// Parses the flags: 96 hex digits each.
    pub fn from_args(mrtd: Option<&str>, rtmr0: Option<&str>) -> Result<Self, String> {
        let parse = |flag: &str, v: Option<&str>| -> Result<Option<[u8; 48]>, String> {
            v.map(|text| {
                let bytes = hex::decode(text.trim())
                    .map_err(|e| format!("--{flag} {text:?} is not hex: {e}"))?;
                <[u8; 48]>::try_from(bytes.as_slice()).map_err(|_| {
                    format!("--{flag} has {} bytes; a TDX register has 48", bytes.len())
                })
            })
            .transpose()
        };
        Ok(Self {
            mrtd: parse("mrtd", mrtd)?,
            rtmr0: parse("rtmr0", rtmr0)?,
        })
    }
}

/// Fills `measurements` (`rtmr1`, `rtmr2`, and `mrtd`/`rtmr0` when given) and returns the
/// reference's `launch` section: what the prediction assumed, and each register's events.
pub fn measure(
    p: &ImagePaths,
    cmdline: &str,
    o: &MeasureOptions,
    measurements: &mut BTreeMap<String, String>,
) -> Result<serde_json::Value, GuestImageError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|source| GuestImageError::Io {
            op: format!("read {}", path.display()),
            source,
        })
    };
    let (kernel, initrd) = (read(&p.kernel)?, read(&p.initrd)?);
    let memory_bytes = o.memory_mib.saturating_mul(1 << 20);
    let r = kiln_image::tdx_boot::predict(&kernel, &initrd, cmdline, memory_bytes).map_err(
        |source| GuestImageError::Image {
            what: "predict TDX RTMR1 and RTMR2".into(),
            source,
        },
    )?;
    measurements.insert("rtmr1".into(), hex::encode(r.rtmr1));
    measurements.insert("rtmr2".into(), hex::encode(r.rtmr2));
    let mut unpredicted = Vec::new();
    for (name, value) in [
        ("mrtd", o.tdx_firmware.mrtd),
        ("rtmr0", o.tdx_firmware.rtmr0),
    ] {
        match value {
            Some(v) => {
                measurements.insert(name.into(), hex::encode(v));
            }
            None => unpredicted.push(name),
        }
    }
    let events = |list: &[kiln_image::tdx_boot::Event]| {
        list.iter()
            .map(|e| json!({"event": e.what, "sha384": hex::encode(e.digest)}))
            .collect::<Vec<_>>()
    };
    let given: Vec<&str> = ["mrtd", "rtmr0"]
        .into_iter()
        .filter(|n| !unpredicted.contains(n))
        .collect();
    Ok(json!({
        "memoryMiB": o.memory_mib,
        "boot": "QEMU q35 direct kernel boot through TDVF (fw_cfg), no shim",
        "kernelRelease": r.kernel_release,
        "loadOptions": r.load_options,
        "events": {"rtmr1": events(&r.rtmr1_events), "rtmr2": events(&r.rtmr2_events)},
        "givenByCaller": given,
        "missing": unpredicted,
    }))
}
