//! The one error type of `kiln_image`, with the context (which file, which step) that makes it
//! actionable.

use std::fmt;
use std::path::PathBuf;

/// What went wrong while building, measuring or launching an image.
#[derive(Debug)]
pub enum ImageError {
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The recipe is malformed or inconsistent.
    Recipe(String),
    /// The Debian archive could not give a pinned package.
    Archive(crate::debian::ArchiveError),
    /// A cached input is missing (run `kiln image fetch`).
    MissingInput {
        /// Where it was looked for.
        path: PathBuf,
        /// How to get it.
        hint: &'static str,
    },
    /// An input cannot go into an image (a path that is not valid, a too large file, ...).
    Invalid(String),
    /// A measurement cannot be computed (the message says why, e.g. firmware without SEV metadata).
    Measurement(String),
    /// Launching or supervising QEMU failed.
    Launch(String),
    /// A dm-verity hash tree cannot be computed over the data.
    Verity {
        /// Why.
        reason: String,
    },
    /// A toolchain disk image cannot be written.
    Disk {
        /// Why.
        reason: String,
    },
    /// The guest did not become ready (or finish) in time; it was killed.
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// After how long, ms.
        after_ms: u128,
    },
}

impl ImageError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        what: &'static str,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ImageError::Io { path, what, source }
    }
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Io { path, what, source } => {
                write!(f, "{what} {}: {source}", path.display())
            }
            ImageError::Recipe(m) => write!(f, "image recipe: {m}"),
            ImageError::Archive(e) => e.fmt(f),
            ImageError::MissingInput { path, hint } => {
                write!(f, "missing {}: {hint}", path.display())
            }
            ImageError::Invalid(m) => write!(f, "invalid image input: {m}"),
            ImageError::Measurement(m) => write!(f, "measurement: {m}"),
            ImageError::Launch(m) => write!(f, "qemu: {m}"),
            ImageError::Verity { reason } => write!(f, "dm-verity: {reason}"),
            ImageError::Disk { reason } => write!(f, "toolchain disk: {reason}"),
            ImageError::Timeout { what, after_ms } => {
                write!(f, "guest timed out after {after_ms} ms: {what}")
            }
        }
    }
}

impl std::error::Error for ImageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImageError::Io { source, .. } => Some(source),
            ImageError::Archive(e) => e.source(),
            _ => None,
        }
    }
}
