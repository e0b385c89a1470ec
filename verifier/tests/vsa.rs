//! `vsa::levels` claims no more than the evidence supports, and `vsa::verify_vsa` refuses every
//! broken link: another key, another predicate type, an unknown field, a FAILED result, a
//! subject without SHA-256, other artifacts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod build_support;

use kiln_verifier::vsa::{levels, verify_vsa, Assurance, PREDICATE_TYPE_VSA};
use kiln_verifier::Platform;
use serde_json::{json, Value};

use build_support::{key, pem, sign_bundle};

fn statement(predicate_type: &str, change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "hello", "digest": {"sha256": "ab".repeat(32)}}],
        "predicateType": predicate_type,
        "predicate": {
            "verifier": {"id": "https://kiln.dev/verifiers/kiln-verify/v1"},
            "timeVerified": "2026-12-04T05:00:00Z",
            "resourceUri": "kiln:source:sha256:00",
            "policy": {"uri": "https://kiln.dev/verify/expectations/v1", "digest": {"sha256": "11".repeat(32)}},
            "inputAttestations": [{"uri": "provenance.sigstore.json", "digest": {"sha256": "22".repeat(32)}}],
            "verificationResult": "PASSED",
            "verifiedLevels": ["SLSA_BUILD_LEVEL_3", "KILN_TEE_SEV_SNP"],
            "slsaVersion": "1.0",
        },
    });
    change(&mut v);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn levels_follow_the_evidence() {
    let a = |simulated, measurement_pinned, debug| Assurance {
        platform: Platform::Tdx,
        simulated,
        measurement_pinned,
        debug,
    };
    assert_eq!(
        levels(a(false, true, false)),
        ["SLSA_BUILD_LEVEL_3", "KILN_TEE_TDX"]
    );
    assert_eq!(
        levels(a(false, false, false)),
        ["SLSA_BUILD_LEVEL_1", "KILN_TEE_TDX"]
    );
    assert_eq!(
        levels(a(false, true, true)),
        ["SLSA_BUILD_LEVEL_1", "KILN_TEE_TDX"]
    );
    assert_eq!(
        levels(a(true, true, false)),
        ["SLSA_BUILD_LEVEL_1", "KILN_SIMULATED_EVIDENCE"]
    );
}

#[test]
fn a_good_vsa_verifies_and_each_broken_link_is_refused() {
    let k = key();
    let good = sign_bundle(&k, &statement(PREDICATE_TYPE_VSA, |_| {}));
    let v = verify_vsa(&good, &pem(&k.spki), Some(&"AB".repeat(32))).unwrap();
    assert_eq!(
        v.vsa.verified_levels,
        ["SLSA_BUILD_LEVEL_3", "KILN_TEE_SEV_SNP"]
    );
    let refused = |bundle: &[u8], resource: Option<&str>, why: &str| {
        let e = verify_vsa(bundle, &pem(&k.spki), resource).unwrap_err();
        assert!(e.to_string().contains(why), "expected {why:?} in {e}");
    };
    refused(&good, Some(&"cd".repeat(32)), "for other artifacts");
    let other = key();
    let e = verify_vsa(&good, &pem(&other.spki), None).unwrap_err();
    assert!(e.to_string().contains("signed by another key"), "{e}");
    refused(
        &sign_bundle(&k, &statement("https://slsa.dev/provenance/v1", |_| {})),
        None,
        "is not https://in-toto.io/Statement/v1 / https://slsa.dev/verification_summary/v1",
    );
    refused(
        &sign_bundle(
            &k,
            &statement(PREDICATE_TYPE_VSA, |v| {
                v["predicate"]["verificationResult"] = "FAILED".into();
            }),
        ),
        None,
        "verificationResult is \"FAILED\"",
    );
    refused(
        &sign_bundle(
            &k,
            &statement(PREDICATE_TYPE_VSA, |v| {
                v["predicate"]["smuggled"] = "x".into();
            }),
        ),
        None,
        "smuggled",
    );
    refused(
        &sign_bundle(
            &k,
            &statement(PREDICATE_TYPE_VSA, |v| {
                v["subject"][0]["digest"] = json!({"sha512": "00"});
            }),
        ),
        None,
        "needs a SHA-256",
    );
    refused(
        &sign_bundle(
            &k,
            &statement(PREDICATE_TYPE_VSA, |v| {
                v["predicate"]
                    .as_object_mut()
                    .unwrap()
                    .remove("resourceUri");
            }),
        ),
        None,
        "resourceUri",
    );
}
