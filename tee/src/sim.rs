//! The simulated TEE: a [`Tee`] whose evidence is byte for byte what the hardware emits,
//! signed by a simulated chip's vendor PKI.
//!
//! The launcher (the host agent, or a test) creates the [`SimTee`] with the measurement of
//! what it launched and the guest policy; the guest only gets the `dyn Tee` and cannot change
//! either. Time comes from a [`Clock`] the launcher gives: the library never reads the system
//! clock, so the same chip, inputs and time give byte-identical evidence.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha384};

pub use crate::chip::SimChip;
use crate::error::TeeError;
use crate::evidence::collateral::collateral_json;
use crate::evidence::nitro::{NitroDocFields, MAX_PUBLIC_KEY, MAX_USER_DATA, PCR_COUNT};
use crate::evidence::snp::{SnpReportFields, SnpReportVersion};
use crate::evidence::tdx::{TdReportFields, TdxQuoteVersion};
use crate::measurement::{extend, Measurement};
use crate::pki::snp::{SimulatedSnpProduct, SnpProduct};
use crate::pki::KeySource;
use crate::seal::derive_sealing_key;
use crate::{Platform, ReportData, Tee, TeeEvidence};

/// The seed `kiln-verify simulate` uses when none is given (all zero): reproducible output,
/// and the RSA keys of one chip to generate.
pub const DEFAULT_SEED: [u8; 32] = [0; 32];

/// Where a simulated TEE's time comes from.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_unix_millis(&self) -> u64;
}

/// A clock that always says the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(u64);

impl FixedClock {
    /// A clock stopped at `unix_millis`.
    pub fn new(unix_millis: u64) -> Self {
        Self(unix_millis)
    }
}

impl Clock for FixedClock {
    fn now_unix_millis(&self) -> u64 {
        self.0
    }
}

/// Which hardware the simulator imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimProfile {
    /// An SEV-SNP guest on an EPYC `product`, reporting in format `version`.
    SevSnp {
        /// The EPYC generation.
        product: SnpProduct,
        /// The report format.
        version: SnpReportVersion,
    },
    /// A TDX guest whose quoting enclave emits quote `version`.
    Tdx {
        /// The quote format.
        version: TdxQuoteVersion,
    },
    /// A Nitro enclave.
    Nitro,
}

impl SimProfile {
    /// The platform.
    pub fn platform(&self) -> Platform {
        match self {
            Self::SevSnp { .. } => Platform::SevSnp,
            Self::Tdx { .. } => Platform::Tdx,
            Self::Nitro => Platform::Nitro,
        }
    }

    /// The default profile of a platform: Milan with report v5, quote v4, Nitro.
    pub fn default_for(platform: Platform) -> Self {
        match platform {
            Platform::SevSnp => Self::SevSnp {
                product: SnpProduct::Milan,
                version: SnpReportVersion::V5,
            },
            Platform::Tdx => Self::Tdx {
                version: TdxQuoteVersion::V4,
            },
            Platform::Nitro => Self::Nitro,
        }
    }

    /// A production guest policy for the platform: SEV-SNP GUEST_POLICY with SMT allowed
    /// and the must-be-one bit 17 (0x30000); TDX TD_ATTRIBUTES with SEPT_VE_DISABLE
    /// (0x10000000); Nitro has no policy word (0).
    pub fn default_policy(&self) -> u64 {
        match self {
            Self::SevSnp { .. } => 0x3_0000,
            Self::Tdx { .. } => 0x1000_0000,
            Self::Nitro => 0,
        }
    }
}

/// A launched simulated TEE.
///
/// The policy word is the platform's own: SEV-SNP GUEST_POLICY (report offset 0x08), TDX
/// TD_ATTRIBUTES (bit 0 is DEBUG); for Nitro it only enters the sealing key. It is mixed into
/// every sealing key.
#[derive(Debug)]
pub struct SimTee {
    chip: Arc<SimChip>,
    profile: SimProfile,
    measurement: Measurement,
    policy: u64,
    clock: Box<dyn Clock>,
}

impl SimTee {
    /// Launches a simulated TEE. Called by the launcher, which computed `measurement` (for
    /// example with [`crate::process_measurement`]).
    pub fn launch(
        chip: Arc<SimChip>,
        profile: SimProfile,
        measurement: Measurement,
        policy: u64,
        clock: impl Clock + 'static,
    ) -> Result<Self, TeeError> {
        if measurement.platform() != profile.platform() {
            return Err(TeeError::PlatformMismatch {
                expected: profile.platform(),
                found: measurement.platform(),
            });
        }
        Ok(Self {
            chip,
            profile,
            measurement,
            policy,
            clock: Box::new(clock),
        })
    }

    /// The chip.
    pub fn chip(&self) -> &Arc<SimChip> {
        &self.chip
    }

    /// The simulated hardware.
    pub fn profile(&self) -> SimProfile {
        self.profile
    }

    /// The guest policy word.
    pub fn policy(&self) -> u64 {
        self.policy
    }

    /// The simulated root (DER) a verifier must be told to accept.
    pub fn simulated_root_der(&self) -> Result<Vec<u8>, TeeError> {
        Ok(match self.profile {
            SimProfile::SevSnp { product, .. } => self
                .chip
                .snp_pki(product, product.default_tcb())?
                .ark_der
                .clone(),
            SimProfile::Tdx { .. } => self.chip.tdx_pki()?.root_der.clone(),
            SimProfile::Nitro => self.chip.nitro_root()?.root_der.clone(),
        })
    }

    /// Evidence as it would be produced at `unix_millis`.
    pub fn evidence_at(
        &self,
        report_data: &ReportData,
        unix_millis: u64,
    ) -> Result<TeeEvidence, TeeError> {
        let unix_secs = i64::try_from(unix_millis / 1000).map_err(|_| TeeError::Time {
            unix_secs: i64::MAX,
            reason: "beyond the range of the simulator".into(),
        })?;
        if self.profile != SimProfile::Nitro
            && (report_data.nitro_public_key.is_some() || report_data.nonce.is_some())
        {
            return Err(TeeError::InvalidRequest {
                field: "report data",
                reason: format!(
                    "{} evidence binds only 64 bytes: hash the public key and nonce into them",
                    self.profile.platform()
                ),
            });
        }
        match (self.profile, &self.measurement) {
            (SimProfile::SevSnp { product, version }, Measurement::SevSnp { measurement }) => {
                self.snp_evidence(product, version, measurement, report_data)
            }
            (SimProfile::Tdx { version }, Measurement::Tdx { mrtd, rtmr }) => {
                self.tdx_evidence(version, mrtd, rtmr, report_data, unix_secs)
            }
            (SimProfile::Nitro, Measurement::Nitro { pcr }) => {
                self.nitro_evidence(pcr, report_data, unix_millis, unix_secs)
            }
            _ => Err(TeeError::PlatformMismatch {
                expected: self.profile.platform(),
                found: self.measurement.platform(),
            }),
        }
    }

    fn snp_evidence(
        &self,
        product: SnpProduct,
        version: SnpReportVersion,
        measurement: &[u8; 48],
        report_data: &ReportData,
    ) -> Result<TeeEvidence, TeeError> {
        let pki = self.chip.snp_pki(product, product.default_tcb())?;
        let mut report_id = [0u8; 32];
        report_id.copy_from_slice(
            &self
                .chip
                .derive_bytes(&format!("snp report id {}", hex::encode(measurement)), 32),
        );
        let fields = SnpReportFields {
            version,
            product,
            policy: self.policy,
            report_data: report_data.bytes,
            measurement: *measurement,
            host_data: [0; 32],
            report_id,
            chip_id: pki.chip_id,
            tcb: pki.tcb,
        };
        Ok(TeeEvidence {
            platform: Platform::SevSnp,
            evidence: crate::evidence::snp::encode(&fields, &pki.vcek_key)?,
            vek_der: Some(pki.vcek_der.clone()),
            chain_pem: Some(pki.chain_pem()?),
            collateral_json: None,
            simulated_root_der: Some(pki.ark_der.clone()),
        })
    }

    fn tdx_evidence(
        &self,
        version: TdxQuoteVersion,
        mrtd: &[u8; 48],
        rtmr: &[[u8; 48]; 4],
        report_data: &ReportData,
        unix_secs: i64,
    ) -> Result<TeeEvidence, TeeError> {
        let pki = self.chip.tdx_pki()?;
        let fields = TdReportFields {
            td_attributes: self.policy,
            mrtd: *mrtd,
            rtmr: *rtmr,
            report_data: report_data.bytes,
        };
        Ok(TeeEvidence {
            platform: Platform::Tdx,
            evidence: crate::evidence::tdx::encode(version, &fields, &pki)?,
            vek_der: None,
            chain_pem: None,
            collateral_json: Some(collateral_json(&pki, unix_secs)?),
            simulated_root_der: Some(pki.root_der.clone()),
        })
    }

    fn nitro_evidence(
        &self,
        pcr: &[[u8; 48]; 3],
        report_data: &ReportData,
        unix_millis: u64,
        unix_secs: i64,
    ) -> Result<TeeEvidence, TeeError> {
        // AWS's attestation document criteria: present fields hold 1..=max bytes.
        let check = |field: &'static str, value: &Option<Vec<u8>>, max: usize| match value {
            Some(v) if v.is_empty() || v.len() > max => Err(TeeError::InvalidRequest {
                field,
                reason: format!(
                    "{} bytes; the NSM accepts 1 to {max} (leave it out instead of empty)",
                    v.len()
                ),
            }),
            _ => Ok(()),
        };
        check("public key", &report_data.nitro_public_key, MAX_PUBLIC_KEY)?;
        check("nonce", &report_data.nonce, MAX_USER_DATA)?;
        let root = self.chip.nitro_root()?;
        let enclave_id = self.chip.derive_bytes(
            &format!(
                "nitro enclave id {}",
                hex::encode(self.measurement.canonical_bytes())
            ),
            8,
        );
        let module_id = format!("{}-enc{}", root.instance_id, hex::encode(enclave_id));
        let chain = root.chain_at(self.chip.as_ref(), &module_id, unix_secs)?;
        let zero = [0u8; 48];
        let mut pcrs = [zero; PCR_COUNT];
        for (dst, src) in pcrs.iter_mut().zip(pcr) {
            *dst = *src;
        }
        // PCR4: the parent instance's ID, as the NSM extends it.
        if let Some(pcr4) = pcrs.get_mut(4) {
            *pcr4 = extend(&zero, &Sha384::digest(root.instance_id.as_bytes()).into());
        }
        let fields = NitroDocFields {
            module_id: &module_id,
            timestamp_ms: unix_millis,
            pcrs,
            public_key: report_data.nitro_public_key.as_deref(),
            user_data: Some(&report_data.bytes),
            nonce: report_data.nonce.as_deref(),
        };
        Ok(TeeEvidence {
            platform: Platform::Nitro,
            evidence: crate::evidence::nitro::encode(&fields, &chain)?,
            vek_der: None,
            chain_pem: None,
            collateral_json: None,
            simulated_root_der: Some(root.root_der.clone()),
        })
    }
}

impl Tee for SimTee {
    fn platform(&self) -> Platform {
        self.profile.platform()
    }

    fn evidence(&self, report_data: &ReportData) -> Result<TeeEvidence, TeeError> {
        self.evidence_at(report_data, self.clock.now_unix_millis())
    }

    fn measurement(&self) -> Measurement {
        self.measurement
    }

    fn sealing_key(&self, context: &[u8]) -> Result<[u8; 32], TeeError> {
        derive_sealing_key(
            &self.chip.sealing_secret(),
            &self.measurement,
            self.policy,
            context,
        )
    }
}
