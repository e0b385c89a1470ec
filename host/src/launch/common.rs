//! What the sim and QEMU launchers share: the system clock for the simulated TEE, measured
//! components, and private scratch folders removed on drop.

use std::path::{Path, PathBuf};

use kiln_tee::sim::Clock;
use sha2::{Digest, Sha256, Sha384};

use kiln_proto::MeasuredComponent;

/// The system clock, for the simulated TEE's timestamps.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_millis(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// One measured component with its SHA-256 and SHA-384.
pub(crate) fn component(
    name: &str,
    uri: Option<String>,
    bytes: &[u8],
    content: Option<Vec<u8>>,
) -> MeasuredComponent {
    let mut digest = std::collections::BTreeMap::new();
    digest.insert("sha256".to_owned(), hex::encode(Sha256::digest(bytes)));
    digest.insert("sha384".to_owned(), hex::encode(Sha384::digest(bytes)));
    MeasuredComponent {
        name: name.to_owned(),
        uri,
        digest,
        content,
    }
}

/// A directory removed (with its contents) on drop.
#[derive(Debug)]
pub struct PrivateDir(PathBuf);

impl PrivateDir {
    /// Creates `<tmp>/kiln-sim-<random>` with mode 0700.
    pub fn create() -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("kiln-sim-{}", crate::random_hex(8)?));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Self(path))
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        // Best effort: nothing can be reported from a destructor, and a leftover temporary
        // directory is harmless (it only ever holds sockets).
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
