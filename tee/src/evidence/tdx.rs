//! TDX quote encoder: quote v4 (TD report 1.0) and v5 (body type 3, TD report 1.5), signed by
//! the attestation key, with ECDSA certification data type 6 holding the QE report, its PCK
//! signature, the QE authentication data and the PCK chain (type 5, PEM).
//!
//! Layout (Intel TDX DCAP Quoting Library API, appendix A "Quote Format"; all integers
//! little-endian):
//!
//! | offset | bytes | field                                                           |
//! |--------|-------|-----------------------------------------------------------------|
//! | 0      | 2     | version (4 or 5)                                                |
//! | 2      | 2     | attestation key type (2: ECDSA P-256)                           |
//! | 4      | 4     | TEE type (0x81: TDX)                                            |
//! | 8      | 2+2   | QE SVN, PCE SVN (zero in Intel's quotes)                        |
//! | 12     | 16    | QE vendor ID                                                    |
//! | 28     | 20    | user data                                                       |
//! | 48     | 584   | v4: TD report 1.0 body                                          |
//! | 48     | 2+4   | v5: body type (3), body size (648), then the TD report 1.5 body |
//! | 632/702| 4     | signature data length                                           |
//! |        | 64    | quote signature (r \|\| s) over bytes 0..632 (v4) / 0..702 (v5) |
//! |        | 64    | attestation public key (x \|\| y)                               |
//! |        | 2+4   | certification data type (6), size                               |
//! |        | 384   | QE report (SGX report body)                                     |
//! |        | 64    | QE report signature by the PCK key (r \|\| s)                   |
//! |        | 2+n   | QE authentication data                                          |
//! |        | 2+4+n | certification data type (5), size, PCK chain PEM                |
//!
//! TD report body (TDX module ABI, TDREPORT/TDINFO; offsets within the body):
//! TEE_TCB_SVN 0 (16), MRSEAM 16 (48), MRSIGNERSEAM 64 (48), SEAMATTRIBUTES 112 (8),
//! TDATTRIBUTES 120 (8), XFAM 128 (8), MRTD 136 (48), MRCONFIGID 184 (48), MROWNER 232 (48),
//! MROWNERCONFIG 280 (48), RTMR0..3 328 (4 × 48), REPORTDATA 520 (64); TDX 1.5 adds
//! TEE_TCB_SVN2 584 (16) and MRSERVICETD 600 (48).
//!
//! SGX report body (SGX SDK `sgx_report_body_t`): CPUSVN 0 (16), MISCSELECT 16 (4), reserved
//! 20 (28), ATTRIBUTES 48 (16), MRENCLAVE 64 (32), reserved 96 (32), MRSIGNER 128 (32),
//! reserved 160 (96), ISVPRODID 256 (2), ISVSVN 258 (2), reserved 260 (60), REPORTDATA 320
//! (64). The QE's REPORTDATA is `SHA-256(attestation key || QE authentication data)`
//! followed by 32 zero bytes.

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use sha2::{Digest, Sha256};

use super::{u16_len, u32_len, Buf};
use crate::error::TeeError;
use crate::pki::tdx::{TdxPki, QE_VENDOR_ID_INTEL, TD_QE_MRSIGNER};

/// Quote formats the simulator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TdxQuoteVersion {
    /// Quote v4 with a TDX 1.0 TD report (signed region 0..632).
    V4,
    /// Quote v5 with body type 3, a TDX 1.5 TD report (signed region 0..702).
    V5,
}

impl TdxQuoteVersion {
    /// The version field.
    pub fn number(self) -> u16 {
        match self {
            Self::V4 => 4,
            Self::V5 => 5,
        }
    }

    /// Parses 4 or 5.
    pub fn from_number(n: u16) -> Option<Self> {
        match n {
            4 => Some(Self::V4),
            5 => Some(Self::V5),
            _ => None,
        }
    }
}

/// TD report 1.0 body length.
pub const TD10_LEN: usize = 584;
/// TD report 1.5 body length.
pub const TD15_LEN: usize = 648;
/// QE report (SGX report body) length.
pub const QE_REPORT_LEN: usize = 384;
/// XFAM of the simulated TD (x87, SSE, AVX, AVX-512, PKRU; CET, as Intel's sample).
pub const XFAM: u64 = 0x0006_02e7;
/// The QE's ATTRIBUTES (INIT, MODE64BIT, PROVISIONKEY; XFRM 0xe7), as Intel's TD QE.
pub const QE_ATTRIBUTES: [u8; 16] = [0x15, 0, 0, 0, 0, 0, 0, 0, 0xe7, 0, 0, 0, 0, 0, 0, 0];
/// The QE's ISVPRODID.
pub const QE_ISVPRODID: u16 = 2;
/// The QE authentication data (32 bytes, as Intel's QE emits).
pub const QE_AUTH_DATA: [u8; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31,
];

/// What the TD report body says.
#[derive(Debug, Clone)]
pub struct TdReportFields {
    /// TDATTRIBUTES (bit 0: DEBUG; bit 28: SEPT_VE_DISABLE).
    pub td_attributes: u64,
    /// MRTD.
    pub mrtd: [u8; 48],
    /// RTMR0..3.
    pub rtmr: [[u8; 48]; 4],
    /// REPORTDATA.
    pub report_data: [u8; 64],
}

fn td_body(
    version: TdxQuoteVersion,
    f: &TdReportFields,
    pki: &TdxPki,
) -> Result<Vec<u8>, TeeError> {
    let len = match version {
        TdxQuoteVersion::V4 => TD10_LEN,
        TdxQuoteVersion::V5 => TD15_LEN,
    };
    let mut b = Buf::new(len);
    let p = &pki.platform;
    b.put(0, &p.tee_tcb_svn);
    b.put(16, &p.mr_seam);
    // MRSIGNERSEAM, SEAMATTRIBUTES: zero (Intel-signed module).
    b.put(120, &f.td_attributes.to_le_bytes());
    b.put(128, &XFAM.to_le_bytes());
    b.put(136, &f.mrtd);
    // MRCONFIGID, MROWNER, MROWNERCONFIG: zero.
    for (i, r) in f.rtmr.iter().enumerate() {
        b.put(328 + 48 * i, r);
    }
    b.put(520, &f.report_data);
    if version == TdxQuoteVersion::V5 {
        b.put(584, &p.tee_tcb_svn);
        // MRSERVICETD: zero (no service TD bound).
    }
    b.finish()
}

/// The QE report over the attestation key.
fn qe_report(pki: &TdxPki, attestation_key: &[u8; 64]) -> Result<Vec<u8>, TeeError> {
    let p = &pki.platform;
    let mut b = Buf::new(QE_REPORT_LEN);
    b.put(0, &p.cpusvn);
    b.put(48, &QE_ATTRIBUTES);
    b.put(64, &p.qe_mrenclave);
    b.put(128, &TD_QE_MRSIGNER);
    b.put(256, &QE_ISVPRODID.to_le_bytes());
    b.put(258, &p.qe_isvsvn.to_le_bytes());
    let mut h = Sha256::new();
    h.update(attestation_key);
    h.update(QE_AUTH_DATA);
    b.put(320, &h.finalize());
    b.finish()
}

fn sign_raw(key: &SigningKey, msg: &[u8], what: &'static str) -> Result<Vec<u8>, TeeError> {
    let sig: Signature = key.try_sign(msg).map_err(|e| TeeError::crypto(what, e))?;
    Ok(sig.to_bytes().to_vec())
}

/// The attestation public key as the quote carries it (x || y).
pub fn attestation_public_key(key: &SigningKey) -> Result<[u8; 64], TeeError> {
    let point = key.verifying_key().to_encoded_point(false);
    point
        .as_bytes()
        .get(1..)
        .and_then(|xy| <[u8; 64]>::try_from(xy).ok())
        .ok_or_else(|| TeeError::encoding("attestation key", "not an uncompressed P-256 point"))
}

/// Encodes and signs a quote.
pub fn encode(
    version: TdxQuoteVersion,
    fields: &TdReportFields,
    pki: &TdxPki,
) -> Result<Vec<u8>, TeeError> {
    let p = &pki.platform;
    let mut quote = Vec::with_capacity(5000);
    quote.extend_from_slice(&version.number().to_le_bytes());
    quote.extend_from_slice(&2u16.to_le_bytes());
    quote.extend_from_slice(&0x81u32.to_le_bytes());
    quote.extend_from_slice(&[0; 4]);
    quote.extend_from_slice(&QE_VENDOR_ID_INTEL);
    quote.extend_from_slice(&p.qe_user_data);
    let body = td_body(version, fields, pki)?;
    if version == TdxQuoteVersion::V5 {
        quote.extend_from_slice(&3u16.to_le_bytes());
        quote.extend_from_slice(&u32_len("TD report", body.len())?);
    }
    quote.extend_from_slice(&body);

    let signature = sign_raw(&pki.attestation_key, &quote, "TDX quote signature")?;
    let ak = attestation_public_key(&pki.attestation_key)?;
    let qe_report = qe_report(pki, &ak)?;
    let qe_signature = sign_raw(&pki.pck_key, &qe_report, "QE report signature")?;
    let chain = pki.pck_chain_pem()?;

    let mut qe_cert_data = Vec::new();
    qe_cert_data.extend_from_slice(&qe_report);
    qe_cert_data.extend_from_slice(&qe_signature);
    qe_cert_data.extend_from_slice(&u16_len("QE authentication data", QE_AUTH_DATA.len())?);
    qe_cert_data.extend_from_slice(&QE_AUTH_DATA);
    qe_cert_data.extend_from_slice(&5u16.to_le_bytes());
    qe_cert_data.extend_from_slice(&u32_len("PCK chain", chain.len())?);
    qe_cert_data.extend_from_slice(chain.as_bytes());

    let mut sig_data = Vec::new();
    sig_data.extend_from_slice(&signature);
    sig_data.extend_from_slice(&ak);
    sig_data.extend_from_slice(&6u16.to_le_bytes());
    sig_data.extend_from_slice(&u32_len("QE certification data", qe_cert_data.len())?);
    sig_data.extend_from_slice(&qe_cert_data);

    quote.extend_from_slice(&u32_len("signature data", sig_data.len())?);
    quote.extend_from_slice(&sig_data);
    Ok(quote)
}
