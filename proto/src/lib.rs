//! The wire protocol between kiln's host agent (untrusted) and its in-guest builder.
//!
//! A byte stream (a Unix socket for the simulator, virtio-serial or vsock for guests) carries
//! frames: a 4-byte big-endian length, then that many bytes of one CBOR-encoded [`Message`].
//! Lengths are bounded by [`MAX_FRAME`]; a frame that is too long, truncated, or does not
//! decode to a message is an error, never a panic. Every session starts with a
//! [`Message::Hello`] from each side carrying [`PROTOCOL_VERSION`].

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod frame;
pub mod message;

pub use frame::{read_frame, write_frame, FrameError, MAX_FRAME};
pub use message::{
    decode, encode, read_message, write_message, MeasuredComponent, Message, NamedBlob, Phase,
    Role, Stream, PROTOCOL_VERSION,
};

#[cfg(feature = "tokio")]
pub use frame::{read_frame_async, write_frame_async};

/// An error and every cause under it on one line, joined by `": "` (a cause whose text the
/// message above it already ends with is printed once): how every kiln program prints an
/// error, and the text an `Error` message carries over this protocol.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    for cause in error_causes(e) {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// Every cause under `e`, outermost first (not `e` itself): the one walk of an error chain
/// that [`error_chain`] and the host's multi-line report share.
pub fn error_causes<'a>(
    e: &'a (dyn std::error::Error + 'a),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(e.source(), |cause| cause.source())
}
