//! The simulator's own namespaces (enclave/src/simns.rs): a build that fills its disk fills a
//! size-limited tmpfs, not the host's disk; and an unprivileged simulator runs the build as one
//! of the caller's subordinate ids, neither the caller's uid nor the enclave's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{read_statement, text, verify};

/// The system user `scripts/install-deps` makes (as root) for the unprivileged test.
const SUBID_USER: &str = "kiln-subid";

fn project(dir: &Path, script: &str) -> PathBuf {
    let proj = dir.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(proj.join("build.sh"), script).unwrap();
    std::fs::write(
        proj.join("kiln.toml"),
        "[build]\ncommand = \"sh build.sh\"\noutputs = [\"out.txt\"]\nenv = [\"PATH\"]\n",
    )
    .unwrap();
    proj
}

fn kiln_build(proj: &Path, out: &Path, state: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    let backend = if extra.contains(&"--backend") {
        &[][..]
    } else {
        &["--backend", "sim"][..]
    };
    cmd.arg("build")
        .arg(proj)
        .args(backend)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("KILN_STATE_DIR", state)
        .env("KILN_ENCLAVE", common::enclave());
    cmd
}

fn sandbox_facts(out: &Path) -> serde_json::Value {
    read_statement(out)["predicate"]["buildDefinition"]["internalParameters"]["sandbox"].clone()
}

#[test]
fn a_build_that_fills_its_disk_fails_inside_its_work_folder_s_limit() {
    let dir = tempfile::tempdir().unwrap();
    // 24 files of 1 MiB into a 16 MiB work folder: the writes fail with ENOSPC, and so does
    // the build; each file stays under the file-size limit, so only the folder's limit holds.
    let proj = project(
        dir.path(),
        "i=0; while [ $i -lt 24 ]; do head -c 1048576 /dev/zero > f$i || exit 7; i=$((i+1)); done; echo filled > out.txt\n",
    );
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    let o = kiln_build(&proj, &out, &state, &["--work-size", "16"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("No space left on device"), "{}", text(&o));
    assert!(text(&o).contains("exit code 7"), "{}", text(&o));
    assert!(!out.exists(), "no partial output");
    // The same project fits the default limit, which the signed provenance records.
    let o = kiln_build(&proj, &out, &state, &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let facts = sandbox_facts(&out);
    assert!(
        facts["limits"]["workFolderBytes"].as_u64().unwrap() > 16 << 20,
        "{facts}"
    );
    // A non-default size is part of what the launch measured.
    let v = verify(&out, &[], &state);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
}

#[test]
fn work_size_is_for_the_sim_backend_and_has_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let proj = project(dir.path(), "echo x > out.txt\n");
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    for (extra, says) in [
        (&["--work-size", "0"][..], "not between 1 MiB"),
        (
            &["--work-size", "64", "--backend", "qemu"][..],
            "needs --backend sim",
        ),
    ] {
        let o = kiln_build(&proj, &out, &state, extra).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(says), "{}", text(&o));
    }
}

/// The uid and gid of `name`, and its first subordinate uid, where the user exists.
fn subid_user(name: &str) -> Option<(u32, u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))?;
    let f: Vec<&str> = line.split(':').collect();
    let sub = std::fs::read_to_string("/etc/subuid").ok()?;
    let start = sub
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))?
        .split(':')
        .nth(1)?
        .parse()
        .ok()?;
    Some((f[2].parse().ok()?, f[3].parse().ok()?, start))
}

/// The host uid of the process whose command line contains `marker`, once one runs.
fn uid_of_process_with(marker: &str, deadline: Instant) -> Option<u32> {
    while Instant::now() < deadline {
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(marker) {
                let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
                if let Some(uid) = status
                    .lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|l| l.split_whitespace().next()?.parse().ok())
                {
                    return Some(uid);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// An unprivileged `kiln build` (as the system user kiln-subid, through setpriv): the build's
/// processes run as the user's first subordinate uid, which the signed provenance names, and
/// the output verifies.
#[test]
fn an_unprivileged_simulator_builds_as_one_of_the_caller_s_subordinate_ids() {
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    let Some((uid, gid, first_sub)) = subid_user(SUBID_USER).filter(|_| root) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs this test as root with the user {SUBID_USER} (scripts/install-deps)"
        );
        eprintln!("SKIPPED: needs root and the user {SUBID_USER} (scripts/install-deps)");
        return;
    };
    let dir = tempfile::Builder::new().tempdir().unwrap();
    let marker = format!("kiln-subid-marker-{}", std::process::id());
    let proj = project(
        dir.path(),
        &format!("echo inner $(id -u) > out.txt; sh -c 'sleep 2; : {marker}'\n"),
    );
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    for p in [
        dir.path(),
        &proj,
        &proj.join("build.sh"),
        &proj.join("kiln.toml"),
    ] {
        std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
    }
    let inner = kiln_build(&proj, &out, &state, &[]);
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid",
        SUBID_USER,
        "--regid",
        SUBID_USER,
        "--init-groups",
        "--",
    ])
    .arg(inner.get_program())
    .args(inner.get_args())
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .env("HOME", dir.path())
    .env("KILN_STATE_DIR", &state)
    .env("KILN_ENCLAVE", common::enclave())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let seen = uid_of_process_with(&marker, Instant::now() + Duration::from_secs(60));
    let o: Output = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(seen, Some(first_sub), "the build's host uid");
    assert_ne!(seen, Some(uid));
    let report = std::fs::read_to_string(out.join("artifacts/out.txt")).unwrap();
    assert_eq!(report, "inner 1000\n");
    let facts = sandbox_facts(&out);
    assert_eq!(facts["complete"], true, "{facts}");
    let uid_fact = facts["uid"].as_str().unwrap();
    assert!(
        uid_fact.contains(&format!("host ids {first_sub}:")),
        "{uid_fact}"
    );
    assert!(facts["limits"]["processes"].as_u64().is_some(), "{facts}");
    let v = verify(&out, &[], &state);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
}
