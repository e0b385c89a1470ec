//! `kiln build`'s collateral step (`commands::build_collateral::add`) on staged evidence
//! folders: what the guest lacked is fetched from the (simulated) vendor services and added,
//! what it signed is never replaced, a warm cache asks nothing, and a dead service is named
//! without failing the step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use kiln_host::collateral::sim_service::SimService;
use kiln_host::collateral::{AmdCrl, CollateralFetch, Offline, Sources};
use kiln_host::commands::build_collateral::add;
use kiln_tee::sim::{FixedClock, SimChip, SimProfile, SimTee};
use kiln_tee::{process_measurement, ReportData, Tee, TeeEvidence};
use kiln_verifier::{
    Evidence, Platform, PlatformDetails, TcbStatus, TrustAnchors, UnixTime, Verifier,
};

fn now() -> i64 {
    UnixTime::from_system_time(std::time::SystemTime::now())
        .unwrap()
        .as_secs()
}

/// The simulated KDS and PCS of `chip`, in this process; returns the base URL.
fn serve(chip: &Arc<SimChip>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = SimService::new(Arc::clone(chip));
    std::thread::spawn(move || service.serve(listener));
    base
}

fn evidence(chip: &Arc<SimChip>, platform: Platform) -> TeeEvidence {
    let profile = SimProfile::default_for(platform);
    let tee = SimTee::launch(
        Arc::clone(chip),
        profile,
        process_measurement(platform, b"enclave", b"params"),
        profile.default_policy(),
        FixedClock::new(u64::try_from(now()).unwrap() * 1000),
    )
    .unwrap();
    tee.evidence(&ReportData::new([3; 64])).unwrap()
}

fn fetch_from(base: &str, cache: &Path) -> CollateralFetch {
    CollateralFetch {
        sources: Sources {
            kds_url: base.to_owned(),
            pcs_url: base.to_owned(),
            pcs_is_default: false,
            offline: Offline::No,
            max_staleness: None,
            amd_crl: AmdCrl::Fetch,
        },
        cache: cache.to_path_buf(),
    }
}

/// A staged evidence folder holding `evidence.bin` and the named files of `ev`.
fn staged(dir: &Path, ev: &TeeEvidence, with: &[&str]) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("evidence.bin"), &ev.evidence).unwrap();
    for name in with {
        let bytes = match *name {
            "vek.der" => ev.vek_der.clone().unwrap(),
            "chain.pem" => ev.chain_pem.clone().unwrap().into_bytes(),
            other => panic!("{other}"),
        };
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir.to_path_buf()
}

/// Verifies the staged folder's evidence with its files, trusting `ev`'s simulated root.
fn verify_dir(dir: &Path, ev: &TeeEvidence) -> kiln_verifier::Claims {
    let mut anchors = TrustAnchors::vendor();
    anchors
        .allow_simulated(
            ev.platform,
            "simulated root",
            ev.simulated_root_der.as_deref().unwrap(),
        )
        .unwrap();
    let read = |n: &str| std::fs::read(dir.join(n)).ok();
    let (evidence, vek, chain, collateral, crl) = (
        read("evidence.bin").unwrap(),
        read("vek.der"),
        read("chain.pem"),
        read("collateral.json"),
        read("crl.der"),
    );
    let e = Evidence {
        platform: Some(ev.platform),
        bytes: &evidence,
        vek: vek.as_deref(),
        chain: chain.as_deref(),
        collateral: collateral.as_deref(),
        crl: crl.as_deref(),
    };
    Verifier::new(anchors)
        .verify(&e, UnixTime::from_secs(now()))
        .unwrap()
        .claims()
        .clone()
}

#[test]
fn what_the_guest_lacked_is_added_and_verifies() {
    let chip = SimChip::from_seed(&[41; 32]);
    let base = serve(&chip);
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");

    // SEV-SNP with nothing but the report: VCEK, chain and CRL are added, in that order.
    let snp = evidence(&chip, Platform::SevSnp);
    let dir = staged(&d.path().join("snp"), &snp, &[]);
    let done = add(&dir, Platform::SevSnp, &fetch_from(&base, &cache)).unwrap();
    assert_eq!(done.added, ["vek.der", "chain.pem", "crl.der"]);
    assert!(done.missing.is_empty(), "{:?}", done.missing);
    assert_eq!(done.requests.len(), 3, "cold cache: VCEK, chain, CRL");
    match &verify_dir(&dir, &snp).details {
        PlatformDetails::SevSnp(d) => assert_eq!(d.crls.len(), 1),
        other => panic!("{other:?}"),
    }
    // The guest signed its VCEK and chain: only the CRL is added, from the warm cache, and
    // the guest's files are left as they were.
    let dir = staged(
        &d.path().join("snp-signed"),
        &snp,
        &["vek.der", "chain.pem"],
    );
    let before = std::fs::read(dir.join("vek.der")).unwrap();
    let done = add(&dir, Platform::SevSnp, &fetch_from(&base, &cache)).unwrap();
    assert_eq!(done.added, ["crl.der"]);
    assert!(done.requests.is_empty(), "a warm cache asks nothing");
    assert_eq!(std::fs::read(dir.join("vek.der")).unwrap(), before);

    // TDX with the quote alone: the collateral is added, and the TCB status is known.
    let tdx = evidence(&chip, Platform::Tdx);
    let dir = staged(&d.path().join("tdx"), &tdx, &[]);
    let done = add(&dir, Platform::Tdx, &fetch_from(&base, &cache)).unwrap();
    assert_eq!(done.added, ["collateral.json"]);
    assert_eq!(
        done.requests.len(),
        4,
        "TCB info, QE identity, PCK CRL, root CA CRL"
    );
    assert_eq!(verify_dir(&dir, &tdx).tcb.status, TcbStatus::UpToDate);

    // Nitro evidence carries its chain: nothing to fetch.
    let nitro = evidence(&chip, Platform::Nitro);
    let dir = staged(&d.path().join("nitro"), &nitro, &[]);
    let done = add(&dir, Platform::Nitro, &fetch_from(&base, &cache)).unwrap();
    assert!(done.added.is_empty() && done.requests.is_empty() && done.missing.is_empty());
}

#[test]
fn a_dead_service_is_named_and_the_step_stands() {
    let chip = SimChip::from_seed(&[42; 32]);
    let d = tempfile::tempdir().unwrap();
    let dead = "http://127.0.0.1:9";
    let snp = evidence(&chip, Platform::SevSnp);
    let dir = staged(&d.path().join("snp"), &snp, &["vek.der", "chain.pem"]);
    let done = add(
        &dir,
        Platform::SevSnp,
        &fetch_from(dead, &d.path().join("c")),
    )
    .unwrap();
    assert!(done.added.is_empty());
    assert_eq!(done.missing.len(), 1, "{:?}", done.missing);
    assert!(done.missing[0].0.contains("CRL"), "{:?}", done.missing);
    assert!(
        done.missing[0].1.contains("127.0.0.1:9/vcek/v1/Milan/crl"),
        "{:?}",
        done.missing
    );
    assert!(!dir.join("crl.der").exists());
    // The evidence still verifies, without revocation checked.
    match &verify_dir(&dir, &snp).details {
        PlatformDetails::SevSnp(d) => assert!(d.crls.is_empty()),
        other => panic!("{other:?}"),
    }

    let tdx = evidence(&chip, Platform::Tdx);
    let dir = staged(&d.path().join("tdx"), &tdx, &[]);
    let done = add(&dir, Platform::Tdx, &fetch_from(dead, &d.path().join("c"))).unwrap();
    assert_eq!(done.missing.len(), 1);
    assert!(done.missing[0].0.contains("collateral.json"));
    assert_eq!(verify_dir(&dir, &tdx).tcb.status, TcbStatus::Unknown);
}
