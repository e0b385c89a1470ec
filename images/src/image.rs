//! `kiln image build`: from the recipe's cached inputs and the `kiln-enclave` binary to an image
//! directory:
//!
//! | file | what |
//! |---|---|
//! | `vmlinuz` | the pinned kernel (bzImage), copied: what SEV-SNP, TDX and Nitro boot |
//! | `vmlinux` | its uncompressed ELF, which a local QEMU launch boots through the PVH entry and the sim measurement covers ([`crate::pvh`]) |
//! | `base.cpio` | newc: `/init` (kiln-enclave), `/dev/console`, mount points, modules + `kiln-modules` (load order) |
//! | `toolchain.img` | the unpacked tree of the recipe's toolchain the image is built with (`c`, `rust`, …) as a read-only disk: SquashFS + dm-verity tree ([`crate::toolchain_disk`]) |
//! | `toolchain.cpio` | with `eif: true`: newc of the same tree, the EIF's second ramdisk (an enclave has no disks) |
//! | `initrd.cpio` | `base.cpio` alone: what QEMU boots and SEV-SNP/sim measure (a few MiB) |
//! | `cmdline` | the recipe's kernel command line and `kiln.toolchain=vda,…` naming the disk's root hash (no trailing newline) |
//! | `image.eif` | with `eif: true`: kernel + the recipe's command line + ramdisks base, toolchain |
//!
//! A VM's userland is the toolchain disk: `/init` opens it with dm-verity against the root hash on
//! the measured command line and mounts its folders over the initramfs' root. On Nitro, where an
//! enclave has no disks, the same tree is the EIF's second ramdisk, which PCR0 and PCR2 cover.
//! `image.json` holds the SHA-256 of every file above, the toolchain's name and pins, the disk's
//! root hash, and the Nitro PCRs when an EIF was built.

use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::eif::{self, EifInputs, EifMetadata, NitroPcrs};
use crate::initramfs::Archive;
use crate::recipe::{Recipe, ResolvedToolchain};
use crate::ImageError;
use kiln_provenance::toolchain_disk::ToolchainDiskParam;

/// The guest's name for the toolchain disk: the first virtio-blk disk.
pub const TOOLCHAIN_DISK: &str = "vda";

/// Inputs of an image build besides the recipe.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `.cache/kiln` as filled by `kiln image fetch` ([`crate::inputs::prepare`]).
    pub cache: PathBuf,
    /// The statically linked program that becomes `/init` (kiln-enclave).
    pub init: PathBuf,
    /// Also write `image.eif`.
    pub eif: bool,
    /// The recipe's toolchain to put in the image (its disk, and its ramdisk in the EIF);
    /// `None` leaves the toolchain out (a smaller image for tests of the launch path).
    pub toolchain: Option<String>,
}

/// An image directory's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePaths {
    /// The image folder.
    pub dir: PathBuf,
    /// `vmlinuz`: the bzImage (what SEV-SNP, TDX and Nitro launches boot).
    pub kernel: PathBuf,
    /// `vmlinux`: the bzImage's uncompressed ELF, which a local VM boots through its PVH entry
    /// ([`crate::pvh`]); absent when the kernel gives none.
    pub pvh_kernel: PathBuf,
    /// `base.cpio`: kiln-enclave, its modules and the fixed files.
    pub base: PathBuf,
    /// `toolchain.cpio`: the pinned toolchain.
    pub toolchain: PathBuf,
    /// `initrd.cpio`: base and toolchain, what QEMU boots.
    pub initrd: PathBuf,
    /// `cmdline`.
    pub cmdline: PathBuf,
    /// `image.eif`: the Nitro image.
    pub eif: PathBuf,
    /// `toolchain.img`: a verity-protected toolchain disk (see
    /// [`crate::toolchain_disk`]), attached read-only when present; the command line names
    /// its root hash.
    pub toolchain_disk: PathBuf,
    /// `image.json`: the manifest.
    pub manifest: PathBuf,
}

impl ImagePaths {
    /// The file names inside `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        ImagePaths {
            dir: dir.to_path_buf(),
            kernel: dir.join("vmlinuz"),
            pvh_kernel: dir.join("vmlinux"),
            base: dir.join("base.cpio"),
            toolchain: dir.join("toolchain.cpio"),
            initrd: dir.join("initrd.cpio"),
            cmdline: dir.join("cmdline"),
            eif: dir.join("image.eif"),
            toolchain_disk: dir.join("toolchain.img"),
            manifest: dir.join("image.json"),
        }
    }

    /// Every file an image may hold, in the order manifests and listings give them (the
    /// manifest itself aside); which are present depends on the build.
    pub fn files(&self) -> [&PathBuf; 8] {
        [
            &self.kernel,
            &self.pvh_kernel,
            &self.base,
            &self.toolchain_disk,
            &self.toolchain,
            &self.initrd,
            &self.cmdline,
            &self.eif,
        ]
    }

    /// The kernel a local (QEMU with KVM or TCG) launch boots and measures: `vmlinux` when the
    /// image has it, else `vmlinuz`.
    pub fn local_kernel(&self) -> &Path {
        if self.pvh_kernel.is_file() {
            &self.pvh_kernel
        } else {
            &self.kernel
        }
    }

    /// The kernel command line stored in the image.
    pub fn read_cmdline(&self) -> Result<String, ImageError> {
        fs::read_to_string(&self.cmdline).map_err(ImageError::io(&self.cmdline, "reading"))
    }
}

/// One file of the manifest.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileDigest {
    /// File name in the image folder.
    pub name: String,
    /// Size, bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// `image.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// The kernel's Debian package.
    pub kernel_package: String,
    /// Its version.
    pub kernel_version: String,
    /// SHA-256 of its .deb.
    pub kernel_deb_sha256: String,
    /// `uname -r` of the kernel.
    pub kernel_release: String,
    /// The kernel command line (with the toolchain disk's word).
    pub cmdline: String,
    /// What a local VM boots: `vmlinux` (PVH) or `vmlinuz`.
    pub local_kernel: String,
    /// Why the image has no `vmlinux`, when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_pvh_kernel: Option<String>,
    /// The toolchain's name in the recipe, when the image has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toolchain: Option<String>,
    /// The toolchain disk's dm-verity root hash, when the image has a toolchain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toolchain_disk_root: Option<String>,
    /// The toolchain's packages, `name=version`.
    pub toolchain_debs: Vec<String>,
    /// Every file of the image with its digest.
    pub files: Vec<FileDigest>,
    /// The Nitro PCRs, when the EIF was built.
    pub nitro: Option<NitroPcrs>,
}

/// A file's length and digest under `D`, streamed in 1 MiB reads.
pub fn digest_file<D: Digest>(path: &Path) -> Result<(u64, sha2::digest::Output<D>), ImageError> {
    let mut f = fs::File::open(path).map_err(ImageError::io(path, "opening"))?;
    let mut h = D::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(ImageError::io(path, "reading"))?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(buf.get(..k).unwrap_or(&[]));
    }
    Ok((n, h.finalize()))
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<(u64, [u8; 32]), ImageError> {
    digest_file::<Sha256>(path).map(|(n, d)| (n, d.into()))
}

/// Copies `src` to `dst` through [`write_atomic`].
fn copy_atomic(src: &Path, dst: &Path) -> Result<(), ImageError> {
    write_atomic(dst, |w| {
        let mut f = fs::File::open(src).map_err(ImageError::io(src, "opening"))?;
        std::io::copy(&mut f, w).map_err(ImageError::io(src, "copying"))?;
        Ok(())
    })
}

fn write_atomic(
    path: &Path,
    f: impl FnOnce(&mut BufWriter<fs::File>) -> Result<(), ImageError>,
) -> Result<(), ImageError> {
    let tmp = path.with_extension("partial");
    let file = fs::File::create(&tmp).map_err(ImageError::io(&tmp, "creating"))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    f(&mut w)?;
    let file = w.into_inner().map_err(|e| ImageError::Io {
        path: tmp.clone(),
        what: "writing",
        source: e.into_error(),
    })?;
    file.sync_all().map_err(ImageError::io(&tmp, "syncing"))?;
    fs::rename(&tmp, path).map_err(ImageError::io(path, "renaming into"))
}

/// The base archive: `/init`, device node, mount points and the recipe's modules.
pub fn base_archive(recipe: &Recipe, cache: &Path, init: &Path) -> Result<Archive, ImageError> {
    if !init.is_file() {
        return Err(ImageError::MissingInput {
            path: init.to_path_buf(),
            hint: "build kiln-enclave (statically linked) first",
        });
    }
    let mut a = Archive::new();
    a.add_file("init", init, true)?;
    a.add_char_device("dev/console", 5, 1, 0o600)?;
    for d in ["proc", "sys", "tmp", "run", "mnt", "etc"] {
        a.add_dir(d)?;
    }
    let kdir = recipe.kernel_dir(cache);
    let moddir = format!("lib/modules/{}", recipe.kernel.release);
    let lines = recipe.kernel.module_lines();
    for line in &lines {
        let m = &line.path;
        let src = kdir.join("modules").join(m);
        if !src.is_file() {
            return Err(ImageError::MissingInput {
                path: src,
                hint: "run `kiln image fetch`",
            });
        }
        a.add_file(&format!("{moddir}/{m}"), &src, false)?;
    }
    let mut list = String::new();
    for line in &lines {
        list.push_str(&line.to_string());
        list.push('\n');
    }
    a.add_bytes(&format!("{moddir}/kiln-modules"), list.into_bytes(), false)?;
    Ok(a)
}

/// Removes a file a previous build may have left.
fn remove_stale(path: &Path) -> Result<(), ImageError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ImageError::io(path, "removing")(e)),
    }
}

/// Where the disk of toolchain `t` is cached, beside its unpacked tree: the disk and the
/// command-line word that names it.
fn disk_cache_paths(t: &ResolvedToolchain, cache: &Path) -> (PathBuf, PathBuf) {
    let dir = t.dir(cache);
    (dir.join("disk.img"), dir.join("disk.word"))
}

/// The disk of toolchain `t` (unpacked at `tree`), built on first use and cached by the
/// toolchain's recipe digest; returns the cached disk and the word that names it as
/// [`TOOLCHAIN_DISK`]. The word is written after the disk, so a word on disk means a complete
/// disk.
fn cached_disk(
    t: &ResolvedToolchain,
    tree: &Path,
    cache: &Path,
) -> Result<(PathBuf, ToolchainDiskParam), ImageError> {
    let (disk, word_path) = disk_cache_paths(t, cache);
    if let (true, Ok(text)) = (disk.is_file(), fs::read_to_string(&word_path)) {
        if let Ok(Some(word)) = ToolchainDiskParam::from_cmdline(&text) {
            return Ok((disk, word));
        }
    }
    let built = crate::toolchain_disk::build_toolchain_disk(tree, &disk, 0)?;
    let word = built.cmdline_param(TOOLCHAIN_DISK);
    write_atomic(&word_path, |w| {
        w.write_all(word.to_cmdline_word().as_bytes())
            .map_err(ImageError::io(&word_path, "writing"))
    })?;
    Ok((disk, word))
}

/// Builds the image into `out` (created if needed). Deterministic: the same recipe, cache and
/// init binary give the same bytes in every file.
pub fn build_image(
    recipe: &Recipe,
    opts: &BuildOptions,
    out: &Path,
) -> Result<(ImagePaths, Manifest), ImageError> {
    fs::create_dir_all(out).map_err(ImageError::io(out, "creating"))?;
    let p = ImagePaths::in_dir(out);
    let kernel_src = recipe.kernel_dir(&opts.cache).join("vmlinuz");
    if !kernel_src.is_file() {
        return Err(ImageError::MissingInput {
            path: kernel_src,
            hint: "run `kiln image fetch`",
        });
    }
    copy_atomic(&kernel_src, &p.kernel)?;
    let bz = fs::read(&p.kernel).map_err(ImageError::io(&p.kernel, "reading"))?;
    let pvh = match crate::pvh::pvh_kernel(&bz) {
        Ok(elf) => {
            write_atomic(&p.pvh_kernel, |w| {
                w.write_all(&elf)
                    .map_err(ImageError::io(&p.pvh_kernel, "writing"))
            })?;
            Ok(())
        }
        Err(why) => {
            remove_stale(&p.pvh_kernel)?;
            Err(why.0)
        }
    };
    drop(bz);
    let base = base_archive(recipe, &opts.cache, &opts.init)?;
    write_atomic(&p.base, |w| base.write_newc(w).map(|_| ()))?;
    // What QEMU boots is the base archive alone: the same bytes, copied.
    copy_atomic(&p.base, &p.initrd)?;
    // The toolchain: a verity disk for VMs (its root hash on the command line), and for an EIF
    // the same tree as a ramdisk.
    let mut cmdline = recipe.kernel.cmdline.clone();
    let mut disk_root = None;
    for stale in [&p.toolchain_disk, &p.toolchain] {
        remove_stale(stale)?;
    }
    let toolchain = opts
        .toolchain
        .as_deref()
        .map(|name| recipe.toolchain(name))
        .transpose()?;
    if let Some(t) = &toolchain {
        let tree = t.root(&opts.cache)?;
        let (disk, word) = cached_disk(t, &tree, &opts.cache)?;
        copy_atomic(&disk, &p.toolchain_disk)?;
        cmdline.push(' ');
        cmdline.push_str(&word.to_cmdline_word());
        disk_root = Some(hex::encode(word.root));
        if opts.eif {
            let mut tc = Archive::new();
            tc.add_tree("", &tree)?;
            write_atomic(&p.toolchain, |w| tc.write_newc(w).map(|_| ()))?;
        }
    }
    write_atomic(&p.cmdline, |w| {
        w.write_all(cmdline.as_bytes())
            .map_err(ImageError::io(&p.cmdline, "writing"))
    })?;
    let nitro = if opts.eif {
        let inputs = EifInputs {
            kernel: p.kernel.clone(),
            cmdline: recipe.kernel.cmdline.clone(),
            ramdisks: std::iter::once(p.base.clone())
                .chain(Some(p.toolchain.clone()).filter(|t| t.is_file()))
                .collect(),
            metadata: EifMetadata::kiln(&recipe.kernel.release, serde_json::json!({})),
            default_mem: 2048 << 20,
            default_cpus: 2,
        };
        Some(eif::write_eif(&inputs, &p.eif)?)
    } else {
        None
    };
    let mut files = Vec::new();
    for f in p.files().into_iter().filter(|f| f.is_file()) {
        let (size, d) = sha256_file(f)?;
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        files.push(FileDigest {
            name,
            size,
            sha256: hex::encode(d),
        });
    }
    let manifest = Manifest {
        kernel_package: recipe.kernel.package.clone(),
        kernel_version: recipe.kernel.version.clone(),
        kernel_deb_sha256: recipe.kernel.sha256.clone(),
        kernel_release: recipe.kernel.release.clone(),
        cmdline,
        local_kernel: if pvh.is_ok() { "vmlinux" } else { "vmlinuz" }.to_owned(),
        no_pvh_kernel: pvh.err(),
        toolchain_disk_root: disk_root,
        toolchain_debs: toolchain
            .iter()
            .flat_map(|t| &t.deb)
            .map(|d| format!("{}={} sha256:{}", d.package, d.version, d.sha256))
            .collect(),
        toolchain: toolchain.map(|t| t.name),
        files,
        nitro,
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ImageError::Invalid(format!("manifest: {e}")))?;
    write_atomic(&p.manifest, |w| {
        w.write_all(&json)
            .map_err(ImageError::io(&p.manifest, "writing"))
    })?;
    Ok((p, manifest))
}
