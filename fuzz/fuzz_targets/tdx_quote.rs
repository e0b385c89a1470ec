#![no_main]
//! TDX quote parsing and verification, with and without real collateral.
use kiln_verifier::{Evidence, Platform, UnixTime, Verifier};
use libfuzzer_sys::fuzz_target;

static COLLATERAL: &[u8] =
    include_bytes!("../../../shared/vectors/tdx/dcap-qvl/tdx_quote_collateral.json");

fuzz_target!(|data: &[u8]| {
    let verifier = Verifier::default();
    let at = UnixTime::from_secs(1_751_624_191);
    let ev = Evidence::new(data).platform(Platform::Tdx);
    let _ = verifier.verify(&ev, at);
    let _ = verifier.verify(&ev.collateral(COLLATERAL), at);
});
