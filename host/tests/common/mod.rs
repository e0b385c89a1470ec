//! Helpers shared by the host's end-to-end tests (tamper.rs, e2e_rust.rs, interop.rs): run the
//! `kiln` binary with the real `kiln-enclave` next to it, copy example projects, build them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `kiln-enclave` binary next to `kiln`.
pub fn enclave() -> PathBuf {
    let kiln = PathBuf::from(env!("CARGO_BIN_EXE_kiln"));
    let path = kiln.parent().unwrap().join("kiln-enclave");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p kiln-enclave` first",
        path.display()
    );
    path
}

/// Runs `kiln ARGS` with the state folder `state` and the real enclave, in the test's own
/// environment (kiln resolves the Rust toolchain from it and clears the enclave's).
pub fn kiln(args: &[&str], state: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(args)
        .env("KILN_STATE_DIR", state)
        .env("KILN_ENCLAVE", enclave());
    cmd.output().unwrap()
}

/// `RUSTUP_HOME`, or `~/.rustup` when that exists.
pub fn rustup_home() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("RUSTUP_HOME") {
        return Some(PathBuf::from(v));
    }
    let home = PathBuf::from(std::env::var_os("HOME")?).join(".rustup");
    home.is_dir().then_some(home)
}

/// stdout + stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Copies a folder recursively (build products of the examples left out).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "kiln-out" || name == "hello" || name == "target" || name == "hello.o" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// Copies `examples/NAME` to `dest`.
pub fn copy_example(name: &str, dest: &Path) {
    copy_dir(&repo_root().join("examples").join(name), dest);
}

/// `kiln build PROJ --backend sim --out OUT --nonce NONCE --json`: asserts success and
/// returns the JSON summary.
pub fn build(proj: &Path, out: &Path, state: &Path, nonce: &str) -> serde_json::Value {
    serde_json::from_slice(&build_output(proj, out, state, nonce).stdout).unwrap()
}

/// [`build`]'s run itself (success asserted), for tests that also read what it printed.
pub fn build_output(proj: &Path, out: &Path, state: &Path, nonce: &str) -> Output {
    let o = kiln(
        &[
            "build",
            proj.to_str().unwrap(),
            "--backend",
            "sim",
            "--out",
            out.to_str().unwrap(),
            "--nonce",
            nonce,
            "--json",
        ],
        state,
    );
    assert_eq!(o.status.code(), Some(0), "kiln build failed:\n{}", text(&o));
    o
}

/// The reference of a `kiln build --backend sim --platform PLATFORM` launch, as `kiln image
/// measure --sim-process --json` predicts it, written under `state`.
pub fn sim_reference(platform: &str, state: &Path) -> PathBuf {
    let o = kiln(
        &["image", "measure", "--sim-process", "--platform", platform],
        state,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let path = state.join(format!("reference-sim-{platform}.json"));
    // Tests of one binary run in parallel on one state folder and read this file: write a
    // private temporary file and rename it over, so that no reader ever sees a partial file.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = state.join(format!(
        ".reference-sim-{platform}.{}.{n}.tmp",
        std::process::id()
    ));
    std::fs::write(&tmp, &o.stdout).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// `kiln verify OUT --allow-simulated EXTRA...`, against the predicted sim reference
/// (SEV-SNP) unless EXTRA names a measurement, a reference or a policy.
pub fn verify(out: &Path, extra: &[&str], state: &Path) -> Output {
    let mut args = vec!["verify", out.to_str().unwrap(), "--allow-simulated"];
    args.extend_from_slice(extra);
    let pinned = extra.iter().any(|a| {
        [
            "--expect-measurement",
            "--reference",
            "--policy",
            "--accept-any-measurement",
        ]
        .contains(a)
    });
    let reference = sim_reference("sev-snp", state);
    if !pinned {
        args.push("--reference");
        args.push(reference.to_str().unwrap());
    }
    kiln(&args, state)
}

/// Asserts `kiln verify` rejected the output (exit 1) naming `link` as the broken one
/// (`BROKEN <link>:`), and that the reason contains `why`. Returns the report.
pub fn assert_broken(o: &Output, link: &str, why: &str) -> String {
    let report = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected a rejection:\n{}",
        text(o)
    );
    let line = report
        .lines()
        .find(|l| l.starts_with("BROKEN "))
        .unwrap_or_else(|| panic!("no BROKEN line:\n{}", text(o)));
    assert!(
        line.starts_with(&format!("BROKEN {link}: ")),
        "expected BROKEN {link}, got {line:?}"
    );
    assert!(
        line.contains(why),
        "the reason should mention {why:?}: {line:?}"
    );
    report
}

/// Copies a build output folder (to tamper with the copy).
pub fn copy_output(from: &Path, to: &Path) {
    copy_dir_all(from, to);
}

fn copy_dir_all(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir_all(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Reads the bundle of an output folder as JSON.
pub fn read_bundle(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("provenance.sigstore.json")).unwrap()).unwrap()
}

/// The in-toto statement signed in an output folder's bundle, as JSON.
pub fn read_statement(out: &Path) -> serde_json::Value {
    let bundle = read_bundle(out);
    let payload = kiln_verifier::build_output::dsse::decode_base64(
        bundle["dsseEnvelope"]["payload"].as_str().unwrap(),
    )
    .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// Writes the bundle of an output folder.
pub fn write_evidence_folder(out: &Path, bundle: &serde_json::Value) {
    std::fs::write(
        out.join("provenance.sigstore.json"),
        serde_json::to_vec_pretty(bundle).unwrap(),
    )
    .unwrap();
}

/// Flips the last byte of the DSSE signature (DER stays well-formed: the last byte is part of
/// the `s` integer).
pub fn tamper_signature(out: &Path) {
    use kiln_verifier::build_output::dsse::{decode_base64, encode_base64};
    let mut bundle = read_bundle(out);
    let sig = bundle["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .unwrap();
    let mut sig = decode_base64(sig).unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = encode_base64(&sig).into();
    write_evidence_folder(out, &bundle);
}
