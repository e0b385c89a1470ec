//! [`SnpDetails`]: every field of a verified report, decoded, for policies that need more than
//! the common claims.

use serde::Serialize;

use super::report::{Cpuid, FirmwareVersion, GuestPolicy, KeyInfo, PlatformInfo, Report};
use super::revocation::CrlCheck;
use super::tcb::TcbVersion;
use crate::hex::Hex;
use crate::pki::Cert;
use crate::time::UnixTime;
use kiln_provenance::SnpProduct;

/// The certificate that signed the report.
#[derive(Debug, Clone, Serialize)]
pub struct VekDetails {
    /// `SEV-VCEK` or `SEV-VLEK` subject.
    pub subject: String,
    /// Its issuer (the ASK or ASVK).
    pub issuer: String,
    /// Serial number, hex (AMD issues VEKs with serial 0).
    pub serial: Hex,
    /// SHA-256 of its DER.
    pub sha256: Hex,
    /// Start of its validity.
    pub not_before: UnixTime,
    /// End of its validity.
    pub not_after: UnixTime,
    /// productName extension (1.3.6.1.4.1.3704.1.2), for example `Milan-B0`.
    pub product_name: Option<String>,
    /// hwID extension (VCEK, 1.3.6.1.4.1.3704.1.4).
    pub hw_id: Option<Hex>,
    /// csp_id extension (VLEK, 1.3.6.1.4.1.3704.1.5).
    pub csp_id: Option<String>,
}

impl VekDetails {
    /// Describes a VEK certificate.
    pub(crate) fn new(
        vek: &Cert,
        product_name: Option<String>,
        hw_id: Option<Vec<u8>>,
        csp_id: Option<String>,
    ) -> Self {
        let (not_before, not_after) = vek.validity();
        Self {
            subject: vek.subject().to_owned(),
            issuer: vek.issuer(),
            serial: Hex::from(vek.serial()),
            sha256: Hex::from(vek.sha256()),
            not_before,
            not_after,
            product_name,
            hw_id: hw_id.map(Hex::from),
            csp_id,
        }
    }
}

/// Every field of an SEV-SNP attestation report, decoded for its product.
#[derive(Debug, Clone, Serialize)]
pub struct SnpDetails {
    /// VERSION (2, 3 or 5).
    pub version: u32,
    /// The product (from the VEK's chain, checked against CPUID on v3+).
    pub product: SnpProduct,
    /// GUEST_SVN.
    pub guest_svn: u32,
    /// POLICY, decoded.
    pub policy: GuestPolicy,
    /// FAMILY_ID.
    pub family_id: Hex,
    /// IMAGE_ID.
    pub image_id: Hex,
    /// VMPL the report was requested at.
    pub vmpl: u32,
    /// SIGNATURE_ALGO (1).
    pub signature_algo: u32,
    /// CURRENT_TCB.
    pub current_tcb: TcbVersion,
    /// REPORTED_TCB (equal to the VEK's TCB extensions).
    pub reported_tcb: TcbVersion,
    /// COMMITTED_TCB.
    pub committed_tcb: TcbVersion,
    /// LAUNCH_TCB.
    pub launch_tcb: TcbVersion,
    /// PLATFORM_INFO, decoded.
    pub platform_info: PlatformInfo,
    /// KEY_INFO, decoded (signing key `vcek` / `vlek`, MASK_CHIP_KEY, AUTHOR_KEY_EN).
    pub key_info: KeyInfo,
    /// REPORT_DATA.
    pub report_data: Hex,
    /// MEASUREMENT.
    pub measurement: Hex,
    /// HOST_DATA.
    pub host_data: Hex,
    /// ID_KEY_DIGEST.
    pub id_key_digest: Hex,
    /// AUTHOR_KEY_DIGEST.
    pub author_key_digest: Hex,
    /// REPORT_ID.
    pub report_id: Hex,
    /// REPORT_ID_MA.
    pub report_id_ma: Hex,
    /// CPUID family, model and stepping (v3+).
    pub cpuid: Option<Cpuid>,
    /// CHIP_ID as in the report (all zero when masked).
    pub chip_id: Hex,
    /// Whether CHIP_ID is all zero (MASK_CHIP_ID, or a VLEK-signed report).
    pub chip_id_masked: bool,
    /// CURRENT_MAJOR / MINOR / BUILD.
    pub current_version: FirmwareVersion,
    /// COMMITTED_MAJOR / MINOR / BUILD.
    pub committed_version: FirmwareVersion,
    /// LAUNCH_MIT_VECTOR (v5).
    #[serde(serialize_with = "super::report::hex_u64_opt")]
    pub launch_mit_vector: Option<u64>,
    /// CURRENT_MIT_VECTOR (v5).
    #[serde(serialize_with = "super::report::hex_u64_opt")]
    pub current_mit_vector: Option<u64>,
    /// The VCEK or VLEK that signed the report.
    pub vek: VekDetails,
    /// The CRLs checked (none supplied: empty, and revocation was not checked).
    pub crls: Vec<CrlCheck>,
}

impl SnpDetails {
    /// Decodes every field of a verified `report` with the TCB layout of `product`.
    pub(crate) fn new(
        report: &Report<'_>,
        product: SnpProduct,
        vek: VekDetails,
        crls: Vec<CrlCheck>,
    ) -> Self {
        Self {
            version: report.version,
            product,
            guest_svn: report.guest_svn,
            policy: report.policy,
            family_id: Hex::from(report.family_id),
            image_id: Hex::from(report.image_id),
            vmpl: report.vmpl,
            signature_algo: report.signature_algo,
            current_tcb: TcbVersion::decode(report.current_tcb, product),
            reported_tcb: TcbVersion::decode(report.reported_tcb, product),
            committed_tcb: TcbVersion::decode(report.committed_tcb, product),
            launch_tcb: TcbVersion::decode(report.launch_tcb, product),
            platform_info: report.platform_info,
            key_info: report.key_info,
            report_data: Hex::from(report.report_data),
            measurement: Hex::from(report.measurement),
            host_data: Hex::from(report.host_data),
            id_key_digest: Hex::from(report.id_key_digest),
            author_key_digest: Hex::from(report.author_key_digest),
            report_id: Hex::from(report.report_id),
            report_id_ma: Hex::from(report.report_id_ma),
            cpuid: report.cpuid,
            chip_id: Hex::from(report.chip_id),
            chip_id_masked: report.chip_id_masked(),
            current_version: report.current_version,
            committed_version: report.committed_version,
            launch_mit_vector: report.launch_mit_vector,
            current_mit_vector: report.current_mit_vector,
            vek,
            crls,
        }
    }
}
