//! `kiln-enclave`: kiln's in-guest builder. See `kiln-enclave --help` and [`session`].

// `unsafe` only in `dm` (device-mapper ioctls), which allows it for itself.
#![deny(unsafe_code)]

mod backend;
mod cgroup;
mod commit;
mod config;
mod dm;
mod error;
mod hermetic;
mod hw;
mod init;
mod keys;
mod netns;
mod outputs;
mod provenance;
mod sandbox;
mod session;
mod simns;
mod source;
mod timestamp;
mod toolchain;
mod transport;

use std::process::ExitCode;

fn main() -> ExitCode {
    if cgroup::wanted() {
        return cgroup::launcher_main();
    }
    if init::wanted() {
        return init::main();
    }
    let cli = match config::Cli::parse_from(std::env::args_os()) {
        Ok(config::Invocation::Run(cli)) => cli,
        Ok(config::Invocation::Help) => {
            print!("{}", config::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(config::Invocation::Version) => {
            println!("kiln-enclave {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kiln-enclave: {e} (see kiln-enclave --help)");
            return ExitCode::from(2);
        }
    };
    let mut config = match config::Config::from_cli(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kiln-enclave: {e}");
            return ExitCode::from(2);
        }
    };
    // Started as a process (the simulator; the VM guest starts through `init`): own
    // namespaces and a size-limited work folder, before any thread exists.
    let work_bytes = config
        .work_bytes
        .or_else(simns::default_work_bytes)
        .unwrap_or(simns::FALLBACK_WORK_BYTES);
    config.namespaces = Some(simns::enter(
        &config.work_root,
        work_bytes,
        (sandbox::BUILD_UID, sandbox::BUILD_GID),
    ));
    match session::run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln-enclave: {}", error::report(&e));
            ExitCode::FAILURE
        }
    }
}
