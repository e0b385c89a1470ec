//! What the build resolved: the declared tools (their binaries' digests and versions) and
//! the packages a `Cargo.lock` in the source pins.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln_provenance::{ResourceDescriptor, Tool};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::EnclaveError;

/// How long a `--version` (or a `rustup which`) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

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

/// What a probe printed.
struct ProbeOutput {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `binary args` with the build's environment (and nothing else), in `cwd`, with
/// [`PROBE_TIMEOUT`], and collects its output.
fn probe(
    binary: &Path,
    args: &[&str],
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<ProbeOutput, String> {
    let shown = format!("{} {}", binary.display(), args.join(" "));
    let mut child = Command::new(binary)
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
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
    // Short sleeps first: a `--version` typically ends within a few milliseconds.
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > PROBE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{shown} did not finish in {} s",
                    PROBE_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    };
    Ok(ProbeOutput {
        success: status.success(),
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    })
}

/// The first non-empty line `binary arg` prints (stdout, else stderr).
fn version_line(
    binary: &Path,
    arg: &str,
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<String, String> {
    let out = probe(binary, &[arg], env, cwd)?;
    Ok(out
        .stdout
        .lines()
        .chain(out.stderr.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_owned())
}

/// A file's identity: two names (symbolic or hard links) of one file share it.
type FileId = (u64, u64);

fn file_id(path: &Path) -> std::io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// The rustup that `real` (a resolved tool) is a proxy of: `rustup` itself when `real` is
/// the same file as the `rustup` on the PATH (rustup installs its proxies as symbolic or
/// hard links to itself), or `real` when its own name is `rustup` (a link to a rustup that
/// is not on the PATH). An environment that merely names a toolchain (`RUSTUP_TOOLCHAIN`)
/// does not make a binary a proxy: a distribution's cargo ignores it.
fn rustup_of(
    real: &Path,
    id: FileId,
    rustup_on_path: Option<&(PathBuf, FileId)>,
) -> Option<PathBuf> {
    if let Some((rustup, rustup_id)) = rustup_on_path {
        if *rustup_id == id {
            return Some(rustup.clone());
        }
    }
    let name = real.file_name()?.to_str()?;
    (name == "rustup" || name.starts_with("rustup-init")).then(|| real.to_path_buf())
}

/// The binary the rustup proxy `tool` runs for this build: `rustup which TOOL` with the
/// build's environment in the source folder (so `RUSTUP_TOOLCHAIN` and a
/// `rust-toolchain.toml` choose the toolchain, as they will for the build).
fn rustup_which(
    rustup: &Path,
    tool: &str,
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<PathBuf, String> {
    let out = probe(rustup, &["which", tool], env, cwd)?;
    let line = out.stdout.lines().map(str::trim).find(|l| !l.is_empty());
    match line {
        Some(path) if out.success => Ok(PathBuf::from(path)),
        _ => Err(format!(
            "{tool} is a rustup proxy, and `{} which {tool}` did not name its binary: {}",
            rustup.display(),
            out.stderr.trim()
        )),
    }
}

/// One declared tool, found on the PATH and, through a rustup proxy, to its real binary.
struct Located {
    /// The real binary (canonical path): what is hashed and recorded.
    real: PathBuf,
    /// What the version probe runs: the name the PATH gives (a multi-call binary such as
    /// busybox answers by the name it is run as), or for a proxy the binary it runs.
    run: PathBuf,
    id: FileId,
    /// The rustup proxy the build's PATH reaches first, when there is one.
    proxy: Option<PathBuf>,
}

fn locate(
    tool: &Tool,
    path: &str,
    rustup_on_path: Option<&(PathBuf, FileId)>,
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<Located, String> {
    let found = which(&tool.name, path).ok_or_else(|| format!("not on PATH {path}"))?;
    let canonical = |p: &Path| {
        let real =
            fs::canonicalize(p).map_err(|e| format!("cannot resolve {}: {e}", p.display()))?;
        let id = file_id(&real).map_err(|e| format!("cannot inspect {}: {e}", real.display()))?;
        Ok::<_, String>((real, id))
    };
    let (real, id) = canonical(&found)?;
    let Some(rustup) = rustup_of(&real, id, rustup_on_path) else {
        return Ok(Located {
            real,
            run: found,
            id,
            proxy: None,
        });
    };
    let (target, target_id) = canonical(&rustup_which(&rustup, &tool.name, env, cwd)?)?;
    if target_id == id {
        return Err(format!(
            "`{} which {}` names the proxy itself ({})",
            rustup.display(),
            tool.name,
            target.display()
        ));
    }
    Ok(Located {
        run: target.clone(),
        real: target,
        id: target_id,
        proxy: Some(found),
    })
}

/// The files to hash: each distinct one once (two names of one file share its identity).
fn distinct_files(found: &[Located]) -> BTreeMap<FileId, &Path> {
    let mut files: BTreeMap<FileId, &Path> = BTreeMap::new();
    for f in found {
        files.entry(f.id).or_insert(&f.real);
    }
    files
}

/// Each declared tool, resolved on the build's PATH to its real file: `uri` file://path,
/// `digest` sha256, `annotations.version` the first line of its version output.
///
/// A rustup proxy (`cargo`, `rustc`, … linked to rustup) is followed to the toolchain's
/// binary it runs for this build (`rustup which`); that binary is recorded, with the proxy's
/// path in `annotations.proxy`. Each distinct file is hashed once, however many tools name
/// it, and the hashing and the version probes run concurrently.
pub fn resolve_tools(
    tools: &[Tool],
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<Vec<ResourceDescriptor>, EnclaveError> {
    let path = env.get("PATH").map(String::as_str).unwrap_or_default();
    let fail = |tool: &Tool, reason: String| EnclaveError::Toolchain {
        tool: tool.name.clone(),
        reason,
    };
    let rustup_on_path = which("rustup", path)
        .and_then(|p| fs::canonicalize(&p).ok().map(|real| (p, real)))
        .and_then(|(p, real)| file_id(&real).ok().map(|id| (p, id)));

    // Locating runs `rustup which` for proxies: one thread per tool.
    let located: Vec<Result<Located, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = tools
            .iter()
            .map(|tool| s.spawn(|| locate(tool, path, rustup_on_path.as_ref(), env, cwd)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("locating panicked".to_owned()))
            })
            .collect()
    });
    let mut found = Vec::with_capacity(tools.len());
    for (tool, located) in tools.iter().zip(located) {
        found.push(located.map_err(|reason| fail(tool, reason))?);
    }

    let files = distinct_files(&found);
    let (digests, versions) = std::thread::scope(|s| {
        let digests: Vec<_> = files
            .iter()
            .map(|(id, real)| (*id, s.spawn(move || sha256_file(real))))
            .collect();
        let versions: Vec<_> = tools
            .iter()
            .zip(&found)
            .map(|(tool, f)| {
                let arg = tool.version_arg.as_deref().unwrap_or("--version");
                s.spawn(move || version_line(&f.run, arg, env, cwd))
            })
            .collect();
        let digests: Vec<(FileId, Result<String, EnclaveError>)> = digests
            .into_iter()
            .map(|(id, h)| {
                let digest = h.join().unwrap_or_else(|_| {
                    Err(EnclaveError::Toolchain {
                        tool: files
                            .get(&id)
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        reason: "hashing panicked".to_owned(),
                    })
                });
                (id, digest)
            })
            .collect();
        let versions: Vec<Result<String, String>> = versions
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("version probe panicked".to_owned()))
            })
            .collect();
        (digests, versions)
    });
    let mut digest_of = BTreeMap::new();
    for (id, digest) in digests {
        digest_of.insert(id, digest?);
    }

    let mut out = Vec::with_capacity(tools.len());
    for ((tool, f), version) in tools.iter().zip(found).zip(versions) {
        let version = version.map_err(|reason| fail(tool, reason))?;
        let digest = digest_of.get(&f.id).cloned().ok_or_else(|| {
            // Unreachable: every located file was hashed above.
            fail(tool, format!("{} was not hashed", f.real.display()))
        })?;
        let mut annotations = serde_json::json!({ "version": version });
        if let (Some(proxy), Some(map)) = (&f.proxy, annotations.as_object_mut()) {
            map.insert(
                "proxy".to_owned(),
                serde_json::Value::String(proxy.display().to_string()),
            );
        }
        out.push(ResourceDescriptor {
            uri: Some(format!("file://{}", f.real.display())),
            digest: [("sha256".to_owned(), digest)].into_iter().collect(),
            name: Some(tool.name.clone()),
            annotations: Some(annotations),
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
    source: Option<String>,
    #[serde(default)]
    checksum: Option<String>,
}

/// The file `cargo vendor` puts in every vendored crate (and cargo checks): a folder holding
/// it is a dependency's source, not a workspace of the project.
const VENDORED_CRATE_MARKER: &str = ".cargo-checksum.json";

/// The index URLs under which cargo names crates.io.
const CRATES_IO_SOURCES: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

/// The packages that the project's `Cargo.lock` files pin (sorted, each once), as
/// `pkg:cargo/NAME@VERSION`:
///
/// - a registry package with its checksum as `sha256` (the `.crate` file's digest), and for
///   crates.io its download location;
/// - a git package with its commit as `gitCommit` and its repository as download location;
/// - packages without a source (the project's own crates, path dependencies) are left out:
///   they are files of the source archive, which the `kiln:source` entry's digest covers.
///
/// Every `Cargo.lock` under `root` counts (several workspaces may share a source tree) except
/// those inside vendored crates (folders holding `.cargo-checksum.json`) and inside `target/`
/// folders: a vendored crate's own lock file pins its development dependencies, which this
/// build never resolves.
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
            if let Some(source) = p.source {
                seen.insert((p.name, p.version, source, p.checksum));
            }
        }
    }
    Ok(seen
        .into_iter()
        .map(|(name, version, source, checksum)| locked_package(name, version, &source, checksum))
        .collect())
}

fn locked_package(
    name: String,
    version: String,
    source: &str,
    checksum: Option<String>,
) -> ResourceDescriptor {
    let mut digest = BTreeMap::new();
    let mut download_location = None;
    if let Some(c) = checksum {
        digest.insert("sha256".to_owned(), c);
    }
    let crates_io = CRATES_IO_SOURCES.contains(&source);
    if crates_io {
        download_location = Some(format!(
            "https://crates.io/api/v1/crates/{name}/{version}/download"
        ));
    } else if let Some(git) = source.strip_prefix("git+") {
        // git+URL?rev=…#COMMIT: the fragment is the commit cargo locked.
        if let Some((url, commit)) = git.rsplit_once('#') {
            digest.insert("gitCommit".to_owned(), commit.to_owned());
            let repo = url.split_once('?').map_or(url, |(repo, _)| repo);
            download_location = Some(repo.to_owned());
        }
    }
    ResourceDescriptor {
        uri: Some(format!("pkg:cargo/{name}@{version}")),
        digest,
        download_location,
        annotations: (!crates_io).then(|| serde_json::json!({ "cargoSource": source })),
        ..ResourceDescriptor::default()
    }
}

fn find_locks(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), EnclaveError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| EnclaveError::io("list", dir, e))?
        .filter_map(Result::ok)
        .collect();
    if entries
        .iter()
        .any(|e| e.file_name() == VENDORED_CRATE_MARKER)
    {
        return Ok(());
    }
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() && e.file_name() != "target" {
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
        env.insert("PATH".to_owned(), crate::hermetic::STANDARD_PATH.to_owned());
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

    fn script(path: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            version_arg: None,
        }
    }

    #[test]
    fn two_names_of_one_binary_are_hashed_once() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        fs::create_dir(&bin).unwrap();
        script(
            &d.path().join("multi"),
            "echo \"multi 1.0 as $(basename \"$0\")\"",
        );
        std::os::unix::fs::symlink(d.path().join("multi"), bin.join("one")).unwrap();
        std::os::unix::fs::symlink(d.path().join("multi"), bin.join("two")).unwrap();
        let path = format!("{}:{}", bin.display(), crate::hermetic::STANDARD_PATH);
        let env: BTreeMap<String, String> = [("PATH".to_owned(), path.clone())].into();
        let found: Vec<Located> = ["one", "two"]
            .iter()
            .map(|n| locate(&tool(n), &path, None, &env, d.path()).unwrap())
            .collect();
        let files = distinct_files(&found);
        assert_eq!(files.len(), 1);
        let real = fs::canonicalize(d.path().join("multi")).unwrap();
        assert_eq!(files.values().next().copied(), Some(real.as_path()));

        let r = resolve_tools(&[tool("one"), tool("two")], &env, d.path()).unwrap();
        assert_eq!(r[0].uri, Some(format!("file://{}", real.display())));
        assert_eq!(r[0].uri, r[1].uri);
        assert_eq!(r[0].digest["sha256"], sha256_file(&real).unwrap());
        assert_eq!(r[0].digest, r[1].digest);
        // Each ran under its own name; neither is a proxy.
        assert_eq!(
            r[0].annotations,
            Some(serde_json::json!({"version": "multi 1.0 as one"}))
        );
        assert_eq!(
            r[1].annotations,
            Some(serde_json::json!({"version": "multi 1.0 as two"}))
        );
    }

    #[test]
    fn a_rustup_proxy_is_followed_to_the_toolchain_binary() {
        let d = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(d.path()).unwrap();
        let (bin, toolchain) = (root.join("cargo-bin"), root.join("toolchain/bin"));
        fs::create_dir(&bin).unwrap();
        fs::create_dir_all(&toolchain).unwrap();
        // A fake rustup: `which TOOL` names the toolchain's binary; as a proxy it would say so.
        script(
            &bin.join("rustup"),
            "if [ \"$1\" = which ]; then echo \"$FAKE_TOOLCHAIN/bin/$2\"; exit 0; fi\necho proxy",
        );
        for name in ["cargo", "rustc"] {
            std::os::unix::fs::symlink("rustup", bin.join(name)).unwrap();
            script(
                &toolchain.join(name),
                &format!("echo '{name} 9.9.{}'", name.len()),
            );
        }
        let path = format!("{}:{}", bin.display(), crate::hermetic::STANDARD_PATH);
        let env: BTreeMap<String, String> = [
            ("PATH".to_owned(), path),
            (
                "FAKE_TOOLCHAIN".to_owned(),
                root.join("toolchain").display().to_string(),
            ),
        ]
        .into();
        let r = resolve_tools(&[tool("cargo"), tool("rustc")], &env, &root).unwrap();
        let proxy_digest = sha256_file(&bin.join("rustup")).unwrap();
        for (d, name) in r.iter().zip(["cargo", "rustc"]) {
            let real = toolchain.join(name);
            assert_eq!(d.uri, Some(format!("file://{}", real.display())));
            assert_eq!(d.digest["sha256"], sha256_file(&real).unwrap());
            assert_ne!(d.digest["sha256"], proxy_digest);
            assert_eq!(
                d.annotations,
                Some(serde_json::json!({
                    "version": format!("{name} 9.9.5"),
                    "proxy": bin.join(name).display().to_string(),
                }))
            );
        }
        assert_ne!(r[0].digest, r[1].digest);

        // A rustup that cannot name the binary is an error, not the proxy's digest.
        script(
            &bin.join("rustup"),
            "echo 'error: toolchain not installed' >&2; exit 1",
        );
        let err = resolve_tools(&[tool("cargo")], &env, &root).unwrap_err();
        assert!(err.to_string().contains("toolchain not installed"), "{err}");
    }

    /// With a real rustup on this machine, rustc is recorded as the toolchain's own binary.
    #[test]
    fn a_real_rustup_rustc_is_the_sysroot_binary() {
        let mut env = BTreeMap::new();
        for key in ["PATH", "HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
            if let Ok(value) = std::env::var(key) {
                env.insert(key.to_owned(), value);
            }
        }
        let path = env.get("PATH").cloned().unwrap_or_default();
        let Some(rustup) = which("rustup", &path) else {
            eprintln!("skipped: no rustup on PATH {path}");
            return;
        };
        let rustc = which("rustc", &path).unwrap();
        if file_id(&rustc).unwrap() != file_id(&rustup).unwrap() {
            eprintln!("skipped: {} is not a rustup proxy", rustc.display());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let sysroot = Command::new(&rustc)
            .args(["--print", "sysroot"])
            .env_clear()
            .envs(&env)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(sysroot.status.success());
        let sysroot = String::from_utf8(sysroot.stdout).unwrap();
        let real = fs::canonicalize(Path::new(sysroot.trim()).join("bin/rustc")).unwrap();
        let r = resolve_tools(&[tool("rustc")], &env, dir.path()).unwrap();
        assert_eq!(r[0].uri, Some(format!("file://{}", real.display())));
        assert_eq!(r[0].digest["sha256"], sha256_file(&real).unwrap());
        let annotations = r[0].annotations.as_ref().unwrap();
        assert_eq!(annotations["proxy"], rustc.display().to_string());
        assert!(annotations["version"]
            .as_str()
            .unwrap()
            .starts_with("rustc "));
    }

    #[test]
    fn cargo_lock_packages_are_listed_once_with_checksums() {
        let d = tempfile::tempdir().unwrap();
        let lock = "version = 3\n\n[[package]]\nname = \"demo\"\nversion = \"0.1.0\"\n\n\
                    [[package]]\nname = \"itoa\"\nversion = \"1.0.11\"\n\
                    source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\
                    checksum = \"49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b\"\n\n\
                    [[package]]\nname = \"gitdep\"\nversion = \"0.2.0\"\n\
                    source = \"git+https://example.org/gitdep?rev=abc#0123456789abcdef0123456789abcdef01234567\"\n";
        fs::write(d.path().join("Cargo.lock"), lock).unwrap();
        fs::create_dir(d.path().join("sub")).unwrap();
        fs::write(d.path().join("sub/Cargo.lock"), lock).unwrap();
        let p = cargo_packages(d.path()).unwrap();
        // The local package `demo` is part of the source archive: not listed.
        let uris: Vec<_> = p.iter().map(|r| r.uri.as_deref().unwrap()).collect();
        assert_eq!(uris, ["pkg:cargo/gitdep@0.2.0", "pkg:cargo/itoa@1.0.11"]);
        assert_eq!(
            p[0].digest["gitCommit"],
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(
            p[0].download_location.as_deref(),
            Some("https://example.org/gitdep")
        );
        assert_eq!(p[1].digest["sha256"].len(), 64);
        assert_eq!(
            p[1].download_location.as_deref(),
            Some("https://crates.io/api/v1/crates/itoa/1.0.11/download")
        );
        assert!(p[1].annotations.is_none());
        fs::write(d.path().join("Cargo.lock"), "[[package]]\nname = 3\n").unwrap();
        assert!(cargo_packages(d.path()).is_err());
    }

    /// A vendored crate's own Cargo.lock (its development dependencies) and target folders
    /// are not the project's dependencies.
    #[test]
    fn vendored_crates_and_target_folders_are_not_searched() {
        let d = tempfile::tempdir().unwrap();
        let pkg = |name: &str| {
            format!(
                "[[package]]\nname = \"{name}\"\nversion = \"1.0.0\"\n\
                 source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\
                 checksum = \"{}\"\n",
                "ab".repeat(32)
            )
        };
        fs::write(d.path().join("Cargo.lock"), pkg("regex")).unwrap();
        let vendored = d.path().join("vendor/regex");
        fs::create_dir_all(&vendored).unwrap();
        fs::write(vendored.join(".cargo-checksum.json"), "{}").unwrap();
        fs::write(vendored.join("Cargo.lock"), pkg("quickcheck")).unwrap();
        fs::create_dir_all(d.path().join("target/x")).unwrap();
        fs::write(d.path().join("target/x/Cargo.lock"), pkg("stale")).unwrap();
        let p = cargo_packages(d.path()).unwrap();
        let uris: Vec<_> = p.iter().map(|r| r.uri.as_deref().unwrap()).collect();
        assert_eq!(uris, ["pkg:cargo/regex@1.0.0"]);
        // Without the marker, the same folder is a workspace of the project and counts.
        fs::remove_file(vendored.join(".cargo-checksum.json")).unwrap();
        assert_eq!(cargo_packages(d.path()).unwrap().len(), 2);
    }
}
