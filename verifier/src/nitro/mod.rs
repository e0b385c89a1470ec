//! Placeholder being replaced by the platform implementation.

use crate::claims::Claims;
use crate::error::Error;
use crate::time::UnixTime;
use crate::{Evidence, Verifier};

/// Platform-specific claims.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NitroDetails {}

/// Verifies evidence of this platform.
pub fn verify(_v: &Verifier, _e: &Evidence<'_>, _t: UnixTime) -> Result<Claims, Error> {
    Err(Error::Unsupported { what: "platform", found: "Nitro".into() })
}
