//! Certificate paths from a leaf to a pinned anchor: the chain builder, above the anchors and
//! the certificate layer ([`crate::pki`]), within a work budget in the manner of webpki.

use std::sync::Arc;

use crate::anchors::{AnchorOrigin, TrustAnchor, TrustAnchors};
use crate::error::Error;
use crate::pki::{Cert, Memo};
use crate::time::UnixTime;

/// Longest chain any platform uses (Nitro: root, 3 intermediates, leaf) plus margin.
pub const MAX_CHAIN_DEPTH: usize = 8;

/// Signature checks one path search may make. A path of [`MAX_CHAIN_DEPTH`] links costs that
/// many; the rest is room for candidates that fail (an issuer name shared by several pool
/// certificates). A pool crafted to make the search try every certificate at every step is
/// refused once this is spent, as webpki does with its signature budget.
pub const MAX_SIGNATURE_CHECKS: usize = 32;

/// Certificates the search considers as issuers, over all its steps (webpki's "build chain
/// calls" budget). A pool of many certificates with the same subject ends here.
pub const MAX_CANDIDATES: usize = 64;

/// The work budget of one path search.
#[derive(Debug)]
struct Budget {
    signatures: usize,
    candidates: usize,
}

impl Budget {
    fn new() -> Self {
        Self {
            signatures: MAX_SIGNATURE_CHECKS,
            candidates: MAX_CANDIDATES,
        }
    }

    fn spend_signature(&mut self, leaf: &Cert) -> Result<(), Error> {
        self.signatures = self.signatures.checked_sub(1).ok_or_else(|| {
            over_budget(
                leaf,
                format!("the path search needed more than {MAX_SIGNATURE_CHECKS} signature checks"),
            )
        })?;
        Ok(())
    }

    fn spend_candidate(&mut self, leaf: &Cert) -> Result<(), Error> {
        self.candidates = self.candidates.checked_sub(1).ok_or_else(|| {
            over_budget(
                leaf,
                format!("the path search considered more than {MAX_CANDIDATES} candidate issuers"),
            )
        })?;
        Ok(())
    }
}

fn over_budget(leaf: &Cert, reason: String) -> Error {
    Error::Certificate {
        what: leaf.subject().to_owned(),
        reason,
    }
}

/// The result of a chain verification: which anchor the leaf chains to, and the window in
/// which every certificate on the path is valid. Only [`verify_path`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedPath {
    pub(crate) anchor: Arc<TrustAnchor>,
    pub(crate) path: Vec<Cert>,
    pub(crate) not_before: UnixTime,
    pub(crate) not_after: UnixTime,
}

impl VerifiedPath {
    /// The anchor the chain ends in.
    pub fn anchor(&self) -> &Arc<TrustAnchor> {
        &self.anchor
    }

    /// The certificates from the leaf up to (excluding) the anchor.
    pub fn certificates(&self) -> &[Cert] {
        &self.path
    }

    /// Latest `not_before` and earliest `not_after` on the path, the anchor included.
    pub fn window(&self) -> (UnixTime, UnixTime) {
        (self.not_before, self.not_after)
    }

    /// Whether the anchor that ended the path is simulated.
    pub fn is_simulated(&self) -> bool {
        self.anchor.origin == AnchorOrigin::Simulated
    }
}

/// Builds and verifies a path from `leaf` to one of `anchors`, using `pool` for
/// intermediates. Every certificate, the anchor included, must be valid at `time`.
///
/// Steps: (1) the current certificate is valid at `time`; (2) if it is itself a pinned
/// anchor (by DER digest) the path ends; (3) if an anchor's subject is its issuer, the
/// anchor's key must verify it and the path ends; (4) otherwise its issuer is taken from the
/// pool (never trusted, only verified), must be a CA and must verify it; a self-issued
/// certificate that is not pinned ends the search as untrusted (or simulated). Every
/// signature check and every candidate issuer is paid from a [`MAX_SIGNATURE_CHECKS`] /
/// [`MAX_CANDIDATES`] budget.
pub fn verify_path(
    leaf: &Cert,
    pool: &[Cert],
    anchors: &[Arc<TrustAnchor>],
    time: UnixTime,
) -> Result<VerifiedPath, Error> {
    verify_path_memo(leaf, pool, anchors, time, &mut memo_for(anchors))
}

/// A per-call [`Memo`] that knows the anchors' parsed certificates, so an input that repeats
/// an anchor (Nitro's `cabundle[0]`, the Intel root in TDX collateral) is not parsed again.
pub(crate) fn memo_for(anchors: &[Arc<TrustAnchor>]) -> Memo {
    Memo::knowing(anchors.iter().map(|a| a.cert.clone()))
}

/// [`verify_path`] with a per-call [`Memo`]: a signature link already verified in this call
/// is not verified again (every other step runs).
pub(crate) fn verify_path_memo(
    leaf: &Cert,
    pool: &[Cert],
    anchors: &[Arc<TrustAnchor>],
    time: UnixTime,
    memo: &mut Memo,
) -> Result<VerifiedPath, Error> {
    let mut budget = Budget::new();
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
            budget.spend_signature(leaf)?;
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
            return Err(TrustAnchors::refuse_unpinned_root(&current));
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
            budget.spend_candidate(leaf)?;
            if candidate.is_self_issued()
                && !anchors
                    .iter()
                    .any(|a| a.cert.sha256() == candidate.sha256())
            {
                first_error.get_or_insert_with(|| TrustAnchors::refuse_unpinned_root(candidate));
                continue;
            }
            budget.spend_signature(leaf)?;
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
            (None, None) => return Err(TrustAnchors::refuse_unknown_issuer(&current, anchors)),
        };
        path.push(current);
        current = issuer.clone();
    }
    Err(Error::Certificate {
        what: leaf.subject().to_owned(),
        reason: format!("chain longer than {MAX_CHAIN_DEPTH} certificates"),
    })
}
