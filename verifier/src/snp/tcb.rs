//! TCB_VERSION, the 64-bit security patch level vector of SEV-SNP, whose layout depends on the
//! product (SEV-SNP ABI specification, TCB_VERSION structure tables).
//!
//! | byte | Milan, Genoa | Turin      |
//! |------|--------------|------------|
//! | 0    | BOOT_LOADER  | FMC        |
//! | 1    | TEE          | BOOT_LOADER|
//! | 2    | reserved     | TEE        |
//! | 3    | reserved     | SNP        |
//! | 4    | reserved     | reserved   |
//! | 5    | reserved     | reserved   |
//! | 6    | SNP          | reserved   |
//! | 7    | MICROCODE    | MICROCODE  |

use std::collections::BTreeMap;

use serde::Serialize;

use kiln_provenance::SnpProduct;

/// A component of TCB_VERSION, with the VCEK/VLEK extension that certifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// Boot loader SPL; extension blSPL (1.3.6.1.4.1.3704.1.3.1).
    Bootloader,
    /// PSP OS (TEE) SPL; extension teeSPL (1.3.6.1.4.1.3704.1.3.2).
    Tee,
    /// SNP firmware SPL; extension snpSPL (1.3.6.1.4.1.3704.1.3.3).
    Snp,
    /// Microcode SPL; extension ucodeSPL (1.3.6.1.4.1.3704.1.3.8).
    Microcode,
    /// FMC (Turin) SPL; extension fmcSPL (1.3.6.1.4.1.3704.1.3.9).
    Fmc,
}

impl Component {
    /// The key used in [`crate::TcbClaims::versions`].
    pub fn key(self) -> &'static str {
        match self {
            Self::Bootloader => "bl",
            Self::Tee => "tee",
            Self::Snp => "snp",
            Self::Microcode => "ucode",
            Self::Fmc => "fmc",
        }
    }

    /// The last arc of the certificate extension `1.3.6.1.4.1.3704.1.3.<arc>`.
    pub fn extension_arc(self) -> u32 {
        match self {
            Self::Bootloader => 1,
            Self::Tee => 2,
            Self::Snp => 3,
            Self::Microcode => 8,
            Self::Fmc => 9,
        }
    }

    /// The extension's name in AMD's VCEK specification.
    pub fn extension_name(self) -> &'static str {
        match self {
            Self::Bootloader => "blSPL",
            Self::Tee => "teeSPL",
            Self::Snp => "snpSPL",
            Self::Microcode => "ucodeSPL",
            Self::Fmc => "fmcSPL",
        }
    }

    /// The components a product's TCB_VERSION has.
    pub fn all_for(product: SnpProduct) -> &'static [Self] {
        if product.has_fmc() {
            &[
                Self::Fmc,
                Self::Bootloader,
                Self::Tee,
                Self::Snp,
                Self::Microcode,
            ]
        } else {
            &[Self::Bootloader, Self::Tee, Self::Snp, Self::Microcode]
        }
    }
}

/// A TCB_VERSION decoded for one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TcbVersion {
    /// The 64-bit value as in the report (little-endian on the wire).
    #[serde(serialize_with = "super::report::hex_u64")]
    pub raw: u64,
    /// BOOT_LOADER SPL.
    pub bootloader: u8,
    /// TEE SPL.
    pub tee: u8,
    /// SNP SPL.
    pub snp: u8,
    /// MICROCODE SPL.
    pub microcode: u8,
    /// FMC SPL (Turin only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
}

impl TcbVersion {
    /// Decodes `raw` with the layout of `product`. Reserved bytes are kept in `raw` only.
    pub fn decode(raw: u64, product: SnpProduct) -> Self {
        let [b0, b1, b2, b3, _b4, _b5, b6, b7] = raw.to_le_bytes();
        match product {
            SnpProduct::Milan | SnpProduct::Genoa => Self {
                raw,
                bootloader: b0,
                tee: b1,
                snp: b6,
                microcode: b7,
                fmc: None,
            },
            SnpProduct::Turin => Self {
                raw,
                fmc: Some(b0),
                bootloader: b1,
                tee: b2,
                snp: b3,
                microcode: b7,
            },
        }
    }

    /// The value of one component (`None` for FMC before Turin).
    pub fn get(&self, component: Component) -> Option<u8> {
        match component {
            Component::Bootloader => Some(self.bootloader),
            Component::Tee => Some(self.tee),
            Component::Snp => Some(self.snp),
            Component::Microcode => Some(self.microcode),
            Component::Fmc => self.fmc,
        }
    }

    /// The components by claim name (`bl`, `tee`, `snp`, `ucode`, and `fmc` on Turin).
    pub fn versions(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        out.insert("bl".to_owned(), u64::from(self.bootloader));
        out.insert("tee".to_owned(), u64::from(self.tee));
        out.insert("snp".to_owned(), u64::from(self.snp));
        out.insert("ucode".to_owned(), u64::from(self.microcode));
        if let Some(fmc) = self.fmc {
            out.insert("fmc".to_owned(), u64::from(fmc));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milan_layout_matches_the_real_vcek() {
        // REPORTED_TCB of snp/virtee-sev/report_milan.bin; its VCEK says bl 3, tee 0, snp 8,
        // ucode 115.
        let raw = u64::from_le_bytes([0x03, 0, 0, 0, 0, 0, 0x08, 0x73]);
        let tcb = TcbVersion::decode(raw, SnpProduct::Milan);
        assert_eq!(
            (tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode, tcb.fmc),
            (3, 0, 8, 115, None)
        );
        assert_eq!(tcb.versions().len(), 4);
        assert_eq!(Component::all_for(SnpProduct::Genoa).len(), 4);
        assert_eq!(Component::all_for(SnpProduct::Turin).len(), 5);
    }
}
