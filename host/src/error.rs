//! The host agent's errors and the exit codes they map to.

use std::fmt;
use std::path::PathBuf;

use kiln_verifier::build_output::BuildError;

use crate::build_recipe::RecipeError;
use crate::launch::LaunchError;
use crate::session::SessionError;
use crate::source::SourceError;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the build or the verification failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: a usage or I/O error.
pub const EXIT_USAGE: u8 = 2;

/// Anything `kiln build` or `kiln verify` can fail with.
#[derive(Debug)]
pub enum HostError {
    /// A flag or argument is invalid.
    Usage {
        /// What is wrong.
        message: String,
    },
    /// The recipe is missing or invalid.
    Recipe(RecipeError),
    /// The source could not be packed.
    Source(SourceError),
    /// A file operation failed.
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The output folder exists and is not empty.
    OutputExists {
        /// The folder.
        path: PathBuf,
    },
    /// The guest could not be launched.
    Launch(LaunchError),
    /// The build session failed.
    Session {
        /// The protocol-level failure.
        source: SessionError,
        /// How the guest ended, when it did.
        guest: Option<String>,
    },
    /// The whole session took longer than allowed.
    Timeout {
        /// The limit, seconds.
        secs: u64,
    },
    /// Building, finding or measuring a guest image failed.
    Image(crate::guest_image::GuestImageError),
    /// Vendor collateral could not be had.
    Collateral(crate::collateral::CollateralError),
    /// The output failed verification.
    Verify {
        /// The output folder checked.
        path: PathBuf,
        /// The broken link.
        source: BuildError,
    },
}

impl HostError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage { .. }
            | Self::Recipe(_)
            | Self::Source(_)
            | Self::Io { .. }
            | Self::OutputExists { .. }
            | Self::Image(_) => EXIT_USAGE,
            Self::Launch(
                LaunchError::Unavailable { .. }
                | LaunchError::EnclaveNotFound { .. }
                | LaunchError::Image(_),
            ) => EXIT_USAGE,
            Self::Collateral(
                crate::collateral::CollateralError::Request(_)
                | crate::collateral::CollateralError::Pcs(_)
                | crate::collateral::CollateralError::Cache { .. },
            ) => EXIT_USAGE,
            Self::Launch(_)
            | Self::Session { .. }
            | Self::Timeout { .. }
            | Self::Verify { .. }
            | Self::Collateral(_) => EXIT_FAILED,
        }
    }

    /// An I/O error constructor for `map_err`.
    pub fn io(path: impl Into<PathBuf>, op: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, op, source }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage { message } => f.write_str(message),
            Self::Recipe(e) => write!(f, "{e}"),
            Self::Source(_) => f.write_str("cannot pack the source"),
            Self::Io { path, op, .. } => write!(f, "cannot {op} {}", path.display()),
            Self::OutputExists { path } => write!(
                f,
                "{} exists and is not empty; pass --force to replace it after a successful build",
                path.display()
            ),
            Self::Launch(_) => f.write_str("cannot launch the builder"),
            Self::Image(e) => write!(f, "{e}"),
            Self::Collateral(e) => write!(f, "{e}"),
            Self::Session { guest, .. } => match guest {
                Some(how) => write!(f, "the build session failed ({how})"),
                None => f.write_str("the build session failed"),
            },
            Self::Timeout { secs } => write!(
                f,
                "the build session did not finish within {secs} s; the enclave was killed"
            ),
            Self::Verify { path, source } => write!(
                f,
                "verification of {} failed at the {} link",
                path.display(),
                source.link()
            ),
        }
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Recipe(e) => e.source(),
            Self::Source(e) => Some(e),
            Self::Io { source, .. } => Some(source),
            Self::Launch(e) => Some(e),
            Self::Image(e) => e.source(),
            Self::Collateral(e) => std::error::Error::source(e),
            Self::Session { source, .. } => Some(source),
            Self::Verify { source, .. } => Some(source),
            Self::Usage { .. } | Self::OutputExists { .. } | Self::Timeout { .. } => None,
        }
    }
}

pub use kiln_proto::error_chain as chain;
