//! Command-line flags, parsed into a validated configuration before any work begins.

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;
use clap::{Parser, Subcommand, ValueEnum};
use kiln_verifier::{Evidence, Platform, TrustAnchors, UnixTime, Verifier};

use crate::render;

/// Exit code: evidence verified.
pub const EXIT_VERIFIED: u8 = 0;
/// Exit code: evidence rejected.
pub const EXIT_REJECTED: u8 = 1;
/// Exit code: usage or I/O error.
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "kiln-verify",
    version,
    about = "Verify AMD SEV-SNP, Intel TDX and AWS Nitro Enclaves evidence offline against pinned vendor roots",
    long_about = "Verify AMD SEV-SNP reports, Intel TDX quotes and AWS Nitro Enclaves attestation \
documents offline. Certificates and collateral are checked at one explicit time (the current \
time unless --at is given) against vendor roots pinned by the SHA-256 of their DER; a root that \
arrives with the evidence is never trusted.\n\nExit codes: 0 verified, 1 rejected, 2 usage or I/O error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verify one piece of evidence and print its claims.
    Evidence(EvidenceArgs),
    /// List the pinned vendor roots and their SHA-256 digests.
    Roots {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
struct EvidenceArgs {
    /// The evidence file: SEV-SNP report (1184 bytes), TDX quote, or Nitro COSE_Sign1 document
    /// (raw bytes, or base64 / hex text).
    file: PathBuf,
    /// Which platform produced it; `auto` tells from the bytes.
    #[arg(long, value_enum, default_value_t = PlatformArg::Auto)]
    platform: PlatformArg,
    /// SEV-SNP: the VCEK or VLEK certificate (DER, PEM, or a PEM bundle with the VEK first).
    #[arg(long, value_name = "FILE")]
    vek: Option<PathBuf>,
    /// SEV-SNP: extra intermediates (ASK/ASVK) in DER or PEM; roots in it are ignored.
    #[arg(long, value_name = "FILE")]
    chain: Option<PathBuf>,
    /// TDX: collateral in QuoteCollateralV3 JSON. Without it the TCB status is unknown.
    #[arg(long, value_name = "FILE")]
    collateral: Option<PathBuf>,
    /// Verify as of this time (RFC 3339, e.g. 2025-09-01T00:00:00Z) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Print the claims as JSON (on success) or the error as JSON (on rejection).
    #[arg(long)]
    json: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PlatformArg {
    Auto,
    #[value(name = "sev-snp")]
    SevSnp,
    Tdx,
    Nitro,
}

/// A validated configuration.
#[derive(Debug)]
pub enum Config {
    /// Verify evidence.
    Verify(VerifyConfig),
    /// List roots.
    Roots {
        /// JSON output.
        json: bool,
    },
}

/// Everything `evidence` needs, read and validated.
#[derive(Debug)]
pub struct VerifyConfig {
    platform: Option<Platform>,
    evidence: Vec<u8>,
    vek: Option<Vec<u8>>,
    chain: Option<Vec<u8>>,
    collateral: Option<Vec<u8>>,
    at: UnixTime,
    at_is_now: bool,
    json: bool,
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("kiln-verify: error: {msg}");
    ExitCode::from(EXIT_USAGE)
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path)
        .map_err(|e| usage_error(&format!("cannot read {what} {}: {e}", path.display())))
}

/// Evidence files are raw bytes, or (as often published) base64 or hex text.
fn decode_evidence(raw: Vec<u8>) -> Vec<u8> {
    if kiln_verifier::detect_platform(&raw).is_ok() {
        return raw;
    }
    let Ok(text) = std::str::from_utf8(&raw) else {
        return raw;
    };
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return raw;
    }
    if compact.len() % 2 == 0 && compact.chars().all(|c| c.is_ascii_hexdigit()) {
        if let Ok(bytes) = hex::decode(&compact) {
            return bytes;
        }
    }
    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&compact) {
        return bytes;
    }
    raw
}

/// Parses flags and reads inputs; on failure prints the error and returns the exit code.
pub fn parse() -> Result<Config, ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return Err(ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 }));
        }
    };
    match cli.command {
        Command::Roots { json } => Ok(Config::Roots { json }),
        Command::Evidence(a) => {
            let (at, at_is_now) = match &a.at {
                Some(text) => (
                    UnixTime::parse_rfc3339(text).map_err(|e| usage_error(&e.to_string()))?,
                    false,
                ),
                None => (now()?, true),
            };
            let evidence = decode_evidence(read(&a.file, "evidence")?);
            Ok(Config::Verify(VerifyConfig {
                platform: match a.platform {
                    PlatformArg::Auto => None,
                    PlatformArg::SevSnp => Some(Platform::SevSnp),
                    PlatformArg::Tdx => Some(Platform::Tdx),
                    PlatformArg::Nitro => Some(Platform::Nitro),
                },
                evidence,
                vek: a
                    .vek
                    .as_ref()
                    .map(|p| read(p, "VEK certificate"))
                    .transpose()?,
                chain: a.chain.as_ref().map(|p| read(p, "chain")).transpose()?,
                collateral: a
                    .collateral
                    .as_ref()
                    .map(|p| read(p, "collateral"))
                    .transpose()?,
                at,
                at_is_now,
                json: a.json,
            }))
        }
    }
}

/// The one read of the clock.
fn now() -> Result<UnixTime, ExitCode> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| usage_error(&format!("system clock before 1970: {e}")))?
        .as_secs();
    i64::try_from(secs)
        .map(UnixTime::from_secs)
        .map_err(|_| usage_error("system clock out of range"))
}

/// Runs a validated configuration.
pub fn run(config: Config) -> ExitCode {
    match config {
        Config::Roots { json } => {
            render::roots(&TrustAnchors::vendor(), json);
            ExitCode::from(EXIT_VERIFIED)
        }
        Config::Verify(c) => {
            let verifier = Verifier::new(TrustAnchors::vendor());
            let evidence = Evidence {
                platform: c.platform,
                bytes: &c.evidence,
                vek: c.vek.as_deref(),
                chain: c.chain.as_deref(),
                collateral: c.collateral.as_deref(),
            };
            match verifier.verify(&evidence, c.at) {
                Ok(v) => {
                    render::verified(&v, c.json, c.at_is_now);
                    ExitCode::from(EXIT_VERIFIED)
                }
                Err(e) => {
                    render::rejected(&e, c.at, c.json);
                    ExitCode::from(EXIT_REJECTED)
                }
            }
        }
    }
}
