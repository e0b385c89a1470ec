#![no_main]
//! Certificate chain (DER / PEM) and CRL parsing.
use kiln_verifier::pki::{parse_certificates, Crl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = parse_certificates(data, "fuzz") {
        for c in &certs {
            let _ = c.verify_issued_by(c);
            let _ = c.spki_der();
        }
    }
    let _ = Crl::parse(data, "fuzz");
    let _ = Crl::parse_all(data, "fuzz");
});
