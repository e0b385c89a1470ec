//! Intel TDX: quotes v4 and v5 (TDX 1.0 and 1.5 bodies) verified offline against the pinned
//! Intel SGX Root CA, with optional collateral in QuoteCollateralV3 JSON.
//!
//! - [`quote`]: the byte layout, parsed by its length fields (trailing bytes: see there).
//! - [`pck`]: the PCK chain in the quote, its revocation and its SGX extension.
//! - [`collateral`]: TCB info, QE identity, CRLs and their issuer chains.
//! - [`tcb`]: matching the quote against the collateral with Intel's rules.
//!
//! Without collateral the quote's own signatures and the PCK chain are still verified, but
//! nothing says whether the platform is up to date: the claims carry
//! [`TcbStatus::Unknown`] and `details.collateral` is `null`.

pub mod collateral;
pub mod pck;
pub mod quote;
pub mod tcb;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::anchors::{AnchorOrigin, TrustAnchor, TrustAnchors};
use crate::cache::Cache;
use crate::cache::{self, Entry};
use crate::claims::{AnchorClaim, ClaimsOf, TcbClaims, TcbStatus};
use crate::cursor;
use crate::error::Error;
use crate::hex::Hex;
use crate::pki;
use crate::time::UnixTime;
use crate::Evidence;
use kiln_provenance::Platform;

use collateral::VerifiedCollateral;
use pck::{Crls, VerifiedPck};
use quote::Quote;
use tcb::TcbEvaluation;

/// `TDATTRIBUTES` bits (Intel TDX module ABI, table *TD Attributes Definition*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TdAttributes {
    /// Bit 0, `DEBUG`: the TD runs in debug mode; the host can read and write its state.
    pub debug: bool,
    /// Bit 28, `SEPT_VE_DISABLE`: EPT violations are not converted to #VE in the TD.
    pub sept_ve_disable: bool,
    /// Bit 30, `PKS`: protection keys for supervisor pages are enabled.
    pub pks: bool,
    /// Bit 31, `KL`: key locker is enabled.
    pub kl: bool,
    /// Bit 63, `PERFMON`: the TD may use the performance monitoring unit.
    pub perfmon: bool,
}

impl TdAttributes {
    fn from_bytes(raw: [u8; 8]) -> Self {
        let bits = u64::from_le_bytes(raw);
        let bit = |n: u32| bits & (1u64 << n) != 0;
        Self {
            debug: bit(0),
            sept_ve_disable: bit(28),
            pks: bit(30),
            kl: bit(31),
            perfmon: bit(63),
        }
    }
}

/// The QE report's identity fields.
#[derive(Debug, Clone, Serialize)]
pub struct QeReportDetails {
    /// `CPUSVN`.
    pub cpusvn: Hex,
    /// `MISCSELECT` (report byte order).
    pub miscselect: Hex,
    /// `ATTRIBUTES`.
    pub attributes: Hex,
    /// `MRENCLAVE`.
    pub mrenclave: Hex,
    /// `MRSIGNER`.
    pub mrsigner: Hex,
    /// `ISVPRODID`.
    pub isvprodid: u16,
    /// `ISVSVN`.
    pub isvsvn: u16,
}

/// What the PCK certificate says about the platform.
#[derive(Debug, Clone, Serialize)]
pub struct PckDetails {
    /// FMSPC (family, model, stepping, platform type, custom SKU).
    pub fmspc: Hex,
    /// PCE-ID.
    pub pce_id: Hex,
    /// SGX type (0 standard, 1 scalable, 2 scalable with integrity).
    pub sgx_type: u8,
    /// CPUSVN.
    pub cpusvn: Hex,
    /// PCESVN.
    pub pcesvn: u16,
    /// SGX TCB component SVNs 1..16.
    pub sgx_tcb_components: Vec<u8>,
    /// Subject of the CA that issued the PCK (Platform or Processor CA).
    pub issuer: String,
    /// End of the PCK certificate's validity.
    pub not_after: UnixTime,
    /// Whether the PCK and its CA were checked against Intel's CRLs (only with collateral).
    pub revocation_checked: bool,
}

/// The TDX module identity that decided the module's TCB level.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleDetails {
    /// `TDX_xx`.
    pub id: String,
    /// The matched level's `isvsvn`.
    pub level_isvsvn: u16,
    /// Its status.
    pub status: &'static str,
    /// Its date.
    pub tcb_date: UnixTime,
}

/// Collateral facts and the outcome of matching against it.
#[derive(Debug, Clone, Serialize)]
pub struct CollateralDetails {
    /// TCB info `issueDate` (for a policy's maximum collateral age).
    pub tcb_info_issue_date: UnixTime,
    /// TCB info `nextUpdate`.
    pub tcb_info_next_update: UnixTime,
    /// TCB info `tcbEvaluationDataNumber`.
    pub tcb_evaluation_data_number: u32,
    /// QE identity `issueDate`.
    pub qe_identity_issue_date: UnixTime,
    /// QE identity `nextUpdate`.
    pub qe_identity_next_update: UnixTime,
    /// QE identity `tcbEvaluationDataNumber`.
    pub qe_identity_tcb_evaluation_data_number: u32,
    /// Latest `thisUpdate` of the two CRLs.
    pub crls_this_update: UnixTime,
    /// Earliest `nextUpdate` of the two CRLs.
    pub crls_next_update: UnixTime,
    /// End of the window in which every collateral item and certificate is valid.
    pub valid_until: UnixTime,
    /// Status of the TCB level matched by the PCK TCB and `TEE_TCB_SVN`.
    pub platform_status: &'static str,
    /// That level's `tcbDate`.
    pub platform_tcb_date: UnixTime,
    /// Status of the first level matched by the PCK's SGX TCB alone.
    pub sgx_status: &'static str,
    /// That level's `tcbDate`.
    pub sgx_tcb_date: UnixTime,
    /// Status of the QE identity level matched by the QE's ISVSVN.
    pub qe_status: &'static str,
    /// That level's `tcbDate`.
    pub qe_tcb_date: UnixTime,
    /// The TDX module identity, when `TEE_TCB_SVN[1]` selects one.
    pub module: Option<ModuleDetails>,
    /// The converged status, as in `tcb.status`.
    pub status: TcbStatus,
}

/// Every field of a verified TDX quote.
#[derive(Debug, Clone, Serialize)]
pub struct TdxDetails {
    /// Header `Version`: 4 or 5.
    pub quote_version: u16,
    /// Body type: 2 (TDX 1.0) or 3 (TDX 1.5); implied 2 for v4.
    pub body_type: u16,
    /// Header `Attestation Key Type` (2).
    pub att_key_type: u16,
    /// Header `TEE Type` (0x81).
    pub tee_type: u32,
    /// Header bytes 8..10 (QE SVN in quote v3, reserved in v4).
    pub qe_svn: u16,
    /// Header bytes 10..12 (PCE SVN in quote v3, reserved in v4).
    pub pce_svn: u16,
    /// Header `QE Vendor ID`.
    pub qe_vendor_id: Hex,
    /// Header `User Data`.
    pub user_data: Hex,
    /// `TEE_TCB_SVN`.
    pub tee_tcb_svn: Hex,
    /// `TEE_TCB_SVN2` (TDX 1.5).
    pub tee_tcb_svn2: Option<Hex>,
    /// `MRSEAM`.
    pub mrseam: Hex,
    /// `MRSIGNERSEAM`.
    pub mrsignerseam: Hex,
    /// `SEAMATTRIBUTES`.
    pub seam_attributes: Hex,
    /// `TDATTRIBUTES`, raw.
    pub td_attributes: Hex,
    /// `TDATTRIBUTES`, decoded.
    pub td_attributes_flags: TdAttributes,
    /// `XFAM`.
    pub xfam: Hex,
    /// `MRTD`.
    pub mrtd: Hex,
    /// `MRCONFIGID`.
    pub mrconfigid: Hex,
    /// `MROWNER`.
    pub mrowner: Hex,
    /// `MROWNERCONFIG`.
    pub mrownerconfig: Hex,
    /// `RTMR0`..`RTMR3`.
    pub rtmrs: Vec<Hex>,
    /// `REPORTDATA`.
    pub report_data: Hex,
    /// `MRSERVICETD` (TDX 1.5).
    pub mrservicetd: Option<Hex>,
    /// The ECDSA attestation key (`x || y`).
    pub attestation_key: Hex,
    /// The QE report.
    pub qe_report: QeReportDetails,
    /// The PCK certificate's platform values.
    pub pck: PckDetails,
    /// Bytes after the quote, ignored (see [`quote`]).
    pub trailing_bytes: usize,
    /// Whether those bytes are all zero.
    pub trailing_bytes_zero: bool,
    /// Collateral facts, or `None` when no collateral was given (TCB status unknown).
    pub collateral: Option<Box<CollateralDetails>>,
}

/// A verified collateral in the cache, with the exact bytes it was verified from (its key is
/// a [`cache::sampled_key`]: a hit counts only if the bytes are identical).
#[derive(Debug)]
struct CachedCollateral {
    bytes: Vec<u8>,
    verified: Arc<VerifiedCollateral>,
}

/// The verified collateral, from the cache or verified now (then cached for its window).
fn collateral_for(
    cache: &Cache,
    bytes: &[u8],
    anchors: &[Arc<TrustAnchor>],
    time: UnixTime,
    memo: &mut pki::Memo,
) -> Result<Arc<VerifiedCollateral>, Error> {
    let key = cache::sampled_key("tdx-collateral", &[bytes]);
    if let Some(hit) = cache.get::<CachedCollateral>(&key, time) {
        if hit.value.bytes == bytes {
            return Ok(Arc::clone(&hit.value.verified));
        }
    }
    let verified = Arc::new(collateral::verify_memo(bytes, anchors, time, memo)?);
    cache.insert(
        key,
        Entry {
            not_before: verified.window.0,
            not_after: verified.window.1,
            value: CachedCollateral {
                bytes: bytes.to_vec(),
                verified: Arc::clone(&verified),
            },
        },
    );
    Ok(verified)
}

/// A verified PCK chain in the cache, with the exact PEM it was verified from and the
/// collateral whose CRLs it was checked against (the same verified collateral object: a hit
/// counts only for identical PEM bytes and that very collateral, which the entry keeps alive).
#[derive(Debug)]
struct CachedPck {
    pem: Vec<u8>,
    collateral: Option<Arc<VerifiedCollateral>>,
    verified: Arc<VerifiedPck>,
}

/// The verified PCK chain (with its CRL checks when there is collateral), from the cache or
/// verified now (then cached for its window).
fn pck_for(
    cache: &Cache,
    pem: &[u8],
    collateral: Option<&Arc<VerifiedCollateral>>,
    anchors: &[Arc<TrustAnchor>],
    time: UnixTime,
    memo: &mut pki::Memo,
) -> Result<Arc<VerifiedPck>, Error> {
    let domain = if collateral.is_some() {
        "tdx-pck-crls"
    } else {
        "tdx-pck"
    };
    let key = cache::sampled_key(domain, &[pem]);
    if let Some(hit) = cache.get::<CachedPck>(&key, time) {
        let same_collateral = match (&hit.value.collateral, collateral) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same_collateral && hit.value.pem == pem {
            return Ok(Arc::clone(&hit.value.verified));
        }
    }
    let crls = collateral.map(|c| Crls {
        root: &c.root_crl,
        pck: &c.pck_crl,
        window: c.crl_window,
    });
    let verified = Arc::new(pck::verify_memo(pem, anchors, crls, time, memo)?);
    cache.insert(
        key,
        Entry {
            not_before: verified.window.0,
            not_after: verified.window.1,
            value: CachedPck {
                pem: pem.to_vec(),
                collateral: collateral.cloned(),
                verified: Arc::clone(&verified),
            },
        },
    );
    Ok(verified)
}

/// Verifies a TDX quote at `time`.
///
/// 1. Parse the quote by its length fields: header (version 4 or 5, ECDSA P-256 key, TEE
///    type TDX, Intel QE vendor ID), body (TDX 1.0 or 1.5), signature data, QE report
///    certification data (type 6) and the PEM PCK chain (type 5).
/// 2. The quote signature by the attestation key verifies over the signed region as received
///    (header, v5 body descriptor, body).
/// 3. The QE report binds the attestation key: its `REPORTDATA` is SHA-256(attestation key ||
///    QE authentication data) followed by 32 zero bytes.
/// 4. With collateral: the collateral verifies on its own (issuer chains to the pinned root,
///    TCB info and QE identity signatures over their exact text, CRL signatures, all valid at
///    `time`; see [`collateral::verify`]). Cached by the collateral's bytes.
/// 5. The PCK chain verifies to the pinned root at `time`, and with collateral neither the
///    PCK nor its CA is revoked (see [`pck::verify`]). Cached by chain bytes and the
///    verified collateral object.
/// 6. The QE report signature by the PCK key verifies over the 384 QE report bytes.
/// 7. With collateral: the PCK's FMSPC and PCE-ID equal the TCB info's, and the PCK chain
///    ends in the same anchor as the collateral's chains.
/// 8. With collateral: the TDX module, platform TCB level and QE identity are matched and
///    their statuses converged as Intel's QVL does ([`tcb::evaluate`]); a revoked level or
///    no matching level is an error. Without collateral the status is
///    [`TcbStatus::Unknown`].
/// 9. Claims: measurements `mrtd`, `rtmr0`..`rtmr3`; every field in [`TdxDetails`]; marked
///    simulated if the anchor is.
pub fn verify(
    trust: &TrustAnchors,
    cache: &Cache,
    evidence: &Evidence<'_>,
    time: UnixTime,
) -> Result<ClaimsOf<TdxDetails>, Error> {
    let anchors = trust.roots_for(Platform::Tdx);
    // 1.
    let q = quote::parse(evidence.bytes)?;
    // 2.
    let mut ak_sec1 = Vec::with_capacity(65);
    ak_sec1.push(0x04);
    ak_sec1.extend_from_slice(q.attestation_key);
    if !pki::verify_ecdsa_fixed(&ECDSA_P256_SHA256_FIXED, &ak_sec1, q.signed, q.signature) {
        return Err(Error::EvidenceSignature {
            what: "TDX quote (by the attestation key)",
        });
    }
    // 3.
    let digest = Sha256::new()
        .chain_update(q.attestation_key)
        .chain_update(q.qe_auth_data)
        .finalize();
    let (bound, padding) = q.qe_report.report_data.split_at(32);
    if bound != digest.as_slice() {
        return Err(Error::mismatch(
            "QE report data (SHA-256 of attestation key and QE authentication data)",
            hex::encode(digest),
            hex::encode(bound),
        ));
    }
    if !cursor::all_zero(padding) {
        return Err(Error::mismatch(
            "QE report data bytes 32..64",
            "zero",
            hex::encode(padding),
        ));
    }
    // Certificates and signature links already done in this call (not across calls).
    let mut memo = crate::path::memo_for(&anchors);
    // 4.
    let collateral = evidence
        .collateral
        .map(|bytes| collateral_for(cache, bytes, &anchors, time, &mut memo))
        .transpose()?;
    // 5.
    let pck = pck_for(
        cache,
        q.pck_chain_pem,
        collateral.as_ref(),
        &anchors,
        time,
        &mut memo,
    )?;
    // 6.
    if !pki::verify_ecdsa_fixed(
        &ECDSA_P256_SHA256_FIXED,
        pck.pck.public_key(),
        q.qe_report_raw,
        q.qe_report_signature,
    ) {
        return Err(Error::EvidenceSignature {
            what: "QE report (by the PCK)",
        });
    }
    let evaluation = match collateral.as_deref() {
        Some(c) => {
            // 7.
            let info = &c.tcb_info;
            if pck.ext.fmspc != info.fmspc {
                return Err(Error::mismatch(
                    "FMSPC (TCB info vs PCK certificate)",
                    hex::encode(info.fmspc),
                    hex::encode(pck.ext.fmspc),
                ));
            }
            if pck.ext.pce_id != info.pce_id {
                return Err(Error::mismatch(
                    "PCE-ID (TCB info vs PCK certificate)",
                    hex::encode(info.pce_id),
                    hex::encode(pck.ext.pce_id),
                ));
            }
            if pck.path.anchor.cert.sha256() != c.anchor.cert.sha256() {
                return Err(Error::mismatch(
                    "root of the PCK chain and of the collateral",
                    &c.anchor.name,
                    &pck.path.anchor.name,
                ));
            }
            // 8.
            Some((
                tcb::evaluate(&q.body, &q.qe_report, &pck.ext, info, &c.qe_identity)?,
                c,
            ))
        }
        None => None,
    };
    // 9.
    Ok(claims(&q, &pck, evaluation, time))
}

fn hex48(b: &[u8; 48]) -> Hex {
    Hex::from(*b)
}

fn collateral_details(ev: &TcbEvaluation<'_>, c: &VerifiedCollateral) -> CollateralDetails {
    CollateralDetails {
        tcb_info_issue_date: c.tcb_info.issue_date,
        tcb_info_next_update: c.tcb_info.next_update,
        tcb_evaluation_data_number: c.tcb_info.tcb_evaluation_data_number,
        qe_identity_issue_date: c.qe_identity.issue_date,
        qe_identity_next_update: c.qe_identity.next_update,
        qe_identity_tcb_evaluation_data_number: c.qe_identity.tcb_evaluation_data_number,
        crls_this_update: c.crl_window.0,
        crls_next_update: c.crl_window.1,
        valid_until: c.window.1,
        platform_status: ev.tdx_level.status.as_str(),
        platform_tcb_date: ev.tdx_level.tcb_date,
        sgx_status: ev.sgx_level.status.as_str(),
        sgx_tcb_date: ev.sgx_level.tcb_date,
        qe_status: ev.qe_level.tcb_status.as_str(),
        qe_tcb_date: ev.qe_level.tcb_date,
        module: ev.module.as_ref().map(|m| ModuleDetails {
            id: m.identity.id.clone(),
            level_isvsvn: m.level.tcb.isvsvn,
            status: m.level.tcb_status.as_str(),
            tcb_date: m.level.tcb_date,
        }),
        status: ev.status,
    }
}

/// Claim names of the TCB versions (precomputed: building claims is on every warm call).
const TEE_TCB_SVN_KEYS: [&str; 16] = [
    "tee_tcb_svn[0]",
    "tee_tcb_svn[1]",
    "tee_tcb_svn[2]",
    "tee_tcb_svn[3]",
    "tee_tcb_svn[4]",
    "tee_tcb_svn[5]",
    "tee_tcb_svn[6]",
    "tee_tcb_svn[7]",
    "tee_tcb_svn[8]",
    "tee_tcb_svn[9]",
    "tee_tcb_svn[10]",
    "tee_tcb_svn[11]",
    "tee_tcb_svn[12]",
    "tee_tcb_svn[13]",
    "tee_tcb_svn[14]",
    "tee_tcb_svn[15]",
];
const TEE_TCB_SVN2_KEYS: [&str; 16] = [
    "tee_tcb_svn2[0]",
    "tee_tcb_svn2[1]",
    "tee_tcb_svn2[2]",
    "tee_tcb_svn2[3]",
    "tee_tcb_svn2[4]",
    "tee_tcb_svn2[5]",
    "tee_tcb_svn2[6]",
    "tee_tcb_svn2[7]",
    "tee_tcb_svn2[8]",
    "tee_tcb_svn2[9]",
    "tee_tcb_svn2[10]",
    "tee_tcb_svn2[11]",
    "tee_tcb_svn2[12]",
    "tee_tcb_svn2[13]",
    "tee_tcb_svn2[14]",
    "tee_tcb_svn2[15]",
];
const SGX_TCB_SVN_KEYS: [&str; 16] = [
    "sgx_tcb_svn[0]",
    "sgx_tcb_svn[1]",
    "sgx_tcb_svn[2]",
    "sgx_tcb_svn[3]",
    "sgx_tcb_svn[4]",
    "sgx_tcb_svn[5]",
    "sgx_tcb_svn[6]",
    "sgx_tcb_svn[7]",
    "sgx_tcb_svn[8]",
    "sgx_tcb_svn[9]",
    "sgx_tcb_svn[10]",
    "sgx_tcb_svn[11]",
    "sgx_tcb_svn[12]",
    "sgx_tcb_svn[13]",
    "sgx_tcb_svn[14]",
    "sgx_tcb_svn[15]",
];

fn claims(
    q: &Quote<'_>,
    pck: &VerifiedPck,
    evaluation: Option<(TcbEvaluation<'_>, &VerifiedCollateral)>,
    t: UnixTime,
) -> ClaimsOf<TdxDetails> {
    let b = &q.body;
    let [rtmr0, rtmr1, rtmr2, rtmr3] = &b.rtmr;
    let mut measurements = BTreeMap::new();
    measurements.insert("mrtd".to_owned(), hex48(&b.mrtd));
    for (name, rtmr) in [
        ("rtmr0", rtmr0),
        ("rtmr1", rtmr1),
        ("rtmr2", rtmr2),
        ("rtmr3", rtmr3),
    ] {
        measurements.insert(name.to_owned(), hex48(rtmr));
    }

    let mut versions = BTreeMap::new();
    for (key, svn) in TEE_TCB_SVN_KEYS.iter().zip(&b.tee_tcb_svn) {
        versions.insert((*key).to_owned(), u64::from(*svn));
    }
    for (key, svn) in TEE_TCB_SVN2_KEYS
        .iter()
        .zip(b.tee_tcb_svn2.iter().flatten())
    {
        versions.insert((*key).to_owned(), u64::from(*svn));
    }
    for (key, svn) in SGX_TCB_SVN_KEYS.iter().zip(&pck.ext.sgx_tcb_components) {
        versions.insert((*key).to_owned(), u64::from(*svn));
    }
    versions.insert("pce_svn".to_owned(), u64::from(pck.ext.pcesvn));
    versions.insert("qe_svn".to_owned(), u64::from(q.qe_report.isvsvn));

    let (status, advisory_ids, collateral) = match evaluation {
        Some((ev, c)) => (
            ev.status,
            ev.advisory_ids.clone(),
            Some(Box::new(collateral_details(&ev, c))),
        ),
        None => (TcbStatus::Unknown, Vec::new(), None),
    };
    let flags = TdAttributes::from_bytes(b.td_attributes);
    let anchor = &pck.path.anchor;
    let qe = &q.qe_report;
    let details = TdxDetails {
        quote_version: q.header.version,
        body_type: q.body_type,
        att_key_type: q.header.att_key_type,
        tee_type: q.header.tee_type,
        qe_svn: q.header.qe_svn,
        pce_svn: q.header.pce_svn,
        qe_vendor_id: Hex::from(q.header.qe_vendor_id),
        user_data: Hex::from(q.header.user_data),
        tee_tcb_svn: Hex::from(b.tee_tcb_svn),
        tee_tcb_svn2: b.tee_tcb_svn2.map(Hex::from),
        mrseam: hex48(&b.mrseam),
        mrsignerseam: hex48(&b.mrsignerseam),
        seam_attributes: Hex::from(b.seam_attributes),
        td_attributes: Hex::from(b.td_attributes),
        td_attributes_flags: flags,
        xfam: Hex::from(b.xfam),
        mrtd: hex48(&b.mrtd),
        mrconfigid: hex48(&b.mrconfigid),
        mrowner: hex48(&b.mrowner),
        mrownerconfig: hex48(&b.mrownerconfig),
        rtmrs: b.rtmr.iter().map(hex48).collect(),
        report_data: Hex::from(b.report_data),
        mrservicetd: b.mrservicetd.map(Hex::from),
        attestation_key: Hex::from(q.attestation_key),
        qe_report: QeReportDetails {
            cpusvn: Hex::from(qe.cpusvn),
            miscselect: Hex::from(qe.miscselect),
            attributes: Hex::from(qe.attributes),
            mrenclave: Hex::from(qe.mrenclave),
            mrsigner: Hex::from(qe.mrsigner),
            isvprodid: qe.isvprodid,
            isvsvn: qe.isvsvn,
        },
        pck: PckDetails {
            fmspc: Hex::from(pck.ext.fmspc),
            pce_id: Hex::from(pck.ext.pce_id),
            sgx_type: pck.ext.sgx_type,
            cpusvn: Hex::from(pck.ext.cpusvn),
            pcesvn: pck.ext.pcesvn,
            sgx_tcb_components: pck.ext.sgx_tcb_components.to_vec(),
            issuer: pck.issuer.clone(),
            not_after: pck.pck.validity().1,
            revocation_checked: pck.revocation_checked,
        },
        trailing_bytes: q.trailing.len,
        trailing_bytes_zero: q.trailing.all_zero,
        collateral,
    };
    ClaimsOf {
        platform: Platform::Tdx,
        simulated: anchor.origin == AnchorOrigin::Simulated,
        product: q.product().to_owned(),
        measurements,
        report_data: Some(Hex::from(b.report_data)),
        user_data: None,
        public_key: None,
        nonce: None,
        tcb: TcbClaims {
            status,
            versions,
            advisory_ids,
        },
        debug: flags.debug,
        chip_id: None,
        instance_id: None,
        evidence_time: None,
        verified_at: t,
        anchor: AnchorClaim {
            name: anchor.name.clone(),
            sha256: Hex::from(anchor.cert.sha256()),
            origin: anchor.origin,
        },
        details,
    }
}
