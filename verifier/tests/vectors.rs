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

/// Genuine TDX evidence: MRTD covers only TDVF, so a reference that pins MRTD alone is refused
/// (naming RTMR0–2); one that pins all four verifies; and a reference that differs from the
/// quote only in RTMR1 (another kernel under the same firmware) is refused naming RTMR1.
#[test]
fn a_tdx_reference_must_pin_mrtd_and_rtmr0_to_2_and_each_counts() {
    use kiln_verifier::build_output::expect::{check, Expectations};
    use kiln_verifier::build_output::BuildError;
    let cases = common::load_all();
    let case = cases
        .iter()
        .find(|c| c.case.id == "tdx-v4-uptodate-dcap-qvl")
        .expect("the manifest names tdx-v4-uptodate-dcap-qvl");
    let verified = Verifier::new(TrustAnchors::vendor())
        .verify(&case.evidence(), case.at)
        .unwrap();
    let claims = verified.claims();
    let request = kiln_verifier::build_output::BuildRequest::parse(
        serde_json::json!({
            "kind": kiln_verifier::build_output::REQUEST_KIND,
            "invocationId": "00",
            "nonce": "00",
            "source": {"sha256": "00".repeat(32), "size": 0, "sourceDateEpoch": 0},
            "recipePath": "kiln.toml",
            "builderId": "https://kiln.dev/builders/tdx@v1",
            "backend": "tdx",
            "platform": "tdx",
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let reg = |name: &str| claims.measurements[name].as_bytes().to_vec();
    let mrtd_only = Expectations {
        measurement: Some(reg("mrtd")),
        ..Expectations::default()
    };
    match check(&mrtd_only, claims, &request) {
        Err(BuildError::NoReference {
            missing,
            nothing_pinned: false,
            ..
        }) => assert_eq!(missing, ["rtmr0", "rtmr1", "rtmr2"]),
        other => panic!("{other:?}"),
    }
    let mut full = mrtd_only.clone();
    for r in ["rtmr0", "rtmr1", "rtmr2"] {
        full.measurements.insert(r.to_owned(), reg(r));
    }
    let pinning = check(&full, claims, &request).unwrap();
    assert!(pinning.is_pinned("measurement rtmr1"));
    assert!(!pinning.is_pinned("measurement rtmr3"));
    let mut other_kernel = full.clone();
    if let Some(r1) = other_kernel.measurements.get_mut("rtmr1") {
        r1[0] ^= 1;
    }
    match check(&other_kernel, claims, &request) {
        Err(BuildError::Expectation { what, .. }) => assert_eq!(what, "measurement rtmr1"),
        other => panic!("{other:?}"),
    }
}
