//! The simulated AWS Nitro Enclaves PKI: a root, the three intermediates of a real
//! `cabundle` (regional, zonal, instance) and the enclave's leaf, all ECDSA P-384 with
//! SHA-384.
//!
//! Profiles copied from AWS's certificates (the `cabundle` and `certificate` of
//! `nitro/evervault/prod-2022-10-13.cbor`):
//!
//! | cert     | subject                                                         | extensions, in order |
//! |----------|-----------------------------------------------------------------|----------------------|
//! | root     | `C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves`                 | BC (crit: CA), SKI, KU (crit: digitalSignature, certSign, cRLSign) |
//! | regional | `C=US, O=Amazon, OU=AWS, CN=<id>.<region>.aws.nitro-enclaves`   | BC (crit: CA, pathlen 2), AKI, SKI, KU (crit, as root), CRL DP |
//! | zonal    | `CN=<id>.zonal.<region>.aws.nitro-enclaves, OU=AWS, O=Amazon, C=US, ST=WA, L=Seattle` | BC (crit: CA, pathlen 1), AKI, SKI, KU (crit, as root), CRL DP |
//! | instance | `C=US, ST=Washington, L=Seattle, O=Amazon, OU=AWS, CN=<instance>.<region>.aws.nitro-enclaves` | BC (crit: CA, pathlen 0), KU (crit: certSign) |
//! | leaf     | `C=US, ST=Washington, L=Seattle, O=Amazon, OU=AWS, CN=<module id>.<region>.aws` | BC (crit: not CA), KU (digitalSignature, nonRepudiation) |
//!
//! The root's organisation reads `Amazon SIMULATED`. Validity follows AWS's rhythm around
//! the document's timestamp `t` (with `d` the start of its UTC day): regional `d-10d..d+20d`,
//! zonal `d-1d..d+4d`, instance `d-1h..d+1d+4h`, leaf `t..t+3h`; the root
//! 2020-01-01..2049-12-31.

use p384::ecdsa::SigningKey;
use x509_cert::name::Name;

use super::KeySource;
use super::{
    issue, issue_reusing, key_id, key_usage, name, p384_spki, CertSpec, Signer, Str, OID_C, OID_CN,
    OID_L, OID_O, OID_OU, OID_ST, SIM_NOT_AFTER, SIM_NOT_BEFORE,
};
use crate::error::TeeError;

/// The organisation of the simulated Nitro root.
pub const SIMULATED_AWS_ORG: &str = "Amazon SIMULATED";

/// The region the simulated enclave runs in.
pub const REGION: &str = "us-east-1";

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// The chip's simulated Nitro root and the keys of the CAs below it.
pub struct NitroRoot {
    /// The simulated root (the root to pin), DER.
    pub root_der: Vec<u8>,
    /// The EC2 instance id (`i-` and 17 hex digits).
    pub instance_id: String,
    root_key: SigningKey,
    regional_key: SigningKey,
    zonal_key: SigningKey,
    instance_key: SigningKey,
    root_name: Name,
    root_id: [u8; 20],
    regional_cn: String,
    zonal_cn: String,
}

impl std::fmt::Debug for NitroRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NitroRoot")
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

/// The certificates that sign one attestation document.
pub struct NitroChain {
    /// Root first, then regional, zonal and instance CAs (the document's `cabundle`).
    pub cabundle: Vec<Vec<u8>>,
    /// The enclave's certificate (the document's `certificate`).
    pub leaf_der: Vec<u8>,
    pub(crate) leaf_key: SigningKey,
}

impl std::fmt::Debug for NitroChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NitroChain")
            .field("cabundle", &self.cabundle.len())
            .finish_non_exhaustive()
    }
}

fn hex_id(chip: &dyn KeySource, label: &str, digits: usize) -> String {
    let mut s = hex::encode(chip.derive_bytes(label, digits.div_ceil(2)));
    s.truncate(digits);
    s
}

fn serial(chip: &dyn KeySource, label: &str) -> Vec<u8> {
    let mut s = chip.derive_bytes(label, 16);
    if let Some(first) = s.first_mut() {
        *first |= 0x01;
    }
    s
}

fn aws_name(cn: &str) -> Result<Name, TeeError> {
    name(&[
        (OID_C, Str::Printable, "US"),
        (OID_O, Str::Utf8, "Amazon"),
        (OID_OU, Str::Utf8, "AWS"),
        (OID_CN, Str::Utf8, cn),
    ])
}

fn seattle_name(cn: &str) -> Result<Name, TeeError> {
    name(&[
        (OID_C, Str::Printable, "US"),
        (OID_ST, Str::Utf8, "Washington"),
        (OID_L, Str::Utf8, "Seattle"),
        (OID_O, Str::Utf8, "Amazon"),
        (OID_OU, Str::Utf8, "AWS"),
        (OID_CN, Str::Utf8, cn),
    ])
}

fn zonal_name(cn: &str) -> Result<Name, TeeError> {
    name(&[
        (OID_CN, Str::Utf8, cn),
        (OID_OU, Str::Utf8, "AWS"),
        (OID_O, Str::Utf8, "Amazon"),
        (OID_C, Str::Printable, "US"),
        (OID_ST, Str::Utf8, "WA"),
        (OID_L, Str::Utf8, "Seattle"),
    ])
}

/// Issues the root and derives the intermediates' keys. `cached` holds the root issued before
/// (authenticated by the caller), reused when it is exactly what would be issued now (see
/// [`super::issue_reusing`]).
pub(crate) fn build_root(chip: &dyn KeySource, cached: &[Vec<u8>]) -> Result<NitroRoot, TeeError> {
    let root_key = chip.p384_key("nitro root");
    let root_name = name(&[
        (OID_C, Str::Printable, "US"),
        (OID_O, Str::Utf8, SIMULATED_AWS_ORG),
        (OID_OU, Str::Utf8, "AWS"),
        (OID_CN, Str::Utf8, "aws.nitro-enclaves"),
    ])?;
    let spki = p384_spki(&root_key)?;
    let root_id = key_id(&spki)?;
    let root = CertSpec {
        serial: serial(chip, "nitro root serial"),
        issuer: root_name.clone(),
        subject: root_name.clone(),
        not_before: SIM_NOT_BEFORE,
        not_after: SIM_NOT_AFTER,
        spki_der: spki,
        extensions: Vec::new(),
    }
    .basic_constraints(true, None)
    .ski(&root_id)
    .key_usage(true, key_usage::DIGITAL_CERT_CRL_SIGN);
    let root_der = issue_reusing(
        &root,
        &Signer::P384(&root_key),
        cached.first().map(Vec::as_slice),
    )?;
    Ok(NitroRoot {
        root_der,
        instance_id: format!("i-{}", hex_id(chip, "nitro instance id", 17)),
        root_key,
        regional_key: chip.p384_key("nitro regional"),
        zonal_key: chip.p384_key("nitro zonal"),
        instance_key: chip.p384_key("nitro instance"),
        root_name,
        root_id,
        regional_cn: format!(
            "{}.{REGION}.aws.nitro-enclaves",
            hex_id(chip, "nitro regional id", 16)
        ),
        zonal_cn: format!(
            "{}.zonal.{REGION}.aws.nitro-enclaves",
            hex_id(chip, "nitro zonal id", 16)
        ),
    })
}

impl NitroRoot {
    /// The `cabundle` and leaf for enclave `module_id` at `unix_secs`.
    pub(crate) fn chain_at(
        &self,
        chip: &dyn KeySource,
        module_id: &str,
        unix_secs: i64,
    ) -> Result<NitroChain, TeeError> {
        let day = unix_secs - unix_secs.rem_euclid(DAY);
        let crl = |id: &str| {
            format!("http://crl-{REGION}-aws-nitro-enclaves.sim.kiln.invalid/crl/{id}.crl")
        };
        let spec =
            |label: &str, issuer: Name, subject: Name, key: &SigningKey, window: (i64, i64)| {
                Ok::<_, TeeError>(CertSpec {
                    serial: serial(chip, &format!("{label} {day}")),
                    issuer,
                    subject,
                    not_before: window.0,
                    not_after: window.1,
                    spki_der: p384_spki(key)?,
                    extensions: Vec::new(),
                })
            };

        let regional_name = aws_name(&self.regional_cn)?;
        let regional_spki = p384_spki(&self.regional_key)?;
        let regional_id = key_id(&regional_spki)?;
        let regional = spec(
            "nitro regional serial",
            self.root_name.clone(),
            regional_name.clone(),
            &self.regional_key,
            (day - 10 * DAY, day + 20 * DAY),
        )?
        .basic_constraints(true, Some(2))
        .aki(&self.root_id)
        .ski(&regional_id)
        .key_usage(true, key_usage::DIGITAL_CERT_CRL_SIGN)
        .crl_dp(&crl("regional"));
        let regional_der = issue(&regional, &Signer::P384(&self.root_key))?;

        let zonal_name = zonal_name(&self.zonal_cn)?;
        let zonal_id = key_id(&p384_spki(&self.zonal_key)?)?;
        let zonal = spec(
            "nitro zonal serial",
            regional_name,
            zonal_name.clone(),
            &self.zonal_key,
            (day - DAY, day + 4 * DAY),
        )?
        .basic_constraints(true, Some(1))
        .aki(&regional_id)
        .ski(&zonal_id)
        .key_usage(true, key_usage::DIGITAL_CERT_CRL_SIGN)
        .crl_dp(&crl("zonal"));
        let zonal_der = issue(&zonal, &Signer::P384(&self.regional_key))?;

        let instance_name =
            seattle_name(&format!("{}.{REGION}.aws.nitro-enclaves", self.instance_id))?;
        let instance = spec(
            "nitro instance serial",
            zonal_name,
            instance_name.clone(),
            &self.instance_key,
            (day - HOUR, day + DAY + 4 * HOUR),
        )?
        .basic_constraints(true, Some(0))
        .key_usage(true, key_usage::CERT_SIGN);
        let instance_der = issue(&instance, &Signer::P384(&self.zonal_key))?;

        let leaf_key = chip.p384_key(&format!("nitro leaf {module_id}"));
        let leaf = CertSpec {
            serial: serial(chip, &format!("nitro leaf serial {module_id} {unix_secs}")),
            issuer: instance_name,
            subject: seattle_name(&format!("{module_id}.{REGION}.aws"))?,
            not_before: unix_secs,
            not_after: unix_secs + 3 * HOUR,
            spki_der: p384_spki(&leaf_key)?,
            extensions: Vec::new(),
        }
        .basic_constraints(false, None)
        .key_usage(false, key_usage::DIGITAL_NON_REPUDIATION);
        let leaf_der = issue(&leaf, &Signer::P384(&self.instance_key))?;

        Ok(NitroChain {
            cabundle: vec![self.root_der.clone(), regional_der, zonal_der, instance_der],
            leaf_der,
            leaf_key,
        })
    }
}
