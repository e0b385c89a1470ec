//! `[sev-snp]`: each reference value, and debug evidence against a production policy.

use super::*;

#[test]
fn snp_measurement() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        single_value(&c, None, at, "sev-snp.measurement", |p| {
            let s = snp_section(p);
            s.measurement = s.measurement.iter().map(flip).collect();
        });
    }
}

#[test]
fn snp_measurement_from_a_reference_file() {
    let dir = scratch("snp-ref");
    for (i, (c, at)) in cases_of(Platform::SevSnp, &SNP_REAL)
        .into_iter()
        .enumerate()
    {
        let m = &snp(&c).measurement;
        let write = |name: &str, value: &Hex| {
            let json = format!(
                r#"{{"platform": "sev-snp", "image": "test", "measurements": {{"measurement": "{value}"}}}}"#
            );
            std::fs::write(dir.join(name), json).unwrap();
        };
        write(&format!("good{i}.json"), m);
        write(&format!("bad{i}.json"), &flip(m));
        let text = Policy::starter_from(&c, None)
            .replace("measurement = [", "# measurement = [")
            .replace(
                "[sev-snp]\n",
                &format!("[sev-snp]\nmeasurement_from = \"good{i}.json\"\n"),
            );
        let p = Policy::from_toml_str_in(&text, "p.toml", &dir).unwrap();
        assert_eq!(p.sev_snp.as_ref().unwrap().measurement, vec![m.clone()]);
        assert_accepted(&eval(&c, None, &p, at));
        let text = text.replace(&format!("good{i}.json"), &format!("bad{i}.json"));
        let p = Policy::from_toml_str_in(&text, "p.toml", &dir).unwrap();
        assert_rejected_by(&eval(&c, None, &p, at), "sev-snp.measurement");
    }
}

#[test]
fn snp_host_data() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        single_value(&c, None, at, "sev-snp.host_data", |p| {
            let s = snp_section(p);
            s.host_data = s.host_data.as_ref().map(flip);
        });
    }
}

#[test]
fn snp_family_id() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        single_value(&c, None, at, "sev-snp.family_id", |p| {
            let s = snp_section(p);
            s.family_id = s.family_id.as_ref().map(flip);
        });
    }
}

#[test]
fn snp_image_id() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        single_value(&c, None, at, "sev-snp.image_id", |p| {
            let s = snp_section(p);
            s.image_id = s.image_id.as_ref().map(flip);
        });
    }
}

fn bump(t: Option<SnpTcb>, which: &str) -> Option<SnpTcb> {
    let mut t = t.unwrap();
    let up = |v: Option<u8>| v.map(|v| v.checked_add(1).unwrap());
    match which {
        "bl" => t.bl = up(t.bl),
        "tee" => t.tee = up(t.tee),
        "snp" => t.snp = up(t.snp),
        _ => t.ucode = up(t.ucode),
    }
    Some(t)
}

#[test]
fn snp_min_tcb() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        for component in ["bl", "tee", "snp", "ucode"] {
            single_value(&c, None, at, "sev-snp.min_tcb", |p| {
                let s = snp_section(p);
                s.min_tcb = bump(s.min_tcb, component);
            });
        }
    }
}

#[test]
fn snp_min_launch_tcb() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        single_value(&c, None, at, "sev-snp.min_launch_tcb", |p| {
            let s = snp_section(p);
            s.min_launch_tcb = bump(s.min_launch_tcb, "snp");
        });
    }
}

#[test]
fn snp_min_tcb_by_product() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        let product = snp(&c).product.name();
        let other = if product == "Milan" { "Genoa" } else { "Milan" };
        // A higher minimum for another product does not apply.
        let mut p = starter(&c, None);
        let s = snp_section(&mut p);
        let higher = ProductTcb {
            min_tcb: bump(s.min_tcb, "ucode"),
            min_launch_tcb: None,
        };
        s.by_product.insert(other.into(), higher);
        assert_accepted(&eval(&c, None, &p, at));
        // For this product it replaces the section's own.
        single_value(&c, None, at, "sev-snp.min_tcb", |p| {
            snp_section(p).by_product.insert(product.into(), higher);
        });
    }
    // Written in the file.
    let (c, at) = real("snp-milan-v2-virtee");
    let t = snp(&c).reported_tcb;
    let text = format!(
        "[sev-snp]\nmin_tcb = {{ bl = 0 }}\n[sev-snp.by_product.Milan]\nmin_tcb = {{ ucode = {} }}\n",
        u16::from(t.microcode) + 1
    );
    let p = Policy::from_toml_str(&text, "p").unwrap();
    assert!(failed(&eval(&c, None, &p, at)).contains(&"sev-snp.min_tcb"));
}

#[test]
fn snp_min_guest_svn() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        single_value(&c, None, at, "sev-snp.min_guest_svn", |p| {
            let s = snp_section(p);
            s.min_guest_svn = s.min_guest_svn.map(|v| v + 1);
        });
    }
}

#[test]
fn snp_vmpl() {
    for (c, at) in cases_of(
        Platform::SevSnp,
        &["snp-milan-v3-vlek-trustee", SNP_REAL[0]],
    ) {
        single_value(&c, None, at, "sev-snp.vmpl", |p| {
            let seen = snp(&c).vmpl;
            snp_section(p).vmpl = Some(vec![(seen + 1) % 4]);
        });
    }
}

#[test]
fn snp_max_vmpl() {
    // The VLEK vector was requested at VMPL 1.
    let (c, at) = real("snp-milan-v3-vlek-trustee");
    assert_eq!(snp(&c).vmpl, 1);
    let mut p = starter(&c, None);
    snp_section(&mut p).max_vmpl = Some(1);
    assert_accepted(&eval(&c, None, &p, at));
    snp_section(&mut p).max_vmpl = Some(0);
    assert_rejected_by(&eval(&c, None, &p, at), "sev-snp.max_vmpl");
}

/// SEV-SNP guest policy bits.
const SNP_SMT: u64 = 1 << 16;
const SNP_MUST_BE_ONE: u64 = 1 << 17;
const SNP_MIGRATE_MA: u64 = 1 << 18;
const SNP_DEBUG: u64 = 1 << 19;

#[test]
fn snp_allow_debug() {
    let debug = sim(
        Platform::SevSnp,
        Some(SNP_SMT | SNP_MUST_BE_ONE | SNP_DEBUG),
    );
    for (c, at) in [real("snp-milan-v2-debug-go-sev-guest"), (debug, sim_at())] {
        assert!(snp(&c).policy.debug);
        let p = starter(&c, None);
        let r = eval(&c, None, &p, at);
        assert_eq!(
            r.check("sev-snp.allow_debug").unwrap().outcome,
            Outcome::Warning
        );
        single_value(&c, None, at, "sev-snp.allow_debug", |p| {
            snp_section(p).allow_debug = false;
        });
    }
}

#[test]
fn snp_allow_migration_agent() {
    let c = sim(
        Platform::SevSnp,
        Some(SNP_SMT | SNP_MUST_BE_ONE | SNP_MIGRATE_MA),
    );
    single_value(&c, None, sim_at(), "sev-snp.allow_migration_agent", |p| {
        snp_section(p).allow_migration_agent = false;
    });
}

#[test]
fn snp_allow_smt() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        assert!(snp(&c).policy.smt);
        single_value(&c, None, at, "sev-snp.allow_smt", |p| {
            snp_section(p).allow_smt = false;
        });
    }
}

#[test]
fn snp_require_single_socket() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        assert!(!snp(&c).policy.single_socket);
        single_value(&c, None, at, "sev-snp.require_single_socket", |p| {
            snp_section(p).require_single_socket = true;
        });
    }
}

#[test]
fn snp_signing_key() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        single_value(&c, None, at, "sev-snp.signing_key", |p| {
            snp_section(p).signing_key = SigningKeyPolicy::Vlek;
        });
    }
    let (c, at) = real("snp-milan-v3-vlek-trustee");
    single_value(&c, None, at, "sev-snp.signing_key", |p| {
        snp_section(p).signing_key = SigningKeyPolicy::Vcek;
    });
}

#[test]
fn snp_products() {
    for (c, at) in cases_of(Platform::SevSnp, &SNP_REAL) {
        single_value(&c, None, at, "sev-snp.products", |p| {
            snp_section(p).products = Some(vec!["Turin".into()]);
        });
    }
}

#[test]
fn snp_require_chip_id_unmasked() {
    // A VLEK-signed report has a zero CHIP_ID.
    let (c, at) = real("snp-milan-v3-vlek-trustee");
    single_value(&c, None, at, "sev-snp.require_chip_id_unmasked", |p| {
        snp_section(p).require_chip_id_unmasked = true;
    });
    let c = sim(Platform::SevSnp, None);
    let p = starter(&c, None);
    assert!(p.sev_snp.as_ref().unwrap().require_chip_id_unmasked);
    assert_accepted(&eval(&c, None, &p, sim_at()));
}

#[test]
fn debug_evidence_fails_a_production_policy() {
    let production = Policy::from_toml_str(
        "[build]\nallowed_platforms = [\"sev-snp\", \"nitro\"]\n[sev-snp]\n[nitro]\n",
        "production.toml",
    )
    .unwrap();
    let (c, at) = real("snp-milan-v2-debug-go-sev-guest");
    assert_rejected_by(&eval(&c, None, &production, at), "sev-snp.allow_debug");
    let mut debug_docs = 0;
    for (id, c, at) in all_real() {
        let r = eval(&c, None, &production, at);
        if c.platform == Platform::Nitro && c.debug {
            debug_docs += 1;
            assert_rejected_by(&r, "nitro.allow_debug");
        } else if c.platform == Platform::SevSnp && !c.debug {
            assert_accepted(&r);
            assert!(r.warnings().any(|w| w.id == "sev-snp.measurement"), "{id}");
        }
    }
    assert!(debug_docs >= 4, "the manifest's debug Nitro documents");
    let r = eval(&sim(Platform::Nitro, None), None, &production, sim_at());
    assert!(!failed(&r).contains(&"nitro.allow_debug"));
}

/// Simulated SEV-SNP claims verified with the simulated ARK's CRL.
fn sim_with_crl() -> Claims {
    use kiln_tee::pki::snp::{SnpCrlIssuer, SnpCrlSpec};
    let profile = SimProfile::default_for(Platform::SevSnp);
    let tee = SimTee::launch(
        chip(),
        profile,
        process_measurement(Platform::SevSnp, b"enclave", b"params"),
        profile.default_policy(),
        FixedClock::new(MILLIS),
    )
    .unwrap();
    let ev = tee.evidence(&ReportData::new([0x5a; 64])).unwrap();
    let now = i64::try_from(MILLIS / 1000).unwrap();
    let crl = chip()
        .snp_crl(
            kiln_verifier::snp::SnpProduct::Milan,
            &SnpCrlSpec {
                issuer: SnpCrlIssuer::Ark,
                this_update: now - 86_400,
                next_update: now + 86_400,
                revoked: Vec::new(),
            },
        )
        .unwrap();
    let mut anchors = TrustAnchors::vendor();
    anchors
        .allow_simulated(
            Platform::SevSnp,
            "simulated root",
            ev.simulated_root_der.as_deref().unwrap(),
        )
        .unwrap();
    let evidence = Evidence::new(&ev.evidence)
        .vek(ev.vek_der.as_deref().unwrap())
        .chain(ev.chain_pem.as_deref().unwrap().as_bytes())
        .crl(&crl);
    Verifier::new(anchors)
        .verify(&evidence, sim_at())
        .unwrap()
        .claims()
        .clone()
}

#[test]
fn snp_require_crl() {
    // Evidence checked against the ARK's CRL: the starter requires it, and it passes.
    let checked = sim_with_crl();
    let p = starter(&checked, None);
    assert!(p.sev_snp.as_ref().unwrap().require_crl);
    assert_accepted(&eval(&checked, None, &p, sim_at()));
    // The same policy refuses evidence verified without a CRL, naming the check.
    let unchecked = sim(Platform::SevSnp, None);
    assert_rejected_by(&eval(&unchecked, None, &p, sim_at()), "sev-snp.require_crl");
    // A starter from unchecked evidence does not require one; written in, it rejects.
    single_value(&unchecked, None, sim_at(), "sev-snp.require_crl", |p| {
        snp_section(p).require_crl = true;
    });
    assert!(!starter(&unchecked, None).sev_snp.unwrap().require_crl);
}
