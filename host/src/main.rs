//! `kiln`: attested builds in a trusted execution environment. See `kiln --help`.
//!
//! Thin: the flags are parsed ([`kiln_host::cli`]), validated into a configuration and run
//! ([`kiln_host::commands`]); exit codes are documented in `kiln --help`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use kiln_host::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(kiln_host::commands::dispatch(cli.command))
}
