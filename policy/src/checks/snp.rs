//! `[sev-snp]`: the checks of an SEV-SNP report's fields.

use super::{describe_list, Checks};
use crate::model::{SigningKeyPolicy, SnpPolicy, SnpTcb};
use crate::report::Outcome;
use kiln_verifier::snp::{SigningKey, SnpDetails, TcbVersion};

/// Runs the `[sev-snp]` checks.
pub(crate) fn check(p: &SnpPolicy, d: &SnpDetails, out: &mut Checks) {
    let product = d.product.name();

    if p.measurement.is_empty() {
        out.no_reference("sev-snp.measurement", Some(&d.measurement));
    } else {
        out.one_of("sev-snp.measurement", &p.measurement, Some(&d.measurement));
    }
    if let Some(v) = &p.host_data {
        out.equal("sev-snp.host_data", v, &d.host_data);
    }
    if let Some(v) = &p.family_id {
        out.equal("sev-snp.family_id", v, &d.family_id);
    }
    if let Some(v) = &p.image_id {
        out.equal("sev-snp.image_id", v, &d.image_id);
    }

    let per_product = p.by_product.get(product);
    let reported = per_product
        .and_then(|t| t.min_tcb)
        .map(|t| (t, true))
        .or(p.min_tcb.map(|t| (t, false)));
    if let Some((min, specific)) = reported {
        tcb_check(
            "sev-snp.min_tcb",
            &min,
            &d.reported_tcb,
            specific,
            product,
            out,
        );
    }
    let launch = per_product
        .and_then(|t| t.min_launch_tcb)
        .map(|t| (t, true))
        .or(p.min_launch_tcb.map(|t| (t, false)));
    if let Some((min, specific)) = launch {
        tcb_check(
            "sev-snp.min_launch_tcb",
            &min,
            &d.launch_tcb,
            specific,
            product,
            out,
        );
    }

    if let Some(min) = p.min_guest_svn {
        out.require(
            "sev-snp.min_guest_svn",
            d.guest_svn >= min,
            format!(">= {min}"),
            d.guest_svn,
        );
    }
    if let Some(list) = &p.vmpl {
        out.require(
            "sev-snp.vmpl",
            list.contains(&d.vmpl),
            describe_list(list),
            d.vmpl,
        );
    }
    if let Some(max) = p.max_vmpl {
        out.require(
            "sev-snp.max_vmpl",
            d.vmpl <= max,
            format!("<= {max}"),
            d.vmpl,
        );
    }

    // Guest policy.
    let gp = &d.policy;
    flag(
        "sev-snp.allow_debug",
        p.allow_debug,
        gp.debug,
        "DEBUG",
        "the host can read and write the guest's memory",
        out,
    );
    flag(
        "sev-snp.allow_migration_agent",
        p.allow_migration_agent,
        gp.migrate_ma,
        "MIGRATE_MA",
        "a migration agent may export the guest",
        out,
    );
    if !p.allow_smt {
        out.require(
            "sev-snp.allow_smt",
            !gp.smt,
            "guest policy SMT = 0",
            format!("SMT = {}", u8::from(gp.smt)),
        );
    }
    if p.require_single_socket {
        out.require(
            "sev-snp.require_single_socket",
            gp.single_socket,
            "guest policy SINGLE_SOCKET = 1",
            format!("SINGLE_SOCKET = {}", u8::from(gp.single_socket)),
        );
    }

    let key = d.key_info.signing_key;
    match p.signing_key {
        SigningKeyPolicy::Any => {}
        wanted => {
            let ok = matches!(
                (wanted, key),
                (SigningKeyPolicy::Vcek, SigningKey::Vcek)
                    | (SigningKeyPolicy::Vlek, SigningKey::Vlek)
            );
            let expected = if wanted == SigningKeyPolicy::Vcek {
                "VCEK"
            } else {
                "VLEK"
            };
            out.require("sev-snp.signing_key", ok, expected, key.name());
        }
    }
    if let Some(products) = &p.products {
        out.require(
            "sev-snp.products",
            products.iter().any(|n| n == product),
            describe_list(products),
            product,
        );
    }
    if p.require_chip_id_unmasked {
        out.require(
            "sev-snp.require_chip_id_unmasked",
            !d.chip_id_masked,
            "CHIP_ID present",
            if d.chip_id_masked {
                "CHIP_ID masked (all zero)".to_owned()
            } else {
                d.chip_id.to_string()
            },
        );
    }
    if p.require_crl {
        let from_root = d.crls.iter().find(|c| c.from_root);
        out.require(
            "sev-snp.require_crl",
            from_root.is_some(),
            "revocation checked against AMD's CRL (issued by the ARK)",
            match from_root {
                Some(c) => format!("{} not revoked (CRL of {})", c.covers, c.issuer),
                None => "no CRL of the ARK was given: revocation NOT checked".to_owned(),
            },
        );
    }
}

/// A guest-policy bit the policy forbids unless `allowed`: set and allowed is a warning.
fn flag(id: &str, allowed: bool, set: bool, bit: &str, risk: &str, out: &mut Checks) {
    let found = format!("{bit} = {}", u8::from(set));
    match (set, allowed) {
        (true, true) => out.push(
            id,
            Outcome::Warning,
            format!("{bit} allowed"),
            found,
            Some(format!("accepted by the policy, but {risk}")),
        ),
        (_, true) => out.require(id, true, format!("{bit} allowed"), found),
        (_, false) => out.require(id, !set, format!("guest policy {bit} = 0"), found),
    }
}

/// A minimum TCB, component by component. A component the product does not have (FMC
/// before Turin) is skipped with a note when the minimum is not product-specific.
fn tcb_check(
    id: &str,
    min: &SnpTcb,
    found: &TcbVersion,
    specific: bool,
    product: &str,
    out: &mut Checks,
) {
    let mut low = Vec::new();
    let mut skipped = Vec::new();
    let mut expected = Vec::new();
    for (name, want) in min.components() {
        let have = match name {
            "bl" => Some(found.bootloader),
            "tee" => Some(found.tee),
            "snp" => Some(found.snp),
            "ucode" => Some(found.microcode),
            _ => found.fmc,
        };
        expected.push(format!("{name} >= {want}"));
        match have {
            Some(h) if h < want => low.push(format!("{name} {h} < {want}")),
            Some(_) => {}
            None => skipped.push(name),
        }
    }
    let found_text = format!(
        "bl {} tee {} snp {} ucode {}{}",
        found.bootloader,
        found.tee,
        found.snp,
        found.microcode,
        found.fmc.map(|f| format!(" fmc {f}")).unwrap_or_default()
    );
    let scope = if specific {
        format!(" ({product})")
    } else {
        String::new()
    };
    let mut note = Vec::new();
    if !low.is_empty() {
        note.push(format!("below the minimum: {}", low.join(", ")));
    }
    if !skipped.is_empty() {
        note.push(format!("{product} has no {} component", skipped.join(", ")));
    }
    out.push(
        id,
        if low.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail
        },
        format!("{}{scope}", expected.join(", ")),
        found_text,
        (!note.is_empty()).then(|| note.join("; ")),
    );
}
