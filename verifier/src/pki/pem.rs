//! Certificates given as PEM blocks or concatenated DER.

use super::*;

/// Splits concatenated DER certificates (at least one) into their TLVs.
pub(super) fn der_certificates<'a>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<Vec<&'a [u8]>, Error> {
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
pub(super) fn for_each_pem_block(
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
pub(super) fn pem_certificate_der(block: &str, what: &'static str) -> Result<Vec<u8>, Error> {
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

pub(super) fn pem_rfc7468_decode(block: &str) -> Result<(String, Vec<u8>), String> {
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
pub(super) const PEM_LINE: usize = 64;

/// A fast path for the common, strictly formatted PEM block (`LF` line ends, a `CERTIFICATE`
/// or `X509 CRL` label, full 64-character base64 lines, canonical padding): `None` for any
/// other text, which then goes to the general decoder. Accepts nothing that decoder refuses,
/// and decodes it to the same bytes.
pub(super) fn pem_decode_plain(text: &str) -> Option<(String, Vec<u8>)> {
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
