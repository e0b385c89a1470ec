//! A bounded reader over untrusted bytes: every read is checked, nothing indexes or panics.

use crate::error::Error;

/// Reads fixed-layout little-endian structures from a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`; `what` names the structure in errors.
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self {
            bytes,
            pos: 0,
            what,
        }
    }

    /// Offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or(&[])
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::Truncated {
            what: self.what,
            offset: self.pos,
            needed: n,
            available: self.remaining(),
        })?;
        let out = self.bytes.get(self.pos..end).ok_or(Error::Truncated {
            what: self.what,
            offset: self.pos,
            needed: n,
            available: self.remaining(),
        })?;
        self.pos = end;
        Ok(out)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), Error> {
        self.take(n).map(|_| ())
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, Error> {
        Ok(u8::from_le_bytes(self.array::<1>()?))
    }

    /// A little-endian u16.
    pub fn u16_le(&mut self) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.array::<2>()?))
    }

    /// A little-endian u32.
    pub fn u32_le(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array::<4>()?))
    }

    /// A little-endian u64.
    pub fn u64_le(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.array::<8>()?))
    }

    /// A little-endian u32 length, converted to usize.
    pub fn len_u32(&mut self) -> Result<usize, Error> {
        let n = self.u32_le()?;
        usize::try_from(n).map_err(|_| Error::Malformed {
            what: self.what,
            reason: format!("length {n} does not fit in memory"),
        })
    }
}

/// `bytes[range]` as a checked operation for fixed layouts whose length was checked earlier.
pub fn slice<'a>(
    bytes: &'a [u8],
    start: usize,
    end: usize,
    what: &'static str,
) -> Result<&'a [u8], Error> {
    bytes.get(start..end).ok_or(Error::Truncated {
        what,
        offset: start,
        needed: end.saturating_sub(start),
        available: bytes.len().saturating_sub(start),
    })
}

/// Whether every byte is zero.
pub fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_refuses_past_the_end() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 0, 9], "test");
        assert_eq!(r.u16_le().unwrap(), 1);
        assert_eq!(r.u32_le().unwrap(), 2);
        assert_eq!(r.remaining(), 1);
        let err = r.u16_le().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Truncated {
                    needed: 2,
                    available: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(r.u8().unwrap(), 9);
        assert!(r.take(usize::MAX).is_err());
    }
}
