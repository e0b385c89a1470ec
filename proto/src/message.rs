//! Versioned messages. Each frame carries exactly one, CBOR-encoded.
//!
//! A build session, host (H) and enclave (E):
//!
//! ```text
//! E→H Hello            H→E Hello
//! H→E BuildRequest     (the request document, byte-exact, and the sealed key if any)
//! H→E SourceChunk*     H→E SourceEnd
//! E→H Progress / Log*  (as they happen)
//! E→H ArtifactChunk*   E→H Result   (or E→H Error at any point)
//! ```
//!
//! The simulated security processor speaks the same framing on its own channel:
//! `MeasurementRequest` → `MeasurementResponse`, `EvidenceRequest` → `EvidenceResponse`,
//! `SealingKeyRequest` → `SealingKeyResponse`.

use serde::{Deserialize, Serialize};

use crate::frame::FrameError;

/// The protocol version both sides must announce in their hello.
pub const PROTOCOL_VERSION: u16 = 1;

/// Which side sent a hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The host agent.
    Host,
    /// The in-guest builder.
    Enclave,
    /// The (simulated) security processor.
    SecurityProcessor,
}

/// The phases of a build, reported as progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Packing the source (host).
    Pack,
    /// Starting the guest (host).
    Launch,
    /// Sending the source (host → guest).
    Transfer,
    /// Running the build command (guest).
    Build,
    /// Hashing outputs and signing the provenance (guest).
    Sign,
    /// Obtaining hardware evidence (guest).
    Attest,
}

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// The build's standard output.
    Stdout,
    /// The build's standard error.
    Stderr,
    /// The builder itself.
    Builder,
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// First message of each side.
    Hello {
        /// [`PROTOCOL_VERSION`] of the sender.
        protocol: u16,
        /// Who is speaking.
        role: Role,
        /// Software name and version (for logs).
        software: String,
    },
    /// The build request document, byte-exact (its SHA-256 is bound into the evidence), and
    /// the key blob sealed by an earlier launch, if the host kept one.
    BuildRequest {
        /// The request document (JSON).
        #[serde(with = "serde_bytes")]
        request: Vec<u8>,
        /// The sealed signing key from an earlier launch.
        #[serde(with = "serde_option_bytes", default)]
        sealed_key: Option<Vec<u8>>,
    },
    /// A piece of the source archive.
    SourceChunk {
        /// The bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The source archive is complete.
    SourceEnd,
    /// Progress of a phase.
    Progress {
        /// The phase.
        phase: Phase,
        /// A short human message.
        message: String,
    },
    /// A line of build output.
    Log {
        /// Where it came from.
        stream: Stream,
        /// The line, without its newline.
        line: String,
    },
    /// A piece of an output file.
    ArtifactChunk {
        /// Path relative to the artifacts folder.
        path: String,
        /// The bytes (an empty chunk ends the file).
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// On the chunk that ends the file: whether it is executable. Mode bits are a
        /// convenience for the user; they are not part of the subject digest.
        #[serde(default)]
        executable: bool,
    },
    /// The build succeeded: everything the host writes besides the artifacts.
    Result {
        /// The Sigstore bundle (JSON).
        #[serde(with = "serde_bytes")]
        bundle: Vec<u8>,
        /// The signing key's SubjectPublicKeyInfo, PEM.
        public_key_pem: String,
        /// Evidence files by name (evidence.bin, vek.der, collateral.json, ...).
        evidence: Vec<NamedBlob>,
        /// The other attestations, signed by the same key, and their plain documents
        /// (sbom.spdx.json, sbom.spdx.sigstore.json, ...).
        #[serde(default)]
        attestations: Vec<NamedBlob>,
        /// The signing key sealed to this launch's measurement, for the next launch.
        #[serde(with = "serde_option_bytes", default)]
        sealed_key: Option<Vec<u8>>,
    },
    /// The sender gives up; no output may be written.
    Error {
        /// What failed.
        message: String,
    },
    /// Security processor: evidence binding these 64 bytes.
    EvidenceRequest {
        /// REPORT_DATA (Nitro: `user_data`).
        #[serde(with = "serde_bytes")]
        report_data: Vec<u8>,
        /// Nitro only: the document's `public_key`.
        #[serde(with = "serde_option_bytes", default)]
        nitro_public_key: Option<Vec<u8>>,
        /// Nitro only: the document's `nonce`.
        #[serde(with = "serde_option_bytes", default)]
        nonce: Option<Vec<u8>>,
    },
    /// Security processor: the evidence and what a verifier needs with it.
    EvidenceResponse {
        /// Evidence files by name.
        files: Vec<NamedBlob>,
    },
    /// Security processor: the sealing key for the launched measurement and this policy.
    SealingKeyRequest {
        /// Guest policy / context mixed into the derivation.
        #[serde(with = "serde_bytes")]
        context: Vec<u8>,
    },
    /// Security processor: the derived key.
    SealingKeyResponse {
        /// 32 bytes.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// Security processor: what was launched (the launcher measured it, not the guest).
    MeasurementRequest,
    /// Security processor: the launch measurement and what it was computed from.
    MeasurementResponse {
        /// The measurement: a platform tag byte (1 SEV-SNP, 2 TDX, 3 Nitro) then the
        /// 48-byte registers in order (`kiln_tee::Measurement::canonical_bytes`).
        #[serde(with = "serde_bytes")]
        measurement: Vec<u8>,
        /// The measured components, in the order they were measured.
        components: Vec<MeasuredComponent>,
    },
}

/// One input of a launch measurement (an enclave binary, launch parameters, a kernel...),
/// shaped as an in-toto ResourceDescriptor so it lands in `builderDependencies` as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredComponent {
    /// What it is (for example `kiln-enclave`, `launch-parameters`).
    pub name: String,
    /// Where it came from (for example `file:///usr/libexec/kiln-enclave`), if anywhere.
    #[serde(default)]
    pub uri: Option<String>,
    /// Digests by algorithm name (`sha256`, `sha384`), lowercase hex.
    pub digest: std::collections::BTreeMap<String, String>,
    /// The bytes themselves when they are small (launch parameters), so that a consumer can
    /// recompute the measurement.
    #[serde(with = "serde_option_bytes", default)]
    pub content: Option<Vec<u8>>,
}

/// A named byte string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedBlob {
    /// File name (no path separators).
    pub name: String,
    /// Contents.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

mod serde_option_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(serde_bytes::Bytes::new(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<serde_bytes::ByteBuf>::deserialize(d)?.map(|b| b.into_vec()))
    }
}

/// Encodes a message as a frame payload.
pub fn encode(msg: &Message) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(msg, &mut out).map_err(|e| FrameError::Malformed(e.to_string()))?;
    Ok(out)
}

/// Decodes a frame payload; trailing bytes are refused.
pub fn decode(payload: &[u8]) -> Result<Message, FrameError> {
    let mut cursor = std::io::Cursor::new(payload);
    let msg: Message =
        ciborium::de::from_reader(&mut cursor).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let used = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
    if used != payload.len() {
        return Err(FrameError::Malformed(format!(
            "{} bytes after the message",
            payload.len().saturating_sub(used)
        )));
    }
    Ok(msg)
}

/// Reads and decodes one message.
pub fn read_message(r: &mut impl std::io::Read) -> Result<Message, FrameError> {
    decode(&crate::frame::read_frame(r, crate::frame::MAX_FRAME)?)
}

/// Encodes and writes one message.
pub fn write_message(w: &mut impl std::io::Write, msg: &Message) -> Result<(), FrameError> {
    crate::frame::write_frame(w, &encode(msg)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    fn samples() -> Vec<Message> {
        vec![
            Message::Hello {
                protocol: PROTOCOL_VERSION,
                role: Role::Enclave,
                software: "kiln-enclave 0.1.0".into(),
            },
            Message::BuildRequest {
                request: b"{}".to_vec(),
                sealed_key: Some(vec![1, 2, 3]),
            },
            Message::BuildRequest {
                request: b"{}".to_vec(),
                sealed_key: None,
            },
            Message::SourceChunk {
                data: vec![0; 1000],
            },
            Message::SourceEnd,
            Message::EvidenceRequest {
                report_data: vec![7; 64],
                nitro_public_key: Some(vec![1; 91]),
                nonce: None,
            },
            Message::MeasurementRequest,
            Message::MeasurementResponse {
                measurement: vec![1; 49],
                components: vec![MeasuredComponent {
                    name: "kiln-enclave".into(),
                    uri: Some("file:///kiln-enclave".into()),
                    digest: [("sha256".to_owned(), "00".repeat(32))]
                        .into_iter()
                        .collect(),
                    content: None,
                }],
            },
            Message::Log {
                stream: Stream::Stderr,
                line: "warning: x".into(),
            },
            Message::Result {
                bundle: b"{}".to_vec(),
                public_key_pem: "-----BEGIN PUBLIC KEY-----".into(),
                evidence: vec![NamedBlob {
                    name: "evidence.bin".into(),
                    data: vec![9; 10],
                }],
                attestations: vec![NamedBlob {
                    name: "sbom.spdx.json".into(),
                    data: b"{}".to_vec(),
                }],
                sealed_key: None,
            },
        ]
    }

    #[test]
    fn messages_round_trip_through_frames() {
        let mut wire = Vec::new();
        for m in samples() {
            write_message(&mut wire, &m).unwrap();
        }
        let mut r = &wire[..];
        for m in samples() {
            assert_eq!(read_message(&mut r).unwrap(), m);
        }
        assert!(matches!(read_message(&mut r), Err(FrameError::Closed)));
    }

    #[test]
    fn bytes_are_cbor_byte_strings() {
        // 1000 data bytes must cost ~1000 bytes on the wire, not an array of integers.
        let enc = encode(&Message::SourceChunk {
            data: vec![0xff; 1000],
        })
        .unwrap();
        assert!(enc.len() < 1040, "{}", enc.len());
    }

    #[test]
    fn malformed_payloads_are_errors() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[0xa1, 0x64, b't', b'y', b'p', b'e', 0x63, b'z', b'z', b'z']).is_err());
        let mut ok = encode(&Message::SourceEnd).unwrap();
        ok.push(0);
        assert!(matches!(decode(&ok), Err(FrameError::Malformed(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
            let _ = read_message(&mut &bytes[..]);
        }
    }
}
