//! Why a build output was rejected: each variant names the broken link.

use std::fmt;

use crate::error::Error as EvidenceError;

/// A broken link in the chain evidence → key → signature → artifacts → expectations.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A file of the output folder could not be read.
    Io {
        /// The path.
        path: String,
        /// The error.
        reason: String,
    },
    /// The output folder holds something that is not part of the signed output.
    Layout {
        /// The entry.
        path: String,
        /// What the folder may hold.
        reason: String,
    },
    /// The Sigstore bundle is malformed or not the kind kiln writes.
    Bundle {
        /// What is wrong.
        reason: String,
    },
    /// The public key file is malformed or not ECDSA P-256.
    PublicKey {
        /// What is wrong.
        reason: String,
    },
    /// The key id in the bundle or signature does not name the public key.
    KeyId {
        /// Where the id was found.
        field: &'static str,
        /// The key id of the public key.
        expected: String,
        /// The id found.
        found: String,
    },
    /// The DSSE signature does not verify with the public key.
    Signature,
    /// The signed statement is malformed or not kiln provenance.
    Statement {
        /// What is wrong.
        reason: String,
    },
    /// The build request carried in the provenance is missing or malformed.
    Request {
        /// What is wrong.
        reason: String,
    },
    /// A file under `evidence/` differs from the signed copy in the provenance, or is
    /// missing or extra.
    EvidenceFile {
        /// The file name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The hardware evidence itself was rejected.
    Evidence(EvidenceError),
    /// The evidence does not bind the signing key.
    KeyBinding {
        /// Expected value (hex).
        expected: String,
        /// Value in the evidence (hex).
        found: String,
    },
    /// The evidence does not bind the signed statement (`kiln-binding/v1`: its subjects, the
    /// request, dependencies and parameters), or on Nitro the request's nonce.
    StatementBinding {
        /// Which field.
        field: &'static str,
        /// Expected value (hex).
        expected: String,
        /// Value in the evidence (hex).
        found: String,
    },
    /// The statement contradicts the request it carries.
    Inconsistent {
        /// The field.
        field: &'static str,
        /// The value in the request.
        request: String,
        /// The value in the statement.
        statement: String,
    },
    /// A subject has no file in `artifacts/`.
    MissingArtifact {
        /// The subject name.
        name: String,
    },
    /// An artifact's digest differs from its subject's.
    ArtifactDigest {
        /// The subject name.
        name: String,
        /// The signed digest.
        expected: String,
        /// The file's digest.
        found: String,
    },
    /// A file in `artifacts/` is not a subject of the provenance.
    UnexpectedArtifact {
        /// Its path relative to `artifacts/`.
        name: String,
    },
    /// The caller pinned no measurement (or, on TDX, not every register a reference must
    /// cover) and did not accept any image.
    NoReference {
        /// The evidence's platform.
        platform: crate::Platform,
        /// The registers a reference must pin that it does not.
        missing: Vec<String>,
        /// Whether no register at all was pinned.
        nothing_pinned: bool,
    },
    /// An SBOM or its signed statement is missing, altered, or not this build's.
    Sbom {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A value the caller expects differs.
    Expectation {
        /// What was expected (measurement, builder id, source digest, commit, nonce).
        what: String,
        /// The expected value.
        expected: String,
        /// The value found.
        found: String,
    },
}

impl BuildError {
    /// A short name of the broken link, for reports and JSON.
    pub fn link(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Layout { .. } => "layout",
            Self::Bundle { .. } => "bundle",
            Self::PublicKey { .. } | Self::KeyId { .. } => "public-key",
            Self::Signature => "signature",
            Self::Statement { .. } => "statement",
            Self::Request { .. } => "request",
            Self::EvidenceFile { .. } | Self::Evidence(_) => "evidence",
            Self::KeyBinding { .. } => "key-binding",
            Self::StatementBinding { .. } => "statement-binding",
            Self::Inconsistent { .. } => "statement",
            Self::MissingArtifact { .. }
            | Self::ArtifactDigest { .. }
            | Self::UnexpectedArtifact { .. } => "artifacts",
            Self::Expectation { .. } | Self::NoReference { .. } => "expectation",
            Self::Sbom { .. } => "sbom",
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, reason } => write!(f, "cannot read {path}: {reason}"),
            Self::Layout { path, reason } => {
                write!(f, "{path} is not part of the signed output: {reason}")
            }
            Self::Bundle { reason } => write!(f, "provenance bundle: {reason}"),
            Self::PublicKey { reason } => write!(f, "public key: {reason}"),
            Self::KeyId {
                field,
                expected,
                found,
            } => write!(
                f,
                "{field} names key {found:?}, but the public key's id is {expected}"
            ),
            Self::Signature => f.write_str(
                "the DSSE signature over the provenance does not verify with the public key",
            ),
            Self::Statement { reason } => write!(f, "provenance statement: {reason}"),
            Self::Request { reason } => write!(f, "build request: {reason}"),
            Self::EvidenceFile { name, reason } => write!(f, "evidence file {name}: {reason}"),
            Self::Evidence(e) => write!(f, "hardware evidence rejected: {e}"),
            Self::KeyBinding { expected, found } => write!(
                f,
                "the evidence does not bind the signing key: REPORT_DATA[0..32] is {found}, SHA-256 of the public key is {expected}"
            ),
            Self::StatementBinding {
                field,
                expected,
                found,
            } => write!(
                f,
                "the evidence does not bind this signed statement (its subjects, request, \
                 dependencies and parameters; kiln-binding/v1): {field} is {found}, expected {expected}"
            ),
            Self::Inconsistent {
                field,
                request,
                statement,
            } => write!(
                f,
                "the provenance contradicts its build request: {field} is {statement:?} in the statement, {request:?} in the request"
            ),
            Self::MissingArtifact { name } => {
                write!(f, "subject {name:?} has no file in artifacts/")
            }
            Self::ArtifactDigest {
                name,
                expected,
                found,
            } => write!(
                f,
                "artifact {name:?} has SHA-256 {found}, the provenance says {expected}"
            ),
            Self::UnexpectedArtifact { name } => write!(
                f,
                "artifacts/{name} is not a subject of the provenance"
            ),
            Self::Expectation {
                what,
                expected,
                found,
            } => write!(f, "{what} is {found}, expected {expected}"),
            Self::Sbom { file, reason } => write!(f, "{file}: {reason}"),
            Self::NoReference {
                nothing_pinned: true,
                ..
            } => f.write_str(
                "no measurement reference: nothing says which builder image the evidence must \
                 come from, so evidence of any guest (one that leaks its key or signs whatever \
                 the host asks) would pass; give --expect-measurement, --reference or a policy \
                 that pins the measurement (--accept-any-measurement accepts any image)",
            ),
            Self::NoReference {
                platform, missing, ..
            } => write!(
                f,
                "the {platform} reference pins too little: {} missing (a TDX reference must \
                 pin MRTD, which covers only the firmware, and RTMR0-2: the firmware's \
                 configuration, the kernel and boot path, the command line and initrd; \
                 --accept-any-measurement accepts it as it is)",
                missing.join(", ")
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Evidence(e) => Some(e),
            _ => None,
        }
    }
}

impl From<EvidenceError> for BuildError {
    fn from(e: EvidenceError) -> Self {
        Self::Evidence(e)
    }
}
