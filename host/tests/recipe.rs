//! `kiln.toml`: accepted forms and the errors for malformed recipes, each naming the file
//! and the line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use kiln_host::build_recipe::{load, parse, DEFAULT_OUTPUT_BYTES, DEFAULT_TIME_SECS};

fn err(text: &str) -> String {
    parse(text, Path::new("proj/kiln.toml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn full_recipe_converts() {
    let r = parse(
        r#"
[build]
command = "make"
outputs = ["hello", "dist/*.tar"]
env = ["CC"]
[build.env_set]
LC_ALL = "C"

[toolchain]
tools = ["cc", "make"]
[[toolchain.tool]]
name = "ld"
version_arg = "-v"

[limits]
time = "10m"
output_size = "512MiB"
"#,
        Path::new("kiln.toml"),
    )
    .unwrap();
    assert_eq!(r.command, "make");
    assert_eq!(r.outputs, ["hello", "dist/*.tar"]);
    assert_eq!(r.env, ["CC"]);
    assert_eq!(r.env_set.get("LC_ALL").unwrap(), "C");
    let names: Vec<_> = r.toolchain.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["cc", "make", "ld"]);
    assert_eq!(r.toolchain[2].version_arg.as_deref(), Some("-v"));
    assert_eq!(r.limits.time_secs, 600);
    assert_eq!(r.limits.output_bytes, 512 << 20);
}

#[test]
fn defaults_and_numeric_limits() {
    let r = parse(
        "[build]\ncommand = \"make\"\noutputs = [\"a\"]\n",
        Path::new("kiln.toml"),
    )
    .unwrap();
    assert_eq!(r.limits.time_secs, DEFAULT_TIME_SECS);
    assert_eq!(r.limits.output_bytes, DEFAULT_OUTPUT_BYTES);
    let r = parse(
        "[build]\ncommand = \"make\"\noutputs = [\"a\"]\n[limits]\ntime_secs = 5\noutput_bytes = 10\n",
        Path::new("kiln.toml"),
    )
    .unwrap();
    assert_eq!((r.limits.time_secs, r.limits.output_bytes), (5, 10));
}

#[test]
fn unknown_key_names_file_and_line() {
    let e = err("[build]\ncommand = \"make\"\noutputs = [\"a\"]\ncomand = \"x\"\n");
    assert!(e.starts_with("proj/kiln.toml:4:"), "{e}");
    assert!(e.contains("comand"), "{e}");
    let e = err("[build]\ncommand = \"make\"\noutputs = [\"a\"]\n[limit]\ntime = \"1m\"\n");
    assert!(e.starts_with("proj/kiln.toml:4:"), "{e}");
}

#[test]
fn missing_command_and_empty_outputs() {
    let e = err("[build]\noutputs = [\"a\"]\n");
    assert!(e.contains("proj/kiln.toml:1:"), "{e}");
    assert!(e.contains("command"), "{e}");
    let e = err("[build]\ncommand = \"make\"\noutputs = []\n");
    assert!(e.starts_with("proj/kiln.toml:3:"), "{e}");
    assert!(e.contains("at least one output"), "{e}");
    let e = err("[build]\ncommand = \"  \"\noutputs = [\"a\"]\n");
    assert!(e.starts_with("proj/kiln.toml:2:"), "{e}");
    let e = err("");
    assert!(e.contains("build"), "{e}");
}

#[test]
fn outputs_must_stay_inside_the_project() {
    let e = err("[build]\ncommand = \"make\"\noutputs = [\"ok\",\n  \"/etc/passwd\"]\n");
    assert!(e.starts_with("proj/kiln.toml:4:3"), "{e}");
    assert!(e.contains("absolute"), "{e}");
    let e = err("[build]\ncommand = \"make\"\noutputs = [\"a/../../b\"]\n");
    assert!(e.starts_with("proj/kiln.toml:3:"), "{e}");
    assert!(e.contains(".."), "{e}");
}

#[test]
fn bad_values_are_named() {
    let e = err("[build]\ncommand = \"make\"\noutputs = [\"a\"]\n[limits]\ntime = \"soon\"\n");
    assert!(e.starts_with("proj/kiln.toml:5:"), "{e}");
    assert!(e.contains("limits.time"), "{e}");
    let e =
        err("[build]\ncommand = \"make\"\noutputs = [\"a\"]\n[limits]\noutput_size = \"lots\"\n");
    assert!(e.contains("limits.output_size"), "{e}");
    let e = err("[build]\ncommand = \"make\"\noutputs = [\"a\"]\nenv = [\"NOT VALID\"]\n");
    assert!(e.contains("build.env"), "{e}");
    let e =
        err("[build]\ncommand = \"make\"\noutputs = [\"a\"]\n[toolchain]\ntools = [\"/bin/cc\"]\n");
    assert!(e.contains("toolchain.tools"), "{e}");
    let e = err(
        "[build]\ncommand = \"make\"\noutputs = [\"a\"]\n[limits]\ntime = \"1m\"\ntime_secs = 3\n",
    );
    assert!(e.contains("not both"), "{e}");
    let e = err("[build]\ncommand = \"make\"\noutputs = [\"a\"\n");
    assert!(e.starts_with("proj/kiln.toml:"), "{e}");
}

#[test]
fn missing_file_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("kiln.toml"), "{e}");
    assert!(e.contains("no build recipe"), "{e}");
}

#[test]
fn the_examples_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let c = load(&root.join("c-hello")).unwrap();
    assert_eq!(c.outputs, ["hello"]);
    let rust = load(&root.join("rust-hello")).unwrap();
    assert_eq!(rust.outputs, ["target/release/rust-hello"]);
    assert!(rust.command.contains("--remap-path-prefix"));
}
