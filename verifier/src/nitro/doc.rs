//! The payload of a Nitro attestation document: a CBOR map with exactly the keys AWS defines
//! (aws-nitro-enclaves-nsm-api `AttestationDoc`; AWS "Verifying the root of trust").
//!
//! Rules, beyond the types:
//! - keys are text strings; a duplicate key is refused, and so is an unknown key (fail closed:
//!   every key is covered by AWS's signature, and a field this verifier does not understand
//!   could change what the document means, so it is not silently dropped);
//! - `module_id` is non-empty, `digest` is `"SHA384"`, `timestamp` is a positive integer of
//!   milliseconds since the epoch;
//! - `pcrs` is a non-empty map from an index below 32 to a 32, 48 or 64-byte string;
//! - `certificate` and every `cabundle` entry are non-empty byte strings, `cabundle` is a
//!   non-empty array (root first) of at most [`MAX_CABUNDLE`] certificates;
//! - `public_key`, `user_data` and `nonce` are each absent, `null`, or a byte string of at most
//!   1024 bytes. Absent and `null` are reported as `None`; a byte string, even an empty one,
//!   as `Some` (so the empty value the enclave asked for is kept distinct from no value).
//!
//! Definite and indefinite-length maps, arrays and strings are accepted alike.

use std::collections::BTreeMap;

use ciborium::Value;

use super::cose::{decode_one, type_name};
use crate::error::Error;

const WHAT: &str = "Nitro attestation document";

/// Number of PCRs an NSM has.
pub const PCR_COUNT: u16 = 32;
/// Largest `public_key`, `user_data` or `nonce` accepted.
pub const MAX_OPTIONAL_LEN: usize = 1024;
/// Most certificates a `cabundle` may hold. AWS's chains are the root, a regional, a zonal and
/// an instance certificate (4); the bound leaves room and keeps a crafted bundle from making
/// the path search parse and try thousands of certificates (it is below
/// [`crate::path::MAX_CHAIN_DEPTH`] plus one, so every certificate can still be on the path).
pub const MAX_CABUNDLE: usize = 8;
/// The only digest AWS uses.
pub const DIGEST_SHA384: &str = "SHA384";

/// A parsed attestation document payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationDoc {
    /// The enclave's module id.
    pub module_id: String,
    /// The PCR digest algorithm (always `SHA384`).
    pub digest: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// PCR values by index.
    pub pcrs: BTreeMap<u16, Vec<u8>>,
    /// The leaf certificate (DER, as received).
    pub certificate: Vec<u8>,
    /// The CA bundle, root first (DER, as received).
    pub cabundle: Vec<Vec<u8>>,
    /// Optional public key.
    pub public_key: Option<Vec<u8>>,
    /// Optional user data.
    pub user_data: Option<Vec<u8>>,
    /// Optional nonce.
    pub nonce: Option<Vec<u8>>,
}

/// The keys, in AWS's order.
const KEYS: [&str; 9] = [
    "module_id",
    "digest",
    "timestamp",
    "pcrs",
    "certificate",
    "cabundle",
    "public_key",
    "user_data",
    "nonce",
];

fn wrong_type(field: &str, expected: &str, found: &Value) -> Error {
    Error::malformed(
        WHAT,
        format!("{field} must be {expected}, found {}", type_name(found)),
    )
}

fn bytes(field: &str, v: Value) -> Result<Vec<u8>, Error> {
    match v {
        Value::Bytes(b) => Ok(b),
        other => Err(wrong_type(field, "a byte string", &other)),
    }
}

fn non_empty_bytes(field: &str, v: Value) -> Result<Vec<u8>, Error> {
    let b = bytes(field, v)?;
    if b.is_empty() {
        return Err(Error::malformed(WHAT, format!("{field} is empty")));
    }
    Ok(b)
}

fn optional(field: &'static str, v: Value) -> Result<Option<Vec<u8>>, Error> {
    match v {
        Value::Null => Ok(None),
        Value::Bytes(b) if b.len() > MAX_OPTIONAL_LEN => Err(Error::mismatch(
            field,
            format!("at most {MAX_OPTIONAL_LEN} bytes"),
            format!("{} bytes", b.len()),
        )),
        Value::Bytes(b) => Ok(Some(b)),
        other => Err(wrong_type(field, "null or a byte string", &other)),
    }
}

fn pcrs(v: Value) -> Result<BTreeMap<u16, Vec<u8>>, Error> {
    let entries = match v {
        Value::Map(m) => m,
        other => return Err(wrong_type("pcrs", "a map", &other)),
    };
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let index = match k {
            Value::Integer(i) => i128::from(i),
            other => return Err(wrong_type("a PCR index", "an unsigned integer", &other)),
        };
        let index = u16::try_from(index)
            .ok()
            .filter(|i| *i < PCR_COUNT)
            .ok_or_else(|| {
                Error::mismatch("PCR index", format!("0 to {}", PCR_COUNT - 1), index)
            })?;
        let value = bytes("a PCR value", v)?;
        if !matches!(value.len(), 32 | 48 | 64) {
            return Err(Error::mismatch(
                "PCR length",
                "32, 48 or 64 bytes",
                format!("{} bytes (PCR{index})", value.len()),
            ));
        }
        if out.insert(index, value).is_some() {
            return Err(Error::malformed(WHAT, format!("PCR{index} appears twice")));
        }
    }
    if out.is_empty() {
        return Err(Error::malformed(WHAT, "pcrs is empty"));
    }
    Ok(out)
}

fn cabundle(v: Value) -> Result<Vec<Vec<u8>>, Error> {
    let items = match v {
        Value::Array(a) => a,
        other => return Err(wrong_type("cabundle", "an array", &other)),
    };
    if items.is_empty() {
        return Err(Error::malformed(WHAT, "cabundle is empty"));
    }
    if items.len() > MAX_CABUNDLE {
        return Err(Error::malformed(
            WHAT,
            format!(
                "cabundle holds {} certificates, at most {MAX_CABUNDLE} are accepted",
                items.len()
            ),
        ));
    }
    items
        .into_iter()
        .map(|c| non_empty_bytes("a cabundle entry", c))
        .collect()
}

/// Parses the payload bytes (exactly one CBOR map, nothing after it).
pub fn parse(payload: &[u8]) -> Result<AttestationDoc, Error> {
    let entries = match decode_one(payload, WHAT)? {
        Value::Map(m) => m,
        other => return Err(wrong_type("the payload", "a map", &other)),
    };
    let mut fields: [Option<Value>; 9] = Default::default();
    for (k, v) in entries {
        let key = match k {
            Value::Text(t) => t,
            other => return Err(wrong_type("a key", "a text string", &other)),
        };
        let slot = KEYS
            .iter()
            .position(|known| *known == key)
            .and_then(|i| fields.get_mut(i))
            .ok_or_else(|| Error::Unsupported {
                what: "Nitro attestation document field",
                found: format!("{key:?}"),
            })?;
        if slot.replace(v).is_some() {
            return Err(Error::malformed(WHAT, format!("key {key:?} appears twice")));
        }
    }
    let [module_id, digest, timestamp, pcr_map, certificate, bundle, public_key, user_data, nonce] =
        fields;
    let required = |name: &str, v: Option<Value>| {
        v.ok_or_else(|| Error::malformed(WHAT, format!("{name} is missing")))
    };

    let module_id = match required("module_id", module_id)? {
        Value::Text(t) if !t.is_empty() => t,
        Value::Text(_) => return Err(Error::malformed(WHAT, "module_id is empty")),
        other => return Err(wrong_type("module_id", "a text string", &other)),
    };
    let digest = match required("digest", digest)? {
        Value::Text(t) if t == DIGEST_SHA384 => t,
        Value::Text(t) => {
            return Err(Error::Unsupported {
                what: "Nitro PCR digest (only SHA384)",
                found: t,
            })
        }
        other => return Err(wrong_type("digest", "a text string", &other)),
    };
    let timestamp_ms = match required("timestamp", timestamp)? {
        Value::Integer(i) => u64::try_from(i)
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| Error::mismatch("timestamp", "a positive integer", i128::from(i)))?,
        other => return Err(wrong_type("timestamp", "an unsigned integer", &other)),
    };
    let pcrs = pcrs(required("pcrs", pcr_map)?)?;
    let certificate = non_empty_bytes("certificate", required("certificate", certificate)?)?;
    let cabundle = cabundle(required("cabundle", bundle)?)?;
    let opt = |name: &'static str, v: Option<Value>| v.map_or(Ok(None), |v| optional(name, v));
    Ok(AttestationDoc {
        module_id,
        digest,
        timestamp_ms,
        pcrs,
        certificate,
        cabundle,
        public_key: opt("public_key", public_key)?,
        user_data: opt("user_data", user_data)?,
        nonce: opt("nonce", nonce)?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::cast_possible_truncation
    )]

    use super::*;
    use crate::error::ErrorKind;

    /// A tiny CBOR writer for hand-built documents, definite or indefinite.
    struct W {
        out: Vec<u8>,
        indefinite: bool,
    }

    impl W {
        fn head(&mut self, major: u8, n: usize) {
            let m = major << 5;
            match n {
                0..=23 => self.out.push(m | n as u8),
                24..=255 => self.out.extend([m | 24, n as u8]),
                _ => {
                    self.out.push(m | 25);
                    self.out.extend((n as u16).to_be_bytes());
                }
            }
        }
        /// Opens a map or array (major 5 or 4) of `n` items.
        fn open(&mut self, major: u8, n: usize) {
            if self.indefinite {
                self.out.push((major << 5) | 31);
            } else {
                self.head(major, n);
            }
        }
        fn close(&mut self) {
            if self.indefinite {
                self.out.push(0xff);
            }
        }
        fn text(&mut self, s: &str) {
            if self.indefinite && s.len() > 1 {
                // Two chunks.
                let (a, b) = s.split_at(1);
                self.out.push(0x7f);
                self.head(3, a.len());
                self.out.extend(a.as_bytes());
                self.head(3, b.len());
                self.out.extend(b.as_bytes());
                self.out.push(0xff);
            } else {
                self.head(3, s.len());
                self.out.extend(s.as_bytes());
            }
        }
        fn bytes(&mut self, b: &[u8]) {
            if self.indefinite && b.len() > 1 {
                let (x, y) = b.split_at(b.len() / 2);
                self.out.push(0x5f);
                for chunk in [x, y] {
                    self.head(2, chunk.len());
                    self.out.extend(chunk);
                }
                self.out.push(0xff);
            } else {
                self.head(2, b.len());
                self.out.extend(b);
            }
        }
        fn uint(&mut self, v: u64) {
            self.out.push(0x1b);
            self.out.extend(v.to_be_bytes());
        }
    }

    #[derive(Clone, Copy)]
    enum Opt<'a> {
        Absent,
        Null,
        Bytes(&'a [u8]),
    }

    fn build(indefinite: bool, optional: Opt<'_>) -> Vec<u8> {
        let mut w = W {
            out: Vec::new(),
            indefinite,
        };
        let n = if matches!(optional, Opt::Absent) {
            6
        } else {
            9
        };
        w.open(5, n);
        w.text("module_id");
        w.text("i-0123-enc0");
        w.text("digest");
        w.text("SHA384");
        w.text("timestamp");
        w.uint(1_665_651_482_000);
        w.text("pcrs");
        w.open(5, 2);
        w.out.push(0x00);
        w.bytes(&[0; 48]);
        w.out.push(0x04);
        w.bytes(&[0xab; 48]);
        w.close();
        w.text("certificate");
        w.bytes(b"leaf");
        w.text("cabundle");
        w.open(4, 2);
        w.bytes(b"root");
        w.bytes(b"int");
        w.close();
        for key in ["public_key", "user_data", "nonce"] {
            match optional {
                Opt::Absent => {}
                Opt::Null => {
                    w.text(key);
                    w.out.push(0xf6);
                }
                Opt::Bytes(b) => {
                    w.text(key);
                    w.bytes(b);
                }
            }
        }
        w.close();
        w.out
    }

    #[test]
    fn definite_and_indefinite_encodings_parse_alike() {
        for optional in [
            Opt::Absent,
            Opt::Null,
            Opt::Bytes(&[]),
            Opt::Bytes(b"nonce-1"),
        ] {
            let definite = parse(&build(false, optional)).unwrap();
            let indefinite_bytes = build(true, optional);
            assert!(indefinite_bytes.contains(&0xbf) && indefinite_bytes.contains(&0x5f));
            let indefinite = parse(&indefinite_bytes).unwrap();
            assert_eq!(definite, indefinite);
            assert_eq!(definite.module_id, "i-0123-enc0");
            assert_eq!(definite.timestamp_ms, 1_665_651_482_000);
            assert_eq!(definite.pcrs.keys().copied().collect::<Vec<_>>(), [0, 4]);
            assert_eq!(definite.pcrs[&4], [0xab; 48]);
            assert_eq!(definite.certificate, b"leaf");
            assert_eq!(definite.cabundle, [b"root".to_vec(), b"int".to_vec()]);
            let expected = match optional {
                Opt::Absent | Opt::Null => None,
                Opt::Bytes(b) => Some(b.to_vec()),
            };
            assert_eq!(definite.public_key, expected);
            assert_eq!(definite.user_data, expected);
            assert_eq!(definite.nonce, expected);
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    /// A valid document as a generic CBOR map (definite lengths).
    fn entries() -> Vec<(Value, Value)> {
        vec![
            (text("module_id"), text("i-0123-enc0")),
            (text("digest"), text("SHA384")),
            (
                text("timestamp"),
                Value::Integer(1_665_651_482_000u64.into()),
            ),
            (
                text("pcrs"),
                Value::Map(vec![
                    (Value::Integer(0.into()), Value::Bytes(vec![0; 48])),
                    (Value::Integer(4.into()), Value::Bytes(vec![0xab; 48])),
                ]),
            ),
            (text("certificate"), Value::Bytes(b"leaf".to_vec())),
            (
                text("cabundle"),
                Value::Array(vec![Value::Bytes(b"root".to_vec())]),
            ),
            (text("nonce"), Value::Null),
        ]
    }

    fn encode(entries: Vec<(Value, Value)>) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(&Value::Map(entries), &mut out).unwrap();
        out
    }

    /// Parses `entries()` with the value of `key` replaced (or the key removed if `None`).
    fn with(key: &str, value: Option<Value>) -> Result<AttestationDoc, Error> {
        let mut e = entries();
        let i = e.iter().position(|(k, _)| *k == text(key)).unwrap();
        match value {
            Some(v) => e[i].1 = v,
            None => {
                e.remove(i);
            }
        }
        parse(&encode(e))
    }

    fn pcr_map(items: Vec<(Value, Value)>) -> Option<Value> {
        Some(Value::Map(items))
    }

    #[test]
    fn the_generic_document_parses() {
        let doc = parse(&encode(entries())).unwrap();
        assert_eq!(doc.cabundle.len(), 1);
        assert_eq!(doc.nonce, None);
        assert_eq!(doc.public_key, None);
    }

    #[test]
    fn duplicate_unknown_and_non_text_keys_are_refused() {
        let mut dup = entries();
        dup.push((text("nonce"), Value::Bytes(b"second".to_vec())));
        let err = parse(&encode(dup)).unwrap_err();
        assert!(err.to_string().contains("\"nonce\" appears twice"), "{err}");
        let mut unknown = entries();
        unknown.push((text("pcrs_sha256"), Value::Null));
        let err = parse(&encode(unknown)).unwrap_err();
        assert!(
            matches!(err, Error::Unsupported { ref found, .. } if found == "\"pcrs_sha256\""),
            "{err}"
        );
        let mut int_key = entries();
        int_key.push((Value::Integer(1.into()), Value::Null));
        let err = parse(&encode(int_key)).unwrap_err();
        assert!(
            err.to_string()
                .contains("a key must be a text string, found integer"),
            "{err}"
        );
    }

    #[test]
    fn missing_required_fields_are_refused() {
        for key in [
            "module_id",
            "digest",
            "timestamp",
            "pcrs",
            "certificate",
            "cabundle",
        ] {
            let err = with(key, None).unwrap_err();
            assert!(
                err.to_string().contains(&format!("{key} is missing")),
                "{key}: {err}"
            );
        }
        // The optional ones may be left out.
        assert_eq!(with("nonce", None).unwrap().nonce, None);
    }

    #[test]
    fn field_rules() {
        let kind = |r: Result<AttestationDoc, Error>| r.unwrap_err().kind();
        let int = |i: i64| Value::Integer(i.into());
        let b48 = || Value::Bytes(vec![1; 48]);
        assert_eq!(
            kind(with("module_id", Some(text("")))),
            ErrorKind::Malformed
        );
        assert_eq!(
            kind(with("module_id", Some(Value::Bytes(b"m".to_vec())))),
            ErrorKind::Malformed
        );
        assert_eq!(
            kind(with("digest", Some(text("SHA256")))),
            ErrorKind::Unsupported
        );
        assert_eq!(kind(with("timestamp", Some(int(0)))), ErrorKind::Mismatch);
        assert_eq!(kind(with("timestamp", Some(int(-5)))), ErrorKind::Mismatch);
        assert_eq!(
            kind(with("timestamp", Some(text("now")))),
            ErrorKind::Malformed
        );
        // PCRs: indices 0..=31, 32/48/64 bytes, no duplicates, not empty.
        for len in [32, 48, 64] {
            with("pcrs", pcr_map(vec![(int(31), Value::Bytes(vec![2; len]))])).unwrap();
        }
        assert_eq!(
            kind(with("pcrs", pcr_map(vec![(int(32), b48())]))),
            ErrorKind::Mismatch
        );
        assert_eq!(
            kind(with("pcrs", pcr_map(vec![(int(-1), b48())]))),
            ErrorKind::Mismatch
        );
        assert_eq!(
            kind(with("pcrs", pcr_map(vec![(text("0"), b48())]))),
            ErrorKind::Malformed
        );
        assert_eq!(
            kind(with(
                "pcrs",
                pcr_map(vec![(int(0), Value::Bytes(vec![0; 47]))])
            )),
            ErrorKind::Mismatch
        );
        assert_eq!(
            kind(with("pcrs", pcr_map(vec![(int(0), text("x"))]))),
            ErrorKind::Malformed
        );
        let err = with("pcrs", pcr_map(vec![(int(3), b48()), (int(3), b48())])).unwrap_err();
        assert!(err.to_string().contains("PCR3 appears twice"), "{err}");
        assert!(with("pcrs", pcr_map(vec![]))
            .unwrap_err()
            .to_string()
            .contains("pcrs is empty"));
        assert_eq!(
            kind(with("pcrs", Some(Value::Array(vec![b48()])))),
            ErrorKind::Malformed
        );
        // Certificates.
        assert_eq!(
            kind(with("certificate", Some(Value::Bytes(vec![])))),
            ErrorKind::Malformed
        );
        assert!(with("cabundle", Some(Value::Array(vec![])))
            .unwrap_err()
            .to_string()
            .contains("cabundle is empty"));
        let empty_entry = Value::Array(vec![Value::Bytes(b"root".to_vec()), Value::Bytes(vec![])]);
        assert_eq!(
            kind(with("cabundle", Some(empty_entry))),
            ErrorKind::Malformed
        );
        assert_eq!(
            kind(with("cabundle", Some(Value::Bytes(b"root".to_vec())))),
            ErrorKind::Malformed
        );
        let bundle = |n: usize| Value::Array(vec![Value::Bytes(b"cert".to_vec()); n]);
        assert!(with("cabundle", Some(bundle(MAX_CABUNDLE))).is_ok());
        let err = with("cabundle", Some(bundle(MAX_CABUNDLE + 1))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed);
        assert!(err.to_string().contains("at most 8 are accepted"), "{err}");
        // Optional fields.
        let big = vec![1u8; MAX_OPTIONAL_LEN + 1];
        let err = with("nonce", Some(Value::Bytes(big.clone()))).unwrap_err();
        assert!(
            matches!(err, Error::Mismatch { field: "nonce", .. }),
            "{err}"
        );
        let max = with(
            "nonce",
            Some(Value::Bytes(big[..MAX_OPTIONAL_LEN].to_vec())),
        )
        .unwrap();
        assert_eq!(max.nonce.map(|n| n.len()), Some(MAX_OPTIONAL_LEN));
        assert_eq!(kind(with("nonce", Some(text("abc")))), ErrorKind::Malformed);
        assert_eq!(
            kind(with("nonce", Some(Value::Bool(false)))),
            ErrorKind::Malformed
        );
        // Trailing byte after the map; not a map.
        let mut doc = encode(entries());
        doc.push(0xf6);
        assert!(matches!(
            parse(&doc).unwrap_err(),
            Error::TrailingData { extra: 1, .. }
        ));
        assert!(matches!(
            parse(&[0x80]).unwrap_err(),
            Error::Malformed { .. }
        ));
    }

    #[test]
    fn truncations_never_parse() {
        for indefinite in [false, true] {
            let doc = build(indefinite, Opt::Bytes(b"abc"));
            for cut in 0..doc.len() {
                assert!(parse(&doc[..cut]).is_err(), "cut at {cut}");
            }
        }
    }
}
