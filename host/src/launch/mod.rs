//! Launching the builder. Each backend implements [`Launcher`]: it starts a guest, measures
//! what it started (the guest never supplies its own measurement), and hands back the
//! control channel. The simulator backend ([`crate::launch::sim::SimLauncher`]) runs `kiln-enclave`
//! as a local process; a QEMU backend slots in behind the same trait.

mod common;
pub mod qemu;
pub mod sim;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use kiln_tee::{Measurement, Platform};
use tokio::io::{AsyncRead, AsyncWrite};

/// A boxed future, for object-safe async trait methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A byte stream to the guest.
pub trait Channel: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Channel for T {}

/// The backends `--backend` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The simulated TEE: `kiln-enclave` as a local process.
    Sim,
    /// A QEMU guest booted from kiln's image.
    Qemu,
    /// A confidential VM or enclave of this platform: an SEV-SNP VM, a TDX trust domain or an
    /// AWS Nitro Enclave.
    Hardware(Platform),
}

impl Backend {
    /// The name on the command line and in the request.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sim => "sim",
            Self::Qemu => "qemu",
            // The name in signed requests since the first release: `snp`, not `sev-snp`.
            Self::Hardware(Platform::SevSnp) => "snp",
            Self::Hardware(platform) => platform.as_str(),
        }
    }

    /// Parses a `--backend` value.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sim" => Some(Self::Sim),
            "qemu" => Some(Self::Qemu),
            other => Platform::parse(other).map(Self::Hardware),
        }
    }
}

/// What a launch needs.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The platform whose evidence the guest produces.
    pub platform: Platform,
    /// kiln's state directory (the simulated chip lives in `<state>/sim-chip`).
    pub state_dir: PathBuf,
    /// How long the guest may take to connect (QEMU: to boot and say hello).
    pub connect_timeout: Duration,
    /// QEMU: the image folder to boot (`kiln image build`).
    pub image: Option<PathBuf>,
    /// QEMU: vCPUs.
    pub vcpus: u32,
    /// QEMU: memory, MiB.
    pub memory_mib: u64,
    /// Sim: toolchain folders (outside the system's) the build's sandbox mounts read-only.
    pub toolchain_roots: Vec<PathBuf>,
    /// Whether the build may run with a weaker sandbox where the full one cannot be set up.
    pub sandbox: SandboxChoice,
    /// Sim: the size limit of the build's work folder, MiB (`None`: the enclave's default).
    pub work_mib: Option<u64>,
}

/// Whether the guest may build without its full sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxChoice {
    /// Every layer, or no build (the default).
    #[default]
    Full,
    /// `kiln build --allow-weaker-sandbox`: the layers that hold, recorded in the provenance.
    AllowWeaker,
}

/// A launched guest. Dropping it kills the guest and removes its temporary files.
#[derive(Debug)]
pub struct Guest {
    /// The control channel (the build protocol).
    pub control: Box<dyn Channel>,
    /// The measurement the launcher computed for what it launched.
    pub measurement: Measurement,
    /// Whether the evidence will come from the simulator.
    pub simulated: bool,
    /// The guest process or VM; killed on drop.
    pub handle: Box<dyn GuestHandle>,
    /// What the launch cost and where its logs are (QEMU: boot-to-ready, console log).
    pub launch_report: Option<String>,
}

/// Control over a running guest.
pub trait GuestHandle: Send + fmt::Debug {
    /// Waits up to `timeout` for the guest to exit and describes how it ended (exit status
    /// and the tail of its diagnostics), or `None` if it is still running.
    fn exit_report(&mut self, timeout: Duration) -> BoxFuture<'_, Option<String>>;

    /// Stops the guest: waits up to `grace` for it to exit by itself, then kills it and reaps
    /// it.
    fn shutdown(&mut self, grace: Duration) -> BoxFuture<'_, ()>;
}

/// Why a guest could not be launched.
#[derive(Debug)]
pub enum LaunchError {
    /// The backend does not exist on this host (yet).
    Unavailable {
        /// The backend.
        backend: Backend,
        /// What is missing.
        missing: String,
    },
    /// The `kiln-enclave` binary was not found.
    EnclaveNotFound {
        /// Where it was looked for.
        looked: Vec<PathBuf>,
    },
    /// A file operation failed.
    Io {
        /// What was being done.
        op: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The simulated TEE refused to launch.
    Tee(kiln_tee::TeeError),
    /// The guest did not connect.
    NoConnection {
        /// Why (it exited, or the timeout passed).
        reason: String,
    },
    /// The guest image is missing or unusable.
    Image(crate::guest_image::GuestImageError),
    /// The VM failed to start, crashed or hung before it was ready; it was killed.
    Vm {
        /// What happened.
        reason: String,
        /// The guest's console log.
        console_log: PathBuf,
        /// The last console lines.
        console_tail: String,
    },
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { backend, missing } => write!(
                f,
                "backend {:?} is not available here: {missing}; use --backend sim (the simulated TEE)",
                backend.as_str()
            ),
            Self::EnclaveNotFound { looked } => {
                let list: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "cannot find the kiln-enclave binary (looked at: {}); build it with `cargo build -p kiln-enclave` (it is placed next to `kiln`) or set KILN_ENCLAVE to its path",
                    list.join(", ")
                )
            }
            Self::Io { op, .. } => write!(f, "cannot {op}"),
            Self::Tee(_) => f.write_str("the simulated TEE refused the launch"),
            Self::NoConnection { reason } => {
                write!(f, "the enclave did not connect to the host: {reason}")
            }
            Self::Image(_) => f.write_str("no usable guest image"),
            Self::Vm {
                reason,
                console_log,
                console_tail,
            } => {
                write!(f, "{reason}; console log: {}", console_log.display())?;
                if !console_tail.is_empty() {
                    write!(f, "; its last lines:\n{console_tail}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LaunchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Tee(e) => Some(e),
            Self::Image(e) => Some(e),
            _ => None,
        }
    }
}

/// A way to start guests.
pub trait Launcher: Send + Sync + fmt::Debug {
    /// The backend.
    fn backend(&self) -> Backend;

    /// Starts a guest and waits for it to connect its control channel.
    fn launch<'a>(&'a self, spec: &'a LaunchSpec) -> BoxFuture<'a, Result<Guest, LaunchError>>;
}

/// The launcher for `backend`, or why there is none on this host.
pub fn launcher_for(backend: Backend) -> Result<Box<dyn Launcher>, LaunchError> {
    let missing = match backend {
        Backend::Sim => return Ok(Box::new(crate::launch::sim::SimLauncher::from_env()?)),
        Backend::Qemu => return Ok(Box::new(crate::launch::qemu::QemuLauncher::from_env()?)),
        Backend::Hardware(Platform::SevSnp) => crate::launch::qemu::snp_host_gaps(),
        Backend::Hardware(Platform::Tdx) => crate::launch::qemu::tdx_host_gaps(),
        Backend::Hardware(Platform::Nitro) => crate::launch::qemu::nitro_host_gaps(),
    };
    Err(LaunchError::Unavailable { backend, missing })
}
