#![no_main]
//! SEV-SNP report parsing and verification with a fixed real VCEK.
use kiln_verifier::{Evidence, Platform, UnixTime, Verifier};
use libfuzzer_sys::fuzz_target;

static VCEK: &[u8] = include_bytes!("../../../shared/vectors/snp/virtee-sev/vcek_milan.der");

fuzz_target!(|data: &[u8]| {
    let verifier = Verifier::default();
    let at = UnixTime::from_secs(1_756_684_800);
    let _ = verifier.verify(
        &Evidence::new(data).platform(Platform::SevSnp).vek(VCEK),
        at,
    );
});
