//! The build-output verification (`kiln verify`), link by link, on outputs assembled here from
//! simulated evidence: a good output verifies; tampering with any one link is rejected for
//! that link.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod build_support;

use kiln_tee::process_measurement;
use kiln_tee::sim::{FixedClock, SimChip, SimProfile, SimTee};
use kiln_verifier::build_output::dsse::encode_base64;
use kiln_verifier::build_output::{
    self as build, media, AllowSimulated, BuildError, Expectations, SigstoreBundle,
};
use kiln_verifier::{ErrorKind, Platform, TrustAnchors, UnixTime};
use sha2::{Digest, Sha256};

use build_support::*;

#[test]
fn a_good_output_verifies_on_every_platform_and_says_simulated() {
    for p in PLATFORMS {
        let (out, key) = assemble(p, &Fault::default());
        let v = check(&out, &any()).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(v.is_simulated());
        assert_eq!(v.claims().platform, p);
        assert_eq!(v.key_id(), build::key_id(&key.spki));
        assert_eq!(v.request().nonce, NONCE);
        // Without the opt-in, the same output is refused as simulated.
        let err = build::verify(
            &out,
            &any(),
            &TrustAnchors::vendor(),
            &AllowSimulated::No,
            at(),
        )
        .unwrap_err();
        match err {
            BuildError::Evidence(e) => assert_eq!(e.kind(), ErrorKind::Simulated, "{p}: {e}"),
            other => panic!("{p}: {other}"),
        }
    }
}

#[test]
fn each_broken_link_is_named() {
    for p in PLATFORMS {
        let (good, _) = assemble(p, &Fault::default());
        let none = any();

        // An artifact byte.
        let mut out = good.clone();
        out.artifacts.get_mut("hello").unwrap()[0] ^= 1;
        assert!(
            matches!(check(&out, &none), Err(BuildError::ArtifactDigest { .. })),
            "{p}"
        );
        // An extra file, a missing file.
        let mut out = good.clone();
        out.artifacts.insert("extra".into(), [0; 32]);
        assert!(
            matches!(
                check(&out, &none),
                Err(BuildError::UnexpectedArtifact { .. })
            ),
            "{p}"
        );
        let mut out = good.clone();
        out.artifacts.clear();
        assert!(
            matches!(check(&out, &none), Err(BuildError::MissingArtifact { .. })),
            "{p}"
        );

        // The payload (one character of the base64) and the signature.
        let mut bundle: serde_json::Value = serde_json::from_slice(&good.bundle_json).unwrap();
        let payload = bundle["dsseEnvelope"]["payload"]
            .as_str()
            .unwrap()
            .to_owned();
        let flipped = if payload.starts_with('e') {
            payload.replacen('e', "f", 1)
        } else {
            payload.replacen(|_| true, "e", 1)
        };
        bundle["dsseEnvelope"]["payload"] = flipped.into();
        let mut out = good.clone();
        out.bundle_json = serde_json::to_vec(&bundle).unwrap();
        assert!(
            matches!(
                check(&out, &none),
                Err(BuildError::Signature | BuildError::Bundle { .. })
            ),
            "{p}"
        );
        let mut bundle: serde_json::Value = serde_json::from_slice(&good.bundle_json).unwrap();
        let sig = kiln_verifier::build_output::dsse::decode_base64(
            bundle["dsseEnvelope"]["signatures"][0]["sig"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let mut sig = sig.clone();
        let last = sig.len() - 1;
        sig[last] ^= 1;
        bundle["dsseEnvelope"]["signatures"][0]["sig"] = encode_base64(&sig).into();
        let mut out = good.clone();
        out.bundle_json = serde_json::to_vec(&bundle).unwrap();
        assert!(
            matches!(check(&out, &none), Err(BuildError::Signature)),
            "{p}"
        );

        // The key: another public key file.
        let mut out = good.clone();
        out.public_key_pem = pem(&key().spki);
        assert!(
            matches!(check(&out, &none), Err(BuildError::KeyId { .. })),
            "{p}"
        );

        // The evidence file on disk differs from its signed copy.
        let mut out = good.clone();
        out.evidence_files.get_mut(media::EVIDENCE_NAME).unwrap()[100] ^= 1;
        assert!(
            matches!(check(&out, &none), Err(BuildError::EvidenceFile { .. })),
            "{p}"
        );
        // An unsigned extra file in evidence/.
        let mut out = good.clone();
        out.evidence_files
            .insert("notes.txt".into(), b"hi".to_vec());
        assert!(
            matches!(check(&out, &none), Err(BuildError::EvidenceFile { .. })),
            "{p}"
        );

        // Evidence that binds another key, or another request (all else signed and valid).
        let (out, _) = assemble(
            p,
            &Fault {
                bind_other_key: true,
                ..Fault::default()
            },
        );
        assert!(
            matches!(check(&out, &none), Err(BuildError::KeyBinding { .. })),
            "{p}"
        );
        let (out, _) = assemble(
            p,
            &Fault {
                bind_other_statement: true,
                ..Fault::default()
            },
        );
        assert!(
            matches!(check(&out, &none), Err(BuildError::StatementBinding { .. })),
            "{p}"
        );

        // Expectations: measurement, nonce, source, builder.
        let wrong =
            |e: Expectations| matches!(check(&good, &e), Err(BuildError::Expectation { .. }));
        assert!(
            wrong(Expectations {
                measurement: Some(vec![0; 48]),
                ..any()
            }),
            "{p}"
        );
        assert!(
            wrong(Expectations {
                nonce: Some("00".repeat(32)),
                ..any()
            }),
            "{p}"
        );
        assert!(
            wrong(Expectations {
                source_sha256: Some("cd".repeat(32)),
                ..any()
            }),
            "{p}"
        );
        assert!(
            wrong(Expectations {
                source_commit: Some("deadbeef".into()),
                ..any()
            }),
            "{p}"
        );
        assert!(
            wrong(Expectations {
                builder_id: Some("https://evil.example/builder".into()),
                ..any()
            }),
            "{p}"
        );
        // The right expectations pass.
        let v = check(&good, &any()).unwrap();
        let primary = p.primary_measurement();
        let right = Expectations {
            measurement: Some(v.claims().measurements[primary].as_bytes().to_vec()),
            nonce: Some(NONCE.into()),
            source_sha256: Some("ab".repeat(32)),
            source_commit: Some(commit().0),
            builder_id: Some("https://kiln.dev/builders/sim@v1".into()),
            ..any()
        };
        check(&good, &right).unwrap_or_else(|e| panic!("{p}: {e}"));

        // Verifying long after the evidence: the simulated collateral/certificates expire.
        let late = UnixTime::from_secs(4_102_444_800); // 2100
        let err = build::verify(&good, &none, &TrustAnchors::vendor(), &pinned_roots(), late);
        assert!(matches!(err, Err(BuildError::Evidence(_))), "{p}: {err:?}");
    }
}

#[test]
fn nitro_nonce_and_public_key_are_bound() {
    let (out, _) = assemble(
        Platform::Nitro,
        &Fault {
            nitro_nonce: Some(vec![1, 2, 3]),
            ..Fault::default()
        },
    );
    match check(&out, &any()) {
        Err(BuildError::StatementBinding { field: "nonce", .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_shipped_root_that_does_not_say_simulated_is_refused() {
    // A real vendor root, shipped and signed as `simulated-root.der`, must not become an
    // anchor through the simulated opt-in.
    let real = concat!(env!("CARGO_MANIFEST_DIR"), "/roots/amd_ark_milan.der");
    let fault = Fault {
        shipped_root: Some(std::fs::read(real).unwrap()),
        ..Fault::default()
    };
    let (out, _) = assemble(Platform::SevSnp, &fault);
    // Even pinned by a careless caller, a root that does not say SIMULATED is refused.
    let careless =
        AllowSimulated::PinnedRoots(vec![Sha256::digest(std::fs::read(real).unwrap()).into()]);
    match build::verify(&out, &any(), &TrustAnchors::vendor(), &careless, at()) {
        Err(BuildError::EvidenceFile { name, reason }) => {
            assert_eq!(name, media::SIMULATED_ROOT_NAME);
            assert!(reason.contains("does not say SIMULATED"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// `--allow-simulated` trusts the simulated roots the caller pins, never the one an output
/// ships: an output of another simulated chip (an attacker's, say) is refused by name, and the
/// same output passes once its own root is pinned.
#[test]
fn a_simulated_root_the_caller_did_not_pin_is_refused() {
    let foreign = SimChip::from_seed(&[9; 32]);
    for p in PLATFORMS {
        let (out, _) = assemble(p, &Fault::default());
        let other_roots: Vec<[u8; 32]> = PLATFORMS
            .iter()
            .map(|q| {
                let profile = SimProfile::default_for(*q);
                let m = process_measurement(*q, b"enclave", b"params");
                let tee = SimTee::launch(
                    foreign.clone(),
                    profile,
                    m,
                    profile.default_policy(),
                    FixedClock::new(MILLIS),
                )
                .unwrap();
                Sha256::digest(tee.simulated_root_der().unwrap()).into()
            })
            .collect();
        let foreign_only = AllowSimulated::PinnedRoots(other_roots);
        match build::verify(&out, &any(), &TrustAnchors::vendor(), &foreign_only, at()) {
            Err(e @ BuildError::EvidenceFile { .. }) => {
                assert_eq!(e.link(), "evidence");
                assert!(
                    e.to_string().contains("is not a simulated root you trust"),
                    "{p}: {e}"
                );
            }
            other => panic!("{p}: {other:?}"),
        }
        let nothing = AllowSimulated::PinnedRoots(Vec::new());
        assert!(
            build::verify(&out, &any(), &TrustAnchors::vendor(), &nothing, at()).is_err(),
            "{p}"
        );
        check(&out, &any()).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}

/// Without a measurement reference the output is refused (it could come from any image);
/// `AnyMeasurement::Accept` takes it and the pinning says nothing was pinned; with the
/// measurement pinned, the pinning says so.
#[test]
fn without_a_reference_the_output_is_refused_unless_any_measurement_is_accepted() {
    for p in PLATFORMS {
        let (out, _) = assemble(p, &Fault::default());
        match check(&out, &Expectations::default()) {
            Err(
                e @ BuildError::NoReference {
                    nothing_pinned: true,
                    ..
                },
            ) => {
                assert_eq!(e.link(), "expectation");
                assert!(e.to_string().contains("no measurement reference"), "{e}");
            }
            other => panic!("{p}: {other:?}"),
        }
        let v = check(&out, &any()).unwrap();
        assert!(v.pinning().pinned.is_empty(), "{p}: {:?}", v.pinning());
        assert!(v.pinning().unpinned.iter().any(|u| u == "builder id"));
        let primary = p.primary_measurement();
        let m = v.claims().measurements[primary].as_bytes().to_vec();
        let pinned = check(
            &out,
            &Expectations {
                measurement: Some(m),
                ..Expectations::default()
            },
        )
        .unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(pinned
            .pinning()
            .is_pinned(&format!("measurement {primary}")));
        assert!(!pinned.pinning().is_pinned("builder id"));
    }
}

/// A key that leaked vouches for nothing else: the genuine key re-signs the statement for other
/// artifacts (new subject digests, matching files), beside the honest build's evidence. Every
/// other link holds — the signature, the key binding, the request — and the statement binding
/// rejects it. The same for a changed dependency or parameter.
#[test]
fn a_statement_re_signed_by_the_genuine_key_for_other_subjects_is_rejected() {
    for p in PLATFORMS {
        let (good, key) = assemble(p, &Fault::default());
        check(&good, &any()).unwrap_or_else(|e| panic!("{p}: {e}"));
        let bundle: SigstoreBundle = serde_json::from_slice(&good.bundle_json).unwrap();
        let payload = build::dsse::decode_base64(&bundle.dsse_envelope.payload).unwrap();
        let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();

        let evil = b"\x7fELF the attacker's binary".to_vec();
        let mut other = statement.clone();
        other["subject"][0]["digest"]["sha256"] =
            serde_json::Value::String(hex::encode(Sha256::digest(&evil)));
        let mut forged = sign(
            &key,
            &serde_json::to_vec(&other).unwrap(),
            good.evidence_files.clone(),
            evil,
        );
        forged.public_key_pem = good.public_key_pem.clone();
        match check(&forged, &any()) {
            Err(e @ BuildError::StatementBinding { .. }) => {
                assert_eq!(e.link(), "statement-binding", "{p}");
                assert!(e.to_string().contains("kiln-binding/v1"), "{p}: {e}");
            }
            other => panic!("{p}: expected a statement-binding rejection, got {other:?}"),
        }

        for (pointer, value) in [
            (
                "/predicate/buildDefinition/internalParameters/backend",
                "qemu",
            ),
            (
                "/predicate/runDetails/metadata/finishedOn",
                "2026-01-01T00:00:02Z",
            ),
        ] {
            let mut changed = statement.clone();
            *changed.pointer_mut(pointer).unwrap() = serde_json::Value::String(value.into());
            let forged = sign(
                &key,
                &serde_json::to_vec(&changed).unwrap(),
                good.evidence_files.clone(),
                b"\x7fELF pretend binary".to_vec(),
            );
            assert!(
                matches!(
                    check(&forged, &any()),
                    Err(BuildError::StatementBinding { .. })
                ),
                "{p} {pointer}"
            );
        }
        // Re-serialising the same statement (another member order, whitespace) keeps it bound.
        let pretty = serde_json::to_vec_pretty(&statement).unwrap();
        let mut same = sign(
            &key,
            &pretty,
            good.evidence_files.clone(),
            b"\x7fELF pretend binary".to_vec(),
        );
        same.attestation_files = good.attestation_files.clone();
        check(&same, &any()).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}

/// Evidence of a debug-mode guest (the host can read and write its memory, so the key is the
/// host's) is refused unless the caller allows it by name.
#[test]
fn debug_mode_evidence_is_refused_unless_allowed() {
    for p in PLATFORMS {
        let (out, _) = assemble(
            p,
            &Fault {
                debug: true,
                ..Fault::default()
            },
        );
        match check(&out, &any()) {
            Err(e @ BuildError::Expectation { .. }) => {
                assert!(e.to_string().contains("debug mode"), "{p}: {e}");
                assert!(e.to_string().contains("--allow-debug"), "{p}: {e}");
            }
            other => panic!("{p}: expected the debug refusal, got {other:?}"),
        }
        let allowed = Expectations {
            debug: build::DebugEvidence::Allow,
            ..any()
        };
        let v = check(&out, &allowed).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(v.claims().debug, "{p}");
        // A production guest passes without the opt-in.
        let (good, _) = assemble(p, &Fault::default());
        assert!(!check(&good, &any()).unwrap().claims().debug, "{p}");
    }
}

/// The commit in the signed request is checked by the verifier too: its commit object must
/// hash to it and name the source tree the guest recorded. A request naming another commit,
/// or a statement recording another tree, is refused naming the request link.
#[test]
fn a_wrong_commit_is_refused() {
    let (id, _, _) = commit();
    let mut other = id.into_bytes();
    other[0] = if other[0] == b'0' { b'1' } else { b'0' };
    let cases = [
        (
            Fault {
                commit_id: Some(String::from_utf8(other).unwrap()),
                ..Fault::default()
            },
            "the commit id",
        ),
        (
            Fault {
                source_tree: Some("00".repeat(20)),
                ..Fault::default()
            },
            "the commit's root tree",
        ),
    ];
    for (fault, why) in cases {
        let (out, _) = assemble(Platform::SevSnp, &fault);
        match check(&out, &any()) {
            Err(e @ BuildError::Request { .. }) => {
                assert!(e.to_string().contains("source commit"), "{e}");
                assert!(e.to_string().contains(why), "{e}");
            }
            other => panic!("{why}: {other:?}"),
        }
    }
}

/// Evidence minted over report data of the attacker's choosing — their own key, their own
/// statement — by a guest that is not kiln's builder (another enclave binary on the genuine
/// chip): every link up to the binding holds, and only the measurement reference refuses it.
/// Without a reference it is refused too; `--accept-any-measurement` is what would let it in.
#[test]
fn evidence_over_chosen_report_data_from_another_image_is_refused_by_the_reference() {
    for p in PLATFORMS {
        let (good, _) = assemble(p, &Fault::default());
        let genuine = check(&good, &any()).unwrap();
        let primary = p.primary_measurement();
        let reference = Expectations {
            measurement: Some(genuine.claims().measurements[primary].as_bytes().to_vec()),
            ..Expectations::default()
        };
        check(&good, &reference).unwrap_or_else(|e| panic!("{p}: {e}"));
        let (minted, _) = assemble(
            p,
            &Fault {
                enclave: Some(b"the attacker's enclave".to_vec()),
                ..Fault::default()
            },
        );
        match check(&minted, &reference) {
            Err(BuildError::Expectation { what, .. }) => {
                assert_eq!(what, format!("measurement {primary}"), "{p}")
            }
            other => panic!("{p}: {other:?}"),
        }
        assert!(matches!(
            check(&minted, &Expectations::default()),
            Err(BuildError::NoReference { .. })
        ));
        assert!(
            check(&minted, &any()).is_ok(),
            "{p}: only the reference stops it"
        );
    }
}
