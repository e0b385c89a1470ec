//! End to end with the Rust example, and reproducibility of both examples, on the simulator
//! with the real `kiln-enclave`:
//!
//! - examples/rust-hello builds through `kiln build --backend sim`, verifies with
//!   `kiln verify` (measurement, source, builder, nonce expected), and the artifact runs;
//! - two builds of the same source, copied to two different folders, give byte-identical
//!   artifacts, the same subjects and the same source digest (`--json`), for C and Rust;
//! - the Rust artifact equals a native build done the way the recipe does it (the recipe's
//!   command under `/bin/sh -c`, its environment, in yet another folder): the recipe's
//!   `--remap-path-prefix` keeps every path out of the binary.
//!
//! - examples/rust-grep (crates.io dependencies vendored, built offline) builds twice
//!   identically, its provenance lists exactly the registry packages of its Cargo.lock with
//!   their checksums (not the vendored crates' own lock files), and the artifact greps.
//!
//! rust-hello needs cargo and a toolchain that the enclave's fresh HOME can find: RUSTUP_HOME
//! is passed through (defaulting to ~/.rustup). Without cargo the Rust tests print SKIPPED.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{build, copy_example, kiln, rustup_home, text};

const NONCE: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";
const RUST_ARTIFACT: &str = "target/release/rust-hello";

/// One warm state folder for the whole file: the simulator's vendor keys and the sealed
/// signing key are made once, by a build of the C example that runs before any test builds.
/// (Tests run in parallel: two first builds on an empty state would each make a signing key,
/// and the later one to finish would replace the other between a test's two builds.)
fn state() -> &'static Path {
    static S: OnceLock<tempfile::TempDir> = OnceLock::new();
    S.get_or_init(|| {
        let state = tempfile::tempdir().unwrap();
        let warm = tempfile::tempdir().unwrap();
        let proj = warm.path().join("c-hello");
        copy_example("c-hello", &proj);
        build(&proj, &warm.path().join("out"), state.path(), NONCE);
        state
    })
    .path()
}

fn have_cargo() -> bool {
    let ok = Command::new("cargo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("SKIPPED: cargo is not on PATH, the Rust example cannot be built");
    }
    ok
}

/// Copies `examples/NAME` to `ROOT/DIR/NAME` and builds it into `ROOT/DIR-out`.
fn build_copy(name: &str, root: &Path, dir: &str) -> (PathBuf, serde_json::Value) {
    let proj = root.join(dir).join(name);
    copy_example(name, &proj);
    let out = root.join(format!("{dir}-out"));
    let summary = build(&proj, &out, state(), NONCE);
    (out, summary)
}

#[test]
fn rust_example_builds_verifies_and_runs() {
    if !have_cargo() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (out, summary) = build_copy("rust-hello", root.path(), "a");
    assert_eq!(summary["simulated"], true);
    assert_eq!(summary["subjects"][0]["name"], RUST_ARTIFACT);
    assert_eq!(summary["subjects"].as_array().unwrap().len(), 1);

    let measurement = summary["measurement"]["measurement"].as_str().unwrap();
    let source = summary["source"]["sha256"].as_str().unwrap();
    let o = kiln(
        &[
            "verify",
            out.to_str().unwrap(),
            "--allow-simulated",
            "--expect-measurement",
            measurement,
            "--expect-source",
            source,
            "--expect-builder",
            "https://kiln.dev/builders/sim@v1",
            "--nonce",
            NONCE,
            "--json",
        ],
        state(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["subjects"], summary["subjects"]);

    // The provenance lists the Cargo.lock packages and the cargo/rustc toolchain.
    let statement = common::read_statement(&out);
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    for tool in ["cargo", "rustc"] {
        assert!(
            deps.iter().any(|d| d["name"] == tool),
            "{tool} missing from {deps:?}"
        );
    }

    // The attested binary runs from artifacts/ as written: its execute bit is carried over
    // (mode bits are a convenience, not part of the subject digest).
    let bin = out.join("artifacts").join(RUST_ARTIFACT);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&bin).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{mode:o}");
    }
    let run = Command::new(&bin).output().unwrap();
    assert!(run.status.success());
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from an attested Rust build\n"
    );
}

/// `kiln sbom OUT --format FORMAT` (verified against the sim reference), parsed.
fn sbom(out: &Path, format: &str) -> serde_json::Value {
    let reference = common::sim_reference("sev-snp", state());
    let o = kiln(
        &[
            "sbom",
            out.to_str().unwrap(),
            "--format",
            format,
            "--allow-simulated",
            "--reference",
            reference.to_str().unwrap(),
        ],
        state(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The (purl, SHA-256) of every package with a package URL in an SPDX or CycloneDX document,
/// of `kind` (`cargo`, `deb`), sorted.
pub fn sbom_packages(doc: &serde_json::Value, kind: &str) -> Vec<(String, String)> {
    let prefix = format!("pkg:{kind}/");
    let mut out: Vec<(String, String)> = if doc.get("spdxVersion").is_some() {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| {
                let purl = p["externalRefs"]
                    .as_array()?
                    .iter()
                    .find(|r| r["referenceType"] == "purl")?["referenceLocator"]
                    .as_str()?
                    .to_owned();
                let sha = p["checksums"]
                    .as_array()?
                    .iter()
                    .find(|c| c["algorithm"] == "SHA256")?["checksumValue"]
                    .as_str()?
                    .to_owned();
                Some((purl, sha))
            })
            .collect()
    } else {
        let mut all: Vec<&serde_json::Value> =
            doc["components"].as_array().unwrap().iter().collect();
        all.extend(
            doc["formulation"][0]["components"]
                .as_array()
                .into_iter()
                .flatten(),
        );
        all.into_iter()
            .filter_map(|c| {
                let purl = c["purl"].as_str()?.to_owned();
                let sha = c["hashes"]
                    .as_array()?
                    .iter()
                    .find(|h| h["alg"] == "SHA-256")?["content"]
                    .as_str()?
                    .to_owned();
                Some((purl, sha))
            })
            .collect()
    };
    out.retain(|(p, _)| p.starts_with(&prefix));
    out.sort();
    out
}

/// Builds `name` from two copies in different folders; asserts identical subjects, source
/// digests and artifact bytes. Returns the first output and its summary.
fn assert_reproducible(name: &str, artifact: &str) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let (out1, s1) = build_copy(name, root.path(), "first");
    let (out2, s2) = build_copy(name, root.path(), "second-folder");
    assert_eq!(s1["source"]["sha256"], s2["source"]["sha256"], "{name}");
    assert_eq!(s1["source"]["size"], s2["source"]["size"], "{name}");
    assert_eq!(s1["subjects"], s2["subjects"], "{name}");
    // Different builds all the same: another invocation, same sealed key.
    assert_ne!(s1["invocationId"], s2["invocationId"], "{name}");
    assert_eq!(s1["keyId"], s2["keyId"], "{name}");
    let a1 = std::fs::read(out1.join("artifacts").join(artifact)).unwrap();
    let a2 = std::fs::read(out2.join("artifacts").join(artifact)).unwrap();
    assert!(!a1.is_empty());
    assert!(a1 == a2, "{name}: the two artifacts differ");
    (root, out1)
}

#[test]
fn the_c_example_is_reproducible_across_folders_and_its_sboms_list_the_toolchain() {
    let (_root, out) = assert_reproducible("c-hello", "hello");
    // The sim backend's toolchain: the recipe's tools, each binary with its SHA-256.
    let statement = common::read_statement(&out);
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let spdx = sbom(&out, "spdx");
    let cdx = sbom(&out, "cyclonedx");
    for tool in ["cc", "make"] {
        let sha = deps.iter().find(|d| d["name"] == tool).unwrap()["digest"]["sha256"]
            .as_str()
            .unwrap()
            .to_owned();
        let in_spdx = spdx["packages"].as_array().unwrap().iter().any(|p| {
            p["name"] == tool
                && p["checksums"][0]["checksumValue"] == sha.as_str()
                && p["primaryPackagePurpose"] == "APPLICATION"
        });
        assert!(in_spdx, "{tool} {sha} missing from the SPDX SBOM");
        let in_cdx = cdx["formulation"][0]["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == tool && c["hashes"][0]["content"] == sha.as_str());
        assert!(in_cdx, "{tool} {sha} missing from the CycloneDX SBOM");
    }
    // No locked packages in a C build.
    assert!(sbom_packages(&spdx, "cargo").is_empty());
}

#[test]
fn the_rust_example_is_reproducible_and_equals_a_native_build_the_recipe_way() {
    if !have_cargo() {
        return;
    }
    let (_root, out) = assert_reproducible("rust-hello", RUST_ARTIFACT);
    let attested = std::fs::read(out.join("artifacts").join(RUST_ARTIFACT)).unwrap();

    // The native build: the recipe's command with /bin/sh -c in a fresh copy, with the
    // environment the enclave gives it (its allow-list from this process, its env_set, a
    // fresh HOME and TMPDIR, SOURCE_DATE_EPOCH 0 for a non-git folder).
    let native_root = tempfile::tempdir().unwrap();
    let proj = native_root.path().join("elsewhere").join("rust-hello");
    copy_example("rust-hello", &proj);
    let recipe: toml::Table =
        toml::from_str(&std::fs::read_to_string(proj.join("kiln.toml")).unwrap()).unwrap();
    let b = recipe["build"].as_table().unwrap();
    let command = b["command"].as_str().unwrap();
    let home = native_root.path().join("home");
    let tmp = native_root.path().join("tmp");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(&proj)
        .env_clear()
        .env("HOME", &home)
        .env("TMPDIR", &tmp)
        .env("SOURCE_DATE_EPOCH", "0");
    for name in b["env"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    if let Some(r) = rustup_home() {
        cmd.env("RUSTUP_HOME", r);
    }
    for (k, v) in b["env_set"].as_table().unwrap() {
        cmd.env(k, v.as_str().unwrap());
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "native build failed: {}", text(&o));
    let native = std::fs::read(proj.join(RUST_ARTIFACT)).unwrap();
    assert!(
        native == attested,
        "the native build ({} bytes) differs from the attested one ({} bytes)",
        native.len(),
        attested.len()
    );
}

#[test]
fn the_rust_example_with_vendored_dependencies_is_reproducible_and_lists_them() {
    if !have_cargo() {
        return;
    }
    const ARTIFACT: &str = "target/release/rust-grep";
    let (_root, out) = assert_reproducible("rust-grep", ARTIFACT);

    // resolvedDependencies: the registry packages of the example's Cargo.lock, each with its
    // checksum and crates.io location; the example itself (part of the source) is not one.
    let lock: toml::Table = toml::from_str(
        &std::fs::read_to_string(common::repo_root().join("examples/rust-grep/Cargo.lock"))
            .unwrap(),
    )
    .unwrap();
    let mut expected: Vec<(String, String)> = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("source").is_some())
        .map(|p| {
            (
                format!(
                    "pkg:cargo/{}@{}",
                    p["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap()
                ),
                p["checksum"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    expected.sort();
    assert!(expected.len() >= 4, "{expected:?}");
    let statement = common::read_statement(&out);
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let mut packages: Vec<(String, String)> = deps
        .iter()
        .filter(|d| {
            d["uri"]
                .as_str()
                .is_some_and(|u| u.starts_with("pkg:cargo/"))
        })
        .map(|d| {
            let uri = d["uri"].as_str().unwrap().to_owned();
            let (name, version) = uri["pkg:cargo/".len()..].split_once('@').unwrap();
            assert_eq!(
                d["downloadLocation"],
                format!("https://crates.io/api/v1/crates/{name}/{version}/download")
            );
            (uri, d["digest"]["sha256"].as_str().unwrap().to_owned())
        })
        .collect();
    packages.sort();
    assert_eq!(packages, expected);
    // The SBOMs list exactly the same registry packages, with the same checksums.
    for format in ["spdx", "cyclonedx"] {
        assert_eq!(
            sbom_packages(&sbom(&out, format), "cargo"),
            expected,
            "{format}"
        );
    }

    let bin = out.join("artifacts").join(ARTIFACT);
    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(input.path(), "alpha\nkiln 42\nbeta 7\n").unwrap();
    let run = Command::new(&bin)
        .args([r"^\w+ \d+$", input.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(String::from_utf8_lossy(&run.stdout), "kiln 42\nbeta 7\n");
    let none = Command::new(&bin)
        .args(["^zzz$", input.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
}
