//! The QEMU launcher the host agent drives: command lines (local TCG/KVM, SEV-SNP, TDX, and
//! `nitro-cli` for Nitro), a time-limited KVM probe, and a supervised guest process that is
//! killed (its whole process group) on drop, on timeout and on every error path.
//!
//! Channels: two virtio-serial ports named `kiln.control` and `kiln.device`. The host binds
//! both Unix sockets *before* starting QEMU and QEMU connects to them as a client, so nothing
//! the guest writes early is lost and a QEMU that dies at start-up is noticed at once. In the
//! guest the ports are `/dev/vportNpM`; the name is in `/sys/class/virtio-ports/vportNpM/name`.
//! There is no network device. The serial console (ttyS0) goes to a log file.
//!
//! Limit: if the host process itself is SIGKILLed, the drop guard cannot run; the guest then
//! sees EOF on `kiln.control` and must power off (kiln-enclave's job).

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::ImageError;

/// The name of the control port (wire protocol) in the guest.
pub const CONTROL_PORT: &str = "kiln.control";
/// The name of the device port (simulated security processor) in the guest.
pub const DEVICE_PORT: &str = "kiln.device";

/// How QEMU runs the guest's vCPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// KVM (hardware virtualisation).
    Kvm,
    /// TCG (emulation).
    Tcg,
}

impl Accel {
    /// QEMU's name for it (`-accel`).
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// A local (non-confidential) VM launch.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// `qemu-system-x86_64` (looked up in PATH) or a path.
    pub qemu: PathBuf,
    /// The kernel.
    pub kernel: PathBuf,
    /// The initrd.
    pub initrd: PathBuf,
    /// The kernel command line.
    pub cmdline: String,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// vCPUs.
    pub vcpus: u32,
    /// The accelerator.
    pub accel: Accel,
    /// The Unix socket QEMU serves the control port on.
    pub control_socket: PathBuf,
    /// The Unix socket QEMU serves the device port on.
    pub device_socket: PathBuf,
    /// Where the guest's console goes.
    pub console_log: PathBuf,
    /// Read-only raw disks, attached as virtio-blk in order (`/dev/vda`, `/dev/vdb`, ...):
    /// the toolchain disks, whose integrity the guest checks with dm-verity.
    pub disks: Vec<PathBuf>,
}

fn os(s: impl Into<OsString>) -> OsString {
    s.into()
}

fn path_opt(prefix: &str, p: &Path) -> OsString {
    let mut o = OsString::from(prefix);
    o.push(p.as_os_str());
    o
}

/// `file=PATH` for `-drive`, with QEMU's option escaping (a comma is written twice).
fn drive_file(p: &Path) -> OsString {
    let text = p.as_os_str().to_string_lossy().replace(',', ",,");
    OsString::from(format!("file={text}"))
}

fn common_tail(c: &VmConfig, v: &mut Vec<OsString>) {
    v.extend([
        os("-kernel"),
        c.kernel.clone().into(),
        os("-initrd"),
        c.initrd.clone().into(),
    ]);
    v.extend([os("-append"), os(&c.cmdline)]);
    v.extend([os("-nic"), os("none")]);
    v.extend([os("-serial"), path_opt("file:", &c.console_log)]);
    v.extend([os("-monitor"), os("none")]);
    v.extend([os("-device"), os("virtio-serial-pci,id=vser0")]);
    v.extend([
        os("-chardev"),
        path_opt("socket,id=kctl,path=", &c.control_socket),
    ]);
    v.extend([
        os("-device"),
        os(format!(
            "virtserialport,bus=vser0.0,chardev=kctl,name={CONTROL_PORT}"
        )),
    ]);
    v.extend([
        os("-chardev"),
        path_opt("socket,id=kdev,path=", &c.device_socket),
    ]);
    v.extend([
        os("-device"),
        os(format!(
            "virtserialport,bus=vser0.0,chardev=kdev,name={DEVICE_PORT}"
        )),
    ]);
    for (i, disk) in c.disks.iter().enumerate() {
        let mut drive = drive_file(disk);
        drive.push(format!(",if=none,id=disk{i},format=raw,readonly=on"));
        v.extend([os("-drive"), drive]);
        v.extend([os("-device"), os(format!("virtio-blk-pci,drive=disk{i}"))]);
    }
}

fn head(v: &mut Vec<OsString>) {
    v.extend([
        os("-nodefaults"),
        os("-no-user-config"),
        os("-nographic"),
        os("-no-reboot"),
    ]);
}

/// Arguments (without the program) for a local VM under KVM or TCG. The machine is q35, as
/// for the confidential VMs: QEMU's `microvm` boots about 0.2 s sooner under TCG here, but the
/// pinned kernel died of a divide error in early timer setup in 2 to 6 of 10 microvm boots
/// (measured 2026-12-04), and a boot that fails one time in four is no saving.
pub fn local_args(c: &VmConfig) -> Vec<OsString> {
    let mut v = Vec::new();
    head(&mut v);
    v.extend([
        os("-machine"),
        os("q35"),
        os("-accel"),
        os(c.accel.as_str()),
    ]);
    v.extend([
        os("-cpu"),
        os(if c.accel == Accel::Kvm { "host" } else { "max" }),
    ]);
    v.extend([
        os("-m"),
        os(format!("{}M", c.memory_mib)),
        os("-smp"),
        os(c.vcpus.to_string()),
    ]);
    common_tail(c, &mut v);
    v
}

/// Arguments for an SEV-SNP guest (QEMU ≥ 9.1 on an SNP host): memfd-backed private memory,
/// `sev-snp-guest` with `kernel-hashes=on` so the launch digest covers kernel, initrd and
/// cmdline, and an OVMF built from `OvmfPkg/AmdSev` as `-bios`.
pub fn snp_args(
    c: &VmConfig,
    ovmf: &Path,
    vcpu_type: &str,
    cbitpos: u32,
    reduced_phys_bits: u32,
) -> Vec<OsString> {
    let mut v = Vec::new();
    head(&mut v);
    v.extend([
        os("-machine"),
        os("q35,confidential-guest-support=sev0,memory-backend=ram1"),
    ]);
    v.extend([os("-accel"), os("kvm"), os("-cpu"), os(vcpu_type)]);
    v.extend([
        os("-m"),
        os(format!("{}M", c.memory_mib)),
        os("-smp"),
        os(c.vcpus.to_string()),
    ]);
    v.extend([
        os("-object"),
        os(format!(
            "memory-backend-memfd,id=ram1,size={}M,share=true,prealloc=false",
            c.memory_mib
        )),
    ]);
    v.extend([
        os("-object"),
        os(format!("sev-snp-guest,id=sev0,cbitpos={cbitpos},reduced-phys-bits={reduced_phys_bits},kernel-hashes=on")),
    ]);
    v.extend([os("-bios"), ovmf.into()]);
    common_tail(c, &mut v);
    v
}

/// Arguments for a TDX guest (QEMU ≥ 10.1 on a TDX host): `tdx-guest`, split irqchip, a TDVF
/// (`OvmfPkg/IntelTdx`) as `-bios`; the firmware measures kernel, initrd and cmdline into RTMRs.
pub fn tdx_args(c: &VmConfig, tdvf: &Path) -> Vec<OsString> {
    let mut v = Vec::new();
    head(&mut v);
    v.extend([
        os("-machine"),
        os("q35,kernel-irqchip=split,confidential-guest-support=tdx0"),
    ]);
    v.extend([os("-accel"), os("kvm"), os("-cpu"), os("host")]);
    v.extend([
        os("-m"),
        os(format!("{}M", c.memory_mib)),
        os("-smp"),
        os(c.vcpus.to_string()),
    ]);
    v.extend([os("-object"), os("tdx-guest,id=tdx0")]);
    v.extend([os("-bios"), tdvf.into()]);
    common_tail(c, &mut v);
    v
}

/// `nitro-cli run-enclave` arguments (program included) for an EIF on a Nitro-enabled EC2
/// host; the enclave talks to the host over vsock (`cid`).
pub fn nitro_args(
    eif: &Path,
    cpu_count: u32,
    memory_mib: u64,
    cid: u32,
    debug: bool,
) -> Vec<OsString> {
    let mut v = vec![
        os("nitro-cli"),
        os("run-enclave"),
        os("--eif-path"),
        eif.into(),
    ];
    v.extend([
        os("--cpu-count"),
        os(cpu_count.to_string()),
        os("--memory"),
        os(memory_mib.to_string()),
    ]);
    v.extend([os("--enclave-cid"), os(cid.to_string())]);
    if debug {
        v.push(os("--debug-mode"));
    }
    v
}

/// A running QEMU, killed with its process group when dropped.
#[derive(Debug)]
pub struct VmGuard {
    child: Option<Child>,
    /// When QEMU was started.
    pub started: Instant,
    /// QEMU's own stderr.
    pub stderr_log: PathBuf,
}

impl VmGuard {
    /// Spawns `program args` in a new process group, stdin closed, stderr to `stderr_log`.
    pub fn spawn(program: &Path, args: &[OsString], stderr_log: &Path) -> Result<Self, ImageError> {
        let err = fs::File::create(stderr_log).map_err(ImageError::io(stderr_log, "creating"))?;
        let started = Instant::now();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| ImageError::Launch(format!("cannot start {}: {e}", program.display())))?;
        Ok(VmGuard {
            child: Some(child),
            started,
            stderr_log: stderr_log.to_path_buf(),
        })
    }

    /// The QEMU process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `Some(status)` once QEMU has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, ImageError> {
        match self.child.as_mut() {
            None => Err(ImageError::Launch("already reaped".into())),
            Some(c) => c
                .try_wait()
                .map_err(|e| ImageError::Launch(format!("waiting for qemu: {e}"))),
        }
    }

    /// Waits up to `timeout` for QEMU to exit; on timeout kills it and reports.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<ExitStatus, ImageError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait()? {
                self.child = None;
                return Ok(s);
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(ImageError::Timeout {
                    what: "guest did not exit",
                    after_ms: timeout.as_millis(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The last lines QEMU wrote to stderr (for error messages).
    pub fn stderr_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.stderr_log) {
            let _ = f.read_to_string(&mut s);
        }
        let lines: Vec<&str> = s.lines().collect();
        lines
            .get(lines.len().saturating_sub(5)..)
            .unwrap_or(&[])
            .join("\n")
    }

    /// Kills the whole process group and reaps QEMU. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(pid) = i32::try_from(c.id()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for VmGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A launched VM with both channels connected.
#[derive(Debug)]
pub struct Vm {
    /// The QEMU process.
    pub guard: VmGuard,
    /// The control channel (the build protocol).
    pub control: UnixStream,
    /// The device channel (the simulated security processor).
    pub device: UnixStream,
}

fn bind(path: &Path) -> Result<UnixListener, ImageError> {
    let _ = fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(ImageError::io(path, "binding"))?;
    l.set_nonblocking(true)
        .map_err(ImageError::io(path, "configuring"))?;
    Ok(l)
}

/// Binds the two sockets, starts QEMU with `args` and waits (up to `timeout`) until QEMU has
/// connected to both. Any failure kills QEMU before returning.
pub fn launch_with_args(
    c: &VmConfig,
    args: &[OsString],
    timeout: Duration,
) -> Result<Vm, ImageError> {
    let lc = bind(&c.control_socket)?;
    let ld = bind(&c.device_socket)?;
    let mut guard = VmGuard::spawn(&c.qemu, args, &c.console_log.with_extension("qemu.log"))?;
    let deadline = guard.started + timeout;
    let (mut control, mut device) = (None, None);
    while control.is_none() || device.is_none() {
        for (l, slot) in [(&lc, &mut control), (&ld, &mut device)] {
            if slot.is_none() {
                match l.accept() {
                    Ok((s, _)) => *slot = Some(s),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        return Err(ImageError::Launch(format!(
                            "accepting qemu's connection: {e}"
                        )))
                    }
                }
            }
        }
        if let Some(s) = guard.try_wait()? {
            return Err(ImageError::Launch(format!(
                "qemu exited at start-up ({s}): {}",
                guard.stderr_tail()
            )));
        }
        if Instant::now() >= deadline {
            guard.kill();
            return Err(ImageError::Timeout {
                what: "qemu did not connect its channels",
                after_ms: timeout.as_millis(),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let (Some(control), Some(device)) = (control, device) else {
        return Err(ImageError::Launch("internal: channels missing".into()));
    };
    for s in [&control, &device] {
        s.set_nonblocking(false)
            .map_err(|e| ImageError::Launch(format!("socket: {e}")))?;
    }
    Ok(Vm {
        guard,
        control,
        device,
    })
}

/// Launches a local VM (KVM or TCG).
pub fn launch(c: &VmConfig, timeout: Duration) -> Result<Vm, ImageError> {
    launch_with_args(c, &local_args(c), timeout)
}

/// A 64 KiB firmware image whose reset vector writes 1 to the `isa-debug-exit` port 0xf4
/// (QEMU then exits with status 3) and halts.
pub fn probe_firmware() -> Vec<u8> {
    let mut fw = vec![0u8; 64 << 10];
    // mov al, 1 ; out 0xf4, al ; hlt ; jmp $-1
    let code = [0xB0, 0x01, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD];
    let at = fw.len() - 16;
    if let Some(dst) = fw.get_mut(at..at + code.len()) {
        dst.copy_from_slice(&code);
    }
    fw
}

/// Runs the probe firmware under `accel` with a time limit; true when QEMU exited with the
/// debug-exit status (the vCPU really ran).
pub fn probe_accel(
    qemu: &Path,
    accel: Accel,
    scratch: &Path,
    timeout: Duration,
) -> Result<bool, ImageError> {
    let fw = scratch.join("kiln-probe.bin");
    fs::write(&fw, probe_firmware()).map_err(ImageError::io(&fw, "writing"))?;
    let args: Vec<OsString> = vec![
        os("-nodefaults"),
        os("-no-user-config"),
        os("-display"),
        os("none"),
        os("-no-reboot"),
        os("-machine"),
        os("q35"),
        os("-accel"),
        os(accel.as_str()),
        os("-m"),
        os("64M"),
        os("-bios"),
        fw.clone().into(),
        os("-device"),
        os("isa-debug-exit,iobase=0xf4,iosize=0x04"),
    ];
    let mut g = VmGuard::spawn(qemu, &args, &scratch.join("kiln-probe.log"))?;
    match g.wait_timeout(timeout) {
        Ok(status) => Ok(status.code() == Some(3)),
        Err(ImageError::Timeout { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Boots `kernel` with an empty initramfs under `accel` (same machine and CPU model as
/// [`local_args`]); the kernel finds no init and panics, `panic=-1` + `-no-reboot` end QEMU.
/// True when that happened within `timeout`: the accelerator really runs a Linux guest.
pub fn probe_kernel(
    qemu: &Path,
    accel: Accel,
    kernel: &Path,
    scratch: &Path,
    timeout: Duration,
) -> Result<bool, ImageError> {
    let initrd = scratch.join("kiln-probe.cpio");
    let empty = crate::initramfs::Archive::new().to_newc()?;
    fs::write(&initrd, empty).map_err(ImageError::io(&initrd, "writing"))?;
    let log = scratch.join("kiln-probe-console.log");
    let _ = fs::remove_file(&log);
    let mut args: Vec<OsString> = Vec::new();
    head(&mut args);
    args.extend([os("-display"), os("none")]);
    args.extend([os("-machine"), os("q35"), os("-accel"), os(accel.as_str())]);
    args.extend([
        os("-cpu"),
        os(if accel == Accel::Kvm { "host" } else { "max" }),
    ]);
    args.extend([
        os("-m"),
        os("256M"),
        os("-kernel"),
        kernel.into(),
        os("-initrd"),
        initrd.into(),
    ]);
    args.extend([
        os("-append"),
        os("console=ttyS0 panic=-1 rdinit=/kiln-probe-none root=/dev/kiln-probe-none"),
    ]);
    args.extend([
        os("-nic"),
        os("none"),
        os("-monitor"),
        os("none"),
        os("-serial"),
        path_opt("file:", &log),
    ]);
    let mut g = VmGuard::spawn(qemu, &args, &scratch.join("kiln-probe-qemu.log"))?;
    match g.wait_timeout(timeout) {
        Ok(_) => Ok(fs::read_to_string(&log)
            .map(|c| c.contains("Kernel panic"))
            .unwrap_or(false)),
        Err(ImageError::Timeout { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// KVM when `/dev/kvm` opens, a firmware-only guest runs, and `kernel` boots to its init stage
/// within `timeout` (KVM may exist and fail or hang on a real kernel, e.g. nested without the
/// CPU features `-cpu host` asks for); else TCG. Returns the choice and why.
pub fn detect_accel(
    qemu: &Path,
    kernel: &Path,
    scratch: &Path,
    timeout: Duration,
) -> (Accel, String) {
    if let Err(e) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return (Accel::Tcg, format!("/dev/kvm not usable ({e})"));
    }
    match probe_accel(qemu, Accel::Kvm, scratch, timeout) {
        Ok(true) => {}
        Ok(false) => {
            return (
                Accel::Tcg,
                format!(
                    "KVM firmware probe did not finish within {} ms",
                    timeout.as_millis()
                ),
            )
        }
        Err(e) => return (Accel::Tcg, format!("KVM probe failed: {e}")),
    }
    match probe_kernel(qemu, Accel::Kvm, kernel, scratch, timeout) {
        Ok(true) => (Accel::Kvm, "KVM probe guests ran".into()),
        Ok(false) => (
            Accel::Tcg,
            format!(
                "KVM kernel probe failed or hung (limit {} ms)",
                timeout.as_millis()
            ),
        ),
        Err(e) => (Accel::Tcg, format!("KVM kernel probe failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn cfg() -> VmConfig {
        VmConfig {
            qemu: PathBuf::from("qemu-system-x86_64"),
            kernel: PathBuf::from("/img/vmlinuz"),
            initrd: PathBuf::from("/img/initrd.cpio"),
            cmdline: "console=ttyS0 rdinit=/init".into(),
            memory_mib: 2048,
            vcpus: 4,
            accel: Accel::Kvm,
            control_socket: PathBuf::from("/run/k/control.sock"),
            device_socket: PathBuf::from("/run/k/device.sock"),
            console_log: PathBuf::from("/run/k/console.log"),
            disks: Vec::new(),
        }
    }

    #[test]
    fn disks_are_read_only_virtio_blk_in_order_with_escaped_paths() {
        let mut c = cfg();
        c.disks = vec![
            PathBuf::from("/img/toolchain.img"),
            PathBuf::from("/a,b/c.img"),
        ];
        let v = strings(&local_args(&c));
        assert_eq!(
            values(&v, "-drive"),
            [
                "file=/img/toolchain.img,if=none,id=disk0,format=raw,readonly=on",
                "file=/a,,b/c.img,if=none,id=disk1,format=raw,readonly=on"
            ]
        );
        let devices = values(&v, "-device");
        let at = |d: &str| devices.iter().position(|x| x == d).unwrap();
        assert!(at("virtio-blk-pci,drive=disk0") < at("virtio-blk-pci,drive=disk1"));
        assert!(values(&strings(&local_args(&cfg())), "-drive").is_empty());
    }

    fn strings(v: &[OsString]) -> Vec<String> {
        v.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    /// The value following `flag` (every occurrence).
    fn values(v: &[String], flag: &str) -> Vec<String> {
        v.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].clone())
            .collect()
    }

    fn common_checks(v: &[String]) {
        for f in ["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"] {
            assert!(v.iter().any(|a| a == f), "{f} missing: {v:?}");
        }
        assert_eq!(values(v, "-kernel"), ["/img/vmlinuz"]);
        assert_eq!(values(v, "-initrd"), ["/img/initrd.cpio"]);
        assert_eq!(values(v, "-append"), ["console=ttyS0 rdinit=/init"]);
        assert_eq!(values(v, "-nic"), ["none"], "no network device");
        assert_eq!(values(v, "-serial"), ["file:/run/k/console.log"]);
        assert_eq!(values(v, "-m"), ["2048M"]);
        assert_eq!(values(v, "-smp"), ["4"]);
        assert_eq!(
            values(v, "-chardev"),
            [
                "socket,id=kctl,path=/run/k/control.sock",
                "socket,id=kdev,path=/run/k/device.sock"
            ]
        );
        let devices = values(v, "-device");
        assert!(
            devices.contains(&"virtserialport,bus=vser0.0,chardev=kctl,name=kiln.control".into())
        );
        assert!(
            devices.contains(&"virtserialport,bus=vser0.0,chardev=kdev,name=kiln.device".into())
        );
    }

    #[test]
    fn snp_command_line_has_kernel_hashes_memfd_and_ovmf() {
        let v = strings(&snp_args(
            &cfg(),
            Path::new("/fw/OVMF.amdsev.fd"),
            "EPYC-v4",
            51,
            1,
        ));
        common_checks(&v);
        assert_eq!(
            values(&v, "-machine"),
            ["q35,confidential-guest-support=sev0,memory-backend=ram1"]
        );
        assert_eq!(values(&v, "-accel"), ["kvm"]);
        assert_eq!(values(&v, "-cpu"), ["EPYC-v4"]);
        assert_eq!(values(&v, "-bios"), ["/fw/OVMF.amdsev.fd"]);
        assert_eq!(
            values(&v, "-object"),
            [
                "memory-backend-memfd,id=ram1,size=2048M,share=true,prealloc=false",
                "sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,kernel-hashes=on"
            ]
        );
    }

    #[test]
    fn tdx_command_line_has_tdx_guest_split_irqchip_and_tdvf() {
        let v = strings(&tdx_args(&cfg(), Path::new("/fw/OVMF.tdx.fd")));
        common_checks(&v);
        assert_eq!(
            values(&v, "-machine"),
            ["q35,kernel-irqchip=split,confidential-guest-support=tdx0"]
        );
        assert_eq!(values(&v, "-accel"), ["kvm"]);
        assert_eq!(values(&v, "-cpu"), ["host"]);
        assert_eq!(values(&v, "-object"), ["tdx-guest,id=tdx0"]);
        assert_eq!(values(&v, "-bios"), ["/fw/OVMF.tdx.fd"]);
    }

    #[test]
    fn nitro_command_line_runs_the_eif() {
        let v = strings(&nitro_args(Path::new("/img/image.eif"), 2, 1024, 16, false));
        assert_eq!(
            v,
            [
                "nitro-cli",
                "run-enclave",
                "--eif-path",
                "/img/image.eif",
                "--cpu-count",
                "2",
                "--memory",
                "1024",
                "--enclave-cid",
                "16"
            ]
        );
        let debug = strings(&nitro_args(Path::new("/img/image.eif"), 2, 1024, 16, true));
        assert_eq!(debug.last().map(String::as_str), Some("--debug-mode"));
    }

    #[test]
    fn local_command_line_uses_the_chosen_accelerator() {
        let mut c = cfg();
        let v = strings(&local_args(&c));
        common_checks(&v);
        assert_eq!(values(&v, "-accel"), ["kvm"]);
        assert_eq!(values(&v, "-cpu"), ["host"]);
        c.accel = Accel::Tcg;
        let v = strings(&local_args(&c));
        assert_eq!(values(&v, "-accel"), ["tcg"]);
        assert_eq!(values(&v, "-cpu"), ["max"]);
    }
}
