//! `kiln image build` and `kiln image measure`, the default image cache, and reference files.
//!
//! The default image lives in `<state>/images/<key>/`, where `<key>` is a digest of the recipe
//! text and of the statically linked `kiln-enclave` that becomes `/init`; it is built on first
//! use (into a temporary sibling folder, renamed into place when complete).
//!
//! A **reference file** (`kiln image measure --json`, accepted by `kiln verify --reference`):
//!
//! ```json
//! {
//!   "kind": "kiln-image-reference/v1",
//!   "platform": "sim",
//!   "measurements": { "measurement": "<hex>" },
//!   "launch": { "vcpus": 2, "memoryMiB": 1024 },
//!   "image": { "dir": "...", "cmdline": "...", "files": { "vmlinuz": "<sha256>", ... } }
//! }
//! ```
//!
//! `measurements` names registers as the evidence claims do: `measurement` (sim, SEV-SNP),
//! `mrtd`/`rtmr0..3` (TDX), `pcr0..2` (Nitro). `kiln verify` expects the platform's primary
//! register (`measurement`, `mrtd`, `pcr0`) as the primary measurement and every other as a
//! further measurement.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use kiln_image::image::{build_image, sha256_file, BuildOptions, ImagePaths};
use kiln_image::inputs::Toolchain;
use kiln_image::measure::{
    sim_vm_measurement, snp_firmware_digest, snp_launch_digest, SnpParams, VmLaunch,
};
use kiln_image::recipe::{default_cache_dir, Recipe, RecipeInForce};
use kiln_image::ImageError;
use serde_json::json;
use sha2::{Digest, Sha256};

/// vCPUs of a QEMU guest unless told otherwise.
pub const DEFAULT_VCPUS: u32 = 2;
/// Memory of a QEMU guest (MiB) unless told otherwise.
pub const DEFAULT_MEMORY_MIB: u64 = 1024;
/// Environment variable naming the statically linked `kiln-enclave` for images.
pub const ENCLAVE_STATIC_ENV: &str = "KILN_ENCLAVE_STATIC";
pub use kiln_provenance::reference::REFERENCE_KIND;
use kiln_provenance::reference::{write_document, ReferenceDocument, ReferencePlatform};
use kiln_provenance::Platform;
/// How to build the static enclave (for error messages).
pub const BUILD_STATIC_HINT: &str = "RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release -p kiln-enclave --target x86_64-unknown-linux-gnu";

/// Why an image could not be built, found or measured.
#[derive(Debug)]
pub enum ImageCmdError {
    /// No statically linked kiln-enclave.
    NoStaticEnclave {
        /// Candidates looked at, with why each was refused.
        looked: Vec<String>,
    },
    /// The image library failed.
    Image {
        /// What was being done.
        what: String,
        /// The cause.
        source: ImageError,
    },
    /// An image folder lacks a file.
    NotAnImage {
        /// The folder.
        dir: PathBuf,
        /// The missing file.
        missing: PathBuf,
    },
    /// A file operation failed.
    Io {
        /// What was being done.
        op: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A reference file is malformed.
    Reference {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Bad arguments.
    Usage(String),
}

impl fmt::Display for ImageCmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoStaticEnclave { looked } => write!(
                f,
                "no statically linked kiln-enclave for the guest image (looked at: {}); build it \
                 with `{BUILD_STATIC_HINT}` or set {ENCLAVE_STATIC_ENV} to its path",
                looked.join("; ")
            ),
            Self::Image { what, .. } => write!(f, "cannot {what}"),
            Self::NotAnImage { dir, missing } => write!(
                f,
                "{} is not a kiln image folder: {} is missing (make one with `kiln image build --out DIR`)",
                dir.display(),
                missing.display()
            ),
            Self::Io { op, .. } => write!(f, "cannot {op}"),
            Self::Reference { path, reason } => {
                write!(f, "reference {}: {reason}", path.display())
            }
            Self::Usage(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ImageCmdError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Image { source, .. } => Some(source),
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn image_err(what: impl Into<String>) -> impl FnOnce(ImageError) -> ImageCmdError {
    let what = what.into();
    move |source| ImageCmdError::Image { what, source }
}

fn io_err(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageCmdError {
    let op = op.into();
    move |source| ImageCmdError::Io { op, source }
}

/// Whether `path` is an ELF executable without a program interpreter (statically linked).
pub fn is_static_elf(path: &Path) -> Result<bool, std::io::Error> {
    let mut head = Vec::new();
    fs::File::open(path)?
        .take(64 << 10)
        .read_to_end(&mut head)?;
    let u16_at = |o: usize| {
        head.get(o..o + 2)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(u16::from_le_bytes)
    };
    let u32_at = |o: usize| {
        head.get(o..o + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |o: usize| {
        head.get(o..o + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    // 64-bit little-endian ELF only (the guest is x86_64).
    if head.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return Ok(false);
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return Ok(false);
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return Ok(false);
    };
    for i in 0..usize::from(phnum) {
        match u32_at(phoff + i * usize::from(phentsize)) {
            // PT_INTERP: dynamically linked.
            Some(3) => return Ok(false),
            Some(_) => {}
            // Program headers beyond what was read: cannot tell, refuse.
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// Finds the statically linked enclave: `$KILN_ENCLAVE_STATIC`, else `kiln-enclave-static`
/// next to the running binary, else the `x86_64-unknown-linux-gnu` target folder of the
/// cargo target folder the running binary is in.
pub fn find_static_enclave() -> Result<PathBuf, ImageCmdError> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os(ENCLAVE_STATIC_ENV).filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    } else if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("kiln-enclave-static"));
            let mut dirs = vec![dir.to_path_buf()];
            if dir.file_name().is_some_and(|n| n == "deps") {
                if let Some(up) = dir.parent() {
                    dirs.push(up.to_path_buf());
                }
            }
            for d in dirs {
                if let Some(target) = d.parent() {
                    for profile in ["release", "debug"] {
                        candidates.push(
                            target
                                .join("x86_64-unknown-linux-gnu")
                                .join(profile)
                                .join("kiln-enclave"),
                        );
                    }
                }
            }
        }
    }
    let mut looked = Vec::new();
    for c in candidates {
        match is_static_elf(&c) {
            Ok(true) => return Ok(c),
            Ok(false) => looked.push(format!("{} (not a static x86_64 ELF)", c.display())),
            Err(e) => looked.push(format!("{} ({e})", c.display())),
        }
    }
    Err(ImageCmdError::NoStaticEnclave { looked })
}

/// The cache key of the default image: recipe text and enclave binary.
pub fn cache_key(recipe_text: &str, enclave: &Path) -> Result<String, ImageCmdError> {
    let (_, enclave_digest) = sha256_file(enclave).map_err(image_err("hash the enclave"))?;
    let mut h = Sha256::new();
    h.update(b"kiln-image-cache/v1\0");
    h.update(recipe_text.as_bytes());
    h.update(b"\0");
    h.update(enclave_digest);
    Ok(hex::encode(h.finalize()).chars().take(32).collect())
}

/// The recipe in force: `recipe` if given, else `$KILN_IMAGE_RECIPE`, else the built-in one
/// (announced on stderr when it is not the built-in one).
pub fn recipe_in_force(recipe: Option<&Path>) -> Result<RecipeInForce, ImageCmdError> {
    let r = RecipeInForce::resolve(recipe).map_err(image_err("read the image recipe"))?;
    crate::image_pins::announce_recipe(&r);
    Ok(r)
}

/// Builds an image of `recipe` into `out` (a fresh build: any files there are replaced),
/// fetching the recipe's packages first if the cache lacks them.
pub fn build_into(recipe: &Recipe, out: &Path, eif: bool) -> Result<ImagePaths, ImageCmdError> {
    let init = find_static_enclave()?;
    let cache = default_cache_dir();
    crate::image_pins::ensure_inputs(recipe, &cache, Toolchain::Include)?;
    let opts = BuildOptions {
        cache,
        init,
        eif,
        without_toolchain: false,
    };
    let (paths, _) = build_image(recipe, &opts, out)
        .map_err(image_err(format!("build the image into {}", out.display())))?;
    Ok(paths)
}

/// The default image of the recipe in force (with its EIF), built on first use into
/// `<state>/images/<key>/`. Returns the folder and whether it was built now.
pub fn default_image(state_dir: &Path) -> Result<(PathBuf, bool), ImageCmdError> {
    let r = recipe_in_force(None)?;
    image_of(&r, state_dir)
}

/// The image of `r` (with its EIF), built on first use into `<state>/images/<key>/`.
pub fn image_of(r: &RecipeInForce, state_dir: &Path) -> Result<(PathBuf, bool), ImageCmdError> {
    let enclave = find_static_enclave()?;
    let key = cache_key(&r.text, &enclave)?;
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
    let built = build_into(&r.recipe, &tmp, true);
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
pub fn image_paths(dir: &Path) -> Result<ImagePaths, ImageCmdError> {
    let p = ImagePaths::in_dir(dir);
    for f in [&p.kernel, &p.initrd, &p.cmdline] {
        if !f.is_file() {
            return Err(ImageCmdError::NotAnImage {
                dir: dir.to_path_buf(),
                missing: f.clone(),
            });
        }
    }
    Ok(p)
}

/// The `builder.id` that `kiln build` writes by default for a guest booted from an image
/// predicted for `platform` (`--backend qemu` for the simulated processor, else the hardware
/// backend).
pub fn default_builder_id(platform: ReferencePlatform) -> &'static str {
    match platform {
        ReferencePlatform::Sim => "https://kiln.dev/builders/qemu@v1",
        ReferencePlatform::Tee(Platform::SevSnp) => "https://kiln.dev/builders/snp@v1",
        ReferencePlatform::Tee(Platform::Tdx) => "https://kiln.dev/builders/tdx@v1",
        ReferencePlatform::Tee(Platform::Nitro) => "https://kiln.dev/builders/nitro@v1",
    }
}

/// What `kiln image measure` needs besides the image.
#[derive(Debug, Clone)]
pub struct MeasureOptions {
    /// The platform.
    pub platform: ReferencePlatform,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory, MiB (sim).
    pub memory_mib: u64,
    /// OVMF (SEV-SNP).
    pub ovmf: Option<PathBuf>,
    /// vCPU model (SEV-SNP).
    pub vcpu_type: String,
    /// SEV-SNP: the firmware alone (no kernel hashes).
    pub firmware_only: bool,
    /// The builder id the reference names (default: [`default_builder_id`]).
    pub builder_id: Option<String>,
    /// TDX: MRTD and RTMR0 taken from a launch the caller trusts (kiln cannot predict them).
    pub tdx_firmware: crate::image_tdx::FirmwareRegisters,
}

/// The sim measurement of booting `p` with `vcpus` and `memory_mib`.
pub fn sim_measurement(
    p: &ImagePaths,
    vcpus: u32,
    memory_mib: u64,
) -> Result<[u8; 48], ImageCmdError> {
    let cmdline = p
        .read_cmdline()
        .map_err(image_err("read the image's command line"))?;
    sim_vm_measurement(&VmLaunch {
        kernel: p.kernel.clone(),
        initrd: p.initrd.clone(),
        cmdline,
        vcpus,
        memory_mib,
    })
    .map_err(image_err("compute the sim measurement"))
}

/// Predicts the measurement of the image in `dir`: the reference document.
pub fn measure(dir: &Path, o: &MeasureOptions) -> Result<serde_json::Value, ImageCmdError> {
    let p = image_paths(dir)?;
    let cmdline = p
        .read_cmdline()
        .map_err(image_err("read the image's command line"))?;
    let mut measurements = BTreeMap::new();
    let mut launch = json!({});
    match o.platform {
        ReferencePlatform::Sim => {
            let m = sim_measurement(&p, o.vcpus, o.memory_mib)?;
            measurements.insert("measurement".to_owned(), hex::encode(m));
            launch = json!({"vcpus": o.vcpus, "memoryMiB": o.memory_mib});
        }
        ReferencePlatform::Tee(Platform::SevSnp) => {
            let ovmf = o.ovmf.clone().ok_or_else(|| {
                ImageCmdError::Usage(
                    "--platform sev-snp needs --ovmf FILE (an OVMF with SEV metadata; for kernel \
                     hashes one built from OvmfPkg/AmdSev)"
                        .into(),
                )
            })?;
            let params = SnpParams {
                ovmf: ovmf.clone(),
                vcpus: o.vcpus,
                vcpu_type: o.vcpu_type.clone(),
                guest_features: 0x1,
            };
            let m = if o.firmware_only {
                snp_firmware_digest(&params)
            } else {
                snp_launch_digest(&params, &p.kernel, &p.initrd, &cmdline)
            }
            .map_err(image_err("compute the SEV-SNP launch digest"))?;
            measurements.insert("measurement".to_owned(), hex::encode(m));
            launch = json!({
                "vcpus": o.vcpus,
                "vcpuType": o.vcpu_type,
                "ovmf": ovmf.display().to_string(),
                "kernelHashes": !o.firmware_only,
                "guestFeatures": "0x1",
            });
        }
        ReferencePlatform::Tee(Platform::Tdx) => {
            launch = crate::image_tdx::measure(&p, &cmdline, o, &mut measurements)?;
        }
        ReferencePlatform::Tee(Platform::Nitro) => {
            let bytes = fs::read(&p.eif).map_err(io_err(format!(
                "read {} (build it with `kiln image build --format eif`)",
                p.eif.display()
            )))?;
            let summary = kiln_image::eif::parse_eif(&bytes).map_err(image_err("parse the EIF"))?;
            let pcrs = summary.pcrs();
            for (key, value) in [
                ("pcr0", pcrs.pcr0),
                ("pcr1", pcrs.pcr1),
                ("pcr2", pcrs.pcr2),
            ] {
                measurements.insert(key.to_owned(), hex::encode(value));
            }
        }
    }
    let mut files = serde_json::Map::new();
    for f in [&p.kernel, &p.initrd, &p.cmdline] {
        let (_, d) = sha256_file(f).map_err(image_err("hash the image"))?;
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.insert(name, json!(hex::encode(d)));
    }
    let builder_id = o
        .builder_id
        .clone()
        .unwrap_or_else(|| default_builder_id(o.platform).to_owned());
    Ok(write_document(
        o.platform,
        &builder_id,
        &measurements,
        launch,
        Some(json!({
            "dir": dir.display().to_string(),
            "cmdline": cmdline,
            "files": files,
        })),
    ))
}

/// Expected measurements from a reference: the primary register and the others by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reference {
    /// The primary register.
    pub primary: Option<Vec<u8>>,
    /// Further registers by claim name.
    pub others: BTreeMap<String, Vec<u8>>,
    /// The builder id the reference names (`builder.id`), if any.
    pub builder_id: Option<String>,
}

/// Parses a reference document (the one parser, [`ReferenceDocument::parse`]) into the
/// primary register of its platform and the others by name.
pub fn parse_reference(path: &Path, bytes: &[u8]) -> Result<Reference, ImageCmdError> {
    let doc = ReferenceDocument::parse(bytes).map_err(|e| ImageCmdError::Reference {
        path: path.to_path_buf(),
        reason: e.0,
    })?;
    let primary_name = match doc.platform {
        ReferencePlatform::Sim => "measurement",
        ReferencePlatform::Tee(p) => p.primary_measurement(),
    };
    let mut others = doc.measurements;
    Ok(Reference {
        primary: others.remove(primary_name),
        others,
        builder_id: doc.builder_id,
    })
}

/// Loads `--reference`: a reference file, an image folder (its sim measurement with the
/// default vCPUs and memory), or a recipe file (the image it builds, then as a folder).
pub fn load_reference(path: &Path, state_dir: Option<&Path>) -> Result<Reference, ImageCmdError> {
    let sim = |dir: &Path| -> Result<Reference, ImageCmdError> {
        let p = image_paths(dir)?;
        let m = sim_measurement(&p, DEFAULT_VCPUS, DEFAULT_MEMORY_MIB)?;
        Ok(Reference {
            primary: Some(m.to_vec()),
            others: BTreeMap::new(),
            builder_id: Some(default_builder_id(ReferencePlatform::Sim).to_owned()),
        })
    };
    if path.is_dir() {
        return sim(path);
    }
    let text = fs::read_to_string(path).map_err(io_err(format!("read {}", path.display())))?;
    if path.extension().is_some_and(|e| e == "toml") {
        let recipe =
            Recipe::parse(&text).map_err(image_err(format!("parse {}", path.display())))?;
        let state = state_dir.ok_or_else(|| {
            ImageCmdError::Usage("a recipe reference needs a state folder to build in".into())
        })?;
        let enclave = find_static_enclave()?;
        let dir = state
            .join("images")
            .join(format!("recipe-{}", cache_key(&text, &enclave)?));
        if !ImagePaths::in_dir(&dir).manifest.is_file() {
            build_into(&recipe, &dir, false)?;
        }
        return sim(&dir);
    }
    parse_reference(path, text.as_bytes())
}

/// `kiln image build`: prints each file's SHA-256, then the folder.
pub fn run_build(args: crate::cli::ImageBuildArgs) -> Result<String, crate::HostError> {
    let usage = |message: String| crate::HostError::Usage { message };
    let eif = match args.format.as_str() {
        "initramfs" => false,
        "eif" => true,
        other => return Err(usage(format!("--format {other:?} is not initramfs or eif"))),
    };
    let r = recipe_in_force(args.recipe.as_deref()).map_err(crate::HostError::Image)?;
    let dir = match args.out {
        Some(out) => {
            build_into(&r.recipe, &out, eif).map_err(crate::HostError::Image)?;
            out
        }
        None => {
            let state = match args.state_dir {
                Some(d) => d,
                None => crate::cli::default_state_dir()?,
            };
            image_of(&r, &state).map_err(crate::HostError::Image)?.0
        }
    };
    let p = ImagePaths::in_dir(&dir);
    let mut out = String::new();
    for f in [
        &p.kernel,
        &p.base,
        &p.toolchain,
        &p.initrd,
        &p.cmdline,
        &p.eif,
    ] {
        if f.is_file() {
            let (size, d) = sha256_file(f)
                .map_err(image_err("hash the image"))
                .map_err(crate::HostError::Image)?;
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
pub fn run_measure(args: crate::cli::ImageMeasureArgs) -> Result<String, crate::HostError> {
    let usage = |message: String| crate::HostError::Usage { message };
    let platform = ReferencePlatform::parse(&args.platform).ok_or_else(|| {
        usage(format!(
            "--platform {:?} is not one of sim, sev-snp, tdx, nitro",
            args.platform
        ))
    })?;
    if args.vcpus == 0 {
        return Err(usage("--vcpus must be at least 1".into()));
    }
    if let Some(id) = &args.builder_id {
        if !id.contains(':') || id.chars().any(char::is_whitespace) {
            return Err(usage(format!("--builder-id {id:?} is not a URI")));
        }
    }
    if args.sim_process {
        let doc = crate::sim::process_reference(&args.platform, args.builder_id.clone())?;
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
    }
    let dir = match args.image {
        Some(d) => d,
        None => {
            let state = match args.state_dir {
                Some(d) => d,
                None => crate::cli::default_state_dir()?,
            };
            default_image(&state).map_err(crate::HostError::Image)?.0
        }
    };
    let opts = MeasureOptions {
        platform,
        vcpus: args.vcpus,
        memory_mib: args.memory,
        ovmf: args.ovmf,
        vcpu_type: args.vcpu_type,
        firmware_only: args.firmware_only,
        builder_id: args.builder_id,
        tdx_firmware: crate::image_tdx::FirmwareRegisters::from_args(
            args.mrtd.as_deref(),
            args.rtmr0.as_deref(),
        )
        .map_err(usage)?,
    };
    let doc = measure(&dir, &opts).map_err(crate::HostError::Image)?;
    if args.json {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn references_map_primary_and_further_registers() {
        let h = "ab".repeat(48);
        let doc = json!({"kind": REFERENCE_KIND, "platform": "nitro",
            "measurements": {"pcr0": h, "PCR1": h}});
        let r = parse_reference(Path::new("r.json"), doc.to_string().as_bytes()).unwrap();
        assert_eq!(r.primary, Some(vec![0xab; 48]));
        assert_eq!(r.others.keys().collect::<Vec<_>>(), vec!["pcr1"]);
        for bad in [
            json!({"platform": "sim"}),
            json!({"platform": "x", "measurements": {"measurement": h}}),
            json!({"platform": "sim", "measurements": {"measurement": "00"}}),
            json!({"platform": "sim", "measurements": {}}),
            json!({"kind": "other", "platform": "sim", "measurements": {"measurement": h}}),
        ] {
            let err = parse_reference(Path::new("r.json"), bad.to_string().as_bytes()).unwrap_err();
            assert!(err.to_string().contains("r.json"), "{err}");
        }
    }

    #[test]
    fn the_running_test_binary_is_not_static_and_garbage_is_not_elf() {
        let exe = std::env::current_exe().unwrap();
        assert!(!is_static_elf(&exe).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        fs::write(&f, b"#!/bin/sh\n").unwrap();
        assert!(!is_static_elf(&f).unwrap());
    }
}
