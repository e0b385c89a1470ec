//! Rego rules (OPA's language, evaluated by the `regorus` interpreter) for what the policy
//! file cannot say.
//!
//! A rule file is one module in **package `kiln`**, in Rego v1 syntax (OPA 1.0: `if`,
//! `contains`). It is evaluated with:
//!
//! - `input`: the normalised claims as JSON (`input.platform`, `input.simulated`,
//!   `input.product`, `input.measurements.<name>`, `input.tcb.status`, `input.tcb.versions`,
//!   `input.tcb.advisory_ids`, `input.debug`, `input.details.*`, ... exactly as
//!   `kiln-verify evidence --json` prints them), plus, for a build, `input.build` with
//!   `builder_id`, `source_digest`, `source_commit`, `source_repository`, `nonce`,
//!   `invocation_id`, `backend`, `started_on`, `finished_on` and `subjects` (`name`,
//!   `sha256`); `input.build` is `null` for evidence on its own;
//! - `data`: the policy's reference values as loaded (`data.build.builder_id`,
//!   `data["sev-snp"].measurement`, `data.tdx.accepted_tcb_statuses`, ...), with reference
//!   files already resolved.
//!
//! `allow` (a boolean) decides: undefined counts as false, so write `default allow := false`.
//! `deny` (a set of strings) explains: every message is reported, and any message rejects.
//!
//! ```rego
//! package kiln
//!
//! default allow := false
//! allow if {
//!     input.build.builder_id in {"https://kiln.dev/builders/sim@v1"}
//!     count(deny) == 0
//! }
//! deny contains msg if {
//!     input.tcb.status == "OutOfDate"
//!     msg := "the platform's TCB is out of date"
//! }
//! ```
//!
//! regorus is built with its `std` feature only: the core builtins (strings such as
//! `sprintf` and `startswith`, sets, arrays, objects, aggregates, numbers, types) are there;
//! regex, glob, time, net, HTTP, encoding and UUID builtins are not compiled in. Rules see
//! nothing but `input` and `data`.

use std::path::Path;

use regorus::{Engine, Value};

use super::checks::Checks;
use super::error::{Location, PolicyError};
use super::report::Outcome;

/// The package a rule file must declare.
pub const PACKAGE: &str = "kiln";

/// A Rego rule file, parsed and checked to be in package `kiln`.
#[derive(Debug, Clone)]
pub struct RegoRules {
    file: String,
    text: String,
}

impl RegoRules {
    /// Reads and parses a rule file.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses rules given as text; `file` names them in messages.
    pub fn parse(text: &str, file: &str) -> Result<Self, PolicyError> {
        let rules = Self {
            file: file.to_owned(),
            text: text.to_owned(),
        };
        rules.engine()?;
        Ok(rules)
    }

    /// The rule file's name.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The rule text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// An engine with the rules loaded.
    fn engine(&self) -> Result<Engine, PolicyError> {
        let mut engine = Engine::new();
        let package = engine
            .add_policy(self.file.clone(), self.text.clone())
            .map_err(|e| syntax_error(&self.file, &e.to_string()))?;
        if package != format!("data.{PACKAGE}") {
            return Err(PolicyError::RegoRules {
                file: self.file.clone(),
                message: format!(
                    "the rules are in package {:?}; kiln evaluates package {PACKAGE}",
                    package.trim_start_matches("data.")
                ),
            });
        }
        Ok(engine)
    }
}

/// A parser message (`--> file:line:col`, the source line, a caret, `error: ...`) as an error
/// with its location.
fn syntax_error(file: &str, message: &str) -> PolicyError {
    let location = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> "))
        .and_then(|at| {
            let mut parts = at.rsplitn(3, ':');
            let column = parts.next()?.trim().parse().ok()?;
            let line = parts.next()?.trim().parse().ok()?;
            Some(Location { line, column })
        });
    let text = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(message.trim());
    PolicyError::RegoSyntax {
        file: file.to_owned(),
        location,
        message: text.to_owned(),
    }
}

/// Evaluates `allow` and `deny` and records them as the checks `rego.allow` and
/// `rego.deny`.
pub(crate) fn evaluate(
    rules: &RegoRules,
    input: serde_json::Value,
    data: serde_json::Value,
    out: &mut Checks,
) {
    let mut fail = |why: String| {
        out.push(
            "rego.allow",
            Outcome::Fail,
            "allow = true",
            "evaluation error",
            Some(why),
        );
    };
    let mut engine = match rules.engine() {
        Ok(e) => e,
        Err(e) => return fail(e.to_string()),
    };
    if let Err(e) = engine.add_data(Value::from(data)) {
        return fail(format!("loading the reference values as data: {e}"));
    }
    engine.set_input(Value::from(input));
    let results = match engine.eval_query(format!("data.{PACKAGE}"), false) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    let package = results
        .result
        .first()
        .and_then(|r| r.expressions.first())
        .map(|e| e.value.clone())
        .unwrap_or(Value::Undefined);
    let field = |name: &str| match &package {
        Value::Object(map) => map
            .get(&Value::from(name))
            .cloned()
            .unwrap_or(Value::Undefined),
        _ => Value::Undefined,
    };

    let deny: Vec<String> = match field("deny") {
        Value::Set(set) => set.iter().map(message).collect(),
        Value::Array(list) => list.iter().map(message).collect(),
        Value::Undefined => Vec::new(),
        other => vec![format!("deny is not a set of strings: {}", message(&other))],
    };
    match field("allow") {
        Value::Bool(allow) => out.require(
            "rego.allow",
            allow,
            "allow = true",
            format!("allow = {allow}"),
        ),
        Value::Undefined => out.push(
            "rego.allow",
            Outcome::Fail,
            "allow = true",
            "allow undefined",
            Some("no allow rule applies to this input (write `default allow := false`)".into()),
        ),
        other => out.push(
            "rego.allow",
            Outcome::Fail,
            "allow = true",
            format!("allow = {}", message(&other)),
            Some("allow must be a boolean".into()),
        ),
    }
    for msg in deny {
        out.push("rego.deny", Outcome::Fail, "no deny message", msg, None);
    }
}

/// A string value as itself; anything else as JSON.
fn message(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => other.to_json_str().unwrap_or_else(|_| format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_carry_their_location() {
        let err = RegoRules::parse("package kiln\n\nallow if {\n  input.x ==\n}\n", "r.rego")
            .unwrap_err();
        match err {
            PolicyError::RegoSyntax { file, location, .. } => {
                assert_eq!(file, "r.rego");
                let at = location.expect("a location");
                assert!(at.line >= 4, "{at}");
            }
            other => panic!("{other}"),
        }
        let err = RegoRules::parse("package other\nallow := true\n", "r.rego").unwrap_err();
        assert!(matches!(err, PolicyError::RegoRules { .. }), "{err}");
    }
}
