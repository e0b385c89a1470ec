//! Command-line flags, parsed into a validated configuration before any work begins.

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;
use clap::{Parser, Subcommand};
use kiln_policy::{self as policy, Policy, RegoRules};
use kiln_tee::simulate::SimulateRequest;
use kiln_verifier::snp::SnpProduct;
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
arrives with the evidence is never trusted. With --policy, the verified claims are then \
checked against a policy file (and Rego rules) and a report lists every check.\n\nExit codes: \
0 verified (and accepted by the policy), 1 rejected (evidence or signature), 2 usage or I/O \
error (including a malformed policy or rule file), 3 rejected by the policy."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verify one piece of evidence and print its claims.
    Evidence(EvidenceArgs),
    /// Write one piece of SIMULATED evidence and everything a third-party verifier needs
    /// (evidence.bin, root.der, and chain.pem + vek.der for SEV-SNP or collateral.json for
    /// TDX) into a folder. The evidence is signed by a simulated vendor PKI whose root says
    /// SIMULATED: it proves nothing about hardware.
    Simulate(SimulateArgs),
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
    /// Which platform produced it: auto (told from the bytes), sev-snp, tdx or nitro.
    #[arg(long, value_name = "PLATFORM", value_parser = platform_or_auto, default_value = "auto")]
    platform: PlatformOrAuto,
    /// SEV-SNP: the VCEK or VLEK certificate (DER, PEM, or a PEM bundle with the VEK first).
    #[arg(long, value_name = "FILE")]
    vek: Option<PathBuf>,
    /// SEV-SNP: extra intermediates (ASK/ASVK) in DER or PEM; roots in it are ignored.
    #[arg(long, value_name = "FILE")]
    chain: Option<PathBuf>,
    /// TDX: collateral in QuoteCollateralV3 JSON. Without it the TCB status is unknown.
    #[arg(long, value_name = "FILE")]
    collateral: Option<PathBuf>,
    /// SEV-SNP: AMD's CRL of the product (DER or PEM; `crl.der` of `kiln collateral
    /// fetch`), issued by the ARK; a CRL issued by the ASK/ASVK may follow it. Without it,
    /// revocation is not checked.
    #[arg(long, value_name = "FILE")]
    crl: Option<PathBuf>,
    /// Verify as of this time (RFC 3339, e.g. 2025-09-01T00:00:00Z) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Accept evidence that chains to this SIMULATED root (DER, e.g. `root.der` written by
    /// `kiln-verify simulate`). The output then says SIMULATED. Without it, simulated
    /// evidence is rejected.
    #[arg(long, value_name = "ROOT.der")]
    allow_simulated: Option<PathBuf>,
    /// Check the verified claims against this policy file (TOML reference values, see the
    /// kiln_policy documentation) and print the verification report. Exit code 3
    /// when the policy rejects the evidence.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Rego rules (package `kiln`) evaluated with the claims as `input` and the policy's
    /// reference values as `data`; `allow` decides, `deny` explains. Needs --policy.
    #[arg(long, value_name = "FILE", requires = "policy")]
    rego: Option<PathBuf>,
    /// Print the claims as JSON (on success) or the error as JSON (on rejection); with
    /// --policy, the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct SimulateArgs {
    /// The platform to imitate: sev-snp, tdx or nitro.
    #[arg(long, value_name = "PLATFORM", value_parser = parse_platform)]
    platform: Platform,
    /// The 64 bytes to bind (SEV-SNP/TDX REPORT_DATA, Nitro user_data), hex; shorter values
    /// are zero-padded on the right.
    #[arg(long, value_name = "HEX")]
    report_data: String,
    /// The simulated chip's seed (32 bytes hex); the same seed gives the same PKI.
    #[arg(long, value_name = "HEX")]
    seed: Option<String>,
    /// SEV-SNP: the product: milan, genoa or turin.
    #[arg(long, value_name = "PRODUCT", value_parser = parse_product, default_value = "milan")]
    product: SnpProduct,
    /// The report (SEV-SNP: 3 or 5) or quote (TDX: 4 or 5) version; default 5 / 4.
    #[arg(long)]
    format_version: Option<u8>,
    /// The evidence time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// The folder to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// `evidence --platform`: one platform, or `None` for auto (told from the bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PlatformOrAuto(Option<Platform>);

fn platform_or_auto(name: &str) -> Result<PlatformOrAuto, String> {
    if name == "auto" {
        return Ok(PlatformOrAuto(None));
    }
    parse_platform(name).map(|p| PlatformOrAuto(Some(p)))
}

fn parse_platform(name: &str) -> Result<Platform, String> {
    Platform::parse(name).ok_or_else(|| format!("{name:?} is not one of sev-snp, tdx, nitro"))
}

fn parse_product(name: &str) -> Result<SnpProduct, String> {
    SnpProduct::parse(name).ok_or_else(|| format!("{name:?} is not one of milan, genoa, turin"))
}

/// A validated configuration.
#[derive(Debug)]
pub enum Config {
    /// Verify evidence.
    Verify(Box<VerifyConfig>),
    /// Write simulated evidence.
    Simulate(Box<SimulateRequest>, PathBuf),
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
    crl: Option<Vec<u8>>,
    at: UnixTime,
    at_is_now: bool,
    simulated_root: Option<Vec<u8>>,
    policy: Option<Policy>,
    rules: Option<RegoRules>,
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
        Command::Simulate(a) => simulate_config(a),
        Command::Evidence(a) => {
            let (at, at_is_now) = match &a.at {
                Some(text) => (
                    UnixTime::parse_rfc3339(text).map_err(|e| usage_error(&e.to_string()))?,
                    false,
                ),
                None => (now()?, true),
            };
            let evidence = decode_evidence(read(&a.file, "evidence")?);
            Ok(Config::Verify(Box::new(VerifyConfig {
                platform: a.platform.0,
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
                crl: a.crl.as_ref().map(|p| read(p, "CRL")).transpose()?,
                at,
                at_is_now,
                simulated_root: a
                    .allow_simulated
                    .as_ref()
                    .map(|p| read(p, "simulated root"))
                    .transpose()?,
                policy: a
                    .policy
                    .as_deref()
                    .map(Policy::from_toml_file)
                    .transpose()
                    .map_err(|e| usage_error(&e.to_string()))?,
                rules: a
                    .rego
                    .as_deref()
                    .map(RegoRules::from_file)
                    .transpose()
                    .map_err(|e| usage_error(&e.to_string()))?,
                json: a.json,
            })))
        }
    }
}

/// The one read of the clock.
fn now() -> Result<UnixTime, ExitCode> {
    UnixTime::from_system_time(std::time::SystemTime::now()).map_err(|e| usage_error(&e))
}

/// Runs a validated configuration.
pub fn run(config: Config) -> ExitCode {
    match config {
        Config::Roots { json } => {
            render::roots(&TrustAnchors::vendor(), json);
            ExitCode::from(EXIT_VERIFIED)
        }
        Config::Simulate(request, out) => {
            match kiln_tee::simulate::write_evidence_folder(&out, &request) {
                Ok(paths) => {
                    out!(
                        "SIMULATED {} evidence written (NOT proof of real hardware):",
                        request.platform
                    );
                    for p in paths {
                        out!("  {}", p.display());
                    }
                    ExitCode::from(EXIT_VERIFIED)
                }
                Err(e) => usage_error(&format!("cannot simulate: {e}")),
            }
        }
        Config::Verify(c) => {
            let mut anchors = TrustAnchors::vendor();
            if let Some(root) = &c.simulated_root {
                if let Err(e) = allow_simulated_root(&mut anchors, root, c.platform) {
                    return usage_error(&e);
                }
            }
            let verifier = Verifier::new(anchors);
            let evidence = Evidence {
                platform: c.platform,
                bytes: &c.evidence,
                vek: c.vek.as_deref(),
                chain: c.chain.as_deref(),
                collateral: c.collateral.as_deref(),
                crl: c.crl.as_deref(),
            };
            match verifier.verify(&evidence, c.at) {
                Ok(v) => match &c.policy {
                    Some(policy) => {
                        let report = policy::evaluate((&v).into(), policy, c.rules.as_ref(), c.at);
                        render::report(&report, c.json);
                        // 0 accepted, 3 rejected by the policy.
                        report.exit_code().into()
                    }
                    None => {
                        render::verified(&v, c.json, c.at_is_now);
                        ExitCode::from(EXIT_VERIFIED)
                    }
                },
                Err(e) => {
                    render::rejected(&e, c.at, c.json);
                    ExitCode::from(EXIT_REJECTED)
                }
            }
        }
    }
}

/// Adds a simulated root for every platform (or the one given), refusing a root whose
/// subject does not say SIMULATED: this flag must never pin a real-looking root.
fn allow_simulated_root(
    anchors: &mut TrustAnchors,
    der: &[u8],
    platform: Option<Platform>,
) -> Result<(), String> {
    let cert =
        kiln_verifier::pki::Cert::from_der(der).map_err(|e| format!("--allow-simulated: {e}"))?;
    if !TrustAnchors::names_simulated(cert.subject()) {
        return Err(format!(
            "--allow-simulated: {:?} is not a simulated root (its subject does not say SIMULATED)",
            cert.subject()
        ));
    }
    let platforms = match platform {
        Some(p) => vec![p],
        None => vec![Platform::SevSnp, Platform::Tdx, Platform::Nitro],
    };
    for p in platforms {
        anchors
            .allow_simulated(p, "simulated root (--allow-simulated)", der)
            .map_err(|e| format!("--allow-simulated: {e}"))?;
    }
    Ok(())
}

fn parse_hex_array<const N: usize>(text: &str, what: &str, pad: bool) -> Result<[u8; N], ExitCode> {
    let bytes =
        hex::decode(text.trim()).map_err(|e| usage_error(&format!("{what} is not hex: {e}")))?;
    if bytes.len() > N || (!pad && bytes.len() != N) {
        return Err(usage_error(&format!(
            "{what} must be {} {N} bytes, got {}",
            if pad { "at most" } else { "exactly" },
            bytes.len()
        )));
    }
    let mut out = [0u8; N];
    out.get_mut(..bytes.len())
        .ok_or_else(|| usage_error(&format!("{what}: too long")))?
        .copy_from_slice(&bytes);
    Ok(out)
}

fn simulate_config(a: SimulateArgs) -> Result<Config, ExitCode> {
    use kiln_tee::evidence::snp::SnpReportVersion;
    use kiln_tee::evidence::tdx::TdxQuoteVersion;
    let platform = a.platform;
    let report_data = parse_hex_array::<64>(&a.report_data, "--report-data", true)?;
    let at = match &a.at {
        Some(text) => UnixTime::parse_rfc3339(text).map_err(|e| usage_error(&e.to_string()))?,
        None => now()?,
    };
    let millis = u64::try_from(at.as_secs())
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .ok_or_else(|| usage_error("--at must be after 1970"))?;
    let mut request = SimulateRequest::new(platform, report_data, millis);
    if let Some(seed) = &a.seed {
        request.seed = parse_hex_array::<32>(seed, "--seed", false)?;
    }
    request.snp_product = a.product;
    match (platform, a.format_version) {
        (_, None) => {}
        (kiln_tee::Platform::SevSnp, Some(3)) => request.snp_version = SnpReportVersion::V3,
        (kiln_tee::Platform::SevSnp, Some(5)) => request.snp_version = SnpReportVersion::V5,
        (kiln_tee::Platform::Tdx, Some(4)) => request.tdx_version = TdxQuoteVersion::V4,
        (kiln_tee::Platform::Tdx, Some(5)) => request.tdx_version = TdxQuoteVersion::V5,
        (p, Some(v)) => {
            return Err(usage_error(&format!(
                "--format-version {v} is not simulated for {p} (SEV-SNP: 3 or 5; TDX: 4 or 5; Nitro: none)"
            )))
        }
    }
    Ok(Config::Simulate(Box::new(request), a.out))
}
