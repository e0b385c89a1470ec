//! Value types of the policy file with their own deserializers, so that a malformed value is
//! refused by the TOML parser itself, which then reports its line and column.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::model::{Duration, SigningKeyPolicy};
use kiln_verifier::snp::SnpProduct;
use kiln_verifier::{Hex, Platform, TcbStatus};

/// Decodes hex (either case, optional `0x`) of exactly `len` bytes, or of any non-empty
/// length up to 1024 bytes when `len` is `None`.
pub(crate) fn decode_hex(text: &str, len: Option<usize>) -> Result<Vec<u8>, String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(digits).map_err(|e| format!("invalid hex {text:?}: {e}"))?;
    match len {
        Some(n) if bytes.len() != n => Err(format!(
            "expected {n} bytes ({} hex digits), found {} bytes in {text:?}",
            n.saturating_mul(2),
            bytes.len()
        )),
        None if bytes.is_empty() || bytes.len() > 1024 => Err(format!(
            "expected 1 to 1024 bytes of hex, found {} bytes",
            bytes.len()
        )),
        _ => Ok(bytes),
    }
}

/// Hex of exactly `N` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FixedHex<const N: usize>(pub Hex);

impl<'de, const N: usize> Deserialize<'de> for FixedHex<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        decode_hex(&text, Some(N))
            .map(|b| Self(Hex(b)))
            .map_err(de::Error::custom)
    }
}

/// Hex of any length (1 to 1024 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnyHex(pub Hex);

impl<'de> Deserialize<'de> for AnyHex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        decode_hex(&text, None)
            .map(|b| Self(Hex(b)))
            .map_err(de::Error::custom)
    }
}

/// One hex value of `N` bytes or a list of them (accepted alternatives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HexList<const N: usize>(pub Vec<Hex>);

impl<'de, const N: usize> Deserialize<'de> for HexList<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for V<N> {
            type Value = HexList<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a hex string of {N} bytes or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                decode_hex(v, Some(N))
                    .map(|b| HexList(vec![Hex(b)]))
                    .map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<FixedHex<N>>()? {
                    out.push(item.0);
                }
                if out.is_empty() {
                    return Err(de::Error::custom(
                        "an empty list accepts nothing: remove the key to accept any value",
                    ));
                }
                Ok(HexList(out))
            }
        }
        d.deserialize_any(V::<N>)
    }
}

/// A duration such as `"24h"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DurationDe(pub Duration);

impl<'de> Deserialize<'de> for DurationDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).map(Self).map_err(de::Error::custom)
    }
}

/// One unsigned integer or a list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct U32List(pub Vec<u32>);

impl<'de> Deserialize<'de> for U32List {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = U32List;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer from 0 to 3 or a list of them")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                vmpl(v).map(|n| U32List(vec![n])).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<i64>()? {
                    out.push(vmpl(v).map_err(de::Error::custom)?);
                }
                if out.is_empty() {
                    return Err(de::Error::custom("an empty list accepts nothing"));
                }
                Ok(U32List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A VMPL: 0 to 3.
fn vmpl(v: i64) -> Result<u32, String> {
    u32::try_from(v)
        .ok()
        .filter(|n| *n <= 3)
        .ok_or_else(|| format!("VMPL {v} is not 0 to 3"))
}

/// TDX `TEE_TCB_SVN`: 16 bytes as hex, or a list of 16 integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TeeTcbSvn(pub Hex);

impl<'de> Deserialize<'de> for TeeTcbSvn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TeeTcbSvn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("16 bytes as hex, or a list of 16 integers from 0 to 255")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                decode_hex(v, Some(16))
                    .map(|b| TeeTcbSvn(Hex(b)))
                    .map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<u8>()? {
                    out.push(v);
                }
                if out.len() != 16 {
                    return Err(de::Error::custom(format!(
                        "expected 16 components, found {}",
                        out.len()
                    )));
                }
                Ok(TeeTcbSvn(Hex(out)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A value parsed from a string by `parse`, with `what` naming the accepted values.
macro_rules! named {
    ($name:ident, $inner:ty, $parse:expr, $what:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
        pub(crate) struct $name(pub $inner);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                let parse: fn(&str) -> Option<$inner> = $parse;
                parse(&text)
                    .map(Self)
                    .ok_or_else(|| de::Error::custom(format!("unknown {}: {text:?}", $what)))
            }
        }
    };
}

named!(
    PlatformName,
    Platform,
    |s| match s {
        "sev-snp" => Some(Platform::SevSnp),
        "tdx" => Some(Platform::Tdx),
        "nitro" => Some(Platform::Nitro),
        _ => None,
    },
    "platform (expected \"sev-snp\", \"tdx\" or \"nitro\")"
);

named!(
    ProductName,
    String,
    |s| SnpProduct::from_name(s).map(|p| p.name().to_owned()),
    "SEV-SNP product (expected \"Milan\", \"Genoa\" or \"Turin\")"
);

named!(
    StatusName,
    TcbStatusOrd,
    |s| TcbStatus::from_intel(s).map(TcbStatusOrd),
    "TDX TCB status (expected UpToDate, SWHardeningNeeded, ConfigurationNeeded, \
     ConfigurationAndSWHardeningNeeded, OutOfDate or OutOfDateConfigurationNeeded; \
     a quote without collateral is governed by allow_unknown_tcb)"
);

named!(
    SigningKeyName,
    SigningKeyPolicy,
    |s| match s {
        "any" => Some(SigningKeyPolicy::Any),
        "vcek" => Some(SigningKeyPolicy::Vcek),
        "vlek" => Some(SigningKeyPolicy::Vlek),
        _ => None,
    },
    "signing key (expected \"vcek\", \"vlek\" or \"any\")"
);

named!(
    PcrIndex,
    u16,
    |s| s.parse::<u16>().ok().filter(|i| *i < 32),
    "PCR index (expected 0 to 31)"
);

/// [`TcbStatus`] with an order, so that it can sit in the `named!` wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcbStatusOrd(pub TcbStatus);

impl PartialOrd for TcbStatusOrd {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TcbStatusOrd {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_str().cmp(other.0.as_str())
    }
}
