//! `kiln build`'s collateral step: after the guest has signed, the vendor collateral its
//! evidence needs to verify offline anywhere is fetched (through the collateral cache) and
//! added to `OUT/evidence/` beside what the guest signed. It is not signed by the guest and
//! need not be: each file proves itself against the pinned vendor roots (see
//! `kiln_provenance::media::VENDOR_COLLATERAL_FILES`), and a file the guest did sign is never
//! replaced. What cannot be fetched is named, loudly; the build itself stands.

use std::path::Path;

use kiln_provenance::media::{CHAIN_NAME, COLLATERAL_NAME, CRL_NAME, EVIDENCE_NAME, VEK_NAME};
use kiln_provenance::SnpProduct;
use kiln_verifier::snp::Report;
use kiln_verifier::Platform;

use crate::collateral::cache::Cache;
use crate::collateral::http::{Http, Patience};
use crate::collateral::kds::VcekRequest;
use crate::collateral::{
    fetch_tdx, snp_chain, snp_crl, snp_vcek, AmdCrl, CollateralFetch, Fetched,
};
use crate::error::HostError;

/// What the step did.
#[derive(Debug, Clone, Default)]
pub struct BuildCollateral {
    /// Files added to `evidence/`.
    pub added: Vec<&'static str>,
    /// Requests made.
    pub requests: Vec<String>,
    /// Items taken from the cache.
    pub cache_hits: usize,
    /// What could not be had, and why.
    pub missing: Vec<(String, String)>,
}

impl BuildCollateral {
    /// Writes `bytes` as `evidence_dir/name` and records it as added.
    fn write(
        &mut self,
        evidence_dir: &Path,
        name: &'static str,
        bytes: &[u8],
    ) -> Result<(), HostError> {
        let path = evidence_dir.join(name);
        std::fs::write(&path, bytes).map_err(HostError::io(&path, "write"))?;
        self.added.push(name);
        Ok(())
    }

    fn take(&mut self, f: Fetched) {
        self.requests.extend(
            f.requests
                .into_iter()
                .map(|r| format!("{} (HTTP {})", r.url, r.status)),
        );
        self.cache_hits += f.cache_hits.len();
    }

    /// The summary's `collateral` object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "added": self.added,
            "requests": self.requests,
            "cacheHits": self.cache_hits,
            "missing": self.missing.iter().map(|(what, why)| serde_json::json!({"item": what, "reason": why})).collect::<Vec<_>>(),
        })
    }
}

/// Adds the collateral of the evidence in `evidence_dir` (a staged output's) for `platform`.
/// Blocking: it runs after the guest has gone, when nothing else is waiting.
pub fn add(
    evidence_dir: &Path,
    platform: Platform,
    fetch: &CollateralFetch,
) -> Result<BuildCollateral, HostError> {
    let mut done = BuildCollateral::default();
    let cache = Cache::new(&fetch.cache);
    let http = Http::new(Patience::default());
    let evidence_path = evidence_dir.join(EVIDENCE_NAME);
    let evidence = std::fs::read(&evidence_path).map_err(HostError::io(&evidence_path, "read"))?;
    match platform {
        Platform::Nitro => {}
        Platform::Tdx => {
            if !evidence_dir.join(COLLATERAL_NAME).exists() {
                match fetch_tdx(&evidence, &fetch.sources, &cache, &http) {
                    Ok(mut f) => {
                        let files = std::mem::take(&mut f.files);
                        done.take(f);
                        for (name, bytes) in files {
                            done.write(evidence_dir, name, &bytes)?;
                        }
                    }
                    Err(e) => done
                        .missing
                        .push(("TDX collateral (collateral.json)".into(), e.to_string())),
                }
            }
        }
        Platform::SevSnp => snp(evidence_dir, &evidence, fetch, &cache, &http, &mut done)?,
    }
    Ok(done)
}

/// SEV-SNP: the VCEK when the guest had none (a VLEK or a masked chip cannot be fetched), the
/// chain of the VEK's kind, and AMD's CRL of the product.
fn snp(
    evidence_dir: &Path,
    report: &[u8],
    fetch: &CollateralFetch,
    cache: &Cache,
    http: &Http,
    done: &mut BuildCollateral,
) -> Result<(), HostError> {
    let has = |name: &str| evidence_dir.join(name).exists();
    let parsed = match Report::parse(report) {
        Ok(r) => r,
        Err(e) => {
            done.missing.push((
                "SEV-SNP collateral".into(),
                format!("the report does not parse: {e}"),
            ));
            return Ok(());
        }
    };
    let key = parsed.key_info.signing_key;
    let vek = std::fs::read(evidence_dir.join(VEK_NAME)).ok();
    let product = parsed
        .cpuid
        .and_then(|c| SnpProduct::from_cpuid(c.family, c.model))
        .or_else(|| {
            vek.as_deref()
                .and_then(|v| kiln_verifier::snp::identify_vek(v).ok())
                .map(|(_, product)| product)
        });
    let mut f = Fetched::new("sev-snp", String::new());
    if vek.is_none() {
        match VcekRequest::from_report(report, product)
            .map_err(crate::collateral::CollateralError::Request)
            .and_then(|req| snp_vcek(&req, &fetch.sources, cache, http, &mut f))
        {
            Ok(bytes) => done.write(evidence_dir, VEK_NAME, &bytes)?,
            Err(e) => done
                .missing
                .push(("the VCEK (vek.der)".into(), e.to_string())),
        }
    }
    let Some(product) = product else {
        done.missing.push((
            "the chain and CRL".into(),
            "the product is unknown: a version 2 report without a VEK".into(),
        ));
        done.take(f);
        return Ok(());
    };
    if !has(CHAIN_NAME) {
        match snp_chain(product, key, &fetch.sources, cache, http, &mut f) {
            Ok(bytes) => done.write(evidence_dir, CHAIN_NAME, &bytes)?,
            Err(e) => done
                .missing
                .push(("the chain (chain.pem)".into(), e.to_string())),
        }
    }
    if !has(CRL_NAME) && fetch.sources.amd_crl == AmdCrl::Fetch {
        match snp_crl(product, &fetch.sources, cache, http, &mut f) {
            Ok(bytes) => done.write(evidence_dir, CRL_NAME, &bytes)?,
            Err(e) => done.missing.push((
                "AMD's CRL (crl.der): revocation goes unchecked".into(),
                e.to_string(),
            )),
        }
    }
    done.take(f);
    Ok(())
}
