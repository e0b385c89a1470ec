//! `kiln image ...`: flags, validated into configurations like build and verify.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use kiln_image::debian::fetch::FetchSources;
use kiln_image::inputs::Toolchain;
use kiln_image::recipe::{default_cache_dir, is_toolchain_name, DEFAULT_TOOLCHAIN};
use kiln_provenance::reference::ReferencePlatform;
use kiln_provenance::Platform;

use super::{default_state_dir, usage, EXIT_CODES};
use crate::error::HostError;
use crate::guest_image::predict_tdx::FirmwareRegisters;
use crate::guest_image::MeasureOptions;

/// Exit codes of `kiln image lock`.
pub const LOCK_EXIT_CODES: &str = "\
Exit codes:
  0  every pin is served (--check), or the recipe was locked
  1  --check: some pin is served by no reachable source (each is named)
  2  usage or I/O error (unreadable recipe, apt's indices unreadable, a pin with no candidate)";

/// `kiln image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the guest image: kernel, initramfs with the static kiln-enclave as /init, one
    /// toolchain of the recipe (--toolchain) as a dm-verity disk named on the command line; with
    /// --format eif also the Nitro EIF, which carries the toolchain as a ramdisk. Reproducible;
    /// each toolchain's disk is cached by its recipe digest.
    #[command(after_help = EXIT_CODES)]
    Build(ImageBuildArgs),
    /// Predict what the evidence of a guest booted from an image will contain; prints the
    /// measurement (hex, last on its line), or with --json a reference file for
    /// `kiln verify --reference`.
    #[command(after_help = EXIT_CODES)]
    Measure(ImageMeasureArgs),
    /// Download the recipe's pinned Debian packages (apt sources first, then the snapshot
    /// archive; each checked against its pinned SHA-256) and unpack the kernel and toolchain
    /// into the cache. `kiln image build` does this itself when something is missing.
    #[command(after_help = EXIT_CODES)]
    Fetch(ImageFetchArgs),
    /// Resolve the recipe's pins again from apt's current package indices (version, SHA-256,
    /// pool path, snapshot timestamp) and rewrite the recipe, like `cargo update`; with
    /// --check, only report which pins no reachable source serves any more.
    #[command(after_help = LOCK_EXIT_CODES)]
    Lock(ImageLockArgs),
    /// Make an image producer's signing key (ECDSA P-256): KEY (PKCS#8 PEM, readable by you
    /// alone) and KEY.pub.pem, the public key consumers give to `kiln verify --reference-key`.
    #[command(after_help = EXIT_CODES)]
    Keygen(ImageKeygenArgs),
    /// Sign an image's reference values: the reference documents of `kiln image measure
    /// --json` (one per platform, all of one image) become the predicate of an in-toto
    /// Statement whose subjects are the image's files (kernel, initrd, command line), signed
    /// with the producer's key in a Sigstore bundle. `kiln verify --reference FILE
    /// --reference-key KEY.pub.pem` and a policy's `measurement_from` + `measurement_key`
    /// accept it only when the signature verifies.
    #[command(after_help = EXIT_CODES)]
    Sign(ImageSignArgs),
}

/// `kiln image keygen`.
#[derive(Debug, Args)]
pub struct ImageKeygenArgs {
    /// The private key file to write (refused if it exists); the public key goes to
    /// FILE.pub.pem.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `kiln image sign`.
#[derive(Debug, Args)]
pub struct ImageSignArgs {
    /// Reference documents of one image (`kiln image measure --json`), at most one per
    /// platform.
    #[arg(required = true, value_name = "REFERENCE.json")]
    pub references: Vec<PathBuf>,
    /// The producer's private key (PKCS#8 PEM, ECDSA P-256; `kiln image keygen`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The signed reference to write (a Sigstore bundle; refused if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `kiln image fetch`.
#[derive(Debug, Args)]
pub struct ImageFetchArgs {
    /// The recipe (default: $KILN_IMAGE_RECIPE, else the recipe built into kiln).
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// The download and unpack cache (default: $KILN_CACHE, else .cache/kiln of the source tree).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Only the kernel, no toolchain.
    #[arg(long, conflicts_with = "toolchain")]
    pub no_toolchain: bool,
    /// Only this toolchain of the recipe (`c`, `rust`, ...) besides the kernel; repeatable
    /// (default: every toolchain).
    #[arg(long, value_name = "NAME")]
    pub toolchain: Vec<String>,
    /// Do not ask the snapshot archive (apt sources only).
    #[arg(long)]
    pub no_snapshot: bool,
    /// Do not ask apt (snapshot archive only).
    #[arg(long)]
    pub no_apt: bool,
}

/// `kiln image lock`.
#[derive(Debug, Args)]
pub struct ImageLockArgs {
    /// The recipe file to check or rewrite.
    #[arg(long, value_name = "FILE", default_value = "images/recipe.toml")]
    pub recipe: PathBuf,
    /// Change nothing: list every pin no reachable source serves (exit 1 if any) and every pin
    /// its suite has a newer version of (a warning).
    #[arg(long, conflicts_with_all = ["unavailable_only", "output"])]
    pub check: bool,
    /// Replace only the pins no reachable source serves, each with its own snapshot timestamp.
    #[arg(long)]
    pub unavailable_only: bool,
    /// Write the locked recipe here instead of rewriting --recipe.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Do not ask the snapshot archive whether it serves a pin.
    #[arg(long)]
    pub no_snapshot: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kiln image build`.
#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    /// initramfs (vmlinuz, initrd.cpio, cmdline) or eif (the same plus image.eif).
    #[arg(long, default_value = "initramfs")]
    pub format: String,
    /// The output folder (default: the cached default image in the state folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The recipe (default: $KILN_IMAGE_RECIPE, else the recipe built into kiln).
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// kiln's state folder (see `kiln build --help`).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// The recipe's toolchain the image carries (`c`, `rust`, ...; a project's kiln.toml names
    /// the one it needs under `[toolchain] image`).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_TOOLCHAIN)]
    pub toolchain: String,
}

/// `kiln image measure`.
#[derive(Debug, Args)]
pub struct ImageMeasureArgs {
    /// sim, sev-snp, tdx or nitro.
    #[arg(long)]
    pub platform: String,
    /// The image folder (default: the cached image of --toolchain, built on first use).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Without --image: the toolchain of the cached image to measure.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_TOOLCHAIN, conflicts_with = "image")]
    pub toolchain: String,
    /// SEV-SNP: the OVMF firmware file.
    #[arg(long, value_name = "FILE")]
    pub ovmf: Option<PathBuf>,
    /// vCPUs the guest is launched with.
    #[arg(long, default_value_t = crate::guest_image::DEFAULT_VCPUS)]
    pub vcpus: u32,
    /// SEV-SNP: the QEMU CPU model (EPYC-v4, EPYC-Milan, EPYC-Genoa, ...).
    #[arg(long, default_value = "EPYC-v4")]
    pub vcpu_type: String,
    /// SEV-SNP: measure the firmware alone (no kernel hashes; any OVMF with SEV metadata).
    #[arg(long)]
    pub firmware_only: bool,
    /// Memory in MiB the guest is launched with (sim; TDX, where it places the initrd that
    /// QEMU writes into the kernel's setup header, which RTMR1 covers).
    #[arg(long, value_name = "MiB", default_value_t = crate::guest_image::DEFAULT_MEMORY_MIB)]
    pub memory: u64,
    /// TDX: MRTD from a launch you trust of your TDVF (kiln predicts RTMR1 and RTMR2 only;
    /// MRTD and RTMR0 depend on the firmware binary and the machine's ACPI tables).
    #[arg(long, value_name = "HEX")]
    pub mrtd: Option<String>,
    /// TDX: RTMR0 from a launch you trust (see --mrtd).
    #[arg(long, value_name = "HEX")]
    pub rtmr0: Option<String>,
    /// The builder id the reference names, which `kiln verify --reference` then requires
    /// (default: kiln's id for the platform's backend, e.g. `https://kiln.dev/builders/qemu@v1`).
    #[arg(long, value_name = "URI")]
    pub builder_id: Option<String>,
    /// Predict `kiln build --backend sim` instead of an image: the kiln-enclave binary
    /// ($KILN_ENCLAVE, else next to kiln) run as a process on the simulated TEE, for
    /// --platform sev-snp, tdx or nitro, with the full sandbox. Prints the reference JSON.
    #[arg(long)]
    pub sim_process: bool,
    /// Print the whole reference document as JSON.
    #[arg(long)]
    pub json: bool,
    /// kiln's state folder (see `kiln build --help`).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// A validated `kiln image build`.
#[derive(Debug, Clone)]
pub struct ImageBuildConfig {
    /// Whether the Nitro EIF is built too (`--format eif`).
    pub eif: bool,
    /// The recipe file, if given (else `$KILN_IMAGE_RECIPE`, else the built-in one).
    pub recipe: Option<PathBuf>,
    /// The toolchain the image carries.
    pub toolchain: String,
    /// Where the image goes.
    pub target: ImageTarget,
}

/// An image folder: given, or the cached default image of the recipe in force.
#[derive(Debug, Clone)]
pub enum ImageTarget {
    /// This folder (a fresh build).
    Folder(PathBuf),
    /// The cached image of the recipe in force with one of its toolchains, in this state
    /// folder (built on first use).
    Cache {
        /// The state folder.
        state_dir: PathBuf,
        /// The toolchain's name.
        toolchain: String,
    },
}

impl ImageBuildArgs {
    /// Validates the flags.
    pub fn validate(self) -> Result<ImageBuildConfig, HostError> {
        let eif = match self.format.as_str() {
            "initramfs" => false,
            "eif" => true,
            other => return Err(usage(format!("--format {other:?} is not initramfs or eif"))),
        };
        check_toolchain_name(&self.toolchain)?;
        let target = match (self.out, self.state_dir) {
            (Some(out), _) => ImageTarget::Folder(out),
            (None, state_dir) => ImageTarget::Cache {
                state_dir: state_dir.map_or_else(default_state_dir, Ok)?,
                toolchain: self.toolchain.clone(),
            },
        };
        Ok(ImageBuildConfig {
            eif,
            recipe: self.recipe,
            toolchain: self.toolchain,
            target,
        })
    }
}

/// A validated `kiln image measure`.
#[derive(Debug, Clone)]
pub struct ImageMeasureConfig {
    /// What is predicted.
    pub subject: MeasureSubject,
    /// Print the whole reference document as JSON.
    pub json: bool,
}

/// What `kiln image measure` predicts.
#[derive(Debug, Clone)]
pub enum MeasureSubject {
    /// A guest booted from an image.
    Image {
        /// The image: a folder, or the cached default image of a state folder.
        image: ImageTarget,
        /// The prediction's inputs.
        options: Box<MeasureOptions>,
    },
    /// `kiln build --backend sim` on this platform (`--sim-process`).
    SimProcess {
        /// The platform whose evidence the simulator produces.
        platform: Platform,
        /// The builder id the reference names, if given.
        builder_id: Option<String>,
    },
}

impl ImageMeasureArgs {
    /// Validates the flags.
    pub fn validate(self) -> Result<ImageMeasureConfig, HostError> {
        let platform = ReferencePlatform::parse(&self.platform).ok_or_else(|| {
            usage(format!(
                "--platform {:?} is not one of sim, sev-snp, tdx, nitro",
                self.platform
            ))
        })?;
        if self.vcpus == 0 {
            return Err(usage("--vcpus must be at least 1".into()));
        }
        if let Some(id) = &self.builder_id {
            if !id.contains(':') || id.chars().any(char::is_whitespace) {
                return Err(usage(format!("--builder-id {id:?} is not a URI")));
            }
        }
        let subject = if self.sim_process {
            let ReferencePlatform::Tee(platform) = platform else {
                return Err(usage(
                    "--sim-process: --platform must be one of sev-snp, tdx, nitro".into(),
                ));
            };
            MeasureSubject::SimProcess {
                platform,
                builder_id: self.builder_id,
            }
        } else {
            check_toolchain_name(&self.toolchain)?;
            let image = match (self.image, self.state_dir) {
                (Some(dir), _) => ImageTarget::Folder(dir),
                (None, state_dir) => ImageTarget::Cache {
                    state_dir: state_dir.map_or_else(default_state_dir, Ok)?,
                    toolchain: self.toolchain,
                },
            };
            MeasureSubject::Image {
                image,
                options: Box::new(MeasureOptions {
                    platform,
                    vcpus: self.vcpus,
                    memory_mib: self.memory,
                    ovmf: self.ovmf,
                    vcpu_type: self.vcpu_type,
                    firmware_only: self.firmware_only,
                    builder_id: self.builder_id,
                    tdx_firmware: FirmwareRegisters::from_args(
                        self.mrtd.as_deref(),
                        self.rtmr0.as_deref(),
                    )
                    .map_err(usage)?,
                }),
            }
        };
        Ok(ImageMeasureConfig {
            subject,
            json: self.json,
        })
    }
}

/// Refuses a `--toolchain` that cannot name a toolchain (whether the recipe has it is checked
/// when the recipe is read).
fn check_toolchain_name(name: &str) -> Result<(), HostError> {
    if is_toolchain_name(name) {
        Ok(())
    } else {
        Err(usage(format!(
            "--toolchain {name:?} is not a toolchain name (a-z, 0-9 and -, starting with a letter)"
        )))
    }
}

/// A validated `kiln image fetch`.
#[derive(Debug, Clone)]
pub struct ImageFetchConfig {
    /// The recipe file, if given.
    pub recipe: Option<PathBuf>,
    /// The download and unpack cache.
    pub cache: PathBuf,
    /// Whether the toolchain is fetched too.
    pub toolchain: Toolchain,
    /// Where packages come from.
    pub sources: FetchSources,
}

impl ImageFetchArgs {
    /// Validates the flags.
    pub fn validate(self) -> Result<ImageFetchConfig, HostError> {
        if self.no_apt && self.no_snapshot {
            return Err(usage(
                "--no-apt and --no-snapshot leave no source to fetch from".into(),
            ));
        }
        Ok(ImageFetchConfig {
            recipe: self.recipe,
            cache: self.cache.unwrap_or_else(default_cache_dir),
            toolchain: match (self.no_toolchain, self.toolchain.as_slice()) {
                (true, _) => Toolchain::Skip,
                (false, []) => Toolchain::All,
                (false, names) => {
                    for n in names {
                        check_toolchain_name(n)?;
                    }
                    Toolchain::Some(names.to_vec())
                }
            },
            sources: FetchSources::new(!self.no_apt, !self.no_snapshot),
        })
    }
}
