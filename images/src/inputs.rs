//! The recipe's inputs in the cache: every pinned `.deb` fetched and checked
//! ([`crate::debian::fetch`]), the kernel and its modules taken out of the kernel package, and
//! the toolchain packages unpacked into one tree. What `kiln image fetch` does, and what
//! `kiln image build` reads.
//!
//! Cache layout (`.cache/kiln` by default):
//!
//! | path | what |
//! |---|---|
//! | `debs/<package>_<version>_<sha8>.deb` | downloads, each checked against its pin |
//! | `kernel/<release>-<stamp>/vmlinuz`, `config`, `modules/<path>` | the kernel (modules decompressed) |
//! | `toolchain/<name>-<stamp>/root/` | the unpacked tree of toolchain `<name>`, with its manifest at [`MANIFEST_PATH`] |
//!
//! `<stamp>` is a digest of the recipe table, so a changed pin never reuses an old tree. A
//! tree is built in a temporary folder and renamed into place with a `.complete` marker.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::debian::fetch::{fetch_pin, FetchSources, FetchedFrom};
use kiln_provenance::toolchain_manifest::{DebPackage, ToolchainManifest, MANIFEST_PATH};

use crate::recipe::{DebPin, Recipe, ResolvedToolchain, DEFAULT_TOOLCHAIN};
use crate::ImageError;

/// Where the unpacked inputs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// `vmlinuz`, `config`, `modules/`.
    pub kernel_dir: PathBuf,
    /// The unpacked tree of each toolchain asked for, by name.
    pub toolchain_roots: std::collections::BTreeMap<String, PathBuf>,
}

impl Inputs {
    /// The tree of toolchain `name`, when it was asked for.
    pub fn toolchain_root(&self, name: &str) -> Result<&Path, ImageError> {
        self.toolchain_roots
            .get(name)
            .map(PathBuf::as_path)
            .ok_or_else(|| ImageError::Invalid(format!("toolchain {name:?} was not prepared")))
    }
}

/// Which toolchains to fetch and unpack besides the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toolchain {
    /// The kernel only.
    Skip,
    /// One toolchain, by name.
    One(String),
    /// These toolchains, by name.
    Some(Vec<String>),
    /// Every toolchain of the recipe.
    All,
}

impl Toolchain {
    /// The default toolchain ([`DEFAULT_TOOLCHAIN`]).
    pub fn default_one() -> Self {
        Toolchain::One(DEFAULT_TOOLCHAIN.to_owned())
    }
}

/// The manifest of a resolved toolchain: its name and every package it unpacks.
pub fn manifest_of(t: &ResolvedToolchain) -> ToolchainManifest {
    ToolchainManifest::new(
        &t.name,
        t.deb
            .iter()
            .map(|d| DebPackage {
                name: d.package.clone(),
                version: d.version.clone(),
                architecture: deb_architecture(&d.path).to_owned(),
                sha256: d.sha256.clone(),
            })
            .collect(),
    )
}

/// The architecture a pool path's file name ends in (`…_amd64.deb`, `…_all.deb`).
fn deb_architecture(path: &str) -> &str {
    path.strip_suffix(".deb")
        .and_then(|p| p.rsplit('_').next())
        .unwrap_or("amd64")
}

fn run(cmd: &mut Command) -> Result<(), ImageError> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ImageError::Invalid(format!("cannot run {shown}: {e}")))?;
    if !out.status.success() {
        return Err(ImageError::Invalid(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn fetch(
    pin: &DebPin,
    recipe: &Recipe,
    sources: &FetchSources,
    cache: &Path,
    report: &mut dyn FnMut(&str),
) -> Result<PathBuf, ImageError> {
    let (path, from) = fetch_pin(pin, &recipe.snapshot, sources, &cache.join("debs"))
        .map_err(ImageError::Archive)?;
    match from {
        FetchedFrom::Cache => {}
        FetchedFrom::Apt => report(&format!(
            "fetched {}={} from the apt sources",
            pin.package, pin.version
        )),
        FetchedFrom::Snapshot(url) => report(&format!(
            "fetched {}={} from the snapshot archive ({url})",
            pin.package, pin.version
        )),
    }
    Ok(path)
}

/// Moves a finished `tmp` folder to `dir` (with its `.complete` marker written first). Another
/// process that finished the same inputs first wins; its tree is identical.
fn publish(tmp: &Path, dir: &Path) -> Result<(), ImageError> {
    fs::write(tmp.join(".complete"), b"").map_err(ImageError::io(tmp, "marking complete"))?;
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent).map_err(ImageError::io(parent, "creating"))?;
    }
    match fs::rename(tmp, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.join(".complete").is_file() => Ok(()),
        Err(e) => Err(ImageError::Io {
            path: dir.to_path_buf(),
            what: "moving into place",
            source: e,
        }),
    }
}

fn scratch(cache: &Path) -> Result<tempfile::TempDir, ImageError> {
    fs::create_dir_all(cache).map_err(ImageError::io(cache, "creating"))?;
    tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(cache)
        .map_err(ImageError::io(cache, "creating a folder in"))
}

fn prepare_kernel(
    recipe: &Recipe,
    cache: &Path,
    sources: &FetchSources,
    report: &mut dyn FnMut(&str),
) -> Result<PathBuf, ImageError> {
    let dir = recipe.kernel_dir(cache);
    if dir.join(".complete").is_file() {
        return Ok(dir);
    }
    let k = &recipe.kernel;
    let deb = fetch(&k.pin(), recipe, sources, cache, report)?;
    let tmp = scratch(cache)?;
    let unpacked = tmp.path().join("deb");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    let out = tmp.path().join("out");
    fs::create_dir_all(out.join("modules")).map_err(ImageError::io(&out, "creating"))?;
    for (from, to) in [("vmlinuz", "vmlinuz"), ("config", "config")] {
        let src = unpacked.join("boot").join(format!("{from}-{}", k.release));
        fs::copy(&src, out.join(to)).map_err(ImageError::io(
            &src,
            "copying (is kernel.release the package's uname -r?)",
        ))?;
    }
    let moddir = unpacked.join("lib/modules").join(&k.release);
    for line in k.module_lines() {
        let rel = &line.path;
        let src = moddir.join(format!("{rel}.xz"));
        if !src.is_file() {
            return Err(ImageError::Recipe(format!(
                "module {rel} is not in {}={}",
                k.package, k.version
            )));
        }
        let dst = out.join("modules").join(rel);
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(ImageError::io(parent, "creating"))?;
        }
        let file = fs::File::create(&dst).map_err(ImageError::io(&dst, "creating"))?;
        run(Command::new("xz").arg("-dc").arg(&src).stdout(file))?;
    }
    publish(&out, &dir)?;
    report(&format!("kernel {} ready in {}", k.release, dir.display()));
    Ok(dir)
}

fn remove_path(p: &Path) -> Result<(), ImageError> {
    let meta = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if meta.is_dir() {
        fs::remove_dir_all(p).map_err(ImageError::io(p, "removing"))
    } else {
        fs::remove_file(p).map_err(ImageError::io(p, "removing"))
    }
}

fn prepare_toolchain(
    recipe: &Recipe,
    t: &ResolvedToolchain,
    cache: &Path,
    sources: &FetchSources,
    report: &mut dyn FnMut(&str),
) -> Result<PathBuf, ImageError> {
    let dir = t.dir(cache);
    if dir.join(".complete").is_file() {
        return Ok(dir.join("root"));
    }
    // Four downloads at a time (each `apt-get download` spends most of its time starting up);
    // the report lines are collected and passed on in recipe order.
    let mut debs = Vec::new();
    for chunk in t.deb.chunks(4) {
        let results: Vec<(Result<PathBuf, ImageError>, Vec<String>)> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|pin| {
                    s.spawn(move || {
                        let mut lines = Vec::new();
                        let r = fetch(pin, recipe, sources, cache, &mut |l| {
                            lines.push(l.to_owned())
                        });
                        (r, lines)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        (
                            Err(ImageError::Invalid("a download thread panicked".into())),
                            Vec::new(),
                        )
                    })
                })
                .collect()
        });
        for (r, lines) in results {
            for l in &lines {
                report(l);
            }
            debs.push(r?);
        }
    }
    let tmp = scratch(cache)?;
    let out = tmp.path().join("out");
    let root = out.join("root");
    fs::create_dir_all(&root).map_err(ImageError::io(&root, "creating"))?;
    for deb in &debs {
        run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root))?;
    }
    for rel in &t.exclude {
        remove_path(&root.join(rel))?;
    }
    for (link, target) in &t.symlinks {
        let p = root.join(link);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(ImageError::io(parent, "creating"))?;
        }
        remove_path(&p)?;
        std::os::unix::fs::symlink(target, &p).map_err(ImageError::io(&p, "linking"))?;
    }
    for applet in &t.busybox_applets {
        let p = root.join("bin").join(applet);
        if fs::symlink_metadata(&p).is_err() {
            std::os::unix::fs::symlink("busybox", &p).map_err(ImageError::io(&p, "linking"))?;
        }
    }
    let manifest = root.join(MANIFEST_PATH);
    if let Some(parent) = manifest.parent() {
        fs::create_dir_all(parent).map_err(ImageError::io(parent, "creating"))?;
    }
    fs::write(&manifest, manifest_of(t).to_json()).map_err(ImageError::io(&manifest, "writing"))?;
    publish(&out, &dir)?;
    report(&format!("toolchain {} ready in {}", t.name, dir.display()));
    Ok(dir.join("root"))
}

/// Fetches and unpacks every input of `recipe` into `cache` (nothing is done for inputs already
/// there). `report` receives one line per download and per unpacked tree.
pub fn prepare(
    recipe: &Recipe,
    cache: &Path,
    sources: &FetchSources,
    toolchain: Toolchain,
    report: &mut dyn FnMut(&str),
) -> Result<Inputs, ImageError> {
    let kernel_dir = prepare_kernel(recipe, cache, sources, report)?;
    let names: Vec<String> = match toolchain {
        Toolchain::Skip => Vec::new(),
        Toolchain::One(name) => vec![name],
        Toolchain::Some(names) => names,
        Toolchain::All => recipe.toolchains.keys().cloned().collect(),
    };
    let mut toolchain_roots = std::collections::BTreeMap::new();
    for name in names {
        let t = recipe.toolchain(&name)?;
        let root = prepare_toolchain(recipe, &t, cache, sources, report)?;
        toolchain_roots.insert(name, root);
    }
    Ok(Inputs {
        kernel_dir,
        toolchain_roots,
    })
}

/// The recipe in force (`$KILN_IMAGE_RECIPE`, else the built-in one) with its inputs fetched
/// into the default cache, reporting on stderr: where tests and tools that need the default
/// image's parts start.
pub fn prepare_default(toolchain: Toolchain) -> Result<(Recipe, PathBuf, Inputs), ImageError> {
    let r = crate::recipe::RecipeInForce::resolve(None)?;
    let cache = crate::recipe::default_cache_dir();
    let sources = FetchSources::new(true, true);
    let inputs = prepare(&r.recipe, &cache, &sources, toolchain, &mut |line| {
        eprintln!("kiln-image: {line}")
    })?;
    Ok((r.recipe, cache, inputs))
}
