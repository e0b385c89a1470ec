//! The build's sandbox: the project's own build scripts may be hostile, so they run where they
//! cannot reach the signing key, the TEE interfaces, the enclave's descriptors or memory, the
//! host's files or the network, and where nothing they start outlives them.
//!
//! The sandbox is bubblewrap (`bwrap`, Debian's package), the maintained tool Flatpak and
//! others use, driven with:
//!
//! | layer | how |
//! |---|---|
//! | own uid/gid | when the enclave is root (the VM guest's `/init`, a root simulator, or an unprivileged simulator in its own user namespace, [`crate::simns`]) `bwrap` itself runs as [`BUILD_UID`]:[`BUILD_GID`], neither the enclave's nor the caller's (for an unprivileged simulator, the caller's first subordinate ids); a simulator without subordinate ids shares the caller's uid (recorded) |
//! | namespaces | new user, PID, mount, IPC, UTS, network and cgroup namespaces; no further user namespaces inside (`--disable-userns`) |
//! | capabilities | none (`--cap-drop ALL`), and `no_new_privs` (bwrap sets it for the seccomp filter) |
//! | seccomp | [`DENIED_SYSCALLS`] fail with `EPERM`, through the x86-64 and the x32 ABI alike (a filter compiled by `seccompiler`, Firecracker's) |
//! | filesystem | the system's `/usr` (and the merged `/bin`, `/lib`…), a few files of `/etc`, and the host-resolved toolchain folders, all read-only; the work folder read-write; a private `/tmp`, `/proc`, and a read-only `/dev` of [`BUILD_DEVICES`] (null, zero, full, random, urandom), the `fd`/`stdin`/`stdout`/`stderr` links and a private `/dev/shm` |
//! | descriptors | stdin `/dev/null`, stdout and stderr pipes, nothing else |
//! | environment | exactly the build environment (the recipe's allow-list over fixed values) |
//! | limits | processes (with an own uid), address space and file size (`ulimit`); the simulator's work folder is a size-limited tmpfs ([`crate::simns`]) |
//! | lifetime | the build's PID namespace dies with its first process: every process the build started is killed before kiln reads an output |
//!
//! Where a layer cannot be set up (no bubblewrap, no user namespaces) the build refuses to run,
//! unless the caller named the weaker sandbox (`--allow-weaker-sandbox`); the signed provenance
//! always records the layers that held ([`SandboxFacts`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use command_fds::{CommandFdExt, FdMapping};
use serde::Serialize;

use crate::error::EnclaveError;
use crate::simns::{IdMapping, SimNamespaces};

/// The uid the build runs as when the enclave can choose one (it is root).
pub const BUILD_UID: u32 = 3_713_000;
/// The gid the build runs as when the enclave can choose one.
pub const BUILD_GID: u32 = 3_713_000;
/// The uid and gid the build sees inside its user namespace (the same everywhere, so builds
/// that record ownership stay reproducible).
pub const INNER_ID: u32 = 1000;
/// Most processes the build may run at once (with an own uid).
pub const MAX_PROCESSES: u32 = 4096;
/// Largest address space of one build process, KiB.
pub const MAX_ADDRESS_SPACE_KIB: u64 = 16 << 20;
/// Largest file the build may write, KiB.
pub const MAX_FILE_KIB: u64 = 8 << 20;

/// Where bubblewrap is looked for.
const BWRAP: &[&str] = &["/usr/bin/bwrap", "/bin/bwrap"];

/// The syscalls the build may not make (they reach other processes' memory or descriptors,
/// the kernel's keyrings, modules, BPF, mounts, or are common kernel attack surface).
pub const DENIED_SYSCALLS: &[(&str, i64)] = &[
    ("ptrace", nix::libc::SYS_ptrace),
    ("process_vm_readv", nix::libc::SYS_process_vm_readv),
    ("process_vm_writev", nix::libc::SYS_process_vm_writev),
    ("pidfd_getfd", nix::libc::SYS_pidfd_getfd),
    ("pidfd_open", nix::libc::SYS_pidfd_open),
    ("kexec_load", nix::libc::SYS_kexec_load),
    ("kexec_file_load", nix::libc::SYS_kexec_file_load),
    ("bpf", nix::libc::SYS_bpf),
    ("perf_event_open", nix::libc::SYS_perf_event_open),
    ("keyctl", nix::libc::SYS_keyctl),
    ("add_key", nix::libc::SYS_add_key),
    ("request_key", nix::libc::SYS_request_key),
    ("mount", nix::libc::SYS_mount),
    ("umount2", nix::libc::SYS_umount2),
    ("pivot_root", nix::libc::SYS_pivot_root),
    ("move_mount", nix::libc::SYS_move_mount),
    ("open_tree", nix::libc::SYS_open_tree),
    ("fsopen", nix::libc::SYS_fsopen),
    ("fsmount", nix::libc::SYS_fsmount),
    ("fsconfig", nix::libc::SYS_fsconfig),
    ("fspick", nix::libc::SYS_fspick),
    ("mount_setattr", nix::libc::SYS_mount_setattr),
    ("init_module", nix::libc::SYS_init_module),
    ("finit_module", nix::libc::SYS_finit_module),
    ("delete_module", nix::libc::SYS_delete_module),
    ("userfaultfd", nix::libc::SYS_userfaultfd),
    ("io_uring_setup", nix::libc::SYS_io_uring_setup),
    ("io_uring_enter", nix::libc::SYS_io_uring_enter),
    ("io_uring_register", nix::libc::SYS_io_uring_register),
    ("setns", nix::libc::SYS_setns),
    ("open_by_handle_at", nix::libc::SYS_open_by_handle_at),
    ("name_to_handle_at", nix::libc::SYS_name_to_handle_at),
    ("acct", nix::libc::SYS_acct),
    ("swapon", nix::libc::SYS_swapon),
    ("swapoff", nix::libc::SYS_swapoff),
    ("reboot", nix::libc::SYS_reboot),
    ("syslog", nix::libc::SYS_syslog),
];

/// `__X32_SYSCALL_BIT`: x32 system calls are x86-64 calls with this bit set in the number.
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

/// x32's own numbers (512 and up, `arch/x86/entry/syscalls/syscall_64.tbl`) of denied calls
/// whose x32 entry is not the x86-64 one: ptrace (521), kexec_load (528),
/// process_vm_readv (539), process_vm_writev (540).
const X32_ONLY_DENIED: [i64; 4] = [521, 528, 539, 540];

/// The device nodes the build's `/dev` holds (bound from the enclave's own `/dev`).
pub const BUILD_DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// Whether the full sandbox is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxRequirement {
    /// Every layer, or no build.
    Full,
    /// The caller named the weaker sandbox: build with the layers that hold.
    AllowWeaker,
}

/// The sandbox's layers, as the signed provenance records them
/// (`internalParameters.sandbox`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxFacts {
    /// `bubblewrap <path> sha256:<digest of the binary>`, or `none`.
    pub tool: String,
    /// Whether every layer below held.
    pub complete: bool,
    /// `dedicated <uid>:<gid>` or `shared with the enclave (...)`.
    pub uid: String,
    /// Namespaces the build got.
    pub namespaces: Vec<&'static str>,
    /// `none` when every capability is dropped.
    pub capabilities: &'static str,
    /// Whether `no_new_privs` is set.
    pub no_new_privs: bool,
    /// Syscalls that fail with EPERM.
    pub seccomp_denied: Vec<&'static str>,
    /// The system-call ABIs the denials cover.
    pub seccomp_abis: Vec<&'static str>,
    /// The device nodes of the build's `/dev`.
    pub devices: Vec<&'static str>,
    /// Read-only paths the build sees.
    pub read_only: Vec<String>,
    /// Limits (`processes`, `addressSpaceKiB`, `fileSizeKiB`; with a cgroup `memoryBytes`
    /// and `cgroupProcesses`).
    pub limits: BTreeMap<&'static str, u64>,
    /// `v2`: the build runs in its own cgroup with a memory and a process limit (an OOM kill
    /// takes the build); otherwise why not (the rlimits hold alone).
    pub cgroup: String,
    /// Why a layer is missing, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weaker_because: Option<String>,
}

/// How the build is run.
#[derive(Debug)]
pub struct Sandbox {
    bwrap: Option<PathBuf>,
    ids: Option<(u32, u32)>,
    read_only: Vec<PathBuf>,
    symlinks: Vec<(PathBuf, PathBuf)>,
    toolchain_roots: Vec<PathBuf>,
    cgroup: Option<crate::cgroup::BuildCgroup>,
    facts: SandboxFacts,
}

fn find_bwrap() -> Option<PathBuf> {
    BWRAP.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// The seccomp program denying [`DENIED_SYSCALLS`], as the raw `struct sock_filter` array
/// bubblewrap reads from a descriptor.
pub fn seccomp_program() -> Result<Vec<u8>, EnclaveError> {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    let bad = |reason: String| EnclaveError::Sandbox { reason };
    // The same calls through the x32 ABI (syscall number | __X32_SYSCALL_BIT, audited as
    // x86-64 too), and x32's own numbers for the calls whose x32 entry differs.
    let rules = DENIED_SYSCALLS
        .iter()
        .flat_map(|(_, nr)| [*nr, *nr | X32_SYSCALL_BIT])
        .chain(X32_ONLY_DENIED.iter().map(|nr| nr | X32_SYSCALL_BIT))
        .map(|nr| (nr, Vec::new()))
        .collect::<BTreeMap<_, _>>();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(u32::try_from(nix::libc::EPERM).unwrap_or(1)),
        TargetArch::x86_64,
    )
    .map_err(|e| bad(format!("seccomp filter: {e}")))?;
    let program: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| bad(format!("seccomp program: {e}")))?;
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for insn in program {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    Ok(bytes)
}

/// The system paths the build sees read-only: `/usr` and the top-level links or folders of a
/// merged-/usr system, and the dynamic linker's configuration and the alternatives of `/etc`.
/// Read-only folders and files, and (target, link) symbolic links.
type SystemView = (Vec<PathBuf>, Vec<(PathBuf, PathBuf)>);

fn system_view() -> SystemView {
    let mut ro = Vec::new();
    let mut links = Vec::new();
    for top in [
        "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    ] {
        let p = Path::new(top);
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(p) {
                    links.push((target, p.to_path_buf()));
                }
            }
            Ok(m) if m.is_dir() => ro.push(p.to_path_buf()),
            _ => {}
        }
    }
    for etc in [
        "/etc/alternatives",
        "/etc/ld.so.cache",
        "/etc/ld.so.conf",
        "/etc/ld.so.conf.d",
    ] {
        if Path::new(etc).exists() {
            ro.push(PathBuf::from(etc));
        }
    }
    (ro, links)
}

impl Sandbox {
    /// Plans the sandbox: finds bubblewrap, chooses the uid, lists what the build sees, and
    /// checks (by running it once) that the kernel grants every namespace. Refuses, naming the
    /// missing layer, unless `requirement` allows a weaker sandbox.
    ///
    /// `namespaces` is what the simulator's process set up first ([`crate::simns`]); `None`
    /// in the VM guest.
    pub fn prepare(
        toolchain_roots: &[PathBuf],
        requirement: SandboxRequirement,
        namespaces: Option<&Result<SimNamespaces, String>>,
    ) -> Result<Self, EnclaveError> {
        let (read_only, symlinks) = system_view();
        let root = nix::unistd::geteuid().is_root();
        let mapping = namespaces.and_then(|n| n.as_ref().ok()).map(|n| &n.ids);
        let ids = match mapping {
            Some(IdMapping::OwnIdsOnly { .. }) => None,
            _ => root.then_some((BUILD_UID, BUILD_GID)),
        };
        let mut facts = SandboxFacts {
            tool: "none".into(),
            complete: false,
            uid: match (ids, mapping) {
                (Some((u, g)), Some(IdMapping::Subordinate { host_uid, host_gid })) => format!(
                    "dedicated {u}:{g} (host ids {host_uid}:{host_gid}, the caller's first \
                     subordinate ids)"
                ),
                (Some((u, g)), _) => format!("dedicated {u}:{g}"),
                (None, Some(IdMapping::OwnIdsOnly { why })) => {
                    format!("shared with the enclave (the caller's uid: no subordinate ids: {why})")
                }
                (None, _) => format!(
                    "shared with the enclave (uid {}: an unprivileged simulator cannot switch)",
                    nix::unistd::geteuid()
                ),
            },
            namespaces: vec!["user", "pid", "mount", "ipc", "uts", "net", "cgroup"],
            capabilities: "none",
            no_new_privs: true,
            seccomp_denied: DENIED_SYSCALLS.iter().map(|(n, _)| *n).collect(),
            seccomp_abis: vec!["x86_64", "x32"],
            devices: BUILD_DEVICES.to_vec(),
            read_only: read_only
                .iter()
                .map(|p| p.display().to_string())
                .chain(toolchain_roots.iter().map(|p| p.display().to_string()))
                .collect(),
            limits: [
                ("addressSpaceKiB", MAX_ADDRESS_SPACE_KIB),
                ("fileSizeKiB", MAX_FILE_KIB),
            ]
            .into_iter()
            .chain(ids.map(|_| ("processes", u64::from(MAX_PROCESSES))))
            .chain(
                namespaces
                    .and_then(|n| n.as_ref().ok())
                    .map(|n| ("workFolderBytes", n.work_bytes)),
            )
            .collect(),
            cgroup: "none".into(),
            weaker_because: None,
        };
        // A cgroup needs root (the launcher joins it before dropping to the build's uid).
        let cgroup = match (ids, crate::cgroup::default_memory_max()) {
            (Some(_), Some(memory)) => crate::cgroup::BuildCgroup::create(memory, MAX_PROCESSES),
            (None, _) => Err("the enclave is not root".to_owned()),
            (_, None) => Err("/proc/meminfo has no MemTotal".to_owned()),
        };
        let cgroup = match cgroup {
            Ok(cg) => {
                facts.cgroup = "v2".into();
                facts.limits.insert("memoryBytes", cg.memory_max());
                facts
                    .limits
                    .insert("cgroupProcesses", u64::from(MAX_PROCESSES));
                Some(cg)
            }
            Err(why) => {
                facts.cgroup = format!("unavailable ({why}): the rlimits hold alone");
                None
            }
        };
        let mut sandbox = Sandbox {
            bwrap: find_bwrap(),
            ids,
            read_only,
            symlinks,
            toolchain_roots: toolchain_roots.to_vec(),
            cgroup,
            facts: facts.clone(),
        };
        let problem = match sandbox.bwrap.clone() {
            _ if namespaces.is_some_and(Result::is_err) => namespaces
                .and_then(|n| n.as_ref().err())
                .map(|why| format!("the simulator's own namespaces and work folder: {why}")),
            None => Some(format!(
                "bubblewrap is not installed (looked for {})",
                BWRAP.join(", ")
            )),
            Some(bwrap) => match sandbox.probe(&bwrap) {
                Ok(version) => {
                    facts.tool = version;
                    None
                }
                // Root inside a user namespace that does not map the build's uid: share ours.
                Err(first) if sandbox.ids.is_some() => {
                    sandbox.ids = None;
                    match sandbox.probe(&bwrap) {
                        Ok(version) => {
                            facts.tool = version;
                            facts.uid = format!(
                                "shared with the enclave (uid {}; a dedicated uid failed: {first})",
                                nix::unistd::geteuid()
                            );
                            facts.limits.remove("processes");
                            None
                        }
                        Err(e) => Some(e),
                    }
                }
                Err(e) => Some(e),
            },
        };
        match (problem, requirement) {
            (None, _) => {
                facts.complete = sandbox.ids.is_some();
                sandbox.facts = facts;
                Ok(sandbox)
            }
            (Some(reason), SandboxRequirement::Full) => Err(EnclaveError::Sandbox {
                reason: format!(
                    "{reason}; the build would run without its sandbox (install bubblewrap and \
                     allow user namespaces, or name the weaker sandbox with \
                     --allow-weaker-sandbox)"
                ),
            }),
            (Some(reason), SandboxRequirement::AllowWeaker) => {
                sandbox.bwrap = None;
                sandbox.facts = SandboxFacts {
                    tool: "none".into(),
                    complete: false,
                    uid: "shared with the enclave".into(),
                    namespaces: Vec::new(),
                    capabilities: "the enclave's",
                    no_new_privs: false,
                    seccomp_denied: Vec::new(),
                    seccomp_abis: Vec::new(),
                    devices: Vec::new(),
                    read_only: Vec::new(),
                    limits: BTreeMap::new(),
                    cgroup: "none".into(),
                    weaker_because: Some(reason),
                };
                Ok(sandbox)
            }
        }
    }

    /// The facts to record.
    pub fn facts(&self) -> &SandboxFacts {
        &self.facts
    }

    /// When the build's cgroup saw OOM kills: how many, and its memory limit in bytes.
    pub fn memory_exhausted(&self) -> Option<(u64, u64)> {
        let cg = self.cgroup.as_ref()?;
        let kills = cg.oom_kills();
        (kills > 0).then_some((kills, cg.memory_max()))
    }

    /// Whether the build runs inside bubblewrap.
    pub fn is_sandboxed(&self) -> bool {
        self.bwrap.is_some()
    }

    /// Runs `true` in the sandbox once: the kernel grants the namespaces, or this says why.
    /// Returns how the provenance names the tool: its path and the SHA-256 of the binary
    /// (exact, where a version string would be the binary's own claim).
    fn probe(&self, bwrap: &Path) -> Result<String, String> {
        use sha2::Digest;
        let binary =
            std::fs::read(bwrap).map_err(|e| format!("cannot read {}: {e}", bwrap.display()))?;
        let version = format!(
            "bubblewrap {} sha256:{}",
            bwrap.display(),
            hex::encode(sha2::Sha256::digest(&binary))
        );
        let dir = tempfile::tempdir().map_err(|e| format!("a temporary folder: {e}"))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))
                .map_err(|e| format!("a temporary folder: {e}"))?;
        }
        let mut cmd = self
            .command("true", dir.path(), dir.path(), &BTreeMap::new())
            .map_err(|e| e.to_string())?;
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bwrap.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} cannot set up the sandbox here: {}",
                bwrap.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(version)
    }

    /// Makes `work` (the build's folder) usable by the build's uid: owned by it, and its
    /// parent traversable.
    pub fn hand_over(&self, work_top: &Path, build_dirs: &[&Path]) -> Result<(), EnclaveError> {
        let Some((uid, gid)) = self.ids.filter(|_| self.bwrap.is_some()) else {
            return Ok(());
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(work_top, std::fs::Permissions::from_mode(0o711))
            .map_err(|e| EnclaveError::io("open up", work_top, e))?;
        for dir in build_dirs {
            chown_tree(dir, uid, gid)?;
        }
        Ok(())
    }

    /// The command that runs `command` (with `/bin/sh -c`) in `cwd` with exactly `env`:
    /// inside bubblewrap, or as a plain child when a weaker sandbox was allowed.
    pub fn command(
        &self,
        command: &str,
        cwd: &Path,
        work: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<Command, EnclaveError> {
        let Some(bwrap) = &self.bwrap else {
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c")
                .arg(command)
                .current_dir(cwd)
                .env_clear()
                .envs(env);
            return Ok(cmd);
        };
        // With a dedicated uid the build starts through the launcher (this binary), which joins
        // the cgroup and drops to the build's ids before executing bubblewrap.
        let mut cmd = match self.ids {
            Some((uid, gid)) => {
                let mut cmd = Command::new("/proc/self/exe");
                let procs = self.cgroup.as_ref().map(|c| c.procs());
                cmd.args(crate::cgroup::launcher_args(uid, gid, procs.as_deref()))
                    .arg(bwrap);
                cmd
            }
            None => Command::new(bwrap),
        };
        cmd.env_clear().envs(env);
        cmd.args([
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-net",
            "--unshare-cgroup",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--hostname",
            "kiln-build",
        ]);
        let inner = INNER_ID.to_string();
        cmd.args(["--uid", &inner, "--gid", &inner]);
        for path in &self.read_only {
            cmd.arg("--ro-bind").arg(path).arg(path);
        }
        for (target, link) in &self.symlinks {
            cmd.arg("--symlink").arg(target).arg(link);
        }
        let mut mappings = Vec::new();
        let mut next_fd = 3;
        for root in &self.toolchain_roots {
            // Opened by the enclave: the build's uid may not be able to walk to it.
            let dir = File::open(root).map_err(|e| EnclaveError::io("open", root, e))?;
            cmd.arg("--ro-bind-fd").arg(next_fd.to_string()).arg(root);
            mappings.push(FdMapping {
                parent_fd: OwnedFd::from(dir),
                child_fd: next_fd,
            });
            next_fd += 1;
        }
        // A minimal /dev: the five harmless devices, the usual links, a private /dev/shm;
        // no TEE device, no tty, no pty, nothing of the enclave's.
        cmd.args(["--proc", "/proc", "--tmpfs", "/dev"]);
        for dev in BUILD_DEVICES {
            let path = format!("/dev/{dev}");
            cmd.args(["--dev-bind", &path, &path]);
        }
        for (target, link) in [
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
        ] {
            cmd.args(["--symlink", target, link]);
        }
        cmd.args([
            "--tmpfs",
            "/dev/shm",
            "--remount-ro",
            "/dev",
            "--tmpfs",
            "/tmp",
        ]);
        cmd.arg("--bind").arg(work).arg(work);
        // The sandbox's own root (where bubblewrap made the mount points) becomes read-only:
        // only the work folder and the private /tmp take writes.
        cmd.args(["--remount-ro", "/"]);
        cmd.arg("--chdir").arg(cwd);
        let mut program = tempfile::tempfile()
            .map_err(|e| EnclaveError::io("create", Path::new("(seccomp program)"), e))?;
        program
            .write_all(&seccomp_program()?)
            .and_then(|()| program.seek(SeekFrom::Start(0)).map(|_| ()))
            .map_err(|e| EnclaveError::io("write", Path::new("(seccomp program)"), e))?;
        cmd.arg("--seccomp").arg(next_fd.to_string());
        mappings.push(FdMapping {
            parent_fd: OwnedFd::from(program),
            child_fd: next_fd,
        });
        cmd.fd_mappings(mappings)
            .map_err(|e| EnclaveError::Sandbox {
                reason: format!("descriptor mapping: {e}"),
            })?;
        cmd.args(["--", "/bin/sh", "-c"]).arg(command);
        Ok(cmd)
    }

    /// Sets the build's resource limits (soft and hard, so the build cannot raise them) on
    /// this process, whose children inherit them: address space and file size always, the
    /// number of processes when the build has its own uid (the count is per uid; root, the
    /// enclave, is exempt). The enclave itself stays far below them.
    pub fn apply_limits(&self) -> Result<(), EnclaveError> {
        use nix::sys::resource::{setrlimit, Resource};
        if self.bwrap.is_none() {
            return Ok(());
        }
        let set = |r: Resource, v: u64, what: &str| {
            setrlimit(r, v, v).map_err(|e| EnclaveError::Sandbox {
                reason: format!("cannot limit {what}: {e}"),
            })
        };
        set(
            Resource::RLIMIT_AS,
            MAX_ADDRESS_SPACE_KIB * 1024,
            "the address space",
        )?;
        set(Resource::RLIMIT_FSIZE, MAX_FILE_KIB * 1024, "the file size")?;
        if self.ids.is_some() {
            set(
                Resource::RLIMIT_NPROC,
                u64::from(MAX_PROCESSES),
                "the processes",
            )?;
        }
        Ok(())
    }
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) -> Result<(), EnclaveError> {
    let (u, g) = (
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    );
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        dir,
        u,
        g,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| EnclaveError::io("hand over", dir, std::io::Error::from(e)))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| EnclaveError::io("stat", dir, e))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir).map_err(|e| EnclaveError::io("list", dir, e))? {
            let entry = entry.map_err(|e| EnclaveError::io("list", dir, e))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}
