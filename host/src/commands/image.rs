//! `kiln image build` and `kiln image measure`, over validated configurations
//! ([`crate::cli::image`]) and the guest-image jobs of [`crate::guest_image`].

use std::collections::BTreeMap;

use kiln_image::image::{sha256_file, ImagePaths};
use kiln_provenance::reference::{write_document, ReferencePlatform};
use kiln_tee::{process_measurement, Platform};
use sha2::{Digest, Sha256};

use crate::cli::image::{ImageTarget, MeasureSubject};
use crate::cli::{ImageBuildConfig, ImageMeasureConfig, SIM_BUILDER_ID};
use crate::error::HostError;
use crate::guest_image::{
    build_into, default_image, image_err, image_of, measure, recipe_in_force,
};
use crate::launch::sim::{launch_params, SimLauncher};
use crate::launch::SandboxChoice;

/// `kiln image build`: prints each file's SHA-256, then the folder.
pub fn run_build(cfg: &ImageBuildConfig) -> Result<String, HostError> {
    let r = recipe_in_force(cfg.recipe.as_deref()).map_err(HostError::Image)?;
    let dir = match &cfg.target {
        ImageTarget::Folder(out) => {
            build_into(&r.recipe, &cfg.toolchain, out, cfg.eif).map_err(HostError::Image)?;
            out.clone()
        }
        ImageTarget::Cache {
            state_dir,
            toolchain,
        } => {
            image_of(&r, toolchain, state_dir)
                .map_err(HostError::Image)?
                .0
        }
    };
    let p = ImagePaths::in_dir(&dir);
    let mut out = String::new();
    for f in p.files() {
        if f.is_file() {
            let (size, d) = sha256_file(f)
                .map_err(image_err("hash the image"))
                .map_err(HostError::Image)?;
            out.push_str(&format!(
                "{}  {:>10}  {}\n",
                hex::encode(d),
                size,
                f.display()
            ));
        }
    }
    out.push_str(&format!("image {}\n", dir.display()));
    Ok(out)
}

/// `kiln image measure`: the measurement lines (hex last on each), or the reference JSON.
pub fn run_measure(cfg: &ImageMeasureConfig) -> Result<String, HostError> {
    let (platform, doc) = match &cfg.subject {
        MeasureSubject::SimProcess {
            platform,
            builder_id,
        } => {
            let doc = process_reference(*platform, builder_id.clone())?;
            // The sim process reference is always the whole document.
            return Ok(format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            ));
        }
        MeasureSubject::Image { image, options } => {
            let dir = match image {
                ImageTarget::Folder(dir) => dir.clone(),
                ImageTarget::Cache {
                    state_dir,
                    toolchain,
                } => {
                    default_image(state_dir, toolchain)
                        .map_err(HostError::Image)?
                        .0
                }
            };
            let doc = measure(&dir, options).map_err(HostError::Image)?;
            (options.platform, doc)
        }
    };
    if cfg.json {
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
    }
    let mut out = String::new();
    if let Some(map) = doc.get("measurements").and_then(|m| m.as_object()) {
        for (name, value) in map {
            out.push_str(&format!(
                "{} {name} {}\n",
                platform.as_str(),
                value.as_str().unwrap_or_default()
            ));
        }
    }
    Ok(out)
}

/// The reference document (`kiln-image-reference/v1`) of a `kiln build --backend sim` launch
/// on `platform` with the full sandbox: every register the simulated TEE will report, the
/// enclave binary's digest, and the sim builder id.
pub fn process_reference(
    platform: Platform,
    builder_id: Option<String>,
) -> Result<serde_json::Value, HostError> {
    let launcher = SimLauncher::from_env().map_err(HostError::Launch)?;
    let binary =
        std::fs::read(launcher.enclave()).map_err(HostError::io(launcher.enclave(), "read"))?;
    let params = launch_params(platform, SandboxChoice::Full, None);
    let m = process_measurement(platform, &binary, &params);
    let measurements: BTreeMap<String, String> = m
        .named()
        .into_iter()
        .map(|(name, reg)| (name, hex::encode(reg)))
        .collect();
    let builder_id = builder_id.unwrap_or_else(|| SIM_BUILDER_ID.to_owned());
    Ok(write_document(
        ReferencePlatform::Tee(platform),
        &builder_id,
        &measurements,
        serde_json::json!({
            "backend": "sim",
            "enclave": {
                "path": launcher.enclave().display().to_string(),
                "sha256": hex::encode(Sha256::digest(&binary)),
            },
            "parameters": String::from_utf8_lossy(&params),
        }),
        // The enclave binary is the image of a sim launch: `kiln image sign` makes it the
        // subject of the signed reference.
        Some(serde_json::json!({
            "dir": launcher.enclave().display().to_string(),
            "files": {"kiln-enclave": hex::encode(Sha256::digest(&binary))},
        })),
    ))
}
