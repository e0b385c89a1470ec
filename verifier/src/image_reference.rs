//! Signed image reference values: the reference documents of a guest image
//! ([`kiln_provenance::reference`], one per platform, as `kiln image measure --json` writes
//! them) as the predicate of an in-toto Statement v1 signed by the image producer's key
//! (ECDSA P-256) in a Sigstore bundle v0.3 — what `kiln image sign` writes.
//!
//! ```json
//! { "_type": "https://in-toto.io/Statement/v1",
//!   "subject": [ {"name": "vmlinuz", "digest": {"sha256": "…"}}, {"name": "initrd.cpio", …}, … ],
//!   "predicateType": "https://kiln.dev/image-reference/v1",
//!   "predicate": { "references": [ {reference document}, … ] } }
//! ```
//!
//! [`verify_signed`] takes the bundle and the producer's public key (the caller's trust, as an
//! argument) and does no I/O:
//!
//! 1. the bundle is a Sigstore bundle v0.3 with one DSSE signature;
//! 2. its key hint and signature key id are the given key's id (SHA-256 of its SPKI);
//! 3. the signature verifies over PAE(payloadType, payload) with that key;
//! 4. the payload is an in-toto Statement v1 of [`PREDICATE_TYPE`] with at least one subject;
//! 5. each reference document parses, at most one per platform;
//! 6. every image file a document names (`image.files`) is a subject with the same SHA-256, so
//!    the signed measurements and the signed file digests describe one image.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::build_output::envelope::{self, OpenError};
use crate::build_output::key_id;
use crate::build_output::statement::{Subject, STATEMENT_TYPE_V1};
use crate::Platform;
use kiln_provenance::reference::{ReferenceDocument, ReferenceError, ReferencePlatform};

/// The `predicateType` of signed image reference values.
pub const PREDICATE_TYPE: &str = "https://kiln.dev/image-reference/v1";

/// Reference values whose producer's signature verified. Only [`verify_signed`] makes one.
#[derive(Debug, Clone)]
pub struct SignedReference {
    documents: Vec<ReferenceDocument>,
    subjects: Vec<Subject>,
    key_id: String,
}

impl SignedReference {
    /// The reference documents, one per platform.
    pub fn documents(&self) -> &[ReferenceDocument] {
        &self.documents
    }

    /// The signed image files.
    pub fn subjects(&self) -> &[Subject] {
        &self.subjects
    }

    /// The producer key's id (SHA-256 of its SPKI, hex).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The document for evidence of `platform`: that platform's, else a `sim` one.
    pub fn document_for(&self, platform: Platform) -> Option<&ReferenceDocument> {
        self.documents
            .iter()
            .find(|d| d.platform == ReferencePlatform::Tee(platform))
            .or_else(|| {
                self.documents
                    .iter()
                    .find(|d| d.platform == ReferencePlatform::Sim)
            })
    }
}

/// Whether `bytes` look like a Sigstore bundle (rather than a plain reference document).
pub fn looks_signed(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .is_ok_and(|v| v.get("dsseEnvelope").is_some() && v.get("mediaType").is_some())
}

#[derive(Deserialize)]
struct RawStatement {
    #[serde(rename = "_type")]
    type_: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    predicate: RawPredicate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPredicate {
    references: Vec<serde_json::Value>,
}

fn bad(message: impl Into<String>) -> ReferenceError {
    ReferenceError(message.into())
}

/// Verifies a signed reference (see the module documentation) with the producer's public key
/// (`public_key_pem`, an ECDSA P-256 SubjectPublicKeyInfo).
pub fn verify_signed(
    bundle_json: &[u8],
    public_key_pem: &str,
) -> Result<SignedReference, ReferenceError> {
    // 1.-3.
    let (spki, point) = crate::build_output::verify::parse_public_key(public_key_pem)
        .map_err(|e| bad(format!("the producer key: {e}")))?;
    let id = key_id(&spki);
    let payload = envelope::open(bundle_json, &id, &point).map_err(|e| match e {
        OpenError::OtherKey { found, .. } => bad(format!(
            "signed by another key ({found}), not the producer key given ({id})"
        )),
        OpenError::Signature => bad("the signature does not verify with the producer key"),
        OpenError::Bundle(why) => bad(why),
    })?;
    // 4.
    let st: RawStatement = serde_json::from_slice(&payload)
        .map_err(|e| bad(format!("not a reference statement: {e}")))?;
    if st.type_ != STATEMENT_TYPE_V1 || st.predicate_type != PREDICATE_TYPE {
        return Err(bad(format!(
            "the statement is {:?} / {:?}, not {STATEMENT_TYPE_V1} / {PREDICATE_TYPE}",
            st.type_, st.predicate_type
        )));
    }
    if st.subject.is_empty() {
        return Err(bad("the statement names no image file"));
    }
    let signed_files: BTreeMap<&str, Option<&String>> = st
        .subject
        .iter()
        .map(|s| (s.name.as_str(), s.digest.get("sha256")))
        .collect();
    // 5.
    if st.predicate.references.is_empty() {
        return Err(bad("the predicate holds no reference document"));
    }
    let mut documents: Vec<ReferenceDocument> = Vec::new();
    for raw in &st.predicate.references {
        let bytes = serde_json::to_vec(raw).map_err(|e| bad(e.to_string()))?;
        let doc = ReferenceDocument::parse(&bytes)?;
        if documents.iter().any(|d| d.platform == doc.platform) {
            return Err(bad(format!(
                "two reference documents for {}",
                doc.platform.as_str()
            )));
        }
        // 6.
        if let Some(files) = raw.pointer("/image/files").and_then(|f| f.as_object()) {
            for (name, digest) in files {
                let digest = digest.as_str().unwrap_or_default();
                if signed_files
                    .get(name.as_str())
                    .copied()
                    .flatten()
                    .map(String::as_str)
                    != Some(digest)
                {
                    return Err(bad(format!(
                        "the {} document's image file {name} ({digest}) is not a subject with \
                         that digest",
                        doc.platform.as_str()
                    )));
                }
            }
        }
        documents.push(doc);
    }
    Ok(SignedReference {
        documents,
        subjects: st.subject,
        key_id: id,
    })
}
