//! The whole fetch path against simulated evidence: a TDX build on the sim backend, then
//! `kiln collateral serve-sim` (the state folder's simulated chip answering as Intel's PCS and
//! AMD's KDS) and `kiln collateral fetch` through it. The fetched collateral verifies the
//! build's quote — only with the simulated root pinned — and gives a TCB status, not
//! "unknown"; the same for an SEV-SNP build's VCEK and chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{copy_example, kiln};
use kiln_verifier::claims::TcbStatus;
use kiln_verifier::{Evidence, Platform, TrustAnchors, UnixTime, Verifier};

/// The simulated services, killed when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_sim(state: &Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "collateral",
            "serve-sim",
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = lines.next().unwrap().unwrap();
    let banner = lines.next().unwrap().unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(banner.contains("SIMULATED"), "{banner}");
    Served { child, base }
}

fn sim_build(platform: &str, dir: &Path) -> std::path::PathBuf {
    let proj = dir.join("proj");
    copy_example("c-hello", &proj);
    let out = dir.join(format!("out-{platform}"));
    let o = kiln(
        &[
            "build",
            proj.to_str().unwrap(),
            "--backend",
            "sim",
            "--platform",
            platform,
            "--out",
            out.to_str().unwrap(),
        ],
        &dir.join("state"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn now() -> UnixTime {
    UnixTime::from_system_time(std::time::SystemTime::now()).unwrap()
}

#[test]
fn a_simulated_tdx_build_verifies_with_collateral_fetched_from_the_simulated_pcs() {
    let d = tempfile::tempdir().unwrap();
    let out = sim_build("tdx", d.path());
    let state = d.path().join("state");
    let served = serve_sim(&state);
    let quote = out.join("evidence/evidence.bin");
    let fetched = d.path().join("fetched");
    let f = kiln(
        &[
            "collateral",
            "fetch",
            quote.to_str().unwrap(),
            "--out",
            fetched.to_str().unwrap(),
            "--pcs-url",
            &served.base,
            "--cache",
            d.path().join("cache").to_str().unwrap(),
            "--json",
        ],
        &state,
    );
    assert!(f.status.success(), "{}", String::from_utf8_lossy(&f.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    assert_eq!(summary["platform"], "tdx");
    assert_eq!(summary["requests"].as_array().unwrap().len(), 4);

    let quote = std::fs::read(&quote).unwrap();
    let collateral = std::fs::read(fetched.join("collateral.json")).unwrap();
    let root = std::fs::read(out.join("evidence/simulated-root.der")).unwrap();
    let evidence = Evidence {
        platform: Some(Platform::Tdx),
        bytes: &quote,
        vek: None,
        chain: None,
        collateral: Some(&collateral),
        crl: None,
    };
    // Refused against the vendors' roots alone: it is simulated.
    assert!(Verifier::new(TrustAnchors::vendor())
        .verify(&evidence, now())
        .is_err());
    let mut anchors = TrustAnchors::empty();
    anchors
        .allow_simulated(Platform::Tdx, "kiln SIMULATED Intel SGX Root CA", &root)
        .unwrap();
    let verified = Verifier::new(anchors).verify(&evidence, now()).unwrap();
    let claims = verified.claims();
    assert!(claims.simulated);
    assert_eq!(claims.tcb.status, TcbStatus::UpToDate);
}

#[test]
fn a_simulated_snp_build_verifies_with_the_vcek_fetched_from_the_simulated_kds() {
    let d = tempfile::tempdir().unwrap();
    let out = sim_build("sev-snp", d.path());
    let state = d.path().join("state");
    let served = serve_sim(&state);
    let report = out.join("evidence/evidence.bin");
    let fetched = d.path().join("fetched");
    let f = kiln(
        &[
            "collateral",
            "fetch",
            report.to_str().unwrap(),
            "--out",
            fetched.to_str().unwrap(),
            "--kds-url",
            &served.base,
            "--cache",
            d.path().join("cache").to_str().unwrap(),
        ],
        &state,
    );
    assert!(f.status.success(), "{}", String::from_utf8_lossy(&f.stderr));
    let report = std::fs::read(&report).unwrap();
    let (vek, chain, crl) = (
        std::fs::read(fetched.join("vek.der")).unwrap(),
        std::fs::read(fetched.join("chain.pem")).unwrap(),
        std::fs::read(fetched.join("crl.der")).unwrap(),
    );
    let root = std::fs::read(out.join("evidence/simulated-root.der")).unwrap();
    let mut anchors = TrustAnchors::empty();
    anchors
        .allow_simulated(Platform::SevSnp, "kiln SIMULATED ARK", &root)
        .unwrap();
    let verified = Verifier::new(anchors)
        .verify(
            &Evidence {
                platform: Some(Platform::SevSnp),
                bytes: &report,
                vek: Some(&vek),
                chain: Some(&chain),
                collateral: None,
                crl: Some(&crl),
            },
            now(),
        )
        .unwrap();
    assert!(verified.claims().simulated);
    // The simulated KDS's CRL is the simulated ARK's, and it was checked.
    match &verified.claims().details {
        kiln_verifier::PlatformDetails::SevSnp(d) => {
            assert_eq!(d.crls.len(), 1);
            assert!(d.crls[0].from_root && d.crls[0].issuer.contains("ARK-"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn kiln_verify_refresh_collateral_reports_the_tcb_status_as_of_now() {
    let d = tempfile::tempdir().unwrap();
    let out = sim_build("tdx", d.path());
    let state = d.path().join("state");
    let served = serve_sim(&state);
    let reference = common::sim_reference("tdx", &state);
    let verify = |pcs: &str, json: bool, cache: &str| {
        let mut args = vec![
            "verify",
            out.to_str().unwrap(),
            "--allow-simulated",
            "--reference",
            reference.to_str().unwrap(),
            "--refresh-collateral",
            "--pcs-url",
            pcs,
            "--collateral-cache",
            cache,
        ];
        if json {
            args.push("--json");
        }
        kiln(&args, &state)
    };
    let cache = d.path().join("cache");
    let cache = cache.to_str().unwrap();
    let v = verify(&served.base, false, cache);
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        text.contains("TCB status with the output's collateral: UpToDate; with current collateral (4 requests): UpToDate"),
        "{text}"
    );
    let v = verify(&served.base, true, cache);
    assert!(v.status.success());
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(report["refreshedCollateral"]["tcbStatus"], "UpToDate");
    // A PCS that does not answer: the refresh fails with the URL named (exit 1).
    drop(served);
    let dead = "http://127.0.0.1:9";
    let empty = d.path().join("empty-cache");
    let v = verify(dead, false, empty.to_str().unwrap());
    assert_eq!(v.status.code(), Some(1));
    let err = String::from_utf8_lossy(&v.stderr);
    assert!(
        err.contains("127.0.0.1:9/tdx/certification/v4/tcb?fmspc="),
        "{err}"
    );
}

#[test]
fn kiln_build_with_collateral_fetch_ships_amds_crl_and_verify_reports_it() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    let served = serve_sim(&state);
    let proj = d.path().join("proj");
    copy_example("c-hello", &proj);
    let build = |out: &Path, kds: &str, cache: &str| {
        kiln(
            &[
                "build",
                proj.to_str().unwrap(),
                "--backend",
                "sim",
                "--platform",
                "sev-snp",
                "--out",
                out.to_str().unwrap(),
                "--collateral",
                "fetch",
                "--kds-url",
                kds,
                "--collateral-cache",
                cache,
                "--json",
            ],
            &state,
        )
    };
    let out = d.path().join("out");
    let cache = d.path().join("cache");
    let b = build(&out, &served.base, cache.to_str().unwrap());
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    // The guest signed its VCEK and chain; the host added AMD's (simulated) CRL.
    assert_eq!(
        summary["collateral"]["added"],
        serde_json::json!(["crl.der"])
    );
    assert_eq!(
        summary["suppliedCollateral"],
        serde_json::json!(["crl.der"])
    );
    assert!(out.join("evidence/crl.der").exists());
    let reference = common::sim_reference("sev-snp", &state);
    let v = kiln(
        &[
            "verify",
            out.to_str().unwrap(),
            "--allow-simulated",
            "--reference",
            reference.to_str().unwrap(),
        ],
        &state,
    );
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success(), "{text}");
    assert!(
        text.contains("revocation: ") && text.contains("not revoked (CRL of"),
        "{text}"
    );
    assert!(
        text.contains("collateral added by the host (not signed by the guest; verified against the vendor roots): crl.der"),
        "{text}"
    );

    // A KDS that does not answer (and an empty cache): the build completes, naming what it
    // lacks. With the first cache, the CRL would have come from it.
    drop(served);
    let out = d.path().join("out-dead");
    let empty = d.path().join("empty-cache");
    let b = build(&out, "http://127.0.0.1:9", empty.to_str().unwrap());
    let err = String::from_utf8_lossy(&b.stderr);
    assert!(b.status.success(), "{err}");
    assert!(err.contains("COLLATERAL MISSING: AMD's CRL"), "{err}");
    let summary: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(
        summary["collateral"]["missing"].as_array().unwrap().len(),
        1
    );
    assert!(!out.join("evidence/crl.der").exists());

    // Collateral flags without the step are a usage error.
    let u = kiln(
        &[
            "build",
            proj.to_str().unwrap(),
            "--kds-url",
            "http://127.0.0.1:9",
        ],
        &state,
    );
    assert_eq!(u.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&u.stderr).contains("need the collateral step"));
}
