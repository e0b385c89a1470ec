//! X.509 building blocks for the simulated vendor PKIs: names, times, extensions, signers,
//! certificates and CRLs.
//!
//! Everything is encoded in DER through `der`/`x509-cert`, so a verifier that re-encodes a
//! parsed certificate (as the `sev` crate does) gets back the exact bytes that were signed.
//! Each platform module copies the profile of the vendor's real certificates (subjects,
//! extensions and their order, criticality, algorithms); the only deliberate difference is
//! the word SIMULATED in every root's subject.

pub mod nitro;
pub mod snp;
pub mod tdx;

/// Where a simulated PKI's keys and identifiers come from: deterministic derivations by label
/// (the simulated chip implements it). The TDX and Nitro builders take it instead of the chip,
/// so that the PKIs do not depend on the chip that holds them.
pub trait KeySource {
    /// `n` bytes derived for `label`.
    fn derive_bytes(&self, label: &str, n: usize) -> Vec<u8>;
    /// The P-256 key derived for `label`.
    fn p256_key(&self, label: &str) -> p256::ecdsa::SigningKey;
    /// The P-384 key derived for `label`.
    fn p384_key(&self, label: &str) -> p384::ecdsa::SigningKey;
}

use std::time::Duration;

use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, GeneralizedTime, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode, Tag};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256, Sha384};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::crl::{CertificateList, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::error::TeeError;

/// id-at-commonName.
pub const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// id-at-countryName.
pub const OID_C: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
/// id-at-localityName.
pub const OID_L: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.7");
/// id-at-stateOrProvinceName.
pub const OID_ST: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.8");
/// id-at-organizationName.
pub const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
/// id-at-organizationalUnitName.
pub const OID_OU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");

const OID_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
const OID_CRL_DP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
const OID_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const OID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// RSASSA-PSS-params as AMD writes them: SHA-384, MGF1 with SHA-384, salt length 48, and
/// (for the ARK, ASK and Milan VCEKs) an explicit trailer field of 1.
const PSS_PARAMS_WITH_TRAILER: &[u8] = &[
    0x30, 0x39, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
    0x02, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
    0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0xa2, 0x03, 0x02, 0x01, 0x30, 0xa3, 0x03, 0x02, 0x01, 0x01,
];

/// The same parameters without the (default) trailer field, as on Genoa and Turin VCEKs.
const PSS_PARAMS_NO_TRAILER: &[u8] = &[
    0x30, 0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
    0x02, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
    0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0xa2, 0x03, 0x02, 0x01, 0x30,
];

/// `KeyUsage` values as DER BIT STRINGs, copied from the vendors' certificates.
pub mod key_usage {
    /// keyCertSign, cRLSign (AMD ARK, Intel root and PCK Platform CA).
    pub const CERT_CRL_SIGN: &[u8] = &[0x03, 0x02, 0x01, 0x06];
    /// keyCertSign (AMD ASK, Nitro instance CA).
    pub const CERT_SIGN: &[u8] = &[0x03, 0x02, 0x02, 0x04];
    /// keyCertSign as AMD encodes it (unused trailing bits not declared).
    pub const CERT_SIGN_AMD: &[u8] = &[0x03, 0x02, 0x01, 0x04];
    /// digitalSignature, keyCertSign, cRLSign (Nitro root, regional and zonal CAs).
    pub const DIGITAL_CERT_CRL_SIGN: &[u8] = &[0x03, 0x02, 0x01, 0x86];
    /// digitalSignature, nonRepudiation (Intel PCK and TCB signing, Nitro leaf).
    pub const DIGITAL_NON_REPUDIATION: &[u8] = &[0x03, 0x02, 0x06, 0xc0];
}

/// A DER TLV with a one-byte tag.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let be = len.to_be_bytes();
            let skip = be.iter().take_while(|b| **b == 0).count();
            let significant = be.get(skip..).unwrap_or(&[]);
            // At most size_of::<usize>() bytes, far below 0x7f.
            out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0x7f));
            out.extend_from_slice(significant);
        }
    }
    out.extend_from_slice(content);
    out
}

/// A DER SEQUENCE of already-encoded elements.
pub fn seq(elements: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &elements.concat())
}

/// A DER OBJECT IDENTIFIER.
pub fn oid(oid: &ObjectIdentifier) -> Vec<u8> {
    tlv(0x06, oid.as_bytes())
}

/// A DER INTEGER from an unsigned value (minimal, with a leading zero where the sign needs one).
pub fn uint(value: u64) -> Vec<u8> {
    let be = value.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count().min(7);
    let mut content = be.get(skip..).unwrap_or(&[0]).to_vec();
    if content.first().is_some_and(|b| b & 0x80 != 0) {
        content.insert(0, 0);
    }
    tlv(0x02, &content)
}

/// A DER OCTET STRING.
pub fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}

/// The string type of a name attribute.
#[derive(Debug, Clone, Copy)]
pub enum Str {
    /// UTF8String (most attributes of the vendors' names).
    Utf8,
    /// PrintableString (countryName).
    Printable,
}

/// A distinguished name with one attribute per RDN, in DER order.
pub fn name(attributes: &[(ObjectIdentifier, Str, &str)]) -> Result<Name, TeeError> {
    let mut rdns = Vec::with_capacity(attributes.len());
    for (attr, kind, value) in attributes {
        let tag = match kind {
            Str::Utf8 => Tag::Utf8String,
            Str::Printable => Tag::PrintableString,
        };
        let value = Any::new(tag, value.as_bytes()).map_err(|e| TeeError::encoding("name", e))?;
        let atv = AttributeTypeAndValue { oid: *attr, value };
        let set = SetOfVec::try_from(vec![atv]).map_err(|e| TeeError::encoding("name", e))?;
        rdns.push(RelativeDistinguishedName(set));
    }
    Ok(RdnSequence(rdns))
}

/// An X.509 time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5).
pub fn x509_time(unix_secs: i64) -> Result<Time, TeeError> {
    let err = |reason: String| TeeError::Time { unix_secs, reason };
    let secs = u64::try_from(unix_secs).map_err(|_| err("before 1970".into()))?;
    let dt = der::DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|e| err(e.to_string()))?;
    if dt.year() < 2050 {
        Ok(Time::UtcTime(
            UtcTime::from_date_time(dt).map_err(|e| err(e.to_string()))?,
        ))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(dt)))
    }
}

/// A key identifier (SKI/AKI): the first 20 bytes of SHA-256 over the subjectPublicKey bits
/// (RFC 7093 method 1).
pub fn key_id(spki_der: &[u8]) -> Result<[u8; 20], TeeError> {
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der)
        .map_err(|e| TeeError::encoding("public key", e))?;
    let digest = Sha256::digest(spki.subject_public_key.raw_bytes());
    let mut id = [0u8; 20];
    id.copy_from_slice(digest.get(..20).unwrap_or(&[0; 20]));
    Ok(id)
}

/// Extension values, DER-encoded.
pub mod ext {
    use super::{octets, oid, seq, tlv, uint};

    /// SubjectKeyIdentifier.
    pub fn ski(id: &[u8; 20]) -> Vec<u8> {
        octets(id)
    }

    /// AuthorityKeyIdentifier with a keyIdentifier only.
    pub fn aki(id: &[u8; 20]) -> Vec<u8> {
        seq(&[&tlv(0x80, id)])
    }

    /// BasicConstraints (`cA` omitted when false, as DER requires).
    pub fn basic_constraints(ca: bool, path_len: Option<u64>) -> Vec<u8> {
        let ca_der = if ca {
            vec![0x01, 0x01, 0xff]
        } else {
            Vec::new()
        };
        let path = path_len.map(uint).unwrap_or_default();
        seq(&[&ca_der, &path])
    }

    /// CRLDistributionPoints with one full-name URI.
    pub fn crl_distribution_point(uri: &str) -> Vec<u8> {
        let general_name = tlv(0x86, uri.as_bytes());
        let full_name = tlv(0xa0, &general_name);
        let dp_name = tlv(0xa0, &full_name);
        seq(&[&seq(&[&dp_name])])
    }

    /// A SEQUENCE { OID, value } pair, the shape of Intel's SGX extension entries.
    pub fn oid_value(id: &const_oid::ObjectIdentifier, value: &[u8]) -> Vec<u8> {
        seq(&[&oid(id), value])
    }
}

/// Who signs a certificate or CRL, and how.
pub enum Signer<'a> {
    /// RSASSA-PSS, SHA-384, MGF1-SHA-384, 48-byte salt (AMD). The salt comes from a ChaCha20
    /// stream seeded by `SHA-256(salt_secret || SHA-384(message))`, so signatures are
    /// reproducible without reusing a salt across messages.
    RsaPss {
        /// The signing key.
        key: &'a rsa::RsaPrivateKey,
        /// Secret from which salts are derived.
        salt_secret: &'a [u8; 32],
        /// Whether the parameters spell out the default trailer field.
        explicit_trailer: bool,
    },
    /// ECDSA P-256 with SHA-256 (Intel), RFC 6979 deterministic.
    P256(&'a p256::ecdsa::SigningKey),
    /// ECDSA P-384 with SHA-384 (AWS), RFC 6979 deterministic.
    P384(&'a p384::ecdsa::SigningKey),
}

impl std::fmt::Debug for Signer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::RsaPss { .. } => "Signer::RsaPss",
            Self::P256(_) => "Signer::P256",
            Self::P384(_) => "Signer::P384",
        })
    }
}

impl Signer<'_> {
    /// The signature AlgorithmIdentifier.
    pub fn algorithm(&self) -> Result<AlgorithmIdentifierOwned, TeeError> {
        Ok(match self {
            Self::RsaPss {
                explicit_trailer, ..
            } => {
                let params = if *explicit_trailer {
                    PSS_PARAMS_WITH_TRAILER
                } else {
                    PSS_PARAMS_NO_TRAILER
                };
                AlgorithmIdentifierOwned {
                    oid: OID_RSASSA_PSS,
                    parameters: Some(
                        Any::from_der(params)
                            .map_err(|e| TeeError::encoding("PSS parameters", e))?,
                    ),
                }
            }
            Self::P256(_) => AlgorithmIdentifierOwned {
                oid: OID_ECDSA_SHA256,
                parameters: None,
            },
            Self::P384(_) => AlgorithmIdentifierOwned {
                oid: OID_ECDSA_SHA384,
                parameters: None,
            },
        })
    }

    /// Signs `message` as X.509 wants the signature (RSA bytes, or DER ECDSA).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TeeError> {
        match self {
            Self::RsaPss {
                key, salt_secret, ..
            } => {
                use rsa::signature::{RandomizedSigner, SignatureEncoding};
                let mut h = Sha256::new();
                h.update(salt_secret);
                h.update(Sha384::digest(message));
                let mut rng = ChaCha20Rng::from_seed(h.finalize().into());
                let signer = rsa::pss::SigningKey::<Sha384>::new((*key).clone());
                let sig = signer
                    .try_sign_with_rng(&mut rng, message)
                    .map_err(|e| TeeError::crypto("RSA-PSS signature", e))?;
                Ok(sig.to_vec())
            }
            Self::P256(key) => {
                use p256::ecdsa::signature::Signer as _;
                let sig: p256::ecdsa::Signature = key
                    .try_sign(message)
                    .map_err(|e| TeeError::crypto("ECDSA P-256 signature", e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Self::P384(key) => {
                use p384::ecdsa::signature::Signer as _;
                let sig: p384::ecdsa::Signature = key
                    .try_sign(message)
                    .map_err(|e| TeeError::crypto("ECDSA P-384 signature", e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
        }
    }
}

/// The content of a certificate to issue.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// Serial number, big-endian unsigned.
    pub serial: Vec<u8>,
    /// Issuer name.
    pub issuer: Name,
    /// Subject name.
    pub subject: Name,
    /// Start of validity, seconds since the epoch.
    pub not_before: i64,
    /// End of validity.
    pub not_after: i64,
    /// The subject's SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// Extensions in order: (OID, critical, DER value).
    pub extensions: Vec<(ObjectIdentifier, bool, Vec<u8>)>,
}

impl CertSpec {
    /// Appends an extension.
    pub fn ext(mut self, id: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Self {
        self.extensions.push((id, critical, value));
        self
    }

    /// Appends SubjectKeyIdentifier.
    pub fn ski(self, id: &[u8; 20]) -> Self {
        self.ext(OID_SKI, false, ext::ski(id))
    }

    /// Appends AuthorityKeyIdentifier.
    pub fn aki(self, id: &[u8; 20]) -> Self {
        self.ext(OID_AKI, false, ext::aki(id))
    }

    /// Appends a critical BasicConstraints.
    pub fn basic_constraints(self, ca: bool, path_len: Option<u64>) -> Self {
        self.ext(
            OID_BASIC_CONSTRAINTS,
            true,
            ext::basic_constraints(ca, path_len),
        )
    }

    /// Appends KeyUsage (one of [`key_usage`]).
    pub fn key_usage(self, critical: bool, bits: &[u8]) -> Self {
        self.ext(OID_KEY_USAGE, critical, bits.to_vec())
    }

    /// Appends CRLDistributionPoints.
    pub fn crl_dp(self, uri: &str) -> Self {
        self.ext(OID_CRL_DP, false, ext::crl_distribution_point(uri))
    }
}

fn extensions(list: &[(ObjectIdentifier, bool, Vec<u8>)]) -> Result<Vec<Extension>, TeeError> {
    list.iter()
        .map(|(id, critical, value)| {
            Ok(Extension {
                extn_id: *id,
                critical: *critical,
                extn_value: OctetString::new(value.clone())
                    .map_err(|e| TeeError::encoding("extension", e))?,
            })
        })
        .collect()
}

/// Issues a v3 certificate and returns its DER.
pub fn issue(spec: &CertSpec, signer: &Signer<'_>) -> Result<Vec<u8>, TeeError> {
    issue_reusing(spec, signer, None)
}

/// [`issue`], returning `cached` instead of signing when it is a certificate this `spec` and
/// `signer` issued before: its TBSCertificate and signature algorithm must be exactly those
/// `spec` and `signer` give now. The signature is not checked here: `cached` must come from
/// an authenticated store (the chip's PKI cache, whose tag only the chip's secret makes).
/// Both signers are deterministic (PSS salt and ECDSA nonce derived from the message), so a
/// reused certificate is byte for byte the one [`issue`] would make.
pub fn issue_reusing(
    spec: &CertSpec,
    signer: &Signer<'_>,
    cached: Option<&[u8]>,
) -> Result<Vec<u8>, TeeError> {
    let enc = |e: der::Error| TeeError::encoding("certificate", e);
    let algorithm = signer.algorithm()?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&spec.serial).map_err(enc)?,
        signature: algorithm.clone(),
        issuer: spec.issuer.clone(),
        validity: Validity {
            not_before: x509_time(spec.not_before)?,
            not_after: x509_time(spec.not_after)?,
        },
        subject: spec.subject.clone(),
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(&spec.spki_der)
            .map_err(enc)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions(&spec.extensions)?),
    };
    let tbs_der = tbs.to_der().map_err(enc)?;
    if let Some(cached) = cached {
        if let Ok(cert) = Certificate::from_der(cached) {
            // The re-encoding must give the cached bytes back: only canonical DER is reused.
            if cert.signature_algorithm == algorithm
                && cert
                    .tbs_certificate
                    .to_der()
                    .is_ok_and(|der| der == tbs_der)
                && cert.to_der().is_ok_and(|der| der == cached)
            {
                return Ok(cached.to_vec());
            }
        }
    }
    let signature = signer.sign(&tbs_der)?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(&signature).map_err(enc)?,
    };
    cert.to_der().map_err(enc)
}

/// The content of a CRL to issue (v2, CRL number and AKI extensions, as Intel's and AMD's).
#[derive(Debug, Clone)]
pub struct CrlSpec {
    /// Issuer name.
    pub issuer: Name,
    /// thisUpdate, seconds since the epoch.
    pub this_update: i64,
    /// nextUpdate.
    pub next_update: i64,
    /// cRLNumber.
    pub number: u64,
    /// The issuer's key identifier.
    pub authority_key_id: [u8; 20],
    /// Serial numbers (big-endian bytes) of the certificates revoked, each as of thisUpdate.
    pub revoked: Vec<Vec<u8>>,
}

/// Issues a CRL and returns its DER.
pub fn issue_crl(spec: &CrlSpec, signer: &Signer<'_>) -> Result<Vec<u8>, TeeError> {
    let enc = |e: der::Error| TeeError::encoding("CRL", e);
    let algorithm = signer.algorithm()?;
    let tbs = TbsCertList {
        version: Version::V2,
        signature: algorithm.clone(),
        issuer: spec.issuer.clone(),
        this_update: x509_time(spec.this_update)?,
        next_update: Some(x509_time(spec.next_update)?),
        revoked_certificates: if spec.revoked.is_empty() {
            None
        } else {
            Some(
                spec.revoked
                    .iter()
                    .map(|serial| {
                        Ok(x509_cert::crl::RevokedCert {
                            serial_number: SerialNumber::new(serial).map_err(enc)?,
                            revocation_date: x509_time(spec.this_update)?,
                            crl_entry_extensions: None,
                        })
                    })
                    .collect::<Result<Vec<_>, TeeError>>()?,
            )
        },
        crl_extensions: Some(extensions(&[
            (OID_CRL_NUMBER, false, uint(spec.number)),
            (OID_AKI, false, ext::aki(&spec.authority_key_id)),
        ])?),
    };
    let tbs_der = tbs.to_der().map_err(enc)?;
    let signature = signer.sign(&tbs_der)?;
    let crl = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(&signature).map_err(enc)?,
    };
    crl.to_der().map_err(enc)
}

/// PEM of one certificate (64-column base64, LF line endings, final newline).
pub fn pem(der: &[u8]) -> Result<String, TeeError> {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
        .map_err(|e| TeeError::encoding("PEM", e))
}

/// The SubjectPublicKeyInfo DER of a P-256 key.
pub fn p256_spki(key: &p256::ecdsa::SigningKey) -> Result<Vec<u8>, TeeError> {
    use p256::pkcs8::EncodePublicKey;
    Ok(key
        .verifying_key()
        .to_public_key_der()
        .map_err(|e| TeeError::encoding("P-256 public key", e))?
        .into_vec())
}

/// The SubjectPublicKeyInfo DER of a P-384 key.
pub fn p384_spki(key: &p384::ecdsa::SigningKey) -> Result<Vec<u8>, TeeError> {
    use p384::pkcs8::EncodePublicKey;
    Ok(key
        .verifying_key()
        .to_public_key_der()
        .map_err(|e| TeeError::encoding("P-384 public key", e))?
        .into_vec())
}

/// The SubjectPublicKeyInfo DER of an RSA key.
pub fn rsa_spki(key: &rsa::RsaPrivateKey) -> Result<Vec<u8>, TeeError> {
    use rsa::pkcs8::EncodePublicKey;
    Ok(key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| TeeError::encoding("RSA public key", e))?
        .into_vec())
}

/// 2020-01-01T00:00:00Z: start of validity of every long-lived simulated certificate.
pub const SIM_NOT_BEFORE: i64 = 1_577_836_800;
/// 2049-12-31T23:59:59Z: end of validity of every long-lived simulated certificate (the last
/// second UTCTime can express, as Intel's root uses).
pub const SIM_NOT_AFTER: i64 = 2_524_607_999;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_simulated_organisation_carries_the_mark_the_verifier_refuses() {
        for org in [
            snp::SIMULATED_AMD_ORG,
            tdx::SIMULATED_INTEL_ORG,
            nitro::SIMULATED_AWS_ORG,
        ] {
            assert!(org.contains(kiln_provenance::SIMULATED_MARK), "{org}");
        }
    }

    #[test]
    fn der_helpers_encode_minimally() {
        assert_eq!(uint(0), [0x02, 0x01, 0x00]);
        assert_eq!(uint(0x73), [0x02, 0x01, 0x73]);
        assert_eq!(uint(0x80), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(uint(0x10000), [0x02, 0x03, 0x01, 0x00, 0x00]);
        assert_eq!(tlv(0x04, &[0; 200]).get(..3).unwrap(), [0x04, 0x81, 200]);
        assert_eq!(
            tlv(0x04, &[0; 300]).get(..4).unwrap(),
            [0x04, 0x82, 0x01, 0x2c]
        );
        assert_eq!(ext::basic_constraints(false, None), [0x30, 0x00]);
        assert_eq!(
            ext::basic_constraints(true, Some(0)),
            [0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00]
        );
    }

    #[test]
    fn times_switch_to_generalized_in_2050() {
        assert!(matches!(
            x509_time(SIM_NOT_AFTER).unwrap(),
            Time::UtcTime(_)
        ));
        assert!(matches!(
            x509_time(SIM_NOT_AFTER + 1).unwrap(),
            Time::GeneralTime(_)
        ));
        assert!(x509_time(-1).is_err());
    }

    #[test]
    fn amd_crl_distribution_point_matches_the_real_encoding() {
        // From the real ASK-Milan: 30 31 30 2f a0 2d a0 2b 86 29 <URI>.
        let v = ext::crl_distribution_point("https://kdsintf.amd.com/vcek/v1/Milan/crl");
        assert_eq!(
            v.get(..10).unwrap(),
            [0x30, 0x31, 0x30, 0x2f, 0xa0, 0x2d, 0xa0, 0x2b, 0x86, 0x29]
        );
    }
}
