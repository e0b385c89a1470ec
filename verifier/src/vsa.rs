//! SLSA Verification Summary Attestations (VSA v1,
//! <https://slsa.dev/spec/v1.0/verification_summary>): `kiln verify --vsa` writes one after a
//! build output verifies, signed by the verifier's key; [`verify_vsa`] checks one, with the
//! verifier's public key as an argument and no I/O:
//!
//! 1. the bundle is a Sigstore bundle v0.3 with one DSSE signature, by the given key (its id
//!    in the key hint and the signature) and verifying over PAE(payloadType, payload);
//! 2. the payload is an in-toto Statement v1 with [`PREDICATE_TYPE_VSA`] and at least one
//!    subject, each with a SHA-256;
//! 3. the predicate has every field VSA v1 requires (`verifier.id`, `timeVerified`,
//!    `resourceUri`, `policy`, `verificationResult`, `verifiedLevels`) and no other;
//! 4. `verificationResult` is `PASSED`;
//! 5. when the caller expects a resource (an artifact's SHA-256), a subject has it.
//!
//! The levels kiln claims ([`levels`]): SLSA Build L3 only for hardware evidence of a pinned
//! builder image (a measurement reference or a policy that pins it) from a production guest;
//! simulated evidence, an unpinned image or a debug guest earn L1 (the provenance exists and
//! says how the artifact was built) and nothing more. Custom levels name what the evidence
//! rests on: `KILN_TEE_SEV_SNP`, `KILN_TEE_TDX`, `KILN_TEE_NITRO`, or
//! `KILN_SIMULATED_EVIDENCE`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::build_output::envelope::{self, OpenError};
use crate::build_output::key_id;
use crate::build_output::statement::{Subject, STATEMENT_TYPE_V1};
use crate::Platform;

/// `predicateType` of a VSA v1.
pub const PREDICATE_TYPE_VSA: &str = "https://slsa.dev/verification_summary/v1";

/// The policy URI of a kiln verification without a policy file: kiln's own checks with the
/// caller's expectations (whose canonical JSON the policy digest covers).
pub const EXPECTATIONS_POLICY_URI: &str = "https://kiln.dev/verify/expectations/v1";

/// kiln's verifier id.
pub const KILN_VERIFIER_ID: &str = "https://kiln.dev/verifiers/kiln-verify/v1";

/// The VSA v1 predicate (exactly the fields in-toto-attestation's VSA v1 type defines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Vsa {
    /// Who verified.
    pub verifier: VsaVerifier,
    /// When (RFC 3339).
    pub time_verified: String,
    /// What was verified.
    pub resource_uri: String,
    /// Against what.
    pub policy: VsaRef,
    /// The attestations the verification read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_attestations: Vec<VsaRef>,
    /// `PASSED` or `FAILED`.
    pub verification_result: String,
    /// The levels verified.
    pub verified_levels: Vec<String>,
    /// The levels of dependencies (none: kiln does not verify them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependency_levels: BTreeMap<String, u64>,
    /// The SLSA version of the levels.
    pub slsa_version: String,
}

/// `verifier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VsaVerifier {
    /// Its id (a URI).
    pub id: String,
}

/// `policy` and `inputAttestations` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VsaRef {
    /// Where it is.
    pub uri: String,
    /// Its digests.
    pub digest: BTreeMap<String, String>,
}

/// What the evidence behind a verified build was, for [`levels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assurance {
    /// The evidence's platform.
    pub platform: Platform,
    /// Whether it rests on simulated evidence.
    pub simulated: bool,
    /// Whether a reference or a policy pinned the builder image's measurement.
    pub measurement_pinned: bool,
    /// Whether the guest ran in debug mode.
    pub debug: bool,
}

/// The levels kiln claims for a build it verified (see the module documentation).
pub fn levels(a: Assurance) -> Vec<String> {
    if a.simulated {
        return vec![
            "SLSA_BUILD_LEVEL_1".into(),
            "KILN_SIMULATED_EVIDENCE".into(),
        ];
    }
    let tee = match a.platform {
        Platform::SevSnp => "KILN_TEE_SEV_SNP",
        Platform::Tdx => "KILN_TEE_TDX",
        Platform::Nitro => "KILN_TEE_NITRO",
    };
    let build = if a.measurement_pinned && !a.debug {
        "SLSA_BUILD_LEVEL_3"
    } else {
        "SLSA_BUILD_LEVEL_1"
    };
    vec![build.into(), tee.into()]
}

/// Why a VSA was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsaError(pub String);

impl std::fmt::Display for VsaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VsaError {}

/// A VSA that passed [`verify_vsa`].
#[derive(Debug, Clone)]
pub struct VerifiedVsa {
    /// The artifacts it is about.
    pub subjects: Vec<Subject>,
    /// The summary.
    pub vsa: Vsa,
    /// The signing key's id.
    pub key_id: String,
}

#[derive(Deserialize)]
struct VsaStatement {
    #[serde(rename = "_type")]
    type_: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    predicate: Vsa,
}

fn bad(m: impl Into<String>) -> VsaError {
    VsaError(m.into())
}

/// Verifies a VSA bundle with the verifier's public key (see the module documentation);
/// `expect_resource` is a SHA-256 (hex) one of its subjects must have.
pub fn verify_vsa(
    bundle_json: &[u8],
    public_key_pem: &str,
    expect_resource: Option<&str>,
) -> Result<VerifiedVsa, VsaError> {
    // 1.
    let (spki, point) = crate::build_output::verify::parse_public_key(public_key_pem)
        .map_err(|e| bad(format!("key: {e}")))?;
    let id = key_id(&spki);
    let payload = envelope::open(bundle_json, &id, &point).map_err(|e| match e {
        OpenError::OtherKey { found, .. } => bad(format!(
            "signature: signed by another key ({found}), not the verifier key given ({id})"
        )),
        OpenError::Signature => bad("signature: does not verify with the verifier key"),
        OpenError::Bundle(why) => bad(format!("signature: {why}")),
    })?;
    // 2. and 3.
    let st: VsaStatement = serde_json::from_slice(&payload)
        .map_err(|e| bad(format!("statement: not a VSA v1 statement: {e}")))?;
    if st.type_ != STATEMENT_TYPE_V1 || st.predicate_type != PREDICATE_TYPE_VSA {
        return Err(bad(format!(
            "statement: {:?} / {:?} is not {STATEMENT_TYPE_V1} / {PREDICATE_TYPE_VSA}",
            st.type_, st.predicate_type
        )));
    }
    if st.subject.is_empty() || st.subject.iter().any(|s| !s.digest.contains_key("sha256")) {
        return Err(bad(
            "statement: every subject needs a SHA-256, and there must be one",
        ));
    }
    // 4.
    if st.predicate.verification_result != "PASSED" {
        return Err(bad(format!(
            "result: verificationResult is {:?}",
            st.predicate.verification_result
        )));
    }
    // 5.
    if let Some(want) = expect_resource {
        let want = want.to_ascii_lowercase();
        if !st.subject.iter().any(|s| {
            s.digest
                .get("sha256")
                .is_some_and(|d| d.to_ascii_lowercase() == want)
        }) {
            return Err(bad(format!(
                "resource: the VSA is for other artifacts ({}), not {want}",
                st.subject
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(VerifiedVsa {
        subjects: st.subject,
        vsa: st.predicate,
        key_id: id,
    })
}
