//! A parsed certificate with the exact bytes it arrived as, and RFC 4514 names.

use super::*;

/// Attribute types with the key x509-cert's RFC 4514 `Display` gives them (the shortest name
/// in `const_oid`'s database, upper-cased; checked by a test). Looking a key up here instead
/// of in that database is most of the cost of formatting a name.
pub(super) const NAME_KEYS: [(ObjectIdentifier, &str); 8] = [
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
pub(super) fn name_string(name: &Name) -> String {
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

pub(super) fn push_atv(out: &mut String, atv: &AttributeTypeAndValue) {
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
pub struct Cert(pub(super) Arc<CertInner>);

pub(super) struct CertInner {
    pub(super) der: Vec<u8>,
    pub(super) tbs: (usize, usize),
    sha256: [u8; 32],
    pub(super) parsed: Certificate,
    pub(super) subject: OnceLock<String>,
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
pub(super) fn tbs_range(der: &[u8], what: &'static str) -> Result<(usize, usize), Error> {
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
    pub(super) fn from_der_with_digest(der: &[u8], sha256: [u8; 32]) -> Result<Self, Error> {
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
    pub(super) fn is_der(&self, der: &[u8], sha256: &[u8; 32]) -> bool {
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
    pub(crate) fn names_as_issuer(&self, issuer: &Cert) -> bool {
        self.0.parsed.tbs_certificate.issuer == issuer.0.parsed.tbs_certificate.subject
    }

    pub(super) fn error(&self, reason: impl Into<String>) -> Error {
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
    pub(crate) fn verify_issued_by_memo(
        &self,
        issuer: &Cert,
        memo: &mut Memo,
    ) -> Result<(), Error> {
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
