//! The layout of a build output folder, written by the host and read by the verifier:
//!
//! ```text
//! OUT/
//!   provenance.sigstore.json   the Sigstore bundle: DSSE envelope of the signed Statement
//!   public-key.pem             the guest's signing key (its id is in the Statement)
//!   artifacts/                 the build's outputs, each a subject of the Statement
//!   evidence/                  the TEE evidence and what verifies it (see crate::media)
//!   sbom.spdx.json             the SPDX 2.3 SBOM (see crate::sbom)
//!   sbom.spdx.sigstore.json    its in-toto Statement, signed by the same key
//!   sbom.cyclonedx.json        the CycloneDX 1.6 SBOM
//!   sbom.cyclonedx.sigstore.json  its in-toto Statement, signed by the same key
//! ```
//!
//! Nothing else may sit at the top of an output folder: a verifier refuses it, so that a stray
//! file cannot travel with a verified output.

/// The Sigstore bundle of the provenance.
pub const BUNDLE_FILE: &str = "provenance.sigstore.json";
/// The guest's public signing key, PEM.
pub const PUBLIC_KEY_FILE: &str = "public-key.pem";
/// The folder of artifacts.
pub const ARTIFACTS_DIR: &str = "artifacts";
/// The folder of evidence files ([`crate::media::EVIDENCE_FILES`]).
pub const EVIDENCE_DIR: &str = "evidence";

/// The SPDX SBOM.
pub const SBOM_SPDX_FILE: &str = "sbom.spdx.json";
/// Its signed statement.
pub const SBOM_SPDX_BUNDLE_FILE: &str = "sbom.spdx.sigstore.json";
/// The CycloneDX SBOM.
pub const SBOM_CYCLONEDX_FILE: &str = "sbom.cyclonedx.json";
/// Its signed statement.
pub const SBOM_CYCLONEDX_BUNDLE_FILE: &str = "sbom.cyclonedx.sigstore.json";
/// The attestation files besides the provenance (what the guest sends beside its bundle).
pub const ATTESTATION_FILES: &[&str] = &[
    SBOM_SPDX_FILE,
    SBOM_SPDX_BUNDLE_FILE,
    SBOM_CYCLONEDX_FILE,
    SBOM_CYCLONEDX_BUNDLE_FILE,
];

/// Every file at the top of an output folder.
pub const OUTPUT_FILES: &[&str] = &[
    BUNDLE_FILE,
    PUBLIC_KEY_FILE,
    SBOM_SPDX_FILE,
    SBOM_SPDX_BUNDLE_FILE,
    SBOM_CYCLONEDX_FILE,
    SBOM_CYCLONEDX_BUNDLE_FILE,
];
/// Every folder at the top of an output folder.
pub const OUTPUT_DIRS: &[&str] = &[ARTIFACTS_DIR, EVIDENCE_DIR];
