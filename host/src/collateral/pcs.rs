//! Intel's Provisioning Certification Service (PCS API v4, or a PCCS at a configured base URL,
//! which serves the same paths): what a TDX quote needs and how the answers become the
//! QuoteCollateralV3 JSON kiln's verifier reads. Pure: requests from the quote's bytes,
//! answers parsed from bytes and headers; fetching is [`super::http`]'s.
//!
//! | item | path under the base URL | issuer chain header |
//! |---|---|---|
//! | TCB info | `/tdx/certification/v4/tcb?fmspc={FMSPC}` | `TCB-Info-Issuer-Chain` (or `SGX-TCB-Info-Issuer-Chain`) |
//! | QE identity | `/tdx/certification/v4/qe/identity` | `SGX-Enclave-Identity-Issuer-Chain` |
//! | PCK CRL | `/sgx/certification/v4/pckcrl?ca=platform` or `processor` | `SGX-PCK-CRL-Issuer-Chain` |
//! | root CA CRL | a PCCS: `/sgx/certification/v4/rootcacrl`; else the root's CRL distribution point | none |
//!
//! Headers carry URL-encoded PEM. The TCB info and QE identity keep the exact bytes of their
//! JSON object as received: the signature is over those bytes, and the verifier checks it
//! over them, never over a re-encoding. FMSPC and CA type come from the PCK certificate in the
//! quote.

use std::fmt;

use kiln_verifier::pki::pem::parse_pem_certificates;
use kiln_verifier::tdx::{pck, quote};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Intel's public PCS.
pub const DEFAULT_PCS_URL: &str = "https://api.trustedservices.intel.com";
/// The environment variable that replaces [`DEFAULT_PCS_URL`] (as `--pcs-url` does).
pub const PCS_URL_ENV: &str = "KILN_PCS_URL";
/// The CRL distribution point named in the Intel SGX Root CA certificate.
pub const ROOT_CA_CRL_URL: &str =
    "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

/// Which Intel CA issued the PCK certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaType {
    /// Intel SGX PCK Platform CA.
    Platform,
    /// Intel SGX PCK Processor CA.
    Processor,
}

impl CaType {
    /// The `ca=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Processor => "processor",
        }
    }
}

/// Why a request or an answer is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcsError {
    /// The bytes are not a TDX quote with a PCK certificate chain.
    NotAQuote(String),
    /// An answer is not what was asked for, or not well-formed.
    Answer {
        /// Which item.
        item: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for PcsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAQuote(why) => {
                write!(f, "not a TDX quote with a PCK certificate chain: {why}")
            }
            Self::Answer { item, reason } => write!(f, "the {item} answer: {reason}"),
        }
    }
}

impl std::error::Error for PcsError {}

/// What a quote's collateral is keyed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcsRequest {
    /// FMSPC, uppercase hex (as Intel writes it).
    pub fmspc: String,
    /// The PCK's issuing CA.
    pub ca: CaType,
}

impl PcsRequest {
    /// FMSPC and CA type from the PCK certificate chain inside `quote_bytes`.
    pub fn from_quote(quote_bytes: &[u8]) -> Result<Self, PcsError> {
        let q = quote::parse(quote_bytes).map_err(|e| PcsError::NotAQuote(e.to_string()))?;
        let text = std::str::from_utf8(q.pck_chain_pem)
            .map_err(|_| PcsError::NotAQuote("the PCK chain is not PEM text".into()))?;
        let certs = parse_pem_certificates(text, "PCK certificate chain")
            .map_err(|e| PcsError::NotAQuote(e.to_string()))?;
        let (Some(leaf), Some(issuer)) = (certs.first(), certs.get(1)) else {
            return Err(PcsError::NotAQuote(
                "the PCK chain lacks the PCK or its CA".into(),
            ));
        };
        let ext = pck::parse_sgx_extension(leaf).map_err(|e| PcsError::NotAQuote(e.to_string()))?;
        let ca = match pck::common_name(issuer).as_deref() {
            Some("Intel SGX PCK Platform CA") => CaType::Platform,
            Some("Intel SGX PCK Processor CA") => CaType::Processor,
            other => {
                return Err(PcsError::NotAQuote(format!(
                    "the PCK's issuer {other:?} is neither Intel SGX PCK Platform CA nor \
                     Processor CA"
                )))
            }
        };
        Ok(Self {
            fmspc: hex::encode_upper(ext.fmspc),
            ca,
        })
    }

    /// The TCB info's path.
    pub fn tcb_path(&self) -> String {
        format!("/tdx/certification/v4/tcb?fmspc={}", self.fmspc)
    }

    /// The PCK CRL's path.
    pub fn pck_crl_path(&self) -> String {
        format!("/sgx/certification/v4/pckcrl?ca={}", self.ca.as_str())
    }
}

/// The QE identity's path.
pub const QE_IDENTITY_PATH: &str = "/tdx/certification/v4/qe/identity";
/// A PCCS's root CA CRL path.
pub const ROOT_CA_CRL_PATH: &str = "/sgx/certification/v4/rootcacrl";

/// Escapes every byte but the unreserved ones as `%XX`: how Intel's services URL-encode the
/// PEM of an issuer chain header (what [`percent_decode`] undoes).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (a header's URL-encoded PEM).
pub fn percent_decode(text: &str) -> Result<String, String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("a bad escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once decoded".to_owned())
}

/// An issuer chain from a header: URL-encoded PEM of two or more certificates.
pub fn issuer_chain(item: &'static str, header: Option<&str>) -> Result<String, PcsError> {
    let bad = |reason: String| PcsError::Answer { item, reason };
    let raw = header.ok_or_else(|| bad("no issuer chain header".into()))?;
    let pem = percent_decode(raw).map_err(|e| bad(format!("issuer chain header: {e}")))?;
    let certs = parse_pem_certificates(&pem, "issuer chain")
        .map_err(|e| bad(format!("issuer chain header: {e}")))?;
    if certs.len() < 2 {
        return Err(bad(format!(
            "issuer chain header holds {} certificate(s), not the signer and the root",
            certs.len()
        )));
    }
    Ok(pem)
}

/// A signed JSON answer: the exact text of the signed object, its signature (hex) and
/// `nextUpdate` (seconds since the epoch) when it parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedJson {
    /// The object as received.
    pub text: String,
    /// The signature, hex.
    pub signature: String,
    /// `nextUpdate`.
    pub next_update: Option<u64>,
    /// `fmspc`, for TCB info.
    pub fmspc: Option<String>,
}

#[derive(Deserialize)]
struct Fields {
    #[serde(rename = "nextUpdate")]
    next_update: Option<String>,
    fmspc: Option<String>,
}

/// Splits `{"<field>": {...}, "signature": "..."}` keeping the object's bytes.
pub fn signed_json(item: &'static str, field: &str, body: &[u8]) -> Result<SignedJson, PcsError> {
    let bad = |reason: String| PcsError::Answer { item, reason };
    let map: std::collections::BTreeMap<String, &RawValue> =
        serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let obj = map
        .get(field)
        .ok_or_else(|| bad(format!("no {field:?} object")))?;
    let signature: String = map
        .get("signature")
        .ok_or_else(|| bad("no signature".into()))
        .and_then(|s| serde_json::from_str(s.get()).map_err(|e| bad(format!("signature: {e}"))))?;
    if signature.is_empty() || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("the signature is not hex".into()));
    }
    let fields: Fields =
        serde_json::from_str(obj.get()).map_err(|e| bad(format!("{field}: {e}")))?;
    let next_update = fields
        .next_update
        .as_deref()
        .and_then(|t| kiln_verifier::UnixTime::parse_rfc3339(t).ok())
        .and_then(|t| u64::try_from(t.as_secs()).ok());
    Ok(SignedJson {
        text: obj.get().to_owned(),
        signature,
        next_update,
        fmspc: fields.fmspc,
    })
}

/// A CRL answer as hex of its DER, with its nextUpdate: DER as received, PEM, or hex text (as
/// a PCCS serves the root CA CRL); checked to parse as a CRL (parsed once).
pub fn crl_hex(item: &'static str, body: &[u8]) -> Result<CrlAnswer, PcsError> {
    let bad = |reason: String| PcsError::Answer { item, reason };
    let text = std::str::from_utf8(body).ok().map(str::trim);
    let der = match text {
        Some(t) if t.starts_with("-----BEGIN") => der::pem::decode_vec(t.as_bytes())
            .map(|(_, d)| d)
            .map_err(|e| bad(format!("PEM: {e}")))?,
        Some(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            hex::decode(t).map_err(|e| bad(format!("hex: {e}")))?
        }
        _ => body.to_vec(),
    };
    let crl = kiln_verifier::pki::crl::Crl::from_der_vec(der, "CRL")
        .map_err(|e| bad(format!("not a CRL: {e}")))?;
    let (_, next) = crl.window().map_err(|e| bad(e.to_string()))?;
    Ok(CrlAnswer {
        hex: hex::encode(crl.der()),
        next_update: u64::try_from(next.as_secs()).ok(),
    })
}

/// A CRL as [`crl_hex`] accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlAnswer {
    /// Its DER, hex (as QuoteCollateralV3 carries CRLs).
    pub hex: String,
    /// Its nextUpdate, seconds since the epoch.
    pub next_update: Option<u64>,
}

/// The QuoteCollateralV3 JSON from the pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxCollateral {
    /// TCB info and its chain.
    pub tcb_info: SignedJson,
    /// Its issuer chain, PEM.
    pub tcb_info_issuer_chain: String,
    /// QE identity.
    pub qe_identity: SignedJson,
    /// Its issuer chain, PEM.
    pub qe_identity_issuer_chain: String,
    /// The PCK CRL, hex DER.
    pub pck_crl: String,
    /// Its issuer chain, PEM.
    pub pck_crl_issuer_chain: String,
    /// The root CA CRL, hex DER.
    pub root_ca_crl: String,
}

impl TdxCollateral {
    /// The JSON document `kiln-verify evidence --collateral` reads.
    pub fn to_json(&self) -> Vec<u8> {
        let doc = serde_json::json!({
            "tcb_info_issuer_chain": self.tcb_info_issuer_chain,
            "tcb_info": self.tcb_info.text,
            "tcb_info_signature": self.tcb_info.signature,
            "qe_identity_issuer_chain": self.qe_identity_issuer_chain,
            "qe_identity": self.qe_identity.text,
            "qe_identity_signature": self.qe_identity.signature,
            "pck_crl_issuer_chain": self.pck_crl_issuer_chain,
            "pck_crl": self.pck_crl,
            "root_ca_crl": self.root_ca_crl,
        });
        let mut v = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn percent_decoding_and_signed_json_keep_the_bytes() {
        assert_eq!(percent_decode("a%20b%0A").unwrap(), "a b\n");
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB+/=\n";
        assert_eq!(percent_decode(&percent_encode(pem)).unwrap(), pem);
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%2").is_err());
        let body = br#"{"tcbInfo":{"id":"TDX", "fmspc":"00806F050000","nextUpdate":"2025-07-19T10:16:03Z"},"signature":"ab01"}"#;
        let s = signed_json("TCB info", "tcbInfo", body).unwrap();
        assert_eq!(
            s.text,
            r#"{"id":"TDX", "fmspc":"00806F050000","nextUpdate":"2025-07-19T10:16:03Z"}"#
        );
        assert_eq!(s.fmspc.as_deref(), Some("00806F050000"));
        assert_eq!(s.next_update, Some(1_752_920_163));
        for bad in [
            &br#"{"tcbInfo":{}}"#[..],
            br#"{"signature":"ab"}"#,
            br#"{"tcbInfo":{},"signature":"xyz"}"#,
            b"not json",
        ] {
            assert!(signed_json("TCB info", "tcbInfo", bad).is_err());
        }
        assert!(crl_hex("PCK CRL", b"not a crl").is_err());
    }
}
