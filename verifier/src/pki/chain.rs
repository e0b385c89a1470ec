//! Certificate paths from a leaf to a pinned anchor, within a work budget of depth.

use super::*;

/// Longest chain any platform uses (Nitro: root, 3 intermediates, leaf) plus margin.
pub(super) const MAX_CHAIN_DEPTH: usize = 8;

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

pub(super) fn untrusted_root(root: &Cert) -> Error {
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
