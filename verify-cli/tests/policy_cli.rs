//! `kiln-verify evidence --policy`: exit 0 when the policy accepts, 3 when it rejects, 2 when
//! it is malformed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../../verifier/tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use kiln_policy::Policy;
use kiln_verifier::{Claims, UnixTime};

fn real(id: &str) -> (Claims, UnixTime) {
    common::verified_claims(id)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-verify-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn kiln_verify_evidence_with_a_policy_exits_0_3_or_2() {
    let dir = scratch("cli");
    let vectors = common::vectors_dir();
    let (c, _) = real("snp-milan-v2-debug-go-sev-guest");
    let good = dir.join("good.toml");
    std::fs::write(&good, Policy::starter_from(&c, None)).unwrap();
    let production = dir.join("production.toml");
    std::fs::write(&production, "[sev-snp]\nallow_debug = false\n").unwrap();
    let malformed = dir.join("malformed.toml");
    std::fs::write(&malformed, "[sev-snp]\n\nallow_debug = 1\n").unwrap();
    let rules = dir.join("rules.rego");
    std::fs::write(&rules, "package kiln\n\ndefault allow := false\n").unwrap();
    let run = |policy: &PathBuf, extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kiln-verify"))
            .arg("evidence")
            .arg(vectors.join("snp/go-sev-guest/attestation.bin"))
            .arg("--vek")
            .arg(vectors.join("snp/go-sev-guest/vcek.der"))
            .args(["--at", "2025-09-01T00:00:00Z", "--policy"])
            .arg(policy)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&good, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ACCEPTED"));
    let out = run(&production, &["--json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"], "rejected");
    let out = run(&good, &["--rego", rules.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL  rego.allow"));
    let out = run(&malformed, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed.toml:3:"));
}
