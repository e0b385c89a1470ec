//! Property test: random byte mutations of every real vector give an error or the same
//! verdict, never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

mod common;

use std::sync::OnceLock;

use kiln_verifier::{TrustAnchors, Verifier};
use proptest::prelude::*;

fn cases() -> &'static [common::Loaded] {
    static CASES: OnceLock<Vec<common::Loaded>> = OnceLock::new();
    CASES.get_or_init(common::load_all)
}

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| Verifier::new(TrustAnchors::vendor()))
}

/// A mutation: (position as a fraction of the length, xor mask, optional truncation).
fn mutation() -> impl Strategy<Value = Vec<(f64, u8)>> {
    prop::collection::vec((0.0f64..1.0, 1u8..=255), 1..4)
}

fn apply(bytes: &[u8], muts: &[(f64, u8)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (pos, mask) in muts {
        if out.is_empty() {
            break;
        }
        let i = ((out.len() as f64) * pos) as usize % out.len();
        out[i] ^= mask;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_evidence_errs_or_keeps_its_verdict(muts in mutation(), cut in prop::option::of(0.0f64..1.0)) {
        for loaded in cases() {
            let mut bytes = apply(&loaded.evidence, &muts);
            if let Some(c) = cut {
                bytes.truncate((bytes.len() as f64 * c) as usize);
            }
            let mut ev = loaded.evidence();
            ev.bytes = &bytes;
            let result = verifier().verify(&ev, loaded.at);
            if result.is_ok() {
                prop_assert!(loaded.verified(), "{}: a mutation made rejected evidence verify", loaded.case.id);
            }
            // Auto-detection must not panic either.
            ev.platform = None;
            let _ = verifier().verify(&ev, loaded.at);
        }
    }

    #[test]
    fn mutated_inputs_err_or_keep_their_verdict(muts in mutation()) {
        for loaded in cases() {
            let vek = loaded.vek.as_deref().map(|v| apply(v, &muts));
            let collateral = loaded.collateral.as_deref().map(|c| apply(c, &muts));
            let mut ev = loaded.evidence();
            ev.vek = vek.as_deref();
            ev.collateral = collateral.as_deref();
            if let Ok(v) = verifier().verify(&ev, loaded.at) {
                prop_assert!(loaded.verified(), "{}: a mutated input made rejected evidence verify", loaded.case.id);
                prop_assert_eq!(v.claims().platform, loaded.platform);
            }
        }
    }
}
