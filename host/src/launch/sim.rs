//! The simulator backend: `kiln-enclave` as a local process, a simulated TEE on the host.
//!
//! A private temporary directory (mode 0700) holds two listening sockets, `control.sock`
//! (the build protocol) and `device.sock` (the simulated security processor). The launcher
//! measures the enclave binary and its launch parameters, launches a [`SimTee`] with that
//! measurement on the chip kept in `<state>/sim-chip`, starts
//! `kiln-enclave --control unix:control.sock --device unix:device.sock` in that directory,
//! and serves the device socket from the [`SimTee`]. The guest never supplies its own
//! measurement.

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_proto::MeasuredComponent;
use kiln_tee::pki::snp::SimulatedSnpProduct;
use kiln_tee::sim::{SimChip, SimProfile, SimTee};

use super::common::{component, PrivateDir, SystemClock};
use kiln_tee::{process_measurement, process_measurement_of_digest, Measurement, Platform};
use sha2::{Digest, Sha256, Sha384};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixListener;
use tokio::process::{Child, Command};

use crate::launch::{
    Backend, BoxFuture, Guest, GuestHandle, LaunchError, LaunchSpec, Launcher, SandboxChoice,
};

/// Environment variable naming the `kiln-enclave` binary.
pub const ENCLAVE_ENV: &str = "KILN_ENCLAVE";
/// The enclave binary's name.
pub const ENCLAVE_NAME: &str = "kiln-enclave";
const CONTROL_SOCK: &str = "control.sock";
const DEVICE_SOCK: &str = "device.sock";
/// Diagnostic lines of the enclave kept for error reports.
const TAIL_LINES: usize = 20;
/// How long an exited enclave's last stderr lines are waited for.
const STDERR_DRAIN: Duration = Duration::from_millis(500);

/// The simulator launcher.
#[derive(Debug, Clone)]
pub struct SimLauncher {
    enclave: PathBuf,
}

impl SimLauncher {
    /// A launcher for the given enclave binary.
    pub fn new(enclave: PathBuf) -> Self {
        Self { enclave }
    }

    /// Finds the enclave: `$KILN_ENCLAVE`, else `kiln-enclave` next to the running binary
    /// (or one folder up, for test binaries in `target/*/deps`).
    pub fn from_env() -> Result<Self, LaunchError> {
        if let Some(path) = std::env::var_os(ENCLAVE_ENV) {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(Self::new(path))
            } else {
                Err(LaunchError::EnclaveNotFound { looked: vec![path] })
            };
        }
        let mut looked = Vec::new();
        if let Ok(exe) = std::env::current_exe() {
            if let Some(dir) = exe.parent() {
                looked.push(dir.join(ENCLAVE_NAME));
                if dir.file_name().is_some_and(|n| n == "deps") {
                    if let Some(up) = dir.parent() {
                        looked.push(up.join(ENCLAVE_NAME));
                    }
                }
            }
        }
        match looked.iter().find(|p| p.is_file()) {
            Some(p) => Ok(Self::new(p.clone())),
            None => Err(LaunchError::EnclaveNotFound { looked }),
        }
    }

    /// The enclave binary.
    pub fn enclave(&self) -> &Path {
        &self.enclave
    }
}

/// The arguments the enclave is started with (relative socket paths: it runs in the
/// private directory), which are also what is measured.
/// The enclave's measured arguments: its channels, the weaker-sandbox opt-in when given (so a
/// launch that may build without the full sandbox has another measurement), and the work
/// folder's size when not the default.
fn enclave_args(sandbox: SandboxChoice, work_mib: Option<u64>) -> Vec<String> {
    let mut args = vec![
        "--control".into(),
        format!("unix:{CONTROL_SOCK}"),
        "--device".into(),
        format!("unix:{DEVICE_SOCK}"),
    ];
    if sandbox == SandboxChoice::AllowWeaker {
        args.push("--allow-weaker-sandbox".into());
    }
    if let Some(mib) = work_mib {
        args.push("--work-size".into());
        args.push(mib.saturating_mul(1 << 20).to_string());
    }
    args
}

/// The canonical launch parameters measured with the binary: JSON with sorted keys.
pub fn launch_params(platform: Platform, sandbox: SandboxChoice, work_mib: Option<u64>) -> Vec<u8> {
    let value = serde_json::json!({
        "backend": Backend::Sim.as_str(),
        "platform": platform.as_str(),
        "args": enclave_args(sandbox, work_mib),
    });
    value.to_string().into_bytes()
}

/// The measurement of a sim launch of `enclave_binary` on `platform` with the full sandbox.
pub fn sim_measurement(platform: Platform, enclave_binary: &[u8]) -> Measurement {
    process_measurement(
        platform,
        enclave_binary,
        &launch_params(platform, SandboxChoice::Full, None),
    )
}

/// The SHA-256 of the root certificates of the simulated chip kept in `<state>/sim-chip` that
/// `kiln build` uses (each platform's default simulated hardware: the Milan ARK, the TDX root,
/// the Nitro root; or only `platform`'s): what `kiln verify --allow-simulated` trusts by
/// default. `Ok(None)` when that folder holds no chip (nothing is created: a verifying machine
/// that never simulated anything trusts no simulated root).
pub fn state_simulated_roots(
    state_dir: &Path,
    platform: Option<Platform>,
) -> Result<Option<Vec<[u8; 32]>>, kiln_tee::TeeError> {
    let dir = state_dir.join("sim-chip");
    if !dir.join(kiln_tee::chip::SECRET_FILE).is_file() {
        return Ok(None);
    }
    let chip = SimChip::open(&dir)?;
    let mut roots = Vec::new();
    for p in Platform::ALL {
        if platform.is_some_and(|want| want != p) {
            continue;
        }
        let der = match SimProfile::default_for(p) {
            SimProfile::SevSnp { product, .. } => chip
                .snp_pki(product, product.default_tcb())?
                .ark_der
                .clone(),
            SimProfile::Tdx { .. } => chip.tdx_pki()?.root_der.clone(),
            SimProfile::Nitro => chip.nitro_root()?.root_der.clone(),
        };
        roots.push(Sha256::digest(&der).into());
    }
    Ok(Some(roots))
}

type Tail = Arc<Mutex<VecDeque<String>>>;

fn push_tail(tail: &Tail, line: String) {
    let mut t = tail
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if t.len() == TAIL_LINES {
        t.pop_front();
    }
    t.push_back(line);
}

fn tail_text(tail: &Tail) -> String {
    let t = tail
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if t.is_empty() {
        String::new()
    } else {
        let lines: Vec<&str> = t.iter().map(String::as_str).collect();
        format!("; its last diagnostics: {}", lines.join(" | "))
    }
}

/// A running sim enclave.
struct SimGuest {
    child: Child,
    tail: Tail,
    /// Reads the enclave's stderr into `tail`; ends at its end of file.
    stderr_task: Option<tokio::task::JoinHandle<()>>,
    device_task: tokio::task::JoinHandle<()>,
    // Dropped last: removes the sockets.
    _dir: PrivateDir,
}

impl fmt::Debug for SimGuest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimGuest")
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl Drop for SimGuest {
    fn drop(&mut self) {
        // The process may already have exited; a failed kill leaves nothing to do.
        let _ = self.child.start_kill();
        self.device_task.abort();
        if let Some(task) = &self.stderr_task {
            task.abort();
        }
    }
}

impl SimGuest {
    /// The last diagnostics of an enclave that has exited: first lets the stderr reader reach
    /// the end of the pipe (bounded, in case a child of the enclave still holds it), so the
    /// lines written just before the exit are part of the report.
    async fn final_tail(&mut self) -> String {
        if let Some(task) = self.stderr_task.take() {
            let _ = tokio::time::timeout(STDERR_DRAIN, task).await;
        }
        tail_text(&self.tail)
    }
}

impl GuestHandle for SimGuest {
    fn exit_report(&mut self, timeout: Duration) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            let status = tokio::time::timeout(timeout, self.child.wait())
                .await
                .ok()?;
            let how = match status {
                Ok(s) => describe_status(s),
                Err(e) => format!("could not be waited for ({e})"),
            };
            Some(format!(
                "the enclave process {how}{}",
                self.final_tail().await
            ))
        })
    }

    fn shutdown(&mut self, grace: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if tokio::time::timeout(grace, self.child.wait())
                .await
                .is_err()
            {
                // kill() sends SIGKILL and reaps; an error means it is already gone.
                let _ = self.child.kill().await;
            }
            self.device_task.abort();
        })
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => format!("ended ({status})"),
    }
}

impl Launcher for SimLauncher {
    fn backend(&self) -> Backend {
        Backend::Sim
    }

    fn launch<'a>(&'a self, spec: &'a LaunchSpec) -> BoxFuture<'a, Result<Guest, LaunchError>> {
        Box::pin(async move { self.launch_inner(spec).await })
    }
}

impl SimLauncher {
    async fn launch_inner(&self, spec: &LaunchSpec) -> Result<Guest, LaunchError> {
        let io = |op: String| move |source| LaunchError::Io { op, source };
        let binary = tokio::fs::read(&self.enclave)
            .await
            .map_err(io(format!("read {}", self.enclave.display())))?;
        let params = launch_params(spec.platform, spec.sandbox, spec.work_mib);
        // SHA-384 (measured and recorded) and SHA-256 (recorded) of the binary, each once, on
        // two threads.
        let (sha384, sha256) = std::thread::scope(|scope| {
            let sha256 = scope.spawn(|| -> [u8; 32] { Sha256::digest(&binary).into() });
            let sha384: [u8; 48] = Sha384::digest(&binary).into();
            (sha384, sha256.join())
        });
        let sha256 = sha256.map_err(|_| LaunchError::Io {
            op: "hash the enclave binary".into(),
            source: std::io::Error::other("the hashing thread panicked"),
        })?;
        let measurement = process_measurement_of_digest(spec.platform, &sha384, &params);
        let enclave_component = MeasuredComponent {
            name: ENCLAVE_NAME.to_owned(),
            uri: Some(format!("file://{}", self.enclave.display())),
            digest: [
                ("sha256".to_owned(), hex::encode(sha256)),
                ("sha384".to_owned(), hex::encode(sha384)),
            ]
            .into(),
            content: None,
        };
        let components = vec![
            enclave_component,
            component("launch-parameters", None, &params, Some(params.clone())),
        ];

        let chip_dir = spec.state_dir.join("sim-chip");
        let chip = SimChip::open(&chip_dir).map_err(LaunchError::Tee)?;
        let profile = SimProfile::default_for(spec.platform);
        let tee = Arc::new(
            SimTee::launch(
                chip,
                profile,
                measurement,
                profile.default_policy(),
                SystemClock,
            )
            .map_err(LaunchError::Tee)?,
        );

        let dir =
            PrivateDir::create().map_err(io("create a private temporary directory".into()))?;
        let control = UnixListener::bind(dir.path().join(CONTROL_SOCK)).map_err(io(format!(
            "listen on {}",
            dir.path().join(CONTROL_SOCK).display()
        )))?;
        let device = UnixListener::bind(dir.path().join(DEVICE_SOCK)).map_err(io(format!(
            "listen on {}",
            dir.path().join(DEVICE_SOCK).display()
        )))?;

        let mut child = Command::new(&self.enclave);
        // The enclave starts with a cleared environment: nothing of the caller's (CI
        // secrets, tokens) can reach it or, through a recipe's allow-list, the build. Only the
        // fault tests' stand-in enclave takes its instructions from KILN_FAKE_* variables.
        child.env_clear();
        for (k, v) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("KILN_FAKE_") {
                child.env(k, v);
            }
        }
        for root in &spec.toolchain_roots {
            child.arg("--toolchain-root").arg(root);
        }
        let mut child = child
            .args(enclave_args(spec.sandbox, spec.work_mib))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(io(format!("start {}", self.enclave.display())))?;

        let tail: Tail = Arc::new(Mutex::new(VecDeque::new()));
        let stderr_task = child.stderr.take().map(|stderr| {
            let tail = Arc::clone(&tail);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    push_tail(&tail, line);
                }
            })
        });

        let device_task = {
            let tail = Arc::clone(&tail);
            tokio::spawn(async move {
                let stream = match device.accept().await {
                    Ok((s, _)) => s,
                    Err(e) => return push_tail(&tail, format!("security processor: accept: {e}")),
                };
                let stream = match stream.into_std().and_then(|s| {
                    s.set_nonblocking(false)?;
                    Ok(s)
                }) {
                    Ok(s) => s,
                    Err(e) => return push_tail(&tail, format!("security processor: {e}")),
                };
                // A plain thread: it ends when the enclave closes the socket.
                std::thread::spawn(move || {
                    let mut stream = stream;
                    if let Err(e) =
                        kiln_tee::device::serve_device(&mut stream, tee.as_ref(), &components)
                    {
                        push_tail(&tail, format!("security processor: {e}"));
                    }
                });
            })
        };

        let mut guest = SimGuest {
            child,
            tail,
            stderr_task,
            device_task,
            _dir: dir,
        };
        /// How waiting for the enclave's connection ended.
        enum Connect {
            Accepted(std::io::Result<(tokio::net::UnixStream, tokio::net::unix::SocketAddr)>),
            Exited(std::io::Result<std::process::ExitStatus>),
            TimedOut,
        }
        let waited = tokio::select! {
            r = control.accept() => Connect::Accepted(r),
            status = guest.child.wait() => Connect::Exited(status),
            () = tokio::time::sleep(spec.connect_timeout) => Connect::TimedOut,
        };
        let accepted = match waited {
            Connect::Accepted(r) => r.map_err(|e| LaunchError::NoConnection {
                reason: format!("accept on the control socket: {e}"),
            }),
            Connect::Exited(Ok(status)) => Err(LaunchError::NoConnection {
                reason: format!(
                    "the enclave process {}{}",
                    describe_status(status),
                    guest.final_tail().await
                ),
            }),
            Connect::Exited(Err(e)) => Err(LaunchError::NoConnection {
                reason: format!("the enclave process could not be waited for: {e}"),
            }),
            Connect::TimedOut => Err(LaunchError::NoConnection {
                reason: format!(
                    "nothing connected within {} s{}",
                    spec.connect_timeout.as_secs(),
                    tail_text(&guest.tail)
                ),
            }),
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                guest.shutdown(Duration::ZERO).await;
                return Err(e);
            }
        };
        Ok(Guest {
            control: Box::new(stream),
            measurement,
            simulated: true,
            handle: Box::new(guest),
            launch_report: None,
        })
    }
}
