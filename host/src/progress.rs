//! Progress on stderr: one line per phase with the elapsed time, and the build log as it
//! arrives. Phase durations are kept for the `--json` summary.

use std::io::Write;
use std::time::{Duration, Instant};

use kiln_proto::Phase;

/// The name of a phase.
pub fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Pack => "pack",
        Phase::Launch => "launch",
        Phase::Transfer => "transfer",
        Phase::Build => "build",
        Phase::Sign => "sign",
        Phase::Attest => "attest",
    }
}

/// A progress reporter.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    current: Option<(&'static str, Instant)>,
    timings: Vec<(&'static str, Duration)>,
    quiet: bool,
}

impl Progress {
    /// A reporter starting now; `quiet` silences everything but the log.
    pub fn new(quiet: bool) -> Self {
        Self {
            start: Instant::now(),
            current: None,
            timings: Vec::new(),
            quiet,
        }
    }

    fn say(&self, text: &str) {
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            // A closed stderr must not fail the build.
            let _ = writeln!(err, "{text}");
        }
    }

    /// Enters a named step (host-side steps such as "verify" use this too).
    pub fn step(&mut self, name: &'static str, message: &str) {
        let now = Instant::now();
        match self.current {
            Some((cur, _)) if cur == name => {}
            _ => {
                self.close(now);
                self.current = Some((name, now));
            }
        }
        let t = now.duration_since(self.start).as_secs_f64();
        self.say(&format!("[{t:7.3}s] {name:<8} {message}"));
    }

    /// Enters (or reports within) a phase.
    pub fn phase(&mut self, p: Phase, message: &str) {
        self.step(phase_name(p), message);
    }

    fn close(&mut self, now: Instant) {
        if let Some((name, since)) = self.current.take() {
            let d = now.duration_since(since);
            match self.timings.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += d,
                None => self.timings.push((name, d)),
            }
        }
    }

    /// A note within the current phase.
    pub fn note(&self, message: &str) {
        self.say(&format!("           {message}"));
    }

    /// A warning, always shown.
    pub fn warn(&self, message: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "warning: {message}");
    }

    /// A framed, always-shown announcement.
    pub fn banner(&self, lines: &[&str]) {
        let width = lines.iter().map(|l| l.len()).max().unwrap_or(0);
        let rule = "*".repeat(width + 4);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{rule}");
        for l in lines {
            let _ = writeln!(err, "* {l:<width$} *");
        }
        let _ = writeln!(err, "{rule}");
    }

    /// One line of the build log.
    pub fn log(&self, stream: &str, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "  {stream:>7} | {line}");
    }

    /// Ends the current phase and returns every phase's duration, in order.
    pub fn finish(&mut self) -> Vec<(&'static str, Duration)> {
        self.close(Instant::now());
        self.timings.clone()
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}
