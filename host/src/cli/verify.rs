//! `kiln verify`: flags and their validation into [`VerifyConfig`] (the reference, the policy
//! and its Rego rules loaded, the clock read once).

use std::path::PathBuf;

use clap::Args;
use kiln_verifier::build_output::AllowSimulated;
use kiln_verifier::UnixTime;
use sha2::Digest as _;

use super::{default_state_dir, now, parse_hex, simulated_roots, usage};
use crate::error::HostError;

/// `kiln verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The output folder of `kiln build`.
    pub out_dir: PathBuf,
    /// Accept evidence from a simulated TEE whose root you trust: by default the simulated
    /// chip of this machine's state folder (see --state-dir), or each --simulated-root. The
    /// root an output ships is never trusted by itself. Such evidence proves nothing about
    /// hardware, and every report says SIMULATED.
    #[arg(long)]
    pub allow_simulated: bool,
    /// With --allow-simulated: a simulated root to trust instead of this machine's, as a
    /// certificate file (DER or PEM) or its SHA-256 (hex). Repeatable.
    #[arg(long, value_name = "FILE|SHA256", requires = "allow_simulated")]
    pub simulated_root: Vec<String>,
    /// The expected primary measurement, hex (SEV-SNP MEASUREMENT, TDX MRTD, Nitro PCR0).
    /// On TDX hardware MRTD covers only the firmware: use --reference with RTMR0-2 as well.
    #[arg(long, value_name = "HEX", conflicts_with = "reference")]
    pub expect_measurement: Option<String>,
    /// The expected measurements (and builder id, when it names one) from a reference: a file
    /// written by `kiln image measure --json`, an image folder (its sim measurement with the
    /// default vCPUs and memory), or an image recipe (.toml; the image is built first).
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// The image producer's public key (PEM; `kiln image keygen` writes KEY.pub.pem): the
    /// --reference must then be signed (`kiln image sign`) by it, and is accepted only when
    /// its signature verifies. A signed reference needs this flag; an unsigned reference
    /// file is accepted only because you name it.
    #[arg(long, value_name = "FILE", requires = "reference")]
    pub reference_key: Option<PathBuf>,
    /// Verify without any measurement reference. Evidence of ANY guest image then passes,
    /// including one that leaks its key or signs whatever the host asks: the output proves
    /// only that some TEE signed it. Refused by default.
    #[arg(long, conflicts_with_all = ["reference", "expect_measurement"])]
    pub accept_any_measurement: bool,
    /// The expected SHA-256 of the source archive, hex.
    #[arg(long, value_name = "SHA256")]
    pub expect_source: Option<String>,
    /// The expected git commit of the source.
    #[arg(long, value_name = "SHA")]
    pub expect_commit: Option<String>,
    /// The expected builder id.
    #[arg(long, value_name = "ID")]
    pub expect_builder: Option<String>,
    /// The nonce given to `kiln build`, hex.
    #[arg(long, value_name = "HEX")]
    pub nonce: Option<String>,
    /// Accept evidence of a debug-mode guest (the host can read and change its memory, so its
    /// signature proves nothing); refused by default.
    #[arg(long)]
    pub allow_debug: bool,
    /// Verify as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// A policy (TOML) the verified build must also satisfy; exit 3 when it does not.
    /// `kiln policy init` writes a starter policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Rego rules (package `kiln`: `allow`, `deny`) evaluated with the policy.
    #[arg(long, value_name = "FILE", requires = "policy")]
    pub rego: Option<PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// kiln's state folder, whose simulated chip --allow-simulated trusts by default (see
    /// `kiln build --help`).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// After the output verifies, fetch the current collateral for its TDX evidence (through
    /// the collateral cache; see `kiln collateral fetch`) and report the TCB status as of the
    /// verification time beside the status the output's own collateral gives. Exit 1 when the
    /// evidence no longer verifies with current collateral.
    #[arg(long)]
    pub refresh_collateral: bool,
    /// With --refresh-collateral: the PCS or PCCS base URL (default: $KILN_PCS_URL, else
    /// Intel's PCS).
    #[arg(long, value_name = "URL", requires = "refresh_collateral")]
    pub pcs_url: Option<String>,
    /// With --refresh-collateral: the collateral cache (default: collateral/ in the state
    /// folder).
    #[arg(long, value_name = "DIR", requires = "refresh_collateral")]
    pub collateral_cache: Option<PathBuf>,
    /// When the output verifies (and the policy, if any, accepts it), write a signed SLSA
    /// Verification Summary Attestation (VSA v1) to FILE: the artifacts, the verifier, the
    /// time, the policy's digest, the input attestations' digests, and the SLSA levels
    /// verified (Build L3 only for hardware evidence of a pinned builder image; L1 for
    /// simulated evidence). Check it with `kiln verify-vsa`.
    #[arg(long, value_name = "FILE", requires = "vsa_key")]
    pub vsa: Option<PathBuf>,
    /// The verifier's private key that signs the VSA (PKCS#8 PEM, ECDSA P-256; `kiln image
    /// keygen` makes one).
    #[arg(long, value_name = "FILE", requires = "vsa")]
    pub vsa_key: Option<PathBuf>,
}

/// Where `--vsa` goes and what signs it.
#[derive(Debug, Clone)]
pub struct VsaConfig {
    /// The VSA file.
    pub out: PathBuf,
    /// The signing key file.
    pub key: PathBuf,
    /// The policy: its URI and SHA-256 (the file's, or of kiln's expectations as JSON).
    pub policy_uri: String,
}

/// `--reference` (with `--reference-key` when it is signed): the expectations it gives. A
/// signed reference's document is chosen by the platform of the output's evidence (a wrong
/// choice only fails the measurement check).
fn reference_from(
    path: &std::path::Path,
    key: Option<&std::path::Path>,
    out_dir: &std::path::Path,
    state: Option<&std::path::Path>,
) -> Result<crate::guest_image::Reference, HostError> {
    let failed = |e: crate::guest_image::GuestImageError| {
        usage(format!("--reference: {}", crate::error::chain(&e)))
    };
    let bytes = if path.is_file() {
        std::fs::read(path).map_err(HostError::io(path, "read"))?
    } else {
        Vec::new()
    };
    let signed = kiln_verifier::image_reference::looks_signed(&bytes);
    match (signed, key) {
        (true, Some(key)) => {
            let evidence = out_dir
                .join(kiln_provenance::layout::EVIDENCE_DIR)
                .join(kiln_provenance::media::EVIDENCE_NAME);
            let ev = std::fs::read(&evidence).map_err(HostError::io(&evidence, "read"))?;
            let platform = kiln_verifier::detect_platform(&ev)
                .map_err(|e| usage(format!("{}: {e}", evidence.display())))?;
            crate::guest_image::load_signed_reference(path, &bytes, key, platform)
                .map(|(r, _)| r)
                .map_err(failed)
        }
        (true, None) => Err(usage(format!(
            "--reference {} is signed: give the producer's public key with --reference-key",
            path.display()
        ))),
        (false, Some(_)) => Err(usage(format!(
            "--reference-key: {} is not a signed reference (sign it with `kiln image sign`, or \
             drop --reference-key to accept it as a file you name)",
            path.display()
        ))),
        (false, None) => crate::guest_image::load_reference(path, state).map_err(failed),
    }
}

/// What `--refresh-collateral` fetches with.
#[derive(Debug, Clone)]
pub struct RefreshConfig {
    /// Where collateral comes from.
    pub sources: crate::collateral::Sources,
    /// The cache.
    pub cache: PathBuf,
}

/// A validated `kiln verify`.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// The output folder.
    pub out_dir: PathBuf,
    /// Accept simulated evidence (and from which roots).
    pub allow_simulated: AllowSimulated,
    /// Whether a build verifies without a measurement reference.
    pub any_measurement: kiln_verifier::build_output::AnyMeasurement,
    /// Where the builder id expectation came from, when there is one.
    pub builder_from: Option<String>,
    /// Expected primary measurement.
    pub measurement: Option<Vec<u8>>,
    /// Further expected measurements by claim name (from --reference).
    pub measurements: std::collections::BTreeMap<String, Vec<u8>>,
    /// Expected source digest, lowercase hex.
    pub source: Option<String>,
    /// Expected commit, lowercase hex.
    pub commit: Option<String>,
    /// Expected builder id.
    pub builder: Option<String>,
    /// Expected nonce, lowercase hex.
    pub nonce: Option<String>,
    /// Whether debug-mode evidence is accepted.
    pub debug: kiln_verifier::build_output::DebugEvidence,
    /// Verification time.
    pub at: UnixTime,
    /// The policy, loaded.
    pub policy: Option<kiln_policy::Policy>,
    /// Rego rules, loaded.
    pub rego: Option<kiln_policy::RegoRules>,
    /// JSON output.
    pub json: bool,
    /// `--refresh-collateral`, when asked.
    pub refresh: Option<RefreshConfig>,
    /// `--vsa`, when asked.
    pub vsa: Option<VsaConfig>,
    /// SHA-256 of the policy file as read, hex.
    pub policy_sha256: Option<String>,
}

impl VerifyArgs {
    /// Validates the flags; reads the clock once when `--at` is absent.
    pub fn validate(self) -> Result<VerifyConfig, HostError> {
        if !self.out_dir.is_dir() {
            return Err(usage(format!("{} is not a folder", self.out_dir.display())));
        }
        let mut measurement = match self.expect_measurement {
            Some(m) => Some(
                hex::decode(parse_hex("--expect-measurement", &m, Some(48))?)
                    .map_err(|e| usage(format!("--expect-measurement: {e}")))?,
            ),
            None => None,
        };
        let mut measurements = std::collections::BTreeMap::new();
        let state = match &self.state_dir {
            Some(d) => Some(d.clone()),
            None => default_state_dir().ok(),
        };
        let mut builder = self.expect_builder.clone();
        let mut builder_from = builder.as_ref().map(|_| "--expect-builder".to_owned());
        if let Some(r) = &self.reference {
            let reference = reference_from(
                r,
                self.reference_key.as_deref(),
                &self.out_dir,
                state.as_deref(),
            )?;
            measurement = reference.primary;
            measurements = reference.others;
            if let Some(id) = reference.builder_id {
                match &builder {
                    Some(b) if *b != id => {
                        return Err(usage(format!(
                            "--expect-builder {b:?} contradicts the reference's builder {id:?}"
                        )))
                    }
                    Some(_) => {}
                    None => {
                        builder = Some(id);
                        builder_from = Some(format!("the reference {}", r.display()));
                    }
                }
            }
        }
        let allow_simulated = if self.allow_simulated {
            AllowSimulated::PinnedRoots(simulated_roots(&self.simulated_root, state.as_deref())?)
        } else {
            AllowSimulated::No
        };
        let source = self
            .expect_source
            .map(|s| parse_hex("--expect-source", &s, Some(32)))
            .transpose()?;
        let commit = self
            .expect_commit
            .map(|s| {
                let c = parse_hex("--expect-commit", &s, None)?;
                if c.len() == 40 || c.len() == 64 {
                    Ok(c)
                } else {
                    Err(usage(format!(
                        "--expect-commit {s:?} is not a full git commit id (40 or 64 hex digits)"
                    )))
                }
            })
            .transpose()?;
        let nonce = self
            .nonce
            .map(|s| parse_hex("--nonce", &s, None))
            .transpose()?;
        let at = match self.at {
            Some(t) => {
                UnixTime::parse_rfc3339(&t).map_err(|e| usage(format!("--at {t:?}: {e}")))?
            }
            None => now()?,
        };
        // The policy file is read once: the policy applied and its digest (for a VSA) come
        // from the same bytes.
        let (policy, policy_sha256) = match self.policy.as_deref() {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| usage(format!("--policy: {}: {e}", p.display())))?;
                let policy = kiln_policy::Policy::from_toml_text_of(&text, p, &image_reference)
                    .map_err(|e| usage(format!("--policy: {e}")))?;
                (
                    Some(policy),
                    Some(hex::encode(sha2::Sha256::digest(text.as_bytes()))),
                )
            }
            None => (None, None),
        };
        let vsa = match (self.vsa, self.vsa_key) {
            (Some(out), Some(key)) => {
                if !key.is_file() {
                    return Err(usage(format!("--vsa-key {} is not a file", key.display())));
                }
                let policy_uri = match self.policy.as_deref() {
                    Some(p) => format!(
                        "file://{}",
                        std::fs::canonicalize(p)
                            .unwrap_or_else(|_| p.to_path_buf())
                            .display()
                    ),
                    None => kiln_verifier::vsa::EXPECTATIONS_POLICY_URI.to_owned(),
                };
                Some(VsaConfig {
                    out,
                    key,
                    policy_uri,
                })
            }
            _ => None,
        };
        let rego = self
            .rego
            .as_deref()
            .map(kiln_policy::RegoRules::from_file)
            .transpose()
            .map_err(|e| usage(format!("--rego: {e}")))?;
        let refresh = if self.refresh_collateral {
            let (kds_url, pcs_url, pcs_is_default) =
                super::collateral::service_urls(None, self.pcs_url)?;
            let cache = match (self.collateral_cache, &state) {
                (Some(c), _) => c,
                (None, Some(s)) => s.join("collateral"),
                (None, None) => {
                    return Err(usage(
                        "--refresh-collateral: no state folder for the collateral cache; pass \
                         --collateral-cache DIR"
                            .into(),
                    ))
                }
            };
            Some(RefreshConfig {
                sources: crate::collateral::Sources::online(kds_url, pcs_url, pcs_is_default),
                cache,
            })
        } else {
            None
        };
        Ok(VerifyConfig {
            refresh,
            out_dir: self.out_dir,
            allow_simulated,
            any_measurement: if self.accept_any_measurement {
                kiln_verifier::build_output::AnyMeasurement::Accept
            } else {
                kiln_verifier::build_output::AnyMeasurement::Refuse
            },
            builder_from,
            measurement,
            measurements,
            source,
            commit,
            builder,
            nonce,
            debug: if self.allow_debug {
                kiln_verifier::build_output::DebugEvidence::Allow
            } else {
                kiln_verifier::build_output::DebugEvidence::Refuse
            },
            at,
            policy,
            rego,
            json: self.json,
            vsa,
            policy_sha256,
        })
    }
}

/// Resolves a policy's `measurement_from` that names a guest-image folder or recipe
/// (`.toml`): the image is built (cached in the state folder) and its simulated VM
/// measurement predicted, standing for the platform's primary register. Other paths are left
/// to the policy loader (reference JSON files).
fn image_reference(
    path: &std::path::Path,
    platform: kiln_verifier::Platform,
) -> Option<Result<kiln_policy::ReferenceValues, String>> {
    let is_recipe = path.extension().is_some_and(|e| e == "toml");
    if !path.is_dir() && !is_recipe {
        return None;
    }
    let state = default_state_dir().ok();
    Some(
        crate::guest_image::load_reference(path, state.as_deref())
            .map_err(|e| crate::error::chain(&e))
            .map(|r| {
                let primary = platform.primary_measurement();
                let mut measurements = std::collections::BTreeMap::new();
                if let Some(m) = r.primary {
                    measurements.insert(primary.to_owned(), kiln_verifier::Hex(m));
                }
                for (name, value) in r.others {
                    measurements.insert(name, kiln_verifier::Hex(value));
                }
                kiln_policy::ReferenceValues {
                    platform,
                    image: Some(path.display().to_string()),
                    measurements,
                }
            }),
    )
}

/// `kiln verify-vsa`.
#[derive(Debug, Args)]
pub struct VerifyVsaArgs {
    /// The VSA (a Sigstore bundle written by `kiln verify --vsa`).
    pub file: PathBuf,
    /// The verifier's public key (PEM; KEY.pub.pem of `kiln image keygen`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The SHA-256 (hex) of the artifact you hold: the VSA must be about it.
    #[arg(long, value_name = "SHA256")]
    pub expect_resource: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}
