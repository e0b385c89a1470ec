//! `kiln policy ...`: flags and their validation into [`PolicyInitConfig`].

use std::path::PathBuf;

use clap::{Args, Subcommand};

use kiln_verifier::build_output::AllowSimulated;
use kiln_verifier::UnixTime;

use super::{default_state_dir, now, simulated_roots};
use crate::error::HostError;

/// `kiln policy`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write a starter policy (TOML, commented) from a verified build output: the values it
    /// saw (measurement, TCB, builder, source), to be reviewed and tightened.
    Init(PolicyInitArgs),
}

/// `kiln policy init`.
#[derive(Debug, Args)]
pub struct PolicyInitArgs {
    /// The output folder of `kiln build` to take the values from (it is verified first).
    pub out_dir: PathBuf,
    /// Accept a build on the simulated TEE (the policy then says `allow_simulated = true`),
    /// trusting this machine's simulated root or each --simulated-root.
    #[arg(long)]
    pub allow_simulated: bool,
    /// With --allow-simulated: a simulated root to trust (certificate file or SHA-256 hex).
    #[arg(long, value_name = "FILE|SHA256", requires = "allow_simulated")]
    pub simulated_root: Vec<String>,
    /// kiln's state folder (whose simulated chip --allow-simulated trusts by default).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Write the policy to this file instead of standard output (refused if it exists).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// A validated `kiln policy init`.
#[derive(Debug, Clone)]
pub struct PolicyInitConfig {
    /// The output folder to verify and take the values from.
    pub out_dir: PathBuf,
    /// Whether (and from which roots) simulated evidence is accepted.
    pub allow_simulated: AllowSimulated,
    /// Where to write the policy (`None`: standard output).
    pub output: Option<PathBuf>,
    /// The verification time (the one read of the clock).
    pub at: UnixTime,
}

impl PolicyInitArgs {
    /// Validates the flags: the simulated roots resolved, the clock read.
    pub fn validate(self) -> Result<PolicyInitConfig, HostError> {
        let at = now()?;
        let allow_simulated = if self.allow_simulated {
            let state = match self.state_dir {
                Some(d) => Some(d),
                None => default_state_dir().ok(),
            };
            AllowSimulated::PinnedRoots(simulated_roots(&self.simulated_root, state.as_deref())?)
        } else {
            AllowSimulated::No
        };
        Ok(PolicyInitConfig {
            out_dir: self.out_dir,
            allow_simulated,
            output: self.output,
            at,
        })
    }
}
