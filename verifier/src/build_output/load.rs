//! Reading a build output folder into a [`BuildOutput`]. This is the only I/O of the build
//! verification; [`super::verify`](fn@super::verify) itself reads nothing.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::build_output::error::BuildError;
use crate::build_output::verify::BuildOutput;

/// Largest file under `evidence/` read (TDX collateral is ~20 KB; Nitro documents ~5 KB).
const MAX_EVIDENCE_FILE: u64 = 4 * 1024 * 1024;
/// Largest provenance bundle read.
const MAX_BUNDLE: u64 = 64 * 1024 * 1024;
/// Deepest directory nesting under `artifacts/`.
const MAX_DEPTH: usize = 64;

fn io(path: &Path, e: impl std::fmt::Display) -> BuildError {
    BuildError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, BuildError> {
    let meta = fs::symlink_metadata(path).map_err(|e| io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(io(path, "not a regular file"));
    }
    if meta.len() > max {
        return Err(io(
            path,
            format!("{} bytes is over the limit of {max}", meta.len()),
        ));
    }
    fs::read(path).map_err(|e| io(path, e))
}

use kiln_provenance::layout::{
    ARTIFACTS_DIR, ATTESTATION_FILES, BUNDLE_FILE, EVIDENCE_DIR, OUTPUT_DIRS, OUTPUT_FILES,
    PUBLIC_KEY_FILE,
};

/// Refuses any entry at the top of `dir` that is not part of a signed output (a stray script or
/// document beside the artifacts would otherwise travel with a verified output).
fn check_layout(dir: &Path) -> Result<(), BuildError> {
    for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| io(&path, e))?;
        let name = entry.file_name();
        let name = name.to_str().unwrap_or_default();
        let known = (kind.is_file() && OUTPUT_FILES.contains(&name))
            || (kind.is_dir() && OUTPUT_DIRS.contains(&name));
        if !known {
            return Err(BuildError::Layout {
                path: path.display().to_string(),
                reason: format!(
                    "an output folder holds only {} and the folders {}",
                    OUTPUT_FILES.join(", "),
                    OUTPUT_DIRS.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// Loads `OUT/provenance.sigstore.json`, `OUT/public-key.pem`, the SBOM files present, every
/// file of `OUT/evidence/`
/// and the SHA-256 of every file under `OUT/artifacts/`. Symbolic links and other special
/// files under `artifacts/` are refused (a subject is a regular file), and so is anything else
/// at the top of `OUT`.
pub fn load_output_dir(dir: &Path) -> Result<BuildOutput, BuildError> {
    check_layout(dir)?;
    let bundle_json = read_bounded(&dir.join(BUNDLE_FILE), MAX_BUNDLE)?;
    let key_path = dir.join(PUBLIC_KEY_FILE);
    let public_key_pem = String::from_utf8(read_bounded(&key_path, MAX_EVIDENCE_FILE)?)
        .map_err(|e| io(&key_path, e))?;
    let mut evidence_files = BTreeMap::new();
    let evidence_dir = dir.join(EVIDENCE_DIR);
    for entry in fs::read_dir(&evidence_dir).map_err(|e| io(&evidence_dir, e))? {
        let entry = entry.map_err(|e| io(&evidence_dir, e))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| io(&entry.path(), format!("file name {n:?} is not UTF-8")))?;
        evidence_files.insert(name, read_bounded(&entry.path(), MAX_EVIDENCE_FILE)?);
    }
    let mut attestation_files = BTreeMap::new();
    for name in ATTESTATION_FILES {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_ok() {
            attestation_files.insert((*name).to_owned(), read_bounded(&path, MAX_BUNDLE)?);
        }
    }
    let mut artifacts = BTreeMap::new();
    walk(&dir.join(ARTIFACTS_DIR), "", 0, &mut artifacts)?;
    Ok(BuildOutput {
        bundle_json,
        public_key_pem,
        evidence_files,
        attestation_files,
        artifacts,
    })
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut BTreeMap<String, [u8; 32]>,
) -> Result<(), BuildError> {
    if depth > MAX_DEPTH {
        return Err(io(dir, "artifacts nested too deeply"));
    }
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| io(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| io(&path, format!("file name {n:?} is not UTF-8")))?;
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type().map_err(|e| io(&path, e))?;
        if kind.is_dir() {
            walk(&path, &rel, depth + 1, out)?;
        } else if kind.is_file() {
            let mut file = fs::File::open(&path).map_err(|e| io(&path, e))?;
            let mut hasher = Sha256::new();
            std::io::copy(&mut file, &mut hasher).map_err(|e| io(&path, e))?;
            out.insert(rel, hasher.finalize().into());
        } else {
            return Err(io(
                &path,
                "not a regular file or directory (symbolic links are refused)",
            ));
        }
    }
    Ok(())
}
