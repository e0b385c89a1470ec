//! The statically linked `kiln-enclave` that becomes an image's `/init`: found through
//! [`ENCLAVE_STATIC_ENV`] or beside `kiln`, and checked to be a static ELF.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::GuestImageError;

/// Environment variable naming the statically linked `kiln-enclave` for images.
pub const ENCLAVE_STATIC_ENV: &str = "KILN_ENCLAVE_STATIC";
/// How to build the static enclave (for error messages).
pub const BUILD_STATIC_HINT: &str = "RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release -p kiln-enclave --target x86_64-unknown-linux-gnu";

/// Whether `path` is an ELF executable without a program interpreter (statically linked).
pub fn is_static_elf(path: &Path) -> Result<bool, std::io::Error> {
    let mut head = Vec::new();
    fs::File::open(path)?
        .take(64 << 10)
        .read_to_end(&mut head)?;
    let u16_at = |o: usize| {
        head.get(o..o + 2)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(u16::from_le_bytes)
    };
    let u32_at = |o: usize| {
        head.get(o..o + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |o: usize| {
        head.get(o..o + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    // 64-bit little-endian ELF only (the guest is x86_64).
    if head.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return Ok(false);
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return Ok(false);
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return Ok(false);
    };
    for i in 0..usize::from(phnum) {
        match u32_at(phoff + i * usize::from(phentsize)) {
            // PT_INTERP: dynamically linked.
            Some(3) => return Ok(false),
            Some(_) => {}
            // Program headers beyond what was read: cannot tell, refuse.
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// Finds the statically linked enclave: `$KILN_ENCLAVE_STATIC`, else `kiln-enclave-static`
/// next to the running binary, else the `x86_64-unknown-linux-gnu` target folder of the
/// cargo target folder the running binary is in.
pub fn find_static_enclave() -> Result<PathBuf, GuestImageError> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os(ENCLAVE_STATIC_ENV).filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    } else if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("kiln-enclave-static"));
            let mut dirs = vec![dir.to_path_buf()];
            if dir.file_name().is_some_and(|n| n == "deps") {
                if let Some(up) = dir.parent() {
                    dirs.push(up.to_path_buf());
                }
            }
            for d in dirs {
                if let Some(target) = d.parent() {
                    for profile in ["release", "debug"] {
                        candidates.push(
                            target
                                .join("x86_64-unknown-linux-gnu")
                                .join(profile)
                                .join("kiln-enclave"),
                        );
                    }
                }
            }
        }
    }
    let mut looked = Vec::new();
    for c in candidates {
        match is_static_elf(&c) {
            Ok(true) => return Ok(c),
            Ok(false) => looked.push(format!("{} (not a static x86_64 ELF)", c.display())),
            Err(e) => looked.push(format!("{} ({e})", c.display())),
        }
    }
    Err(GuestImageError::NoStaticEnclave { looked })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_running_test_binary_is_not_static_and_garbage_is_not_elf() {
        let exe = std::env::current_exe().unwrap();
        assert!(!is_static_elf(&exe).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        fs::write(&f, b"#!/bin/sh\n").unwrap();
        assert!(!is_static_elf(&f).unwrap());
    }
}
