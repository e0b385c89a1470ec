//! Command-line flags, parsed and validated into a [`Config`] before anything runs.

use std::fmt;
use std::path::PathBuf;

use kiln_provenance::Platform;

use std::ffi::OsString;

/// `kiln-enclave --help`.
pub const HELP: &str = "\
kiln-enclave: kiln's in-guest builder. It connects to the host agent on --control, receives a
build request and the source archive, checks the archive's SHA-256 against the request,
unpacks it into a fresh work directory, runs the recipe's command in its sandbox with a clean
environment, no network, a time limit and an output size limit, and sends back the outputs, an
in-toto/SLSA statement signed with a key sealed to the TEE's measurement, and evidence binding
that key and the statement.

Normally started by `kiln build` (or as a VM guest's /init), never by hand.

Usage: kiln-enclave --control ADDR [OPTIONS]

Options:
  --control ADDR           where the host agent listens
  --device ADDR            where the simulated security processor listens (needed by
                           --tee sim-device)
  --tee BACKEND            sim-device, sev-snp, tdx or nitro [default: the first hardware
                           device present (/dev/sev-guest, configfs-tsm with /dev/tdx_guest,
                           /dev/nsm), else sim-device when --device is given]
  --work-root DIR          started as a process: the folder the size-limited work tmpfs is
                           mounted on [default: the working directory]
  --work-size BYTES        started as a process: the work folder's size limit [default: half
                           the memory]
  --toolchain-root DIR     a toolchain folder the host resolved for the recipe's tools,
                           mounted read-only at the same path in the build's sandbox, its bin/
                           first on the PATH (repeatable)
  --allow-weaker-sandbox   build even where the full sandbox cannot be set up; the signed
                           provenance then says which layers held
  --tsm-root DIR           the configfs-tsm report folder (TDX)
                           [default: /sys/kernel/config/tsm/report]
  -h, --help               print this help
  -V, --version            print the version

Addresses: unix:PATH (a Unix socket), virtio:PATH (a virtio-serial port, e.g.
virtio:/dev/virtio-ports/kiln.control), vsock:CID:PORT.

Exit codes: 0 the build was sent back, 1 the session failed (the host is told why when it
can be), 2 bad flags.
";

/// The flags, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    /// `--control`: where the host agent listens.
    pub control: String,
    /// `--device`: where the simulated security processor listens.
    pub device: Option<String>,
    /// `--tee`: the TEE backend.
    pub tee: Option<TeeChoice>,
    /// `--work-root`: started as a process, the folder the work tmpfs is mounted on.
    pub work_root: Option<PathBuf>,
    /// `--toolchain-root` (repeatable): toolchain folders mounted read-only in the sandbox.
    pub toolchain_root: Vec<PathBuf>,
    /// `--allow-weaker-sandbox`.
    pub allow_weaker_sandbox: bool,
    /// `--work-size`: started as a process, the work folder's size limit in bytes.
    pub work_size: Option<u64>,
    /// `--tsm-root`: the configfs-tsm report folder (TDX).
    pub tsm_root: PathBuf,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// A build session with these flags.
    Run(Cli),
    /// `--help`.
    Help,
    /// `--version`.
    Version,
}

impl Cli {
    /// Parses `args` (the program name first, as `std::env::args_os` gives them) with
    /// `lexopt`, a dependency-free parser: the guest's every crate is measured, trusted code.
    pub fn parse_from(args: impl IntoIterator<Item = OsString>) -> Result<Invocation, String> {
        use lexopt::prelude::*;
        let mut p = lexopt::Parser::from_iter(args);
        let mut control = None;
        let mut cli = Cli {
            control: String::new(),
            device: None,
            tee: None,
            work_root: None,
            toolchain_root: Vec::new(),
            allow_weaker_sandbox: false,
            work_size: None,
            tsm_root: PathBuf::from("/sys/kernel/config/tsm/report"),
        };
        let text = |p: &mut lexopt::Parser, flag: &str| -> Result<String, String> {
            p.value()
                .map_err(|e| format!("--{flag}: {e}"))?
                .into_string()
                .map_err(|v| format!("--{flag} {v:?} is not UTF-8"))
        };
        while let Some(arg) = p.next().map_err(|e| e.to_string())? {
            match arg {
                Long("control") => control = Some(text(&mut p, "control")?),
                Long("device") => cli.device = Some(text(&mut p, "device")?),
                Long("tee") => {
                    let name = text(&mut p, "tee")?;
                    cli.tee = Some(TeeChoice::parse(&name).ok_or_else(|| {
                        format!("--tee {name:?}: use sim-device, sev-snp, tdx or nitro")
                    })?);
                }
                Long("work-root") => {
                    cli.work_root = Some(p.value().map_err(|e| e.to_string())?.into());
                }
                Long("toolchain-root") => cli
                    .toolchain_root
                    .push(p.value().map_err(|e| e.to_string())?.into()),
                Long("allow-weaker-sandbox") => cli.allow_weaker_sandbox = true,
                Long("work-size") => {
                    let v = text(&mut p, "work-size")?;
                    cli.work_size = Some(
                        v.parse()
                            .map_err(|e| format!("--work-size {v:?} is not a byte count: {e}"))?,
                    );
                }
                Long("tsm-root") => cli.tsm_root = p.value().map_err(|e| e.to_string())?.into(),
                Short('h') | Long("help") => return Ok(Invocation::Help),
                Short('V') | Long("version") => return Ok(Invocation::Version),
                other => return Err(other.unexpected().to_string()),
            }
        }
        cli.control = control.ok_or("--control ADDR is required")?;
        Ok(Invocation::Run(cli))
    }
}

/// A TEE backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeeChoice {
    /// The host's simulated security processor, over --device.
    SimDevice,
    /// The platform's hardware: SEV-SNP through /dev/sev-guest, TDX through configfs-tsm,
    /// Nitro through /dev/nsm.
    Hardware(Platform),
}

impl TeeChoice {
    /// Parses a `--tee` name.
    pub fn parse(name: &str) -> Option<Self> {
        std::iter::once(Self::SimDevice)
            .chain(Platform::ALL.map(Self::Hardware))
            .find(|c| c.as_str() == name)
    }

    /// The name on the command line and in the provenance.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SimDevice => "sim-device",
            Self::Hardware(platform) => platform.as_str(),
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
    /// As `/init`: the toolchain image the guest's userland is (recorded in the provenance).
    pub toolchain_image: Option<GuestToolchain>,
    /// Whether a weaker sandbox is acceptable.
    pub sandbox: crate::sandbox::SandboxRequirement,
    /// Started as a process: the size limit of its work folder (see [`crate::simns`]).
    pub work_bytes: Option<u64>,
    /// Started as a process: the namespaces [`crate::simns::enter`] set up, or why it could not.
    pub namespaces: Option<Result<crate::simns::SimNamespaces, String>>,
}

/// The toolchain image a guest booted with: its manifest (read from the verified disk in a VM,
/// from the measured ramdisk in a Nitro enclave) and, in a VM, the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestToolchain {
    /// `usr/share/kiln/toolchain.json` of the image.
    pub manifest: kiln_provenance::toolchain_manifest::ToolchainManifest,
    /// The dm-verity disk it came from, in a VM.
    pub disk: Option<kiln_provenance::toolchain_disk::ToolchainDiskParam>,
}

impl GuestToolchain {
    /// The builder dependency that names the toolchain image: the disk's root hash in a VM;
    /// in a Nitro enclave the ramdisk, which PCR2 covers (no digest of its own).
    pub fn builder_dependency(&self) -> kiln_provenance::ResourceDescriptor {
        let name = &self.manifest.name;
        match &self.disk {
            Some(disk) => disk.builder_dependency(name),
            None => kiln_provenance::ResourceDescriptor {
                uri: Some(format!(
                    "{}{name}",
                    kiln_provenance::toolchain_disk::TOOLCHAIN_URI_PREFIX
                )),
                annotations: Some(serde_json::json!({
                    "in": "the enclave image's second ramdisk, covered by PCR2",
                })),
                ..kiln_provenance::ResourceDescriptor::default()
            },
        }
    }
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
            toolchain_image: None,
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

    fn cli(args: &[&str]) -> Result<Invocation, String> {
        Cli::parse_from(
            std::iter::once("kiln-enclave")
                .chain(args.iter().copied())
                .map(OsString::from),
        )
    }

    fn run(args: &[&str]) -> Cli {
        match cli(args).unwrap() {
            Invocation::Run(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sim_device_needs_a_device() {
        let c = run(&["--control", "unix:/c", "--tee", "sim-device"]);
        assert!(Config::from_cli(c).unwrap_err().contains("--device"));
        let c = run(&["--control", "tcp:x"]);
        assert!(Config::from_cli(c).unwrap_err().starts_with("--control"));
    }

    #[test]
    fn flags_parse_into_the_cli_and_mistakes_are_named() {
        let c = run(&[
            "--control=unix:/c",
            "--device",
            "unix:/d",
            "--tee",
            "tdx",
            "--toolchain-root",
            "/a",
            "--toolchain-root",
            "/b",
            "--allow-weaker-sandbox",
            "--work-size",
            "1048576",
            "--work-root",
            "/w",
            "--tsm-root",
            "/t",
        ]);
        assert_eq!(c.control, "unix:/c");
        assert_eq!(c.device.as_deref(), Some("unix:/d"));
        assert_eq!(c.tee, Some(TeeChoice::Hardware(Platform::Tdx)));
        assert_eq!(c.toolchain_root, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(c.allow_weaker_sandbox);
        assert_eq!(c.work_size, Some(1 << 20));
        assert_eq!(c.work_root, Some(PathBuf::from("/w")));
        assert_eq!(c.tsm_root, PathBuf::from("/t"));
        assert_eq!(
            run(&["--control", "x"]).tsm_root,
            PathBuf::from("/sys/kernel/config/tsm/report")
        );
        assert_eq!(cli(&["--help"]).unwrap(), Invocation::Help);
        assert_eq!(cli(&["-V"]).unwrap(), Invocation::Version);
        for (args, says) in [
            (&[][..], "--control ADDR is required"),
            (&["--control"][..], "missing argument"),
            (&["--control", "x", "--tee", "sgx"][..], "--tee \"sgx\""),
            (
                &["--control", "x", "--work-size", "big"][..],
                "not a byte count",
            ),
            (&["--control", "x", "--bogus"][..], "--bogus"),
            (&["--control", "x", "extra"][..], "extra"),
        ] {
            let e = cli(args).unwrap_err();
            assert!(e.contains(says), "{args:?}: {e}");
        }
    }
}
