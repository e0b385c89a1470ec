//! Parsing of Intel TDX quotes, version 4 and 5, by their length fields.
//!
//! Field names, offsets and sizes follow the Intel TDX DCAP Quote Generation Library and Quote
//! Verification Library API specification ("Intel TDX DCAP Quoting Library API", appendix
//! "Quote Format": tables *Quote Header*, *TD Quote Body* (TDX 1.0, `TD10`), *TD Quote Body
//! Descriptor* and *TD Quote Body v1.5* (`TD15`, quote v5), *ECDSA 256-bit Quote Signature Data
//! Structure - Version 4*, *QE Report Certification Data* (certification data type 6) and
//! *PCK Certificate Chain* (certification data type 5)). All integers are little-endian.
//!
//! Every length field is checked against the bytes that remain; nothing is indexed.
//!
//! # Trailing bytes
//!
//! A quote ends where its own length fields say: after the signature data whose `u32`
//! length follows the body. Quote buffers handed out by quoting stacks are often larger
//! than the quote (real captures carry 39 to several thousand extra bytes; GCP hands out an
//! 8000-byte buffer). Those bytes lie outside the signed region *and* outside the signature
//! data, so nothing verified can come from them. Intel's QVL, dcap-qvl and go-tdx-guest all
//! ignore them, and one of the real vectors (go-tdx-guest's `tdx_prod_quote_SPR_E4.dat`)
//! carries non-zero text there. kiln therefore ignores them too, whatever their value, and
//! reports how many there were and whether they were all zero
//! ([`Quote::trailing`], surfaced in `TdxDetails`) so that a policy may refuse them.
//! Inside the signature data the rule is strict: every declared size must be consumed exactly.

use crate::cursor::{self, Reader};
use crate::error::Error;

/// Quote header length (bytes 0..48).
pub const HEADER_LEN: usize = 48;
/// TDX 1.0 TD quote body length (`TD10_REPORT`).
pub const TD10_BODY_LEN: usize = 584;
/// TDX 1.5 TD quote body length (`TD15_REPORT`: TD10 plus `TEE_TCB_SVN2` and `MRSERVICETD`).
pub const TD15_BODY_LEN: usize = 648;
/// Length of the SGX report body used for the QE report.
pub const QE_REPORT_LEN: usize = 384;
/// Attestation key type 2: ECDSA-256-with-P-256 curve.
pub const ATT_KEY_TYPE_ECDSA_P256: u16 = 2;
/// TEE type of TDX.
pub const TEE_TYPE_TDX: u32 = 0x81;
/// QE vendor ID of Intel's quoting enclave.
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];
/// Quote v5 body type 1: SGX enclave report (not a TD quote).
pub const BODY_TYPE_SGX: u16 = 1;
/// Quote v5 body type 2: TDX 1.0 TD report (also the implied type of a v4 quote).
pub const BODY_TYPE_TD10: u16 = 2;
/// Quote v5 body type 3: TDX 1.5 TD report.
pub const BODY_TYPE_TD15: u16 = 3;
/// Certification data type 5: PCK leaf, intermediate CA and root, concatenated PEM.
pub const CERT_DATA_PCK_CHAIN: u16 = 5;
/// Certification data type 6: QE report certification data.
pub const CERT_DATA_QE_REPORT: u16 = 6;

const WHAT: &str = "TDX quote";

/// Quote header (table *Quote Header*, 48 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Offset 0, 2 bytes: `Version` — 4 (TDX 1.0 body) or 5 (body descriptor follows).
    pub version: u16,
    /// Offset 2, 2 bytes: `Attestation Key Type` — 2 = ECDSA-256-with-P-256.
    pub att_key_type: u16,
    /// Offset 4, 4 bytes: `TEE Type` — 0x00000081 = TDX.
    pub tee_type: u32,
    /// Offset 8, 2 bytes: `QE SVN` in quote v3; `RESERVED` in the v4 table (zero in practice).
    pub qe_svn: u16,
    /// Offset 10, 2 bytes: `PCE SVN` in quote v3; `RESERVED` in the v4 table.
    pub pce_svn: u16,
    /// Offset 12, 16 bytes: `QE Vendor ID` — Intel: 939A7233F79C4CA9940A0DB3957F0607.
    pub qe_vendor_id: [u8; 16],
    /// Offset 28, 20 bytes: `User Data` — custom QE data (the first 16 bytes are the QE ID
    /// for Intel's QE).
    pub user_data: [u8; 20],
}

/// TD quote body (table *TD Quote Body*; TDX 1.5 appends two fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// Offset 0, 16 bytes: `TEE_TCB_SVN` — SVNs of the TDX module (`[0]` module minor SVN,
    /// `[1]` module major version / identity selector) and TDX TCB components.
    pub tee_tcb_svn: [u8; 16],
    /// Offset 16, 48 bytes: `MRSEAM` — measurement of the TDX module.
    pub mrseam: [u8; 48],
    /// Offset 64, 48 bytes: `MRSIGNERSEAM` — signer of the TDX module (zero for Intel's).
    pub mrsignerseam: [u8; 48],
    /// Offset 112, 8 bytes: `SEAMATTRIBUTES` — TDX module attributes (zero in TDX 1.0/1.5).
    pub seam_attributes: [u8; 8],
    /// Offset 120, 8 bytes: `TDATTRIBUTES` — TD attributes; bit 0 is `DEBUG`.
    pub td_attributes: [u8; 8],
    /// Offset 128, 8 bytes: `XFAM` — extended features available mask.
    pub xfam: [u8; 8],
    /// Offset 136, 48 bytes: `MRTD` — measurement of the initial TD contents.
    pub mrtd: [u8; 48],
    /// Offset 184, 48 bytes: `MRCONFIGID` — software-defined configuration ID.
    pub mrconfigid: [u8; 48],
    /// Offset 232, 48 bytes: `MROWNER` — software-defined ID of the TD's owner.
    pub mrowner: [u8; 48],
    /// Offset 280, 48 bytes: `MROWNERCONFIG` — owner-defined configuration.
    pub mrownerconfig: [u8; 48],
    /// Offsets 328, 376, 424, 472, 48 bytes each: `RTMR0`..`RTMR3` — runtime measurements.
    pub rtmr: [[u8; 48]; 4],
    /// Offset 520, 64 bytes: `REPORTDATA` — data supplied by the TD.
    pub report_data: [u8; 64],
    /// TDX 1.5 only, offset 584, 16 bytes: `TEE_TCB_SVN2` — SVNs of the TDX module after a
    /// TD-preserving update.
    pub tee_tcb_svn2: Option<[u8; 16]>,
    /// TDX 1.5 only, offset 600, 48 bytes: `MRSERVICETD` — measurement of bound service TDs.
    pub mrservicetd: Option<[u8; 48]>,
}

/// The QE report: an SGX `REPORT` body (384 bytes) produced by the quoting enclave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeReport {
    /// Offset 0, 16 bytes: `CPUSVN`.
    pub cpusvn: [u8; 16],
    /// Offset 16, 4 bytes: `MISCSELECT` (kept as the received bytes).
    pub miscselect: [u8; 4],
    /// Offset 48, 16 bytes: `ATTRIBUTES` (offsets 20..48 are reserved).
    pub attributes: [u8; 16],
    /// Offset 64, 32 bytes: `MRENCLAVE`.
    pub mrenclave: [u8; 32],
    /// Offset 128, 32 bytes: `MRSIGNER` (offsets 96..128 are reserved).
    pub mrsigner: [u8; 32],
    /// Offset 256, 2 bytes: `ISVPRODID` (offsets 160..256 are reserved).
    pub isvprodid: u16,
    /// Offset 258, 2 bytes: `ISVSVN`.
    pub isvsvn: u16,
    /// Offset 320, 64 bytes: `REPORTDATA` — SHA-256(attestation key || QE auth data), then
    /// 32 zero bytes (offsets 260..320 are reserved).
    pub report_data: [u8; 64],
}

/// What follows the signed region and is not part of the quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailing {
    /// Number of bytes after the signature data.
    pub len: usize,
    /// Whether they are all zero.
    pub all_zero: bool,
}

/// A parsed quote, borrowing the received bytes.
#[derive(Debug, Clone)]
pub struct Quote<'a> {
    /// The header.
    pub header: Header,
    /// Body type: 2 (TDX 1.0) or 3 (TDX 1.5); a v4 quote has type 2 implicitly.
    pub body_type: u16,
    /// The TD report body.
    pub body: Body,
    /// The signed region as received: header, body descriptor (v5) and body.
    pub signed: &'a [u8],
    /// Signature data, `Quote Signature`: ECDSA P-256 `r || s` over [`Quote::signed`].
    pub signature: &'a [u8],
    /// Signature data, `ECDSA Attestation Key`: the raw P-256 point `x || y`.
    pub attestation_key: &'a [u8],
    /// QE report certification data, `QE Report`: the 384 bytes as received (signed by the PCK).
    pub qe_report_raw: &'a [u8],
    /// The parsed QE report.
    pub qe_report: QeReport,
    /// QE report certification data, `QE Report Signature`: ECDSA P-256 `r || s` by the PCK.
    pub qe_report_signature: &'a [u8],
    /// QE report certification data, `QE Authentication Data`.
    pub qe_auth_data: &'a [u8],
    /// Inner certification data (type 5): the PEM PCK certificate chain as received.
    pub pck_chain_pem: &'a [u8],
    /// Bytes after the quote.
    pub trailing: Trailing,
}

impl Quote<'_> {
    /// Product name of the body.
    pub fn product(&self) -> &'static str {
        if self.body_type == BODY_TYPE_TD15 {
            "TDX 1.5"
        } else {
            "TDX 1.0"
        }
    }
}

fn parse_header(r: &mut Reader<'_>) -> Result<Header, Error> {
    let header = Header {
        version: r.u16_le()?,
        att_key_type: r.u16_le()?,
        tee_type: r.u32_le()?,
        qe_svn: r.u16_le()?,
        pce_svn: r.u16_le()?,
        qe_vendor_id: r.array()?,
        user_data: r.array()?,
    };
    if !matches!(header.version, 4 | 5) {
        return Err(Error::Unsupported {
            what: "TDX quote version",
            found: format!("{} (supported: 4, 5)", header.version),
        });
    }
    if header.att_key_type != ATT_KEY_TYPE_ECDSA_P256 {
        return Err(Error::Unsupported {
            what: "TDX quote attestation key type",
            found: format!(
                "{} (supported: 2 = ECDSA-256-with-P-256)",
                header.att_key_type
            ),
        });
    }
    if header.tee_type != TEE_TYPE_TDX {
        return Err(Error::Unsupported {
            what: "TEE type",
            found: format!("{:#x} (supported: 0x81 = TDX)", header.tee_type),
        });
    }
    if header.qe_vendor_id != INTEL_QE_VENDOR_ID {
        return Err(Error::mismatch(
            "QE vendor ID",
            hex::encode(INTEL_QE_VENDOR_ID),
            hex::encode(header.qe_vendor_id),
        ));
    }
    Ok(header)
}

fn parse_body(r: &mut Reader<'_>, td15: bool) -> Result<Body, Error> {
    Ok(Body {
        tee_tcb_svn: r.array()?,
        mrseam: r.array()?,
        mrsignerseam: r.array()?,
        seam_attributes: r.array()?,
        td_attributes: r.array()?,
        xfam: r.array()?,
        mrtd: r.array()?,
        mrconfigid: r.array()?,
        mrowner: r.array()?,
        mrownerconfig: r.array()?,
        rtmr: [r.array()?, r.array()?, r.array()?, r.array()?],
        report_data: r.array()?,
        tee_tcb_svn2: if td15 { Some(r.array()?) } else { None },
        mrservicetd: if td15 { Some(r.array()?) } else { None },
    })
}

/// Parses the 384-byte SGX report body of the QE.
pub fn parse_qe_report(raw: &[u8]) -> Result<QeReport, Error> {
    let mut r = Reader::new(raw, "QE report");
    let cpusvn = r.array()?;
    let miscselect = r.array()?;
    r.skip(28)?;
    let attributes = r.array()?;
    let mrenclave = r.array()?;
    r.skip(32)?;
    let mrsigner = r.array()?;
    r.skip(96)?;
    let isvprodid = r.u16_le()?;
    let isvsvn = r.u16_le()?;
    r.skip(60)?;
    let report_data = r.array()?;
    if r.remaining() != 0 {
        return Err(Error::TrailingData {
            what: "QE report",
            extra: r.remaining(),
        });
    }
    Ok(QeReport {
        cpusvn,
        miscselect,
        attributes,
        mrenclave,
        mrsigner,
        isvprodid,
        isvsvn,
        report_data,
    })
}

/// Reads a `type u16, size u32` certification data header and returns the type and the
/// `size` bytes that follow.
fn certification_data<'a>(r: &mut Reader<'a>) -> Result<(u16, &'a [u8]), Error> {
    let kind = r.u16_le()?;
    let size = r.len_u32()?;
    Ok((kind, r.take(size)?))
}

/// Parses a TDX quote (v4 or v5) from a buffer that may carry trailing bytes.
pub fn parse(bytes: &[u8]) -> Result<Quote<'_>, Error> {
    let mut r = Reader::new(bytes, WHAT);
    let header = parse_header(&mut r)?;
    // Quote v5 only: the *TD Quote Body Descriptor* (body type u16, body size u32) at 48.
    let (body_type, td15) = if header.version == 5 {
        let body_type = r.u16_le()?;
        let size = r.len_u32()?;
        let expected = match body_type {
            BODY_TYPE_TD10 => TD10_BODY_LEN,
            BODY_TYPE_TD15 => TD15_BODY_LEN,
            BODY_TYPE_SGX => {
                return Err(Error::Unsupported {
                    what: "TDX quote v5 body type",
                    found: "1 (SGX enclave report)".into(),
                })
            }
            other => {
                return Err(Error::Unsupported {
                    what: "TDX quote v5 body type",
                    found: format!("{other} (supported: 2 = TDX 1.0, 3 = TDX 1.5)"),
                })
            }
        };
        if size != expected {
            return Err(Error::mismatch("TDX quote v5 body size", expected, size));
        }
        (body_type, body_type == BODY_TYPE_TD15)
    } else {
        (BODY_TYPE_TD10, false)
    };
    let body = parse_body(&mut r, td15)?;
    let signed = cursor::slice(bytes, 0, r.position(), WHAT)?;

    // *ECDSA 256-bit Quote Signature Data Structure - Version 4*, preceded by its u32 length.
    let sig_len = r.len_u32()?;
    let sig_data = r.take(sig_len)?;
    let trailing = Trailing {
        len: r.remaining(),
        all_zero: cursor::all_zero(r.rest()),
    };

    let mut s = Reader::new(sig_data, "TDX quote signature data");
    let signature = s.take(64)?;
    let attestation_key = s.take(64)?;
    let (outer_type, outer) = certification_data(&mut s)?;
    if s.remaining() != 0 {
        return Err(Error::TrailingData {
            what: "TDX quote signature data",
            extra: s.remaining(),
        });
    }
    if outer_type != CERT_DATA_QE_REPORT {
        return Err(Error::Unsupported {
            what: "TDX quote certification data type",
            found: format!("{outer_type} (supported: 6 = QE report certification data)"),
        });
    }

    // *QE Report Certification Data* (type 6).
    let mut c = Reader::new(outer, "QE report certification data");
    let qe_report_raw = c.take(QE_REPORT_LEN)?;
    let qe_report_signature = c.take(64)?;
    let auth_len = usize::from(c.u16_le()?);
    let qe_auth_data = c.take(auth_len)?;
    let (inner_type, pck_chain_pem) = certification_data(&mut c)?;
    if c.remaining() != 0 {
        return Err(Error::TrailingData {
            what: "QE report certification data",
            extra: c.remaining(),
        });
    }
    if inner_type != CERT_DATA_PCK_CHAIN {
        return Err(Error::Unsupported {
            what: "QE certification data type",
            found: format!("{inner_type} (supported: 5 = PCK certificate chain, PEM)"),
        });
    }
    let qe_report = parse_qe_report(qe_report_raw)?;

    Ok(Quote {
        header,
        body_type,
        body,
        signed,
        signature,
        attestation_key,
        qe_report_raw,
        qe_report,
        qe_report_signature,
        qe_auth_data,
        pck_chain_pem,
        trailing,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;

    /// A structurally valid v4 quote with the given certification data body.
    fn synthetic(version: u16, body_desc: Option<(u16, u32)>, body_len: usize) -> Vec<u8> {
        let mut q = Vec::new();
        q.extend_from_slice(&version.to_le_bytes());
        q.extend_from_slice(&2u16.to_le_bytes());
        q.extend_from_slice(&0x81u32.to_le_bytes());
        q.extend_from_slice(&[0; 4]);
        q.extend_from_slice(&INTEL_QE_VENDOR_ID);
        q.extend_from_slice(&[0; 20]);
        if let Some((t, s)) = body_desc {
            q.extend_from_slice(&t.to_le_bytes());
            q.extend_from_slice(&s.to_le_bytes());
        }
        q.extend(std::iter::repeat_n(0xab, body_len));
        let pem = b"PEM";
        let mut cert = Vec::new();
        cert.extend_from_slice(&[1; QE_REPORT_LEN]);
        cert.extend_from_slice(&[2; 64]);
        cert.extend_from_slice(&3u16.to_le_bytes());
        cert.extend_from_slice(&[3; 3]);
        cert.extend_from_slice(&5u16.to_le_bytes());
        cert.extend_from_slice(&(pem.len() as u32).to_le_bytes());
        cert.extend_from_slice(pem);
        let mut sig = Vec::new();
        sig.extend_from_slice(&[4; 64]);
        sig.extend_from_slice(&[5; 64]);
        sig.extend_from_slice(&6u16.to_le_bytes());
        sig.extend_from_slice(&(cert.len() as u32).to_le_bytes());
        sig.extend_from_slice(&cert);
        q.extend_from_slice(&(sig.len() as u32).to_le_bytes());
        q.extend_from_slice(&sig);
        q
    }

    #[test]
    fn parses_v4_and_v5_layouts() {
        let q4 = synthetic(4, None, TD10_BODY_LEN);
        let p = parse(&q4).unwrap();
        assert_eq!((p.body_type, p.signed.len()), (2, 632));
        assert_eq!(p.pck_chain_pem, b"PEM");
        assert_eq!(p.qe_auth_data, &[3, 3, 3]);
        assert_eq!(
            p.trailing,
            Trailing {
                len: 0,
                all_zero: true
            }
        );

        let q5 = synthetic(5, Some((3, 648)), TD15_BODY_LEN);
        let p = parse(&q5).unwrap();
        assert_eq!(
            (p.body_type, p.signed.len(), p.product()),
            (3, 702, "TDX 1.5")
        );
        assert!(p.body.mrservicetd.is_some());

        let q5_10 = synthetic(5, Some((2, 584)), TD10_BODY_LEN);
        assert_eq!(parse(&q5_10).unwrap().signed.len(), 638);
    }

    #[test]
    fn refuses_wrong_descriptors_and_inner_junk() {
        let wrong_size = synthetic(5, Some((3, 584)), TD10_BODY_LEN);
        assert!(matches!(parse(&wrong_size), Err(Error::Mismatch { .. })));
        let sgx = synthetic(5, Some((1, 384)), 384);
        assert!(matches!(parse(&sgx), Err(Error::Unsupported { .. })));

        // One extra byte inside the signature data (its length grown by one).
        let mut q = synthetic(4, None, TD10_BODY_LEN);
        let at = HEADER_LEN + TD10_BODY_LEN;
        let len = u32::from_le_bytes(q[at..at + 4].try_into().unwrap()) + 1;
        q[at..at + 4].copy_from_slice(&len.to_le_bytes());
        q.push(0);
        assert!(matches!(parse(&q), Err(Error::TrailingData { .. })));
    }

    #[test]
    fn reports_trailing_bytes() {
        let mut q = synthetic(4, None, TD10_BODY_LEN);
        q.extend_from_slice(&[0; 70]);
        assert_eq!(
            parse(&q).unwrap().trailing,
            Trailing {
                len: 70,
                all_zero: true
            }
        );
        q.push(1);
        assert_eq!(
            parse(&q).unwrap().trailing,
            Trailing {
                len: 71,
                all_zero: false
            }
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let q = synthetic(5, Some((3, 648)), TD15_BODY_LEN);
        for n in 0..q.len() {
            assert!(parse(&q[..n]).is_err(), "{n}");
        }
    }
}
