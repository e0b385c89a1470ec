//! The build recipe, `kiln.toml`, in the project being built:
//!
//! ```toml
//! [build]
//! command = "make"                  # run by /bin/sh -c in the unpacked source
//! outputs = ["hello", "dist/*.tar"] # paths or globs relative to the project root
//! env = ["CC"]                      # allow-list passed through from the builder
//! [build.env_set]                   # fixed values
//! LC_ALL = "C"
//!
//! [toolchain]
//! image = "c"                       # the image recipe's toolchain a VM guest boots with
//! tools = ["cc", "make"]            # or [[toolchain.tool]] name = "cc" version_arg = "-v"
//!
//! [limits]
//! time = "10m"                      # or time_secs = 600
//! output_size = "512MiB"            # or output_bytes = 536870912
//! ```
//!
//! The guest reads it from the unpacked, digest-checked source and parses it with
//! [`parse_recipe`]; the host parses the same bytes to plan the session. Errors carry the line
//! and column of the offending value.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The recipe's file name in a project.
pub const RECIPE_FILE: &str = "kiln.toml";
/// The time limit when the recipe gives none: 10 minutes.
pub const DEFAULT_TIME_SECS: u64 = 600;
/// The output size limit when the recipe gives none: 1 GiB.
pub const DEFAULT_OUTPUT_BYTES: u64 = 1 << 30;
/// The toolchain image a VM guest boots with when the recipe names none.
pub const DEFAULT_TOOLCHAIN_IMAGE: &str = "c";

/// Why recipe text is not a recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipeFileError {
    /// Not valid TOML, an unknown key, or a required one missing.
    Syntax {
        /// 1-based line and column, when known.
        at: Option<(usize, usize)>,
        /// The parser's message.
        message: String,
    },
    /// A value is well-formed TOML but not acceptable.
    Invalid {
        /// 1-based line and column.
        at: Option<(usize, usize)>,
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for RecipeFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |at: &Option<(usize, usize)>| match at {
            Some((line, col)) => format!("{line}:{col}: "),
            None => String::new(),
        };
        match self {
            Self::Syntax { at: a, message } => write!(f, "{}{}", at(a), message.trim_end()),
            Self::Invalid { at: a, key, reason } => write!(f, "{}{key}: {reason}", at(a)),
        }
    }
}

impl std::error::Error for RecipeFileError {}

/// A build recipe (`kiln.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recipe {
    /// The build command, run by `/bin/sh -c` in the unpacked source.
    pub command: String,
    /// Output paths or globs, relative to the source root.
    pub outputs: Vec<String>,
    /// Environment variables passed through from the guest's environment (allow-list).
    #[serde(default)]
    pub env: Vec<String>,
    /// Fixed environment values set for the build.
    #[serde(default)]
    pub env_set: std::collections::BTreeMap<String, String>,
    /// The toolchain the build needs (recorded with digests and versions in the provenance).
    #[serde(default)]
    pub toolchain: Vec<Tool>,
    /// The toolchain image a VM guest needs (`[toolchain] image`: a toolchain of kiln's image
    /// recipe, `c` or `rust`), when the recipe names one; [`DEFAULT_TOOLCHAIN_IMAGE`] otherwise.
    /// The sim backend uses the host's tools instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolchain_image: Option<String>,
    /// Limits.
    pub limits: Limits,
}

/// A declared tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tool {
    /// The command name (looked up on the guest's PATH).
    pub name: String,
    /// The argument that prints its version (default `--version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_arg: Option<String>,
}

/// Resource limits of the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock limit of the build command, seconds.
    pub time_secs: u64,
    /// Maximum total size of the outputs, bytes.
    pub output_bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    build: Spanned<BuildSection>,
    #[serde(default)]
    toolchain: ToolchainSection,
    #[serde(default)]
    limits: LimitsSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildSection {
    command: Spanned<String>,
    outputs: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    env: Vec<Spanned<String>>,
    #[serde(default)]
    env_set: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolchainSection {
    #[serde(default)]
    image: Option<Spanned<String>>,
    #[serde(default)]
    tools: Vec<Spanned<String>>,
    #[serde(default)]
    tool: Vec<ToolEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolEntry {
    name: Spanned<String>,
    #[serde(default)]
    version_arg: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    time: Option<Spanned<String>>,
    time_secs: Option<Spanned<u64>>,
    output_size: Option<Spanned<String>>,
    output_bytes: Option<Spanned<u64>>,
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Parses the text of a recipe (`kiln.toml`). The host and the guest both call this, so the
/// guest builds exactly what the host checked.
pub fn parse_recipe(text: &str) -> Result<Recipe, RecipeFileError> {
    let file: File = toml::from_str(text).map_err(|e| RecipeFileError::Syntax {
        at: e.span().map(|s| line_col(text, s.start)),
        message: e.message().to_owned(),
    })?;
    let invalid =
        |span: Range<usize>, key: &'static str, reason: String| RecipeFileError::Invalid {
            at: Some(line_col(text, span.start)),
            key,
            reason,
        };

    let build = file.build.into_inner();
    if build.command.get_ref().trim().is_empty() {
        return Err(invalid(
            build.command.span(),
            "build.command",
            "the build command is empty".into(),
        ));
    }
    let outputs_span = build.outputs.span();
    let outputs = build.outputs.into_inner();
    if outputs.is_empty() {
        return Err(invalid(
            outputs_span,
            "build.outputs",
            "name at least one output path or glob".into(),
        ));
    }
    for out in &outputs {
        check_output(out.get_ref())
            .map_err(|reason| invalid(out.span(), "build.outputs", reason))?;
    }
    let mut env = Vec::new();
    for name in &build.env {
        check_env_name(name.get_ref()).map_err(|r| invalid(name.span(), "build.env", r))?;
        env.push(name.get_ref().clone());
    }
    let mut env_set = BTreeMap::new();
    for (name, value) in build.env_set {
        check_env_name(&name).map_err(|r| invalid(value.span(), "build.env_set", r))?;
        env_set.insert(name, value.into_inner());
    }

    let mut toolchain = Vec::new();
    for name in &file.toolchain.tools {
        check_tool(name.get_ref()).map_err(|r| invalid(name.span(), "toolchain.tools", r))?;
        toolchain.push(Tool {
            name: name.get_ref().clone(),
            version_arg: None,
        });
    }
    for entry in file.toolchain.tool {
        check_tool(entry.name.get_ref())
            .map_err(|r| invalid(entry.name.span(), "toolchain.tool.name", r))?;
        toolchain.push(Tool {
            name: entry.name.into_inner(),
            version_arg: entry.version_arg,
        });
    }

    let toolchain_image = match file.toolchain.image {
        Some(image) => {
            check_toolchain_image(image.get_ref())
                .map_err(|r| invalid(image.span(), "toolchain.image", r))?;
            Some(image.into_inner())
        }
        None => None,
    };

    let limits = file.limits;
    let time_secs = match (limits.time, limits.time_secs) {
        (Some(_), Some(s)) => {
            return Err(invalid(
                s.span(),
                "limits.time_secs",
                "give either time or time_secs, not both".into(),
            ))
        }
        (Some(t), None) => {
            parse_duration(t.get_ref()).map_err(|r| invalid(t.span(), "limits.time", r))?
        }
        (None, Some(s)) => *s.get_ref(),
        (None, None) => DEFAULT_TIME_SECS,
    };
    let output_bytes = match (limits.output_size, limits.output_bytes) {
        (Some(_), Some(b)) => {
            return Err(invalid(
                b.span(),
                "limits.output_bytes",
                "give either output_size or output_bytes, not both".into(),
            ))
        }
        (Some(s), None) => {
            parse_size(s.get_ref()).map_err(|r| invalid(s.span(), "limits.output_size", r))?
        }
        (None, Some(b)) => *b.get_ref(),
        (None, None) => DEFAULT_OUTPUT_BYTES,
    };
    if time_secs == 0 || output_bytes == 0 {
        return Err(RecipeFileError::Invalid {
            at: None,
            key: "limits",
            reason: "limits must be greater than zero".into(),
        });
    }

    Ok(Recipe {
        command: build.command.into_inner(),
        outputs: outputs.into_iter().map(Spanned::into_inner).collect(),
        env,
        env_set,
        toolchain,
        toolchain_image,
        limits: Limits {
            time_secs,
            output_bytes,
        },
    })
}

impl Recipe {
    /// The toolchain image a VM guest boots with for this recipe.
    pub fn toolchain_image(&self) -> &str {
        self.toolchain_image
            .as_deref()
            .unwrap_or(DEFAULT_TOOLCHAIN_IMAGE)
    }
}

fn check_toolchain_image(name: &str) -> Result<(), String> {
    let ok = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a toolchain image name (a-z, 0-9 and -, starting with a letter)"
        ))
    }
}

fn check_output(out: &str) -> Result<(), String> {
    if out.is_empty() {
        return Err("an output path is empty".into());
    }
    if out.starts_with('/') || out.starts_with('\\') {
        return Err(format!(
            "{out:?} is absolute; outputs are relative to the project root"
        ));
    }
    if out.split(['/', '\\']).any(|c| c == "..") {
        return Err(format!("{out:?} leaves the project root (`..`)"));
    }
    if out.contains('\0') {
        return Err(format!("{out:?} contains a NUL byte"));
    }
    Ok(())
}

fn check_env_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not an environment variable name"))
    }
}

fn check_tool(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains(['/', '\0']) || name.trim() != name {
        Err(format!(
            "{name:?} is not a command name (tools are looked up on the builder's PATH)"
        ))
    } else {
        Ok(())
    }
}

/// `"90"`, `"90s"`, `"10m"`, `"2h"`, `"1h30m"`, `"2d"` → seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a duration (examples: 90s, 10m, 1h30m, 2d)");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return t.parse().map_err(|_| bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// `"4096"`, `"64KiB"`, `"512MiB"`, `"1GiB"`, `"10MB"` → bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a size (examples: 512MiB, 1GiB, 100MB, 4096)");
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("10m").unwrap(), 600);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("10m5").is_err());
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("100MB").unwrap(), 100_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("a\nbc\nd", 0), (1, 1));
        assert_eq!(line_col("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_col("a\nbc\nd", 5), (3, 1));
    }
}
