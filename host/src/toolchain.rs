//! The toolchain folders a sim build needs mounted: the recipe's declared tools are found on
//! the caller's PATH and, through a rustup proxy (`cargo`, `rustc` linked to rustup), followed
//! to the toolchain that would run in the project folder (`rustup which`, so the project's
//! `rust-toolchain.toml` counts). A tool under the system's own folders (`/usr`, `/bin`, …)
//! needs nothing: the sandbox shows those read-only anyway. The enclave mounts each folder
//! read-only at the same path and puts its `bin/` first on the build's PATH, so a Rust project
//! builds with a standard rustup installation without the caller exporting anything.
//!
//! The folders are the host's say; the enclave hashes every declared tool it resolves inside
//! them into the signed provenance (`resolvedDependencies`), so a consumer sees which toolchain
//! built the artifacts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Folders the sandbox already shows.
const SYSTEM: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64"];

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The toolchain root of `tool` (the folder above its `bin/`), when it is not a system tool.
fn root_of(tool: &str, project: &Path) -> Option<PathBuf> {
    let found = which(tool)?;
    let real = std::fs::canonicalize(&found).ok()?;
    // rustup installs its proxies as hard or symbolic links to itself.
    let id = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
    };
    let is_proxy = real
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("rustup"))
        || which("rustup").is_some_and(|r| id(&r).is_some() && id(&r) == id(&real));
    let real = if is_proxy {
        // A rustup proxy: the binary it runs for this project.
        let out = Command::new(&found)
            .env("RUSTUP_FORCE_ARG0", "rustup")
            .args(["which", tool])
            .current_dir(project)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let resolved = std::fs::canonicalize(text).ok()?;
        // The project chooses the toolchain (`rust-toolchain.toml` may name any `path`): only
        // a real Rust sysroot is mounted, never a folder that merely holds rustup's proxies
        // (`~/.cargo`, with its credentials) or anything else the project points at.
        if id(&resolved) == id(&real) || !is_rust_sysroot(resolved.parent()?.parent()?) {
            return None;
        }
        resolved
    } else {
        real
    };
    if SYSTEM.iter().any(|s| real.starts_with(s)) {
        return None;
    }
    let bin = real.parent()?;
    (bin.file_name()? == "bin").then(|| bin.parent().map(Path::to_path_buf))?
}

/// Whether `root` is a Rust toolchain's sysroot (`lib/rustlib` beside `bin/`).
pub fn is_rust_sysroot(root: &Path) -> bool {
    root.join("lib").join("rustlib").is_dir() && root.join("bin").is_dir()
}

/// The folders to mount for `tools`, each once, in the order first needed.
pub fn roots(tools: &[String], project: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for t in tools {
        if let Some(r) = root_of(t, project) {
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_a_rust_sysroot_counts_as_a_rustup_toolchain() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("bin")).unwrap();
        // A folder of proxies and credentials, like ~/.cargo, is not a toolchain.
        std::fs::write(d.path().join("credentials.toml"), "token").unwrap();
        assert!(!is_rust_sysroot(d.path()));
        std::fs::create_dir_all(d.path().join("lib/rustlib")).unwrap();
        assert!(is_rust_sysroot(d.path()));
    }
}
