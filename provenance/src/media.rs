//! File names and media types of a build output's evidence, shared by the builder (which
//! writes them) and the verifier (which reads them).

use crate::Platform;

/// The build request byproduct.
pub const REQUEST_NAME: &str = "request.json";
/// Media type of the build request.
pub const REQUEST_MEDIA_TYPE: &str = "application/vnd.kiln.build-request+json";
/// The evidence itself.
pub const EVIDENCE_NAME: &str = "evidence.bin";
/// SEV-SNP: the VCEK or VLEK.
pub const VEK_NAME: &str = "vek.der";
/// SEV-SNP: ASK and ARK, PEM.
pub const CHAIN_NAME: &str = "chain.pem";
/// TDX: QuoteCollateralV3 JSON.
pub const COLLATERAL_NAME: &str = "collateral.json";
/// SEV-SNP: AMD's CRL of the product (DER; several one after the other, or PEM).
pub const CRL_NAME: &str = "crl.der";
/// Simulated evidence only: the simulated root.
pub const SIMULATED_ROOT_NAME: &str = "simulated-root.der";

/// Every file `evidence/` may hold.
pub const EVIDENCE_FILES: &[&str] = &[
    EVIDENCE_NAME,
    VEK_NAME,
    CHAIN_NAME,
    COLLATERAL_NAME,
    CRL_NAME,
    SIMULATED_ROOT_NAME,
];

/// The evidence files that prove themselves: vendor certificates, CRLs and signed collateral,
/// each checked against the pinned vendor roots. Besides the guest's signed copies, the host
/// may add these to `evidence/` after the build (collateral fetched from the vendors), so they
/// need not be signed byproducts; a signed copy, when there is one, must match.
pub const VENDOR_COLLATERAL_FILES: &[&str] = &[VEK_NAME, CHAIN_NAME, COLLATERAL_NAME, CRL_NAME];

/// The media type of the evidence of a platform.
pub fn evidence_media_type(platform: Platform) -> &'static str {
    match platform {
        Platform::SevSnp => "application/vnd.kiln.evidence.sev-snp",
        Platform::Tdx => "application/vnd.kiln.evidence.tdx",
        Platform::Nitro => "application/vnd.kiln.evidence.nitro",
    }
}

/// The media type of an evidence file, by name.
pub fn media_type(name: &str, platform: Platform) -> &'static str {
    match name {
        EVIDENCE_NAME => evidence_media_type(platform),
        VEK_NAME | SIMULATED_ROOT_NAME => "application/pkix-cert",
        CRL_NAME => "application/pkix-crl",
        CHAIN_NAME => "application/x-pem-file",
        COLLATERAL_NAME => "application/json",
        REQUEST_NAME => REQUEST_MEDIA_TYPE,
        _ => "application/octet-stream",
    }
}
