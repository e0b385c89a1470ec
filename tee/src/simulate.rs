//! One piece of simulated evidence and everything a third-party verifier needs, written under
//! fixed names (what `kiln-verify simulate` produces):
//!
//! | file              | content                                                 |
//! |-------------------|---------------------------------------------------------|
//! | `evidence.bin`    | the SEV-SNP report, TDX quote or Nitro COSE_Sign1       |
//! | `root.der`        | the simulated root to pin                               |
//! | `chain.pem`       | SEV-SNP: ASK then ARK                                   |
//! | `vek.der`         | SEV-SNP: the VCEK                                       |
//! | `collateral.json` | TDX: QuoteCollateralV3 JSON                             |
//!
//! ```no_run
//! use kiln_tee::simulate::{write_evidence_folder, SimulateRequest};
//! use kiln_tee::Platform;
//! # fn main() -> Result<(), kiln_tee::TeeError> {
//! let mut request = SimulateRequest::new(Platform::Tdx, [0x11; 64], 1_756_684_800_000);
//! request.seed = [7; 32];
//! let written = write_evidence_folder(std::path::Path::new("out"), &request)?;
//! # let _ = written; Ok(()) }
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use crate::chip::SimChip;
use crate::error::TeeError;
use crate::evidence::snp::SnpReportVersion;
use crate::evidence::tdx::TdxQuoteVersion;
use crate::measurement::{process_measurement, Measurement};
use crate::pki::snp::SnpProduct;
use crate::sim::{FixedClock, SimProfile, SimTee, DEFAULT_SEED};
use crate::{Platform, ReportData, TeeEvidence};

/// The evidence file.
pub const EVIDENCE_FILE: &str = "evidence.bin";
/// The simulated root.
pub const ROOT_FILE: &str = "root.der";
/// SEV-SNP: ASK then ARK.
pub const CHAIN_FILE: &str = "chain.pem";
/// SEV-SNP: the VCEK.
pub const VEK_FILE: &str = "vek.der";
/// TDX: collateral.
pub const COLLATERAL_FILE: &str = "collateral.json";

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulateRequest {
    /// The platform.
    pub platform: Platform,
    /// The 64 bytes to bind (SEV-SNP/TDX REPORT_DATA, Nitro `user_data`).
    pub report_data: [u8; 64],
    /// The chip seed ([`DEFAULT_SEED`] unless given).
    pub seed: [u8; 32],
    /// The time of the evidence (Nitro timestamp and leaf validity, TDX collateral dates),
    /// milliseconds since the epoch. The caller reads the clock; the library never does.
    pub unix_millis: u64,
    /// SEV-SNP: the product (default Milan).
    pub snp_product: SnpProduct,
    /// SEV-SNP: the report version (default 5).
    pub snp_version: SnpReportVersion,
    /// TDX: the quote version (default 4).
    pub tdx_version: TdxQuoteVersion,
    /// The measurement; by default [`process_measurement`] of the binary
    /// `b"kiln-verify simulate"` with empty parameters.
    pub measurement: Option<Measurement>,
    /// The guest policy; by default [`SimProfile::default_policy`].
    pub policy: Option<u64>,
}

impl SimulateRequest {
    /// A request with the defaults above.
    pub fn new(platform: Platform, report_data: [u8; 64], unix_millis: u64) -> Self {
        Self {
            platform,
            report_data,
            seed: DEFAULT_SEED,
            unix_millis,
            snp_product: SnpProduct::Milan,
            snp_version: SnpReportVersion::V5,
            tdx_version: TdxQuoteVersion::V4,
            measurement: None,
            policy: None,
        }
    }

    /// The simulated hardware.
    pub fn profile(&self) -> SimProfile {
        match self.platform {
            Platform::SevSnp => SimProfile::SevSnp {
                product: self.snp_product,
                version: self.snp_version,
            },
            Platform::Tdx => SimProfile::Tdx {
                version: self.tdx_version,
            },
            Platform::Nitro => SimProfile::Nitro,
        }
    }
}

/// Produces the evidence a request describes.
pub fn simulate(request: &SimulateRequest) -> Result<TeeEvidence, TeeError> {
    let profile = request.profile();
    let measurement = request
        .measurement
        .unwrap_or_else(|| process_measurement(request.platform, b"kiln-verify simulate", b""));
    let tee = SimTee::launch(
        SimChip::from_seed(&request.seed),
        profile,
        measurement,
        request.policy.unwrap_or_else(|| profile.default_policy()),
        FixedClock::new(request.unix_millis),
    )?;
    tee.evidence_at(&ReportData::new(request.report_data), request.unix_millis)
}

/// Simulates and writes the files into `dir` (created if missing). Returns the paths written.
pub fn write_evidence_folder(
    dir: &Path,
    request: &SimulateRequest,
) -> Result<Vec<PathBuf>, TeeError> {
    write_evidence_files(dir, &simulate(request)?)
}

/// Writes a bundle's files into `dir` (created if missing). Returns the paths written.
pub fn write_evidence_files(dir: &Path, bundle: &TeeEvidence) -> Result<Vec<PathBuf>, TeeError> {
    fs::create_dir_all(dir).map_err(|e| TeeError::io(dir, "create output directory", e))?;
    let mut files: Vec<(&str, &[u8])> = vec![(EVIDENCE_FILE, &bundle.evidence)];
    if let Some(root) = &bundle.simulated_root_der {
        files.push((ROOT_FILE, root));
    }
    if let Some(chain) = &bundle.chain_pem {
        files.push((CHAIN_FILE, chain.as_bytes()));
    }
    if let Some(vek) = &bundle.vek_der {
        files.push((VEK_FILE, vek));
    }
    if let Some(collateral) = &bundle.collateral_json {
        files.push((COLLATERAL_FILE, collateral));
    }
    let mut written = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let path = dir.join(name);
        fs::write(&path, bytes).map_err(|e| TeeError::io(&path, "write", e))?;
        written.push(path);
    }
    Ok(written)
}
