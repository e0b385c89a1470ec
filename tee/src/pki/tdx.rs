//! The simulated Intel SGX/TDX provisioning PKI: root CA, PCK Platform CA, PCK certificate
//! with the SGX extensions, TCB signing certificate, and the quoting enclave's attestation
//! key.
//!
//! Profiles copied from Intel's certificates (the PCK chains inside `tdx/dcap-qvl/tdx_quote`
//! and the issuer chains of its collateral). All are ECDSA P-256 with SHA-256; names are
//! `CN=…, O=Intel Corporation, L=Santa Clara, ST=CA, C=US`, the root's organisation reading
//! `Intel Corporation SIMULATED`.
//!
//! | cert                      | extensions, in order                                        |
//! |---------------------------|-------------------------------------------------------------|
//! | Intel SGX Root CA         | AKI (itself), CRL DP, SKI, KU (crit: certSign, cRLSign), BC (crit: CA, pathlen 1) |
//! | Intel SGX PCK Platform CA | AKI, CRL DP, SKI, KU (crit: certSign, cRLSign), BC (crit: CA, pathlen 0) |
//! | Intel SGX PCK Certificate | AKI, CRL DP, SKI, KU (crit: digitalSignature, nonRepudiation), BC (crit: not CA), SGX extensions |
//! | Intel SGX TCB Signing     | AKI, CRL DP, SKI, KU (crit: digitalSignature, nonRepudiation), BC (crit: not CA) |
//!
//! SGX extensions (OID 1.2.840.113741.1.13.1, Intel SGX PCK Certificate and CRL Profile
//! Specification, section 1.5), a SEQUENCE of `SEQUENCE { OID, value }`:
//! `.1` PPID OCTET STRING (16); `.2` TCB: SEQUENCE of `.2.1`-`.2.16` component SVNs
//! INTEGER, `.2.17` PCESVN INTEGER, `.2.18` CPUSVN OCTET STRING (16); `.3` PCE-ID OCTET
//! STRING (2); `.4` FMSPC OCTET STRING (6); `.5` SGX type ENUMERATED (1 = Scalable);
//! `.6` PlatformInstanceID OCTET STRING (16); `.7` Configuration: SEQUENCE of `.7.1`
//! dynamicPlatform, `.7.2` cachedKeys, `.7.3` SMTEnabled, each BOOLEAN.

use const_oid::ObjectIdentifier;
use p256::ecdsa::SigningKey;
use x509_cert::name::Name;

use super::KeySource;
use super::{
    ext, issue_reusing, key_id, key_usage, name, octets, p256_spki, pem, seq, tlv, uint, CertSpec,
    Signer, Str, OID_C, OID_CN, OID_L, OID_O, OID_ST, SIM_NOT_AFTER, SIM_NOT_BEFORE,
};
use crate::error::TeeError;

/// The organisation of the simulated Intel root.
pub const SIMULATED_INTEL_ORG: &str = "Intel Corporation SIMULATED";

/// Intel's QE vendor ID (quote header).
pub const QE_VENDOR_ID_INTEL: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];

/// The TD quoting enclave's MRSIGNER (Intel's signing key digest, as in Intel's QE identity).
pub const TD_QE_MRSIGNER: [u8; 32] = [
    0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34, 0xa7, 0xfc, 0x43, 0xed, 0x03,
    0x0f, 0x7c, 0x15, 0x63, 0xf1, 0xba, 0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5,
];

/// The platform values the PCK certificate certifies and the collateral rates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxPlatform {
    /// PPID (encrypted platform provisioning ID).
    pub ppid: [u8; 16],
    /// The 16 SGX TCB component SVNs.
    pub sgx_components: [u8; 16],
    /// PCESVN.
    pub pce_svn: u16,
    /// CPUSVN (the components as raw bytes).
    pub cpusvn: [u8; 16],
    /// PCE-ID.
    pub pce_id: [u8; 2],
    /// FMSPC (family, model, stepping, platform type, customised SKU).
    pub fmspc: [u8; 6],
    /// PlatformInstanceID.
    pub platform_instance_id: [u8; 16],
    /// TEE_TCB_SVN of the TDX module (byte 0: module SVN, byte 1: module major version).
    pub tee_tcb_svn: [u8; 16],
    /// MRSEAM (the TDX module's measurement).
    pub mr_seam: [u8; 48],
    /// The QE's ISVSVN.
    pub qe_isvsvn: u16,
    /// The QE's MRENCLAVE.
    pub qe_mrenclave: [u8; 32],
    /// The quote header's 20 bytes of QE user data.
    pub qe_user_data: [u8; 20],
}

/// The chip's simulated Intel chain and quoting keys.
pub struct TdxPki {
    /// The simulated Intel SGX Root CA (the root to pin), DER.
    pub root_der: Vec<u8>,
    /// Intel SGX PCK Platform CA, DER.
    pub platform_ca_der: Vec<u8>,
    /// Intel SGX PCK Certificate, DER.
    pub pck_der: Vec<u8>,
    /// Intel SGX TCB Signing, DER.
    pub tcb_signing_der: Vec<u8>,
    /// What the PCK certifies.
    pub platform: TdxPlatform,
    pub(crate) root_key: SigningKey,
    pub(crate) platform_ca_key: SigningKey,
    pub(crate) pck_key: SigningKey,
    pub(crate) tcb_signing_key: SigningKey,
    pub(crate) attestation_key: SigningKey,
    pub(crate) root_name: Name,
    pub(crate) platform_ca_name: Name,
    pub(crate) root_id: [u8; 20],
    pub(crate) platform_ca_id: [u8; 20],
}

impl std::fmt::Debug for TdxPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TdxPki")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl TdxPki {
    /// PCK, Platform CA, root: the PEM chain of certification data type 5.
    pub fn pck_chain_pem(&self) -> Result<String, TeeError> {
        Ok(pem(&self.pck_der)? + &pem(&self.platform_ca_der)? + &pem(&self.root_der)?)
    }

    /// Platform CA, root: the PCK CRL's issuer chain.
    pub fn platform_ca_chain_pem(&self) -> Result<String, TeeError> {
        Ok(pem(&self.platform_ca_der)? + &pem(&self.root_der)?)
    }

    /// TCB signing, root: the issuer chain of TCB info and QE identity.
    pub fn tcb_signing_chain_pem(&self) -> Result<String, TeeError> {
        Ok(pem(&self.tcb_signing_der)? + &pem(&self.root_der)?)
    }
}

fn intel_name(cn: &str, organisation: &str) -> Result<Name, TeeError> {
    name(&[
        (OID_CN, Str::Utf8, cn),
        (OID_O, Str::Utf8, organisation),
        (OID_L, Str::Utf8, "Santa Clara"),
        (OID_ST, Str::Utf8, "CA"),
        (OID_C, Str::Printable, "US"),
    ])
}

/// A 20-byte positive serial number with a non-zero first byte, like Intel's.
fn serial(chip: &dyn KeySource, label: &str) -> Vec<u8> {
    let mut s = chip.derive_bytes(label, 20);
    if let Some(first) = s.first_mut() {
        *first = (*first & 0x7f) | 0x01;
    }
    s
}

fn sgx_oid(suffix: &str) -> Result<ObjectIdentifier, TeeError> {
    ObjectIdentifier::new(&format!("1.2.840.113741.1.13.1{suffix}"))
        .map_err(|e| TeeError::encoding("SGX extension OID", e))
}

/// The SGX extension value (DER).
fn sgx_extension(p: &TdxPlatform) -> Result<Vec<u8>, TeeError> {
    let mut tcb = Vec::new();
    for (i, svn) in p.sgx_components.iter().enumerate() {
        tcb.push(ext::oid_value(
            &sgx_oid(&format!(".2.{}", i + 1))?,
            &uint(u64::from(*svn)),
        ));
    }
    tcb.push(ext::oid_value(
        &sgx_oid(".2.17")?,
        &uint(u64::from(p.pce_svn)),
    ));
    tcb.push(ext::oid_value(&sgx_oid(".2.18")?, &octets(&p.cpusvn)));
    let tcb_refs: Vec<&[u8]> = tcb.iter().map(Vec::as_slice).collect();
    let yes = [0x01, 0x01, 0xff];
    let config = seq(&[
        &ext::oid_value(&sgx_oid(".7.1")?, &yes),
        &ext::oid_value(&sgx_oid(".7.2")?, &yes),
        &ext::oid_value(&sgx_oid(".7.3")?, &yes),
    ]);
    Ok(seq(&[
        &ext::oid_value(&sgx_oid(".1")?, &octets(&p.ppid)),
        &ext::oid_value(&sgx_oid(".2")?, &seq(&tcb_refs)),
        &ext::oid_value(&sgx_oid(".3")?, &octets(&p.pce_id)),
        &ext::oid_value(&sgx_oid(".4")?, &octets(&p.fmspc)),
        &ext::oid_value(&sgx_oid(".5")?, &tlv(0x0a, &[0x01])),
        &ext::oid_value(&sgx_oid(".6")?, &octets(&p.platform_instance_id)),
        &ext::oid_value(&sgx_oid(".7")?, &config),
    ]))
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}

/// The simulated platform's values: a 4th/5th generation Xeon-like TCB, UpToDate in the
/// simulated collateral.
fn platform(chip: &dyn KeySource) -> TdxPlatform {
    let sgx_components = [3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0];
    // Module SVN 6 of major version 1 (identity "TDX_01"), late microcode SVN 3.
    let tee_tcb_svn = [6, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    TdxPlatform {
        ppid: array(&chip.derive_bytes("tdx ppid", 16)),
        sgx_components,
        pce_svn: 11,
        cpusvn: sgx_components,
        pce_id: [0, 0],
        fmspc: [0xb0, 0xc0, 0x6f, 0x00, 0x00, 0x00],
        platform_instance_id: array(&chip.derive_bytes("tdx platform instance id", 16)),
        tee_tcb_svn,
        mr_seam: array(&chip.derive_bytes("tdx mrseam", 48)),
        qe_isvsvn: 4,
        qe_mrenclave: array(&chip.derive_bytes("tdx qe mrenclave", 32)),
        // 16 bytes of QE data, then 4 zero bytes, as Intel's QE fills it.
        qe_user_data: array(&chip.derive_bytes("tdx qe user data", 16)),
    }
}

const ROOT_CRL_URL: &str = "https://certificates.sim.kiln.invalid/IntelSGXRootCA.der";
const PCK_CRL_URL: &str =
    "https://api.sim.kiln.invalid/sgx/certification/v4/pckcrl?ca=platform&encoding=der";

/// Issues the chain and derives the quoting keys. `cached` holds certificates issued before
/// (root, Platform CA, PCK, TCB signing; authenticated by the caller): each is reused when it
/// is exactly what would be issued now (see [`super::issue_reusing`]).
pub(crate) fn build(chip: &dyn KeySource, cached: &[Vec<u8>]) -> Result<TdxPki, TeeError> {
    let cached = |i: usize| cached.get(i).map(Vec::as_slice);
    let root_key = chip.p256_key("tdx root");
    let platform_ca_key = chip.p256_key("tdx pck platform ca");
    let pck_key = chip.p256_key("tdx pck");
    let tcb_signing_key = chip.p256_key("tdx tcb signing");
    let attestation_key = chip.p256_key("tdx attestation key");
    let platform = platform(chip);

    let root_name = intel_name("Intel SGX Root CA", SIMULATED_INTEL_ORG)?;
    let platform_ca_name = intel_name("Intel SGX PCK Platform CA", "Intel Corporation")?;
    let root_spki = p256_spki(&root_key)?;
    let platform_ca_spki = p256_spki(&platform_ca_key)?;
    let pck_spki = p256_spki(&pck_key)?;
    let tcb_spki = p256_spki(&tcb_signing_key)?;
    let root_id = key_id(&root_spki)?;
    let platform_ca_id = key_id(&platform_ca_spki)?;
    let root_signer = Signer::P256(&root_key);

    let cert = |label: &str, issuer: &Name, subject: Name, spki: Vec<u8>| CertSpec {
        serial: serial(chip, label),
        issuer: issuer.clone(),
        subject,
        not_before: SIM_NOT_BEFORE,
        not_after: SIM_NOT_AFTER,
        spki_der: spki,
        extensions: Vec::new(),
    };

    let root = cert("tdx root serial", &root_name, root_name.clone(), root_spki)
        .aki(&root_id)
        .crl_dp(ROOT_CRL_URL)
        .ski(&root_id)
        .key_usage(true, key_usage::CERT_CRL_SIGN)
        .basic_constraints(true, Some(1));
    let root_der = issue_reusing(&root, &root_signer, cached(0))?;

    let platform_ca = cert(
        "tdx platform ca serial",
        &root_name,
        platform_ca_name.clone(),
        platform_ca_spki,
    )
    .aki(&root_id)
    .crl_dp(ROOT_CRL_URL)
    .ski(&platform_ca_id)
    .key_usage(true, key_usage::CERT_CRL_SIGN)
    .basic_constraints(true, Some(0));
    let platform_ca_der = issue_reusing(&platform_ca, &root_signer, cached(1))?;

    let pck_id = key_id(&pck_spki)?;
    let pck = cert(
        "tdx pck serial",
        &platform_ca_name,
        intel_name("Intel SGX PCK Certificate", "Intel Corporation")?,
        pck_spki,
    )
    .aki(&platform_ca_id)
    .crl_dp(PCK_CRL_URL)
    .ski(&pck_id)
    .key_usage(true, key_usage::DIGITAL_NON_REPUDIATION)
    .basic_constraints(false, None)
    .ext(sgx_oid("")?, false, sgx_extension(&platform)?);
    let pck_der = issue_reusing(&pck, &Signer::P256(&platform_ca_key), cached(2))?;

    let tcb_id = key_id(&tcb_spki)?;
    let tcb = cert(
        "tdx tcb signing serial",
        &root_name,
        intel_name("Intel SGX TCB Signing", "Intel Corporation")?,
        tcb_spki,
    )
    .aki(&root_id)
    .crl_dp(ROOT_CRL_URL)
    .ski(&tcb_id)
    .key_usage(true, key_usage::DIGITAL_NON_REPUDIATION)
    .basic_constraints(false, None);
    let tcb_signing_der = issue_reusing(&tcb, &root_signer, cached(3))?;

    Ok(TdxPki {
        root_der,
        platform_ca_der,
        pck_der,
        tcb_signing_der,
        platform,
        root_key,
        platform_ca_key,
        pck_key,
        tcb_signing_key,
        attestation_key,
        root_name,
        platform_ca_name,
        root_id,
        platform_ca_id,
    })
}
