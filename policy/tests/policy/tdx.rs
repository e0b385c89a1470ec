//! `[tdx]`: each reference value, and the collateral status against the accepted set.

use super::*;

#[test]
fn tdx_measurements_mrtd_and_rtmrs() {
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        for name in ["mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3"] {
            single_value(&c, None, at, &format!("tdx.{name}"), |p| {
                let list = tdx_section(p).measurements.get_mut(name).unwrap();
                *list = list.iter().map(flip).collect();
            });
        }
    }
}

#[test]
fn tdx_measurement_from_a_reference_file() {
    let dir = scratch("tdx-ref");
    let (c, at) = real("tdx-v4-uptodate-dcap-qvl");
    let m = &c.measurements;
    let json = format!(
        r#"{{"platform": "tdx", "measurements": {{"mrtd": "{}", "rtmr0": "{}"}}}}"#,
        m["mrtd"], m["rtmr0"]
    );
    std::fs::write(dir.join("image.json"), json).unwrap();
    let text = "[tdx]\nmeasurement_from = \"image.json\"\nallow_unknown_tcb = true\n";
    let p = Policy::from_toml_str_in(text, "p.toml", &dir).unwrap();
    assert_accepted(&eval(&c, None, &p, at));
    let json = format!(
        r#"{{"platform": "tdx", "measurements": {{"mrtd": "{}", "rtmr0": "{}"}}}}"#,
        m["mrtd"],
        flip(&m["rtmr0"])
    );
    std::fs::write(dir.join("image.json"), json).unwrap();
    let p = Policy::from_toml_str_in(text, "p.toml", &dir).unwrap();
    assert_rejected_by(&eval(&c, None, &p, at), "tdx.rtmr0");
    // A reference file for another platform is refused at load time, naming the line.
    std::fs::write(
        dir.join("image.json"),
        format!(
            r#"{{"platform": "nitro", "measurements": {{"pcr0": "{}"}}}}"#,
            m["mrtd"]
        ),
    )
    .unwrap();
    let err = Policy::from_toml_str_in(text, "p.toml", &dir).unwrap_err();
    assert!(err.to_string().starts_with("p.toml:2:"), "{err}");
}

#[test]
fn tdx_mrseam() {
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        single_value(&c, None, at, "tdx.mrseam", |p| {
            let s = tdx_section(p);
            s.mrseam = s.mrseam.iter().map(flip).collect();
        });
    }
}

#[test]
fn tdx_mrconfigid() {
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        single_value(&c, None, at, "tdx.mrconfigid", |p| {
            let s = tdx_section(p);
            s.mrconfigid = s.mrconfigid.as_ref().map(flip);
        });
    }
}

#[test]
fn tdx_mrowner() {
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        single_value(&c, None, at, "tdx.mrowner", |p| {
            let s = tdx_section(p);
            s.mrowner = s.mrowner.as_ref().map(flip);
        });
    }
}

#[test]
fn tdx_mrownerconfig() {
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        single_value(&c, None, at, "tdx.mrownerconfig", |p| {
            let s = tdx_section(p);
            s.mrownerconfig = s.mrownerconfig.as_ref().map(flip);
        });
    }
}

#[test]
fn tdx_xfam() {
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        single_value(&c, None, at, "tdx.xfam", |p| {
            let s = tdx_section(p);
            s.xfam = s.xfam.as_ref().map(flip);
        });
    }
}

#[test]
fn tdx_allow_debug() {
    let c = sim(Platform::Tdx, Some(0x1000_0001));
    assert!(tdx(&c).td_attributes_flags.debug);
    let r = eval(&c, None, &starter(&c, None), sim_at());
    assert_eq!(
        r.check("tdx.allow_debug").unwrap().outcome,
        Outcome::Warning
    );
    single_value(&c, None, sim_at(), "tdx.allow_debug", |p| {
        tdx_section(p).allow_debug = false;
    });
}

#[test]
fn tdx_min_tee_tcb_svn() {
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        single_value(&c, None, at, "tdx.min_tee_tcb_svn", |p| {
            let s = tdx_section(p);
            let mut min = s.min_tee_tcb_svn.clone().unwrap();
            min.0[0] = min.0[0].checked_add(1).unwrap();
            s.min_tee_tcb_svn = Some(min);
        });
    }
}

#[test]
fn tdx_collateral_status_decides_by_the_accepted_set() {
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        assert_eq!(c.tcb.status, TcbStatus::UpToDate);
        single_value(&c, None, at, "tdx.accepted_tcb_statuses", |p| {
            tdx_section(p).accepted_tcb_statuses = vec![TcbStatus::SWHardeningNeeded];
        });
        // The same quote rated SWHardeningNeeded: refused by default, a warning when accepted.
        let mut hardening = c.clone();
        hardening.tcb.status = TcbStatus::SWHardeningNeeded;
        let mut p = starter(&c, None);
        assert_rejected_by(&eval(&hardening, None, &p, at), "tdx.accepted_tcb_statuses");
        tdx_section(&mut p).accepted_tcb_statuses =
            vec![TcbStatus::UpToDate, TcbStatus::SWHardeningNeeded];
        let r = eval(&hardening, None, &p, at);
        assert_accepted(&r);
        let check = r.check("tdx.accepted_tcb_statuses").unwrap();
        assert_eq!(check.outcome, Outcome::Warning);
        assert_eq!(check.found, "SWHardeningNeeded");
        let mut outdated = c.clone();
        outdated.tcb.status = TcbStatus::OutOfDate;
        assert_rejected_by(&eval(&outdated, None, &p, at), "tdx.accepted_tcb_statuses");
    }
}

#[test]
fn tdx_allow_unknown_tcb() {
    for id in ["tdx-v4-gcp-no-collateral", "tdx-v4-no-collateral-dcap-qvl"] {
        let (c, at) = real(id);
        assert_eq!(c.tcb.status, TcbStatus::Unknown);
        let r = eval(&c, None, &starter(&c, None), at);
        assert_eq!(
            r.check("tdx.allow_unknown_tcb").unwrap().outcome,
            Outcome::Warning
        );
        single_value(&c, None, at, "tdx.allow_unknown_tcb", |p| {
            tdx_section(p).allow_unknown_tcb = false;
        });
    }
}

#[test]
fn tdx_max_collateral_age() {
    for (c, at) in cases_of(Platform::Tdx, &TDX_REAL) {
        let issued = tdx(&c).collateral.as_ref().unwrap().tcb_info_issue_date;
        let age = at.as_secs() - issued.as_secs();
        assert!(age > 60, "{age}");
        let mut p = starter(&c, None);
        tdx_section(&mut p).max_collateral_age =
            Some(policy::Duration::parse(&format!("{}s", age + 60)).unwrap());
        assert_accepted(&eval(&c, None, &p, at));
        tdx_section(&mut p).max_collateral_age =
            Some(policy::Duration::parse(&format!("{}s", age - 60)).unwrap());
        assert_rejected_by(&eval(&c, None, &p, at), "tdx.max_collateral_age");
    }
    // Without collateral: not applicable.
    let (c, at) = real("tdx-v4-gcp-no-collateral");
    let mut p = starter(&c, None);
    tdx_section(&mut p).max_collateral_age = Some(policy::Duration::parse("1d").unwrap());
    let r = eval(&c, None, &p, at);
    assert_eq!(
        r.check("tdx.max_collateral_age").unwrap().outcome,
        Outcome::NotApplicable
    );
}
