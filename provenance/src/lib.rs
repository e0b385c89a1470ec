//! What kiln's host, its guest (`kiln-enclave`) and its verifier must agree on, byte for byte:
//! the documents of an attested build and the names they use. Everything here is data and pure
//! functions over it: no cryptographic verification (that is `kiln-verifier`'s) and no I/O, so
//! the guest, whose every dependency is measured trusted code, can carry it.
//!
//! - [`request`]: the build request the host sends and the guest signs into the provenance;
//! - [`recipe`]: `kiln.toml`, which the guest reads from the digest-checked source;
//! - [`statement`]: the in-toto Statement v1 with its SLSA Provenance v1 predicate;
//! - [`dsse`] and [`bundle`]: the DSSE envelope and the Sigstore bundle v0.3 around it;
//! - [`binding`](mod@binding): the `kiln-binding/v1` digest and REPORT_DATA the evidence binds;
//! - [`media`]: media types of the output folder's files;
//! - [`git`]: git tree and commit hashing (SHA-1 with collision detection, SHA-256), with which
//!   the guest proves the commit it built;
//! - [`Platform`]: the TEE platforms, and [`key_id`] of a signing key.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod binding;
pub mod bundle;
pub mod dsse;
pub mod git;
pub mod guest_modules;
pub mod layout;
pub mod media;
pub mod recipe;
pub mod reference;
pub mod request;
pub mod sbom;
pub mod snp_product;
pub mod statement;
pub mod toolchain_disk;
pub mod toolchain_manifest;

use std::fmt;

use sha2::{Digest, Sha256};

pub use binding::{binding, report_data, BINDING_VERSION};
pub use bundle::SigstoreBundle;
pub use dsse::{pae, Envelope, Signature as DsseSignature, PAYLOAD_TYPE_IN_TOTO};
pub use recipe::{parse_recipe, Limits, Recipe, RecipeFileError, Tool, RECIPE_FILE};
pub use request::{BuildRequest, GitProof, SourceRef, REQUEST_KIND};
pub use statement::{
    BuildDefinition, Builder, Metadata, Provenance, ResourceDescriptor, RunDetails, Statement,
    Subject, BUILD_TYPE, PREDICATE_TYPE_SLSA_V1, SOURCE_TREE_ANNOTATION, STATEMENT_TYPE_V1,
};

/// A TEE platform. The names are those of the command lines, policies and media types.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Platform {
    /// AMD SEV-SNP.
    #[serde(rename = "sev-snp")]
    SevSnp,
    /// Intel TDX.
    #[serde(rename = "tdx")]
    Tdx,
    /// AWS Nitro Enclaves.
    #[serde(rename = "nitro")]
    Nitro,
}

impl Platform {
    /// Every platform.
    pub const ALL: [Self; 3] = [Self::SevSnp, Self::Tdx, Self::Nitro];

    /// The name used on the command line and in policies (`sev-snp`, `tdx`, `nitro`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SevSnp => "sev-snp",
            Self::Tdx => "tdx",
            Self::Nitro => "nitro",
        }
    }

    /// Parses a command-line name (`snp` is accepted for `sev-snp`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sev-snp" | "snp" => Some(Self::SevSnp),
            "tdx" => Some(Self::Tdx),
            "nitro" => Some(Self::Nitro),
            _ => None,
        }
    }

    /// The claim name of the platform's primary measurement register: the one a simulated
    /// launch measurement stands for and a reference must pin at least.
    pub fn primary_measurement(self) -> &'static str {
        match self {
            Self::SevSnp => "measurement",
            Self::Tdx => "mrtd",
            Self::Nitro => "pcr0",
        }
    }

    /// Whether `name` is one of the platform's measurement claims: `measurement` (SEV-SNP);
    /// `mrtd`, `rtmr0`..`rtmr3` (TDX); `pcr0`..`pcr31` (Nitro).
    pub fn is_measurement_name(self, name: &str) -> bool {
        match self {
            Self::SevSnp => name == "measurement",
            Self::Tdx => matches!(name, "mrtd" | "rtmr0" | "rtmr1" | "rtmr2" | "rtmr3"),
            Self::Nitro => name
                .strip_prefix("pcr")
                .and_then(|i| i.parse::<u16>().ok())
                .is_some_and(|i| i < 32 && name == format!("pcr{i}")),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use reference::REFERENCE_KIND;

/// The word kiln's simulator writes into the organisation of every simulated root and
/// intermediate it makes, and by which the verifier refuses such a chain as simulated (not
/// merely untrusted) unless the caller allowed that root: the one definition both sides use.
pub const SIMULATED_MARK: &str = "SIMULATED";
pub use snp_product::SnpProduct;

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The DSSE `keyid` kiln uses: lowercase hex SHA-256 of the key's SubjectPublicKeyInfo DER.
pub fn key_id(spki_der: &[u8]) -> String {
    sha256_hex(spki_der)
}
