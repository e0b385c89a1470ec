#![no_main]
//! What a hostile project or a hostile output hands kiln's own parsers: the build request
//! (JSON), the recipe (TOML, parsed by the guest from the source), and git commit and tree
//! objects (the commit proof, checked by the guest and the verifier); and what the guest's
//! `/init` reads from its image: the toolchain disk's command-line word, the toolchain manifest
//! and the module list.
use kiln_verifier::build_output::git::{parse_commit, verify_commit, ObjectFormat};
use kiln_verifier::build_output::{parse_recipe, BuildRequest};
use kiln_provenance::guest_modules::ModuleLine;
use kiln_provenance::toolchain_disk::ToolchainDiskParam;
use kiln_provenance::toolchain_manifest::ToolchainManifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = BuildRequest::parse(data);
    let _ = ToolchainManifest::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_recipe(text);
        let _ = ToolchainDiskParam::from_cmdline(text);
        for line in text.lines() {
            let _ = ModuleLine::parse(line);
        }
    }
    // A commit object, then (after the first 0xff) a tree object.
    let (commit, tree) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let _ = parse_commit(ObjectFormat::Sha1, commit);
    let _ = verify_commit(
        &"0".repeat(40),
        commit,
        "a/b",
        &[tree.to_vec(), tree.to_vec()],
        &[0; 20],
    );
    let _ = verify_commit(&"0".repeat(64), commit, "a", &[tree.to_vec()], &[0; 32]);
});
