//! Every case of `../shared/vectors/manifest.toml` through the library, at its `at` time.
//! A case added to the manifest is tested here without code changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use kiln_verifier::{detect_platform, TrustAnchors, Verifier};

#[test]
fn every_manifest_case_gets_its_verdict() {
    let verifier = Verifier::new(TrustAnchors::vendor());
    let mut failures = Vec::new();
    let cases = common::load_all();
    for loaded in &cases {
        let result = verifier.verify(&loaded.evidence(), loaded.at);
        match (loaded.verified(), result) {
            (true, Ok(v)) => {
                let c = v.claims();
                assert_eq!(c.platform, loaded.platform, "{}", loaded.case.id);
                assert!(
                    !c.simulated,
                    "{}: real evidence marked simulated",
                    loaded.case.id
                );
                assert_eq!(c.verified_at, loaded.at);
                assert!(
                    !c.measurements.is_empty(),
                    "{}: no measurements",
                    loaded.case.id
                );
            }
            (true, Err(e)) => {
                failures.push(format!("{}: expected verified, got: {e}", loaded.case.id))
            }
            (false, Ok(_)) => failures.push(format!(
                "{}: expected rejected, was verified",
                loaded.case.id
            )),
            (false, Err(e)) => {
                if let Err(p) = std::panic::catch_unwind(|| common::assert_reason(&loaded.case, &e))
                {
                    failures.push(
                        p.downcast_ref::<String>()
                            .cloned()
                            .unwrap_or_else(|| "wrong reason".into()),
                    );
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_same_verifier_gives_the_same_verdicts_warm() {
    // Second pass over one verifier: cached chains and collateral must not change a verdict.
    let verifier = Verifier::new(TrustAnchors::vendor());
    let cases = common::load_all();
    let first: Vec<bool> = cases
        .iter()
        .map(|l| verifier.verify(&l.evidence(), l.at).is_ok())
        .collect();
    let second: Vec<bool> = cases
        .iter()
        .map(|l| verifier.verify(&l.evidence(), l.at).is_ok())
        .collect();
    assert_eq!(first, second);
    for (l, ok) in cases.iter().zip(&first) {
        assert_eq!(*ok, l.verified(), "{}", l.case.id);
    }
}

#[test]
fn platform_is_detected_from_the_bytes() {
    for loaded in common::load_all() {
        assert_eq!(
            detect_platform(&loaded.evidence).unwrap(),
            loaded.platform,
            "{}",
            loaded.case.id
        );
    }
}

#[test]
fn without_anchors_nothing_verifies() {
    let verifier = Verifier::new(TrustAnchors::empty());
    for loaded in common::load_all().iter().filter(|l| l.verified()) {
        let err = verifier.verify(&loaded.evidence(), loaded.at).unwrap_err();
        assert_eq!(
            err.kind(),
            kiln_verifier::ErrorKind::UntrustedRoot,
            "{}: {err}",
            loaded.case.id
        );
    }
}

#[test]
fn claims_serialise_to_json() {
    let verifier = Verifier::new(TrustAnchors::vendor());
    for loaded in common::load_all().iter().filter(|l| l.verified()) {
        let v = verifier.verify(&loaded.evidence(), loaded.at).unwrap();
        let json = v.to_json();
        assert_eq!(json["platform"], loaded.case.platform, "{}", loaded.case.id);
        assert_eq!(json["simulated"], false);
        assert_eq!(json["verified_at"], loaded.case.at);
        assert!(json["anchor"]["sha256"].as_str().unwrap().len() == 64);
        assert_eq!(json["details"]["platform"], loaded.case.platform);
    }
}
