//! The build request: what the host asks the guest to build. Its exact bytes are carried,
//! signed, in the provenance, and so covered by the evidence's binding ([`crate::binding`](mod@crate::binding)).

use serde::{Deserialize, Serialize};

/// The `kind` of a version-2 request (v2: the recipe is read from the source by the guest;
/// a commit comes with the git objects that prove it).
pub const REQUEST_KIND: &str = "kiln.dev/build-request/v2";

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
    /// Which file of the source is the recipe (`kiln.toml`): the guest reads and parses it
    /// from the digest-checked source; the host cannot hand it another.
    pub recipe_path: String,
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
    /// `SOURCE_DATE_EPOCH` for the build (the commit time, checked by the guest against the
    /// commit object; or 0 for a plain directory).
    pub source_date_epoch: i64,
    /// The git objects that prove `commit` (required with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitProof>,
}

/// The git objects that prove [`SourceRef::commit`]: the guest recomputes the tree of the
/// unpacked source and checks them link by link ([`crate::git::verify_commit`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitProof {
    /// The commit object (the bytes git hashes after `commit <len>\0`), base64.
    pub commit_object: String,
    /// The packed folder's path in the commit's tree, `/`-separated (empty for the root).
    pub path: String,
    /// The tree objects from the commit's root tree down to the packed folder's parent, one
    /// per component of `path`, base64.
    #[serde(default)]
    pub trees: Vec<String>,
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
