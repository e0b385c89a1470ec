//! COSE_Sign1 (RFC 9052) as AWS Nitro Enclaves uses it: ES384 over a CBOR payload.
//!
//! The structure is decoded with `ciborium` (definite and indefinite lengths), keeping the
//! protected header and payload byte strings exactly as they arrived; the `Sig_structure` is
//! then built by hand from those received bytes, never from a re-encoding of parsed values.

use ciborium::Value;

use crate::error::Error;

/// CBOR tag of a COSE_Sign1 (RFC 9052, section 4.2).
pub const COSE_SIGN1_TAG: u64 = 18;
/// COSE algorithm identifier of ES384 (ECDSA P-384 with SHA-384).
pub const ALG_ES384: i128 = -35;
/// Header label `alg`.
const LABEL_ALG: i128 = 1;
/// Header label `crit`.
const LABEL_CRIT: i128 = 2;

/// A COSE_Sign1 whose byte strings are kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoseSign1 {
    /// Whether the structure carried CBOR tag 18.
    pub tagged: bool,
    /// The protected header: the contents of the byte string, as received.
    pub protected: Vec<u8>,
    /// The payload: the contents of the byte string, as received.
    pub payload: Vec<u8>,
    /// The signature: the contents of the byte string.
    pub signature: Vec<u8>,
}

/// Decodes exactly one CBOR data item from `bytes`; anything after it is an error.
pub fn decode_one(bytes: &[u8], what: &'static str) -> Result<Value, Error> {
    let mut rest = bytes;
    let value: Value =
        ciborium::de::from_reader(&mut rest).map_err(|e| Error::malformed(what, e))?;
    if !rest.is_empty() {
        return Err(Error::TrailingData {
            what,
            extra: rest.len(),
        });
    }
    Ok(value)
}

/// A short name for a CBOR value's type, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "integer",
        Value::Bytes(_) => "byte string",
        Value::Float(_) => "float",
        Value::Text(_) => "text string",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Tag(..) => "tagged value",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        _ => "simple value",
    }
}

fn expect_bytes(v: Value, what: &'static str, field: &str) -> Result<Vec<u8>, Error> {
    match v {
        Value::Bytes(b) => Ok(b),
        other => Err(Error::malformed(
            what,
            format!("{field} must be a byte string, found {}", type_name(&other)),
        )),
    }
}

/// Parses a COSE_Sign1, tagged (18) or untagged, with nothing after it.
///
/// The protected header must hold `alg` = ES384 (-35) and no `crit`; no label may appear in
/// both the protected and the unprotected header (RFC 9052, section 3); a detached payload
/// (`nil`) is refused.
pub fn parse(bytes: &[u8]) -> Result<CoseSign1, Error> {
    const WHAT: &str = "Nitro COSE_Sign1";
    let (tagged, value) = match decode_one(bytes, WHAT)? {
        Value::Tag(COSE_SIGN1_TAG, inner) => (true, *inner),
        Value::Tag(tag, _) => {
            return Err(Error::mismatch("COSE CBOR tag", COSE_SIGN1_TAG, tag));
        }
        other => (false, other),
    };
    let items = match value {
        Value::Array(items) => items,
        other => {
            return Err(Error::malformed(
                WHAT,
                format!("expected an array of 4, found {}", type_name(&other)),
            ))
        }
    };
    let [protected, unprotected, payload, signature]: [Value; 4] =
        items.try_into().map_err(|items: Vec<Value>| {
            Error::malformed(
                WHAT,
                format!("expected an array of 4, found {} items", items.len()),
            )
        })?;
    let protected = expect_bytes(protected, WHAT, "the protected header")?;
    let unprotected = match unprotected {
        Value::Map(m) => m,
        other => {
            return Err(Error::malformed(
                WHAT,
                format!(
                    "the unprotected header must be a map, found {}",
                    type_name(&other)
                ),
            ))
        }
    };
    let payload = match payload {
        Value::Null => {
            return Err(Error::Unsupported {
                what: "COSE payload",
                found: "detached (nil)".into(),
            })
        }
        other => expect_bytes(other, WHAT, "the payload")?,
    };
    let signature = expect_bytes(signature, WHAT, "the signature")?;
    check_headers(&protected, &unprotected)?;
    Ok(CoseSign1 {
        tagged,
        protected,
        payload,
        signature,
    })
}

fn label_int(label: &Value) -> Option<i128> {
    match label {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

fn check_unique(map: &[(Value, Value)], what: &'static str) -> Result<(), Error> {
    for (i, (label, _)) in map.iter().enumerate() {
        if map
            .iter()
            .skip(i.saturating_add(1))
            .any(|(l, _)| l == label)
        {
            return Err(Error::malformed(what, format!("duplicate label {label:?}")));
        }
    }
    Ok(())
}

/// Checks the protected header (received bytes) and the unprotected header map.
fn check_headers(protected: &[u8], unprotected: &[(Value, Value)]) -> Result<(), Error> {
    const WHAT: &str = "COSE protected header";
    // A zero-length protected header stands for the empty map (RFC 9052, section 3).
    let map = if protected.is_empty() {
        Vec::new()
    } else {
        match decode_one(protected, WHAT)? {
            Value::Map(m) => m,
            other => {
                return Err(Error::malformed(
                    WHAT,
                    format!("expected a map, found {}", type_name(&other)),
                ))
            }
        }
    };
    check_unique(&map, WHAT)?;
    check_unique(unprotected, "COSE unprotected header")?;
    if let Some((label, _)) = unprotected
        .iter()
        .find(|(l, _)| map.iter().any(|(p, _)| p == l))
    {
        return Err(Error::malformed(
            "COSE unprotected header",
            format!("label {label:?} is also in the protected header"),
        ));
    }
    if map.iter().any(|(l, _)| label_int(l) == Some(LABEL_CRIT)) {
        return Err(Error::Unsupported {
            what: "COSE critical header parameters",
            found: "crit".into(),
        });
    }
    let alg = map
        .iter()
        .find(|(l, _)| label_int(l) == Some(LABEL_ALG))
        .map(|(_, v)| v)
        .ok_or_else(|| Error::malformed(WHAT, "no alg (1)"))?;
    match alg {
        Value::Integer(i) if i128::from(*i) == ALG_ES384 => Ok(()),
        Value::Integer(i) => Err(Error::Unsupported {
            what: "COSE algorithm (only ES384 = -35)",
            found: i128::from(*i).to_string(),
        }),
        other => Err(Error::Unsupported {
            what: "COSE algorithm (only ES384 = -35)",
            found: format!("{other:?}"),
        }),
    }
}

/// Appends the head of a CBOR item of `major` type with argument `len` (shortest form).
fn push_head(out: &mut Vec<u8>, major: u8, len: usize) {
    let major = major << 5;
    let len = len as u64;
    if let Ok(small) = u8::try_from(len) {
        if small < 24 {
            out.push(major | small);
        } else {
            out.push(major | 24);
            out.push(small);
        }
    } else if let Ok(v) = u16::try_from(len) {
        out.push(major | 25);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(len) {
        out.push(major | 26);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// The COSE `Sig_structure` for a COSE_Sign1 with empty external AAD:
/// `["Signature1", protected, h'', payload]`, the two byte strings being the received bytes.
pub fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    const CONTEXT: &[u8] = b"Signature1";
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 32);
    push_head(&mut out, 4, 4);
    push_head(&mut out, 3, CONTEXT.len());
    out.extend_from_slice(CONTEXT);
    push_head(&mut out, 2, protected.len());
    out.extend_from_slice(protected);
    push_head(&mut out, 2, 0);
    push_head(&mut out, 2, payload.len());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    fn encode(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(v, &mut out).unwrap();
        out
    }

    fn sign1(protected: &[u8], unprotected: Vec<(Value, Value)>) -> Value {
        Value::Array(vec![
            Value::Bytes(protected.to_vec()),
            Value::Map(unprotected),
            Value::Bytes(b"payload".to_vec()),
            Value::Bytes(vec![7; 96]),
        ])
    }

    const ES384_HEADER: &[u8] = &[0xa1, 0x01, 0x38, 0x22];

    #[test]
    fn sig_structure_matches_a_generic_encoder() {
        for (plen, len) in [
            (4usize, 0usize),
            (4, 23),
            (4, 24),
            (4, 255),
            (4, 256),
            (4, 70_000),
        ] {
            let protected = vec![0xa5; plen];
            let payload = vec![0x5a; len];
            let generic = encode(&Value::Array(vec![
                Value::Text("Signature1".into()),
                Value::Bytes(protected.clone()),
                Value::Bytes(Vec::new()),
                Value::Bytes(payload.clone()),
            ]));
            assert_eq!(
                sig_structure(&protected, &payload),
                generic,
                "payload of {len} bytes"
            );
        }
    }

    #[test]
    fn tagged_and_untagged_parse_alike() {
        let untagged = encode(&sign1(ES384_HEADER, vec![]));
        let a = parse(&untagged).unwrap();
        let mut tagged = vec![0xd2];
        tagged.extend_from_slice(&untagged);
        let b = parse(&tagged).unwrap();
        assert!(!a.tagged && b.tagged);
        assert_eq!((a.protected, a.payload), (b.protected, b.payload));
        let err = parse(&encode(&Value::Tag(
            17,
            Box::new(sign1(ES384_HEADER, vec![])),
        )))
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Mismatch {
                    field: "COSE CBOR tag",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn protected_bytes_are_kept_as_received() {
        // A non-shortest encoding of the same header map: alg as a one-byte-argument int.
        let odd = [0xa1, 0x01, 0x38, 0x22];
        let long = [0xa1, 0x18, 0x01, 0x38, 0x22];
        for header in [&odd[..], &long[..]] {
            let parsed = parse(&encode(&sign1(header, vec![]))).unwrap();
            assert_eq!(parsed.protected, header);
        }
    }

    #[test]
    fn header_rules() {
        let es256 = [0xa1, 0x01, 0x26];
        let err = parse(&encode(&sign1(&es256, vec![]))).unwrap_err();
        assert!(
            matches!(err, Error::Unsupported { ref found, .. } if found == "-7"),
            "{err}"
        );
        let err = parse(&encode(&sign1(&[], vec![]))).unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
        let dup = [0xa2, 0x01, 0x38, 0x22, 0x01, 0x38, 0x22];
        let err = parse(&encode(&sign1(&dup, vec![]))).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
        let crit = [0xa2, 0x01, 0x38, 0x22, 0x02, 0x81, 0x01];
        let err = parse(&encode(&sign1(&crit, vec![]))).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        let both = vec![(Value::Integer(1.into()), Value::Integer((-7).into()))];
        let err = parse(&encode(&sign1(ES384_HEADER, both))).unwrap_err();
        assert!(err.to_string().contains("also in the protected"), "{err}");
        let kid = vec![(Value::Integer(4.into()), Value::Bytes(b"k".to_vec()))];
        parse(&encode(&sign1(ES384_HEADER, kid))).unwrap();
    }

    #[test]
    fn shape_errors() {
        let mut doc = encode(&sign1(ES384_HEADER, vec![]));
        doc.push(0x00);
        assert_eq!(
            parse(&doc).unwrap_err(),
            Error::TrailingData {
                what: "Nitro COSE_Sign1",
                extra: 1
            }
        );
        let three = Value::Array(vec![Value::Bytes(vec![]), Value::Map(vec![]), Value::Null]);
        assert!(parse(&encode(&three))
            .unwrap_err()
            .to_string()
            .contains("3 items"));
        let detached = Value::Array(vec![
            Value::Bytes(ES384_HEADER.to_vec()),
            Value::Map(vec![]),
            Value::Null,
            Value::Bytes(vec![]),
        ]);
        assert!(matches!(
            parse(&encode(&detached)).unwrap_err(),
            Error::Unsupported { .. }
        ));
        assert!(matches!(parse(&[]).unwrap_err(), Error::Malformed { .. }));
    }
}
