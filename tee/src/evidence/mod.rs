//! Evidence encoders, one per platform, each documented against its specification's layout.

pub mod collateral;
pub mod nitro;
pub mod snp;
pub mod tdx;

use crate::error::TeeError;

/// A fixed-size buffer written at offsets. A write outside the buffer is remembered and
/// reported by [`Buf::finish`] instead of panicking.
#[derive(Debug)]
pub(crate) struct Buf {
    bytes: Vec<u8>,
    overflow: Option<(usize, usize)>,
}

impl Buf {
    pub(crate) fn new(len: usize) -> Self {
        Self {
            bytes: vec![0; len],
            overflow: None,
        }
    }

    pub(crate) fn put(&mut self, offset: usize, data: &[u8]) {
        match self
            .bytes
            .get_mut(offset..offset.saturating_add(data.len()))
        {
            Some(dst) => dst.copy_from_slice(data),
            None => {
                self.overflow.get_or_insert((offset, data.len()));
            }
        }
    }

    pub(crate) fn get(&self, start: usize, end: usize) -> Result<&[u8], TeeError> {
        self.bytes
            .get(start..end)
            .ok_or_else(|| TeeError::encoding("evidence", format!("range {start}..{end}")))
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>, TeeError> {
        match self.overflow {
            None => Ok(self.bytes),
            Some((offset, len)) => Err(TeeError::encoding(
                "evidence",
                format!(
                    "a field of {len} bytes at offset {offset:#x} overruns the {}-byte structure",
                    self.bytes.len()
                ),
            )),
        }
    }
}

/// Length-prefix helpers for the growable parts of a TDX quote.
pub(crate) fn u16_len(what: &'static str, len: usize) -> Result<[u8; 2], TeeError> {
    u16::try_from(len)
        .map(u16::to_le_bytes)
        .map_err(|_| TeeError::encoding(what, format!("{len} bytes exceed a 16-bit length")))
}

pub(crate) fn u32_len(what: &'static str, len: usize) -> Result<[u8; 4], TeeError> {
    u32::try_from(len)
        .map(u32::to_le_bytes)
        .map_err(|_| TeeError::encoding(what, format!("{len} bytes exceed a 32-bit length")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buf_reports_overruns_instead_of_panicking() {
        let mut b = Buf::new(4);
        b.put(2, &[1, 2]);
        assert_eq!(b.get(0, 4).ok(), Some(&[0u8, 0, 1, 2][..]));
        b.put(3, &[1, 2]);
        assert!(b.finish().is_err());
    }
}
