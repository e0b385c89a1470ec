//! `kiln verify --vsa FILE --vsa-key KEY` (a signed SLSA VSA v1 of a verified build) and
//! `kiln verify-vsa FILE --key KEY.pub.pem` (checks one, with
//! `kiln_verifier::vsa::verify_vsa`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use kiln_verifier::build_output::{AnyMeasurement, VerifiedBuild};
use kiln_verifier::vsa::{
    levels, verify_vsa, Assurance, Vsa, VsaRef, VsaVerifier, KILN_VERIFIER_ID, PREDICATE_TYPE_VSA,
};
use sha2::Digest as _;

use crate::cli::verify::VsaConfig;
use crate::cli::{VerifyConfig, VerifyVsaArgs};
use crate::error::{HostError, EXIT_FAILED, EXIT_OK};

fn usage(message: String) -> HostError {
    HostError::Usage { message }
}

/// The expectations of a verification as canonical JSON (what the default policy digest
/// covers).
fn expectations_json(cfg: &VerifyConfig) -> Vec<u8> {
    let value = serde_json::json!({
        "measurement": cfg.measurement.as_ref().map(hex::encode),
        "measurements": cfg.measurements.iter().map(|(k, v)| (k.clone(), hex::encode(v))).collect::<std::collections::BTreeMap<_, _>>(),
        "builderId": cfg.builder,
        "sourceSha256": cfg.source,
        "sourceCommit": cfg.commit,
        "nonce": cfg.nonce,
        "allowDebug": matches!(cfg.debug, kiln_verifier::build_output::DebugEvidence::Allow),
        "acceptAnyMeasurement": cfg.any_measurement == AnyMeasurement::Accept,
    });
    let mut out = Vec::new();
    kiln_provenance::binding::canonical_json(&value, &mut out);
    out
}

/// The resource a VSA is about: the source's repository at its commit when the request names
/// a URL, else the source archive's digest.
fn resource_uri(v: &VerifiedBuild) -> String {
    let src = &v.request().source;
    match (&src.repository, &src.commit) {
        (Some(r), Some(c))
            if (r.starts_with("https://") || r.starts_with("http://"))
                && !r.chars().any(char::is_whitespace) =>
        {
            format!("git+{r}@{c}")
        }
        _ => format!("kiln:source:sha256:{}", src.sha256.to_ascii_lowercase()),
    }
}

/// Writes the VSA of `v` (verified with `cfg`) to `vsa.out`, signed with `vsa.key`; returns
/// what to print.
pub fn write_vsa(
    cfg: &VerifyConfig,
    vsa: &VsaConfig,
    v: &VerifiedBuild,
) -> Result<String, HostError> {
    let pair = crate::commands::image_sign::read_key(&vsa.key)?;
    let claims = v.claims();
    let verified_levels = levels(Assurance {
        platform: claims.platform,
        simulated: claims.simulated,
        measurement_pinned: crate::commands::verify::measurement_pinned_by(cfg).is_some(),
        debug: claims.debug,
    });
    let policy_digest = match &cfg.policy_sha256 {
        Some(d) => d.clone(),
        None => hex::encode(sha2::Sha256::digest(expectations_json(cfg))),
    };
    let predicate = Vsa {
        verifier: VsaVerifier {
            id: KILN_VERIFIER_ID.to_owned(),
        },
        time_verified: cfg.at.to_string(),
        resource_uri: resource_uri(v),
        policy: VsaRef {
            uri: vsa.policy_uri.clone(),
            digest: [("sha256".to_owned(), policy_digest)].into(),
        },
        input_attestations: v
            .input_attestations()
            .iter()
            .map(|(name, sha)| VsaRef {
                uri: name.clone(),
                digest: [("sha256".to_owned(), sha.clone())].into(),
            })
            .collect(),
        verification_result: "PASSED".into(),
        verified_levels: verified_levels.clone(),
        dependency_levels: std::collections::BTreeMap::new(),
        slsa_version: "1.0".into(),
    };
    let statement = serde_json::json!({
        "_type": kiln_provenance::STATEMENT_TYPE_V1,
        "subject": v.statement().subject,
        "predicateType": PREDICATE_TYPE_VSA,
        "predicate": predicate,
    });
    let payload = serde_json::to_vec(&statement).map_err(|e| usage(e.to_string()))?;
    let (bundle, kid) = crate::commands::image_sign::sign_to_bundle(&pair, &payload)?;
    write_atomically(&vsa.out, &bundle)?;
    Ok(format!(
        "VSA written to {} (signed by key {kid}): {}{}\n",
        vsa.out.display(),
        verified_levels.join(", "),
        if claims.simulated {
            " — SIMULATED evidence: no build level above L1"
        } else {
            ""
        }
    ))
}

/// Writes `bytes` to `path` through a temporary sibling renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), HostError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp =
        tempfile::NamedTempFile::new_in(&dir).map_err(HostError::io(&dir, "create a file in"))?;
    tmp.write_all(bytes).map_err(HostError::io(path, "write"))?;
    tmp.persist(path)
        .map_err(|e| HostError::io(path, "write")(e.error))?;
    Ok(())
}

/// Runs `kiln verify-vsa`; returns the exit code (0 verified, 1 refused, 2 unreadable).
pub fn run_verify_vsa(args: &VerifyVsaArgs) -> u8 {
    let read = |p: &Path| std::fs::read(p).map_err(HostError::io(p, "read"));
    let (bundle, key) = match (read(&args.file), read(&args.key)) {
        (Ok(b), Ok(k)) => (b, String::from_utf8_lossy(&k).into_owned()),
        (Err(e), _) | (_, Err(e)) => return crate::commands::fail(&e),
    };
    if let Some(d) = &args.expect_resource {
        if let Err(e) = crate::cli::parse_hex("--expect-resource", d, Some(32)) {
            return crate::commands::fail(&e);
        }
    }
    match verify_vsa(&bundle, &key, args.expect_resource.as_deref()) {
        Ok(v) => {
            let mut out = std::io::stdout().lock();
            if args.json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "verified": true,
                        "keyId": v.key_id,
                        "subjects": v.subjects,
                        "vsa": v.vsa,
                    }))
                    .unwrap_or_default()
                );
            } else {
                let simulated = v
                    .vsa
                    .verified_levels
                    .iter()
                    .any(|l| l == "KILN_SIMULATED_EVIDENCE");
                let _ = writeln!(
                    out,
                    "VERIFIED VSA by {} (key {}), {} at {}: {} — levels {}{}",
                    v.vsa.verifier.id,
                    v.key_id,
                    v.vsa.verification_result,
                    v.vsa.time_verified,
                    v.vsa.resource_uri,
                    v.vsa.verified_levels.join(", "),
                    if simulated {
                        " (SIMULATED evidence)"
                    } else {
                        ""
                    }
                );
                for s in &v.subjects {
                    let d = s.digest.get("sha256").map(String::as_str).unwrap_or("?");
                    let _ = writeln!(out, "  {d}  {}", s.name);
                }
            }
            EXIT_OK
        }
        Err(e) => {
            if args.json {
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "{}",
                    serde_json::json!({"verified": false, "error": e.to_string()})
                );
            }
            crate::report_error(&HostError::Usage {
                message: format!("{}: VSA refused: {e}", args.file.display()),
            });
            EXIT_FAILED
        }
    }
}
