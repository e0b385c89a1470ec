//! kiln's TEE layer: one [`Tee`] trait for every backend, and a simulated TEE whose evidence is
//! byte for byte what AMD SEV-SNP, Intel TDX and AWS Nitro Enclaves produce, signed by a
//! simulated vendor PKI.
//!
//! The enclave uses a [`Tee`] to (1) get evidence binding 64 bytes of report data, (2) learn its
//! own launch measurement, and (3) derive a sealing key bound to that measurement. Hardware
//! backends (ioctls on `/dev/sev-guest`, configfs-tsm, `/dev/nsm`) live in the enclave crate;
//! this crate holds the trait and the simulator ([`sim::SimTee`]).
//!
//! The simulator is honest about what it is: every simulated root certificate says SIMULATED
//! in its subject and no pinned vendor root is among them, so a verifier accepts its evidence
//! only when the caller names the simulated root (`kiln_verifier::TrustAnchors::allow_simulated`).
//!
//! ```
//! use kiln_tee::sim::{FixedClock, SimChip, SimProfile, SimTee};
//! use kiln_tee::{process_measurement, Platform, ReportData, Tee};
//! # fn main() -> Result<(), kiln_tee::TeeError> {
//! let chip = SimChip::from_seed(&[7; 32]);
//! // The launcher measures what it launches; the guest cannot choose its measurement.
//! let measurement = process_measurement(Platform::Nitro, b"enclave binary", b"--flag");
//! let tee = SimTee::launch(chip, SimProfile::Nitro, measurement, 0, FixedClock::new(1_756_684_800_000))?;
//! let bundle = tee.evidence(&ReportData::new([0x42; 64]))?;
//! assert_eq!(bundle.platform, Platform::Nitro);
//! let key = tee.sealing_key(b"signing key")?;
//! # let _ = key; Ok(()) }
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "simulator")]
pub mod chip;
pub mod device;
pub mod error;
#[cfg(feature = "simulator")]
pub mod evidence;
pub mod measurement;
#[cfg(feature = "simulator")]
pub mod pki;
#[cfg(feature = "simulator")]
pub mod seal;
#[cfg(feature = "simulator")]
pub mod sim;
#[cfg(feature = "simulator")]
pub mod simulate;

use std::fmt;

pub use error::TeeError;
pub use measurement::{process_measurement, process_measurement_of_digest, Measurement};

pub use kiln_provenance::Platform;

/// What the caller binds into evidence.
///
/// - SEV-SNP and TDX: `bytes` is REPORT_DATA (64 bytes); `nitro_public_key` and `nonce` must
///   be `None` (the hardware has nowhere to put them: hash them into `bytes`).
/// - Nitro: `bytes` becomes `user_data` (64 bytes); `nitro_public_key` becomes `public_key`
///   and `nonce` becomes `nonce` (each absent, CBOR null, when `None`). NSM limits: at most
///   1024 bytes of public key and 512 bytes of nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportData {
    /// The 64 bytes bound by every platform.
    pub bytes: [u8; 64],
    /// Nitro only: the `public_key` field.
    pub nitro_public_key: Option<Vec<u8>>,
    /// Nitro only: the `nonce` field.
    pub nonce: Option<Vec<u8>>,
}

impl ReportData {
    /// Report data with only the 64 bytes.
    pub fn new(bytes: [u8; 64]) -> Self {
        Self {
            bytes,
            nitro_public_key: None,
            nonce: None,
        }
    }

    /// Sets the Nitro `public_key`.
    pub fn with_nitro_public_key(mut self, key: Vec<u8>) -> Self {
        self.nitro_public_key = Some(key);
        self
    }

    /// Sets the Nitro `nonce`.
    pub fn with_nonce(mut self, nonce: Vec<u8>) -> Self {
        self.nonce = Some(nonce);
        self
    }
}

/// Evidence and everything a third-party verifier needs besides the vendor root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeeEvidence {
    /// The platform.
    pub platform: Platform,
    /// The evidence: an SEV-SNP report (1184 bytes), a TDX quote, or a Nitro COSE_Sign1
    /// attestation document.
    pub evidence: Vec<u8>,
    /// SEV-SNP: the VCEK certificate (DER) that signed the report.
    pub vek_der: Option<Vec<u8>>,
    /// SEV-SNP: the ASK then the ARK, PEM (as AMD's KDS serves `cert_chain`).
    pub chain_pem: Option<String>,
    /// TDX: collateral in QuoteCollateralV3 JSON (TCB info, QE identity, CRLs, chains).
    pub collateral_json: Option<Vec<u8>>,
    /// The simulated root (DER) a verifier must be told to accept, by name; `None` for
    /// evidence from real hardware, which chains to a pinned vendor root.
    pub simulated_root_der: Option<Vec<u8>>,
}

impl TeeEvidence {
    /// Whether the evidence comes from the simulator.
    pub fn is_simulated(&self) -> bool {
        self.simulated_root_der.is_some()
    }
}

/// A trusted execution environment, real or simulated. The enclave holds a `dyn Tee` and does
/// not know which it has.
pub trait Tee: Send + Sync + fmt::Debug {
    /// The platform.
    fn platform(&self) -> Platform;

    /// Evidence binding `report_data`, with what a verifier needs to check it.
    fn evidence(&self, report_data: &ReportData) -> Result<TeeEvidence, TeeError>;

    /// The measurement of what was launched, as the evidence reports it.
    fn measurement(&self) -> Measurement;

    /// A 32-byte key only this launch measurement, under this guest policy, on this chip can
    /// derive (as SEV-SNP's MSG_KEY_REQ derived key is). `context` separates keys for
    /// different uses.
    fn sealing_key(&self, context: &[u8]) -> Result<[u8; 32], TeeError>;
}
