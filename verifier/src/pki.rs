//! X.509 certificates, CRLs and signature checks shared by the three platforms.
//!
//! Signatures are always verified over the bytes received (the `tbsCertificate` /
//! `tbsCertList` TLV cut from the input), never over a re-encoding. Signature arithmetic is
//! done by `aws-lc-rs` (AWS-LC); parsing by `x509-cert`.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use const_oid::db::{rfc4519, rfc5912};
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitString, ContextSpecific, IntRef, OctetStringRef};
use der::{Decode, Encode, Reader, SliceReader, TagNumber};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::ext::Extensions;
use x509_cert::name::Name;
use x509_cert::time::Time;
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

/// Attribute types with the key x509-cert's RFC 4514 `Display` gives them (the shortest name
/// in `const_oid`'s database, upper-cased; checked by a test). Looking a key up here instead
/// of in that database is most of the cost of formatting a name.
const NAME_KEYS: [(ObjectIdentifier, &str); 8] = [
    (rfc4519::CN, "CN"),
    (rfc4519::O, "O"),
    (rfc4519::OU, "OU"),
    (rfc4519::L, "L"),
    (rfc4519::ST, "ST"),
    (rfc4519::C, "C"),
    (rfc4519::STREET, "STREET"),
    (rfc4519::DC, "DC"),
];

/// A name as an RFC 4514 string, exactly as x509-cert's `Display` writes it (the RDNs in
/// reverse order, `,` between them, `+` inside one); faster for the attribute types of
/// [`NAME_KEYS`], x509-cert's own formatting for any other.
fn name_string(name: &Name) -> String {
    let mut out = String::with_capacity(128);
    for (i, rdn) in name.0.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.0.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            push_atv(&mut out, atv);
        }
    }
    out
}

fn push_atv(out: &mut String, atv: &AttributeTypeAndValue) {
    use der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
    use std::fmt::Write;
    let key = NAME_KEYS
        .iter()
        .find(|(oid, _)| *oid == atv.oid)
        .map(|(_, key)| *key);
    let value = match der::Tagged::tag(&atv.value) {
        der::Tag::PrintableString => PrintableStringRef::try_from(&atv.value)
            .ok()
            .map(|s| s.as_str()),
        der::Tag::Utf8String => Utf8StringRef::try_from(&atv.value).ok().map(|s| s.as_str()),
        der::Tag::Ia5String => Ia5StringRef::try_from(&atv.value).ok().map(|s| s.as_str()),
        der::Tag::TeletexString => TeletexStringRef::try_from(&atv.value)
            .ok()
            .map(|s| s.as_str()),
        _ => None,
    };
    let (Some(key), Some(value)) = (key, value) else {
        let _ = write!(out, "{atv}");
        return;
    };
    out.push_str(key);
    out.push('=');
    // The escaping of x509-cert 0.2's `AttributeTypeAndValue` `Display`.
    let mut chars = value.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || chars.peek().is_none() => out.push_str("\\ "),
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\x00'..='\x1f' | '\x7f' => {
                let _ = write!(out, "\\{:02x}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
}

/// A parsed certificate together with the exact bytes it arrived as.
///
/// Cheap to clone (shared). The RFC 4514 subject string is only computed when asked for
/// (error messages, claims): formatting a name costs as much as parsing the certificate.
#[derive(Clone)]
pub struct Cert(Arc<CertInner>);

struct CertInner {
    der: Vec<u8>,
    tbs: (usize, usize),
    sha256: [u8; 32],
    parsed: Certificate,
    subject: OnceLock<String>,
}

impl std::fmt::Debug for Cert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cert")
            .field("subject", &self.subject())
            .field("sha256", &hex::encode(self.0.sha256))
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
        Self::from_der_with_digest(der, Sha256::digest(der).into())
    }

    /// Parses one DER certificate whose SHA-256 the caller has computed.
    fn from_der_with_digest(der: &[u8], sha256: [u8; 32]) -> Result<Self, Error> {
        let parsed = Certificate::from_der(der).map_err(|e| Error::Certificate {
            what: "(unparsed)".into(),
            reason: format!("not a DER X.509 certificate: {e}"),
        })?;
        let tbs = tbs_range(der, "certificate")?;
        Ok(Self(Arc::new(CertInner {
            der: der.to_vec(),
            tbs,
            sha256,
            parsed,
            subject: OnceLock::new(),
        })))
    }

    /// The DER bytes as received.
    pub fn der(&self) -> &[u8] {
        &self.0.der
    }

    /// SHA-256 of the DER.
    pub fn sha256(&self) -> [u8; 32] {
        self.0.sha256
    }

    /// Whether `der` is exactly this certificate's DER (digest, then bytes).
    fn is_der(&self, der: &[u8], sha256: &[u8; 32]) -> bool {
        &self.0.sha256 == sha256 && self.0.der == der
    }

    /// The subject as an RFC 4514 string (formatted on first use).
    pub fn subject(&self) -> &str {
        self.0
            .subject
            .get_or_init(|| name_string(&self.0.parsed.tbs_certificate.subject))
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        name_string(&self.0.parsed.tbs_certificate.issuer)
    }

    /// The parsed certificate.
    pub fn parsed(&self) -> &Certificate {
        &self.0.parsed
    }

    /// The serial number's big-endian bytes.
    pub fn serial(&self) -> &[u8] {
        self.0.parsed.tbs_certificate.serial_number.as_bytes()
    }

    /// The subject public key (for EC keys the SEC1 point; for RSA the `RSAPublicKey` DER).
    pub fn public_key(&self) -> &[u8] {
        self.0
            .parsed
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
    }

    /// The DER of the whole SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Result<Vec<u8>, Error> {
        self.0
            .parsed
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| self.error(format!("cannot encode its public key: {e}")))
    }

    /// The named curve of an EC public key, if it is one.
    pub fn ec_curve(&self) -> Option<ObjectIdentifier> {
        let spki = &self.0.parsed.tbs_certificate.subject_public_key_info;
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
        let v = &self.0.parsed.tbs_certificate.validity;
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
                subject: self.subject().to_owned(),
                not_before,
                not_after,
                time,
            });
        }
        Ok(())
    }

    /// The raw value (contents of the OCTET STRING) of an extension.
    pub fn extension(&self, oid: &ObjectIdentifier) -> Option<&[u8]> {
        self.0
            .parsed
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| &e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    }

    /// Whether the certificate is self-issued (subject equals issuer).
    pub fn is_self_issued(&self) -> bool {
        self.0.parsed.tbs_certificate.subject == self.0.parsed.tbs_certificate.issuer
    }

    /// Whether BasicConstraints marks it as a CA.
    pub fn is_ca(&self) -> bool {
        self.extension(&rfc5912::ID_CE_BASIC_CONSTRAINTS)
            .and_then(|v| BasicConstraints::from_der(v).ok())
            .is_some_and(|bc| bc.ca)
    }

    /// Whether `issuer`'s subject is this certificate's issuer name.
    fn names_as_issuer(&self, issuer: &Cert) -> bool {
        self.0.parsed.tbs_certificate.issuer == issuer.0.parsed.tbs_certificate.subject
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Certificate {
            what: self.subject().to_owned(),
            reason: reason.into(),
        }
    }

    /// Verifies that `issuer` issued this certificate: names chain, the issuer is a CA, and
    /// the signature over the received `tbsCertificate` verifies under the issuer's key.
    pub fn verify_issued_by(&self, issuer: &Cert) -> Result<(), Error> {
        self.verify_issued_by_memo(issuer, &mut Memo::default())
    }

    /// [`Cert::verify_issued_by`], skipping only the signature arithmetic when `memo`
    /// records that this exact issuer DER already verified this exact certificate DER
    /// during the same verification. The name and CA checks always run.
    pub fn verify_issued_by_memo(&self, issuer: &Cert, memo: &mut Memo) -> Result<(), Error> {
        if !self.names_as_issuer(issuer) {
            return Err(Error::mismatch(
                "certificate issuer name",
                issuer.subject(),
                self.issuer(),
            ));
        }
        if !issuer.is_ca() {
            return Err(issuer.error("is used as an issuer but is not a CA (BasicConstraints)"));
        }
        let link = (issuer.sha256(), self.sha256());
        if memo.signatures.contains(&link) {
            return Ok(());
        }
        let tbs = self
            .0
            .der
            .get(self.0.tbs.0..self.0.tbs.1)
            .ok_or_else(|| self.error("tbsCertificate range out of bounds"))?;
        let sig = self
            .0
            .parsed
            .signature
            .as_bytes()
            .ok_or_else(|| self.error("signature is not a whole number of bytes"))?;
        verify_x509_signature(issuer, &self.0.parsed.signature_algorithm, tbs, sig).map_err(
            |e| match e {
                SigError::Unsupported(reason) => self.error(reason),
                SigError::Invalid => Error::CertificateSignature {
                    subject: self.subject().to_owned(),
                    issuer: issuer.subject().to_owned(),
                },
            },
        )?;
        memo.signatures.push(link);
        Ok(())
    }
}

/// What one verification call has already done, so that a certificate or a signature that
/// appears several times in its inputs (TDX collateral repeats the Intel root and the TCB
/// signing chain) is parsed and checked once. Lives for one call only: never global, never
/// across calls.
///
/// - certificates by DER: a DER identical (SHA-256, then bytes) to a pinned anchor's is the
///   anchor's parsed certificate, one identical to a certificate parsed earlier in the call
///   is that one; the root in an input is still never trusted for being there;
/// - PEM blocks by their exact text;
/// - verified (issuer DER digest, certificate DER digest) signature links.
#[derive(Default)]
pub struct Memo {
    certs: Vec<Cert>,
    pem: Vec<(String, Cert)>,
    signatures: Vec<([u8; 32], [u8; 32])>,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("certs", &self.certs.len())
            .field("pem", &self.pem.len())
            .field("signatures", &self.signatures.len())
            .finish()
    }
}

impl Memo {
    /// The certificate with this DER: an anchor's or an earlier one's if the bytes are
    /// identical, else parsed now.
    pub fn cert(&mut self, der: &[u8], anchors: &[Arc<TrustAnchor>]) -> Result<Cert, Error> {
        let sha256: [u8; 32] = Sha256::digest(der).into();
        if let Some(anchor) = anchors.iter().find(|a| a.cert.is_der(der, &sha256)) {
            return Ok(anchor.cert.clone());
        }
        if let Some(cert) = self.certs.iter().find(|c| c.is_der(der, &sha256)) {
            return Ok(cert.clone());
        }
        let cert = Cert::from_der_with_digest(der, sha256)?;
        self.certs.push(cert.clone());
        Ok(cert)
    }

    /// [`parse_pem_certificates`] through the memo.
    pub fn pem_certificates(
        &mut self,
        text: &str,
        what: &'static str,
        anchors: &[Arc<TrustAnchor>],
    ) -> Result<Vec<Cert>, Error> {
        let mut out = Vec::new();
        for_each_pem_block(text, what, |block| {
            if let Some((_, cert)) = self.pem.iter().find(|(b, _)| b == block) {
                out.push(cert.clone());
                return Ok(());
            }
            let der = pem_certificate_der(block, what)?;
            let cert = self.cert(&der, anchors)?;
            self.pem.push((block.to_owned(), cert.clone()));
            out.push(cert);
            Ok(())
        })?;
        Ok(out)
    }

    /// [`parse_certificates`] through the memo.
    pub fn certificates(
        &mut self,
        bytes: &[u8],
        what: &'static str,
        anchors: &[Arc<TrustAnchor>],
    ) -> Result<Vec<Cert>, Error> {
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let text = std::str::from_utf8(bytes).map_err(|e| Error::malformed(what, e))?;
            return self.pem_certificates(text, what, anchors);
        }
        let mut out = Vec::new();
        for der in der_certificates(bytes, what)? {
            out.push(self.cert(der, anchors)?);
        }
        Ok(out)
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
        .0
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

/// Splits concatenated DER certificates (at least one) into their TLVs.
fn der_certificates<'a>(bytes: &'a [u8], what: &'static str) -> Result<Vec<&'a [u8]>, Error> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let mut reader = SliceReader::new(rest).map_err(|e| Error::malformed(what, e))?;
        let tlv = reader.tlv_bytes().map_err(|e| Error::malformed(what, e))?;
        out.push(tlv);
        rest = rest.get(tlv.len()..).unwrap_or(&[]);
    }
    if out.is_empty() {
        return Err(Error::malformed(what, "no certificate"));
    }
    Ok(out)
}

/// Parses a chain given as concatenated PEM blocks, a single DER certificate, or concatenated
/// DER certificates. Non-certificate PEM blocks are refused.
pub fn parse_certificates(bytes: &[u8], what: &'static str) -> Result<Vec<Cert>, Error> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::malformed(what, e))?;
        return parse_pem_certificates(text, what);
    }
    der_certificates(bytes, what)?
        .into_iter()
        .map(Cert::from_der)
        .collect()
}

/// Calls `f` with the text of every PEM block of `text` (`-----BEGIN` to the end of its
/// `-----END ...-----` line), in order; at least one block is required.
fn for_each_pem_block(
    text: &str,
    what: &'static str,
    mut f: impl FnMut(&str) -> Result<(), Error>,
) -> Result<(), Error> {
    const BEGIN: &str = "-----BEGIN ";
    let mut rest = text;
    let mut any = false;
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
        f(block.get(..close).unwrap_or(""))?;
        any = true;
        rest = block.get(close..).unwrap_or("");
    }
    if !any {
        return Err(Error::malformed(what, "no PEM certificate"));
    }
    Ok(())
}

/// The DER of one PEM block, which must be a `CERTIFICATE`.
fn pem_certificate_der(block: &str, what: &'static str) -> Result<Vec<u8>, Error> {
    let (label, der) = pem_rfc7468_decode(block).map_err(|e| Error::malformed(what, e))?;
    if label != "CERTIFICATE" {
        return Err(Error::malformed(
            what,
            format!("PEM block {label:?} is not a CERTIFICATE"),
        ));
    }
    Ok(der)
}

/// Parses every `CERTIFICATE` PEM block of `text`, in order.
pub fn parse_pem_certificates(text: &str, what: &'static str) -> Result<Vec<Cert>, Error> {
    let mut out = Vec::new();
    for_each_pem_block(text, what, |block| {
        out.push(Cert::from_der(&pem_certificate_der(block, what)?)?);
        Ok(())
    })?;
    Ok(out)
}

fn pem_rfc7468_decode(block: &str) -> Result<(String, Vec<u8>), String> {
    // Tolerate CRLF and surrounding blank lines (Azure bundles, PCS responses).
    let trimmed = block.trim();
    if let Some(decoded) = pem_decode_plain(trimmed) {
        return Ok(decoded);
    }
    let normalised: String = trimmed.replace('\r', "");
    let (label, der) = der::pem::decode_vec(normalised.as_bytes()).map_err(|e| e.to_string())?;
    Ok((label.to_owned(), der))
}

/// Longest base64 line of RFC 7468's strict form.
const PEM_LINE: usize = 64;

/// A fast path for the common, strictly formatted PEM block (`LF` line ends, a `CERTIFICATE`
/// or `X509 CRL` label, full 64-character base64 lines, canonical padding): `None` for any
/// other text, which then goes to the general decoder. Accepts nothing that decoder refuses,
/// and decodes it to the same bytes.
fn pem_decode_plain(text: &str) -> Option<(String, Vec<u8>)> {
    use base64::Engine as _;
    const LABELS: [&str; 2] = ["CERTIFICATE", "X509 CRL"];
    let rest = text.strip_prefix("-----BEGIN ")?;
    let label = LABELS.into_iter().find(|l| {
        rest.strip_prefix(l)
            .is_some_and(|r| r.starts_with("-----\n"))
    })?;
    let body = rest.get(label.len() + 6..)?;
    let body = body
        .strip_suffix("-----")?
        .strip_suffix(label)?
        .strip_suffix("\n-----END ")?;
    if body.contains('\r') {
        return None;
    }
    let mut base64 = Vec::with_capacity(body.len());
    let mut lines = body.split('\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        if line.is_empty() || line.len() > PEM_LINE || (!last && line.len() != PEM_LINE) {
            return None;
        }
        base64.extend_from_slice(line.as_bytes());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(&base64)
        .ok()?;
    Some((label.to_owned(), der))
}

/// One extension, borrowed (the checks of x509-cert's `Extension`).
#[derive(der::Sequence)]
struct ExtensionRef<'a> {
    extn_id: ObjectIdentifier,
    #[asn1(default = "Default::default")]
    critical: bool,
    extn_value: OctetStringRef<'a>,
}

/// Checks that `tlv` is a SEQUENCE OF Extension.
fn check_extensions(tlv: &[u8]) -> der::Result<()> {
    let any = AnyRef::from_der(tlv)?;
    if der::Tagged::tag(&any) != der::Tag::Sequence {
        return Err(der::Tagged::tag(&any).unexpected_error(Some(der::Tag::Sequence)));
    }
    let mut reader = SliceReader::new(any.value())?;
    while !reader.is_finished() {
        let _: ExtensionRef<'_> = reader.decode()?;
    }
    Ok(())
}

/// Checks of one piece of DER that depend only on its bytes, remembered for the last bytes
/// checked: the entries of a CRL mostly repeat the same revocation date and reason.
struct LastChecked<'a>(Option<&'a [u8]>);

impl<'a> LastChecked<'a> {
    fn check(&mut self, tlv: &'a [u8], f: impl Fn(&[u8]) -> der::Result<()>) -> der::Result<()> {
        if self.0 != Some(tlv) {
            f(tlv)?;
            self.0 = Some(tlv);
        }
        Ok(())
    }
}

/// One `revokedCertificates` entry (`SEQUENCE { userCertificate CertificateSerialNumber,
/// revocationDate Time, crlEntryExtensions Extensions OPTIONAL }`), checked as x509-cert's
/// `RevokedCert` is; returns the serial number's bytes.
fn revoked_entry<'a>(
    tlv: &'a [u8],
    dates: &mut LastChecked<'a>,
    extensions: &mut LastChecked<'a>,
) -> der::Result<&'a [u8]> {
    let mut reader = SliceReader::new(tlv)?;
    let serial = reader.sequence(|r| {
        let serial: IntRef<'a> = r.decode()?;
        dates.check(r.tlv_bytes()?, |date| Time::from_der(date).map(|_| ()))?;
        if !r.is_finished() {
            extensions.check(r.tlv_bytes()?, check_extensions)?;
        }
        Ok(serial.as_bytes())
    })?;
    reader.finish(serial)
}

/// Largest serial number accepted (RFC 5280's 20 octets, plus a sign octet), as x509-cert.
const MAX_SERIAL_LEN: usize = 21;

/// The parts of a `TBSCertList` verification uses. Parsed as x509-cert's `TbsCertList` is
/// (version, signature, issuer, thisUpdate, nextUpdate, revokedCertificates, [0]
/// crlExtensions, nothing else), but without allocating per revoked entry: the serial numbers
/// are kept, each entry's structure is checked.
struct TbsCrl {
    issuer: Name,
    this_update: UnixTime,
    next_update: Option<UnixTime>,
    /// Serial numbers of the revoked certificates, concatenated; `serial_ends` delimits them.
    serials: Vec<u8>,
    serial_ends: Vec<usize>,
}

fn parse_tbs_crl(tbs: &[u8]) -> der::Result<TbsCrl> {
    let mut reader = SliceReader::new(tbs)?;
    let parsed = reader.sequence(|r| {
        let _: x509_cert::Version = r.decode()?;
        let _: AlgorithmIdentifierOwned = r.decode()?;
        let issuer: Name = r.decode()?;
        let this_update: Time = r.decode()?;
        let next_update: Option<Time> = r.decode()?;
        let mut serials = Vec::new();
        let mut serial_ends = Vec::new();
        if r.peek_byte() == Some(0x30) {
            let list: AnyRef<'_> = r.decode()?;
            let mut entries = SliceReader::new(list.value())?;
            let (mut dates, mut extensions) = (LastChecked(None), LastChecked(None));
            while !entries.is_finished() {
                let serial = revoked_entry(entries.tlv_bytes()?, &mut dates, &mut extensions)?;
                if serial.len() > MAX_SERIAL_LEN {
                    return Err(der::Tag::Integer.value_error());
                }
                serials.extend_from_slice(serial);
                serial_ends.push(serials.len());
            }
        }
        let _: Option<Extensions> =
            ContextSpecific::<Extensions>::decode_explicit(r, TagNumber::N0)?.map(|c| c.value);
        Ok(TbsCrl {
            issuer,
            this_update: UnixTime::from_der(this_update.to_date_time()),
            next_update: next_update.map(|t| UnixTime::from_der(t.to_date_time())),
            serials,
            serial_ends,
        })
    })?;
    reader.finish(parsed)
}

/// The signature algorithm and value of a signed structure (after its TBS part).
fn parse_signed_outer(der: &[u8]) -> der::Result<(AlgorithmIdentifierOwned, BitString)> {
    let mut reader = SliceReader::new(der)?;
    let parsed = reader.sequence(|r| {
        let _: AnyRef<'_> = r.decode()?;
        let algorithm: AlgorithmIdentifierOwned = r.decode()?;
        let signature: BitString = r.decode()?;
        Ok((algorithm, signature))
    })?;
    reader.finish(parsed)
}

/// A certificate revocation list, with the bytes it arrived as.
#[derive(Clone)]
pub struct Crl {
    der: Vec<u8>,
    tbs: (usize, usize),
    issuer: Name,
    issuer_text: OnceLock<String>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    this_update: UnixTime,
    next_update: Option<UnixTime>,
    serials: Vec<u8>,
    serial_ends: Vec<usize>,
}

impl std::fmt::Debug for Crl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crl")
            .field("issuer", &self.issuer())
            .finish()
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
        Self::from_der_vec(der, what)
    }

    /// Parses a DER revocation list, taking the bytes.
    pub fn from_der_vec(der: Vec<u8>, what: &'static str) -> Result<Self, Error> {
        let (signature_algorithm, signature) =
            parse_signed_outer(&der).map_err(|e| Error::malformed(what, e))?;
        let tbs = tbs_range(&der, what)?;
        let tbs_bytes = der
            .get(tbs.0..tbs.1)
            .ok_or_else(|| Error::malformed(what, "tbsCertList range"))?;
        let parsed = parse_tbs_crl(tbs_bytes).map_err(|e| Error::malformed(what, e))?;
        Ok(Self {
            tbs,
            issuer: parsed.issuer,
            issuer_text: OnceLock::new(),
            signature_algorithm,
            signature,
            this_update: parsed.this_update,
            next_update: parsed.next_update,
            serials: parsed.serials,
            serial_ends: parsed.serial_ends,
            der,
        })
    }

    /// The issuer as an RFC 4514 string (formatted on first use).
    pub fn issuer(&self) -> &str {
        self.issuer_text.get_or_init(|| name_string(&self.issuer))
    }

    /// Whether the CRL's issuer name is `cert`'s subject name.
    pub fn is_issuer_name_of(&self, cert: &Cert) -> bool {
        self.issuer == cert.0.parsed.tbs_certificate.subject
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Verifies the CRL's signature by `issuer` (whose subject must be the CRL's issuer).
    pub fn verify_issued_by(&self, issuer: &Cert) -> Result<(), Error> {
        if !self.is_issuer_name_of(issuer) {
            return Err(Error::mismatch(
                "CRL issuer",
                issuer.subject(),
                self.issuer(),
            ));
        }
        let tbs = self
            .der
            .get(self.tbs.0..self.tbs.1)
            .ok_or_else(|| Error::malformed("CRL", "tbsCertList range"))?;
        let sig = self
            .signature
            .as_bytes()
            .ok_or_else(|| Error::malformed("CRL", "signature is not whole bytes"))?;
        verify_x509_signature(issuer, &self.signature_algorithm, tbs, sig).map_err(|e| match e {
            SigError::Unsupported(r) => Error::malformed("CRL", r),
            SigError::Invalid => Error::CollateralSignature {
                what: format!("CRL of {}", self.issuer()),
            },
        })
    }

    /// `thisUpdate..nextUpdate` (a CRL without nextUpdate is refused).
    pub fn window(&self) -> Result<(UnixTime, UnixTime), Error> {
        let next = self
            .next_update
            .ok_or_else(|| Error::malformed("CRL", "no nextUpdate"))?;
        Ok((self.this_update, next))
    }

    /// Checks `thisUpdate <= time <= nextUpdate` (a CRL without nextUpdate is refused).
    pub fn check_valid_at(&self, time: UnixTime) -> Result<(), Error> {
        let (this, next) = self.window()?;
        if time < this || time > next {
            return Err(Error::CollateralNotValidAt {
                what: format!("CRL of {}", self.issuer()),
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
        let mut start = 0;
        let listed = self.serial_ends.iter().any(|&end| {
            let listed = self.serials.get(start..end) == Some(serial);
            start = end;
            listed
        });
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
    verify_path_memo(leaf, pool, anchors, time, &mut Memo::default())
}

/// [`verify_path`] with a per-call [`Memo`]: a signature link already verified in this call
/// is not verified again (every other step runs).
pub fn verify_path_memo(
    leaf: &Cert,
    pool: &[Cert],
    anchors: &[Arc<TrustAnchor>],
    time: UnixTime,
    memo: &mut Memo,
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
        for anchor in anchors.iter().filter(|a| current.names_as_issuer(&a.cert)) {
            match current.verify_issued_by_memo(&anchor.cert, memo) {
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
        // Every certificate of the pool whose subject names the issuer is a candidate (pinned
        // intermediates come first in the pools the platforms build); the first one that
        // verifies continues the path. None is trusted: each is checked like the leaf.
        let mut first_error = None;
        let mut chosen = None;
        for candidate in pool
            .iter()
            .filter(|c| current.names_as_issuer(c) && c.sha256() != current.sha256())
        {
            if candidate.is_self_issued()
                && !anchors
                    .iter()
                    .any(|a| a.cert.sha256() == candidate.sha256())
            {
                first_error.get_or_insert_with(|| untrusted_root(candidate));
                continue;
            }
            match current.verify_issued_by_memo(candidate, memo) {
                Ok(()) => {
                    chosen = Some(candidate);
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let issuer = match (chosen, first_error) {
            (Some(issuer), _) => issuer,
            (None, Some(e)) => return Err(e),
            (None, None)
                if current.issuer().to_ascii_uppercase().contains("SIMULATED")
                    && !anchors.iter().any(|a| a.origin == AnchorOrigin::Simulated) =>
            {
                return Err(Error::SimulatedEvidence {
                    root: current.issuer(),
                })
            }
            (None, None) => {
                return Err(Error::UntrustedRoot {
                    subject: current.subject().to_owned(),
                    reason: format!(
                        "its issuer {:?} is neither pinned nor among the certificates given",
                        current.issuer()
                    ),
                })
            }
        };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::anchors::TrustAnchors;

    #[test]
    fn name_keys_are_those_x509_cert_writes() {
        for (oid, key) in NAME_KEYS {
            let name: Name = format!("{key}=v").parse().unwrap();
            assert_eq!(name.0[0].0.get(0).unwrap().oid, oid, "{key}");
            assert_eq!(name.to_string(), format!("{key}=v"));
            assert_eq!(name_string(&name), name.to_string());
        }
    }

    #[test]
    fn the_pem_fast_path_decodes_as_the_general_decoder() {
        let anchors = TrustAnchors::vendor();
        for anchor in anchors.roots() {
            let der = anchor.cert.der();
            let pem =
                der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap();
            let fast = pem_decode_plain(pem.trim()).expect("strict PEM takes the fast path");
            assert_eq!(fast.1, der);
            assert_eq!(pem_rfc7468_decode(&pem).unwrap(), fast);
            // CRLF, another label, a short line, bad padding: the general decoder's answer.
            let crlf = pem.replace('\n', "\r\n");
            assert!(pem_decode_plain(crlf.trim()).is_none());
            assert_eq!(pem_rfc7468_decode(&crlf).unwrap().1, der);
            let other = pem.replace("CERTIFICATE", "PRIVATE KEY");
            assert!(pem_decode_plain(other.trim()).is_none());
            let short = pem.replacen('\n', "\n\n", 2);
            assert!(pem_decode_plain(short.trim()).is_none());
            let end = pem.find("\n-----END").unwrap();
            let mut bad = pem.clone();
            bad.replace_range(end - 1..end, "!");
            assert!(pem_decode_plain(bad.trim()).is_none());
            assert!(pem_rfc7468_decode(&bad).is_err());
        }
    }

    #[test]
    fn crls_parse_as_x509_cert_parses_them() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/tdx/dcap-qvl/tdx_quote_collateral.json"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for field in ["pck_crl", "root_ca_crl"] {
            let der = hex::decode(json[field].as_str().unwrap()).unwrap();
            let ours = Crl::parse(&der, "CRL").unwrap();
            let theirs = x509_cert::crl::CertificateList::from_der(&der).unwrap();
            let list = &theirs.tbs_cert_list;
            assert_eq!(ours.issuer(), list.issuer.to_string());
            assert_eq!(ours.signature_algorithm, theirs.signature_algorithm);
            assert_eq!(ours.signature, theirs.signature);
            let window = ours.window().unwrap();
            assert_eq!(
                window.0,
                UnixTime::from_der(list.this_update.to_date_time())
            );
            let next = list.next_update.unwrap().to_date_time();
            assert_eq!(window.1, UnixTime::from_der(next));
            let serials: Vec<&[u8]> = list
                .revoked_certificates
                .iter()
                .flatten()
                .map(|r| r.serial_number.as_bytes())
                .collect();
            let mut start = 0;
            let ours_serials: Vec<&[u8]> = ours
                .serial_ends
                .iter()
                .map(|&end| {
                    let s = &ours.serials[start..end];
                    start = end;
                    s
                })
                .collect();
            assert_eq!(ours_serials, serials, "{field}");
            // Trailing bytes and a truncated CRL are refused, as before.
            let mut long = der.clone();
            long.push(0);
            assert!(Crl::parse(&long, "CRL").is_err());
            assert!(Crl::parse(&der[..der.len() - 1], "CRL").is_err());
        }
    }

    #[test]
    fn names_format_as_x509_cert_does() {
        let anchors = TrustAnchors::vendor();
        let mut certs: Vec<Cert> = anchors.roots().iter().map(|a| a.cert.clone()).collect();
        for platform in [
            crate::claims::Platform::SevSnp,
            crate::claims::Platform::Tdx,
            crate::claims::Platform::Nitro,
        ] {
            certs.extend(anchors.intermediates_for(platform).cloned());
        }
        assert!(certs.len() > 5);
        for cert in &certs {
            let tbs = &cert.parsed().tbs_certificate;
            assert_eq!(cert.subject(), tbs.subject.to_string());
            assert_eq!(cert.issuer(), tbs.issuer.to_string());
        }
        // Escapes, multi-valued RDNs and types outside NAME_KEYS.
        for text in [
            r#"CN=\#lead\, trail \+x,O=a\;b\<c\>d\\e\"f,C=US"#,
            r"CN=\ spaced\ ,OU=x+L=y",
            "UID=jdoe,DC=example,DC=com,STREET=1 Main St",
            "SERIALNUMBER=42,ST=CA",
        ] {
            let name: Name = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(name_string(&name), name.to_string(), "{text}");
        }
    }
}
