//! Build outputs assembled from simulated evidence, for the build-verification tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use kiln_provenance::sbom::SbomFormat;
use kiln_tee::sim::{FixedClock, SimChip, SimProfile, SimTee};
use kiln_tee::{process_measurement, ReportData, Tee};
use kiln_verifier::build_output::dsse::encode_base64;
use kiln_verifier::build_output::{
    self as build, media, AllowSimulated, AnyMeasurement, BuildDefinition, BuildError, BuildOutput,
    BuildRequest, Builder, Envelope, Expectations, Metadata, Provenance, ResourceDescriptor,
    RunDetails, SigstoreBundle, SourceRef, Statement, Subject,
};
use kiln_verifier::{Platform, TrustAnchors, UnixTime};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use sha2::{Digest, Sha256};

pub const MILLIS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
pub const NONCE: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

pub fn at() -> UnixTime {
    UnixTime::from_secs(1_767_225_600 + 60)
}

pub struct Key {
    pub pair: EcdsaKeyPair,
    pub spki: Vec<u8>,
}

pub fn key() -> Key {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    // SubjectPublicKeyInfo for P-256: fixed 26-byte prefix, then the uncompressed point.
    let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    spki.extend_from_slice(pair.public_key().as_ref());
    Key { pair, spki }
}

pub fn pem(spki: &[u8]) -> String {
    let b64 = encode_base64(spki);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// A git commit of a source tree (one file), SHA-1: (commit id, commit object, source tree).
pub fn commit() -> (String, Vec<u8>, String) {
    use build::git::{object_id, tree_id, Node, ObjectFormat};
    let blob = object_id(ObjectFormat::Sha1, "blob", b"int main(){}\n").unwrap();
    let tree = tree_id(
        ObjectFormat::Sha1,
        &[(
            b"hello.c".to_vec(),
            Node::File {
                executable: false,
                id: blob,
            },
        )]
        .into(),
    )
    .unwrap();
    let object = format!(
        "tree {}\nauthor A <a@example.invalid> 1700000000 +0000\ncommitter A <a@example.invalid> \
         1700000000 +0000\n\nbuild me\n",
        hex::encode(&tree)
    )
    .into_bytes();
    let id = object_id(ObjectFormat::Sha1, "commit", &object).unwrap();
    (hex::encode(id), object, hex::encode(tree))
}

pub fn request(platform: Platform) -> BuildRequest {
    let (commit, object, _) = commit();
    BuildRequest {
        kind: build::REQUEST_KIND.into(),
        invocation_id: "0f0e0d0c".into(),
        nonce: NONCE.into(),
        source: SourceRef {
            sha256: "ab".repeat(32),
            size: 10240,
            commit: Some(commit),
            repository: None,
            source_date_epoch: 1_700_000_000,
            git: Some(build::GitProof {
                commit_object: encode_base64(&object),
                path: String::new(),
                trees: vec![],
            }),
        },
        recipe_path: "kiln.toml".into(),
        builder_id: "https://kiln.dev/builders/sim@v1".into(),
        backend: "sim".into(),
        platform: platform.as_str().into(),
    }
}

/// The knobs a test turns to break one link while keeping every other one intact.
#[derive(Default, Clone)]
pub struct Fault {
    /// Bind a statement with another subject digest instead of the signed one.
    pub bind_other_statement: bool,
    /// Bind another key's SPKI.
    pub bind_other_key: bool,
    /// Nitro: put this nonce in the document instead of the request's.
    pub nitro_nonce: Option<Vec<u8>>,
    /// Ship (and sign) this certificate as `simulated-root.der`.
    pub shipped_root: Option<Vec<u8>>,
    /// Launch a debug-mode guest (SEV-SNP policy DEBUG, TDX attribute DEBUG, Nitro PCRs zero).
    pub debug: bool,
    /// The evidence comes from a guest running this enclave binary (another measurement).
    pub enclave: Option<Vec<u8>>,
    /// The request names this commit id (the proof stays the genuine commit's).
    pub commit_id: Option<String>,
    /// The guest recorded this source tree instead of the one the commit names.
    pub source_tree: Option<String>,
    /// Evidence files shipped in `evidence/` but left out of the signed byproducts, as the
    /// host's collateral added after the build.
    pub unsigned: Vec<&'static str>,
    /// Leave the SBOMs out (an output of a kiln that made none).
    pub no_sboms: bool,
}

pub fn sim_tee(platform: Platform, debug: bool) -> SimTee {
    sim_tee_of(platform, debug, b"enclave")
}

/// The simulated TEE of the test chip, running `enclave`.
pub fn sim_tee_of(platform: Platform, debug: bool, enclave: &[u8]) -> SimTee {
    let chip = SimChip::from_seed(&[7; 32]);
    let profile = SimProfile::default_for(platform);
    let mut measurement = process_measurement(platform, enclave, b"params");
    let mut policy = profile.default_policy();
    if debug {
        match platform {
            Platform::SevSnp => policy |= 1 << 19,
            Platform::Tdx => policy |= 1,
            Platform::Nitro => measurement = kiln_tee::Measurement::Nitro { pcr: [[0; 48]; 3] },
        }
    }
    SimTee::launch(chip, profile, measurement, policy, FixedClock::new(MILLIS)).unwrap()
}

pub fn assemble(platform: Platform, fault: &Fault) -> (BuildOutput, Key) {
    let key = key();
    let mut req = request(platform);
    if let Some(c) = &fault.commit_id {
        req.source.commit = Some(c.clone());
    }
    let req_bytes = req.to_bytes();
    let bound_spki = if fault.bind_other_key {
        key_spki_other()
    } else {
        key.spki.clone()
    };
    let artifact = b"\x7fELF pretend binary".to_vec();
    let mut statement = Statement {
        type_: build::STATEMENT_TYPE_V1.into(),
        subject: vec![Subject {
            name: "hello".into(),
            digest: [("sha256".to_owned(), hex::encode(Sha256::digest(&artifact)))].into(),
        }],
        predicate_type: build::PREDICATE_TYPE_SLSA_V1.into(),
        predicate: Provenance {
            build_definition: BuildDefinition {
                build_type: build::BUILD_TYPE.into(),
                external_parameters: serde_json::json!({
                    "source": {"sha256": req.source.sha256, "commit": req.source.commit},
                    "recipePath": req.recipe_path,
                    "recipe": {"command": "make", "outputs": ["hello"]},
                    "nonce": req.nonce,
                }),
                internal_parameters: serde_json::json!({"platform": req.platform, "backend": "sim"}),
                resolved_dependencies: vec![ResourceDescriptor {
                    uri: Some("kiln:source".into()),
                    digest: [("sha256".to_owned(), req.source.sha256.clone())].into(),
                    annotations: Some(serde_json::json!({
                        "gitTree": fault.source_tree.clone().unwrap_or_else(|| commit().2),
                    })),
                    ..Default::default()
                }],
            },
            run_details: RunDetails {
                builder: Builder {
                    id: req.builder_id.clone(),
                    builder_dependencies: vec![],
                    version: BTreeMap::new(),
                },
                metadata: Metadata {
                    invocation_id: req.invocation_id.clone(),
                    started_on: "2026-01-01T00:00:00Z".into(),
                    finished_on: "2026-01-01T00:00:01Z".into(),
                },
                byproducts: vec![ResourceDescriptor {
                    name: Some(media::REQUEST_NAME.into()),
                    media_type: Some(media::REQUEST_MEDIA_TYPE.into()),
                    content: Some(encode_base64(&req_bytes)),
                    ..Default::default()
                }],
            },
        },
    };
    // The SBOMs, named (by digest) in the provenance before it is bound, as the guest does.
    let sboms: Vec<(SbomFormat, Vec<u8>)> = if fault.no_sboms {
        Vec::new()
    } else {
        SbomFormat::ALL
            .into_iter()
            .map(|f| (f, f.document(&statement)))
            .collect()
    };
    for (f, doc) in &sboms {
        statement
            .predicate
            .run_details
            .byproducts
            .push(kiln_provenance::sbom::byproduct(*f, doc));
    }
    // What the evidence binds: this statement, or (fault) one that differs in a subject.
    let mut bound_statement = statement.clone();
    if fault.bind_other_statement {
        bound_statement.subject[0]
            .digest
            .insert("sha256".into(), "00".repeat(32));
    }
    let bound = build::binding(&serde_json::to_value(&bound_statement).unwrap());
    let mut rd = ReportData::new(build::report_data(&bound_spki, &bound));
    if platform == Platform::Nitro {
        rd = rd.with_nitro_public_key(bound_spki.clone()).with_nonce(
            fault
                .nitro_nonce
                .clone()
                .unwrap_or_else(|| hex::decode(NONCE).unwrap()),
        );
    }
    let enclave = fault.enclave.as_deref().unwrap_or(b"enclave");
    let ev = sim_tee_of(platform, fault.debug, enclave)
        .evidence(&rd)
        .unwrap();
    let mut evidence_files = BTreeMap::new();
    evidence_files.insert(media::EVIDENCE_NAME.to_owned(), ev.evidence.clone());
    if let Some(v) = &ev.vek_der {
        evidence_files.insert(media::VEK_NAME.to_owned(), v.clone());
    }
    if let Some(c) = &ev.chain_pem {
        evidence_files.insert(media::CHAIN_NAME.to_owned(), c.as_bytes().to_vec());
    }
    if let Some(c) = &ev.collateral_json {
        evidence_files.insert(media::COLLATERAL_NAME.to_owned(), c.clone());
    }
    if let Some(r) = fault
        .shipped_root
        .as_ref()
        .or(ev.simulated_root_der.as_ref())
    {
        evidence_files.insert(media::SIMULATED_ROOT_NAME.to_owned(), r.clone());
    }
    for (name, bytes) in &evidence_files {
        if fault.unsigned.contains(&name.as_str()) {
            continue;
        }
        statement
            .predicate
            .run_details
            .byproducts
            .push(ResourceDescriptor {
                name: Some(name.clone()),
                media_type: Some(media::media_type(name, platform).into()),
                content: Some(encode_base64(bytes)),
                ..Default::default()
            });
    }
    let mut output = sign(
        &key,
        &serde_json::to_vec(&statement).unwrap(),
        evidence_files,
        artifact,
    );
    for (f, doc) in &sboms {
        let payload =
            kiln_provenance::sbom::statement_payload(*f, &statement.subject, doc).unwrap();
        output
            .attestation_files
            .insert(f.bundle_file().into(), sign_bundle(&key, &payload));
        output
            .attestation_files
            .insert(f.document_file().into(), doc.clone());
    }
    (output, key)
}

/// A Sigstore bundle of `payload` (an in-toto statement) signed by `key`.
pub fn sign_bundle(key: &Key, payload: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    let sig = key
        .pair
        .sign(&rng, &build::pae(build::PAYLOAD_TYPE_IN_TOTO, payload))
        .unwrap();
    let id = build::key_id(&key.spki);
    let envelope = Envelope {
        payload: encode_base64(payload),
        payload_type: build::PAYLOAD_TYPE_IN_TOTO.into(),
        signatures: vec![build::DsseSignature {
            keyid: id.clone(),
            sig: encode_base64(sig.as_ref()),
        }],
    };
    serde_json::to_vec(&SigstoreBundle::new(envelope, &id)).unwrap()
}

pub fn key_spki_other() -> Vec<u8> {
    key().spki
}

pub fn sign(
    key: &Key,
    payload: &[u8],
    evidence_files: BTreeMap<String, Vec<u8>>,
    artifact: Vec<u8>,
) -> BuildOutput {
    let rng = SystemRandom::new();
    let sig = key
        .pair
        .sign(&rng, &build::pae(build::PAYLOAD_TYPE_IN_TOTO, payload))
        .unwrap();
    let id = build::key_id(&key.spki);
    let envelope = Envelope {
        payload: encode_base64(payload),
        payload_type: build::PAYLOAD_TYPE_IN_TOTO.into(),
        signatures: vec![build::DsseSignature {
            keyid: id.clone(),
            sig: encode_base64(sig.as_ref()),
        }],
    };
    BuildOutput {
        bundle_json: serde_json::to_vec(&SigstoreBundle::new(envelope, &id)).unwrap(),
        public_key_pem: pem(&key.spki),
        evidence_files,
        attestation_files: BTreeMap::new(),
        artifacts: [("hello".to_owned(), Sha256::digest(&artifact).into())].into(),
    }
}

/// Expectations that pin nothing, accepting any measurement (the tests of other links).
pub fn any() -> Expectations {
    Expectations {
        any_measurement: AnyMeasurement::Accept,
        ..Expectations::default()
    }
}

/// The simulated roots of the test chip, pinned.
pub fn pinned_roots() -> AllowSimulated {
    AllowSimulated::PinnedRoots(
        PLATFORMS
            .iter()
            .map(|p| Sha256::digest(sim_tee(*p, false).simulated_root_der().unwrap()).into())
            .collect(),
    )
}

pub fn check(
    output: &BuildOutput,
    expect: &Expectations,
) -> Result<build::VerifiedBuild, BuildError> {
    build::verify(
        output,
        expect,
        &TrustAnchors::vendor(),
        &pinned_roots(),
        at(),
    )
}

pub const PLATFORMS: [Platform; 3] = [Platform::SevSnp, Platform::Tdx, Platform::Nitro];
