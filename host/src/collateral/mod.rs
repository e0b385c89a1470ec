//! Vendor collateral for hardware evidence, fetched on the host (the verifier library does no
//! I/O): [`kds`] says what AMD's Key Distribution Service holds for an SEV-SNP report, [`http`]
//! fetches it (waiting out rate limits), [`cache`] keeps it on disk. [`fetch_snp`] puts them
//! together: the VCEK of a report and the ASK/ARK chain that certifies it, from the cache
//! when there, otherwise from the KDS, each answer checked for shape before it is cached.
//!
//! Every request made is listed in the result ([`Fetched::requests`]), so a caller can say
//! what a verification cost with a cold and a warm cache.

pub mod cache;
pub mod http;
pub mod kds;

use std::fmt;

use kiln_provenance::SnpProduct;
use kiln_verifier::snp::SigningKey;

use cache::{Cache, ItemMeta};
use http::{Http, HttpError};
use kds::{chain_path, KdsRequestError, VcekRequest};

/// Where collateral comes from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The KDS base URL (no trailing slash needed).
    pub kds_url: String,
    /// Only the cache: no request leaves the machine.
    pub offline: Offline,
}

/// Whether requests may leave the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    /// Fetch what the cache lacks.
    No,
    /// Use the cache alone; a missing item is an error.
    Yes,
}

/// One request made, for the caller's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The URL.
    pub url: String,
    /// The final status.
    pub status: u16,
}

/// What [`fetch_snp`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The VCEK, DER.
    pub vek_der: Vec<u8>,
    /// The ASK and ARK, PEM.
    pub chain_pem: Vec<u8>,
    /// The product the report was taken for.
    pub product: SnpProduct,
    /// Requests made (none when the cache had everything).
    pub requests: Vec<Request>,
    /// Items taken from the cache.
    pub cache_hits: Vec<String>,
}

/// Why collateral could not be had.
#[derive(Debug)]
pub enum CollateralError {
    /// No request can be made for this evidence.
    Request(KdsRequestError),
    /// The request failed.
    Http(HttpError),
    /// The service answered with an error status.
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// What it means here.
        meaning: String,
    },
    /// The service answered 200 with something that is not the item.
    Malformed {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// `--offline` and the cache lacks the item.
    NotCached {
        /// The item's key.
        key: String,
        /// The URL it would come from.
        url: String,
    },
    /// The cache folder cannot be read or written.
    Cache {
        /// The folder.
        dir: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl fmt::Display for CollateralError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request(e) => write!(f, "{e}"),
            Self::Http(e) => write!(f, "{e}"),
            Self::Status {
                url,
                status,
                meaning,
            } => write!(f, "GET {url}: HTTP {status}: {meaning}"),
            Self::Malformed { url, reason } => write!(f, "GET {url}: {reason}"),
            Self::NotCached { key, url } => write!(
                f,
                "--offline: the cache has no {key} (it would come from {url})"
            ),
            Self::Cache { dir, .. } => write!(f, "cannot use the cache {}", dir.display()),
        }
    }
}

impl std::error::Error for CollateralError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Request and Http print their whole message themselves.
        match self {
            Self::Cache { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a status means for a KDS item.
fn kds_status_meaning(status: u16, what: &str) -> String {
    match status {
        404 => format!("the KDS has no {what} (an unknown chip, product or TCB)"),
        400 => format!("the KDS refused the request for the {what} as malformed"),
        s if s >= 500 => format!("the KDS failed (server error) serving the {what}"),
        _ => format!("unexpected answer for the {what}"),
    }
}

/// An item from the cache, or fetched, checked with `check` and cached.
#[allow(clippy::too_many_arguments)]
fn item(
    cache: &Cache,
    http: &Http,
    sources: &Sources,
    key: &str,
    url: &str,
    what: &str,
    check: fn(&[u8]) -> Result<(), String>,
    out: &mut Fetched,
) -> Result<Vec<u8>, CollateralError> {
    let cache_err = |source| CollateralError::Cache {
        dir: cache.dir().to_path_buf(),
        source,
    };
    let lock = cache.lock(key);
    let _held = lock.hold();
    if let Some(hit) = cache.get(key).map_err(cache_err)? {
        if check(&hit.body).is_ok() {
            out.cache_hits.push(key.to_owned());
            return Ok(hit.body);
        }
    }
    if sources.offline == Offline::Yes {
        return Err(CollateralError::NotCached {
            key: key.to_owned(),
            url: url.to_owned(),
        });
    }
    let resp = http.get(url).map_err(CollateralError::Http)?;
    out.requests.push(Request {
        url: url.to_owned(),
        status: resp.status,
    });
    if resp.status != 200 {
        return Err(CollateralError::Status {
            url: url.to_owned(),
            status: resp.status,
            meaning: kds_status_meaning(resp.status, what),
        });
    }
    check(&resp.body).map_err(|reason| CollateralError::Malformed {
        url: url.to_owned(),
        reason: format!("the {what} is not usable: {reason}"),
    })?;
    let meta = ItemMeta {
        url: url.to_owned(),
        fetched_at: now_unix(),
        next_update: None,
    };
    cache.put(key, &resp.body, &meta).map_err(cache_err)?;
    Ok(resp.body)
}

/// A DER certificate that parses.
fn check_vcek(der: &[u8]) -> Result<(), String> {
    kiln_verifier::pki::cert::Cert::from_der(der)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A PEM bundle of exactly two certificates that parse (the ASK or ASVK, then the ARK).
fn check_chain(pem: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not PEM text".to_owned())?;
    let certs = kiln_verifier::pki::pem::parse_pem_certificates(text, "the KDS chain")
        .map_err(|e| e.to_string())?;
    if certs.len() == 2 {
        Ok(())
    } else {
        Err(format!("{} certificates, not 2 (ASK, ARK)", certs.len()))
    }
}

/// The VCEK of the SEV-SNP `report` and its ASK/ARK chain, through `cache`. `product` is
/// needed for a version 2 report.
pub fn fetch_snp(
    report: &[u8],
    product: Option<SnpProduct>,
    sources: &Sources,
    cache: &Cache,
    http: &Http,
) -> Result<Fetched, CollateralError> {
    let req = VcekRequest::from_report(report, product).map_err(CollateralError::Request)?;
    let base = sources.kds_url.trim_end_matches('/');
    let mut out = Fetched {
        vek_der: Vec::new(),
        chain_pem: Vec::new(),
        product: req.product,
        requests: Vec::new(),
        cache_hits: Vec::new(),
    };
    let vcek_url = format!("{base}{}", req.path());
    out.vek_der = item(
        cache,
        http,
        sources,
        &format!("kds/{}", req.cache_key()),
        &vcek_url,
        &format!(
            "VCEK of hwID {} at REPORTED_TCB {:#018x}",
            short(&req.hwid),
            req.tcb.raw
        ),
        check_vcek,
        &mut out,
    )?;
    let chain_url = format!("{base}{}", chain_path(req.product, SigningKey::Vcek));
    out.chain_pem = item(
        cache,
        http,
        sources,
        &format!("kds/cert_chain/vcek/{}", req.product.name()),
        &chain_url,
        &format!("{} ASK/ARK chain", req.product.name()),
        check_chain,
        &mut out,
    )?;
    Ok(out)
}

fn short(hex: &str) -> String {
    match hex.get(..16) {
        Some(head) if hex.len() > 16 => format!("{head}…"),
        _ => hex.to_owned(),
    }
}
