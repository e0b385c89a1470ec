//! Fetching a pinned `.deb`: from the download cache, else the configured apt sources
//! (`apt-get download`), else the snapshot archive over HTTP(S). The pin's SHA-256 decides;
//! a file with any other digest is discarded whatever its source.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{cache_file_name, ArchiveError};
use crate::recipe::{DebPin, SnapshotRecipe};

/// The largest `.deb` kiln downloads (the kernel is ~70 MiB).
pub const MAX_DEB_BYTES: u64 = 1 << 30;

/// Which sources to try, in order: apt, then the snapshot archive.
#[derive(Debug, Clone)]
pub struct FetchSources {
    /// Try the configured apt sources (`apt-get download`; `APT_CONFIG` is honoured).
    pub apt: bool,
    /// Try the snapshot URL of the pin.
    pub snapshot: bool,
    http: ureq::Agent,
}

impl FetchSources {
    /// Both sources, with an HTTP client that takes proxies from the environment and gives up
    /// on a silent server.
    pub fn new(apt: bool, snapshot: bool) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_body(Some(Duration::from_secs(120)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build();
        FetchSources {
            apt,
            snapshot,
            http: config.new_agent(),
        }
    }

    /// Whether the snapshot archive serves `url` (a HEAD request). `Err` when the service
    /// could not be asked at all (unreachable, DNS), with why.
    pub fn snapshot_serves(&self, url: &str) -> Result<bool, String> {
        match self.http.head(url).call() {
            Ok(resp) => Ok(resp.status().is_success()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Where a fetched `.deb` came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchedFrom {
    /// It was in the download cache with the pinned digest.
    Cache,
    /// `apt-get download` from the configured apt sources.
    Apt,
    /// The snapshot archive, at this URL.
    Snapshot(String),
}

/// SHA-256 of a file, lowercase hex (streamed by [`crate::image::sha256_file`]).
fn sha256_hex(path: &Path) -> Result<String, crate::ImageError> {
    crate::image::sha256_file(path).map(|(_, d)| hex::encode(d))
}

/// Downloads `pin` into `debs` (created if needed) unless a file with its digest is there.
/// Returns the file and its source; the error lists every source tried and why it failed.
pub fn fetch_pin(
    pin: &DebPin,
    snapshot: &SnapshotRecipe,
    sources: &FetchSources,
    debs: &Path,
) -> Result<(PathBuf, FetchedFrom), ArchiveError> {
    fs::create_dir_all(debs).map_err(ArchiveError::io(format!("create {}", debs.display())))?;
    let dest = debs.join(cache_file_name(pin));
    if dest.is_file() {
        if sha256_hex(&dest).ok().as_deref() == Some(pin.sha256.as_str()) {
            return Ok((dest, FetchedFrom::Cache));
        }
        fs::remove_file(&dest).map_err(ArchiveError::io(format!("remove {}", dest.display())))?;
    }
    let scratch = tempfile::Builder::new()
        .prefix(".partial-")
        .tempdir_in(debs)
        .map_err(ArchiveError::io(format!(
            "create a folder in {}",
            debs.display()
        )))?;
    let mut attempts = Vec::new();
    let accept = |got: PathBuf, from: FetchedFrom, attempts: &mut Vec<String>| {
        let what = match &from {
            FetchedFrom::Snapshot(url) => format!("snapshot archive {url}"),
            _ => "apt sources".to_owned(),
        };
        match sha256_hex(&got) {
            Ok(d) if d == pin.sha256 => match fs::rename(&got, &dest) {
                Ok(()) => Some((dest.clone(), from)),
                Err(e) => {
                    attempts.push(format!("{what}: cannot move into {}: {e}", dest.display()));
                    None
                }
            },
            Ok(d) => {
                attempts.push(format!(
                    "{what}: served a file with SHA-256 {d}, not the pinned {} (discarded)",
                    pin.sha256
                ));
                None
            }
            Err(e) => {
                attempts.push(format!("{what}: cannot read the download: {e}"));
                None
            }
        }
    };
    if sources.apt {
        match apt_download(pin, scratch.path()) {
            Ok(got) => {
                if let Some(ok) = accept(got, FetchedFrom::Apt, &mut attempts) {
                    return Ok(ok);
                }
            }
            Err(e) => attempts.push(format!("apt sources: {e}")),
        }
    } else {
        attempts.push("apt sources: not tried (disabled)".into());
    }
    match snapshot.url(pin) {
        Some(url) if sources.snapshot => {
            let target = scratch.path().join("snapshot.deb");
            match http_download(&sources.http, &url, &target) {
                Ok(()) => {
                    if let Some(ok) = accept(target, FetchedFrom::Snapshot(url), &mut attempts) {
                        return Ok(ok);
                    }
                }
                Err(e) => attempts.push(format!("snapshot archive {url}: {e}")),
            }
        }
        Some(_) => attempts.push("snapshot archive: not tried (disabled)".into()),
        None => attempts.push(format!(
            "snapshot archive: suite {} has no [snapshot.suites] entry",
            pin.suite
        )),
    }
    Err(ArchiveError::Unavailable {
        pin: format!("{}={}", pin.package, pin.version),
        attempts,
    })
}

/// `apt-get download PACKAGE=VERSION` in `dir`; the one `.deb` it wrote.
fn apt_download(pin: &DebPin, dir: &Path) -> Result<PathBuf, String> {
    let out = Command::new("apt-get")
        .args(["download", "-q"])
        .arg(format!("{}={}", pin.package, pin.version))
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .filter(|l| l.starts_with("E:"))
            .collect::<Vec<_>>()
            .join(" ");
        return Err(if last.is_empty() {
            format!("apt-get download failed ({})", out.status)
        } else {
            last
        });
    }
    let mut debs = fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"));
    match (debs.next(), debs.next()) {
        (Some(p), None) => Ok(p),
        _ => Err("apt-get download did not leave exactly one .deb".into()),
    }
}

/// GET `url` into `target`, at most [`MAX_DEB_BYTES`].
fn http_download(agent: &ureq::Agent, url: &str, target: &Path) -> Result<(), String> {
    let resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let mut reader = resp
        .into_body()
        .into_with_config()
        .limit(MAX_DEB_BYTES)
        .reader();
    let mut f =
        fs::File::create(target).map_err(|e| format!("create {}: {e}", target.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| format!("reading the body: {e}"))?;
        if n == 0 {
            break;
        }
        f.write_all(buf.get(..n).unwrap_or_default())
            .map_err(|e| format!("write {}: {e}", target.display()))?;
    }
    f.sync_all()
        .map_err(|e| format!("sync {}: {e}", target.display()))
}
