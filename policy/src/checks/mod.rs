//! The checks of a policy against verified claims, one module per section.

pub(crate) mod common;
pub(crate) mod nitro;
pub(crate) mod snp;
pub(crate) mod tdx;

use std::fmt::Display;

use super::model::{Duration, Policy};
use super::report::{Check, Outcome};
use super::BuildFacts;
use kiln_verifier::time::UnixTime;
use kiln_verifier::{Claims, Hex};

/// What every check reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    /// The verified claims.
    pub claims: &'a Claims,
    /// The verified build, when a build is checked.
    pub build: Option<&'a BuildFacts>,
    /// The policy.
    pub policy: &'a Policy,
    /// The evaluation time.
    pub now: UnixTime,
}

/// Evidence from more than this far in the future is refused by the age checks (clock skew
/// between the TEE and the verifier is tolerated up to it).
pub(crate) const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// The checks made so far.
#[derive(Debug, Default)]
pub(crate) struct Checks(pub Vec<Check>);

impl Checks {
    /// Records a check.
    pub(crate) fn push(
        &mut self,
        id: impl Into<String>,
        outcome: Outcome,
        expected: impl Display,
        found: impl Display,
        note: Option<String>,
    ) {
        self.0.push(Check {
            id: id.into(),
            outcome,
            expected: expected.to_string(),
            found: found.to_string(),
            note,
        });
    }

    /// Records a pass or a fail.
    pub(crate) fn require(
        &mut self,
        id: impl Into<String>,
        ok: bool,
        expected: impl Display,
        found: impl Display,
    ) {
        let outcome = if ok { Outcome::Pass } else { Outcome::Fail };
        self.push(id, outcome, expected, found, None);
    }

    /// Records a check that does not apply, and why.
    pub(crate) fn not_applicable(
        &mut self,
        id: impl Into<String>,
        expected: impl Display,
        why: impl Into<String>,
    ) {
        self.push(id, Outcome::NotApplicable, expected, "-", Some(why.into()));
    }

    /// A value that must be one of `accepted`.
    pub(crate) fn one_of(&mut self, id: impl Into<String>, accepted: &[Hex], found: Option<&Hex>) {
        let ok = found.is_some_and(|f| accepted.contains(f));
        let found = found.map_or_else(|| "absent".to_owned(), Hex::to_string);
        self.require(id, ok, describe_list(accepted), found);
    }

    /// A value that must equal `expected`.
    pub(crate) fn equal(&mut self, id: impl Into<String>, expected: &Hex, found: &Hex) {
        self.require(id, expected == found, expected, found);
    }

    /// A missing reference value for the platform's main measurement: the policy accepts any
    /// image, which is worth a warning.
    pub(crate) fn no_reference(&mut self, id: impl Into<String>, found: Option<&Hex>) {
        self.push(
            id,
            Outcome::Warning,
            "(no reference value)",
            found.map_or_else(|| "absent".to_owned(), Hex::to_string),
            Some("the policy accepts any image: write the expected measurement".into()),
        );
    }

    /// An age check: `what` happened at `at`, and must be no older than `max` at `now`.
    pub(crate) fn age(
        &mut self,
        id: impl Into<String>,
        max: &Duration,
        what: &str,
        at: UnixTime,
        now: UnixTime,
    ) {
        let age = now.as_secs().saturating_sub(at.as_secs());
        let expected = format!("{what} at most {max} old");
        if age < -MAX_CLOCK_SKEW_SECS {
            self.push(
                id,
                Outcome::Fail,
                expected,
                format!("{what} {at}, {} in the future", human_secs(-age)),
                Some("the evidence claims a time after the verification time".into()),
            );
        } else {
            self.require(
                id,
                age <= max.secs,
                expected,
                format!("{what} {at}, {} old", human_secs(age.max(0))),
            );
        }
    }
}

/// `value`, or `one of [a, b]`.
pub(crate) fn describe_list<T: Display>(values: &[T]) -> String {
    match values {
        [one] => one.to_string(),
        many => format!(
            "one of [{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `1d 2h 3m 4s` (zero parts left out; `0s` for zero).
pub(crate) fn human_secs(secs: i64) -> String {
    let mut rest = secs.max(0);
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        let n = rest / size;
        rest %= size;
        if n > 0 {
            parts.push(format!("{n}{unit}"));
        }
    }
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters and `?` any one.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where the last `*` was, and the text position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi = pi.saturating_add(1);
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi = pi.saturating_add(1);
                ti = ti.saturating_add(1);
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp.saturating_add(1);
                    ti = st.saturating_add(1);
                    star = Some((sp, ti));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("i-*-enc*", "i-0abc-enc0123"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(!glob_match("i-*-enc*", "j-0abc-enc0123"));
        assert!(glob_match("*x*y", "axbxcy"));
        assert!(!glob_match("exact", "exactly"));
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(human_secs(0), "0s");
        assert_eq!(human_secs(90_061), "1d 1h 1m 1s");
    }
}
