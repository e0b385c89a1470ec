//! What the build resolved: the declared tools (their binaries' digests and versions) and
//! the packages a `Cargo.lock` in the source pins.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln_verifier::build::{ResourceDescriptor, Tool};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::EnclaveError;

/// How long a `--version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// Finds `name` on `path` (a `:`-separated list), as a shell would: the first executable.
fn which(name: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    path.split(':').filter(|d| !d.is_empty()).find_map(|d| {
        let candidate = Path::new(d).join(name);
        let meta = fs::metadata(&candidate).ok()?;
        (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(candidate)
    })
}

fn sha256_file(path: &Path) -> Result<String, EnclaveError> {
    let mut f = fs::File::open(path).map_err(|e| EnclaveError::io("open", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| EnclaveError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(h.finalize()))
}

/// The first non-empty line `binary version_arg` prints (stdout, else stderr), run with the
/// build's environment and a time limit.
fn version_line(
    binary: &Path,
    arg: &str,
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<String, String> {
    let mut child = Command::new(binary)
        .arg(arg)
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {} {arg}: {e}", binary.display()))?;
    // Read both pipes while waiting, so that a chatty tool cannot block on a full pipe.
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(p) = pipe {
                let _ = p.take(1 << 20).read_to_string(&mut text);
            }
            text
        })
    };
    let out_t = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err_t = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > VERSION_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} {arg} did not finish in {} s",
                    binary.display(),
                    VERSION_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = out_t.join().unwrap_or_default();
    let err = err_t.join().unwrap_or_default();
    Ok(out
        .lines()
        .chain(err.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_owned())
}

/// Each declared tool, resolved on the build's PATH to its real file: `uri` file://path,
/// `digest` sha256, `annotations.version` the first line of its version output.
pub fn resolve_tools(
    tools: &[Tool],
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<Vec<ResourceDescriptor>, EnclaveError> {
    let path = env.get("PATH").map(String::as_str).unwrap_or_default();
    let mut out = Vec::new();
    for tool in tools {
        let fail = |reason: String| EnclaveError::Toolchain {
            tool: tool.name.clone(),
            reason,
        };
        let found = which(&tool.name, path).ok_or_else(|| fail(format!("not on PATH {path}")))?;
        let real = fs::canonicalize(&found)
            .map_err(|e| fail(format!("cannot resolve {}: {e}", found.display())))?;
        let digest = sha256_file(&real)?;
        let arg = tool.version_arg.as_deref().unwrap_or("--version");
        let version = version_line(&found, arg, env, cwd).map_err(fail)?;
        out.push(ResourceDescriptor {
            uri: Some(format!("file://{}", real.display())),
            digest: [("sha256".to_owned(), digest)].into_iter().collect(),
            name: Some(tool.name.clone()),
            annotations: Some(serde_json::json!({ "version": version })),
            ..ResourceDescriptor::default()
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct LockFile {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    #[serde(default)]
    checksum: Option<String>,
}

/// The packages of every `Cargo.lock` under `root` (sorted, each once) as
/// `pkg:cargo/NAME@VERSION` with the registry checksum as sha256 when there is one.
pub fn cargo_packages(root: &Path) -> Result<Vec<ResourceDescriptor>, EnclaveError> {
    let mut locks = Vec::new();
    find_locks(root, &mut locks)?;
    let mut seen = BTreeSet::new();
    for lock in locks {
        let text = fs::read_to_string(&lock).map_err(|e| EnclaveError::io("read", &lock, e))?;
        let parsed: LockFile = toml::from_str(&text).map_err(|e| EnclaveError::Request {
            reason: format!(
                "{} is not a valid Cargo.lock: {e}",
                lock.strip_prefix(root).unwrap_or(&lock).display()
            ),
        })?;
        for p in parsed.package {
            seen.insert((p.name, p.version, p.checksum));
        }
    }
    Ok(seen
        .into_iter()
        .map(|(name, version, checksum)| ResourceDescriptor {
            uri: Some(format!("pkg:cargo/{name}@{version}")),
            digest: checksum
                .map(|c| [("sha256".to_owned(), c)].into_iter().collect())
                .unwrap_or_default(),
            ..ResourceDescriptor::default()
        })
        .collect())
}

fn find_locks(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), EnclaveError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| EnclaveError::io("list", dir, e))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            find_locks(&e.path(), out)?;
        } else if ft.is_file() && e.file_name() == "Cargo.lock" {
            out.push(e.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn a_tool_resolves_to_its_file_digest_and_version() {
        let mut env = BTreeMap::new();
        env.insert("PATH".to_owned(), crate::build::STANDARD_PATH.to_owned());
        let tools = [Tool {
            name: "sh".into(),
            version_arg: Some("-c".into()),
        }];
        // `sh -c` with no command prints nothing or an error; either way it resolves.
        let dir = tempfile::tempdir().unwrap();
        let r = resolve_tools(&tools, &env, dir.path());
        let r = r.unwrap();
        assert!(r[0].uri.as_ref().unwrap().starts_with("file:///"));
        assert_eq!(r[0].digest["sha256"].len(), 64);
        let missing = [Tool {
            name: "no-such-tool-kiln".into(),
            version_arg: None,
        }];
        let err = resolve_tools(&missing, &env, dir.path()).unwrap_err();
        assert!(err.to_string().contains("no-such-tool-kiln"));
    }

    #[test]
    fn cargo_lock_packages_are_listed_once_with_checksums() {
        let d = tempfile::tempdir().unwrap();
        let lock = "version = 3\n\n[[package]]\nname = \"demo\"\nversion = \"0.1.0\"\n\n\
                    [[package]]\nname = \"itoa\"\nversion = \"1.0.11\"\nsource = \"registry+x\"\n\
                    checksum = \"49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b\"\n";
        fs::write(d.path().join("Cargo.lock"), lock).unwrap();
        fs::create_dir(d.path().join("sub")).unwrap();
        fs::write(d.path().join("sub/Cargo.lock"), lock).unwrap();
        let p = cargo_packages(d.path()).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].uri.as_deref(), Some("pkg:cargo/demo@0.1.0"));
        assert!(p[0].digest.is_empty());
        assert_eq!(p[1].uri.as_deref(), Some("pkg:cargo/itoa@1.0.11"));
        assert_eq!(p[1].digest["sha256"].len(), 64);
        fs::write(d.path().join("Cargo.lock"), "[[package]]\nname = 3\n").unwrap();
        assert!(cargo_packages(d.path()).is_err());
    }
}
