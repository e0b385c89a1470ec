//! SPDX 2.3 JSON (<https://spdx.github.io/spdx-spec/v2.3/>), as serde types: every element is
//! a package (SPDX 2.3 files require a SHA-1, which kiln does not compute), with SHA-256 (and
//! SHA-384) checksums and package URLs; relationships say which is which:
//!
//! | relationship | from | to |
//! |---|---|---|
//! | `DESCRIBES` | the document | each artifact |
//! | `GENERATED_FROM` | each artifact | the source archive |
//! | `DEPENDS_ON` | each artifact | each locked package |
//! | `BUILD_TOOL_OF` | each toolchain package or tool, and each builder part | each artifact |

use serde::Serialize;

use super::{Component, Parts};
use crate::statement::Statement;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    document_describes: Vec<String>,
    packages: Vec<Package>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
    comment: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    download_location: String,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    primary_package_purpose: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

const NOASSERTION: &str = "NOASSERTION";

/// The checksums SPDX 2.3 names, from in-toto digests; others are left to the comment.
fn checksums(c: &Component) -> Vec<Checksum> {
    c.digest
        .iter()
        .filter_map(|(alg, value)| {
            let algorithm = match alg.as_str() {
                "sha256" => "SHA256",
                "sha384" => "SHA384",
                "sha512" => "SHA512",
                _ => return None,
            };
            Some(Checksum {
                algorithm,
                checksum_value: value.to_ascii_lowercase(),
            })
        })
        .collect()
}

/// Digests SPDX has no checksum algorithm for (a dm-verity root hash, a git commit).
fn other_digests(c: &Component) -> Option<String> {
    let others: Vec<String> = c
        .digest
        .iter()
        .filter(|(alg, _)| !matches!(alg.as_str(), "sha256" | "sha384" | "sha512"))
        .map(|(alg, v)| format!("{alg}:{v}"))
        .collect();
    (!others.is_empty()).then(|| others.join(" "))
}

fn package(id: String, c: &Component, purpose: &'static str, role: &str) -> Package {
    let comment = [Some(role.to_owned()), c.note.clone(), other_digests(c)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
    Package {
        spdx_id: id,
        name: c.name.clone(),
        version_info: c.version.clone(),
        download_location: c.download.clone().unwrap_or_else(|| NOASSERTION.to_owned()),
        files_analyzed: false,
        checksums: checksums(c),
        source_info: None,
        external_refs: c
            .purl
            .iter()
            .map(|p| ExternalRef {
                reference_category: "PACKAGE-MANAGER",
                reference_type: "purl",
                reference_locator: p.clone(),
            })
            .collect(),
        primary_package_purpose: purpose,
        comment: Some(comment),
    }
}

/// SPDX's `created`: RFC 3339 to the second, in UTC.
fn created(rfc3339: &str) -> String {
    match rfc3339.split_once('.') {
        Some((secs, _)) => format!("{secs}Z"),
        None => rfc3339.to_owned(),
    }
}

/// A VCS download location (`git+URL@COMMIT`) when the repository is a URL.
fn vcs_location(repository: Option<&str>, commit: Option<&str>) -> Option<String> {
    let repo = repository?;
    let url = repo.starts_with("https://") || repo.starts_with("http://");
    if !url || repo.chars().any(|c| c.is_whitespace()) {
        return None;
    }
    Some(match commit {
        Some(c) => format!("git+{repo}@{c}"),
        None => format!("git+{repo}"),
    })
}

/// The SPDX 2.3 JSON document of a provenance statement (pretty-printed; no final newline, so
/// that the document and the statement's predicate are the same bytes).
pub fn document(statement: &Statement) -> Vec<u8> {
    let parts = Parts::of(statement);
    let mut packages = Vec::new();
    let mut relationships = Vec::new();
    let artifact_ids: Vec<String> = (0..parts.artifacts.len())
        .map(|i| format!("SPDXRef-Artifact-{i}"))
        .collect();
    let rel = |from: &str, kind: &'static str, to: &str| Relationship {
        spdx_element_id: from.to_owned(),
        relationship_type: kind,
        related_spdx_element: to.to_owned(),
    };
    for (id, a) in artifact_ids.iter().zip(&parts.artifacts) {
        let c = Component {
            name: a.name.clone(),
            digest: a.digest.clone(),
            ..Component::default()
        };
        packages.push(package(
            id.clone(),
            &c,
            "FILE",
            "an artifact of the build (a subject of its provenance)",
        ));
        relationships.push(rel("SPDXRef-DOCUMENT", "DESCRIBES", id));
    }
    if let Some(src) = &parts.source {
        let c = Component {
            name: "source".into(),
            digest: [("sha256".to_owned(), src.sha256.clone())].into(),
            ..Component::default()
        };
        let mut p = package(
            "SPDXRef-Source".into(),
            &c,
            "SOURCE",
            "the source archive the guest built from (kiln's deterministic tar of the tree)",
        );
        if let Some(loc) = vcs_location(src.repository.as_deref(), src.commit.as_deref()) {
            p.download_location = loc;
        }
        p.version_info = src.commit.clone();
        p.source_info = Some(match (&src.commit, &src.repository) {
            (Some(c), Some(r)) => format!(
                "git commit {c} of {r} (the commit verified by the guest against the source; \
                 the repository is the requester's word)"
            ),
            (Some(c), None) => format!("git commit {c}, verified by the guest against the source"),
            (None, Some(r)) => format!("from {r} (the requester's word), no commit"),
            (None, None) => "a folder, not a git commit".to_owned(),
        });
        packages.push(p);
        for id in &artifact_ids {
            relationships.push(rel(id, "GENERATED_FROM", "SPDXRef-Source"));
        }
    }
    for (i, c) in parts.libraries.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        packages.push(package(
            id.clone(),
            c,
            "LIBRARY",
            "a locked package of the build",
        ));
        for a in &artifact_ids {
            relationships.push(rel(a, "DEPENDS_ON", &id));
        }
    }
    for (i, c) in parts.toolchain.iter().enumerate() {
        let id = format!("SPDXRef-Toolchain-{i}");
        packages.push(package(
            id.clone(),
            c,
            "APPLICATION",
            "part of the build's toolchain",
        ));
        for a in &artifact_ids {
            relationships.push(rel(&id, "BUILD_TOOL_OF", a));
        }
    }
    for (i, c) in parts.builder.iter().enumerate() {
        let id = format!("SPDXRef-Builder-{i}");
        packages.push(package(
            id.clone(),
            c,
            "OTHER",
            "part of the measured builder (the TEE's launch measurement covers it)",
        ));
        for a in &artifact_ids {
            relationships.push(rel(&id, "BUILD_TOOL_OF", a));
        }
    }
    let doc = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: format!("kiln build {}", parts.invocation_id),
        document_namespace: format!("https://kiln.dev/spdx/{}", parts.invocation_id),
        creation_info: CreationInfo {
            created: created(&parts.finished_on),
            creators: vec![format!("Tool: kiln-enclave-{}", parts.enclave_version)],
            comment: format!(
                "Made and signed inside the TEE by builder {}, from the build's provenance.",
                parts.builder_id
            ),
        },
        document_describes: artifact_ids,
        packages,
        relationships,
    };
    // Serialising structs of strings, booleans and vectors cannot fail.
    serde_json::to_vec_pretty(&doc).unwrap_or_default()
}
