//! `images/recipe.toml`: the pinned inputs of the builder image.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ImageError;

/// The text of the recipe shipped in the repository (`images/recipe.toml`).
pub const BUILTIN_RECIPE: &str = include_str!("../recipe.toml");

/// A pinned Debian package.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DebPin {
    pub package: String,
    pub version: String,
    /// SHA-256 of the .deb, lowercase hex.
    pub sha256: String,
    #[serde(default)]
    pub suite: Option<String>,
}

/// `[kernel]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelRecipe {
    pub package: String,
    pub version: String,
    pub sha256: String,
    pub suite: String,
    /// `uname -r` of the kernel, e.g. `6.12.43+deb12-cloud-amd64`.
    pub release: String,
    pub cmdline: String,
    /// Module paths relative to `/lib/modules/<release>/`, without `.xz`, in load order.
    pub modules: Vec<String>,
}

/// `[toolchain]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolchainRecipe {
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub symlinks: Vec<(String, String)>,
    #[serde(default)]
    pub busybox_applets: Vec<String>,
    pub deb: Vec<DebPin>,
}

/// The whole recipe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub format: u32,
    pub kernel: KernelRecipe,
    pub toolchain: ToolchainRecipe,
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Recipe {
    /// Parses and checks a recipe.
    pub fn parse(text: &str) -> Result<Self, ImageError> {
        let r: Recipe = toml::from_str(text).map_err(|e| ImageError::Recipe(e.to_string()))?;
        if r.format != 1 {
            return Err(ImageError::Recipe(format!(
                "unsupported format {}",
                r.format
            )));
        }
        if !is_sha256_hex(&r.kernel.sha256) {
            return Err(ImageError::Recipe(
                "kernel.sha256 is not 64 lowercase hex digits".into(),
            ));
        }
        for d in &r.toolchain.deb {
            if !is_sha256_hex(&d.sha256) {
                return Err(ImageError::Recipe(format!(
                    "{}: sha256 is not 64 lowercase hex digits",
                    d.package
                )));
            }
        }
        if r.kernel.cmdline.bytes().any(|b| b == 0 || b == b'\n') {
            return Err(ImageError::Recipe(
                "kernel.cmdline contains NUL or newline".into(),
            ));
        }
        for m in &r.kernel.modules {
            if !m.ends_with(".ko") || m.split('/').any(|c| c.is_empty() || c == "..") {
                return Err(ImageError::Recipe(format!("module path {m:?}")));
            }
        }
        Ok(r)
    }

    /// Reads and parses a recipe file.
    pub fn load(path: &Path) -> Result<Self, ImageError> {
        let text = std::fs::read_to_string(path).map_err(ImageError::io(path, "reading"))?;
        Self::parse(&text)
    }

    /// The recipe shipped in the repository (`images/recipe.toml`), embedded at compile time.
    pub fn builtin() -> Result<Self, ImageError> {
        Self::parse(BUILTIN_RECIPE)
    }

    /// Where `scripts/fetch-kernel` put the kernel for this recipe.
    pub fn kernel_dir(&self, cache: &Path) -> PathBuf {
        cache.join("kernel").join(&self.kernel.release)
    }

    /// The unpacked toolchain tree, read from `<cache>/paths.txt` (written by fetch-kernel; the
    /// directory name is a digest of the `[toolchain]` table that only the script computes).
    pub fn toolchain_root(&self, cache: &Path) -> Result<PathBuf, ImageError> {
        let paths = cache.join("paths.txt");
        let text = std::fs::read_to_string(&paths).map_err(|_| ImageError::MissingInput {
            path: paths.clone(),
            hint: "run scripts/fetch-kernel",
        })?;
        text.lines()
            .find_map(|l| l.strip_prefix("toolchain="))
            .map(PathBuf::from)
            .ok_or(ImageError::MissingInput {
                path: paths,
                hint: "run scripts/fetch-kernel (without --no-toolchain)",
            })
    }
}

/// The default cache directory: `$KILN_CACHE`, else `<workspace>/.cache/kiln`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("KILN_CACHE") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".cache")
        .join("kiln")
}
