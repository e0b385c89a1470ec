//! Faults of the enclave: each gives a clear error and exit 1, writes no output, leaves no
//! process and no temporary folder behind. The enclave is `kiln-fake-enclave`, which
//! misbehaves as `KILN_FAKE_MODE` says.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Run {
    code: i32,
    stderr: String,
    out: PathBuf,
    tmp: PathBuf,
    project: PathBuf,
    pid: Option<u32>,
    _root: tempfile::TempDir,
}

fn project(root: &Path) -> PathBuf {
    let p = root.join("proj");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("kiln.toml"),
        "[build]\ncommand = \"true\"\noutputs = [\"x\"]\n",
    )
    .unwrap();
    std::fs::write(p.join("x.c"), "int main(void){return 0;}\n").unwrap();
    p
}

fn run_fake(mode: &str, extra: &[&str]) -> Run {
    let root = tempfile::tempdir().unwrap();
    let proj = project(root.path());
    let tmp = root.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = root.path().join("out");
    let pidfile = root.path().join("pid");
    let output = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("build")
        .arg(&proj)
        .arg("--out")
        .arg(&out)
        .arg("--state-dir")
        .arg(root.path().join("state"))
        .args(extra)
        .env("KILN_ENCLAVE", env!("CARGO_BIN_EXE_kiln-fake-enclave"))
        .env("KILN_FAKE_MODE", mode)
        .env("KILN_FAKE_PIDFILE", &pidfile)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    let pid = std::fs::read_to_string(&pidfile)
        .ok()
        .map(|s| s.trim().parse().unwrap());
    Run {
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        out,
        tmp,
        project: proj,
        pid,
        _root: root,
    }
}

/// Whether `pid` is a live (non-zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

fn assert_clean(r: &Run) {
    assert!(!r.out.exists(), "output written: {}", r.stderr);
    let parent = r.out.parent().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("kiln-tmp") || n.contains("kiln-old"))
        .collect();
    assert!(leftovers.is_empty(), "staging left: {leftovers:?}");
    let tmp_left: Vec<_> = std::fs::read_dir(&r.tmp).unwrap().collect();
    assert!(tmp_left.is_empty(), "temporary files left: {tmp_left:?}");
    assert!(!r.project.join("../escape").exists());
    if let Some(pid) = r.pid {
        // The enclave is killed and reaped before kiln exits; allow the kernel a moment.
        let deadline = Instant::now() + Duration::from_secs(3);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(pid), "enclave process {pid} still running");
    }
}

#[test]
fn enclave_that_never_connects() {
    let r = run_fake("no-connect", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("did not connect"), "{}", r.stderr);
    assert!(r.stderr.contains("exited with status 7"), "{}", r.stderr);
    assert!(r.stderr.contains("refusing to start"), "{}", r.stderr);
    assert_clean(&r);
}

#[test]
fn enclave_exits_after_hello() {
    let r = run_fake("exit-after-hello", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("exited with status 3"), "{}", r.stderr);
    assert!(r.stderr.contains("build session failed"), "{}", r.stderr);
    assert_clean(&r);
}

#[test]
fn malformed_frame() {
    let r = run_fake("garbage", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("malformed message"), "{}", r.stderr);
    assert_clean(&r);
}

#[test]
fn oversized_frame() {
    let r = run_fake("oversize", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("exceeds the limit"), "{}", r.stderr);
    assert_clean(&r);
}

#[test]
fn enclave_reports_an_error() {
    let r = run_fake("error", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the build failed in the enclave: the compiler exploded"),
        "{}",
        r.stderr
    );
    assert_clean(&r);
}

#[test]
fn enclave_killed_mid_build() {
    let r = run_fake("die-mid-build", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // The log line streamed before the death, and the death is named.
    assert!(r.stderr.contains("compiling part 1 of 2"), "{}", r.stderr);
    assert!(r.stderr.contains("killed by signal 6"), "{}", r.stderr);
    assert_clean(&r);
}

#[test]
fn whole_session_timeout() {
    let start = Instant::now();
    let r = run_fake("hang", &["--timeout", "2"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("did not finish within 2 s"),
        "{}",
        r.stderr
    );
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(r.pid.is_some());
    assert_clean(&r);
}

#[test]
fn artifact_path_escape_is_refused() {
    let r = run_fake("escape", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("not a plain relative path"),
        "{}",
        r.stderr
    );
    assert_clean(&r);
}

#[test]
fn failed_build_leaves_existing_output_untouched() {
    let root = tempfile::tempdir().unwrap();
    let proj = project(root.path());
    let out = root.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep"), "old").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["build", "--force", "--out"])
        .arg(&out)
        .arg(&proj)
        .arg("--state-dir")
        .arg(root.path().join("state"))
        .env("KILN_ENCLAVE", env!("CARGO_BIN_EXE_kiln-fake-enclave"))
        .env("KILN_FAKE_MODE", "error")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(out.join("keep")).unwrap(), "old");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}
