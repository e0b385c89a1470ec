//! Matching a verified quote against verified collateral, following Intel's Quote
//! Verification Library (`QuoteVerifier.cpp` §4.1.2.4.11–17, `TcbLevelCheck.cpp`,
//! `TdxModuleCheck.cpp`, `EnclaveReportVerifier.cpp`).
//!
//! Not implemented: the TD relaunch check of TDX 1.5 (`TDRelaunchCheck.cpp`), which can only
//! turn an `OutOfDate` result into `TDRelaunchAdvised`; kiln reports `OutOfDate`, the
//! conservative answer, and keeps `TEE_TCB_SVN2` in the details.

use super::collateral::{IntelStatus, IsvLevel, QeIdentity, TcbInfo, TcbLevel, TdxModuleIdentity};
use super::pck::SgxExtension;
use super::quote::{Body, QeReport};
use crate::claims::TcbStatus;
use crate::error::Error;

/// The TDX module identity that applied, and its matched level.
#[derive(Debug, Clone)]
pub struct ModuleMatch<'a> {
    /// The identity (`TDX_xx`).
    pub(crate) identity: &'a TdxModuleIdentity,
    /// The level matched by `TEE_TCB_SVN[0]`.
    pub(crate) level: &'a IsvLevel,
}

/// The result of matching a quote against its collateral. Only [`evaluate`] makes one.
#[derive(Debug, Clone)]
pub struct TcbEvaluation<'a> {
    /// The first level matching the PCK's SGX TCB alone.
    pub(crate) sgx_level: &'a TcbLevel,
    /// The first level matching the PCK's SGX TCB and the quote's `TEE_TCB_SVN`.
    pub(crate) tdx_level: &'a TcbLevel,
    /// The TDX module identity, when `TEE_TCB_SVN[1]` selects one.
    pub(crate) module: Option<ModuleMatch<'a>>,
    /// The QE identity level matched by the QE's `ISVSVN`.
    pub(crate) qe_level: &'a IsvLevel,
    /// The converged status (never `Revoked`: that is an error).
    pub(crate) status: TcbStatus,
    /// Advisories of the TDX level, the module level and the QE level, de-duplicated.
    pub(crate) advisory_ids: Vec<String>,
}

fn masked_eq(value: &[u8], mask: &[u8], expected: &[u8]) -> bool {
    value.len() == mask.len()
        && mask.len() == expected.len()
        && value
            .iter()
            .zip(mask)
            .zip(expected)
            .all(|((v, m), e)| v & m == *e)
}

/// §4.1.2.4.14–15: the QE report matches the QE identity (MRSIGNER, ISVPRODID, MISCSELECT and
/// ATTRIBUTES under their masks) and its ISVSVN reaches a level (the first, in the given
/// order, whose `isvsvn` it is at least). A revoked QE level is an error.
pub fn match_qe<'a>(qe: &QeReport, id: &'a QeIdentity) -> Result<&'a IsvLevel, Error> {
    if qe.mrsigner != id.mrsigner {
        return Err(Error::mismatch(
            "QE MRSIGNER",
            hex::encode(id.mrsigner),
            hex::encode(qe.mrsigner),
        ));
    }
    if qe.isvprodid != id.isvprodid {
        return Err(Error::mismatch("QE ISVPRODID", id.isvprodid, qe.isvprodid));
    }
    if !masked_eq(&qe.miscselect, &id.miscselect_mask, &id.miscselect) {
        return Err(Error::mismatch(
            "QE MISCSELECT (masked)",
            hex::encode(id.miscselect),
            hex::encode(qe.miscselect),
        ));
    }
    if !masked_eq(&qe.attributes, &id.attributes_mask, &id.attributes) {
        return Err(Error::mismatch(
            "QE ATTRIBUTES (masked)",
            hex::encode(id.attributes),
            hex::encode(qe.attributes),
        ));
    }
    let level = id
        .tcb_levels
        .iter()
        .find(|l| qe.isvsvn >= l.tcb.isvsvn)
        .ok_or_else(|| Error::TcbLevelNotFound {
            what: "QE identity",
            found: format!("QE ISVSVN {}", qe.isvsvn),
        })?;
    if level.tcb_status == IntelStatus::Revoked {
        return Err(Error::TcbRevoked {
            what: "QE",
            level: format!("isvsvn {} ({})", level.tcb.isvsvn, level.tcb_date),
        });
    }
    Ok(level)
}

/// §4.1.2.4.11: MRSIGNERSEAM and SEAMATTRIBUTES match the TDX module identity selected by
/// `TEE_TCB_SVN[1]` (`TDX_` + two hex digits, compared case-insensitively), or `tdxModule`
/// when `TEE_TCB_SVN[1]` is 0. With an identity, its level is the first whose `isvsvn` is at
/// most `TEE_TCB_SVN[0]`.
pub fn match_module<'a>(body: &Body, info: &'a TcbInfo) -> Result<Option<ModuleMatch<'a>>, Error> {
    let [module_svn, module_version, ..] = body.tee_tcb_svn;
    let (identity, mrsigner, attributes, mask) = if module_version == 0 {
        let m = &info.tdx_module;
        (None, &m.mrsigner, &m.attributes, &m.attributes_mask)
    } else {
        let wanted = format!("TDX_{module_version:02X}");
        let identity = info
            .tdx_module_identities
            .iter()
            .find(|i| i.id.eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| {
                Error::mismatch(
                    "TDX module identity",
                    &wanted,
                    format!(
                        "none in the TCB info (it has {:?})",
                        info.tdx_module_identities
                            .iter()
                            .map(|i| &i.id)
                            .collect::<Vec<_>>()
                    ),
                )
            })?;
        (
            Some(identity),
            &identity.mrsigner,
            &identity.attributes,
            &identity.attributes_mask,
        )
    };
    if body.mrsignerseam != *mrsigner {
        return Err(Error::mismatch(
            "TDX module MRSIGNERSEAM",
            hex::encode(mrsigner),
            hex::encode(body.mrsignerseam),
        ));
    }
    if !masked_eq(&body.seam_attributes, mask, attributes) {
        return Err(Error::mismatch(
            "TDX module SEAMATTRIBUTES (masked)",
            hex::encode(attributes),
            hex::encode(body.seam_attributes),
        ));
    }
    let Some(identity) = identity else {
        return Ok(None);
    };
    let level = identity
        .tcb_levels
        .iter()
        .find(|l| u16::from(module_svn) >= l.tcb.isvsvn)
        .ok_or_else(|| Error::TcbLevelNotFound {
            what: "TDX module",
            found: format!("{} with SVN {module_svn}", identity.id),
        })?;
    Ok(Some(ModuleMatch { identity, level }))
}

/// §4.1.2.4.17 (`matchTcbLevels`): the SGX level is the first whose SGX components and PCESVN
/// the PCK reaches; the TDX level is the first that, in addition, `TEE_TCB_SVN` reaches,
/// compared from index 2 when a module identity decides the module's own SVNs (indexes 0, 1).
pub fn match_platform<'a>(
    ext: &SgxExtension,
    tee_tcb_svn: &[u8; 16],
    info: &'a TcbInfo,
) -> Result<(&'a TcbLevel, &'a TcbLevel), Error> {
    let sgx_ok = |l: &TcbLevel| {
        ext.pcesvn >= l.pcesvn
            && ext
                .sgx_tcb_components
                .iter()
                .zip(&l.sgx)
                .all(|(p, m)| p >= m)
    };
    let skip = if tee_tcb_svn.get(1).is_some_and(|v| *v > 0) {
        2
    } else {
        0
    };
    let tdx_ok = |l: &TcbLevel| {
        tee_tcb_svn
            .iter()
            .zip(&l.tdx)
            .skip(skip)
            .all(|(q, m)| q >= m)
    };
    let sgx_level =
        info.tcb_levels
            .iter()
            .find(|l| sgx_ok(l))
            .ok_or_else(|| Error::TcbLevelNotFound {
                what: "platform (PCK SGX TCB)",
                found: format!(
                    "SGX TCB components {:?}, PCESVN {}",
                    ext.sgx_tcb_components, ext.pcesvn
                ),
            })?;
    let tdx_level = info
        .tcb_levels
        .iter()
        .find(|l| sgx_ok(l) && tdx_ok(l))
        .ok_or_else(|| Error::TcbLevelNotFound {
            what: "platform (TEE_TCB_SVN)",
            found: format!("TEE_TCB_SVN {}", hex::encode(tee_tcb_svn)),
        })?;
    Ok((sgx_level, tdx_level))
}

/// Intel's convergence of a platform status with an `OutOfDate` QE or module status.
fn out_of_date(status: TcbStatus) -> TcbStatus {
    match status {
        TcbStatus::UpToDate | TcbStatus::SWHardeningNeeded => TcbStatus::OutOfDate,
        TcbStatus::ConfigurationNeeded | TcbStatus::ConfigurationAndSWHardeningNeeded => {
            TcbStatus::OutOfDateConfigurationNeeded
        }
        other => other,
    }
}

fn push_unique(out: &mut Vec<String>, ids: &[String]) {
    for id in ids {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
}

/// Evaluates the TCB of a quote: module identity, platform level, QE identity, and the
/// converged status (`convergeTcbStatusWithTdxModuleStatus`, then
/// `convergeTcbStatusWithQeTcbStatus`): a module or QE that is `OutOfDate` makes an
/// up-to-date platform `OutOfDate` (or `OutOfDateConfigurationNeeded`); anything `Revoked`
/// is an error.
pub fn evaluate<'a>(
    body: &Body,
    qe: &QeReport,
    ext: &SgxExtension,
    info: &'a TcbInfo,
    qe_identity: &'a QeIdentity,
) -> Result<TcbEvaluation<'a>, Error> {
    let module = match_module(body, info)?;
    let (sgx_level, tdx_level) = match_platform(ext, &body.tee_tcb_svn, info)?;
    let mut module_out_of_date = false;
    if let Some(m) = &module {
        match m.level.tcb_status {
            IntelStatus::Level(TcbStatus::UpToDate) => {}
            IntelStatus::Level(TcbStatus::OutOfDate) => module_out_of_date = true,
            IntelStatus::Revoked => {
                return Err(Error::TcbRevoked {
                    what: "TDX module",
                    level: format!(
                        "{} isvsvn {} ({})",
                        m.identity.id, m.level.tcb.isvsvn, m.level.tcb_date
                    ),
                })
            }
            IntelStatus::Level(other) => {
                return Err(Error::malformed(
                    "TCB info",
                    format!(
                        "TDX module level status {} is not UpToDate, OutOfDate or Revoked",
                        other.as_str()
                    ),
                ))
            }
        }
    }
    let mut status = match tdx_level.status {
        IntelStatus::Level(status) => status,
        IntelStatus::Revoked => {
            return Err(Error::TcbRevoked {
                what: "platform",
                level: tdx_level.tcb_date.to_string(),
            })
        }
    };
    if module_out_of_date {
        status = out_of_date(status);
    }
    let qe_level = match_qe(qe, qe_identity)?;
    if qe_level.tcb_status != IntelStatus::Level(TcbStatus::UpToDate) {
        status = out_of_date(status);
    }
    let mut advisory_ids = Vec::new();
    push_unique(&mut advisory_ids, &tdx_level.advisory_ids);
    if let Some(m) = &module {
        push_unique(&mut advisory_ids, &m.level.advisory_ids);
    }
    push_unique(&mut advisory_ids, &qe_level.advisory_ids);
    Ok(TcbEvaluation {
        sgx_level,
        tdx_level,
        module,
        qe_level,
        status,
        advisory_ids,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::collateral::{parse_qe_identity, parse_tcb_info};
    use super::*;

    const ZERO48: &str = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
    const QE_SIGNER: [u8; 32] = [0xdc; 32];

    fn comps(svns: [u8; 16]) -> String {
        let list: Vec<String> = svns.iter().map(|s| format!(r#"{{"svn":{s}}}"#)).collect();
        format!("[{}]", list.join(","))
    }

    fn level(
        sgx: [u8; 16],
        pcesvn: u16,
        tdx: [u8; 16],
        status: &str,
        advisories: &[&str],
    ) -> String {
        let ids: Vec<String> = advisories.iter().map(|a| format!("{a:?}")).collect();
        format!(
            r#"{{"tcb":{{"sgxtcbcomponents":{},"pcesvn":{pcesvn},"tdxtcbcomponents":{}}},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"{status}","advisoryIDs":[{}]}}"#,
            comps(sgx),
            comps(tdx),
            ids.join(",")
        )
    }

    fn isv(svn: u16, status: &str, advisories: &[&str]) -> String {
        let ids: Vec<String> = advisories.iter().map(|a| format!("{a:?}")).collect();
        format!(
            r#"{{"tcb":{{"isvsvn":{svn}}},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"{status}","advisoryIDs":[{}]}}"#,
            ids.join(",")
        )
    }

    fn module_identity(id: &str, levels: &[String]) -> String {
        format!(
            r#"{{"id":"{id}","mrsigner":"{ZERO48}","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF","tcbLevels":[{}]}}"#,
            levels.join(",")
        )
    }

    fn info(levels: &[String], identities: &[String]) -> TcbInfo {
        let text = format!(
            r#"{{"id":"TDX","version":3,"issueDate":"2025-01-01T00:00:00Z","nextUpdate":"2025-02-01T00:00:00Z","fmspc":"B0C06F000000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":17,"tdxModule":{{"mrsigner":"{ZERO48}","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF"}},"tdxModuleIdentities":[{}],"tcbLevels":[{}]}}"#,
            identities.join(","),
            levels.join(",")
        );
        parse_tcb_info(&text).unwrap()
    }

    fn qe_identity(levels: &[String]) -> QeIdentity {
        let text = format!(
            r#"{{"id":"TD_QE","version":2,"issueDate":"2025-01-01T00:00:00Z","nextUpdate":"2025-02-01T00:00:00Z","tcbEvaluationDataNumber":17,"miscselect":"00000000","miscselectMask":"FFFFFFFF","attributes":"11000000000000000000000000000000","attributesMask":"FBFFFFFFFFFFFFFF0000000000000000","mrsigner":"{}","isvprodid":2,"tcbLevels":[{}]}}"#,
            hex::encode(QE_SIGNER),
            levels.join(",")
        );
        parse_qe_identity(&text).unwrap()
    }

    fn body(tee_tcb_svn: [u8; 16]) -> Body {
        Body {
            tee_tcb_svn,
            mrseam: [0; 48],
            mrsignerseam: [0; 48],
            seam_attributes: [0; 8],
            td_attributes: [0; 8],
            xfam: [0; 8],
            mrtd: [0; 48],
            mrconfigid: [0; 48],
            mrowner: [0; 48],
            mrownerconfig: [0; 48],
            rtmr: [[0; 48]; 4],
            report_data: [0; 64],
            tee_tcb_svn2: None,
            mrservicetd: None,
        }
    }

    fn qe_report(isvsvn: u16) -> QeReport {
        let mut attributes = [0u8; 16];
        attributes[0] = 0x15;
        attributes[8] = 0xe7;
        QeReport {
            cpusvn: [0; 16],
            miscselect: [0; 4],
            attributes,
            mrenclave: [0; 32],
            mrsigner: QE_SIGNER,
            isvprodid: 2,
            isvsvn,
            report_data: [0; 64],
        }
    }

    fn ext(sgx: [u8; 16], pcesvn: u16) -> SgxExtension {
        SgxExtension {
            sgx_tcb_components: sgx,
            pcesvn,
            cpusvn: sgx,
            pce_id: [0; 2],
            fmspc: [0xb0, 0xc0, 0x6f, 0, 0, 0],
            sgx_type: 1,
        }
    }

    const SGX: [u8; 16] = [3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0];
    const TDX: [u8; 16] = [5, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    fn svn(module_svn: u8, selector: u8, microcode: u8) -> [u8; 16] {
        let mut s = [0u8; 16];
        s[0] = module_svn;
        s[1] = selector;
        s[2] = microcode;
        s
    }

    #[test]
    fn levels_are_matched_in_order_and_module_svns_skipped_with_an_identity() {
        let newest = level(SGX, 11, TDX, "UpToDate", &[]);
        let older = level(SGX, 5, [0; 16], "OutOfDate", &["INTEL-SA-1"]);
        let i = info(&[newest, older], &[]);
        // Selector 0: TEE_TCB_SVN[0] = 4 < 5 fails the newest level.
        let (_, tdx) = match_platform(&ext(SGX, 11), &svn(4, 0, 3), &i).unwrap();
        assert_eq!(tdx.status, IntelStatus::Level(TcbStatus::OutOfDate));
        // Selector 1: indexes 0 and 1 belong to the module identity; the newest level holds.
        let (_, tdx) = match_platform(&ext(SGX, 11), &svn(4, 1, 3), &i).unwrap();
        assert_eq!(tdx.status, IntelStatus::Level(TcbStatus::UpToDate));
        // PCESVN below every level.
        let err = match_platform(&ext(SGX, 4), &svn(9, 0, 9), &i).unwrap_err();
        assert!(matches!(err, Error::TcbLevelNotFound { .. }), "{err}");
        // One SGX component below every level.
        let mut low = SGX;
        low[7] = 3;
        let err = match_platform(&ext(low, 11), &svn(9, 0, 9), &i).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TcbLevelNotFound {
                    what: "platform (PCK SGX TCB)",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_tee_tcb_below_every_level_is_not_found() {
        let i = info(&[level(SGX, 11, TDX, "UpToDate", &[])], &[]);
        let err = match_platform(&ext(SGX, 11), &svn(5, 0, 2), &i).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TcbLevelNotFound {
                    what: "platform (TEE_TCB_SVN)",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn module_identity_decides_the_module_level() {
        let ids = [module_identity(
            "TDX_01",
            &[
                isv(4, "UpToDate", &[]),
                isv(2, "OutOfDate", &["INTEL-SA-M"]),
            ],
        )];
        let i = info(&[level(SGX, 11, TDX, "UpToDate", &["INTEL-SA-P"])], &ids);
        let qe_id = qe_identity(&[isv(4, "UpToDate", &[])]);
        let ev = evaluate(
            &body(svn(6, 1, 3)),
            &qe_report(6),
            &ext(SGX, 11),
            &i,
            &qe_id,
        )
        .unwrap();
        assert_eq!(ev.status, TcbStatus::UpToDate);
        assert_eq!(ev.module.as_ref().unwrap().identity.id, "TDX_01");

        // Module SVN 3: the OutOfDate module level makes the platform OutOfDate.
        let ev = evaluate(
            &body(svn(3, 1, 3)),
            &qe_report(6),
            &ext(SGX, 11),
            &i,
            &qe_id,
        )
        .unwrap();
        assert_eq!(ev.status, TcbStatus::OutOfDate);
        assert_eq!(ev.advisory_ids, ["INTEL-SA-P", "INTEL-SA-M"]);

        // Module SVN 1: below every module level.
        let err = evaluate(
            &body(svn(1, 1, 3)),
            &qe_report(6),
            &ext(SGX, 11),
            &i,
            &qe_id,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::TcbLevelNotFound {
                    what: "TDX module",
                    ..
                }
            ),
            "{err}"
        );

        // Selector 3: no TDX_03 identity.
        let err = evaluate(
            &body(svn(6, 3, 3)),
            &qe_report(6),
            &ext(SGX, 11),
            &i,
            &qe_id,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Mismatch {
                    field: "TDX module identity",
                    ..
                }
            ),
            "{err}"
        );

        // A module signer other than the identity's.
        let mut b = body(svn(6, 1, 3));
        b.mrsignerseam[0] = 1;
        let err = evaluate(&b, &qe_report(6), &ext(SGX, 11), &i, &qe_id).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Mismatch {
                    field: "TDX module MRSIGNERSEAM",
                    ..
                }
            ),
            "{err}"
        );

        // SEAM attributes outside the golden value.
        let mut b = body(svn(6, 1, 3));
        b.seam_attributes[7] = 0x80;
        let err = evaluate(&b, &qe_report(6), &ext(SGX, 11), &i, &qe_id).unwrap_err();
        assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    }

    #[test]
    fn revoked_levels_are_errors() {
        let qe_id = qe_identity(&[isv(4, "UpToDate", &[])]);
        let i = info(&[level(SGX, 11, TDX, "Revoked", &[])], &[]);
        let err = evaluate(
            &body(svn(6, 0, 3)),
            &qe_report(6),
            &ext(SGX, 11),
            &i,
            &qe_id,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::TcbRevoked {
                    what: "platform",
                    ..
                }
            ),
            "{err}"
        );

        let ids = [module_identity("TDX_01", &[isv(2, "Revoked", &[])])];
        let i = info(&[level(SGX, 11, TDX, "UpToDate", &[])], &ids);
        let err = evaluate(
            &body(svn(6, 1, 3)),
            &qe_report(6),
            &ext(SGX, 11),
            &i,
            &qe_id,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::TcbRevoked {
                    what: "TDX module",
                    ..
                }
            ),
            "{err}"
        );

        let i = info(&[level(SGX, 11, TDX, "UpToDate", &[])], &[]);
        let qe_revoked = qe_identity(&[isv(8, "UpToDate", &[]), isv(4, "Revoked", &[])]);
        let err = evaluate(
            &body(svn(6, 0, 3)),
            &qe_report(6),
            &ext(SGX, 11),
            &i,
            &qe_revoked,
        )
        .unwrap_err();
        assert!(matches!(err, Error::TcbRevoked { what: "QE", .. }), "{err}");
    }

    #[test]
    fn qe_identity_is_matched_and_converged() {
        let i = info(&[level(SGX, 11, TDX, "ConfigurationNeeded", &[])], &[]);
        let qe_id = qe_identity(&[
            isv(8, "UpToDate", &[]),
            isv(4, "OutOfDate", &["INTEL-SA-Q"]),
        ]);
        let ev = evaluate(
            &body(svn(6, 0, 3)),
            &qe_report(6),
            &ext(SGX, 11),
            &i,
            &qe_id,
        )
        .unwrap();
        assert_eq!(ev.status, TcbStatus::OutOfDateConfigurationNeeded);
        assert_eq!(ev.advisory_ids, ["INTEL-SA-Q"]);
        let ev = evaluate(
            &body(svn(6, 0, 3)),
            &qe_report(8),
            &ext(SGX, 11),
            &i,
            &qe_id,
        )
        .unwrap();
        assert_eq!(ev.status, TcbStatus::ConfigurationNeeded);

        let err = match_qe(&qe_report(3), &qe_id).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TcbLevelNotFound {
                    what: "QE identity",
                    ..
                }
            ),
            "{err}"
        );

        let mut other_signer = qe_report(8);
        other_signer.mrsigner[31] ^= 1;
        assert!(matches!(
            match_qe(&other_signer, &qe_id),
            Err(Error::Mismatch {
                field: "QE MRSIGNER",
                ..
            })
        ));
        let mut other_product = qe_report(8);
        other_product.isvprodid = 1;
        assert!(matches!(
            match_qe(&other_product, &qe_id),
            Err(Error::Mismatch {
                field: "QE ISVPRODID",
                ..
            })
        ));
        let mut debug_qe = qe_report(8);
        debug_qe.attributes[0] |= 0x02;
        assert!(matches!(
            match_qe(&debug_qe, &qe_id),
            Err(Error::Mismatch { .. })
        ));
        let mut masked_out = qe_report(8);
        masked_out.attributes[0] |= 0x04;
        assert!(
            match_qe(&masked_out, &qe_id).is_ok(),
            "bit 2 is outside the mask"
        );
        let mut misc = qe_report(8);
        misc.miscselect[0] = 1;
        assert!(matches!(
            match_qe(&misc, &qe_id),
            Err(Error::Mismatch { .. })
        ));
    }

    #[test]
    fn out_of_date_converges_as_intel_does() {
        use TcbStatus::*;
        assert_eq!(out_of_date(UpToDate), OutOfDate);
        assert_eq!(out_of_date(SWHardeningNeeded), OutOfDate);
        assert_eq!(
            out_of_date(ConfigurationNeeded),
            OutOfDateConfigurationNeeded
        );
        assert_eq!(
            out_of_date(ConfigurationAndSWHardeningNeeded),
            OutOfDateConfigurationNeeded
        );
        assert_eq!(
            out_of_date(OutOfDateConfigurationNeeded),
            OutOfDateConfigurationNeeded
        );
        assert_eq!(out_of_date(Unknown), Unknown);
    }

    #[test]
    fn masks_apply_to_the_value_only() {
        assert!(masked_eq(&[0x13, 0xff], &[0x0f, 0x00], &[0x03, 0x00]));
        assert!(!masked_eq(&[0x13, 0xff], &[0x1f, 0x00], &[0x03, 0x00]));
        assert!(
            !masked_eq(&[0x13], &[0x0f, 0x00], &[0x03, 0x00]),
            "lengths must agree"
        );
    }

    #[test]
    fn malformed_tcb_info_is_refused() {
        let good = level(SGX, 11, TDX, "UpToDate", &[]);
        let short = good.replacen(r#"{"svn":0},"#, "", 1);
        let text = |levels: &str, id: &str| {
            format!(
                r#"{{"id":"{id}","version":3,"issueDate":"2025-01-01T00:00:00Z","nextUpdate":"2025-02-01T00:00:00Z","fmspc":"B0C06F000000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":17,"tdxModule":{{"mrsigner":"{ZERO48}","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF"}},"tcbLevels":[{levels}]}}"#
            )
        };
        assert!(parse_tcb_info(&text(&good, "TDX")).is_ok());
        assert!(matches!(
            parse_tcb_info(&text(&short, "TDX")),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            parse_tcb_info(&text(&good, "SGX")),
            Err(Error::Mismatch { .. })
        ));
        let unknown_status = good.replace("UpToDate", "Fine");
        assert!(matches!(
            parse_tcb_info(&text(&unknown_status, "TDX")),
            Err(Error::Malformed { .. })
        ));
        let short_fmspc = text(&good, "TDX").replace("B0C06F000000", "B0C06F");
        assert!(matches!(
            parse_tcb_info(&short_fmspc),
            Err(Error::Malformed { .. })
        ));
    }
}
