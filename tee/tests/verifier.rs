//! Simulated evidence through kiln's verifier: accepted with the simulated root allowed by
//! name, refused as simulated without it, and every tamper rejected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use kiln_tee::pki::snp::SimulatedSnpProduct;
use kiln_tee::sim::SimProfile;
use kiln_tee::{Platform, Tee, TeeEvidence};
use kiln_verifier::{AnchorOrigin, ErrorKind, TcbStatus, TrustAnchors, Verifier};

fn label(p: &SimProfile) -> String {
    format!("{p:?}")
}

#[test]
fn simulated_evidence_verifies_with_the_simulated_root_allowed() {
    for profile in all_profiles() {
        let tee = tee(1, profile, b"enclave");
        let bundle = bundle(1, profile);
        let verified = verify_allowed(&bundle, at_ms(T_MS))
            .unwrap_or_else(|e| panic!("{}: {e}", label(&profile)));
        let claims = verified.claims();
        assert!(verified.is_simulated(), "{}", label(&profile));
        assert!(claims.simulated);
        assert_eq!(claims.anchor.origin, AnchorOrigin::Simulated);
        assert_eq!(claims.platform, profile.platform());
        for (name, value) in tee.measurement().named() {
            assert_eq!(
                claims
                    .measurements
                    .get(&name)
                    .map(|h| h.as_bytes().to_vec()),
                Some(value.to_vec()),
                "{}: {name}",
                label(&profile)
            );
        }
        match profile.platform() {
            Platform::SevSnp | Platform::Tdx => assert_eq!(
                claims.report_data.as_ref().map(|h| h.as_bytes().to_vec()),
                Some(report_data().to_vec())
            ),
            Platform::Nitro => assert_eq!(
                claims.user_data.as_ref().map(|h| h.as_bytes().to_vec()),
                Some(report_data().to_vec())
            ),
        }
        assert!(!claims.debug, "{}", label(&profile));
        if profile.platform() == Platform::Tdx {
            assert_eq!(
                claims.tcb.status,
                TcbStatus::UpToDate,
                "{}",
                label(&profile)
            );
        }
        if let SimProfile::SevSnp { product, .. } = profile {
            assert_eq!(claims.product, product.name(), "{}", label(&profile));
        }
    }
}

#[test]
fn simulated_evidence_is_refused_without_the_simulated_root() {
    for profile in all_profiles() {
        let bundle = bundle(1, profile);
        let err = Verifier::new(TrustAnchors::vendor())
            .verify(&evidence(&bundle), at_ms(T_MS))
            .expect_err(&label(&profile));
        assert_eq!(
            err.kind(),
            ErrorKind::Simulated,
            "{}: {err}",
            label(&profile)
        );
        assert!(err.to_string().contains("SIMULATED"), "{err}");
    }
}

#[test]
fn a_root_allowed_for_another_chip_does_not_anchor() {
    for profile in all_profiles() {
        let bundle = bundle(1, profile);
        let other = bundle_of_chip_2(profile);
        let err = Verifier::new(anchors_with(&other))
            .verify(&evidence(&bundle), at_ms(T_MS))
            .expect_err(&label(&profile));
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Simulated | ErrorKind::CertificateChain | ErrorKind::UntrustedRoot
            ),
            "{}: {err}",
            label(&profile)
        );
    }
}

fn bundle_of_chip_2(profile: SimProfile) -> TeeEvidence {
    bundle(2, profile)
}

/// Offsets of signed bytes to flip, per platform: report data, measurement, and (TDX) the QE
/// report inside the signature data.
fn signed_offsets(bundle: &TeeEvidence) -> Vec<usize> {
    match bundle.platform {
        Platform::SevSnp => vec![0x08, 0x50, 0x90, 0x1A0, 0x29F],
        Platform::Tdx => {
            let body = if bundle.evidence[0] == 4 { 48 } else { 54 };
            let signed = if bundle.evidence[0] == 4 { 632 } else { 702 };
            // The QE report starts after the length, signature, key and type 6 header.
            let qe_report = signed + 4 + 64 + 64 + 6;
            vec![12, body + 136, body + 520, qe_report + 64, qe_report + 320]
        }
        Platform::Nitro => {
            let payload_mid = bundle.evidence.len() / 2;
            vec![payload_mid, bundle.evidence.len() - 1]
        }
    }
}

#[test]
fn flipped_signed_bytes_are_rejected() {
    for profile in all_profiles() {
        let bundle = bundle(1, profile);
        for offset in signed_offsets(&bundle) {
            let mut tampered = bundle.clone();
            tampered.evidence[offset] ^= 0x01;
            let result = verify_allowed(&tampered, at_ms(T_MS));
            assert!(
                result.is_err(),
                "{}: flipping byte {offset:#x} was accepted",
                label(&profile)
            );
        }
    }
}

#[test]
fn swapped_chain_material_is_rejected() {
    for profile in all_profiles() {
        let bundle = bundle(1, profile);
        let other = bundle_of_chip_2(profile);
        let mut tampered = bundle.clone();
        match profile.platform() {
            // Another chip's VCEK (same product and TCB).
            Platform::SevSnp => tampered.vek_der = other.vek_der.clone(),
            // Another platform's collateral, signed by another simulated Intel root.
            Platform::Tdx => tampered.collateral_json = other.collateral_json.clone(),
            // Another enclave's document under this chip's root.
            Platform::Nitro => tampered.evidence = other.evidence.clone(),
        }
        let err = verify_allowed(&tampered, at_ms(T_MS)).expect_err(&label(&profile));
        assert_ne!(
            err.kind(),
            ErrorKind::Malformed,
            "{}: {err}",
            label(&profile)
        );
    }
}

#[test]
fn shifted_time_is_rejected() {
    let hour = 3_600_000;
    let day = 24 * hour;
    for profile in all_profiles() {
        let bundle = bundle(1, profile);
        let (before, after, kind) = match profile.platform() {
            // Certificates valid 2020-01-01 .. 2049-12-31.
            Platform::SevSnp => (
                1_500_000_000_000,
                2_600_000_000_000,
                ErrorKind::CertificateValidity,
            ),
            // Collateral issued a day before and valid 30 days after.
            Platform::Tdx => (
                T_MS - 2 * day,
                T_MS + 31 * day,
                ErrorKind::CollateralValidity,
            ),
            // The enclave certificate lives three hours from the document's time.
            Platform::Nitro => (T_MS - hour, T_MS + 4 * hour, ErrorKind::CertificateValidity),
        };
        for t in [before, after] {
            let err = verify_allowed(&bundle, at_ms(t)).expect_err(&label(&profile));
            assert_eq!(err.kind(), kind, "{} at {t}: {err}", label(&profile));
        }
    }
}

#[test]
fn truncated_and_extended_evidence_is_rejected_without_panic() {
    for profile in all_profiles() {
        let bundle = bundle(1, profile);
        for cut in [
            0,
            1,
            47,
            100,
            bundle.evidence.len() / 2,
            bundle.evidence.len() - 1,
        ] {
            let mut tampered = bundle.clone();
            tampered.evidence.truncate(cut);
            assert!(
                verify_allowed(&tampered, at_ms(T_MS)).is_err(),
                "{} cut {cut}",
                label(&profile)
            );
        }
    }
}

#[test]
fn debug_policies_are_reported() {
    // SEV-SNP POLICY bit 19 and TDX TD_ATTRIBUTES bit 0 are DEBUG.
    for (profile, policy) in [
        (
            SimProfile::default_for(Platform::SevSnp),
            0x3_0000 | (1 << 19),
        ),
        (SimProfile::default_for(Platform::Tdx), 0x1000_0001),
    ] {
        let m = kiln_tee::process_measurement(profile.platform(), b"enclave", b"");
        let tee = kiln_tee::sim::SimTee::launch(
            chip(1),
            profile,
            m,
            policy,
            kiln_tee::sim::FixedClock::new(T_MS),
        )
        .unwrap();
        let bundle = tee
            .evidence(&kiln_tee::ReportData::new(report_data()))
            .unwrap();
        let verified = verify_allowed(&bundle, at_ms(T_MS)).unwrap();
        assert!(verified.claims().debug, "{}", label(&profile));
    }
}

#[test]
fn appended_junk_is_rejected_where_the_format_forbids_it() {
    // An SEV-SNP report is exactly 1184 bytes and a COSE_Sign1 is one CBOR item; a TDX quote
    // may be followed by zero padding (tolerated), so it is not part of this test.
    for profile in all_profiles() {
        if profile.platform() == Platform::Tdx {
            continue;
        }
        let mut tampered = bundle(1, profile);
        tampered.evidence.extend_from_slice(&[0x00, 0x01]);
        assert!(
            verify_allowed(&tampered, at_ms(T_MS)).is_err(),
            "{}: trailing bytes accepted",
            label(&profile)
        );
    }
}

/// Replaces the PCK chain (certification data type 5) of a quote, fixing the length fields.
fn with_pck_chain(quote: &[u8], pem: &[u8]) -> Vec<u8> {
    let signed = if quote[0] == 4 { 632 } else { 702 };
    let cert_data = signed + 4 + 128;
    let qe_cert_data = cert_data + 6;
    let auth_len = usize::from(u16::from_le_bytes([
        quote[qe_cert_data + 448],
        quote[qe_cert_data + 449],
    ]));
    let type5 = qe_cert_data + 450 + auth_len;
    assert_eq!(&quote[type5..type5 + 2], &[5, 0]);
    let mut out = quote[..type5 + 2].to_vec();
    out.extend_from_slice(&u32::try_from(pem.len()).unwrap().to_le_bytes());
    out.extend_from_slice(pem);
    let qe_len = out.len() - qe_cert_data;
    out[cert_data + 2..cert_data + 6]
        .copy_from_slice(&u32::try_from(qe_len).unwrap().to_le_bytes());
    let sig_len = out.len() - signed - 4;
    out[signed..signed + 4].copy_from_slice(&u32::try_from(sig_len).unwrap().to_le_bytes());
    out
}

#[test]
fn another_platforms_pck_chain_is_rejected() {
    let other_pem = chip(2).tdx_pki().unwrap().pck_chain_pem().unwrap();
    let own_pem = chip(1).tdx_pki().unwrap().pck_chain_pem().unwrap();
    for profile in all_profiles() {
        if profile.platform() != Platform::Tdx {
            continue;
        }
        let bundle = bundle(1, profile);
        // Re-inserting the quote's own chain changes nothing.
        let mut same = bundle.clone();
        same.evidence = with_pck_chain(&bundle.evidence, own_pem.as_bytes());
        assert_eq!(same.evidence, bundle.evidence);
        // Another platform's PCK chain, with the other simulated root allowed as well.
        let mut tampered = bundle.clone();
        tampered.evidence = with_pck_chain(&bundle.evidence, other_pem.as_bytes());
        let mut anchors = anchors_with(&bundle);
        anchors
            .allow_simulated(
                kiln_verifier::Platform::Tdx,
                "other simulated root",
                &chip(2).tdx_pki().unwrap().root_der,
            )
            .unwrap();
        let err = Verifier::new(anchors)
            .verify(&evidence(&tampered), at_ms(T_MS))
            .expect_err(&label(&profile));
        assert_ne!(
            err.kind(),
            ErrorKind::Malformed,
            "{}: {err}",
            label(&profile)
        );
    }
}

#[test]
fn a_vcek_for_another_tcb_of_the_same_chip_is_rejected() {
    for profile in all_profiles() {
        let SimProfile::SevSnp { product, .. } = profile else {
            continue;
        };
        let bundle = bundle(1, profile);
        let mut newer = product.default_tcb();
        newer.microcode += 1;
        let mut tampered = bundle.clone();
        tampered.vek_der = Some(chip(1).snp_pki(product, newer).unwrap().vcek_der.clone());
        let err = verify_allowed(&tampered, at_ms(T_MS)).expect_err(&label(&profile));
        assert_eq!(
            err.kind(),
            ErrorKind::Mismatch,
            "{}: {err}",
            label(&profile)
        );
    }
}
