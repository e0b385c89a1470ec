//! AMD SEV-SNP: attestation reports (versions 2, 3 and 5) signed by a VCEK or VLEK that chains
//! to a pinned AMD root (ARK) through the product's ASK or ASVK.
//!
//! Layout and semantics follow the AMD SEV-SNP ABI specification (#56860, ATTESTATION_REPORT
//! structure) and the VCEK/KDS specification (#57230, certificate extensions). Decisions where
//! the evidence leaves room:
//!
//! - **Masked CHIP_ID.** A CHIP_ID of all zeros (MASK_CHIP_ID, or any VLEK report) is reported
//!   as `chip_id: None` and `details.chip_id_masked: true`. A VCEK's hwID cannot be compared
//!   then; the report is still bound to the chip because only that chip's VCEK can sign it. A
//!   policy can require an unmasked CHIP_ID.
//! - **Turin hwID.** A Turin VCEK's hwID is 8 bytes and equals the first 8 bytes of CHIP_ID;
//!   the remaining bytes are covered by the report signature but not by the certificate.
//! - **VLEK.** A VLEK has no hwID (it has csp_id): CHIP_ID is not compared.
//! - **Report version 4** was never defined for reports in the field: refused.
//! - **PLATFORM_INFO** bits unknown to this verifier are reported in `raw`, not refused, since
//!   later firmware defines new ones; every region the specification reserves is checked.
//! - **REPORTED_TCB** is compared with the VEK component by component (bl, tee, snp, ucode, and
//!   fmc on Turin); its reserved bytes are covered by the signature only.
//! - **CPUID** in a v3+ report must name a known CPU of the chain's product: zero or an
//!   unknown family/model is a mismatch.
//! - **Cache.** A verified VEK → ASK/ASVK → ARK path is cached per VEK DER with the window in
//!   which every certificate on it is valid; the report's own checks and signature always run.

mod details;
mod report;
mod revocation;
mod tcb;
mod vek;

pub use details::{SnpDetails, VekDetails};
pub use kiln_provenance::SnpProduct;
pub use report::{
    Cpuid, FirmwareVersion, GuestPolicy, KeyInfo, PlatformInfo, Report, SigningKey, SIGNED_LEN,
    SUPPORTED_VERSIONS,
};
pub use revocation::CrlCheck;
pub use tcb::{Component, TcbVersion};

use std::collections::BTreeMap;

use aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED;

use crate::anchors::{AnchorOrigin, TrustAnchors};
use crate::cache::Cache;
use crate::claims::{AnchorClaim, ClaimsOf, TcbClaims, TcbStatus};
use crate::error::Error;
use crate::hex::Hex;
use crate::pki;
use crate::time::UnixTime;
use crate::Evidence;
use kiln_provenance::Platform;

/// Length of an attestation report, signature included.
pub const REPORT_LEN: usize = 1184;

/// Verifies an SEV-SNP attestation report at time `t`, against the anchors of `v`.
///
/// 1. Parse the report: exactly [`REPORT_LEN`] bytes; VERSION 2, 3 or 5; SIGNATURE_ALGO 1;
///    KEY_INFO names the VCEK or VLEK (7, unsigned, is refused; the VCEK with MASK_CHIP_KEY
///    set is contradictory); POLICY bit 17 set; every reserved region zero, the padding of the
///    signature's R and S included.
/// 2. Read the VEK (DER, PEM, or a PEM bundle whose first certificate is the VEK) and the
///    optional chain; without a VEK the input is missing.
/// 3. Identify the VEK from its names: subject `SEV-VCEK` or `SEV-VLEK` must be the signing key
///    KEY_INFO names; the issuer `SEV-<product>` (VCEK) or `SEV-VLEK-<product>` (VLEK) gives
///    the product; the key must be ECDSA P-384.
/// 4. Verify the path VEK → ASK/ASVK → ARK of that product, every certificate valid at `t`
///    and the ARK pinned (cached per VEK within the path's validity window). Then (4b), when
///    CRLs are supplied (AMD's, issued by the ARK; or one issued by the ASK/ASVK), each must
///    be issued by a CA of that path, signed by it, valid at `t`, and must not list the
///    certificate it covers (see `revocation`); never cached.
/// 5. On v3+ reports, the CPUID family and model must belong to the chain's product.
/// 6. REPORTED_TCB, decoded for the product, must equal the VEK's SPL extensions.
/// 7. For a VCEK, CHIP_ID must equal its hwID (all of it; the first 8 bytes on Turin), unless
///    CHIP_ID is masked (all zero).
/// 8. Verify the ECDSA P-384 / SHA-384 signature over bytes 0..0x2A0 as received.
/// 9. Build the claims.
///
/// Steps 5-7 come before the signature so that a wrong VEK (another chip, an older TCB) is
/// reported as the precise mismatch rather than as a bad signature; all steps must pass.
pub fn verify(
    trust: &TrustAnchors,
    cache: &Cache,
    evidence: &Evidence<'_>,
    time: UnixTime,
) -> Result<ClaimsOf<SnpDetails>, Error> {
    // 1.
    let report = Report::parse(evidence.bytes)?;
    // 2.
    let inputs = vek::read_inputs(evidence)?;
    // 3.
    let id = vek::identify(&inputs.vek)?;
    if id.role != report.key_info.signing_key {
        return Err(Error::mismatch(
            "report signing key (KEY_INFO) vs VEK certificate",
            format!("a {} (KEY_INFO)", report.key_info.signing_key.name()),
            format!(
                "a {} certificate ({})",
                id.role.name(),
                inputs.vek.subject()
            ),
        ));
    }
    // 4.
    let path = vek::verify_chain(trust, cache, &inputs, id, time)?;
    let anchor = &path.anchor;
    // 4b.
    let crls = match evidence.crl {
        Some(bytes) => revocation::check(
            bytes,
            &revocation::PathCerts {
                vek: &inputs.vek,
                intermediate: &path.intermediate,
                root: &anchor.cert,
            },
            time,
        )?,
        None => Vec::new(),
    };
    // 5.
    check_cpuid(&report, id.product)?;
    // 6.
    let reported_tcb = TcbVersion::decode(report.reported_tcb, id.product);
    vek::check_tcb(&inputs.vek, &reported_tcb, id.product)?;
    // 7.
    let hw_id = match id.role {
        SigningKey::Vcek => {
            let hw_id = vek::hw_id(&inputs.vek, id.product)?;
            check_chip_id(&report, &hw_id)?;
            Some(hw_id)
        }
        SigningKey::Vlek => None,
    };
    // 8.
    let signature = report.signature_fixed();
    if !pki::verify_ecdsa_fixed(
        &ECDSA_P384_SHA384_FIXED,
        inputs.vek.public_key(),
        report.signed_bytes(),
        &signature,
    ) {
        return Err(Error::EvidenceSignature {
            what: "SEV-SNP report",
        });
    }
    // 9.
    let vek_details = VekDetails::new(
        &inputs.vek,
        vek::product_name(&inputs.vek),
        hw_id,
        vek::csp_id(&inputs.vek),
    );
    let details = SnpDetails::new(&report, id.product, vek_details, crls);
    let mut measurements = BTreeMap::new();
    measurements.insert("measurement".to_owned(), Hex::from(report.measurement));
    Ok(ClaimsOf {
        platform: Platform::SevSnp,
        simulated: anchor.origin == AnchorOrigin::Simulated,
        product: id.product.name().to_owned(),
        measurements,
        report_data: Some(Hex::from(report.report_data)),
        user_data: None,
        public_key: None,
        nonce: None,
        tcb: TcbClaims {
            status: TcbStatus::NotApplicable,
            versions: reported_tcb.versions(),
            advisory_ids: Vec::new(),
        },
        debug: report.policy.debug,
        chip_id: (!report.chip_id_masked()).then(|| Hex::from(report.chip_id)),
        instance_id: None,
        evidence_time: None,
        verified_at: time,
        anchor: AnchorClaim {
            name: anchor.name.clone(),
            sha256: Hex::from(anchor.cert.sha256()),
            origin: anchor.origin,
        },
        details,
    })
}

/// The role (VCEK or VLEK) and product a VEK certificate's names give (DER, PEM, or a PEM
/// bundle whose first certificate is the VEK), read as step 3 of [`verify`] reads them. Names
/// only: nothing is verified.
pub fn identify_vek(bytes: &[u8]) -> Result<(SigningKey, SnpProduct), Error> {
    let inputs = vek::read_inputs(&Evidence::new(&[]).vek(bytes))?;
    let id = vek::identify(&inputs.vek)?;
    Ok((id.role, id.product))
}

/// Step 5: a v3+ report's CPUID must name a CPU of the product the VEK's chain is for. A v2
/// report has no CPUID; its product is the chain's.
pub fn check_cpuid(report: &Report<'_>, chain_product: SnpProduct) -> Result<(), Error> {
    let Some(cpuid) = report.cpuid else {
        return Ok(());
    };
    let from_cpuid = SnpProduct::from_cpuid(cpuid.family, cpuid.model);
    if from_cpuid != Some(chain_product) {
        return Err(Error::mismatch(
            "CPUID product vs VEK chain product",
            format!("{chain_product} ({})", chain_product.cpuid_ranges()),
            format!(
                "{} (family {:#04x}, model {:#04x}, stepping {})",
                from_cpuid.map_or("an unknown CPU", SnpProduct::name),
                cpuid.family,
                cpuid.model,
                cpuid.stepping
            ),
        ));
    }
    Ok(())
}

/// Step 7: CHIP_ID must start with the VCEK's hwID (64 bytes, or 8 on Turin), unless masked.
fn check_chip_id(report: &Report<'_>, hw_id: &[u8]) -> Result<(), Error> {
    if report.chip_id_masked() {
        return Ok(());
    }
    let chip = report.chip_id.get(..hw_id.len());
    if chip != Some(hw_id) {
        return Err(Error::mismatch(
            "CHIP_ID vs VCEK hwID",
            hex::encode(hw_id),
            hex::encode(chip.unwrap_or(&report.chip_id)),
        ));
    }
    Ok(())
}
