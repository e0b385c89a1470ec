//! `kiln image keygen` and `kiln image sign`: an image producer's ECDSA P-256 key, and the
//! image's reference values signed with it (the format `kiln_verifier::image_reference`
//! verifies).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING};
use kiln_provenance::reference::ReferenceDocument;
use kiln_provenance::{
    dsse, key_id, pae, DsseSignature, Envelope, SigstoreBundle, Subject, PAYLOAD_TYPE_IN_TOTO,
    STATEMENT_TYPE_V1,
};
use kiln_verifier::image_reference::PREDICATE_TYPE;

use crate::cli::image::{ImageKeygenArgs, ImageSignArgs};
use crate::error::HostError;

/// The DER prefix of a P-256 SubjectPublicKeyInfo before its 65-byte uncompressed point.
const P256_SPKI_PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";

fn usage(message: String) -> HostError {
    HostError::Usage { message }
}

fn spki_of(pair: &EcdsaKeyPair) -> Vec<u8> {
    let mut spki = hex::decode(P256_SPKI_PREFIX).unwrap_or_default();
    spki.extend_from_slice(pair.public_key().as_ref());
    spki
}

fn pem(label: &str, der: &[u8]) -> Result<String, HostError> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .map_err(|e| usage(format!("cannot encode a {label}: {e}")))
}

/// Writes `bytes` to a new file `path` (refused if it exists), `mode` bits on creation.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HostError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                usage(format!("{} exists: refusing to replace it", path.display()))
            } else {
                HostError::io(path, "create")(e)
            }
        })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(HostError::io(path, "write"))
}

/// `kiln image keygen --out FILE`.
pub fn run_keygen(args: &ImageKeygenArgs) -> Result<String, HostError> {
    let public = PathBuf::from(format!("{}.pub.pem", args.out.display()));
    if args.out.exists() || public.exists() {
        return Err(usage(format!(
            "{} or {} exists: refusing to replace a key",
            args.out.display(),
            public.display()
        )));
    }
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| usage("cannot generate an ECDSA P-256 key".into()))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
        .map_err(|_| usage("the generated key does not parse".into()))?;
    let spki = spki_of(&pair);
    write_new(
        &args.out,
        pem("PRIVATE KEY", pkcs8.as_ref())?.as_bytes(),
        0o600,
    )?;
    write_new(&public, pem("PUBLIC KEY", &spki)?.as_bytes(), 0o644)?;
    Ok(format!(
        "wrote {} (private: keep it to yourself) and {} (key id {})\n",
        args.out.display(),
        public.display(),
        key_id(&spki)
    ))
}

/// Reads a PKCS#8 PEM ECDSA P-256 private key.
pub(crate) fn read_key(path: &Path) -> Result<EcdsaKeyPair, HostError> {
    let text = std::fs::read_to_string(path).map_err(HostError::io(path, "read"))?;
    let (label, der) = der::pem::decode_vec(text.trim().as_bytes())
        .map_err(|e| usage(format!("{}: not PEM: {e}", path.display())))?;
    if label != "PRIVATE KEY" {
        return Err(usage(format!(
            "{}: a {label}, not a PKCS#8 PRIVATE KEY (make one with `kiln image keygen`)",
            path.display()
        )));
    }
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der).map_err(|_| {
        usage(format!(
            "{}: not an ECDSA P-256 private key",
            path.display()
        ))
    })
}

/// Signs an in-toto Statement's bytes (DSSE) with `pair` into a Sigstore bundle v0.3; returns
/// the bundle's JSON and the key id.
pub(crate) fn sign_to_bundle(
    pair: &EcdsaKeyPair,
    payload: &[u8],
) -> Result<(Vec<u8>, String), HostError> {
    let rng = SystemRandom::new();
    let sig = pair
        .sign(&rng, &pae(PAYLOAD_TYPE_IN_TOTO, payload))
        .map_err(|_| usage("cannot sign".into()))?;
    let kid = key_id(&spki_of(pair));
    let envelope = Envelope {
        payload: dsse::encode_base64(payload),
        payload_type: PAYLOAD_TYPE_IN_TOTO.into(),
        signatures: vec![DsseSignature {
            keyid: kid.clone(),
            sig: dsse::encode_base64(sig.as_ref()),
        }],
    };
    let bundle = serde_json::to_vec_pretty(&SigstoreBundle::new(envelope, &kid))
        .map_err(|e| usage(e.to_string()))?;
    Ok((bundle, kid))
}

/// `kiln image sign REFERENCE.json... --key KEY --out FILE`.
pub fn run_sign(args: &ImageSignArgs) -> Result<String, HostError> {
    let pair = read_key(&args.key)?;
    let mut documents = Vec::new();
    let mut platforms = Vec::new();
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for path in &args.references {
        let bytes = std::fs::read(path).map_err(HostError::io(path, "read"))?;
        let doc = ReferenceDocument::parse(&bytes)
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
        if platforms.contains(&doc.platform) {
            return Err(usage(format!(
                "{}: a second reference for {}",
                path.display(),
                doc.platform.as_str()
            )));
        }
        platforms.push(doc.platform);
        let raw: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
        let named = raw
            .pointer("/image/files")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| {
                usage(format!(
                    "{}: names no image files (write it with `kiln image measure --json`)",
                    path.display()
                ))
            })?;
        for (name, digest) in named {
            let digest = digest.as_str().unwrap_or_default().to_owned();
            match files.get(name) {
                Some(seen) if *seen != digest => {
                    return Err(usage(format!(
                        "{}: its {name} ({digest}) is not the other references' ({seen}): \
                         they describe different images",
                        path.display()
                    )))
                }
                _ => {
                    files.insert(name.clone(), digest);
                }
            }
        }
        documents.push(raw);
    }
    let subject: Vec<Subject> = files
        .into_iter()
        .map(|(name, sha256)| Subject {
            name,
            digest: [("sha256".to_owned(), sha256)].into(),
        })
        .collect();
    let statement = serde_json::json!({
        "_type": STATEMENT_TYPE_V1,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": {"references": documents},
    });
    let payload = serde_json::to_vec(&statement).map_err(|e| usage(e.to_string()))?;
    let (bundle, kid) = sign_to_bundle(&pair, &payload)?;
    write_new(&args.out, &bundle, 0o644)?;
    Ok(format!(
        "signed the reference values of {} platform(s) ({}) over {} image file(s) with key {kid}: {}\n",
        platforms.len(),
        platforms
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        subject.len(),
        args.out.display()
    ))
}
