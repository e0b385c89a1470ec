#![no_main]
//! Nitro COSE_Sign1 attestation document parsing and verification.
use kiln_verifier::{Evidence, Platform, UnixTime, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let verifier = Verifier::default();
    let at = UnixTime::from_secs(1_665_651_482);
    let _ = verifier.verify(&Evidence::new(data).platform(Platform::Nitro), at);
});
