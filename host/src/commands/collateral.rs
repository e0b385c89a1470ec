//! `kiln collateral fetch`: the collateral of one piece of evidence, through the cache, written
//! to a fresh folder (complete or not at all).

use std::path::Path;

use crate::cli::collateral::CollateralFetchConfig;
use crate::collateral::cache::Cache;
use crate::collateral::http::{Http, Patience};
use crate::collateral::{fetch_snp, Fetched, Sources};
use crate::error::HostError;

/// The file names `kiln-verify evidence --vek` and `--chain` are given.
pub const VEK_FILE: &str = "vek.der";
/// See [`VEK_FILE`].
pub const CHAIN_FILE: &str = "chain.pem";

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
        "platform": "sev-snp",
        "product": f.product.name(),
        "out": cfg.out.display().to_string(),
        "files": [VEK_FILE, CHAIN_FILE],
        "requests": f.requests.iter().map(|r| serde_json::json!({"url": r.url, "status": r.status})).collect::<Vec<_>>(),
        "cacheHits": f.cache_hits,
        "cache": cfg.cache.display().to_string(),
    })
}

/// Runs `kiln collateral fetch`; returns what to print.
pub fn run_fetch(cfg: &CollateralFetchConfig) -> Result<String, HostError> {
    let evidence = std::fs::read(&cfg.evidence).map_err(HostError::io(&cfg.evidence, "read"))?;
    let sources = Sources {
        kds_url: cfg.kds_url.clone(),
        offline: cfg.offline,
    };
    let cache = Cache::new(&cfg.cache);
    let http = Http::new(Patience::default());
    let fetched = fetch_snp(&evidence, cfg.product, &sources, &cache, &http)
        .map_err(HostError::Collateral)?;
    write_folder(
        &cfg.out,
        &[
            (VEK_FILE, fetched.vek_der.as_slice()),
            (CHAIN_FILE, fetched.chain_pem.as_slice()),
        ],
    )?;
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
    let n = fetched.requests.len();
    out.push_str(&format!(
        "{n} request{}, {} from the cache ({}); wrote {}/{VEK_FILE} and {}/{CHAIN_FILE} ({})\n",
        if n == 1 { "" } else { "s" },
        fetched.cache_hits.len(),
        cfg.cache.display(),
        cfg.out.display(),
        cfg.out.display(),
        fetched.product.name()
    ));
    Ok(out)
}
