//! in-toto Statement v1 with a SLSA Provenance v1 predicate.
//!
//! <https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>,
//! <https://slsa.dev/spec/v1.0/provenance>.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE_V1: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of SLSA Provenance v1.
pub const PREDICATE_TYPE_SLSA_V1: &str = "https://slsa.dev/provenance/v1";
/// kiln's `buildType`.
pub const BUILD_TYPE: &str = "https://kiln.dev/attested-build/v1";

/// An in-toto statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// [`STATEMENT_TYPE_V1`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// The artifacts.
    pub subject: Vec<Subject>,
    /// [`PREDICATE_TYPE_SLSA_V1`].
    pub predicate_type: String,
    /// The provenance.
    pub predicate: Provenance,
}

/// One artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Path relative to `artifacts/`, `/`-separated.
    pub name: String,
    /// `{"sha256": hex}`.
    pub digest: BTreeMap<String, String>,
}

/// SLSA Provenance v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// What was built and how.
    pub build_definition: BuildDefinition,
    /// Who built it and what happened.
    pub run_details: RunDetails,
}

/// `buildDefinition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// [`BUILD_TYPE`].
    pub build_type: String,
    /// Caller-controlled inputs: source (digest, commit), recipe, nonce.
    pub external_parameters: serde_json::Value,
    /// Builder-controlled inputs: platform, backend.
    pub internal_parameters: serde_json::Value,
    /// The source archive, toolchain binaries, and locked packages.
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// `runDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    /// The builder.
    pub builder: Builder,
    /// Invocation id and times.
    pub metadata: Metadata,
    /// The TEE evidence and the build request.
    pub byproducts: Vec<ResourceDescriptor>,
}

/// `builder`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    /// The builder's identity.
    pub id: String,
    /// What determines the measurement (enclave binary, kernel, initrd, firmware...).
    #[serde(default)]
    pub builder_dependencies: Vec<ResourceDescriptor>,
    /// Component versions.
    #[serde(default)]
    pub version: BTreeMap<String, String>,
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The request's invocation id.
    pub invocation_id: String,
    /// RFC 3339.
    pub started_on: String,
    /// RFC 3339.
    pub finished_on: String,
}

/// An in-toto ResourceDescriptor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// A URI for the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Digests by algorithm.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// A name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it can be downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_location: Option<String>,
    /// Its media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Inline content, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Value>,
}

/// The annotation key under which the guest records the git tree it recomputed from the
/// unpacked source (on the `kiln:source` resolved dependency).
pub const SOURCE_TREE_ANNOTATION: &str = "gitTree";
