//! Vendor collateral for hardware evidence, fetched on the host (the verifier library does no
//! I/O): [`kds`] says what AMD's Key Distribution Service holds for an SEV-SNP report, [`pcs`]
//! what Intel's PCS holds for a TDX quote, [`http`] fetches it (waiting out rate limits),
//! [`cache`] keeps it on disk. [`fetch_snp`] and [`fetch_tdx`] put them together: each item
//! from the cache when there and not past its `nextUpdate`, otherwise fetched, checked for
//! shape (and for being the item asked for) before it is cached. The verifier checks
//! signatures, chains to the pinned roots, and time.
//!
//! Every request made is listed in the result ([`Fetched::requests`]), so a caller can say
//! what a verification cost with a cold and a warm cache.

pub mod cache;
pub mod http;
pub mod kds;
pub mod pcs;
pub mod sim_service;

use std::fmt;

use kiln_provenance::SnpProduct;
use kiln_verifier::snp::SigningKey;

use cache::{Cache, ItemMeta};
use http::{Http, HttpError};
use kds::{chain_path, crl_path, KdsRequestError, VcekRequest};

/// Where collateral comes from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The KDS base URL (no trailing slash needed).
    pub kds_url: String,
    /// The PCS (or PCCS) base URL.
    pub pcs_url: String,
    /// Whether `pcs_url` is Intel's public PCS (then the root CA CRL comes from the CRL
    /// distribution point of Intel's root; a PCCS serves it itself).
    pub pcs_is_default: bool,
    /// Only the cache: no request leaves the machine.
    pub offline: Offline,
    /// How long past its `nextUpdate` a cached item may still be used when no fresh one can
    /// be had (offline, or the service failed); `None`: never.
    pub max_staleness: Option<u64>,
    /// Whether AMD's CRL is fetched with an SEV-SNP VCEK.
    pub amd_crl: AmdCrl,
}

impl Sources {
    /// The services at these base URLs, online, no stale item accepted, AMD's CRL fetched.
    pub fn online(kds_url: String, pcs_url: String, pcs_is_default: bool) -> Self {
        Self {
            kds_url,
            pcs_url,
            pcs_is_default,
            offline: Offline::No,
            max_staleness: None,
            amd_crl: AmdCrl::Fetch,
        }
    }
}

/// Where a build's collateral comes from (`kiln build --collateral`).
#[derive(Debug, Clone)]
pub struct CollateralFetch {
    /// The services.
    pub sources: Sources,
    /// The cache folder.
    pub cache: std::path::PathBuf,
}

/// Whether [`fetch_snp`] fetches AMD's CRL of the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmdCrl {
    /// Fetch it (`/vcek/v1/{product}/crl`); failing to is an error.
    Fetch,
    /// Leave it out: revocation then goes unchecked.
    Skip,
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

/// What [`fetch_snp`] or [`fetch_tdx`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The platform: `sev-snp` or `tdx`.
    pub platform: &'static str,
    /// The files `kiln-verify evidence` reads, by name.
    pub files: Vec<(&'static str, Vec<u8>)>,
    /// What the collateral is for: the SEV-SNP product, or the TDX FMSPC and CA.
    pub subject: String,
    /// Requests made (none when the cache had everything).
    pub requests: Vec<Request>,
    /// Items taken from the cache.
    pub cache_hits: Vec<String>,
    /// Items used past their `nextUpdate` (within `--max-staleness`): key and since when.
    pub stale: Vec<(String, u64)>,
}

impl Fetched {
    /// Nothing fetched yet, for `platform` (`sev-snp` or `tdx`) and `subject`.
    pub fn new(platform: &'static str, subject: String) -> Self {
        Self {
            platform,
            files: Vec::new(),
            subject,
            requests: Vec::new(),
            cache_hits: Vec::new(),
            stale: Vec::new(),
        }
    }
}

/// The files `kiln-verify evidence` reads (`--vek`, `--chain`, `--collateral`, `--crl`): the
/// same names a build output's `evidence/` gives them.
pub use kiln_provenance::media::{
    CHAIN_NAME as CHAIN_FILE, COLLATERAL_NAME as COLLATERAL_FILE, CRL_NAME as CRL_FILE,
    VEK_NAME as VEK_FILE,
};

/// Why collateral could not be had.
#[derive(Debug)]
pub enum CollateralError {
    /// No request can be made for this evidence.
    Request(KdsRequestError),
    /// No PCS request can be made for this quote.
    Pcs(pcs::PcsError),
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
    /// `--offline` and the cache lacks the item, or holds it past its `nextUpdate`.
    NotCached {
        /// The item's key.
        key: String,
        /// The URL it would come from.
        url: String,
        /// When the cached copy went stale (seconds since the epoch), if there is one.
        stale_since: Option<u64>,
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
            Self::Pcs(e) => write!(f, "{e}"),
            Self::Http(e) => write!(f, "{e}"),
            Self::Status {
                url,
                status,
                meaning,
            } => write!(f, "GET {url}: HTTP {status}: {meaning}"),
            Self::Malformed { url, reason } => write!(f, "GET {url}: {reason}"),
            Self::NotCached {
                key,
                url,
                stale_since: None,
            } => write!(
                f,
                "--offline: the cache has no {key} (it would come from {url})"
            ),
            Self::NotCached {
                key,
                url,
                stale_since: Some(t),
            } => write!(
                f,
                "--offline: the cache's {key} is past its nextUpdate (Unix time {t}); fetch \
                 it again from {url}, or accept it with --max-staleness"
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

/// What a status means for an item of `service`.
fn status_meaning(status: u16, service: &str, what: &str) -> String {
    match status {
        404 => format!("{service} has no {what} (an unknown chip, product, TCB or FMSPC)"),
        400 => format!("{service} refused the request for the {what} as malformed"),
        s if s >= 500 => format!("{service} failed (server error) serving the {what}"),
        _ => format!("unexpected answer from {service} for the {what}"),
    }
}

const KDS: &str = "AMD's KDS";
const PCS: &str = "the PCS";

/// One item: where it is cached, where it comes from, what it is (for messages).
struct ItemSpec {
    key: String,
    url: String,
    what: String,
    service: &'static str,
}

/// Turns an answer into the bytes to cache (checked) and its `nextUpdate`.
type Accept<'a> = &'a dyn Fn(&http::Response) -> Result<(Vec<u8>, Option<u64>), String>;

/// An item from the cache (when whole, `check` accepts it and its `nextUpdate` has not
/// passed), or fetched, accepted and cached.
fn item(
    cache: &Cache,
    http: &Http,
    sources: &Sources,
    spec: &ItemSpec,
    accept: Accept<'_>,
    check: fn(&[u8]) -> Result<(), String>,
    out: &mut Fetched,
) -> Result<Vec<u8>, CollateralError> {
    let cache_err = |source| CollateralError::Cache {
        dir: cache.dir().to_path_buf(),
        source,
    };
    let lock = cache.lock(&spec.key);
    let _held = lock.hold();
    let now = now_unix();
    let mut stale = None;
    if let Some(hit) = cache.get(&spec.key).map_err(cache_err)? {
        if check(&hit.body).is_ok() {
            match hit.meta.next_update {
                Some(next) if next <= now => stale = Some((next, hit.body)),
                _ => {
                    out.cache_hits.push(spec.key.clone());
                    return Ok(hit.body);
                }
            }
        }
    }
    // A stale copy is the fallback when no fresh one can be had, within --max-staleness.
    let usable_stale = |stale: Option<(u64, Vec<u8>)>, out: &mut Fetched| {
        let (since, body) = stale?;
        let limit = sources.max_staleness?;
        (now.saturating_sub(since) <= limit).then(|| {
            out.stale.push((spec.key.clone(), since));
            body
        })
    };
    if sources.offline == Offline::Yes {
        let since = stale.as_ref().map(|(s, _)| *s);
        return usable_stale(stale, out).ok_or_else(|| CollateralError::NotCached {
            key: spec.key.clone(),
            url: spec.url.clone(),
            stale_since: since,
        });
    }
    let fresh = fetch_item(http, spec, accept, out);
    match fresh {
        Ok((body, next_update)) => {
            let meta = ItemMeta {
                url: spec.url.clone(),
                fetched_at: now,
                next_update,
            };
            cache.put(&spec.key, &body, &meta).map_err(cache_err)?;
            Ok(body)
        }
        Err(e) => usable_stale(stale, out).ok_or(e),
    }
}

/// GETs an item and accepts it.
fn fetch_item(
    http: &Http,
    spec: &ItemSpec,
    accept: Accept<'_>,
    out: &mut Fetched,
) -> Result<(Vec<u8>, Option<u64>), CollateralError> {
    let resp = http.get(&spec.url).map_err(CollateralError::Http)?;
    out.requests.push(Request {
        url: spec.url.clone(),
        status: resp.status,
    });
    if resp.status != 200 {
        return Err(CollateralError::Status {
            url: spec.url.clone(),
            status: resp.status,
            meaning: status_meaning(resp.status, spec.service, &spec.what),
        });
    }
    accept(&resp).map_err(|reason| CollateralError::Malformed {
        url: spec.url.clone(),
        reason: format!("the {} is not usable: {reason}", spec.what),
    })
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

/// A CRL (DER or PEM) that parses, as DER, and its `nextUpdate` (seconds since the epoch).
fn parse_crl(bytes: &[u8]) -> Result<(Vec<u8>, Option<u64>), String> {
    let crl = kiln_verifier::pki::crl::Crl::parse(bytes, "CRL").map_err(|e| e.to_string())?;
    let (_, next) = crl.window().map_err(|e| e.to_string())?;
    Ok((crl.der().to_vec(), u64::try_from(next.as_secs()).ok()))
}

/// A PCS CRL answer (DER, PEM or hex) with its issuer chain, as cached, and its `nextUpdate`.
fn crl_answer(
    what: &'static str,
    r: &http::Response,
    issuer_chain: String,
) -> Result<(Vec<u8>, Option<u64>), String> {
    let a = pcs::crl_hex(what, &r.body).map_err(|e| e.to_string())?;
    Ok((
        to_json(&CachedCrl {
            hex: a.hex,
            issuer_chain,
        }),
        a.next_update,
    ))
}

fn check_der_crl(bytes: &[u8]) -> Result<(), String> {
    parse_crl(bytes).map(|_| ())
}

/// Accepts a 200 answer as it is, with no `nextUpdate`.
fn as_is(r: &http::Response) -> Result<(Vec<u8>, Option<u64>), String> {
    Ok((r.body.clone(), None))
}

/// The VCEK of the SEV-SNP `report`, its ASK/ARK chain and (unless `sources` says to skip
/// it) AMD's CRL of the product, through `cache`. `product` is needed for a version 2 report.
pub fn fetch_snp(
    report: &[u8],
    product: Option<SnpProduct>,
    sources: &Sources,
    cache: &Cache,
    http: &Http,
) -> Result<Fetched, CollateralError> {
    let req = VcekRequest::from_report(report, product).map_err(CollateralError::Request)?;
    let mut out = Fetched::new("sev-snp", req.product.name().to_owned());
    let vcek = snp_vcek(&req, sources, cache, http, &mut out)?;
    let chain = snp_chain(
        req.product,
        SigningKey::Vcek,
        sources,
        cache,
        http,
        &mut out,
    )?;
    out.files = vec![(VEK_FILE, vcek), (CHAIN_FILE, chain)];
    if sources.amd_crl == AmdCrl::Fetch {
        let crl = snp_crl(req.product, sources, cache, http, &mut out)?;
        out.files.push((CRL_FILE, crl));
    }
    Ok(out)
}

fn check_then(
    check: fn(&[u8]) -> Result<(), String>,
) -> impl Fn(&http::Response) -> Result<(Vec<u8>, Option<u64>), String> {
    move |r: &http::Response| check(&r.body).and_then(|()| as_is(r))
}

/// The VCEK `req` names, through `cache`.
pub fn snp_vcek(
    req: &VcekRequest,
    sources: &Sources,
    cache: &Cache,
    http: &Http,
    out: &mut Fetched,
) -> Result<Vec<u8>, CollateralError> {
    let base = sources.kds_url.trim_end_matches('/');
    item(
        cache,
        http,
        sources,
        &ItemSpec {
            key: format!("kds/{}", req.cache_key()),
            url: format!("{base}{}", req.path()),
            what: format!(
                "VCEK of hwID {} at REPORTED_TCB {:#018x}",
                short(&req.hwid),
                req.tcb.raw
            ),
            service: KDS,
        },
        &check_then(check_vcek),
        check_vcek,
        out,
    )
}

/// The ASK/ARK (VCEK) or ASVK/ARK (VLEK) chain of `product`, through `cache`.
pub fn snp_chain(
    product: SnpProduct,
    key: SigningKey,
    sources: &Sources,
    cache: &Cache,
    http: &Http,
    out: &mut Fetched,
) -> Result<Vec<u8>, CollateralError> {
    let base = sources.kds_url.trim_end_matches('/');
    let (kind, what) = match key {
        SigningKey::Vcek => ("vcek", "ASK/ARK"),
        SigningKey::Vlek => ("vlek", "ASVK/ARK"),
    };
    item(
        cache,
        http,
        sources,
        &ItemSpec {
            key: format!("kds/cert_chain/{kind}/{}", product.name()),
            url: format!("{base}{}", chain_path(product, key)),
            what: format!("{} {what} chain", product.name()),
            service: KDS,
        },
        &check_then(check_chain),
        check_chain,
        out,
    )
}

/// AMD's CRL of `product` (issued by its ARK), as DER, through `cache`.
pub fn snp_crl(
    product: SnpProduct,
    sources: &Sources,
    cache: &Cache,
    http: &Http,
    out: &mut Fetched,
) -> Result<Vec<u8>, CollateralError> {
    let base = sources.kds_url.trim_end_matches('/');
    item(
        cache,
        http,
        sources,
        &ItemSpec {
            key: format!("kds/crl/{}", product.name()),
            url: format!("{base}{}", crl_path(product)),
            what: format!("{} CRL", product.name()),
            service: KDS,
        },
        &|r| parse_crl(&r.body),
        check_der_crl,
        out,
    )
}

/// A cached signed JSON item: `{"text", "signature", "issuerChain"}`.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedSigned {
    text: String,
    signature: String,
    #[serde(rename = "issuerChain")]
    issuer_chain: String,
}

/// A cached CRL item: `{"hex", "issuerChain"}` (no chain for the root CA CRL).
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedCrl {
    hex: String,
    #[serde(rename = "issuerChain", default)]
    issuer_chain: String,
}

/// A signed JSON answer with the issuer chain of its header, as cached, and its `nextUpdate`.
fn signed_answer(
    s: pcs::SignedJson,
    chain: Result<String, pcs::PcsError>,
) -> Result<(Vec<u8>, Option<u64>), String> {
    let issuer_chain = chain.map_err(|e| e.to_string())?;
    Ok((
        to_json(&CachedSigned {
            text: s.text,
            signature: s.signature,
            issuer_chain,
        }),
        s.next_update,
    ))
}

fn check_signed(b: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<CachedSigned>(b)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn check_crl(b: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<CachedCrl>(b)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// The TDX `quote`'s collateral (TCB info for its FMSPC, QE identity, PCK CRL for its CA, root
/// CA CRL), through `cache`, as QuoteCollateralV3 JSON.
pub fn fetch_tdx(
    quote: &[u8],
    sources: &Sources,
    cache: &Cache,
    http: &Http,
) -> Result<Fetched, CollateralError> {
    use pcs::{PcsRequest, QE_IDENTITY_PATH, ROOT_CA_CRL_PATH, ROOT_CA_CRL_URL};
    let req = PcsRequest::from_quote(quote).map_err(CollateralError::Pcs)?;
    let base = sources.pcs_url.trim_end_matches('/');
    let mut out = Fetched::new(
        "tdx",
        format!("FMSPC {}, PCK {} CA", req.fmspc, req.ca.as_str()),
    );
    let fmspc = req.fmspc.clone();
    let tcb = item(
        cache,
        http,
        sources,
        &ItemSpec {
            key: format!("pcs/tcb/{}", req.fmspc),
            url: format!("{base}{}", req.tcb_path()),
            what: format!("TCB info for FMSPC {}", req.fmspc),
            service: PCS,
        },
        &|r| {
            let s = pcs::signed_json("TCB info", "tcbInfo", &r.body).map_err(|e| e.to_string())?;
            if !s
                .fmspc
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case(&fmspc))
            {
                return Err(format!(
                    "it is for FMSPC {}, not the quote's {fmspc}",
                    s.fmspc.as_deref().unwrap_or("(none)")
                ));
            }
            signed_answer(
                s,
                pcs::issuer_chain(
                    "TCB info",
                    r.header("tcb-info-issuer-chain")
                        .or_else(|| r.header("sgx-tcb-info-issuer-chain")),
                ),
            )
        },
        check_signed,
        &mut out,
    )?;
    let qe = item(
        cache,
        http,
        sources,
        &ItemSpec {
            key: "pcs/qe_identity/tdx".into(),
            url: format!("{base}{QE_IDENTITY_PATH}"),
            what: "TDX QE identity".into(),
            service: PCS,
        },
        &|r| {
            let s = pcs::signed_json("QE identity", "enclaveIdentity", &r.body)
                .map_err(|e| e.to_string())?;
            signed_answer(
                s,
                pcs::issuer_chain("QE identity", r.header("sgx-enclave-identity-issuer-chain")),
            )
        },
        check_signed,
        &mut out,
    )?;
    let pck_crl = item(
        cache,
        http,
        sources,
        &ItemSpec {
            key: format!("pcs/pckcrl/{}", req.ca.as_str()),
            url: format!("{base}{}", req.pck_crl_path()),
            what: format!("PCK {} CA CRL", req.ca.as_str()),
            service: PCS,
        },
        &|r| {
            let chain = pcs::issuer_chain("PCK CRL", r.header("sgx-pck-crl-issuer-chain"))
                .map_err(|e| e.to_string())?;
            crl_answer("PCK CRL", r, chain)
        },
        check_crl,
        &mut out,
    )?;
    let root_url = if sources.pcs_is_default {
        ROOT_CA_CRL_URL.to_owned()
    } else {
        format!("{base}{ROOT_CA_CRL_PATH}")
    };
    let root_crl = item(
        cache,
        http,
        sources,
        &ItemSpec {
            key: "pcs/rootcacrl".into(),
            url: root_url,
            what: "Intel SGX Root CA CRL".into(),
            service: PCS,
        },
        &|r| crl_answer("root CA CRL", r, String::new()),
        check_crl,
        &mut out,
    )?;
    let parse = |b: &[u8]| serde_json::from_slice::<CachedSigned>(b);
    let parse_crl = |b: &[u8]| serde_json::from_slice::<CachedCrl>(b);
    let (Ok(tcb), Ok(qe), Ok(pck_crl), Ok(root_crl)) = (
        parse(&tcb),
        parse(&qe),
        parse_crl(&pck_crl),
        parse_crl(&root_crl),
    ) else {
        // Each was checked just now by the same parse.
        return Err(CollateralError::Cache {
            dir: cache.dir().to_path_buf(),
            source: std::io::Error::other("a cached item changed while in use"),
        });
    };
    let collateral = pcs::TdxCollateral {
        tcb_info: pcs::SignedJson {
            text: tcb.text,
            signature: tcb.signature,
            next_update: None,
            fmspc: None,
        },
        tcb_info_issuer_chain: tcb.issuer_chain,
        qe_identity: pcs::SignedJson {
            text: qe.text,
            signature: qe.signature,
            next_update: None,
            fmspc: None,
        },
        qe_identity_issuer_chain: qe.issuer_chain,
        pck_crl: pck_crl.hex,
        pck_crl_issuer_chain: pck_crl.issuer_chain,
        root_ca_crl: root_crl.hex,
    };
    out.files = vec![(COLLATERAL_FILE, collateral.to_json())];
    Ok(out)
}

fn short(hex: &str) -> String {
    match hex.get(..16) {
        Some(head) if hex.len() > 16 => format!("{head}…"),
        _ => hex.to_owned(),
    }
}
