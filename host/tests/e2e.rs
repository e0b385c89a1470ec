//! End to end on the simulator with the real `kiln-enclave`: build the C example, check the
//! output layout, verify it with `kiln verify`, rebuild (same artifacts, same sealed key),
//! and see a tampered artifact rejected.
//!
//! Needs the `kiln-enclave` binary next to `kiln` (`cargo build -p kiln-enclave`, or any
//! `cargo test --workspace`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use common::{build_output, copy_dir, copy_example, kiln};

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
    copy_example("c-hello", &proj);
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

/// `kiln verify` trusts nothing by default, through the CLI: without a reference it refuses
/// (and `--accept-any-measurement` takes the output, loudly); the predicted sim reference
/// pins the measurement and the builder; a simulated root is trusted only when pinned — this
/// machine's state folder by default, never the one the output ships.
#[test]
fn verify_wants_a_reference_and_a_pinned_simulated_root() {
    let root = tempfile::tempdir().unwrap();
    let proj = root.path().join("c-hello");
    copy_example("c-hello", &proj);
    let state = root.path().join("state");
    let out = root.path().join("out");
    let summary = build(&proj, &out, &state, "01");
    let o_str = out.to_str().unwrap();
    let stdout = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();

    // The prediction equals the evidence.
    let reference = common::sim_reference("sev-snp", &state);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&reference).unwrap()).unwrap();
    assert_eq!(
        doc["measurements"]["measurement"],
        summary["measurement"]["measurement"]
    );
    assert_eq!(doc["builder"]["id"], "https://kiln.dev/builders/sim@v1");

    // No reference: refused, naming the missing reference.
    let o = kiln(&["verify", o_str, "--allow-simulated"], &state);
    common::assert_broken(&o, "expectation", "no measurement reference");

    // --accept-any-measurement: accepted, loudly, with nothing pinned and the builder shown
    // as the host's claim.
    let o = kiln(
        &[
            "verify",
            o_str,
            "--allow-simulated",
            "--accept-any-measurement",
        ],
        &state,
    );
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    let report = stdout(&o);
    assert!(
        report.contains("WARNING: --accept-any-measurement"),
        "{report}"
    );
    assert!(report.contains("host's unverified claim"), "{report}");
    assert!(
        report.contains("not pinned: measurement measurement, builder id"),
        "{report}"
    );
    assert!(
        !report.to_lowercase().contains("hardware evidence"),
        "{report}"
    );

    // The reference pins the measurement and the builder.
    let r = reference.to_str().unwrap();
    let o = kiln(
        &[
            "verify",
            o_str,
            "--allow-simulated",
            "--reference",
            r,
            "--json",
        ],
        &state,
    );
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["simulated"], true);
    assert_eq!(json["builderIdPinned"], true);
    assert!(json["pinned"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "measurement measurement"));
    // A reference naming another builder rejects the output.
    let mut other = doc.clone();
    other["builder"]["id"] = "https://example.com/builders/other@v1".into();
    let other_path = root.path().join("other-builder.json");
    std::fs::write(&other_path, other.to_string()).unwrap();
    let o = kiln(
        &[
            "verify",
            o_str,
            "--allow-simulated",
            "--reference",
            other_path.to_str().unwrap(),
        ],
        &state,
    );
    common::assert_broken(&o, "expectation", "builder id");

    // Another machine's state folder: its own simulated chip is not the one that signed.
    let elsewhere = root.path().join("elsewhere");
    let other_proj = root.path().join("other-proj");
    copy_dir(&proj, &other_proj);
    build(
        &other_proj,
        &root.path().join("other-out"),
        &elsewhere,
        "02",
    );
    let o = kiln(
        &["verify", o_str, "--allow-simulated", "--reference", r],
        &elsewhere,
    );
    common::assert_broken(&o, "evidence", "is not a simulated root you trust");
    // ... unless the caller pins the output's root, as a file or its SHA-256.
    let shipped = out.join("evidence/simulated-root.der");
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&shipped).unwrap()))
    };
    for pin in [shipped.to_str().unwrap(), digest.as_str()] {
        let o = kiln(
            &[
                "verify",
                o_str,
                "--allow-simulated",
                "--simulated-root",
                pin,
                "--reference",
                r,
            ],
            &elsewhere,
        );
        assert_eq!(o.status.code(), Some(0), "{pin}: {}", common::text(&o));
    }
    // A state folder without a chip trusts no simulated root at all.
    let empty = root.path().join("empty-state");
    let o = kiln(
        &["verify", o_str, "--allow-simulated", "--reference", r],
        &empty,
    );
    assert_eq!(o.status.code(), Some(2), "{}", common::text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("holds no simulated chip"),
        "{}",
        common::text(&o)
    );
}

/// A project in a git work tree (SHA-1 and SHA-256 repositories, in a subfolder): the guest
/// proves the commit from the git objects kiln sends, the provenance records it as a
/// `gitCommit` digest with the recomputed tree, and `kiln verify --expect-commit` accepts it.
#[test]
fn a_git_tree_build_proves_its_commit() {
    for format in ["sha1", "sha256"] {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        let proj = repo.join("sub/c-hello");
        copy_example("c-hello", &proj);
        let git = |args: &[&str]| {
            let o = std::process::Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
                .args(args)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8(o.stdout).unwrap().trim().to_owned()
        };
        git(&["init", "-q", &format!("--object-format={format}")]);
        git(&["add", "-A"]);
        git(&["commit", "-qm", "c-hello"]);
        let head = git(&["rev-parse", "HEAD"]);
        let state = root.path().join("state");
        let out = root.path().join("out");
        let summary = build(&proj, &out, &state, "03");
        assert_eq!(summary["source"]["commit"], head.as_str(), "{format}");
        let o = common::verify(&out, &["--expect-commit", &head], &state);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", common::text(&o));
        let st = common::read_statement(&out);
        let dep = &st["predicate"]["buildDefinition"]["resolvedDependencies"][0];
        assert_eq!(dep["digest"]["gitCommit"], head.as_str());
        assert_eq!(
            dep["annotations"]["gitTree"],
            git(&["rev-parse", "HEAD:sub/c-hello"]).as_str()
        );
        assert_eq!(dep["annotations"]["gitObjectFormat"], format);
    }
}
