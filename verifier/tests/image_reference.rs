//! `image_reference::verify_signed`, step by step: a good signed reference verifies and picks
//! the document of a platform (else the sim one); another key, a changed payload, another
//! predicate type, a document naming a file that is not a subject, two documents of one
//! platform and an empty predicate are each refused with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod build_support;

use kiln_verifier::image_reference::{looks_signed, verify_signed, PREDICATE_TYPE};
use kiln_verifier::Platform;
use serde_json::{json, Value};

use build_support::{key, pem, sign_bundle, Key};

fn doc(platform: &str, byte: &str, kernel: &str) -> Value {
    let register = if platform == "tdx" {
        "mrtd"
    } else {
        "measurement"
    };
    json!({
        "kind": "kiln-image-reference/v1",
        "platform": platform,
        "measurements": {register: byte.repeat(48)},
        "image": {"dir": "img", "files": {"vmlinuz": kernel, "initrd.cpio": "22".repeat(32)}},
    })
}

fn statement(predicate_type: &str, references: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": "vmlinuz", "digest": {"sha256": "11".repeat(32)}},
            {"name": "initrd.cpio", "digest": {"sha256": "22".repeat(32)}},
        ],
        "predicateType": predicate_type,
        "predicate": {"references": references},
    }))
    .unwrap()
}

fn signed(k: &Key, references: Vec<Value>) -> Vec<u8> {
    sign_bundle(k, &statement(PREDICATE_TYPE, references))
}

fn refused(bundle: &[u8], k: &Key, why: &str) {
    let e = verify_signed(bundle, &pem(&k.spki)).unwrap_err();
    assert!(e.to_string().contains(why), "expected {why:?} in {e}");
}

#[test]
fn a_good_signed_reference_verifies_and_picks_the_platforms_document() {
    let k = key();
    let kernel = "11".repeat(32);
    let b = signed(
        &k,
        vec![doc("sim", "aa", &kernel), doc("tdx", "bb", &kernel)],
    );
    assert!(looks_signed(&b));
    assert!(!looks_signed(
        &serde_json::to_vec(&doc("sim", "aa", &kernel)).unwrap()
    ));
    let r = verify_signed(&b, &pem(&k.spki)).unwrap();
    assert_eq!(r.documents().len(), 2);
    assert_eq!(r.subjects().len(), 2);
    let tdx = r.document_for(Platform::Tdx).unwrap();
    assert_eq!(tdx.measurements["mrtd"], vec![0xbb; 48]);
    // No SEV-SNP document: the sim one stands for it.
    let snp = r.document_for(Platform::SevSnp).unwrap();
    assert_eq!(snp.measurements["measurement"], vec![0xaa; 48]);
}

#[test]
fn each_broken_link_is_refused() {
    let k = key();
    let kernel = "11".repeat(32);
    let good = signed(&k, vec![doc("sim", "aa", &kernel)]);
    // Another key.
    refused(&good, &key(), "signed by another key");
    // A changed payload byte (the signature no longer verifies).
    let mut b: Value = serde_json::from_slice(&good).unwrap();
    let payload = kiln_verifier::build_output::dsse::decode_base64(
        b["dsseEnvelope"]["payload"].as_str().unwrap(),
    )
    .unwrap();
    let mut text = String::from_utf8(payload).unwrap();
    text = text.replacen(&"aa".repeat(48), &"ab".repeat(48), 1);
    b["dsseEnvelope"]["payload"] =
        kiln_verifier::build_output::dsse::encode_base64(text.as_bytes()).into();
    refused(&serde_json::to_vec(&b).unwrap(), &k, "does not verify");
    // Another predicate type, signed.
    let other = sign_bundle(
        &k,
        &statement(
            "https://slsa.dev/provenance/v1",
            vec![doc("sim", "aa", &kernel)],
        ),
    );
    refused(&other, &k, "https://kiln.dev/image-reference/v1");
    // A document whose kernel is not the signed subject's.
    refused(
        &signed(&k, vec![doc("sim", "aa", &"99".repeat(32))]),
        &k,
        "is not a subject with that digest",
    );
    // Two documents of one platform; none at all; one that does not parse.
    refused(
        &signed(
            &k,
            vec![doc("tdx", "aa", &kernel), doc("tdx", "bb", &kernel)],
        ),
        &k,
        "two reference documents for tdx",
    );
    refused(&signed(&k, vec![]), &k, "no reference document");
    refused(
        &signed(&k, vec![json!({"platform": "sim", "measurements": {}})]),
        &k,
        "empty",
    );
    // Not a bundle; a key that is not P-256 PEM.
    assert!(verify_signed(b"{}", &pem(&k.spki)).is_err());
    assert!(verify_signed(
        &good,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    )
    .is_err());
}
