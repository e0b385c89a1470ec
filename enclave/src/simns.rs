//! The simulator's own namespaces, entered first thing (while the process has one thread, as
//! a new user namespace requires): a private mount namespace whose work folder is a
//! size-limited tmpfs (a build that fills its disk hits that limit, not the host's disk),
//! and, for an unprivileged simulator, a user namespace in which the build's uid is one of the
//! caller's subordinate ids (`/etc/subuid`, mapped by the setuid `newuidmap`/`newgidmap`), so
//! the build runs as neither the enclave's nor the calling user's uid.
//!
//! | the simulator runs as | user namespace | the build's host uid |
//! |---|---|---|
//! | root | none (the initial one) | the build's uid |
//! | a user with subordinate ids and `newuidmap` | `0` → the caller, the build's uid → the first subordinate id | that subordinate id |
//! | a user without them | `0` → the caller only | the caller's (recorded as shared) |
//!
//! The VM guest needs none of this: its `/init` is root in a VM whose memory bounds its tmpfs.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// Where `newuidmap` and `newgidmap` are looked for (the enclave's environment is empty).
const ID_MAPPERS: [&str; 2] = ["/usr/bin", "/bin"];

/// How the simulator's ids are arranged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdMapping {
    /// Root in the initial user namespace: the build's uid is the build's uid itself.
    InitialRoot,
    /// A user namespace where the build's uid/gid are the caller's subordinate ids.
    Subordinate {
        /// The host uid the build runs as.
        host_uid: u32,
        /// The host gid the build runs as.
        host_gid: u32,
    },
    /// A user namespace that maps only the caller: the build shares the caller's uid.
    OwnIdsOnly {
        /// Why no subordinate ids were mapped.
        why: String,
    },
}

/// What [`enter`] set up.
#[derive(Debug, Clone)]
pub struct SimNamespaces {
    /// The id arrangement.
    pub ids: IdMapping,
    /// Its size limit, bytes.
    pub work_bytes: u64,
}

/// The work folder's size limit where the machine's memory is unknown: 4 GiB.
pub const FALLBACK_WORK_BYTES: u64 = 4 << 30;

/// The default size limit of the work folder: half the machine's memory (tmpfs' own default),
/// since a tmpfs holds its files in memory.
pub fn default_work_bytes() -> Option<u64> {
    crate::cgroup::mem_total().map(|total| total / 2)
}

/// Enters the namespaces and mounts a `work_bytes` tmpfs (mode 0711) on the folder
/// `work_root`. Must run before the process starts any thread; relative paths keep resolving
/// in the folder underneath when `work_root` is the working directory. `Err` says which step the kernel refused.
///
/// `build_ids` are the uid and gid the sandbox runs the build as (the caller's first
/// subordinate ids are mapped onto them).
pub fn enter(
    work_root: &Path,
    work_bytes: u64,
    build_ids: (u32, u32),
) -> Result<SimNamespaces, String> {
    let ids = if nix::unistd::geteuid().is_root() {
        unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
        IdMapping::InitialRoot
    } else {
        enter_user_namespace(build_ids)?
    };
    // Nothing mounted here propagates back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("making the mounts private: {e}"))?;
    mount(
        Some("tmpfs"),
        work_root,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(format!("size={work_bytes},mode=0711").as_str()),
    )
    .map_err(|e| {
        format!(
            "mounting a {work_bytes}-byte tmpfs on {}: {e}",
            work_root.display()
        )
    })?;
    Ok(SimNamespaces { ids, work_bytes })
}

/// An unprivileged simulator: a new user and mount namespace, with the caller's subordinate
/// ids mapped where `newuidmap` allows, else the caller's own ids only.
fn enter_user_namespace((build_uid, build_gid): (u32, u32)) -> Result<IdMapping, String> {
    let (uid, gid) = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    // The mappers run from outside the new namespace (a setuid binary has no power inside
    // it), so they start first and wait for the word.
    let mappers = subordinate_ids(uid, gid).and_then(|(sub_uid, sub_gid)| {
        let pid = std::process::id().to_string();
        let uid_map = [
            "0".to_owned(),
            uid.to_string(),
            "1".into(),
            build_uid.to_string(),
            sub_uid.to_string(),
            "1".into(),
        ];
        let gid_map = [
            "0".to_owned(),
            gid.to_string(),
            "1".into(),
            build_gid.to_string(),
            sub_gid.to_string(),
            "1".into(),
        ];
        let u = waiting_mapper("newuidmap", &pid, &uid_map)?;
        let g = waiting_mapper("newgidmap", &pid, &gid_map)?;
        Ok((u, g, sub_uid, sub_gid))
    });
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare(CLONE_NEWUSER | CLONE_NEWNS): {e}"))?;
    let why = match mappers {
        Ok((u, g, host_uid, host_gid)) => match release(u).and_then(|()| release(g)) {
            // What the kernel now maps, read back (the build's ids must be neither ours nor
            // unmapped).
            Ok(()) => {
                let read = |f| std::fs::read_to_string(f).unwrap_or_default();
                let (uid_map, gid_map) = (read("/proc/self/uid_map"), read("/proc/self/gid_map"));
                let mapped = (host_id(&uid_map, build_uid), host_id(&gid_map, build_gid));
                if mapped != (Some(host_uid), Some(host_gid)) || host_uid == uid {
                    return Err(format!(
                        "the id maps are not what newuidmap was asked for: uid_map {uid_map:?}, \
                         gid_map {gid_map:?}"
                    ));
                }
                return Ok(IdMapping::Subordinate { host_uid, host_gid });
            }
            Err(e) => e,
        },
        Err(e) => e,
    };
    // No subordinate ids: map the caller alone (a process may always map its own ids).
    let own = || -> std::io::Result<()> {
        std::fs::write("/proc/self/setgroups", "deny")?;
        std::fs::write("/proc/self/uid_map", format!("0 {uid} 1\n"))?;
        std::fs::write("/proc/self/gid_map", format!("0 {gid} 1\n"))
    };
    own().map_err(|e| format!("mapping uid {uid} and gid {gid} in a user namespace: {e}"))?;
    Ok(IdMapping::OwnIdsOnly { why })
}

/// The first subordinate uid and gid of the caller (`/etc/subuid`, `/etc/subgid`, by user
/// name or uid), or why there are none.
fn subordinate_ids(uid: u32, gid: u32) -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = user_name(&passwd, uid);
    let read = |file: &str| std::fs::read_to_string(file).unwrap_or_default();
    let sub_uid = first_subordinate(&read("/etc/subuid"), name, uid)
        .ok_or_else(|| format!("/etc/subuid has no range for uid {uid}"))?;
    let group_name = std::fs::read_to_string("/etc/group")
        .ok()
        .and_then(|g| user_name(&g, gid).map(str::to_owned));
    let subgid = read("/etc/subgid");
    let sub_gid = first_subordinate(&subgid, name, uid)
        .or_else(|| first_subordinate(&subgid, group_name.as_deref(), gid))
        .ok_or_else(|| format!("/etc/subgid has no range for uid {uid}"))?;
    Ok((sub_uid, sub_gid))
}

/// The name of `id` in a `passwd`- or `group`-format file (`name:x:id:...`).
fn user_name(file: &str, id: u32) -> Option<&str> {
    file.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id_field = fields.nth(1)?;
        (id_field.parse::<u32>().ok()? == id).then_some(name)
    })
}

/// The start of the first `name:start:count` range (count ≥ 1) for `name` or `id`.
fn first_subordinate(file: &str, name: Option<&str>, id: u32) -> Option<u32> {
    file.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        let start: u32 = fields.next()?.parse().ok()?;
        let count: u32 = fields.next()?.parse().ok()?;
        let mine = Some(owner) == name || owner.parse::<u32>().ok() == Some(id);
        (mine && count >= 1).then_some(start)
    })
}

/// Starts `mapper PID MAP...` behind a `read`, so that it maps this process only once told.
fn waiting_mapper(mapper: &str, pid: &str, map: &[String]) -> Result<Child, String> {
    let path = ID_MAPPERS
        .iter()
        .map(|dir| Path::new(dir).join(mapper))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{mapper} is not installed (Debian's uidmap package)"))?;
    Command::new("/bin/sh")
        .arg("-c")
        .arg("read -r go && [ \"$go\" = go ] && exec \"$0\" \"$@\"")
        .arg(&path)
        .arg(pid)
        .args(map)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", path.display()))
}

/// Tells a waiting mapper to map, and waits for it.
fn release(mut child: Child) -> Result<(), String> {
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(b"go\n")
            .map_err(|e| format!("the id mapper: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("the id mapper: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "the id mapper failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The host id that `inside` is in this process's user namespace (`/proc/self/uid_map` or
/// `gid_map` text), if mapped.
pub fn host_id(map: &str, inside: u32) -> Option<u32> {
    map.lines().find_map(|line| {
        let mut f = line.split_whitespace().map(|v| v.parse::<u64>().ok());
        let (start, outside, count) = (f.next()??, f.next()??, f.next()??);
        let offset = u64::from(inside).checked_sub(start)?;
        (offset < count)
            .then(|| u32::try_from(outside + offset).ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_are_found_by_name_or_uid() {
        let passwd = "root:x:0:0::/root:/bin/sh\nana:x:1000:1000::/home/ana:/bin/sh\n";
        assert_eq!(user_name(passwd, 1000), Some("ana"));
        assert_eq!(user_name(passwd, 7), None);
        let sub = "bob:200000:65536\nana:100000:65536\n";
        assert_eq!(first_subordinate(sub, Some("ana"), 1000), Some(100_000));
        assert_eq!(
            first_subordinate("1000:300000:10\n", None, 1000),
            Some(300_000)
        );
        assert_eq!(first_subordinate("ana:100000:0\n", Some("ana"), 1000), None);
        assert_eq!(first_subordinate("ana:x:1\nana\n", Some("ana"), 1000), None);
        assert_eq!(first_subordinate(sub, Some("eve"), 1001), None);
    }

    #[test]
    fn host_ids_come_from_the_map() {
        let map = "         0       1000          1\n   3713000     100000          1\n";
        assert_eq!(host_id(map, 0), Some(1000));
        assert_eq!(host_id(map, 3_713_000), Some(100_000));
        assert_eq!(host_id(map, 3_713_001), None);
        assert_eq!(host_id("0 0 4294967295\n", 3_713_000), Some(3_713_000));
        assert_eq!(host_id("garbage\n", 0), None);
    }
}
