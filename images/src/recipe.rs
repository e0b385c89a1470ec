//! `images/recipe.toml`: the pinned inputs of the builder image.
//!
//! Every Debian package is pinned by name, version and the SHA-256 of its `.deb`, and says where
//! it can be fetched forever: its `suite`, its `path` in the archive's pool, and through
//! `[snapshot]` the Debian snapshot archive at a pinned timestamp for that suite
//! (`<base>/archive/<archive>/<timestamp>/<path>`). Live apt sources are tried first (fast);
//! the snapshot serves pins the live archive has dropped. The SHA-256 decides, never the source.
//! `kiln image lock` re-resolves the pins (see [`crate::debian::lock`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ImageError;
use kiln_provenance::guest_modules::ModuleLine;

/// The text of the recipe shipped in the repository (`images/recipe.toml`).
pub const BUILTIN_RECIPE: &str = include_str!("../recipe.toml");

/// The environment variable naming a recipe file to use instead of the built-in one (what
/// `scripts/test` sets after re-resolving pins the archive no longer serves).
pub const RECIPE_ENV: &str = "KILN_IMAGE_RECIPE";

/// The recipe format this version reads (3: named toolchains, `[toolchains.<name>]`).
pub const FORMAT: u32 = 3;

/// The toolchain a build recipe gets when its `[toolchain]` names no image.
pub const DEFAULT_TOOLCHAIN: &str = "c";

/// A pinned Debian package.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DebPin {
    /// The package name.
    pub package: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of the .deb, lowercase hex.
    pub sha256: String,
    /// The apt suite (distribution) that published it, e.g. `bookworm-security`; names a
    /// `[snapshot.suites]` entry.
    pub suite: String,
    /// The `.deb`'s path in the archive (`Filename:` of the Packages index), `pool/...`.
    pub path: String,
    /// A snapshot timestamp for this package alone (set when one pin was re-resolved without
    /// the rest of its suite); otherwise the suite's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

/// `[kernel]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KernelRecipe {
    /// The kernel package, e.g. `linux-image-6.12.43+deb12-cloud-amd64`.
    pub package: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of the .deb, lowercase hex.
    pub sha256: String,
    /// The apt suite that published it.
    pub suite: String,
    /// The `.deb`'s path in the archive.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// A snapshot timestamp for this package alone (see [`DebPin::snapshot`]).
    pub snapshot: Option<String>,
    /// The metapackage whose dependency names the current kernel package of the suite
    /// (`linux-image-cloud-amd64`): how `kiln image lock` follows a kernel ABI bump.
    pub track: String,
    /// `uname -r` of the kernel, e.g. `6.12.43+deb12-cloud-amd64`.
    pub release: String,
    /// The kernel command line.
    pub cmdline: String,
    /// Module paths relative to `/lib/modules/<release>/`, without `.xz`, in load order, each
    /// with the conditions under which the guest loads it
    /// ([`kiln_provenance::guest_modules`]).
    pub modules: Vec<String>,
}

impl KernelRecipe {
    /// The module lines, parsed (checked when the recipe was).
    pub fn module_lines(&self) -> Vec<ModuleLine> {
        self.modules
            .iter()
            .filter_map(|m| ModuleLine::parse(m).ok())
            .collect()
    }

    /// The kernel package as a pin.
    pub fn pin(&self) -> DebPin {
        DebPin {
            package: self.package.clone(),
            version: self.version.clone(),
            sha256: self.sha256.clone(),
            suite: self.suite.clone(),
            path: self.path.clone(),
            snapshot: self.snapshot.clone(),
        }
    }
}

/// `[toolchains.<name>]`: one toolchain image, as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolchainRecipe {
    /// Another toolchain whose packages, exclusions, links and applets come first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    #[serde(default)]
    /// Paths left out of the toolchain tree.
    pub exclude: Vec<String>,
    #[serde(default)]
    /// Symlinks `(link, target)` the packages' maintainer scripts would create.
    pub symlinks: Vec<(String, String)>,
    #[serde(default)]
    /// busybox applets linked into `/bin`.
    pub busybox_applets: Vec<String>,
    /// The pinned packages.
    #[serde(default)]
    pub deb: Vec<DebPin>,
}

/// A toolchain with what it extends folded in (parents first): what the image builder
/// unpacks into one tree and makes into one disk.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResolvedToolchain {
    /// Its name in the recipe.
    pub name: String,
    /// Paths left out of the tree.
    pub exclude: Vec<String>,
    /// Symlinks `(link, target)`.
    pub symlinks: Vec<(String, String)>,
    /// busybox applets linked into `/bin`.
    pub busybox_applets: Vec<String>,
    /// Every pinned package, parents' first.
    pub deb: Vec<DebPin>,
}

/// How deep `extends` may chain.
const MAX_EXTENDS: usize = 8;

/// Whether `name` can name a toolchain: 1 to 32 of `a-z`, `0-9`, `-`, starting with a letter.
pub fn is_toolchain_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// One suite of `[snapshot.suites]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSuite {
    /// The archive the suite lives in on the snapshot service: `debian` or `debian-security`.
    pub archive: String,
    /// `YYYYMMDDTHHMMSSZ`: a moment at which every pin of the suite was in the archive.
    pub timestamp: String,
}

/// `[snapshot]`: where every pin can be fetched forever.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRecipe {
    /// The snapshot service, e.g. `https://snapshot.debian.org`.
    pub base: String,
    /// Suite name → archive and timestamp.
    pub suites: BTreeMap<String, SnapshotSuite>,
}

impl SnapshotRecipe {
    /// The URL that serves `pin` forever, or `None` when its suite has no entry.
    pub fn url(&self, pin: &DebPin) -> Option<String> {
        let suite = self.suites.get(&pin.suite)?;
        let ts = pin.snapshot.as_deref().unwrap_or(&suite.timestamp);
        Some(format!(
            "{}/archive/{}/{}/{}",
            self.base.trim_end_matches('/'),
            suite.archive,
            ts,
            pin.path
        ))
    }
}

/// The whole recipe.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The recipe format (see [`FORMAT`]).
    pub format: u32,
    /// `[snapshot]`.
    pub snapshot: SnapshotRecipe,
    /// `[kernel]`.
    pub kernel: KernelRecipe,
    /// `[toolchains.<name>]`, by name.
    pub toolchains: BTreeMap<String, ToolchainRecipe>,
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `s` is a snapshot timestamp, `YYYYMMDDTHHMMSSZ`.
pub fn is_snapshot_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            15 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Whether `s` is a pool path: `pool/...deb`, relative, without empty, `.` or `..` parts.
fn is_pool_path(s: &str) -> bool {
    s.starts_with("pool/")
        && s.ends_with(".deb")
        && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && s.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

fn check_pin(p: &DebPin, snapshot: &SnapshotRecipe) -> Result<(), ImageError> {
    let bad = |m: String| Err(ImageError::Recipe(format!("{}: {m}", p.package)));
    if p.package.is_empty()
        || !p
            .package
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return bad("not a Debian package name".into());
    }
    if p.version.is_empty()
        || p.version
            .bytes()
            .any(|b| !b.is_ascii_graphic() || b == b'/')
    {
        return bad(format!("version {:?} is not a Debian version", p.version));
    }
    if !is_sha256_hex(&p.sha256) {
        return bad("sha256 is not 64 lowercase hex digits".into());
    }
    if !snapshot.suites.contains_key(&p.suite) {
        return bad(format!(
            "suite {:?} has no [snapshot.suites] entry",
            p.suite
        ));
    }
    if !is_pool_path(&p.path) {
        return bad(format!("path {:?} is not a pool/…/.deb path", p.path));
    }
    if let Some(ts) = &p.snapshot {
        if !is_snapshot_timestamp(ts) {
            return bad(format!("snapshot {ts:?} is not YYYYMMDDTHHMMSSZ"));
        }
    }
    Ok(())
}

/// A short digest of a serializable value: the cache folder name of unpacked inputs.
pub(crate) fn stamp_of<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
        .chars()
        .take(16)
        .collect()
}

impl Recipe {
    /// Parses and checks a recipe.
    pub fn parse(text: &str) -> Result<Self, ImageError> {
        let r: Recipe = toml::from_str(text).map_err(|e| ImageError::Recipe(e.to_string()))?;
        if r.format != FORMAT {
            return Err(ImageError::Recipe(format!(
                "unsupported format {} (this kiln reads format {FORMAT})",
                r.format
            )));
        }
        let base = &r.snapshot.base;
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(ImageError::Recipe(format!(
                "snapshot.base {base:?} is not an http(s) URL"
            )));
        }
        for (name, s) in &r.snapshot.suites {
            if !is_snapshot_timestamp(&s.timestamp) {
                return Err(ImageError::Recipe(format!(
                    "snapshot.suites.{name}.timestamp {:?} is not YYYYMMDDTHHMMSSZ",
                    s.timestamp
                )));
            }
            if s.archive.is_empty()
                || !s
                    .archive
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(ImageError::Recipe(format!(
                    "snapshot.suites.{name}.archive {:?} is not an archive name",
                    s.archive
                )));
            }
        }
        check_pin(&r.kernel.pin(), &r.snapshot)?;
        if r.toolchains.is_empty() {
            return Err(ImageError::Recipe(
                "no [toolchains.<name>] section: an image needs a toolchain".into(),
            ));
        }
        for (name, t) in &r.toolchains {
            if !is_toolchain_name(name) {
                return Err(ImageError::Recipe(format!(
                    "toolchains.{name}: a toolchain name is 1 to 32 of a-z, 0-9 and -, \
                     starting with a letter"
                )));
            }
            for d in &t.deb {
                check_pin(d, &r.snapshot)?;
            }
            check_toolchain_paths(name, t)?;
            // Every toolchain must resolve: parents exist, no cycle, no package twice.
            r.toolchain(name)?;
        }
        if r.kernel.cmdline.bytes().any(|b| b == 0 || b == b'\n') {
            return Err(ImageError::Recipe(
                "kernel.cmdline contains NUL or newline".into(),
            ));
        }
        if r.kernel.release.is_empty() || r.kernel.release.contains('/') {
            return Err(ImageError::Recipe(format!(
                "kernel.release {:?}",
                r.kernel.release
            )));
        }
        for m in &r.kernel.modules {
            ModuleLine::parse(m).map_err(|e| ImageError::Recipe(format!("kernel.modules: {e}")))?;
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

    /// Every pin: the kernel first, then each toolchain's own, toolchains in name order.
    pub fn pins(&self) -> Vec<DebPin> {
        let mut v = vec![self.kernel.pin()];
        v.extend(self.toolchains.values().flat_map(|t| t.deb.iter().cloned()));
        v
    }

    /// The toolchain `name` with what it extends folded in, parents first.
    pub fn toolchain(&self, name: &str) -> Result<ResolvedToolchain, ImageError> {
        let mut chain = Vec::new();
        let mut at = name;
        loop {
            let t = self.toolchains.get(at).ok_or_else(|| {
                ImageError::Recipe(if at == name {
                    format!(
                        "no toolchain {name:?} in the image recipe (it has: {})",
                        self.toolchains
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    format!(
                        "toolchains.{}: extends {at:?}, which is not a toolchain",
                        chain_last(&chain)
                    )
                })
            })?;
            if chain.iter().any(|(n, _)| *n == at) || chain.len() >= MAX_EXTENDS {
                return Err(ImageError::Recipe(format!(
                    "toolchains.{name}: extends loops or chains deeper than {MAX_EXTENDS}"
                )));
            }
            chain.push((at, t));
            match &t.extends {
                Some(parent) => at = parent,
                None => break,
            }
        }
        let mut out = ResolvedToolchain {
            name: name.to_owned(),
            exclude: Vec::new(),
            symlinks: Vec::new(),
            busybox_applets: Vec::new(),
            deb: Vec::new(),
        };
        for (at, t) in chain.into_iter().rev() {
            for d in &t.deb {
                if out.deb.iter().any(|o| o.package == d.package) {
                    return Err(ImageError::Recipe(format!(
                        "toolchains.{at}: {} is pinned twice in toolchain {name:?}",
                        d.package
                    )));
                }
                out.deb.push(d.clone());
            }
            out.exclude.extend(t.exclude.iter().cloned());
            out.symlinks.extend(t.symlinks.iter().cloned());
            out.busybox_applets
                .extend(t.busybox_applets.iter().cloned());
        }
        Ok(out)
    }

    /// Where the unpacked kernel of this recipe lives in `cache`.
    pub fn kernel_dir(&self, cache: &Path) -> PathBuf {
        cache.join("kernel").join(format!(
            "{}-{}",
            self.kernel.release,
            stamp_of(&self.kernel)
        ))
    }
}

impl ResolvedToolchain {
    /// Where the unpacked tree of this toolchain lives in `cache`.
    pub fn dir(&self, cache: &Path) -> PathBuf {
        cache
            .join("toolchain")
            .join(format!("{}-{}", self.name, stamp_of(self)))
    }

    /// The unpacked tree; an error naming `kiln image fetch` when it is not there.
    pub fn root(&self, cache: &Path) -> Result<PathBuf, ImageError> {
        let dir = self.dir(cache);
        if !dir.join(".complete").is_file() {
            return Err(ImageError::MissingInput {
                path: dir,
                hint: "run `kiln image fetch` (downloads and unpacks the recipe's pins)",
            });
        }
        Ok(dir.join("root"))
    }
}

fn chain_last<'a>(chain: &[(&'a str, &ToolchainRecipe)]) -> &'a str {
    chain.last().map_or("", |(n, _)| n)
}

fn check_toolchain_paths(name: &str, t: &ToolchainRecipe) -> Result<(), ImageError> {
    for rel in t
        .exclude
        .iter()
        .chain(t.symlinks.iter().map(|(link, _)| link))
    {
        if rel.starts_with('/') || rel.split('/').any(|c| c.is_empty() || c == "..") {
            return Err(ImageError::Recipe(format!(
                "toolchains.{name}: path {rel:?}"
            )));
        }
    }
    for a in &t.busybox_applets {
        if a.is_empty() || a.contains('/') || a == ".." || a == "." {
            return Err(ImageError::Recipe(format!(
                "toolchains.{name}: busybox applet {a:?}"
            )));
        }
    }
    Ok(())
}

/// Where a recipe in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipeOrigin {
    /// The recipe compiled into kiln (`images/recipe.toml`).
    Builtin,
    /// A file named by `--recipe` or `KILN_IMAGE_RECIPE`.
    File(PathBuf),
}

/// A recipe, its exact text (part of image cache keys) and where it came from.
#[derive(Debug, Clone)]
pub struct RecipeInForce {
    /// The parsed recipe.
    pub recipe: Recipe,
    /// Its exact text.
    pub text: String,
    /// Where it came from.
    pub origin: RecipeOrigin,
}

impl RecipeInForce {
    /// The recipe file `path` if given, else `$KILN_IMAGE_RECIPE` if set, else the built-in one.
    pub fn resolve(path: Option<&Path>) -> Result<Self, ImageError> {
        let file = path.map(Path::to_path_buf).or_else(|| {
            std::env::var_os(RECIPE_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        match file {
            Some(p) => {
                let text = std::fs::read_to_string(&p)
                    .map_err(ImageError::io(&p, "reading the recipe"))?;
                let recipe = Recipe::parse(&text)?;
                Ok(RecipeInForce {
                    recipe,
                    text,
                    origin: RecipeOrigin::File(p),
                })
            }
            None => Ok(RecipeInForce {
                recipe: Recipe::builtin()?,
                text: BUILTIN_RECIPE.to_owned(),
                origin: RecipeOrigin::Builtin,
            }),
        }
    }
}

/// The default cache directory: `$KILN_CACHE`, else `<workspace>/.cache/kiln`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("KILN_CACHE") {
        return PathBuf::from(p);
    }
    let images = Path::new(env!("CARGO_MANIFEST_DIR"));
    images
        .parent()
        .unwrap_or(images)
        .join(".cache")
        .join("kiln")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_builtin_recipe_parses_and_every_pin_has_a_snapshot_url() {
        let r = Recipe::builtin().unwrap();
        for p in r.pins() {
            let url = r.snapshot.url(&p).unwrap();
            assert!(
                url.starts_with("https://snapshot.debian.org/archive/debian"),
                "{url}"
            );
            assert!(url.ends_with(&p.path), "{url}");
        }
    }

    #[test]
    fn malformed_pins_are_refused_with_the_package_named() {
        let good = BUILTIN_RECIPE;
        for (from, to, needle) in [
            (
                "suite = \"bookworm-backports\"",
                "suite = \"sid\"",
                "has no [snapshot.suites]",
            ),
            ("path = \"pool/", "path = \"../pool/", "not a pool"),
            ("format = 3", "format = 2", "unsupported format"),
            ("extends = \"c\"", "extends = \"rust\"", "extends loops"),
            (
                "extends = \"c\"",
                "extends = \"go\"",
                "extends \"go\", which is not",
            ),
            (
                "[toolchains.rust]",
                "[toolchains.Rust]",
                "a toolchain name is",
            ),
            (
                "timestamp = \"2",
                "timestamp = \"x2",
                "not YYYYMMDDTHHMMSSZ",
            ),
            ("base = \"https://", "base = \"ftp://", "not an http(s) URL"),
        ] {
            assert!(good.contains(from), "{from}");
            let text = good.replacen(from, to, 1);
            let e = Recipe::parse(&text).unwrap_err().to_string();
            assert!(e.contains(needle), "{from} → {e}");
        }
    }

    #[test]
    fn a_pin_timestamp_overrides_its_suite() {
        let r = Recipe::builtin().unwrap();
        let mut p = r.toolchains[DEFAULT_TOOLCHAIN].deb.first().unwrap().clone();
        let suite_url = r.snapshot.url(&p).unwrap();
        p.snapshot = Some("20300101T000000Z".into());
        let pin_url = r.snapshot.url(&p).unwrap();
        assert_ne!(suite_url, pin_url);
        assert!(pin_url.contains("/20300101T000000Z/pool/"));
        assert!(is_snapshot_timestamp("20261203T131900Z"));
        for bad in [
            "2026-12-03",
            "20261203T131900",
            "20261203X131900Z",
            "2026120aT131900Z",
        ] {
            assert!(!is_snapshot_timestamp(bad), "{bad}");
        }
    }
}
