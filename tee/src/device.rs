//! The simulated security processor as a device: the launcher serves a [`Tee`] (normally a
//! [`crate::sim::SimTee`] it launched with the measurement it computed) on a byte stream, and
//! the guest reaches it through [`DeviceTee`], a `Tee` like any hardware backend.
//!
//! The stream carries kiln-proto frames. The guest speaks first:
//!
//! ```text
//! G→D Hello(enclave)           D→G Hello(security_processor)
//! G→D MeasurementRequest       D→G MeasurementResponse   (once, at connection)
//! G→D EvidenceRequest          D→G EvidenceResponse      (any number of times)
//! G→D SealingKeyRequest        D→G SealingKeyResponse
//!                              D→G Error                 (instead of a response)
//! ```
//!
//! The stream is anything readable and writable: a Unix socket in process mode, a
//! virtio-serial port or vsock connection for a VM guest. The guest never tells the device its
//! measurement; it asks for it.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use kiln_proto::{
    read_message, write_message, FrameError, MeasuredComponent, Message, NamedBlob, Role,
    PROTOCOL_VERSION,
};

use crate::error::TeeError;
use crate::measurement::{Measurement, Register};
use crate::{Platform, ReportData, Tee, TeeEvidence};

/// The evidence file (the same names as a build's `OUT/evidence/`).
pub const EVIDENCE_FILE: &str = "evidence.bin";
/// SEV-SNP: the VCEK or VLEK, DER.
pub const VEK_FILE: &str = "vek.der";
/// SEV-SNP: ASK then ARK, PEM.
pub const CHAIN_FILE: &str = "chain.pem";
/// TDX: collateral JSON.
pub const COLLATERAL_FILE: &str = "collateral.json";
/// The simulated root, DER.
pub const SIMULATED_ROOT_FILE: &str = "simulated-root.der";

/// A byte stream both ways.
pub trait Channel: Read + Write + Send {}
impl<T: Read + Write + Send> Channel for T {}

/// Why talking to the security processor failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum DeviceError {
    /// Reading or writing a frame failed.
    Frame {
        /// What was being done (for example "read the evidence response").
        op: &'static str,
        /// The framing layer's error.
        source: FrameError,
    },
    /// The peer speaks another protocol version.
    Version {
        /// Ours.
        ours: u16,
        /// Theirs.
        theirs: u16,
    },
    /// The peer is not who it should be.
    Role {
        /// The role expected.
        expected: Role,
        /// The role announced.
        got: Role,
    },
    /// A message arrived that does not fit the exchange.
    Unexpected {
        /// What was expected.
        expected: &'static str,
        /// The kind of message that came.
        got: String,
    },
    /// The security processor answered with an error.
    Refused {
        /// Its message.
        message: String,
    },
    /// A response is malformed.
    Malformed {
        /// The field.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The served TEE failed (server side).
    Tee(TeeError),
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame { op, .. } => write!(f, "cannot {op} on the security processor channel"),
            Self::Version { ours, theirs } => write!(
                f,
                "the security processor speaks protocol version {theirs}, this side {ours}"
            ),
            Self::Role { expected, got } => write!(
                f,
                "the peer on the security processor channel is {got:?}, not {expected:?}"
            ),
            Self::Unexpected { expected, got } => write!(
                f,
                "expected {expected} on the security processor channel, got {got}"
            ),
            Self::Refused { message } => {
                write!(f, "the security processor refused: {message}")
            }
            Self::Malformed { what, reason } => {
                write!(f, "malformed {what} from the security processor: {reason}")
            }
            Self::Tee(_) => f.write_str("the served TEE failed"),
        }
    }
}

impl std::error::Error for DeviceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Frame { source, .. } => Some(source),
            Self::Tee(e) => Some(e),
            _ => None,
        }
    }
}

/// The name of a message's kind, for error messages (never its contents).
pub fn message_kind(msg: &Message) -> String {
    let debug = format!("{msg:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn frame(op: &'static str) -> impl FnOnce(FrameError) -> DeviceError {
    move |source| DeviceError::Frame { op, source }
}

use kiln_proto::error_chain as chain;

/// Decodes `Measurement::canonical_bytes`.
pub fn measurement_from_bytes(bytes: &[u8]) -> Result<Measurement, DeviceError> {
    let malformed = |reason: String| DeviceError::Malformed {
        what: "measurement",
        reason,
    };
    let (tag, rest) = bytes
        .split_first()
        .ok_or_else(|| malformed("empty".into()))?;
    let chunks = rest.chunks_exact(48);
    if !chunks.remainder().is_empty() {
        return Err(malformed(format!(
            "{} register bytes are not a whole number of 48-byte registers",
            rest.len()
        )));
    }
    let regs: Vec<Register> = chunks.filter_map(|c| Register::try_from(c).ok()).collect();
    let m = match (tag, regs.as_slice()) {
        (1, [m]) => Measurement::SevSnp { measurement: *m },
        (2, [mrtd, r0, r1, r2, r3]) => Measurement::Tdx {
            mrtd: *mrtd,
            rtmr: [*r0, *r1, *r2, *r3],
        },
        (3, [p0, p1, p2]) => Measurement::Nitro {
            pcr: [*p0, *p1, *p2],
        },
        _ => {
            return Err(malformed(format!(
                "platform tag {tag} with {} registers",
                regs.len()
            )))
        }
    };
    Ok(m)
}

/// The evidence files of a bundle, under the names of [`EVIDENCE_FILE`] and its siblings.
pub fn evidence_files(bundle: &TeeEvidence) -> Vec<NamedBlob> {
    let mut out = vec![NamedBlob {
        name: EVIDENCE_FILE.to_owned(),
        data: bundle.evidence.clone(),
    }];
    let optional: [(&str, Option<&[u8]>); 4] = [
        (VEK_FILE, bundle.vek_der.as_deref()),
        (CHAIN_FILE, bundle.chain_pem.as_ref().map(|s| s.as_bytes())),
        (COLLATERAL_FILE, bundle.collateral_json.as_deref()),
        (SIMULATED_ROOT_FILE, bundle.simulated_root_der.as_deref()),
    ];
    for (name, data) in optional {
        if let Some(data) = data {
            out.push(NamedBlob {
                name: name.to_owned(),
                data: data.to_vec(),
            });
        }
    }
    out
}

/// The inverse of [`evidence_files`]: unknown or repeated names, a missing evidence file and a
/// chain that is not UTF-8 are refused.
pub fn bundle_from_files(
    platform: Platform,
    files: Vec<NamedBlob>,
) -> Result<TeeEvidence, DeviceError> {
    let mut by_name: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for f in files {
        if by_name.contains_key(&f.name) {
            return Err(DeviceError::Malformed {
                what: "evidence response",
                reason: format!("{} appears twice", f.name),
            });
        }
        by_name.insert(f.name, f.data);
    }
    let evidence = by_name
        .remove(EVIDENCE_FILE)
        .ok_or_else(|| DeviceError::Malformed {
            what: "evidence response",
            reason: format!("no {EVIDENCE_FILE}"),
        })?;
    let chain_pem = match by_name.remove(CHAIN_FILE) {
        Some(bytes) => Some(
            String::from_utf8(bytes).map_err(|e| DeviceError::Malformed {
                what: "evidence response",
                reason: format!("{CHAIN_FILE} is not UTF-8: {e}"),
            })?,
        ),
        None => None,
    };
    let bundle = TeeEvidence {
        platform,
        evidence,
        vek_der: by_name.remove(VEK_FILE),
        chain_pem,
        collateral_json: by_name.remove(COLLATERAL_FILE),
        simulated_root_der: by_name.remove(SIMULATED_ROOT_FILE),
    };
    if let Some(name) = by_name.keys().next() {
        return Err(DeviceError::Malformed {
            what: "evidence response",
            reason: format!("unknown file {name:?}"),
        });
    }
    Ok(bundle)
}

/// The guest's side: a [`Tee`] whose security processor is at the other end of a stream.
pub struct DeviceTee {
    channel: Mutex<Box<dyn Channel>>,
    label: PathBuf,
    measurement: Measurement,
    components: Vec<MeasuredComponent>,
}

impl fmt::Debug for DeviceTee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceTee")
            .field("label", &self.label)
            .field("measurement", &self.measurement)
            .finish_non_exhaustive()
    }
}

impl DeviceTee {
    /// Says hello on `channel` and asks for the launch measurement. `label` names the
    /// channel in errors (for example `unix:/run/kiln/device.sock`).
    pub fn connect(
        channel: impl Channel + 'static,
        label: impl Into<PathBuf>,
    ) -> Result<Self, DeviceError> {
        let mut channel: Box<dyn Channel> = Box::new(channel);
        write_message(
            &mut channel,
            &Message::Hello {
                protocol: PROTOCOL_VERSION,
                role: Role::Enclave,
                software: concat!("kiln-tee device client ", env!("CARGO_PKG_VERSION")).into(),
            },
        )
        .map_err(frame("send hello"))?;
        match read_message(&mut channel).map_err(frame("read hello"))? {
            Message::Hello { protocol, role, .. } => {
                if protocol != PROTOCOL_VERSION {
                    return Err(DeviceError::Version {
                        ours: PROTOCOL_VERSION,
                        theirs: protocol,
                    });
                }
                if role != Role::SecurityProcessor {
                    return Err(DeviceError::Role {
                        expected: Role::SecurityProcessor,
                        got: role,
                    });
                }
            }
            other => return Err(unexpected("hello", &other)),
        }
        let (measurement, components) =
            match request(&mut channel, &Message::MeasurementRequest, "measurement")? {
                Message::MeasurementResponse {
                    measurement,
                    components,
                } => (measurement_from_bytes(&measurement)?, components),
                other => return Err(unexpected("a measurement response", &other)),
            };
        Ok(Self {
            channel: Mutex::new(channel),
            label: label.into(),
            measurement,
            components,
        })
    }

    /// What the launcher says it measured (for the provenance's `builderDependencies`).
    pub fn components(&self) -> &[MeasuredComponent] {
        &self.components
    }

    fn call(&self, msg: &Message, what: &'static str) -> Result<Message, TeeError> {
        let op = match what {
            "evidence" => "request evidence from the security processor",
            _ => "request a sealing key from the security processor",
        };
        let wrap = |e: DeviceError| TeeError::Io {
            path: self.label.clone(),
            op,
            source: std::io::Error::other(e),
        };
        // A poisoned lock means another request panicked mid-exchange: the stream may be
        // out of step, so refuse rather than read someone else's response.
        let mut channel = self.channel.lock().map_err(|_| {
            wrap(DeviceError::Malformed {
                what: "channel state",
                reason: "an earlier request was interrupted".into(),
            })
        })?;
        request(&mut *channel, msg, what).map_err(wrap)
    }
}

fn unexpected(expected: &'static str, got: &Message) -> DeviceError {
    match got {
        Message::Error { message } => DeviceError::Refused {
            message: message.clone(),
        },
        other => DeviceError::Unexpected {
            expected,
            got: message_kind(other),
        },
    }
}

fn request(
    channel: &mut dyn Channel,
    msg: &Message,
    what: &'static str,
) -> Result<Message, DeviceError> {
    let (send, read) = match what {
        "evidence" => ("send the evidence request", "read the evidence response"),
        "measurement" => (
            "send the measurement request",
            "read the measurement response",
        ),
        _ => ("send the sealing key request", "read the sealing key"),
    };
    let mut channel = channel;
    write_message(&mut channel, msg).map_err(frame(send))?;
    let reply = read_message(&mut channel).map_err(frame(read))?;
    match reply {
        Message::Error { message } => Err(DeviceError::Refused { message }),
        other => Ok(other),
    }
}

impl Tee for DeviceTee {
    fn platform(&self) -> Platform {
        self.measurement.platform()
    }

    fn evidence(&self, report_data: &ReportData) -> Result<TeeEvidence, TeeError> {
        let msg = Message::EvidenceRequest {
            report_data: report_data.bytes.to_vec(),
            nitro_public_key: report_data.nitro_public_key.clone(),
            nonce: report_data.nonce.clone(),
        };
        let to_tee = |e: DeviceError| TeeError::Io {
            path: self.label.clone(),
            op: "request evidence from the security processor",
            source: std::io::Error::other(e),
        };
        match self.call(&msg, "evidence")? {
            Message::EvidenceResponse { files } => {
                bundle_from_files(self.platform(), files).map_err(to_tee)
            }
            other => Err(to_tee(unexpected("an evidence response", &other))),
        }
    }

    fn measurement(&self) -> Measurement {
        self.measurement
    }

    fn sealing_key(&self, context: &[u8]) -> Result<[u8; 32], TeeError> {
        let msg = Message::SealingKeyRequest {
            context: context.to_vec(),
        };
        let to_tee = |e: DeviceError| TeeError::Io {
            path: self.label.clone(),
            op: "request a sealing key from the security processor",
            source: std::io::Error::other(e),
        };
        match self.call(&msg, "sealing key")? {
            Message::SealingKeyResponse { key } => {
                <[u8; 32]>::try_from(key.as_slice()).map_err(|_| {
                    to_tee(DeviceError::Malformed {
                        what: "sealing key",
                        reason: format!("{} bytes, not 32", key.len()),
                    })
                })
            }
            other => Err(to_tee(unexpected("a sealing key response", &other))),
        }
    }
}

/// The launcher's side: serves `tee` on `channel` until the guest closes it. `components`
/// describe what the measurement was computed from.
///
/// A request the TEE cannot satisfy gets an `Error` reply and serving goes on; a message
/// that is not a request, a wrong hello, or a broken stream ends serving with an error.
pub fn serve_device(
    channel: &mut dyn Channel,
    tee: &dyn Tee,
    components: &[MeasuredComponent],
) -> Result<(), DeviceError> {
    let mut channel = channel;
    match read_message(&mut channel).map_err(frame("read hello"))? {
        Message::Hello { protocol, role, .. } => {
            let refusal = if protocol != PROTOCOL_VERSION {
                Some(DeviceError::Version {
                    ours: PROTOCOL_VERSION,
                    theirs: protocol,
                })
            } else if role != Role::Enclave {
                Some(DeviceError::Role {
                    expected: Role::Enclave,
                    got: role,
                })
            } else {
                None
            };
            if let Some(e) = refusal {
                // Best effort: the guest learns why before the channel closes.
                let _ = write_message(
                    &mut channel,
                    &Message::Error {
                        message: e.to_string(),
                    },
                );
                return Err(e);
            }
        }
        other => return Err(unexpected("hello", &other)),
    }
    write_message(
        &mut channel,
        &Message::Hello {
            protocol: PROTOCOL_VERSION,
            role: Role::SecurityProcessor,
            software: concat!("kiln-tee security processor ", env!("CARGO_PKG_VERSION")).into(),
        },
    )
    .map_err(frame("send hello"))?;
    loop {
        let msg = match read_message(&mut channel) {
            Ok(m) => m,
            Err(FrameError::Closed) => return Ok(()),
            Err(e) => return Err(frame("read a request")(e)),
        };
        let reply = match msg {
            Message::MeasurementRequest => Message::MeasurementResponse {
                measurement: tee.measurement().canonical_bytes(),
                components: components.to_vec(),
            },
            Message::EvidenceRequest {
                report_data,
                nitro_public_key,
                nonce,
            } => match <[u8; 64]>::try_from(report_data.as_slice()) {
                Ok(bytes) => {
                    let rd = ReportData {
                        bytes,
                        nitro_public_key,
                        nonce,
                    };
                    match tee.evidence(&rd) {
                        Ok(bundle) => Message::EvidenceResponse {
                            files: evidence_files(&bundle),
                        },
                        Err(e) => Message::Error { message: chain(&e) },
                    }
                }
                Err(_) => Message::Error {
                    message: format!("report data must be 64 bytes, got {}", report_data.len()),
                },
            },
            Message::SealingKeyRequest { context } => match tee.sealing_key(&context) {
                Ok(key) => Message::SealingKeyResponse { key: key.to_vec() },
                Err(e) => Message::Error { message: chain(&e) },
            },
            other => {
                let e = unexpected("a request", &other);
                let _ = write_message(
                    &mut channel,
                    &Message::Error {
                        message: e.to_string(),
                    },
                );
                return Err(e);
            }
        };
        write_message(&mut channel, &reply).map_err(frame("send a response"))?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::process_measurement;
    use crate::sim::{FixedClock, SimChip, SimProfile, SimTee};
    use std::os::unix::net::UnixStream;

    fn served(profile: SimProfile) -> (DeviceTee, SimTee, std::thread::JoinHandle<()>) {
        let m = process_measurement(profile.platform(), b"enclave", b"params");
        let launch = || {
            SimTee::launch(
                SimChip::from_seed(&[3; 32]),
                profile,
                m,
                profile.default_policy(),
                FixedClock::new(1_756_684_800_000),
            )
            .unwrap()
        };
        let (a, mut b) = UnixStream::pair().unwrap();
        let server_tee = launch();
        let comp = vec![MeasuredComponent {
            name: "kiln-enclave".into(),
            uri: None,
            digest: BTreeMap::new(),
            content: Some(b"params".to_vec()),
        }];
        let server = std::thread::spawn(move || {
            serve_device(&mut b, &server_tee, &comp).unwrap();
        });
        (DeviceTee::connect(a, "test").unwrap(), launch(), server)
    }

    #[test]
    fn the_device_gives_what_the_launched_tee_gives() {
        for profile in [SimProfile::Nitro, SimProfile::default_for(Platform::Tdx)] {
            let (device, local, server) = served(profile);
            assert_eq!(device.measurement(), local.measurement());
            assert_eq!(device.platform(), profile.platform());
            assert_eq!(device.components()[0].name, "kiln-enclave");
            let mut rd = ReportData::new([9; 64]);
            if profile == SimProfile::Nitro {
                rd = rd
                    .with_nitro_public_key(vec![4; 91])
                    .with_nonce(vec![5; 16]);
            }
            assert_eq!(device.evidence(&rd).unwrap(), local.evidence(&rd).unwrap());
            assert_eq!(
                device.sealing_key(b"ctx").unwrap(),
                local.sealing_key(b"ctx").unwrap()
            );
            // A request the TEE refuses is an error, and the device keeps serving.
            let too_long = ReportData::new([0; 64]).with_nonce(vec![0; 10_000]);
            let err = device.evidence(&too_long).unwrap_err();
            assert!(chain(&err).contains("refused"), "{}", chain(&err));
            assert!(device.sealing_key(b"ctx").is_ok());
            drop(device);
            server.join().unwrap();
        }
    }

    #[test]
    fn measurement_bytes_round_trip_and_bad_ones_are_refused() {
        for platform in Platform::ALL {
            let m = process_measurement(platform, b"a", b"b");
            assert_eq!(measurement_from_bytes(&m.canonical_bytes()).unwrap(), m);
        }
        assert!(measurement_from_bytes(&[]).is_err());
        assert!(measurement_from_bytes(&[1; 50]).is_err());
        assert!(measurement_from_bytes(&[4; 49]).is_err());
        assert!(measurement_from_bytes(&[2; 49]).is_err());
    }

    #[test]
    fn evidence_files_round_trip_and_unknown_names_are_refused() {
        let bundle = TeeEvidence {
            platform: Platform::SevSnp,
            evidence: vec![1],
            vek_der: Some(vec![2]),
            chain_pem: Some("pem".into()),
            collateral_json: None,
            simulated_root_der: Some(vec![3]),
        };
        let files = evidence_files(&bundle);
        assert_eq!(
            bundle_from_files(Platform::SevSnp, files.clone()).unwrap(),
            bundle
        );
        let mut extra = files.clone();
        extra.push(NamedBlob {
            name: "root.der".into(),
            data: vec![],
        });
        assert!(bundle_from_files(Platform::SevSnp, extra).is_err());
        let mut twice = files.clone();
        twice.push(files[0].clone());
        assert!(bundle_from_files(Platform::SevSnp, twice).is_err());
        assert!(bundle_from_files(Platform::SevSnp, files[1..].to_vec()).is_err());
    }

    #[test]
    fn file_names_are_those_of_the_output_layout() {
        use kiln_verifier::build_output::media;
        assert_eq!(EVIDENCE_FILE, media::EVIDENCE_NAME);
        assert_eq!(VEK_FILE, media::VEK_NAME);
        assert_eq!(CHAIN_FILE, media::CHAIN_NAME);
        assert_eq!(COLLATERAL_FILE, media::COLLATERAL_NAME);
        assert_eq!(SIMULATED_ROOT_FILE, media::SIMULATED_ROOT_NAME);
    }

    #[test]
    fn a_wrong_hello_is_refused_with_a_reason() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || {
            let tee = SimTee::launch(
                SimChip::from_seed(&[3; 32]),
                SimProfile::Nitro,
                process_measurement(Platform::Nitro, b"e", b"p"),
                0,
                FixedClock::new(0),
            )
            .unwrap();
            serve_device(&mut b, &tee, &[])
        });
        write_message(
            &mut a,
            &Message::Hello {
                protocol: PROTOCOL_VERSION + 1,
                role: Role::Enclave,
                software: "x".into(),
            },
        )
        .unwrap();
        let reply = read_message(&mut a).unwrap();
        assert!(matches!(reply, Message::Error { ref message } if message.contains("version")));
        assert!(matches!(
            server.join().unwrap(),
            Err(DeviceError::Version { .. })
        ));
    }
}
