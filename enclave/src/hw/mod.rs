//! Hardware TEE backends, built to the vendors' guest interfaces. Each is a
//! [`kiln_tee::Tee`]; their device I/O is exercised by opt-in hardware tests
//! (`KILN_HW_TESTS=1 cargo test -p kiln-enclave -- --ignored`), their request encoding and
//! response parsing by unit tests.

#[cfg(feature = "nitro")]
pub mod nitro;
pub mod snp;
pub mod tdx;
