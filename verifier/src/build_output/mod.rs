//! Attested builds: the documents kiln produces (build request, in-toto Statement v1 with a
//! SLSA Provenance v1 predicate, DSSE envelope, Sigstore bundle v0.3) and the verification of
//! a build's output folder, link by link.
//!
//! The chain a consumer checks: hardware evidence → REPORT_DATA binds the signing key and the
//! signed statement (its subjects, request, dependencies and parameters: [`binding`](mod@binding)) → the
//! DSSE signature over the statement → every subject digest matches its artifact → expected
//! measurement, builder, source and nonce.

pub mod envelope;
pub mod error;
pub mod expect;
pub mod load;
pub mod sbom;
pub mod verify;

// The documents themselves live in `kiln-provenance`, which the guest shares; they are
// re-exported here under their old paths.
pub use kiln_provenance::{binding, bundle, dsse, git, media, recipe, request, statement};
pub use sbom::VerifiedSbom;

pub use bundle::SigstoreBundle;
pub use dsse::{pae, Envelope, Signature as DsseSignature, PAYLOAD_TYPE_IN_TOTO};
pub use error::BuildError;
pub use expect::{
    required_registers, AnyMeasurement, DebugEvidence, Expectations, Pinning,
    TDX_REFERENCE_REGISTERS,
};
pub use load::load_output_dir;
pub use recipe::{parse_recipe, Limits, Recipe, RecipeFileError, Tool, RECIPE_FILE};
pub use request::{BuildRequest, GitProof, SourceRef, REQUEST_KIND};
pub use statement::{
    BuildDefinition, Builder, Metadata, Provenance, ResourceDescriptor, RunDetails, Statement,
    Subject, BUILD_TYPE, PREDICATE_TYPE_SLSA_V1, STATEMENT_TYPE_V1,
};
pub use verify::{verify, AllowSimulated, BuildOutput, VerifiedBuild};

pub use kiln_provenance::{key_id, report_data, sha256_hex, BINDING_VERSION};
