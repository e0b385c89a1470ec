//! kiln's host agent: packs the source deterministically, launches the builder in a
//! (simulated) TEE, speaks the build protocol with it, writes the attested output atomically
//! and verifies it before handing it over. The `kiln` binary is a thin layer over this
//! library.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod build_recipe;
pub mod cli;
pub mod collateral;
pub mod commands;
pub mod error;
pub mod guest_image;
pub mod launch;
pub mod output;
pub mod progress;
pub mod session;
pub mod source;
pub mod toolchain;

pub use error::HostError;

/// `n` random bytes from the OS, as lowercase hex.
pub fn random_hex(n: usize) -> std::io::Result<String> {
    let mut bytes = vec![0u8; n];
    rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut bytes)
        .map_err(|e| std::io::Error::other(format!("the OS random generator failed: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Prints an error and its whole chain of causes on stderr.
pub fn report_error(e: &dyn std::error::Error) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    for cause in kiln_proto::error_causes(e) {
        let _ = writeln!(err, "  caused by: {cause}");
    }
}
