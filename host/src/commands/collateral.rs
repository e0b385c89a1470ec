//! `kiln collateral fetch`: the collateral of one piece of evidence, through the cache, written
//! to a fresh folder (complete or not at all).

use std::path::Path;

use std::io::Write as _;

use crate::cli::collateral::EvidenceKind;
use crate::cli::collateral::{CollateralFetchConfig, CollateralServeSimConfig};
use crate::collateral::cache::Cache;
use crate::collateral::http::{Http, Patience};
use crate::collateral::{fetch_snp, fetch_tdx, AmdCrl, Fetched, Sources};
use crate::error::HostError;

/// Writes `files` into `out` through a temporary sibling folder renamed into place; `out` must
/// not exist or be empty.
fn write_folder(out: &Path, files: &[(&str, &[u8])]) -> Result<(), HostError> {
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map_err(HostError::io(out, "read"))?
            .next()
            .is_none();
        if !empty {
            return Err(HostError::OutputExists {
                path: out.to_path_buf(),
            });
        }
        std::fs::remove_dir(out).map_err(HostError::io(out, "replace"))?;
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(HostError::io(&parent, "create"))?;
    let tmp = tempfile::Builder::new()
        .prefix(".kiln-collateral-")
        .tempdir_in(&parent)
        .map_err(HostError::io(&parent, "create a folder in"))?;
    for (name, bytes) in files {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).map_err(HostError::io(&p, "write"))?;
    }
    let staged = tmp.keep();
    std::fs::rename(&staged, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        HostError::io(out, "move the collateral into")(e)
    })
}

fn summary(cfg: &CollateralFetchConfig, f: &Fetched) -> serde_json::Value {
    serde_json::json!({
        "platform": f.platform,
        "for": f.subject,
        "out": cfg.out.display().to_string(),
        "files": f.files.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "requests": f.requests.iter().map(|r| serde_json::json!({"url": r.url, "status": r.status})).collect::<Vec<_>>(),
        "cacheHits": f.cache_hits,
        "stale": f.stale.iter().map(|(k, since)| serde_json::json!({"item": k, "pastNextUpdateSince": since})).collect::<Vec<_>>(),
        "cache": cfg.cache.display().to_string(),
        "amdCrl": match (f.platform, cfg.amd_crl) {
            ("sev-snp", AmdCrl::Fetch) => "fetched",
            ("sev-snp", AmdCrl::Skip) => "skipped",
            _ => "not applicable",
        },
    })
}

/// Runs `kiln collateral fetch`; returns what to print.
pub fn run_fetch(cfg: &CollateralFetchConfig) -> Result<String, HostError> {
    let evidence = std::fs::read(&cfg.evidence).map_err(HostError::io(&cfg.evidence, "read"))?;
    let sources = Sources {
        kds_url: cfg.kds_url.clone(),
        pcs_url: cfg.pcs_url.clone(),
        pcs_is_default: cfg.pcs_is_default,
        offline: cfg.offline,
        max_staleness: cfg.max_staleness,
        amd_crl: cfg.amd_crl,
    };
    let cache = Cache::new(&cfg.cache);
    let http = Http::new(Patience::default());
    let kind = match cfg.kind {
        Some(k) => k,
        None => match kiln_verifier::detect_platform(&evidence) {
            Ok(kiln_verifier::Platform::SevSnp) => EvidenceKind::SevSnp,
            Ok(kiln_verifier::Platform::Tdx) => EvidenceKind::Tdx,
            Ok(other) => {
                return Err(HostError::Usage {
                    message: format!(
                        "{}: {} evidence needs no fetched collateral (its chain is inside it)",
                        cfg.evidence.display(),
                        other.as_str()
                    ),
                })
            }
            Err(e) => {
                return Err(HostError::Usage {
                    message: format!("{}: {e}", cfg.evidence.display()),
                })
            }
        },
    };
    let fetched = match kind {
        EvidenceKind::SevSnp => fetch_snp(&evidence, cfg.product, &sources, &cache, &http),
        EvidenceKind::Tdx => fetch_tdx(&evidence, &sources, &cache, &http),
    }
    .map_err(HostError::Collateral)?;
    let files: Vec<(&str, &[u8])> = fetched
        .files
        .iter()
        .map(|(n, b)| (*n, b.as_slice()))
        .collect();
    write_folder(&cfg.out, &files)?;
    if cfg.json {
        let text = serde_json::to_string_pretty(&summary(cfg, &fetched)).unwrap_or_default();
        return Ok(format!("{text}\n"));
    }
    let mut out = String::new();
    for r in &fetched.requests {
        out.push_str(&format!("fetched  {} (HTTP {})\n", r.url, r.status));
    }
    for k in &fetched.cache_hits {
        out.push_str(&format!("cached   {k}\n"));
    }
    for (k, since) in &fetched.stale {
        out.push_str(&format!(
            "STALE    {k}: past its nextUpdate since Unix time {since} (accepted by \
             --max-staleness); the verifier judges it at the time you verify\n"
        ));
    }
    if fetched.platform == "sev-snp" && cfg.amd_crl == AmdCrl::Skip {
        out.push_str(
            "WARNING  AMD's CRL NOT fetched (--no-crl): revocation of the ASK will not be \
             checked by whoever verifies with this collateral\n",
        );
    }
    let n = fetched.requests.len();
    let names: Vec<String> = fetched
        .files
        .iter()
        .map(|(name, _)| cfg.out.join(name).display().to_string())
        .collect();
    out.push_str(&format!(
        "{n} request{}, {} from the cache ({}); wrote {} ({} {})\n",
        if n == 1 { "" } else { "s" },
        fetched.cache_hits.len(),
        cfg.cache.display(),
        names.join(" and "),
        fetched.platform,
        fetched.subject
    ));
    Ok(out)
}

/// Runs `kiln collateral serve-sim`: prints the base URL, then serves until the process ends.
pub fn run_serve_sim(cfg: &CollateralServeSimConfig) -> Result<(), HostError> {
    let dir = cfg.state_dir.join("sim-chip");
    let chip = kiln_tee::chip::SimChip::open(&dir).map_err(|e| HostError::Usage {
        message: format!(
            "cannot open the simulated chip in {}: {}",
            dir.display(),
            crate::error::chain(&e)
        ),
    })?;
    let listener = std::net::TcpListener::bind(cfg.listen)
        .map_err(HostError::io(cfg.listen.to_string(), "listen on"))?;
    let addr = listener
        .local_addr()
        .map_err(HostError::io(cfg.listen.to_string(), "listen on"))?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "http://{addr}");
        let _ = writeln!(
            out,
            "SIMULATED KDS and PCS of the chip in {}: not AMD's, not Intel's",
            dir.display()
        );
        let _ = out.flush();
    }
    crate::collateral::sim_service::SimService::new(chip).serve(listener);
    Ok(())
}
