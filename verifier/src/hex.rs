//! [`Hex`]: bytes that print and serialise as lowercase hex. A leaf: it depends on no other
//! module of the crate.

use std::fmt;

use serde::{Serialize, Serializer};

/// Bytes shown and serialised as lowercase hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hex(pub Vec<u8>);

impl Hex {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Hex {
    fn from(b: &[u8]) -> Self {
        Self(b.to_vec())
    }
}

impl<const N: usize> From<[u8; N]> for Hex {
    fn from(b: [u8; N]) -> Self {
        Self(b.to_vec())
    }
}

impl From<Vec<u8>> for Hex {
    fn from(b: Vec<u8>) -> Self {
        Self(b)
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex({self})")
    }
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
