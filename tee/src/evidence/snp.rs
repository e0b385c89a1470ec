//! SEV-SNP ATTESTATION_REPORT encoder (AMD SEV-SNP ABI specification #56860, table
//! "ATTESTATION_REPORT Structure"; versions 3 and 5, 1184 bytes).
//!
//! | offset | bytes | field                                                    |
//! |--------|-------|----------------------------------------------------------|
//! | 0x000  | 4     | VERSION (3 or 5)                                         |
//! | 0x004  | 4     | GUEST_SVN                                                |
//! | 0x008  | 8     | POLICY                                                   |
//! | 0x010  | 16    | FAMILY_ID                                                |
//! | 0x020  | 16    | IMAGE_ID                                                 |
//! | 0x030  | 4     | VMPL                                                     |
//! | 0x034  | 4     | SIGNATURE_ALGO (1: ECDSA P-384 with SHA-384)             |
//! | 0x038  | 8     | CURRENT_TCB                                              |
//! | 0x040  | 8     | PLATFORM_INFO                                            |
//! | 0x048  | 4     | AUTHOR_KEY_EN (bit 0), MASK_CHIP_KEY (1), SIGNING_KEY (4:2: 0 VCEK) |
//! | 0x04C  | 4     | reserved                                                 |
//! | 0x050  | 64    | REPORT_DATA                                              |
//! | 0x090  | 48    | MEASUREMENT                                              |
//! | 0x0C0  | 32    | HOST_DATA                                                |
//! | 0x0E0  | 48    | ID_KEY_DIGEST                                            |
//! | 0x110  | 48    | AUTHOR_KEY_DIGEST                                        |
//! | 0x140  | 32    | REPORT_ID                                                |
//! | 0x160  | 32    | REPORT_ID_MA (all ones: no migration agent)              |
//! | 0x180  | 8     | REPORTED_TCB                                             |
//! | 0x188  | 1+1+1 | CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (v3+)             |
//! | 0x18B  | 21    | reserved                                                 |
//! | 0x1A0  | 64    | CHIP_ID                                                  |
//! | 0x1E0  | 8     | COMMITTED_TCB                                            |
//! | 0x1E8  | 1+1+1 | CURRENT_BUILD, CURRENT_MINOR, CURRENT_MAJOR, then 1 reserved |
//! | 0x1EC  | 1+1+1 | COMMITTED_BUILD, COMMITTED_MINOR, COMMITTED_MAJOR, then 1 reserved |
//! | 0x1F0  | 8     | LAUNCH_TCB                                               |
//! | 0x1F8  | 8     | LAUNCH_MIT_VECTOR (v5)                                   |
//! | 0x200  | 8     | CURRENT_MIT_VECTOR (v5)                                  |
//! | 0x208  | 152   | reserved (v3: 0x1F8..0x2A0, 168 bytes)                   |
//! | 0x2A0  | 512   | SIGNATURE: R (72, little-endian), S (72, little-endian), 368 reserved |
//!
//! The signature covers bytes 0x000..0x2A0.

use p384::ecdsa::signature::Signer as _;
use p384::ecdsa::{Signature, SigningKey};

use super::Buf;
use crate::error::TeeError;
use crate::pki::snp::{SimulatedSnpProduct, SnpProduct, SnpTcb};

/// Length of a report.
pub const REPORT_LEN: usize = 0x4A0;
/// End of the signed bytes.
pub const SIGNED_LEN: usize = 0x2A0;

/// The report format versions the simulator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnpReportVersion {
    /// Version 3 (CPUID fields; SEV-SNP firmware 1.55).
    V3,
    /// Version 5 (mitigation vectors; firmware 1.57).
    V5,
}

impl SnpReportVersion {
    /// The VERSION field.
    pub fn number(self) -> u32 {
        match self {
            Self::V3 => 3,
            Self::V5 => 5,
        }
    }

    /// Parses 3 or 5.
    pub fn from_number(n: u32) -> Option<Self> {
        match n {
            3 => Some(Self::V3),
            5 => Some(Self::V5),
            _ => None,
        }
    }
}

/// The firmware the simulated security processor reports (major, minor, build).
pub const FIRMWARE: (u8, u8, u8) = (1, 57, 12);

/// PLATFORM_INFO: SMT enabled (bit 0), TSME enabled (bit 1).
pub const PLATFORM_INFO: u64 = 0b11;

/// What a report says.
#[derive(Debug, Clone)]
pub struct SnpReportFields {
    /// Format version.
    pub version: SnpReportVersion,
    /// Product (CPUID fields, TCB layout, CHIP_ID shape).
    pub product: SnpProduct,
    /// Guest policy.
    pub policy: u64,
    /// REPORT_DATA.
    pub report_data: [u8; 64],
    /// MEASUREMENT.
    pub measurement: [u8; 48],
    /// HOST_DATA.
    pub host_data: [u8; 32],
    /// REPORT_ID.
    pub report_id: [u8; 32],
    /// CHIP_ID.
    pub chip_id: [u8; 64],
    /// The TCB (current, reported, committed and launch TCB are all this one).
    pub tcb: SnpTcb,
}

/// Encodes and signs a report with the VCEK.
pub fn encode(fields: &SnpReportFields, vcek: &SigningKey) -> Result<Vec<u8>, TeeError> {
    let mut b = Buf::new(REPORT_LEN);
    let tcb = fields.tcb.to_bytes(fields.product);
    let (fam, model, step) = fields.product.cpuid();
    let (major, minor, build) = FIRMWARE;

    b.put(0x000, &fields.version.number().to_le_bytes());
    b.put(0x004, &0u32.to_le_bytes());
    b.put(0x008, &fields.policy.to_le_bytes());
    // FAMILY_ID, IMAGE_ID: zero (no ID block).
    b.put(0x030, &0u32.to_le_bytes());
    b.put(0x034, &1u32.to_le_bytes());
    b.put(0x038, &tcb);
    b.put(0x040, &PLATFORM_INFO.to_le_bytes());
    // KEY_INFO: signed by the VCEK, chip key not masked, no author key.
    b.put(0x048, &0u32.to_le_bytes());
    b.put(0x050, &fields.report_data);
    b.put(0x090, &fields.measurement);
    b.put(0x0C0, &fields.host_data);
    // ID_KEY_DIGEST, AUTHOR_KEY_DIGEST: zero (no ID block).
    b.put(0x140, &fields.report_id);
    b.put(0x160, &[0xff; 32]);
    b.put(0x180, &tcb);
    b.put(0x188, &[fam, model, step]);
    b.put(0x1A0, &fields.chip_id);
    b.put(0x1E0, &tcb);
    b.put(0x1E8, &[build, minor, major]);
    b.put(0x1EC, &[build, minor, major]);
    b.put(0x1F0, &tcb);
    // LAUNCH_MIT_VECTOR, CURRENT_MIT_VECTOR (v5): zero, no mitigations required.

    let signed = b.get(0, SIGNED_LEN)?;
    let sig: Signature = vcek
        .try_sign(signed)
        .map_err(|e| TeeError::crypto("SEV-SNP report signature", e))?;
    let (r, s) = sig.split_bytes();
    let mut r_le = r.to_vec();
    r_le.reverse();
    let mut s_le = s.to_vec();
    s_le.reverse();
    b.put(0x2A0, &r_le);
    b.put(0x2A0 + 72, &s_le);
    b.finish()
}
