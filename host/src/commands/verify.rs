//! `kiln verify OUT_DIR`: a thin layer over `kiln_verifier::build_output::verify`.

use kiln_verifier::build_output::{
    load_output_dir, verify, AllowSimulated, AnyMeasurement, BuildError, Expectations,
    VerifiedBuild,
};
use kiln_verifier::TrustAnchors;
use serde_json::json;
use sha2::Digest as _;

use std::io::Write;

use crate::cli::VerifyConfig;
use crate::commands::{fail, print_json};
use crate::error::{HostError, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::report_error;

/// The links of the chain, in the order the verifier checks them.
pub const LINKS: &[(&str, &str)] = &[
    (
        "layout",
        "the output folder holds only the signed output's files",
    ),
    ("bundle", "Sigstore bundle v0.3 with one DSSE envelope"),
    (
        "public-key",
        "ECDSA P-256 public key named by the bundle and signature",
    ),
    ("signature", "DSSE signature over the provenance"),
    (
        "statement",
        "in-toto Statement v1 / SLSA Provenance v1 of kiln's build type",
    ),
    ("request", "build request carried in the provenance"),
    (
        "evidence",
        "the TEE evidence chains to a trusted root (a vendor's, or a simulated root you pinned)",
    ),
    ("key-binding", "evidence binds the signing key"),
    (
        "statement-binding",
        "evidence binds the signed statement: subjects, request, dependencies, parameters (kiln-binding/v1), and the nonce",
    ),
    (
        "artifacts",
        "every artifact matches its subject, and every file is a subject",
    ),
    ("expectation", "the caller's expectations hold"),
    (
        "sbom",
        "the SBOMs (SPDX, CycloneDX) are the provenance's, signed by the same key over the same subjects",
    ),
];

/// Runs the verification. Without a measurement on the command line, a policy that pins the
/// evidence platform's measurement is the reference (checked when the policy is evaluated);
/// with neither, the build is refused unless `--accept-any-measurement`.
pub fn run(cfg: &VerifyConfig) -> Result<VerifiedBuild, HostError> {
    let fail = |source: BuildError| HostError::Verify {
        path: cfg.out_dir.clone(),
        source,
    };
    let output = load_output_dir(&cfg.out_dir).map_err(fail)?;
    let by_policy = measurement_pinned_by(cfg) == Some(PinnedBy::Policy);
    let expect = Expectations {
        measurement: cfg.measurement.clone(),
        measurements: cfg.measurements.clone(),
        builder_id: cfg.builder.clone(),
        source_sha256: cfg.source.clone(),
        source_commit: cfg.commit.clone(),
        nonce: cfg.nonce.clone(),
        debug: cfg.debug,
        any_measurement: if by_policy {
            AnyMeasurement::Accept
        } else {
            cfg.any_measurement
        },
    };
    let verified = verify(
        &output,
        &expect,
        &TrustAnchors::vendor(),
        &cfg.allow_simulated,
        cfg.at,
    )
    .map_err(fail)?;
    if let (true, Some(policy)) = (by_policy, &cfg.policy) {
        let claims = verified.claims();
        let pinned = policy.pinned_registers(claims.platform);
        let required =
            kiln_verifier::build_output::required_registers(claims.platform, claims.simulated);
        let missing: Vec<String> = required
            .iter()
            .filter(|r| !pinned.iter().any(|p| p == *r))
            .map(|r| (*r).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(fail(BuildError::NoReference {
                platform: claims.platform,
                missing,
                nothing_pinned: pinned.is_empty(),
            }));
        }
    }
    Ok(verified)
}

/// What pins the builder image's measurement in a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinnedBy {
    /// `--expect-measurement` or `--reference`.
    CommandLine,
    /// The policy, whose pinned registers [`run`] checks cover the platform's required ones.
    Policy,
}

/// What pins the measurement, if anything (`None`: `--accept-any-measurement` and no
/// reference).
pub(crate) fn measurement_pinned_by(cfg: &VerifyConfig) -> Option<PinnedBy> {
    if cfg.measurement.is_some() || !cfg.measurements.is_empty() {
        Some(PinnedBy::CommandLine)
    } else if cfg.any_measurement == AnyMeasurement::Refuse && cfg.policy.is_some() {
        Some(PinnedBy::Policy)
    } else {
        None
    }
}

/// The human report of a success.
pub fn report_ok(cfg: &VerifyConfig, v: &VerifiedBuild) -> String {
    let mut out = String::new();
    for (link, what) in LINKS {
        if *link == "expectation" && !has_expectations(cfg) {
            continue;
        }
        if *link == "sbom" && v.sboms().is_empty() {
            continue;
        }
        out.push_str(&format!("ok  {link:<16} {what}\n"));
    }
    let claims = v.claims();
    if v.is_simulated() {
        out.push_str(
            "SIMULATED: the evidence comes from kiln's simulated TEE (a root you pinned), not \
             from hardware: it proves nothing about a real TEE\n",
        );
    }
    let pinning = v.pinning();
    let measured_by_policy =
        cfg.policy.is_some() && !pinning.pinned.iter().any(|p| p.starts_with("measurement "));
    if cfg.any_measurement == AnyMeasurement::Accept && !measured_by_policy {
        out.push_str(
            "WARNING: --accept-any-measurement: no reference pins the builder image, so this \
             output may come from ANY guest image, including one that leaks its signing key or \
             signs whatever the host asks; it proves only that some TEE signed it\n",
        );
    } else if measured_by_policy {
        out.push_str("measurement: pinned by the policy (checked below)\n");
    }
    out.push_str(&format!("pinned: {}\n", list_or_none(&pinning.pinned)));
    out.push_str(&format!(
        "not pinned: {}\n",
        list_or_none(&pinning.unpinned)
    ));
    let builder = &v.statement().predicate.run_details.builder.id;
    let builder_note = match (&cfg.builder_from, pinning.is_pinned("builder id")) {
        (Some(from), true) => format!("{builder} (pinned by {from})"),
        _ => format!("{builder} (the host's unverified claim: no reference names a builder)"),
    };
    out.push_str(&format!(
        "verified: {} subject(s), platform {}{}, builder {}, key {}\n",
        v.statement().subject.len(),
        claims.platform,
        if v.is_simulated() { " (SIMULATED)" } else { "" },
        builder_note,
        v.key_id()
    ));
    for s in &v.statement().subject {
        let digest = s.digest.get("sha256").map(String::as_str).unwrap_or("?");
        out.push_str(&format!("  {digest}  {}\n", s.name));
    }
    out.push_str(&collateral_lines(v));
    out
}

/// What the evidence was checked with: the TCB status, AMD's CRLs, and the collateral the
/// host added (unsigned by the guest, verified against the vendor roots).
fn collateral_lines(v: &VerifiedBuild) -> String {
    let mut out = String::new();
    let claims = v.claims();
    match &claims.details {
        kiln_verifier::PlatformDetails::SevSnp(d) => {
            if d.crls.is_empty() {
                out.push_str(
                    "revocation: NOT checked (no AMD CRL in evidence/; `kiln collateral fetch` \
                     fetches one)\n",
                );
            }
            for crl in &d.crls {
                out.push_str(&format!(
                    "revocation: {} not revoked (CRL of {}, next update {})\n",
                    crl.covers, crl.issuer, crl.next_update
                ));
            }
        }
        kiln_verifier::PlatformDetails::Tdx(_) => {
            out.push_str(&format!("tcb status: {}\n", claims.tcb.status));
        }
        kiln_verifier::PlatformDetails::Nitro(_) => {}
    }
    if !v.supplied_collateral().is_empty() {
        out.push_str(&format!(
            "collateral added by the host (not signed by the guest; verified against the vendor \
             roots): {}\n",
            v.supplied_collateral().join(", ")
        ));
    }
    out
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

fn has_expectations(cfg: &VerifyConfig) -> bool {
    cfg.measurement.is_some()
        || !cfg.measurements.is_empty()
        || cfg.source.is_some()
        || cfg.commit.is_some()
        || cfg.builder.is_some()
        || cfg.nonce.is_some()
}

/// The human report of a failure: the links before the broken one, then the broken one.
pub fn report_failure(e: &BuildError) -> String {
    let broken = e.link();
    let mut out = String::new();
    if LINKS.iter().any(|(l, _)| *l == broken) {
        for (link, what) in LINKS {
            if *link == broken {
                break;
            }
            out.push_str(&format!("ok  {link:<16} {what}\n"));
        }
    }
    out.push_str(&format!("BROKEN {broken}: {e}\n"));
    out
}

/// The JSON report.
pub fn json_report(v: Result<&VerifiedBuild, &BuildError>) -> serde_json::Value {
    match v {
        Ok(v) => json!({
            "verified": true,
            "simulated": v.is_simulated(),
            "keyId": v.key_id(),
            "builderId": v.statement().predicate.run_details.builder.id,
            "builderIdPinned": v.pinning().is_pinned("builder id"),
            "pinned": v.pinning().pinned,
            "unpinned": v.pinning().unpinned,
            "subjects": v.statement().subject.iter()
                .map(|s| json!({"name": s.name, "digest": s.digest}))
                .collect::<Vec<_>>(),
            "source": {
                "sha256": v.request().source.sha256,
                "commit": v.request().source.commit,
            },
            "nonce": v.request().nonce,
            "suppliedCollateral": v.supplied_collateral(),
            "sboms": v.sboms().iter().map(|s| s.format.as_str()).collect::<Vec<_>>(),
            "claims": v.claims(),
        }),
        Err(e) => json!({
            "verified": false,
            "brokenLink": e.link(),
            "error": e.to_string(),
        }),
    }
}

/// Evaluates the configured policy (if any) over a verified build.
pub fn evaluate_policy(
    cfg: &VerifyConfig,
    verified: &VerifiedBuild,
) -> Option<kiln_policy::Report> {
    let policy = cfg.policy.as_ref()?;
    Some(kiln_policy::evaluate(
        verified.into(),
        policy,
        cfg.rego.as_ref(),
        cfg.at,
    ))
}

/// `kiln verify`: runs the verification and the policy, prints the report (text or JSON) and
/// returns the exit code: 0 verified (and accepted), 1 a broken link, 2 an unreadable output,
/// 3 rejected by the policy.
pub fn execute(cfg: &VerifyConfig) -> u8 {
    match run(cfg) {
        Ok(v) => {
            let report = evaluate_policy(cfg, &v);
            let refreshed = match &cfg.refresh {
                None => None,
                Some(r) => match refresh_collateral(cfg, r, &v) {
                    Ok(x) => Some(x),
                    Err(e) => return fail(&e),
                },
            };
            if cfg.json {
                let mut json = json_report(Ok(&v));
                if let (Some(r), Some(obj)) = (&report, json.as_object_mut()) {
                    obj.insert("policy".into(), r.to_json());
                }
                if let (Some(r), Some(obj)) = (&refreshed, json.as_object_mut()) {
                    obj.insert("refreshedCollateral".into(), refresh_json(r));
                }
                print_json(&json);
            } else {
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "{}", report_ok(cfg, &v));
                if let Some(r) = &refreshed {
                    let _ = write!(out, "{}", refresh_text(&v, r));
                }
                if let Some(r) = &report {
                    let _ = write!(out, "\n{}", r.render_text());
                }
            }
            if refreshed.as_ref().is_some_and(|r| r.now.is_err()) {
                return EXIT_FAILED;
            }
            // 0 accepted, 3 rejected by the policy.
            let code = report.map_or(EXIT_OK, |r| r.exit_code().code());
            // A VSA says PASSED: it is written only for an output that passed everything.
            if let (EXIT_OK, Some(vsa)) = (code, &cfg.vsa) {
                match crate::commands::vsa::write_vsa(cfg, vsa, &v) {
                    Ok(note) => {
                        let mut err = std::io::stderr().lock();
                        let _ = write!(err, "{note}");
                    }
                    Err(e) => return fail(&e),
                }
            }
            code
        }
        Err(HostError::Verify { path, source }) => {
            if cfg.json {
                print_json(&json_report(Err(&source)));
            } else {
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "{}", report_failure(&source));
            }
            broken(path, source)
        }
        Err(e) => fail(&e),
    }
}

/// Reports a failed verification on stderr; its exit code: an unreadable output folder is an
/// I/O error (2), anything else a broken link (1).
fn broken(path: std::path::PathBuf, source: BuildError) -> u8 {
    let code = if matches!(source, BuildError::Io { .. }) {
        EXIT_USAGE
    } else {
        EXIT_FAILED
    };
    report_error(&HostError::Verify { path, source });
    code
}

/// `kiln sbom`: verifies the output as [`execute`] does (policy included), then prints the
/// SBOM of `format` as signed. Nothing is printed on stdout unless everything holds.
pub fn execute_sbom(cfg: &VerifyConfig, format: kiln_provenance::sbom::SbomFormat) -> u8 {
    match run(cfg) {
        Ok(v) => {
            if let Some(report) = evaluate_policy(cfg, &v) {
                let code = report.exit_code().code();
                if code != EXIT_OK {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "{}", report.render_text());
                    return code;
                }
            }
            let Some(sbom) = v.sboms().iter().find(|s| s.format == format) else {
                report_error(&HostError::Usage {
                    message: format!(
                        "{}: the output has no {} SBOM (built by a kiln that made none)",
                        cfg.out_dir.display(),
                        format.as_str()
                    ),
                });
                return EXIT_FAILED;
            };
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&sbom.document);
            let _ = out.write_all(b"\n");
            EXIT_OK
        }
        Err(HostError::Verify { path, source }) => {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{}", report_failure(&source));
            drop(err);
            broken(path, source)
        }
        Err(e) => fail(&e),
    }
}

/// What `--refresh-collateral` found.
#[derive(Debug)]
pub struct Refreshed {
    /// Where the collateral came from, and how many requests it took.
    pub requests: Vec<crate::collateral::Request>,
    /// The TCB status with current collateral, or why the evidence no longer verifies.
    pub now: Result<kiln_verifier::claims::TcbStatus, String>,
    /// Why nothing was refreshed (a platform whose collateral gives no TCB status).
    pub skipped: Option<String>,
}

/// `--refresh-collateral`: fetches current collateral for the output's TDX evidence and
/// verifies the evidence with it at the configured time, against the vendors' roots and the
/// simulated root only when the caller pinned it.
pub fn refresh_collateral(
    cfg: &VerifyConfig,
    refresh: &crate::cli::verify::RefreshConfig,
    v: &VerifiedBuild,
) -> Result<Refreshed, HostError> {
    use kiln_provenance::layout::EVIDENCE_DIR;
    use kiln_provenance::media::{EVIDENCE_NAME, SIMULATED_ROOT_NAME};
    let platform = v.claims().platform;
    if platform != kiln_verifier::Platform::Tdx {
        return Ok(Refreshed {
            requests: Vec::new(),
            now: Ok(v.claims().tcb.status),
            skipped: Some(format!(
                "{} evidence takes no TCB status from collateral; nothing to refresh",
                platform.as_str()
            )),
        });
    }
    let dir = cfg.out_dir.join(EVIDENCE_DIR);
    let quote_path = dir.join(EVIDENCE_NAME);
    let quote = std::fs::read(&quote_path).map_err(HostError::io(&quote_path, "read"))?;
    let cache = crate::collateral::cache::Cache::new(&refresh.cache);
    let http = crate::collateral::http::Http::new(crate::collateral::http::Patience::default());
    let fetched = crate::collateral::fetch_tdx(&quote, &refresh.sources, &cache, &http)
        .map_err(HostError::Collateral)?;
    let collateral = fetched
        .files
        .iter()
        .find(|(n, _)| *n == crate::collateral::COLLATERAL_FILE)
        .map(|(_, b)| b.clone())
        .unwrap_or_default();
    let mut anchors = TrustAnchors::vendor();
    if let AllowSimulated::PinnedRoots(pinned) = &cfg.allow_simulated {
        let root_path = dir.join(SIMULATED_ROOT_NAME);
        if let Ok(der) = std::fs::read(&root_path) {
            let digest: [u8; 32] = sha2::Sha256::digest(&der).into();
            if pinned.contains(&digest) {
                anchors
                    .allow_simulated(platform, "simulated root (pinned)", &der)
                    .map_err(|e| HostError::Usage {
                        message: format!("{}: {e}", root_path.display()),
                    })?;
            }
        }
    }
    let evidence = kiln_verifier::Evidence {
        platform: Some(platform),
        bytes: &quote,
        vek: None,
        chain: None,
        collateral: Some(&collateral),
        crl: None,
    };
    let now = kiln_verifier::Verifier::new(anchors)
        .verify(&evidence, cfg.at)
        .map(|verified| verified.claims().tcb.status)
        .map_err(|e| e.to_string());
    Ok(Refreshed {
        requests: fetched.requests,
        now,
        skipped: None,
    })
}

/// The text lines of a refresh.
fn refresh_text(v: &VerifiedBuild, r: &Refreshed) -> String {
    if let Some(why) = &r.skipped {
        return format!("refreshed collateral: {why}\n");
    }
    let then = v.claims().tcb.status;
    match &r.now {
        Ok(now) => format!(
            "TCB status with the output's collateral: {then:?}; with current collateral \
             ({} request{}): {now:?}\n",
            r.requests.len(),
            if r.requests.len() == 1 { "" } else { "s" }
        ),
        Err(e) => format!(
            "TCB status with the output's collateral: {then:?}; with current collateral the \
             evidence NO LONGER VERIFIES: {e}\n"
        ),
    }
}

fn refresh_json(r: &Refreshed) -> serde_json::Value {
    json!({
        "skipped": r.skipped,
        "requests": r.requests.iter().map(|q| json!({"url": q.url, "status": q.status})).collect::<Vec<_>>(),
        "tcbStatus": r.now.as_ref().ok(),
        "error": r.now.as_ref().err(),
    })
}
