//! The hermetic build: a clean environment, its own process group, a time limit, and its
//! output lines streamed as they happen.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kiln_proto::Stream;
use kiln_provenance::Recipe;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::error::EnclaveError;

/// The guest's standard PATH.
pub const STANDARD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Longest log line sent; longer lines are split.
pub const MAX_LINE: usize = 16 * 1024;

/// The build's environment, in this order (later wins):
///
/// 1. fixed defaults: `PATH` (the guest's standard PATH), `LANG=C.UTF-8`, `TZ=UTC`;
/// 2. the recipe's allow-list (`env`), each taken from the enclave's own environment when set
///    there (so allow-listing `PATH` passes the guest's PATH);
/// 3. the recipe's `envSet`;
/// 4. always: `HOME` and `TMPDIR` inside the work directory, and `SOURCE_DATE_EPOCH`.
pub fn hermetic_env(
    recipe: &Recipe,
    source_date_epoch: i64,
    home: &Path,
    tmp: &Path,
    outer: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), STANDARD_PATH.to_owned());
    env.insert("LANG".to_owned(), "C.UTF-8".to_owned());
    env.insert("TZ".to_owned(), "UTC".to_owned());
    for name in &recipe.env {
        if let Some(value) = outer(name) {
            env.insert(name.clone(), value);
        }
    }
    for (k, v) in &recipe.env_set {
        env.insert(k.clone(), v.clone());
    }
    env.insert("HOME".to_owned(), home.display().to_string());
    env.insert("TMPDIR".to_owned(), tmp.display().to_string());
    env.insert(
        "SOURCE_DATE_EPOCH".to_owned(),
        source_date_epoch.to_string(),
    );
    env
}

enum Event {
    Line(Stream, String),
    Eof,
}

/// Reads lines (split at [`MAX_LINE`] bytes, invalid UTF-8 replaced) and sends them.
fn pump(reader: impl Read, stream: Stream, tx: &mpsc::Sender<Event>) {
    let mut reader = BufReader::new(reader);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let (consumed, done) = match reader.fill_buf() {
            Ok([]) | Err(_) => break,
            Ok(buf) => {
                let room = MAX_LINE.saturating_sub(line.len());
                let window = buf.get(..buf.len().min(room)).unwrap_or(buf);
                match window.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        line.extend_from_slice(window.get(..i).unwrap_or(window));
                        (i + 1, true)
                    }
                    None => {
                        line.extend_from_slice(window);
                        (window.len(), line.len() >= MAX_LINE)
                    }
                }
            }
        };
        reader.consume(consumed);
        if done {
            let text = String::from_utf8_lossy(&line).into_owned();
            line.clear();
            if tx.send(Event::Line(stream, text)).is_err() {
                return;
            }
        }
    }
    if !line.is_empty() {
        let _ = tx.send(Event::Line(
            stream,
            String::from_utf8_lossy(&line).into_owned(),
        ));
    }
    let _ = tx.send(Event::Eof);
}

/// Kills the child's whole process group (the build and everything it started).
fn kill_group(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // ESRCH (already gone) is fine.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// How a process ended, in words.
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => status.to_string(),
    }
}

/// Runs `cmd` (the build `command`, prepared by the sandbox) in its own process group,
/// sending each output line to `log` as it arrives. Past `time_limit` the group is killed.
/// Whatever the build started is killed when it ends.
pub fn run(
    mut cmd: Command,
    command: &str,
    time_limit: Duration,
    log: &mut dyn FnMut(Stream, String) -> Result<(), EnclaveError>,
) -> Result<(), EnclaveError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| EnclaveError::Spawn {
            command: command.to_owned(),
            source,
        })?;
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        pumps.push(std::thread::spawn(move || pump(out, Stream::Stdout, &tx)));
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        pumps.push(std::thread::spawn(move || pump(err, Stream::Stderr, &tx)));
    }
    drop(tx);
    let streams = pumps.len();
    let outcome = supervise(&mut child, &rx, streams, started, time_limit, log);
    kill_group(&child);
    let _ = child.wait();
    for p in pumps {
        let _ = p.join();
    }
    let status = outcome?;
    if status.success() {
        Ok(())
    } else {
        Err(EnclaveError::BuildFailed {
            status: describe_status(status),
        })
    }
}

fn supervise(
    child: &mut Child,
    rx: &mpsc::Receiver<Event>,
    streams: usize,
    started: Instant,
    time_limit: Duration,
    log: &mut dyn FnMut(Stream, String) -> Result<(), EnclaveError>,
) -> Result<ExitStatus, EnclaveError> {
    let mut ended = 0usize;
    let mut status: Option<ExitStatus> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(Event::Line(stream, line)) => log(stream, line)?,
            Ok(Event::Eof) => ended += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => ended = streams,
        }
        if status.is_none() {
            status = child
                .try_wait()
                .map_err(|e| EnclaveError::io("wait for", "/bin/sh", e))?;
            if status.is_some() {
                // The build is over: stragglers holding its pipes go with it.
                kill_group(child);
            }
        }
        if let Some(s) = status {
            if ended >= streams {
                return Ok(s);
            }
        }
        if status.is_none() && started.elapsed() >= time_limit {
            kill_group(child);
            return Err(EnclaveError::TimeLimit {
                secs: time_limit.as_secs(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn plain(command: &str, dir: &Path) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(command).current_dir(dir).env_clear();
        cmd
    }

    fn recipe(env: &[&str], set: &[(&str, &str)]) -> Recipe {
        Recipe {
            command: "true".into(),
            outputs: vec![],
            env: env.iter().map(|s| (*s).to_owned()).collect(),
            env_set: set
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            toolchain: vec![],
            toolchain_image: None,
            limits: kiln_provenance::Limits {
                time_secs: 5,
                output_bytes: 1,
            },
        }
    }

    #[test]
    fn the_environment_is_the_allow_list_and_fixed_values_only() {
        let outer = |k: &str| match k {
            "CC" => Some("clang".to_owned()),
            "SECRET" => Some("x".to_owned()),
            _ => None,
        };
        let env = hermetic_env(
            &recipe(&["CC", "MISSING"], &[("HOME", "/evil"), ("X", "1")]),
            7,
            Path::new("/w/home"),
            Path::new("/w/tmp"),
            outer,
        );
        let keys: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "CC",
                "HOME",
                "LANG",
                "PATH",
                "SOURCE_DATE_EPOCH",
                "TMPDIR",
                "TZ",
                "X"
            ]
        );
        assert_eq!(env["HOME"], "/w/home");
        assert_eq!(env["SOURCE_DATE_EPOCH"], "7");
        assert_eq!(env["CC"], "clang");
    }

    #[test]
    fn lines_stream_and_long_lines_are_split() {
        let mut lines = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let long = MAX_LINE + 10;
        let command = format!("echo out; echo err >&2; head -c {long} /dev/zero | tr '\\0' a");
        run(
            plain(&command, dir.path()),
            &command,
            Duration::from_secs(10),
            &mut |s, l| {
                lines.push((s, l));
                Ok(())
            },
        )
        .unwrap();
        assert!(lines.contains(&(Stream::Stdout, "out".to_owned())));
        assert!(lines.contains(&(Stream::Stderr, "err".to_owned())));
        let a: Vec<usize> = lines
            .iter()
            .filter(|(_, l)| l.starts_with('a'))
            .map(|(_, l)| l.len())
            .collect();
        assert_eq!(a, [MAX_LINE, 10]);
    }

    #[test]
    fn a_background_process_does_not_hold_the_build_open() {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        run(
            plain("sleep 30 & echo started", dir.path()),
            "sleep 30 & echo started",
            Duration::from_secs(20),
            &mut |_, _| Ok(()),
        )
        .unwrap();
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
