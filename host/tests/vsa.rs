//! `kiln verify --vsa FILE --vsa-key KEY` and `kiln verify-vsa`: a verified sim build gets a
//! signed SLSA VSA v1 claiming no more than Build L1 (its evidence is simulated, and the VSA
//! says so); the VSA verifies with the verifier's key for the build's artifact and is refused
//! for other artifacts, with another key, or altered; a build that does not verify gets no
//! VSA. With the pinned tools, in-toto-attestation parses it strictly and securesystemslib
//! and @sigstore/verify verify its signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{build, copy_example, copy_output, kiln, repo_root, text};

const NONCE: &str = "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Made {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    state: PathBuf,
    out: PathBuf,
    vsa: PathBuf,
    artifact_sha256: String,
}

fn made() -> Made {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_path_buf();
    let state = dir.join("state");
    let proj = dir.join("c-hello");
    copy_example("c-hello", &proj);
    let out = dir.join("out");
    let summary = build(&proj, &out, &state, NONCE);
    let artifact_sha256 = summary["subjects"][0]["digest"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(kiln(
        &["image", "keygen", "--out", s(&dir.join("verifier.key"))],
        &state
    )
    .status
    .success());
    assert!(kiln(
        &["image", "keygen", "--out", s(&dir.join("other.key"))],
        &state
    )
    .status
    .success());
    let reference = common::sim_reference("sev-snp", &state);
    let vsa = dir.join("vsa.sigstore.json");
    let o = kiln(
        &[
            "verify",
            s(&out),
            "--allow-simulated",
            "--reference",
            s(&reference),
            "--vsa",
            s(&vsa),
            "--vsa-key",
            s(&dir.join("verifier.key")),
        ],
        &state,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("SIMULATED evidence: no build level above L1")
    );
    Made {
        _dir: d,
        dir,
        state,
        out,
        vsa,
        artifact_sha256,
    }
}

fn verify_vsa(m: &Made, file: &Path, key: &str, resource: Option<&str>) -> Output {
    let key = m.dir.join(key);
    let mut args = vec!["verify-vsa", s(file), "--key", s(&key)];
    if let Some(r) = resource {
        args.extend(["--expect-resource", r]);
    }
    kiln(&args, &m.state)
}

#[test]
fn a_verified_build_gets_a_vsa_that_verifies_for_its_artifact_only() {
    let m = made();
    let o = verify_vsa(&m, &m.vsa, "verifier.key.pub.pem", Some(&m.artifact_sha256));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        report.contains("SLSA_BUILD_LEVEL_1, KILN_SIMULATED_EVIDENCE"),
        "{report}"
    );
    assert!(report.contains("(SIMULATED evidence)"), "{report}");
    assert!(
        !report.contains("LEVEL_2") && !report.contains("LEVEL_3"),
        "{report}"
    );
    // The predicate: the policy (kiln's expectations), the input attestations' digests.
    let j = kiln(
        &[
            "verify-vsa",
            s(&m.vsa),
            "--key",
            s(&m.dir.join("verifier.key.pub.pem")),
            "--json",
        ],
        &m.state,
    );
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v["vsa"]["verificationResult"], "PASSED");
    assert_eq!(
        v["vsa"]["policy"]["uri"],
        "https://kiln.dev/verify/expectations/v1"
    );
    let inputs: Vec<&str> = v["vsa"]["inputAttestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["uri"].as_str().unwrap())
        .collect();
    assert_eq!(
        inputs,
        [
            "provenance.sigstore.json",
            "sbom.spdx.sigstore.json",
            "sbom.cyclonedx.sigstore.json"
        ]
    );
    let provenance = std::fs::read(m.out.join("provenance.sigstore.json")).unwrap();
    use sha2::Digest;
    assert_eq!(
        v["vsa"]["inputAttestations"][0]["digest"]["sha256"],
        hex::encode(sha2::Sha256::digest(provenance))
    );

    // Other artifacts, another key, an altered VSA: refused (exit 1), naming the broken link.
    let other = "ab".repeat(32);
    let o = verify_vsa(&m, &m.vsa, "verifier.key.pub.pem", Some(&other));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resource: the VSA is for other artifacts"));
    let o = verify_vsa(&m, &m.vsa, "other.key.pub.pem", None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("signature: signed by another key"));
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&m.vsa).unwrap()).unwrap();
    use kiln_verifier::build_output::dsse::{decode_base64, encode_base64};
    let payload = decode_base64(bundle["dsseEnvelope"]["payload"].as_str().unwrap()).unwrap();
    let altered = String::from_utf8(payload)
        .unwrap()
        .replace("SLSA_BUILD_LEVEL_1", "SLSA_BUILD_LEVEL_3");
    bundle["dsseEnvelope"]["payload"] = encode_base64(altered.as_bytes()).into();
    let forged = m.dir.join("forged.sigstore.json");
    std::fs::write(&forged, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let o = verify_vsa(&m, &forged, "verifier.key.pub.pem", None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not verify"));
}

#[test]
fn an_output_that_does_not_verify_gets_no_vsa() {
    let m = made();
    let broken = m.dir.join("broken");
    copy_output(&m.out, &broken);
    let art = broken.join("artifacts/hello");
    let mut bytes = std::fs::read(&art).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&art, bytes).unwrap();
    let vsa = m.dir.join("none.sigstore.json");
    let reference = common::sim_reference("sev-snp", &m.state);
    let o = kiln(
        &[
            "verify",
            s(&broken),
            "--allow-simulated",
            "--reference",
            s(&reference),
            "--vsa",
            s(&vsa),
            "--vsa-key",
            s(&m.dir.join("verifier.key")),
        ],
        &m.state,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!vsa.exists(), "no VSA for a broken output");
}

#[test]
fn the_vsa_passes_in_toto_attestation_securesystemslib_and_sigstore() {
    let tools = repo_root().join(".tools");
    let ready = std::fs::read_to_string(tools.join("py/.kiln-pins"))
        .unwrap_or_default()
        .contains("in-toto-attestation==")
        && tools
            .join("npm/node_modules/@sigstore/verify/package.json")
            .is_file();
    if !ready {
        assert_ne!(
            std::env::var("KILN_REQUIRE_INTEROP").as_deref(),
            Ok("1"),
            "KILN_REQUIRE_INTEROP=1 but the interop tools are missing"
        );
        println!("SKIPPED: run scripts/interop-setup");
        return;
    }
    let m = made();
    let checker = |name: &str| repo_root().join("host/tests/interop").join(name);
    let o = Command::new("python3")
        .arg(checker("check_vsa.py"))
        .arg(&m.vsa)
        .env("PYTHONPATH", tools.join("py"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("OK in-toto-attestation"),
        "{}",
        text(&o)
    );
    let o = Command::new("python3")
        .arg(checker("check_dsse.py"))
        .arg(&m.dir)
        .env("PYTHONPATH", tools.join("py"))
        .env("KILN_CHECK_BUNDLE", "vsa.sigstore.json")
        .env("KILN_CHECK_KEY", "verifier.key.pub.pem")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("OK securesystemslib"),
        "{}",
        text(&o)
    );
    let o = Command::new("node")
        .arg(checker("check_bundle.mjs"))
        .arg(&m.dir)
        .arg(tools.join("npm"))
        .env("KILN_CHECK_BUNDLE", "vsa.sigstore.json")
        .env("KILN_CHECK_KEY", "verifier.key.pub.pem")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("OK @sigstore/verify"),
        "{}",
        text(&o)
    );
}
