//! `kiln collateral fetch` and AMD's CRL: fetched with the VCEK (`/vcek/v1/{product}/crl`),
//! cached until its nextUpdate, written as `crl.der`; a CRL that lists the chip's VCEK makes
//! verification with the fetched files fail naming it; a KDS without the CRL is an error naming
//! the URL, with nothing written, unless `--no-crl` says to go without. The chip is a
//! simulated one served by a scripted local server (only simulated keys can sign these CRLs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod scripted_server;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use kiln_host::collateral::kds::{chain_path, crl_path, VcekRequest};
use kiln_tee::pki::snp::{SnpCrlIssuer, SnpCrlSpec};
use kiln_tee::sim::{FixedClock, SimChip, SimProfile, SimTee};
use kiln_tee::{process_measurement, ReportData, Tee, TeeEvidence};
use kiln_verifier::snp::{SigningKey, SnpProduct};
use kiln_verifier::{ErrorKind, Evidence, Platform, TrustAnchors, UnixTime, Verifier};
use scripted_server::{Reply, Server};

const DAY: i64 = 86_400;

fn now() -> i64 {
    UnixTime::from_system_time(std::time::SystemTime::now())
        .unwrap()
        .as_secs()
}

fn sim_evidence(chip: &Arc<SimChip>) -> TeeEvidence {
    let profile = SimProfile::default_for(Platform::SevSnp);
    let tee = SimTee::launch(
        Arc::clone(chip),
        profile,
        process_measurement(Platform::SevSnp, b"enclave", b"params"),
        profile.default_policy(),
        FixedClock::new(u64::try_from(now()).unwrap() * 1000),
    )
    .unwrap();
    tee.evidence(&ReportData::new([7; 64])).unwrap()
}

fn crl(chip: &SimChip, issuer: SnpCrlIssuer, revoked: Vec<Vec<u8>>) -> Vec<u8> {
    chip.snp_crl(
        SnpProduct::Milan,
        &SnpCrlSpec {
            issuer,
            this_update: now() - DAY,
            next_update: now() + 7 * DAY,
            revoked,
        },
    )
    .unwrap()
}

fn fetch(report: &Path, out: &Path, base: &str, cache: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "collateral".to_owned(),
        "fetch".into(),
        report.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--kds-url".into(),
        base.to_owned(),
        "--cache".into(),
        cache.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let o = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(&args)
        .env_remove("KILN_KDS_URL")
        .output()
        .unwrap();
    eprintln!(
        "$ kiln {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Verifies the report with the fetched files, trusting the chip's simulated root.
fn verify_fetched(
    ev: &TeeEvidence,
    out: &Path,
) -> Result<kiln_verifier::Claims, kiln_verifier::Error> {
    let mut anchors = TrustAnchors::vendor();
    anchors
        .allow_simulated(
            Platform::SevSnp,
            "simulated root",
            ev.simulated_root_der.as_deref().unwrap(),
        )
        .unwrap();
    let vek = std::fs::read(out.join("vek.der")).unwrap();
    let chain = std::fs::read(out.join("chain.pem")).unwrap();
    let crl = std::fs::read(out.join("crl.der")).ok();
    let mut e = Evidence::new(&ev.evidence).vek(&vek).chain(&chain);
    if let Some(crl) = crl.as_deref() {
        e = e.crl(crl);
    }
    let time = UnixTime::from_secs(now());
    Verifier::new(anchors)
        .verify(&e, time)
        .map(|v| v.claims().clone())
}

fn crl_count(c: &kiln_verifier::Claims) -> usize {
    match &c.details {
        kiln_verifier::PlatformDetails::SevSnp(d) => d.crls.len(),
        _ => panic!("not SEV-SNP"),
    }
}

#[test]
fn amds_crl_is_fetched_cached_and_checked_and_a_revoked_vcek_is_refused() {
    let chip = SimChip::from_seed(&[31; 32]);
    let ev = sim_evidence(&chip);
    let d = tempfile::tempdir().unwrap();
    let report = d.path().join("report.bin");
    std::fs::write(&report, &ev.evidence).unwrap();
    let req = VcekRequest::from_report(&ev.evidence, None).unwrap();
    let server = Server::start();
    server.route(&req.path(), vec![Reply::ok(ev.vek_der.clone().unwrap())]);
    server.route(
        &chain_path(SnpProduct::Milan, SigningKey::Vcek),
        vec![Reply::ok(ev.chain_pem.clone().unwrap().into_bytes())],
    );
    let crl_url = crl_path(SnpProduct::Milan);

    // The ARK's CRL, listing nothing of this chain: fetched, written, and checked.
    server.route(
        &crl_url,
        vec![Reply::ok(crl(&chip, SnpCrlIssuer::Ark, vec![vec![0x42]]))],
    );
    let cache = d.path().join("cache");
    let out = d.path().join("good");
    let f = fetch(&report, &out, &server.base, &cache, &["--json"]);
    assert!(f.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    assert_eq!(
        summary["files"],
        serde_json::json!(["vek.der", "chain.pem", "crl.der"])
    );
    assert_eq!(
        summary["requests"].as_array().unwrap().len(),
        3,
        "cold cache: VCEK, chain, CRL"
    );
    let claims = verify_fetched(&ev, &out).unwrap();
    assert_eq!(crl_count(&claims), 1);
    // Warm: nothing is asked (the CRL is within its nextUpdate).
    let before = server.requests().len();
    let f = fetch(
        &report,
        &d.path().join("warm"),
        &server.base,
        &cache,
        &["--json"],
    );
    assert!(f.status.success());
    assert_eq!(server.requests().len(), before, "a warm cache asks nothing");

    // A CRL listing the VCEK (serial 0, issued by the ASK): verification names the VCEK.
    server.route(
        &crl_url,
        vec![Reply::ok(crl(&chip, SnpCrlIssuer::Ask, vec![vec![0]]))],
    );
    let out = d.path().join("revoked");
    let f = fetch(&report, &out, &server.base, &d.path().join("cache2"), &[]);
    assert!(f.status.success());
    let err = verify_fetched(&ev, &out).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Revoked, "{err}");
    assert!(err.to_string().contains("SEV-VCEK"), "{err}");
    // And the ARK's CRL listing the ASK: verification names the ASK.
    let ask_serial = kiln_verifier::pki::parse_certificates(
        ev.chain_pem.as_deref().unwrap().as_bytes(),
        "chain",
    )
    .unwrap()[0]
        .serial()
        .to_vec();
    server.route(
        &crl_url,
        vec![Reply::ok(crl(&chip, SnpCrlIssuer::Ark, vec![ask_serial]))],
    );
    let out = d.path().join("revoked-ask");
    assert!(
        fetch(&report, &out, &server.base, &d.path().join("cache3"), &[])
            .status
            .success()
    );
    let err = verify_fetched(&ev, &out).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Revoked, "{err}");
    assert!(err.to_string().contains("SEV-Milan"), "{err}");

    // No CRL at the KDS: an error naming its URL, nothing written; --no-crl goes without.
    for (name, reply, needle) in [
        ("missing", Reply::status(404), "Milan CRL"),
        ("garbage", Reply::ok(b"not a CRL".to_vec()), "is not usable"),
    ] {
        server.route(&crl_url, vec![reply]);
        let out = d.path().join(name);
        let f = fetch(
            &report,
            &out,
            &server.base,
            &d.path().join(format!("c-{name}")),
            &[],
        );
        assert_eq!(f.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&f.stderr);
        assert!(
            err.contains(needle) && err.contains(&crl_url),
            "{name}: {err}"
        );
        assert!(!out.exists(), "{name}: nothing written");
    }
    let out = d.path().join("without");
    let f = fetch(
        &report,
        &out,
        &server.base,
        &d.path().join("c-without"),
        &["--no-crl"],
    );
    assert!(f.status.success());
    assert!(String::from_utf8_lossy(&f.stdout).contains("NOT fetched"));
    assert!(!out.join("crl.der").exists());
    assert_eq!(crl_count(&verify_fetched(&ev, &out).unwrap()), 0);
}

#[test]
fn a_cached_crl_past_its_next_update_is_fetched_again() {
    let chip = SimChip::from_seed(&[32; 32]);
    let ev = sim_evidence(&chip);
    let d = tempfile::tempdir().unwrap();
    let report = d.path().join("report.bin");
    std::fs::write(&report, &ev.evidence).unwrap();
    let req = VcekRequest::from_report(&ev.evidence, None).unwrap();
    let server = Server::start();
    server.route(&req.path(), vec![Reply::ok(ev.vek_der.clone().unwrap())]);
    server.route(
        &chain_path(SnpProduct::Milan, SigningKey::Vcek),
        vec![Reply::ok(ev.chain_pem.clone().unwrap().into_bytes())],
    );
    let crl_url = crl_path(SnpProduct::Milan);
    // A CRL whose nextUpdate has passed, then a current one.
    let expired = chip
        .snp_crl(
            SnpProduct::Milan,
            &SnpCrlSpec {
                issuer: SnpCrlIssuer::Ark,
                this_update: now() - 10 * DAY,
                next_update: now() - DAY,
                revoked: Vec::new(),
            },
        )
        .unwrap();
    let current = crl(&chip, SnpCrlIssuer::Ark, Vec::new());
    server.route(
        &crl_url,
        vec![Reply::ok(expired.clone()), Reply::ok(current.clone())],
    );
    let cache = d.path().join("cache");
    let first = d.path().join("first");
    assert!(fetch(&report, &first, &server.base, &cache, &[])
        .status
        .success());
    assert_eq!(std::fs::read(first.join("crl.der")).unwrap(), expired);
    // Verified now, the expired CRL is refused for its window.
    let err = verify_fetched(&ev, &first).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CollateralValidity, "{err}");
    let second = d.path().join("second");
    assert!(fetch(&report, &second, &server.base, &cache, &[])
        .status
        .success());
    assert_eq!(std::fs::read(second.join("crl.der")).unwrap(), current);
    let asked = server.requests().iter().filter(|r| **r == crl_url).count();
    assert_eq!(
        asked, 2,
        "the stale CRL was fetched again, the VCEK was not"
    );
    assert_eq!(crl_count(&verify_fetched(&ev, &second).unwrap()), 1);
}
