//! `kiln-binding/v1`: what a build's evidence binds, the one place it is defined.
//!
//! The guest asks for its evidence *after* the build, over
//!
//! ```text
//! REPORT_DATA = SHA-256(SubjectPublicKeyInfo DER of the signing key) ‖ binding
//! binding     = SHA-256("kiln-binding/v1" ‖ 0x00 ‖ canonical JSON of the statement
//!                       without its evidence byproducts)
//! ```
//!
//! (On Nitro the same 64 bytes are the document's `user_data`.) "The statement" is the in-toto
//! Statement the DSSE envelope signs; its evidence byproducts are the entries of
//! `predicate.runDetails.byproducts` whose `name` is one of [`media::EVIDENCE_FILES`] — the
//! evidence cannot cover itself. Everything else the statement asserts is bound: the subjects
//! and their digests, the build request (a byproduct), the resolved dependencies, the
//! parameters (network isolation and the other sandbox facts), the builder and its
//! dependencies, the times. So a key that leaked cannot vouch for other bytes: a statement with
//! other subjects, signed by the genuine key, no longer matches the evidence.
//!
//! Canonical JSON: objects with their members sorted by the UTF-8 bytes of their names, no
//! whitespace, strings and numbers as `serde_json` writes them (the statement holds strings,
//! integers, booleans, arrays and objects only). The verifier computes it from the signed
//! payload bytes, parsed (never from a re-encoding of its typed view of them).

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::media;

/// The version tag of the binding.
pub const BINDING_VERSION: &str = "kiln-binding/v1";

/// Appends the canonical JSON of `v` to `out`.
pub fn canonical_json(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, val)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(&Value::String(k.clone()), out);
                out.push(b':');
                canonical_json(val, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        // A scalar's JSON text: serialising a string, number, bool or null cannot fail.
        scalar => out.extend_from_slice(&serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

/// Whether a byproduct entry is one of the evidence files.
fn is_evidence(entry: &Value) -> bool {
    entry
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| media::EVIDENCE_FILES.contains(&n))
}

/// The binding of a statement (as JSON): see the module documentation.
pub fn binding(statement: &Value) -> [u8; 32] {
    let mut s = statement.clone();
    if let Some(list) = s
        .pointer_mut("/predicate/runDetails/byproducts")
        .and_then(Value::as_array_mut)
    {
        list.retain(|e| !is_evidence(e));
    }
    let mut text = Vec::with_capacity(4096);
    canonical_json(&s, &mut text);
    let mut h = Sha256::new();
    h.update(BINDING_VERSION.as_bytes());
    h.update([0u8]);
    h.update(&text);
    h.finalize().into()
}

/// The 64 bytes of REPORT_DATA (Nitro: `user_data`) of a kiln build:
/// `SHA-256(SubjectPublicKeyInfo DER) ‖ binding`.
pub fn report_data(spki_der: &[u8], binding: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    let (key, rest) = out.split_at_mut(32);
    key.copy_from_slice(&Sha256::digest(spki_der));
    rest.copy_from_slice(binding);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_members_and_drops_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": [1, {"z": true, "a": null}], "a": "\u00e9\n" }"#)
                .unwrap();
        let mut out = Vec::new();
        canonical_json(&v, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a\":\"é\\n\",\"b\":[1,{\"a\":null,\"z\":true}]}"
        );
    }

    fn statement(subject_digest: &str, evidence: &str) -> Value {
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "hello", "digest": {"sha256": subject_digest}}],
            "predicate": {"runDetails": {"byproducts": [
                {"name": "request.json", "content": "cmVx"},
                {"name": "evidence.bin", "content": evidence},
                {"name": "vek.der", "content": evidence},
            ]}},
        })
    }

    #[test]
    fn the_binding_covers_everything_but_the_evidence() {
        let a = binding(&statement("aa", "ZXY="));
        assert_eq!(
            a,
            binding(&statement("aa", "b3RoZXI=")),
            "evidence is not bound"
        );
        assert_ne!(a, binding(&statement("ab", "ZXY=")), "subjects are bound");
        let mut other_request = statement("aa", "ZXY=");
        other_request["predicate"]["runDetails"]["byproducts"][0]["content"] = json!("b3RoZXI=");
        assert_ne!(a, binding(&other_request), "the request is bound");
        let mut reordered = statement("aa", "ZXY=");
        let list = reordered["predicate"]["runDetails"]["byproducts"]
            .as_array_mut()
            .unwrap();
        list.swap(1, 2);
        assert_eq!(a, binding(&reordered), "evidence entries in any order");
        let mut extra = statement("aa", "ZXY=");
        extra["predicate"]["internalParameters"] = json!({"networkIsolation": false});
        assert_ne!(a, binding(&extra), "parameters are bound");
        let rd = report_data(b"spki", &a);
        assert_eq!(&rd[32..], &a[..]);
        assert_eq!(&rd[..32], &Sha256::digest(b"spki")[..]);
    }
}
