//! Opening a signed attestation: a Sigstore bundle v0.3 carrying one DSSE envelope of an
//! in-toto statement, signed by an expected ECDSA P-256 key. The one place the SBOMs, signed
//! image references and VSAs check their signatures (the provenance's own steps 1–3 name their
//! links separately in [`super::verify`](fn@super::verify)).

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};

use crate::build_output::bundle;
use crate::build_output::dsse::{decode_base64, pae, PAYLOAD_TYPE_IN_TOTO};

/// Why a bundle did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// Not a Sigstore bundle v0.3 with one DSSE signature and an in-toto payload type.
    Bundle(String),
    /// The bundle names another key than the expected one.
    OtherKey {
        /// The key id the bundle names.
        found: String,
        /// The expected key's id.
        expected: String,
    },
    /// The signature does not verify with the expected key.
    Signature,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bundle(why) => f.write_str(why),
            Self::OtherKey { found, expected } => {
                write!(
                    f,
                    "signed by another key ({found}), not the key given ({expected})"
                )
            }
            Self::Signature => f.write_str("the DSSE signature does not verify with the key given"),
        }
    }
}

/// Checks the bundle `json` — media type v0.3, exactly one signature, the key hint and the
/// signature's key id equal to `id`, an in-toto payload type, and the ECDSA P-256 / SHA-256
/// signature over PAE(payloadType, payload) with the uncompressed `point` — and returns the
/// payload bytes as signed.
pub fn open(json: &[u8], id: &str, point: &[u8]) -> Result<Vec<u8>, OpenError> {
    let b: bundle::SigstoreBundle = serde_json::from_slice(json)
        .map_err(|e| OpenError::Bundle(format!("not a Sigstore bundle: {e}")))?;
    if b.media_type != bundle::MEDIA_TYPE_V03 {
        return Err(OpenError::Bundle(format!(
            "media type {:?} is not {}",
            b.media_type,
            bundle::MEDIA_TYPE_V03
        )));
    }
    let envelope = &b.dsse_envelope;
    let [signature] = envelope.signatures.as_slice() else {
        return Err(OpenError::Bundle(
            "the envelope must carry exactly one signature".into(),
        ));
    };
    if signature.keyid != id || b.verification_material.public_key.hint != id {
        return Err(OpenError::OtherKey {
            found: signature.keyid.clone(),
            expected: id.to_owned(),
        });
    }
    if envelope.payload_type != PAYLOAD_TYPE_IN_TOTO {
        return Err(OpenError::Bundle(format!(
            "payload type {:?} is not {PAYLOAD_TYPE_IN_TOTO}",
            envelope.payload_type
        )));
    }
    let payload = decode_base64(&envelope.payload)
        .ok_or_else(|| OpenError::Bundle("the DSSE payload is not base64".into()))?;
    let sig = decode_base64(&signature.sig)
        .ok_or_else(|| OpenError::Bundle("the DSSE signature is not base64".into()))?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(&pae(&envelope.payload_type, &payload), &sig)
        .map_err(|_| OpenError::Signature)?;
    Ok(payload)
}
