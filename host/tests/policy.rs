//! `kiln policy init` and `kiln verify OUT --policy/--rego` on a real simulated build: the
//! starter policy accepts the build it came from; a changed value, a Rego rule, or a broken
//! rule file decide the exit code (0 accepted, 3 rejected by policy, 2 unusable policy).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{build, copy_example, kiln, text};

struct Built {
    _dir: tempfile::TempDir,
    out: PathBuf,
    state: PathBuf,
    policy: String,
}

fn built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join("c-hello");
        copy_example("c-hello", &proj);
        let out = dir.path().join("out");
        let state = dir.path().join("state");
        build(&proj, &out, &state, &"ab".repeat(32));
        let o = kiln(
            &["policy", "init", out.to_str().unwrap(), "--allow-simulated"],
            &state,
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let policy = String::from_utf8(o.stdout).unwrap();
        Built {
            out,
            state,
            policy,
            _dir: dir,
        }
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn verify_with(policy: &str, rego: Option<&str>) -> std::process::Output {
    let b = built();
    let dir = tempfile::tempdir().unwrap();
    let pol = write(dir.path(), "policy.toml", policy);
    let mut args = vec![
        "verify".to_owned(),
        b.out.to_str().unwrap().to_owned(),
        "--allow-simulated".to_owned(),
        "--policy".to_owned(),
        pol.to_str().unwrap().to_owned(),
    ];
    if let Some(r) = rego {
        let path = write(dir.path(), "rules.rego", r);
        args.push("--rego".into());
        args.push(path.to_str().unwrap().to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kiln(&args, &b.state)
}

#[test]
fn the_starter_policy_accepts_its_build() {
    let b = built();
    assert!(b.policy.contains("allow_simulated = true"), "{}", b.policy);
    assert!(b
        .policy
        .contains("builder_id = \"https://kiln.dev/builders/sim@v1\""));
    let o = verify_with(&b.policy, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("ACCEPTED"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_changed_reference_value_rejects_with_exit_3_naming_the_check() {
    let b = built();
    let changed = b.policy.replace(
        "https://kiln.dev/builders/sim@v1",
        "https://kiln.dev/builders/other@v1",
    );
    assert_ne!(changed, b.policy);
    let o = verify_with(&changed, None);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("REJECTED"), "{out}");
    assert!(out.contains("builder_id"), "{out}");
    assert!(
        out.contains("https://kiln.dev/builders/other@v1"),
        "expected value shown: {out}"
    );

    // Simulated evidence is refused by a policy that does not allow it, even though the
    // command line does.
    let strict = b
        .policy
        .replace("allow_simulated = true", "allow_simulated = false");
    let o = verify_with(&strict, None);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[test]
fn rego_rules_decide_and_explain() {
    let b = built();
    let allow_sim_builder = r#"package kiln
import rego.v1
default allow := false
allow if input.build.builder_id in {"https://kiln.dev/builders/sim@v1"}
deny contains msg if {
    input.tcb.status == "OutOfDate"
    msg := "out-of-date TCB"
}
"#;
    let o = verify_with(&b.policy, Some(allow_sim_builder));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let other_builder = allow_sim_builder.replace("sim@v1", "release@v1");
    let o = verify_with(&b.policy, Some(&other_builder));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let o = verify_with(
        &b.policy,
        Some("package kiln\nimport rego.v1\nallow if {\n"),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("rules.rego:"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_malformed_policy_is_a_usage_error_naming_the_line() {
    let b = built();
    let o = verify_with(&format!("{}\nunknown_key = 1\n", b.policy), None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown_key"),
        "{}",
        text(&o)
    );
}

#[test]
fn json_carries_the_policy_report() {
    let b = built();
    let dir = tempfile::tempdir().unwrap();
    let pol = write(dir.path(), "p.toml", &b.policy);
    let o = kiln(
        &[
            "verify",
            b.out.to_str().unwrap(),
            "--allow-simulated",
            "--policy",
            pol.to_str().unwrap(),
            "--json",
        ],
        &b.state,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["policy"]["verdict"], "accepted", "{json}");
    assert!(json["policy"]["checks"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
}

/// A policy counts as the measurement reference only when it pins the platform's
/// measurement: the starter policy (which does) is accepted with the report saying so; the
/// same policy without its measurement is refused for want of a reference.
#[test]
fn a_policy_is_a_reference_only_when_it_pins_the_measurement() {
    let b = built();
    let o = verify_with(&b.policy, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("measurement: pinned by the policy"),
        "{}",
        text(&o)
    );
    let unpinned: String = b
        .policy
        .lines()
        .filter(|l| !l.starts_with("measurement = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(unpinned, b.policy);
    let o = verify_with(&unpinned, None);
    common::assert_broken(&o, "expectation", "no measurement reference");
}
