//! The one result shape for all platforms: normalised claims, obtainable only from a
//! successful verification.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use crate::anchors::AnchorOrigin;
use crate::time::UnixTime;

pub use kiln_provenance::Platform;

/// Bytes shown and serialised as lowercase hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hex(pub Vec<u8>);

impl Hex {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Hex {
    fn from(b: &[u8]) -> Self {
        Self(b.to_vec())
    }
}

impl<const N: usize> From<[u8; N]> for Hex {
    fn from(b: [u8; N]) -> Self {
        Self(b.to_vec())
    }
}

impl From<Vec<u8>> for Hex {
    fn from(b: Vec<u8>) -> Self {
        Self(b)
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex({self})")
    }
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

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

/// Platform-specific values, all of them, for policies that need more than the common claims.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "platform", rename_all = "kebab-case")]
pub enum PlatformDetails {
    /// SEV-SNP report fields.
    SevSnp(crate::snp::SnpDetails),
    /// TDX quote fields.
    Tdx(crate::tdx::TdxDetails),
    /// Nitro attestation document fields.
    Nitro(crate::nitro::NitroDetails),
}

/// Normalised claims from verified evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Claims {
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
    pub details: PlatformDetails,
}

/// Evidence that passed verification. The only way to obtain one is
/// [`crate::Verifier::verify`]: its field is private and it has no public constructor.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct VerifiedEvidence {
    claims: Claims,
}

impl VerifiedEvidence {
    pub(crate) fn new(claims: Claims) -> Self {
        Self { claims }
    }

    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// Whether these claims rest on simulated evidence.
    pub fn is_simulated(&self) -> bool {
        self.claims.simulated
    }

    /// The claims as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.claims).unwrap_or(serde_json::Value::Null)
    }
}
