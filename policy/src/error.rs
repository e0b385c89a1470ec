//! Errors loading a policy file, a reference-value file or a Rego rule file. Each names the
//! file and, where the text is at fault, the line and column (1-based).

use std::fmt;
use std::path::PathBuf;

/// A position in a text file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Location {
    /// The line and column of byte `offset` in `text` (clamped to the text).
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut end = offset.min(text.len());
        while !text.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        let before = text.get(..end).unwrap_or_default();
        let line = before.matches('\n').count().saturating_add(1);
        let line_start = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
        let column = before
            .get(line_start..)
            .unwrap_or_default()
            .chars()
            .count()
            .saturating_add(1);
        Self { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a policy, reference file or rule file could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The policy file is not valid TOML, has an unknown key, or a malformed value.
    Syntax {
        /// The file (or the origin label given to [`super::Policy::from_toml_str`]).
        origin: String,
        /// Where, when the parser says.
        location: Option<Location>,
        /// What is wrong.
        message: String,
    },
    /// A value is well formed but not acceptable (for example a reference file for another
    /// platform, or a minimum TCB naming a component the product does not have).
    Invalid {
        /// The policy file.
        origin: String,
        /// Where the offending value is written.
        location: Option<Location>,
        /// The key (`sev-snp.measurement_from`, ...).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A reference-value file is malformed.
    Reference {
        /// The reference file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The Rego rule file does not parse.
    RegoSyntax {
        /// The rule file.
        file: String,
        /// Where, as the Rego parser reports it.
        location: Option<Location>,
        /// The parser's message.
        message: String,
    },
    /// The Rego rule file parses but is not usable as kiln rules (wrong package).
    RegoRules {
        /// The rule file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, reason } => write!(f, "{}: {reason}", path.display()),
            Self::Syntax {
                origin,
                location: Some(at),
                message,
            } => write!(f, "{origin}:{at}: {message}"),
            Self::Syntax {
                origin,
                location: None,
                message,
            } => write!(f, "{origin}: {message}"),
            Self::Invalid {
                origin,
                location,
                key,
                message,
            } => match location {
                Some(at) => write!(f, "{origin}:{at}: {key}: {message}"),
                None => write!(f, "{origin}: {key}: {message}"),
            },
            Self::Reference { path, message } => {
                write!(f, "reference file {}: {message}", path.display())
            }
            Self::RegoSyntax {
                file,
                location,
                message,
            } => match location {
                Some(at) => write!(f, "{file}:{at}: Rego syntax error: {message}"),
                None => write!(f, "{file}: Rego syntax error: {message}"),
            },
            Self::RegoRules { file, message } => write!(f, "{file}: {message}"),
        }
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(
            Location::of_offset(text, 0),
            Location { line: 1, column: 1 }
        );
        assert_eq!(
            Location::of_offset(text, 6),
            Location { line: 2, column: 1 }
        );
        // After "bé": 'é' is two bytes, one column.
        assert_eq!(
            Location::of_offset(text, 9),
            Location { line: 2, column: 3 }
        );
        assert_eq!(Location::of_offset(text, 999).line, 3);
    }
}
