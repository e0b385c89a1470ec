//! The build request: what the host asks the guest to build. Its exact bytes are carried,
//! signed, in the provenance, and so covered by the evidence's binding ([`super::binding`](mod@super::binding)).

use serde::{Deserialize, Serialize};

/// The `kind` of a version-1 request.
pub const REQUEST_KIND: &str = "kiln.dev/build-request/v1";

/// A build request. Field order is fixed (serialisation is deterministic); unknown fields
/// are refused when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildRequest {
    /// [`REQUEST_KIND`].
    pub kind: String,
    /// Unique id of this invocation (random, hex).
    pub invocation_id: String,
    /// The caller's nonce (hex), bound into the evidence through the request digest.
    pub nonce: String,
    /// The source to build.
    pub source: SourceRef,
    /// The recipe from the project's `kiln.toml`.
    pub recipe: Recipe,
    /// The builder's identity (`builder.id` of the provenance).
    pub builder_id: String,
    /// The launch backend (`sim`, `qemu`, `snp`, `tdx`, `nitro`).
    pub backend: String,
    /// The TEE platform whose evidence the guest produces (`sev-snp`, `tdx`, `nitro`).
    pub platform: String,
}

/// The source archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceRef {
    /// SHA-256 (hex) of the deterministic archive.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The git commit, when the source is a git tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Where the source came from (a git remote URL or a local path), informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// `SOURCE_DATE_EPOCH` for the build (the commit time, or 0 for a plain directory).
    pub source_date_epoch: i64,
}

/// A build recipe (`kiln.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recipe {
    /// The build command, run by `/bin/sh -c` in the unpacked source.
    pub command: String,
    /// Output paths or globs, relative to the source root.
    pub outputs: Vec<String>,
    /// Environment variables passed through from the guest's environment (allow-list).
    #[serde(default)]
    pub env: Vec<String>,
    /// Fixed environment values set for the build.
    #[serde(default)]
    pub env_set: std::collections::BTreeMap<String, String>,
    /// The toolchain the build needs (recorded with digests and versions in the provenance).
    #[serde(default)]
    pub toolchain: Vec<Tool>,
    /// Limits.
    pub limits: Limits,
}

/// A declared tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tool {
    /// The command name (looked up on the guest's PATH).
    pub name: String,
    /// The argument that prints its version (default `--version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_arg: Option<String>,
}

/// Resource limits of the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock limit of the build command, seconds.
    pub time_secs: u64,
    /// Maximum total size of the outputs, bytes.
    pub output_bytes: u64,
}

impl BuildRequest {
    /// The canonical bytes (JSON, fields in declaration order).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain strings, integers and maps cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses request bytes, refusing unknown fields and other kinds.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let req: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if req.kind != REQUEST_KIND {
            return Err(format!(
                "request kind {:?} is not {REQUEST_KIND:?}",
                req.kind
            ));
        }
        Ok(req)
    }
}
