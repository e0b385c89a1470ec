//! A misbehaving stand-in for `kiln-enclave`, for the host agent's fault tests only (it is
//! never launched unless `KILN_ENCLAVE` names it). `KILN_FAKE_MODE` picks the fault:
//!
//! - `no-connect`: exits with status 7 without connecting;
//! - `exit-after-hello`: says hello, then exits with status 3;
//! - `garbage`: says hello, then sends a frame that is not a message;
//! - `oversize`: says hello, then announces a 4 GiB frame;
//! - `error`: reads the request and source, then reports an error;
//! - `die-mid-build`: reads the source, logs a line, then aborts (SIGABRT);
//! - `hang`: reads the source, then sleeps forever;
//! - `escape`: sends an artifact named `../escape`.
//!
//! With `KILN_FAKE_PIDFILE` set, it writes its process id there first.

#![forbid(unsafe_code)]

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

use kiln_proto::{
    read_message, write_frame, write_message, Message, Role, Stream, PROTOCOL_VERSION,
};

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("fake enclave: {e}");
            ExitCode::from(9)
        }
    }
}

fn run() -> Result<u8, Box<dyn std::error::Error>> {
    let mode = std::env::var("KILN_FAKE_MODE").unwrap_or_default();
    if let Some(path) = std::env::var_os("KILN_FAKE_PIDFILE") {
        std::fs::write(path, std::process::id().to_string())?;
    }
    let args: Vec<String> = std::env::args().collect();
    let control = args
        .iter()
        .position(|a| a == "--control")
        .and_then(|i| args.get(i + 1))
        .and_then(|a| a.strip_prefix("unix:"))
        .ok_or("no --control unix:PATH")?;
    if mode == "no-connect" {
        eprintln!("fake enclave: refusing to start (mode no-connect)");
        return Ok(7);
    }
    let mut s = UnixStream::connect(control)?;
    write_message(
        &mut s,
        &Message::Hello {
            protocol: PROTOCOL_VERSION,
            role: Role::Enclave,
            software: "kiln-fake-enclave".into(),
        },
    )?;
    let _host_hello = read_message(&mut s)?;
    match mode.as_str() {
        "exit-after-hello" => return Ok(3),
        "garbage" => {
            write_frame(&mut s, &[0xff, 0x00, 0x13, 0x37, 0x42])?;
            std::thread::sleep(std::time::Duration::from_secs(5));
            return Ok(0);
        }
        "oversize" => {
            s.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])?;
            std::thread::sleep(std::time::Duration::from_secs(5));
            return Ok(0);
        }
        _ => {}
    }
    // Request, then source chunks until the end.
    let _request = read_message(&mut s)?;
    loop {
        if matches!(read_message(&mut s)?, Message::SourceEnd) {
            break;
        }
    }
    match mode.as_str() {
        "error" => {
            write_message(
                &mut s,
                &Message::Error {
                    message: "the compiler exploded (fake)".into(),
                },
            )?;
            Ok(1)
        }
        "die-mid-build" => {
            write_message(
                &mut s,
                &Message::Log {
                    stream: Stream::Stdout,
                    line: "compiling part 1 of 2".into(),
                },
            )?;
            std::process::abort()
        }
        "hang" => loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        },
        "escape" => {
            write_message(
                &mut s,
                &Message::ArtifactChunk {
                    path: "../escape".into(),
                    data: b"owned".to_vec(),
                    executable: false,
                },
            )?;
            std::thread::sleep(std::time::Duration::from_secs(5));
            Ok(0)
        }
        other => Err(format!("unknown KILN_FAKE_MODE {other:?}").into()),
    }
}
