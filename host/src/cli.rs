//! The command line, parsed with clap and then validated into [`BuildConfig`] and
//! [`VerifyConfig`] before anything runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kiln_tee::Platform;
use kiln_verifier::build::AllowSimulated;
use kiln_verifier::UnixTime;
use sha2::Digest;

use crate::error::HostError;
use crate::launcher::Backend;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the build or the verification failed
  2  usage or I/O error (bad flags, missing recipe, unreadable files, backend not available)";

/// kiln: attested builds in a trusted execution environment.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Build a project (its kiln.toml) inside a TEE and write artifacts, signed SLSA
    /// provenance and the hardware evidence to the output folder.
    #[command(after_help = EXIT_CODES)]
    Build(BuildArgs),
    /// Verify a build output folder: evidence → key binding → signature → artifacts →
    /// expectations.
    ///
    /// It trusts nothing by default: it needs a measurement reference (--expect-measurement,
    /// --reference, or a --policy that pins the measurement; on TDX hardware MRTD and RTMR0-2)
    /// unless --accept-any-measurement, checks the builder id against the reference (else it
    /// is reported as the host's claim), refuses debug-mode evidence unless --allow-debug, and
    /// trusts simulated evidence only with --allow-simulated and a simulated root you pinned.
    /// The report lists what was pinned and what was not.
    #[command(after_help = EXIT_CODES)]
    Verify(VerifyArgs),
    /// Write a starter verification policy from a verified build.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Build kiln's guest image or predict its measurements.
    #[command(subcommand)]
    Image(ImageCommand),
}

/// `kiln image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the guest image (kernel, initramfs with the static kiln-enclave as /init and the
    /// toolchain, command line; with --format eif also the Nitro EIF). Reproducible.
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
    #[command(after_help = crate::image_pins::LOCK_EXIT_CODES)]
    Lock(ImageLockArgs),
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
    /// Only the kernel, not the toolchain.
    #[arg(long)]
    pub no_toolchain: bool,
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
}

/// `kiln image measure`.
#[derive(Debug, Args)]
pub struct ImageMeasureArgs {
    /// sim, sev-snp, tdx or nitro.
    #[arg(long)]
    pub platform: String,
    /// The image folder (default: the cached default image, built on first use).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// SEV-SNP: the OVMF firmware file.
    #[arg(long, value_name = "FILE")]
    pub ovmf: Option<PathBuf>,
    /// vCPUs the guest is launched with.
    #[arg(long, default_value_t = crate::image::DEFAULT_VCPUS)]
    pub vcpus: u32,
    /// SEV-SNP: the QEMU CPU model (EPYC-v4, EPYC-Milan, EPYC-Genoa, ...).
    #[arg(long, default_value = "EPYC-v4")]
    pub vcpu_type: String,
    /// SEV-SNP: measure the firmware alone (no kernel hashes; any OVMF with SEV metadata).
    #[arg(long)]
    pub firmware_only: bool,
    /// Memory in MiB the guest is launched with (sim; TDX, where it places the initrd that
    /// QEMU writes into the kernel's setup header, which RTMR1 covers).
    #[arg(long, value_name = "MiB", default_value_t = crate::image::DEFAULT_MEMORY_MIB)]
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

/// `kiln build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The project folder (holding kiln.toml). Inside a git work tree, the committed tree
    /// at HEAD below it is built; otherwise the folder as it is.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Where the guest runs: sim (a simulated TEE, the default: NOT hardware-attested),
    /// qemu, snp, tdx, nitro.
    #[arg(long, default_value = "sim")]
    pub backend: String,
    /// The TEE whose evidence is produced: sev-snp, tdx or nitro.
    #[arg(long, default_value = "sev-snp")]
    pub platform: String,
    /// The output folder (default: DIR/kiln-out). Written atomically.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A nonce (hex) bound into the evidence; default: 32 random bytes.
    #[arg(long)]
    pub nonce: Option<String>,
    /// The builder id written to the provenance
    /// (default for sim: `https://kiln.dev/builders/sim@v1`).
    #[arg(long)]
    pub builder_id: Option<String>,
    /// kiln's state folder (simulated chip, sealed keys); default: $KILN_STATE_DIR, else
    /// $XDG_STATE_HOME/kiln, else ~/.local/state/kiln.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Replace a non-empty output folder (only after the build succeeded).
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary on stdout at the end.
    #[arg(long)]
    pub json: bool,
    /// Limit of the whole session in seconds (default: the recipe's time limit + 120).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// --backend qemu: the image folder to boot (default: the cached default image, built on
    /// first use).
    #[arg(long, value_name = "DIR")]
    pub image: Option<PathBuf>,
    /// --backend qemu: vCPUs.
    #[arg(long, default_value_t = crate::image::DEFAULT_VCPUS)]
    pub vcpus: u32,
    /// --backend qemu: memory in MiB.
    #[arg(long, value_name = "MiB", default_value_t = crate::image::DEFAULT_MEMORY_MIB)]
    pub memory: u64,
    /// Build even where the build's sandbox cannot be set up in full (no bubblewrap, no user
    /// namespaces): the build then runs with the layers that held, the launch measurement
    /// changes, and the signed provenance lists what was missing.
    #[arg(long)]
    pub allow_weaker_sandbox: bool,
    /// --backend sim: the most the build's work folder (source, build tree, outputs) may hold,
    /// in MiB; a size-limited tmpfs in the enclave's own mount namespace, so a build that
    /// fills its disk fails instead of filling the host's [default: half the memory]. Another
    /// size changes the launch measurement.
    #[arg(long, value_name = "MiB")]
    pub work_size: Option<u64>,
}

/// `kiln verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The output folder of `kiln build`.
    pub out_dir: PathBuf,
    /// Accept evidence from a simulated TEE whose root you trust: by default the simulated
    /// chip of this machine's state folder (see --state-dir), or each --simulated-root. The
    /// root an output ships is never trusted by itself. Such evidence proves nothing about
    /// hardware, and every report says SIMULATED.
    #[arg(long)]
    pub allow_simulated: bool,
    /// With --allow-simulated: a simulated root to trust instead of this machine's, as a
    /// certificate file (DER or PEM) or its SHA-256 (hex). Repeatable.
    #[arg(long, value_name = "FILE|SHA256", requires = "allow_simulated")]
    pub simulated_root: Vec<String>,
    /// The expected primary measurement, hex (SEV-SNP MEASUREMENT, TDX MRTD, Nitro PCR0).
    /// On TDX hardware MRTD covers only the firmware: use --reference with RTMR0-2 as well.
    #[arg(long, value_name = "HEX", conflicts_with = "reference")]
    pub expect_measurement: Option<String>,
    /// The expected measurements (and builder id, when it names one) from a reference: a file
    /// written by `kiln image measure --json`, an image folder (its sim measurement with the
    /// default vCPUs and memory), or an image recipe (.toml; the image is built first).
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Verify without any measurement reference. Evidence of ANY guest image then passes,
    /// including one that leaks its key or signs whatever the host asks: the output proves
    /// only that some TEE signed it. Refused by default.
    #[arg(long, conflicts_with_all = ["reference", "expect_measurement"])]
    pub accept_any_measurement: bool,
    /// The expected SHA-256 of the source archive, hex.
    #[arg(long, value_name = "SHA256")]
    pub expect_source: Option<String>,
    /// The expected git commit of the source.
    #[arg(long, value_name = "SHA")]
    pub expect_commit: Option<String>,
    /// The expected builder id.
    #[arg(long, value_name = "ID")]
    pub expect_builder: Option<String>,
    /// The nonce given to `kiln build`, hex.
    #[arg(long, value_name = "HEX")]
    pub nonce: Option<String>,
    /// Accept evidence of a debug-mode guest (the host can read and change its memory, so its
    /// signature proves nothing); refused by default.
    #[arg(long)]
    pub allow_debug: bool,
    /// Verify as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// A policy (TOML) the verified build must also satisfy; exit 3 when it does not.
    /// `kiln policy init` writes a starter policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Rego rules (package `kiln`: `allow`, `deny`) evaluated with the policy.
    #[arg(long, value_name = "FILE", requires = "policy")]
    pub rego: Option<PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// kiln's state folder, whose simulated chip --allow-simulated trusts by default (see
    /// `kiln build --help`).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// `kiln policy`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write a starter policy (TOML, commented) from a verified build output: the values it
    /// saw (measurement, TCB, builder, source), to be reviewed and tightened.
    Init(PolicyInitArgs),
}

/// `kiln policy init`.
#[derive(Debug, Args)]
pub struct PolicyInitArgs {
    /// The output folder of `kiln build` to take the values from (it is verified first).
    pub out_dir: PathBuf,
    /// Accept a build on the simulated TEE (the policy then says `allow_simulated = true`),
    /// trusting this machine's simulated root or each --simulated-root.
    #[arg(long)]
    pub allow_simulated: bool,
    /// With --allow-simulated: a simulated root to trust (certificate file or SHA-256 hex).
    #[arg(long, value_name = "FILE|SHA256", requires = "allow_simulated")]
    pub simulated_root: Vec<String>,
    /// kiln's state folder (whose simulated chip --allow-simulated trusts by default).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Write the policy to this file instead of standard output (refused if it exists).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The default builder id of the simulator.
pub const SIM_BUILDER_ID: &str = "https://kiln.dev/builders/sim@v1";

/// A validated `kiln build`.
#[derive(Debug, Clone)]
pub struct BuildConfig {
    /// The project folder.
    pub dir: PathBuf,
    /// The backend.
    pub backend: Backend,
    /// The platform.
    pub platform: Platform,
    /// The output folder.
    pub out: PathBuf,
    /// The nonce, lowercase hex.
    pub nonce: String,
    /// The builder id.
    pub builder_id: String,
    /// The state folder.
    pub state_dir: PathBuf,
    /// Replace a non-empty output.
    pub force: bool,
    /// JSON summary.
    pub json: bool,
    /// Whole-session limit, if given.
    pub timeout: Option<Duration>,
    /// Whether a weaker sandbox is acceptable.
    pub sandbox: crate::launcher::SandboxChoice,
    /// Sim: the work folder's size limit, MiB.
    pub work_mib: Option<u64>,
    /// QEMU: the image folder, if given.
    pub image: Option<PathBuf>,
    /// QEMU: vCPUs.
    pub vcpus: u32,
    /// QEMU: memory, MiB.
    pub memory_mib: u64,
}

/// A validated `kiln verify`.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// The output folder.
    pub out_dir: PathBuf,
    /// Accept simulated evidence (and from which roots).
    pub allow_simulated: AllowSimulated,
    /// Whether a build verifies without a measurement reference.
    pub any_measurement: kiln_verifier::build::AnyMeasurement,
    /// Where the builder id expectation came from, when there is one.
    pub builder_from: Option<String>,
    /// Expected primary measurement.
    pub measurement: Option<Vec<u8>>,
    /// Further expected measurements by claim name (from --reference).
    pub measurements: std::collections::BTreeMap<String, Vec<u8>>,
    /// Expected source digest, lowercase hex.
    pub source: Option<String>,
    /// Expected commit, lowercase hex.
    pub commit: Option<String>,
    /// Expected builder id.
    pub builder: Option<String>,
    /// Expected nonce, lowercase hex.
    pub nonce: Option<String>,
    /// Whether debug-mode evidence is accepted.
    pub debug: kiln_verifier::build::DebugEvidence,
    /// Verification time.
    pub at: UnixTime,
    /// The policy, loaded.
    pub policy: Option<kiln_policy::Policy>,
    /// Rego rules, loaded.
    pub rego: Option<kiln_policy::RegoRules>,
    /// JSON output.
    pub json: bool,
}

fn usage(message: String) -> HostError {
    HostError::Usage { message }
}

/// Validates a hex flag: even length, hex digits; lowercased.
pub fn parse_hex(flag: &str, text: &str, len: Option<usize>) -> Result<String, HostError> {
    let t = text.trim().to_ascii_lowercase();
    let bytes = hex::decode(&t).map_err(|e| usage(format!("{flag} {text:?} is not hex: {e}")))?;
    if bytes.is_empty() {
        return Err(usage(format!("{flag} is empty")));
    }
    if let Some(n) = len {
        if bytes.len() != n {
            return Err(usage(format!(
                "{flag} must be {n} bytes ({} hex digits), got {}",
                n * 2,
                bytes.len()
            )));
        }
    }
    Ok(t)
}

/// The default state folder.
pub fn default_state_dir() -> Result<PathBuf, HostError> {
    if let Some(d) = std::env::var_os("KILN_STATE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("kiln"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/state/kiln")),
        None => Err(usage(
            "no state folder: set --state-dir, KILN_STATE_DIR, XDG_STATE_HOME or HOME".into(),
        )),
    }
}

impl BuildArgs {
    /// Validates the flags.
    pub fn validate(self) -> Result<BuildConfig, HostError> {
        let backend = Backend::parse(&self.backend).ok_or_else(|| {
            usage(format!(
                "--backend {:?} is not one of sim, qemu, snp, tdx, nitro",
                self.backend
            ))
        })?;
        let platform = Platform::parse(&self.platform).ok_or_else(|| {
            usage(format!(
                "--platform {:?} is not one of sev-snp, tdx, nitro",
                self.platform
            ))
        })?;
        if !self.dir.is_dir() {
            return Err(usage(format!("{} is not a folder", self.dir.display())));
        }
        let nonce = match self.nonce {
            Some(n) => {
                let n = parse_hex("--nonce", &n, None)?;
                if n.len() > 1024 {
                    return Err(usage("--nonce is longer than 512 bytes".into()));
                }
                n
            }
            None => crate::random_hex(32).map_err(HostError::io("/dev/urandom", "read"))?,
        };
        let builder_id = match self.builder_id {
            Some(id) if id.contains(':') && !id.chars().any(char::is_whitespace) => id,
            Some(id) => {
                return Err(usage(format!(
                "--builder-id {id:?} is not a URI (for example https://example.com/builders/x@v1)"
            )))
            }
            None => match backend {
                Backend::Sim => SIM_BUILDER_ID.to_owned(),
                other => format!("https://kiln.dev/builders/{}@v1", other.as_str()),
            },
        };
        if self.vcpus == 0 || self.vcpus > 64 {
            return Err(usage(format!(
                "--vcpus {} is not between 1 and 64",
                self.vcpus
            )));
        }
        if !(64..=1 << 20).contains(&self.memory) {
            return Err(usage(format!(
                "--memory {} MiB is not between 64 MiB and 1 TiB",
                self.memory
            )));
        }
        match self.work_size {
            Some(_) if backend != Backend::Sim => {
                return Err(usage(
                    "--work-size needs --backend sim (in a VM the guest's memory bounds it)".into(),
                ))
            }
            Some(mib) if !(1..=1 << 24).contains(&mib) => {
                return Err(usage(format!(
                    "--work-size {mib} MiB is not between 1 MiB and 16 TiB"
                )))
            }
            _ => {}
        }
        if self.image.is_some() && backend != Backend::Qemu {
            return Err(usage("--image needs --backend qemu".into()));
        }
        if self.timeout == Some(0) {
            return Err(usage("--timeout must be at least 1 second".into()));
        }
        let out = self.out.unwrap_or_else(|| self.dir.join("kiln-out"));
        let state_dir = match self.state_dir {
            Some(d) => d,
            None => default_state_dir()?,
        };
        Ok(BuildConfig {
            dir: self.dir,
            backend,
            platform,
            out,
            nonce,
            builder_id,
            state_dir,
            force: self.force,
            json: self.json,
            timeout: self.timeout.map(Duration::from_secs),
            sandbox: if self.allow_weaker_sandbox {
                crate::launcher::SandboxChoice::AllowWeaker
            } else {
                crate::launcher::SandboxChoice::Full
            },
            image: self.image,
            vcpus: self.vcpus,
            memory_mib: self.memory,
            work_mib: self.work_size,
        })
    }
}

impl VerifyArgs {
    /// Validates the flags; reads the clock once when `--at` is absent.
    pub fn validate(self) -> Result<VerifyConfig, HostError> {
        if !self.out_dir.is_dir() {
            return Err(usage(format!("{} is not a folder", self.out_dir.display())));
        }
        let mut measurement = match self.expect_measurement {
            Some(m) => Some(
                hex::decode(parse_hex("--expect-measurement", &m, Some(48))?)
                    .map_err(|e| usage(format!("--expect-measurement: {e}")))?,
            ),
            None => None,
        };
        let mut measurements = std::collections::BTreeMap::new();
        let state = match &self.state_dir {
            Some(d) => Some(d.clone()),
            None => default_state_dir().ok(),
        };
        let mut builder = self.expect_builder.clone();
        let mut builder_from = builder.as_ref().map(|_| "--expect-builder".to_owned());
        if let Some(r) = &self.reference {
            let reference = crate::image::load_reference(r, state.as_deref())
                .map_err(|e| usage(format!("--reference: {}", crate::error::chain(&e))))?;
            measurement = reference.primary;
            measurements = reference.others;
            if let Some(id) = reference.builder_id {
                match &builder {
                    Some(b) if *b != id => {
                        return Err(usage(format!(
                            "--expect-builder {b:?} contradicts the reference's builder {id:?}"
                        )))
                    }
                    Some(_) => {}
                    None => {
                        builder = Some(id);
                        builder_from = Some(format!("the reference {}", r.display()));
                    }
                }
            }
        }
        let allow_simulated = if self.allow_simulated {
            AllowSimulated::PinnedRoots(simulated_roots(&self.simulated_root, state.as_deref())?)
        } else {
            AllowSimulated::No
        };
        let source = self
            .expect_source
            .map(|s| parse_hex("--expect-source", &s, Some(32)))
            .transpose()?;
        let commit = self
            .expect_commit
            .map(|s| {
                let c = parse_hex("--expect-commit", &s, None)?;
                if c.len() == 40 || c.len() == 64 {
                    Ok(c)
                } else {
                    Err(usage(format!(
                        "--expect-commit {s:?} is not a full git commit id (40 or 64 hex digits)"
                    )))
                }
            })
            .transpose()?;
        let nonce = self
            .nonce
            .map(|s| parse_hex("--nonce", &s, None))
            .transpose()?;
        let at = match self.at {
            Some(t) => {
                UnixTime::parse_rfc3339(&t).map_err(|e| usage(format!("--at {t:?}: {e}")))?
            }
            None => now()?,
        };
        let policy = self
            .policy
            .as_deref()
            .map(|p| kiln_policy::Policy::from_toml_file_with(p, &image_reference))
            .transpose()
            .map_err(|e| usage(format!("--policy: {e}")))?;
        let rego = self
            .rego
            .as_deref()
            .map(kiln_policy::RegoRules::from_file)
            .transpose()
            .map_err(|e| usage(format!("--rego: {e}")))?;
        Ok(VerifyConfig {
            out_dir: self.out_dir,
            allow_simulated,
            any_measurement: if self.accept_any_measurement {
                kiln_verifier::build::AnyMeasurement::Accept
            } else {
                kiln_verifier::build::AnyMeasurement::Refuse
            },
            builder_from,
            measurement,
            measurements,
            source,
            commit,
            builder,
            nonce,
            debug: if self.allow_debug {
                kiln_verifier::build::DebugEvidence::Allow
            } else {
                kiln_verifier::build::DebugEvidence::Refuse
            },
            at,
            policy,
            rego,
            json: self.json,
        })
    }
}

/// The simulated roots `--allow-simulated` trusts: each `--simulated-root` (a certificate
/// file, DER or PEM, or a SHA-256 in hex), or else the roots of the simulated chip in the
/// state folder. Refused when neither gives one.
pub fn simulated_roots(given: &[String], state: Option<&Path>) -> Result<Vec<[u8; 32]>, HostError> {
    let mut out = Vec::new();
    for g in given {
        let t = g.trim();
        if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) {
            let mut d = [0u8; 32];
            hex::decode_to_slice(t, &mut d)
                .map_err(|e| usage(format!("--simulated-root {g:?}: {e}")))?;
            out.push(d);
            continue;
        }
        let bytes = std::fs::read(t).map_err(|e| {
            usage(format!(
                "--simulated-root {g:?} is neither a SHA-256 (64 hex digits) nor a readable \
                 certificate file: {e}"
            ))
        })?;
        let der = match der::pem::decode_vec(&bytes) {
            Ok(("CERTIFICATE", der)) => der,
            Ok((label, _)) => {
                return Err(usage(format!(
                    "--simulated-root {g:?}: PEM label {label:?} is not CERTIFICATE"
                )))
            }
            Err(_) => bytes,
        };
        out.push(sha2::Sha256::digest(&der).into());
    }
    if !out.is_empty() {
        return Ok(out);
    }
    let Some(state) = state else {
        return Err(usage(
            "--allow-simulated: no state folder to take this machine's simulated root from; \
             pass --simulated-root FILE|SHA256 or --state-dir"
                .into(),
        ));
    };
    match crate::sim::state_simulated_roots(state, None) {
        Ok(Some(roots)) => Ok(roots),
        Ok(None) => Err(usage(format!(
            "--allow-simulated: {} holds no simulated chip, so no simulated root is trusted; \
             pass --simulated-root with the root of the machine that built the output (its \
             file or SHA-256), or --state-dir of that machine's state folder",
            state.join("sim-chip").display()
        ))),
        Err(e) => Err(usage(format!(
            "--allow-simulated: cannot read the simulated chip in {}: {}",
            state.display(),
            crate::error::chain(&e)
        ))),
    }
}

/// The current time (read once per command); a clock before 1970 or out of range is an error,
/// as in `kiln-verify`.
pub fn now() -> Result<UnixTime, HostError> {
    UnixTime::from_system_time(std::time::SystemTime::now()).map_err(usage)
}

/// Resolves a policy's `measurement_from` that names a guest-image folder or recipe
/// (`.toml`): the image is built (cached in the state folder) and its simulated VM
/// measurement predicted, standing for the platform's primary register. Other paths are left
/// to the policy loader (reference JSON files).
fn image_reference(
    path: &std::path::Path,
    platform: kiln_verifier::Platform,
) -> Option<Result<kiln_policy::ReferenceValues, String>> {
    let is_recipe = path.extension().is_some_and(|e| e == "toml");
    if !path.is_dir() && !is_recipe {
        return None;
    }
    let state = default_state_dir().ok();
    Some(
        crate::image::load_reference(path, state.as_deref())
            .map_err(|e| crate::error::chain(&e))
            .map(|r| {
                let primary = platform.primary_measurement();
                let mut measurements = std::collections::BTreeMap::new();
                if let Some(m) = r.primary {
                    measurements.insert(primary.to_owned(), kiln_verifier::Hex(m));
                }
                for (name, value) in r.others {
                    measurements.insert(name, kiln_verifier::Hex(value));
                }
                kiln_policy::ReferenceValues {
                    platform,
                    image: Some(path.display().to_string()),
                    measurements,
                }
            }),
    )
}
