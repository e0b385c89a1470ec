//! Choosing and opening the TEE backend. The rest of the enclave holds a `Box<dyn Tee>` and
//! does not know which it has.

use std::path::Path;

use base64::Engine as _;
use kiln_provenance::{Platform, ResourceDescriptor};
use kiln_tee::device::DeviceTee;
use kiln_tee::{Measurement, Tee};

use crate::config::{Config, TeeChoice};
use crate::error::EnclaveError;
use crate::hw;
use crate::provenance::KeyLifetime;
use crate::transport;

/// An opened backend.
#[derive(Debug)]
pub struct Backend {
    /// The TEE.
    pub tee: Box<dyn Tee>,
    /// Which backend it is.
    pub choice: TeeChoice,
    /// Whether it can seal the signing key to the measurement.
    pub key_lifetime: KeyLifetime,
    /// What determines the measurement, for `builderDependencies`.
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

/// The hardware present: SEV-SNP, TDX (configfs-tsm and the TDX guest device), Nitro.
pub fn probe(tsm_root: &Path) -> Option<TeeChoice> {
    if Path::new(hw::snp::DEVICE).exists() {
        Some(TeeChoice::Hardware(Platform::SevSnp))
    } else if Path::new(hw::tdx::DEVICE).exists() && tsm_root.is_dir() {
        Some(TeeChoice::Hardware(Platform::Tdx))
    } else if cfg!(feature = "nitro") && Path::new("/dev/nsm").exists() {
        Some(TeeChoice::Hardware(Platform::Nitro))
    } else {
        None
    }
}

/// The registers of a hardware measurement, as the evidence reports them.
fn registers(m: &Measurement) -> Vec<ResourceDescriptor> {
    m.named()
        .into_iter()
        .map(|(name, value)| ResourceDescriptor {
            name: Some(name),
            digest: [("sha384".to_owned(), hex::encode(value))]
                .into_iter()
                .collect(),
            ..ResourceDescriptor::default()
        })
        .collect()
}

/// Opens the backend the configuration names, or the one probing finds.
pub fn open(config: &Config) -> Result<Backend, EnclaveError> {
    let choice = match config.tee {
        Some(c) => c,
        None => match (probe(&config.tsm_root), &config.device) {
            (Some(c), _) => c,
            (None, Some(_)) => TeeChoice::SimDevice,
            (None, None) => {
                return Err(EnclaveError::NoTee {
                    reason: format!(
                        "no {}, no TDX guest with {}, no /dev/nsm, and no --device for the \
                         simulator",
                        hw::snp::DEVICE,
                        config.tsm_root.display()
                    ),
                })
            }
        },
    };
    let hardware = |tee: Box<dyn Tee>, lifetime| {
        let deps = registers(&tee.measurement());
        Backend {
            tee,
            choice,
            key_lifetime: lifetime,
            builder_dependencies: deps,
        }
    };
    match choice {
        TeeChoice::SimDevice => {
            let addr = config.device.as_ref().ok_or_else(|| EnclaveError::NoTee {
                reason: "sim-device needs --device".into(),
            })?;
            let tee = DeviceTee::connect(transport::open(addr)?, addr.to_string())
                .map_err(EnclaveError::Device)?;
            let deps = tee
                .components()
                .iter()
                .map(|c| ResourceDescriptor {
                    uri: c.uri.clone(),
                    digest: c.digest.clone(),
                    name: Some(c.name.clone()),
                    content: c
                        .content
                        .as_ref()
                        .map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
                    ..ResourceDescriptor::default()
                })
                .collect();
            Ok(Backend {
                tee: Box::new(tee),
                choice,
                key_lifetime: KeyLifetime::Sealed,
                builder_dependencies: deps,
            })
        }
        TeeChoice::Hardware(Platform::SevSnp) => {
            let tee = hw::snp::SnpTee::open().map_err(EnclaveError::tee("open SEV-SNP"))?;
            Ok(hardware(Box::new(tee), KeyLifetime::Sealed))
        }
        TeeChoice::Hardware(Platform::Tdx) => {
            let tee = hw::tdx::TdxTee::open(&config.tsm_root)
                .map_err(EnclaveError::tee("open TDX through configfs-tsm"))?;
            Ok(hardware(Box::new(tee), KeyLifetime::Launch))
        }
        TeeChoice::Hardware(Platform::Nitro) => {
            open_nitro().map(|t| hardware(t, KeyLifetime::Launch))
        }
    }
}

#[cfg(feature = "nitro")]
fn open_nitro() -> Result<Box<dyn Tee>, EnclaveError> {
    Ok(Box::new(hw::nitro::NitroTee::open().map_err(
        EnclaveError::tee("open the Nitro Secure Module"),
    )?))
}

#[cfg(not(feature = "nitro"))]
fn open_nitro() -> Result<Box<dyn Tee>, EnclaveError> {
    Err(EnclaveError::NoTee {
        reason: "this kiln-enclave was built without the `nitro` feature".into(),
    })
}
