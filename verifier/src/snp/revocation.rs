//! Step 4b of [`super::verify`]: AMD's certificate revocation lists.
//!
//! AMD's KDS serves one CRL per product (`/vcek/v1/{product}/crl`), issued and signed by the
//! product's ARK: it lists the ASKs and ASVKs AMD has revoked. A CRL issued by the ASK or ASVK
//! (which AMD does not publish today, but RFC 5280 allows) lists revoked VEKs. A CRL is
//! matched to the certificate it can speak for by its issuer name, as RFC 5280 §6.3 does: the
//! ARK's CRL covers the ASK/ASVK on the verified path, the ASK's or ASVK's CRL covers the VEK.
//!
//! Every CRL supplied must:
//! 1. be issued by the ARK or the ASK/ASVK of the verified path (no other issuer is accepted,
//!    so a CRL cannot be silently ignored);
//! 2. carry that issuer's valid signature;
//! 3. be inside its `thisUpdate..nextUpdate` window at the verification time;
//! 4. not list the certificate it covers.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::hex::Hex;
use crate::pki::crl::Crl;
use crate::pki::Cert;
use crate::time::UnixTime;

/// A CRL that was checked, and what it covered.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CrlCheck {
    /// The CRL's issuer (the ARK, or the ASK/ASVK).
    pub issuer: String,
    /// SHA-256 of the CRL's DER.
    pub sha256: Hex,
    /// thisUpdate.
    pub this_update: UnixTime,
    /// nextUpdate.
    pub next_update: UnixTime,
    /// The subject of the certificate it was checked against (found not revoked).
    pub covers: String,
    /// Whether it is the ARK's CRL (the one AMD's KDS serves), covering the ASK or ASVK.
    pub from_root: bool,
}

/// The certificates of a verified VEK path that a CRL can speak for.
pub(crate) struct PathCerts<'a> {
    /// The VEK.
    pub vek: &'a Cert,
    /// The ASK or ASVK that issued it.
    pub intermediate: &'a Cert,
    /// The pinned ARK.
    pub root: &'a Cert,
}

/// Checks every CRL in `bytes` (DER lists one after the other, or `X509 CRL` PEM blocks)
/// against `path` at `time`.
pub(crate) fn check(
    bytes: &[u8],
    path: &PathCerts<'_>,
    time: UnixTime,
) -> Result<Vec<CrlCheck>, Error> {
    let crls = Crl::parse_all(bytes, "SEV-SNP CRL")?;
    let mut out = Vec::with_capacity(crls.len());
    for crl in &crls {
        // 1.
        let (issuer, covered, from_root) = if crl.is_issuer_name_of(path.root) {
            (path.root, path.intermediate, true)
        } else if crl.is_issuer_name_of(path.intermediate) {
            (path.intermediate, path.vek, false)
        } else {
            return Err(Error::mismatch(
                "SEV-SNP CRL issuer",
                format!(
                    "the ARK ({}) or the {} of the VEK's path",
                    path.root.subject(),
                    path.intermediate.subject()
                ),
                crl.issuer(),
            ));
        };
        // 2.
        crl.verify_issued_by(issuer)?;
        // 3.
        crl.check_valid_at(time)?;
        // 4.
        crl.check_not_revoked(covered)?;
        let (this_update, next_update) = crl.window()?;
        out.push(CrlCheck {
            issuer: crl.issuer().to_owned(),
            sha256: Hex::from(Sha256::digest(crl.der()).as_slice()),
            this_update,
            next_update,
            covers: covered.subject().to_owned(),
            from_root,
        });
    }
    Ok(out)
}
