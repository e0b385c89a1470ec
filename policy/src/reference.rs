//! Reference-value files in a policy: the measurements of a published guest image, so that a
//! policy names the file (`measurement_from = "image.json"`) instead of copying hex.
//!
//! The file is the image reference document (`kiln-image-reference/v1`) that `kiln image
//! measure --json` writes; its format and its one parser live in
//! [`kiln_provenance::reference`]. Here it becomes [`ReferenceValues`] for one policy section:
//! a document of another platform than the section's is refused (by the policy file loader),
//! and a `sim` document's `measurement` stands for the section's primary register (SEV-SNP
//! `measurement`, TDX `mrtd`, Nitro `pcr0`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::PolicyError;
use kiln_provenance::reference::{ReferenceDocument, ReferencePlatform};
use kiln_verifier::{Hex, Platform};

pub use kiln_provenance::reference::{MEASUREMENT_LEN, REFERENCE_KIND};

/// The measurements of one guest image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferenceValues {
    /// The platform they are for.
    pub platform: Platform,
    /// The image they describe, if the file says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Measurements by claim name.
    pub measurements: BTreeMap<String, Hex>,
}

impl ReferenceValues {
    /// Parses a reference file's JSON; `path` is only for messages. A `sim` reference is
    /// refused here: it needs the platform it stands for ([`Self::from_json_for`]).
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Self, PolicyError> {
        Self::from_json_for(bytes, path, None)
    }

    /// Parses a reference file's JSON (the one parser, [`ReferenceDocument::parse`]) for a
    /// policy section of `section`, which lets a `sim` reference stand for that platform's
    /// primary register.
    pub fn from_json_for(
        bytes: &[u8],
        path: &Path,
        section: Option<Platform>,
    ) -> Result<Self, PolicyError> {
        let bad = |message: String| PolicyError::Reference {
            path: path.to_path_buf(),
            message,
        };
        if kiln_verifier::image_reference::looks_signed(bytes) {
            return Err(bad(
                "a signed reference (`kiln image sign`): name the producer's public key with \
                 measurement_key"
                    .into(),
            ));
        }
        let doc = ReferenceDocument::parse(bytes).map_err(|e| bad(e.0))?;
        Self::from_document(doc, path, section)
    }

    /// The values of a parsed reference document for a policy section of `section`.
    fn from_document(
        doc: ReferenceDocument,
        path: &Path,
        section: Option<Platform>,
    ) -> Result<Self, PolicyError> {
        let bad = |message: String| PolicyError::Reference {
            path: path.to_path_buf(),
            message,
        };
        let platform = match (doc.platform, section) {
            (ReferencePlatform::Tee(p), _) => p,
            (ReferencePlatform::Sim, Some(p)) => p,
            (ReferencePlatform::Sim, None) => {
                return Err(bad("a sim reference stands for the primary register of a platform: use it as measurement_from of a platform section".into()))
            }
        };
        let measurements = doc
            .measurements_for(platform)
            .map_err(|e| bad(e.0))?
            .into_iter()
            .map(|(name, bytes)| (name, Hex(bytes)))
            .collect();
        Ok(Self {
            platform,
            image: doc.image,
            measurements,
        })
    }

    /// Reads and parses a reference file.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        Self::from_file_for(path, None)
    }

    /// Reads and parses a reference file for a policy section of `section`.
    pub fn from_file_for(path: &Path, section: Option<Platform>) -> Result<Self, PolicyError> {
        let bytes = std::fs::read(path).map_err(|e| PolicyError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_json_for(&bytes, path, section)
    }

    /// Reads a signed reference (`kiln image sign`), verifies it with the producer's public
    /// key (PEM file `key`), and takes its document for `section` (that platform's, else a
    /// `sim` one).
    pub fn from_signed_file_for(
        path: &Path,
        key: &Path,
        section: Platform,
    ) -> Result<Self, PolicyError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| PolicyError::Io {
                path: p.to_path_buf(),
                reason: e.to_string(),
            })
        };
        let bytes = read(path)?;
        let pem = String::from_utf8(read(key)?).map_err(|e| PolicyError::Reference {
            path: key.to_path_buf(),
            message: e.to_string(),
        })?;
        let bad = |message: String| PolicyError::Reference {
            path: path.to_path_buf(),
            message,
        };
        if !kiln_verifier::image_reference::looks_signed(&bytes) {
            return Err(bad(
                "measurement_key is set but this reference is not signed (`kiln image sign`)"
                    .into(),
            ));
        }
        let signed = kiln_verifier::image_reference::verify_signed(&bytes, &pem)
            .map_err(|e| bad(format!("{e} (key {})", key.display())))?;
        let doc = signed.document_for(section).cloned().ok_or_else(|| {
            bad(format!(
                "the signed reference has no {section} (or sim) document"
            ))
        })?;
        Self::from_document(doc, path, Some(section))
    }

    /// The JSON text of this file, as a guest-image build would publish it.
    pub fn to_json(&self) -> String {
        // Serialising a struct of strings and a string map cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Resolves `written` against `base` unless it is absolute.
pub(crate) fn resolve(base: &Path, written: &str) -> PathBuf {
    let p = Path::new(written);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let m = "ab".repeat(48);
        let ok = format!(r#"{{"platform":"tdx","measurements":{{"mrtd":"{m}","rtmr1":"{m}"}}}}"#);
        let r = ReferenceValues::from_json(ok.as_bytes(), Path::new("r.json")).unwrap();
        assert_eq!(r.platform, Platform::Tdx);
        assert_eq!(r.measurements.len(), 2);
        let again = ReferenceValues::from_json(r.to_json().as_bytes(), Path::new("r")).unwrap();
        assert_eq!(again, r);
        for bad in [
            format!(r#"{{"platform":"tdx","measurements":{{"pcr0":"{m}"}}}}"#),
            format!(r#"{{"platform":"sgx","measurements":{{"mrtd":"{m}"}}}}"#),
            r#"{"platform":"tdx","measurements":{"mrtd":"abcd"}}"#.to_owned(),
            r#"{"platform":"tdx","measurements":{}}"#.to_owned(),
            format!(r#"{{"platform":"tdx","measurements":{{"mrtd":"{m}"}},"x":1}}"#),
        ] {
            assert!(
                ReferenceValues::from_json(bad.as_bytes(), Path::new("r")).is_err(),
                "{bad}"
            );
        }
        assert!(Platform::Nitro.is_measurement_name("pcr31"));
        assert!(!Platform::Nitro.is_measurement_name("pcr32"));
        assert!(!Platform::Nitro.is_measurement_name("pcr01"));
    }
}

#[cfg(test)]
mod image_reference_tests {
    use super::*;

    #[test]
    fn the_image_measure_document_is_a_reference() {
        let m = "cd".repeat(48);
        let doc = format!(
            r#"{{"kind":"kiln-image-reference/v1","platform":"sim","measurements":{{"measurement":"{m}"}},"launch":{{"vcpus":2,"memoryMiB":1024}},"image":{{"dir":"/img","cmdline":"console=ttyS0","files":{{}}}}}}"#
        );
        let path = Path::new("image.json");
        // A sim reference stands for the primary register of the section's platform.
        let snp =
            ReferenceValues::from_json_for(doc.as_bytes(), path, Some(Platform::SevSnp)).unwrap();
        assert_eq!(snp.platform, Platform::SevSnp);
        assert!(snp.measurements.contains_key("measurement"));
        assert_eq!(snp.image.as_deref(), Some("/img"));
        let tdx =
            ReferenceValues::from_json_for(doc.as_bytes(), path, Some(Platform::Tdx)).unwrap();
        assert!(tdx.measurements.contains_key("mrtd"));
        let nitro =
            ReferenceValues::from_json_for(doc.as_bytes(), path, Some(Platform::Nitro)).unwrap();
        assert!(nitro.measurements.contains_key("pcr0"));
        // Outside a section it has no platform; another kind is refused.
        assert!(ReferenceValues::from_json(doc.as_bytes(), path).is_err());
        let other = doc.replace("kiln-image-reference/v1", "something-else");
        assert!(
            ReferenceValues::from_json_for(other.as_bytes(), path, Some(Platform::SevSnp)).is_err()
        );
    }
}
