//! End to end on the simulator with the real `kiln-enclave`: build the C example, check the
//! output layout, verify it with `kiln verify`, rebuild (same artifacts, same sealed key),
//! and see a tampered artifact rejected.
//!
//! Needs the `kiln-enclave` binary next to `kiln` (`cargo build -p kiln-enclave`, or any
//! `cargo test --workspace`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use common::{build_output, copy_dir, kiln};

/// [`common::build`], also checking the loud SIMULATED banner.
fn build(proj: &Path, out: &Path, state: &Path, nonce: &str) -> serde_json::Value {
    let o = build_output(proj, out, state, nonce);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("SIMULATED TEE"), "{err}");
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn c_example_builds_verifies_and_rebuilds_identically() {
    let root = tempfile::tempdir().unwrap();
    let proj = root.path().join("c-hello");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/c-hello"),
        &proj,
    );
    let state = root.path().join("state");
    let out = root.path().join("out1");
    let nonce = "00112233445566778899aabbccddeeff";
    let summary = build(&proj, &out, &state, nonce);

    // Layout.
    assert!(out.join("artifacts/hello").is_file());
    assert!(out.join("provenance.sigstore.json").is_file());
    assert!(out.join("public-key.pem").is_file());
    assert!(out.join("evidence/evidence.bin").is_file());
    assert!(out.join("evidence/simulated-root.der").is_file());
    assert_eq!(summary["simulated"], true);
    assert_eq!(summary["subjects"][0]["name"], "hello");
    let leftovers: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("kiln-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The sealed key is kept for the next launch.
    assert!(state.join("keys/sim-sev-snp.sealed").is_file());

    // kiln verify.
    let measurement = summary["measurement"]["measurement"]
        .as_str()
        .unwrap()
        .to_owned();
    let source = summary["source"]["sha256"].as_str().unwrap().to_owned();
    let o = kiln(
        &[
            "verify",
            out.to_str().unwrap(),
            "--allow-simulated",
            "--expect-measurement",
            &measurement,
            "--expect-source",
            &source,
            "--expect-builder",
            "https://kiln.dev/builders/sim@v1",
            "--nonce",
            nonce,
        ],
        &state,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // Without --allow-simulated the simulated evidence is refused.
    let o = kiln(&["verify", out.to_str().unwrap()], &state);
    assert_eq!(o.status.code(), Some(1));

    // A second build: identical artifact, same (unsealed) key.
    let out2 = root.path().join("out2");
    let again = build(&proj, &out2, &state, nonce);
    assert_eq!(again["subjects"], summary["subjects"]);
    assert_eq!(again["source"]["sha256"], summary["source"]["sha256"]);
    assert_eq!(again["keyId"], summary["keyId"]);
    assert_eq!(
        std::fs::read(out.join("artifacts/hello")).unwrap(),
        std::fs::read(out2.join("artifacts/hello")).unwrap()
    );

    // Tampering with an artifact breaks the artifacts link.
    let mut bytes = std::fs::read(out2.join("artifacts/hello")).unwrap();
    bytes[100] ^= 1;
    std::fs::write(out2.join("artifacts/hello"), bytes).unwrap();
    let o = kiln(
        &["verify", out2.to_str().unwrap(), "--allow-simulated"],
        &state,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("BROKEN artifacts"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
