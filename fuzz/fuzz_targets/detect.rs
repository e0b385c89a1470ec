#![no_main]
//! Platform detection and auto-detected verification of arbitrary bytes.
use kiln_verifier::{detect_platform, Evidence, UnixTime, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = detect_platform(data);
    let _ = Verifier::default().verify(&Evidence::new(data), UnixTime::from_secs(1_756_684_800));
});
