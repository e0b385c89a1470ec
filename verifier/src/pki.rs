//! X.509 certificates, CRLs and signature checks shared by the three platforms.
//!
//! Signatures are always verified over the bytes received (the `tbsCertificate` /
//! `tbsCertList` TLV cut from the input), never over a re-encoding. Signature arithmetic is
//! done by `ring`; parsing by `x509-cert`.

use std::sync::Arc;

use const_oid::db::rfc5912;
use const_oid::ObjectIdentifier;
use der::asn1::AnyRef;
use der::{Decode, Encode, Reader, SliceReader};
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;

use crate::anchors::{AnchorOrigin, TrustAnchor};
use crate::error::Error;
use crate::time::UnixTime;

const OID_SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const OID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// Longest chain any platform uses (Nitro: root, 3 intermediates, leaf) plus margin.
const MAX_CHAIN_DEPTH: usize = 8;

/// A parsed certificate together with the exact bytes it arrived as.
#[derive(Clone)]
pub struct Cert {
    der: Vec<u8>,
    tbs: (usize, usize),
    sha256: [u8; 32],
    parsed: Certificate,
    subject: String,
}

impl std::fmt::Debug for Cert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cert")
            .field("subject", &self.subject)
            .field("sha256", &hex::encode(self.sha256))
            .finish()
    }
}

/// Splits a signed DER structure (`SEQUENCE { tbs, algorithm, signature }`) and returns the
/// byte range of its first element, as received.
fn tbs_range(der: &[u8], what: &'static str) -> Result<(usize, usize), Error> {
    let mut outer = SliceReader::new(der).map_err(|e| Error::malformed(what, e))?;
    let header = outer.peek_header().map_err(|e| Error::malformed(what, e))?;
    let header_len = usize::try_from(
        header
            .encoded_len()
            .map_err(|e| Error::malformed(what, e))?,
    )
    .map_err(|e| Error::malformed(what, e))?;
    let _ = outer.tlv_bytes().map_err(|e| Error::malformed(what, e))?;
    let inner = der
        .get(header_len..)
        .ok_or_else(|| Error::malformed(what, "no body"))?;
    let mut reader = SliceReader::new(inner).map_err(|e| Error::malformed(what, e))?;
    let tbs = reader.tlv_bytes().map_err(|e| Error::malformed(what, e))?;
    Ok((header_len, header_len + tbs.len()))
}

impl Cert {
    /// Parses one DER certificate; trailing bytes are an error.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let parsed = Certificate::from_der(der).map_err(|e| Error::Certificate {
            what: "(unparsed)".into(),
            reason: format!("not a DER X.509 certificate: {e}"),
        })?;
        let tbs = tbs_range(der, "certificate")?;
        let subject = parsed.tbs_certificate.subject.to_string();
        Ok(Self {
            der: der.to_vec(),
            tbs,
            sha256: Sha256::digest(der).into(),
            parsed,
            subject,
        })
    }

    /// The DER bytes as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of the DER.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The subject as an RFC 4514 string.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        self.parsed.tbs_certificate.issuer.to_string()
    }

    /// The parsed certificate.
    pub fn parsed(&self) -> &Certificate {
        &self.parsed
    }

    /// The serial number's big-endian bytes.
    pub fn serial(&self) -> &[u8] {
        self.parsed.tbs_certificate.serial_number.as_bytes()
    }

    /// The subject public key (for EC keys the SEC1 point; for RSA the `RSAPublicKey` DER).
    pub fn public_key(&self) -> &[u8] {
        self.parsed
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
    }

    /// The DER of the whole SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Result<Vec<u8>, Error> {
        self.parsed
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| self.error(format!("cannot encode its public key: {e}")))
    }

    /// The named curve of an EC public key, if it is one.
    pub fn ec_curve(&self) -> Option<ObjectIdentifier> {
        let spki = &self.parsed.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid != rfc5912::ID_EC_PUBLIC_KEY {
            return None;
        }
        spki.algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
    }

    /// Whether the key is on P-384.
    pub fn is_p384(&self) -> bool {
        self.ec_curve() == Some(OID_SECP384R1)
    }

    /// Whether the key is on P-256.
    pub fn is_p256(&self) -> bool {
        self.ec_curve() == Some(OID_SECP256R1)
    }

    /// The validity window.
    pub fn validity(&self) -> (UnixTime, UnixTime) {
        let v = &self.parsed.tbs_certificate.validity;
        (
            UnixTime::from_der(v.not_before.to_date_time()),
            UnixTime::from_der(v.not_after.to_date_time()),
        )
    }

    /// Checks `not_before <= time <= not_after`.
    pub fn check_valid_at(&self, time: UnixTime) -> Result<(), Error> {
        let (not_before, not_after) = self.validity();
        if time < not_before || time > not_after {
            return Err(Error::CertificateNotValidAt {
                subject: self.subject.clone(),
                not_before,
                not_after,
                time,
            });
        }
        Ok(())
    }

    /// The raw value (contents of the OCTET STRING) of an extension.
    pub fn extension(&self, oid: &ObjectIdentifier) -> Option<&[u8]> {
        self.parsed
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| &e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    }

    /// Whether the certificate is self-issued (subject equals issuer).
    pub fn is_self_issued(&self) -> bool {
        self.parsed.tbs_certificate.subject == self.parsed.tbs_certificate.issuer
    }

    /// Whether BasicConstraints marks it as a CA.
    pub fn is_ca(&self) -> bool {
        self.extension(&rfc5912::ID_CE_BASIC_CONSTRAINTS)
            .and_then(|v| BasicConstraints::from_der(v).ok())
            .is_some_and(|bc| bc.ca)
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Certificate {
            what: self.subject.clone(),
            reason: reason.into(),
        }
    }

    /// Verifies that `issuer` issued this certificate: names chain, the issuer is a CA, and
    /// the signature over the received `tbsCertificate` verifies under the issuer's key.
    pub fn verify_issued_by(&self, issuer: &Cert) -> Result<(), Error> {
        if self.parsed.tbs_certificate.issuer != issuer.parsed.tbs_certificate.subject {
            return Err(Error::mismatch(
                "certificate issuer name",
                issuer.subject(),
                self.issuer(),
            ));
        }
        if !issuer.is_ca() {
            return Err(issuer.error("is used as an issuer but is not a CA (BasicConstraints)"));
        }
        let tbs = self
            .der
            .get(self.tbs.0..self.tbs.1)
            .ok_or_else(|| self.error("tbsCertificate range out of bounds"))?;
        let sig = self
            .parsed
            .signature
            .as_bytes()
            .ok_or_else(|| self.error("signature is not a whole number of bytes"))?;
        verify_x509_signature(issuer, &self.parsed.signature_algorithm, tbs, sig).map_err(|e| {
            match e {
                SigError::Unsupported(reason) => self.error(reason),
                SigError::Invalid => Error::CertificateSignature {
                    subject: self.subject.clone(),
                    issuer: issuer.subject.clone(),
                },
            }
        })
    }
}

/// Why a signature check failed.
#[derive(Debug)]
pub enum SigError {
    /// The algorithm or key is not one we accept.
    Unsupported(String),
    /// The signature is wrong.
    Invalid,
}

/// RSASSA-PSS-params (RFC 4055). Absent fields take the (SHA-1) defaults, which we refuse.
#[derive(der::Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", optional = "true")]
    salt_len: Option<u32>,
    #[asn1(context_specific = "3", optional = "true")]
    trailer: Option<u32>,
}

fn pss_algorithm(
    params: Option<&der::asn1::Any>,
) -> Result<&'static dyn VerificationAlgorithm, SigError> {
    let unsupported = |r: &str| SigError::Unsupported(format!("RSASSA-PSS parameters: {r}"));
    let params = params.ok_or_else(|| unsupported("absent"))?;
    let params: PssParams = params
        .decode_as()
        .map_err(|e| unsupported(&e.to_string()))?;
    let hash = params
        .hash
        .map(|h| h.oid)
        .ok_or_else(|| unsupported("SHA-1"))?;
    let mgf = params
        .mask_gen
        .ok_or_else(|| unsupported("MGF1 with SHA-1"))?;
    let mgf_hash = mgf
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok())
        .map(|a| a.oid);
    if mgf.oid != OID_MGF1 || mgf_hash != Some(hash) {
        return Err(unsupported(
            "mask generation is not MGF1 with the message hash",
        ));
    }
    if params.trailer.unwrap_or(1) != 1 {
        return Err(unsupported("trailer field is not 1"));
    }
    let salt = params.salt_len.unwrap_or(20);
    match (hash, salt) {
        (h, 48) if h == OID_SHA384 => Ok(&signature::RSA_PSS_2048_8192_SHA384),
        (h, 32) if h == OID_SHA256 => Ok(&signature::RSA_PSS_2048_8192_SHA256),
        _ => Err(unsupported(&format!("hash {hash} with salt length {salt}"))),
    }
}

/// Verifies an X.509-style signature (DER ECDSA, RSA PKCS#1 v1.5 or RSA-PSS) made by the key
/// of `signer` over `message`.
pub fn verify_x509_signature(
    signer: &Cert,
    algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    sig: &[u8],
) -> Result<(), SigError> {
    let curve = signer.ec_curve();
    let alg: &'static dyn VerificationAlgorithm = match algorithm.oid {
        oid if oid == rfc5912::ECDSA_WITH_SHA_256 => match curve {
            Some(c) if c == OID_SECP256R1 => &signature::ECDSA_P256_SHA256_ASN1,
            Some(c) if c == OID_SECP384R1 => &signature::ECDSA_P384_SHA256_ASN1,
            _ => return Err(SigError::Unsupported("ECDSA issuer key curve".into())),
        },
        oid if oid == rfc5912::ECDSA_WITH_SHA_384 => match curve {
            Some(c) if c == OID_SECP256R1 => &signature::ECDSA_P256_SHA384_ASN1,
            Some(c) if c == OID_SECP384R1 => &signature::ECDSA_P384_SHA384_ASN1,
            _ => return Err(SigError::Unsupported("ECDSA issuer key curve".into())),
        },
        oid if oid == rfc5912::SHA_256_WITH_RSA_ENCRYPTION => {
            &signature::RSA_PKCS1_2048_8192_SHA256
        }
        oid if oid == rfc5912::SHA_384_WITH_RSA_ENCRYPTION => {
            &signature::RSA_PKCS1_2048_8192_SHA384
        }
        oid if oid == OID_RSASSA_PSS => pss_algorithm(algorithm.parameters.as_ref())?,
        other => {
            return Err(SigError::Unsupported(format!(
                "signature algorithm {other}"
            )))
        }
    };
    let is_rsa_alg = !matches!(
        algorithm.oid,
        o if o == rfc5912::ECDSA_WITH_SHA_256 || o == rfc5912::ECDSA_WITH_SHA_384
    );
    let key_is_rsa = signer
        .parsed
        .tbs_certificate
        .subject_public_key_info
        .algorithm
        .oid
        == rfc5912::RSA_ENCRYPTION;
    if is_rsa_alg != key_is_rsa {
        return Err(SigError::Unsupported(
            "signature algorithm does not match the issuer's key type".into(),
        ));
    }
    UnparsedPublicKey::new(alg, signer.public_key())
        .verify(message, sig)
        .map_err(|_| SigError::Invalid)
}

/// Verifies a raw fixed-width ECDSA signature (`r || s`, big-endian) by a raw SEC1 key.
pub fn verify_ecdsa_fixed(
    alg: &'static signature::EcdsaVerificationAlgorithm,
    public_key_sec1: &[u8],
    message: &[u8],
    sig_r_s: &[u8],
) -> bool {
    UnparsedPublicKey::new(alg, public_key_sec1)
        .verify(message, sig_r_s)
        .is_ok()
}

/// Parses a chain given as concatenated PEM blocks, a single DER certificate, or concatenated
/// DER certificates. Non-certificate PEM blocks are refused.
pub fn parse_certificates(bytes: &[u8], what: &'static str) -> Result<Vec<Cert>, Error> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::malformed(what, e))?;
        return parse_pem_certificates(text, what);
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let mut reader = SliceReader::new(rest).map_err(|e| Error::malformed(what, e))?;
        let tlv = reader.tlv_bytes().map_err(|e| Error::malformed(what, e))?;
        out.push(Cert::from_der(tlv)?);
        rest = rest.get(tlv.len()..).unwrap_or(&[]);
    }
    if out.is_empty() {
        return Err(Error::malformed(what, "no certificate"));
    }
    Ok(out)
}

/// Parses every `CERTIFICATE` PEM block of `text`, in order.
pub fn parse_pem_certificates(text: &str, what: &'static str) -> Result<Vec<Cert>, Error> {
    const BEGIN: &str = "-----BEGIN ";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = rest.get(start..).unwrap_or("");
        let end_marker = block
            .find("-----END ")
            .ok_or_else(|| Error::malformed(what, "PEM block without END line"))?;
        let after_end = block.get(end_marker..).unwrap_or("");
        let close = after_end
            .get(9..)
            .and_then(|s| s.find("-----"))
            .map(|i| end_marker + 9 + i + 5)
            .ok_or_else(|| Error::malformed(what, "unterminated PEM END line"))?;
        let pem_block = block.get(..close).unwrap_or("");
        let (label, der) = pem_rfc7468_decode(pem_block).map_err(|e| Error::malformed(what, e))?;
        if label != "CERTIFICATE" {
            return Err(Error::malformed(
                what,
                format!("PEM block {label:?} is not a CERTIFICATE"),
            ));
        }
        out.push(Cert::from_der(&der)?);
        rest = block.get(close..).unwrap_or("");
    }
    if out.is_empty() {
        return Err(Error::malformed(what, "no PEM certificate"));
    }
    Ok(out)
}

fn pem_rfc7468_decode(block: &str) -> Result<(String, Vec<u8>), String> {
    // Tolerate CRLF and surrounding blank lines (Azure bundles, PCS responses).
    let normalised: String = block.replace('\r', "");
    let (label, der) =
        der::pem::decode_vec(normalised.trim().as_bytes()).map_err(|e| e.to_string())?;
    Ok((label.to_owned(), der))
}

/// A certificate revocation list, with the bytes it arrived as.
#[derive(Clone)]
pub struct Crl {
    der: Vec<u8>,
    tbs: (usize, usize),
    parsed: CertificateList,
    issuer: String,
}

impl std::fmt::Debug for Crl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crl").field("issuer", &self.issuer).finish()
    }
}

impl Crl {
    /// Parses a DER (or PEM `X509 CRL`) revocation list.
    pub fn parse(bytes: &[u8], what: &'static str) -> Result<Self, Error> {
        let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let text = std::str::from_utf8(bytes).map_err(|e| Error::malformed(what, e))?;
            pem_rfc7468_decode(text)
                .map_err(|e| Error::malformed(what, e))?
                .1
        } else {
            bytes.to_vec()
        };
        let parsed = CertificateList::from_der(&der).map_err(|e| Error::malformed(what, e))?;
        let tbs = tbs_range(&der, what)?;
        let issuer = parsed.tbs_cert_list.issuer.to_string();
        Ok(Self {
            der,
            tbs,
            parsed,
            issuer,
        })
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Verifies the CRL's signature by `issuer` (whose subject must be the CRL's issuer).
    pub fn verify_issued_by(&self, issuer: &Cert) -> Result<(), Error> {
        if self.parsed.tbs_cert_list.issuer != issuer.parsed.tbs_certificate.subject {
            return Err(Error::mismatch(
                "CRL issuer",
                issuer.subject(),
                &self.issuer,
            ));
        }
        let tbs = self
            .der
            .get(self.tbs.0..self.tbs.1)
            .ok_or_else(|| Error::malformed("CRL", "tbsCertList range"))?;
        let sig = self
            .parsed
            .signature
            .as_bytes()
            .ok_or_else(|| Error::malformed("CRL", "signature is not whole bytes"))?;
        verify_x509_signature(issuer, &self.parsed.signature_algorithm, tbs, sig).map_err(|e| {
            match e {
                SigError::Unsupported(r) => Error::malformed("CRL", r),
                SigError::Invalid => Error::CollateralSignature {
                    what: format!("CRL of {}", self.issuer),
                },
            }
        })
    }

    /// Checks `thisUpdate <= time <= nextUpdate` (a CRL without nextUpdate is refused).
    pub fn check_valid_at(&self, time: UnixTime) -> Result<(), Error> {
        let this = UnixTime::from_der(self.parsed.tbs_cert_list.this_update.to_date_time());
        let next = self
            .parsed
            .tbs_cert_list
            .next_update
            .map(|t| UnixTime::from_der(t.to_date_time()))
            .ok_or_else(|| Error::malformed("CRL", "no nextUpdate"))?;
        if time < this || time > next {
            return Err(Error::CollateralNotValidAt {
                what: format!("CRL of {}", self.issuer),
                issued: this,
                next_update: next,
                time,
            });
        }
        Ok(())
    }

    /// Whether `cert` (issued by this CRL's issuer) is listed as revoked.
    pub fn check_not_revoked(&self, cert: &Cert) -> Result<(), Error> {
        let serial = cert.serial();
        let listed = self
            .parsed
            .tbs_cert_list
            .revoked_certificates
            .as_ref()
            .is_some_and(|list| list.iter().any(|r| r.serial_number.as_bytes() == serial));
        if listed {
            return Err(Error::Revoked {
                subject: cert.subject().to_owned(),
                serial: hex::encode(serial),
            });
        }
        Ok(())
    }
}

/// The result of a chain verification: which anchor the leaf chains to, and the window in
/// which every certificate on the path is valid.
#[derive(Debug, Clone)]
pub struct VerifiedPath {
    /// The anchor the chain ends in.
    pub anchor: Arc<TrustAnchor>,
    /// The certificates from the leaf up to (excluding) the anchor.
    pub path: Vec<Cert>,
    /// Latest `not_before` on the path, the anchor included.
    pub not_before: UnixTime,
    /// Earliest `not_after` on the path, the anchor included.
    pub not_after: UnixTime,
}

/// Builds and verifies a path from `leaf` to one of `anchors`, using `pool` for
/// intermediates. Every certificate, the anchor included, must be valid at `time`.
///
/// Steps: (1) the current certificate is valid at `time`; (2) if it is itself a pinned
/// anchor (by DER digest) the path ends; (3) if an anchor's subject is its issuer, the
/// anchor's key must verify it and the path ends; (4) otherwise its issuer is taken from the
/// pool (never trusted, only verified), must be a CA and must verify it; a self-issued
/// certificate that is not pinned ends the search as untrusted (or simulated).
pub fn verify_path(
    leaf: &Cert,
    pool: &[Cert],
    anchors: &[Arc<TrustAnchor>],
    time: UnixTime,
) -> Result<VerifiedPath, Error> {
    let mut current = leaf.clone();
    let mut path = Vec::new();
    let (mut not_before, mut not_after) = leaf.validity();
    for _ in 0..MAX_CHAIN_DEPTH {
        // (1)
        current.check_valid_at(time)?;
        let (nb, na) = current.validity();
        not_before = not_before.max(nb);
        not_after = not_after.min(na);
        // (2)
        if let Some(anchor) = anchors.iter().find(|a| a.cert.sha256() == current.sha256()) {
            return Ok(VerifiedPath {
                anchor: Arc::clone(anchor),
                path,
                not_before,
                not_after,
            });
        }
        // (3)
        let mut anchor_error = None;
        for anchor in anchors.iter().filter(|a| {
            a.cert.parsed.tbs_certificate.subject == current.parsed.tbs_certificate.issuer
        }) {
            match current.verify_issued_by(&anchor.cert) {
                Ok(()) => {
                    anchor.cert.check_valid_at(time)?;
                    let (nb, na) = anchor.cert.validity();
                    path.push(current);
                    return Ok(VerifiedPath {
                        anchor: Arc::clone(anchor),
                        path,
                        not_before: not_before.max(nb),
                        not_after: not_after.min(na),
                    });
                }
                Err(e) => anchor_error = Some(e),
            }
        }
        if let Some(e) = anchor_error {
            return Err(e);
        }
        // (4)
        if current.is_self_issued() {
            return Err(untrusted_root(&current));
        }
        let issuer = pool
            .iter()
            .find(|c| {
                c.parsed.tbs_certificate.subject == current.parsed.tbs_certificate.issuer
                    && c.sha256() != current.sha256()
            })
            .ok_or_else(|| Error::UntrustedRoot {
                subject: current.subject().to_owned(),
                reason: format!(
                    "its issuer {:?} is neither pinned nor among the certificates given",
                    current.issuer()
                ),
            })?;
        if issuer.is_self_issued() && !anchors.iter().any(|a| a.cert.sha256() == issuer.sha256()) {
            return Err(untrusted_root(issuer));
        }
        current.verify_issued_by(issuer)?;
        path.push(current);
        current = issuer.clone();
    }
    Err(Error::Certificate {
        what: leaf.subject().to_owned(),
        reason: format!("chain longer than {MAX_CHAIN_DEPTH} certificates"),
    })
}

fn untrusted_root(root: &Cert) -> Error {
    if root.subject().to_ascii_uppercase().contains("SIMULATED") {
        Error::SimulatedEvidence {
            root: root.subject().to_owned(),
        }
    } else {
        Error::UntrustedRoot {
            subject: root.subject().to_owned(),
            reason: format!(
                "self-signed root with SHA-256 {} is not pinned",
                hex::encode(root.sha256())
            ),
        }
    }
}

/// Whether the anchor that ended a path is simulated.
pub fn is_simulated(path: &VerifiedPath) -> bool {
    path.anchor.origin == AnchorOrigin::Simulated
}

/// Decodes a DER INTEGER extension value (AMD TCB extensions) into a u64.
pub fn der_integer_u64(value: &[u8], what: &'static str) -> Result<u64, Error> {
    let any = AnyRef::from_der(value).map_err(|e| Error::malformed(what, e))?;
    let int: der::asn1::UintRef<'_> = any.decode_as().map_err(|e| Error::malformed(what, e))?;
    let bytes = int.as_bytes();
    if bytes.len() > 8 {
        return Err(Error::malformed(what, "integer wider than 64 bits"));
    }
    Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}
