//! Network isolation: the enclave moves itself into a new network namespace (nothing but a
//! down loopback) once its channels are connected, so the build cannot reach any network.
//!
//! As root (a VM guest's `/init`) `unshare(CLONE_NEWNET)` suffices. An unprivileged process
//! (the simulator's process mode) may create one inside a new user namespace, mapping its
//! own uid and gid onto themselves. Where neither is allowed the build runs with the host's
//! network and the provenance says `networkIsolation: false`.

use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getgid, getuid};

/// What isolation the build got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetIsolation {
    /// A new network namespace.
    Isolated {
        /// How (`"network namespace"`, `"user and network namespace"`).
        how: &'static str,
    },
    /// None: the reason, to be said loudly.
    Unavailable {
        /// Why each attempt failed.
        reason: String,
    },
}

impl NetIsolation {
    /// Whether the build is cut off from the network.
    pub fn is_isolated(&self) -> bool {
        matches!(self, Self::Isolated { .. })
    }
}

/// Moves this process (and every child it starts later) into a new network namespace.
/// Must run while the process has a single thread (a new user namespace requires it).
pub fn isolate_network() -> NetIsolation {
    let first = match unshare(CloneFlags::CLONE_NEWNET) {
        Ok(()) => {
            return NetIsolation::Isolated {
                how: "network namespace",
            }
        }
        Err(e) => e,
    };
    let (uid, gid) = (getuid(), getgid());
    let second = match unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET) {
        Ok(()) => match map_ids(uid.as_raw(), gid.as_raw()) {
            Ok(()) => {
                return NetIsolation::Isolated {
                    how: "user and network namespace",
                }
            }
            Err(e) => format!("mapping uid {uid} and gid {gid}: {e}"),
        },
        Err(e) => e.to_string(),
    };
    NetIsolation::Unavailable {
        reason: format!(
            "unshare(CLONE_NEWNET) failed ({first}) and so did a user namespace with it \
             ({second}): this simulator cannot isolate the network"
        ),
    }
}

/// Maps the process's own ids onto themselves in its new user namespace, so that the files
/// it owns stay its own.
fn map_ids(uid: u32, gid: u32) -> std::io::Result<()> {
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))?;
    Ok(())
}
