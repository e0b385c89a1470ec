//! The output folder, written atomically: everything goes to a sibling staging folder
//! `OUT.kiln-tmp-<random>`, which is renamed into place only after the build succeeded and
//! the output verified; on any failure the staging folder is removed and `OUT` is untouched.
//!
//! ```text
//! OUT/artifacts/<subject paths>
//! OUT/provenance.sigstore.json
//! OUT/public-key.pem
//! OUT/evidence/evidence.bin (+ vek.der, chain.pem, collateral.json, simulated-root.der)
//! ```
//!
//! Also: the sealed signing key, kept in `<state>/keys/<backend>-<platform>.sealed` (0600).

use std::path::{Path, PathBuf};

use crate::error::HostError;
use crate::session::SessionResult;

use kiln_provenance::layout::{ARTIFACTS_DIR, BUNDLE_FILE, EVIDENCE_DIR, PUBLIC_KEY_FILE};

/// Refuses an existing, non-empty `out` unless `force`.
pub fn check_out(out: &Path, force: bool) -> Result<(), HostError> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                Err(HostError::OutputExists {
                    path: out.to_path_buf(),
                })
            } else {
                Ok(())
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(HostError::Usage {
            message: format!("--out {} exists and is not a folder", out.display()),
        }),
        Err(e) => Err(HostError::io(out, "inspect the output folder")(e)),
    }
}

/// A staging folder, removed on drop unless committed.
#[derive(Debug)]
pub struct Staging {
    path: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Staging {
    /// Creates `OUT.kiln-tmp-<random>` next to `out` (creating `out`'s parent if needed),
    /// with `artifacts/` and `evidence/` inside.
    pub fn create(out: &Path) -> Result<Self, HostError> {
        let name = out.file_name().ok_or_else(|| HostError::Usage {
            message: format!("--out {} does not name a folder", out.display()),
        })?;
        let parent = out.parent().unwrap_or_else(|| Path::new("."));
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        std::fs::create_dir_all(parent)
            .map_err(HostError::io(parent, "create the output's parent folder"))?;
        let suffix =
            crate::random_hex(6).map_err(HostError::io(parent, "name a staging folder"))?;
        let path = parent.join(format!("{}.kiln-tmp-{suffix}", name.to_string_lossy()));
        std::fs::create_dir(&path).map_err(HostError::io(&path, "create the staging folder"))?;
        let staging = Self {
            path,
            out: out.to_path_buf(),
            committed: false,
        };
        for sub in [ARTIFACTS_DIR, EVIDENCE_DIR] {
            let p = staging.path.join(sub);
            std::fs::create_dir(&p).map_err(HostError::io(&p, "create"))?;
        }
        Ok(staging)
    }

    /// The staging folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its `artifacts/`.
    pub fn artifacts(&self) -> PathBuf {
        self.path.join(ARTIFACTS_DIR)
    }

    /// Writes the result's bundle, public key and evidence files.
    pub fn write_result(&self, result: &SessionResult) -> Result<(), HostError> {
        let write = |rel: &Path, data: &[u8]| {
            let p = self.path.join(rel);
            std::fs::write(&p, data).map_err(HostError::io(p, "write"))
        };
        write(Path::new(BUNDLE_FILE), &result.bundle)?;
        write(Path::new(PUBLIC_KEY_FILE), result.public_key_pem.as_bytes())?;
        for blob in &result.evidence {
            // The session checked each name against the fixed list of evidence files.
            write(&Path::new(EVIDENCE_DIR).join(&blob.name), &blob.data)?;
        }
        for blob in &result.attestations {
            // The session checked each name against the fixed list of attestation files.
            write(Path::new(&blob.name), &blob.data)?;
        }
        Ok(())
    }

    /// Moves the staging folder to `out`, replacing an existing `out` (checked by
    /// [`check_out`] before the build) only now.
    pub fn commit(mut self) -> Result<PathBuf, HostError> {
        let out = self.out.clone();
        let mut old = None;
        if std::fs::symlink_metadata(&out).is_ok() {
            let parent = self.path.parent().unwrap_or_else(|| Path::new("."));
            let suffix = crate::random_hex(6).map_err(HostError::io(parent, "name a folder"))?;
            let name = out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let aside = parent.join(format!("{name}.kiln-old-{suffix}"));
            std::fs::rename(&out, &aside)
                .map_err(HostError::io(&out, "move the old output folder aside"))?;
            old = Some(aside);
        }
        if let Err(e) = std::fs::rename(&self.path, &out) {
            if let Some(aside) = &old {
                // Put the old output back; if that fails too, the first error is the one to
                // report and the old output is still in `aside`.
                let _ = std::fs::rename(aside, &out);
            }
            return Err(HostError::io(&out, "move the new output into place")(e));
        }
        self.committed = true;
        if let Some(aside) = old {
            std::fs::remove_dir_all(&aside)
                .map_err(HostError::io(&aside, "remove the replaced output folder"))?;
        }
        Ok(out)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort on a failure path: the error being reported matters more.
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Where the sealed key of a backend and platform is kept.
pub fn sealed_key_path(state_dir: &Path, backend: &str, platform: &str) -> PathBuf {
    state_dir
        .join("keys")
        .join(format!("{backend}-{platform}.sealed"))
}

/// Reads the sealed key, if one was kept.
pub fn load_sealed_key(path: &Path) -> Result<Option<Vec<u8>>, HostError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(HostError::io(path, "read the sealed key")(e)),
    }
}

/// Stores the sealed key (mode 0600, folder 0700), replacing the old one atomically.
pub fn store_sealed_key(path: &Path, blob: &[u8]) -> Result<(), HostError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(HostError::io(dir, "create the key folder"))?;
    let suffix = crate::random_hex(6).map_err(HostError::io(dir, "name a file"))?;
    let tmp = dir.join(format!(".sealed-{suffix}"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(HostError::io(&tmp, "create"))?;
    let written = f.write_all(blob).and_then(|()| f.sync_all());
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(HostError::io(path, "store the sealed key")(e));
    }
    Ok(())
}
