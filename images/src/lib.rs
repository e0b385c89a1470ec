//! kiln's guest image: the recipe (`images/recipe.toml`), a deterministic initramfs, the AWS
//! Nitro Enclave Image Format, predicted measurements for every platform, and the QEMU
//! launcher the host agent drives.
//!
//! Everything here is a pure function of the recipe's pinned inputs (the Debian packages that
//! `kiln image fetch` downloads, checks and unpacks into `.cache/kiln/`) and of the `kiln-enclave`
//! binary: two builds give identical bytes, so anyone can recompute the measurement.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod debian;
pub mod eif;
pub mod error;
pub mod image;
pub mod initramfs;
pub mod inputs;
pub mod measure;
pub mod pvh;
pub mod qemu_process;
pub mod recipe;
pub mod tdx_boot;
pub mod toolchain_disk;
pub mod verity;

pub use error::ImageError;
