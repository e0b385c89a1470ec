//! The TEE layer's error type. Every variant says what failed and carries the values involved.

use std::fmt;
use std::path::PathBuf;

use crate::Platform;

/// Why a TEE operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TeeError {
    /// A key, signature or certificate could not be made.
    Crypto {
        /// What was being made (for example "ASK certificate").
        what: &'static str,
        /// The underlying library's reason.
        reason: String,
    },
    /// A structure could not be encoded.
    Encoding {
        /// The structure (for example "Nitro attestation document").
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operation (for example "create state directory").
        op: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A simulated chip's state directory holds something unusable.
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A measurement or option belongs to another platform than the TEE.
    PlatformMismatch {
        /// The TEE's platform.
        expected: Platform,
        /// The platform of the value given.
        found: Platform,
    },
    /// A request field is out of the range the platform accepts.
    InvalidRequest {
        /// The field (for example "nonce").
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A time the evidence must carry cannot be represented.
    Time {
        /// The time, in seconds since the Unix epoch.
        unix_secs: i64,
        /// Why.
        reason: String,
    },
}

// The constructors serve the simulator (feature `simulator`).
#[cfg_attr(not(feature = "simulator"), allow(dead_code))]
impl TeeError {
    pub(crate) fn crypto(what: &'static str, reason: impl fmt::Display) -> Self {
        Self::Crypto {
            what,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn encoding(what: &'static str, reason: impl fmt::Display) -> Self {
        Self::Encoding {
            what,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            op,
            source,
        }
    }
}

impl fmt::Display for TeeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Crypto { what, reason } => write!(f, "cannot make the {what}: {reason}"),
            Self::Encoding { what, reason } => write!(f, "cannot encode the {what}: {reason}"),
            Self::Io { path, op, source } => {
                write!(f, "{op} {}: {source}", path.display())
            }
            Self::State { path, reason } => write!(
                f,
                "simulated chip state {} is unusable: {reason}",
                path.display()
            ),
            Self::PlatformMismatch { expected, found } => write!(
                f,
                "platform mismatch: the TEE is {expected} but the value given is for {found}"
            ),
            Self::InvalidRequest { field, reason } => write!(f, "invalid {field}: {reason}"),
            Self::Time { unix_secs, reason } => {
                write!(
                    f,
                    "time {unix_secs} (seconds since the epoch) is unusable: {reason}"
                )
            }
        }
    }
}

impl std::error::Error for TeeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
