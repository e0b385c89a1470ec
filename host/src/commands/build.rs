//! `kiln build`: recipe → deterministic source → launch → session → staged output →
//! self-verification → atomic rename.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use kiln_proto::Phase;
use kiln_tee::Measurement;
use kiln_verifier::build_output::{
    load_output_dir, verify, AllowSimulated, BuildRequest, Expectations, Recipe, SourceRef,
    VerifiedBuild, REQUEST_KIND,
};
use kiln_verifier::TrustAnchors;
use serde_json::json;

use crate::cli::BuildConfig;
use crate::error::{HostError, EXIT_OK, EXIT_USAGE};
use crate::launch::{launcher_for, Backend, Guest, LaunchSpec};
use crate::output::{check_out, load_sealed_key, sealed_key_path, store_sealed_key, Staging};
use crate::progress::Progress;
use crate::session::{self, SessionInput, SessionResult};
use crate::source::PackedSource;

/// How long the enclave may take to connect after it is started.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra time over the recipe's time limit for the whole session.
const SESSION_MARGIN_SECS: u64 = 120;
/// How long the enclave may take to exit after its result.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// What a successful build produced.
#[derive(Debug, Clone)]
pub struct CompletedBuild {
    /// The output folder.
    pub out: PathBuf,
    /// The machine-readable summary (`--json`).
    pub json: serde_json::Value,
}

/// The registers of a measurement by claim name.
pub fn measurement_map(m: &Measurement) -> BTreeMap<String, String> {
    m.named()
        .into_iter()
        .map(|(name, reg)| (name, hex::encode(reg)))
        .collect()
}

/// Runs `kiln build`:
///
/// 1. Choose the launcher (and, for QEMU, the guest image); load the recipe; refuse a
///    non-empty output folder unless `--force`.
/// 2. Pack the source deterministically and check the packed recipe (`pack`).
/// 3. Write the build request (`request_for`).
/// 4. Launch the guest and read its measurement from the launcher, never from the guest.
/// 5. Run the session (transfer, build, sign, attest) within the time limit (`session_with`).
/// 6. Write the result into a staging folder and verify it as a consumer would, against this
///    launch's measurement and the state folder's simulated roots (`self_check`).
/// 7. Move the staging folder into place, store the sealed key, and return the summary.
pub async fn run(cfg: &BuildConfig, progress: &mut Progress) -> Result<CompletedBuild, HostError> {
    // 1.
    // The QEMU backend's evidence also comes from the simulated security processor.
    let simulated = matches!(cfg.backend, Backend::Sim | Backend::Qemu);
    if simulated {
        progress.banner(&[
            "SIMULATED TEE: this build is NOT attested by hardware.",
            "Its evidence is signed by a simulated vendor key (kept in the state folder) and",
            "verifies only with `kiln verify --allow-simulated`. Use a hardware backend for releases.",
        ]);
    }
    let launcher = launcher_for(cfg.backend).map_err(HostError::Launch)?;
    let recipe = crate::build_recipe::load(&cfg.dir).map_err(HostError::Recipe)?;
    let image = guest_image_for(cfg, &recipe, progress)?;
    check_out(&cfg.out, cfg.force)?;
    // 2.
    let packed = pack(cfg, progress)?;
    // 3.
    let invocation_id = crate::random_hex(16).map_err(HostError::io("/dev/urandom", "read"))?;
    let request_bytes = request_for(cfg, &packed, &invocation_id).to_bytes();
    let staging = Staging::create(&cfg.out)?;
    let key_path = sealed_key_path(&cfg.state_dir, cfg.backend.as_str(), cfg.platform.as_str());
    let sealed_key = load_sealed_key(&key_path)?;
    // 4.
    progress.phase(
        Phase::Launch,
        &format!(
            "{} backend, {} evidence",
            cfg.backend.as_str(),
            cfg.platform
        ),
    );
    if cfg.platform == kiln_tee::Platform::SevSnp
        && !kiln_tee::sim::SimChip::has_vendor_keys(&cfg.state_dir.join("sim-chip"))
    {
        progress.note(
            "first SEV-SNP use of this simulated chip: its RSA-4096 vendor keys are generated \
             during the attest phase (a few seconds, once; kept in the state folder)",
        );
    }
    let spec = launch_spec(cfg, &recipe, image);
    let mut guest = launcher.launch(&spec).await.map_err(HostError::Launch)?;
    let measurement = guest.measurement;
    if let Some(report) = &guest.launch_report {
        progress.note(report);
    }
    progress.note(&format!(
        "measurement {}",
        measurement_map(&measurement)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    // 5.
    let limit = cfg
        .timeout
        .unwrap_or_else(|| Duration::from_secs(recipe.limits.time_secs + SESSION_MARGIN_SECS));
    let artifacts_dir = staging.artifacts();
    let input = SessionInput {
        request: &request_bytes,
        sealed_key,
        archive: &packed.archive,
        artifacts_dir: &artifacts_dir,
        max_output_bytes: recipe.limits.output_bytes,
    };
    let result = session_with(&mut guest, input, limit, progress).await?;
    drop(guest);
    // 6.
    staging.write_result(&result)?;
    let collateral = match &cfg.collateral {
        Some(fetch) => Some(add_collateral(cfg, staging.path(), fetch, progress)?),
        None => None,
    };
    progress.step("verify", "checking the output with the verifier");
    let verified = self_check(cfg, staging.path(), &packed, &measurement, simulated)?;
    // 7.
    let out = staging.commit()?;
    if let Some(blob) = &result.sealed_key {
        store_sealed_key(&key_path, blob)?;
    }
    let mut json = summary_json(
        cfg,
        &out,
        &verified,
        &packed,
        &measurement,
        &invocation_id,
        progress,
    );
    if let (Some(c), Some(map)) = (&collateral, json.as_object_mut()) {
        map.insert("collateral".into(), c.to_json());
    }
    Ok(CompletedBuild { out, json })
}

/// Step 6, with `--collateral`: the vendor collateral of the staged evidence, added beside it
/// (`build_collateral`); what could not be fetched is said loudly, and the build stands.
fn add_collateral(
    cfg: &BuildConfig,
    staged: &std::path::Path,
    fetch: &crate::collateral::CollateralFetch,
    progress: &mut Progress,
) -> Result<crate::commands::build_collateral::BuildCollateral, HostError> {
    progress.step(
        "collateral",
        &format!(
            "fetching the vendor collateral of the {} evidence",
            cfg.platform
        ),
    );
    let evidence_dir = staged.join(kiln_provenance::layout::EVIDENCE_DIR);
    let done = crate::commands::build_collateral::add(&evidence_dir, cfg.platform, fetch)?;
    for r in &done.requests {
        progress.note(&format!("fetched {r}"));
    }
    if !done.added.is_empty() {
        progress.note(&format!(
            "added {} to evidence/ ({} from the cache {})",
            done.added.join(", "),
            done.cache_hits,
            fetch.cache.display()
        ));
    }
    for (what, why) in &done.missing {
        progress.warn(&format!(
            "COLLATERAL MISSING: {what}: {why}. The output lacks it: a verifier must supply \
             it (`kiln collateral fetch`) or go without"
        ));
    }
    Ok(done)
}

/// Step 1, QEMU only: the image given (which must carry the toolchain the recipe names), or
/// the cached image of that toolchain (built on first use). The sim backend runs the host's
/// tools, and says so.
fn guest_image_for(
    cfg: &BuildConfig,
    recipe: &Recipe,
    progress: &mut Progress,
) -> Result<Option<PathBuf>, HostError> {
    let toolchain = recipe.toolchain_image();
    if cfg.backend != Backend::Qemu {
        progress.note(&format!(
            "the {} backend builds with this machine's tools ({}), not the {toolchain:?} \
             toolchain image a VM guest boots with",
            cfg.backend.as_str(),
            if recipe.toolchain.is_empty() {
                "those on the PATH".to_owned()
            } else {
                recipe
                    .toolchain
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
        return Ok(None);
    }
    if let Some(dir) = &cfg.image {
        crate::guest_image::check_image_toolchain(dir, toolchain).map_err(HostError::Image)?;
        return Ok(Some(dir.clone()));
    }
    let (dir, built) =
        crate::guest_image::default_image(&cfg.state_dir, toolchain).map_err(HostError::Image)?;
    if built {
        progress.note(&format!(
            "built the guest image with toolchain {toolchain:?} in {}",
            dir.display()
        ));
    }
    Ok(Some(dir))
}

/// Step 2: the packed source, its recipe checked against the project folder's.
fn pack(cfg: &BuildConfig, progress: &mut Progress) -> Result<PackedSource, HostError> {
    progress.phase(Phase::Pack, &format!("packing {}", cfg.dir.display()));
    let packed = crate::source::pack(&cfg.dir, Some(&cfg.out)).map_err(HostError::Source)?;
    crate::build_recipe::check_packed(&cfg.dir, &packed).map_err(HostError::Recipe)?;
    if packed.dirty {
        progress
            .warn("the working tree has uncommitted changes; building the committed tree at HEAD");
    }
    progress.note(&format!(
        "{} entries, {} bytes, sha256 {}{}",
        packed.entries,
        packed.size(),
        packed.sha256,
        packed
            .commit
            .as_deref()
            .map(|c| format!(", commit {c}"))
            .unwrap_or_default()
    ));
    Ok(packed)
}

/// Step 3: the build request the guest checks and binds into its evidence.
fn request_for(cfg: &BuildConfig, packed: &PackedSource, invocation_id: &str) -> BuildRequest {
    BuildRequest {
        kind: REQUEST_KIND.to_owned(),
        invocation_id: invocation_id.to_owned(),
        nonce: cfg.nonce.clone(),
        source: SourceRef {
            sha256: packed.sha256.clone(),
            size: packed.size(),
            commit: packed.commit.clone(),
            repository: None,
            source_date_epoch: packed.source_date_epoch,
            git: packed.git.clone(),
        },
        recipe_path: crate::build_recipe::RECIPE_FILE.to_owned(),
        builder_id: cfg.builder_id.clone(),
        backend: cfg.backend.as_str().to_owned(),
        platform: cfg.platform.as_str().to_owned(),
    }
}

/// Step 4: what the launcher needs.
fn launch_spec(cfg: &BuildConfig, recipe: &Recipe, image: Option<PathBuf>) -> LaunchSpec {
    LaunchSpec {
        platform: cfg.platform,
        state_dir: cfg.state_dir.clone(),
        connect_timeout: cfg
            .timeout
            .map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT)),
        image,
        vcpus: cfg.vcpus,
        memory_mib: cfg.memory_mib,
        toolchain_roots: crate::toolchain::roots(
            &recipe
                .toolchain
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>(),
            &cfg.dir,
        ),
        sandbox: cfg.sandbox,
        work_mib: cfg.work_mib,
    }
}

/// Step 5: the session within `limit`; the guest is shut down on every path (its exit is
/// reported when it hung up).
async fn session_with(
    guest: &mut Guest,
    input: SessionInput<'_>,
    limit: Duration,
    progress: &mut Progress,
) -> Result<SessionResult, HostError> {
    let outcome =
        tokio::time::timeout(limit, session::run(&mut *guest.control, input, progress)).await;
    match outcome {
        Ok(Ok(r)) => {
            guest.handle.shutdown(EXIT_GRACE).await;
            Ok(r)
        }
        Ok(Err(e)) => {
            let how = if e.is_disconnect() {
                guest.handle.exit_report(Duration::from_secs(2)).await
            } else {
                None
            };
            guest.handle.shutdown(Duration::ZERO).await;
            Err(HostError::Session {
                source: e,
                guest: how,
            })
        }
        Err(_) => {
            guest.handle.shutdown(Duration::ZERO).await;
            Err(HostError::Timeout {
                secs: limit.as_secs(),
            })
        }
    }
}

/// Step 6: the staged output verified as a consumer would: this launch's registers, the
/// request's builder, source and nonce, and (simulated) this state folder's chip's roots.
fn self_check(
    cfg: &BuildConfig,
    staged: &std::path::Path,
    packed: &PackedSource,
    measurement: &Measurement,
    simulated: bool,
) -> Result<VerifiedBuild, HostError> {
    let output = load_output_dir(staged).map_err(|source| HostError::Verify {
        path: staged.to_path_buf(),
        source,
    })?;
    let primary = cfg.platform.primary_measurement();
    let mut expect = Expectations {
        builder_id: Some(cfg.builder_id.clone()),
        source_sha256: Some(packed.sha256.clone()),
        source_commit: packed.commit.clone(),
        nonce: Some(cfg.nonce.clone()),
        ..Expectations::default()
    };
    for (name, reg) in measurement.named() {
        if name == primary {
            expect.measurement = Some(reg.to_vec());
        } else {
            expect.measurements.insert(name, reg.to_vec());
        }
    }
    // The simulated roots trusted are this state folder's chip's, which the launch used.
    let allow = if simulated {
        match crate::launch::sim::state_simulated_roots(&cfg.state_dir, Some(cfg.platform)) {
            Ok(Some(roots)) => AllowSimulated::PinnedRoots(roots),
            Ok(None) => AllowSimulated::PinnedRoots(Vec::new()),
            Err(e) => return Err(HostError::Launch(crate::launch::LaunchError::Tee(e))),
        }
    } else {
        AllowSimulated::No
    };
    verify(
        &output,
        &expect,
        &TrustAnchors::vendor(),
        &allow,
        crate::cli::now()?,
    )
    .map_err(|source| HostError::Verify {
        path: cfg.out.clone(),
        source,
    })
}

/// Step 7: the machine-readable summary (`--json`).
fn summary_json(
    cfg: &BuildConfig,
    out: &std::path::Path,
    verified: &VerifiedBuild,
    packed: &PackedSource,
    measurement: &Measurement,
    invocation_id: &str,
    progress: &mut Progress,
) -> serde_json::Value {
    let timings: serde_json::Map<String, serde_json::Value> = progress
        .finish()
        .into_iter()
        .map(|(name, d)| (name.to_owned(), json!(d.as_secs_f64())))
        .collect();
    let subjects: Vec<serde_json::Value> = verified
        .statement()
        .subject
        .iter()
        .map(|s| json!({"name": s.name, "digest": s.digest}))
        .collect();
    json!({
        "out": out.display().to_string(),
        "subjects": subjects,
        "measurement": measurement_map(measurement),
        "keyId": verified.key_id(),
        "simulated": verified.is_simulated(),
        "backend": cfg.backend.as_str(),
        "platform": cfg.platform.as_str(),
        "builderId": cfg.builder_id,
        "invocationId": invocation_id,
        "nonce": cfg.nonce,
        "source": {
            "sha256": packed.sha256,
            "size": packed.size(),
            "commit": packed.commit,
            "sourceDateEpoch": packed.source_date_epoch,
        },
        "suppliedCollateral": verified.supplied_collateral(),
        "timings": timings,
        "totalSeconds": progress.elapsed().as_secs_f64(),
    })
}

/// `kiln build`: runs [`run`] on a current-thread runtime with progress on stderr, prints the
/// JSON summary if asked, and returns the exit code.
pub fn execute(cfg: &BuildConfig) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            crate::report_error(&e);
            return EXIT_USAGE;
        }
    };
    let mut progress = Progress::new(false);
    match runtime.block_on(run(cfg, &mut progress)) {
        Ok(done) => {
            progress.note(&format!("done: {}", done.out.display()));
            if cfg.json {
                crate::commands::print_json(&done.json);
            }
            EXIT_OK
        }
        Err(e) => crate::commands::fail(&e),
    }
}
