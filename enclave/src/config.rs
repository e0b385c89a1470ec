//! Command-line flags, parsed and validated into a [`Config`] before anything runs.

use std::fmt;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The flags.
#[derive(Debug, Parser)]
#[command(
    name = "kiln-enclave",
    version,
    about = "kiln's in-guest builder: builds one request hermetically and returns the \
             artifacts with signed SLSA provenance bound to the TEE's evidence",
    long_about = "kiln's in-guest builder. It connects to the host agent on --control, \
                  receives a build request and the source archive, checks the archive's \
                  SHA-256 against the request, unpacks it into a fresh work directory, runs \
                  the recipe's command with a clean environment, no network, a time limit \
                  and an output size limit, and sends back the outputs, an in-toto/SLSA \
                  statement signed with a key sealed to the TEE's measurement, and evidence \
                  binding that key and the request.\n\n\
                  Addresses: unix:PATH (a Unix socket), virtio:PATH (a virtio-serial port, \
                  e.g. virtio:/dev/virtio-ports/kiln.control), vsock:CID:PORT.\n\n\
                  Normally started by `kiln build`, never by hand."
)]
pub struct Cli {
    /// Where the host agent listens (unix:PATH, virtio:PATH or vsock:CID:PORT).
    #[arg(long, value_name = "ADDR")]
    pub control: String,
    /// Where the simulated security processor listens (needed by --tee sim-device).
    #[arg(long, value_name = "ADDR")]
    pub device: Option<String>,
    /// The TEE backend. Default: the first hardware device present (/dev/sev-guest,
    /// configfs-tsm with /dev/tdx_guest, /dev/nsm), else sim-device when --device is given.
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub tee: Option<TeeChoice>,
    /// Where the fresh work directory of the build is created (default: the system
    /// temporary directory).
    #[arg(long, value_name = "DIR")]
    pub work_root: Option<PathBuf>,
    /// A toolchain directory the host resolved for the recipe's tools (a rustup toolchain, for
    /// instance): mounted read-only at the same path inside the build's sandbox, its `bin/`
    /// first on the PATH. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub toolchain_root: Vec<PathBuf>,
    /// Build even where the full sandbox cannot be set up (no bubblewrap, no user
    /// namespaces): the build then runs with only the layers that held, and the signed
    /// provenance says which.
    #[arg(long)]
    pub allow_weaker_sandbox: bool,
    /// Started as a process (the simulator): the size limit of the build's work folder, a
    /// tmpfs in the enclave's private mount namespace, in bytes [default: half the memory].
    #[arg(long, value_name = "BYTES")]
    pub work_size: Option<u64>,
    /// The configfs-tsm report directory (TDX).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/sys/kernel/config/tsm/report"
    )]
    pub tsm_root: PathBuf,
}

/// A TEE backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TeeChoice {
    /// The host's simulated security processor, over --device.
    SimDevice,
    /// AMD SEV-SNP through /dev/sev-guest.
    SevSnp,
    /// Intel TDX through configfs-tsm.
    Tdx,
    /// AWS Nitro Enclaves through /dev/nsm.
    Nitro,
}

impl TeeChoice {
    /// The name on the command line and in the provenance.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SimDevice => "sim-device",
            Self::SevSnp => "sev-snp",
            Self::Tdx => "tdx",
            Self::Nitro => "nitro",
        }
    }
}

/// Where a channel is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// A Unix stream socket (process mode).
    Unix(PathBuf),
    /// A virtio-serial port (a character device, e.g. `/dev/virtio-ports/kiln.control`).
    Virtio(PathBuf),
    /// A vsock stream (CID 2 is the host).
    Vsock {
        /// Context id.
        cid: u32,
        /// Port.
        port: u32,
    },
}

impl Addr {
    /// Parses `unix:PATH`, `virtio:PATH` or `vsock:CID:PORT`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text.split_once(':').ok_or_else(|| {
            format!("{text:?} has no scheme: use unix:PATH, virtio:PATH or vsock:CID:PORT")
        })?;
        match scheme {
            "unix" | "virtio" if rest.is_empty() => Err(format!("{text:?} has no path")),
            "unix" => Ok(Self::Unix(PathBuf::from(rest))),
            "virtio" => Ok(Self::Virtio(PathBuf::from(rest))),
            "vsock" => {
                let (cid, port) = rest
                    .split_once(':')
                    .ok_or_else(|| format!("{text:?}: use vsock:CID:PORT"))?;
                let num = |what: &str, v: &str| {
                    v.parse::<u32>()
                        .map_err(|e| format!("{text:?}: bad {what} {v:?}: {e}"))
                };
                Ok(Self::Vsock {
                    cid: num("CID", cid)?,
                    port: num("port", port)?,
                })
            }
            other => Err(format!(
                "{text:?}: unknown scheme {other:?} (use unix, virtio or vsock)"
            )),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
            Self::Virtio(p) => write!(f, "virtio:{}", p.display()),
            Self::Vsock { cid, port } => write!(f, "vsock:{cid}:{port}"),
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The host agent.
    pub control: Addr,
    /// The simulated security processor.
    pub device: Option<Addr>,
    /// The backend, or `None` to probe.
    pub tee: Option<TeeChoice>,
    /// Where work directories go.
    pub work_root: PathBuf,
    /// configfs-tsm reports.
    pub tsm_root: PathBuf,
    /// Toolchain directories to mount read-only in the sandbox.
    pub toolchain_roots: Vec<PathBuf>,
    /// Whether a weaker sandbox is acceptable.
    pub sandbox: crate::sandbox::SandboxRequirement,
    /// Started as a process: the size limit of its work folder (see [`crate::simns`]).
    pub work_bytes: Option<u64>,
    /// Started as a process: the namespaces [`crate::simns::enter`] set up, or why it could not.
    pub namespaces: Option<Result<crate::simns::SimNamespaces, String>>,
}

impl Config {
    /// Validates the flags.
    pub fn from_cli(cli: Cli) -> Result<Self, String> {
        let control = Addr::parse(&cli.control).map_err(|e| format!("--control: {e}"))?;
        let device = cli
            .device
            .as_deref()
            .map(Addr::parse)
            .transpose()
            .map_err(|e| format!("--device: {e}"))?;
        if cli.tee == Some(TeeChoice::SimDevice) && device.is_none() {
            return Err("--tee sim-device needs --device ADDR".into());
        }
        Ok(Self {
            control,
            device,
            tee: cli.tee,
            // Started as a process, the work folder is a tmpfs mounted (in the enclave's own
            // mount namespace) over the private folder the host made for this launch, its
            // working directory: the folder's path stays, its owner-only mode no longer bars
            // the build's uid, and the sockets in it stay reachable through the working
            // directory, which the mount does not move.
            work_root: match cli.work_root {
                Some(dir) => dir,
                None => {
                    std::env::current_dir().map_err(|e| format!("the working directory: {e}"))?
                }
            },
            work_bytes: cli.work_size,
            namespaces: None,
            toolchain_roots: {
                for r in &cli.toolchain_root {
                    if !r.is_absolute() {
                        return Err(format!(
                            "--toolchain-root {}: not an absolute path",
                            r.display()
                        ));
                    }
                }
                cli.toolchain_root
            },
            sandbox: if cli.allow_weaker_sandbox {
                crate::sandbox::SandboxRequirement::AllowWeaker
            } else {
                crate::sandbox::SandboxRequirement::Full
            },
            tsm_root: cli.tsm_root,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn addresses_parse_and_print_back() {
        for text in [
            "unix:/tmp/c.sock",
            "virtio:/dev/virtio-ports/kiln",
            "vsock:2:5000",
        ] {
            assert_eq!(Addr::parse(text).unwrap().to_string(), text);
        }
        for bad in [
            "/tmp/c.sock",
            "unix:",
            "tcp:1.2.3.4:5",
            "vsock:2",
            "vsock:x:1",
        ] {
            assert!(Addr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sim_device_needs_a_device() {
        let cli = Cli::try_parse_from([
            "kiln-enclave",
            "--control",
            "unix:/c",
            "--tee",
            "sim-device",
        ])
        .unwrap();
        assert!(Config::from_cli(cli).unwrap_err().contains("--device"));
        let cli = Cli::try_parse_from(["kiln-enclave", "--control", "tcp:x"]).unwrap();
        assert!(Config::from_cli(cli).unwrap_err().starts_with("--control"));
    }
}
