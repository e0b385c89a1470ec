//! The policy engine: each reference value passes for the evidence it was written from and
//! fails when that one value changes, on the real vectors of `../shared/vectors` and on
//! simulated evidence; debug evidence fails a production policy; the TDX collateral status
//! decides by the accepted set; Rego rules; the report; file errors with their location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../../verifier/tests/common/mod.rs"]
mod common;
#[path = "policy/nitro.rs"]
mod nitro;
#[path = "policy/snp.rs"]
mod snp;
#[path = "policy/tdx.rs"]
mod tdx;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use kiln_policy::{
    self as policy, BuildFacts, ExitCode, Outcome, Policy, PolicyError, ProductTcb, RegoRules,
    Report, SigningKeyPolicy, SnpTcb, SubjectSummary,
};
use kiln_tee::sim::{FixedClock, SimChip, SimProfile, SimTee};
use kiln_tee::{process_measurement, ReportData, Tee};
use kiln_verifier::{
    Claims, Evidence, Hex, Platform, PlatformDetails, TcbStatus, TrustAnchors, UnixTime, Verifier,
};

// ---------------------------------------------------------------- evidence

const MILLIS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const NONCE: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn sim_at() -> UnixTime {
    UnixTime::from_secs(1_767_225_600 + 60)
}

/// The real vector `id`, verified at its manifest time.
fn real(id: &str) -> (Claims, UnixTime) {
    common::verified_claims(id)
}

/// Every verified case of the manifest.
fn all_real() -> Vec<(String, Claims, UnixTime)> {
    common::load_all()
        .into_iter()
        .filter(common::Loaded::verified)
        .map(|l| {
            let v = Verifier::default().verify(&l.evidence(), l.at).unwrap();
            (l.case.id.clone(), v.claims().clone(), l.at)
        })
        .collect()
}

fn chip() -> Arc<SimChip> {
    static CHIP: OnceLock<Arc<SimChip>> = OnceLock::new();
    Arc::clone(CHIP.get_or_init(|| SimChip::from_seed(&[9; 32])))
}

/// Simulated evidence of `platform` launched with guest `policy` (the profile's production
/// policy when `None`), verified with the simulated root allowed.
fn sim(platform: Platform, policy: Option<u64>) -> Claims {
    let tp = platform;
    let profile = SimProfile::default_for(tp);
    let tee = SimTee::launch(
        chip(),
        profile,
        process_measurement(tp, b"enclave", b"params"),
        policy.unwrap_or_else(|| profile.default_policy()),
        FixedClock::new(MILLIS),
    )
    .unwrap();
    let mut rd = ReportData::new([0x5a; 64]);
    if platform == Platform::Nitro {
        rd = rd
            .with_nitro_public_key(vec![4; 65])
            .with_nonce(hex::decode(NONCE).unwrap());
    }
    let ev = tee.evidence(&rd).unwrap();
    let mut anchors = TrustAnchors::vendor();
    anchors
        .allow_simulated(
            platform,
            "simulated root",
            ev.simulated_root_der.as_deref().unwrap(),
        )
        .unwrap();
    let evidence = Evidence {
        platform: Some(platform),
        bytes: &ev.evidence,
        vek: ev.vek_der.as_deref(),
        chain: ev.chain_pem.as_deref().map(str::as_bytes),
        collateral: ev.collateral_json.as_deref(),
        crl: None,
    };
    let v = Verifier::new(anchors).verify(&evidence, sim_at()).unwrap();
    assert!(v.is_simulated());
    v.claims().clone()
}

/// The summary of a build as `kiln verify` would pass it.
fn build() -> BuildFacts {
    BuildFacts {
        builder_id: "https://kiln.dev/builders/sim@v1".into(),
        source_digest: "ab".repeat(32),
        source_commit: Some("c0ffee".into()),
        source_repository: Some("https://example.invalid/app.git".into()),
        nonce: NONCE.into(),
        invocation_id: "0f0e0d0c".into(),
        backend: "sim".into(),
        started_on: Some(sim_at().saturating_sub(120)),
        finished_on: Some(sim_at().saturating_sub(60)),
        subjects: vec![SubjectSummary {
            name: "hello".into(),
            sha256: Some("cd".repeat(32)),
        }],
    }
}

// ---------------------------------------------------------------- helpers

fn flip(h: &Hex) -> Hex {
    let mut b = h.0.clone();
    b[0] ^= 1;
    Hex(b)
}

fn starter(claims: &Claims, build: Option<&BuildFacts>) -> Policy {
    let text = Policy::starter_from(claims, build);
    Policy::from_toml_str(&text, "starter.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn failed(r: &Report) -> Vec<&str> {
    r.failures().map(|c| c.id.as_str()).collect()
}

fn eval(claims: &Claims, build: Option<&BuildFacts>, p: &Policy, now: UnixTime) -> Report {
    policy::evaluate_unchecked(claims, build, p, None, now)
}

fn assert_accepted(r: &Report) {
    assert!(r.accepted(), "{}", r.render_text());
    assert_eq!(r.exit_code(), ExitCode::Accepted);
}

fn assert_rejected_by(r: &Report, id: &str) {
    assert_eq!(failed(r), vec![id], "{}", r.render_text());
    assert_eq!(r.exit_code(), ExitCode::RejectedByPolicy);
    assert_eq!(r.exit_code().code(), 3);
    let c = r.check(id).unwrap();
    assert!(!c.expected.is_empty() && !c.found.is_empty(), "{c:?}");
}

/// The single-value test: the starter written from `claims` accepts them; after `change`
/// the policy rejects them on exactly `id`.
fn single_value(
    claims: &Claims,
    build: Option<&BuildFacts>,
    now: UnixTime,
    id: &str,
    change: impl FnOnce(&mut Policy),
) {
    let mut p = starter(claims, build);
    assert_accepted(&eval(claims, build, &p, now));
    change(&mut p);
    assert_rejected_by(&eval(claims, build, &p, now), id);
}

fn snp(c: &Claims) -> &kiln_verifier::snp::SnpDetails {
    match &c.details {
        PlatformDetails::SevSnp(d) => d,
        _ => panic!("not SEV-SNP"),
    }
}

fn tdx(c: &Claims) -> &kiln_verifier::tdx::TdxDetails {
    match &c.details {
        PlatformDetails::Tdx(d) => d,
        _ => panic!("not TDX"),
    }
}

fn snp_section(p: &mut Policy) -> &mut policy::SnpPolicy {
    p.sev_snp.as_mut().unwrap()
}

fn tdx_section(p: &mut Policy) -> &mut policy::TdxPolicy {
    p.tdx.as_mut().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-policy-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The real vectors and simulated evidence of one platform.
fn cases_of(platform: Platform, real_ids: &[&str]) -> Vec<(Claims, UnixTime)> {
    let mut out: Vec<_> = real_ids.iter().map(|id| real(id)).collect();
    out.push((sim(platform, None), sim_at()));
    out
}

const SNP_REAL: [&str; 2] = ["snp-milan-v2-virtee", "snp-genoa-v3-azure"];
const TDX_REAL: [&str; 1] = ["tdx-v4-uptodate-dcap-qvl"];
const NITRO_REAL: [&str; 1] = ["nitro-prod-2022-evervault"];

// ---------------------------------------------------------------- starters

#[test]
fn starter_policies_accept_every_verified_vector_and_simulated_evidence() {
    let mut all = all_real();
    for p in [Platform::SevSnp, Platform::Tdx, Platform::Nitro] {
        all.push((format!("sim-{p}"), sim(p, None), sim_at()));
    }
    for (id, claims, at) in all {
        let text = Policy::starter_from(&claims, None);
        assert!(text.contains("# "), "{id}: the starter explains its fields");
        let p = Policy::from_toml_str(&text, &id).unwrap_or_else(|e| panic!("{id}: {e}\n{text}"));
        let r = eval(&claims, None, &p, at);
        assert!(r.accepted(), "{id}:\n{text}\n{}", r.render_text());
        // With the build it came from, too.
        let b = build();
        let p = starter(&claims, Some(&b));
        assert_accepted(&eval(&claims, Some(&b), &p, at));
    }
}

// ---------------------------------------------------------------- [build]

#[test]
fn build_allowed_platforms() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        single_value(&c, None, at, "build.allowed_platforms", |p| {
            p.build.allowed_platforms = Some(vec![Platform::Tdx, Platform::Nitro]);
        });
    }
    // Unwritten: the platforms with a section.
    let (c, at) = real("nitro-prod-2022-evervault");
    let p = Policy::from_toml_str("[tdx]\n", "p").unwrap();
    assert_rejected_by(&eval(&c, None, &p, at), "build.allowed_platforms");
}

#[test]
fn build_allow_simulated() {
    for p in [Platform::SevSnp, Platform::Tdx, Platform::Nitro] {
        let c = sim(p, None);
        let mut pol = starter(&c, None);
        let r = eval(&c, None, &pol, sim_at());
        assert_accepted(&r);
        assert_eq!(
            r.check("build.allow_simulated").unwrap().outcome,
            Outcome::Warning
        );
        pol.build.allow_simulated = false;
        assert_rejected_by(&eval(&c, None, &pol, sim_at()), "build.allow_simulated");
    }
    // Unless written, simulated evidence is refused.
    let c = sim(Platform::Nitro, None);
    let p = Policy::from_toml_str("[nitro]\nallow_debug = true\n", "p").unwrap();
    assert!(failed(&eval(&c, None, &p, sim_at())).contains(&"build.allow_simulated"));
}

#[test]
fn build_builder_id() {
    let b = build();
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        single_value(&c, Some(&b), at, "build.builder_id", |p| {
            p.build.builder_id = Some("https://evil.example/builder".into());
        });
        // A build value cannot be established from evidence alone.
        let p = starter(&c, Some(&b));
        let r = eval(&c, None, &p, at);
        assert!(
            failed(&r).contains(&"build.builder_id"),
            "{}",
            r.render_text()
        );
    }
}

#[test]
fn build_source_repository() {
    let b = build();
    for (c, at) in cases_of(Platform::Nitro, &NITRO_REAL) {
        single_value(&c, Some(&b), at, "build.source_repository", |p| {
            p.build.source_repository = Some("https://example.invalid/other.git".into());
        });
    }
}

#[test]
fn build_source_commit() {
    let b = build();
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        single_value(&c, Some(&b), at, "build.source_commit", |p| {
            p.build.source_commit = Some("deadbeef".into());
        });
    }
}

#[test]
fn build_source_digest() {
    let b = build();
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        single_value(&c, Some(&b), at, "build.source_digest", |p| {
            p.build.source_digest = p.build.source_digest.as_ref().map(flip);
        });
    }
}

#[test]
fn build_max_evidence_age() {
    // Nitro: the document's timestamp.
    for (c, at) in cases_of(Platform::Nitro, &NITRO_REAL) {
        let now = at.saturating_add(600);
        let mut p = starter(&c, None);
        p.build.max_evidence_age = Some(policy::Duration::parse("1h").unwrap());
        assert_accepted(&eval(&c, None, &p, now));
        p.build.max_evidence_age = Some(policy::Duration::parse("5m").unwrap());
        let r = eval(&c, None, &p, now);
        assert_rejected_by(&r, "build.max_evidence_age");
        assert!(r
            .check("build.max_evidence_age")
            .unwrap()
            .found
            .contains("old"));
    }
    // A build without an evidence time: the provenance's finishedOn.
    let c = sim(Platform::SevSnp, None);
    let b = build();
    let mut p = starter(&c, Some(&b));
    p.build.max_evidence_age = Some(policy::Duration::parse("2m").unwrap());
    assert_accepted(&eval(&c, Some(&b), &p, sim_at()));
    p.build.max_evidence_age = Some(policy::Duration::parse("30s").unwrap());
    assert_rejected_by(&eval(&c, Some(&b), &p, sim_at()), "build.max_evidence_age");
    // Neither: not applicable, with a note.
    let r = eval(&c, None, &p, sim_at());
    let check = r.check("build.max_evidence_age").unwrap();
    assert_eq!(check.outcome, Outcome::NotApplicable);
    assert!(check.note.as_deref().unwrap().contains("no time"));
}

#[test]
fn build_require_nonce() {
    // Nitro's nonce field.
    let c = sim(Platform::Nitro, None);
    single_value(&c, None, sim_at(), "build.require_nonce", |p| {
        p.build.require_nonce = Some(Hex(hex::decode(NONCE).unwrap().into_iter().rev().collect()));
    });
    let mut p = starter(&c, None);
    p.build.require_nonce = Some(Hex(hex::decode(NONCE).unwrap()));
    assert_accepted(&eval(&c, None, &p, sim_at()));
    // SEV-SNP on its own: the first bytes of REPORT_DATA (01 02 03 04 05 in this vector).
    let (c, at) = real("snp-milan-v2-debug-go-sev-guest");
    let mut p = starter(&c, None);
    p.build.require_nonce = Some(Hex(vec![1, 2, 3, 4, 5]));
    assert_accepted(&eval(&c, None, &p, at));
    p.build.require_nonce = Some(Hex(vec![1, 2, 3, 4, 6]));
    assert_rejected_by(&eval(&c, None, &p, at), "build.require_nonce");
    // A build: the request's nonce.
    let b = build();
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        let mut p = starter(&c, Some(&b));
        p.build.require_nonce = Some(Hex(hex::decode(NONCE).unwrap()));
        assert_accepted(&eval(&c, Some(&b), &p, at));
        p.build.require_nonce = Some(Hex(vec![0; 32]));
        assert_rejected_by(&eval(&c, Some(&b), &p, at), "build.require_nonce");
    }
}

// ---------------------------------------------------------------- Rego

const RULES: &str = r#"package kiln

allowed_builders := {"https://kiln.dev/builders/sim@v1", "https://kiln.dev/builders/release@v2"}

default allow := false

allow if {
    input.build.builder_id in allowed_builders
    count(deny) == 0
}

deny contains msg if {
    input.tcb.status == "SWHardeningNeeded"
    msg := sprintf("TCB status %s is forbidden by the rules", [input.tcb.status])
}

deny contains "the measurement is not the policy's" if {
    input.platform == "tdx"
    not input.measurements.mrtd in {m | some m in data.tdx.measurements.mrtd}
}
"#;

#[test]
fn rego_allows_only_certain_builders_and_forbids_a_tcb_status() {
    let rules = RegoRules::parse(RULES, "rules.rego").unwrap();
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        let mut b = build();
        let mut p = starter(&c, Some(&b));
        // A status the policy accepts (with a warning) but the rules forbid.
        tdx_section(&mut p).accepted_tcb_statuses =
            vec![TcbStatus::UpToDate, TcbStatus::SWHardeningNeeded];
        let r = policy::evaluate_unchecked(&c, Some(&b), &p, Some(&rules), at);
        assert_accepted(&r);
        assert_eq!(r.check("rego.allow").unwrap().outcome, Outcome::Pass);
        assert_eq!(r.rules.as_deref(), Some("rules.rego"));

        let mut hardening = c.clone();
        hardening.tcb.status = TcbStatus::SWHardeningNeeded;
        let r = policy::evaluate_unchecked(&hardening, Some(&b), &p, Some(&rules), at);
        let mut ids = failed(&r);
        ids.sort_unstable();
        assert_eq!(ids, ["rego.allow", "rego.deny"], "{}", r.render_text());
        let deny = r.check("rego.deny").unwrap();
        assert_eq!(
            deny.found,
            "TCB status SWHardeningNeeded is forbidden by the rules"
        );

        // Another builder: the policy file says nothing about builders here, the rules do.
        p.build.builder_id = None;
        b.builder_id = "https://evil.example/builder".into();
        let r = policy::evaluate_unchecked(&c, Some(&b), &p, Some(&rules), at);
        assert_rejected_by(&r, "rego.allow");
        assert_eq!(r.check("rego.allow").unwrap().found, "allow = false");
        // Evidence without a build: input.build is null, so allow is false.
        let mut evidence_only = p.clone();
        evidence_only.build = policy::BuildPolicy {
            allow_simulated: p.build.allow_simulated,
            ..policy::BuildPolicy::default()
        };
        let r = policy::evaluate_unchecked(&c, None, &evidence_only, Some(&rules), at);
        assert_rejected_by(&r, "rego.allow");
        // The rules read the reference values as data.
        let mut other = c.clone();
        let mrtd = other.measurements.get_mut("mrtd").unwrap();
        *mrtd = flip(mrtd);
        let r = policy::evaluate_unchecked(&other, Some(&build()), &p, Some(&rules), at);
        assert!(r
            .checks
            .iter()
            .any(|x| x.id == "rego.deny" && x.found == "the measurement is not the policy's"));
    }
}

#[test]
fn rego_syntax_errors_name_file_line_and_column() {
    let dir = scratch("rego");
    let path = dir.join("broken.rego");
    std::fs::write(
        &path,
        "package kiln\n\ndefault allow := false\n\nallow if {\n    input.debug == \n}\n",
    )
    .unwrap();
    let err = RegoRules::from_file(&path).unwrap_err();
    match &err {
        PolicyError::RegoSyntax {
            file,
            location: Some(at),
            message,
        } => {
            assert_eq!(file, &path.display().to_string());
            assert!((6..=7).contains(&at.line), "{err}");
            assert!(at.column >= 1);
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.contains("broken.rego:"), "{shown}");
    assert!(shown.contains("Rego syntax error"), "{shown}");
    // Another package is refused; so is a missing file.
    std::fs::write(&path, "package other\n\nallow := true\n").unwrap();
    assert!(matches!(
        RegoRules::from_file(&path),
        Err(PolicyError::RegoRules { .. })
    ));
    assert!(matches!(
        RegoRules::from_file(&dir.join("missing.rego")),
        Err(PolicyError::Io { .. })
    ));
}

#[test]
fn rego_without_allow_denies() {
    let rules = RegoRules::parse("package kiln\n\nx := 1\n", "r.rego").unwrap();
    let (c, at) = real("nitro-prod-2022-evervault");
    let r = policy::evaluate_unchecked(&c, None, &starter(&c, None), Some(&rules), at);
    assert_rejected_by(&r, "rego.allow");
    assert_eq!(r.check("rego.allow").unwrap().found, "allow undefined");
}

// ---------------------------------------------------------------- the report

#[test]
fn the_report_names_the_failing_check_with_expected_and_found() {
    let (c, at) = real("snp-milan-v2-virtee");
    let mut p = starter(&c, None);
    let seen = snp(&c).measurement.clone();
    let wanted = flip(&seen);
    snp_section(&mut p).measurement = vec![wanted.clone()];
    let r = eval(&c, None, &p, at);
    let check = r.check("sev-snp.measurement").unwrap();
    assert_eq!(check.outcome, Outcome::Fail);
    assert_eq!(check.expected, wanted.to_string());
    assert_eq!(check.found, seen.to_string());

    let text = r.render_text();
    let line = text
        .lines()
        .find(|l| l.contains("sev-snp.measurement"))
        .unwrap();
    assert!(line.trim_start().starts_with("FAIL"), "{line}");
    assert!(line.contains(&wanted.to_string()) && line.contains(&seen.to_string()));
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("REJECTED") && last.contains("sev-snp.measurement"),
        "{last}"
    );
    assert_eq!(r.summary, last);

    let json = r.to_json();
    assert_eq!(json["verdict"], "rejected");
    let failing: Vec<&serde_json::Value> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .collect();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0]["id"], "sev-snp.measurement");
    assert_eq!(failing[0]["expected"], wanted.to_string());
    assert_eq!(failing[0]["found"], seen.to_string());
    assert_eq!(json["claims"]["platform"], "sev-snp");
    assert_eq!(
        json["claims"]["measurements"]["measurement"],
        seen.to_string()
    );

    // Accepted: exit 0, every outcome kind spelled in JSON.
    let (c, at) = real("tdx-v4-gcp-no-collateral");
    let r = eval(&c, None, &starter(&c, None), at);
    assert_accepted(&r);
    assert!(r.summary.starts_with("ACCEPTED"));
    assert!(r.to_json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["outcome"] == "warning"));
    assert_eq!(ExitCode::RejectedByEvidence.code(), 1);
    assert_eq!(ExitCode::UsageOrIo.code(), 2);
}

#[test]
fn sections_for_other_platforms_are_not_applicable() {
    let (c, at) = real("snp-milan-v2-virtee");
    let mut p = starter(&c, None);
    p.build.allowed_platforms = Some(vec![Platform::SevSnp, Platform::Tdx]);
    p.tdx = Some(policy::TdxPolicy::default());
    let r = eval(&c, None, &p, at);
    assert_accepted(&r);
    assert_eq!(r.check("[tdx]").unwrap().outcome, Outcome::NotApplicable);
}

// ---------------------------------------------------------------- file errors

fn syntax_line(text: &str) -> usize {
    match Policy::from_toml_str(text, "policy.toml") {
        Err(e @ PolicyError::Syntax { .. }) | Err(e @ PolicyError::Invalid { .. }) => {
            let shown = e.to_string();
            let line = match &e {
                PolicyError::Syntax { location, .. } | PolicyError::Invalid { location, .. } => {
                    location.unwrap().line
                }
                _ => unreachable!(),
            };
            assert!(
                shown.starts_with(&format!("policy.toml:{line}:")),
                "{shown}"
            );
            line
        }
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn unknown_keys_and_malformed_values_name_their_line() {
    let m = "ab".repeat(48);
    let cases: Vec<(String, usize)> = vec![
        (
            "[build]\nallow_simulated = false\nbuilder = \"x\"\n".into(),
            3,
        ),
        ("[build]\n[sev]\n".into(), 2),
        (
            format!("[sev-snp]\nmeasurement = \"{m}\"\nallow_debugg = true\n"),
            3,
        ),
        ("[sev-snp]\n\nmeasurement = \"abcd\"\n".into(), 3),
        ("[sev-snp]\nmeasurement = \"zz\"\n".into(), 2),
        (
            "[sev-snp]\nmin_tcb = { bl = 3, tee = 0, snp = 8, ucode = 300 }\n".into(),
            2,
        ),
        ("[sev-snp]\nmin_tcb = { bl = 3, microcode = 1 }\n".into(), 2),
        ("[sev-snp]\nproducts = [\"Milan\", \"Rome\"]\n".into(), 2),
        ("[sev-snp]\nsigning_key = \"vcek2\"\n".into(), 2),
        ("[sev-snp]\nvmpl = 4\n".into(), 2),
        (
            "[sev-snp]\n[sev-snp.by_product.Naples]\nmin_tcb = { bl = 1 }\n".into(),
            2,
        ),
        (
            "[sev-snp]\n[sev-snp.by_product.Milan]\nmin_tcb = { fmc = 1 }\n".into(),
            2,
        ),
        ("[build]\nmax_evidence_age = \"24 hours\"\n".into(), 2),
        ("[build]\nallowed_platforms = [\"sgx\"]\n".into(), 2),
        ("[build]\nallow_simulated = \"no\"\n".into(), 2),
        ("[build]\nsource_digest = \"abcd\"\n".into(), 2),
        (
            "[tdx]\naccepted_tcb_statuses = [\"UpToDate\", \"Revoked\"]\n".into(),
            2,
        ),
        ("[tdx]\naccepted_tcb_statuses = []\n".into(), 2),
        ("[tdx]\nmin_tee_tcb_svn = [1, 2, 3]\n".into(), 2),
        ("[tdx]\nxfam = \"00\"\n".into(), 2),
        ("[nitro]\npcrs = { 0 = \"abcd\" }\n".into(), 2),
        ("[nitro]\npcrs = { x = \"abcd\" }\n".into(), 2),
        (
            "[nitro]\nmeasurement_from = \"/nonexistent/ref.json\"\n".into(),
            2,
        ),
        ("[nitro\n".into(), 1),
    ];
    for (text, line) in cases {
        assert_eq!(syntax_line(&text), line, "{text}");
    }
}

#[test]
fn a_policy_file_loads_from_disk_with_reference_paths_beside_it() {
    let dir = scratch("file");
    let (c, at) = real("snp-milan-v3-oak");
    std::fs::write(
        dir.join("image.json"),
        format!(
            r#"{{"platform": "sev-snp", "measurements": {{"measurement": "{}"}}}}"#,
            snp(&c).measurement
        ),
    )
    .unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(
        &path,
        "[sev-snp]\nmeasurement_from = \"image.json\"\nallow_smt = true\n",
    )
    .unwrap();
    let p = Policy::from_toml_file(&path).unwrap();
    assert_eq!(p.origin, path.display().to_string());
    assert_accepted(&eval(&c, None, &p, at));
    assert!(matches!(
        Policy::from_toml_file(&dir.join("missing.toml")),
        Err(PolicyError::Io { .. })
    ));
}

#[test]
fn evaluate_over_verified_evidence_is_the_evaluation_of_its_claims() {
    for l in common::load_all().iter().filter(|l| l.verified()) {
        let verified = Verifier::default().verify(&l.evidence(), l.at).unwrap();
        let p = starter(verified.claims(), None);
        let over_verified = policy::evaluate((&verified).into(), &p, None, l.at);
        assert_accepted(&over_verified);
        let over_claims = policy::evaluate_unchecked(verified.claims(), None, &p, None, l.at);
        assert_eq!(
            over_verified.to_json(),
            over_claims.to_json(),
            "{}",
            l.case.id
        );
        // A policy for another platform's evidence rejects it through the same entry point.
        let mut other = p.clone();
        other.build.allowed_platforms = Some(
            vec![Platform::Nitro, Platform::Tdx, Platform::SevSnp]
                .into_iter()
                .filter(|x| *x != verified.claims().platform)
                .collect(),
        );
        let r = policy::evaluate((&verified).into(), &other, None, l.at);
        assert!(!r.accepted(), "{}", l.case.id);
    }
}
