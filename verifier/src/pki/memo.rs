//! The per-call memo of certificates, PEM blocks and signature links already checked.

use super::*;

/// What one verification call has already done, so that a certificate or a signature that
/// appears several times in its inputs (TDX collateral repeats the Intel root and the TCB
/// signing chain) is parsed and checked once. Lives for one call only: never global, never
/// across calls.
///
/// - certificates by DER: a DER identical (SHA-256, then bytes) to a known certificate's (the
///   anchors' the caller seeds it with, see [`Memo::knowing`]) or to one parsed earlier in
///   the call is that certificate; a root in an input is still never trusted for being there
///   (only the path builder decides trust, by anchor digest);
/// - PEM blocks by their exact text;
/// - verified (issuer DER digest, certificate DER digest) signature links.
#[derive(Default)]
pub struct Memo {
    pub(super) certs: Vec<Cert>,
    pub(super) pem: Vec<(String, Cert)>,
    pub(super) signatures: Vec<([u8; 32], [u8; 32])>,
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
    /// A memo that already knows these parsed certificates (the anchors' of the platform), so
    /// an input certificate identical to one of them is not parsed again.
    pub fn knowing(known: impl IntoIterator<Item = Cert>) -> Self {
        Self {
            certs: known.into_iter().collect(),
            ..Self::default()
        }
    }

    /// The certificate with this DER: a known or earlier one's if the bytes are identical,
    /// else parsed now.
    pub fn cert(&mut self, der: &[u8]) -> Result<Cert, Error> {
        let sha256: [u8; 32] = Sha256::digest(der).into();
        if let Some(cert) = self.certs.iter().find(|c| c.is_der(der, &sha256)) {
            return Ok(cert.clone());
        }
        let cert = Cert::from_der_with_digest(der, sha256)?;
        self.certs.push(cert.clone());
        Ok(cert)
    }

    /// [`parse_pem_certificates`] through the memo.
    pub fn pem_certificates(&mut self, text: &str, what: &'static str) -> Result<Vec<Cert>, Error> {
        let mut out = Vec::new();
        for_each_pem_block(text, what, |block| {
            if let Some((_, cert)) = self.pem.iter().find(|(b, _)| b == block) {
                out.push(cert.clone());
                return Ok(());
            }
            let der = pem_certificate_der(block, what)?;
            let cert = self.cert(&der)?;
            self.pem.push((block.to_owned(), cert.clone()));
            out.push(cert);
            Ok(())
        })?;
        Ok(out)
    }

    /// [`parse_certificates`] through the memo.
    pub fn certificates(&mut self, bytes: &[u8], what: &'static str) -> Result<Vec<Cert>, Error> {
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let text = std::str::from_utf8(bytes).map_err(|e| Error::malformed(what, e))?;
            return self.pem_certificates(text, what);
        }
        let mut out = Vec::new();
        for der in der_certificates(bytes, what)? {
            out.push(self.cert(der)?);
        }
        Ok(out)
    }
}
