//! `kiln-enclave`: kiln's in-guest builder. See `kiln-enclave --help` and [`session`].

#![forbid(unsafe_code)]

mod backend;
mod build;
mod cgroup;
mod commit;
mod config;
mod error;
mod hw;
mod init;
mod keys;
mod netns;
mod outputs;
mod provenance;
mod sandbox;
mod session;
mod source;
mod toolchain;
mod transport;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    if cgroup::wanted() {
        return cgroup::launcher_main();
    }
    if init::wanted() {
        return init::main();
    }
    let config = match config::Config::from_cli(config::Cli::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kiln-enclave: {e}");
            return ExitCode::from(2);
        }
    };
    match session::run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln-enclave: {}", error::report(&e));
            ExitCode::FAILURE
        }
    }
}
