//! Length-prefixed frames with a hard size bound.

use std::fmt;
use std::io::{self, Read, Write};

/// Largest frame payload either side accepts (4 MiB). Source and artifact data travel in
/// chunks well below it.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug)]
pub enum FrameError {
    /// The stream ended cleanly before a new frame began.
    Closed,
    /// The stream ended inside a frame.
    Truncated {
        /// Bytes the frame (header included) needed.
        expected: usize,
        /// Bytes that arrived.
        got: usize,
    },
    /// The length prefix exceeds the bound.
    TooLarge {
        /// The announced length.
        len: u64,
        /// The bound.
        max: usize,
    },
    /// The payload does not decode as a message.
    Malformed(String),
    /// An I/O error on the stream.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("the peer closed the connection"),
            Self::Truncated { expected, got } => write!(
                f,
                "the connection ended inside a frame ({got} of {expected} bytes)"
            ),
            Self::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max} bytes")
            }
            Self::Malformed(why) => write!(f, "malformed message: {why}"),
            Self::Io(e) => write!(f, "I/O error on the connection: {e}"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

fn check_len(len: u32, max: usize) -> Result<usize, FrameError> {
    match usize::try_from(len) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(FrameError::TooLarge {
            len: u64::from(len),
            max,
        }),
    }
}

fn header(payload_len: usize) -> Result<[u8; 4], FrameError> {
    if payload_len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len: payload_len as u64,
            max: MAX_FRAME,
        });
    }
    let len = u32::try_from(payload_len).map_err(|_| FrameError::TooLarge {
        len: payload_len as u64,
        max: MAX_FRAME,
    })?;
    Ok(len.to_be_bytes())
}

/// Reads as many bytes as fill `buf`, returning how many arrived before end of stream.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = buf.get_mut(filled..).unwrap_or(&mut []);
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads one frame's payload (at most `max` bytes, and never more than [`MAX_FRAME`]).
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<Vec<u8>, FrameError> {
    let max = max.min(MAX_FRAME);
    let mut head = [0u8; 4];
    match read_full(r, &mut head)? {
        0 => return Err(FrameError::Closed),
        4 => {}
        got => return Err(FrameError::Truncated { expected: 4, got }),
    }
    let len = check_len(u32::from_be_bytes(head), max)?;
    let mut payload = vec![0u8; len];
    let got = read_full(r, &mut payload)?;
    if got != len {
        return Err(FrameError::Truncated {
            expected: len + 4,
            got: got + 4,
        });
    }
    Ok(payload)
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> Result<(), FrameError> {
    w.write_all(&header(payload.len())?)?;
    w.write_all(payload)?;
    w.flush()?;
    Ok(())
}

/// Async [`read_frame`] for the host agent.
#[cfg(feature = "tokio")]
pub async fn read_frame_async<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Vec<u8>, FrameError> {
    use tokio::io::AsyncReadExt;
    let max = max.min(MAX_FRAME);
    let mut head = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        let n = r.read(head.get_mut(filled..).unwrap_or(&mut [])).await?;
        if n == 0 {
            return Err(if filled == 0 {
                FrameError::Closed
            } else {
                FrameError::Truncated {
                    expected: 4,
                    got: filled,
                }
            });
        }
        filled += n;
    }
    let len = check_len(u32::from_be_bytes(head), max)?;
    let mut payload = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = r.read(payload.get_mut(got..).unwrap_or(&mut [])).await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                expected: len + 4,
                got: got + 4,
            });
        }
        got += n;
    }
    Ok(payload)
}

/// Async [`write_frame`] for the host agent.
#[cfg(feature = "tokio")]
pub async fn write_frame_async<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    payload: &[u8],
) -> Result<(), FrameError> {
    use tokio::io::AsyncWriteExt;
    w.write_all(&header(payload.len())?).await?;
    w.write_all(payload).await?;
    w.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello").unwrap();
        write_frame(&mut buf, b"").unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r, MAX_FRAME).unwrap(), b"hello");
        assert_eq!(read_frame(&mut r, MAX_FRAME).unwrap(), b"");
        assert!(matches!(
            read_frame(&mut r, MAX_FRAME),
            Err(FrameError::Closed)
        ));

        // A frame larger than the reader's bound is refused before allocating.
        let mut r = &buf[..];
        assert!(matches!(
            read_frame(&mut r, 4),
            Err(FrameError::TooLarge { len: 5, max: 4 })
        ));

        // A huge announced length is refused.
        let huge = [0xff, 0xff, 0xff, 0xff, 1, 2];
        assert!(matches!(
            read_frame(&mut &huge[..], MAX_FRAME),
            Err(FrameError::TooLarge { .. })
        ));

        // Truncated header and payload.
        assert!(matches!(
            read_frame(&mut &buf[..2], MAX_FRAME),
            Err(FrameError::Truncated {
                expected: 4,
                got: 2
            })
        ));
        assert!(matches!(
            read_frame(&mut &buf[..7], MAX_FRAME),
            Err(FrameError::Truncated {
                expected: 9,
                got: 7
            })
        ));
        assert!(write_frame(&mut Vec::new(), &vec![0u8; MAX_FRAME + 1]).is_err());
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn async_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            write_frame_async(&mut a, &[7u8; 1000]).await.unwrap();
        });
        assert_eq!(
            read_frame_async(&mut b, MAX_FRAME).await.unwrap(),
            vec![7u8; 1000]
        );
        writer.await.unwrap();
        assert!(matches!(
            read_frame_async(&mut b, MAX_FRAME).await,
            Err(FrameError::Closed)
        ));
    }
}
