//! The simulated AMD key distribution PKI: ARK and ASK (RSA-4096, RSASSA-PSS SHA-384) per
//! product, and the chip's VCEK (P-384) with the AMD TCB and hwID extensions.
//!
//! Profiles copied from AMD's certificates (`openssl x509 -text` of `snp/roots/*.pem` and the
//! VCEKs in `snp/virtee-sev`):
//!
//! | cert | serial            | subject CN    | extensions, in order                                   |
//! |------|-------------------|---------------|--------------------------------------------------------|
//! | ARK  | 0x10000 × gen     | `ARK-<prod>`  | KU (crit: certSign, cRLSign), SKI, BC (crit: CA), CRL DP |
//! | ASK  | ARK serial + 1    | `SEV-<prod>`  | SKI, AKI, BC (crit: CA, pathlen 0), KU (crit: certSign), CRL DP |
//! | VCEK | 0                 | `SEV-VCEK`    | AMD arc 1.3.6.1.4.1.3704.1: structVersion, productName, SPLs, hwID |
//!
//! Names are `OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices, CN=…`;
//! the ARK's and the ASK's organisation reads `Advanced Micro Devices SIMULATED` (the common
//! names, which verifiers read the product from, are AMD's). The ASK is marked as well as the
//! root because verifiers keep AMD's real ASKs as known intermediates and find an issuer by
//! its name: a simulated ASK named exactly like the real one would be shadowed by it.
//!
//! VCEK extensions (AMD VCEK/VLEK certificate specification #57230, table 8): `.1.1`
//! structVersion INTEGER, `.1.2` productName IA5String, `.1.3.1` blSPL, `.1.3.2` teeSPL,
//! `.1.3.3` snpSPL, `.1.3.4`-`.1.3.7` spl_4..spl_7, `.1.3.8` ucodeSPL, `.1.3.9` fmcSPL (Turin),
//! each an INTEGER; `.1.4` hwID, the raw CHIP_ID (64 bytes; Turin: its first 8 bytes). The
//! order is AMD's: Milan/Genoa put snpSPL after spl_7; Turin puts fmcSPL first and has no
//! spl_4.

use const_oid::ObjectIdentifier;
use p384::ecdsa::SigningKey;
use rsa::RsaPrivateKey;

use super::{
    issue_reusing, key_id, key_usage, name, rsa_spki, CertSpec, Signer, Str, OID_C, OID_CN, OID_L,
    OID_O, OID_OU, OID_ST, SIM_NOT_AFTER, SIM_NOT_BEFORE,
};
use crate::error::TeeError;

pub use kiln_provenance::SnpProduct;

/// What the simulator makes of a product: the CPU it reports, its ARK's serial number and a
/// simulated chip's default TCB. (The product itself, its names and layouts, is the one type
/// the verifier checks: [`kiln_provenance::SnpProduct`].)
pub trait SimulatedSnpProduct {
    /// CPUID family (extended + base), model (extended << 4 | base) and stepping, as a v3+
    /// report carries them at 0x188..0x18B.
    fn cpuid(self) -> (u8, u8, u8);
    /// The ARK serial number AMD uses (0x10000, 0x20000, 0x30000).
    fn ark_serial(self) -> u64;
    /// The default TCB of a simulated chip (distinct values per component, so a decoder that
    /// reads the wrong layout fails).
    fn default_tcb(self) -> SnpTcb;
}

impl SimulatedSnpProduct for SnpProduct {
    fn cpuid(self) -> (u8, u8, u8) {
        match self {
            Self::Milan => (0x19, 0x01, 0x00),
            Self::Genoa => (0x19, 0x11, 0x01),
            Self::Turin => (0x1a, 0x02, 0x01),
        }
    }

    fn ark_serial(self) -> u64 {
        match self {
            Self::Milan => 0x1_0000,
            Self::Genoa => 0x2_0000,
            Self::Turin => 0x3_0000,
        }
    }

    fn default_tcb(self) -> SnpTcb {
        match self {
            Self::Milan => SnpTcb {
                fmc: 0,
                bootloader: 3,
                tee: 1,
                snp: 8,
                microcode: 115,
            },
            Self::Genoa => SnpTcb {
                fmc: 0,
                bootloader: 7,
                tee: 2,
                snp: 14,
                microcode: 72,
            },
            Self::Turin => SnpTcb {
                fmc: 2,
                bootloader: 3,
                tee: 4,
                snp: 5,
                microcode: 9,
            },
        }
    }
}

/// The security patch levels of a TCB_VERSION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SnpTcb {
    /// FMC SPL (Turin only; ignored before).
    pub fmc: u8,
    /// BOOT_LOADER SPL.
    pub bootloader: u8,
    /// TEE (PSP OS) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// MICROCODE SPL.
    pub microcode: u8,
}

impl SnpTcb {
    /// The 8 bytes of TCB_VERSION (little-endian u64 in the report), in the product's layout
    /// (SEV-SNP ABI specification, TCB_VERSION):
    ///
    /// | byte | Milan, Genoa | Turin       |
    /// |------|--------------|-------------|
    /// | 0    | BOOT_LOADER  | FMC         |
    /// | 1    | TEE          | BOOT_LOADER |
    /// | 2    | reserved     | TEE         |
    /// | 3    | reserved     | SNP         |
    /// | 4-5  | reserved     | reserved    |
    /// | 6    | SNP          | reserved    |
    /// | 7    | MICROCODE    | MICROCODE   |
    pub fn to_bytes(self, product: SnpProduct) -> [u8; 8] {
        match product {
            SnpProduct::Milan | SnpProduct::Genoa => [
                self.bootloader,
                self.tee,
                0,
                0,
                0,
                0,
                self.snp,
                self.microcode,
            ],
            SnpProduct::Turin => [
                self.fmc,
                self.bootloader,
                self.tee,
                self.snp,
                0,
                0,
                0,
                self.microcode,
            ],
        }
    }
}

/// The RSA-4096 keys of the simulated AMD root and signing key.
#[derive(Clone)]
pub struct AmdRsaKeys {
    /// ARK key.
    pub ark: RsaPrivateKey,
    /// ASK key.
    pub ask: RsaPrivateKey,
}

impl std::fmt::Debug for AmdRsaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AmdRsaKeys { .. }")
    }
}

/// A chip's simulated AMD chain for one product and TCB.
pub struct SnpPki {
    /// The product.
    pub product: SnpProduct,
    /// The TCB the VCEK certifies.
    pub tcb: SnpTcb,
    /// The simulated ARK (the root to pin), DER.
    pub ark_der: Vec<u8>,
    /// The simulated ASK, DER.
    pub ask_der: Vec<u8>,
    /// The VCEK, DER.
    pub vcek_der: Vec<u8>,
    /// CHIP_ID as the report carries it (Turin: 8 bytes, then zeros).
    pub chip_id: [u8; 64],
    pub(crate) vcek_key: SigningKey,
}

impl std::fmt::Debug for SnpPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnpPki")
            .field("product", &self.product)
            .field("tcb", &self.tcb)
            .finish_non_exhaustive()
    }
}

impl SnpPki {
    /// ASK then ARK, PEM: the `cert_chain` AMD's KDS serves.
    pub fn chain_pem(&self) -> Result<String, TeeError> {
        Ok(super::pem(&self.ask_der)? + &super::pem(&self.ark_der)?)
    }
}

const AMD_ARC: &str = "1.3.6.1.4.1.3704.1";

fn amd_oid(suffix: &str) -> Result<ObjectIdentifier, TeeError> {
    ObjectIdentifier::new(&format!("{AMD_ARC}.{suffix}"))
        .map_err(|e| TeeError::encoding("AMD extension OID", e))
}

fn amd_name(cn: &str, organisation: &str) -> Result<x509_cert::name::Name, TeeError> {
    name(&[
        (OID_OU, Str::Utf8, "Engineering"),
        (OID_C, Str::Printable, "US"),
        (OID_L, Str::Utf8, "Santa Clara"),
        (OID_ST, Str::Utf8, "CA"),
        (OID_O, Str::Utf8, organisation),
        (OID_CN, Str::Utf8, cn),
    ])
}

/// The organisation of every simulated ARK and ASK.
pub const SIMULATED_AMD_ORG: &str = "Advanced Micro Devices SIMULATED";

/// Inputs of [`build`] that come from the chip.
pub(crate) struct SnpChipKeys<'a> {
    pub rsa: &'a AmdRsaKeys,
    pub salt_secret: &'a [u8; 32],
    pub vcek: SigningKey,
    pub chip_id: [u8; 64],
}

/// Issues ARK, ASK and VCEK for one product and TCB. `cached` holds certificates issued
/// before (ARK, ASK, VCEK; authenticated by the caller): each is reused when it is exactly
/// what would be issued now (see [`super::issue_reusing`]), which skips its RSA signature.
pub(crate) fn build(
    product: SnpProduct,
    tcb: SnpTcb,
    keys: SnpChipKeys<'_>,
    cached: &[Vec<u8>],
) -> Result<SnpPki, TeeError> {
    let cached = |i: usize| cached.get(i).map(Vec::as_slice);
    let prod = product.name();
    let crl = format!("https://kdsintf.sim.kiln.invalid/vcek/v1/{prod}/crl");
    let ark_name = amd_name(&format!("ARK-{prod}"), SIMULATED_AMD_ORG)?;
    // The ASK's organisation says SIMULATED too: its subject must not equal the real ASK's,
    // which verifiers pin as a known intermediate and would pick by name.
    let ask_name = amd_name(&format!("SEV-{prod}"), SIMULATED_AMD_ORG)?;
    let vcek_name = amd_name("SEV-VCEK", "Advanced Micro Devices")?;

    let ark_spki = rsa_spki(&keys.rsa.ark)?;
    let ask_spki = rsa_spki(&keys.rsa.ask)?;
    let ark_id = key_id(&ark_spki)?;
    let ask_id = key_id(&ask_spki)?;
    let ark_signer = Signer::RsaPss {
        key: &keys.rsa.ark,
        salt_secret: keys.salt_secret,
        explicit_trailer: true,
    };
    let vcek_signer = Signer::RsaPss {
        key: &keys.rsa.ask,
        salt_secret: keys.salt_secret,
        // The Genoa and Turin VCEKs of the vectors leave the default trailer field out; the
        // Milan VCEK spells it out.
        explicit_trailer: product == SnpProduct::Milan,
    };
    let serial = product.ark_serial();
    let ark = CertSpec {
        serial: serial.to_be_bytes().to_vec(),
        issuer: ark_name.clone(),
        subject: ark_name.clone(),
        not_before: SIM_NOT_BEFORE,
        not_after: SIM_NOT_AFTER,
        spki_der: ark_spki,
        extensions: Vec::new(),
    }
    .key_usage(true, key_usage::CERT_CRL_SIGN)
    .ski(&ark_id)
    .basic_constraints(true, None)
    .crl_dp(&crl);
    let ark_der = issue_reusing(&ark, &ark_signer, cached(0))?;

    let ask = CertSpec {
        serial: (serial + 1).to_be_bytes().to_vec(),
        issuer: ark_name,
        subject: ask_name.clone(),
        not_before: SIM_NOT_BEFORE,
        not_after: SIM_NOT_AFTER,
        spki_der: ask_spki,
        extensions: Vec::new(),
    }
    .ski(&ask_id)
    .aki(&ark_id)
    .basic_constraints(true, Some(0))
    .key_usage(true, key_usage::CERT_SIGN_AMD)
    .crl_dp(&crl);
    let ask_der = issue_reusing(&ask, &ark_signer, cached(1))?;

    let mut vcek = CertSpec {
        serial: vec![0],
        issuer: ask_name,
        subject: vcek_name,
        not_before: SIM_NOT_BEFORE,
        not_after: SIM_NOT_AFTER,
        spki_der: super::p384_spki(&keys.vcek)?,
        extensions: Vec::new(),
    };
    for (suffix, value) in vcek_extensions(product, tcb, &keys.chip_id) {
        vcek = vcek.ext(amd_oid(suffix)?, false, value);
    }
    let vcek_der = issue_reusing(&vcek, &vcek_signer, cached(2))?;

    let mut chip_id = keys.chip_id;
    if product == SnpProduct::Turin {
        for b in chip_id.iter_mut().skip(8) {
            *b = 0;
        }
    }
    Ok(SnpPki {
        product,
        tcb,
        ark_der,
        ask_der,
        vcek_der,
        chip_id,
        vcek_key: keys.vcek,
    })
}

/// Which CA of a simulated AMD chain issues a CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnpCrlIssuer {
    /// The ARK: AMD's CRL, as the KDS serves it (`/vcek/v1/{product}/crl`), listing ASKs.
    Ark,
    /// The ASK: a CRL listing VCEKs (AMD publishes none; for tests of the verifier).
    Ask,
}

/// A simulated AMD CRL to issue.
#[derive(Debug, Clone)]
pub struct SnpCrlSpec {
    /// Its issuer.
    pub issuer: SnpCrlIssuer,
    /// thisUpdate, seconds since the epoch.
    pub this_update: i64,
    /// nextUpdate.
    pub next_update: i64,
    /// Serial numbers (big-endian bytes) revoked.
    pub revoked: Vec<Vec<u8>>,
}

/// Issues a CRL of the simulated chain of `product`, signed with RSASSA-PSS / SHA-384 as the
/// ARK signs AMD's.
pub(crate) fn issue_crl(
    product: SnpProduct,
    rsa: &AmdRsaKeys,
    salt_secret: &[u8; 32],
    spec: &SnpCrlSpec,
) -> Result<Vec<u8>, TeeError> {
    let prod = product.name();
    let (cn, key) = match spec.issuer {
        SnpCrlIssuer::Ark => (format!("ARK-{prod}"), &rsa.ark),
        SnpCrlIssuer::Ask => (format!("SEV-{prod}"), &rsa.ask),
    };
    let authority_key_id = key_id(&rsa_spki(key)?)?;
    super::issue_crl(
        &super::CrlSpec {
            issuer: amd_name(&cn, SIMULATED_AMD_ORG)?,
            this_update: spec.this_update,
            next_update: spec.next_update,
            number: 1,
            authority_key_id,
            revoked: spec.revoked.clone(),
        },
        &Signer::RsaPss {
            key,
            salt_secret,
            explicit_trailer: true,
        },
    )
}

/// The VCEK's AMD extensions in AMD's order: (OID suffix under 1.3.6.1.4.1.3704.1, DER value).
fn vcek_extensions(
    product: SnpProduct,
    tcb: SnpTcb,
    chip_id: &[u8; 64],
) -> Vec<(&'static str, Vec<u8>)> {
    use super::{tlv, uint};
    let spl = |v: u8| uint(u64::from(v));
    let tcb_bytes = tcb.to_bytes(product);
    let reserved = |i: usize| spl(tcb_bytes.get(i).copied().unwrap_or(0));
    let hw_id = chip_id
        .get(..product.hw_id_len())
        .unwrap_or(chip_id)
        .to_vec();
    let product_name = tlv(0x16, product.vcek_product_name().as_bytes());
    match product {
        SnpProduct::Milan | SnpProduct::Genoa => vec![
            ("1", uint(0)),
            ("2", product_name),
            ("3.1", spl(tcb.bootloader)),
            ("3.2", spl(tcb.tee)),
            ("3.4", reserved(2)),
            ("3.5", reserved(3)),
            ("3.6", reserved(4)),
            ("3.7", reserved(5)),
            ("3.3", spl(tcb.snp)),
            ("3.8", spl(tcb.microcode)),
            ("4", hw_id),
        ],
        SnpProduct::Turin => vec![
            ("1", uint(1)),
            ("2", product_name),
            ("3.9", spl(tcb.fmc)),
            ("3.1", spl(tcb.bootloader)),
            ("3.2", spl(tcb.tee)),
            ("3.3", spl(tcb.snp)),
            ("3.5", reserved(4)),
            ("3.6", reserved(5)),
            ("3.7", reserved(6)),
            ("3.8", spl(tcb.microcode)),
            ("4", hw_id),
        ],
    }
}
