//! TDX collateral in the QuoteCollateralV3 JSON form (as dcap-qvl and PCCS clients write it):
//! parsing, and verification of everything in it that does not depend on the quote.
//!
//! The TCB info and QE identity are signed (ECDSA P-256 / SHA-256, raw `r || s` given in hex)
//! over the exact JSON text of the `tcbInfo` / `enclaveIdentity` value as Intel's PCS served
//! it. In QuoteCollateralV3 the `tcb_info` and `qe_identity` fields hold exactly that text, so
//! the signature is verified over the bytes of those strings, before they are parsed; nothing
//! is ever re-serialised.

use std::sync::Arc;

use aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED;
use serde::{Deserialize, Deserializer};

use super::pck::{require_cn, PCK_CA_CNS};
use crate::anchors::TrustAnchor;
use crate::claims::TcbStatus;
use crate::error::Error;
use crate::path::{self, VerifiedPath};
use crate::pki::{self, Cert, Crl, Memo};
use crate::time::UnixTime;

/// Common name of the certificate that signs TCB info and QE identities.
pub const TCB_SIGNING_CN: &str = "Intel SGX TCB Signing";

/// A TCB status string of Intel's TCB info or enclave identity: a status a verified quote can
/// have ([`TcbStatus`], spelled as Intel spells it), or `Revoked`, which no verified quote has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntelStatus {
    /// A status a level may give a verified quote.
    Level(TcbStatus),
    /// `Revoked`.
    Revoked,
}

impl IntelStatus {
    /// The name as Intel spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Level(status) => status.as_str(),
            Self::Revoked => "Revoked",
        }
    }
}

impl<'de> Deserialize<'de> for IntelStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "Revoked" {
            return Ok(Self::Revoked);
        }
        TcbStatus::from_intel(&text)
            .map(Self::Level)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown TCB status {text:?}")))
    }
}

fn hex_array<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    let text = String::deserialize(d)?;
    let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        serde::de::Error::custom(format!("{text:?} is {} bytes, expected {N}", bytes.len()))
    })
}

/// The outer QuoteCollateralV3 JSON object.
#[derive(Deserialize)]
struct CollateralJson {
    pck_crl_issuer_chain: String,
    root_ca_crl: String,
    pck_crl: String,
    tcb_info_issuer_chain: String,
    tcb_info: String,
    tcb_info_signature: String,
    qe_identity_issuer_chain: String,
    qe_identity: String,
    qe_identity_signature: String,
    // Other fields are ignored: some producers add `pck_certificate_chain`, but the quote
    // carries its own PCK chain, and that is the one verified and used.
}

/// One SVN entry of `sgxtcbcomponents` / `tdxtcbcomponents`.
#[derive(Debug, Clone, Deserialize)]
struct Component {
    svn: u8,
}

#[derive(Debug, Clone, Deserialize)]
struct TcbJson {
    sgxtcbcomponents: Vec<Component>,
    pcesvn: u16,
    tdxtcbcomponents: Vec<Component>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbLevelJson {
    tcb: TcbJson,
    tcb_date: UnixTime,
    tcb_status: IntelStatus,
    #[serde(default, rename = "advisoryIDs")]
    advisory_ids: Vec<String>,
}

/// An `isvsvn` TCB level of a TDX module identity or of the QE identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IsvLevel {
    /// The level's SVN.
    pub tcb: IsvSvn,
    /// Its date.
    pub tcb_date: UnixTime,
    /// Its status.
    pub tcb_status: IntelStatus,
    /// Advisories that apply at this level.
    #[serde(default, rename = "advisoryIDs")]
    pub advisory_ids: Vec<String>,
}

/// `{"isvsvn": n}`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct IsvSvn {
    /// The SVN.
    pub isvsvn: u16,
}

/// `tdxModule`: the signer and attributes of TDX modules without a module identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TdxModule {
    /// Expected `MRSIGNERSEAM`.
    #[serde(deserialize_with = "hex_array")]
    pub mrsigner: [u8; 48],
    /// Expected `SEAMATTRIBUTES` after masking.
    #[serde(deserialize_with = "hex_array")]
    pub attributes: [u8; 8],
    /// Mask applied to `SEAMATTRIBUTES`.
    #[serde(deserialize_with = "hex_array")]
    pub attributes_mask: [u8; 8],
}

/// One entry of `tdxModuleIdentities`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TdxModuleIdentity {
    /// `TDX_` followed by the module's major version (`TEE_TCB_SVN[1]`) in hex.
    pub id: String,
    /// Expected `MRSIGNERSEAM`.
    #[serde(deserialize_with = "hex_array")]
    pub mrsigner: [u8; 48],
    /// Expected `SEAMATTRIBUTES` after masking.
    #[serde(deserialize_with = "hex_array")]
    pub attributes: [u8; 8],
    /// Mask applied to `SEAMATTRIBUTES`.
    #[serde(deserialize_with = "hex_array")]
    pub attributes_mask: [u8; 8],
    /// Levels by module SVN (`TEE_TCB_SVN[0]`), newest first.
    pub tcb_levels: Vec<IsvLevel>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbInfoJson {
    id: String,
    version: u32,
    issue_date: UnixTime,
    next_update: UnixTime,
    #[serde(deserialize_with = "hex_array")]
    fmspc: [u8; 6],
    #[serde(deserialize_with = "hex_array")]
    pce_id: [u8; 2],
    tcb_type: u32,
    tcb_evaluation_data_number: u32,
    tdx_module: Option<TdxModule>,
    #[serde(default)]
    tdx_module_identities: Vec<TdxModuleIdentity>,
    tcb_levels: Vec<TcbLevelJson>,
}

/// One platform TCB level of the TCB info.
#[derive(Debug, Clone)]
pub struct TcbLevel {
    /// Minimum SGX TCB component SVNs (compared with the PCK certificate).
    pub sgx: [u8; 16],
    /// Minimum PCESVN.
    pub pcesvn: u16,
    /// Minimum TDX TCB component SVNs (compared with `TEE_TCB_SVN`).
    pub tdx: [u8; 16],
    /// The level's date.
    pub tcb_date: UnixTime,
    /// Its status.
    pub status: IntelStatus,
    /// Advisories that apply at this level.
    pub advisory_ids: Vec<String>,
}

/// A TDX TCB info (`id` "TDX", version 3), parsed after its signature was verified.
#[derive(Debug, Clone)]
pub struct TcbInfo {
    /// `issueDate`.
    pub issue_date: UnixTime,
    /// `nextUpdate`.
    pub next_update: UnixTime,
    /// `fmspc`.
    pub fmspc: [u8; 6],
    /// `pceId`.
    pub pce_id: [u8; 2],
    /// `tcbEvaluationDataNumber`.
    pub tcb_evaluation_data_number: u32,
    /// `tdxModule`.
    pub tdx_module: TdxModule,
    /// `tdxModuleIdentities` (empty when absent).
    pub tdx_module_identities: Vec<TdxModuleIdentity>,
    /// `tcbLevels`, in the order given (Intel serves them newest first).
    pub tcb_levels: Vec<TcbLevel>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QeIdentityJson {
    id: String,
    version: u32,
    issue_date: UnixTime,
    next_update: UnixTime,
    tcb_evaluation_data_number: u32,
    #[serde(deserialize_with = "hex_array")]
    miscselect: [u8; 4],
    #[serde(deserialize_with = "hex_array")]
    miscselect_mask: [u8; 4],
    #[serde(deserialize_with = "hex_array")]
    attributes: [u8; 16],
    #[serde(deserialize_with = "hex_array")]
    attributes_mask: [u8; 16],
    #[serde(deserialize_with = "hex_array")]
    mrsigner: [u8; 32],
    isvprodid: u16,
    tcb_levels: Vec<IsvLevel>,
}

/// The TDX QE identity (`id` "TD_QE", version 2), parsed after its signature was verified.
#[derive(Debug, Clone)]
pub struct QeIdentity {
    /// `issueDate`.
    pub issue_date: UnixTime,
    /// `nextUpdate`.
    pub next_update: UnixTime,
    /// `tcbEvaluationDataNumber`.
    pub tcb_evaluation_data_number: u32,
    /// `miscselect`: expected QE report `MISCSELECT` after masking (report byte order).
    pub miscselect: [u8; 4],
    /// `miscselectMask`.
    pub miscselect_mask: [u8; 4],
    /// `attributes`: expected QE report `ATTRIBUTES` after masking.
    pub attributes: [u8; 16],
    /// `attributesMask`.
    pub attributes_mask: [u8; 16],
    /// `mrsigner`: the QE's `MRSIGNER`.
    pub mrsigner: [u8; 32],
    /// `isvprodid`: the QE's `ISVPRODID`.
    pub isvprodid: u16,
    /// `tcbLevels` by QE `ISVSVN`, newest first.
    pub tcb_levels: Vec<IsvLevel>,
}

/// Everything in the collateral that was verified, independent of any quote.
#[derive(Debug)]
pub struct VerifiedCollateral {
    /// The TCB info.
    pub(crate) tcb_info: TcbInfo,
    /// The QE identity.
    pub(crate) qe_identity: QeIdentity,
    /// The root CA CRL (signed by the pinned root).
    pub(crate) root_crl: Crl,
    /// The PCK CRL (signed by the PCK Platform or Processor CA of `pck_crl_issuer_chain`).
    pub(crate) pck_crl: Crl,
    /// Intersection of both CRLs' `thisUpdate..nextUpdate`.
    pub(crate) crl_window: (UnixTime, UnixTime),
    /// The anchor every issuer chain ends in.
    pub(crate) anchor: Arc<TrustAnchor>,
    /// Window in which all of it holds: certificates, CRLs, `issueDate..nextUpdate`.
    pub(crate) window: (UnixTime, UnixTime),
}

fn json_error(what: &'static str) -> impl Fn(serde_json::Error) -> Error {
    move |e| Error::malformed(what, e)
}

fn decode_crl(text: &str, what: &'static str) -> Result<Crl, Error> {
    let trimmed = text.trim();
    if trimmed.starts_with("-----BEGIN") {
        return Crl::parse(trimmed.as_bytes(), what);
    }
    let der = decode_hex(trimmed).map_err(|e| Error::malformed(what, format!("not hex: {e}")))?;
    Crl::from_der_vec(der, what)
}

/// Value of each byte as an ASCII hex digit (either case), or 0xFF.
// Indices of the 256-entry table from a u8: always in bounds.
#[allow(clippy::indexing_slicing)]
const HEX_VALUES: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut c: u8 = 0;
    loop {
        table[c as usize] = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => 0xFF,
        };
        if c == u8::MAX {
            break;
        }
        c += 1;
    }
    table
};

fn hex_value(c: u8) -> u8 {
    // A u8 index into a 256-entry table: always in bounds.
    #[allow(clippy::indexing_slicing)]
    HEX_VALUES[usize::from(c)]
}

/// Decodes hex (either case) as `hex::decode` does (same errors), by table and without a
/// branch per digit (the CRLs are kilobytes of hex).
fn decode_hex(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return Err(hex::FromHexError::OddLength);
    }
    let mut invalid = 0u8;
    let out: Vec<u8> = bytes
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => {
                let (hi, lo) = (hex_value(*hi), hex_value(*lo));
                invalid |= hi | lo;
                (hi << 4) | (lo & 0x0F)
            }
            _ => 0,
        })
        .collect();
    if invalid & 0xF0 != 0 {
        let (index, c) = bytes
            .iter()
            .enumerate()
            .find(|(_, c)| hex_value(**c) == 0xFF)
            .map_or((0, '?'), |(i, c)| (i, char::from(*c)));
        return Err(hex::FromHexError::InvalidHexCharacter { c, index });
    }
    Ok(out)
}

fn decode_signature(text: &str, what: &'static str) -> Result<[u8; 64], Error> {
    let bytes =
        hex::decode(text.trim()).map_err(|e| Error::malformed(what, format!("not hex: {e}")))?;
    <[u8; 64]>::try_from(bytes.as_slice())
        .map_err(|_| Error::mismatch(what, "64 bytes (r || s)", bytes.len()))
}

fn intersect(a: (UnixTime, UnixTime), b: (UnixTime, UnixTime)) -> (UnixTime, UnixTime) {
    (a.0.max(b.0), a.1.min(b.1))
}

fn check_window(what: &str, issued: UnixTime, next: UnixTime, time: UnixTime) -> Result<(), Error> {
    if time < issued || time > next {
        return Err(Error::CollateralNotValidAt {
            what: what.to_owned(),
            issued,
            next_update: next,
            time,
        });
    }
    Ok(())
}

/// Verifies a signing chain from the collateral: exactly one certificate below the pinned
/// root, with the expected common name(s) and a P-256 key.
fn verify_signer_chain(
    pem: &str,
    what: &'static str,
    cns: &[&str],
    anchors: &[Arc<TrustAnchor>],
    time: UnixTime,
    memo: &mut Memo,
) -> Result<(Cert, VerifiedPath), Error> {
    let certs = memo.pem_certificates(pem, what)?;
    let (leaf, pool) = certs
        .split_first()
        .ok_or_else(|| Error::malformed(what, "no certificate"))?;
    let path = path::verify_path_memo(leaf, pool, anchors, time, memo)?;
    let [signer] = path.path.as_slice() else {
        return Err(Error::Certificate {
            what: leaf.subject().to_owned(),
            reason: format!(
                "{what}: expected one certificate issued by the root, found {}",
                path.path.len()
            ),
        });
    };
    require_cn(signer, what, cns)?;
    if !signer.is_p256() {
        return Err(Error::Certificate {
            what: signer.subject().to_owned(),
            reason: format!("{what}: the key is not an ECDSA P-256 key"),
        });
    }
    Ok((signer.clone(), path))
}

fn verify_json_signature(
    signer: &Cert,
    text: &str,
    sig: &[u8; 64],
    what: &str,
) -> Result<(), Error> {
    if !pki::verify_ecdsa_fixed(
        &ECDSA_P256_SHA256_FIXED,
        signer.public_key(),
        text.as_bytes(),
        sig,
    ) {
        return Err(Error::CollateralSignature {
            what: what.to_owned(),
        });
    }
    Ok(())
}

fn same_anchor(a: &VerifiedPath, b: &VerifiedPath, what: &'static str) -> Result<(), Error> {
    if a.anchor.cert.sha256() != b.anchor.cert.sha256() {
        return Err(Error::mismatch(what, &a.anchor.name, &b.anchor.name));
    }
    Ok(())
}

pub(crate) fn parse_tcb_info(text: &str) -> Result<TcbInfo, Error> {
    const WHAT: &str = "TCB info";
    let raw: TcbInfoJson = serde_json::from_str(text).map_err(json_error(WHAT))?;
    if raw.id != "TDX" {
        return Err(Error::mismatch("TCB info id", "TDX", raw.id));
    }
    if raw.version != 3 {
        return Err(Error::Unsupported {
            what: "TDX TCB info version",
            found: format!("{} (supported: 3)", raw.version),
        });
    }
    if raw.tcb_type != 0 {
        return Err(Error::Unsupported {
            what: "TCB info tcbType",
            found: format!("{} (supported: 0)", raw.tcb_type),
        });
    }
    let tdx_module = raw
        .tdx_module
        .ok_or_else(|| Error::malformed(WHAT, "a TDX TCB info must have tdxModule"))?;
    let components = |list: &[Component], which: &str| -> Result<[u8; 16], Error> {
        let svns: Vec<u8> = list.iter().map(|c| c.svn).collect();
        <[u8; 16]>::try_from(svns.as_slice()).map_err(|_| {
            Error::malformed(WHAT, format!("{which} has {} entries, not 16", svns.len()))
        })
    };
    let mut tcb_levels = Vec::with_capacity(raw.tcb_levels.len());
    for level in raw.tcb_levels {
        tcb_levels.push(TcbLevel {
            sgx: components(&level.tcb.sgxtcbcomponents, "sgxtcbcomponents")?,
            pcesvn: level.tcb.pcesvn,
            tdx: components(&level.tcb.tdxtcbcomponents, "tdxtcbcomponents")?,
            tcb_date: level.tcb_date,
            status: level.tcb_status,
            advisory_ids: level.advisory_ids,
        });
    }
    Ok(TcbInfo {
        issue_date: raw.issue_date,
        next_update: raw.next_update,
        fmspc: raw.fmspc,
        pce_id: raw.pce_id,
        tcb_evaluation_data_number: raw.tcb_evaluation_data_number,
        tdx_module,
        tdx_module_identities: raw.tdx_module_identities,
        tcb_levels,
    })
}

pub(crate) fn parse_qe_identity(text: &str) -> Result<QeIdentity, Error> {
    let raw: QeIdentityJson = serde_json::from_str(text).map_err(json_error("QE identity"))?;
    if raw.id != "TD_QE" {
        return Err(Error::mismatch("QE identity id", "TD_QE", raw.id));
    }
    if raw.version != 2 {
        return Err(Error::Unsupported {
            what: "QE identity version",
            found: format!("{} (supported: 2)", raw.version),
        });
    }
    Ok(QeIdentity {
        issue_date: raw.issue_date,
        next_update: raw.next_update,
        tcb_evaluation_data_number: raw.tcb_evaluation_data_number,
        miscselect: raw.miscselect,
        miscselect_mask: raw.miscselect_mask,
        attributes: raw.attributes,
        attributes_mask: raw.attributes_mask,
        mrsigner: raw.mrsigner,
        isvprodid: raw.isvprodid,
        tcb_levels: raw.tcb_levels,
    })
}

/// Verifies QuoteCollateralV3 JSON at `time` against `anchors`.
///
/// (a) parse the outer JSON, the two CRLs (hex DER, or PEM) and the two signatures (hex
/// `r || s`); (b) the TCB info issuer chain verifies to a pinned root, its leaf being the
/// Intel SGX TCB Signing certificate; (c) the TCB info signature verifies over the exact text
/// of `tcb_info`; (d) likewise the QE identity chain and (e) signature; (f) parse the TCB info
/// (id "TDX", version 3) and check `issueDate <= time <= nextUpdate`; (g) parse the QE identity
/// (id "TD_QE", version 2) and check its window; (h) the root CA CRL is signed by the anchor,
/// valid at `time`, and lists none of the root-issued certificates used here; (i) the
/// `pck_crl_issuer_chain` verifies to the same root and its CA signs the PCK CRL, valid at
/// `time`; (j) every chain ends in the same anchor.
pub fn verify(
    bytes: &[u8],
    anchors: &[Arc<TrustAnchor>],
    time: UnixTime,
) -> Result<VerifiedCollateral, Error> {
    verify_memo(bytes, anchors, time, &mut path::memo_for(anchors))
}

/// [`verify`] with the verification call's [`Memo`]: a certificate or signature link that
/// repeats (the Intel root in every chain, the TCB signing chain given twice, the PCK CA of
/// `pck_crl_issuer_chain` again in the quote) is parsed and verified once per call. Every
/// step listed for [`verify`] still runs on every chain.
pub(crate) fn verify_memo(
    bytes: &[u8],
    anchors: &[Arc<TrustAnchor>],
    time: UnixTime,
    memo: &mut Memo,
) -> Result<VerifiedCollateral, Error> {
    // (a)
    let json: CollateralJson = serde_json::from_slice(bytes)
        .map_err(json_error("TDX collateral (QuoteCollateralV3 JSON)"))?;
    let root_crl = decode_crl(&json.root_ca_crl, "root CA CRL")?;
    let pck_crl = decode_crl(&json.pck_crl, "PCK CRL")?;
    let tcb_sig = decode_signature(&json.tcb_info_signature, "TCB info signature")?;
    let qe_sig = decode_signature(&json.qe_identity_signature, "QE identity signature")?;
    // (b)
    let (tcb_signer, tcb_path) = verify_signer_chain(
        &json.tcb_info_issuer_chain,
        "TCB info issuer chain",
        &[TCB_SIGNING_CN],
        anchors,
        time,
        memo,
    )?;
    // (c)
    verify_json_signature(&tcb_signer, &json.tcb_info, &tcb_sig, "TCB info")?;
    // (d) The same function of the same text, anchors and time as (b) when the two chains
    // are byte-identical (as Intel serves them): that result is this one.
    let (qe_signer, qe_path) = if json.qe_identity_issuer_chain == json.tcb_info_issuer_chain {
        (tcb_signer.clone(), tcb_path.clone())
    } else {
        verify_signer_chain(
            &json.qe_identity_issuer_chain,
            "QE identity issuer chain",
            &[TCB_SIGNING_CN],
            anchors,
            time,
            memo,
        )?
    };
    // (e)
    verify_json_signature(&qe_signer, &json.qe_identity, &qe_sig, "QE identity")?;
    // (f)
    let tcb_info = parse_tcb_info(&json.tcb_info)?;
    check_window("TCB info", tcb_info.issue_date, tcb_info.next_update, time)?;
    // (g)
    let qe_identity = parse_qe_identity(&json.qe_identity)?;
    check_window(
        "QE identity",
        qe_identity.issue_date,
        qe_identity.next_update,
        time,
    )?;
    // (h)
    let anchor = Arc::clone(&tcb_path.anchor);
    root_crl.verify_issued_by(&anchor.cert)?;
    root_crl.check_valid_at(time)?;
    let root_crl_window = root_crl.window()?;
    root_crl.check_not_revoked(&tcb_signer)?;
    root_crl.check_not_revoked(&qe_signer)?;
    // (i)
    let (pck_ca, pck_ca_path) = verify_signer_chain(
        &json.pck_crl_issuer_chain,
        "PCK CRL issuer chain",
        &PCK_CA_CNS,
        anchors,
        time,
        memo,
    )?;
    root_crl.check_not_revoked(&pck_ca)?;
    pck_crl.verify_issued_by(&pck_ca)?;
    pck_crl.check_valid_at(time)?;
    let pck_crl_window = pck_crl.window()?;
    // (j)
    same_anchor(&tcb_path, &qe_path, "QE identity issuer chain root")?;
    same_anchor(&tcb_path, &pck_ca_path, "PCK CRL issuer chain root")?;

    let crl_window = intersect(root_crl_window, pck_crl_window);
    let window = [
        (qe_path.not_before, qe_path.not_after),
        (pck_ca_path.not_before, pck_ca_path.not_after),
        (tcb_info.issue_date, tcb_info.next_update),
        (qe_identity.issue_date, qe_identity.next_update),
        crl_window,
    ]
    .into_iter()
    .fold((tcb_path.not_before, tcb_path.not_after), intersect);
    Ok(VerifiedCollateral {
        tcb_info,
        qe_identity,
        root_crl,
        pck_crl,
        crl_window,
        anchor,
        window,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn decode_hex_matches_the_hex_crate() {
        for text in [
            "", "00", "0aF9", "ff00AB", "0", "abc", "0g", "g0", "00 1", "zz", "1\u{e9}",
        ] {
            assert_eq!(decode_hex(text), hex::decode(text), "{text:?}");
        }
        let all: String = (0..=255u8).map(|b| format!("{b:02x}{b:02X}")).collect();
        assert_eq!(decode_hex(&all), hex::decode(&all));
    }
}
