//! `kiln policy init`: verifies a build output and writes a starter policy from what it saw.

use std::io::Write;

use kiln_verifier::build_output::{
    load_output_dir, verify, AllowSimulated, AnyMeasurement, Expectations,
};
use kiln_verifier::TrustAnchors;

use crate::cli::PolicyInitConfig;
use crate::commands::fail;
use crate::error::{HostError, EXIT_OK, EXIT_USAGE};

/// `kiln policy init`: verifies the output and returns a starter policy for it.
pub fn starter_policy(
    out_dir: &std::path::Path,
    allow_simulated: &AllowSimulated,
    at: kiln_verifier::UnixTime,
) -> Result<String, HostError> {
    let output = load_output_dir(out_dir).map_err(|source| HostError::Verify {
        path: out_dir.to_path_buf(),
        source,
    })?;
    // The starter policy records the measurement it saw, to be reviewed: nothing pins one yet.
    let expect = Expectations {
        any_measurement: AnyMeasurement::Accept,
        ..Expectations::default()
    };
    let verified = verify(
        &output,
        &expect,
        &TrustAnchors::vendor(),
        allow_simulated,
        at,
    )
    .map_err(|source| HostError::Verify {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let summary = kiln_policy::BuildFacts::from_verified(&verified);
    Ok(kiln_policy::Policy::starter_from(
        verified.claims(),
        Some(&summary),
    ))
}

/// `kiln policy init`: writes the starter policy to standard output or, never over an existing
/// file, to the file named; returns the exit code.
pub fn execute(cfg: &PolicyInitConfig) -> u8 {
    let text = match starter_policy(&cfg.out_dir, &cfg.allow_simulated, cfg.at) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    match &cfg.output {
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
