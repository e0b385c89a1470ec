//! `[nitro]`: each reference value.

use super::*;

fn nitro_section(p: &mut Policy) -> &mut policy::NitroPolicy {
    p.nitro.as_mut().unwrap()
}

#[test]
fn nitro_pcrs() {
    for (c, at) in cases_of(Platform::Nitro, &NITRO_REAL) {
        for index in [0u16, 1, 2] {
            single_value(&c, None, at, &format!("nitro.pcr{index}"), |p| {
                let list = nitro_section(p).pcrs.get_mut(&index).unwrap();
                *list = list.iter().map(flip).collect();
            });
        }
        // A PCR the policy names but the document lacks.
        let mut p = starter(&c, None);
        nitro_section(&mut p)
            .pcrs
            .insert(31, vec![Hex(vec![0; 48])]);
        let r = eval(&c, None, &p, at);
        if !matches!(&c.details, PlatformDetails::Nitro(d) if d.pcrs.contains_key(&31)) {
            assert_rejected_by(&r, "nitro.pcr31");
        }
    }
}

#[test]
fn nitro_measurement_from_a_reference_file() {
    let dir = scratch("nitro-ref");
    let (c, at) = real("nitro-prod-2022-evervault");
    let json = format!(
        r#"{{"platform": "nitro", "measurements": {{"pcr0": "{}", "pcr2": "{}"}}}}"#,
        c.measurements["pcr0"], c.measurements["pcr2"]
    );
    std::fs::write(dir.join("eif.json"), json).unwrap();
    let p =
        Policy::from_toml_str_in("[nitro]\nmeasurement_from = \"eif.json\"\n", "p", &dir).unwrap();
    assert_accepted(&eval(&c, None, &p, at));
    let p = Policy::from_toml_str_in(
        &format!(
            "[nitro]\nmeasurement_from = \"eif.json\"\npcrs = {{ 2 = \"{}\" }}\n",
            flip(&c.measurements["pcr2"])
        ),
        "p",
        &dir,
    )
    .unwrap();
    // Literals and the file's values are both accepted.
    assert_accepted(&eval(&c, None, &p, at));
    std::fs::write(
        dir.join("eif.json"),
        format!(
            r#"{{"platform": "nitro", "measurements": {{"pcr0": "{}"}}}}"#,
            flip(&c.measurements["pcr0"])
        ),
    )
    .unwrap();
    let p =
        Policy::from_toml_str_in("[nitro]\nmeasurement_from = \"eif.json\"\n", "p", &dir).unwrap();
    assert_rejected_by(&eval(&c, None, &p, at), "nitro.pcr0");
}

#[test]
fn nitro_allow_debug() {
    for id in [
        "nitro-debug-2022-evervault",
        "nitro-debug-2023-evervault",
        "nitro-debug-2021-nitrite",
        "nitro-debug-2024-eternis-a",
    ] {
        let (c, at) = real(id);
        assert!(c.debug, "{id}");
        let r = eval(&c, None, &starter(&c, None), at);
        assert_eq!(
            r.check("nitro.allow_debug").unwrap().outcome,
            Outcome::Warning
        );
        single_value(&c, None, at, "nitro.allow_debug", |p| {
            nitro_section(p).allow_debug = false;
        });
    }
}

#[test]
fn nitro_max_document_age() {
    for (c, at) in cases_of(Platform::Nitro, &NITRO_REAL) {
        let now = at.saturating_add(600);
        let mut p = starter(&c, None);
        nitro_section(&mut p).max_document_age = Some(policy::Duration::parse("15m").unwrap());
        assert_accepted(&eval(&c, None, &p, now));
        nitro_section(&mut p).max_document_age = Some(policy::Duration::parse("5m").unwrap());
        assert_rejected_by(&eval(&c, None, &p, now), "nitro.max_document_age");
        // A document from the future (beyond the allowed skew) is refused too.
        nitro_section(&mut p).max_document_age = Some(policy::Duration::parse("1d").unwrap());
        let r = eval(&c, None, &p, at.saturating_sub(3600));
        assert_rejected_by(&r, "nitro.max_document_age");
    }
}

#[test]
fn nitro_module_id_pattern() {
    for (c, at) in cases_of(Platform::Nitro, &NITRO_REAL) {
        let module = c.instance_id.clone().unwrap();
        let mut p = starter(&c, None);
        nitro_section(&mut p).module_id_pattern = Some(module.clone());
        assert_accepted(&eval(&c, None, &p, at));
        let prefix: String = module.chars().take(2).collect();
        nitro_section(&mut p).module_id_pattern = Some(format!("{prefix}*"));
        assert_accepted(&eval(&c, None, &p, at));
        nitro_section(&mut p).module_id_pattern = Some(format!("x{module}"));
        assert_rejected_by(&eval(&c, None, &p, at), "nitro.module_id_pattern");
    }
}
