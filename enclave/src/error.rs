//! The enclave's error type. Every variant says what failed and carries the values involved;
//! [`report`] prints the whole cause chain on one line (what the host receives in an `Error`
//! message).

use std::fmt;
use std::io;
use std::path::PathBuf;

use kiln_proto::FrameError;
use kiln_tee::device::DeviceError;
use kiln_tee::{Platform, TeeError};

/// Why a build session failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum EnclaveError {
    /// A channel to the host or the security processor could not be opened.
    Connect {
        /// The address (`unix:/path`, ...).
        addr: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// Reading or writing a frame on the control channel failed.
    Frame {
        /// What was being done.
        op: &'static str,
        /// The framing layer's error.
        source: FrameError,
    },
    /// The host sent a message that does not fit the session.
    Protocol {
        /// What was expected.
        expected: &'static str,
        /// The kind of message that came.
        got: String,
    },
    /// The host speaks another protocol version.
    Version {
        /// Ours.
        ours: u16,
        /// Theirs.
        theirs: u16,
    },
    /// The build request does not parse or is unusable.
    Request {
        /// Why.
        reason: String,
    },
    /// The recipe in the source is missing, not a plain file, or not a valid recipe.
    Recipe {
        /// The recipe's path in the source.
        path: String,
        /// Why.
        reason: String,
    },
    /// The git objects the host sent do not prove that the unpacked source is the claimed
    /// commit.
    Commit {
        /// The claimed commit.
        commit: String,
        /// Why.
        reason: String,
    },
    /// The request names another platform than the TEE the enclave runs in.
    PlatformMismatch {
        /// The request's platform.
        requested: String,
        /// The TEE's platform.
        tee: Platform,
    },
    /// The source stream is longer than the request says.
    SourceTooLong {
        /// The size the request names.
        expected: u64,
        /// Bytes received so far.
        got: u64,
    },
    /// The source received is not the source requested.
    SourceMismatch {
        /// The request's digest (hex).
        expected: String,
        /// The received bytes' digest (hex).
        got: String,
        /// The request's size.
        expected_size: u64,
        /// The received size.
        got_size: u64,
    },
    /// A source archive entry is refused or cannot be unpacked.
    Unpack {
        /// The entry's path in the archive.
        entry: String,
        /// Why.
        reason: String,
    },
    /// A file operation failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The build's sandbox cannot be set up (or was asked for what it cannot do).
    Sandbox {
        /// Why, and what to do.
        reason: String,
    },
    /// The build command could not be started.
    Spawn {
        /// The command.
        command: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The build command failed.
    BuildFailed {
        /// Its exit status.
        status: String,
    },
    /// The build ran past its time limit and was killed.
    TimeLimit {
        /// The limit, seconds.
        secs: u64,
    },
    /// The outputs exceed the size limit.
    OutputLimit {
        /// Their total size.
        total: u64,
        /// The limit.
        limit: u64,
    },
    /// The outputs cannot be collected.
    Outputs {
        /// Why.
        reason: String,
    },
    /// A declared tool cannot be resolved.
    Toolchain {
        /// The tool.
        tool: String,
        /// Why.
        reason: String,
    },
    /// The guest booted with another toolchain image than the recipe names.
    WrongToolchainImage {
        /// The recipe's `[toolchain] image`.
        wants: String,
        /// The image's manifest's name.
        has: String,
    },
    /// The security processor channel failed.
    Device(DeviceError),
    /// The TEE failed.
    Tee {
        /// What was asked of it.
        op: &'static str,
        /// Its error.
        source: TeeError,
    },
    /// A key or signature operation failed.
    Crypto {
        /// What was being done.
        op: &'static str,
        /// The library's reason.
        reason: String,
    },
    /// No TEE backend could be opened.
    NoTee {
        /// What was tried and why each failed.
        reason: String,
    },
}

impl fmt::Display for EnclaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect { addr, .. } => write!(f, "cannot connect to {addr}"),
            Self::Frame { op, .. } => write!(f, "cannot {op} on the control channel"),
            Self::Protocol { expected, got } => {
                write!(f, "protocol error: expected {expected}, got {got}")
            }
            Self::Version { ours, theirs } => write!(
                f,
                "the host speaks protocol version {theirs}, this enclave {ours}: use matching \
                 kiln and kiln-enclave builds"
            ),
            Self::Request { reason } => write!(f, "invalid build request: {reason}"),
            Self::Recipe { path, reason } => {
                write!(f, "the recipe {path} in the source: {reason}")
            }
            Self::Commit { commit, reason } => write!(
                f,
                "the source is not commit {commit}: {reason} (the guest recomputed the git tree \
                 of the unpacked files and the commit object the host sent)"
            ),
            Self::PlatformMismatch { requested, tee } => write!(
                f,
                "the request is for platform {requested} but this enclave runs on {tee}"
            ),
            Self::SourceTooLong { expected, got } => write!(
                f,
                "source digest mismatch: the request names {expected} bytes, the host sent \
                 at least {got}"
            ),
            Self::SourceMismatch {
                expected,
                got,
                expected_size,
                got_size,
            } => write!(
                f,
                "source digest mismatch: expected {expected} ({expected_size} bytes), got {got} \
                 ({got_size} bytes)"
            ),
            Self::Unpack { entry, reason } => {
                write!(f, "refused source archive entry {entry:?}: {reason}")
            }
            Self::Io { op, path, .. } => write!(f, "cannot {op} {}", path.display()),
            Self::Sandbox { reason } => write!(f, "the build's sandbox: {reason}"),
            Self::Spawn { command, .. } => write!(f, "cannot start the build command {command:?}"),
            Self::BuildFailed { status } => write!(f, "the build command failed: {status}"),
            Self::TimeLimit { secs } => write!(
                f,
                "the build exceeded its time limit of {secs} s (limits.timeSecs) and was killed"
            ),
            Self::OutputLimit { total, limit } => write!(
                f,
                "the outputs are {total} bytes, over the output size limit of {limit} bytes \
                 (limits.outputBytes)"
            ),
            Self::Outputs { reason } => write!(f, "cannot collect the outputs: {reason}"),
            Self::Toolchain { tool, reason } => {
                write!(f, "cannot resolve the declared tool {tool:?}: {reason}")
            }
            Self::WrongToolchainImage { wants, has } => write!(
                f,
                "the recipe's [toolchain] image is {wants:?}, but this guest booted with the \
                 {has:?} toolchain image (the host launched the wrong image)"
            ),
            Self::Device(_) => f.write_str("cannot use the security processor"),
            Self::Tee { op, .. } => write!(f, "the TEE cannot {op}"),
            Self::Crypto { op, reason } => write!(f, "cannot {op}: {reason}"),
            Self::NoTee { reason } => write!(f, "no TEE backend is usable: {reason}"),
        }
    }
}

impl std::error::Error for EnclaveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect { source, .. } | Self::Io { source, .. } => Some(source),
            Self::Spawn { source, .. } => Some(source),
            Self::Frame { source, .. } => Some(source),
            Self::Device(e) => Some(e),
            Self::Tee { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl EnclaveError {
    /// An I/O error on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A frame error.
    pub fn frame(op: &'static str) -> impl FnOnce(FrameError) -> Self {
        move |source| Self::Frame { op, source }
    }

    /// A TEE error.
    pub fn tee(op: &'static str) -> impl FnOnce(TeeError) -> Self {
        move |source| Self::Tee { op, source }
    }
}

pub use kiln_proto::error_chain as report;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_carries_the_whole_chain() {
        let e = EnclaveError::Tee {
            op: "seal the key",
            source: TeeError::Io {
                path: "/dev/x".into(),
                op: "open",
                source: io::Error::other("no such device"),
            },
        };
        assert_eq!(
            report(&e),
            "the TEE cannot seal the key: open /dev/x: no such device"
        );
        let t = EnclaveError::TimeLimit { secs: 3 };
        assert!(report(&t).contains("time limit of 3 s"));
    }
}
