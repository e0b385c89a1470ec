//! Where images live: the default image of the recipe in force, built on first use into
//! `<state>/images/<key>/` (a temporary sibling renamed into place when complete), the recipe's
//! packages fetched into the cache first.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_image::debian::fetch::FetchSources;
use kiln_image::image::{build_image, sha256_file, BuildOptions, ImagePaths};
use kiln_image::inputs::{prepare, Inputs, Toolchain};
use kiln_image::recipe::{default_cache_dir, Recipe, RecipeInForce, RecipeOrigin, RECIPE_ENV};
use sha2::{Digest, Sha256};

use super::{find_static_enclave, image_err, io_err, GuestImageError};

/// The cache key of an image: recipe text, toolchain name and enclave binary.
pub fn cache_key(
    recipe_text: &str,
    toolchain: &str,
    enclave: &Path,
) -> Result<String, GuestImageError> {
    let (_, enclave_digest) = sha256_file(enclave).map_err(image_err("hash the enclave"))?;
    let mut h = Sha256::new();
    h.update(b"kiln-image-cache/v2\0");
    h.update(recipe_text.as_bytes());
    h.update(b"\0");
    h.update(toolchain.as_bytes());
    h.update(b"\0");
    h.update(enclave_digest);
    let key: String = hex::encode(h.finalize()).chars().take(32).collect();
    Ok(format!("{toolchain}-{key}"))
}

/// The recipe in force: `recipe` if given, else `$KILN_IMAGE_RECIPE`, else the built-in one
/// (announced on stderr when it is not the built-in one).
pub fn recipe_in_force(recipe: Option<&Path>) -> Result<RecipeInForce, GuestImageError> {
    let r = RecipeInForce::resolve(recipe).map_err(image_err("read the image recipe"))?;
    announce_recipe(&r);
    Ok(r)
}

/// Builds an image of `recipe` with its toolchain `toolchain` into `out` (a fresh build: any
/// files there are replaced), fetching the packages first if the cache lacks them.
pub fn build_into(
    recipe: &Recipe,
    toolchain: &str,
    out: &Path,
    eif: bool,
) -> Result<ImagePaths, GuestImageError> {
    let init = find_static_enclave()?;
    let cache = default_cache_dir();
    // An unknown name fails here, naming the recipe's toolchains, before any download.
    recipe
        .toolchain(toolchain)
        .map_err(image_err("choose the toolchain"))?;
    ensure_inputs(recipe, &cache, Toolchain::One(toolchain.to_owned()))?;
    let opts = BuildOptions {
        cache,
        init,
        eif,
        toolchain: Some(toolchain.to_owned()),
    };
    let (paths, _) = build_image(recipe, &opts, out)
        .map_err(image_err(format!("build the image into {}", out.display())))?;
    Ok(paths)
}

/// The image of toolchain `toolchain` of the recipe in force (with its EIF), built on first
/// use into `<state>/images/<toolchain>-<key>/`. Returns the folder and whether it was built
/// now.
pub fn default_image(
    state_dir: &Path,
    toolchain: &str,
) -> Result<(PathBuf, bool), GuestImageError> {
    let r = recipe_in_force(None)?;
    image_of(&r, toolchain, state_dir)
}

/// The image of `r` with toolchain `toolchain` (with its EIF), built on first use into
/// `<state>/images/<toolchain>-<key>/`.
pub fn image_of(
    r: &RecipeInForce,
    toolchain: &str,
    state_dir: &Path,
) -> Result<(PathBuf, bool), GuestImageError> {
    let enclave = find_static_enclave()?;
    let key = cache_key(&r.text, toolchain, &enclave)?;
    let root = state_dir.join("images");
    let dir = root.join(&key);
    if ImagePaths::in_dir(&dir).manifest.is_file() {
        return Ok((dir, false));
    }
    fs::create_dir_all(&root).map_err(io_err(format!("create {}", root.display())))?;
    let tmp = root.join(format!(
        ".{key}.partial-{}",
        crate::random_hex(6).map_err(io_err("read /dev/urandom"))?
    ));
    let built = build_into(&r.recipe, toolchain, &tmp, true);
    if let Err(e) = built {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&tmp, &dir) {
        let _ = fs::remove_dir_all(&tmp);
        // Another kiln finished the same image first: use it.
        if !ImagePaths::in_dir(&dir).manifest.is_file() {
            return Err(io_err(format!("move the image into {}", dir.display()))(e));
        }
    }
    Ok((dir, true))
}

/// Checks that `dir` holds what a QEMU launch needs.
pub fn image_paths(dir: &Path) -> Result<ImagePaths, GuestImageError> {
    let p = ImagePaths::in_dir(dir);
    for f in [&p.kernel, &p.initrd, &p.cmdline] {
        if !f.is_file() {
            return Err(GuestImageError::NotAnImage {
                dir: dir.to_path_buf(),
                missing: f.clone(),
            });
        }
    }
    Ok(p)
}

/// Checks that the image in `dir` carries toolchain `wants` (its `image.json` says which).
pub fn check_image_toolchain(dir: &Path, wants: &str) -> Result<(), GuestImageError> {
    let p = image_paths(dir)?;
    if !p.manifest.is_file() {
        return Err(GuestImageError::NotAnImage {
            dir: dir.to_path_buf(),
            missing: p.manifest,
        });
    }
    let text = fs::read_to_string(&p.manifest)
        .map_err(io_err(format!("read {}", p.manifest.display())))?;
    let manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        GuestImageError::Usage(format!("{} is not valid JSON: {e}", p.manifest.display()))
    })?;
    let has = manifest
        .get("toolchain")
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    if has.as_deref() == Some(wants) {
        return Ok(());
    }
    Err(GuestImageError::WrongToolchain {
        dir: dir.to_path_buf(),
        has,
        wants: wants.to_owned(),
    })
}

/// Says on stderr that a recipe other than the built-in one is in force, and which.
pub fn announce_recipe(r: &RecipeInForce) {
    if let RecipeOrigin::File(p) = &r.origin {
        let via = if std::env::var_os(RECIPE_ENV).is_some_and(|v| !v.is_empty()) {
            format!(" (from {RECIPE_ENV})")
        } else {
            String::new()
        };
        stderr_line(&format!(
            "kiln: image recipe {}{via}, not the one built into kiln",
            p.display()
        ));
    }
}

/// Fetches and unpacks what `recipe` needs into `cache`, reporting downloads on stderr.
pub fn ensure_inputs(
    recipe: &Recipe,
    cache: &Path,
    toolchain: Toolchain,
) -> Result<Inputs, GuestImageError> {
    let sources = FetchSources::new(true, true);
    prepare(recipe, cache, &sources, toolchain, &mut |line| {
        stderr_line(&format!("kiln: {line}"))
    })
    .map_err(|source| GuestImageError::Image {
        what: "fetch the image recipe's packages".into(),
        source,
    })
}

fn stderr_line(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
