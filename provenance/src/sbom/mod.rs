//! SBOMs of a build, derived from its provenance statement: SPDX 2.3 JSON ([`spdx`]) and
//! CycloneDX 1.6 JSON ([`cyclonedx`]), each the predicate of its own in-toto Statement whose
//! subjects are the build's artifacts ([`statement_payload`]).
//!
//! The guest makes and signs them with the provenance; the provenance names each plain
//! document as a byproduct with its SHA-256 ([`byproduct`]), so the evidence binding
//! (`kiln-binding/v1`) covers the SBOMs too. What they describe is exactly what the statement
//! records ([`Parts`]): the artifacts, the source archive (and the commit the guest proved),
//! the locked packages (`pkg:cargo`), the toolchain (the image's Debian packages, or the
//! host tools' binaries on the sim backend) and the builder (kiln-enclave, kernel, initrd,
//! toolchain disk, launch parameters).

pub mod cyclonedx;
pub mod spdx;

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::statement::{ResourceDescriptor, Statement, Subject, STATEMENT_TYPE_V1};

/// `predicateType` of an SPDX document.
pub const PREDICATE_TYPE_SPDX: &str = "https://spdx.dev/Document";
/// `predicateType` of a CycloneDX BOM.
pub const PREDICATE_TYPE_CYCLONEDX: &str = "https://cyclonedx.org/bom";
/// Media type of SPDX JSON.
pub const SPDX_MEDIA_TYPE: &str = "application/spdx+json";
/// Media type of CycloneDX JSON.
pub const CYCLONEDX_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

/// The two SBOM formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbomFormat {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.6 JSON.
    CycloneDx,
}

impl SbomFormat {
    /// Both, in the order the output lists them.
    pub const ALL: [Self; 2] = [Self::Spdx, Self::CycloneDx];

    /// `spdx` or `cyclonedx`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spdx => "spdx",
            Self::CycloneDx => "cyclonedx",
        }
    }

    /// Parses `spdx` or `cyclonedx`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The plain document's file name in the output folder (and its byproduct name).
    pub fn document_file(self) -> &'static str {
        match self {
            Self::Spdx => crate::layout::SBOM_SPDX_FILE,
            Self::CycloneDx => crate::layout::SBOM_CYCLONEDX_FILE,
        }
    }

    /// The signed statement's Sigstore bundle file name.
    pub fn bundle_file(self) -> &'static str {
        match self {
            Self::Spdx => crate::layout::SBOM_SPDX_BUNDLE_FILE,
            Self::CycloneDx => crate::layout::SBOM_CYCLONEDX_BUNDLE_FILE,
        }
    }

    /// The statement's `predicateType`.
    pub fn predicate_type(self) -> &'static str {
        match self {
            Self::Spdx => PREDICATE_TYPE_SPDX,
            Self::CycloneDx => PREDICATE_TYPE_CYCLONEDX,
        }
    }

    /// The document's media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Spdx => SPDX_MEDIA_TYPE,
            Self::CycloneDx => CYCLONEDX_MEDIA_TYPE,
        }
    }

    /// The document of `statement` in this format.
    pub fn document(self, statement: &Statement) -> Vec<u8> {
        match self {
            Self::Spdx => spdx::document(statement),
            Self::CycloneDx => cyclonedx::document(statement),
        }
    }
}

/// Why an SBOM statement payload cannot be made.
#[derive(Debug)]
pub struct SbomError(pub String);

impl std::fmt::Display for SbomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SbomError {}

#[derive(Serialize)]
struct SbomStatement<'a> {
    #[serde(rename = "_type")]
    type_: &'static str,
    subject: &'a [Subject],
    #[serde(rename = "predicateType")]
    predicate_type: &'static str,
    predicate: &'a serde_json::value::RawValue,
}

/// The in-toto Statement v1 (JSON bytes, the DSSE payload) whose predicate is `document`,
/// embedded byte for byte, and whose subjects are `subjects`.
pub fn statement_payload(
    format: SbomFormat,
    subjects: &[Subject],
    document: &[u8],
) -> Result<Vec<u8>, SbomError> {
    let text = std::str::from_utf8(document).map_err(|e| SbomError(e.to_string()))?;
    let raw: &serde_json::value::RawValue =
        serde_json::from_str(text).map_err(|e| SbomError(e.to_string()))?;
    serde_json::to_vec(&SbomStatement {
        type_: STATEMENT_TYPE_V1,
        subject: subjects,
        predicate_type: format.predicate_type(),
        predicate: raw,
    })
    .map_err(|e| SbomError(e.to_string()))
}

/// The provenance byproduct naming a plain SBOM document by its SHA-256.
pub fn byproduct(format: SbomFormat, document: &[u8]) -> ResourceDescriptor {
    ResourceDescriptor {
        name: Some(format.document_file().to_owned()),
        media_type: Some(format.media_type().to_owned()),
        digest: BTreeMap::from([("sha256".to_owned(), hex::encode(Sha256::digest(document)))]),
        ..ResourceDescriptor::default()
    }
}

/// What an SBOM says, sorted out of a provenance statement.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// The artifacts (the subjects).
    pub artifacts: Vec<Subject>,
    /// The source archive (`kiln:source`).
    pub source: Option<Source>,
    /// Locked packages the build depends on (`pkg:cargo/...`).
    pub libraries: Vec<Component>,
    /// The toolchain: Debian packages of the image, or the host's tool binaries.
    pub toolchain: Vec<Component>,
    /// What makes up the builder (enclave binary, kernel, initrd, toolchain disk, launch
    /// parameters).
    pub builder: Vec<Component>,
    /// The builder id.
    pub builder_id: String,
    /// kiln-enclave's version.
    pub enclave_version: String,
    /// The invocation id.
    pub invocation_id: String,
    /// When the build finished (RFC 3339).
    pub finished_on: String,
}

/// The source.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// SHA-256 of the archive.
    pub sha256: String,
    /// The git commit the guest proved.
    pub commit: Option<String>,
    /// The repository the request names (the host's word).
    pub repository: Option<String>,
}

/// A package or file the build used.
#[derive(Debug, Clone, Default)]
pub struct Component {
    /// Its name.
    pub name: String,
    /// Its version, when known.
    pub version: Option<String>,
    /// Its package URL, when it has one.
    pub purl: Option<String>,
    /// Digests by in-toto algorithm name (`sha256`, `sha384`, ...).
    pub digest: BTreeMap<String, String>,
    /// Where it can be downloaded.
    pub download: Option<String>,
    /// A note (annotations that are not a version).
    pub note: Option<String>,
}

/// `NAME@VERSION` of a package URL (`pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`), the
/// version percent-decoded.
fn purl_name_version(purl: &str) -> Option<(String, String)> {
    let body = purl.split(['?', '#']).next()?;
    let (path, version) = body.rsplit_once('@')?;
    let name = path.rsplit('/').next()?;
    Some((name.to_owned(), percent_decode(version)))
}

/// Decodes `%XX` escapes (a malformed escape is kept as it is).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn component(d: &ResourceDescriptor) -> Component {
    let purl = d.uri.clone().filter(|u| u.starts_with("pkg:"));
    let (purl_name, purl_version) = match purl.as_deref().and_then(purl_name_version) {
        Some((n, v)) => (Some(n), Some(v)),
        None => (None, None),
    };
    let annotation_version = d
        .annotations
        .as_ref()
        .and_then(|a| a.get("version"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let name = d
        .name
        .clone()
        .or(purl_name)
        .or_else(|| d.uri.clone())
        .unwrap_or_else(|| "unnamed".to_owned());
    let note = d.annotations.as_ref().and_then(|a| {
        let mut a = a.clone();
        if let Some(map) = a.as_object_mut() {
            map.remove("version");
            if map.is_empty() {
                return None;
            }
        }
        Some(a.to_string())
    });
    let note = match (&d.uri, note) {
        (Some(uri), Some(n)) if !uri.starts_with("pkg:") => Some(format!("{uri} {n}")),
        (Some(uri), None) if !uri.starts_with("pkg:") => Some(uri.clone()),
        (_, n) => n,
    };
    Component {
        name,
        version: purl_version.or(annotation_version),
        purl,
        digest: d.digest.clone(),
        download: d.download_location.clone(),
        note,
    }
}

impl Parts {
    /// Sorts the statement's subjects, dependencies and builder dependencies.
    pub fn of(statement: &Statement) -> Self {
        let p = &statement.predicate;
        let mut parts = Self {
            artifacts: statement.subject.clone(),
            builder_id: p.run_details.builder.id.clone(),
            enclave_version: p
                .run_details
                .builder
                .version
                .get("kiln-enclave")
                .cloned()
                .unwrap_or_else(|| "unknown".to_owned()),
            invocation_id: p.run_details.metadata.invocation_id.clone(),
            finished_on: p.run_details.metadata.finished_on.clone(),
            ..Self::default()
        };
        let external = &p.build_definition.external_parameters;
        for d in &p.build_definition.resolved_dependencies {
            match d.uri.as_deref() {
                Some("kiln:source") => {
                    parts.source = Some(Source {
                        sha256: d.digest.get("sha256").cloned().unwrap_or_default(),
                        commit: d.digest.get("gitCommit").cloned(),
                        repository: external
                            .pointer("/source/repository")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned),
                    });
                }
                Some(u) if u.starts_with("pkg:cargo/") => parts.libraries.push(component(d)),
                _ => parts.toolchain.push(component(d)),
            }
        }
        parts.builder = p
            .run_details
            .builder
            .builder_dependencies
            .iter()
            .map(component)
            .collect();
        parts
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn purls_give_name_and_decoded_version() {
        assert_eq!(
            purl_name_version("pkg:deb/debian/rustc-web@1.96.0%2Bdfsg1-1~deb12u2?arch=amd64"),
            Some(("rustc-web".into(), "1.96.0+dfsg1-1~deb12u2".into()))
        );
        assert_eq!(
            purl_name_version("pkg:cargo/regex@1.13.2"),
            Some(("regex".into(), "1.13.2".into()))
        );
        assert_eq!(purl_name_version("pkg:cargo/regex"), None);
    }

    #[test]
    fn the_payload_embeds_the_document_byte_for_byte() {
        let doc = b"{\n  \"b\": 1,\n  \"a\": [ 2 ]\n}";
        let subjects = vec![Subject {
            name: "x".into(),
            digest: [("sha256".to_owned(), "00".repeat(32))].into(),
        }];
        let payload = statement_payload(SbomFormat::Spdx, &subjects, doc).unwrap();
        let text = String::from_utf8(payload).unwrap();
        assert!(text.contains(std::str::from_utf8(doc).unwrap()), "{text}");
        assert!(text.starts_with("{\"_type\":\"https://in-toto.io/Statement/v1\""));
        assert!(statement_payload(SbomFormat::Spdx, &subjects, b"{not json").is_err());
    }
}
