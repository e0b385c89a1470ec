//! `kiln policy init`: a commented starter policy holding the values seen in verified
//! evidence (and build). It accepts the evidence it came from; a person then loosens or
//! tightens it.

use std::fmt::Write as _;

use super::BuildFacts;
use kiln_verifier::nitro::NitroDetails;
use kiln_verifier::snp::{SigningKey, SnpDetails, TcbVersion};
use kiln_verifier::tdx::TdxDetails;
use kiln_verifier::{Claims, Hex, PlatformDetails, TcbStatus};

/// A TOML basic string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A TOML string holding hex.
fn h(v: &Hex) -> String {
    format!("\"{v}\"")
}

/// Builds the starter policy text.
pub(crate) fn starter(claims: &Claims, build: Option<&BuildFacts>) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail: the results of writeln! are ignored below.
    let _ = writeln!(
        o,
        "# kiln verification policy, written by `kiln policy init` from the {}{} {} evidence\n\
         # verified at {}. It accepts that evidence: review every value before relying on it.\n\
         # Reference: the documentation of kiln_policy. Keys left out are not checked.\n",
        if claims.simulated { "SIMULATED " } else { "" },
        claims.platform,
        claims.product,
        claims.verified_at
    );
    build_section(&mut o, claims, build);
    match &claims.details {
        PlatformDetails::SevSnp(d) => snp_section(&mut o, d),
        PlatformDetails::Tdx(d) => tdx_section(&mut o, claims, d),
        PlatformDetails::Nitro(d) => nitro_section(&mut o, d),
    }
    o
}

fn build_section(o: &mut String, claims: &Claims, build: Option<&BuildFacts>) {
    let _ = writeln!(o, "[build]");
    let _ = writeln!(o, "# The platforms accepted.");
    let _ = writeln!(o, "allowed_platforms = [{}]", q(claims.platform.as_str()));
    if claims.simulated {
        let _ = writeln!(
            o,
            "# WARNING: this evidence is SIMULATED and proves nothing about hardware. Set this to\n\
             # false (or remove it) for anything but tests."
        );
        let _ = writeln!(o, "allow_simulated = true");
    } else {
        let _ = writeln!(o, "# Evidence from kiln's TEE simulator is refused.");
        let _ = writeln!(o, "allow_simulated = false");
    }
    match build {
        Some(b) => {
            let _ = writeln!(o, "# The builder (provenance builder.id).");
            let _ = writeln!(o, "builder_id = {}", q(&b.builder_id));
            if let Some(repo) = &b.source_repository {
                let _ = writeln!(
                    o,
                    "# Where the source came from, as the build request says."
                );
                let _ = writeln!(o, "source_repository = {}", q(repo));
            }
            if let Some(commit) = &b.source_commit {
                let _ = writeln!(
                    o,
                    "# The source commit: pins this exact revision; remove it to accept others."
                );
                let _ = writeln!(o, "source_commit = {}", q(commit));
            }
            let _ = writeln!(
                o,
                "# SHA-256 of the deterministic source archive: pins these exact sources."
            );
            let _ = writeln!(
                o,
                "source_digest = {}",
                q(&b.source_digest.to_ascii_lowercase())
            );
        }
        None => {
            let _ = writeln!(
                o,
                "# For builds, pin the builder and the source:\n\
                 # builder_id = \"https://...\"\n# source_commit = \"...\"\n# source_digest = \"<sha256 hex>\""
            );
        }
    }
    let _ = writeln!(
        o,
        "# The oldest evidence accepted (Nitro timestamp, else the build's finishedOn):\n\
         # max_evidence_age = \"24h\"\n\
         # A nonce the evidence must carry (usually given on the command line instead):\n\
         # require_nonce = \"<hex>\"\n"
    );
}

fn tcb_inline(t: &TcbVersion) -> String {
    let mut s = format!(
        "{{ bl = {}, tee = {}, snp = {}, ucode = {}",
        t.bootloader, t.tee, t.snp, t.microcode
    );
    if let Some(fmc) = t.fmc {
        let _ = write!(s, ", fmc = {fmc}");
    }
    s.push_str(" }");
    s
}

fn snp_section(o: &mut String, d: &SnpDetails) {
    let gp = &d.policy;
    let _ = writeln!(o, "[sev-snp]");
    let _ = writeln!(
        o,
        "# Accepted launch measurements (a list), or measurement_from = \"image.json\"."
    );
    let _ = writeln!(o, "measurement = [{}]", h(&d.measurement));
    let _ = writeln!(o, "# HOST_DATA, FAMILY_ID and IMAGE_ID as launched.");
    let _ = writeln!(o, "host_data = {}", h(&d.host_data));
    let _ = writeln!(o, "family_id = {}", h(&d.family_id));
    let _ = writeln!(o, "image_id = {}", h(&d.image_id));
    let _ = writeln!(
        o,
        "# Minimum REPORTED_TCB and LAUNCH_TCB (the values seen on this {}). Per product:\n\
         # [sev-snp.by_product.{}] with min_tcb / min_launch_tcb.",
        d.product, d.product
    );
    let _ = writeln!(o, "min_tcb = {}", tcb_inline(&d.reported_tcb));
    let _ = writeln!(o, "min_launch_tcb = {}", tcb_inline(&d.launch_tcb));
    let _ = writeln!(o, "# Minimum GUEST_SVN.");
    let _ = writeln!(o, "min_guest_svn = {}", d.guest_svn);
    let _ = writeln!(o, "# The VMPLs accepted (0 is the most privileged).");
    let _ = writeln!(o, "vmpl = [{}]", d.vmpl);
    if gp.debug {
        let _ = writeln!(
            o,
            "# WARNING: this guest runs with DEBUG: the host can read its memory. Set false."
        );
    } else {
        let _ = writeln!(
            o,
            "# Guest policy DEBUG: the host could read the guest's memory."
        );
    }
    let _ = writeln!(o, "allow_debug = {}", gp.debug);
    let _ = writeln!(
        o,
        "# Guest policy MIGRATE_MA: a migration agent could export the guest."
    );
    let _ = writeln!(o, "allow_migration_agent = {}", gp.migrate_ma);
    let _ = writeln!(
        o,
        "# Guest policy SMT: false requires SMT to be disallowed."
    );
    let _ = writeln!(o, "allow_smt = {}", gp.smt);
    let _ = writeln!(o, "# Guest policy SINGLE_SOCKET required.");
    let _ = writeln!(o, "require_single_socket = {}", gp.single_socket);
    let key = match d.key_info.signing_key {
        SigningKey::Vcek => "vcek",
        SigningKey::Vlek => "vlek",
    };
    let _ = writeln!(
        o,
        "# The key that signs reports: \"vcek\", \"vlek\" or \"any\"."
    );
    let _ = writeln!(o, "signing_key = {}", q(key));
    let _ = writeln!(o, "# EPYC generations accepted.");
    let _ = writeln!(o, "products = [{}]", q(d.product.name()));
    let _ = writeln!(
        o,
        "# Require an unmasked CHIP_ID (false for VLEK or MASK_CHIP_ID)."
    );
    let _ = writeln!(o, "require_chip_id_unmasked = {}", !d.chip_id_masked);
    let _ = writeln!(
        o,
        "# Require revocation checked against AMD's CRL (crl.der of `kiln collateral fetch`)."
    );
    let _ = writeln!(o, "require_crl = {}", d.crls.iter().any(|c| c.from_root));
}

fn tdx_section(o: &mut String, claims: &Claims, d: &TdxDetails) {
    let _ = writeln!(o, "[tdx]");
    let _ = writeln!(
        o,
        "# Accepted MRTD and RTMRs (a value or a list), or measurement_from = \"image.json\"."
    );
    for name in ["mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3"] {
        if let Some(v) = claims.measurements.get(name) {
            let _ = writeln!(o, "{name} = [{}]", h(v));
        }
    }
    let _ = writeln!(o, "# The TDX module (MRSEAM) accepted.");
    let _ = writeln!(o, "mrseam = [{}]", h(&d.mrseam));
    let _ = writeln!(
        o,
        "# MRCONFIGID, MROWNER, MROWNERCONFIG and XFAM as launched."
    );
    let _ = writeln!(o, "mrconfigid = {}", h(&d.mrconfigid));
    let _ = writeln!(o, "mrowner = {}", h(&d.mrowner));
    let _ = writeln!(o, "mrownerconfig = {}", h(&d.mrownerconfig));
    let _ = writeln!(o, "xfam = {}", h(&d.xfam));
    let debug = d.td_attributes_flags.debug;
    if debug {
        let _ = writeln!(o, "# WARNING: this TD runs with DEBUG. Set false.");
    } else {
        let _ = writeln!(
            o,
            "# TD_ATTRIBUTES.DEBUG: the host could read the TD's state."
        );
    }
    let _ = writeln!(o, "allow_debug = {debug}");
    let _ = writeln!(
        o,
        "# Minimum TEE_TCB_SVN, component by component (the value seen)."
    );
    let _ = writeln!(o, "min_tee_tcb_svn = {}", h(&d.tee_tcb_svn));
    let status = claims.tcb.status;
    let mut accepted = vec![q(TcbStatus::UpToDate.as_str())];
    let known = !matches!(status, TcbStatus::Unknown | TcbStatus::NotApplicable);
    if known && status != TcbStatus::UpToDate {
        accepted.push(q(status.as_str()));
    }
    let _ = writeln!(
        o,
        "# TCB statuses accepted (the status seen: {status}); others than UpToDate warn."
    );
    let _ = writeln!(o, "accepted_tcb_statuses = [{}]", accepted.join(", "));
    let _ = writeln!(
        o,
        "# The oldest TCB info accepted:\n# max_collateral_age = \"30d\""
    );
    if known {
        let _ = writeln!(o, "# Quotes verified without collateral are refused.");
        let _ = writeln!(o, "allow_unknown_tcb = false");
    } else {
        let _ = writeln!(
            o,
            "# WARNING: this quote was verified without collateral, so its TCB status is\n\
             # unknown. Give collateral and set this to false."
        );
        let _ = writeln!(o, "allow_unknown_tcb = true");
    }
}

fn nitro_section(o: &mut String, d: &NitroDetails) {
    let _ = writeln!(o, "[nitro]");
    let _ = writeln!(
        o,
        "# Accepted PCR values by index (PCR0 image, PCR1 kernel, PCR2 application, PCR3 IAM\n\
         # role, PCR4 instance, PCR8 signing certificate), or measurement_from = \"image.json\"."
    );
    let entries: Vec<String> = d
        .pcrs
        .iter()
        .filter(|(i, v)| **i <= 2 || v.as_bytes().iter().any(|b| *b != 0))
        .map(|(i, v)| format!("{i} = {}", h(v)))
        .collect();
    let _ = writeln!(o, "pcrs = {{ {} }}", entries.join(", "));
    if d.debug {
        let _ = writeln!(
            o,
            "# WARNING: this enclave runs in DEBUG mode (PCRs zero). Set false."
        );
    } else {
        let _ = writeln!(o, "# Debug-mode enclaves (PCR0/1/2 zero) are refused.");
    }
    let _ = writeln!(o, "allow_debug = {}", d.debug);
    let _ = writeln!(
        o,
        "# The oldest document accepted:\n# max_document_age = \"5m\"\n\
         # The enclave's module id, a glob (the one seen is written here):\n\
         # module_id_pattern = {}",
        q(&d.module_id)
    );
}
