//! `kiln collateral fetch` against a local server laid out as AMD's KDS, serving the real
//! vectors of `../shared/vectors` (no network): for every SEV-SNP case the fetched VCEK and
//! ASK/ARK chain verify the report at the case's time with the same verdict as the files the
//! manifest names; a warm cache makes no request; and each failure — HTTP 429 then success, 404,
//! 500, a truncated body, `--offline` with an empty cache, a VLEK — is a clear error or the
//! stated retry, with nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod scripted_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use scripted_server::{Reply, Server};

use kiln_host::collateral::kds::{chain_path, VcekRequest};
use kiln_host::collateral::pcs::{percent_encode, PcsRequest, QE_IDENTITY_PATH, ROOT_CA_CRL_PATH};
use kiln_provenance::SnpProduct;
use kiln_verifier::snp::SigningKey;
use kiln_verifier::{Evidence, Platform, TrustAnchors, UnixTime, Verifier};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
}

#[derive(Debug, serde::Deserialize)]
struct Case {
    id: String,
    platform: String,
    evidence: String,
    #[serde(default)]
    vek: Option<String>,
    #[serde(default)]
    chain: Option<String>,
    #[serde(default)]
    collateral: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
    at: String,
}

#[derive(serde::Deserialize)]
struct Manifest {
    case: Vec<Case>,
}

fn cases_of(platform: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(vectors().join("manifest.toml")).unwrap();
    let m: Manifest = toml::from_str(&text).unwrap();
    let cases: Vec<Case> = m
        .case
        .into_iter()
        .filter(|c| c.platform == platform)
        .collect();
    assert!(!cases.is_empty());
    cases
}

fn snp_cases() -> Vec<Case> {
    cases_of("sev-snp")
}

/// The product a case's id names.
fn product_of(id: &str) -> SnpProduct {
    SnpProduct::ALL
        .into_iter()
        .find(|p| id.contains(&p.name().to_ascii_lowercase()))
        .unwrap_or_else(|| panic!("{id} names no product"))
}

/// The first certificate of a file, DER (a PEM file may be a bundle: VCEK, ASK, ARK).
fn der_of(bytes: Vec<u8>) -> Vec<u8> {
    const END: &str = "-----END CERTIFICATE-----";
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return bytes;
    };
    let Some(at) = text.find(END) else {
        return bytes;
    };
    der::pem::decode_vec(&text.as_bytes()[..at + END.len()])
        .unwrap()
        .1
}

/// The ASK and ARK of a product, as the KDS serves them.
fn kds_chain(p: SnpProduct) -> Vec<u8> {
    let name = p.name().to_ascii_lowercase();
    let mut pem = std::fs::read(vectors().join(format!("snp/roots/ask_{name}.pem"))).unwrap();
    pem.extend(std::fs::read(vectors().join(format!("snp/roots/ark_{name}.pem"))).unwrap());
    pem
}

fn kiln(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env_remove("KILN_KDS_URL")
        .output()
        .unwrap();
    eprintln!(
        "$ kiln {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn verdict(evidence: &[u8], vek: Option<&[u8]>, chain: Option<&[u8]>, at: UnixTime) -> bool {
    Verifier::new(TrustAnchors::vendor())
        .verify(
            &Evidence {
                platform: Some(Platform::SevSnp),
                bytes: evidence,
                vek,
                chain,
                collateral: None,
                crl: None,
            },
            at,
        )
        .is_ok()
}

#[test]
fn fetched_collateral_verifies_every_snp_vector_as_the_supplied_files_do() {
    let server = Server::start();
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let mut fetched_cases = 0;
    for case in snp_cases() {
        let evidence = std::fs::read(vectors().join(&case.evidence)).unwrap();
        let product = product_of(&case.id);
        let at = UnixTime::parse_rfc3339(&case.at).unwrap();
        let out = d.path().join(&case.id);
        let report = vectors().join(&case.evidence);
        let args = [
            "collateral",
            "fetch",
            s(&report),
            "--out",
            s(&out),
            "--kds-url",
            &server.base,
            "--cache",
            s(&cache),
            "--product",
            product.name(),
            // AMD's CRL is signed by AMD's ARK: none can be made for these vectors here.
            "--no-crl",
        ];
        match VcekRequest::from_report(&evidence, Some(product)) {
            Ok(req) => {
                let vek =
                    der_of(std::fs::read(vectors().join(case.vek.as_ref().unwrap())).unwrap());
                server.route(&req.path(), vec![Reply::ok(vek)]);
                server.route(
                    &chain_path(product, SigningKey::Vcek),
                    vec![Reply::ok(kds_chain(product))],
                );
                let f = kiln(&args);
                assert!(f.status.success(), "{}", case.id);
                let (vek, chain) = (
                    std::fs::read(out.join("vek.der")).unwrap(),
                    std::fs::read(out.join("chain.pem")).unwrap(),
                );
                let supplied = (
                    case.vek
                        .as_ref()
                        .map(|p| std::fs::read(vectors().join(p)).unwrap()),
                    case.chain
                        .as_ref()
                        .map(|p| std::fs::read(vectors().join(p)).unwrap()),
                );
                assert_eq!(
                    verdict(&evidence, Some(&vek), Some(&chain), at),
                    verdict(&evidence, supplied.0.as_deref(), supplied.1.as_deref(), at),
                    "{}: fetched and supplied collateral disagree",
                    case.id
                );
                fetched_cases += 1;
            }
            Err(e) => {
                // A VLEK (or a masked chip) cannot be fetched: said so, exit 2, nothing written.
                let f = kiln(&args);
                assert_eq!(f.status.code(), Some(2), "{}", case.id);
                let err = String::from_utf8_lossy(&f.stderr);
                assert!(err.contains(&e.to_string()), "{}: {err}", case.id);
                assert!(!out.exists());
            }
        }
    }
    assert!(fetched_cases >= 4, "only {fetched_cases} cases fetched");

    // A warm cache: the same fetch again makes no request.
    let before = server.requests().len();
    let case = &snp_cases()[0];
    let again = d.path().join("again");
    let f = kiln(&[
        "collateral",
        "fetch",
        s(&vectors().join(&case.evidence)),
        "--out",
        s(&again),
        "--kds-url",
        &server.base,
        "--cache",
        s(&cache),
        "--product",
        product_of(&case.id).name(),
        "--no-crl",
        "--json",
    ]);
    assert!(f.status.success());
    assert_eq!(server.requests().len(), before, "a warm cache asks nothing");
    let summary: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    assert_eq!(summary["requests"].as_array().unwrap().len(), 0);
    assert_eq!(summary["cacheHits"].as_array().unwrap().len(), 2);
}

/// The first VCEK case of the manifest, its request, and a fetch command for it.
fn first_vcek_case(d: &Path) -> (PathBuf, VcekRequest, SnpProduct) {
    for case in snp_cases() {
        let evidence = std::fs::read(vectors().join(&case.evidence)).unwrap();
        let product = product_of(&case.id);
        if let Ok(req) = VcekRequest::from_report(&evidence, Some(product)) {
            let vek = der_of(std::fs::read(vectors().join(case.vek.unwrap())).unwrap());
            std::fs::write(d.join("vek.der"), vek).unwrap();
            return (vectors().join(&case.evidence), req, product);
        }
    }
    panic!("no VCEK case");
}

fn fetch(report: &Path, out: &Path, base: &str, cache: &Path, product: SnpProduct) -> Output {
    kiln(&[
        "collateral",
        "fetch",
        s(report),
        "--out",
        s(out),
        "--kds-url",
        base,
        "--cache",
        s(cache),
        "--product",
        product.name(),
        "--no-crl",
    ])
}

#[test]
fn rate_limits_are_waited_out_and_failures_are_named_with_nothing_written() {
    let server = Server::start();
    let d = tempfile::tempdir().unwrap();
    let (report, req, product) = first_vcek_case(d.path());
    let vek = std::fs::read(d.path().join("vek.der")).unwrap();
    let vcek_path = req.path();
    let chain = chain_path(product, SigningKey::Vcek);
    server.route(&chain, vec![Reply::ok(kds_chain(product))]);

    // 429 with Retry-After, then the certificate: one more request after the wait.
    let mut limited = Reply::status(429);
    limited.headers.push(("Retry-After".into(), "1".into()));
    server.route(&vcek_path, vec![limited, Reply::ok(vek.clone())]);
    let out = d.path().join("out-429");
    let started = std::time::Instant::now();
    let f = fetch(&report, &out, &server.base, &d.path().join("c1"), product);
    assert!(f.status.success());
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    let asked: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| *r == vcek_path)
        .collect();
    assert_eq!(asked.len(), 2, "one request, then one after the wait");
    assert_eq!(std::fs::read(out.join("vek.der")).unwrap(), vek);

    // Each failure: exit 1, the URL and the meaning named, no output folder, nothing cached.
    let truncated = vek[..vek.len() / 2].to_vec();
    for (name, reply, needle) in [
        ("404", Reply::status(404), "AMD's KDS has no VCEK"),
        ("500", Reply::status(500), "server error"),
        ("truncated", Reply::ok(truncated), "is not usable"),
    ] {
        server.route(&vcek_path, vec![reply]);
        let out = d.path().join(format!("out-{name}"));
        let cache = d.path().join(format!("cache-{name}"));
        let f = fetch(&report, &out, &server.base, &cache, product);
        assert_eq!(f.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&f.stderr);
        assert!(err.contains(needle), "{name}: {err}");
        assert!(
            err.contains(&vcek_path[..20]),
            "{name}: the URL is named: {err}"
        );
        assert!(!out.exists(), "{name}: no output");
        // Offline, the failed item is not in the cache.
        let o = kiln(&[
            "collateral",
            "fetch",
            s(&report),
            "--out",
            s(&out),
            "--cache",
            s(&cache),
            "--product",
            product.name(),
            "--offline",
        ]);
        assert_eq!(o.status.code(), Some(1), "{name}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--offline: the cache has no"));
    }

    // Always 429: given up after the bounded retries, named as a rate limit.
    let mut limited = Reply::status(429);
    limited.headers.push(("Retry-After".into(), "0".into()));
    server.route(&vcek_path, vec![limited]);
    let f = fetch(
        &report,
        &d.path().join("out-busy"),
        &server.base,
        &d.path().join("c2"),
        product,
    );
    assert_eq!(f.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&f.stderr).contains("HTTP 429 Too Many Requests after 4 requests")
    );

    // A v2 report without --product, and a bad URL: usage errors.
    let f = kiln(&[
        "collateral",
        "fetch",
        s(&report),
        "--out",
        s(&d.path().join("x")),
    ]);
    assert_eq!(f.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&f.stderr).contains("--product"));
    let f = kiln(&[
        "collateral",
        "fetch",
        s(&report),
        "--out",
        s(&d.path().join("x")),
        "--kds-url",
        "ftp://x",
    ]);
    assert_eq!(f.status.code(), Some(2));
}

/// The raw evidence of a case (base64 decoded when the manifest says so).
fn evidence_of(case: &Case) -> Vec<u8> {
    let raw = std::fs::read(vectors().join(&case.evidence)).unwrap();
    match case.encoding.as_deref() {
        None | Some("raw") => raw,
        Some("base64") => {
            use base64::Engine as _;
            let text: String = String::from_utf8(raw)
                .unwrap()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap()
        }
        Some(other) => panic!("{}: encoding {other}", case.id),
    }
}

/// Serves a QuoteCollateralV3 document as Intel's PCS (and a PCCS's root CA CRL) would.
fn serve_pcs(server: &Server, req: &PcsRequest, coll: &serde_json::Value) {
    let text = |k: &str| coll[k].as_str().unwrap().to_owned();
    let header = |name: &str, k: &str| vec![(name.to_owned(), percent_encode(&text(k)))];
    server.route(
        &req.tcb_path(),
        vec![Reply {
            status: 200,
            headers: header("TCB-Info-Issuer-Chain", "tcb_info_issuer_chain"),
            body: format!(
                r#"{{"tcbInfo":{},"signature":"{}"}}"#,
                text("tcb_info"),
                text("tcb_info_signature")
            )
            .into_bytes(),
        }],
    );
    server.route(
        QE_IDENTITY_PATH,
        vec![Reply {
            status: 200,
            headers: header(
                "SGX-Enclave-Identity-Issuer-Chain",
                "qe_identity_issuer_chain",
            ),
            body: format!(
                r#"{{"enclaveIdentity":{},"signature":"{}"}}"#,
                text("qe_identity"),
                text("qe_identity_signature")
            )
            .into_bytes(),
        }],
    );
    server.route(
        &req.pck_crl_path(),
        vec![Reply {
            status: 200,
            headers: header("SGX-PCK-CRL-Issuer-Chain", "pck_crl_issuer_chain"),
            body: hex::decode(text("pck_crl")).unwrap(),
        }],
    );
    server.route(
        ROOT_CA_CRL_PATH,
        vec![Reply::ok(text("root_ca_crl").into_bytes())],
    );
}

fn tdx_verdict(quote: &[u8], collateral: &[u8], at: UnixTime) -> Result<(), String> {
    Verifier::new(TrustAnchors::vendor())
        .verify(
            &Evidence {
                platform: Some(Platform::Tdx),
                bytes: quote,
                vek: None,
                chain: None,
                collateral: Some(collateral),
                crl: None,
            },
            at,
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn fetched_tdx_collateral_verifies_every_tdx_vector_as_the_supplied_json_does() {
    let d = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for case in cases_of("tdx") {
        let Some(collateral) = &case.collateral else {
            continue;
        };
        // A server and a cache per case: two cases may share an FMSPC with other collateral.
        let server = Server::start();
        let quote = evidence_of(&case);
        let quote_file = d.path().join(format!("{}.quote", case.id));
        std::fs::write(&quote_file, &quote).unwrap();
        let req = PcsRequest::from_quote(&quote).unwrap();
        let supplied = std::fs::read(vectors().join(collateral)).unwrap();
        let coll: serde_json::Value = serde_json::from_slice(&supplied).unwrap();
        serve_pcs(&server, &req, &coll);
        let out = d.path().join(&case.id);
        let f = kiln(&[
            "collateral",
            "fetch",
            s(&quote_file),
            "--out",
            s(&out),
            "--pcs-url",
            &server.base,
            "--cache",
            s(&d.path().join(format!("cache-{}", case.id))),
            "--json",
        ]);
        assert!(f.status.success(), "{}", case.id);
        let summary: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
        assert_eq!(summary["platform"], "tdx");
        assert_eq!(
            summary["requests"].as_array().unwrap().len(),
            4,
            "{}",
            case.id
        );
        let fetched = std::fs::read(out.join("collateral.json")).unwrap();
        let at = UnixTime::parse_rfc3339(&case.at).unwrap();
        let (a, b) = (
            tdx_verdict(&quote, &fetched, at),
            tdx_verdict(&quote, &supplied, at),
        );
        assert_eq!(
            a.is_ok(),
            b.is_ok(),
            "{}: fetched {a:?}, supplied {b:?}",
            case.id
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} TDX cases");
}

#[test]
fn a_pcs_answer_for_another_fmspc_or_signed_by_a_foreign_chain_is_refused() {
    let case = cases_of("tdx")
        .into_iter()
        .find(|c| c.collateral.is_some() && c.id.contains("uptodate"))
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let quote = evidence_of(&case);
    let quote_file = d.path().join("quote");
    std::fs::write(&quote_file, &quote).unwrap();
    let req = PcsRequest::from_quote(&quote).unwrap();
    let supplied = std::fs::read(vectors().join(case.collateral.as_ref().unwrap())).unwrap();
    let coll: serde_json::Value = serde_json::from_slice(&supplied).unwrap();
    let at = UnixTime::parse_rfc3339(&case.at).unwrap();

    // TCB info for another FMSPC: refused by the fetch, nothing written.
    let mut other = coll.clone();
    let tcb = other["tcb_info"].as_str().unwrap().to_owned();
    let swapped = tcb.replacen(
        &format!("\"fmspc\":\"{}\"", req.fmspc),
        "\"fmspc\":\"00000000AAAA\"",
        1,
    );
    assert_ne!(swapped, tcb, "the TCB info names its FMSPC");
    other["tcb_info"] = serde_json::Value::String(swapped);
    let server = Server::start();
    serve_pcs(&server, &req, &other);
    let out = d.path().join("other-fmspc");
    let f = kiln(&[
        "collateral",
        "fetch",
        s(&quote_file),
        "--out",
        s(&out),
        "--pcs-url",
        &server.base,
        "--cache",
        s(&d.path().join("c1")),
    ]);
    assert_eq!(f.status.code(), Some(1));
    let err = String::from_utf8_lossy(&f.stderr);
    assert!(
        err.contains("for FMSPC 00000000AAAA, not the quote's"),
        "{err}"
    );
    assert!(!out.exists());

    // An issuer chain that does not reach Intel's root: fetched (it has the right shape), then
    // refused by the verifier, which trusts only its pinned root.
    let mut foreign = coll.clone();
    let snp_chain = String::from_utf8(kds_chain(SnpProduct::Milan)).unwrap();
    foreign["tcb_info_issuer_chain"] = serde_json::Value::String(snp_chain);
    let server = Server::start();
    serve_pcs(&server, &req, &foreign);
    let out = d.path().join("foreign");
    let f = kiln(&[
        "collateral",
        "fetch",
        s(&quote_file),
        "--out",
        s(&out),
        "--pcs-url",
        &server.base,
        "--cache",
        s(&d.path().join("c2")),
    ]);
    assert!(f.status.success());
    let fetched = std::fs::read(out.join("collateral.json")).unwrap();
    assert!(tdx_verdict(&quote, &supplied, at).is_ok());
    let e = tdx_verdict(&quote, &fetched, at).unwrap_err();
    assert!(e.contains("does not reach a pinned trust anchor"), "{e}");

    // Offline with a cache whose TCB info is past its nextUpdate (the vectors' are, today):
    // said to be stale, not used.
    let f = kiln(&[
        "collateral",
        "fetch",
        s(&quote_file),
        "--out",
        s(&d.path().join("offline")),
        "--cache",
        s(&d.path().join("c2")),
        "--offline",
    ]);
    assert_eq!(f.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&f.stderr).contains("past its nextUpdate"));
    // Accepted within an explicit --max-staleness, and said to be stale; beyond it, refused.
    let offline = |max: &str, out: &str| {
        kiln(&[
            "collateral",
            "fetch",
            s(&quote_file),
            "--out",
            s(&d.path().join(out)),
            "--cache",
            s(&d.path().join("c2")),
            "--offline",
            "--max-staleness",
            max,
            "--json",
        ])
    };
    let f = offline("3650d", "stale-ok");
    assert!(f.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    assert_eq!(
        summary["stale"].as_array().unwrap().len(),
        4,
        "TCB info, QE identity, and both CRLs (their nextUpdate passed too)"
    );
    assert_eq!(summary["requests"].as_array().unwrap().len(), 0);
    let f = offline("1d", "stale-refused");
    assert_eq!(f.status.code(), Some(1));
    assert!(!d.path().join("stale-refused").exists());
    let f = offline("soon", "bad-flag");
    assert_eq!(f.status.code(), Some(2));
}
