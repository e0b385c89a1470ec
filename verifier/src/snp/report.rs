//! The SEV-SNP `ATTESTATION_REPORT` structure (AMD SEV-SNP ABI specification #56860,
//! "ATTESTATION_REPORT Structure" table, and the "Signature Format" table for ECDSA P-384 with
//! SHA-384): exactly 1184 bytes, parsed field by field through a bounded reader, with every
//! reserved region checked. Parsing establishes no trust: the caller verifies the signature.
//!
//! Report versions: 2 (ABI up to 1.54), 3 (adds CPUID_FAM_ID/MOD_ID/STEP at 188h) and 5 (adds
//! LAUNCH_MIT_VECTOR at 1F8h and CURRENT_MIT_VECTOR at 200h). Version 4 was never defined for
//! reports in the field and is refused like any other version.

use serde::{Serialize, Serializer};

use super::REPORT_LEN;
use crate::cursor::{self, Reader};
use crate::error::Error;

/// Bytes `0..0x2A0` of the report are signed.
pub const SIGNED_LEN: usize = 0x2A0;

/// Name of the structure in errors.
const WHAT: &str = "SEV-SNP report";

/// The versions this verifier accepts.
pub const SUPPORTED_VERSIONS: [u32; 3] = [2, 3, 5];

/// The only SIGNATURE_ALGO defined: 1 = ECDSA P-384 with SHA-384.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Serialises a 64-bit field as `0x`-prefixed hex: JSON numbers lose precision above 2^53.
pub(crate) fn hex_u64<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:#018x}"))
}

/// [`hex_u64`] for optional fields.
pub(crate) fn hex_u64_opt<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => hex_u64(v, s),
        None => s.serialize_none(),
    }
}

/// Guest policy (report offset 08h, the "GUEST_POLICY Structure" table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GuestPolicy {
    /// The 64-bit value.
    #[serde(serialize_with = "hex_u64")]
    pub raw: u64,
    /// Bits 7:0 ABI_MINOR: minimum ABI minor version.
    pub abi_minor: u8,
    /// Bits 15:8 ABI_MAJOR: minimum ABI major version.
    pub abi_major: u8,
    /// Bit 16 SMT: host SMT is allowed.
    pub smt: bool,
    /// Bit 18 MIGRATE_MA: association with a migration agent is allowed.
    pub migrate_ma: bool,
    /// Bit 19 DEBUG: debugging (host access to guest memory) is allowed.
    pub debug: bool,
    /// Bit 20 SINGLE_SOCKET: the guest may only run on one socket.
    pub single_socket: bool,
    /// Bit 21 CXL_ALLOW: CXL may be populated with devices or memory.
    pub cxl_allow: bool,
    /// Bit 22 MEM_AES_256_XTS: AES-256-XTS memory encryption is required.
    pub mem_aes_256_xts: bool,
    /// Bit 23 RAPL_DIS: Running Average Power Limit must be disabled.
    pub rapl_dis: bool,
    /// Bit 24 CIPHERTEXT_HIDING: ciphertext hiding must be enabled.
    pub ciphertext_hiding: bool,
    /// Bit 25 PAGE_SWAP_DISABLE: the guest's pages may not be swapped.
    pub page_swap_disable: bool,
}

/// Whether bit `n` of `v` is set.
fn bit(v: u64, n: u32) -> bool {
    v.checked_shr(n).is_some_and(|x| x & 1 == 1)
}

/// The report offset of the first set bit of `bits` in a little-endian field at `field_offset`.
fn offset_of_first_bit(field_offset: usize, bits: u64) -> usize {
    let byte = usize::try_from(bits.trailing_zeros() / 8).unwrap_or(0);
    field_offset.saturating_add(byte)
}

impl GuestPolicy {
    /// Policy bit 17 is reserved and must be one.
    const MUST_BE_ONE: u64 = 1 << 17;
    /// Bits 63:26 are reserved and must be zero.
    const RESERVED: u64 = !((1 << 26) - 1);

    /// Decodes the policy at offset 08h, checking its reserved bits.
    pub fn decode(raw: u64) -> Result<Self, Error> {
        if raw & Self::RESERVED != 0 {
            return Err(Error::ReservedNotZero {
                what: "SEV-SNP report POLICY (bits 63:26)",
                offset: offset_of_first_bit(0x08, raw & Self::RESERVED),
            });
        }
        if raw & Self::MUST_BE_ONE == 0 {
            return Err(Error::malformed(
                WHAT,
                format!("POLICY {raw:#x}: bit 17 is reserved and must be one"),
            ));
        }
        let [abi_minor, abi_major, ..] = raw.to_le_bytes();
        Ok(Self {
            raw,
            abi_minor,
            abi_major,
            smt: bit(raw, 16),
            migrate_ma: bit(raw, 18),
            debug: bit(raw, 19),
            single_socket: bit(raw, 20),
            cxl_allow: bit(raw, 21),
            mem_aes_256_xts: bit(raw, 22),
            rapl_dis: bit(raw, 23),
            ciphertext_hiding: bit(raw, 24),
            page_swap_disable: bit(raw, 25),
        })
    }
}

/// Platform information (report offset 40h, the "PLATFORM_INFO" field). Later firmware
/// defines further bits, so unknown bits are kept in `raw` and not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlatformInfo {
    /// The 64-bit value.
    #[serde(serialize_with = "hex_u64")]
    pub raw: u64,
    /// Bit 0 SMT_EN: SMT is enabled in the system.
    pub smt_enabled: bool,
    /// Bit 1 TSME_EN: TSME is enabled in the system.
    pub tsme_enabled: bool,
    /// Bit 2 ECC_EN: the platform uses error-correcting memory.
    pub ecc_enabled: bool,
    /// Bit 3 RAPL_DIS: RAPL is disabled.
    pub rapl_disabled: bool,
    /// Bit 4 CIPHERTEXT_HIDING_EN: ciphertext hiding is enabled.
    pub ciphertext_hiding_enabled: bool,
    /// Bit 5 ALIAS_CHECK_COMPLETE: the memory alias check has completed.
    pub alias_check_complete: bool,
}

impl PlatformInfo {
    /// Decodes the field at offset 40h.
    pub fn decode(raw: u64) -> Self {
        Self {
            raw,
            smt_enabled: bit(raw, 0),
            tsme_enabled: bit(raw, 1),
            ecc_enabled: bit(raw, 2),
            rapl_disabled: bit(raw, 3),
            ciphertext_hiding_enabled: bit(raw, 4),
            alias_check_complete: bit(raw, 5),
        }
    }
}

/// The key that signed a report (KEY_INFO bits 4:2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningKey {
    /// 0: the Versioned Chip Endorsement Key, certified by the ASK.
    Vcek,
    /// 1: the Versioned Loaded Endorsement Key, certified by the ASVK.
    Vlek,
}

impl SigningKey {
    /// `VCEK` or `VLEK`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vcek => "VCEK",
            Self::Vlek => "VLEK",
        }
    }
}

/// KEY_INFO (report offset 48h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// The 32-bit value.
    pub raw: u32,
    /// Bit 0 AUTHOR_KEY_EN: the digest of the author key is in AUTHOR_KEY_DIGEST.
    pub author_key_en: bool,
    /// Bit 1 MASK_CHIP_KEY: the platform was configured not to use the VCEK.
    pub mask_chip_key: bool,
    /// Bits 4:2 SIGNING_KEY: 0 = VCEK, 1 = VLEK (7 = none is refused, 2-6 are reserved).
    pub signing_key: SigningKey,
}

impl KeyInfo {
    /// Bits 31:5 are reserved.
    const RESERVED: u32 = !0x1F;

    /// Decodes KEY_INFO, refusing reserved bits, reserved signing keys and unsigned reports.
    pub fn decode(raw: u32) -> Result<Self, Error> {
        if raw & Self::RESERVED != 0 {
            return Err(Error::ReservedNotZero {
                what: "SEV-SNP report KEY_INFO (bits 31:5)",
                offset: offset_of_first_bit(0x48, u64::from(raw & Self::RESERVED)),
            });
        }
        let mask_chip_key = raw & 0b10 != 0;
        let signing_key = match (raw >> 2) & 0b111 {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            7 => {
                return Err(Error::Unsupported {
                    what: "SEV-SNP signing key",
                    found: "7 (none): the report is unsigned".into(),
                })
            }
            other => {
                return Err(Error::Unsupported {
                    what: "SEV-SNP signing key",
                    found: format!("{other} (reserved)"),
                })
            }
        };
        // With MASK_CHIP_KEY set the firmware does not use the VCEK: such a report is signed
        // by a VLEK or not at all (SNP_CONFIG, MASK_CHIP_KEY).
        if mask_chip_key && signing_key == SigningKey::Vcek {
            return Err(Error::malformed(
                WHAT,
                "KEY_INFO says the VCEK signed the report but MASK_CHIP_KEY disables the VCEK",
            ));
        }
        Ok(Self {
            raw,
            author_key_en: raw & 1 != 0,
            mask_chip_key,
            signing_key,
        })
    }
}

/// CPUID identification of the CPU (report v3+, offsets 188h-18Ah).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cpuid {
    /// CPUID_FAM_ID: extended family + family.
    pub family: u8,
    /// CPUID_MOD_ID: extended model and model.
    pub model: u8,
    /// CPUID_STEP: stepping.
    pub stepping: u8,
}

/// A firmware version (CURRENT_* at 1E8h, COMMITTED_* at 1ECh: build, minor, major, reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FirmwareVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Build number.
    pub build: u8,
}

impl FirmwareVersion {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let build = r.u8()?;
        let minor = r.u8()?;
        let major = r.u8()?;
        reserved(r, 1)?;
        Ok(Self {
            major,
            minor,
            build,
        })
    }
}

/// A parsed, NOT yet verified, attestation report. Field docs give the offset and name of the
/// ATTESTATION_REPORT table.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// Bytes 00h..2A0h as received: what the signature covers.
    signed: &'a [u8],
    /// 00h VERSION: 2, 3 or 5.
    pub version: u32,
    /// 04h GUEST_SVN: the guest SVN.
    pub guest_svn: u32,
    /// 08h POLICY: the guest policy.
    pub policy: GuestPolicy,
    /// 10h FAMILY_ID: family ID provided at launch.
    pub family_id: [u8; 16],
    /// 20h IMAGE_ID: image ID provided at launch.
    pub image_id: [u8; 16],
    /// 30h VMPL: the VMPL the report was requested at.
    pub vmpl: u32,
    /// 34h SIGNATURE_ALGO: 1 (ECDSA P-384 with SHA-384).
    pub signature_algo: u32,
    /// 38h CURRENT_TCB: the platform's current TCB_VERSION.
    pub current_tcb: u64,
    /// 40h PLATFORM_INFO.
    pub platform_info: PlatformInfo,
    /// 48h KEY_INFO: AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY. 4Ch: reserved.
    pub key_info: KeyInfo,
    /// 50h REPORT_DATA: 64 bytes supplied by the guest.
    pub report_data: [u8; 64],
    /// 90h MEASUREMENT: the launch measurement (SHA-384).
    pub measurement: [u8; 48],
    /// C0h HOST_DATA: data provided by the hypervisor at launch.
    pub host_data: [u8; 32],
    /// E0h ID_KEY_DIGEST: SHA-384 of the ID public key that signed the ID block.
    pub id_key_digest: [u8; 48],
    /// 110h AUTHOR_KEY_DIGEST: SHA-384 of the author public key (if AUTHOR_KEY_EN).
    pub author_key_digest: [u8; 48],
    /// 140h REPORT_ID: the guest's report ID.
    pub report_id: [u8; 32],
    /// 160h REPORT_ID_MA: the report ID of the guest's migration agent.
    pub report_id_ma: [u8; 32],
    /// 180h REPORTED_TCB: the TCB_VERSION the VEK was derived from.
    pub reported_tcb: u64,
    /// 188h CPUID_FAM_ID, 189h CPUID_MOD_ID, 18Ah CPUID_STEP (v3+; reserved in v2).
    /// 18Bh-19Fh: reserved.
    pub cpuid: Option<Cpuid>,
    /// 1A0h CHIP_ID: the chip's identifier, zero when MASK_CHIP_ID is set (or with a VLEK).
    pub chip_id: [u8; 64],
    /// 1E0h COMMITTED_TCB.
    pub committed_tcb: u64,
    /// 1E8h CURRENT_BUILD, 1E9h CURRENT_MINOR, 1EAh CURRENT_MAJOR; 1EBh reserved.
    pub current_version: FirmwareVersion,
    /// 1ECh COMMITTED_BUILD, 1EDh COMMITTED_MINOR, 1EEh COMMITTED_MAJOR; 1EFh reserved.
    pub committed_version: FirmwareVersion,
    /// 1F0h LAUNCH_TCB: CURRENT_TCB when the guest was launched or imported.
    pub launch_tcb: u64,
    /// 1F8h LAUNCH_MIT_VECTOR (v5; reserved before).
    pub launch_mit_vector: Option<u64>,
    /// 200h CURRENT_MIT_VECTOR (v5; reserved before). Up to 29Fh: reserved.
    pub current_mit_vector: Option<u64>,
    /// 2A0h SIGNATURE R (72 bytes little-endian, the upper 24 zero), here big-endian.
    signature_r: [u8; 48],
    /// 2E8h SIGNATURE S (72 bytes little-endian, the upper 24 zero), here big-endian.
    /// 330h-49Fh: reserved.
    signature_s: [u8; 48],
}

/// Reads `len` reserved bytes, which must all be zero.
fn reserved(r: &mut Reader<'_>, len: usize) -> Result<(), Error> {
    let start = r.position();
    let bytes = r.take(len)?;
    match bytes.iter().position(|b| *b != 0) {
        None => Ok(()),
        Some(i) => Err(Error::ReservedNotZero {
            what: WHAT,
            offset: start.saturating_add(i),
        }),
    }
}

/// Reads reserved bytes up to offset `end`.
fn reserved_until(r: &mut Reader<'_>, end: usize) -> Result<(), Error> {
    let len = end.saturating_sub(r.position());
    reserved(r, len)
}

/// Reads a little-endian ECDSA scalar zero-padded to 72 bytes and returns it big-endian.
fn scalar(r: &mut Reader<'_>) -> Result<[u8; 48], Error> {
    let mut out = r.array::<48>()?;
    reserved(r, 24)?;
    out.reverse();
    Ok(out)
}

impl<'a> Report<'a> {
    /// Parses a report of exactly [`REPORT_LEN`] bytes: the length, version, signature
    /// algorithm, KEY_INFO, POLICY and every reserved region are checked; nothing is verified.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.len() < REPORT_LEN {
            return Err(Error::Truncated {
                what: WHAT,
                offset: 0,
                needed: REPORT_LEN,
                available: bytes.len(),
            });
        }
        if bytes.len() > REPORT_LEN {
            return Err(Error::TrailingData {
                what: WHAT,
                extra: bytes.len().saturating_sub(REPORT_LEN),
            });
        }
        let mut r = Reader::new(bytes, WHAT);
        let version = r.u32_le()?;
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(Error::Unsupported {
                what: "SEV-SNP report version",
                found: format!("{version} (supported: 2, 3, 5)"),
            });
        }
        let guest_svn = r.u32_le()?;
        let policy = GuestPolicy::decode(r.u64_le()?)?;
        let family_id = r.array::<16>()?;
        let image_id = r.array::<16>()?;
        let vmpl = r.u32_le()?;
        let signature_algo = r.u32_le()?;
        if signature_algo != SIG_ALGO_ECDSA_P384_SHA384 {
            return Err(Error::Unsupported {
                what: "SEV-SNP report SIGNATURE_ALGO",
                found: format!("{signature_algo} (only 1, ECDSA P-384 with SHA-384, is defined)"),
            });
        }
        let current_tcb = r.u64_le()?;
        let platform_info = PlatformInfo::decode(r.u64_le()?);
        let key_info = KeyInfo::decode(r.u32_le()?)?;
        reserved(&mut r, 4)?; // 4Ch
        let report_data = r.array::<64>()?;
        let measurement = r.array::<48>()?;
        let host_data = r.array::<32>()?;
        let id_key_digest = r.array::<48>()?;
        let author_key_digest = r.array::<48>()?;
        let report_id = r.array::<32>()?;
        let report_id_ma = r.array::<32>()?;
        let reported_tcb = r.u64_le()?;
        // 188h: CPUID in v3+, reserved in v2; 18Bh-19Fh reserved.
        let cpuid = if version >= 3 {
            let [family, model, stepping] = r.array::<3>()?;
            Some(Cpuid {
                family,
                model,
                stepping,
            })
        } else {
            None
        };
        reserved_until(&mut r, 0x1A0)?;
        let chip_id = r.array::<64>()?;
        let committed_tcb = r.u64_le()?;
        let current_version = FirmwareVersion::read(&mut r)?;
        let committed_version = FirmwareVersion::read(&mut r)?;
        let launch_tcb = r.u64_le()?;
        // 1F8h, 200h: mitigation vectors in v5, reserved before; then reserved to 29Fh.
        let (launch_mit_vector, current_mit_vector) = if version >= 5 {
            (Some(r.u64_le()?), Some(r.u64_le()?))
        } else {
            (None, None)
        };
        reserved_until(&mut r, SIGNED_LEN)?;
        // 2A0h: the signature (R, S, then reserved to the end).
        let signature_r = scalar(&mut r)?;
        let signature_s = scalar(&mut r)?;
        reserved_until(&mut r, REPORT_LEN)?;
        Ok(Self {
            signed: cursor::slice(bytes, 0, SIGNED_LEN, WHAT)?,
            version,
            guest_svn,
            policy,
            family_id,
            image_id,
            vmpl,
            signature_algo,
            current_tcb,
            platform_info,
            key_info,
            report_data,
            measurement,
            host_data,
            id_key_digest,
            author_key_digest,
            report_id,
            report_id_ma,
            reported_tcb,
            cpuid,
            chip_id,
            committed_tcb,
            current_version,
            committed_version,
            launch_tcb,
            launch_mit_vector,
            current_mit_vector,
            signature_r,
            signature_s,
        })
    }

    /// The signed bytes (00h..2A0h) exactly as received.
    pub fn signed_bytes(&self) -> &'a [u8] {
        self.signed
    }

    /// The signature as big-endian `r || s`, 48 bytes each (what AWS-LC's
    /// `ECDSA_P384_SHA384_FIXED` takes).
    pub fn signature_fixed(&self) -> [u8; 96] {
        let mut out = [0u8; 96];
        let (r, s) = out.split_at_mut(48);
        r.copy_from_slice(&self.signature_r);
        s.copy_from_slice(&self.signature_s);
        out
    }

    /// Whether CHIP_ID is all zero: the firmware masked it (MASK_CHIP_ID), or a VLEK signed.
    pub fn chip_id_masked(&self) -> bool {
        cursor::all_zero(&self.chip_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_set_reserved_bit_names_its_byte() {
        assert_eq!(offset_of_first_bit(0x08, 1 << 26), 0x0B);
        assert_eq!(offset_of_first_bit(0x08, 1 << 63), 0x0F);
        assert_eq!(offset_of_first_bit(0x48, 1 << 5), 0x48);
        assert_eq!(offset_of_first_bit(0x48, 1 << 30), 0x4B);
    }
}
