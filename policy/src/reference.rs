//! Reference-value files: the measurements of a published guest image, as its build
//! publishes them, so that a policy names the file (`measurement_from = "image.json"`)
//! instead of copying hex.
//!
//! ```json
//! {
//!   "platform": "sev-snp",
//!   "image": "kiln-builder 1.2.0",
//!   "measurements": { "measurement": "<96 hex digits>" }
//! }
//! ```
//!
//! - `platform`: `sev-snp`, `tdx` or `nitro`; it must be the policy section's platform. Or
//!   `sim`: the simulated security processor's VM measurement that `kiln image measure
//!   --platform sim --json` predicts; its `measurement` stands for the primary register of the
//!   section it is used in (SEV-SNP `measurement`, TDX `mrtd`, Nitro `pcr0`).
//! - `kind` (optional): `kiln-image-reference/v1`, as `kiln image measure --json` writes it;
//!   `launch` (optional) is then informational.
//! - `image` (optional): free text naming the image, or the object `kiln image measure`
//!   writes (its `dir` is shown in reports).
//! - `builder` (optional): `{"id": URI}`, the builder id the image stands for (`kiln verify
//!   --reference` pins `builder.id` with it; a policy pins `build.builder_id` itself).
//! - `measurements`: by claim name, 48 bytes each: `measurement` (SEV-SNP); `mrtd`,
//!   `rtmr0`..`rtmr3` (TDX); `pcr0`..`pcr31` (Nitro). At least one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::de::decode_hex;
use super::error::PolicyError;
use kiln_verifier::{Hex, Platform};

/// Length of every measurement register the three platforms have (SHA-384).
pub const MEASUREMENT_LEN: usize = 48;

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

pub use kiln_provenance::REFERENCE_KIND;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReference {
    #[serde(default)]
    kind: Option<String>,
    platform: String,
    #[serde(default)]
    image: Option<serde_json::Value>,
    #[serde(default)]
    launch: Option<serde_json::Value>,
    /// The builder the image stands for (`{"id": URI}`); a policy pins `build.builder_id`
    /// itself, so it is informational here.
    #[serde(default)]
    builder: Option<serde_json::Value>,
    measurements: BTreeMap<String, String>,
}

/// Whether `name` is a measurement claim of `platform`.
pub fn is_measurement_name(platform: Platform, name: &str) -> bool {
    match platform {
        Platform::SevSnp => name == "measurement",
        Platform::Tdx => matches!(name, "mrtd" | "rtmr0" | "rtmr1" | "rtmr2" | "rtmr3"),
        Platform::Nitro => name
            .strip_prefix("pcr")
            .and_then(|i| i.parse::<u16>().ok())
            .is_some_and(|i| i < 32 && name == format!("pcr{i}")),
    }
}

impl ReferenceValues {
    /// Parses a reference file's JSON; `path` is only for messages. A `sim` reference is
    /// refused here: it needs the platform it stands for ([`Self::from_json_for`]).
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Self, PolicyError> {
        Self::from_json_for(bytes, path, None)
    }

    /// Parses a reference file's JSON for a policy section of `section` (which lets a `sim`
    /// reference stand for that platform's primary register).
    pub fn from_json_for(
        bytes: &[u8],
        path: &Path,
        section: Option<Platform>,
    ) -> Result<Self, PolicyError> {
        let bad = |message: String| PolicyError::Reference {
            path: path.to_path_buf(),
            message,
        };
        let mut raw: RawReference =
            serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if let Some(kind) = &raw.kind {
            if kind != REFERENCE_KIND {
                return Err(bad(format!("kind {kind:?} is not {REFERENCE_KIND:?}")));
            }
        }
        let _informational = raw.launch.take();
        if let Some(builder) = raw.builder.take() {
            if builder.get("id").and_then(|i| i.as_str()).is_none() {
                return Err(bad("\"builder\" has no \"id\" string".into()));
            }
        }
        let image = match raw.image.take() {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s),
            Some(serde_json::Value::Object(o)) => {
                Some(o.get("dir").and_then(|d| d.as_str()).map_or_else(
                    || serde_json::Value::Object(o.clone()).to_string(),
                    str::to_owned,
                ))
            }
            Some(other) => {
                return Err(bad(format!("image must be text or an object, not {other}")))
            }
        };
        if raw.platform == "sim" {
            let platform = section.ok_or_else(|| {
                bad("a sim reference stands for the primary register of a platform: use it as measurement_from of a platform section".into())
            })?;
            let measurements = std::mem::take(&mut raw.measurements)
                .into_iter()
                .map(|(name, value)| {
                    let name = if name == "measurement" {
                        kiln_verifier::build::primary_measurement(platform).to_owned()
                    } else {
                        name
                    };
                    (name, value)
                })
                .collect();
            raw.measurements = measurements;
            raw.platform = platform.as_str().to_owned();
        }
        let platform = Platform::parse(&raw.platform)
            .filter(|_| raw.platform != "snp")
            .ok_or_else(|| {
                bad(format!(
                    "unknown platform {:?} (expected \"sev-snp\", \"tdx\" or \"nitro\")",
                    raw.platform
                ))
            })?;
        if raw.measurements.is_empty() {
            return Err(bad("no measurements".into()));
        }
        let mut measurements = BTreeMap::new();
        for (name, value) in raw.measurements {
            if !is_measurement_name(platform, &name) {
                return Err(bad(format!("{name:?} is not a {platform} measurement")));
            }
            let bytes = decode_hex(&value, Some(MEASUREMENT_LEN))
                .map_err(|e| bad(format!("measurements.{name}: {e}")))?;
            measurements.insert(name, Hex(bytes));
        }
        Ok(Self {
            platform,
            image,
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
        assert!(is_measurement_name(Platform::Nitro, "pcr31"));
        assert!(!is_measurement_name(Platform::Nitro, "pcr32"));
        assert!(!is_measurement_name(Platform::Nitro, "pcr01"));
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
