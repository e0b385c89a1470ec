//! The VEK (VCEK or VLEK) certificate: reading it from the inputs, telling its role and product
//! from its names, verifying its path to a pinned ARK (with the verifier's cache), and reading
//! AMD's extensions (VCEK/KDS specification #57230, OID arc 1.3.6.1.4.1.3704.1).

use std::sync::Arc;

use const_oid::db::rfc4519;
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Tag, Tagged};
use x509_cert::name::Name;

use super::report::SigningKey;
use super::tcb::{Component, TcbVersion};
use crate::anchors::{TrustAnchor, TrustAnchors};
use crate::cache::{self, Cache, Entry};
use crate::error::Error;
use crate::path::{self, VerifiedPath};
use crate::pki::{self, Cert};
use crate::time::UnixTime;
use crate::Evidence;
use kiln_provenance::Platform;
use kiln_provenance::SnpProduct;

/// productName (IA5String, for example `Milan-B0`).
const OID_PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
/// blSPL.
const OID_BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
/// teeSPL.
const OID_TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
/// snpSPL.
const OID_SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
/// ucodeSPL.
const OID_UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
/// fmcSPL (Turin).
const OID_FMC_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
/// hwID (VCEK only): the chip identifier, stored as the raw extension value.
const OID_HW_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");
/// csp_id (VLEK only): the cloud provider the VLEK was issued to (IA5String).
const OID_CSP_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.5");

/// The cache domain of verified VEK paths.
const CACHE_DOMAIN: &str = "snp-vek-path";

/// The VEK and the untrusted certificates that came with it.
#[derive(Debug)]
pub(crate) struct Inputs {
    /// The VCEK or VLEK.
    pub vek: Cert,
    /// The other certificates of a VEK bundle and of the chain input: candidates for the
    /// ASK/ASVK, never trusted (roots among them are ignored by the path builder).
    pub extra: Vec<Cert>,
}

/// Reads the VEK (DER, PEM, or a PEM bundle whose first certificate is the VEK, as Azure
/// serves `[VCEK, ASK, ARK]`) and the optional chain.
pub(crate) fn read_inputs(e: &Evidence<'_>) -> Result<Inputs, Error> {
    let vek_bytes = e.vek.ok_or(Error::MissingInput {
        what: "SEV-SNP VCEK or VLEK certificate",
    })?;
    let mut certs = pki::parse_certificates(vek_bytes, "SEV-SNP VEK certificate")?.into_iter();
    let vek = certs
        .next()
        .ok_or_else(|| Error::malformed("SEV-SNP VEK certificate", "empty"))?;
    let mut extra: Vec<Cert> = certs.collect();
    if let Some(chain) = e.chain {
        extra.extend(pki::parse_certificates(chain, "SEV-SNP certificate chain")?);
    }
    Ok(Inputs { vek, extra })
}

/// The common name of an X.509 name, if it has exactly one and it is a string.
pub(crate) fn common_name(name: &Name) -> Option<String> {
    let mut values = name
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == rfc4519::CN);
    let cn = values.next()?;
    if values.next().is_some() {
        return None;
    }
    string_value(AnyRef::from(&cn.value))
}

/// A UTF8String, PrintableString or IA5String as text.
fn string_value(any: AnyRef<'_>) -> Option<String> {
    match any.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            std::str::from_utf8(any.value()).ok().map(str::to_owned)
        }
        _ => None,
    }
}

/// What the VEK's names say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    /// VCEK (subject `SEV-VCEK`, issued by the ASK `SEV-<product>`) or VLEK (subject
    /// `SEV-VLEK`, issued by the ASVK `SEV-VLEK-<product>`).
    pub role: SigningKey,
    /// The product named by the issuer.
    pub product: SnpProduct,
}

/// Tells the VEK's role and product from its subject and issuer common names, and checks that
/// its key is an ECDSA P-384 key.
pub(crate) fn identify(vek: &Cert) -> Result<Identity, Error> {
    let cert_error = |reason: String| Error::Certificate {
        what: vek.subject().to_owned(),
        reason,
    };
    let tbs = &vek.parsed().tbs_certificate;
    let subject_cn = common_name(&tbs.subject).unwrap_or_default();
    let role = match subject_cn.as_str() {
        "SEV-VCEK" => SigningKey::Vcek,
        "SEV-VLEK" => SigningKey::Vlek,
        other => {
            return Err(cert_error(format!(
                "subject common name {other:?} is neither SEV-VCEK nor SEV-VLEK"
            )))
        }
    };
    let issuer_cn = common_name(&tbs.issuer).unwrap_or_default();
    let (prefix, role_issuer) = match role {
        SigningKey::Vcek => ("SEV-", "SEV-<product> (ASK)"),
        SigningKey::Vlek => ("SEV-VLEK-", "SEV-VLEK-<product> (ASVK)"),
    };
    let product = issuer_cn
        .strip_prefix(prefix)
        .and_then(SnpProduct::from_name)
        .ok_or_else(|| {
            Error::mismatch(
                "VEK issuer common name",
                format!("{role_issuer} for a {}", role.name()),
                &issuer_cn,
            )
        })?;
    if !vek.is_p384() {
        return Err(cert_error(format!(
            "a {} must hold an ECDSA P-384 key",
            role.name()
        )));
    }
    Ok(Identity { role, product })
}

/// A verified VEK path: the ASK or ASVK that issued the VEK, and the pinned ARK above it.
#[derive(Debug)]
pub(crate) struct VekPath {
    /// The ASK or ASVK.
    pub intermediate: Cert,
    /// The pinned ARK.
    pub anchor: Arc<TrustAnchor>,
}

/// The path the VEK chains through, from the cache or by verifying VEK → ASK/ASVK → ARK at
/// `time`.
///
/// The cache key is the VEK's DER alone: the fact cached ("this VEK chains to this pinned ARK
/// through the intermediate its names require, in this validity window") does not depend on
/// which untrusted certificates came with it, and the anchors are fixed per [`crate::Verifier`]. A
/// hit is used only inside its window; outside it the full path is verified again, so the
/// precise error is reported. Failures are never cached.
pub(crate) fn verify_chain(
    trust: &TrustAnchors,
    cache: &Cache,
    inputs: &Inputs,
    id: Identity,
    time: UnixTime,
) -> Result<Arc<VekPath>, Error> {
    let key = cache::key(CACHE_DOMAIN, &[inputs.vek.der()]);
    if let Some(hit) = cache.get::<Arc<VekPath>>(&key, time) {
        return Ok(Arc::clone(&hit.value));
    }
    // Pinned intermediates come first so that an untrusted certificate with the same name
    // cannot shadow them.
    let pool: Vec<Cert> = trust
        .intermediates_for(Platform::SevSnp)
        .chain(inputs.extra.iter())
        .cloned()
        .collect();
    let roots = trust.roots_for(Platform::SevSnp);
    let path = path::verify_path(&inputs.vek, &pool, &roots, time)?;
    let intermediate = check_path_shape(&path, id)?.clone();
    let verified = Arc::new(VekPath {
        intermediate,
        anchor: path.anchor,
    });
    cache.insert(
        key,
        Entry {
            not_before: path.not_before,
            not_after: path.not_after,
            value: Arc::clone(&verified),
        },
    );
    Ok(verified)
}

/// The path must be exactly VEK → ASK (VCEK) or ASVK (VLEK) of the VEK's product → that
/// product's ARK; returns the intermediate.
fn check_path_shape(path: &VerifiedPath, id: Identity) -> Result<&Cert, Error> {
    let product = id.product.name();
    let expected_intermediate = match id.role {
        SigningKey::Vcek => format!("SEV-{product}"),
        SigningKey::Vlek => format!("SEV-VLEK-{product}"),
    };
    let [_vek, intermediate] = path.path.as_slice() else {
        return Err(Error::Certificate {
            what: path
                .path
                .first()
                .map(|c| c.subject().to_owned())
                .unwrap_or_default(),
            reason: format!(
                "expected the path {} → {expected_intermediate} → ARK-{product}, found {} certificate(s) below the root",
                id.role.name(),
                path.path.len()
            ),
        });
    };
    let intermediate_cn = common_name(&intermediate.parsed().tbs_certificate.subject);
    if intermediate_cn.as_deref() != Some(expected_intermediate.as_str()) {
        return Err(Error::mismatch(
            "SEV-SNP intermediate (ASK/ASVK) common name",
            expected_intermediate,
            intermediate_cn.unwrap_or_default(),
        ));
    }
    let expected_root = format!("ARK-{product}");
    let root_cn = common_name(&path.anchor.cert.parsed().tbs_certificate.subject);
    if root_cn.as_deref() != Some(expected_root.as_str()) {
        return Err(Error::mismatch(
            "SEV-SNP root (ARK) common name",
            expected_root,
            root_cn.unwrap_or_default(),
        ));
    }
    Ok(intermediate)
}

fn spl_oid(c: Component) -> ObjectIdentifier {
    match c {
        Component::Bootloader => OID_BL_SPL,
        Component::Tee => OID_TEE_SPL,
        Component::Snp => OID_SNP_SPL,
        Component::Microcode => OID_UCODE_SPL,
        Component::Fmc => OID_FMC_SPL,
    }
}

fn mismatch_field(c: Component) -> &'static str {
    match c {
        Component::Bootloader => "REPORTED_TCB boot loader vs VEK blSPL",
        Component::Tee => "REPORTED_TCB TEE vs VEK teeSPL",
        Component::Snp => "REPORTED_TCB SNP vs VEK snpSPL",
        Component::Microcode => "REPORTED_TCB microcode vs VEK ucodeSPL",
        Component::Fmc => "REPORTED_TCB FMC vs VEK fmcSPL",
    }
}

/// Every TCB component of the product's TCB_VERSION equals the VEK's SPL extension: the VEK
/// was derived from (VCEK) or issued for (VLEK) exactly REPORTED_TCB.
pub(crate) fn check_tcb(
    vek: &Cert,
    reported: &TcbVersion,
    product: SnpProduct,
) -> Result<(), Error> {
    for &component in Component::all_for(product) {
        let value = vek
            .extension(&spl_oid(component))
            .ok_or_else(|| Error::Certificate {
                what: vek.subject().to_owned(),
                reason: format!(
                    "no {} extension (1.3.6.1.4.1.3704.1.3.{})",
                    component.extension_name(),
                    component.extension_arc()
                ),
            })?;
        let certified = pki::der_integer_u64(value, "SEV-SNP VEK TCB extension")?;
        let in_report = reported.get(component).map(u64::from);
        if in_report != Some(certified) {
            return Err(Error::mismatch(
                mismatch_field(component),
                certified,
                in_report.map_or_else(|| "nothing".to_owned(), |v| v.to_string()),
            ));
        }
    }
    Ok(())
}

/// The VCEK's hwID: exactly [`SnpProduct::hw_id_len`] bytes, as the raw extension value (how the
/// KDS encodes it) or, tolerated, wrapped in a DER OCTET STRING (which then has another
/// length, so the two readings cannot be confused).
pub(crate) fn hw_id(vek: &Cert, product: SnpProduct) -> Result<Vec<u8>, Error> {
    let len = product.hw_id_len();
    let value = vek
        .extension(&OID_HW_ID)
        .ok_or_else(|| Error::Certificate {
            what: vek.subject().to_owned(),
            reason: "a VCEK must carry the hwID extension (1.3.6.1.4.1.3704.1.4)".into(),
        })?;
    if value.len() == len {
        return Ok(value.to_vec());
    }
    match OctetStringRef::from_der(value) {
        Ok(inner) if inner.as_bytes().len() == len => Ok(inner.as_bytes().to_vec()),
        _ => Err(Error::Certificate {
            what: vek.subject().to_owned(),
            reason: format!(
                "the hwID extension has {} bytes; a {product} VCEK's has {len}",
                value.len()
            ),
        }),
    }
}

/// An informational IA5String extension (productName, csp_id); `None` if absent or not a
/// string.
fn string_extension(vek: &Cert, oid: &ObjectIdentifier) -> Option<String> {
    vek.extension(oid)
        .and_then(|v| AnyRef::from_der(v).ok())
        .and_then(string_value)
}

/// productName, for example `Milan-B0`.
pub(crate) fn product_name(vek: &Cert) -> Option<String> {
    string_extension(vek, &OID_PRODUCT_NAME)
}

/// csp_id of a VLEK, for example `CN=cc-us-east-2.amazonaws.com`.
pub(crate) fn csp_id(vek: &Cert) -> Option<String> {
    string_extension(vek, &OID_CSP_ID)
}
