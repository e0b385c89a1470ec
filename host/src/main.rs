//! `kiln`: attested builds in a trusted execution environment. See `kiln --help`.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use kiln_host::cli::{Cli, CliCommand, ImageCommand, PolicyCommand, PolicyInitArgs};
use kiln_host::error::{HostError, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use kiln_host::progress::Progress;
use kiln_host::report_error;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        CliCommand::Build(args) => match args.validate() {
            Ok(cfg) => build(&cfg),
            Err(e) => fail(&e),
        },
        CliCommand::Verify(args) => match args.validate() {
            Ok(cfg) => verify(&cfg),
            Err(e) => fail(&e),
        },
        CliCommand::Policy(PolicyCommand::Init(args)) => policy_init(&args),
        CliCommand::Image(cmd) => {
            let result = match cmd {
                ImageCommand::Build(args) => {
                    kiln_host::image::run_build(args).map(|t| (t, EXIT_OK))
                }
                ImageCommand::Measure(args) => {
                    kiln_host::image::run_measure(args).map(|t| (t, EXIT_OK))
                }
                ImageCommand::Fetch(args) => {
                    kiln_host::image_pins::run_fetch(args).map(|t| (t, EXIT_OK))
                }
                ImageCommand::Lock(args) => kiln_host::image_pins::run_lock(args),
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
    };
    ExitCode::from(code)
}

fn fail(e: &HostError) -> u8 {
    report_error(e);
    e.exit_code()
}

fn print_json(value: &serde_json::Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

fn build(cfg: &kiln_host::cli::BuildConfig) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            report_error(&e);
            return EXIT_USAGE;
        }
    };
    let mut progress = Progress::new(false);
    match runtime.block_on(kiln_host::build::run(cfg, &mut progress)) {
        Ok(summary) => {
            progress.note(&format!("done: {}", summary.out.display()));
            if cfg.json {
                print_json(&summary.json);
            }
            EXIT_OK
        }
        Err(e) => fail(&e),
    }
}

fn verify(cfg: &kiln_host::cli::VerifyConfig) -> u8 {
    match kiln_host::verify::run(cfg) {
        Ok(v) => {
            let report = kiln_host::verify::evaluate_policy(cfg, &v);
            if cfg.json {
                let mut json = kiln_host::verify::json_report(Ok(&v));
                if let (Some(r), Some(obj)) = (&report, json.as_object_mut()) {
                    obj.insert("policy".into(), r.to_json());
                }
                print_json(&json);
            } else {
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "{}", kiln_host::verify::report_ok(cfg, &v));
                if let Some(r) = &report {
                    let _ = write!(out, "\n{}", r.render_text());
                }
            }
            // 0 accepted, 3 rejected by the policy.
            report.map_or(EXIT_OK, |r| r.exit_code().code())
        }
        Err(HostError::Verify { path, source }) => {
            if cfg.json {
                print_json(&kiln_host::verify::json_report(Err(&source)));
            } else {
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "{}", kiln_host::verify::report_failure(&source));
            }
            let e = HostError::Verify { path, source };
            report_error(&e);
            // An unreadable output folder is an I/O error; anything else is a broken link.
            if matches!(
                e,
                HostError::Verify {
                    source: kiln_verifier::build::BuildError::Io { .. },
                    ..
                }
            ) {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            }
        }
        Err(e) => fail(&e),
    }
}

fn policy_init(args: &PolicyInitArgs) -> u8 {
    let at = match kiln_host::cli::now() {
        Ok(at) => at,
        Err(e) => return fail(&e),
    };
    let allow = if args.allow_simulated {
        let state = match &args.state_dir {
            Some(d) => Some(d.clone()),
            None => kiln_host::cli::default_state_dir().ok(),
        };
        match kiln_host::cli::simulated_roots(&args.simulated_root, state.as_deref()) {
            Ok(roots) => kiln_verifier::build::AllowSimulated::PinnedRoots(roots),
            Err(e) => return fail(&e),
        }
    } else {
        kiln_verifier::build::AllowSimulated::No
    };
    let text = match kiln_host::verify::starter_policy(&args.out_dir, &allow, at) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{text}");
            EXIT_OK
        }
        Some(path) => {
            // create_new: never overwrite a policy someone may have edited.
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            match written {
                Ok(()) => {
                    eprintln!("wrote {}", path.display());
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!("kiln: error: cannot write {}: {e}", path.display());
                    EXIT_USAGE
                }
            }
        }
    }
}
