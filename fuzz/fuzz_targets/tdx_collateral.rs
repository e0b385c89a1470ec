#![no_main]
//! QuoteCollateralV3 JSON parsing and verification with a fixed real quote.
use kiln_verifier::{Evidence, Platform, UnixTime, Verifier};
use libfuzzer_sys::fuzz_target;

static QUOTE: &[u8] = include_bytes!("../../../shared/vectors/tdx/dcap-qvl/tdx_quote");

fuzz_target!(|data: &[u8]| {
    let verifier = Verifier::default();
    let at = UnixTime::from_secs(1_751_624_191);
    let _ = verifier.verify(
        &Evidence::new(QUOTE)
            .platform(Platform::Tdx)
            .collateral(data),
        at,
    );
});
