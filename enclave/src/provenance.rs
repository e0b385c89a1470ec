//! The in-toto Statement v1 / SLSA Provenance v1 the enclave signs, and its DSSE envelope
//! in a Sigstore bundle.

use kiln_proto::NamedBlob;
use kiln_provenance::media;
use kiln_provenance::sbom::SbomFormat;
use kiln_provenance::SOURCE_TREE_ANNOTATION;
use kiln_provenance::{
    dsse, key_id, pae, BuildDefinition, BuildRequest, Builder, DsseSignature, Envelope, Metadata,
    Provenance, ResourceDescriptor, RunDetails, SigstoreBundle, Statement, Subject, BUILD_TYPE,
    PAYLOAD_TYPE_IN_TOTO, PREDICATE_TYPE_SLSA_V1, STATEMENT_TYPE_V1,
};
use serde_json::json;
use std::time::SystemTime;

use crate::error::EnclaveError;
use crate::keys::SigningKey;

/// Whether the signing key outlives the launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLifetime {
    /// Sealed to the measurement, reused by later launches with the same measurement.
    Sealed,
    /// Made for this launch only (the platform has no measurement-bound sealing key).
    Launch,
}

impl KeyLifetime {
    /// The `internalParameters.keyLifetime` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sealed => "sealed",
            Self::Launch => "launch",
        }
    }
}

/// Everything the statement records.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The request, parsed.
    pub request: &'a BuildRequest,
    /// Its exact bytes.
    pub request_bytes: &'a [u8],
    /// The recipe the guest read from the source.
    pub recipe: &'a kiln_provenance::Recipe,
    /// The commit the guest proved, if the source is a git tree.
    pub commit: Option<&'a crate::commit::ProvenCommit>,
    /// The TEE platform.
    pub platform: kiln_tee::Platform,
    /// The key's lifetime.
    pub key_lifetime: KeyLifetime,
    /// Whether the build had no network.
    pub network_isolation: bool,
    /// The sandbox's layers.
    pub sandbox: &'a crate::sandbox::SandboxFacts,
    /// The outputs.
    pub subjects: Vec<Subject>,
    /// Declared tools, resolved.
    pub tools: Vec<ResourceDescriptor>,
    /// Locked packages.
    pub packages: Vec<ResourceDescriptor>,
    /// What determines the measurement.
    pub builder_dependencies: Vec<ResourceDescriptor>,
    /// The evidence files.
    pub evidence: &'a [NamedBlob],
    /// When the build started.
    pub started: SystemTime,
    /// When it finished.
    pub finished: SystemTime,
}

fn rfc3339(t: SystemTime) -> Result<String, EnclaveError> {
    crate::timestamp::rfc3339(t).ok_or_else(|| EnclaveError::Crypto {
        op: "format a provenance timestamp",
        reason: "the clock is before 1970".into(),
    })
}

/// The statement.
pub fn statement(inputs: Inputs<'_>) -> Result<Statement, EnclaveError> {
    let req = inputs.request;
    let mut source = serde_json::Map::new();
    source.insert("sha256".into(), json!(req.source.sha256));
    if let Some(c) = &req.source.commit {
        source.insert("commit".into(), json!(c));
    }
    if let Some(r) = &req.source.repository {
        source.insert("repository".into(), json!(r));
    }
    let external = json!({
        "source": source,
        "recipePath": req.recipe_path,
        "recipe": inputs.recipe,
        "nonce": req.nonce,
    });
    let internal = json!({
        "platform": inputs.platform.as_str(),
        "backend": req.backend,
        "keyLifetime": inputs.key_lifetime.as_str(),
        "networkIsolation": inputs.network_isolation,
        "sandbox": inputs.sandbox,
        "sourceDateEpoch": req.source.source_date_epoch,
    });
    let mut source_digest: std::collections::BTreeMap<String, String> =
        [("sha256".to_owned(), req.source.sha256.to_ascii_lowercase())].into();
    let mut annotations = None;
    if let Some(c) = inputs.commit {
        // The commit is a fact the guest proved, recorded as SLSA's `gitCommit` digest.
        source_digest.insert("gitCommit".to_owned(), c.commit.clone());
        annotations = Some(json!({
            SOURCE_TREE_ANNOTATION: c.tree,
            "gitObjectFormat": c.format,
            "gitPath": c.path,
            "commitVerified": "the guest recomputed the git tree of the unpacked source and \
                               checked the commit object and trees against it",
        }));
    }
    let mut resolved = vec![ResourceDescriptor {
        uri: Some("kiln:source".into()),
        digest: source_digest,
        annotations,
        ..ResourceDescriptor::default()
    }];
    resolved.extend(inputs.tools);
    resolved.extend(inputs.packages);
    let mut byproducts = vec![ResourceDescriptor {
        name: Some(media::REQUEST_NAME.into()),
        media_type: Some(media::REQUEST_MEDIA_TYPE.into()),
        content: Some(dsse::encode_base64(inputs.request_bytes)),
        ..ResourceDescriptor::default()
    }];
    byproducts.extend(evidence_byproducts(inputs.platform, inputs.evidence));
    Ok(Statement {
        type_: STATEMENT_TYPE_V1.into(),
        subject: inputs.subjects,
        predicate_type: PREDICATE_TYPE_SLSA_V1.into(),
        predicate: Provenance {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE.into(),
                external_parameters: external,
                internal_parameters: internal,
                resolved_dependencies: resolved,
            },
            run_details: RunDetails {
                builder: Builder {
                    id: req.builder_id.clone(),
                    builder_dependencies: inputs.builder_dependencies,
                    version: [(
                        "kiln-enclave".to_owned(),
                        env!("CARGO_PKG_VERSION").to_owned(),
                    )]
                    .into_iter()
                    .collect(),
                },
                metadata: Metadata {
                    invocation_id: req.invocation_id.clone(),
                    started_on: rfc3339(inputs.started)?,
                    finished_on: rfc3339(inputs.finished)?,
                },
                byproducts,
            },
        },
    })
}

/// The byproduct entries of the evidence files (what `kiln-binding/v1` leaves out).
pub fn evidence_byproducts(
    platform: kiln_tee::Platform,
    evidence: &[NamedBlob],
) -> Vec<ResourceDescriptor> {
    evidence
        .iter()
        .map(|blob| ResourceDescriptor {
            name: Some(blob.name.clone()),
            media_type: Some(media::media_type(&blob.name, platform).into()),
            content: Some(dsse::encode_base64(&blob.data)),
            ..ResourceDescriptor::default()
        })
        .collect()
}

/// The `kiln-binding/v1` digest of a statement (see `kiln_provenance::binding`).
pub fn binding_of(statement: &Statement) -> Result<[u8; 32], EnclaveError> {
    let value = serde_json::to_value(statement).map_err(|e| EnclaveError::Crypto {
        op: "serialise the statement",
        reason: e.to_string(),
    })?;
    Ok(kiln_provenance::binding(&value))
}

/// Signs the statement's exact JSON bytes and packs the envelope in a Sigstore bundle (JSON).
pub fn sign_bundle(statement: &Statement, key: &SigningKey) -> Result<Vec<u8>, EnclaveError> {
    let payload = serde_json::to_vec(statement).map_err(|e| EnclaveError::Crypto {
        op: "serialise the statement",
        reason: e.to_string(),
    })?;
    sign_payload(&payload, key)
}

/// Signs an in-toto Statement's JSON bytes (DSSE) and packs the envelope in a Sigstore bundle.
pub fn sign_payload(payload: &[u8], key: &SigningKey) -> Result<Vec<u8>, EnclaveError> {
    let sig = key.sign(&pae(PAYLOAD_TYPE_IN_TOTO, payload))?;
    let kid = key_id(&key.spki_der());
    let envelope = Envelope {
        payload: dsse::encode_base64(payload),
        payload_type: PAYLOAD_TYPE_IN_TOTO.into(),
        signatures: vec![DsseSignature {
            keyid: kid.clone(),
            sig: dsse::encode_base64(&sig),
        }],
    };
    serde_json::to_vec_pretty(&SigstoreBundle::new(envelope, &kid)).map_err(|e| {
        EnclaveError::Crypto {
            op: "serialise the bundle",
            reason: e.to_string(),
        }
    })
}

/// The SBOMs of `statement` (SPDX and CycloneDX, see `kiln_provenance::sbom`): their plain
/// documents, and the byproducts that name them in the provenance (so that the evidence
/// binding covers them). Call before the evidence is added.
pub fn sboms(statement: &Statement) -> Vec<(SbomFormat, Vec<u8>)> {
    SbomFormat::ALL
        .into_iter()
        .map(|f| (f, f.document(statement)))
        .collect()
}

/// The attestation files of the SBOMs: each plain document and its statement (whose subjects
/// are the provenance's), signed by `key`.
pub fn sign_sboms(
    subjects: &[Subject],
    sboms: &[(SbomFormat, Vec<u8>)],
    key: &SigningKey,
) -> Result<Vec<NamedBlob>, EnclaveError> {
    let mut files = Vec::new();
    for (format, document) in sboms {
        let payload = kiln_provenance::sbom::statement_payload(*format, subjects, document)
            .map_err(|e| EnclaveError::Crypto {
                op: "make the SBOM statement",
                reason: e.to_string(),
            })?;
        files.push(NamedBlob {
            name: format.bundle_file().to_owned(),
            data: sign_payload(&payload, key)?,
        });
        files.push(NamedBlob {
            name: format.document_file().to_owned(),
            data: document.clone(),
        });
    }
    Ok(files)
}
