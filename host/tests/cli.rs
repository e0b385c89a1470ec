//! Usage errors of the `kiln` CLI: exit code 2 and a message naming the problem.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::{Command, Output};

fn kiln(args: &[&str], state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env("KILN_STATE_DIR", state)
        .env("KILN_ENCLAVE", env!("CARGO_BIN_EXE_kiln-fake-enclave"))
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn project(root: &Path) -> String {
    std::fs::write(
        root.join("kiln.toml"),
        "[build]\ncommand = \"true\"\noutputs = [\"x\"]\n",
    )
    .unwrap();
    root.to_str().unwrap().to_owned()
}

#[test]
fn help_documents_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    for args in [&["--help"][..], &["build", "--help"], &["verify", "--help"]] {
        let o = kiln(args, d.path());
        assert_eq!(o.status.code(), Some(0));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("Exit codes"), "{text}");
        assert!(text.contains("2  usage or I/O error"), "{text}");
    }
}

#[test]
fn bad_flags_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path());
    let cases: &[(&[&str], &str)] = &[
        (&["build", &p, "--platform", "sgx"], "--platform \"sgx\""),
        (
            &["build", &p, "--backend", "docker"],
            "--backend \"docker\"",
        ),
        (
            &["build", &p, "--nonce", "xyz"],
            "--nonce \"xyz\" is not hex",
        ),
        (&["build", &p, "--builder-id", "not a uri"], "is not a URI"),
        (&["build", &p, "--timeout", "0"], "--timeout"),
        (&["build", "/nonexistent/project"], "is not a folder"),
        (&["build", &p, "--no-such-flag"], "--no-such-flag"),
        (&["verify", "/nonexistent/out"], "is not a folder"),
        (&["verify", &p, "--expect-measurement", "abcd"], "48 bytes"),
        (&["verify", &p, "--expect-source", "zz"], "not hex"),
        (
            &["verify", &p, "--expect-commit", "abcd"],
            "full git commit",
        ),
        (&["verify", &p, "--at", "yesterday"], "--at"),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let o = kiln(args, d.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn unavailable_backends_say_what_is_missing() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path());
    // `qemu` works here (host/tests/qemu.rs); the hardware backends need their hardware.
    for (backend, needle) in [("snp", "SEV-SNP"), ("tdx", "TDX"), ("nitro", "Nitro")] {
        let o = kiln(&["build", &p, "--backend", backend], d.path());
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains(&format!("backend \"{backend}\" is not available")),
            "{e}"
        );
        assert!(e.contains(needle), "{e}");
        assert!(e.contains("--backend sim"), "{e}");
    }
}

#[test]
fn missing_enclave_says_how_to_build_it() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path());
    let o = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["build", &p])
        .env("KILN_STATE_DIR", d.path())
        .env("KILN_ENCLAVE", d.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cargo build -p kiln-enclave"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn simulator_is_announced_and_recipe_errors_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let o = kiln(&["build", d.path().to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("SIMULATED TEE: this build is NOT attested by hardware"),
        "{e}"
    );
    assert!(e.contains("kiln.toml: no build recipe"), "{e}");

    std::fs::write(d.path().join("kiln.toml"), "[build]\ncommand = 1\n").unwrap();
    let o = kiln(&["build", d.path().to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("kiln.toml:2:"), "{}", stderr(&o));
}

#[test]
fn non_empty_output_is_refused_without_force() {
    let d = tempfile::tempdir().unwrap();
    let p = project(d.path());
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("precious"), "x").unwrap();
    let o = kiln(&["build", &p, "--out", out.to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("pass --force"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("precious")).unwrap(), "x");
}

#[test]
fn verify_of_a_folder_that_is_not_an_output() {
    let d = tempfile::tempdir().unwrap();
    let o = kiln(&["verify", d.path().to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("provenance.sigstore.json"),
        "{}",
        stderr(&o)
    );
}
