//! Step 12: the SBOMs beside the provenance. A good output's SPDX and CycloneDX documents
//! verify; each broken link — a tampered document, a document that is not its signed
//! predicate, another key, another build's subjects, another predicate type, a missing or
//! unnamed file — is refused, naming the file and the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod build_support;

use kiln_provenance::layout::{
    SBOM_CYCLONEDX_BUNDLE_FILE, SBOM_CYCLONEDX_FILE, SBOM_SPDX_BUNDLE_FILE, SBOM_SPDX_FILE,
};
use kiln_provenance::sbom::{statement_payload, SbomFormat};
use kiln_verifier::build_output::{BuildError, BuildOutput, Subject};
use kiln_verifier::Platform;

use build_support::*;

fn sbom_error(out: &BuildOutput) -> (String, String) {
    match check(out, &any()) {
        Err(e @ BuildError::Sbom { .. }) => {
            assert_eq!(e.link(), "sbom");
            let BuildError::Sbom { file, reason } = e else {
                unreachable!()
            };
            (file, reason)
        }
        other => panic!("expected an SBOM error, got {other:?}"),
    }
}

#[test]
fn a_good_outputs_sboms_verify_and_describe_its_artifacts() {
    for p in [Platform::SevSnp, Platform::Tdx, Platform::Nitro] {
        let (out, _) = assemble(p, &Fault::default());
        let v = check(&out, &any()).unwrap_or_else(|e| panic!("{p}: {e}"));
        let formats: Vec<_> = v.sboms().iter().map(|s| s.format).collect();
        assert_eq!(formats, [SbomFormat::Spdx, SbomFormat::CycloneDx], "{p}");
        let digest = &v.statement().subject[0].digest["sha256"];
        for s in v.sboms() {
            let doc: serde_json::Value = serde_json::from_slice(&s.document).unwrap();
            assert!(doc.to_string().contains(digest.as_str()), "{p}");
        }
        let spdx: serde_json::Value = serde_json::from_slice(&v.sboms()[0].document).unwrap();
        assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
        assert_eq!(
            spdx["packages"][0]["checksums"][0]["checksumValue"],
            *digest
        );
        let cdx: serde_json::Value = serde_json::from_slice(&v.sboms()[1].document).unwrap();
        assert_eq!(cdx["bomFormat"], "CycloneDX");
        assert_eq!(cdx["components"][0]["hashes"][0]["content"], *digest);
    }
}

#[test]
fn an_output_without_sboms_still_verifies_and_a_stray_one_is_refused() {
    let fault = Fault {
        no_sboms: true,
        ..Fault::default()
    };
    let (mut out, _) = assemble(Platform::SevSnp, &fault);
    assert!(check(&out, &any()).unwrap().sboms().is_empty());
    // An SBOM the provenance does not name cannot ride along.
    let (good, _) = assemble(Platform::SevSnp, &Fault::default());
    out.attestation_files.insert(
        SBOM_SPDX_FILE.into(),
        good.attestation_files[SBOM_SPDX_FILE].clone(),
    );
    let (file, reason) = sbom_error(&out);
    assert_eq!(file, SBOM_SPDX_FILE);
    assert!(reason.contains("names no such SBOM"), "{reason}");
}

#[test]
fn a_tampered_or_missing_sbom_is_refused() {
    let (good, _) = assemble(Platform::SevSnp, &Fault::default());
    for file in [SBOM_SPDX_FILE, SBOM_CYCLONEDX_FILE] {
        // One byte of the plain document changed.
        let mut out = good.clone();
        let doc = out.attestation_files.get_mut(file).unwrap();
        let at = doc.len() / 2;
        doc[at] ^= 0x01;
        let (f, reason) = sbom_error(&out);
        assert_eq!(f, file);
        assert!(
            reason.contains("is not the") && reason.contains("provenance signs"),
            "{reason}"
        );
        // Removed.
        let mut out = good.clone();
        out.attestation_files.remove(file);
        let (f, reason) = sbom_error(&out);
        assert_eq!(f, file);
        assert!(reason.contains("missing"), "{reason}");
    }
    for file in [SBOM_SPDX_BUNDLE_FILE, SBOM_CYCLONEDX_BUNDLE_FILE] {
        let mut out = good.clone();
        out.attestation_files.remove(file);
        let (f, reason) = sbom_error(&out);
        assert_eq!(f, file);
        assert!(reason.contains("missing"), "{reason}");
        // A flipped signature byte.
        let mut out = good.clone();
        let bundle: serde_json::Value =
            serde_json::from_slice(&out.attestation_files[file]).unwrap();
        let sig = bundle["dsseEnvelope"]["signatures"][0]["sig"]
            .as_str()
            .unwrap();
        let mut raw = kiln_verifier::build_output::dsse::decode_base64(sig).unwrap();
        let last = raw.len() - 3;
        raw[last] ^= 1;
        let mut bundle = bundle.clone();
        bundle["dsseEnvelope"]["signatures"][0]["sig"] =
            kiln_verifier::build_output::dsse::encode_base64(&raw).into();
        out.attestation_files
            .insert(file.into(), serde_json::to_vec(&bundle).unwrap());
        let (f, reason) = sbom_error(&out);
        assert_eq!(f, file);
        assert!(
            reason.contains("does not verify") || reason.contains("not a bundle"),
            "{reason}"
        );
    }
}

#[test]
fn a_document_that_is_not_its_signed_predicate_is_refused() {
    let (mut out, key) = assemble(Platform::SevSnp, &Fault::default());
    let v = check(&out, &any()).unwrap();
    let subjects = v.statement().subject.clone();
    // The same SBOM, re-serialised compactly and signed by the genuine key: the plain document
    // (which matches the provenance's digest) is no longer the signed predicate's bytes.
    let doc = &out.attestation_files[SBOM_SPDX_FILE];
    let value: serde_json::Value = serde_json::from_slice(doc).unwrap();
    let compact = serde_json::to_vec(&value).unwrap();
    let payload = statement_payload(SbomFormat::Spdx, &subjects, &compact).unwrap();
    out.attestation_files
        .insert(SBOM_SPDX_BUNDLE_FILE.into(), sign_bundle(&key, &payload));
    let (file, reason) = sbom_error(&out);
    assert_eq!(file, SBOM_SPDX_FILE);
    assert!(
        reason.contains("differs from the predicate signed"),
        "{reason}"
    );
}

#[test]
fn another_key_other_subjects_or_another_predicate_type_is_refused() {
    let (good, key) = assemble(Platform::SevSnp, &Fault::default());
    let subjects = check(&good, &any()).unwrap().statement().subject.clone();
    let doc = good.attestation_files[SBOM_CYCLONEDX_FILE].clone();

    // Signed by another key.
    let mut out = good.clone();
    let payload = statement_payload(SbomFormat::CycloneDx, &subjects, &doc).unwrap();
    out.attestation_files.insert(
        SBOM_CYCLONEDX_BUNDLE_FILE.into(),
        sign_bundle(&build_support::key(), &payload),
    );
    let (file, reason) = sbom_error(&out);
    assert_eq!(file, SBOM_CYCLONEDX_BUNDLE_FILE);
    assert!(reason.contains("another key"), "{reason}");

    // The genuine key, over other artifacts.
    let mut out = good.clone();
    let other = vec![Subject {
        name: "evil".into(),
        digest: [("sha256".to_owned(), "ee".repeat(32))].into(),
    }];
    let payload = statement_payload(SbomFormat::CycloneDx, &other, &doc).unwrap();
    out.attestation_files.insert(
        SBOM_CYCLONEDX_BUNDLE_FILE.into(),
        sign_bundle(&key, &payload),
    );
    let (_, reason) = sbom_error(&out);
    assert!(
        reason.contains("subjects are not the provenance's"),
        "{reason}"
    );

    // The CycloneDX document under the SPDX predicate type.
    let mut out = good.clone();
    let payload = statement_payload(SbomFormat::Spdx, &subjects, &doc).unwrap();
    out.attestation_files.insert(
        SBOM_CYCLONEDX_BUNDLE_FILE.into(),
        sign_bundle(&key, &payload),
    );
    let (_, reason) = sbom_error(&out);
    assert!(reason.contains("https://cyclonedx.org/bom"), "{reason}");
}
