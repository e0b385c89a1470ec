//! `kiln-verify evidence` on every manifest case: exit codes, human and JSON output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../../verifier/tests/common/mod.rs"]
mod common;

use std::process::Command;

fn kiln_verify() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kiln-verify"))
}

fn case_command(case: &common::Case, json: bool) -> Command {
    let dir = common::vectors_dir();
    let mut cmd = kiln_verify();
    cmd.arg("evidence").arg(dir.join(&case.evidence));
    cmd.args(["--platform", &case.platform, "--at", &case.at]);
    if let Some(v) = &case.vek {
        cmd.arg("--vek").arg(dir.join(v));
    }
    if let Some(c) = &case.chain {
        cmd.arg("--chain").arg(dir.join(c));
    }
    if let Some(c) = &case.collateral {
        cmd.arg("--collateral").arg(dir.join(c));
    }
    if json {
        cmd.arg("--json");
    }
    cmd
}

#[test]
fn every_case_exits_with_its_verdict() {
    for case in common::cases() {
        let out = case_command(&case, false).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if case.expect == "verified" {
            assert_eq!(out.status.code(), Some(0), "{}: {stderr}", case.id);
            assert!(stdout.starts_with("VERIFIED "), "{}: {stdout}", case.id);
            assert!(stdout.contains(&case.at), "{}: the time is shown", case.id);
        } else {
            assert_eq!(out.status.code(), Some(1), "{}: {stdout}", case.id);
            assert!(stderr.starts_with("REJECTED: "), "{}: {stderr}", case.id);
        }
    }
}

#[test]
fn json_output_carries_claims_or_the_error_kind() {
    for case in common::cases() {
        let out = case_command(&case, true).output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e})", case.id));
        if case.expect == "verified" {
            assert_eq!(json["platform"], case.platform.as_str(), "{}", case.id);
            assert_eq!(json["verified_at"], case.at.as_str());
            assert!(json["measurements"]
                .as_object()
                .is_some_and(|m| !m.is_empty()));
        } else {
            assert_eq!(json["verified"], false, "{}", case.id);
            assert!(json["kind"].is_string() && json["error"].is_string());
        }
    }
}

#[test]
fn platform_is_auto_detected_and_base64_text_is_accepted() {
    for case in common::cases().iter().filter(|c| c.expect == "verified") {
        let mut cmd = case_command(case, false);
        let dir = common::vectors_dir();
        let mut auto = kiln_verify();
        auto.arg("evidence")
            .arg(dir.join(&case.evidence))
            .args(["--at", &case.at]);
        for (flag, value) in [
            ("--vek", &case.vek),
            ("--chain", &case.chain),
            ("--collateral", &case.collateral),
        ] {
            if let Some(v) = value {
                auto.arg(flag).arg(dir.join(v));
            }
        }
        let a = auto.output().unwrap();
        let b = cmd.output().unwrap();
        assert_eq!(
            a.status.code(),
            Some(0),
            "{}: {}",
            case.id,
            String::from_utf8_lossy(&a.stderr)
        );
        assert_eq!(a.stdout, b.stdout, "{}", case.id);
    }
}

#[test]
fn usage_and_io_errors_exit_2() {
    let out = kiln_verify()
        .args(["evidence", "/nonexistent/evidence.bin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read evidence"));

    let out = kiln_verify()
        .args(["evidence", "x", "--at", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));

    let out = kiln_verify()
        .args(["evidence", "x", "--platform", "sgx"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = kiln_verify().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes"));
}

#[test]
fn garbage_is_rejected_not_a_crash() {
    let dir = std::env::temp_dir().join(format!("kiln-cli-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("garbage.bin");
    std::fs::write(&file, b"definitely not evidence").unwrap();
    let out = kiln_verify().arg("evidence").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot tell which platform"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn roots_are_listed_with_their_digests() {
    let out = kiln_verify().args(["roots", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let roots: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digests: Vec<&str> = roots
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sha256"].as_str().unwrap())
        .collect();
    assert!(digests.contains(&"641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"));
    assert!(digests.contains(&"69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"));
}

#[test]
fn simulate_writes_evidence_that_verifies_only_with_the_simulated_root() {
    let dir = std::env::temp_dir().join(format!("kiln-cli-sim-{}", std::process::id()));
    for platform in ["sev-snp", "tdx", "nitro"] {
        let out = dir.join(platform);
        let status = kiln_verify()
            .args([
                "simulate",
                "--platform",
                platform,
                "--report-data",
                "c0ffee",
            ])
            .args([
                "--seed",
                &"42".repeat(32),
                "--at",
                "2026-01-01T00:00:00Z",
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(
            status.status.code(),
            Some(0),
            "{platform}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        assert!(String::from_utf8_lossy(&status.stdout).starts_with("SIMULATED"));
        let mut verify = kiln_verify();
        verify
            .arg("evidence")
            .arg(out.join("evidence.bin"))
            .args(["--at", "2026-01-01T00:01:00Z"]);
        if platform == "sev-snp" {
            verify
                .arg("--vek")
                .arg(out.join("vek.der"))
                .arg("--chain")
                .arg(out.join("chain.pem"));
        }
        if platform == "tdx" {
            verify.arg("--collateral").arg(out.join("collateral.json"));
        }
        // Without the opt-in: rejected, and the error says it is simulated.
        let rejected = verify.output().unwrap();
        assert_eq!(rejected.status.code(), Some(1), "{platform}");
        assert!(
            String::from_utf8_lossy(&rejected.stderr).contains("SIMULATED"),
            "{platform}"
        );
        // With the simulated root named: verified, and the first line says SIMULATED.
        let accepted = verify
            .arg("--allow-simulated")
            .arg(out.join("root.der"))
            .output()
            .unwrap();
        assert_eq!(
            accepted.status.code(),
            Some(0),
            "{platform}: {}",
            String::from_utf8_lossy(&accepted.stderr)
        );
        let first = String::from_utf8_lossy(&accepted.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        assert!(first.starts_with("SIMULATED"), "{platform}: {first}");
        assert!(
            String::from_utf8_lossy(&accepted.stdout).contains("c0ffee"),
            "{platform}"
        );
    }
    // A real root cannot be passed off as the simulated one.
    let real = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../verifier/roots/aws_nitro_root_g1.der"
    );
    let out = kiln_verify()
        .arg("evidence")
        .arg(dir.join("nitro/evidence.bin"))
        .args(["--allow-simulated", real])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a simulated root"));
    std::fs::remove_dir_all(&dir).unwrap();
}
