//! The host side of the build protocol (see `kiln_proto::message`): hello, the request and
//! the source, then progress, logs and artifacts until the result or an error. Artifacts are
//! written into a staging folder as they arrive; nothing here decides whether they are kept.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use kiln_proto::{decode, encode, read_frame_async, write_frame_async, FrameError, Message};
use kiln_proto::{NamedBlob, Phase, Role, Stream, MAX_FRAME, PROTOCOL_VERSION};
use kiln_provenance::layout::ATTESTATION_FILES;
use kiln_verifier::build_output::media::EVIDENCE_FILES;
use tokio::io::AsyncWriteExt;

use crate::launch::Channel;
use crate::progress::Progress;

/// Source chunk size (well below the frame bound).
const CHUNK: usize = 1 << 20;

/// Why a build session failed.
#[derive(Debug)]
pub enum SessionError {
    /// The connection failed or carried a bad frame.
    Frame {
        /// What the host was doing.
        during: &'static str,
        /// The cause.
        source: FrameError,
    },
    /// The enclave broke the protocol.
    Protocol {
        /// What was wrong.
        reason: String,
    },
    /// The enclave reported an error.
    Enclave {
        /// Its message.
        message: String,
    },
    /// Writing an artifact failed.
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame { during, .. } => {
                write!(f, "connection to the enclave failed while {during}")
            }
            Self::Protocol { reason } => write!(f, "the enclave broke the protocol: {reason}"),
            Self::Enclave { message } => write!(f, "the build failed in the enclave: {message}"),
            Self::Io { path, .. } => write!(f, "cannot write {}", path.display()),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Frame { source, .. } => Some(source),
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl SessionError {
    /// Whether the connection ended (the enclave may have died): the caller adds how.
    pub fn is_disconnect(&self) -> bool {
        matches!(
            self,
            Self::Frame {
                source: FrameError::Closed | FrameError::Truncated { .. } | FrameError::Io(_),
                ..
            }
        )
    }
}

/// What a session hands back.
#[derive(Debug, Clone)]
pub struct SessionResult {
    /// The Sigstore bundle.
    pub bundle: Vec<u8>,
    /// The public key, PEM.
    pub public_key_pem: String,
    /// Evidence files.
    pub evidence: Vec<NamedBlob>,
    /// The SBOMs and their signed statements (names checked).
    pub attestations: Vec<NamedBlob>,
    /// The key sealed for the next launch.
    pub sealed_key: Option<Vec<u8>>,
    /// Artifact paths written, relative to the artifacts folder.
    pub artifacts: Vec<String>,
}

/// Inputs of a session.
#[derive(Debug)]
pub struct SessionInput<'a> {
    /// The request bytes (hashed into REPORT_DATA by the enclave).
    pub request: &'a [u8],
    /// The sealed key from an earlier launch.
    pub sealed_key: Option<Vec<u8>>,
    /// The source archive.
    pub archive: &'a [u8],
    /// Where artifacts go.
    pub artifacts_dir: &'a Path,
    /// The most artifact bytes accepted.
    pub max_output_bytes: u64,
}

async fn send(
    ch: &mut dyn Channel,
    msg: &Message,
    during: &'static str,
) -> Result<(), SessionError> {
    let frame = |source| SessionError::Frame { during, source };
    let payload = encode(msg).map_err(frame)?;
    let mut ch = ch;
    write_frame_async(&mut ch, &payload).await.map_err(frame)
}

async fn recv(ch: &mut dyn Channel, during: &'static str) -> Result<Message, SessionError> {
    let frame = |source| SessionError::Frame { during, source };
    let mut ch = ch;
    let payload = read_frame_async(&mut ch, MAX_FRAME).await.map_err(frame)?;
    decode(&payload).map_err(frame)
}

/// Runs one build session over `ch`.
pub async fn run(
    ch: &mut dyn Channel,
    input: SessionInput<'_>,
    progress: &mut Progress,
) -> Result<SessionResult, SessionError> {
    send(
        ch,
        &Message::Hello {
            protocol: PROTOCOL_VERSION,
            role: Role::Host,
            software: format!("kiln {}", env!("CARGO_PKG_VERSION")),
        },
        "saying hello",
    )
    .await?;
    match recv(ch, "waiting for the enclave's hello").await? {
        Message::Hello {
            protocol: PROTOCOL_VERSION,
            role: Role::Enclave,
            software,
        } => progress.note(&format!("enclave: {software}")),
        Message::Hello { protocol, role, .. } => {
            return Err(SessionError::Protocol {
                reason: format!(
                    "hello from {role:?} speaking protocol {protocol}; expected an enclave speaking {PROTOCOL_VERSION}"
                ),
            })
        }
        Message::Error { message } => return Err(SessionError::Enclave { message }),
        other => {
            return Err(SessionError::Protocol {
                reason: format!("expected hello, got {}", name(&other)),
            })
        }
    }

    progress.phase(
        Phase::Transfer,
        &format!("{} bytes of source", input.archive.len()),
    );
    send(
        ch,
        &Message::BuildRequest {
            request: input.request.to_vec(),
            sealed_key: input.sealed_key.clone(),
        },
        "sending the build request",
    )
    .await?;
    for chunk in input.archive.chunks(CHUNK) {
        send(
            ch,
            &Message::SourceChunk {
                data: chunk.to_vec(),
            },
            "sending the source",
        )
        .await?;
    }
    send(ch, &Message::SourceEnd, "sending the source").await?;

    let mut writer = ArtifactWriter::new(input.artifacts_dir, input.max_output_bytes);
    loop {
        match recv(ch, "waiting for the build").await? {
            Message::Progress { phase, message } => progress.phase(phase, &message),
            Message::Log { stream, line } => progress.log(stream_name(stream), &line),
            Message::ArtifactChunk {
                path,
                data,
                executable,
            } => writer.chunk(&path, &data, executable).await?,
            Message::Result {
                bundle,
                public_key_pem,
                evidence,
                attestations,
                sealed_key,
            } => {
                let artifacts = writer.finish()?;
                check_names(&evidence, EVIDENCE_FILES, "evidence file")?;
                check_names(&attestations, ATTESTATION_FILES, "attestation file")?;
                return Ok(SessionResult {
                    bundle,
                    public_key_pem,
                    evidence,
                    attestations,
                    sealed_key,
                    artifacts,
                });
            }
            Message::Error { message } => return Err(SessionError::Enclave { message }),
            other => {
                return Err(SessionError::Protocol {
                    reason: format!("unexpected {} during the build", name(&other)),
                })
            }
        }
    }
}

fn stream_name(s: Stream) -> &'static str {
    match s {
        Stream::Stdout => "out",
        Stream::Stderr => "err",
        Stream::Builder => "builder",
    }
}

fn name(m: &Message) -> &'static str {
    match m {
        Message::Hello { .. } => "hello",
        Message::BuildRequest { .. } => "build request",
        Message::SourceChunk { .. } => "source chunk",
        Message::SourceEnd => "source end",
        Message::Progress { .. } => "progress",
        Message::Log { .. } => "log line",
        Message::ArtifactChunk { .. } => "artifact chunk",
        Message::Result { .. } => "result",
        Message::Error { .. } => "error",
        Message::EvidenceRequest { .. } => "evidence request",
        Message::EvidenceResponse { .. } => "evidence response",
        Message::SealingKeyRequest { .. } => "sealing key request",
        Message::SealingKeyResponse { .. } => "sealing key response",
        Message::MeasurementRequest => "measurement request",
        Message::MeasurementResponse { .. } => "measurement response",
    }
}

fn check_names(blobs: &[NamedBlob], allowed: &[&str], what: &str) -> Result<(), SessionError> {
    let mut seen = BTreeSet::new();
    for blob in blobs {
        if !allowed.contains(&blob.name.as_str()) {
            return Err(SessionError::Protocol {
                reason: format!(
                    "{what} {:?} is not one of {}",
                    blob.name,
                    allowed.join(", ")
                ),
            });
        }
        if !seen.insert(blob.name.as_str()) {
            return Err(SessionError::Protocol {
                reason: format!("{what} {:?} sent twice", blob.name),
            });
        }
    }
    Ok(())
}

/// Checks an artifact path from the enclave: relative, `/`-separated, no `.`/`..`.
pub fn check_artifact_path(path: &str) -> Result<PathBuf, String> {
    if path.is_empty() || path.contains(['\\', '\0']) || path.starts_with('/') {
        return Err(format!(
            "artifact path {path:?} is not a plain relative path"
        ));
    }
    let p = Path::new(path);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            _ => {
                return Err(format!(
                    "artifact path {path:?} is not a plain relative path"
                ))
            }
        }
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "artifact path {path:?} is not a plain relative path"
        ));
    }
    Ok(out)
}

/// Writes artifact chunks under a folder.
struct ArtifactWriter {
    dir: PathBuf,
    max: u64,
    total: u64,
    open: Option<(String, tokio::fs::File)>,
    done: BTreeSet<String>,
}

impl ArtifactWriter {
    fn new(dir: &Path, max: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            max,
            total: 0,
            open: None,
            done: BTreeSet::new(),
        }
    }

    async fn chunk(
        &mut self,
        path: &str,
        data: &[u8],
        executable: bool,
    ) -> Result<(), SessionError> {
        let protocol = |reason: String| SessionError::Protocol { reason };
        let rel = check_artifact_path(path).map_err(protocol)?;
        let full = self.dir.join(&rel);
        let io = |source| SessionError::Io {
            path: full.clone(),
            source,
        };
        if self.done.contains(path) {
            return Err(protocol(format!("artifact {path:?} sent twice")));
        }
        match &self.open {
            Some((current, _)) if current != path => {
                return Err(protocol(format!(
                    "artifact {path:?} started before {current:?} ended"
                )))
            }
            Some(_) => {}
            None => {
                if let Some(parent) = full.parent() {
                    tokio::fs::create_dir_all(parent).await.map_err(io)?;
                }
                let file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&full)
                    .await
                    .map_err(io)?;
                self.open = Some((path.to_owned(), file));
            }
        }
        if data.is_empty() {
            if let Some((name, mut file)) = self.open.take() {
                file.flush().await.map_err(io)?;
                let mode = if executable { 0o755 } else { 0o644 };
                file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
                    .await
                    .map_err(io)?;
                file.sync_all().await.map_err(io)?;
                self.done.insert(name);
            }
            return Ok(());
        }
        self.total = self.total.saturating_add(data.len() as u64);
        if self.total > self.max {
            return Err(protocol(format!(
                "the artifacts exceed the recipe's output limit of {} bytes",
                self.max
            )));
        }
        if let Some((_, file)) = self.open.as_mut() {
            file.write_all(data).await.map_err(io)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<String>, SessionError> {
        if let Some((name, _)) = self.open {
            return Err(SessionError::Protocol {
                reason: format!("artifact {name:?} was never ended (no empty chunk)"),
            });
        }
        Ok(self.done.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn artifact_paths_are_confined() {
        assert_eq!(check_artifact_path("a/b").unwrap(), PathBuf::from("a/b"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a/",
            "a\\b",
        ] {
            assert!(check_artifact_path(bad).is_err(), "{bad:?}");
        }
    }
}
