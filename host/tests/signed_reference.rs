//! Signed image reference values: `kiln image keygen`, `kiln image sign` over the reference of a
//! sim launch, then `kiln verify --reference SIGNED --reference-key KEY.pub.pem` and a policy's
//! `measurement_from` + `measurement_key` accept the build only when the producer's signature
//! verifies. Another key, a changed byte, a signed file without a key and a key for an
//! unsigned file are each refused, naming why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use common::{build, copy_example, kiln, text};

const NONCE: &str = "5151515151515151515151515151515151515151515151515151515151515151";

struct Setup {
    _dir: tempfile::TempDir,
    state: PathBuf,
    out: PathBuf,
    reference: PathBuf,
    signed: PathBuf,
    key: PathBuf,
    other_key: PathBuf,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let proj = dir.path().join("c-hello");
    copy_example("c-hello", &proj);
    let out = dir.path().join("out");
    build(&proj, &out, &state, NONCE);
    let reference = common::sim_reference("sev-snp", &state);
    let key = dir.path().join("producer.key");
    let k = kiln(&["image", "keygen", "--out", s(&key)], &state);
    assert_eq!(k.status.code(), Some(0), "{}", text(&k));
    let other = dir.path().join("other.key");
    assert!(kiln(&["image", "keygen", "--out", s(&other)], &state)
        .status
        .success());
    // Private key readable by its owner alone; keygen never replaces a key.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        kiln(&["image", "keygen", "--out", s(&key)], &state)
            .status
            .code(),
        Some(2)
    );
    let signed = dir.path().join("reference.sigstore.json");
    let g = kiln(
        &[
            "image",
            "sign",
            s(&reference),
            "--key",
            s(&key),
            "--out",
            s(&signed),
        ],
        &state,
    );
    assert_eq!(g.status.code(), Some(0), "{}", text(&g));
    Setup {
        state,
        out,
        reference,
        signed,
        key: PathBuf::from(format!("{}.pub.pem", key.display())),
        other_key: PathBuf::from(format!("{}.pub.pem", other.display())),
        _dir: dir,
    }
}

fn verify(st: &Setup, reference: &Path, key: Option<&Path>) -> std::process::Output {
    let mut args = vec![
        "verify",
        s(&st.out),
        "--allow-simulated",
        "--reference",
        s(reference),
    ];
    if let Some(k) = key {
        args.extend(["--reference-key", s(k)]);
    }
    kiln(&args, &st.state)
}

fn refused(o: &std::process::Output, why: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(why), "expected {why:?} in {err}");
}

#[test]
fn a_signed_reference_is_accepted_only_with_its_producers_key() {
    let st = setup();
    let o = verify(&st, &st.signed, Some(&st.key));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(report.contains("pinned: measurement"), "{report}");

    // Another producer's key.
    refused(
        &verify(&st, &st.signed, Some(&st.other_key)),
        "signed by another key",
    );
    // A signed reference without a key, and a key for an unsigned reference.
    refused(
        &verify(&st, &st.signed, None),
        "is signed: give the producer's public key",
    );
    refused(
        &verify(&st, &st.reference, Some(&st.key)),
        "is not a signed reference",
    );
    // One byte of the signed statement changed (a measurement digit): refused.
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&st.signed).unwrap()).unwrap();
    use kiln_verifier::build_output::dsse::{decode_base64, encode_base64};
    let payload = decode_base64(bundle["dsseEnvelope"]["payload"].as_str().unwrap()).unwrap();
    let text_payload = String::from_utf8(payload).unwrap();
    let at = text_payload.find("\"measurement\":\"").unwrap() + "\"measurement\":\"".len();
    let mut bytes = text_payload.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    bundle["dsseEnvelope"]["payload"] = encode_base64(&bytes).into();
    let tampered = st.signed.with_file_name("tampered.sigstore.json");
    std::fs::write(&tampered, serde_json::to_vec(&bundle).unwrap()).unwrap();
    refused(
        &verify(&st, &tampered, Some(&st.key)),
        "does not verify with the producer key",
    );
}

#[test]
fn a_policy_takes_a_signed_reference_with_its_key_and_refuses_another() {
    let st = setup();
    let write_policy = |name: &str, from: &Path, key: Option<&Path>| {
        let mut text = format!(
            "[build]\nallow_simulated = true\n[sev-snp]\nmeasurement_from = {:?}\n",
            s(from)
        );
        if let Some(k) = key {
            text.push_str(&format!("measurement_key = {:?}\n", s(k)));
        }
        let path = st.state.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let run = |policy: &Path| {
        kiln(
            &[
                "verify",
                s(&st.out),
                "--allow-simulated",
                "--policy",
                s(policy),
            ],
            &st.state,
        )
    };
    let good = write_policy("good.toml", &st.signed, Some(&st.key));
    let o = run(&good);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    refused(
        &run(&write_policy("other.toml", &st.signed, Some(&st.other_key))),
        "signed by another key",
    );
    refused(
        &run(&write_policy("nokey.toml", &st.signed, None)),
        "measurement_key",
    );
    refused(
        &run(&write_policy("unsigned.toml", &st.reference, Some(&st.key))),
        "is not signed",
    );
}
