//! The Debian archive as kiln's image recipe uses it: package indices (what apt holds, signed
//! and checked by apt), fetching a pinned `.deb` from apt or the snapshot archive, and
//! `kiln image lock` (re-resolving pins).
//!
//! Trust: a fetched `.deb` is accepted only when its SHA-256 equals the pin's. The sources are
//! only where bytes come from. Pins enter the recipe from apt's indices, which apt has checked
//! against the archive's signed `InRelease` (only indices apt marks trusted are read).

pub mod fetch;
pub mod lock;
pub mod packages;

use std::fmt;
use std::path::PathBuf;

/// Why the archive could not give what was asked.
#[derive(Debug)]
pub enum ArchiveError {
    /// An apt command failed or could not be run.
    Apt {
        /// The command line.
        command: String,
        /// Its error output or why it could not start.
        detail: String,
    },
    /// A package index could not be read.
    Index {
        /// The index file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A pinned package is served by none of the sources.
    Unavailable {
        /// `package=version`.
        pin: String,
        /// One line per source tried, with why it failed.
        attempts: Vec<String>,
    },
    /// The package indices have no version of a package in a suite.
    NotInIndex {
        /// The package.
        package: String,
        /// The suite.
        suite: String,
    },
    /// A local file operation failed.
    Io {
        /// What was being done, with the path.
        op: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The recipe file could not be edited.
    Edit(String),
}

impl ArchiveError {
    pub(crate) fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let op = op.into();
        move |source| ArchiveError::Io { op, source }
    }
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Apt { command, detail } => write!(f, "`{command}` failed: {detail}"),
            Self::Index { file, reason } => write!(f, "package index {file}: {reason}"),
            Self::Unavailable { pin, attempts } => {
                write!(f, "no source serves {pin} with its pinned SHA-256")?;
                for a in attempts {
                    write!(f, "\n  - {a}")?;
                }
                Ok(())
            }
            Self::NotInIndex { package, suite } => write!(
                f,
                "apt's package indices have no {package} in suite {suite} (run `apt-get update`; \
                 is the suite in the apt sources?)"
            ),
            Self::Io { op, .. } => write!(f, "cannot {op}"),
            Self::Edit(m) => write!(f, "cannot edit the recipe: {m}"),
        }
    }
}

impl std::error::Error for ArchiveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A file name for a pin's `.deb` in the download cache: `<package>_<version>_<hash8>.deb`,
/// with the version's `:` (epoch) written as `%3a` as apt does.
pub fn cache_file_name(pin: &crate::recipe::DebPin) -> PathBuf {
    PathBuf::from(format!(
        "{}_{}_{}.deb",
        pin.package,
        pin.version.replace(':', "%3a"),
        pin.sha256.get(..8).unwrap_or_default()
    ))
}
