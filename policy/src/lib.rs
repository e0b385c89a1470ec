//! kiln's policy engine, a crate of its own above the verifier library: whether verified evidence (or a verified build) is *acceptable*.
//!
//! Verification says the evidence is genuine; a policy says whether it is the right image, on
//! an up-to-date TCB, without debug mode, from the expected source and builder. kiln has one
//! policy file for all three TEEs (reference values as data, in TOML), optional Rego rules
//! for anything beyond it ([`rego`]), and a [`Report`] listing every check.
//!
//! ```no_run
//! use kiln_policy::{Policy, RegoRules};
//! # fn run(evidence: &kiln_verifier::VerifiedEvidence, now: kiln_verifier::UnixTime)
//! #     -> Result<(), kiln_policy::PolicyError> {
//! let policy = Policy::from_toml_file("policy.toml".as_ref())?;
//! let rules = RegoRules::from_file("rules.rego".as_ref())?;
//! let report = kiln_policy::evaluate(evidence.into(), &policy, Some(&rules), now);
//! println!("{}", report.render_text());
//! std::process::exit(report.exit_code().code().into());
//! # }
//! ```
//!
//! # The policy file
//!
//! TOML; keys are snake_case; unknown keys and malformed values are errors naming their line
//! and column. Hex values are case-insensitive, with an optional `0x`. Durations are written
//! `30s`, `15m`, `24h`, `7d`, `2w` or sums such as `1h30m`. Where a key takes a list of
//! accepted values, a single value may be written instead. A key left out is not checked,
//! except the defaults noted below.
//!
//! `[build]`, common to every platform:
//!
//! | key | value |
//! |---|---|
//! | `allowed_platforms` | `["sev-snp", "tdx", "nitro"]`; default: the platforms with a section, or all if none |
//! | `allow_simulated` | `false` unless written: evidence from the simulator is refused |
//! | `builder_id` | the provenance `builder.id` (builds only) |
//! | `source_repository`, `source_commit` | as the build request names them (builds only) |
//! | `source_digest` | SHA-256 hex of the source archive (builds only) |
//! | `max_evidence_age` | duration; the age is `now - evidence time` (Nitro timestamp), else `now - finishedOn` of the provenance, else not applicable |
//! | `require_nonce` | hex; a build's request nonce, a Nitro `nonce`, or the first bytes of SEV-SNP/TDX REPORT_DATA |
//!
//! A build value (`builder_id`, `source_*`) checked against evidence without a build fails:
//! it cannot be established.
//!
//! `[sev-snp]`:
//!
//! | key | value |
//! |---|---|
//! | `measurement` | hex (48 bytes) or list of accepted values |
//! | `measurement_from` | a reference file ([`reference`](mod@reference)), path relative to the policy file; its values join `measurement` |
//! | `host_data` (32 B), `family_id` (16 B), `image_id` (16 B) | hex |
//! | `min_tcb`, `min_launch_tcb` | `{ bl = 3, tee = 0, snp = 8, ucode = 115, fmc = 0 }`: minimum REPORTED_TCB / LAUNCH_TCB; components left out are not checked; `fmc` only counts on Turin |
//! | `[sev-snp.by_product.Milan]` | `min_tcb` and `min_launch_tcb` for one product (`Milan`, `Genoa`, `Turin`), replacing the section's own for that product |
//! | `min_guest_svn` | integer |
//! | `vmpl` | integer 0-3 or list of accepted VMPLs; `max_vmpl`: the highest accepted |
//! | `allow_debug`, `allow_migration_agent` | `false` unless written (guest policy DEBUG, MIGRATE_MA) |
//! | `allow_smt` | `true` unless written; `false` requires guest policy SMT = 0 |
//! | `require_single_socket` | `false` unless written |
//! | `signing_key` | `"vcek"`, `"vlek"` or `"any"` (default) |
//! | `products` | `["Milan", "Genoa", "Turin"]` accepted |
//! | `require_chip_id_unmasked` | `false` unless written |
//!
//! `[tdx]`:
//!
//! | key | value |
//! |---|---|
//! | `mrtd`, `rtmr0`..`rtmr3`, `mrseam` | hex (48 bytes) or list of accepted values |
//! | `measurement_from` | a reference file with `mrtd`, `rtmr0`..`rtmr3` |
//! | `mrconfigid`, `mrowner`, `mrownerconfig` (48 B), `xfam` (8 B) | hex |
//! | `allow_debug` | `false` unless written (TD_ATTRIBUTES.DEBUG) |
//! | `min_tee_tcb_svn` | 16 bytes hex, or a list of 16 integers; compared component by component |
//! | `accepted_tcb_statuses` | default `["UpToDate"]`; an accepted status other than UpToDate is a warning |
//! | `max_collateral_age` | duration; age = `now - TCB info issueDate` |
//! | `allow_unknown_tcb` | `false` unless written: a quote verified without collateral is refused |
//!
//! `[nitro]`:
//!
//! | key | value |
//! |---|---|
//! | `pcrs` | `{ 0 = "hex", 1 = "hex", 2 = ["hex", "hex"] }` (48 bytes each) |
//! | `measurement_from` | a reference file with `pcr0`, `pcr1`, ... |
//! | `allow_debug` | `false` unless written (debug mode: PCR0/1/2 zero) |
//! | `max_document_age` | duration; age = `now - document timestamp` |
//! | `module_id_pattern` | glob: `*` any run of characters, `?` one |
//!
//! A platform's checks run with that section's defaults even when the section is absent
//! (debug mode is refused everywhere unless allowed); a platform without a reference
//! measurement gets a warning.
//!
//! # Exit codes
//!
//! [`ExitCode`]: 0 accepted, 1 rejected by evidence or signature, 2 usage or I/O error
//! (including a malformed policy or rule file), 3 rejected by policy.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub(crate) mod checks;
pub(crate) mod de;
pub mod error;
mod file;
pub mod model;
pub mod reference;
pub mod rego;
pub mod report;
mod starter;

use std::path::Path;

use serde::Serialize;

pub use error::{Location, PolicyError};
pub use file::ReferenceResolver;
pub use model::{
    BuildPolicy, Duration, NitroPolicy, Policy, ProductTcb, SigningKeyPolicy, SnpPolicy, SnpTcb,
    TdxPolicy,
};
pub use reference::ReferenceValues;
pub use rego::RegoRules;
pub use report::{Check, ExitCode, Outcome, Report, Verdict};

use checks::{Checks, Ctx};
use kiln_verifier::build_output::{BuildRequest, Statement, VerifiedBuild};
use kiln_verifier::time::UnixTime;
use kiln_verifier::{Claims, PlatformDetails, VerifiedEvidence};

impl Policy {
    /// Reads a policy file; reference files resolve relative to its folder.
    pub fn from_toml_file(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        file::parse(&text, &path.display().to_string(), base, None)
    }

    /// Reads a policy file whose `measurement_from` entries may also name something
    /// `resolver` understands (the host resolves guest-image recipes and image folders by
    /// building and measuring them); anything it declines is read as a reference file.
    pub fn from_toml_file_with(
        path: &Path,
        resolver: file::ReferenceResolver<'_>,
    ) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_toml_text_of(&text, path, resolver)
    }

    /// Parses the text already read from the policy file `path` (its references resolve
    /// beside it), as [`Self::from_toml_file_with`] does: for a caller that also needs the
    /// file's exact bytes (a digest of the policy it applied).
    pub fn from_toml_text_of(
        text: &str,
        path: &Path,
        resolver: file::ReferenceResolver<'_>,
    ) -> Result<Self, PolicyError> {
        let base = path.parent().unwrap_or(Path::new("."));
        file::parse(text, &path.display().to_string(), base, Some(resolver))
    }

    /// Parses policy text; `origin` names it in messages. Reference files resolve relative
    /// to the current directory.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, PolicyError> {
        file::parse(text, origin, Path::new("."), None)
    }

    /// Parses policy text whose reference files resolve relative to `base`.
    pub fn from_toml_str_in(text: &str, origin: &str, base: &Path) -> Result<Self, PolicyError> {
        file::parse(text, origin, base, None)
    }

    /// A commented starter policy (TOML) holding the values seen in `claims` (and `build`),
    /// for `kiln policy init`. It parses back and accepts the evidence it came from.
    pub fn starter_from(claims: &Claims, build: Option<&BuildFacts>) -> String {
        starter::starter(claims, build)
    }

    /// The reference values as Rego sees them in `data`.
    pub fn to_json(&self) -> serde_json::Value {
        // Strings, numbers, booleans and maps with string keys only.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// One subject of a build: an artifact and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectSummary {
    /// Its path under `artifacts/`.
    pub name: String,
    /// Its SHA-256 (hex), when the statement gives one.
    pub sha256: Option<String>,
}

/// What a policy checks of a verified build, beyond the evidence claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildFacts {
    /// `builder.id`.
    pub builder_id: String,
    /// SHA-256 (hex) of the source archive.
    pub source_digest: String,
    /// The source commit, for a git source.
    pub source_commit: Option<String>,
    /// The source repository, where the request names one.
    pub source_repository: Option<String>,
    /// The caller's nonce (hex), bound into the evidence through the request digest.
    pub nonce: String,
    /// The invocation id.
    pub invocation_id: String,
    /// The launch backend (`sim`, `snp`, ...).
    pub backend: String,
    /// `metadata.startedOn`, when it parses as RFC 3339.
    pub started_on: Option<UnixTime>,
    /// `metadata.finishedOn`, when it parses as RFC 3339.
    pub finished_on: Option<UnixTime>,
    /// The statement's subjects.
    pub subjects: Vec<SubjectSummary>,
}

impl BuildFacts {
    /// The summary of a signed statement and the request it carries. Call it only with the
    /// statement and request of a [`VerifiedBuild`] (or use [`BuildFacts::from_verified`]).
    pub fn new(statement: &Statement, request: &BuildRequest) -> Self {
        let meta = &statement.predicate.run_details.metadata;
        Self {
            builder_id: statement.predicate.run_details.builder.id.clone(),
            source_digest: request.source.sha256.clone(),
            source_commit: request.source.commit.clone(),
            source_repository: request.source.repository.clone(),
            nonce: request.nonce.clone(),
            invocation_id: request.invocation_id.clone(),
            backend: request.backend.clone(),
            started_on: UnixTime::parse_rfc3339(&meta.started_on).ok(),
            finished_on: UnixTime::parse_rfc3339(&meta.finished_on).ok(),
            subjects: statement
                .subject
                .iter()
                .map(|s| SubjectSummary {
                    name: s.name.clone(),
                    sha256: s.digest.get("sha256").cloned(),
                })
                .collect(),
        }
    }

    /// The summary of a verified build.
    pub fn from_verified(build: &VerifiedBuild) -> Self {
        Self::new(build.statement(), build.request())
    }
}

/// The Rego `input`: the claims, plus `build` (or `null`).
pub fn rego_input(claims: &Claims, build: Option<&BuildFacts>) -> serde_json::Value {
    let mut input = serde_json::to_value(claims).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut input {
        map.insert(
            "build".into(),
            build
                .and_then(|b| serde_json::to_value(b).ok())
                .unwrap_or(serde_json::Value::Null),
        );
    }
    input
}

/// What a policy is evaluated over: a value only a verification produces.
#[derive(Debug, Clone, Copy)]
pub enum Verified<'a> {
    /// Verified evidence alone (`kiln-verify evidence --policy`).
    Evidence(&'a VerifiedEvidence),
    /// A verified build output: its evidence claims and the signed statement and request.
    Build(&'a VerifiedBuild),
}

impl<'a> From<&'a VerifiedEvidence> for Verified<'a> {
    fn from(v: &'a VerifiedEvidence) -> Self {
        Self::Evidence(v)
    }
}

impl<'a> From<&'a VerifiedBuild> for Verified<'a> {
    fn from(v: &'a VerifiedBuild) -> Self {
        Self::Build(v)
    }
}

/// Evaluates `policy` (and `rules`, if given) over a verified value at `now`.
///
/// 1. `[build]`: platform, simulated evidence, builder and source, evidence age, nonce.
/// 2. The section of the evidence's platform (its defaults when absent); the other platform
///    sections are reported not applicable.
/// 3. The Rego rules, with the claims as `input` and the reference values as `data`.
///
/// The verdict is *rejected* when any check fails; warnings do not reject.
pub fn evaluate(
    verified: Verified<'_>,
    policy: &Policy,
    rules: Option<&RegoRules>,
    now: UnixTime,
) -> Report {
    match verified {
        Verified::Evidence(evidence) => {
            evaluate_unchecked(evidence.claims(), None, policy, rules, now)
        }
        Verified::Build(build) => {
            let facts = BuildFacts::from_verified(build);
            evaluate_unchecked(build.claims(), Some(&facts), policy, rules, now)
        }
    }
}

/// [`evaluate`] over claims and build facts the caller vouches for: nothing here proves that
/// they came from a verification. For a policy author's tests (claims changed one value at a
/// time) and dry runs; a verdict on real outputs comes from [`evaluate`].
pub fn evaluate_unchecked(
    claims: &Claims,
    build: Option<&BuildFacts>,
    policy: &Policy,
    rules: Option<&RegoRules>,
    now: UnixTime,
) -> Report {
    let ctx = Ctx {
        claims,
        build,
        policy,
        now,
    };
    let mut out = Checks::default();
    // 1.
    checks::common::check(&ctx, &mut out);
    // 2.
    let platform = claims.platform;
    for (name, present, this) in [
        (
            "sev-snp",
            policy.sev_snp.is_some(),
            matches!(claims.details, PlatformDetails::SevSnp(_)),
        ),
        (
            "tdx",
            policy.tdx.is_some(),
            matches!(claims.details, PlatformDetails::Tdx(_)),
        ),
        (
            "nitro",
            policy.nitro.is_some(),
            matches!(claims.details, PlatformDetails::Nitro(_)),
        ),
    ] {
        if present && !this {
            out.not_applicable(
                format!("[{name}]"),
                format!("{name} evidence"),
                format!("the evidence is {platform}"),
            );
        }
    }
    match &claims.details {
        PlatformDetails::SevSnp(d) => {
            let section = policy.sev_snp.clone().unwrap_or_default();
            checks::snp::check(&section, d, &mut out);
        }
        PlatformDetails::Tdx(d) => {
            let section = policy.tdx.clone().unwrap_or_default();
            checks::tdx::check(&ctx, &section, d, &mut out);
        }
        PlatformDetails::Nitro(d) => {
            let section = policy.nitro.clone().unwrap_or_default();
            checks::nitro::check(&ctx, &section, d, &mut out);
        }
    }
    // 3.
    if let Some(rules) = rules {
        rego::evaluate(rules, rego_input(claims, build), policy.to_json(), &mut out);
    }
    Report::new(
        policy.origin.clone(),
        rules.map(|r| r.file().to_owned()),
        now,
        out.0,
        claims.clone(),
        build.cloned(),
    )
}
