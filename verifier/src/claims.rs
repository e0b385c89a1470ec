//! The one result shape for all platforms: normalised claims, generic over the platform's
//! own details. The platform modules fill a `ClaimsOf<their details>`; the crate root wraps
//! the details into [`crate::PlatformDetails`] and the whole into [`crate::VerifiedEvidence`],
//! the only proof of success. This module depends on no platform module.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::anchors::AnchorOrigin;
use crate::hex::Hex;
use crate::time::UnixTime;
use kiln_provenance::Platform;

/// The TCB status the evidence's collateral gives the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum TcbStatus {
    /// The platform is up to date.
    UpToDate,
    /// Up to date, but software hardening is needed.
    SWHardeningNeeded,
    /// Up to date, but the platform configuration needs attention.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSWHardeningNeeded,
    /// The platform's TCB is out of date.
    OutOfDate,
    /// Out of date and configuration needed.
    OutOfDateConfigurationNeeded,
    /// No collateral was given, so the status could not be evaluated.
    Unknown,
    /// The platform has no TCB-status collateral (SEV-SNP, Nitro): only the versions count.
    NotApplicable,
}

impl TcbStatus {
    /// Parses Intel's status strings; `Revoked` is not a status a verified quote can have.
    pub fn from_intel(s: &str) -> Option<Self> {
        Some(match s {
            "UpToDate" => Self::UpToDate,
            "SWHardeningNeeded" => Self::SWHardeningNeeded,
            "ConfigurationNeeded" => Self::ConfigurationNeeded,
            "ConfigurationAndSWHardeningNeeded" => Self::ConfigurationAndSWHardeningNeeded,
            "OutOfDate" => Self::OutOfDate,
            "OutOfDateConfigurationNeeded" => Self::OutOfDateConfigurationNeeded,
            _ => return None,
        })
    }

    /// The name as Intel spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::SWHardeningNeeded => "SWHardeningNeeded",
            Self::ConfigurationNeeded => "ConfigurationNeeded",
            Self::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            Self::OutOfDate => "OutOfDate",
            Self::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            Self::Unknown => "Unknown",
            Self::NotApplicable => "NotApplicable",
        }
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// TCB versions and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcbClaims {
    /// The status, where collateral gives one.
    pub status: TcbStatus,
    /// Component versions by name (SEV-SNP: `bl`, `tee`, `snp`, `ucode`, `fmc`; TDX:
    /// `tee_tcb_svn[i]`, `pce_svn`, `qe_svn`).
    pub versions: BTreeMap<String, u64>,
    /// Advisory identifiers attached to the matched level (TDX).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub advisory_ids: Vec<String>,
}

/// The anchor a verification ended in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnchorClaim {
    /// Its name.
    pub name: String,
    /// SHA-256 of its DER.
    pub sha256: Hex,
    /// Vendor or simulated.
    pub origin: AnchorOrigin,
}

/// Normalised claims from verified evidence, with the platform's own details of type `D`
/// ([`crate::Claims`] is the form every caller sees: `D` = [`crate::PlatformDetails`]).
#[derive(Debug, Clone, Serialize)]
pub struct ClaimsOf<D> {
    /// The platform.
    pub platform: Platform,
    /// True when the chain ends in a simulated root. Nothing resting on it is real evidence.
    pub simulated: bool,
    /// Product or generation (Milan, Genoa, Turin; TDX 1.0 / 1.5; Nitro).
    pub product: String,
    /// Measurements by name: `measurement` (SEV-SNP); `mrtd`, `rtmr0`..`rtmr3` (TDX);
    /// `pcr0`..`pcrN` (Nitro).
    pub measurements: BTreeMap<String, Hex>,
    /// The 64 bytes of REPORT_DATA (SEV-SNP, TDX).
    pub report_data: Option<Hex>,
    /// Nitro `user_data`.
    pub user_data: Option<Hex>,
    /// Nitro `public_key`.
    pub public_key: Option<Hex>,
    /// Nitro `nonce`.
    pub nonce: Option<Hex>,
    /// TCB versions and status.
    pub tcb: TcbClaims,
    /// Whether the TEE runs in a debug mode that lets the host read its memory.
    pub debug: bool,
    /// The chip identity (SEV-SNP CHIP_ID, unless masked).
    pub chip_id: Option<Hex>,
    /// The instance identity (Nitro module id; TDX: none).
    pub instance_id: Option<String>,
    /// When the evidence was produced, where the evidence says (Nitro timestamp).
    pub evidence_time: Option<UnixTime>,
    /// The time the verification was done at.
    pub verified_at: UnixTime,
    /// The trust anchor the evidence chains to.
    pub anchor: AnchorClaim,
    /// All platform-specific values.
    pub details: D,
}

impl<D> ClaimsOf<D> {
    /// The same claims with the details wrapped by `wrap`.
    pub(crate) fn map_details<E>(self, wrap: impl FnOnce(D) -> E) -> ClaimsOf<E> {
        ClaimsOf {
            platform: self.platform,
            simulated: self.simulated,
            product: self.product,
            measurements: self.measurements,
            report_data: self.report_data,
            user_data: self.user_data,
            public_key: self.public_key,
            nonce: self.nonce,
            tcb: self.tcb,
            debug: self.debug,
            chip_id: self.chip_id,
            instance_id: self.instance_id,
            evidence_time: self.evidence_time,
            verified_at: self.verified_at,
            anchor: self.anchor,
            details: wrap(self.details),
        }
    }
}
