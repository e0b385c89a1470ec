//! The build recipe, `kiln.toml`, as the host reads it: from the project folder, checked
//! against the packed (committed) copy, with errors naming the file, line and column. The
//! format and its parser live in [`kiln_verifier::build_output::recipe`], shared with the guest,
//! which reads the recipe from the source itself.

use std::fmt;
use std::path::{Path, PathBuf};

use kiln_verifier::build_output::recipe::{parse_recipe, RecipeFileError};
pub use kiln_verifier::build_output::recipe::{
    DEFAULT_OUTPUT_BYTES, DEFAULT_TIME_SECS, RECIPE_FILE,
};
use kiln_verifier::build_output::Recipe;

/// Why a recipe could not be loaded.
#[derive(Debug)]
pub enum RecipeError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has unknown keys, or lacks a required one.
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line and column, when known.
        at: Option<(usize, usize)>,
        /// The parser's message.
        message: String,
    },
    /// A value is well-formed TOML but not acceptable.
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line and column.
        at: Option<(usize, usize)>,
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A git tree is built from its commit, but the working tree's recipe is not the
    /// committed one (changed, or not committed at all): the build would run other commands
    /// than the ones the commit names.
    NotCommitted {
        /// The working tree's recipe.
        path: PathBuf,
        /// The commit that is built.
        commit: String,
        /// What differs.
        reason: &'static str,
    },
}

impl fmt::Display for RecipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = |path: &Path, at: &Option<(usize, usize)>| match at {
            Some((line, col)) => format!("{}:{line}:{col}", path.display()),
            None => path.display().to_string(),
        };
        match self {
            Self::Read { path, source } if source.kind() == std::io::ErrorKind::NotFound => write!(
                f,
                "{}: no build recipe here (create a {RECIPE_FILE} with a [build] command and outputs)",
                path.display()
            ),
            Self::Read { path, .. } => write!(f, "{}: cannot read the build recipe", path.display()),
            Self::Syntax { path, at, message } => {
                write!(f, "{}: {}", loc(path, at), message.trim_end())
            }
            Self::Invalid {
                path,
                at,
                key,
                reason,
            } => write!(f, "{}: {key}: {reason}", loc(path, at)),
            Self::NotCommitted {
                path,
                commit,
                reason,
            } => write!(
                f,
                "{}: {reason} in commit {commit}; kiln builds the committed tree, so commit the \
                 recipe (or undo the change) and build again",
                path.display()
            ),
        }
    }
}

impl std::error::Error for RecipeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Checks that the recipe read from the working tree (`dir/kiln.toml`) is, byte for byte, the
/// one in the packed source: for a git tree the committed recipe is what the guest receives
/// with the source, and an uncommitted change must not build under the commit's name.
pub fn check_packed(dir: &Path, packed: &crate::source::PackedSource) -> Result<(), RecipeError> {
    let Some(commit) = &packed.commit else {
        return Ok(());
    };
    let path = dir.join(RECIPE_FILE);
    let working = std::fs::read(&path).map_err(|source| RecipeError::Read {
        path: path.clone(),
        source,
    })?;
    let reason = match &packed.recipe {
        Some(committed) if *committed == working => return Ok(()),
        Some(_) => "the recipe differs from the one",
        None => "the recipe is not",
    };
    Err(RecipeError::NotCommitted {
        path,
        commit: commit.clone(),
        reason,
    })
}

/// Loads `dir/kiln.toml`.
pub fn load(dir: &Path) -> Result<Recipe, RecipeError> {
    let path = dir.join(RECIPE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| RecipeError::Read {
        path: path.clone(),
        source,
    })?;
    parse(&text, &path)
}

/// Parses recipe text ([`kiln_verifier::build_output::recipe::parse_recipe`], the guest's parser);
/// `path` names the file in errors.
pub fn parse(text: &str, path: &Path) -> Result<Recipe, RecipeError> {
    parse_recipe(text).map_err(|e| match e {
        RecipeFileError::Syntax { at, message } => RecipeError::Syntax {
            path: path.to_path_buf(),
            at,
            message,
        },
        RecipeFileError::Invalid { at, key, reason } => RecipeError::Invalid {
            path: path.to_path_buf(),
            at,
            key,
            reason,
        },
    })
}

/// `"90"`, `"90s"`, `"10m"`, `"2h"`, `"1h30m"` → seconds.
pub use kiln_verifier::build_output::recipe::parse_duration;
/// `"4096"`, `"64KiB"`, `"512MiB"`, `"1GiB"`, `"10MB"` → bytes.
pub use kiln_verifier::build_output::recipe::parse_size;
