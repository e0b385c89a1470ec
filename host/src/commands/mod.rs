//! The commands: each takes a validated configuration from [`crate::cli`], does the work, and
//! says what to print and which exit code to return. `main` only parses, validates and
//! dispatches.

pub mod build;
pub mod build_collateral;
pub mod collateral;
pub mod image;
pub mod image_pins;
pub mod image_sign;
pub mod policy;
pub mod verify;
pub mod vsa;

use std::io::Write;

use crate::cli::{CliCommand, ImageCommand, PolicyCommand};
use crate::error::{HostError, EXIT_OK};
use crate::report_error;

/// Reports `e` (its whole chain) on stderr and returns its exit code.
pub fn fail(e: &HostError) -> u8 {
    report_error(e);
    e.exit_code()
}

/// Prints a JSON document on stdout.
pub fn print_json(value: &serde_json::Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

/// Validates a parsed command line and runs it; returns the exit code.
pub fn dispatch(command: CliCommand) -> u8 {
    match command {
        CliCommand::Build(args) => match args.validate() {
            Ok(cfg) => build::execute(&cfg),
            Err(e) => fail(&e),
        },
        CliCommand::Verify(args) => match args.validate() {
            Ok(cfg) => verify::execute(&cfg),
            Err(e) => fail(&e),
        },
        CliCommand::VerifyVsa(args) => vsa::run_verify_vsa(&args),
        CliCommand::Sbom(args) => {
            let Some(format) = kiln_provenance::sbom::SbomFormat::parse(&args.format) else {
                return fail(&HostError::Usage {
                    message: format!("--format {:?} is not spdx or cyclonedx", args.format),
                });
            };
            match args.verify.validate() {
                Ok(cfg) => verify::execute_sbom(&cfg, format),
                Err(e) => fail(&e),
            }
        }
        CliCommand::Policy(PolicyCommand::Init(args)) => match args.validate() {
            Ok(cfg) => policy::execute(&cfg),
            Err(e) => fail(&e),
        },
        CliCommand::Collateral(crate::cli::collateral::CollateralCommand::Fetch(args)) => {
            match args.validate().and_then(|cfg| collateral::run_fetch(&cfg)) {
                Ok(text) => {
                    let mut out = std::io::stdout().lock();
                    let _ = write!(out, "{text}");
                    EXIT_OK
                }
                Err(e) => fail(&e),
            }
        }
        CliCommand::Collateral(crate::cli::collateral::CollateralCommand::ServeSim(args)) => {
            match args
                .validate()
                .and_then(|cfg| collateral::run_serve_sim(&cfg))
            {
                Ok(()) => EXIT_OK,
                Err(e) => fail(&e),
            }
        }
        CliCommand::Image(cmd) => {
            let result = match cmd {
                ImageCommand::Build(args) => args
                    .validate()
                    .and_then(|cfg| image::run_build(&cfg))
                    .map(|t| (t, EXIT_OK)),
                ImageCommand::Measure(args) => args
                    .validate()
                    .and_then(|cfg| image::run_measure(&cfg))
                    .map(|t| (t, EXIT_OK)),
                ImageCommand::Fetch(args) => args
                    .validate()
                    .and_then(|cfg| image_pins::run_fetch(&cfg))
                    .map(|t| (t, EXIT_OK)),
                ImageCommand::Lock(args) => image_pins::run_lock(args),
                ImageCommand::Keygen(args) => image_sign::run_keygen(&args).map(|t| (t, EXIT_OK)),
                ImageCommand::Sign(args) => image_sign::run_sign(&args).map(|t| (t, EXIT_OK)),
            };
            match result {
                Ok((text, code)) => {
                    let mut out = std::io::stdout().lock();
                    let _ = write!(out, "{text}");
                    code
                }
                Err(e) => fail(&e),
            }
        }
    }
}
