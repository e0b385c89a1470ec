//! Vendor collateral beside a build output's evidence: the host may add VEKs, chains, TDX
//! collateral and AMD CRLs after the build (fetched from the vendors), unsigned by the guest,
//! because each proves itself against the pinned vendor roots. Everything else in `evidence/`
//! must be a signed byproduct, and a signed copy must match the file on disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod build_support;

use kiln_tee::pki::snp::{SnpCrlIssuer, SnpCrlSpec};
use kiln_tee::sim::SimChip;
use kiln_verifier::build_output::{media, BuildError};
use kiln_verifier::snp::SnpProduct;
use kiln_verifier::{ErrorKind, Platform, PlatformDetails, TcbStatus};

use build_support::*;

/// The chip `build_support` simulates.
fn test_chip() -> std::sync::Arc<SimChip> {
    SimChip::from_seed(&[7; 32])
}

fn ark_crl(revoked: Vec<Vec<u8>>) -> Vec<u8> {
    let start = 1_767_225_600;
    test_chip()
        .snp_crl(
            SnpProduct::Milan,
            &SnpCrlSpec {
                issuer: SnpCrlIssuer::Ark,
                this_update: start - 86_400,
                next_update: start + 30 * 86_400,
                revoked,
            },
        )
        .unwrap()
}

fn crl_count(v: &kiln_verifier::build_output::VerifiedBuild) -> usize {
    match &v.claims().details {
        PlatformDetails::SevSnp(d) => d.crls.len(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn collateral_the_guest_did_not_sign_verifies_and_is_named() {
    // SEV-SNP: the VCEK and chain added by the host.
    let fault = Fault {
        unsigned: vec![media::VEK_NAME, media::CHAIN_NAME],
        ..Fault::default()
    };
    let (out, _) = assemble(Platform::SevSnp, &fault);
    let v = check(&out, &any()).unwrap();
    assert_eq!(v.supplied_collateral(), ["vek.der", "chain.pem"]);
    // Signed, nothing is reported as supplied.
    let (signed, _) = assemble(Platform::SevSnp, &Fault::default());
    assert!(check(&signed, &any())
        .unwrap()
        .supplied_collateral()
        .is_empty());

    // TDX: the collateral added by the host gives the TCB status.
    let fault = Fault {
        unsigned: vec![media::COLLATERAL_NAME],
        ..Fault::default()
    };
    let (out, _) = assemble(Platform::Tdx, &fault);
    let v = check(&out, &any()).unwrap();
    assert_eq!(v.supplied_collateral(), ["collateral.json"]);
    assert_ne!(v.claims().tcb.status, TcbStatus::Unknown);
}

#[test]
fn an_unsigned_crl_beside_the_evidence_is_checked() {
    let (mut out, _) = assemble(Platform::SevSnp, &Fault::default());
    out.evidence_files
        .insert(media::CRL_NAME.into(), ark_crl(vec![vec![0x55]]));
    let v = check(&out, &any()).unwrap();
    assert_eq!(v.supplied_collateral(), ["crl.der"]);
    assert_eq!(crl_count(&v), 1);

    // A CRL revoking the ASK: the output no longer verifies, for that reason.
    let chain = out.evidence_files[media::CHAIN_NAME].clone();
    let ask = kiln_verifier::pki::parse_certificates(&chain, "chain").unwrap();
    out.evidence_files.insert(
        media::CRL_NAME.into(),
        ark_crl(vec![ask[0].serial().to_vec()]),
    );
    match check(&out, &any()) {
        Err(BuildError::Evidence(e)) => assert_eq!(e.kind(), ErrorKind::Revoked, "{e}"),
        other => panic!("{other:?}"),
    }
    // A CRL of another chip's simulated ARK (same name, another key): refused.
    let foreign = SimChip::from_seed(&[8; 32])
        .snp_crl(
            SnpProduct::Milan,
            &SnpCrlSpec {
                issuer: SnpCrlIssuer::Ark,
                this_update: 1_767_225_600 - 86_400,
                next_update: 1_767_225_600 + 86_400,
                revoked: Vec::new(),
            },
        )
        .unwrap();
    out.evidence_files.insert(media::CRL_NAME.into(), foreign);
    match check(&out, &any()) {
        Err(BuildError::Evidence(e)) => {
            assert_eq!(e.kind(), ErrorKind::CollateralSignature, "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_signed_collateral_file_changed_on_disk_is_refused() {
    let (good, _) = assemble(Platform::SevSnp, &Fault::default());
    for name in [media::VEK_NAME, media::CHAIN_NAME] {
        let mut out = good.clone();
        let file = out.evidence_files.get_mut(name).unwrap();
        let last = file.len() - 40;
        file[last] ^= 1;
        match check(&out, &any()) {
            Err(BuildError::EvidenceFile { name: n, reason }) => {
                assert_eq!(n, name);
                assert!(reason.contains("differs from the signed copy"), "{reason}");
            }
            other => panic!("{name}: {other:?}"),
        }
        // Removed from disk while signed: refused too.
        let mut out = good.clone();
        out.evidence_files.remove(name);
        assert!(
            matches!(check(&out, &any()), Err(BuildError::EvidenceFile { .. })),
            "{name}"
        );
    }
}

#[test]
fn only_vendor_collateral_may_be_unsigned() {
    for name in [media::EVIDENCE_NAME, media::SIMULATED_ROOT_NAME] {
        let fault = Fault {
            unsigned: vec![name],
            ..Fault::default()
        };
        let (out, _) = assemble(Platform::SevSnp, &fault);
        match check(&out, &any()) {
            Err(BuildError::EvidenceFile { name: n, reason }) => {
                assert_eq!(n, name);
                assert!(
                    reason.contains("not in the signed provenance")
                        || reason.contains("carries no evidence"),
                    "{name}: {reason}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn an_unsigned_vek_of_another_chip_is_refused() {
    // The host swaps in the VCEK of another (simulated) chip: it chains to another root, or
    // does not verify the report.
    let fault = Fault {
        unsigned: vec![media::VEK_NAME, media::CHAIN_NAME],
        ..Fault::default()
    };
    let (mut out, _) = assemble(Platform::SevSnp, &fault);
    let other = kiln_tee::sim::SimTee::launch(
        SimChip::from_seed(&[8; 32]),
        kiln_tee::sim::SimProfile::default_for(Platform::SevSnp),
        kiln_tee::process_measurement(Platform::SevSnp, b"enclave", b"params"),
        kiln_tee::sim::SimProfile::default_for(Platform::SevSnp).default_policy(),
        kiln_tee::sim::FixedClock::new(MILLIS),
    )
    .unwrap();
    let other_ev = kiln_tee::Tee::evidence(&other, &kiln_tee::ReportData::new([0; 64])).unwrap();
    out.evidence_files
        .insert(media::VEK_NAME.into(), other_ev.vek_der.unwrap());
    match check(&out, &any()) {
        Err(BuildError::Evidence(e)) => assert!(
            matches!(
                e.kind(),
                ErrorKind::UntrustedRoot | ErrorKind::CertificateChain | ErrorKind::Mismatch
            ),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
}
