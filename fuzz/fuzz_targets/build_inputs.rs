#![no_main]
//! What a hostile project or a hostile output hands kiln's own parsers: the build request
//! (JSON), the recipe (TOML, parsed by the guest from the source), and git commit and tree
//! objects (the commit proof, checked by the guest and the verifier); and what the guest's
//! `/init` reads from its image: the toolchain disk's command-line word, the toolchain manifest
//! and the module list; and what a consumer is handed beside an output: a signed image
//! reference and a VSA (Sigstore bundles, checked against a fixed key).
use kiln_verifier::build_output::git::{parse_commit, verify_commit, ObjectFormat};
use kiln_verifier::build_output::{parse_recipe, BuildRequest};
use kiln_provenance::guest_modules::ModuleLine;
use kiln_provenance::toolchain_disk::ToolchainDiskParam;
use kiln_provenance::toolchain_manifest::ToolchainManifest;
use libfuzzer_sys::fuzz_target;

/// An ECDSA P-256 public key (its private key is gone).
const KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbgNZwieGvXzjJNluqOzy/SCY8I92
fuydoDhiaiculmZRvKaMN4lqWkUfmBBMJsqte7rnC4kDhDXjRVPAk4YPOw==
-----END PUBLIC KEY-----
";

fuzz_target!(|data: &[u8]| {
    let _ = BuildRequest::parse(data);
    let _ = kiln_verifier::image_reference::verify_signed(data, KEY_PEM);
    let _ = kiln_verifier::vsa::verify_vsa(data, KEY_PEM, None);
    let _ = kiln_verifier::image_reference::looks_signed(data);
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
