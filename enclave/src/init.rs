//! `/init` mode: kiln-enclave as the first process of kiln's guest image.
//!
//! Chosen when the process is pid 1 (the kernel ran it as `rdinit=/init`) or with `--init`
//! as the first argument. It
//!
//! 1. mounts `/proc`, `/sys`, `/dev` (devtmpfs), `/tmp` (tmpfs), `/sys/fs/cgroup` (cgroup2) and, when the kernel has
//!    it, configfs at `/sys/kernel/config` (configfs-tsm);
//! 2. loads the modules listed, in order, in `/lib/modules/<release>/kiln-modules`
//!    (`finit_module`), each only where its conditions hold ([`kiln_provenance::guest_modules`]:
//!    no SEV-SNP driver outside an SEV-SNP guest); a module whose device is absent all the same
//!    only earns a console line;
//! 3. when the kernel command line names a toolchain disk (`kiln.toolchain=`, see
//!    [`kiln_provenance::toolchain_disk`]), opens it as a read-only dm-verity device with the
//!    root hash from the command line ([`crate::dm`]), mounts its SquashFS read-only at
//!    [`TOOLCHAIN_MOUNT`] and puts its top-level folders over the root's: the disk is the
//!    guest's userland (toolchain, bubblewrap, libc); a disk that does not match its root hash
//!    fails here or on the first read of a changed block, never silently. The toolchain's
//!    manifest (`usr/share/kiln/toolchain.json`, on the disk or in a Nitro enclave's ramdisk)
//!    names it and its packages for the provenance;
//! 4. finds the virtio-serial ports by name (`/sys/class/virtio-ports/*/name` holds
//!    `kiln.control` or `kiln.device`; the device node is `/dev/<that directory>`);
//! 5. runs one session ([`crate::session::run`]) with the control port, the hardware TEE
//!    when present and otherwise the host's simulated security processor on the device port,
//!    work directories in `/tmp`, `PATH=/usr/bin:/bin`;
//! 6. powers the machine off, whatever happened (after the session sent its `Error`).
//!
//! Each port is opened exactly once and kept open for the session: the kernel discards what
//! the host sends to a port nobody holds open. Console lines go to stderr (`/dev/console`).

use std::ffi::CStr;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::kmod::{finit_module, ModuleInitFlags};
use nix::mount::{mount, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};

use kiln_provenance::guest_modules::{ModuleCondition, ModuleLine};
use kiln_provenance::toolchain_disk::ToolchainDiskParam;
use kiln_provenance::toolchain_manifest::{ToolchainManifest, MANIFEST_PATH};

use crate::config::{Addr, Config, GuestToolchain, TeeChoice};
use crate::{backend, error, session};

/// The name of the control port (the build protocol).
pub const CONTROL_PORT: &str = "kiln.control";
/// The name of the device port (the simulated security processor).
pub const DEVICE_PORT: &str = "kiln.device";
/// The PATH of the build and of everything /init starts.
pub const INIT_PATH: &str = "/usr/bin:/bin";
/// Where a toolchain disk is mounted.
pub const TOOLCHAIN_MOUNT: &str = "/toolchain";
/// The device-mapper name of the toolchain disk.
const TOOLCHAIN_DM_NAME: &str = "kiln-toolchain";
/// How long the ports may take to appear after boot.
const PORT_WAIT: Duration = Duration::from_secs(10);
/// The sysfs folder of virtio-serial ports.
const PORTS_DIR: &str = "/sys/class/virtio-ports";

/// Why the guest could not be set up.
#[derive(Debug)]
pub enum InitError {
    /// A mount failed.
    Mount {
        /// The mount point.
        target: &'static str,
        /// The kernel's answer.
        source: Errno,
    },
    /// A file could not be read.
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The image's module list has a line that is not a module line.
    ModuleList {
        /// Why.
        reason: String,
    },
    /// The toolchain disk cannot be opened or mounted.
    Toolchain {
        /// Why.
        reason: String,
    },
    /// A virtio-serial port did not appear.
    NoPort {
        /// Its name.
        name: &'static str,
        /// What was found instead.
        found: Vec<String>,
    },
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mount { target, .. } => write!(f, "cannot mount {target}"),
            Self::Io { op, path, .. } => write!(f, "cannot {op} {}", path.display()),
            Self::ModuleList { reason } => write!(f, "module list: {reason}"),
            Self::Toolchain { reason } => write!(f, "toolchain disk: {reason}"),
            Self::NoPort { name, found } => write!(
                f,
                "no virtio-serial port named {name} within {} s (ports: {})",
                PORT_WAIT.as_secs(),
                if found.is_empty() {
                    "none".to_owned()
                } else {
                    found.join(", ")
                }
            ),
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Mount { source, .. } => Some(source),
            Self::Io { source, .. } => Some(source),
            Self::NoPort { .. } | Self::Toolchain { .. } | Self::ModuleList { .. } => None,
        }
    }
}

/// Whether this process should act as `/init`: pid 1, or `--init` as the first argument.
pub fn wanted() -> bool {
    std::process::id() == 1 || std::env::args_os().nth(1).is_some_and(|a| a == "--init")
}

fn say(line: &str) {
    eprintln!("kiln-init: {line}");
}

/// Seconds since boot, for the console (what boot-to-ready costs).
fn uptime() -> String {
    fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn mount_fs(
    fstype: &'static str,
    target: &'static str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), InitError> {
    // The mount point may be missing from the image (it is only a directory).
    let _ = fs::create_dir_all(target);
    match mount(Some(fstype), target, Some(fstype), flags, data) {
        // Already mounted (the kernel may mount devtmpfs itself): nothing to do.
        Ok(()) | Err(Errno::EBUSY) => Ok(()),
        Err(source) => Err(InitError::Mount { target, source }),
    }
}

/// Leaves the initramfs' rootfs for a tmpfs root holding bind mounts of its top-level
/// entries (what `switch_root` does, without copying): the kernel refuses `pivot_root(2)` on
/// rootfs, and bubblewrap — the build's sandbox — needs it.
fn leave_rootfs() -> Result<(), InitError> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |e: Errno| InitError::Io {
            op,
            path,
            source: io::Error::from(e),
        }
    };
    let fs_io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| InitError::Io { op, path, source }
    };
    let new_root = Path::new("/mnt");
    fs::create_dir_all(new_root).map_err(fs_io("create", new_root))?;
    mount(
        Some("tmpfs"),
        new_root,
        Some("tmpfs"),
        MsFlags::MS_NOSUID,
        Some("mode=0755"),
    )
    .map_err(|source| InitError::Mount {
        target: "/mnt",
        source,
    })?;
    bind_entries(Path::new("/"), new_root, Some("mnt"), FileEntries::Bind)?;
    nix::unistd::chdir(new_root).map_err(io("enter", new_root))?;
    mount(
        Some(new_root),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(io("move onto /", new_root))?;
    nix::unistd::chroot(".").map_err(io("chroot into", new_root))?;
    nix::unistd::chdir("/").map_err(io("enter", Path::new("/")))?;
    Ok(())
}

fn mounts() -> Result<(), InitError> {
    let quiet = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    mount_fs("proc", "/proc", quiet, None)?;
    mount_fs("sysfs", "/sys", quiet, None)?;
    mount_fs("devtmpfs", "/dev", MsFlags::MS_NOSUID, Some("mode=0755"))?;
    mount_fs("tmpfs", "/tmp", MsFlags::MS_NOSUID, Some("mode=1777"))?;
    // cgroup v2, for the build's memory and process limits; absent is not fatal (the
    // enclave then says so and relies on rlimits).
    if let Err(e) = mount_fs("cgroup2", "/sys/fs/cgroup", quiet, None) {
        say(&error::report(&e));
    }
    Ok(())
}

/// configfs (for configfs-tsm), once its module is loaded; absent is not an error.
fn mount_configfs() {
    if Path::new("/sys/kernel/config").is_dir() {
        if let Err(e) = mount_fs("configfs", "/sys/kernel/config", MsFlags::empty(), None) {
            say(&error::report(&e));
        }
    }
}

/// A small text file (of `/proc`).
fn read_text(path: &str) -> Result<String, InitError> {
    fs::read_to_string(path).map_err(|source| InitError::Io {
        op: "read",
        path: path.into(),
        source,
    })
}

/// What [`load_modules`] did.
struct ModulesLoaded {
    loaded: usize,
    skipped: usize,
}

/// Whether one of a module's conditions holds on this machine (always, when it has none).
fn module_wanted(when: &[ModuleCondition], cpu_flags: &mut Option<String>) -> bool {
    if when.is_empty() {
        return true;
    }
    when.iter().any(|c| match c {
        ModuleCondition::Cpu(flag) => {
            let flags = cpu_flags.get_or_insert_with(|| {
                fs::read_to_string("/proc/cpuinfo")
                    .ok()
                    .and_then(|t| {
                        t.lines()
                            .find(|l| l.starts_with("flags"))
                            .map(str::to_owned)
                    })
                    .unwrap_or_default()
            });
            flags.split_whitespace().any(|f| f == flag)
        }
        ModuleCondition::Platform(name) => {
            Path::new("/sys/bus/platform/devices").join(name).exists()
        }
        ModuleCondition::Virtio(id) => fs::read_dir("/sys/bus/virtio/devices")
            .map(|entries| {
                entries.flatten().any(|e| {
                    fs::read_to_string(e.path().join("device"))
                        .is_ok_and(|d| d.trim().eq_ignore_ascii_case(id))
                })
            })
            .unwrap_or(false),
    })
}

/// Loads the modules of `kiln-modules` in order, each whose conditions hold
/// ([`kiln_provenance::guest_modules`]).
fn load_modules() -> Result<ModulesLoaded, InitError> {
    let release = read_text("/proc/sys/kernel/osrelease")?;
    let dir = Path::new("/lib/modules").join(release.trim());
    let list_path = dir.join("kiln-modules");
    let list = match fs::read_to_string(&list_path) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(ModulesLoaded {
                loaded: 0,
                skipped: 0,
            })
        }
        Err(source) => {
            return Err(InitError::Io {
                op: "read",
                path: list_path,
                source,
            })
        }
    };
    let mut done = ModulesLoaded {
        loaded: 0,
        skipped: 0,
    };
    let mut cpu_flags = None;
    for text in list.lines().filter(|l| !l.trim().is_empty()) {
        let line = ModuleLine::parse(text).map_err(|reason| InitError::ModuleList {
            reason: format!("{}: {reason}", list_path.display()),
        })?;
        if !module_wanted(&line.when, &mut cpu_flags) {
            done.skipped += 1;
            continue;
        }
        let path = dir.join(&line.path);
        let file = fs::File::open(&path).map_err(|source| InitError::Io {
            op: "open the module",
            path: path.clone(),
            source,
        })?;
        let no_params: &CStr = c"";
        match finit_module(&file, no_params, ModuleInitFlags::empty()) {
            Ok(()) | Err(Errno::EEXIST) => done.loaded += 1,
            // A driver for hardware this machine does not have (ENODEV from its init): noted.
            Err(e) => say(&format!("module {} not loaded: {e}", line.path)),
        }
    }
    Ok(done)
}

/// The `/dev` node of each named port, waiting up to [`PORT_WAIT`] for both.
fn find_ports() -> Result<(PathBuf, PathBuf), InitError> {
    let deadline = Instant::now() + PORT_WAIT;
    loop {
        let mut found = Vec::new();
        let (mut control, mut device) = (None, None);
        if let Ok(entries) = fs::read_dir(PORTS_DIR) {
            for entry in entries.flatten() {
                let name = fs::read_to_string(entry.path().join("name")).unwrap_or_default();
                let node = Path::new("/dev").join(entry.file_name());
                match name.trim() {
                    CONTROL_PORT => control = Some(node),
                    DEVICE_PORT => device = Some(node),
                    other => found.push(format!("{other:?}")),
                }
            }
        }
        match (control, device) {
            (Some(c), Some(d)) if c.exists() && d.exists() => return Ok((c, d)),
            (c, _) if Instant::now() >= deadline => {
                return Err(InitError::NoPort {
                    name: if c.is_none() {
                        CONTROL_PORT
                    } else {
                        DEVICE_PORT
                    },
                    found,
                })
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Opens and mounts the toolchain disk the command line names, if it names one; returns the
/// mount point.
fn mount_toolchain() -> Result<Option<ToolchainDiskParam>, InitError> {
    let cmdline = read_text("/proc/cmdline")?;
    let bad = |reason: String| InitError::Toolchain { reason };
    let Some(disk) = ToolchainDiskParam::from_cmdline(&cmdline).map_err(bad)? else {
        return Ok(None);
    };
    let node = crate::dm::open_verity(
        TOOLCHAIN_DM_NAME,
        disk.data_blocks,
        &disk.verity_table_params(),
    )
    .map_err(|e| bad(format!("/dev/{}: {e}", disk.disk)))?;
    let target = Path::new(TOOLCHAIN_MOUNT);
    fs::create_dir_all(target).map_err(|source| InitError::Io {
        op: "create",
        path: target.into(),
        source,
    })?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NODEV | MsFlags::MS_NOSUID;
    mount(Some(&node), target, Some("squashfs"), flags, None::<&str>).map_err(|e| {
        bad(format!(
            "cannot mount {} (root hash {}) at {TOOLCHAIN_MOUNT}: {e} (a disk whose blocks do \
             not match the root hash on the kernel command line reads as an I/O error)",
            node.display(),
            hex::encode(disk.root)
        ))
    })?;
    join_root(target)?;
    Ok(Some(disk))
}

/// The toolchain image's manifest ([`MANIFEST_PATH`]) from the userland `/init` now runs on:
/// the verified disk in a VM (where it must be present), the measured ramdisk in a Nitro
/// enclave (absent only from an image built without a toolchain).
fn read_toolchain_manifest(
    disk: Option<ToolchainDiskParam>,
) -> Result<Option<GuestToolchain>, InitError> {
    let path = Path::new("/").join(MANIFEST_PATH);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound && disk.is_none() => return Ok(None),
        Err(source) => {
            return Err(InitError::Io {
                op: "read the toolchain manifest",
                path,
                source,
            })
        }
    };
    let manifest = ToolchainManifest::parse(&bytes).map_err(|reason| InitError::Toolchain {
        reason: format!("{}: {reason}", path.display()),
    })?;
    Ok(Some(GuestToolchain { manifest, disk }))
}

/// Puts every top-level folder of the mounted toolchain disk (`usr`, `lib`, `bin`, `etc`, ...)
/// over the root's, by bind mounts: the disk is the guest's userland, read-only and verified.
/// (What the initramfs had there, the modules under `/lib/modules`, is loaded already.)
fn join_root(disk: &Path) -> Result<(), InitError> {
    bind_entries(disk, Path::new("/"), None, FileEntries::Refuse)
}

/// What [`bind_entries`] does with a regular file among the entries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FileEntries {
    /// Bind it over an empty file made for it.
    Bind,
    /// Refuse it: only folders and links may join.
    Refuse,
}

/// Bind-mounts every entry of `src` (in name order, `skip` left out) onto the same name in
/// `dst`: a folder over a folder (made if missing), a file as `files` says; a symbolic link is
/// copied as a link where `dst` has nothing of that name.
fn bind_entries(
    src: &Path,
    dst: &Path,
    skip: Option<&str>,
    files: FileEntries,
) -> Result<(), InitError> {
    let fs_io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| InitError::Io { op, path, source }
    };
    let mut entries: Vec<_> = fs::read_dir(src)
        .map_err(fs_io("list", src))?
        .collect::<Result<_, _>>()
        .map_err(fs_io("list", src))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if skip.is_some_and(|s| name == s) {
            continue;
        }
        let (from, to) = (entry.path(), dst.join(&name));
        let kind = entry.file_type().map_err(fs_io("stat", &from))?;
        if kind.is_symlink() {
            if fs::symlink_metadata(&to).is_err() {
                let target = fs::read_link(&from).map_err(fs_io("read the link", &from))?;
                std::os::unix::fs::symlink(target, &to).map_err(fs_io("link", &to))?;
            }
            continue;
        }
        if kind.is_dir() {
            fs::create_dir_all(&to).map_err(fs_io("create", &to))?;
        } else if files == FileEntries::Bind {
            fs::write(&to, b"").map_err(fs_io("create", &to))?;
        } else {
            return Err(InitError::Toolchain {
                reason: format!(
                    "{} is not a folder: only folders join the root",
                    from.display()
                ),
            });
        }
        mount(
            Some(&from),
            &to,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| InitError::Io {
            op: "bind-mount",
            path: from.clone(),
            source: io::Error::from(e),
        })?;
    }
    Ok(())
}

/// Mounts, modules and ports: the session's configuration.
fn setup() -> Result<Config, InitError> {
    leave_rootfs()?;
    mounts()?;
    let modules = load_modules()?;
    mount_configfs();
    let disk = mount_toolchain()?;
    let toolchain = read_toolchain_manifest(disk)?;
    let (control, device) = find_ports()?;
    let tsm_root = PathBuf::from("/sys/kernel/config/tsm/report");
    let tee = backend::probe(&tsm_root).unwrap_or(TeeChoice::SimDevice);
    say(&format!(
        "up at {} s: {} modules ({} for absent hardware left out), control {}, device {}, TEE {}{}",
        uptime(),
        modules.loaded,
        modules.skipped,
        control.display(),
        device.display(),
        tee.as_str(),
        toolchain
            .as_ref()
            .map(|t| match &t.disk {
                Some(d) => format!(
                    ", toolchain {} ({} packages) from disk {} at {TOOLCHAIN_MOUNT}",
                    t.manifest.name,
                    t.manifest.packages.len(),
                    d.disk
                ),
                None => format!(
                    ", toolchain {} ({} packages) in the ramdisk",
                    t.manifest.name,
                    t.manifest.packages.len()
                ),
            })
            .unwrap_or_default()
    ));
    Ok(Config {
        control: Addr::Virtio(control),
        device: Some(Addr::Virtio(device)),
        tee: Some(tee),
        work_root: PathBuf::from("/tmp"),
        work_bytes: None,
        namespaces: None,
        tsm_root,
        // The toolchain is the system's own /usr (from the verified disk in a VM, from the
        // ramdisk in a Nitro enclave): nothing extra to mount into the sandbox.
        toolchain_roots: Vec::new(),
        toolchain_image: toolchain,
        sandbox: crate::sandbox::SandboxRequirement::Full,
    })
}

/// Powers the machine off (QEMU exits). Returns only if that failed (not pid 1, no
/// CAP_SYS_BOOT: `--init` outside a VM), with the exit code to end the process with.
fn power_off(code: u8) -> ExitCode {
    if std::process::id() == 1 {
        nix::unistd::sync();
        // Only returns on failure.
        let Err(e) = reboot(RebootMode::RB_POWER_OFF);
        say(&format!("cannot power off: {e}"));
    }
    ExitCode::from(code)
}

/// Runs `/init` mode to the end.
pub fn main() -> ExitCode {
    // Edition 2021: setting the environment is safe; this process has one thread here.
    std::env::set_var("PATH", INIT_PATH);
    let config = match setup() {
        Ok(c) => c,
        Err(e) => {
            say(&format!("setup failed: {}", error::report(&e)));
            return power_off(2);
        }
    };
    match session::run(&config) {
        Ok(()) => {
            say(&format!("session done at {} s; powering off", uptime()));
            power_off(0)
        }
        Err(e) => {
            say(&format!("session failed: {}", error::report(&e)));
            power_off(1)
        }
    }
}
