//! The PCK certificate chain carried in the quote: path to the pinned Intel root, revocation,
//! and the Intel SGX extension of the PCK certificate (FMSPC, PCE-ID, TCB).
//!
//! The SGX extension (OID 1.2.840.113741.1.13.1) is specified in Intel's "SGX PCK Certificate
//! and Certificate Revocation List Profile Specification": a SEQUENCE of (OID, value) pairs.

use std::sync::Arc;

use const_oid::db::rfc4519;
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, OctetStringRef};
use der::Decode;

use crate::anchors::TrustAnchor;
use crate::error::Error;
use crate::path::{self, VerifiedPath};
use crate::pki::{Cert, Crl, Memo};
use crate::time::UnixTime;

const OID_SGX_EXTENSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1");
const OID_PPID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.1");
const OID_TCB: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.2");
const OID_PCE_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.3");
const OID_FMSPC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.4");
const OID_SGX_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.5");
/// `.2.17` PCESVN and `.2.18` CPUSVN inside the TCB sequence (`.2.1`..`.2.16` are the
/// SGX TCB component SVNs).
const TCB_PCESVN_ARC: u32 = 17;
const TCB_CPUSVN_ARC: u32 = 18;

/// Common name of a PCK leaf certificate.
pub const PCK_CN: &str = "Intel SGX PCK Certificate";
/// Common names of the CAs that issue PCK certificates.
pub const PCK_CA_CNS: [&str; 2] = ["Intel SGX PCK Platform CA", "Intel SGX PCK Processor CA"];

const WHAT: &str = "PCK certificate SGX extension";

/// One `(OID, value)` pair of the SGX extension.
#[derive(der::Sequence)]
struct Entry<'a> {
    id: ObjectIdentifier,
    value: AnyRef<'a>,
}

/// The values of the PCK certificate's SGX extension that verification uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgxExtension {
    /// `.2.1`..`.2.16`: SGX TCB component SVNs.
    pub sgx_tcb_components: [u8; 16],
    /// `.2.17`: PCESVN.
    pub pcesvn: u16,
    /// `.2.18`: CPUSVN.
    pub cpusvn: [u8; 16],
    /// `.3`: PCE-ID.
    pub pce_id: [u8; 2],
    /// `.4`: FMSPC (family-model-stepping-platform-customSKU).
    pub fmspc: [u8; 6],
    /// `.5`: SGX type (0 standard, 1 scalable, 2 scalable with integrity).
    pub sgx_type: u8,
}

fn octets<const N: usize>(value: &AnyRef<'_>, field: &'static str) -> Result<[u8; N], Error> {
    let os: OctetStringRef<'_> = value
        .decode_as()
        .map_err(|e| Error::malformed(WHAT, format!("{field}: {e}")))?;
    <[u8; N]>::try_from(os.as_bytes())
        .map_err(|_| Error::mismatch(field, format!("{N} bytes"), os.as_bytes().len()))
}

fn integer(value: &AnyRef<'_>, field: &'static str) -> Result<u64, Error> {
    value
        .decode_as::<u64>()
        .map_err(|e| Error::malformed(WHAT, format!("{field}: {e}")))
}

/// The last arc of `oid` if `oid` is `parent` plus exactly one arc.
fn last_arc(oid: &ObjectIdentifier, parent: &ObjectIdentifier) -> Option<u32> {
    // The encoding of `parent` then one single-byte arc (below 128) is `parent` plus that arc.
    if let Some([arc]) = oid.as_bytes().strip_prefix(parent.as_bytes()) {
        if *arc < 0x80 {
            return Some(u32::from(*arc));
        }
    }
    let mut arcs = oid.arcs();
    for expected in parent.arcs() {
        if arcs.next()? != expected {
            return None;
        }
    }
    let last = arcs.next()?;
    arcs.next().is_none().then_some(last)
}

/// Puts a value into a slot that must be filled exactly once.
fn once<T>(slot: &mut Option<T>, value: T, field: &'static str) -> Result<(), Error> {
    if slot.replace(value).is_some() {
        return Err(Error::malformed(WHAT, format!("{field} appears twice")));
    }
    Ok(())
}

fn parse_tcb(value: &AnyRef<'_>) -> Result<([u8; 16], u16, [u8; 16]), Error> {
    let entries: Vec<Entry<'_>> = value
        .decode_as()
        .map_err(|e| Error::malformed(WHAT, format!("TCB: {e}")))?;
    let mut comps: [Option<u8>; 16] = [None; 16];
    let mut pcesvn = None;
    let mut cpusvn = None;
    for entry in &entries {
        match last_arc(&entry.id, &OID_TCB) {
            Some(TCB_PCESVN_ARC) => {
                let v = integer(&entry.value, "PCESVN")?;
                let v = u16::try_from(v).map_err(|_| Error::malformed(WHAT, "PCESVN > 65535"))?;
                once(&mut pcesvn, v, "PCESVN")?;
            }
            Some(TCB_CPUSVN_ARC) => {
                once(&mut cpusvn, octets::<16>(&entry.value, "CPUSVN")?, "CPUSVN")?
            }
            Some(arc @ 1..=16) => {
                let v = integer(&entry.value, "SGX TCB component SVN")?;
                let v = u8::try_from(v)
                    .map_err(|_| Error::malformed(WHAT, "SGX TCB component SVN > 255"))?;
                let slot = usize::try_from(arc - 1)
                    .ok()
                    .and_then(|i| comps.get_mut(i))
                    .ok_or_else(|| Error::malformed(WHAT, "TCB component index"))?;
                once(slot, v, "SGX TCB component SVN")?;
            }
            _ => {
                return Err(Error::malformed(
                    WHAT,
                    format!("unknown TCB entry {}", entry.id),
                ))
            }
        }
    }
    let mut out = [0u8; 16];
    for (o, c) in out.iter_mut().zip(comps) {
        *o = c.ok_or_else(|| Error::malformed(WHAT, "an SGX TCB component SVN is missing"))?;
    }
    Ok((
        out,
        pcesvn.ok_or_else(|| Error::malformed(WHAT, "PCESVN is missing"))?,
        cpusvn.ok_or_else(|| Error::malformed(WHAT, "CPUSVN is missing"))?,
    ))
}

/// Parses the SGX extension of a PCK certificate.
pub fn parse_sgx_extension(cert: &Cert) -> Result<SgxExtension, Error> {
    let value = cert
        .extension(&OID_SGX_EXTENSION)
        .ok_or_else(|| Error::malformed(WHAT, "the PCK certificate has no SGX extension"))?;
    let entries = Vec::<Entry<'_>>::from_der(value).map_err(|e| Error::malformed(WHAT, e))?;
    let (mut ppid, mut tcb, mut pce_id, mut fmspc, mut sgx_type) = (None, None, None, None, None);
    for entry in &entries {
        match entry.id {
            id if id == OID_PPID => once(&mut ppid, octets::<16>(&entry.value, "PPID")?, "PPID")?,
            id if id == OID_TCB => once(&mut tcb, parse_tcb(&entry.value)?, "TCB")?,
            id if id == OID_PCE_ID => {
                once(&mut pce_id, octets::<2>(&entry.value, "PCE-ID")?, "PCE-ID")?
            }
            id if id == OID_FMSPC => {
                once(&mut fmspc, octets::<6>(&entry.value, "FMSPC")?, "FMSPC")?
            }
            id if id == OID_SGX_TYPE => {
                // ENUMERATED (tag 10) whose contents are one small integer byte.
                let ty = match (der::Tagged::tag(&entry.value), entry.value.value()) {
                    (der::Tag::Enumerated, [v]) => *v,
                    _ => {
                        return Err(Error::malformed(
                            WHAT,
                            "SGX type is not a one-byte ENUMERATED",
                        ))
                    }
                };
                once(&mut sgx_type, ty, "SGX type")?;
            }
            // Platform instance ID and configuration (PCKs issued by the Platform CA): not used.
            _ => {}
        }
    }
    let (sgx_tcb_components, pcesvn, cpusvn) =
        tcb.ok_or_else(|| Error::malformed(WHAT, "TCB is missing"))?;
    let _ = ppid.ok_or_else(|| Error::malformed(WHAT, "PPID is missing"))?;
    Ok(SgxExtension {
        sgx_tcb_components,
        pcesvn,
        cpusvn,
        pce_id: pce_id.ok_or_else(|| Error::malformed(WHAT, "PCE-ID is missing"))?,
        fmspc: fmspc.ok_or_else(|| Error::malformed(WHAT, "FMSPC is missing"))?,
        sgx_type: sgx_type.ok_or_else(|| Error::malformed(WHAT, "SGX type is missing"))?,
    })
}

/// The subject common name of a certificate.
pub fn common_name(cert: &Cert) -> Option<String> {
    cert.parsed()
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == rfc4519::CN)
        .and_then(|atv| std::str::from_utf8(atv.value.value()).ok())
        .map(str::to_owned)
}

/// Checks that a certificate's common name is one of `allowed`.
pub fn require_cn(cert: &Cert, role: &str, allowed: &[&str]) -> Result<(), Error> {
    let cn = common_name(cert).unwrap_or_default();
    if !allowed.contains(&cn.as_str()) {
        return Err(Error::Certificate {
            what: cert.subject().to_owned(),
            reason: format!("common name {cn:?} is not that of a {role} ({allowed:?})"),
        });
    }
    Ok(())
}

/// Revocation lists whose signatures and windows were verified with the collateral.
#[derive(Debug, Clone, Copy)]
pub struct Crls<'a> {
    /// The Intel SGX Root CA's CRL: covers the intermediate CAs.
    pub root: &'a Crl,
    /// The PCK CRL of the Platform or Processor CA: covers PCK certificates.
    pub pck: &'a Crl,
    /// `thisUpdate..nextUpdate` of both, intersected.
    pub window: (UnixTime, UnixTime),
}

/// A PCK chain verified to a pinned root (and, with collateral, checked against the CRLs).
#[derive(Debug)]
pub struct VerifiedPck {
    /// The path from the PCK to the anchor.
    pub(crate) path: VerifiedPath,
    /// The PCK leaf (its P-256 key signs the QE report).
    pub(crate) pck: Cert,
    /// Its SGX extension.
    pub(crate) ext: SgxExtension,
    /// The PCK's issuer name (RFC 4514), for the claims.
    pub(crate) issuer: String,
    /// Whether the CRLs were checked.
    pub(crate) revocation_checked: bool,
    /// The window in which this result holds.
    pub(crate) window: (UnixTime, UnixTime),
}

/// Verifies the PEM PCK chain from the quote at `time`.
///
/// (a) parse the PEM chain; (b) [`crate::path::verify_path`] from the first certificate, using the
/// others only as untrusted intermediates (the root the quote carries is ignored unless it is
/// pinned); (c) the path is exactly PCK → PCK Platform/Processor CA → pinned root, with the
/// expected common names and a P-256 PCK key; (d) with CRLs: the root CA CRL does not list
/// the intermediate and the PCK CRL, issued by the PCK's issuer, does not list the PCK;
/// (e) parse the SGX extension.
pub fn verify(
    pem: &[u8],
    anchors: &[Arc<TrustAnchor>],
    crls: Option<Crls<'_>>,
    time: UnixTime,
) -> Result<VerifiedPck, Error> {
    verify_memo(pem, anchors, crls, time, &mut path::memo_for(anchors))
}

/// [`verify`] with the verification call's [`Memo`] (certificates and signature links the
/// collateral's chains already parsed and verified in this call are not redone).
pub(crate) fn verify_memo(
    pem: &[u8],
    anchors: &[Arc<TrustAnchor>],
    crls: Option<Crls<'_>>,
    time: UnixTime,
    memo: &mut Memo,
) -> Result<VerifiedPck, Error> {
    // (a)
    let certs = memo.certificates(pem, "PCK certificate chain")?;
    let (leaf, pool) = certs
        .split_first()
        .ok_or_else(|| Error::malformed("PCK certificate chain", "no certificate"))?;
    // (b)
    let path = path::verify_path_memo(leaf, pool, anchors, time, memo)?;
    // (c)
    let [pck, ca] = path.path.as_slice() else {
        return Err(Error::Certificate {
            what: leaf.subject().to_owned(),
            reason: format!(
                "the PCK must chain to the root through exactly one CA, found {} certificates below the root",
                path.path.len()
            ),
        });
    };
    require_cn(pck, "PCK certificate", &[PCK_CN])?;
    require_cn(ca, "PCK issuing CA", &PCK_CA_CNS)?;
    if !pck.is_p256() {
        return Err(Error::Certificate {
            what: pck.subject().to_owned(),
            reason: "the PCK key is not an ECDSA P-256 key".into(),
        });
    }
    // (d)
    let mut window = (path.not_before, path.not_after);
    if let Some(crls) = crls {
        if !crls.pck.is_issuer_name_of(ca) {
            return Err(Error::mismatch(
                "PCK CRL issuer",
                ca.subject(),
                crls.pck.issuer(),
            ));
        }
        crls.root.check_not_revoked(ca)?;
        crls.pck.check_not_revoked(pck)?;
        window = (window.0.max(crls.window.0), window.1.min(crls.window.1));
    }
    // (e)
    let ext = parse_sgx_extension(pck)?;
    Ok(VerifiedPck {
        pck: pck.clone(),
        ext,
        issuer: pck.issuer(),
        revocation_checked: crls.is_some(),
        window,
        path,
    })
}
