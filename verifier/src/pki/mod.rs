//! X.509 certificates, CRLs and signature checks shared by the three platforms.
//!
//! Signatures are always verified over the bytes received (the `tbsCertificate` /
//! `tbsCertList` TLV cut from the input), never over a re-encoding. Signature arithmetic is
//! done by `aws-lc-rs` (AWS-LC); parsing by `x509-cert`.
//!
//! | module | holds |
//! |---|---|
//! | [`cert`] | [`Cert`] and RFC 4514 names |
//! | `memo` | `Memo` (crate-private), what one verification call has already checked |
//! | [`signatures`] | signature checks |
//! | [`pem`] | PEM and concatenated-DER certificate lists |
//! | [`crl`] | [`Crl`] |
//!
//! This layer knows nothing of trust anchors: paths to an anchor are built by [`crate::path`],
//! above both.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use const_oid::db::{rfc4519, rfc5912};
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitString, ContextSpecific, IntRef, OctetStringRef};
use der::{Decode, Encode, Reader, SliceReader, TagNumber};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::ext::Extensions;
use x509_cert::name::Name;
use x509_cert::time::Time;
use x509_cert::Certificate;

use crate::error::Error;
use crate::time::UnixTime;

pub(super) const OID_SECP256R1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(super) const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
pub(super) const OID_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub(super) const OID_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub(super) const OID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
pub(super) const OID_RSASSA_PSS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

pub mod cert;
pub mod crl;
pub(crate) mod memo;
pub mod pem;
pub mod signatures;

use cert::*;
use pem::*;

pub use cert::Cert;
pub use crl::Crl;
pub(crate) use memo::Memo;
pub use pem::{parse_certificates, parse_pem_certificates};
pub use signatures::{verify_ecdsa_fixed, verify_x509_signature, SigError};

/// Decodes a DER INTEGER extension value (AMD TCB extensions) into a u64.
pub fn der_integer_u64(value: &[u8], what: &'static str) -> Result<u64, Error> {
    let any = AnyRef::from_der(value).map_err(|e| Error::malformed(what, e))?;
    let int: der::asn1::UintRef<'_> = any.decode_as().map_err(|e| Error::malformed(what, e))?;
    let bytes = int.as_bytes();
    if bytes.len() > 8 {
        return Err(Error::malformed(what, "integer wider than 64 bits"));
    }
    Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    /// Every vendor certificate the crate pins (the same files the anchors embed), parsed here
    /// without the anchor layer above.
    fn vendor_certs() -> Vec<Cert> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/roots");
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "der"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| Cert::from_der(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn name_keys_are_those_x509_cert_writes() {
        for (oid, key) in NAME_KEYS {
            let name: Name = format!("{key}=v").parse().unwrap();
            assert_eq!(name.0[0].0.get(0).unwrap().oid, oid, "{key}");
            assert_eq!(name.to_string(), format!("{key}=v"));
            assert_eq!(name_string(&name), name.to_string());
        }
    }

    #[test]
    fn the_pem_fast_path_decodes_as_the_general_decoder() {
        for cert in vendor_certs() {
            let der = cert.der();
            let pem =
                der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap();
            let fast = pem_decode_plain(pem.trim()).expect("strict PEM takes the fast path");
            assert_eq!(fast.1, der);
            assert_eq!(pem_rfc7468_decode(&pem).unwrap(), fast);
            // CRLF, another label, a short line, bad padding: the general decoder's answer.
            let crlf = pem.replace('\n', "\r\n");
            assert!(pem_decode_plain(crlf.trim()).is_none());
            assert_eq!(pem_rfc7468_decode(&crlf).unwrap().1, der);
            let other = pem.replace("CERTIFICATE", "PRIVATE KEY");
            assert!(pem_decode_plain(other.trim()).is_none());
            let short = pem.replacen('\n', "\n\n", 2);
            assert!(pem_decode_plain(short.trim()).is_none());
            let end = pem.find("\n-----END").unwrap();
            let mut bad = pem.clone();
            bad.replace_range(end - 1..end, "!");
            assert!(pem_decode_plain(bad.trim()).is_none());
            assert!(pem_rfc7468_decode(&bad).is_err());
        }
    }

    #[test]
    fn crls_parse_as_x509_cert_parses_them() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/tdx/dcap-qvl/tdx_quote_collateral.json"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for field in ["pck_crl", "root_ca_crl"] {
            let der = hex::decode(json[field].as_str().unwrap()).unwrap();
            let ours = Crl::parse(&der, "CRL").unwrap();
            let theirs = x509_cert::crl::CertificateList::from_der(&der).unwrap();
            let list = &theirs.tbs_cert_list;
            assert_eq!(ours.issuer(), list.issuer.to_string());
            assert_eq!(ours.signature_algorithm, theirs.signature_algorithm);
            assert_eq!(ours.signature, theirs.signature);
            let window = ours.window().unwrap();
            assert_eq!(
                window.0,
                UnixTime::from_der(list.this_update.to_date_time())
            );
            let next = list.next_update.unwrap().to_date_time();
            assert_eq!(window.1, UnixTime::from_der(next));
            let serials: Vec<&[u8]> = list
                .revoked_certificates
                .iter()
                .flatten()
                .map(|r| r.serial_number.as_bytes())
                .collect();
            let mut start = 0;
            let ours_serials: Vec<&[u8]> = ours
                .serial_ends
                .iter()
                .map(|&end| {
                    let s = &ours.serials[start..end];
                    start = end;
                    s
                })
                .collect();
            assert_eq!(ours_serials, serials, "{field}");
            // Trailing bytes and a truncated CRL are refused, as before.
            let mut long = der.clone();
            long.push(0);
            assert!(Crl::parse(&long, "CRL").is_err());
            assert!(Crl::parse(&der[..der.len() - 1], "CRL").is_err());
        }
    }

    #[test]
    fn names_format_as_x509_cert_does() {
        let certs = vendor_certs();
        assert!(certs.len() > 5);
        for cert in &certs {
            let tbs = &cert.parsed().tbs_certificate;
            assert_eq!(cert.subject(), tbs.subject.to_string());
            assert_eq!(cert.issuer(), tbs.issuer.to_string());
        }
        // Escapes, multi-valued RDNs and types outside NAME_KEYS.
        for text in [
            r#"CN=\#lead\, trail \+x,O=a\;b\<c\>d\\e\"f,C=US"#,
            r"CN=\ spaced\ ,OU=x+L=y",
            "UID=jdoe,DC=example,DC=com,STREET=1 Main St",
            "SERIALNUMBER=42,ST=CA",
        ] {
            let name: Name = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(name_string(&name), name.to_string(), "{text}");
        }
    }
}
