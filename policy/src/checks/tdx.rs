//! `[tdx]`: the checks of a TDX quote's fields and of its collateral's verdict.

use super::{describe_list, Checks, Ctx};
use crate::model::TdxPolicy;
use crate::report::Outcome;
use kiln_verifier::tdx::TdxDetails;
use kiln_verifier::{Hex, TcbStatus};

/// Runs the `[tdx]` checks.
pub(crate) fn check(ctx: &Ctx<'_>, p: &TdxPolicy, d: &TdxDetails, out: &mut Checks) {
    let claims = ctx.claims;
    if !p.measurements.contains_key("mrtd") {
        out.no_reference("tdx.mrtd", claims.measurements.get("mrtd"));
    }
    for (name, accepted) in &p.measurements {
        out.one_of(
            format!("tdx.{name}"),
            accepted,
            claims.measurements.get(name),
        );
    }
    if !p.mrseam.is_empty() {
        out.one_of("tdx.mrseam", &p.mrseam, Some(&d.mrseam));
    }
    for (name, expected, found) in [
        ("tdx.mrconfigid", &p.mrconfigid, &d.mrconfigid),
        ("tdx.mrowner", &p.mrowner, &d.mrowner),
        ("tdx.mrownerconfig", &p.mrownerconfig, &d.mrownerconfig),
        ("tdx.xfam", &p.xfam, &d.xfam),
    ] {
        if let Some(expected) = expected {
            out.equal(name, expected, found);
        }
    }

    let debug = d.td_attributes_flags.debug;
    let found = format!("TD_ATTRIBUTES.DEBUG = {}", u8::from(debug));
    if debug && p.allow_debug {
        out.push(
            "tdx.allow_debug",
            Outcome::Warning,
            "DEBUG allowed",
            found,
            Some("accepted by the policy, but the host can read and write the TD's state".into()),
        );
    } else {
        out.require(
            "tdx.allow_debug",
            p.allow_debug || !debug,
            if p.allow_debug {
                "DEBUG allowed"
            } else {
                "TD_ATTRIBUTES.DEBUG = 0"
            },
            found,
        );
    }

    if let Some(min) = &p.min_tee_tcb_svn {
        tee_tcb_svn(min, &d.tee_tcb_svn, out);
    }

    tcb_status(ctx, p, out);

    if let Some(max) = &p.max_collateral_age {
        let id = "tdx.max_collateral_age";
        match &d.collateral {
            Some(c) => out.age(id, max, "TCB info issued", c.tcb_info_issue_date, ctx.now),
            None => out.not_applicable(
                id,
                format!("TCB info at most {max} old"),
                "the quote was verified without collateral",
            ),
        }
    }
}

/// `tdx.min_tee_tcb_svn`: every component at least the minimum's.
fn tee_tcb_svn(min: &Hex, found: &Hex, out: &mut Checks) {
    let low: Vec<String> = min
        .as_bytes()
        .iter()
        .zip(found.as_bytes())
        .enumerate()
        .filter(|(_, (m, f))| f < m)
        .map(|(i, (m, f))| format!("[{i}] {f} < {m}"))
        .collect();
    let ok = low.is_empty() && found.as_bytes().len() == min.as_bytes().len();
    out.push(
        "tdx.min_tee_tcb_svn",
        if ok { Outcome::Pass } else { Outcome::Fail },
        format!(">= {min} (component by component)"),
        found,
        (!low.is_empty()).then(|| format!("below the minimum: {}", low.join(", "))),
    );
}

/// The collateral's status against `accepted_tcb_statuses`, or `allow_unknown_tcb` when the
/// quote was verified without collateral.
fn tcb_status(ctx: &Ctx<'_>, p: &TdxPolicy, out: &mut Checks) {
    let tcb = &ctx.claims.tcb;
    let status = tcb.status;
    if matches!(status, TcbStatus::Unknown | TcbStatus::NotApplicable) {
        let id = "tdx.allow_unknown_tcb";
        let found = "TCB status unknown (no collateral)";
        if p.allow_unknown_tcb {
            out.push(
                id,
                Outcome::Warning,
                "collateral, or unknown TCB allowed",
                found,
                Some(
                    "accepted by the policy: nothing says whether the platform is up to date"
                        .into(),
                ),
            );
        } else {
            out.require(id, false, "a TCB status from collateral", found);
        }
        return;
    }
    let id = "tdx.accepted_tcb_statuses";
    let names: Vec<&str> = p.accepted_tcb_statuses.iter().map(|s| s.as_str()).collect();
    let expected = describe_list(&names);
    let found = if tcb.advisory_ids.is_empty() {
        status.to_string()
    } else {
        format!("{status} (advisories {})", tcb.advisory_ids.join(", "))
    };
    if !p.accepted_tcb_statuses.contains(&status) {
        out.require(id, false, expected, found);
    } else if status == TcbStatus::UpToDate {
        out.require(id, true, expected, found);
    } else {
        out.push(
            id,
            Outcome::Warning,
            expected,
            found,
            Some(format!(
                "{status} accepted by the policy: the platform is not fully up to date"
            )),
        );
    }
}
