//! `kiln build`: flags and their validation into [`BuildConfig`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kiln_tee::Platform;

use super::{default_state_dir, parse_hex, usage, SIM_BUILDER_ID};
use crate::collateral::CollateralFetch;
use crate::error::HostError;
use crate::launch::Backend;

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
    #[arg(long, default_value_t = crate::guest_image::DEFAULT_VCPUS)]
    pub vcpus: u32,
    /// --backend qemu: memory in MiB.
    #[arg(long, value_name = "MiB", default_value_t = crate::guest_image::DEFAULT_MEMORY_MIB)]
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
    /// Vendor collateral for the evidence, added to OUT/evidence/ after the guest signs so the
    /// output verifies offline anywhere: SEV-SNP VCEK (when the guest had none), chain and
    /// AMD's CRL from the KDS; TDX TCB info, QE identity and CRLs from the PCS. auto: fetch on
    /// the hardware backends (snp, tdx), not on sim and qemu (whose simulated chip the
    /// vendors do not know; use fetch with `kiln collateral serve-sim` there). What cannot be
    /// fetched is named, and the build still completes.
    #[arg(long, value_name = "auto|fetch|skip", default_value = "auto")]
    pub collateral: String,
    /// The KDS base URL for the collateral (default: $KILN_KDS_URL, else AMD's KDS).
    #[arg(long, value_name = "URL")]
    pub kds_url: Option<String>,
    /// The PCS or PCCS base URL for the collateral (default: $KILN_PCS_URL, else Intel's PCS).
    #[arg(long, value_name = "URL")]
    pub pcs_url: Option<String>,
    /// The collateral cache (default: collateral/ in the state folder).
    #[arg(long, value_name = "DIR")]
    pub collateral_cache: Option<PathBuf>,
}

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
    pub sandbox: crate::launch::SandboxChoice,
    /// Sim: the work folder's size limit, MiB.
    pub work_mib: Option<u64>,
    /// QEMU: the image folder, if given.
    pub image: Option<PathBuf>,
    /// QEMU: vCPUs.
    pub vcpus: u32,
    /// QEMU: memory, MiB.
    pub memory_mib: u64,
    /// The collateral step: `None` when skipped.
    pub collateral: Option<CollateralFetch>,
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
        let fetch_collateral = match self.collateral.as_str() {
            "auto" => matches!(backend, Backend::Hardware(_)),
            "fetch" => true,
            "skip" => false,
            other => {
                return Err(usage(format!(
                    "--collateral {other:?} is not auto, fetch or skip"
                )))
            }
        };
        if !fetch_collateral
            && (self.kds_url.is_some() || self.pcs_url.is_some() || self.collateral_cache.is_some())
        {
            return Err(usage(
                "--kds-url, --pcs-url and --collateral-cache need the collateral step (--collateral \
                 fetch, or a hardware backend)"
                    .into(),
            ));
        }
        let collateral = if fetch_collateral {
            let (kds_url, pcs_url, pcs_is_default) =
                super::collateral::service_urls(self.kds_url, self.pcs_url)?;
            Some(CollateralFetch {
                sources: crate::collateral::Sources::online(kds_url, pcs_url, pcs_is_default),
                cache: self
                    .collateral_cache
                    .unwrap_or_else(|| state_dir.join("collateral")),
            })
        } else {
            None
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
                crate::launch::SandboxChoice::AllowWeaker
            } else {
                crate::launch::SandboxChoice::Full
            },
            image: self.image,
            vcpus: self.vcpus,
            memory_mib: self.memory,
            work_mib: self.work_size,
            collateral,
        })
    }
}
