//! AWS Nitro Enclaves attestation documents: a COSE_Sign1 (ES384) whose payload carries the
//! PCRs, the signing (leaf) certificate and the CA bundle up to the AWS Nitro Enclaves Root G1.
//!
//! Follows AWS's "Verifying the root of trust" and the `AttestationDoc` of
//! aws-nitro-enclaves-nsm-api. The COSE structure is in [`cose`], the payload in [`doc`] (its
//! module documentation lists the field rules).

pub mod cose;
pub mod doc;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED;

use crate::anchors::{AnchorOrigin, TrustAnchor, TrustAnchors};
use crate::cache::Cache;
use crate::cache::{self, Entry};
use crate::claims::{AnchorClaim, ClaimsOf, TcbClaims, TcbStatus};
use crate::cursor::all_zero;
use crate::error::Error;
use crate::hex::Hex;
use crate::path::{self, VerifiedPath};
use crate::pki::{self, Cert};
use crate::time::UnixTime;
use crate::Evidence;
use kiln_provenance::Platform;

/// Length of a raw ES384 signature (`r || s`, 48 bytes each).
pub const ES384_SIGNATURE_LEN: usize = 96;

/// Cache domain of verified leaf + cabundle paths.
const CACHE_DOMAIN: &str = "nitro-path";

/// Every field of a verified Nitro attestation document.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NitroDetails {
    /// The enclave's module id (for example `i-0abc...-enc0123...`).
    pub module_id: String,
    /// The PCR digest algorithm (`SHA384`).
    pub digest: String,
    /// When the NSM produced the document, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// PCR values by index, as the document gives them.
    pub pcrs: BTreeMap<u16, Hex>,
    /// The leaf (signing) certificate, DER.
    pub certificate: Hex,
    /// Number of certificates in the CA bundle (the root copy included).
    pub cabundle_len: usize,
    /// `public_key`: `None` when absent or null, `Some` (possibly empty) for a byte string.
    pub public_key: Option<Hex>,
    /// `user_data`, with the same convention.
    pub user_data: Option<Hex>,
    /// `nonce`, with the same convention.
    pub nonce: Option<Hex>,
    /// Debug mode: PCR0, PCR1 and PCR2 are all zero (an absent one counts as zero).
    pub debug: bool,
    /// Whether the COSE_Sign1 carried CBOR tag 18.
    pub tagged: bool,
}

/// What a verified path leaves for later documents signed under the same leaf: the leaf's key
/// and the anchor the path ended in.
#[derive(Debug, Clone)]
struct VerifiedLeaf {
    /// SEC1 point of the leaf's P-384 key.
    key: Vec<u8>,
    /// The anchor.
    anchor: Arc<TrustAnchor>,
}

/// A verified leaf in the cache, with the exact certificate and CA bundle it was verified
/// from (the key is a [`cache::sampled_key`]: a hit counts only for identical bytes).
#[derive(Debug)]
struct CachedLeaf {
    certificate: Vec<u8>,
    cabundle: Vec<Vec<u8>>,
    leaf: VerifiedLeaf,
}

/// A path verified cold, to be cached once the whole document has verified.
#[derive(Debug)]
struct Fresh {
    key: [u8; 32],
    not_before: UnixTime,
    not_after: UnixTime,
}

/// Verifies a Nitro attestation document at `time`.
///
/// 1. Parse the COSE_Sign1, tagged (18) or not, with nothing after it; the protected header
///    must give `alg` ES384 (-35) and no `crit` ([`cose::parse`]).
/// 2. Parse the payload map (definite or indefinite lengths; no duplicate or unknown keys;
///    field rules in [`doc`]).
/// 3. Check the signature's shape: raw `r || s`, 96 bytes.
/// 4. Verify the certificate path, or take it from the verifier's cache when the same leaf and
///    cabundle were verified before and `time` is inside the path's validity window:
///    - 4a. parse the leaf and every cabundle certificate;
///    - 4b. build the path leaf ← cabundle ← pinned root with [`crate::path::verify_path`] (every
///      certificate, the root included, valid at `time`; only a root of
///      `TrustAnchors::roots_for(Nitro)` ends the path: `cabundle[0]`, the root copy, is
///      never trusted for being there);
///    - 4c. the path must use the cabundle in its order (leaf ← cabundle\[n-1\] ← … ←
///      cabundle\[1\]); only `cabundle[0]` may be left unused;
///    - 4d. the leaf must not itself be an anchor or a CA, and its key must be P-384.
/// 5. Verify the ES384 signature with the leaf key over the `Sig_structure`
///    `["Signature1", protected, h'', payload]` built from the bytes as received. High-S
///    signatures are accepted (AWS-LC does not enforce low-S; many real documents have one).
/// 6. If the path was verified cold, cache the leaf key and anchor for the window in which
///    every certificate of the path is valid. Only a document that verified completely adds
///    to the cache; nothing about a failure is remembered.
/// 7. Map the document to the claims ([`ClaimsOf`] with [`NitroDetails`]); debug mode is PCR0, PCR1 and PCR2 all zero.
///
/// The SEV-SNP and TDX inputs of [`Evidence`] (`vek`, `chain`, `collateral`) play no part:
/// a Nitro document carries its own chain.
pub fn verify(
    trust: &TrustAnchors,
    cache: &Cache,
    evidence: &Evidence<'_>,
    time: UnixTime,
) -> Result<ClaimsOf<NitroDetails>, Error> {
    // 1.
    let sign1 = cose::parse(evidence.bytes)?;
    // 2.
    let doc = doc::parse(&sign1.payload)?;
    // 3.
    if sign1.signature.len() != ES384_SIGNATURE_LEN {
        return Err(Error::mismatch(
            "ES384 signature length",
            ES384_SIGNATURE_LEN,
            sign1.signature.len(),
        ));
    }
    // 4.
    let (leaf, fresh) = verified_leaf(trust, cache, &doc, time)?;
    // 5.
    let message = cose::sig_structure(&sign1.protected, &sign1.payload);
    if !pki::verify_ecdsa_fixed(
        &ECDSA_P384_SHA384_FIXED,
        &leaf.key,
        &message,
        &sign1.signature,
    ) {
        return Err(Error::EvidenceSignature {
            what: "Nitro COSE_Sign1 (ES384)",
        });
    }
    // 6.
    if let Some(fresh) = fresh {
        cache.insert(
            fresh.key,
            Entry {
                not_before: fresh.not_before,
                not_after: fresh.not_after,
                value: CachedLeaf {
                    certificate: doc.certificate.clone(),
                    cabundle: doc.cabundle.clone(),
                    leaf: leaf.clone(),
                },
            },
        );
    }
    // 7.
    Ok(claims(doc, sign1.tagged, &leaf.anchor, time))
}

/// Step 4: the leaf key and anchor, from the cache or from a full path verification (then
/// with what step 6 caches).
fn verified_leaf(
    trust: &TrustAnchors,
    cache: &Cache,
    doc: &doc::AttestationDoc,
    time: UnixTime,
) -> Result<(VerifiedLeaf, Option<Fresh>), Error> {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(doc.cabundle.len().saturating_add(1));
    parts.push(&doc.certificate);
    parts.extend(doc.cabundle.iter().map(Vec::as_slice));
    let key = cache::sampled_key(CACHE_DOMAIN, &parts);
    if let Some(hit) = cache.get::<CachedLeaf>(&key, time) {
        if hit.value.certificate == doc.certificate && hit.value.cabundle == doc.cabundle {
            return Ok((hit.value.leaf.clone(), None));
        }
    }
    // 4a. A certificate whose DER is identical to a pinned anchor's (the root copy,
    // `cabundle[0]`) is the anchor's parsed certificate (not parsed again; still only a
    // pinned anchor ends the path, in 4b).
    let anchors = trust.roots_for(Platform::Nitro);
    let mut memo = path::memo_for(&anchors);
    let leaf = memo.cert(&doc.certificate)?;
    let bundle = doc
        .cabundle
        .iter()
        .map(|der| memo.cert(der))
        .collect::<Result<Vec<_>, _>>()?;
    // 4b.
    let path = path::verify_path_memo(&leaf, &bundle, &anchors, time, &mut memo)?;
    // 4c.
    check_bundle_order(&path, &bundle)?;
    // 4d.
    if path.path.is_empty() || leaf.is_ca() {
        return Err(Error::Certificate {
            what: leaf.subject().to_owned(),
            reason: "a Nitro signing certificate must be an end-entity certificate, not a CA or trust anchor".into(),
        });
    }
    if !leaf.is_p384() {
        return Err(Error::Certificate {
            what: leaf.subject().to_owned(),
            reason: format!(
                "the Nitro signing key must be EC P-384, found {}",
                leaf.ec_curve()
                    .map_or_else(|| "a non-EC key".to_owned(), |c| format!("curve {c}"))
            ),
        });
    }
    let verified = VerifiedLeaf {
        key: leaf.public_key().to_vec(),
        anchor: Arc::clone(&path.anchor),
    };
    let fresh = Fresh {
        key,
        not_before: path.not_before,
        not_after: path.not_after,
    };
    Ok((verified, Some(fresh)))
}

/// Step 4c: the verified path, above the leaf, is `cabundle[n-1], …, cabundle[k]` with
/// `k` 0 or 1 (only the root copy may be unused).
fn check_bundle_order(path: &VerifiedPath, bundle: &[Cert]) -> Result<(), Error> {
    let above_leaf = path.path.get(1..).unwrap_or_default();
    let unused = bundle.len().checked_sub(above_leaf.len());
    let in_order = matches!(unused, Some(0 | 1))
        && above_leaf
            .iter()
            .zip(bundle.iter().rev())
            .all(|(used, given)| used.sha256() == given.sha256());
    if in_order {
        return Ok(());
    }
    let found = above_leaf
        .iter()
        .map(|c| {
            bundle
                .iter()
                .position(|b| b.sha256() == c.sha256())
                .map_or_else(|| "?".to_owned(), |i| format!("cabundle[{i}]"))
        })
        .collect::<Vec<_>>();
    Err(Error::mismatch(
        "cabundle order",
        format!(
            "leaf <- cabundle[{}] <- ... <- cabundle[1] <- pinned root",
            bundle.len().saturating_sub(1)
        ),
        format!("leaf <- {} <- {}", found.join(" <- "), path.anchor.name),
    ))
}

/// Step 6.
fn claims(
    doc: doc::AttestationDoc,
    tagged: bool,
    anchor: &TrustAnchor,
    t: UnixTime,
) -> ClaimsOf<NitroDetails> {
    let zero_or_absent = |i: u16| doc.pcrs.get(&i).is_none_or(|p| all_zero(p));
    let debug = (0..3).all(zero_or_absent);
    let pcrs: BTreeMap<u16, Hex> = doc
        .pcrs
        .into_iter()
        .map(|(i, value)| (i, Hex(value)))
        .collect();
    let measurements = pcrs
        .iter()
        .map(|(i, value)| (format!("pcr{i}"), value.clone()))
        .collect();
    let public_key = doc.public_key.map(Hex);
    let user_data = doc.user_data.map(Hex);
    let nonce = doc.nonce.map(Hex);
    ClaimsOf {
        platform: Platform::Nitro,
        simulated: anchor.origin == AnchorOrigin::Simulated,
        product: "Nitro".to_owned(),
        measurements,
        report_data: None,
        user_data: user_data.clone(),
        public_key: public_key.clone(),
        nonce: nonce.clone(),
        tcb: TcbClaims {
            status: TcbStatus::NotApplicable,
            versions: BTreeMap::new(),
            advisory_ids: Vec::new(),
        },
        debug,
        chip_id: None,
        instance_id: Some(doc.module_id.clone()),
        evidence_time: Some(UnixTime::from_millis(doc.timestamp_ms)),
        verified_at: t,
        anchor: AnchorClaim {
            name: anchor.name.clone(),
            sha256: Hex::from(anchor.cert.sha256()),
            origin: anchor.origin,
        },
        details: NitroDetails {
            module_id: doc.module_id,
            digest: doc.digest,
            timestamp_ms: doc.timestamp_ms,
            pcrs,
            certificate: Hex(doc.certificate),
            cabundle_len: doc.cabundle.len(),
            public_key,
            user_data,
            nonce,
            debug,
            tagged,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::anchors::TrustAnchors;

    fn doc_with(pcrs: &[(u16, u8)]) -> doc::AttestationDoc {
        doc::AttestationDoc {
            module_id: "i-1-enc2".into(),
            digest: "SHA384".into(),
            timestamp_ms: 1_700_000_000_999,
            pcrs: pcrs.iter().map(|(i, fill)| (*i, vec![*fill; 48])).collect(),
            certificate: vec![0x30],
            cabundle: vec![vec![0x30], vec![0x30]],
            public_key: Some(Vec::new()),
            user_data: None,
            nonce: Some(vec![1, 2]),
        }
    }

    #[test]
    fn debug_is_pcr0_to_pcr2_all_zero() {
        let anchor = TrustAnchors::vendor().roots_for(Platform::Nitro).remove(0);
        let t = UnixTime::from_secs(1_700_000_100);
        let debug = |pcrs: &[(u16, u8)]| claims(doc_with(pcrs), false, &anchor, t).debug;
        assert!(debug(&[(0, 0), (1, 0), (2, 0), (3, 7)]));
        assert!(!debug(&[(0, 0), (1, 0), (2, 9)]));
        assert!(!debug(&[(0, 0), (1, 9), (2, 0)]));
        assert!(!debug(&[(0, 9), (1, 0), (2, 0)]));
        // An absent PCR0..2 cannot show a production image: it counts as zero.
        assert!(debug(&[(0, 0), (2, 0)]));
        assert!(debug(&[(8, 5)]));
    }

    #[test]
    fn claims_carry_every_field() {
        let anchor = TrustAnchors::vendor().roots_for(Platform::Nitro).remove(0);
        let t = UnixTime::from_secs(1_700_000_100);
        let c = claims(
            doc_with(&[(0, 1), (1, 2), (2, 3), (15, 0)]),
            true,
            &anchor,
            t,
        );
        assert_eq!(
            c.measurements.keys().collect::<Vec<_>>(),
            ["pcr0", "pcr1", "pcr15", "pcr2"]
        );
        assert_eq!(c.measurements["pcr15"], Hex(vec![0; 48]));
        assert_eq!(c.public_key, Some(Hex(Vec::new())));
        assert_eq!((c.user_data, c.nonce), (None, Some(Hex(vec![1, 2]))));
        assert_eq!(c.instance_id.as_deref(), Some("i-1-enc2"));
        assert_eq!(c.evidence_time, Some(UnixTime::from_secs(1_700_000_000)));
        assert_eq!((c.verified_at, c.simulated, c.debug), (t, false, false));
        assert_eq!(c.anchor.sha256, Hex::from(anchor.cert.sha256()));
        let d = c.details;
        assert_eq!(
            (d.cabundle_len, d.tagged, d.timestamp_ms),
            (2, true, 1_700_000_000_999)
        );
        assert_eq!(d.pcrs[&15], Hex(vec![0; 48]));
    }
}
