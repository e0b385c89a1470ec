//! AWS Nitro Enclaves through `/dev/nsm`, with `aws-nitro-enclaves-nsm-api` (its ioctl is
//! the crate's; nothing here is unsafe).
//!
//! - Evidence: `Attestation { user_data: REPORT_DATA, nonce, public_key: SPKI DER }`.
//! - Measurement: PCR0, PCR1, PCR2 (`DescribePCR`).
//! - No measurement-bound sealing key: the signing key lives for one launch.

use aws_nitro_enclaves_nsm_api::api::{Request, Response};
use aws_nitro_enclaves_nsm_api::driver::{nsm_exit, nsm_init, nsm_process_request};
use kiln_tee::{Measurement, Platform, ReportData, Tee, TeeError, TeeEvidence};
use serde_bytes::ByteBuf;

/// The device.
pub const DEVICE: &str = "/dev/nsm";

/// The attestation request for `rd`.
pub fn attestation_request(rd: &ReportData) -> Request {
    Request::Attestation {
        user_data: Some(ByteBuf::from(rd.bytes.to_vec())),
        nonce: rd.nonce.clone().map(ByteBuf::from),
        public_key: rd.nitro_public_key.clone().map(ByteBuf::from),
    }
}

/// The document of an attestation response.
pub fn attestation_document(resp: Response) -> Result<Vec<u8>, String> {
    match resp {
        Response::Attestation { document } if !document.is_empty() => Ok(document),
        Response::Attestation { .. } => Err("the NSM returned an empty document".into()),
        Response::Error(code) => Err(format!("the NSM refused the attestation: {code:?}")),
        other => Err(format!("unexpected NSM response {other:?}")),
    }
}

/// The 48-byte value of a `DescribePCR` response.
pub fn pcr_value(index: u16, resp: Response) -> Result<[u8; 48], String> {
    match resp {
        Response::DescribePCR { data, .. } => <[u8; 48]>::try_from(data.as_slice())
            .map_err(|_| format!("PCR{index} is {} bytes, not 48 (SHA-384)", data.len())),
        Response::Error(code) => Err(format!("the NSM refused to describe PCR{index}: {code:?}")),
        other => Err(format!("unexpected NSM response {other:?}")),
    }
}

fn nsm_error(op: &'static str, reason: String) -> TeeError {
    TeeError::Io {
        path: DEVICE.into(),
        op,
        source: std::io::Error::other(reason),
    }
}

/// A Nitro enclave.
#[derive(Debug)]
pub struct NitroTee {
    fd: i32,
    pcr: [[u8; 48]; 3],
}

impl NitroTee {
    /// Opens the NSM and reads PCR0..2.
    pub fn open() -> Result<Self, TeeError> {
        let fd = nsm_init();
        if fd < 0 {
            return Err(nsm_error("open", "nsm_init failed".into()));
        }
        let mut tee = Self {
            fd,
            pcr: [[0; 48]; 3],
        };
        for (index, slot) in (0u16..).zip(tee.pcr.iter_mut()) {
            *slot = pcr_value(
                index,
                nsm_process_request(fd, Request::DescribePCR { index }),
            )
            .map_err(|e| nsm_error("describe a PCR with", e))?;
        }
        Ok(tee)
    }
}

impl Drop for NitroTee {
    fn drop(&mut self) {
        nsm_exit(self.fd);
    }
}

impl Tee for NitroTee {
    fn platform(&self) -> Platform {
        Platform::Nitro
    }

    fn evidence(&self, report_data: &ReportData) -> Result<TeeEvidence, TeeError> {
        let doc = attestation_document(nsm_process_request(
            self.fd,
            attestation_request(report_data),
        ))
        .map_err(|e| nsm_error("request an attestation from", e))?;
        Ok(TeeEvidence {
            platform: Platform::Nitro,
            evidence: doc,
            vek_der: None,
            chain_pem: None,
            collateral_json: None,
            simulated_root_der: None,
        })
    }

    fn measurement(&self) -> Measurement {
        Measurement::Nitro { pcr: self.pcr }
    }

    fn sealing_key(&self, _context: &[u8]) -> Result<[u8; 32], TeeError> {
        Err(TeeError::InvalidRequest {
            field: "sealing key",
            reason: "Nitro Enclaves have no measurement-bound sealing key: the signing key \
                     lives for one launch"
                .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use ciborium::Value;

    fn cbor<T: serde::Serialize>(v: &T) -> Value {
        let mut out = Vec::new();
        ciborium::ser::into_writer(v, &mut out).unwrap();
        ciborium::de::from_reader(out.as_slice()).unwrap()
    }

    fn field<'a>(map: &'a Value, key: &str) -> &'a Value {
        map.as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key}"))
    }

    #[test]
    fn the_attestation_request_has_the_nsm_shape() {
        let rd = ReportData::new([7; 64])
            .with_nitro_public_key(vec![1; 91])
            .with_nonce(vec![2; 16]);
        // {"Attestation": {"user_data": bytes, "nonce": bytes, "public_key": bytes}}
        let v = cbor(&attestation_request(&rd));
        let inner = field(&v, "Attestation");
        assert_eq!(field(inner, "user_data").as_bytes().unwrap(), &vec![7; 64]);
        assert_eq!(field(inner, "nonce").as_bytes().unwrap(), &vec![2; 16]);
        assert_eq!(field(inner, "public_key").as_bytes().unwrap(), &vec![1; 91]);
        let bare = cbor(&attestation_request(&ReportData::new([0; 64])));
        assert!(field(field(&bare, "Attestation"), "nonce").is_null());
        // DescribePCR: {"DescribePCR": {"index": 2}}
        let v = cbor(&Request::DescribePCR { index: 2 });
        assert_eq!(
            field(&v, "DescribePCR"),
            &Value::Map(vec![(
                Value::Text("index".into()),
                Value::Integer(2.into())
            )])
        );
    }

    fn response(v: Value) -> Response {
        let mut out = Vec::new();
        ciborium::ser::into_writer(&v, &mut out).unwrap();
        ciborium::de::from_reader(out.as_slice()).unwrap()
    }

    #[test]
    fn nsm_responses_parse_and_errors_are_reported() {
        let doc = response(Value::Map(vec![(
            Value::Text("Attestation".into()),
            Value::Map(vec![(
                Value::Text("document".into()),
                Value::Bytes(vec![0x84, 1, 2]),
            )]),
        )]));
        assert_eq!(attestation_document(doc).unwrap(), [0x84, 1, 2]);
        let err = response(Value::Map(vec![(
            Value::Text("Error".into()),
            Value::Text("InvalidArgument".into()),
        )]));
        assert!(attestation_document(err)
            .unwrap_err()
            .contains("InvalidArgument"));
        let pcr = |len: usize| {
            response(Value::Map(vec![(
                Value::Text("DescribePCR".into()),
                Value::Map(vec![
                    (Value::Text("lock".into()), Value::Bool(true)),
                    (Value::Text("data".into()), Value::Bytes(vec![9; len])),
                ]),
            )]))
        };
        assert_eq!(pcr_value(0, pcr(48)).unwrap(), [9; 48]);
        assert!(pcr_value(1, pcr(32)).unwrap_err().contains("not 48"));
    }

    #[test]
    #[ignore = "needs a real Nitro enclave (/dev/nsm); run with KILN_HW_TESTS=1"]
    fn a_real_enclave_attests() {
        let tee = NitroTee::open().unwrap();
        let doc = tee
            .evidence(&ReportData::new([0x42; 64]).with_nitro_public_key(vec![1; 91]))
            .unwrap();
        assert_eq!(doc.evidence.first(), Some(&0x84));
    }
}
