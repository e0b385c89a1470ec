//! AWS Nitro Enclaves: every Nitro case of the manifest, and tampering derived from each
//! verified one (bit flips in the signed parts, re-encoded payloads, swapped certificates,
//! shifted time, truncation).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::OnceLock;

use ciborium::Value;
use kiln_verifier::nitro::cose;
use kiln_verifier::pki::Cert;
use kiln_verifier::{
    detect_platform, Error, ErrorKind, Platform, PlatformDetails, TrustAnchors, UnixTime, Verifier,
};

fn nitro_cases() -> &'static [common::Loaded] {
    static CASES: OnceLock<Vec<common::Loaded>> = OnceLock::new();
    CASES.get_or_init(|| {
        let cases: Vec<_> = common::load_all()
            .into_iter()
            .filter(|l| l.case.platform == "nitro")
            .collect();
        assert!(
            cases.len() >= 8,
            "expected the Nitro cases of the manifest, found {}",
            cases.len()
        );
        cases
    })
}

fn verified_cases() -> impl Iterator<Item = &'static common::Loaded> {
    nitro_cases().iter().filter(|l| l.verified())
}

fn case(id: &str) -> &'static common::Loaded {
    nitro_cases()
        .iter()
        .find(|l| l.case.id == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

/// A verifier shared by the tests (its cache warms up as they run).
fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| Verifier::new(TrustAnchors::vendor()))
}

fn verify(
    v: &Verifier,
    bytes: &[u8],
    at: UnixTime,
) -> Result<kiln_verifier::VerifiedEvidence, Error> {
    v.verify(
        &kiln_verifier::Evidence::new(bytes).platform(Platform::Nitro),
        at,
    )
}

fn kind_of(v: &Verifier, bytes: &[u8], at: UnixTime) -> ErrorKind {
    match verify(v, bytes, at) {
        Ok(_) => panic!("tampered evidence verified"),
        Err(e) => e.kind(),
    }
}

fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

/// An untagged COSE_Sign1 from its parts (definite lengths, empty unprotected header).
fn rebuild(protected: &[u8], payload: &[u8], signature: &[u8]) -> Vec<u8> {
    encode(&Value::Array(vec![
        Value::Bytes(protected.to_vec()),
        Value::Map(vec![]),
        Value::Bytes(payload.to_vec()),
        Value::Bytes(signature.to_vec()),
    ]))
}

/// The payload map of a document.
fn payload_map(sign1: &cose::CoseSign1) -> Vec<(Value, Value)> {
    match ciborium::de::from_reader(sign1.payload.as_slice()).unwrap() {
        Value::Map(m) => m,
        other => panic!("payload is {other:?}"),
    }
}

fn set(map: &mut [(Value, Value)], key: &str, value: Value) {
    let slot = map
        .iter_mut()
        .find(|(k, _)| *k == Value::Text(key.into()))
        .unwrap_or_else(|| panic!("no {key}"));
    slot.1 = value;
}

fn get<'a>(map: &'a [(Value, Value)], key: &str) -> &'a Value {
    &map.iter()
        .find(|(k, _)| *k == Value::Text(key.into()))
        .unwrap()
        .1
}

/// A document with its payload map re-encoded after `edit`, keeping the original signature.
fn with_payload(loaded: &common::Loaded, edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let sign1 = cose::parse(&loaded.evidence).unwrap();
    let mut map = payload_map(&sign1);
    edit(&mut map);
    rebuild(
        &sign1.protected,
        &encode(&Value::Map(map)),
        &sign1.signature,
    )
}

fn bytes_of(v: &Value) -> Vec<u8> {
    match v {
        Value::Bytes(b) => b.clone(),
        other => panic!("not bytes: {other:?}"),
    }
}

fn leaf_of(loaded: &common::Loaded) -> Cert {
    let sign1 = cose::parse(&loaded.evidence).unwrap();
    Cert::from_der(&bytes_of(get(&payload_map(&sign1), "certificate"))).unwrap()
}

#[test]
fn every_nitro_case_gets_its_verdict() {
    for loaded in nitro_cases() {
        let id = &loaded.case.id;
        assert_eq!(
            detect_platform(&loaded.evidence).unwrap(),
            Platform::Nitro,
            "{id}"
        );
        match verify(verifier(), &loaded.evidence, loaded.at) {
            Ok(v) => {
                assert!(loaded.verified(), "{id}: expected rejected, was verified");
                let c = v.claims();
                assert_eq!(
                    (c.platform, c.product.as_str()),
                    (Platform::Nitro, "Nitro"),
                    "{id}"
                );
                assert!(!c.simulated, "{id}");
                assert_eq!(c.anchor.name, "AWS Nitro Enclaves Root G1");
                assert_eq!(
                    c.anchor.sha256.to_string(),
                    "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
                );
                assert_eq!(c.verified_at, loaded.at);
                let PlatformDetails::Nitro(d) = &c.details else {
                    panic!("{id}: not Nitro details")
                };
                assert_eq!(c.instance_id.as_deref(), Some(d.module_id.as_str()), "{id}");
                assert!(d.module_id.starts_with("i-"), "{id}: {}", d.module_id);
                assert_eq!(d.digest, "SHA384");
                assert_eq!(c.measurements.len(), d.pcrs.len());
                for (i, value) in &d.pcrs {
                    assert_eq!(c.measurements[&format!("pcr{i}")], *value, "{id}");
                    assert_eq!(value.as_bytes().len(), 48, "{id}: SHA384 PCR{i}");
                }
                assert_eq!(c.debug, d.debug);
                // The manifest names debug and production documents in the id.
                assert_eq!(c.debug, id.contains("debug"), "{id}: debug = {}", c.debug);
                assert_eq!(
                    c.debug,
                    d.pcrs[&0].as_bytes().iter().all(|b| *b == 0),
                    "{id}"
                );
                // The document was produced while its leaf was valid, minutes before `at`.
                let produced = c.evidence_time.unwrap();
                let (nb, na) = leaf_of(loaded).validity();
                assert!(
                    nb <= produced && produced <= na,
                    "{id}: produced {produced}"
                );
                assert!(
                    (loaded.at.as_secs() - produced.as_secs()).abs() < 3 * 3600,
                    "{id}"
                );
                assert_eq!(d.certificate.as_bytes(), leaf_of(loaded).der());
                assert!(d.cabundle_len >= 2, "{id}");
                assert!(!d.tagged);
                assert_eq!((c.report_data.clone(), c.chip_id.clone()), (None, None));
                assert!(c.tcb.versions.is_empty());
            }
            Err(e) => {
                assert!(!loaded.verified(), "{id}: expected verified, got {e}");
                common::assert_reason(&loaded.case, &e);
            }
        }
    }
    let kind = |id: &str| {
        let l = case(id);
        verify(verifier(), &l.evidence, l.at).unwrap_err()
    };
    let err = kind("nitro-bad-signature-eternis");
    assert_eq!(err.kind(), ErrorKind::EvidenceSignature, "{err}");
    let err = kind("nitro-prod-2022-at-now");
    assert_eq!(err.kind(), ErrorKind::CertificateValidity, "{err}");
}

#[test]
fn optional_fields_are_reported_as_signed() {
    let claims = |id: &str| {
        let l = case(id);
        verify(verifier(), &l.evidence, l.at)
            .unwrap()
            .claims()
            .clone()
    };
    // Null public_key and user_data, 256-byte nonce.
    let prod = claims("nitro-prod-2022-evervault");
    assert_eq!((prod.public_key, prod.user_data), (None, None));
    assert_eq!(prod.nonce.map(|n| n.as_bytes().len()), Some(256));
    assert!(!prod.debug);
    // An empty public_key byte string is kept as an empty value, not as "none".
    let nitrite = claims("nitro-debug-2021-nitrite");
    assert_eq!(nitrite.public_key.map(|k| k.as_bytes().len()), Some(0));
    assert!(nitrite.debug);
    let d2023 = claims("nitro-debug-2023-evervault");
    assert_eq!(d2023.user_data.map(|u| u.as_bytes().len()), Some(91));
}

#[test]
fn a_high_s_signature_is_accepted() {
    // P-384 group order / 2: ring accepts S above it, as AWS's signers produce them.
    const HALF_ORDER: &str = "7fffffffffffffffffffffffffffffffffffffffffffffffe3b1a6c0fa1b96efac0d06d9245853bd76760cb5666294b9";
    let l = case("nitro-debug-2023-evervault");
    let sign1 = cose::parse(&l.evidence).unwrap();
    assert!(
        hex::encode(&sign1.signature[48..]).as_str() > HALF_ORDER,
        "S is not high"
    );
    verify(verifier(), &l.evidence, l.at).unwrap();
}

#[test]
fn tagged_and_untagged_documents_both_verify() {
    for l in verified_cases() {
        assert_eq!(
            l.evidence.first(),
            Some(&0x84),
            "{}: stored untagged",
            l.case.id
        );
        let mut tagged = vec![0xd2];
        tagged.extend_from_slice(&l.evidence);
        assert_eq!(detect_platform(&tagged).unwrap(), Platform::Nitro);
        let v = verify(verifier(), &tagged, l.at).unwrap();
        let PlatformDetails::Nitro(d) = &v.claims().details else {
            panic!()
        };
        assert!(d.tagged, "{}", l.case.id);
        // Tag 18 twice is not a COSE_Sign1.
        let mut twice = vec![0xd2];
        twice.extend_from_slice(&tagged);
        assert_eq!(kind_of(verifier(), &twice, l.at), ErrorKind::Malformed);
    }
}

#[test]
fn flipped_bits_in_signed_bytes_are_rejected() {
    for l in verified_cases() {
        let id = &l.case.id;
        let doc = &l.evidence;
        let sign1 = cose::parse(doc).unwrap();
        let find = |part: &[u8]| doc.windows(part.len()).position(|w| w == part).unwrap();
        let (p_off, pay_off) = (find(&sign1.protected), find(&sign1.payload));
        let sig_off = doc.len() - sign1.signature.len();
        assert_eq!(&doc[sig_off..], sign1.signature.as_slice(), "{id}");

        let flip = |at: usize, bit: usize| {
            let mut d = doc.clone();
            d[at] ^= 1 << (bit % 8);
            d
        };
        // Every byte of the signature: the signature check itself must fail.
        for i in 0..sign1.signature.len() {
            let k = kind_of(verifier(), &flip(sig_off + i, i), l.at);
            assert_eq!(k, ErrorKind::EvidenceSignature, "{id}: signature byte {i}");
        }
        // Every bit of the protected header.
        for i in 0..sign1.protected.len() * 8 {
            let _ = kind_of(verifier(), &flip(p_off + i / 8, i), l.at);
        }
        // 64 positions spread over the payload; flips that leave it well formed and the chain
        // intact must be caught by the signature.
        let mut kinds = Vec::new();
        for i in 0..64 {
            let at = pay_off + i * sign1.payload.len() / 64;
            kinds.push(kind_of(verifier(), &flip(at, i), l.at));
        }
        assert!(
            kinds.contains(&ErrorKind::EvidenceSignature),
            "{id}: {kinds:?}"
        );
        // A flip inside the module id text (ASCII stays ASCII) reaches the signature check.
        let module_id = match get(&payload_map(&sign1), "module_id") {
            Value::Text(t) => t.clone(),
            _ => panic!(),
        };
        let at = find(module_id.as_bytes()) + module_id.len() - 1;
        assert_eq!(
            kind_of(verifier(), &flip(at, 0), l.at),
            ErrorKind::EvidenceSignature,
            "{id}"
        );
    }
}

#[test]
fn a_re_encoded_payload_with_a_changed_field_is_rejected() {
    for l in verified_cases() {
        let id = &l.case.id;
        // Control: the untouched map re-encodes to the same bytes and still verifies, so the
        // rejections below come from the changed field.
        let same = with_payload(l, |_| {});
        assert_eq!(same, l.evidence, "{id}: re-encoding is not byte-identical");
        verify(verifier(), &same, l.at).unwrap();

        let changed = with_payload(l, |m| {
            set(
                m,
                "module_id",
                Value::Text("i-0000000000000000-enc0000000000000000".into()),
            )
        });
        assert_eq!(
            kind_of(verifier(), &changed, l.at),
            ErrorKind::EvidenceSignature,
            "{id}"
        );
        let changed = with_payload(l, |m| {
            set(m, "nonce", Value::Bytes(b"another nonce".to_vec()))
        });
        assert_eq!(
            kind_of(verifier(), &changed, l.at),
            ErrorKind::EvidenceSignature,
            "{id}"
        );
        let changed = with_payload(l, |m| {
            let Value::Map(pcrs) = &mut m
                .iter_mut()
                .find(|(k, _)| *k == Value::Text("pcrs".into()))
                .unwrap()
                .1
            else {
                panic!()
            };
            pcrs[0].1 = Value::Bytes(vec![0x11; 48]);
        });
        assert_eq!(
            kind_of(verifier(), &changed, l.at),
            ErrorKind::EvidenceSignature,
            "{id}"
        );
        // A duplicate key or an extra key is refused before any signature.
        let dup = with_payload(l, |m| m.push((Value::Text("nonce".into()), Value::Null)));
        assert_eq!(
            kind_of(verifier(), &dup, l.at),
            ErrorKind::Malformed,
            "{id}"
        );
        let extra = with_payload(l, |m| {
            m.push((Value::Text("debug".into()), Value::Bool(false)))
        });
        assert_eq!(
            kind_of(verifier(), &extra, l.at),
            ErrorKind::Unsupported,
            "{id}"
        );
    }
}

#[test]
fn another_documents_leaf_does_not_verify_this_signature() {
    let docs: Vec<_> = verified_cases().collect();
    for (a, b) in docs.iter().zip(docs.iter().cycle().skip(1)) {
        let b_map = payload_map(&cose::parse(&b.evidence).unwrap());
        // B's leaf and bundle in A's document, at B's time: the chain verifies, the key does not.
        let swapped = with_payload(a, |m| {
            set(m, "certificate", get(&b_map, "certificate").clone());
            set(m, "cabundle", get(&b_map, "cabundle").clone());
        });
        let k = kind_of(verifier(), &swapped, b.at);
        assert_eq!(
            k,
            ErrorKind::EvidenceSignature,
            "{} with the leaf of {}",
            a.case.id,
            b.case.id
        );
        // B's leaf alone, at A's time: B's leaf is not valid then or does not chain.
        let leaf_only = with_payload(a, |m| {
            set(m, "certificate", get(&b_map, "certificate").clone())
        });
        assert!(verify(verifier(), &leaf_only, a.at).is_err());
    }
}

#[test]
fn the_bundle_root_copy_is_not_trusted_and_the_order_is_enforced() {
    let l = case("nitro-prod-2022-evervault");
    let map = payload_map(&cose::parse(&l.evidence).unwrap());
    let Value::Array(bundle) = get(&map, "cabundle").clone() else {
        panic!()
    };
    assert!(bundle.len() >= 3);
    // The root copy replaced by an unrelated certificate: it is simply unused (the pinned root
    // ends the chain), so only the payload change is caught, by the signature.
    let mut other_root = bundle.clone();
    other_root[0] = get(
        &payload_map(&cose::parse(&case("nitro-debug-2021-nitrite").evidence).unwrap()),
        "certificate",
    )
    .clone();
    let doc = with_payload(l, |m| set(m, "cabundle", Value::Array(other_root)));
    assert_eq!(
        kind_of(verifier(), &doc, l.at),
        ErrorKind::EvidenceSignature
    );
    // Intermediates out of order: the chain builds, the order check refuses it.
    let mut swapped = bundle.clone();
    swapped.swap(1, 2);
    let doc = with_payload(l, |m| set(m, "cabundle", Value::Array(swapped)));
    let err = verify(verifier(), &doc, l.at).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Mismatch {
                field: "cabundle order",
                ..
            }
        ),
        "{err}"
    );
    // An intermediate missing: no path to the root.
    let mut missing = bundle.clone();
    missing.remove(1);
    let doc = with_payload(l, |m| set(m, "cabundle", Value::Array(missing)));
    assert_eq!(kind_of(verifier(), &doc, l.at), ErrorKind::UntrustedRoot);
    // Without the pinned AWS root nothing verifies, whatever the bundle carries.
    let bare = Verifier::new(TrustAnchors::empty());
    assert_eq!(kind_of(&bare, &l.evidence, l.at), ErrorKind::UntrustedRoot);
}

#[test]
fn time_outside_the_leaf_validity_is_rejected_warm_or_cold() {
    for l in verified_cases() {
        let (nb, na) = leaf_of(l).validity();
        let warm = Verifier::new(TrustAnchors::vendor());
        verify(&warm, &l.evidence, l.at).unwrap();
        verify(&warm, &l.evidence, nb).unwrap();
        verify(&warm, &l.evidence, na).unwrap();
        for t in [nb.saturating_sub(1), na.saturating_add(1)] {
            for v in [&warm, &Verifier::new(TrustAnchors::vendor())] {
                let err = verify(v, &l.evidence, t).unwrap_err();
                assert!(
                    matches!(err, Error::CertificateNotValidAt { time, .. } if time == t),
                    "{}: {err}",
                    l.case.id
                );
            }
        }
    }
}

#[test]
fn the_cache_holds_verified_paths_only() {
    let l = case("nitro-debug-2022-evervault");
    let v = Verifier::new(TrustAnchors::vendor());
    // A failure is not cached.
    let before = leaf_of(l).validity().0.saturating_sub(60);
    assert!(verify(&v, &l.evidence, before).is_err());
    let bad = case("nitro-bad-signature-eternis");
    assert!(verify(&v, &bad.evidence, bad.at).is_err());
    assert!(v.cached_entries() == 0);
    // A success is, once; the warm path still checks the document's own signature.
    let cold = verify(&v, &l.evidence, l.at).unwrap();
    assert_eq!(v.cached_entries(), 1);
    let warm = verify(&v, &l.evidence, l.at).unwrap();
    assert_eq!(v.cached_entries(), 1);
    assert_eq!(cold.to_json(), warm.to_json());
    let mut forged = l.evidence.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(kind_of(&v, &forged, l.at), ErrorKind::EvidenceSignature);
}

#[test]
fn truncated_or_extended_documents_are_malformed() {
    for l in verified_cases() {
        let doc = &l.evidence;
        let step = doc.len() / 97 + 1;
        for cut in (0..doc.len()).step_by(step).chain(doc.len() - 3..doc.len()) {
            let err = verify(verifier(), &doc[..cut], l.at).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::Malformed,
                "{} cut at {cut}: {err}",
                l.case.id
            );
        }
        for junk in [&[0x00][..], &[0xff, 0xff], b"junk", &[0xa0]] {
            let mut long = doc.clone();
            long.extend_from_slice(junk);
            let err = verify(verifier(), &long, l.at).unwrap_err();
            assert!(
                matches!(err, Error::TrailingData { extra, .. } if extra == junk.len()),
                "{err}"
            );
        }
    }
}
