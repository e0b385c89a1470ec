//! Sigstore bundle v0.3 carrying a DSSE envelope, verified by a public key (no Fulcio
//! certificate, no transparency-log entries): the form `@sigstore/verify`, cosign and
//! sigstore-python accept for key-based offline verification.

use serde::{Deserialize, Serialize};

use crate::dsse::Envelope;

/// The bundle media type kiln writes.
pub const MEDIA_TYPE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A Sigstore bundle (the subset kiln writes and reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigstoreBundle {
    /// `application/vnd.dev.sigstore.bundle.v0.3+json`.
    pub media_type: String,
    /// The key hint and (empty) log entries.
    pub verification_material: VerificationMaterial,
    /// The signed statement.
    pub dsse_envelope: Envelope,
}

/// Verification material: a public-key hint only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// The key identifier.
    pub public_key: PublicKeyIdentifier,
    /// Transparency-log entries: none (the evidence, not a log, vouches for the key).
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
    /// Timestamps: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<serde_json::Value>,
}

/// `publicKey.hint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyIdentifier {
    /// The key id (hex SHA-256 of the SPKI DER).
    pub hint: String,
}

impl SigstoreBundle {
    /// A v0.3 bundle around `envelope`, with `key_id` as the hint.
    pub fn new(envelope: Envelope, key_id: &str) -> Self {
        Self {
            media_type: MEDIA_TYPE_V03.to_owned(),
            verification_material: VerificationMaterial {
                public_key: PublicKeyIdentifier {
                    hint: key_id.to_owned(),
                },
                tlog_entries: Vec::new(),
                timestamp_verification_data: None,
            },
            dsse_envelope: envelope,
        }
    }
}
