//! The QEMU backend: kiln's guest image booted in a local VM (KVM when it really works, TCG
//! otherwise), the simulated security processor served by the host on the `kiln.device`
//! virtio-serial port, the build protocol on `kiln.control`.
//!
//! The launcher measures what it boots — [`kiln_image::measure::sim_vm_measurement`] of the
//! kernel, initrd, command line, vCPUs and memory — and launches a [`SimTee`] with that
//! measurement (the platform's primary register; the others zero). The guest never supplies
//! it. The measured components (kernel, initrd, command line, launch parameters, with SHA-256
//! and SHA-384) travel to the guest and land in `builderDependencies`.
//!
//! The guest is ready when its first frame (its hello) arrives; the launcher waits for it up to
//! the connect timeout, watching QEMU, and hands the session a channel that replays that
//! frame. The console goes to `<state>/qemu-logs/<id>.console.log`, named in every failure.
//! QEMU runs in its own process group, killed on every path (drop included).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kiln_image::image::ImagePaths;
use kiln_image::measure::{sim_vm_measurement, VmLaunch};
use kiln_image::qemu_process::{detect_accel, launch, Accel, VmConfig, VmGuard};
use kiln_proto::{read_frame_async, write_frame, MeasuredComponent, MAX_FRAME};
use kiln_tee::sim::{SimChip, SimProfile, SimTee};
use kiln_tee::{Measurement, Platform};
use sha2::{Digest, Sha256, Sha384};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::common::{component, PrivateDir, SystemClock};
use crate::launch::{Backend, BoxFuture, Guest, GuestHandle, LaunchError, LaunchSpec, Launcher};

/// Environment variable naming the QEMU binary.
pub const QEMU_ENV: &str = "KILN_QEMU";
/// Environment variable forcing the accelerator (`kvm` or `tcg`), skipping the probe.
pub const ACCEL_ENV: &str = "KILN_QEMU_ACCEL";
/// How long the KVM probe guests may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Console lines quoted in errors.
const CONSOLE_TAIL: usize = 15;

/// The QEMU launcher.
#[derive(Debug, Clone)]
pub struct QemuLauncher {
    qemu: PathBuf,
}

fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl QemuLauncher {
    /// `$KILN_QEMU`, else `qemu-system-x86_64` in PATH.
    pub fn from_env() -> Result<Self, LaunchError> {
        let qemu = match std::env::var_os(QEMU_ENV).filter(|q| !q.is_empty()) {
            Some(q) => PathBuf::from(q),
            None => in_path("qemu-system-x86_64").ok_or_else(|| LaunchError::Unavailable {
                backend: Backend::Qemu,
                missing: "qemu-system-x86_64 is not in PATH (scripts/install-deps installs it; \
                          or set KILN_QEMU)"
                    .into(),
            })?,
        };
        Ok(Self { qemu })
    }

    /// The QEMU binary.
    pub fn qemu(&self) -> &Path {
        &self.qemu
    }
}

/// Whether this QEMU knows a `-object` type (`sev-snp-guest`, `tdx-guest`).
fn qemu_has_object(name: &str) -> Option<bool> {
    let qemu = in_path("qemu-system-x86_64")?;
    let out = std::process::Command::new(qemu)
        .args(["-object", "help"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == name),
    )
}

fn gaps(backend: &str, host: &str, mut missing: Vec<String>, how: &str) -> String {
    if missing.is_empty() {
        missing.push("nothing obvious".into());
    }
    format!(
        "{backend} requires {host}; missing here: {}. {how}",
        missing.join(", ")
    )
}

/// What an SEV-SNP launch lacks on this host.
pub fn snp_host_gaps() -> String {
    let mut missing = Vec::new();
    if !Path::new("/dev/sev").exists() {
        missing
            .push("/dev/sev (AMD SEV-SNP host support in firmware and the kvm_amd module)".into());
    }
    match qemu_has_object("sev-snp-guest") {
        Some(true) => {}
        Some(false) => missing.push("QEMU's `sev-snp-guest` object (QEMU >= 9.1)".into()),
        None => missing.push("qemu-system-x86_64".into()),
    }
    gaps(
        "--backend snp",
        "an AMD SEV-SNP host",
        missing,
        "The launch command line is kiln_image::qemu_process::snp_args (kernel-hashes=on, an OVMF from \
         OvmfPkg/AmdSev); `kiln image measure --platform sev-snp` predicts its digest. Use \
         --backend qemu or sim here.",
    )
}

/// What a TDX launch lacks on this host.
pub fn tdx_host_gaps() -> String {
    let mut missing = Vec::new();
    if !Path::new("/sys/firmware/tdx").exists() {
        missing.push(
            "/sys/firmware/tdx (Intel TDX host support: TDX module and kvm_intel tdx=1)".into(),
        );
    }
    match qemu_has_object("tdx-guest") {
        Some(true) => {}
        Some(false) => missing.push("QEMU's `tdx-guest` object (QEMU >= 10.1)".into()),
        None => missing.push("qemu-system-x86_64".into()),
    }
    gaps(
        "--backend tdx",
        "an Intel TDX host",
        missing,
        "The launch command line is kiln_image::qemu_process::tdx_args (a TDVF firmware). Use --backend \
         qemu or sim here.",
    )
}

/// What a Nitro launch lacks on this host.
pub fn nitro_host_gaps() -> String {
    let mut missing = Vec::new();
    if !Path::new("/dev/nitro_enclaves").exists() {
        missing.push("/dev/nitro_enclaves (a Nitro-Enclaves-enabled EC2 instance)".into());
    }
    if in_path("nitro-cli").is_none() {
        missing.push("nitro-cli in PATH".into());
    }
    gaps(
        "--backend nitro",
        "an AWS EC2 host with Nitro Enclaves enabled",
        missing,
        "The launch is kiln_image::qemu_process::nitro_args (`nitro-cli run-enclave` with the EIF of \
         `kiln image build --format eif`, whose PCRs `kiln image measure --platform nitro` \
         predicts). Use --backend qemu or sim here.",
    )
}

/// The measurement a launch of `sim` yields on `platform`: the primary register, others zero.
pub fn vm_measurement(platform: Platform, sim: [u8; 48]) -> Measurement {
    let zero = [0u8; 48];
    match platform {
        Platform::SevSnp => Measurement::SevSnp { measurement: sim },
        Platform::Tdx => Measurement::Tdx {
            mrtd: sim,
            rtmr: [zero; 4],
        },
        Platform::Nitro => Measurement::Nitro {
            pcr: [sim, zero, zero],
        },
    }
}

fn file_component(name: &str, path: &Path) -> std::io::Result<MeasuredComponent> {
    let mut f = std::fs::File::open(path)?;
    let (mut s256, mut s384) = (Sha256::new(), Sha384::new());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        s256.update(chunk);
        s384.update(chunk);
    }
    let mut digest = BTreeMap::new();
    digest.insert("sha256".to_owned(), hex::encode(s256.finalize()));
    digest.insert("sha384".to_owned(), hex::encode(s384.finalize()));
    Ok(MeasuredComponent {
        name: name.to_owned(),
        uri: Some(format!("file://{}", path.display())),
        digest,
        content: None,
    })
}

/// What a launch measured: the sim measurement and the components behind it.
fn measure_launch(
    p: &ImagePaths,
    cmdline: &str,
    vcpus: u32,
    memory_mib: u64,
) -> Result<([u8; 48], Vec<MeasuredComponent>), LaunchError> {
    let io = |op: String| move |source| LaunchError::Io { op, source };
    let m = sim_vm_measurement(&VmLaunch {
        kernel: p.local_kernel().to_path_buf(),
        initrd: p.initrd.clone(),
        cmdline: cmdline.to_owned(),
        vcpus,
        memory_mib,
    })
    .map_err(|source| {
        LaunchError::Image(crate::guest_image::GuestImageError::Image {
            what: "measure the image".into(),
            source,
        })
    })?;
    let params = serde_json::json!({
        "measurement": "kiln-sim-vm-measurement/v1",
        "vcpus": vcpus,
        "memoryMiB": memory_mib,
    })
    .to_string();
    let components = vec![
        file_component("kernel", p.local_kernel())
            .map_err(io(format!("hash {}", p.local_kernel().display())))?,
        file_component("initrd", &p.initrd).map_err(io(format!("hash {}", p.initrd.display())))?,
        component(
            "cmdline",
            None,
            cmdline.as_bytes(),
            Some(cmdline.as_bytes().to_vec()),
        ),
        component(
            "launch-parameters",
            None,
            params.as_bytes(),
            Some(params.as_bytes().to_vec()),
        ),
    ];
    Ok((m, components))
}

/// The last lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all.get(all.len().saturating_sub(lines)..)
        .unwrap_or_default()
        .join("\n")
}

/// The accelerator: `$KILN_QEMU_ACCEL`, else the probe's verdict cached in the state folder
/// per kernel (the KVM probe may take [`PROBE_TIMEOUT`] where KVM hangs).
fn choose_accel(qemu: &Path, kernel: &Path, state_dir: &Path, scratch: &Path) -> (Accel, String) {
    match std::env::var(ACCEL_ENV).as_deref() {
        Ok("kvm") => return (Accel::Kvm, format!("{ACCEL_ENV}=kvm")),
        Ok("tcg") => return (Accel::Tcg, format!("{ACCEL_ENV}=tcg")),
        _ => {}
    }
    let key = kiln_image::image::sha256_file(kernel)
        .map(|(_, d)| hex::encode(d).chars().take(16).collect::<String>())
        .unwrap_or_default();
    let cache = state_dir.join(format!("qemu-accel-{key}"));
    if let Ok(text) = std::fs::read_to_string(&cache) {
        let (accel, why) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        match accel {
            "kvm" => return (Accel::Kvm, format!("cached: {why}")),
            "tcg" => return (Accel::Tcg, format!("cached: {why}")),
            _ => {}
        }
    }
    let (accel, why) = detect_accel(qemu, kernel, scratch, PROBE_TIMEOUT);
    // A failed write only costs a new probe next time.
    let _ = std::fs::create_dir_all(state_dir);
    let _ = std::fs::write(&cache, format!("{}\n{why}", accel.as_str()));
    (accel, why)
}

type Shared = Arc<Mutex<VmGuard>>;

fn lock(g: &Shared) -> std::sync::MutexGuard<'_, VmGuard> {
    g.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("QEMU exited with status {code}"),
        (None, Some(sig)) => format!("QEMU was killed by signal {sig}"),
        (None, None) => format!("QEMU ended ({status})"),
    }
}

/// A running VM.
struct QemuGuest {
    guard: Shared,
    console_log: PathBuf,
    device_thread: Option<std::thread::JoinHandle<()>>,
    device_errors: Arc<Mutex<Vec<String>>>,
    // Dropped last: removes the sockets.
    _dir: PrivateDir,
}

impl fmt::Debug for QemuGuest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QemuGuest")
            .field("pid", &lock(&self.guard).pid())
            .field("console_log", &self.console_log)
            .finish_non_exhaustive()
    }
}

impl QemuGuest {
    /// Polls QEMU until it exits or `timeout` passes.
    async fn wait_exit(
        &self,
        timeout: Duration,
    ) -> Option<Result<std::process::ExitStatus, String>> {
        let deadline = Instant::now() + timeout;
        loop {
            match lock(&self.guard).try_wait() {
                Ok(Some(s)) => return Some(Ok(s)),
                Ok(None) => {}
                Err(e) => return Some(Err(e.to_string())),
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn report(&self, how: &str) -> String {
        let errors = self
            .device_errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .join("; ");
        let tail = log_tail(&self.console_log, CONSOLE_TAIL);
        let mut out = format!("{how}; console log: {}", self.console_log.display());
        if !errors.is_empty() {
            out.push_str(&format!("; security processor: {errors}"));
        }
        if !tail.is_empty() {
            out.push_str(&format!("; its last lines:\n{tail}"));
        }
        out
    }
}

impl Drop for QemuGuest {
    fn drop(&mut self) {
        lock(&self.guard).kill();
        // The device thread ends when QEMU's end closes its socket.
        if let Some(t) = self.device_thread.take() {
            let _ = t.join();
        }
    }
}

impl GuestHandle for QemuGuest {
    fn exit_report(&mut self, timeout: Duration) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            let how = match self.wait_exit(timeout).await? {
                Ok(s) => format!("the VM stopped: {}", describe(s)),
                Err(e) => format!("the VM could not be waited for: {e}"),
            };
            Some(self.report(&how))
        })
    }

    fn shutdown(&mut self, grace: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.wait_exit(grace).await.is_none() {
                lock(&self.guard).kill();
            }
        })
    }
}

/// The control channel with the guest's first frame put back in front.
#[derive(Debug)]
pub struct Replay {
    head: Vec<u8>,
    pos: usize,
    inner: tokio::net::UnixStream,
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if let Some(rest) = this.head.get(this.pos..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(rest.get(..n).unwrap_or_default());
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Launcher for QemuLauncher {
    fn backend(&self) -> Backend {
        Backend::Qemu
    }

    fn launch<'a>(&'a self, spec: &'a LaunchSpec) -> BoxFuture<'a, Result<Guest, LaunchError>> {
        Box::pin(async move { self.launch_inner(spec).await })
    }
}

impl QemuLauncher {
    /// 1. Measure the image the launch boots (the host computes it; the guest never says).
    /// 2. Launch the simulated security processor with that measurement.
    /// 3. Start QEMU with the control and device sockets bound first, serve the device.
    /// 4. Wait for the guest's hello while QEMU is watched ([`await_hello`]).
    async fn launch_inner(&self, spec: &LaunchSpec) -> Result<Guest, LaunchError> {
        let io = |op: String| move |source| LaunchError::Io { op, source };
        let (vcpus, memory_mib) = (spec.vcpus, spec.memory_mib);
        // 1.
        let (paths, cmdline, measurement, components) = measured_image(spec).await?;
        // 2.
        let chip = SimChip::open(&spec.state_dir.join("sim-chip")).map_err(LaunchError::Tee)?;
        let profile = SimProfile::default_for(spec.platform);
        let tee = SimTee::launch(
            chip,
            profile,
            measurement,
            profile.default_policy(),
            SystemClock,
        )
        .map_err(LaunchError::Tee)?;

        // 3.
        let private =
            PrivateDir::create().map_err(io("create a private temporary directory".into()))?;
        let logs = spec.state_dir.join("qemu-logs");
        std::fs::create_dir_all(&logs).map_err(io(format!("create {}", logs.display())))?;
        let id = crate::random_hex(6).map_err(io("read /dev/urandom".into()))?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let console_log = logs.join(format!("{stamp}-{id}.console.log"));
        let (accel, why) = {
            let (q, k, s, p) = (
                self.qemu.clone(),
                paths.local_kernel().to_path_buf(),
                spec.state_dir.clone(),
                private.path().to_path_buf(),
            );
            tokio::task::spawn_blocking(move || choose_accel(&q, &k, &s, &p))
                .await
                .unwrap_or((Accel::Tcg, "the accelerator probe failed".into()))
        };
        let config = VmConfig {
            qemu: self.qemu.clone(),
            kernel: paths.local_kernel().to_path_buf(),
            initrd: paths.initrd.clone(),
            cmdline,
            memory_mib,
            vcpus,
            accel,
            control_socket: private.path().join("control.sock"),
            device_socket: private.path().join("device.sock"),
            console_log: console_log.clone(),
            // The toolchain disk, when the image has one: the guest opens it with the root
            // hash on the (measured) command line, so the disk itself needs no measuring here.
            disks: std::iter::once(paths.toolchain_disk.clone())
                .filter(|d| d.is_file())
                .collect(),
        };
        let timeout = spec.connect_timeout;
        let vm = tokio::task::spawn_blocking(move || launch(&config, timeout))
            .await
            .map_err(|e| LaunchError::NoConnection {
                reason: format!("starting QEMU: {e}"),
            })?
            .map_err(|e| LaunchError::Vm {
                reason: format!("QEMU did not start: {e}"),
                console_log: console_log.clone(),
                console_tail: log_tail(&console_log, CONSOLE_TAIL),
            })?;
        let started = vm.guard.started;
        let mut device = vm.device;
        let device_errors = Arc::new(Mutex::new(Vec::new()));
        let device_thread = {
            let errors = Arc::clone(&device_errors);
            std::thread::spawn(move || {
                if let Err(e) = kiln_tee::device::serve_device(&mut device, &tee, &components) {
                    errors
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(e.to_string());
                }
            })
        };
        let guest = QemuGuest {
            guard: Arc::new(Mutex::new(vm.guard)),
            console_log: console_log.clone(),
            device_thread: Some(device_thread),
            device_errors,
            _dir: private,
        };
        let control = vm
            .control
            .set_nonblocking(true)
            .and_then(|()| tokio::net::UnixStream::from_std(vm.control))
            .map_err(io("use the control socket".into()))?;

        // 4.
        let mut control = control;
        let payload = await_hello(&guest, &mut control, timeout, started, &console_log).await?;
        let ready = started.elapsed();
        let mut head = Vec::with_capacity(payload.len() + 8);
        write_frame(&mut head, &payload).map_err(|e| {
            lock(&guest.guard).kill();
            LaunchError::Vm {
                reason: format!("re-framing the hello: {e}"),
                console_log: console_log.clone(),
                console_tail: log_tail(&console_log, CONSOLE_TAIL),
            }
        })?;
        Ok(Guest {
            control: Box::new(Replay {
                head,
                pos: 0,
                inner: control,
            }),
            measurement,
            simulated: true,
            launch_report: Some(format!(
                "VM ready in {} ms ({} accelerator: {why}; {vcpus} vCPUs, {memory_mib} MiB); console log {}",
                ready.as_millis(),
                accel.as_str(),
                console_log.display()
            )),
            handle: Box::new(guest),
        })
    }
}

/// Step 1 of a QEMU launch: the image's paths and command line, and the measurement of the
/// launch (with the components it covers), computed off the async runtime.
async fn measured_image(
    spec: &LaunchSpec,
) -> Result<(ImagePaths, String, Measurement, Vec<MeasuredComponent>), LaunchError> {
    let dir = spec.image.clone().ok_or_else(|| {
        LaunchError::Image(crate::guest_image::GuestImageError::Usage(
            "the QEMU backend needs an image folder".into(),
        ))
    })?;
    let paths = crate::guest_image::image_paths(&dir).map_err(LaunchError::Image)?;
    let cmdline = paths.read_cmdline().map_err(|source| {
        LaunchError::Image(crate::guest_image::GuestImageError::Image {
            what: "read the image's command line".into(),
            source,
        })
    })?;
    let (vcpus, memory_mib) = (spec.vcpus, spec.memory_mib);
    let (p, c) = (paths.clone(), cmdline.clone());
    let (sim, components) =
        tokio::task::spawn_blocking(move || measure_launch(&p, &c, vcpus, memory_mib))
            .await
            .map_err(|e| LaunchError::NoConnection {
                reason: format!("measuring the image: {e}"),
            })??;
    Ok((
        paths,
        cmdline,
        vm_measurement(spec.platform, sim),
        components,
    ))
}

/// Step 4 of a QEMU launch: the guest's first frame (its hello), while QEMU is watched. A
/// guest that stops, closes its channel or stays silent past `timeout` is killed, and the
/// error says how it ended with the console's tail.
async fn await_hello(
    guest: &QemuGuest,
    control: &mut tokio::net::UnixStream,
    timeout: Duration,
    started: std::time::Instant,
    console_log: &Path,
) -> Result<Vec<u8>, LaunchError> {
    let first = tokio::select! {
        r = read_frame_async(control, MAX_FRAME) => Ok(r),
        exited = guest.wait_exit(timeout + Duration::from_secs(3600)) => Err(match exited {
            Some(Ok(s)) => format!("the guest stopped before it was ready: {}", describe(s)),
            Some(Err(e)) => format!("the guest could not be watched: {e}"),
            None => "the guest did not finish".into(),
        }),
        () = tokio::time::sleep(timeout.saturating_sub(started.elapsed())) => Err(format!(
            "the guest did not become ready (no hello) within {} s; it was killed",
            timeout.as_secs()
        )),
    };
    let fail = |reason: String| {
        lock(&guest.guard).kill();
        LaunchError::Vm {
            reason,
            console_log: console_log.to_path_buf(),
            console_tail: log_tail(console_log, CONSOLE_TAIL),
        }
    };
    match first {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => {
            // Give QEMU a moment to end, so the report says how.
            let reason = match guest.wait_exit(Duration::from_secs(2)).await {
                Some(Ok(st)) => format!(
                    "the guest stopped before it was ready: {}{} (its control channel closed: {e})",
                    describe(st),
                    if log_tail(console_log, 200).contains("Kernel panic") {
                        ", after a kernel panic"
                    } else {
                        ""
                    }
                ),
                _ => format!("the guest closed its control channel before it was ready ({e})"),
            };
            Err(fail(reason))
        }
        Err(reason) => Err(fail(reason)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_vm_measurement_is_the_primary_register() {
        let m = [7u8; 48];
        for p in Platform::ALL {
            let named = vm_measurement(p, m).named();
            assert_eq!(named.first().unwrap().1, m);
            assert!(named.iter().skip(1).all(|(_, r)| *r == [0u8; 48]));
        }
    }

    #[test]
    fn hardware_backends_name_what_is_missing() {
        if !Path::new("/dev/sev").exists() {
            assert!(snp_host_gaps().contains("/dev/sev"));
        }
        if !Path::new("/dev/nitro_enclaves").exists() {
            let g = nitro_host_gaps();
            assert!(g.contains("/dev/nitro_enclaves"), "{g}");
        }
        if !Path::new("/sys/firmware/tdx").exists() {
            assert!(tdx_host_gaps().contains("/sys/firmware/tdx"));
        }
    }
}
