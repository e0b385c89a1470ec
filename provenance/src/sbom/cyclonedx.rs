//! CycloneDX 1.6 JSON (<https://cyclonedx.org/docs/1.6/json/>), as serde types:
//!
//! - `components`: the artifacts (`file`), the source archive (`file`, with its VCS reference
//!   and proven commit as properties) and the locked packages (`library`, with package URLs and
//!   SHA-256 hashes);
//! - `dependencies`: each artifact depends on each locked package;
//! - `formulation`: how the artifacts were made — the toolchain and the measured builder as
//!   components (property `kiln:role` = `toolchain` or `builder`) and one build workflow whose
//!   input is the source and whose outputs are the artifacts (generated-from);
//! - `metadata.tools`: kiln-enclave, which made the BOM.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Component, Parts};
use crate::statement::Statement;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<Cdx>,
    dependencies: Vec<Dependency>,
    formulation: Vec<Formula>,
}

#[derive(Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct Tools {
    components: Vec<Cdx>,
}

#[derive(Serialize)]
struct Cdx {
    #[serde(rename = "type")]
    type_: &'static str,
    #[serde(rename = "bom-ref")]
    bom_ref: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(rename = "externalReferences", skip_serializing_if = "Vec::is_empty")]
    external_references: Vec<ExternalReference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Serialize)]
struct ExternalReference {
    #[serde(rename = "type")]
    type_: &'static str,
    url: String,
}

#[derive(Serialize)]
struct Property {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    ref_: String,
    depends_on: Vec<String>,
}

#[derive(Serialize)]
struct Formula {
    #[serde(rename = "bom-ref")]
    bom_ref: &'static str,
    components: Vec<Cdx>,
    workflows: Vec<Workflow>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Workflow {
    #[serde(rename = "bom-ref")]
    bom_ref: &'static str,
    uid: String,
    name: String,
    task_types: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inputs: Vec<Io>,
    outputs: Vec<Io>,
}

#[derive(Serialize)]
struct Io {
    resource: Ref,
}

#[derive(Serialize)]
struct Ref {
    #[serde(rename = "ref")]
    ref_: String,
}

fn hashes(c: &Component) -> Vec<Hash> {
    c.digest
        .iter()
        .filter_map(|(alg, value)| {
            let alg = match alg.as_str() {
                "sha256" => "SHA-256",
                "sha384" => "SHA-384",
                "sha512" => "SHA-512",
                _ => return None,
            };
            Some(Hash {
                alg,
                content: value.to_ascii_lowercase(),
            })
        })
        .collect()
}

fn cdx(type_: &'static str, bom_ref: String, c: &Component) -> Cdx {
    let mut properties = Vec::new();
    for (alg, value) in &c.digest {
        if !matches!(alg.as_str(), "sha256" | "sha384" | "sha512") {
            properties.push(Property {
                name: "kiln:digest",
                value: format!("{alg}:{value}"),
            });
        }
    }
    Cdx {
        type_,
        bom_ref,
        name: c.name.clone(),
        version: c.version.clone(),
        description: c.note.clone(),
        hashes: hashes(c),
        purl: c.purl.clone(),
        external_references: c
            .download
            .iter()
            .map(|u| ExternalReference {
                type_: "distribution",
                url: u.clone(),
            })
            .collect(),
        properties,
    }
}

fn with_role(mut c: Cdx, role: &str) -> Cdx {
    c.properties.push(Property {
        name: "kiln:role",
        value: role.to_owned(),
    });
    c
}

/// An RFC 4122 UUID (version 4 layout) made from the invocation id, which is random per build.
fn serial_number(invocation_id: &str) -> String {
    let d = Sha256::digest(format!("kiln cyclonedx serial {invocation_id}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    let part = |from: usize, to: usize| h.get(from..to).unwrap_or_default();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        part(0, 8),
        part(8, 12),
        part(12, 16),
        part(16, 20),
        part(20, 32)
    )
}

/// The CycloneDX 1.6 JSON BOM of a provenance statement (pretty-printed, no final newline).
pub fn document(statement: &Statement) -> Vec<u8> {
    let parts = Parts::of(statement);
    let mut components = Vec::new();
    let artifact_refs: Vec<String> = (0..parts.artifacts.len())
        .map(|i| format!("artifact-{i}"))
        .collect();
    for (r, a) in artifact_refs.iter().zip(&parts.artifacts) {
        let c = Component {
            name: a.name.clone(),
            digest: a.digest.clone(),
            note: Some("an artifact of the build (a subject of its provenance)".into()),
            ..Component::default()
        };
        components.push(cdx("file", r.clone(), &c));
    }
    let mut inputs = Vec::new();
    if let Some(src) = &parts.source {
        let c = Component {
            name: "source".into(),
            version: src.commit.clone(),
            digest: [("sha256".to_owned(), src.sha256.clone())].into(),
            note: Some(
                "the source archive the guest built from (kiln's deterministic tar of the tree)"
                    .into(),
            ),
            ..Component::default()
        };
        let mut s = cdx("file", "source".into(), &c);
        if let Some(repo) = src.repository.as_deref().filter(|r| {
            (r.starts_with("https://") || r.starts_with("http://"))
                && !r.chars().any(char::is_whitespace)
        }) {
            s.external_references.push(ExternalReference {
                type_: "vcs",
                url: repo.to_owned(),
            });
        }
        if let Some(commit) = &src.commit {
            s.properties.push(Property {
                name: "kiln:gitCommit",
                value: commit.clone(),
            });
            s.properties.push(Property {
                name: "kiln:gitCommitVerified",
                value: "the guest recomputed the tree of the unpacked source and checked the \
                        commit against it"
                    .into(),
            });
        }
        components.push(s);
        inputs.push(Io {
            resource: Ref {
                ref_: "source".into(),
            },
        });
    }
    let mut library_refs = Vec::new();
    for (i, c) in parts.libraries.iter().enumerate() {
        let r = format!("library-{i}");
        components.push(cdx("library", r.clone(), c));
        library_refs.push(r);
    }
    let dependencies = artifact_refs
        .iter()
        .map(|a| Dependency {
            ref_: a.clone(),
            depends_on: library_refs.clone(),
        })
        .chain(library_refs.iter().map(|l| Dependency {
            ref_: l.clone(),
            depends_on: Vec::new(),
        }))
        .collect();
    let mut formula_components = Vec::new();
    for (i, c) in parts.toolchain.iter().enumerate() {
        formula_components.push(with_role(
            cdx("application", format!("toolchain-{i}"), c),
            "toolchain",
        ));
    }
    for (i, c) in parts.builder.iter().enumerate() {
        formula_components.push(with_role(cdx("file", format!("builder-{i}"), c), "builder"));
    }
    let bom = Bom {
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: serial_number(&parts.invocation_id),
        version: 1,
        metadata: Metadata {
            timestamp: parts.finished_on.clone(),
            tools: Tools {
                components: vec![Cdx {
                    type_: "application",
                    bom_ref: "kiln-enclave".into(),
                    name: "kiln-enclave".into(),
                    version: Some(parts.enclave_version.clone()),
                    description: Some(
                        "made and signed this BOM inside the TEE, from the build's provenance"
                            .into(),
                    ),
                    hashes: Vec::new(),
                    purl: None,
                    external_references: Vec::new(),
                    properties: Vec::new(),
                }],
            },
            properties: vec![
                Property {
                    name: "kiln:builderId",
                    value: parts.builder_id.clone(),
                },
                Property {
                    name: "kiln:invocationId",
                    value: parts.invocation_id.clone(),
                },
            ],
        },
        components,
        dependencies,
        formulation: vec![Formula {
            bom_ref: "formula",
            components: formula_components,
            workflows: vec![Workflow {
                bom_ref: "build",
                uid: parts.invocation_id.clone(),
                name: "kiln attested build".into(),
                task_types: vec!["build"],
                inputs,
                outputs: artifact_refs
                    .iter()
                    .map(|r| Io {
                        resource: Ref { ref_: r.clone() },
                    })
                    .collect(),
            }],
        }],
    };
    // Serialising structs of strings, numbers and vectors cannot fail.
    serde_json::to_vec_pretty(&bom).unwrap_or_default()
}
