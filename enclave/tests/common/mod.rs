//! A test harness that plays the host: it listens on a control and a device socket in a
//! private directory, measures the real `kiln-enclave` binary, serves a simulated TEE on the
//! device socket, spawns the enclave, and scripts the control session.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_proto::{
    read_message, write_message, MeasuredComponent, Message, Role, Stream, PROTOCOL_VERSION,
};
use kiln_tee::device::serve_device;
use kiln_tee::sim::{FixedClock, SimChip, SimProfile, SimTee};
use kiln_tee::{process_measurement, Platform};
use kiln_verifier::build_output::{BuildRequest, SourceRef, REQUEST_KIND};
use sha2::{Digest, Sha256};

/// 2025-09-01T00:00:00Z: the simulated TEE's clock.
pub const T_MS: u64 = 1_756_684_800_000;

pub const ENCLAVE: &str = env!("CARGO_BIN_EXE_kiln-enclave");

/// The chip every test uses (RSA keys cached between test processes).
pub fn chip() -> Arc<SimChip> {
    SimChip::from_seed_cached(
        &[9; 32],
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kiln-enclave-rsa-cache"),
    )
}

/// A deterministic tar of `files` (regular files, mode 0644).
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// The text of a `kiln.toml` running `command` with `outputs`, plus `extra` TOML (further
/// `[build]` keys must come before any other table, so `extra` is appended to `[build]`).
pub fn recipe_toml(command: &str, outputs: &[&str], extra: &str) -> String {
    format!(
        "[build]\ncommand = {}\noutputs = {}\n{extra}",
        toml::Value::String(command.to_owned()),
        toml::Value::Array(
            outputs
                .iter()
                .map(|o| toml::Value::String((*o).to_owned()))
                .collect()
        ),
    )
}

/// A source archive: a README and a `kiln.toml` running `command` with `outputs` (+ `extra`).
pub fn project(command: &str, outputs: &[&str], extra: &str) -> Vec<u8> {
    let recipe = recipe_toml(command, outputs, extra);
    tar_of(&[("README", b"demo\n"), ("kiln.toml", recipe.as_bytes())])
}

/// A request building `source` (a plain folder: no commit) for `platform`.
pub fn request(platform: Platform, source: &[u8]) -> BuildRequest {
    BuildRequest {
        kind: REQUEST_KIND.into(),
        invocation_id: "0123456789abcdef".into(),
        nonce: "00112233445566778899aabbccddeeff".into(),
        source: SourceRef {
            sha256: hex::encode(Sha256::digest(source)),
            size: source.len() as u64,
            commit: None,
            repository: Some("https://example.invalid/demo.git".into()),
            source_date_epoch: 1_700_000_000,
            git: None,
        },
        recipe_path: "kiln.toml".into(),
        builder_id: "https://kiln.dev/builders/sim-process@v1".into(),
        backend: "sim".into(),
        platform: platform.as_str().into(),
    }
}

/// How the enclave is launched.
#[derive(Debug, Clone)]
pub struct Launch {
    pub platform: Platform,
    /// The launch parameters that enter the measurement.
    pub params: Vec<u8>,
    /// Extra environment of the enclave process.
    pub env: Vec<(String, String)>,
    /// The protocol version the harness announces.
    pub host_protocol: u16,
    /// A command the enclave is run under (`PREFIX... ENCLAVE ARGS...`), when not empty.
    pub wrapper: Vec<String>,
    /// Further arguments of the enclave.
    pub args: Vec<String>,
}

impl Launch {
    pub fn new(platform: Platform) -> Self {
        Self {
            platform,
            params: b"--test-launch v1".to_vec(),
            env: vec![],
            host_protocol: PROTOCOL_VERSION,
            wrapper: vec![],
            args: vec![],
        }
    }
}

/// Everything the enclave sent, and how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub messages: Vec<Message>,
    pub status: ExitStatus,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn error(&self) -> Option<&str> {
        self.messages.iter().find_map(|m| match m {
            Message::Error { message } => Some(message.as_str()),
            _ => None,
        })
    }

    pub fn result(&self) -> Option<&Message> {
        self.messages
            .iter()
            .find(|m| matches!(m, Message::Result { .. }))
    }

    /// The session failed: an Error, no Result, a non-zero exit, and no panic.
    pub fn expect_error(&self) -> &str {
        assert!(self.result().is_none(), "a result after a failure");
        assert!(!self.status.success(), "exit status {:?}", self.status);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self.error()
            .unwrap_or_else(|| panic!("no error message; stderr: {}", self.stderr))
    }

    pub fn logs(&self, stream: Stream) -> Vec<&str> {
        self.messages
            .iter()
            .filter_map(|m| match m {
                Message::Log { stream: s, line } if *s == stream => Some(line.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The artifacts, reassembled from their chunks.
    pub fn artifacts(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for m in &self.messages {
            if let Message::ArtifactChunk { path, data, .. } = m {
                out.entry(path.clone()).or_default().extend_from_slice(data);
            }
        }
        out
    }
}

/// The simulated TEE the harness launches, measured over the enclave binary and `params`.
pub fn launched_tee(launch: &Launch) -> (SimTee, Vec<MeasuredComponent>) {
    let binary = std::fs::read(ENCLAVE).unwrap();
    let m = process_measurement(launch.platform, &binary, &launch.params);
    let profile = SimProfile::default_for(launch.platform);
    let tee = SimTee::launch(
        chip(),
        profile,
        m,
        profile.default_policy(),
        FixedClock::new(T_MS),
    )
    .unwrap();
    let components = vec![
        MeasuredComponent {
            name: "kiln-enclave".into(),
            uri: Some(format!("file://{ENCLAVE}")),
            digest: [("sha256".to_owned(), hex::encode(Sha256::digest(&binary)))]
                .into_iter()
                .collect(),
            content: None,
        },
        MeasuredComponent {
            name: "launch-parameters".into(),
            uri: None,
            digest: [(
                "sha256".to_owned(),
                hex::encode(Sha256::digest(&launch.params)),
            )]
            .into_iter()
            .collect(),
            content: Some(launch.params.clone()),
        },
    ];
    (tee, components)
}

/// The enclave's connection, or `None` when it exited without connecting.
fn accept(listener: &UnixListener, child: &mut Child) -> Option<UnixStream> {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return Some(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if child.try_wait().unwrap().is_some() {
                    return None;
                }
                assert!(Instant::now() < deadline, "the enclave never connected");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Runs one session: hellos are exchanged by the harness, then `script` drives the control
/// channel; afterwards everything the enclave sends is collected until it closes.
pub fn session(launch: &Launch, script: impl FnOnce(&mut UnixStream)) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let (control_path, device_path) = (
        dir.path().join("control.sock"),
        dir.path().join("device.sock"),
    );
    let control_l = UnixListener::bind(&control_path).unwrap();
    let device_l = UnixListener::bind(&device_path).unwrap();
    let (tee, components) = launched_tee(launch);
    let work_root = dir.path().join("work");
    std::fs::create_dir(&work_root).unwrap();
    let started = Instant::now();
    let mut command = match launch.wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(ENCLAVE);
            c
        }
        None => Command::new(ENCLAVE),
    };
    let mut child = command
        .arg("--control")
        .arg(format!("unix:{}", control_path.display()))
        .arg("--device")
        .arg(format!("unix:{}", device_path.display()))
        .arg("--tee")
        .arg("sim-device")
        .arg("--work-root")
        .arg(&work_root)
        .args(&launch.args)
        .envs(launch.env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut control = accept(&control_l, &mut child).expect("the enclave never connected");
    control
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let hello = read_message(&mut control).unwrap();
    assert!(
        matches!(
            hello,
            Message::Hello {
                role: Role::Enclave,
                protocol: PROTOCOL_VERSION,
                ..
            }
        ),
        "{hello:?}"
    );
    write_message(
        &mut control,
        &Message::Hello {
            protocol: launch.host_protocol,
            role: Role::Host,
            software: "test harness".into(),
        },
    )
    .unwrap();
    let device = accept(&device_l, &mut child);
    let server = std::thread::spawn(move || {
        // The enclave may die mid-exchange in the fault tests: any end is fine here.
        if let Some(mut device) = device {
            let _ = serve_device(&mut device, &tee, &components);
        }
    });
    script(&mut control);
    let mut messages = Vec::new();
    while let Ok(m) = read_message(&mut control) {
        messages.push(m);
    }
    let output = child.wait_with_output().unwrap();
    server.join().unwrap();
    assert!(
        std::fs::read_dir(&work_root).unwrap().next().is_none(),
        "the work directory was left behind"
    );
    Outcome {
        messages,
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Sends the request and the source in chunks of `chunk` bytes.
pub fn send_build(
    control: &mut UnixStream,
    request: &BuildRequest,
    sealed_key: Option<Vec<u8>>,
    source: &[u8],
    chunk: usize,
) {
    write_message(
        control,
        &Message::BuildRequest {
            request: request.to_bytes(),
            sealed_key,
        },
    )
    .unwrap();
    for piece in source.chunks(chunk.max(1)) {
        write_message(
            control,
            &Message::SourceChunk {
                data: piece.to_vec(),
            },
        )
        .unwrap();
    }
    write_message(control, &Message::SourceEnd).unwrap();
    control.flush().unwrap();
}

/// A plain successful build session.
pub fn build(
    launch: &Launch,
    request: &BuildRequest,
    source: &[u8],
    sealed: Option<Vec<u8>>,
) -> Outcome {
    session(launch, |c| send_build(c, request, sealed, source, 1000))
}
