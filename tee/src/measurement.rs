//! Launch measurements, shaped as each platform reports them, and the launcher's computation
//! of the measurement of a process-mode enclave.
//!
//! The launcher measures what it launches and hands the measurement to the TEE; the guest
//! cannot choose it. Guest VM mode (kernel, initrd, command line, firmware, vCPUs, as the
//! hardware computes it) is added with the QEMU backend.

use sha2::{Digest, Sha384};

use crate::Platform;

/// A measurement register of 48 bytes (SHA-384).
pub type Register = [u8; 48];

/// The measurement of a launched TEE, as its platform reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Measurement {
    /// SEV-SNP: the launch digest (report offset 0x90).
    SevSnp {
        /// MEASUREMENT.
        measurement: Register,
    },
    /// TDX: the build-time measurement and the four run-time registers.
    Tdx {
        /// MRTD.
        mrtd: Register,
        /// RTMR0..RTMR3.
        rtmr: [Register; 4],
    },
    /// Nitro: the platform configuration registers the image defines.
    Nitro {
        /// PCR0 (enclave image), PCR1 (kernel and boot ramdisk), PCR2 (application).
        pcr: [Register; 3],
    },
}

impl Measurement {
    /// The platform whose shape this is.
    pub fn platform(&self) -> Platform {
        match self {
            Self::SevSnp { .. } => Platform::SevSnp,
            Self::Tdx { .. } => Platform::Tdx,
            Self::Nitro { .. } => Platform::Nitro,
        }
    }

    /// The registers by the names `kiln_verifier` claims use (`measurement`; `mrtd`,
    /// `rtmr0`..`rtmr3`; `pcr0`..`pcr2`).
    pub fn named(&self) -> Vec<(String, Register)> {
        match self {
            Self::SevSnp { measurement } => vec![("measurement".to_owned(), *measurement)],
            Self::Tdx { mrtd, rtmr } => {
                let mut out = vec![("mrtd".to_owned(), *mrtd)];
                out.extend(
                    rtmr.iter()
                        .enumerate()
                        .map(|(i, r)| (format!("rtmr{i}"), *r)),
                );
                out
            }
            Self::Nitro { pcr } => pcr
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("pcr{i}"), *r))
                .collect(),
        }
    }

    /// An unambiguous encoding: a platform tag byte, then the registers in order.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let (tag, registers): (u8, Vec<&Register>) = match self {
            Self::SevSnp { measurement } => (1, vec![measurement]),
            Self::Tdx { mrtd, rtmr } => (2, std::iter::once(mrtd).chain(rtmr.iter()).collect()),
            Self::Nitro { pcr } => (3, pcr.iter().collect()),
        };
        let mut out = vec![tag];
        for r in registers {
            out.extend_from_slice(r);
        }
        out
    }
}

/// `SHA-384(register || digest)`: how TDX RTMRs and Nitro PCRs are extended.
pub fn extend(register: &Register, digest: &Register) -> Register {
    let mut h = Sha384::new();
    h.update(register);
    h.update(digest);
    h.finalize().into()
}

fn sha384(parts: &[&[u8]]) -> Register {
    let mut h = Sha384::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The measurement of a process-mode enclave: the launcher computes it over the enclave
/// binary and the launch parameters (its canonical encoding of arguments, environment and
/// limits), in the platform's shape.
///
/// With `B = SHA-384(binary)` and `P = SHA-384(params)`. On every platform the primary
/// register covers the whole launch (binary and parameters), as kiln's simulated VM
/// measurement does; only real TDX splits it (MRTD: firmware; RTMR0–2: the rest).
///
///
/// | platform | register    | value                                              |
/// |----------|-------------|----------------------------------------------------|
/// | SEV-SNP  | MEASUREMENT | `SHA-384("kiln-sim process v1" \|\| B \|\| P)`     |
/// | TDX      | MRTD        | `SHA-384("kiln-sim process v2 mrtd" \|\| B \|\| P)` |
/// | TDX      | RTMR0       | `extend(0, P)`; RTMR1..3 stay zero                 |
/// | Nitro    | PCR0        | `extend(0, SHA-384(B \|\| P))` (the whole image)   |
/// | Nitro    | PCR1        | `extend(0, P)`                                     |
/// | Nitro    | PCR2        | `extend(0, B)` (the application)                   |
pub fn process_measurement(platform: Platform, binary: &[u8], params: &[u8]) -> Measurement {
    process_measurement_of_digest(platform, &sha384(&[binary]), params)
}

/// [`process_measurement`] from `B = SHA-384(binary)` computed by the caller (who may need
/// the digest for itself: hashing a large binary once).
pub fn process_measurement_of_digest(
    platform: Platform,
    binary_sha384: &Register,
    params: &[u8],
) -> Measurement {
    let b = *binary_sha384;
    let p = sha384(&[params]);
    let zero = [0u8; 48];
    match platform {
        Platform::SevSnp => Measurement::SevSnp {
            measurement: sha384(&[b"kiln-sim process v1", &b, &p]),
        },
        Platform::Tdx => Measurement::Tdx {
            mrtd: sha384(&[b"kiln-sim process v2 mrtd", &b, &p]),
            rtmr: [extend(&zero, &p), zero, zero, zero],
        },
        Platform::Nitro => Measurement::Nitro {
            pcr: [
                extend(&zero, &sha384(&[&b, &p])),
                extend(&zero, &p),
                extend(&zero, &b),
            ],
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn every_input_changes_the_measurement() {
        for platform in Platform::ALL {
            let m = process_measurement(platform, b"bin", b"params");
            assert_eq!(m.platform(), platform);
            assert_ne!(m, process_measurement(platform, b"bin2", b"params"));
            assert_ne!(m, process_measurement(platform, b"bin", b"params2"));
            assert_eq!(m, process_measurement(platform, b"bin", b"params"));
        }
    }

    #[test]
    fn canonical_bytes_separate_platforms() {
        let snp = process_measurement(Platform::SevSnp, b"a", b"b").canonical_bytes();
        let tdx = process_measurement(Platform::Tdx, b"a", b"b").canonical_bytes();
        let nitro = process_measurement(Platform::Nitro, b"a", b"b").canonical_bytes();
        assert_eq!((snp.len(), tdx.len(), nitro.len()), (49, 241, 145));
        assert_ne!(snp[0], tdx[0]);
        let named = process_measurement(Platform::Tdx, b"a", b"b").named();
        assert_eq!(named[0].0, "mrtd");
        assert_eq!(named[4].0, "rtmr3");
    }
}
