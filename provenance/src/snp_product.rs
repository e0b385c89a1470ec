//! SEV-SNP products (EPYC generations): one type for the simulator that imitates them and the
//! verifier that checks them. A product is named in three places the verifier compares: the
//! CPUID fields of a v3+ report, the issuer of the VCEK/VLEK (`SEV-<product>` /
//! `SEV-VLEK-<product>`), and the root the chain ends in (`ARK-<product>`).

use std::fmt;

use serde::Serialize;

/// An EPYC generation with its own AMD root (ARK), signing key (ASK/ASVK) and TCB layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum SnpProduct {
    /// 3rd generation EPYC (Zen 3), family 19h models 00h-0Fh.
    Milan,
    /// 4th generation EPYC (Zen 4): Genoa, family 19h models 10h-1Fh; Bergamo and Siena,
    /// models A0h-AFh. All are certified by the Genoa ASK.
    Genoa,
    /// 5th generation EPYC (Zen 5), family 1Ah models 00h-1Fh.
    Turin,
}

impl SnpProduct {
    /// Every product.
    pub const ALL: [Self; 3] = [Self::Milan, Self::Genoa, Self::Turin];

    /// The name AMD's certificates use (`SEV-Milan`, `ARK-Milan`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }

    /// The product with exactly this name (as certificates write it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Parses a command-line name, case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The VCEK productName extension, as AMD's KDS writes it ("Milan-B0", "Genoa", "Turin").
    pub fn vcek_product_name(self) -> &'static str {
        match self {
            Self::Milan => "Milan-B0",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }

    /// The product of a CPU from the report's CPUID_FAM_ID (extended family + family) and
    /// CPUID_MOD_ID (extended model << 4 | model); `None` for a CPU that is not an SEV-SNP
    /// server product kiln knows.
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Self::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Self::Genoa),
            (0x1A, 0x00..=0x1F) => Some(Self::Turin),
            _ => None,
        }
    }

    /// The CPUID family and model ranges of the product, for error messages.
    pub fn cpuid_ranges(self) -> &'static str {
        match self {
            Self::Milan => "family 0x19, model 0x00-0x0f",
            Self::Genoa => "family 0x19, model 0x10-0x1f or 0xa0-0xaf",
            Self::Turin => "family 0x1a, model 0x00-0x1f",
        }
    }

    /// Length of the VCEK `hwID` extension: 64 bytes (all of CHIP_ID) up to Genoa, 8 bytes
    /// (the first 8 bytes of CHIP_ID) from Turin on (AMD VCEK/KDS specification #57230).
    pub fn hw_id_len(self) -> usize {
        match self {
            Self::Milan | Self::Genoa => 64,
            Self::Turin => 8,
        }
    }

    /// Whether the product's TCB_VERSION has an FMC (firmware) field.
    pub fn has_fmc(self) -> bool {
        matches!(self, Self::Turin)
    }
}

impl fmt::Display for SnpProduct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in SnpProduct::ALL {
            assert_eq!(SnpProduct::from_name(p.name()), Some(p));
            assert_eq!(SnpProduct::parse(&p.name().to_uppercase()), Some(p));
        }
        assert_eq!(SnpProduct::from_name("milan"), None, "names are exact");
    }
}
