//! AMD SEV-SNP through `/dev/sev-guest`, with the `sev` crate's guest API (its ioctls are
//! the crate's; nothing here is unsafe).
//!
//! - Evidence: `SNP_GET_EXT_REPORT` with REPORT_DATA at VMPL 0; the VCEK or VLEK and the
//!   ASK/ARK come from the certificate table when the host supplies one (otherwise the host
//!   fetches them from AMD's KDS).
//! - Measurement: the MEASUREMENT field of a report.
//! - Sealing key: `SNP_GET_DERIVED_KEY` from the VCEK root with the launch measurement and
//!   the guest policy mixed in, then HKDF-SHA256 with the context: only a guest with the same
//!   measurement and policy on the same chip derives it.

use std::sync::Mutex;

use base64::Engine as _;
use hkdf::Hkdf;
use kiln_tee::{Measurement, Platform, ReportData, Tee, TeeError, TeeEvidence};
use sev::firmware::guest::{DerivedKey, Firmware, GuestFieldSelect};
use sev::firmware::host::{CertTableEntry, CertType};
use sha2::Sha256;

/// The device.
pub const DEVICE: &str = "/dev/sev-guest";
/// Report length.
const REPORT_LEN: usize = 1184;
/// The VMPL reports and keys are requested at (the guest kernel runs at VMPL 0 without an
/// SVSM).
const VMPL: u32 = 0;

/// Fields of a report the enclave needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportFields {
    /// VERSION.
    pub version: u32,
    /// GUEST_POLICY.
    pub policy: u64,
    /// REPORT_DATA.
    pub report_data: [u8; 64],
    /// MEASUREMENT.
    pub measurement: [u8; 48],
}

/// Reads VERSION (0x00), POLICY (0x08), REPORT_DATA (0x50) and MEASUREMENT (0x90).
pub fn parse_report(bytes: &[u8]) -> Result<ReportFields, String> {
    if bytes.len() < REPORT_LEN {
        return Err(format!(
            "the report is {} bytes, expected {REPORT_LEN}",
            bytes.len()
        ));
    }
    let field = |range: std::ops::Range<usize>| bytes.get(range).unwrap_or_default();
    let version = u32::from_le_bytes(field(0..4).try_into().map_err(|_| "version")?);
    if !(2..=5).contains(&version) {
        return Err(format!("report version {version} is not 2 to 5"));
    }
    Ok(ReportFields {
        version,
        policy: u64::from_le_bytes(field(8..16).try_into().map_err(|_| "policy")?),
        report_data: field(0x50..0x90).try_into().map_err(|_| "report data")?,
        measurement: field(0x90..0xc0).try_into().map_err(|_| "measurement")?,
    })
}

/// The derived-key request: VCEK root, measurement and guest policy mixed in, VMPL 0, no
/// guest SVN or TCB version (so that a TCB update does not lose the key).
pub fn derived_key_request() -> DerivedKey {
    let mut fields = GuestFieldSelect(0);
    fields.set_measurement(true);
    fields.set_guest_policy(true);
    DerivedKey::new(false, fields, VMPL, 0, 0, None)
}

/// `HKDF-SHA256(salt = "kiln sev-snp sealing v1", IKM = derived key, info = context)`.
pub fn expand_sealing_key(derived: &[u8; 32], context: &[u8]) -> Result<[u8; 32], TeeError> {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(b"kiln sev-snp sealing v1"), derived)
        .expand(context, &mut out)
        .map_err(|e| TeeError::Crypto {
            what: "SEV-SNP sealing key",
            reason: e.to_string(),
        })?;
    Ok(out)
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The VEK (VLEK preferred when both are present: a VLEK-signed report needs it) and the
/// ASK-then-ARK PEM chain from an extended report's certificate table.
pub fn certificates(entries: &[CertTableEntry]) -> (Option<Vec<u8>>, Option<String>) {
    let find = |t: CertType| {
        entries
            .iter()
            .find(|e| e.cert_type == t)
            .map(|e| e.data.clone())
    };
    let vek = find(CertType::VLEK).or_else(|| find(CertType::VCEK));
    let chain: String = [CertType::ASK, CertType::ARK]
        .into_iter()
        .filter_map(|t| find(t).map(|d| pem(&d)))
        .collect();
    (vek, (!chain.is_empty()).then_some(chain))
}

fn fw_error(op: &'static str, e: impl std::fmt::Display) -> TeeError {
    TeeError::Io {
        path: DEVICE.into(),
        op,
        source: std::io::Error::other(e.to_string()),
    }
}

/// An SEV-SNP guest.
#[derive(Debug)]
pub struct SnpTee {
    fw: Mutex<Firmware>,
    measurement: [u8; 48],
}

impl SnpTee {
    /// Opens the device and reads the launch measurement from a report.
    pub fn open() -> Result<Self, TeeError> {
        let mut fw = Firmware::open().map_err(|e| TeeError::Io {
            path: DEVICE.into(),
            op: "open",
            source: e,
        })?;
        let report = fw
            .get_report(None, Some([0; 64]), Some(VMPL))
            .map_err(|e| fw_error("request a report from", e))?;
        let fields = parse_report(&report).map_err(|e| fw_error("parse a report from", e))?;
        Ok(Self {
            fw: Mutex::new(fw),
            measurement: fields.measurement,
        })
    }

    fn firmware(&self) -> Result<std::sync::MutexGuard<'_, Firmware>, TeeError> {
        // A poisoned lock only means an earlier request panicked; the device holds no
        // state between requests, so the handle is still usable.
        Ok(self
            .fw
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl Tee for SnpTee {
    fn platform(&self) -> Platform {
        Platform::SevSnp
    }

    fn evidence(&self, report_data: &ReportData) -> Result<TeeEvidence, TeeError> {
        if report_data.nitro_public_key.is_some() || report_data.nonce.is_some() {
            return Err(TeeError::InvalidRequest {
                field: "report data",
                reason: "SEV-SNP binds only 64 bytes".into(),
            });
        }
        let (report, certs) = self
            .firmware()?
            .get_ext_report(None, Some(report_data.bytes), Some(VMPL))
            .map_err(|e| fw_error("request an extended report from", e))?;
        let fields = parse_report(&report).map_err(|e| fw_error("parse a report from", e))?;
        if fields.report_data != report_data.bytes {
            return Err(fw_error(
                "check the report from",
                "the report does not carry the REPORT_DATA requested",
            ));
        }
        let (vek_der, chain_pem) = certs.as_deref().map(certificates).unwrap_or_default();
        Ok(TeeEvidence {
            platform: Platform::SevSnp,
            evidence: report,
            vek_der,
            chain_pem,
            collateral_json: None,
            simulated_root_der: None,
        })
    }

    fn measurement(&self) -> Measurement {
        Measurement::SevSnp {
            measurement: self.measurement,
        }
    }

    fn sealing_key(&self, context: &[u8]) -> Result<[u8; 32], TeeError> {
        // Message version 1: no launch mitigation vector needed.
        let derived = self
            .firmware()?
            .get_derived_key(Some(1), derived_key_request())
            .map_err(|e| fw_error("derive a key with", e))?;
        expand_sealing_key(&derived, context)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn report_fields_are_read_at_their_offsets() {
        let mut r = vec![0u8; REPORT_LEN];
        r[0] = 5;
        r[8..16].copy_from_slice(&0x3_0000u64.to_le_bytes());
        r[0x50..0x90].fill(0xaa);
        r[0x90..0xc0].fill(0xbb);
        let f = parse_report(&r).unwrap();
        assert_eq!((f.version, f.policy), (5, 0x3_0000));
        assert_eq!(f.report_data, [0xaa; 64]);
        assert_eq!(f.measurement, [0xbb; 48]);
        assert!(parse_report(&r[..100]).is_err());
        r[0] = 9;
        assert!(parse_report(&r).is_err());
    }

    #[test]
    fn the_derived_key_binds_measurement_and_policy_to_the_vcek_root() {
        let k = derived_key_request();
        assert_eq!(k.get_root_key_select(), 0);
        assert!(k.guest_field_select.get_measurement());
        assert!(k.guest_field_select.get_guest_policy());
        assert!(!k.guest_field_select.get_tcb_version());
        assert!(!k.guest_field_select.get_svn());
        assert_eq!(k.guest_field_select.0, 0b1001);
        assert_eq!((k.vmpl, k.guest_svn, k.tcb_version), (0, 0, 0));
        let a = expand_sealing_key(&[1; 32], b"a").unwrap();
        assert_ne!(a, expand_sealing_key(&[1; 32], b"b").unwrap());
        assert_ne!(a, expand_sealing_key(&[2; 32], b"a").unwrap());
    }

    #[test]
    fn the_certificate_table_gives_the_vek_and_the_chain() {
        let entry = |t, d: &[u8]| CertTableEntry {
            cert_type: t,
            data: d.to_vec(),
        };
        let (vek, chain) = certificates(&[
            entry(CertType::ARK, b"ark"),
            entry(CertType::VCEK, b"vcek"),
            entry(CertType::ASK, b"ask"),
        ]);
        assert_eq!(vek.unwrap(), b"vcek");
        let chain = chain.unwrap();
        let ask = chain.find(&pem(b"ask")).unwrap();
        let ark = chain.find(&pem(b"ark")).unwrap();
        assert!(ask < ark);
        let (vek, chain) = certificates(&[
            entry(CertType::VCEK, b"vcek"),
            entry(CertType::VLEK, b"vlek"),
        ]);
        assert_eq!(vek.unwrap(), b"vlek");
        assert!(chain.is_none());
        assert_eq!(certificates(&[]), (None, None));
    }

    #[test]
    #[ignore = "needs a real SEV-SNP guest (/dev/sev-guest); run with KILN_HW_TESTS=1"]
    fn a_real_guest_reports_binds_and_seals() {
        let tee = SnpTee::open().unwrap();
        let b = tee.evidence(&ReportData::new([0x42; 64])).unwrap();
        assert_eq!(parse_report(&b.evidence).unwrap().report_data, [0x42; 64]);
        assert_eq!(
            tee.sealing_key(b"x").unwrap(),
            tee.sealing_key(b"x").unwrap()
        );
    }
}
