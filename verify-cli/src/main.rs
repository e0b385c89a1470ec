//! `kiln-verify`: verify TEE evidence offline against pinned vendor roots.
//!
//! Exit codes: 0 verified (and accepted by the policy, with `--policy`), 1 rejected, 2 usage
//! or I/O error, 3 rejected by the policy.

#![forbid(unsafe_code)]

/// `println!` that ignores a closed standard output (`kiln-verify … | head` must not panic).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod args;
mod render;

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match args::parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    args::run(config)
}
