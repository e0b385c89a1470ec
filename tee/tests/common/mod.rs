//! Shared helpers of the kiln-tee integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use kiln_tee::evidence::snp::SnpReportVersion;
use kiln_tee::evidence::tdx::TdxQuoteVersion;
use kiln_tee::pki::snp::SnpProduct;
use kiln_tee::sim::{FixedClock, SimChip, SimProfile, SimTee};
use kiln_tee::{process_measurement, ReportData, Tee, TeeEvidence};
use kiln_verifier::{Evidence, TrustAnchors, UnixTime, VerifiedEvidence, Verifier};

/// 2025-09-01T00:00:00Z, the time every test evidence is made at.
pub const T_MS: u64 = 1_756_684_800_000;

/// Every profile the simulator emits.
pub fn all_profiles() -> Vec<SimProfile> {
    let mut out = Vec::new();
    for product in SnpProduct::ALL {
        for version in [SnpReportVersion::V3, SnpReportVersion::V5] {
            out.push(SimProfile::SevSnp { product, version });
        }
    }
    out.push(SimProfile::Tdx {
        version: TdxQuoteVersion::V4,
    });
    out.push(SimProfile::Tdx {
        version: TdxQuoteVersion::V5,
    });
    out.push(SimProfile::Nitro);
    out
}

/// Where the RSA keys of test chips are cached between test processes.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kiln-tee-rsa-cache")
}

/// The test chip with seed `[n; 32]`.
pub fn chip(n: u8) -> Arc<SimChip> {
    SimChip::from_seed_cached(&[n; 32], &cache_dir())
}

/// A TEE of `profile` on chip `n`, launched with a process measurement of `binary`.
pub fn tee(n: u8, profile: SimProfile, binary: &[u8]) -> SimTee {
    let m = process_measurement(profile.platform(), binary, b"--test");
    SimTee::launch(
        chip(n),
        profile,
        m,
        profile.default_policy(),
        FixedClock::new(T_MS),
    )
    .unwrap()
}

/// Report data used by the tests.
pub fn report_data() -> [u8; 64] {
    let mut rd = [0u8; 64];
    for (i, b) in rd.iter_mut().enumerate() {
        *b = u8::try_from(i).unwrap() ^ 0xa5;
    }
    rd
}

/// Evidence of `profile` on chip `n`.
pub fn bundle(n: u8, profile: SimProfile) -> TeeEvidence {
    tee(n, profile, b"enclave")
        .evidence(&ReportData::new(report_data()))
        .unwrap()
}

/// The vendor anchors plus the bundle's simulated root, allowed by name.
pub fn anchors_with(bundle: &TeeEvidence) -> TrustAnchors {
    let mut anchors = TrustAnchors::vendor();
    anchors
        .allow_simulated(
            bundle.platform,
            "kiln simulated root",
            bundle.simulated_root_der.as_ref().unwrap(),
        )
        .unwrap();
    anchors
}

/// The verifier's view of a bundle.
pub fn evidence(bundle: &TeeEvidence) -> Evidence<'_> {
    let mut e = Evidence::new(&bundle.evidence).platform(bundle.platform);
    if let Some(vek) = &bundle.vek_der {
        e = e.vek(vek);
    }
    if let Some(chain) = &bundle.chain_pem {
        e = e.chain(chain.as_bytes());
    }
    if let Some(c) = &bundle.collateral_json {
        e = e.collateral(c);
    }
    e
}

pub fn at_ms(ms: u64) -> UnixTime {
    UnixTime::from_millis(ms)
}

/// Verifies with the simulated root allowed.
pub fn verify_allowed(
    bundle: &TeeEvidence,
    time: UnixTime,
) -> Result<VerifiedEvidence, kiln_verifier::Error> {
    Verifier::new(anchors_with(bundle)).verify(&evidence(bundle), time)
}
