//! The verifier's error type. Every variant names what failed and carries the values involved.

use std::fmt;

use crate::time::UnixTime;

/// Why evidence was rejected or could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before a field it must contain.
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Offset of the read that failed.
        offset: usize,
        /// Bytes the read needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// The input is not well formed.
    Malformed {
        /// The structure being read.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Bytes follow a structure where the format allows none.
    TrailingData {
        /// The structure.
        what: &'static str,
        /// How many bytes follow it.
        extra: usize,
    },
    /// A version, algorithm or type this verifier does not support.
    Unsupported {
        /// The field.
        what: &'static str,
        /// The value found.
        found: String,
    },
    /// The platform could not be determined from the bytes.
    UnknownFormat {
        /// What was seen.
        reason: String,
    },
    /// An input needed to verify this evidence was not given.
    MissingInput {
        /// The input (for example "VCEK or VLEK certificate").
        what: &'static str,
    },
    /// A reserved region that must be zero is not.
    ReservedNotZero {
        /// The structure.
        what: &'static str,
        /// Offset of the first non-zero byte.
        offset: usize,
    },
    /// A field does not have the value the evidence or its chain requires.
    Mismatch {
        /// The field compared.
        field: &'static str,
        /// The value it must have.
        expected: String,
        /// The value found.
        found: String,
    },
    /// The signature over the evidence itself does not verify.
    EvidenceSignature {
        /// Which signature (for example "SEV-SNP report").
        what: &'static str,
    },
    /// A certificate could not be parsed or is not acceptable in its role.
    Certificate {
        /// The certificate's role or subject.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A certificate is not valid at the verification time.
    CertificateNotValidAt {
        /// The certificate's subject.
        subject: String,
        /// Start of its validity.
        not_before: UnixTime,
        /// End of its validity.
        not_after: UnixTime,
        /// The verification time.
        time: UnixTime,
    },
    /// A certificate's signature does not verify under its issuer's key.
    CertificateSignature {
        /// The certificate's subject.
        subject: String,
        /// The issuer whose key was used.
        issuer: String,
    },
    /// The chain does not end in any pinned trust anchor.
    UntrustedRoot {
        /// Subject of the last certificate of the chain.
        subject: String,
        /// Why no anchor matched.
        reason: String,
    },
    /// The chain ends in a simulated root, and simulated evidence was not allowed.
    SimulatedEvidence {
        /// The simulated root's subject.
        root: String,
    },
    /// A certificate is on its issuer's revocation list.
    Revoked {
        /// The certificate's subject.
        subject: String,
        /// Its serial number, hex.
        serial: String,
    },
    /// A CRL or other collateral is not valid at the verification time.
    CollateralNotValidAt {
        /// Which collateral item.
        what: String,
        /// Its issue date (thisUpdate / issueDate).
        issued: UnixTime,
        /// Its next update (nextUpdate).
        next_update: UnixTime,
        /// The verification time.
        time: UnixTime,
    },
    /// A signature over collateral (CRL, TCB info, QE identity) does not verify.
    CollateralSignature {
        /// Which collateral item.
        what: String,
    },
    /// No TCB level of the collateral matches the platform.
    TcbLevelNotFound {
        /// What was being matched (platform TCB, QE, TDX module).
        what: &'static str,
        /// The platform's values.
        found: String,
    },
    /// The matched TCB level is revoked.
    TcbRevoked {
        /// What was matched.
        what: &'static str,
        /// The level's date or identifier.
        level: String,
    },
}

/// The kind of failure, for callers (and tests) that classify rejections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Bytes that do not parse.
    Malformed,
    /// A version or algorithm not supported.
    Unsupported,
    /// A required input is missing.
    MissingInput,
    /// A field that does not match what the chain or format requires.
    Mismatch,
    /// The evidence signature is wrong.
    EvidenceSignature,
    /// A certificate is malformed, unsuitable, or its signature fails.
    CertificateChain,
    /// A certificate is outside its validity period.
    CertificateValidity,
    /// The chain does not reach a pinned anchor.
    UntrustedRoot,
    /// Simulated evidence without the caller's opt-in.
    Simulated,
    /// Revoked certificate.
    Revoked,
    /// Collateral outside its validity window.
    CollateralValidity,
    /// Collateral signature failure.
    CollateralSignature,
    /// No TCB level matches.
    TcbLevelNotFound,
    /// The matched TCB level is revoked.
    TcbRevoked,
}

impl Error {
    /// The kind of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Truncated { .. }
            | Self::Malformed { .. }
            | Self::TrailingData { .. }
            | Self::UnknownFormat { .. }
            | Self::ReservedNotZero { .. } => ErrorKind::Malformed,
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::MissingInput { .. } => ErrorKind::MissingInput,
            Self::Mismatch { .. } => ErrorKind::Mismatch,
            Self::EvidenceSignature { .. } => ErrorKind::EvidenceSignature,
            Self::Certificate { .. } | Self::CertificateSignature { .. } => {
                ErrorKind::CertificateChain
            }
            Self::CertificateNotValidAt { .. } => ErrorKind::CertificateValidity,
            Self::UntrustedRoot { .. } => ErrorKind::UntrustedRoot,
            Self::SimulatedEvidence { .. } => ErrorKind::Simulated,
            Self::Revoked { .. } => ErrorKind::Revoked,
            Self::CollateralNotValidAt { .. } => ErrorKind::CollateralValidity,
            Self::CollateralSignature { .. } => ErrorKind::CollateralSignature,
            Self::TcbLevelNotFound { .. } => ErrorKind::TcbLevelNotFound,
            Self::TcbRevoked { .. } => ErrorKind::TcbRevoked,
        }
    }

    pub(crate) fn malformed(what: &'static str, reason: impl fmt::Display) -> Self {
        Self::Malformed {
            what,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn mismatch(
        field: &'static str,
        expected: impl fmt::Display,
        found: impl fmt::Display,
    ) -> Self {
        Self::Mismatch {
            field,
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated {
                what,
                offset,
                needed,
                available,
            } => write!(
                f,
                "{what} is truncated: at offset {offset} it needs {needed} more bytes, {available} remain"
            ),
            Self::Malformed { what, reason } => write!(f, "malformed {what}: {reason}"),
            Self::TrailingData { what, extra } => {
                write!(f, "{extra} unexpected bytes follow the {what}")
            }
            Self::Unsupported { what, found } => write!(f, "unsupported {what}: {found}"),
            Self::UnknownFormat { reason } => {
                write!(f, "cannot tell which platform produced this evidence: {reason}")
            }
            Self::MissingInput { what } => write!(f, "missing input: {what}"),
            Self::ReservedNotZero { what, offset } => write!(
                f,
                "{what}: reserved field at offset {offset:#x} must be zero but is not"
            ),
            Self::Mismatch {
                field,
                expected,
                found,
            } => write!(f, "{field} mismatch: expected {expected}, found {found}"),
            Self::EvidenceSignature { what } => {
                write!(f, "the {what} signature does not verify")
            }
            Self::Certificate { what, reason } => write!(f, "certificate {what}: {reason}"),
            Self::CertificateNotValidAt {
                subject,
                not_before,
                not_after,
                time,
            } => {
                let state = if time < not_before { "not yet valid" } else { "expired" };
                write!(
                    f,
                    "certificate {subject:?} is {state} at {time} (valid {not_before} to {not_after})"
                )
            }
            Self::CertificateSignature { subject, issuer } => write!(
                f,
                "certificate {subject:?} is not signed by the key of {issuer:?}"
            ),
            Self::UntrustedRoot { subject, reason } => write!(
                f,
                "chain ending in {subject:?} does not reach a pinned trust anchor: {reason}"
            ),
            Self::SimulatedEvidence { root } => write!(
                f,
                "evidence is SIMULATED (chain ends in {root:?}); simulated evidence is accepted only when the caller allows simulated roots by name"
            ),
            Self::Revoked { subject, serial } => write!(
                f,
                "certificate {subject:?} (serial {serial}) is revoked"
            ),
            Self::CollateralNotValidAt {
                what,
                issued,
                next_update,
                time,
            } => {
                let state = if time < issued { "not yet valid" } else { "expired" };
                write!(
                    f,
                    "{what} is {state} at {time} (issued {issued}, next update {next_update})"
                )
            }
            Self::CollateralSignature { what } => write!(f, "the {what} signature does not verify"),
            Self::TcbLevelNotFound { what, found } => write!(
                f,
                "no TCB level of the collateral matches the {what} ({found})"
            ),
            Self::TcbRevoked { what, level } => {
                write!(f, "the {what} TCB level {level} is revoked")
            }
        }
    }
}

impl std::error::Error for Error {}
