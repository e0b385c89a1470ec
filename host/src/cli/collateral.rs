//! `kiln collateral ...`: flags and their validation into [`CollateralFetchConfig`].

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kiln_provenance::SnpProduct;

use super::{default_state_dir, usage};
use crate::collateral::kds::{DEFAULT_KDS_URL, KDS_URL_ENV};
use crate::collateral::pcs::{DEFAULT_PCS_URL, PCS_URL_ENV};
use crate::collateral::{AmdCrl, Offline};
use crate::error::HostError;

/// Exit codes of `kiln collateral`.
pub const COLLATERAL_EXIT_CODES: &str = "\
Exit codes:
  0  the collateral was written to --out
  1  the service could not provide it (HTTP error, rate limit, malformed answer, not cached with --offline)
  2  usage or I/O error (bad flags, unreadable evidence, evidence no request can be made for)";

/// `kiln collateral`.
#[derive(Debug, Subcommand)]
pub enum CollateralCommand {
    /// Fetch the vendor collateral that verifies hardware evidence offline, through a cache:
    /// for an SEV-SNP report, its VCEK and the ASK/ARK chain from AMD's KDS, written as
    /// vek.der and chain.pem (what `kiln-verify evidence --vek --chain` reads); for a TDX
    /// quote, the TCB info of its FMSPC, the QE identity and the CRLs from Intel's PCS (or a
    /// PCCS), written as collateral.json (`--collateral`). Prints each request made, or that
    /// the cache had everything.
    #[command(after_help = COLLATERAL_EXIT_CODES)]
    Fetch(CollateralFetchArgs),
    /// Serve SIMULATED KDS and PCS answers from the simulated chip of a state folder (its
    /// VCEKs and ASK/ARK chains; its TDX TCB info, QE identity and CRLs), on the paths and with
    /// the headers of AMD's and Intel's services, until interrupted. The first line printed is
    /// the base URL to pass as --kds-url and --pcs-url. Everything it serves chains to the
    /// chip's simulated roots, which verify only with --allow-simulated.
    ServeSim(CollateralServeSimArgs),
}

/// `kiln collateral serve-sim`.
#[derive(Debug, Args)]
pub struct CollateralServeSimArgs {
    /// The address to listen on (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// kiln's state folder, whose simulated chip answers (see `kiln build --help`).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// A validated `kiln collateral serve-sim`.
#[derive(Debug, Clone)]
pub struct CollateralServeSimConfig {
    /// The address.
    pub listen: std::net::SocketAddr,
    /// The state folder.
    pub state_dir: PathBuf,
}

impl CollateralServeSimArgs {
    /// Validates the flags.
    pub fn validate(self) -> Result<CollateralServeSimConfig, HostError> {
        let listen = self.listen.parse().map_err(|e| {
            usage(format!(
                "--listen {:?} is not an address and port: {e}",
                self.listen
            ))
        })?;
        Ok(CollateralServeSimConfig {
            listen,
            state_dir: match self.state_dir {
                Some(d) => d,
                None => default_state_dir()?,
            },
        })
    }
}

/// `kiln collateral fetch`.
#[derive(Debug, Args)]
pub struct CollateralFetchArgs {
    /// The evidence: a raw SEV-SNP attestation report (1184 bytes) or a TDX quote.
    pub evidence: PathBuf,
    /// What the evidence is: auto (detected from the bytes), sev-snp or tdx.
    #[arg(long, default_value = "auto")]
    pub platform: String,
    /// The folder to write the collateral into (created; refused when it holds files).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// SEV-SNP: the EPYC generation (milan, genoa, turin), needed for a version 2 report,
    /// which does not name its CPU.
    #[arg(long)]
    pub product: Option<String>,
    /// The KDS base URL (default: $KILN_KDS_URL, else <https://kdsintf.amd.com>).
    #[arg(long, value_name = "URL")]
    pub kds_url: Option<String>,
    /// The PCS or PCCS base URL (default: $KILN_PCS_URL, else
    /// <https://api.trustedservices.intel.com>). With one given, the root CA CRL comes from it
    /// too, as a PCCS serves it; otherwise from the CRL distribution point of Intel's root.
    #[arg(long, value_name = "URL")]
    pub pcs_url: Option<String>,
    /// The collateral cache (default: collateral/ in the state folder).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Use the cache alone: no request leaves the machine.
    #[arg(long)]
    pub offline: bool,
    /// Accept a cached item up to this long past its nextUpdate (90m, 12h, 7d) when no fresh
    /// one can be had (offline, or the service failed); it is reported as stale. Default:
    /// never.
    #[arg(long, value_name = "DURATION")]
    pub max_staleness: Option<String>,
    /// SEV-SNP: do not fetch AMD's CRL of the product (`crl.der`). Revocation of the ASK then
    /// goes unchecked by whoever verifies with this collateral.
    #[arg(long)]
    pub no_crl: bool,
    /// Print what was fetched as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What the evidence is, when the caller says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceKind {
    /// An SEV-SNP report.
    SevSnp,
    /// A TDX quote.
    Tdx,
}

/// A validated `kiln collateral fetch`.
#[derive(Debug, Clone)]
pub struct CollateralFetchConfig {
    /// The evidence file.
    pub evidence: PathBuf,
    /// What it is (`None`: detect from the bytes).
    pub kind: Option<EvidenceKind>,
    /// The output folder.
    pub out: PathBuf,
    /// The product, when given.
    pub product: Option<SnpProduct>,
    /// The KDS base URL.
    pub kds_url: String,
    /// The PCS base URL.
    pub pcs_url: String,
    /// Whether it is Intel's public PCS (no flag, no environment variable).
    pub pcs_is_default: bool,
    /// The cache folder.
    pub cache: PathBuf,
    /// Whether requests may leave the machine.
    pub offline: Offline,
    /// `--max-staleness`, seconds.
    pub max_staleness: Option<u64>,
    /// Whether AMD's CRL is fetched.
    pub amd_crl: AmdCrl,
    /// JSON output.
    pub json: bool,
}

fn check_url(flag: &str, url: &str) -> Result<String, HostError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c == '?' || c == '#');
    if ok {
        Ok(url.trim_end_matches('/').to_owned())
    } else {
        Err(usage(format!(
            "{flag} {url:?} is not an http(s) base URL (no query, no fragment)"
        )))
    }
}

/// The KDS and PCS base URLs from flags, else the environment, else the vendors'; and whether
/// the PCS is Intel's public one (neither flag nor variable).
pub(crate) fn service_urls(
    kds_url: Option<String>,
    pcs_url: Option<String>,
) -> Result<(String, String, bool), HostError> {
    let kds_url = match kds_url {
        Some(u) => check_url("--kds-url", &u)?,
        None => match std::env::var(KDS_URL_ENV) {
            Ok(u) if !u.is_empty() => check_url(KDS_URL_ENV, &u)?,
            _ => DEFAULT_KDS_URL.to_owned(),
        },
    };
    let (pcs_url, pcs_is_default) = match pcs_url {
        Some(u) => (check_url("--pcs-url", &u)?, false),
        None => match std::env::var(PCS_URL_ENV) {
            Ok(u) if !u.is_empty() => (check_url(PCS_URL_ENV, &u)?, false),
            _ => (DEFAULT_PCS_URL.to_owned(), true),
        },
    };
    Ok((kds_url, pcs_url, pcs_is_default))
}

impl CollateralFetchArgs {
    /// Validates the flags.
    pub fn validate(self) -> Result<CollateralFetchConfig, HostError> {
        let kind = match self.platform.as_str() {
            "auto" => None,
            "sev-snp" => Some(EvidenceKind::SevSnp),
            "tdx" => Some(EvidenceKind::Tdx),
            other => {
                return Err(usage(format!(
                    "--platform {other:?} is not auto, sev-snp or tdx"
                )))
            }
        };
        let product =
            match self.product.as_deref() {
                None => None,
                Some(p) => Some(SnpProduct::parse(p).ok_or_else(|| {
                    usage(format!("--product {p:?} is not milan, genoa or turin"))
                })?),
            };
        let (kds_url, pcs_url, pcs_is_default) = service_urls(self.kds_url, self.pcs_url)?;
        let cache = match self.cache {
            Some(c) => c,
            None => default_state_dir()?.join("collateral"),
        };
        Ok(CollateralFetchConfig {
            evidence: self.evidence,
            kind,
            pcs_url,
            pcs_is_default,
            out: self.out,
            product,
            kds_url,
            cache,
            offline: if self.offline {
                Offline::Yes
            } else {
                Offline::No
            },
            max_staleness: match self.max_staleness.as_deref() {
                None => None,
                Some(t) => Some(
                    kiln_provenance::recipe::parse_duration(t)
                        .map_err(|e| usage(format!("--max-staleness: {e}")))?,
                ),
            },
            amd_crl: if self.no_crl {
                AmdCrl::Skip
            } else {
                AmdCrl::Fetch
            },
            json: self.json,
        })
    }
}
