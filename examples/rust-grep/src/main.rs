//! kiln's Rust example with crates.io dependencies (vendored under `vendor/`, since a build
//! inside the enclave has no network): `rust-grep PATTERN [FILE...]` prints the lines that
//! match PATTERN (the `regex` crate's syntax), prefixed with `FILE:LINE:` when several inputs
//! are given. Reads standard input without FILE. Exit status as grep's: 0 when a line
//! matched, 1 when none did, 2 on an error.

use std::io::{self, BufRead, BufReader, Write};
use std::process::ExitCode;

use regex::Regex;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((pattern, files)) = args.split_first() else {
        eprintln!("usage: rust-grep PATTERN [FILE...]");
        return ExitCode::from(2);
    };
    let re = match Regex::new(pattern) {
        Ok(re) => re,
        Err(e) => {
            eprintln!("rust-grep: bad pattern: {e}");
            return ExitCode::from(2);
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut matched = false;
    let result = if files.is_empty() {
        grep(&re, io::stdin().lock(), None, &mut out, &mut matched)
    } else {
        files.iter().try_for_each(|f| {
            let file = std::fs::File::open(f).map_err(|e| format!("{f}: {e}"))?;
            let label = (files.len() > 1).then_some(f.as_str());
            grep(&re, BufReader::new(file), label, &mut out, &mut matched)
        })
    };
    match result {
        Err(e) => {
            eprintln!("rust-grep: {e}");
            ExitCode::from(2)
        }
        Ok(()) if matched => ExitCode::SUCCESS,
        Ok(()) => ExitCode::from(1),
    }
}

fn grep(
    re: &Regex,
    input: impl BufRead,
    label: Option<&str>,
    out: &mut impl Write,
    matched: &mut bool,
) -> Result<(), String> {
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", label.unwrap_or("stdin")))?;
        if re.is_match(&line) {
            *matched = true;
            let written = match label {
                Some(f) => writeln!(out, "{f}:{}:{line}", n + 1),
                None => writeln!(out, "{line}"),
            };
            written.map_err(|e| format!("stdout: {e}"))?;
        }
    }
    Ok(())
}
