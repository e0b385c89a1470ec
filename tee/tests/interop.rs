//! Independent implementations accept the simulator's evidence, which shows the formats are
//! exact:
//!
//! - SEV-SNP: the `sev` crate (virtee) parses every report and verifies ARK → ASK → VCEK →
//!   report; python `cryptography` does the same from scratch (`interop/snp_verify.py`).
//! - TDX: Phala's `dcap-qvl` Python bindings (`verify_with_root_ca`) verify quote v4 and v5
//!   with the collateral and report UpToDate (`interop/dcap_qvl_verify.py`); so does the Rust
//!   crate (`QuoteVerifier::new(root)`), which needs no Python.
//! - Nitro: python `cbor2` + `cryptography` verify the COSE_Sign1 and the cabundle chain
//!   (`interop/nitro_verify.py`); evervault's `attestation-doc-validation` decodes the document
//!   into AWS's `aws-nitro-enclaves-nsm-api` types and passes AWS's structure criteria (its
//!   chain check is pinned to AWS's real root, which must refuse it).
//!
//! The Python tools are installed, pinned, into `.tools/py` by `scripts/interop-setup`. When
//! they are absent a Python test prints why and returns; `KILN_REQUIRE_INTEROP=1` (set by
//! `scripts/test`) turns that into a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use kiln_tee::pki::snp::SimulatedSnpProduct;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use kiln_tee::evidence::snp::SnpReportVersion;
use kiln_tee::evidence::tdx::TdxQuoteVersion;
use kiln_tee::pki::snp::SnpProduct;
use kiln_tee::sim::SimProfile;
use kiln_tee::simulate::write_evidence_files;
use kiln_tee::{Tee, TeeEvidence};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// The pinned Python tools, or `None` (after saying why) when they are not installed.
fn python_tools(module: &str) -> Option<PathBuf> {
    let dir = workspace().join(".tools/py");
    let present = dir.join(module).is_dir()
        && Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if present {
        return Some(dir);
    }
    let message = format!(
        "SKIPPED: python3 with `{module}` in {} is not installed; run scripts/interop-setup",
        dir.display()
    );
    if std::env::var_os("KILN_REQUIRE_INTEROP").is_some_and(|v| v == "1") {
        panic!("{message} (KILN_REQUIRE_INTEROP=1)");
    }
    eprintln!("{message}");
    None
}

fn run_python(
    tools: &Path,
    script_name: &str,
    args: &[&Path],
    extra: &[String],
) -> serde_json::Value {
    let output = Command::new("python3")
        .env("PYTHONPATH", tools)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(script(script_name))
        .args(args)
        .args(extra)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "{script_name} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from the script")
}

fn write(case: &str, bundle: &TeeEvidence) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("kiln-tee-interop")
        .join(case);
    let _ = std::fs::remove_dir_all(&dir);
    write_evidence_files(&dir, bundle).unwrap();
    dir
}

fn snp_profiles() -> Vec<(SnpProduct, SnpReportVersion)> {
    SnpProduct::ALL
        .into_iter()
        .flat_map(|p| [(p, SnpReportVersion::V3), (p, SnpReportVersion::V5)])
        .collect()
}

#[test]
fn the_sev_crate_parses_and_verifies_simulated_reports() {
    use sev::certs::snp::{ca, Certificate, Chain, Verifiable};
    use sev::firmware::guest::AttestationReport;
    use sev::parser::ByteParser;

    for (product, version) in snp_profiles() {
        let profile = SimProfile::SevSnp { product, version };
        let tee = tee(1, profile, b"enclave");
        let b = tee
            .evidence(&kiln_tee::ReportData::new(report_data()))
            .unwrap();
        let pki = tee.chip().snp_pki(product, product.default_tcb()).unwrap();
        let report = AttestationReport::from_bytes(&b.evidence)
            .unwrap_or_else(|e| panic!("{product} v{}: {e}", version.number()));
        assert_eq!(report.version, version.number());
        assert_eq!(report.report_data, report_data());
        let kiln_tee::Measurement::SevSnp { measurement } = tee.measurement() else {
            panic!()
        };
        assert_eq!(report.measurement, measurement);
        assert_eq!(report.chip_id, pki.chip_id);
        let tcb = product.default_tcb();
        assert_eq!(
            (
                report.reported_tcb.bootloader,
                report.reported_tcb.tee,
                report.reported_tcb.snp,
                report.reported_tcb.microcode
            ),
            (tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode),
            "{product}: the sev crate reads the TCB layout"
        );
        if product == SnpProduct::Turin {
            assert_eq!(report.reported_tcb.fmc, Some(tcb.fmc));
        }
        let (fam, model, step) = product.cpuid();
        assert_eq!(
            (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step),
            (Some(fam), Some(model), Some(step))
        );
        // The sev crate re-encodes what it parsed: the bytes must round-trip.
        assert_eq!(report.to_bytes().unwrap().as_slice(), &b.evidence[..]);
        let chain = Chain {
            ca: ca::Chain {
                ark: Certificate::from_der(&pki.ark_der).unwrap(),
                ask: Certificate::from_der(&pki.ask_der).unwrap(),
            },
            vek: Certificate::from_der(b.vek_der.as_ref().unwrap()).unwrap(),
        };
        (&chain, &report)
            .verify()
            .unwrap_or_else(|e| panic!("{product} v{}: sev rejects: {e}", version.number()));
        // A flipped report byte is rejected by the sev crate too.
        let mut tampered = b.evidence.clone();
        tampered[0x90] ^= 1;
        let tampered = AttestationReport::from_bytes(&tampered).unwrap();
        assert!((&chain, &tampered).verify().is_err());
    }
}

#[test]
fn python_cryptography_verifies_simulated_snp_reports() {
    let Some(tools) = python_tools("cryptography") else {
        return;
    };
    for (product, version) in snp_profiles() {
        let b = bundle(1, SimProfile::SevSnp { product, version });
        let dir = write(&format!("snp-{product}-v{}", version.number()), &b);
        let out = run_python(
            &tools,
            "snp_verify.py",
            &[
                &dir.join("evidence.bin"),
                &dir.join("vek.der"),
                &dir.join("chain.pem"),
                &dir.join("root.der"),
            ],
            &[],
        );
        assert_eq!(out["version"], version.number());
        assert_eq!(out["report_data"], hex::encode(report_data()));
    }
}

#[test]
fn dcap_qvl_verifies_simulated_tdx_quotes_as_up_to_date() {
    let Some(tools) = python_tools("dcap_qvl") else {
        return;
    };
    for version in [TdxQuoteVersion::V4, TdxQuoteVersion::V5] {
        let profile = SimProfile::Tdx { version };
        let tee = tee(1, profile, b"enclave");
        let b = tee
            .evidence(&kiln_tee::ReportData::new(report_data()))
            .unwrap();
        let dir = write(&format!("tdx-v{}", version.number()), &b);
        let out = run_python(
            &tools,
            "dcap_qvl_verify.py",
            &[
                &dir.join("evidence.bin"),
                &dir.join("collateral.json"),
                &dir.join("root.der"),
            ],
            &[(T_MS / 1000).to_string()],
        );
        assert_eq!(
            out["status"],
            "UpToDate",
            "quote v{}: {out}",
            version.number()
        );
        let report = match version {
            TdxQuoteVersion::V4 => &out["report"]["TD10"],
            TdxQuoteVersion::V5 => &out["report"]["TD15"]["base"],
        };
        let kiln_tee::Measurement::Tdx { mrtd, rtmr } = tee.measurement() else {
            panic!()
        };
        assert_eq!(
            report["mr_td"],
            hex::encode(mrtd),
            "quote v{}: {out}",
            version.number()
        );
        assert_eq!(report["rt_mr0"], hex::encode(rtmr[0]));
        assert_eq!(report["report_data"], hex::encode(report_data()));

        // dcap-qvl rejects the quote once its collateral has expired.
        let late = Command::new("python3")
            .env("PYTHONPATH", &tools)
            .arg(script("dcap_qvl_verify.py"))
            .args([
                dir.join("evidence.bin"),
                dir.join("collateral.json"),
                dir.join("root.der"),
            ])
            .arg((T_MS / 1000 + 40 * 86_400).to_string())
            .output()
            .unwrap();
        assert!(!late.status.success(), "expired collateral accepted");
    }
}

#[test]
fn the_dcap_qvl_crate_verifies_simulated_tdx_quotes_as_up_to_date() {
    for version in [TdxQuoteVersion::V4, TdxQuoteVersion::V5] {
        let b = bundle(1, SimProfile::Tdx { version });
        let c: serde_json::Value =
            serde_json::from_slice(b.collateral_json.as_ref().unwrap()).unwrap();
        let text = |k: &str| c[k].as_str().unwrap().to_owned();
        let bytes = |k: &str| hex::decode(c[k].as_str().unwrap()).unwrap();
        let collateral = dcap_qvl::QuoteCollateralV3 {
            pck_crl_issuer_chain: text("pck_crl_issuer_chain"),
            root_ca_crl: bytes("root_ca_crl"),
            pck_crl: bytes("pck_crl"),
            tcb_info_issuer_chain: text("tcb_info_issuer_chain"),
            tcb_info: text("tcb_info"),
            tcb_info_signature: bytes("tcb_info_signature"),
            qe_identity_issuer_chain: text("qe_identity_issuer_chain"),
            qe_identity: text("qe_identity"),
            qe_identity_signature: bytes("qe_identity_signature"),
            pck_certificate_chain: None,
        };
        let verifier = dcap_qvl::verify::QuoteVerifier::new(b.simulated_root_der.clone().unwrap());
        let report = verifier
            .verify(&b.evidence, &collateral, T_MS / 1000)
            .unwrap_or_else(|e| panic!("quote v{}: {e:?}", version.number()));
        assert_eq!(report.status, "UpToDate", "quote v{}", version.number());
        assert!(report.advisory_ids.is_empty());
        // Intel's production root does not anchor it.
        assert!(dcap_qvl::verify::QuoteVerifier::new_prod()
            .verify(&b.evidence, &collateral, T_MS / 1000)
            .is_err());
    }
}

#[test]
fn aws_nsm_api_types_decode_simulated_nitro_documents() {
    use attestation_doc_validation::attestation_doc::decode_attestation_document;
    let tee = tee(1, SimProfile::Nitro, b"enclave");
    let rd = kiln_tee::ReportData::new(report_data())
        .with_nitro_public_key(vec![0x04; 65])
        .with_nonce(b"nonce".to_vec());
    let b = tee.evidence(&rd).unwrap();
    let (_, doc) = decode_attestation_document(&b.evidence).unwrap();
    assert_eq!(doc.timestamp, T_MS);
    assert_eq!(doc.pcrs.len(), 16);
    let kiln_tee::Measurement::Nitro { pcr } = tee.measurement() else {
        panic!()
    };
    for (i, value) in pcr.iter().enumerate() {
        assert_eq!(doc.pcrs[&i].as_slice(), value);
    }
    assert_eq!(
        doc.user_data.map(|b| b.to_vec()),
        Some(report_data().to_vec())
    );
    assert_eq!(doc.public_key.map(|b| b.to_vec()), Some(vec![0x04; 65]));
    assert_eq!(doc.nonce.map(|b| b.to_vec()), Some(b"nonce".to_vec()));
    assert_eq!(doc.cabundle.len(), 4);
    assert_eq!(
        doc.cabundle[0].as_slice(),
        b.simulated_root_der.as_deref().unwrap()
    );
    // Pinned to AWS's real root, the validator refuses the simulated chain.
    assert!(attestation_doc_validation::validate_attestation_doc(&b.evidence).is_err());
}

#[test]
fn python_cbor2_and_cryptography_verify_simulated_nitro_documents() {
    let Some(tools) = python_tools("cbor2") else {
        return;
    };
    let tee = tee(1, SimProfile::Nitro, b"enclave");
    let rd = kiln_tee::ReportData::new(report_data())
        .with_nitro_public_key(vec![0x04; 65])
        .with_nonce(b"verifier nonce".to_vec());
    let b = tee.evidence(&rd).unwrap();
    let dir = write("nitro", &b);
    let out = run_python(
        &tools,
        "nitro_verify.py",
        &[&dir.join("evidence.bin"), &dir.join("root.der")],
        &[(T_MS / 1000).to_string()],
    );
    let kiln_tee::Measurement::Nitro { pcr } = tee.measurement() else {
        panic!()
    };
    for (i, value) in pcr.iter().enumerate() {
        assert_eq!(out["pcrs"][i.to_string()], hex::encode(value));
    }
    assert_eq!(out["user_data"], hex::encode(report_data()));
    assert_eq!(out["public_key"], hex::encode([0x04; 65]));
    assert_eq!(out["nonce"], hex::encode(b"verifier nonce"));
    assert_eq!(out["timestamp"], T_MS);
    assert!(out["root_subject"].as_str().unwrap().contains("SIMULATED"));
}
