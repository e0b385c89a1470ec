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
//! - `platform`: `sev-snp`, `tdx` or `nitro`; it must be the policy section's platform.
//! - `image` (optional): free text naming the image, shown in reports.
//! - `measurements`: by claim name, 48 bytes each: `measurement` (SEV-SNP); `mrtd`,
//!   `rtmr0`..`rtmr3` (TDX); `pcr0`..`pcr31` (Nitro). At least one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::de::decode_hex;
use super::error::PolicyError;
use crate::claims::{Hex, Platform};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReference {
    platform: String,
    #[serde(default)]
    image: Option<String>,
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
    /// Parses a reference file's JSON; `path` is only for messages.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Self, PolicyError> {
        let bad = |message: String| PolicyError::Reference {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawReference = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
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
            image: raw.image,
            measurements,
        })
    }

    /// Reads and parses a reference file.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let bytes = std::fs::read(path).map_err(|e| PolicyError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_json(&bytes, path)
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
