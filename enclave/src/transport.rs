//! Opening the byte streams to the host: Unix sockets now, virtio-serial ports and vsock for
//! VM guests. Everything above sees a [`Channel`].

use std::fs::OpenOptions;
use std::os::unix::net::UnixStream;

use kiln_tee::device::Channel;
use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, VsockAddr};

use crate::config::Addr;
use crate::error::EnclaveError;

/// Opens the stream at `addr`.
pub fn open(addr: &Addr) -> Result<Box<dyn Channel>, EnclaveError> {
    let fail = |source| EnclaveError::Connect {
        addr: addr.to_string(),
        source,
    };
    match addr {
        Addr::Unix(path) => Ok(Box::new(UnixStream::connect(path).map_err(fail)?)),
        // A virtio-serial port is a character device: reads and writes are the stream.
        Addr::Virtio(path) => Ok(Box::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(fail)?,
        )),
        Addr::Vsock { cid, port } => {
            let fd = socket(
                AddressFamily::Vsock,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .map_err(|e| fail(e.into()))?;
            connect(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                &VsockAddr::new(*cid, *port),
            )
            .map_err(|e| fail(e.into()))?;
            // A connected stream socket reads and writes like a file.
            Ok(Box::new(std::fs::File::from(fd)))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    #[test]
    fn a_unix_address_connects_and_carries_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let mut ch = open(&Addr::Unix(path)).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        ch.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[test]
    fn a_missing_endpoint_is_a_connect_error_naming_it() {
        let err = open(&Addr::Unix("/nonexistent/kiln.sock".into()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("unix:/nonexistent/kiln.sock"));
        let err = open(&Addr::Virtio("/nonexistent/port".into()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("virtio:/nonexistent/port"));
    }
}
