//! TDX collateral in QuoteCollateralV3 JSON (the field names of dcap-qvl's
//! `QuoteCollateralV3`, as in `tdx/dcap-qvl/tdx_quote_collateral.json`), signed by the
//! simulated Intel PKI and rating the simulated platform UpToDate.
//!
//! | field                      | content                                                    |
//! |----------------------------|------------------------------------------------------------|
//! | `pck_crl_issuer_chain`     | PEM: PCK Platform CA, root                                 |
//! | `root_ca_crl`              | hex of the root CA's CRL (DER)                             |
//! | `pck_crl`                  | hex of the Platform CA's CRL (DER)                         |
//! | `tcb_info_issuer_chain`    | PEM: TCB signing, root                                     |
//! | `tcb_info`                 | TCB info v3 (`"id":"TDX"`) as a JSON string                |
//! | `tcb_info_signature`       | hex of the TCB signing key's raw `r \|\| s` over `tcb_info`'s bytes |
//! | `qe_identity_issuer_chain` | PEM: TCB signing, root                                     |
//! | `qe_identity`              | QE identity v2 (`"id":"TD_QE"`) as a JSON string           |
//! | `qe_identity_signature`    | hex of the raw `r \|\| s` over `qe_identity`'s bytes       |
//!
//! Collateral is made "now": issued one day before the given time and valid for 30 days
//! after it, as Intel's PCS serves it.

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::Signature;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::TeeError;
use crate::pki::tdx::{TdxPki, TD_QE_MRSIGNER};
use crate::pki::{issue_crl, CrlSpec, Signer};

const DAY: i64 = 86_400;
/// The TCB evaluation data number the simulated collateral carries.
pub const TCB_EVALUATION_DATA_NUMBER: u32 = 17;

#[derive(Serialize)]
struct Collateral<'a> {
    pck_crl_issuer_chain: &'a str,
    root_ca_crl: String,
    pck_crl: String,
    tcb_info_issuer_chain: &'a str,
    tcb_info: &'a str,
    tcb_info_signature: String,
    qe_identity_issuer_chain: &'a str,
    qe_identity: &'a str,
    qe_identity_signature: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TcbInfo<'a> {
    id: &'a str,
    version: u32,
    issue_date: &'a str,
    next_update: &'a str,
    fmspc: String,
    pce_id: String,
    tcb_type: u32,
    tcb_evaluation_data_number: u32,
    tdx_module: TdxModule,
    tdx_module_identities: Vec<TdxModuleIdentity>,
    tcb_levels: Vec<TcbLevel>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TdxModule {
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TdxModuleIdentity {
    id: String,
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
    tcb_levels: Vec<IsvLevel>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IsvLevel {
    tcb: IsvSvn,
    tcb_date: &'static str,
    tcb_status: &'static str,
}

#[derive(Serialize)]
struct IsvSvn {
    isvsvn: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TcbLevel {
    tcb: Tcb,
    tcb_date: &'static str,
    tcb_status: &'static str,
    #[serde(rename = "advisoryIDs", skip_serializing_if = "Vec::is_empty")]
    advisory_ids: Vec<&'static str>,
}

#[derive(Serialize)]
struct Tcb {
    sgxtcbcomponents: Vec<Component>,
    pcesvn: u16,
    tdxtcbcomponents: Vec<Component>,
}

#[derive(Serialize)]
struct Component {
    svn: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QeIdentity<'a> {
    id: &'a str,
    version: u32,
    issue_date: &'a str,
    next_update: &'a str,
    tcb_evaluation_data_number: u32,
    miscselect: &'a str,
    miscselect_mask: &'a str,
    attributes: &'a str,
    attributes_mask: &'a str,
    mrsigner: String,
    isvprodid: u16,
    tcb_levels: Vec<IsvLevel>,
}

fn rfc3339(unix_secs: i64) -> Result<String, TeeError> {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or_else(|| TeeError::Time {
            unix_secs,
            reason: "not representable as an RFC 3339 date".into(),
        })
}

fn components(svns: &[u8; 16]) -> Vec<Component> {
    svns.iter().map(|svn| Component { svn: *svn }).collect()
}

const ZERO_MRSIGNER: &str =
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

fn tcb_info_json(pki: &TdxPki, issue: &str, next: &str) -> Result<String, TeeError> {
    let p = &pki.platform;
    let module_svn = p.tee_tcb_svn.first().copied().unwrap_or(0);
    let module_major = p.tee_tcb_svn.get(1).copied().unwrap_or(0);
    let mut old_tdx = p.tee_tcb_svn;
    for v in old_tdx.iter_mut() {
        *v = v.saturating_sub(1);
    }
    let info = TcbInfo {
        id: "TDX",
        version: 3,
        issue_date: issue,
        next_update: next,
        fmspc: hex::encode_upper(p.fmspc),
        pce_id: hex::encode_upper(p.pce_id),
        tcb_type: 0,
        tcb_evaluation_data_number: TCB_EVALUATION_DATA_NUMBER,
        tdx_module: TdxModule {
            mrsigner: ZERO_MRSIGNER.into(),
            attributes: "0000000000000000".into(),
            attributes_mask: "FFFFFFFFFFFFFFFF".into(),
        },
        tdx_module_identities: vec![TdxModuleIdentity {
            id: format!("TDX_{module_major:02X}"),
            mrsigner: ZERO_MRSIGNER.into(),
            attributes: "0000000000000000".into(),
            attributes_mask: "FFFFFFFFFFFFFFFF".into(),
            tcb_levels: vec![
                IsvLevel {
                    tcb: IsvSvn {
                        isvsvn: u16::from(module_svn),
                    },
                    tcb_date: "2024-03-13T00:00:00Z",
                    tcb_status: "UpToDate",
                },
                IsvLevel {
                    tcb: IsvSvn {
                        isvsvn: u16::from(module_svn.saturating_sub(2)),
                    },
                    tcb_date: "2023-08-09T00:00:00Z",
                    tcb_status: "OutOfDate",
                },
            ],
        }],
        tcb_levels: vec![
            TcbLevel {
                tcb: Tcb {
                    sgxtcbcomponents: components(&p.sgx_components),
                    pcesvn: p.pce_svn,
                    tdxtcbcomponents: components(&p.tee_tcb_svn),
                },
                tcb_date: "2024-03-13T00:00:00Z",
                tcb_status: "UpToDate",
                advisory_ids: Vec::new(),
            },
            TcbLevel {
                tcb: Tcb {
                    sgxtcbcomponents: components(&p.sgx_components),
                    pcesvn: p.pce_svn.saturating_sub(6),
                    tdxtcbcomponents: components(&old_tdx),
                },
                tcb_date: "2018-01-04T00:00:00Z",
                tcb_status: "OutOfDate",
                advisory_ids: vec!["INTEL-SA-00106", "INTEL-SA-00115"],
            },
        ],
    };
    serde_json::to_string(&info).map_err(|e| TeeError::encoding("TCB info", e))
}

fn qe_identity_json(pki: &TdxPki, issue: &str, next: &str) -> Result<String, TeeError> {
    let identity = QeIdentity {
        id: "TD_QE",
        version: 2,
        issue_date: issue,
        next_update: next,
        tcb_evaluation_data_number: TCB_EVALUATION_DATA_NUMBER,
        miscselect: "00000000",
        miscselect_mask: "FFFFFFFF",
        attributes: "11000000000000000000000000000000",
        attributes_mask: "FBFFFFFFFFFFFFFF0000000000000000",
        mrsigner: hex::encode_upper(TD_QE_MRSIGNER),
        isvprodid: super::tdx::QE_ISVPRODID,
        tcb_levels: vec![IsvLevel {
            tcb: IsvSvn {
                isvsvn: pki.platform.qe_isvsvn,
            },
            tcb_date: "2024-03-13T00:00:00Z",
            tcb_status: "UpToDate",
        }],
    };
    serde_json::to_string(&identity).map_err(|e| TeeError::encoding("QE identity", e))
}

fn sign_hex(pki: &TdxPki, body: &str, what: &'static str) -> Result<String, TeeError> {
    let sig: Signature = pki
        .tcb_signing_key
        .try_sign(body.as_bytes())
        .map_err(|e| TeeError::crypto(what, e))?;
    Ok(hex::encode(sig.to_bytes()))
}

/// The collateral for the chip's quotes, made at `unix_secs`.
pub fn collateral_json(pki: &TdxPki, unix_secs: i64) -> Result<Vec<u8>, TeeError> {
    let issued = unix_secs - DAY;
    let next = unix_secs + 30 * DAY;
    let (issue_s, next_s) = (rfc3339(issued)?, rfc3339(next)?);

    let root_crl = issue_crl(
        &CrlSpec {
            issuer: pki.root_name.clone(),
            this_update: issued,
            next_update: next,
            number: 1,
            authority_key_id: pki.root_id,
            revoked: Vec::new(),
        },
        &Signer::P256(&pki.root_key),
    )?;
    let pck_crl = issue_crl(
        &CrlSpec {
            issuer: pki.platform_ca_name.clone(),
            this_update: issued,
            next_update: next,
            number: 1,
            authority_key_id: pki.platform_ca_id,
            revoked: Vec::new(),
        },
        &Signer::P256(&pki.platform_ca_key),
    )?;
    let tcb_info = tcb_info_json(pki, &issue_s, &next_s)?;
    let qe_identity = qe_identity_json(pki, &issue_s, &next_s)?;
    let platform_chain = pki.platform_ca_chain_pem()?;
    let tcb_chain = pki.tcb_signing_chain_pem()?;
    let collateral = Collateral {
        pck_crl_issuer_chain: &platform_chain,
        root_ca_crl: hex::encode(root_crl),
        pck_crl: hex::encode(pck_crl),
        tcb_info_issuer_chain: &tcb_chain,
        tcb_info: &tcb_info,
        tcb_info_signature: sign_hex(pki, &tcb_info, "TCB info signature")?,
        qe_identity_issuer_chain: &tcb_chain,
        qe_identity: &qe_identity,
        qe_identity_signature: sign_hex(pki, &qe_identity, "QE identity signature")?,
    };
    serde_json::to_vec_pretty(&collateral).map_err(|e| TeeError::encoding("collateral", e))
}
