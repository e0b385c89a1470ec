//! Human and JSON output.

use kiln_policy::Report;
use kiln_verifier::{Error, PlatformDetails, TcbStatus, TrustAnchors, UnixTime, VerifiedEvidence};

/// Prints a policy's verification report: the text report, or the JSON one.
pub fn report(r: &Report, json: bool) {
    if json {
        out!(
            "{}",
            // The struct itself keeps the field order: verdict and summary first.
            serde_json::to_string_pretty(r).unwrap_or_else(|_| "null".into())
        );
    } else {
        print!("{}", r.render_text());
    }
}

/// Prints verified claims.
pub fn verified(v: &VerifiedEvidence, json: bool, at_is_now: bool) {
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(&v.to_json()).unwrap_or_else(|_| "null".into())
        );
        return;
    }
    let c = v.claims();
    if c.simulated {
        out!(
            "SIMULATED evidence verified: {} ({}) — this is NOT proof of real TEE hardware",
            c.platform,
            c.product
        );
    } else {
        out!("VERIFIED {} evidence ({})", c.platform, c.product);
    }
    let when = if at_is_now { " (now)" } else { "" };
    out!("  verified at   {}{when}", c.verified_at);
    out!(
        "  anchored by   {} (sha256 {})",
        c.anchor.name,
        c.anchor.sha256
    );
    for (name, value) in &c.measurements {
        out!("  {name:<13} {value}");
    }
    if let Some(rd) = &c.report_data {
        out!("  report_data   {rd}");
    }
    for (label, value) in [
        ("public_key", &c.public_key),
        ("user_data", &c.user_data),
        ("nonce", &c.nonce),
    ] {
        if let Some(v) = value {
            out!("  {label:<13} {v}");
        }
    }
    let versions: Vec<String> = c
        .tcb
        .versions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    match c.tcb.status {
        TcbStatus::Unknown => out!(
            "  tcb status    Unknown: no collateral was given, so the TCB level was NOT evaluated"
        ),
        status => out!("  tcb status    {status}"),
    }
    if !versions.is_empty() {
        out!("  tcb versions  {}", versions.join(" "));
    }
    if !c.tcb.advisory_ids.is_empty() {
        out!("  advisories    {}", c.tcb.advisory_ids.join(", "));
    }
    if let Some(id) = &c.chip_id {
        out!("  chip_id       {id}");
    }
    if let PlatformDetails::SevSnp(d) = &c.details {
        if d.crls.is_empty() {
            out!("  revocation    NOT checked: no CRL was given (--crl)");
        }
        for crl in &d.crls {
            out!(
                "  revocation    {} not revoked (CRL of {}, next update {})",
                crl.covers,
                crl.issuer,
                crl.next_update
            );
        }
    }
    if let Some(id) = &c.instance_id {
        out!("  instance      {id}");
    }
    if let Some(t) = c.evidence_time {
        out!("  evidence time {t}");
    }
    out!(
        "  debug         {}",
        if c.debug {
            "YES: the host can read the TEE's memory"
        } else {
            "no"
        }
    );
}

/// Prints a rejection (to stdout as JSON with --json, otherwise to stderr).
pub fn rejected(e: &Error, at: UnixTime, json: bool) {
    if json {
        let out = serde_json::json!({
            "verified": false,
            "kind": e.kind(),
            "error": e.to_string(),
            "at": at.to_string(),
        });
        out!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        eprintln!("REJECTED: {e}");
        eprintln!("  (verification time {at})");
    }
}

/// Prints the pinned roots.
pub fn roots(anchors: &TrustAnchors, json: bool) {
    if json {
        let list: Vec<_> = anchors
            .roots()
            .iter()
            .map(|a| {
                serde_json::json!({
                    "name": a.name,
                    "platform": a.platform,
                    "origin": a.origin,
                    "subject": a.cert.subject(),
                    "sha256": hex::encode(a.cert.sha256()),
                })
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return;
    }
    for a in anchors.roots() {
        out!(
            "{:<8} {:<28} {}",
            a.platform.as_str(),
            a.name,
            hex::encode(a.cert.sha256())
        );
    }
}
