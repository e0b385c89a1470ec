//! `[build]`: the checks common to every platform.

use super::{describe_list, Checks, Ctx};
use crate::report::Outcome;
use kiln_verifier::anchors::AnchorOrigin;
use kiln_verifier::{Hex, Platform};

/// Runs the `[build]` checks.
pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Checks) {
    let claims = ctx.claims;
    let b = &ctx.policy.build;

    // Platform.
    let allowed = ctx.policy.allowed_platforms();
    let names: Vec<&str> = allowed.iter().map(|p| p.as_str()).collect();
    out.require(
        "build.allowed_platforms",
        allowed.contains(&claims.platform),
        describe_list(&names),
        claims.platform,
    );

    // Simulated evidence.
    let found = format!("{} ({:?} root)", claims.anchor.name, claims.anchor.origin);
    let simulated = claims.simulated || claims.anchor.origin == AnchorOrigin::Simulated;
    match (simulated, b.allow_simulated) {
        (false, _) => out.require(
            "build.allow_simulated",
            true,
            "hardware evidence (vendor root)",
            found,
        ),
        (true, false) => out.require(
            "build.allow_simulated",
            false,
            "hardware evidence (vendor root)",
            found,
        ),
        (true, true) => out.push(
            "build.allow_simulated",
            Outcome::Warning,
            "hardware or simulated evidence",
            found,
            Some(
                "SIMULATED evidence accepted by the policy: it proves nothing about hardware"
                    .into(),
            ),
        ),
    }

    // The build's identity.
    let build_values = [
        (
            "build.builder_id",
            b.builder_id.clone(),
            ctx.build.map(|s| Some(s.builder_id.clone())),
        ),
        (
            "build.source_repository",
            b.source_repository.clone(),
            ctx.build.map(|s| s.source_repository.clone()),
        ),
        (
            "build.source_commit",
            b.source_commit.clone(),
            ctx.build.map(|s| s.source_commit.clone()),
        ),
        (
            "build.source_digest",
            b.source_digest.as_ref().map(Hex::to_string),
            ctx.build
                .map(|s| Some(s.source_digest.to_ascii_lowercase())),
        ),
    ];
    for (id, expected, found) in build_values {
        let Some(expected) = expected else { continue };
        match found {
            None => out.push(
                id,
                Outcome::Fail,
                &expected,
                "no build provenance",
                Some("only evidence was given: a build value cannot be established".into()),
            ),
            Some(found) => {
                let ok = found.as_deref() == Some(expected.as_str());
                out.require(id, ok, &expected, found.as_deref().unwrap_or("absent"));
            }
        }
    }

    // Evidence age.
    if let Some(max) = &b.max_evidence_age {
        let id = "build.max_evidence_age";
        if let Some(t) = claims.evidence_time {
            out.age(id, max, "evidence produced", t, ctx.now);
        } else if let Some(t) = ctx.build.and_then(|s| s.finished_on) {
            out.age(id, max, "build finished", t, ctx.now);
        } else {
            out.not_applicable(
                id,
                format!("evidence at most {max} old"),
                format!(
                    "{} evidence carries no time{}",
                    claims.platform,
                    if ctx.build.is_some() {
                        " and the provenance has no finishedOn time"
                    } else {
                        " and no build provenance was given"
                    }
                ),
            );
        }
    }

    // Nonce.
    if let Some(nonce) = &b.require_nonce {
        nonce_check(ctx, nonce, out);
    }
}

/// `build.require_nonce`: the build request's nonce (bound into the evidence through the
/// request digest), Nitro's `nonce` field, or the first bytes of REPORT_DATA.
fn nonce_check(ctx: &Ctx<'_>, nonce: &Hex, out: &mut Checks) {
    let id = "build.require_nonce";
    let claims = ctx.claims;
    if let Some(build) = ctx.build {
        let found = build.nonce.to_ascii_lowercase();
        out.require(id, found == nonce.to_string(), nonce, found);
        return;
    }
    match claims.platform {
        Platform::Nitro => {
            let found = claims.nonce.as_ref();
            out.require(
                id,
                found == Some(nonce),
                nonce,
                found.map_or_else(|| "no nonce".to_owned(), Hex::to_string),
            );
        }
        Platform::SevSnp | Platform::Tdx => {
            let data = claims.report_data.as_ref().map(Hex::as_bytes);
            let ok = data.is_some_and(|d| d.starts_with(nonce.as_bytes()));
            out.require(
                id,
                ok,
                format!("REPORT_DATA beginning with {nonce}"),
                data.map_or_else(|| "no REPORT_DATA".to_owned(), hex::encode),
            );
        }
    }
}
