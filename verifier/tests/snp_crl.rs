//! SEV-SNP revocation (step 4b): AMD's CRL, issued by the ARK, covers the ASK; a CRL issued by
//! the ASK covers the VCEK. Each is checked for issuer, signature and window, and every way to
//! get one wrong is rejected with its own kind. The chains are the simulated chip's (no real
//! AMD CRL is among the vectors, and only the simulated keys can sign the revoked cases).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::{Arc, OnceLock};

use kiln_tee::pki::snp::{SnpCrlIssuer, SnpCrlSpec};
use kiln_tee::sim::{FixedClock, SimChip, SimProfile, SimTee};
use kiln_tee::{process_measurement, ReportData, Tee, TeeEvidence};
use kiln_verifier::pki::parse_certificates;
use kiln_verifier::snp::SnpProduct;
use kiln_verifier::{
    Error, ErrorKind, Evidence, Platform, PlatformDetails, TrustAnchors, UnixTime, Verifier,
};

/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

fn at() -> UnixTime {
    UnixTime::from_secs(START + 60)
}

fn chip() -> Arc<SimChip> {
    static CHIP: OnceLock<Arc<SimChip>> = OnceLock::new();
    Arc::clone(CHIP.get_or_init(|| SimChip::from_seed(&[21; 32])))
}

fn evidence() -> &'static TeeEvidence {
    static EV: OnceLock<TeeEvidence> = OnceLock::new();
    EV.get_or_init(|| {
        let profile = SimProfile::default_for(Platform::SevSnp);
        let tee = SimTee::launch(
            chip(),
            profile,
            process_measurement(Platform::SevSnp, b"enclave", b"params"),
            profile.default_policy(),
            FixedClock::new(START as u64 * 1000),
        )
        .unwrap();
        tee.evidence(&ReportData::new([0x5a; 64])).unwrap()
    })
}

fn verifier() -> Verifier {
    let mut anchors = TrustAnchors::vendor();
    anchors
        .allow_simulated(
            Platform::SevSnp,
            "simulated root",
            evidence().simulated_root_der.as_deref().unwrap(),
        )
        .unwrap();
    Verifier::new(anchors)
}

fn product() -> SnpProduct {
    SnpProduct::Milan
}

/// The ASK's serial number, as the chain carries it.
fn ask_serial() -> Vec<u8> {
    let chain =
        parse_certificates(evidence().chain_pem.as_deref().unwrap().as_bytes(), "chain").unwrap();
    let ask = chain
        .iter()
        .find(|c| c.subject().contains("SEV-Milan"))
        .unwrap();
    ask.serial().to_vec()
}

fn crl_of(chip: &SimChip, issuer: SnpCrlIssuer, revoked: Vec<Vec<u8>>) -> Vec<u8> {
    chip.snp_crl(
        product(),
        &SnpCrlSpec {
            issuer,
            this_update: START - DAY,
            next_update: START + 30 * DAY,
            revoked,
        },
    )
    .unwrap()
}

fn verify_with(
    v: &Verifier,
    crl: Option<&[u8]>,
    time: UnixTime,
) -> Result<kiln_verifier::Claims, Error> {
    let ev = evidence();
    let mut e = Evidence::new(&ev.evidence)
        .platform(Platform::SevSnp)
        .vek(ev.vek_der.as_deref().unwrap())
        .chain(ev.chain_pem.as_deref().unwrap().as_bytes());
    if let Some(crl) = crl {
        e = e.crl(crl);
    }
    v.verify(&e, time).map(|v| v.claims().clone())
}

fn crls(c: &kiln_verifier::Claims) -> &[kiln_verifier::snp::CrlCheck] {
    match &c.details {
        PlatformDetails::SevSnp(d) => &d.crls,
        other => panic!("not SEV-SNP: {other:?}"),
    }
}

fn pem(der: &[u8]) -> String {
    der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, der).unwrap()
}

#[test]
fn without_a_crl_revocation_is_reported_unchecked() {
    let c = verify_with(&verifier(), None, at()).unwrap();
    assert!(crls(&c).is_empty());
}

#[test]
fn the_arks_crl_covers_the_ask_and_is_reported() {
    let crl = crl_of(&chip(), SnpCrlIssuer::Ark, vec![vec![0x7f, 0x01]]);
    let c = verify_with(&verifier(), Some(&crl), at()).unwrap();
    let checked = crls(&c);
    assert_eq!(checked.len(), 1);
    assert!(checked[0].from_root);
    assert!(checked[0].issuer.contains("ARK-Milan"), "{:?}", checked[0]);
    assert!(checked[0].covers.contains("SEV-Milan"), "{:?}", checked[0]);
    assert_eq!(
        checked[0].next_update,
        UnixTime::from_secs(START + 30 * DAY)
    );
}

#[test]
fn a_revoked_ask_is_rejected() {
    let crl = crl_of(&chip(), SnpCrlIssuer::Ark, vec![ask_serial()]);
    let err = verify_with(&verifier(), Some(&crl), at()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Revoked, "{err}");
    assert!(err.to_string().contains("SEV-Milan"), "{err}");
}

#[test]
fn a_revoked_vcek_in_the_asks_crl_is_rejected_even_after_the_path_was_cached() {
    let v = verifier();
    // The path VCEK → ASK → ARK is cached by this verification ...
    verify_with(&v, None, at()).unwrap();
    // ... and the CRL is still checked afterwards.
    let crl = crl_of(&chip(), SnpCrlIssuer::Ask, vec![vec![0]]);
    let err = verify_with(&v, Some(&crl), at()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Revoked, "{err}");
    assert!(err.to_string().contains("SEV-VCEK"), "{err}");
}

#[test]
fn both_crls_together_as_pem_or_der_are_each_checked() {
    let ark = crl_of(&chip(), SnpCrlIssuer::Ark, Vec::new());
    let ask = crl_of(&chip(), SnpCrlIssuer::Ask, Vec::new());
    let v = verifier();
    let as_pem = pem(&ark) + &pem(&ask);
    let c = verify_with(&v, Some(as_pem.as_bytes()), at()).unwrap();
    assert_eq!(crls(&c).len(), 2);
    assert!(crls(&c)[1].covers.contains("SEV-VCEK"));
    let as_der = [ark.clone(), ask].concat();
    assert_eq!(
        crls(&verify_with(&v, Some(&as_der), at()).unwrap()).len(),
        2
    );
    // A revoked entry in the second list is found.
    let revoking = crl_of(&chip(), SnpCrlIssuer::Ask, vec![vec![0]]);
    let err = verify_with(&v, Some(&[ark, revoking].concat()), at()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Revoked, "{err}");
}

#[test]
fn a_crl_signed_by_another_key_is_rejected() {
    // Another chip's simulated ARK has the same name and another key.
    let other = SimChip::from_seed(&[22; 32]);
    let crl = crl_of(&other, SnpCrlIssuer::Ark, Vec::new());
    let err = verify_with(&verifier(), Some(&crl), at()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CollateralSignature, "{err}");
}

#[test]
fn a_crl_outside_its_window_is_rejected() {
    let crl = crl_of(&chip(), SnpCrlIssuer::Ark, Vec::new());
    let v = verifier();
    for time in [
        UnixTime::from_secs(START + 31 * DAY),
        UnixTime::from_secs(START - 2 * DAY),
    ] {
        let err = verify_with(&v, Some(&crl), time).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CollateralValidity, "{time}: {err}");
    }
}

#[test]
fn a_crl_of_an_issuer_outside_the_path_is_rejected() {
    // The Genoa ARK's CRL: valid and signed by this chip, but of no CA on the Milan path.
    let crl = chip()
        .snp_crl(
            SnpProduct::Genoa,
            &SnpCrlSpec {
                issuer: SnpCrlIssuer::Ark,
                this_update: START - DAY,
                next_update: START + DAY,
                revoked: Vec::new(),
            },
        )
        .unwrap();
    let err = verify_with(&verifier(), Some(&crl), at()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Mismatch, "{err}");
    assert!(err.to_string().contains("CRL issuer"), "{err}");
}

#[test]
fn every_flipped_or_truncated_crl_is_rejected_without_panic() {
    let crl = crl_of(&chip(), SnpCrlIssuer::Ark, Vec::new());
    let v = verifier();
    for i in (0..crl.len()).step_by(7) {
        let mut bad = crl.clone();
        bad[i] ^= 0x01;
        assert!(
            verify_with(&v, Some(&bad), at()).is_err(),
            "flipped byte {i}"
        );
    }
    for len in [0, 1, 10, crl.len() / 2, crl.len() - 1] {
        assert!(
            verify_with(&v, Some(&crl[..len]), at()).is_err(),
            "truncated to {len}"
        );
    }
    // A certificate where a CRL belongs.
    let ev = evidence();
    let err = verify_with(&v, Some(ev.vek_der.as_deref().unwrap()), at()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
}
