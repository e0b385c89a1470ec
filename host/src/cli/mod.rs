//! The command line: flags parsed with clap, then validated into a configuration before
//! anything runs ([`build::BuildConfig`], [`verify::VerifyConfig`], [`image`]'s and
//! [`policy::PolicyInitConfig`]); the commands ([`crate::commands`]) take only configurations.
//! Exit codes: 0 success, 1 the build or verification failed, 2 usage or I/O error, 3 (verify)
//! rejected by the policy.

pub mod build;
pub mod collateral;
pub mod image;
pub mod policy;
pub mod verify;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use kiln_verifier::UnixTime;
use sha2::Digest;

use crate::error::HostError;

pub use build::{BuildArgs, BuildConfig};
pub use image::{
    ImageBuildArgs, ImageBuildConfig, ImageCommand, ImageFetchArgs, ImageFetchConfig,
    ImageLockArgs, ImageMeasureArgs, ImageMeasureConfig,
};
pub use policy::{PolicyCommand, PolicyInitArgs, PolicyInitConfig};
pub use verify::{VerifyArgs, VerifyConfig, VerifyVsaArgs};

/// `kiln sbom`.
#[derive(Debug, clap::Args)]
pub struct SbomArgs {
    /// Which SBOM: spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.6 JSON).
    #[arg(long, value_name = "spdx|cyclonedx", default_value = "spdx")]
    pub format: String,
    /// How to verify the output first (the flags of `kiln verify`).
    #[command(flatten)]
    pub verify: VerifyArgs,
}

pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the build or the verification failed
  2  usage or I/O error (bad flags, missing recipe, unreadable files, backend not available)";

/// kiln: attested builds in a trusted execution environment.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Build a project (its kiln.toml) inside a TEE and write artifacts, signed SLSA
    /// provenance and the hardware evidence to the output folder.
    #[command(after_help = EXIT_CODES)]
    Build(BuildArgs),
    /// Verify a build output folder: evidence → key binding → signature → artifacts →
    /// expectations → SBOMs; with --vsa, also write a signed verification summary.
    ///
    /// It trusts nothing by default: it needs a measurement reference (--expect-measurement,
    /// --reference, or a --policy that pins the measurement; on TDX hardware MRTD and RTMR0-2)
    /// unless --accept-any-measurement, checks the builder id against the reference (else it
    /// is reported as the host's claim), refuses debug-mode evidence unless --allow-debug, and
    /// trusts simulated evidence only with --allow-simulated and a simulated root you pinned.
    /// The report lists what was pinned and what was not.
    #[command(after_help = EXIT_CODES)]
    Verify(VerifyArgs),
    /// Print a build output's SBOM (SPDX 2.3 or CycloneDX 1.6 JSON), only after the whole
    /// output verifies as `kiln verify` would (it takes the same flags); on failure nothing
    /// is printed on stdout and the broken link goes to stderr.
    #[command(after_help = EXIT_CODES)]
    Sbom(SbomArgs),
    /// Check a Verification Summary Attestation written by `kiln verify --vsa`: the
    /// verifier's signature (with the key you trust), the VSA v1 statement, a PASSED result,
    /// and (--expect-resource) that it is about the artifact you hold.
    #[command(name = "verify-vsa", after_help = EXIT_CODES)]
    VerifyVsa(VerifyVsaArgs),
    /// Write a starter verification policy from a verified build.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Build kiln's guest image or predict its measurements.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Fetch and cache the vendor collateral (certificates, CRLs, TCB data) that hardware
    /// evidence needs to verify offline.
    #[command(subcommand)]
    Collateral(collateral::CollateralCommand),
}

/// The default builder id of the simulator.
pub const SIM_BUILDER_ID: &str = "https://kiln.dev/builders/sim@v1";

pub(crate) fn usage(message: String) -> HostError {
    HostError::Usage { message }
}

/// Validates a hex flag: even length, hex digits; lowercased.
pub fn parse_hex(flag: &str, text: &str, len: Option<usize>) -> Result<String, HostError> {
    let t = text.trim().to_ascii_lowercase();
    let bytes = hex::decode(&t).map_err(|e| usage(format!("{flag} {text:?} is not hex: {e}")))?;
    if bytes.is_empty() {
        return Err(usage(format!("{flag} is empty")));
    }
    if let Some(n) = len {
        if bytes.len() != n {
            return Err(usage(format!(
                "{flag} must be {n} bytes ({} hex digits), got {}",
                n * 2,
                bytes.len()
            )));
        }
    }
    Ok(t)
}

/// The default state folder.
pub fn default_state_dir() -> Result<PathBuf, HostError> {
    if let Some(d) = std::env::var_os("KILN_STATE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("kiln"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/state/kiln")),
        None => Err(usage(
            "no state folder: set --state-dir, KILN_STATE_DIR, XDG_STATE_HOME or HOME".into(),
        )),
    }
}

/// The simulated roots `--allow-simulated` trusts: each `--simulated-root` (a certificate
/// file, DER or PEM, or a SHA-256 in hex), or else the roots of the simulated chip in the
/// state folder. Refused when neither gives one.
pub fn simulated_roots(given: &[String], state: Option<&Path>) -> Result<Vec<[u8; 32]>, HostError> {
    let mut out = Vec::new();
    for g in given {
        let t = g.trim();
        if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) {
            let mut d = [0u8; 32];
            hex::decode_to_slice(t, &mut d)
                .map_err(|e| usage(format!("--simulated-root {g:?}: {e}")))?;
            out.push(d);
            continue;
        }
        let bytes = std::fs::read(t).map_err(|e| {
            usage(format!(
                "--simulated-root {g:?} is neither a SHA-256 (64 hex digits) nor a readable \
                 certificate file: {e}"
            ))
        })?;
        let der = match der::pem::decode_vec(&bytes) {
            Ok(("CERTIFICATE", der)) => der,
            Ok((label, _)) => {
                return Err(usage(format!(
                    "--simulated-root {g:?}: PEM label {label:?} is not CERTIFICATE"
                )))
            }
            Err(_) => bytes,
        };
        out.push(sha2::Sha256::digest(&der).into());
    }
    if !out.is_empty() {
        return Ok(out);
    }
    let Some(state) = state else {
        return Err(usage(
            "--allow-simulated: no state folder to take this machine's simulated root from; \
             pass --simulated-root FILE|SHA256 or --state-dir"
                .into(),
        ));
    };
    match crate::launch::sim::state_simulated_roots(state, None) {
        Ok(Some(roots)) => Ok(roots),
        Ok(None) => Err(usage(format!(
            "--allow-simulated: {} holds no simulated chip, so no simulated root is trusted; \
             pass --simulated-root with the root of the machine that built the output (its \
             file or SHA-256), or --state-dir of that machine's state folder",
            state.join("sim-chip").display()
        ))),
        Err(e) => Err(usage(format!(
            "--allow-simulated: cannot read the simulated chip in {}: {}",
            state.display(),
            crate::error::chain(&e)
        ))),
    }
}

/// The current time (read once per command); a clock before 1970 or out of range is an error,
/// as in `kiln-verify`.
pub fn now() -> Result<UnixTime, HostError> {
    UnixTime::from_system_time(std::time::SystemTime::now()).map_err(usage)
}
