//! The verification report: every check with its outcome, expected and found values, the
//! claims it saw, and a one-line verdict; rendered as text or JSON.

use std::fmt::{self, Write as _};

use serde::Serialize;

use super::BuildFacts;
use kiln_verifier::time::UnixTime;
use kiln_verifier::Claims;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The evidence meets the reference value.
    Pass,
    /// It does not: the policy rejects the evidence.
    Fail,
    /// The check does not apply to this evidence (the note says why).
    NotApplicable,
    /// Accepted by the policy, but worth a person's attention (for example a TDX status of
    /// SWHardeningNeeded in the accepted set, or simulated evidence the policy allows).
    Warning,
}

impl Outcome {
    /// The label used in the text report.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::NotApplicable => "N/A",
            Self::Warning => "WARN",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One check of the policy against the claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The policy key it checks, as written in the file (`sev-snp.measurement`,
    /// `tdx.accepted_tcb_statuses`, `nitro.pcr0`, `rego.allow`, ...).
    pub id: String,
    /// The outcome.
    pub outcome: Outcome,
    /// What the policy expects.
    pub expected: String,
    /// What the evidence shows.
    pub found: String,
    /// Why, where the outcome needs a word (not applicable, warnings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No check failed and the Rego rules (if any) allow.
    Accepted,
    /// At least one check failed.
    Rejected,
}

/// Exit codes of `kiln verify` and `kiln-verify` (documented in their `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ExitCode {
    /// 0: the evidence (or build) verified and the policy, if any, accepts it.
    Accepted,
    /// 1: the evidence or a signature was rejected.
    RejectedByEvidence,
    /// 2: a usage error, or a file could not be read or parsed (a malformed policy too).
    UsageOrIo,
    /// 3: the evidence is genuine but the policy rejects it.
    RejectedByPolicy,
}

impl ExitCode {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Self::Accepted => 0,
            Self::RejectedByEvidence => 1,
            Self::UsageOrIo => 2,
            Self::RejectedByPolicy => 3,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        Self::from(c.code())
    }
}

/// The result of evaluating a policy.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Accepted or rejected.
    pub verdict: Verdict,
    /// One line saying so, and why.
    pub summary: String,
    /// The policy file.
    pub policy: String,
    /// The Rego rule file, when one was evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<String>,
    /// The time the policy was evaluated at (ages are measured to it).
    pub evaluated_at: UnixTime,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The claims the checks saw.
    pub claims: Claims,
    /// The build the checks saw, for a build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildFacts>,
}

impl Report {
    /// Assembles a report and its verdict from the checks.
    pub(crate) fn new(
        policy: String,
        rules: Option<String>,
        evaluated_at: UnixTime,
        checks: Vec<Check>,
        claims: Claims,
        build: Option<BuildFacts>,
    ) -> Self {
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .map(|c| c.id.as_str())
            .collect();
        let count = |o: Outcome| checks.iter().filter(|c| c.outcome == o).count();
        let what = format!(
            "{}{} {} evidence",
            if claims.simulated { "SIMULATED " } else { "" },
            claims.platform,
            claims.product
        );
        let (verdict, summary) = if failed.is_empty() {
            let warnings = count(Outcome::Warning);
            (
                Verdict::Accepted,
                format!(
                    "ACCEPTED: {what} meets policy {policy} ({} checks passed, {warnings} warning{})",
                    count(Outcome::Pass),
                    if warnings == 1 { "" } else { "s" }
                ),
            )
        } else {
            (
                Verdict::Rejected,
                format!(
                    "REJECTED by policy {policy}: {what} fails {}",
                    failed.join(", ")
                ),
            )
        };
        Self {
            verdict,
            summary,
            policy,
            rules,
            evaluated_at,
            checks,
            claims,
            build,
        }
    }

    /// Whether the policy accepts the evidence.
    pub fn accepted(&self) -> bool {
        self.verdict == Verdict::Accepted
    }

    /// The exit code for this verdict: 0 or 3.
    pub fn exit_code(&self) -> ExitCode {
        match self.verdict {
            Verdict::Accepted => ExitCode::Accepted,
            Verdict::Rejected => ExitCode::RejectedByPolicy,
        }
    }

    /// The check with this id (the first, if several).
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Fail)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Warning)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        // Every field serialises to JSON (strings, numbers, maps with string keys).
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The report as text for a person: the claims seen, one line per check, the verdict.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let c = &self.claims;
        // Writing to a String cannot fail.
        let _ = writeln!(out, "policy:     {}", self.policy);
        if let Some(rules) = &self.rules {
            let _ = writeln!(out, "rules:      {rules}");
        }
        let _ = writeln!(
            out,
            "evidence:   {}{} {} (anchor {}, {:?})",
            if c.simulated { "SIMULATED " } else { "" },
            c.platform,
            c.product,
            c.anchor.name,
            c.anchor.origin
        );
        for (name, value) in &c.measurements {
            let _ = writeln!(out, "  {name:<9} {value}");
        }
        let _ = writeln!(
            out,
            "  tcb       {} {}",
            c.tcb.status,
            c.tcb
                .versions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let _ = writeln!(out, "  debug     {}", c.debug);
        if let Some(b) = &self.build {
            let _ = writeln!(out, "build:      {} ({})", b.builder_id, b.invocation_id);
            let _ = writeln!(out, "  source    sha256:{}", b.source_digest);
            if let Some(commit) = &b.source_commit {
                let _ = writeln!(out, "  commit    {commit}");
            }
            let _ = writeln!(out, "  subjects  {}", b.subjects.len());
        }
        let _ = writeln!(out, "checks at {}:", self.evaluated_at);
        let width = self.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for check in &self.checks {
            let _ = write!(
                out,
                "  {:<4}  {:<width$}  expected {}; found {}",
                check.outcome.label(),
                check.id,
                check.expected,
                check.found
            );
            if let Some(note) = &check.note {
                let _ = write!(out, " ({note})");
            }
            out.push('\n');
        }
        out.push_str(&self.summary);
        out.push('\n');
        out
    }
}
