//! Sealing keys bound to the launch, as SEV-SNP's MSG_KEY_REQ derived key is bound to the
//! chip, the measurement and the guest policy.
//!
//! `key = HKDF-SHA256(salt = "kiln-tee sealing key v1", IKM = chip sealing secret,
//! info = platform || len || measurement || policy || len || context)`, with the lengths as
//! little-endian u32 and the policy as a little-endian u64. Each input is length-delimited,
//! so no two different launches share an `info`: a different measurement, chip (secret),
//! guest policy or context cannot derive the same key.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::error::TeeError;
use crate::measurement::Measurement;

/// Derives the sealing key of a launch.
pub fn derive_sealing_key(
    chip_secret: &[u8; 32],
    measurement: &Measurement,
    policy: u64,
    context: &[u8],
) -> Result<[u8; 32], TeeError> {
    let len = |n: usize| {
        u32::try_from(n)
            .map(u32::to_le_bytes)
            .map_err(|_| TeeError::InvalidRequest {
                field: "sealing context",
                reason: format!("{n} bytes is too long"),
            })
    };
    let m = measurement.canonical_bytes();
    let mut info = Vec::with_capacity(32 + m.len() + context.len());
    info.extend_from_slice(measurement.platform().as_str().as_bytes());
    info.extend_from_slice(&len(m.len())?);
    info.extend_from_slice(&m);
    info.extend_from_slice(&policy.to_le_bytes());
    info.extend_from_slice(&len(context.len())?);
    info.extend_from_slice(context);
    let hk = Hkdf::<Sha256>::new(Some(b"kiln-tee sealing key v1"), chip_secret);
    let mut key = [0u8; 32];
    hk.expand(&info, &mut key)
        .map_err(|e| TeeError::crypto("sealing key", e))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{process_measurement, Platform};

    #[test]
    fn every_input_separates_keys() {
        let m = process_measurement(Platform::SevSnp, b"bin", b"");
        let k = derive_sealing_key(&[1; 32], &m, 0x30000, b"ctx").unwrap();
        assert_eq!(
            k,
            derive_sealing_key(&[1; 32], &m, 0x30000, b"ctx").unwrap()
        );
        assert_ne!(
            k,
            derive_sealing_key(&[2; 32], &m, 0x30000, b"ctx").unwrap()
        );
        assert_ne!(
            k,
            derive_sealing_key(&[1; 32], &m, 0x30001, b"ctx").unwrap()
        );
        assert_ne!(
            k,
            derive_sealing_key(&[1; 32], &m, 0x30000, b"ctx2").unwrap()
        );
        let other = process_measurement(Platform::SevSnp, b"bin2", b"");
        assert_ne!(
            k,
            derive_sealing_key(&[1; 32], &other, 0x30000, b"ctx").unwrap()
        );
    }
}
