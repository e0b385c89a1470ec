//! The build's cgroup (v2), where the kernel offers one: a memory and a process limit that a
//! memory hog or a fork bomb hits *inside* the build, so the OOM killer takes the build, not
//! the enclave or the guest; and the launcher that puts the build into it.
//!
//! The build is started through this binary itself (`kiln-enclave --exec-build …`, the same
//! measured code): still root, it joins the cgroup (when there is one), gives up the enclave's
//! protection from the OOM killer, drops to the build's uid and gid, and only then executes
//! bubblewrap. Nothing the build runs is ever outside the cgroup, and no `unsafe` `pre_exec`
//! is needed.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

/// The first argument that selects the launcher mode.
pub const EXEC_BUILD_ARG: &str = "--exec-build";

/// Where cgroup v2 is mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The build's cgroup; killed and removed when dropped.
#[derive(Debug)]
pub struct BuildCgroup {
    dir: PathBuf,
    memory_max: u64,
}

impl BuildCgroup {
    /// Creates `kiln-build-<pid>` under the enclave's own cgroup with `memory.max` (no swap),
    /// `memory.oom.group` (an OOM kill takes the whole build) and `pids.max`. `Err` says why
    /// there is none (no cgroup v2, not writable, controllers not delegated).
    pub fn create(memory_max: u64, pids_max: u32) -> Result<Self, String> {
        let root = Path::new(CGROUP_ROOT);
        let fs_type = nix::sys::statfs::statfs(root)
            .map_err(|e| format!("{CGROUP_ROOT}: {e}"))?
            .filesystem_type();
        if fs_type != nix::sys::statfs::CGROUP2_SUPER_MAGIC {
            return Err(format!("{CGROUP_ROOT} is not cgroup v2"));
        }
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("/proc/self/cgroup: {e}"))?;
        let rel = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .ok_or("no cgroup v2 entry in /proc/self/cgroup")?
            .trim_start_matches('/');
        let parent = root.join(rel);
        let write = |file: &Path, value: &str| {
            fs::write(file, value)
                .map_err(|e| format!("write {value:?} to {}: {e}", file.display()))
        };
        // Delegate memory and pids to the children (the root cgroup may hold processes).
        write(&parent.join("cgroup.subtree_control"), "+memory +pids")?;
        let dir = parent.join(format!("kiln-build-{}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("create {}: {e}", dir.display())),
        }
        let cg = Self { dir, memory_max };
        write(&cg.dir.join("memory.max"), &memory_max.to_string())?;
        if cg.dir.join("memory.swap.max").exists() {
            write(&cg.dir.join("memory.swap.max"), "0")?;
        }
        write(&cg.dir.join("memory.oom.group"), "1")?;
        write(&cg.dir.join("pids.max"), &pids_max.to_string())?;
        Ok(cg)
    }

    /// Its `cgroup.procs`.
    pub fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// The memory limit, bytes.
    pub fn memory_max(&self) -> u64 {
        self.memory_max
    }

    /// How many times the OOM killer killed in it (`memory.events` `oom_kill`).
    pub fn oom_kills(&self) -> u64 {
        fs::read_to_string(self.dir.join("memory.events"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("oom_kill "))
                    .and_then(|n| n.trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for BuildCgroup {
    fn drop(&mut self) {
        // Everything left in it dies (cgroup.kill, Linux 5.14+), then it goes.
        let _ = fs::write(self.dir.join("cgroup.kill"), "1");
        for _ in 0..50 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// Three quarters of the memory the kernel reports (`MemTotal`), the build's default limit.
pub fn default_memory_max() -> Option<u64> {
    mem_total().map(|total| total / 4 * 3)
}

/// The machine's memory (`/proc/meminfo` `MemTotal`), bytes.
pub fn mem_total() -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

/// The launcher's arguments: `--exec-build UID GID PROCS|- -- PROGRAM ARGS...`.
pub fn launcher_args(uid: u32, gid: u32, procs: Option<&Path>) -> Vec<OsString> {
    vec![
        EXEC_BUILD_ARG.into(),
        uid.to_string().into(),
        gid.to_string().into(),
        procs.map_or_else(|| OsString::from("-"), |p| p.as_os_str().to_owned()),
        "--".into(),
    ]
}

/// Whether this process was started as the launcher.
pub fn wanted() -> bool {
    std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == EXEC_BUILD_ARG)
}

/// The launcher: joins the cgroup, resets the OOM score, drops to the build's ids, executes
/// the program. Returns only on failure (exit status 127, the reason on stderr).
pub fn launcher_main() -> std::process::ExitCode {
    match launch() {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("kiln-enclave {EXEC_BUILD_ARG}: {e}");
            std::process::ExitCode::from(127)
        }
    }
}

fn launch() -> Result<std::convert::Infallible, String> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let args: Vec<OsString> = std::env::args_os().skip(2).collect();
    let [uid, gid, procs, sep, program @ ..] = args.as_slice() else {
        return Err("usage: UID GID PROCS|- -- PROGRAM ARGS...".into());
    };
    if sep != "--" || program.is_empty() {
        return Err("usage: UID GID PROCS|- -- PROGRAM ARGS...".into());
    }
    let id = |v: &OsString| -> Result<u32, String> {
        v.to_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{v:?} is not a numeric id"))
    };
    let (uid, gid) = (id(uid)?, id(gid)?);
    if procs != "-" {
        // "0" moves the writing process.
        fs::write(procs, "0").map_err(|e| format!("join {}: {e}", Path::new(procs).display()))?;
    }
    // The enclave shields itself from the OOM killer; the build must not inherit that.
    fs::write("/proc/self/oom_score_adj", "0").map_err(|e| format!("oom_score_adj: {e}"))?;
    nix::unistd::setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
    nix::unistd::setgid(nix::unistd::Gid::from_raw(gid)).map_err(|e| format!("setgid: {e}"))?;
    nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).map_err(|e| format!("setuid: {e}"))?;
    let c =
        |s: &OsString| CString::new(s.as_bytes()).map_err(|_| format!("{s:?} contains a NUL byte"));
    let argv = program.iter().map(c).collect::<Result<Vec<_>, _>>()?;
    let path = argv.first().ok_or("no program")?;
    match nix::unistd::execv(path, &argv) {
        Ok(never) => match never {},
        Err(e) => Err(format!("execute {:?}: {e}", program.first())),
    }
}

/// Makes the enclave the OOM killer's last choice (root only; silently skipped otherwise).
pub fn shield_enclave_from_oom() {
    let _ = fs::write("/proc/self/oom_score_adj", "-1000");
}
