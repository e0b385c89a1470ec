//! `[nitro]`: the checks of a Nitro attestation document's fields.

use super::{glob_match, Checks, Ctx};
use crate::model::NitroPolicy;
use crate::report::Outcome;
use kiln_verifier::nitro::NitroDetails;
use kiln_verifier::time::UnixTime;

/// Runs the `[nitro]` checks.
pub(crate) fn check(ctx: &Ctx<'_>, p: &NitroPolicy, d: &NitroDetails, out: &mut Checks) {
    if !p.pcrs.contains_key(&0) {
        out.no_reference("nitro.pcr0", d.pcrs.get(&0));
    }
    for (index, accepted) in &p.pcrs {
        out.one_of(format!("nitro.pcr{index}"), accepted, d.pcrs.get(index));
    }

    let found = if d.debug {
        "debug mode (PCR0, PCR1, PCR2 all zero)"
    } else {
        "production mode"
    };
    if d.debug && p.allow_debug {
        out.push(
            "nitro.allow_debug",
            Outcome::Warning,
            "debug mode allowed",
            found,
            Some(
                "accepted by the policy, but a debug enclave's memory is open to its parent".into(),
            ),
        );
    } else {
        out.require(
            "nitro.allow_debug",
            p.allow_debug || !d.debug,
            if p.allow_debug {
                "debug mode allowed"
            } else {
                "production mode"
            },
            found,
        );
    }

    if let Some(max) = &p.max_document_age {
        out.age(
            "nitro.max_document_age",
            max,
            "document produced",
            UnixTime::from_millis(d.timestamp_ms),
            ctx.now,
        );
    }
    if let Some(pattern) = &p.module_id_pattern {
        out.require(
            "nitro.module_id_pattern",
            glob_match(pattern, &d.module_id),
            format!("module id matching {pattern:?}"),
            &d.module_id,
        );
    }
}
