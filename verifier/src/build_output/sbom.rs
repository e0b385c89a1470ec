//! Step 12 of [`super::verify`](fn@super::verify): the SBOMs beside the provenance.
//!
//! For each SBOM the signed provenance names as a byproduct (`sbom.spdx.json`,
//! `sbom.cyclonedx.json`, with the SHA-256 of the plain document; the byproduct is inside the
//! evidence binding):
//!
//! 1. the plain document is in the output and has that SHA-256;
//! 2. its bundle (`sbom.*.sigstore.json`) is a Sigstore bundle v0.3 whose one DSSE signature
//!    verifies with the output's key (the same key as the provenance's);
//! 3. the payload is an in-toto Statement v1 with the format's `predicateType` and exactly the
//!    provenance's subjects;
//! 4. its predicate is the plain document, byte for byte;
//! 5. the document is the format's (`SPDX-2.3`, or `CycloneDX` `1.6`) and names every subject's
//!    SHA-256.
//!
//! An SBOM file the provenance does not name is refused, as is a byproduct without its files.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::envelope::OpenError;
use crate::build_output::error::BuildError;
use crate::build_output::statement::{Statement, Subject, STATEMENT_TYPE_V1};
use crate::build_output::BuildOutput;
use kiln_provenance::sbom::SbomFormat;

/// An SBOM that passed step 12.
#[derive(Debug, Clone)]
pub struct VerifiedSbom {
    /// Its format.
    pub format: SbomFormat,
    /// The document, as signed.
    pub document: Vec<u8>,
}

fn fault(file: &str, reason: impl Into<String>) -> BuildError {
    BuildError::Sbom {
        file: file.to_owned(),
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
struct SbomStatement<'a> {
    #[serde(rename = "_type")]
    type_: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    #[serde(borrow)]
    predicate: &'a serde_json::value::RawValue,
}

/// Checks the DSSE bundle `json` against the output's key and returns its payload.
fn open_bundle(file: &str, json: &[u8], id: &str, point: &[u8]) -> Result<Vec<u8>, BuildError> {
    super::envelope::open(json, id, point).map_err(|e| match e {
        OpenError::OtherKey { .. } => fault(
            file,
            format!("signed by another key than the output's ({id})"),
        ),
        OpenError::Signature => fault(
            file,
            "the DSSE signature does not verify with the output's key",
        ),
        OpenError::Bundle(why) => fault(file, why),
    })
}

/// Step 5: the document's format marker, and every subject's digest in it.
fn check_document(
    format: SbomFormat,
    file: &str,
    doc: &serde_json::Value,
    subjects: &[Subject],
) -> Result<(), BuildError> {
    let (field, want, found) = match format {
        SbomFormat::Spdx => ("spdxVersion", "SPDX-2.3", doc.get("spdxVersion")),
        SbomFormat::CycloneDx => ("specVersion", "1.6", doc.get("specVersion")),
    };
    if found.and_then(serde_json::Value::as_str) != Some(want) {
        return Err(fault(file, format!("{field} is not {want:?}")));
    }
    if format == SbomFormat::CycloneDx
        && doc.get("bomFormat").and_then(serde_json::Value::as_str) != Some("CycloneDX")
    {
        return Err(fault(file, "bomFormat is not \"CycloneDX\""));
    }
    let text = doc.to_string();
    for s in subjects {
        let digest = s
            .digest
            .get("sha256")
            .map(String::as_str)
            .unwrap_or_default();
        if digest.is_empty() || !text.contains(digest) {
            return Err(fault(
                file,
                format!("does not name the artifact {} ({digest})", s.name),
            ));
        }
    }
    Ok(())
}

/// Step 12 (see the module documentation).
pub(crate) fn check(
    output: &BuildOutput,
    provenance: &Statement,
    id: &str,
    point: &[u8],
) -> Result<Vec<VerifiedSbom>, BuildError> {
    let mut verified = Vec::new();
    let byproducts = &provenance.predicate.run_details.byproducts;
    for format in SbomFormat::ALL {
        let (doc_file, bundle_file) = (format.document_file(), format.bundle_file());
        let named = byproducts
            .iter()
            .find(|b| b.name.as_deref() == Some(doc_file));
        let doc = output.attestation_files.get(doc_file);
        let bundle = output.attestation_files.get(bundle_file);
        let Some(named) = named else {
            if doc.is_some() || bundle.is_some() {
                return Err(fault(
                    if doc.is_some() { doc_file } else { bundle_file },
                    "the signed provenance names no such SBOM",
                ));
            }
            continue;
        };
        // 1.
        let doc = doc.ok_or_else(|| fault(doc_file, "named by the provenance but missing"))?;
        let digest = hex::encode(Sha256::digest(doc));
        let signed = named
            .digest
            .get("sha256")
            .map(String::as_str)
            .unwrap_or_default();
        if digest != signed {
            return Err(fault(
                doc_file,
                format!("its SHA-256 {digest} is not the {signed} the provenance signs"),
            ));
        }
        // 2.
        let bundle =
            bundle.ok_or_else(|| fault(bundle_file, "named by the provenance but missing"))?;
        let payload = open_bundle(bundle_file, bundle, id, point)?;
        // 3.
        let st: SbomStatement<'_> = serde_json::from_slice(&payload)
            .map_err(|e| fault(bundle_file, format!("not an in-toto Statement: {e}")))?;
        if st.type_ != STATEMENT_TYPE_V1 || st.predicate_type != format.predicate_type() {
            return Err(fault(
                bundle_file,
                format!(
                    "the statement is {:?} / {:?}, not {STATEMENT_TYPE_V1} / {}",
                    st.type_,
                    st.predicate_type,
                    format.predicate_type()
                ),
            ));
        }
        if st.subject != provenance.subject {
            return Err(fault(
                bundle_file,
                "its subjects are not the provenance's (another build's artifacts)",
            ));
        }
        // 4.
        if st.predicate.get().as_bytes() != doc.as_slice() {
            return Err(fault(
                doc_file,
                format!("differs from the predicate signed in {bundle_file}"),
            ));
        }
        // 5.
        let value: serde_json::Value =
            serde_json::from_slice(doc).map_err(|e| fault(doc_file, format!("not JSON: {e}")))?;
        check_document(format, doc_file, &value, &provenance.subject)?;
        verified.push(VerifiedSbom {
            format,
            document: doc.clone(),
        });
    }
    Ok(verified)
}
