//! Certificate revocation lists, parsed without a re-encoding and checked against their issuer.

use super::*;

/// One extension, borrowed (the checks of x509-cert's `Extension`).
#[derive(der::Sequence)]
pub(super) struct ExtensionRef<'a> {
    extn_id: ObjectIdentifier,
    #[asn1(default = "Default::default")]
    critical: bool,
    extn_value: OctetStringRef<'a>,
}

/// Checks that `tlv` is a SEQUENCE OF Extension.
pub(super) fn check_extensions(tlv: &[u8]) -> der::Result<()> {
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
pub(super) struct LastChecked<'a>(Option<&'a [u8]>);

impl<'a> LastChecked<'a> {
    pub(super) fn check(
        &mut self,
        tlv: &'a [u8],
        f: impl Fn(&[u8]) -> der::Result<()>,
    ) -> der::Result<()> {
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
pub(super) fn revoked_entry<'a>(
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
pub(super) const MAX_SERIAL_LEN: usize = 21;

/// The parts of a `TBSCertList` verification uses. Parsed as x509-cert's `TbsCertList` is
/// (version, signature, issuer, thisUpdate, nextUpdate, revokedCertificates, [0]
/// crlExtensions, nothing else), but without allocating per revoked entry: the serial numbers
/// are kept, each entry's structure is checked.
pub(super) struct TbsCrl {
    issuer: Name,
    this_update: UnixTime,
    next_update: Option<UnixTime>,
    /// Serial numbers of the revoked certificates, concatenated; `serial_ends` delimits them.
    serials: Vec<u8>,
    serial_ends: Vec<usize>,
}

pub(super) fn parse_tbs_crl(tbs: &[u8]) -> der::Result<TbsCrl> {
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
pub(super) fn parse_signed_outer(der: &[u8]) -> der::Result<(AlgorithmIdentifierOwned, BitString)> {
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
    pub(super) der: Vec<u8>,
    pub(super) tbs: (usize, usize),
    pub(super) issuer: Name,
    pub(super) issuer_text: OnceLock<String>,
    pub(super) signature_algorithm: AlgorithmIdentifierOwned,
    pub(super) signature: BitString,
    pub(super) this_update: UnixTime,
    pub(super) next_update: Option<UnixTime>,
    pub(super) serials: Vec<u8>,
    pub(super) serial_ends: Vec<usize>,
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

    /// Parses one or more revocation lists: `X509 CRL` PEM blocks, or DER lists one after
    /// the other. Other PEM blocks are refused.
    pub fn parse_all(bytes: &[u8], what: &'static str) -> Result<Vec<Self>, Error> {
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let text = std::str::from_utf8(bytes).map_err(|e| Error::malformed(what, e))?;
            let mut out = Vec::new();
            super::pem::for_each_pem_block(text, what, |block| {
                let (label, der) =
                    pem_rfc7468_decode(block).map_err(|e| Error::malformed(what, e))?;
                if label != "X509 CRL" {
                    return Err(Error::malformed(
                        what,
                        format!("PEM block {label:?} is not an X509 CRL"),
                    ));
                }
                out.push(Self::from_der_vec(der, what)?);
                Ok(())
            })?;
            return Ok(out);
        }
        if bytes.is_empty() {
            return Err(Error::malformed(what, "no CRL"));
        }
        super::pem::der_certificates(bytes, what)?
            .into_iter()
            .map(|der| Self::from_der_vec(der.to_vec(), what))
            .collect()
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
