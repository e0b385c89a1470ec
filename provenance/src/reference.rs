//! The image reference document (`kiln-image-reference/v1`): the predicted measurements of a
//! guest image, written by `kiln image measure --json` (and `kiln image measure --sim-process`),
//! read by `kiln verify --reference` and by a policy's `measurement_from`. One format, one
//! parser: the host and the policy engine both read it through [`ReferenceDocument::parse`].
//!
//! ```json
//! {
//!   "kind": "kiln-image-reference/v1",
//!   "platform": "sev-snp",
//!   "builder": { "id": "https://kiln.dev/builders/qemu-snp@v1" },
//!   "measurements": { "measurement": "<96 hex digits>" },
//!   "launch": { ... },
//!   "image": { "dir": "...", "cmdline": "...", "files": { ... } }
//! }
//! ```
//!
//! - `kind` (optional, for hand-written files): when present it is [`REFERENCE_KIND`].
//! - `platform`: `sev-snp`, `tdx`, `nitro`, or `sim` (the simulated security processor's VM
//!   measurement: its one register `measurement` stands for the primary register of whichever
//!   platform it is used for, see [`Platform::primary_measurement`]).
//! - `measurements`: at least one, by claim name (compared case-insensitively and kept in lower
//!   case), each [`MEASUREMENT_LEN`] bytes of hex: `measurement` (SEV-SNP and sim); `mrtd`,
//!   `rtmr0`..`rtmr3` (TDX); `pcr0`..`pcr31` (Nitro).
//! - `builder` (optional): `{"id": URI}`, the builder id the image stands for.
//! - `image` (optional): free text naming the image, or the object `kiln image measure`
//!   writes (its `dir` names it in reports).
//! - `launch` (optional): informational.
//!
//! Any other key is refused.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::Platform;

/// The `kind` of an image reference document.
pub const REFERENCE_KIND: &str = "kiln-image-reference/v1";

/// Length of every measurement register the platforms have (SHA-384).
pub const MEASUREMENT_LEN: usize = 48;

/// The platform a reference document is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferencePlatform {
    /// The simulated security processor's VM measurement: stands for any platform's primary
    /// register.
    Sim,
    /// One TEE platform.
    Tee(Platform),
}

impl ReferencePlatform {
    /// Every value, the simulator first.
    pub const ALL: [Self; 4] = [
        Self::Sim,
        Self::Tee(Platform::SevSnp),
        Self::Tee(Platform::Tdx),
        Self::Tee(Platform::Nitro),
    ];

    /// Parses a command-line name: `sim` or a platform's (`snp` is accepted for `sev-snp`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sim" => Some(Self::Sim),
            other => Platform::parse(other).map(Self::Tee),
        }
    }

    /// The name written in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sim => "sim",
            Self::Tee(p) => p.as_str(),
        }
    }
}

/// Why a reference document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError(pub String);

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReferenceError {}

/// A parsed reference document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceDocument {
    /// The platform.
    pub platform: ReferencePlatform,
    /// Measurements by lower-case claim name, each [`MEASUREMENT_LEN`] bytes.
    pub measurements: BTreeMap<String, Vec<u8>>,
    /// `builder.id`, when the document names one.
    pub builder_id: Option<String>,
    /// A label for the image: the text of `image`, or the `dir` of its object.
    pub image: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    kind: Option<String>,
    platform: String,
    measurements: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    builder: Option<serde_json::Value>,
    #[serde(default)]
    image: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)] // informational: accepted and not read
    launch: Option<serde_json::Value>,
}

impl ReferenceDocument {
    /// Parses a reference document's JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReferenceError> {
        let bad = |m: String| ReferenceError(m);
        let raw: Raw = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a reference document: {e}")))?;
        if let Some(kind) = &raw.kind {
            if kind != REFERENCE_KIND {
                return Err(bad(format!("kind {kind:?} is not {REFERENCE_KIND:?}")));
            }
        }
        let platform = match raw.platform.as_str() {
            "sim" => ReferencePlatform::Sim,
            name => ReferencePlatform::Tee(
                Platform::parse(name).filter(|_| name != "snp").ok_or_else(|| {
                    bad(format!(
                        "unknown platform {name:?} (expected \"sev-snp\", \"tdx\", \"nitro\" or \"sim\")"
                    ))
                })?,
            ),
        };
        if raw.measurements.is_empty() {
            return Err(bad("\"measurements\" is empty".into()));
        }
        let mut measurements = BTreeMap::new();
        for (written, value) in raw.measurements {
            let name = written.to_ascii_lowercase();
            let known = match platform {
                ReferencePlatform::Sim => name == "measurement",
                ReferencePlatform::Tee(p) => p.is_measurement_name(&name),
            };
            if !known {
                return Err(bad(format!(
                    "{written:?} is not a {} measurement",
                    platform.as_str()
                )));
            }
            let text = value
                .as_str()
                .ok_or_else(|| bad(format!("measurement {written:?} is not a string")))?;
            let bytes =
                decode_register(text).map_err(|e| bad(format!("measurements.{written}: {e}")))?;
            if measurements.insert(name, bytes).is_some() {
                return Err(bad(format!("measurement {written:?} is given twice")));
            }
        }
        let builder_id = match raw.builder {
            None => None,
            Some(builder) => Some(
                builder
                    .get("id")
                    .and_then(|i| i.as_str())
                    .filter(|i| i.contains(':') && !i.chars().any(char::is_whitespace))
                    .ok_or_else(|| bad("\"builder\" has no \"id\" URI".into()))?
                    .to_owned(),
            ),
        };
        let image = match raw.image {
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
        Ok(Self {
            platform,
            measurements,
            builder_id,
            image,
        })
    }

    /// The measurements as they apply to evidence of `platform`: a `sim` document's
    /// `measurement` becomes that platform's primary register; a document of another platform
    /// is refused.
    pub fn measurements_for(
        &self,
        platform: Platform,
    ) -> Result<BTreeMap<String, Vec<u8>>, ReferenceError> {
        match self.platform {
            ReferencePlatform::Sim => Ok(self
                .measurements
                .values()
                .map(|v| (platform.primary_measurement().to_owned(), v.clone()))
                .collect()),
            ReferencePlatform::Tee(p) if p == platform => Ok(self.measurements.clone()),
            ReferencePlatform::Tee(p) => Err(ReferenceError(format!(
                "the reference is for {p}, the evidence is {platform}"
            ))),
        }
    }
}

/// The JSON of a reference document as kiln writes it: `measurements` by claim name as hex,
/// `launch` and `image` informational (how the prediction was made, which files it covers).
/// [`ReferenceDocument::parse`] reads it back.
pub fn write_document(
    platform: ReferencePlatform,
    builder_id: &str,
    measurements: &BTreeMap<String, String>,
    launch: serde_json::Value,
    image: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "kind": REFERENCE_KIND,
        "platform": platform.as_str(),
        "builder": {"id": builder_id},
        "measurements": measurements,
        "launch": launch,
    });
    if let (Some(image), Some(map)) = (image, doc.as_object_mut()) {
        map.insert("image".into(), image);
    }
    doc
}

/// One register: hex (case-insensitive, an optional `0x`), exactly [`MEASUREMENT_LEN`] bytes.
fn decode_register(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let bytes = hex::decode(t).map_err(|e| format!("not hex: {e}"))?;
    if bytes.len() != MEASUREMENT_LEN {
        return Err(format!("{} bytes, expected {MEASUREMENT_LEN}", bytes.len()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<ReferenceDocument, ReferenceError> {
        ReferenceDocument::parse(v.to_string().as_bytes())
    }

    #[test]
    fn a_document_parses_and_maps_to_a_platform() {
        let h = "ab".repeat(48);
        let doc = parse(json!({"kind": REFERENCE_KIND, "platform": "nitro",
            "builder": {"id": "https://kiln.dev/b@v1"},
            "measurements": {"pcr0": h, "PCR1": h}, "launch": {"x": 1},
            "image": {"dir": "/images/a"}}))
        .unwrap();
        assert_eq!(doc.platform, ReferencePlatform::Tee(Platform::Nitro));
        assert_eq!(
            doc.measurements.keys().collect::<Vec<_>>(),
            ["pcr0", "pcr1"]
        );
        assert_eq!(doc.builder_id.as_deref(), Some("https://kiln.dev/b@v1"));
        assert_eq!(doc.image.as_deref(), Some("/images/a"));
        assert!(doc.measurements_for(Platform::Tdx).is_err());
        let sim = parse(json!({"platform": "sim", "measurements": {"measurement": h}})).unwrap();
        for p in Platform::ALL {
            let m = sim.measurements_for(p).unwrap();
            assert_eq!(m.keys().collect::<Vec<_>>(), [p.primary_measurement()]);
        }
    }

    #[test]
    fn a_written_document_reads_back() {
        let m: BTreeMap<String, String> = [("mrtd".to_owned(), "cd".repeat(48))].into();
        let doc = write_document(
            ReferencePlatform::Tee(Platform::Tdx),
            "https://kiln.dev/builders/qemu-tdx@v1",
            &m,
            json!({"vcpus": 2}),
            Some(json!({"dir": "/img"})),
        );
        assert_eq!(doc["kind"], REFERENCE_KIND);
        let back = ReferenceDocument::parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(back.measurements["mrtd"], vec![0xcd; 48]);
        assert_eq!(back.image.as_deref(), Some("/img"));
    }

    #[test]
    fn every_malformed_document_is_refused_with_its_reason() {
        let h = "ab".repeat(48);
        for (doc, reason) in [
            (
                json!({"platform": "x", "measurements": {"measurement": h}}),
                "unknown platform",
            ),
            (
                json!({"platform": "snp", "measurements": {"measurement": h}}),
                "unknown platform",
            ),
            (
                json!({"platform": "sim", "measurements": {"measurement": "00"}}),
                "1 bytes",
            ),
            (
                json!({"platform": "sim", "measurements": {"measurement": "zz"}}),
                "not hex",
            ),
            (json!({"platform": "sim", "measurements": {}}), "is empty"),
            (
                json!({"platform": "sim", "measurements": {"mrtd": h}}),
                "not a sim measurement",
            ),
            (
                json!({"platform": "tdx", "measurements": {"pcr0": h}}),
                "not a tdx measurement",
            ),
            (
                json!({"platform": "tdx", "measurements": {"mrtd": h, "MRTD": h}}),
                "twice",
            ),
            (
                json!({"platform": "tdx", "measurements": {"mrtd": 1}}),
                "not a string",
            ),
            (
                json!({"kind": "other", "platform": "sim", "measurements": {"measurement": h}}),
                "is not",
            ),
            (
                json!({"platform": "sim", "measurements": {"measurement": h}, "builder": {"id": "no uri"}}),
                "\"id\" URI",
            ),
            (
                json!({"platform": "sim", "measurements": {"measurement": h}, "image": 3}),
                "text or an object",
            ),
            (
                json!({"platform": "sim", "measurements": {"measurement": h}, "extra": 1}),
                "unknown field",
            ),
        ] {
            let err = parse(doc.clone()).unwrap_err();
            assert!(err.0.contains(reason), "{doc}: {err}");
        }
    }
}
