//! AWS Nitro Enclaves attestation document encoder: an untagged COSE_Sign1 (RFC 9052) with
//! ES384, as the Nitro Secure Module emits it (aws-nitro-enclaves-nsm-api, "Attestation
//! document specification").
//!
//! ```text
//! COSE_Sign1 = [
//!   protected:   bstr .cbor { 1: -35 },          ; alg: ES384
//!   unprotected: {},
//!   payload:     bstr .cbor AttestationDocument,
//!   signature:   bstr (96 bytes: r || s, big-endian)
//! ]
//! AttestationDocument = {                         ; definite-length map, in this order
//!   "module_id":   tstr,
//!   "digest":      "SHA384",
//!   "timestamp":   uint,                         ; milliseconds since the epoch
//!   "pcrs":        { 0..15 => bstr(48) },
//!   "certificate": bstr,                         ; the enclave's leaf, DER
//!   "cabundle":    [ bstr ],                     ; root first
//!   "public_key":  bstr / null,
//!   "user_data":   bstr / null,
//!   "nonce":       bstr / null,
//! }
//! ```
//!
//! The signature is over `Sig_structure = ["Signature1", protected, h'', payload]`.

use ciborium::value::Value;
use p384::ecdsa::signature::Signer as _;
use p384::ecdsa::Signature;

use crate::error::TeeError;
use crate::pki::nitro::NitroChain;

/// The protected header: `{ 1: -35 }` (alg ES384).
pub const PROTECTED_ES384: [u8; 4] = [0xa1, 0x01, 0x38, 0x22];
/// Number of PCRs a document carries.
pub const PCR_COUNT: usize = 16;
/// NSM's limit on `user_data` and `nonce`.
pub const MAX_USER_DATA: usize = 512;
/// NSM's limit on `public_key`.
pub const MAX_PUBLIC_KEY: usize = 1024;

/// What a document says.
#[derive(Debug, Clone)]
pub struct NitroDocFields<'a> {
    /// The enclave's module id (`i-…-enc…`).
    pub module_id: &'a str,
    /// Milliseconds since the epoch.
    pub timestamp_ms: u64,
    /// PCR0..PCR15.
    pub pcrs: [[u8; 48]; PCR_COUNT],
    /// `public_key`.
    pub public_key: Option<&'a [u8]>,
    /// `user_data`.
    pub user_data: Option<&'a [u8]>,
    /// `nonce`.
    pub nonce: Option<&'a [u8]>,
}

fn cbor(value: &Value, what: &'static str) -> Result<Vec<u8>, TeeError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).map_err(|e| TeeError::encoding(what, e))?;
    Ok(out)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn optional(bytes: Option<&[u8]>) -> Value {
    bytes.map_or(Value::Null, |b| Value::Bytes(b.to_vec()))
}

/// Encodes the document and signs it with the chain's leaf key.
pub fn encode(fields: &NitroDocFields<'_>, chain: &NitroChain) -> Result<Vec<u8>, TeeError> {
    let pcrs = fields
        .pcrs
        .iter()
        .enumerate()
        .map(|(i, pcr)| (Value::Integer(i.into()), Value::Bytes(pcr.to_vec())))
        .collect();
    let doc = Value::Map(vec![
        (text("module_id"), text(fields.module_id)),
        (text("digest"), text("SHA384")),
        (
            text("timestamp"),
            Value::Integer(fields.timestamp_ms.into()),
        ),
        (text("pcrs"), Value::Map(pcrs)),
        (text("certificate"), Value::Bytes(chain.leaf_der.clone())),
        (
            text("cabundle"),
            Value::Array(chain.cabundle.iter().cloned().map(Value::Bytes).collect()),
        ),
        (text("public_key"), optional(fields.public_key)),
        (text("user_data"), optional(fields.user_data)),
        (text("nonce"), optional(fields.nonce)),
    ]);
    let payload = cbor(&doc, "Nitro attestation document")?;
    let to_sign = cbor(
        &Value::Array(vec![
            text("Signature1"),
            Value::Bytes(PROTECTED_ES384.to_vec()),
            Value::Bytes(Vec::new()),
            Value::Bytes(payload.clone()),
        ]),
        "COSE Sig_structure",
    )?;
    let sig: Signature = chain
        .leaf_key
        .try_sign(&to_sign)
        .map_err(|e| TeeError::crypto("Nitro document signature", e))?;
    cbor(
        &Value::Array(vec![
            Value::Bytes(PROTECTED_ES384.to_vec()),
            Value::Map(Vec::new()),
            Value::Bytes(payload),
            Value::Bytes(sig.to_bytes().to_vec()),
        ]),
        "COSE_Sign1",
    )
}
