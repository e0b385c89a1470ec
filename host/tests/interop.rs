//! Interoperability: third-party verifiers, installed pinned by `scripts/interop-setup` into
//! .tools/, accept a real simulator build of the C example, and reject it once tampered with.
//!
//! - python `securesystemslib` (DSSE `Envelope.verify` with an `SSlibKey` ECDSA P-256 key made
//!   from public-key.pem): host/tests/interop/check_dsse.py;
//! - python `in-toto-attestation` (strict protobuf parse of the Statement v1 and the SLSA
//!   Provenance v1 predicate, then its validators): host/tests/interop/check_statement.py;
//! - npm `@sigstore/verify` (bundle v0.3 parsed by `@sigstore/bundle`, `toSignedEntity`,
//!   `Verifier` with the public key under the bundle's hint and no tlog/CT/timestamp
//!   threshold): host/tests/interop/check_bundle.mjs.
//!
//! Negative controls: the two signature checkers must reject a flipped signature byte and
//! another key named everywhere; the format checker (which does not look at signatures) must
//! reject an unknown field in the predicate.
//!
//! - the SBOMs (`sbom.spdx.json`, `sbom.cyclonedx.json`): SPDX's `spdx-tools` (parse and
//!   validate_full_spdx_document), the CycloneDX project's `cyclonedx-python-lib`
//!   (JsonStrictValidator, schema 1.6) and in-toto-attestation (their statements):
//!   host/tests/interop/check_sbom.py; their bundles through securesystemslib and
//!   @sigstore/verify as above (KILN_CHECK_BUNDLE names the bundle).
//!
//! Without the tools each test prints "SKIPPED: run scripts/interop-setup" and passes, unless
//! `KILN_REQUIRE_INTEROP=1` (scripts/test sets it), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{
    build, copy_example, copy_output, read_bundle, repo_root, text, write_evidence_folder,
};
use kiln_verifier::build_output::dsse::{decode_base64, encode_base64};

const NONCE: &str = "1e7e1e7e1e7e1e7e1e7e1e7e1e7e1e7e1e7e1e7e1e7e1e7e1e7e1e7e1e7e1e7e";

/// Another ECDSA P-256 public key (its private key is gone).
const OTHER_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbgNZwieGvXzjJNluqOzy/SCY8I92
fuydoDhiaiculmZRvKaMN4lqWkUfmBBMJsqte7rnC4kDhDXjRVPAk4YPOw==
-----END PUBLIC KEY-----
";

fn tools() -> PathBuf {
    repo_root().join(".tools")
}

fn checker(name: &str) -> PathBuf {
    repo_root().join("host/tests/interop").join(name)
}

/// Whether the pinned tools are installed; prints SKIPPED (or fails under
/// KILN_REQUIRE_INTEROP=1) when they are not.
fn tools_ready(what: &str) -> bool {
    let py_pins = std::fs::read_to_string(tools().join("py/.kiln-pins")).unwrap_or_default();
    let mut missing = Vec::new();
    for pin in ["securesystemslib==", "in-toto-attestation==", "protobuf=="] {
        if !py_pins.contains(pin) {
            missing.push(format!(".tools/py lacks {pin}"));
        }
    }
    let sbom_pins = std::fs::read_to_string(tools().join("py-sbom/.kiln-pins")).unwrap_or_default();
    for pin in ["spdx-tools==", "cyclonedx-python-lib[json-validation]=="] {
        if !sbom_pins.contains(pin) {
            missing.push(format!(".tools/py-sbom lacks {pin}"));
        }
    }
    if !tools()
        .join("npm/node_modules/@sigstore/verify/package.json")
        .is_file()
    {
        missing.push(".tools/npm lacks @sigstore/verify".into());
    }
    for bin in ["python3", "node"] {
        if Command::new(bin).arg("--version").output().is_err() {
            missing.push(format!("{bin} is not on PATH"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "SKIPPED {what}: run scripts/interop-setup ({})",
        missing.join("; ")
    );
    if std::env::var("KILN_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("KILN_REQUIRE_INTEROP=1 but the interop tools are missing: {msg}");
    }
    println!("{msg}");
    false
}

fn python(script: &str, out: &Path) -> Output {
    python_on(script, out, "provenance.sigstore.json")
}

/// A python checker on the bundle `bundle` of `out`, with .tools/py and .tools/py-sbom.
fn python_on(script: &str, out: &Path, bundle: &str) -> Output {
    let path = std::env::join_paths([tools().join("py"), tools().join("py-sbom")]).unwrap();
    Command::new("python3")
        .arg(checker(script))
        .arg(out)
        .env("PYTHONPATH", path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("KILN_CHECK_BUNDLE", bundle)
        .output()
        .unwrap()
}

fn node(out: &Path) -> Output {
    node_on(out, "provenance.sigstore.json")
}

fn node_on(out: &Path, bundle: &str) -> Output {
    Command::new("node")
        .arg(checker("check_bundle.mjs"))
        .arg(out)
        .arg(tools().join("npm"))
        .env("KILN_CHECK_BUNDLE", bundle)
        .output()
        .unwrap()
}

fn assert_accepts(o: &Output, who: &str) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{who} rejected a good output:\n{}",
        text(o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with(&format!("OK {who}")),
        "{}",
        text(o)
    );
}

fn assert_rejects(o: &Output, who: &str, why: &str) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{who} accepted a bad output:\n{}",
        text(o)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.starts_with(&format!("FAIL {who}")), "{}", text(o));
    assert!(stdout.contains(why), "expected {why:?} in {}", text(o));
}

struct Outputs {
    _root: tempfile::TempDir,
    good: PathBuf,
    /// One signature byte flipped.
    bad_signature: PathBuf,
    /// public-key.pem, the bundle hint and the signature's keyid all name another key.
    other_key: PathBuf,
    /// An unknown field in the SLSA predicate (payload re-encoded, not re-signed).
    unknown_field: PathBuf,
}

fn outputs() -> &'static Outputs {
    static O: OnceLock<Outputs> = OnceLock::new();
    O.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        let proj = root.path().join("c-hello");
        copy_example("c-hello", &proj);
        let good = root.path().join("good");
        build(&proj, &good, &root.path().join("state"), NONCE);

        let bad_signature = root.path().join("bad-signature");
        copy_output(&good, &bad_signature);
        common::tamper_signature(&bad_signature);

        let other_key = root.path().join("other-key");
        copy_output(&good, &other_key);
        std::fs::write(other_key.join("public-key.pem"), OTHER_KEY_PEM).unwrap();
        let body: String = OTHER_KEY_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let id = kiln_verifier::build_output::key_id(&decode_base64(&body).unwrap());
        let mut bundle = read_bundle(&other_key);
        bundle["verificationMaterial"]["publicKey"]["hint"] = id.clone().into();
        bundle["dsseEnvelope"]["signatures"][0]["keyid"] = id.into();
        write_evidence_folder(&other_key, &bundle);

        let unknown_field = root.path().join("unknown-field");
        copy_output(&good, &unknown_field);
        let mut bundle = read_bundle(&unknown_field);
        let payload = decode_base64(bundle["dsseEnvelope"]["payload"].as_str().unwrap()).unwrap();
        let mut statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        statement["predicate"]["runDetails"]["smuggled"] = "not in SLSA v1".into();
        bundle["dsseEnvelope"]["payload"] =
            encode_base64(&serde_json::to_vec(&statement).unwrap()).into();
        write_evidence_folder(&unknown_field, &bundle);

        Outputs {
            _root: root,
            good,
            bad_signature,
            other_key,
            unknown_field,
        }
    })
}

#[test]
fn securesystemslib_verifies_the_dsse_envelope_and_rejects_tampering() {
    if !tools_ready("securesystemslib") {
        return;
    }
    let o = outputs();
    assert_accepts(&python("check_dsse.py", &o.good), "securesystemslib");
    assert_rejects(
        &python("check_dsse.py", &o.bad_signature),
        "securesystemslib",
        "VerificationError",
    );
    assert_rejects(
        &python("check_dsse.py", &o.other_key),
        "securesystemslib",
        "VerificationError",
    );
}

#[test]
fn in_toto_attestation_parses_the_statement_and_provenance_strictly() {
    if !tools_ready("in-toto-attestation") {
        return;
    }
    let o = outputs();
    let ok = python("check_statement.py", &o.good);
    assert_accepts(&ok, "in-toto-attestation");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        stdout.contains("buildType https://kiln.dev/attested-build/v1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("builder https://kiln.dev/builders/sim@v1"),
        "{stdout}"
    );
    // Strict: a field SLSA v1 does not define is refused.
    assert_rejects(
        &python("check_statement.py", &o.unknown_field),
        "in-toto-attestation",
        "smuggled",
    );
}

#[test]
fn sigstore_verify_verifies_the_bundle_offline_and_rejects_tampering() {
    if !tools_ready("@sigstore/verify") {
        return;
    }
    let o = outputs();
    assert_accepts(&node(&o.good), "@sigstore/verify");
    assert_rejects(
        &node(&o.bad_signature),
        "@sigstore/verify",
        "signature verification failed",
    );
    assert_rejects(
        &node(&o.other_key),
        "@sigstore/verify",
        "signature verification failed",
    );
    // The payload is part of what is signed: the unknown-field copy is rejected too.
    assert_rejects(
        &node(&o.unknown_field),
        "@sigstore/verify",
        "signature verification failed",
    );
}

const SBOM_BUNDLES: [&str; 2] = ["sbom.spdx.sigstore.json", "sbom.cyclonedx.sigstore.json"];

/// Rewrites a JSON file of `out` with `change`.
fn edit_json(out: &Path, name: &str, change: impl FnOnce(&mut serde_json::Value)) {
    let path = out.join(name);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    change(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn the_sboms_pass_spdx_tools_and_cyclonedx_strict_and_their_bundles_verify() {
    if !tools_ready("SBOM validators") {
        return;
    }
    let o = outputs();
    let ok = python_on("check_sbom.py", &o.good, "");
    assert_accepts(&ok, "spdx-tools");
    for bundle in SBOM_BUNDLES {
        assert_accepts(
            &python_on("check_dsse.py", &o.good, bundle),
            "securesystemslib",
        );
        assert_accepts(&node_on(&o.good, bundle), "@sigstore/verify");
    }

    // Negative controls. A package without its SPDXID: spdx-tools refuses the document.
    let root = tempfile::tempdir().unwrap();
    let bad_spdx = root.path().join("bad-spdx");
    copy_output(&o.good, &bad_spdx);
    edit_json(&bad_spdx, "sbom.spdx.json", |v| {
        v["packages"][0].as_object_mut().unwrap().remove("SPDXID");
    });
    assert_rejects(&python_on("check_sbom.py", &bad_spdx, ""), "spdx-tools", "");
    // A field CycloneDX 1.6 does not define: the strict validator refuses it.
    let bad_cdx = root.path().join("bad-cdx");
    copy_output(&o.good, &bad_cdx);
    edit_json(&bad_cdx, "sbom.cyclonedx.json", |v| {
        v["components"][0]["smuggled"] = "not in CycloneDX 1.6".into();
    });
    assert_rejects(
        &python_on("check_sbom.py", &bad_cdx, ""),
        "cyclonedx-python-lib",
        "smuggled",
    );
    // A flipped signature byte in an SBOM bundle: both signature checkers refuse it.
    let bad_sig = root.path().join("bad-sig");
    copy_output(&o.good, &bad_sig);
    for bundle in SBOM_BUNDLES {
        edit_json(&bad_sig, bundle, |v| {
            let sig = v["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap();
            let mut raw = decode_base64(sig).unwrap();
            let last = raw.len() - 1;
            raw[last] ^= 1;
            v["dsseEnvelope"]["signatures"][0]["sig"] = encode_base64(&raw).into();
        });
        assert_rejects(
            &python_on("check_dsse.py", &bad_sig, bundle),
            "securesystemslib",
            "VerificationError",
        );
        assert_rejects(
            &node_on(&bad_sig, bundle),
            "@sigstore/verify",
            "signature verification failed",
        );
    }
}
