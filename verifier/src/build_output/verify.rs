//! `kiln verify OUT_DIR`: verification of a build's output, link by link. No I/O here: the
//! caller loads the output ([`super::load::load_output_dir`]) and passes the time.

use std::collections::BTreeMap;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use der::Decode;
use sha2::Digest;
use spki::SubjectPublicKeyInfoRef;

use crate::anchors::TrustAnchors;
use crate::build_output::dsse::{decode_base64, pae, PAYLOAD_TYPE_IN_TOTO};
use crate::build_output::error::BuildError;
use crate::build_output::expect::{self, Expectations, Pinning};
#[cfg(doc)]
use crate::build_output::expect::{AnyMeasurement, DebugEvidence};
use crate::build_output::media;
use crate::build_output::request::BuildRequest;
use crate::build_output::statement::{
    Statement, BUILD_TYPE, PREDICATE_TYPE_SLSA_V1, STATEMENT_TYPE_V1,
};
use crate::build_output::{binding, bundle, key_id, report_data};
use crate::time::UnixTime;
use crate::{Claims, Platform};
use crate::{Evidence, Verifier};

const OID_EC_PUBLIC_KEY: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// A build output folder, loaded into memory.
#[derive(Debug, Clone, Default)]
pub struct BuildOutput {
    /// `provenance.sigstore.json`.
    pub bundle_json: Vec<u8>,
    /// `public-key.pem`.
    pub public_key_pem: String,
    /// The files of `evidence/`, by name.
    pub evidence_files: BTreeMap<String, Vec<u8>>,
    /// The SBOM documents and bundles at the top of the folder, by name (those present of
    /// `kiln_provenance::layout::ATTESTATION_FILES`).
    pub attestation_files: BTreeMap<String, Vec<u8>>,
    /// SHA-256 of each file under `artifacts/`, by `/`-separated path relative to it.
    pub artifacts: BTreeMap<String, [u8; 32]>,
}

/// Whether evidence from the simulator is acceptable. Spelled out so that no call site can
/// pass a bare `true`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AllowSimulated {
    /// Only hardware evidence chaining to a pinned vendor root is accepted.
    #[default]
    No,
    /// Evidence chaining to the simulated root shipped in `evidence/simulated-root.der` is
    /// accepted, and reported as SIMULATED, only when that root is one of these (SHA-256 of
    /// the root certificate's DER): the roots of simulated chips the caller trusts, never
    /// whatever root an output carries. It proves nothing about hardware.
    PinnedRoots(Vec<[u8; 32]>),
}

/// A build output that passed every check. Only [`verify`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedBuild {
    claims: Claims,
    statement: Statement,
    request: BuildRequest,
    key_id: String,
    pinning: Pinning,
    supplied_collateral: Vec<String>,
    sboms: Vec<super::sbom::VerifiedSbom>,
    input_attestations: Vec<(String, String)>,
}

impl VerifiedBuild {
    /// The verified evidence claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
    /// The signed statement.
    pub fn statement(&self) -> &Statement {
        &self.statement
    }
    /// The build request the evidence binds.
    pub fn request(&self) -> &BuildRequest {
        &self.request
    }
    /// The signing key's id (hex SHA-256 of its SPKI).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
    /// Which claims the caller's expectations pinned, and which rest on the evidence or the
    /// host's word alone.
    pub fn pinning(&self) -> &Pinning {
        &self.pinning
    }
    /// The vendor collateral files of `evidence/` that the guest did not sign (added by the
    /// host, for example fetched from AMD's KDS or Intel's PCS after the build). They were
    /// verified against the pinned vendor roots like the signed ones.
    pub fn supplied_collateral(&self) -> &[String] {
        &self.supplied_collateral
    }
    /// The SBOMs, verified (step 12).
    pub fn sboms(&self) -> &[super::sbom::VerifiedSbom] {
        &self.sboms
    }
    /// The signed attestations this verification read, as (file name, SHA-256 hex of the
    /// bytes verified): the provenance bundle, then each SBOM's bundle.
    pub fn input_attestations(&self) -> &[(String, String)] {
        &self.input_attestations
    }
    /// Whether it rests on simulated evidence.
    pub fn is_simulated(&self) -> bool {
        self.claims.simulated
    }
}

/// Verifies a build output at `time`.
///
/// 1. The bundle is a Sigstore bundle v0.3 carrying one DSSE envelope.
/// 2. The public key is an ECDSA P-256 SubjectPublicKeyInfo; the bundle's hint and the
///    signature's keyid name it.
/// 3. The DSSE signature verifies over PAE(payloadType, payload) with that key.
/// 4. The payload is an in-toto Statement v1 with a SLSA Provenance v1 predicate of kiln's
///    build type.
/// 5. The build request is carried (signed) as a byproduct and parses; a commit comes with
///    its git objects, which chain the source tree the guest recomputed (recorded in the
///    statement) to the commit id, whose committer time is the build's SOURCE_DATE_EPOCH.
/// 6. The evidence files are the signed byproducts, byte for byte, and `evidence/` holds no
///    others, except vendor collateral ([`media::VENDOR_COLLATERAL_FILES`]) the guest did not
///    sign: the host may add it after the build, and it proves itself in step 7.
/// 7. The evidence verifies against `anchors` (plus the shipped simulated root only when
///    `allow_simulated` pins it: [`AllowSimulated::PinnedRoots`]).
/// 8. The evidence binds the key and what was built: REPORT_DATA (Nitro: `user_data`) equals
///    SHA-256(SPKI) ‖ the `kiln-binding/v1` digest of the signed statement (everything it
///    asserts but the evidence: subjects, request, dependencies, parameters; see
///    [`super::binding`](mod@super::binding)); on Nitro `public_key` is the SPKI and `nonce` the request's nonce.
/// 9. The statement agrees with the request (source digest, invocation id, builder, platform).
/// 10. Every subject has its file with the signed digest, and every file is a subject.
/// 11. The caller's expectations hold ([`super::expect::check`]): a production guest (debug
///     evidence is refused unless [`DebugEvidence::Allow`]), a measurement reference (refused
///     without one unless [`AnyMeasurement::Accept`]; on TDX MRTD and RTMR0–2), measurements,
///     builder id, source, commit, nonce.
/// 12. The SBOMs the provenance names verify ([`super::sbom`](mod@super::sbom)): each plain
///     document has the signed digest, its statement is signed by the same key over the same
///     subjects, and its predicate is the document byte for byte.
pub fn verify(
    output: &BuildOutput,
    expect: &Expectations,
    anchors: &TrustAnchors,
    allow_simulated: &AllowSimulated,
    time: UnixTime,
) -> Result<VerifiedBuild, BuildError> {
    // 1.
    let bundle: bundle::SigstoreBundle =
        serde_json::from_slice(&output.bundle_json).map_err(|e| BuildError::Bundle {
            reason: e.to_string(),
        })?;
    if bundle.media_type != bundle::MEDIA_TYPE_V03 {
        return Err(BuildError::Bundle {
            reason: format!(
                "media type {:?} is not {}",
                bundle.media_type,
                bundle::MEDIA_TYPE_V03
            ),
        });
    }
    let envelope = &bundle.dsse_envelope;
    let [signature] = envelope.signatures.as_slice() else {
        return Err(BuildError::Bundle {
            reason: format!(
                "the envelope carries {} signatures; kiln signs with exactly one key",
                envelope.signatures.len()
            ),
        });
    };
    // 2.
    let (spki_der, point) = parse_public_key(&output.public_key_pem)?;
    let id = key_id(&spki_der);
    if bundle.verification_material.public_key.hint != id {
        return Err(BuildError::KeyId {
            field: "the bundle's publicKey.hint",
            expected: id,
            found: bundle.verification_material.public_key.hint.clone(),
        });
    }
    if signature.keyid != id {
        return Err(BuildError::KeyId {
            field: "the DSSE signature's keyid",
            expected: id,
            found: signature.keyid.clone(),
        });
    }
    // 3.
    let payload = decode_base64(&envelope.payload).ok_or_else(|| BuildError::Bundle {
        reason: "the DSSE payload is not base64".into(),
    })?;
    let sig = decode_base64(&signature.sig).ok_or_else(|| BuildError::Bundle {
        reason: "the DSSE signature is not base64".into(),
    })?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &point)
        .verify(&pae(&envelope.payload_type, &payload), &sig)
        .map_err(|_| BuildError::Signature)?;
    // 4.
    if envelope.payload_type != PAYLOAD_TYPE_IN_TOTO {
        return Err(BuildError::Statement {
            reason: format!(
                "payload type {:?} is not {PAYLOAD_TYPE_IN_TOTO}",
                envelope.payload_type
            ),
        });
    }
    let statement: Statement =
        serde_json::from_slice(&payload).map_err(|e| BuildError::Statement {
            reason: e.to_string(),
        })?;
    check_statement_kind(&statement)?;
    // The binding is computed over the received payload (parsed), not over the typed view.
    let statement_json: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|e| BuildError::Statement {
            reason: e.to_string(),
        })?;
    let bound_statement = binding(&statement_json);
    // 5.
    let byproducts = byproducts(&statement)?;
    let request_bytes = byproducts
        .get(media::REQUEST_NAME)
        .ok_or_else(|| BuildError::Request {
            reason: format!("no {} byproduct in the provenance", media::REQUEST_NAME),
        })?;
    let request =
        BuildRequest::parse(request_bytes).map_err(|reason| BuildError::Request { reason })?;
    let platform = Platform::parse(&request.platform).ok_or_else(|| BuildError::Request {
        reason: format!("unknown platform {:?}", request.platform),
    })?;
    check_commit_proof(&request, &statement)?;
    // 6.
    let (evidence_files, supplied_collateral) = check_evidence_files(output, &byproducts)?;
    // 7.
    let claims = verify_evidence(platform, &evidence_files, anchors, allow_simulated, time)?;
    // 8.
    check_binding(&claims, &spki_der, &bound_statement, &request)?;
    // 9.
    check_consistency(&statement, &request)?;
    // 10.
    check_artifacts(&statement, &output.artifacts)?;
    // 11.
    let pinning = expect::check(expect, &claims, &request)?;
    // 12.
    let sboms = super::sbom::check(output, &statement, &id, &point)?;
    let mut input_attestations = vec![(
        kiln_provenance::layout::BUNDLE_FILE.to_owned(),
        hex::encode(sha2::Sha256::digest(&output.bundle_json)),
    )];
    for s in &sboms {
        let name = s.format.bundle_file();
        if let Some(bytes) = output.attestation_files.get(name) {
            input_attestations.push((name.to_owned(), hex::encode(sha2::Sha256::digest(bytes))));
        }
    }
    Ok(VerifiedBuild {
        claims,
        statement,
        request,
        key_id: id,
        pinning,
        supplied_collateral,
        sboms,
        input_attestations,
    })
}

/// Parses a PEM `PUBLIC KEY` and returns (SPKI DER, uncompressed P-256 point).
pub fn parse_public_key(pem: &str) -> Result<(Vec<u8>, Vec<u8>), BuildError> {
    let bad = |reason: String| BuildError::PublicKey { reason };
    let (label, der) =
        der::pem::decode_vec(pem.trim().as_bytes()).map_err(|e| bad(format!("not PEM: {e}")))?;
    if label != "PUBLIC KEY" {
        return Err(bad(format!("PEM label {label:?} is not PUBLIC KEY")));
    }
    let spki = SubjectPublicKeyInfoRef::from_der(&der)
        .map_err(|e| bad(format!("not a SubjectPublicKeyInfo: {e}")))?;
    let curve = spki
        .algorithm
        .parameters
        .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
    if spki.algorithm.oid != OID_EC_PUBLIC_KEY || curve != Some(OID_P256) {
        return Err(bad("not an ECDSA P-256 key".into()));
    }
    let point = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| bad("the key is not whole bytes".into()))?
        .to_vec();
    Ok((der, point))
}

fn check_statement_kind(statement: &Statement) -> Result<(), BuildError> {
    let wrong = |field: &str, found: &str, want: &str| BuildError::Statement {
        reason: format!("{field} is {found:?}, not {want:?}"),
    };
    if statement.type_ != STATEMENT_TYPE_V1 {
        return Err(wrong("_type", &statement.type_, STATEMENT_TYPE_V1));
    }
    if statement.predicate_type != PREDICATE_TYPE_SLSA_V1 {
        return Err(wrong(
            "predicateType",
            &statement.predicate_type,
            PREDICATE_TYPE_SLSA_V1,
        ));
    }
    let build_type = &statement.predicate.build_definition.build_type;
    if build_type != BUILD_TYPE {
        return Err(wrong("buildType", build_type, BUILD_TYPE));
    }
    Ok(())
}

/// The byproducts with inline content, decoded, by name (names must be unique).
fn byproducts(statement: &Statement) -> Result<BTreeMap<String, Vec<u8>>, BuildError> {
    let mut out = BTreeMap::new();
    for item in &statement.predicate.run_details.byproducts {
        let (Some(name), Some(content)) = (&item.name, &item.content) else {
            continue;
        };
        let bytes = decode_base64(content).ok_or_else(|| BuildError::Statement {
            reason: format!("byproduct {name:?} content is not base64"),
        })?;
        if out.insert(name.clone(), bytes).is_some() {
            return Err(BuildError::Statement {
                reason: format!("byproduct {name:?} appears twice"),
            });
        }
    }
    Ok(out)
}

/// Evidence files by name.
type EvidenceFiles = BTreeMap<String, Vec<u8>>;

/// The evidence files the signed byproducts name, each equal to its copy in `evidence/`, and
/// the vendor collateral added beside them unsigned (its names are returned too: it proves
/// itself against the pinned roots in step 7).
fn check_evidence_files(
    output: &BuildOutput,
    byproducts: &BTreeMap<String, Vec<u8>>,
) -> Result<(EvidenceFiles, Vec<String>), BuildError> {
    let mut files = BTreeMap::new();
    let mut supplied = Vec::new();
    for name in media::EVIDENCE_FILES {
        let signed = byproducts.get(*name);
        let shipped = output.evidence_files.get(*name);
        match (signed, shipped) {
            (Some(s), Some(f)) if s == f => {
                files.insert((*name).to_owned(), s.clone());
            }
            (Some(_), Some(_)) => {
                return Err(BuildError::EvidenceFile {
                    name: (*name).to_owned(),
                    reason: "differs from the signed copy in the provenance".into(),
                })
            }
            (Some(_), None) => {
                return Err(BuildError::EvidenceFile {
                    name: (*name).to_owned(),
                    reason: "is in the provenance but missing from evidence/".into(),
                })
            }
            (None, Some(f)) if media::VENDOR_COLLATERAL_FILES.contains(name) => {
                files.insert((*name).to_owned(), f.clone());
                supplied.push((*name).to_owned());
            }
            (None, Some(_)) => {
                return Err(BuildError::EvidenceFile {
                    name: (*name).to_owned(),
                    reason: "is in evidence/ but not in the signed provenance".into(),
                })
            }
            (None, None) => {}
        }
    }
    if let Some(extra) = output
        .evidence_files
        .keys()
        .find(|k| !media::EVIDENCE_FILES.contains(&k.as_str()))
    {
        return Err(BuildError::EvidenceFile {
            name: extra.clone(),
            reason: "is not a file kiln writes".into(),
        });
    }
    if !files.contains_key(media::EVIDENCE_NAME) {
        return Err(BuildError::EvidenceFile {
            name: media::EVIDENCE_NAME.to_owned(),
            reason: "missing: the provenance carries no evidence".into(),
        });
    }
    Ok((files, supplied))
}

fn verify_evidence(
    platform: Platform,
    files: &BTreeMap<String, Vec<u8>>,
    anchors: &TrustAnchors,
    allow_simulated: &AllowSimulated,
    time: UnixTime,
) -> Result<Claims, BuildError> {
    let mut anchors = anchors.clone();
    if let (AllowSimulated::PinnedRoots(pinned), Some(root)) =
        (allow_simulated, files.get(media::SIMULATED_ROOT_NAME))
    {
        let digest: [u8; 32] = sha2::Sha256::digest(root).into();
        if !pinned.contains(&digest) {
            return Err(BuildError::EvidenceFile {
                name: media::SIMULATED_ROOT_NAME.to_owned(),
                reason: format!(
                    "its SHA-256 {} is not a simulated root you trust (pinned: {}); a root that \
                     arrives in the output is never trusted by itself",
                    hex::encode(digest),
                    if pinned.is_empty() {
                        "none".to_owned()
                    } else {
                        pinned
                            .iter()
                            .map(hex::encode)
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            });
        }
        let cert = crate::pki::Cert::from_der(root)?;
        if !TrustAnchors::names_simulated(cert.subject()) {
            return Err(BuildError::EvidenceFile {
                name: media::SIMULATED_ROOT_NAME.to_owned(),
                reason: format!(
                    "{:?} does not say SIMULATED: only a simulated root may be accepted from the output",
                    cert.subject()
                ),
            });
        }
        anchors.allow_simulated(platform, "kiln simulated root (pinned by the caller)", root)?;
    }
    let get = |name: &str| files.get(name).map(Vec::as_slice);
    let evidence = Evidence {
        platform: Some(platform),
        bytes: get(media::EVIDENCE_NAME).unwrap_or_default(),
        vek: get(media::VEK_NAME),
        chain: get(media::CHAIN_NAME),
        collateral: get(media::COLLATERAL_NAME),
        crl: get(media::CRL_NAME),
    };
    let verified = Verifier::new(anchors).verify(&evidence, time)?;
    Ok(verified.claims().clone())
}

fn check_binding(
    claims: &Claims,
    spki_der: &[u8],
    statement_binding: &[u8; 32],
    request: &BuildRequest,
) -> Result<(), BuildError> {
    let expected = report_data(spki_der, statement_binding);
    let (bound, field) = match claims.platform {
        Platform::Nitro => (claims.user_data.as_ref(), "user_data"),
        _ => (claims.report_data.as_ref(), "REPORT_DATA"),
    };
    let bound = bound.map(|h| h.as_bytes()).unwrap_or_default();
    let (key_part, statement_part) = expected.split_at(32);
    if bound.get(..32) != Some(key_part) {
        return Err(BuildError::KeyBinding {
            expected: hex::encode(key_part),
            found: hex::encode(bound.get(..32).unwrap_or(bound)),
        });
    }
    if bound.get(32..) != Some(statement_part) {
        return Err(BuildError::StatementBinding {
            field,
            expected: hex::encode(statement_part),
            found: hex::encode(bound.get(32..).unwrap_or_default()),
        });
    }
    if claims.platform == Platform::Nitro {
        let pk = claims.public_key.as_ref().map(|h| h.as_bytes());
        if pk != Some(spki_der) {
            return Err(BuildError::KeyBinding {
                expected: hex::encode(spki_der),
                found: pk.map(hex::encode).unwrap_or_else(|| "(none)".into()),
            });
        }
        let nonce = hex::decode(&request.nonce).map_err(|e| BuildError::Request {
            reason: format!("nonce is not hex: {e}"),
        })?;
        let found = claims.nonce.as_ref().map(|h| h.as_bytes());
        if found != Some(nonce.as_slice()) {
            return Err(BuildError::StatementBinding {
                field: "nonce",
                expected: request.nonce.clone(),
                found: found.map(hex::encode).unwrap_or_else(|| "(none)".into()),
            });
        }
    }
    Ok(())
}

pub use kiln_provenance::statement::SOURCE_TREE_ANNOTATION;

fn check_commit_proof(request: &BuildRequest, statement: &Statement) -> Result<(), BuildError> {
    let bad = |reason: String| BuildError::Request {
        reason: format!("source commit: {reason}"),
    };
    let (commit, proof) = match (&request.source.commit, &request.source.git) {
        (None, None) => return Ok(()),
        (Some(c), Some(p)) => (c, p),
        (Some(_), None) => return Err(bad("no git objects prove it".into())),
        (None, Some(_)) => return Err(bad("git objects without a commit".into())),
    };
    let source = statement
        .predicate
        .build_definition
        .resolved_dependencies
        .iter()
        .find(|d| d.uri.as_deref() == Some("kiln:source"))
        .ok_or_else(|| bad("the statement has no kiln:source dependency".into()))?;
    let tree_hex = source
        .annotations
        .as_ref()
        .and_then(|a| a.get(SOURCE_TREE_ANNOTATION))
        .and_then(|t| t.as_str())
        .ok_or_else(|| bad("the guest recorded no git tree of the source".into()))?;
    let tree = hex::decode(tree_hex).map_err(|e| bad(format!("gitTree is not hex: {e}")))?;
    super::git::check_proof(commit, proof, &tree, request.source.source_date_epoch)
        .map(|_| ())
        .map_err(|e| bad(e.to_string()))
}

fn check_consistency(statement: &Statement, request: &BuildRequest) -> Result<(), BuildError> {
    let p = &statement.predicate;
    let ext = &p.build_definition.external_parameters;
    let pairs: [(&'static str, &str, Option<&str>); 6] = [
        (
            "recipe path",
            &request.recipe_path,
            ext.get("recipePath").and_then(|v| v.as_str()),
        ),
        (
            "source digest",
            &request.source.sha256,
            ext.pointer("/source/sha256").and_then(|v| v.as_str()),
        ),
        (
            "nonce",
            &request.nonce,
            ext.get("nonce").and_then(|v| v.as_str()),
        ),
        (
            "invocation id",
            &request.invocation_id,
            Some(p.run_details.metadata.invocation_id.as_str()),
        ),
        (
            "builder id",
            &request.builder_id,
            Some(p.run_details.builder.id.as_str()),
        ),
        (
            "platform",
            &request.platform,
            p.build_definition
                .internal_parameters
                .get("platform")
                .and_then(|v| v.as_str()),
        ),
    ];
    for (field, req, stmt) in pairs {
        if stmt != Some(req) {
            return Err(BuildError::Inconsistent {
                field,
                request: req.to_owned(),
                statement: stmt.unwrap_or("(absent)").to_owned(),
            });
        }
    }
    let commit = ext.pointer("/source/commit").and_then(|v| v.as_str());
    if commit != request.source.commit.as_deref() {
        return Err(BuildError::Inconsistent {
            field: "source commit",
            request: request
                .source
                .commit
                .clone()
                .unwrap_or_else(|| "(none)".into()),
            statement: commit.unwrap_or("(none)").to_owned(),
        });
    }
    Ok(())
}

fn check_artifacts(
    statement: &Statement,
    artifacts: &BTreeMap<String, [u8; 32]>,
) -> Result<(), BuildError> {
    let mut seen = std::collections::BTreeSet::new();
    if statement.subject.is_empty() {
        return Err(BuildError::Statement {
            reason: "no subjects".into(),
        });
    }
    for subject in &statement.subject {
        if !seen.insert(subject.name.as_str()) {
            return Err(BuildError::Statement {
                reason: format!("subject {:?} appears twice", subject.name),
            });
        }
        let expected = subject
            .digest
            .get("sha256")
            .ok_or_else(|| BuildError::Statement {
                reason: format!("subject {:?} has no sha256 digest", subject.name),
            })?;
        let found = artifacts
            .get(&subject.name)
            .ok_or_else(|| BuildError::MissingArtifact {
                name: subject.name.clone(),
            })?;
        let found = hex::encode(found);
        if !expected.eq_ignore_ascii_case(&found) {
            return Err(BuildError::ArtifactDigest {
                name: subject.name.clone(),
                expected: expected.clone(),
                found,
            });
        }
    }
    if let Some(extra) = artifacts.keys().find(|k| !seen.contains(k.as_str())) {
        return Err(BuildError::UnexpectedArtifact {
            name: extra.clone(),
        });
    }
    Ok(())
}
