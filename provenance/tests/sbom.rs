//! The SBOMs a provenance statement yields: every locked package with its purl and checksum,
//! the toolchain (Debian packages with the recipe's digests, or tool binaries), the builder,
//! the source and the artifacts, with their relationships; the same statement gives the same
//! bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use kiln_provenance::sbom::SbomFormat;
use kiln_provenance::{
    BuildDefinition, Builder, Metadata, Provenance, ResourceDescriptor, RunDetails, Statement,
    Subject,
};
use serde_json::{json, Value};

fn rd(uri: &str, name: Option<&str>, sha256: &str) -> ResourceDescriptor {
    ResourceDescriptor {
        uri: Some(uri.into()),
        name: name.map(str::to_owned),
        digest: BTreeMap::from([("sha256".to_owned(), sha256.to_owned())]),
        ..ResourceDescriptor::default()
    }
}

fn statement() -> Statement {
    let mut cargo = rd("pkg:cargo/regex@1.13.2", None, &"ab".repeat(32));
    cargo.download_location = Some("https://crates.io/api/v1/crates/regex/1.13.2/download".into());
    let mut deb = rd(
        "pkg:deb/debian/rustc-web@1.96.0%2Bdfsg1-1~deb12u2?arch=amd64",
        Some("rustc-web"),
        &"cd".repeat(32),
    );
    deb.annotations = Some(json!({"toolchain": "rust"}));
    let mut tool = rd("file:///usr/bin/cc", Some("cc"), &"ef".repeat(32));
    tool.annotations = Some(json!({"version": "cc (Debian 12.2.0-14) 12.2.0"}));
    let mut source = rd("kiln:source", None, &"11".repeat(32));
    source
        .digest
        .insert("gitCommit".into(), "c0ffee".repeat(6) + "c0ff");
    let mut disk = ResourceDescriptor {
        uri: Some("kiln:toolchain/rust".into()),
        digest: BTreeMap::from([("dmVeritySha256Root".to_owned(), "22".repeat(32))]),
        ..ResourceDescriptor::default()
    };
    disk.annotations = Some(json!({"device": "/dev/vda"}));
    let mut kernel = rd("file:///images/vmlinuz", Some("kernel"), &"33".repeat(32));
    kernel.digest.insert("sha384".into(), "44".repeat(48));
    Statement {
        type_: "https://in-toto.io/Statement/v1".into(),
        subject: vec![Subject {
            name: "target/release/rust-grep".into(),
            digest: BTreeMap::from([("sha256".to_owned(), "55".repeat(32))]),
        }],
        predicate_type: "https://slsa.dev/provenance/v1".into(),
        predicate: Provenance {
            build_definition: BuildDefinition {
                build_type: "https://kiln.dev/attested-build/v1".into(),
                external_parameters: json!({"source": {"repository": "https://example.org/grep.git"}}),
                internal_parameters: json!({}),
                resolved_dependencies: vec![source, tool, cargo, deb],
            },
            run_details: RunDetails {
                builder: Builder {
                    id: "https://kiln.dev/builders/qemu@v1".into(),
                    builder_dependencies: vec![kernel, disk],
                    version: BTreeMap::from([("kiln-enclave".to_owned(), "0.1.0".to_owned())]),
                },
                metadata: Metadata {
                    invocation_id: "0123456789abcdef0123456789abcdef".into(),
                    started_on: "2026-12-04T05:00:00Z".into(),
                    finished_on: "2026-12-04T05:01:02.5Z".into(),
                },
                byproducts: Vec::new(),
            },
        },
    }
}

fn doc(format: SbomFormat) -> Value {
    serde_json::from_slice(&format.document(&statement())).unwrap()
}

fn package<'a>(spdx: &'a Value, name: &str) -> &'a Value {
    spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name}"))
}

fn has_relationship(spdx: &Value, from: &str, kind: &str, to: &str) -> bool {
    spdx["relationships"].as_array().unwrap().iter().any(|r| {
        r["spdxElementId"] == from && r["relationshipType"] == kind && r["relatedSpdxElement"] == to
    })
}

#[test]
fn spdx_lists_every_part_with_its_role() {
    let spdx = doc(SbomFormat::Spdx);
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    assert_eq!(spdx["creationInfo"]["created"], "2026-12-04T05:01:02Z");
    let artifact = package(&spdx, "target/release/rust-grep");
    assert_eq!(artifact["checksums"][0]["algorithm"], "SHA256");
    let id = artifact["SPDXID"].as_str().unwrap();
    assert!(has_relationship(&spdx, "SPDXRef-DOCUMENT", "DESCRIBES", id));
    assert!(has_relationship(
        &spdx,
        id,
        "GENERATED_FROM",
        "SPDXRef-Source"
    ));

    let regex = package(&spdx, "regex");
    assert_eq!(regex["versionInfo"], "1.13.2");
    assert_eq!(regex["checksums"][0]["checksumValue"], "ab".repeat(32));
    assert_eq!(
        regex["externalRefs"][0]["referenceLocator"],
        "pkg:cargo/regex@1.13.2"
    );
    assert_eq!(regex["primaryPackagePurpose"], "LIBRARY");
    assert!(has_relationship(
        &spdx,
        id,
        "DEPENDS_ON",
        regex["SPDXID"].as_str().unwrap()
    ));

    let rustc = package(&spdx, "rustc-web");
    assert_eq!(rustc["versionInfo"], "1.96.0+dfsg1-1~deb12u2");
    assert_eq!(rustc["checksums"][0]["checksumValue"], "cd".repeat(32));
    assert!(has_relationship(
        &spdx,
        rustc["SPDXID"].as_str().unwrap(),
        "BUILD_TOOL_OF",
        id
    ));
    let cc = package(&spdx, "cc");
    assert_eq!(cc["versionInfo"], "cc (Debian 12.2.0-14) 12.2.0");

    let kernel = package(&spdx, "kernel");
    assert_eq!(
        kernel["checksums"].as_array().unwrap().len(),
        2,
        "SHA256 and SHA384"
    );
    let disk = package(&spdx, "kiln:toolchain/rust");
    assert!(
        disk["comment"]
            .as_str()
            .unwrap()
            .contains("dmVeritySha256Root:"),
        "{disk}"
    );

    let source = package(&spdx, "source");
    assert_eq!(
        source["downloadLocation"],
        format!(
            "git+https://example.org/grep.git@{}",
            "c0ffee".repeat(6) + "c0ff"
        )
    );
}

#[test]
fn cyclonedx_lists_every_part_with_its_role() {
    let cdx = doc(SbomFormat::CycloneDx);
    assert_eq!(cdx["bomFormat"], "CycloneDX");
    assert_eq!(cdx["specVersion"], "1.6");
    let serial = cdx["serialNumber"].as_str().unwrap();
    assert!(
        serial.starts_with("urn:uuid:") && serial.len() == 45,
        "{serial}"
    );
    let comps = cdx["components"].as_array().unwrap();
    let regex = comps.iter().find(|c| c["name"] == "regex").unwrap();
    assert_eq!(regex["purl"], "pkg:cargo/regex@1.13.2");
    assert_eq!(regex["hashes"][0]["alg"], "SHA-256");
    assert_eq!(cdx["dependencies"][0]["ref"], "artifact-0");
    assert_eq!(cdx["dependencies"][0]["dependsOn"][0], regex["bom-ref"]);
    let formula = cdx["formulation"][0]["components"].as_array().unwrap();
    let rustc = formula.iter().find(|c| c["name"] == "rustc-web").unwrap();
    assert_eq!(rustc["version"], "1.96.0+dfsg1-1~deb12u2");
    assert!(rustc["properties"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "kiln:role" && p["value"] == "toolchain"));
    let workflow = &cdx["formulation"][0]["workflows"][0];
    assert_eq!(workflow["inputs"][0]["resource"]["ref"], "source");
    assert_eq!(workflow["outputs"][0]["resource"]["ref"], "artifact-0");
}

#[test]
fn the_same_statement_gives_the_same_bytes() {
    for f in SbomFormat::ALL {
        assert_eq!(f.document(&statement()), f.document(&statement()));
    }
}
