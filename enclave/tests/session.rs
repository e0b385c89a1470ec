//! The real `kiln-enclave` binary, driven over Unix sockets by a harness playing the host and
//! serving a simulated TEE on the device socket.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::process::Command;

use base64::Engine as _;
use common::*;
use kiln_proto::{write_message, Message, Stream};
use kiln_tee::device::bundle_from_files;
use kiln_tee::Platform;
use kiln_verifier::build_output::{
    dsse::decode_base64, key_id, pae, report_data, BuildRequest, SigstoreBundle, Statement,
};
use kiln_verifier::{Evidence, TrustAnchors, UnixTime, Verifier};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use sha2::{Digest, Sha256};

const TINY: &str = "echo building; mkdir -p out && printf hi > out/a.txt";

fn tiny_source() -> Vec<u8> {
    project(TINY, &["out/*"], "")
}

fn spki_from_pem(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// The in-toto statement signed in the outcome's bundle.
fn signed_statement(o: &Outcome) -> Statement {
    let (bundle, ..) = result_parts(o);
    let payload = decode_base64(&bundle.dsse_envelope.payload).unwrap();
    serde_json::from_slice(&payload).unwrap()
}

fn result_parts(
    o: &Outcome,
) -> (
    SigstoreBundle,
    String,
    Vec<kiln_proto::NamedBlob>,
    Option<Vec<u8>>,
) {
    match o.result() {
        Some(Message::Result {
            bundle,
            public_key_pem,
            evidence,
            sealed_key,
            ..
        }) => (
            serde_json::from_slice(bundle).unwrap(),
            public_key_pem.clone(),
            evidence.clone(),
            sealed_key.clone(),
        ),
        _ => panic!("no result: {:?}; stderr: {}", o.error(), o.stderr),
    }
}

#[test]
fn a_tiny_build_is_signed_and_bound_to_verifying_evidence_on_every_platform() {
    for platform in Platform::ALL {
        let launch = Launch::new(platform);
        let source = tiny_source();
        let req = request(platform, &source);
        let out = build(&launch, &req, &source, None);
        assert!(
            out.status.success(),
            "{platform}: {:?} {}",
            out.error(),
            out.stderr
        );
        let (bundle, pem, evidence, sealed) = result_parts(&out);
        assert!(sealed.is_some(), "the simulator seals the key");

        // Logs streamed, progress by phase, the artifact streamed back.
        assert!(out.logs(Stream::Stdout).contains(&"building"));
        let phases: Vec<_> = out
            .messages
            .iter()
            .filter_map(|m| match m {
                Message::Progress { phase, .. } => Some(*phase),
                _ => None,
            })
            .collect();
        use kiln_proto::Phase;
        assert_eq!(
            phases,
            [Phase::Transfer, Phase::Build, Phase::Attest, Phase::Sign]
        );
        assert_eq!(out.artifacts()["out/a.txt"], b"hi");

        // The DSSE signature verifies with the returned key, over PAE of the exact payload.
        let spki = spki_from_pem(&pem);
        let env = &bundle.dsse_envelope;
        let payload = decode_base64(&env.payload).unwrap();
        let sig = decode_base64(&env.signatures[0].sig).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &spki[26..])
            .verify(&pae(&env.payload_type, &payload), &sig)
            .unwrap();
        assert_eq!(env.signatures[0].keyid, key_id(&spki));
        assert_eq!(bundle.verification_material.public_key.hint, key_id(&spki));
        assert!(bundle.verification_material.tlog_entries.is_empty());

        // The statement.
        let st: Statement = serde_json::from_slice(&payload).unwrap();
        assert_eq!(st.subject.len(), 1);
        assert_eq!(st.subject[0].name, "out/a.txt");
        assert_eq!(
            st.subject[0].digest["sha256"],
            hex::encode(Sha256::digest(b"hi"))
        );
        let p = &st.predicate;
        let ext = &p.build_definition.external_parameters;
        assert_eq!(ext["source"]["sha256"], req.source.sha256);
        assert!(
            ext["source"].get("commit").is_none(),
            "a plain folder has no commit"
        );
        assert_eq!(ext["recipePath"], "kiln.toml");
        assert_eq!(ext["recipe"]["command"], TINY);
        assert_eq!(ext["nonce"], req.nonce);
        let int = &p.build_definition.internal_parameters;
        assert_eq!(int["platform"], platform.as_str());
        assert_eq!(int["keyLifetime"], "sealed");
        // The network is isolated, or the log says loudly why not, and the provenance agrees.
        let isolated = int["networkIsolation"].as_bool().unwrap();
        let said = out.logs(Stream::Builder);
        if isolated {
            assert!(
                said.iter().any(|l| l.starts_with("network isolated")),
                "{said:?}"
            );
        } else {
            assert!(
                said.iter()
                    .any(|l| l.contains("cannot isolate the network")),
                "{said:?}"
            );
        }
        assert_eq!(int["sourceDateEpoch"], 1_700_000_000);
        // The sandbox's layers are signed: bubblewrap, every namespace, no capability,
        // the seccomp denials; a dedicated uid when the enclave runs as root.
        let sb = &int["sandbox"];
        assert!(
            sb["tool"].as_str().unwrap().starts_with("bubblewrap"),
            "{sb}"
        );
        assert_eq!(
            sb["namespaces"],
            serde_json::json!(["user", "pid", "mount", "ipc", "uts", "net", "cgroup"])
        );
        assert_eq!(sb["capabilities"], "none");
        assert!(sb["seccompDenied"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "pidfd_getfd"));
        if nix::unistd::geteuid().is_root() {
            assert!(sb["uid"].as_str().unwrap().starts_with("dedicated"), "{sb}");
            assert_eq!(sb["complete"], true, "{sb}");
        }
        assert_eq!(
            p.build_definition.resolved_dependencies[0].uri.as_deref(),
            Some("kiln:source")
        );
        assert_eq!(p.run_details.builder.id, req.builder_id);
        let deps: Vec<_> = p
            .run_details
            .builder
            .builder_dependencies
            .iter()
            .filter_map(|d| d.name.as_deref())
            .collect();
        assert_eq!(deps, ["kiln-enclave", "launch-parameters"]);
        assert_eq!(p.run_details.metadata.invocation_id, req.invocation_id);
        let request_bytes = req.to_bytes();
        let by = &p.run_details.byproducts;
        assert_eq!(by[0].name.as_deref(), Some("request.json"));
        assert_eq!(
            decode_base64(by[0].content.as_ref().unwrap()).unwrap(),
            request_bytes
        );
        assert!(by.iter().any(|b| b.name.as_deref() == Some("evidence.bin")
            && b.media_type.as_deref()
                == Some(&*format!(
                    "application/vnd.kiln.evidence.{}",
                    platform.as_str()
                ))));

        // The evidence verifies with the simulated root allowed, and binds key and request.
        let ev = bundle_from_files(platform, evidence).unwrap();
        let mut anchors = TrustAnchors::vendor();
        anchors
            .allow_simulated(
                platform,
                "kiln test chip",
                ev.simulated_root_der.as_ref().unwrap(),
            )
            .unwrap();
        let mut e = Evidence::new(&ev.evidence).platform(platform);
        if let Some(v) = &ev.vek_der {
            e = e.vek(v);
        }
        if let Some(c) = &ev.chain_pem {
            e = e.chain(c.as_bytes());
        }
        if let Some(c) = &ev.collateral_json {
            e = e.collateral(c);
        }
        let verified = Verifier::new(anchors)
            .verify(&e, UnixTime::from_secs((T_MS / 1000) as i64))
            .unwrap_or_else(|err| panic!("{platform}: {err}"));
        let claims = verified.claims();
        // kiln-binding/v1: the signed statement as received, without its evidence byproducts.
        let payload = decode_base64(&bundle.dsse_envelope.payload).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        let expected = report_data(&spki, &kiln_verifier::build_output::binding(&json));
        let bound = match platform {
            Platform::Nitro => {
                assert_eq!(claims.public_key.as_ref().unwrap().as_bytes(), &spki[..]);
                assert_eq!(
                    claims.nonce.as_ref().unwrap().as_bytes(),
                    &hex::decode(&req.nonce).unwrap()[..]
                );
                claims.user_data.as_ref().unwrap()
            }
            _ => claims.report_data.as_ref().unwrap(),
        };
        assert_eq!(bound.as_bytes(), &expected[..], "{platform}");
    }
}

#[test]
fn a_source_whose_digest_differs_is_refused_before_unpacking() {
    let launch = Launch::new(Platform::Nitro);
    let source = tiny_source();
    let mut req = request(Platform::Nitro, &source);
    let recipe = recipe_toml(TINY, &["out/*"], "");
    let other = tar_of(&[("README", b"evil\n"), ("kiln.toml", recipe.as_bytes())]);
    assert_eq!(other.len(), source.len());
    req.source.sha256 = hex::encode(Sha256::digest(&other));
    let out = build(&launch, &req, &source, None);
    let err = out.expect_error();
    assert!(err.contains("source digest mismatch: expected"), "{err}");
    assert!(err.contains(&req.source.sha256), "{err}");
    assert!(err.contains(&hex::encode(Sha256::digest(&source))), "{err}");
    assert!(out.logs(Stream::Stdout).is_empty(), "nothing was built");
}

#[test]
fn a_truncated_source_is_refused() {
    let launch = Launch::new(Platform::Nitro);
    let source = tiny_source();
    let req = request(Platform::Nitro, &source);
    let out = session(&launch, |c| {
        send_build(c, &req, None, &source[..source.len() / 2], 512);
    });
    let err = out.expect_error();
    assert!(err.contains("source digest mismatch"), "{err}");
    assert!(
        err.contains(&format!("({} bytes)", source.len() / 2)),
        "{err}"
    );
}

#[test]
fn a_malformed_frame_is_an_error_not_a_panic() {
    let launch = Launch::new(Platform::Nitro);
    let out = session(&launch, |c| {
        use std::io::Write;
        c.write_all(&[0, 0, 0, 5, 0xff, 0x00, 0x13, 0x37, 0x42])
            .unwrap();
    });
    let err = out.expect_error();
    assert!(err.contains("malformed message"), "{err}");
    // And a frame announcing more than the limit.
    let out = session(&launch, |c| {
        use std::io::Write;
        c.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
    });
    assert!(out.expect_error().contains("exceeds the limit"));
}

#[test]
fn a_failing_build_reports_its_exit_status() {
    let launch = Launch::new(Platform::Tdx);
    let source = project("echo about to fail >&2; exit 3", &["out/*"], "");
    let req = request(Platform::Tdx, &source);
    let out = build(&launch, &req, &source, None);
    let err = out.expect_error();
    assert!(
        err.contains("the build command failed: exit code 3"),
        "{err}"
    );
    assert!(out.logs(Stream::Stderr).contains(&"about to fail"));
}

#[test]
fn a_build_past_its_time_limit_is_killed_with_its_children() {
    let launch = Launch::new(Platform::Nitro);
    let source = project(
        "sleep 60 & sleep 60",
        &["out/*"],
        "[limits]\ntime_secs = 1\n",
    );
    let req = request(Platform::Nitro, &source);
    let out = build(&launch, &req, &source, None);
    let err = out.expect_error();
    assert!(err.contains("time limit of 1 s"), "{err}");
    assert!(out.elapsed.as_secs() < 20, "{:?}", out.elapsed);
}

#[test]
fn outputs_over_the_size_limit_are_refused() {
    let launch = Launch::new(Platform::Nitro);
    let source = project(TINY, &["out/*"], "[limits]\noutput_bytes = 1\n");
    let req = request(Platform::Nitro, &source);
    let out = build(&launch, &req, &source, None);
    let err = out.expect_error();
    assert!(err.contains("output size limit of 1 bytes"), "{err}");
    assert!(out.artifacts().is_empty(), "nothing was streamed");
}

#[test]
fn the_build_sees_only_allowed_variables() {
    let mut launch = Launch::new(Platform::Nitro);
    launch.env = vec![
        ("KILN_TEST_SECRET".into(), "leak".into()),
        ("KILN_ALLOWED".into(), "yes".into()),
    ];
    let source = project(
        &format!("env; cat /proc/net/dev; {TINY}"),
        &["out/*"],
        "env = [\"KILN_ALLOWED\", \"KILN_UNSET\"]\n[build.env_set]\nFIXED = \"1\"\n",
    );
    let req = request(Platform::Nitro, &source);
    let out = build(&launch, &req, &source, None);
    assert!(out.status.success(), "{:?}", out.error());
    let vars: std::collections::BTreeMap<&str, &str> = out
        .logs(Stream::Stdout)
        .into_iter()
        .filter_map(|l| l.split_once('='))
        .collect();
    // What the recipe and kiln set, plus what the shell itself sets (PWD, SHLVL, _).
    let allowed = [
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "TZ",
        "SOURCE_DATE_EPOCH",
        "KILN_ALLOWED",
        "FIXED",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "_",
    ];
    for k in vars.keys() {
        assert!(allowed.contains(k), "unexpected variable {k} in {vars:?}");
    }
    assert_eq!(vars["KILN_ALLOWED"], "yes");
    assert_eq!(vars["FIXED"], "1");
    assert_eq!(vars["SOURCE_DATE_EPOCH"], "1700000000");
    assert_eq!(vars["TZ"], "UTC");
    assert!(vars["HOME"].contains("kiln-build-"), "{}", vars["HOME"]);
    assert!(!vars.contains_key("KILN_TEST_SECRET"));
    // In a new network namespace the build sees the loopback interface only.
    let st = signed_statement(&out);
    if st.predicate.build_definition.internal_parameters["networkIsolation"] == true {
        let interfaces: Vec<&str> = out
            .logs(Stream::Stdout)
            .into_iter()
            .filter(|l| !l.contains('='))
            .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim()))
            .collect();
        assert_eq!(interfaces, ["lo"]);
    }
}

/// Where the enclave can make neither a network namespace nor a user namespace, the build's
/// sandbox cannot be set up: the build is refused, naming the missing layer, unless the
/// caller names the weaker sandbox (`--allow-weaker-sandbox`); then it runs, the host is
/// warned, and the signed provenance says `networkIsolation: false` and which sandbox layers
/// were missing. The enclave runs in a user namespace (util-linux `unshare -U -r`) that forbids
/// nested user namespaces (`max_user_namespaces` = 0) and without any capability (`setpriv`).
#[test]
fn a_build_without_network_isolation_says_so_in_the_provenance() {
    let usable = Command::new("unshare")
        .args(["-U", "-r", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !usable {
        println!("SKIPPED: `unshare -U -r` does not work here; the fallback cannot be forced");
        return;
    }
    let mut launch = Launch::new(Platform::SevSnp);
    launch.wrapper = [
        "unshare",
        "-U",
        "-r",
        "sh",
        "-c",
        "echo 0 > /proc/sys/user/max_user_namespaces && \
         exec setpriv --securebits=+noroot,+noroot_locked --bounding-set=-all --inh-caps=-all \"$@\"",
        "sh",
    ]
    .map(String::from)
    .to_vec();
    let source = tiny_source();
    let req = request(Platform::SevSnp, &source);
    let refused = build(&launch, &req, &source, None);
    assert!(!refused.status.success());
    let why = refused.error().unwrap_or_default();
    assert!(why.contains("the build's sandbox"), "{why}");
    assert!(why.contains("--allow-weaker-sandbox"), "{why}");
    assert!(refused.result().is_none(), "no output without the sandbox");

    launch.args = vec!["--allow-weaker-sandbox".into()];
    let out = build(&launch, &req, &source, None);
    assert!(out.status.success(), "{:?} {}", out.error(), out.stderr);
    let said = out.logs(Stream::Builder);
    assert!(
        said.iter()
            .any(|l| l.starts_with("WARNING: ") && l.contains("cannot isolate the network")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|l| l.starts_with("WARNING: the build runs WITHOUT its sandbox")),
        "{said:?}"
    );
    assert!(
        !said.iter().any(|l| l.starts_with("network isolated")),
        "{said:?}"
    );
    let st = signed_statement(&out);
    let sb = &st.predicate.build_definition.internal_parameters["sandbox"];
    assert_eq!(sb["tool"], "none", "{sb}");
    assert_eq!(sb["complete"], false, "{sb}");
    assert!(
        sb["weakerBecause"].as_str().unwrap().contains("namespace"),
        "{sb}"
    );
    let st = signed_statement(&out);
    assert_eq!(
        st.predicate.build_definition.internal_parameters["networkIsolation"],
        false
    );
    // And the ordinary launch is isolated, so the flag is not constant.
    let out = build(&Launch::new(Platform::SevSnp), &req, &source, None);
    let st = signed_statement(&out);
    assert_eq!(
        st.predicate.build_definition.internal_parameters["networkIsolation"],
        true
    );
}

#[test]
fn the_sealed_key_is_reused_with_the_same_measurement_and_refused_with_another() {
    let platform = Platform::Tdx;
    let source = tiny_source();
    let req = request(platform, &source);
    let first = build(&Launch::new(platform), &req, &source, None);
    let (_, pem1, _, sealed1) = result_parts(&first);
    let sealed1 = sealed1.unwrap();
    assert_eq!(sealed1[0], 1, "blob version");

    let second = build(&Launch::new(platform), &req, &source, Some(sealed1.clone()));
    let (_, pem2, _, sealed2) = result_parts(&second);
    assert_eq!(pem1, pem2, "same measurement: the key is reused");
    assert_eq!(sealed2.unwrap(), sealed1);
    assert!(second
        .logs(Stream::Builder)
        .iter()
        .any(|l| l.contains("unsealed the signing key")));

    let mut other = Launch::new(platform);
    other.params = b"--test-launch v2".to_vec();
    let third = build(&other, &req, &source, Some(sealed1.clone()));
    let (_, pem3, _, sealed3) = result_parts(&third);
    assert_ne!(pem1, pem3, "another measurement: a new key");
    assert_ne!(sealed3.unwrap(), sealed1);
    assert!(
        third
            .logs(Stream::Builder)
            .iter()
            .any(|l| l.contains("sealed signing key was refused")),
        "{:?}",
        third.logs(Stream::Builder)
    );
}

#[test]
fn a_path_traversal_entry_is_refused() {
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    let name = b"../escaped";
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"x"[..]).unwrap();
    let source = b.into_inner().unwrap();
    let launch = Launch::new(Platform::Nitro);
    let req = request(Platform::Nitro, &source);
    let out = build(&launch, &req, &source, None);
    let err = out.expect_error();
    assert!(
        err.contains("refused source archive entry \"../escaped\""),
        "{err}"
    );
}

#[test]
fn a_request_for_another_platform_is_refused_by_name() {
    let launch = Launch::new(Platform::Nitro);
    let source = tiny_source();
    let req = request(Platform::SevSnp, &source);
    let out = build(&launch, &req, &source, None);
    let err = out.expect_error();
    assert!(
        err.contains("platform sev-snp but this enclave runs on nitro"),
        "{err}"
    );
}

#[test]
fn another_protocol_version_or_an_unexpected_message_is_refused_clearly() {
    let mut launch = Launch::new(Platform::Nitro);
    launch.host_protocol = 99;
    let out = session(&launch, |_| {});
    let err = out.expect_error();
    assert!(err.contains("protocol version 99, this enclave 1"), "{err}");
    let out = session(&Launch::new(Platform::Nitro), |c| {
        write_message(c, &Message::SourceEnd).unwrap();
    });
    let err = out.expect_error();
    assert!(
        err.contains("expected the build request, got SourceEnd"),
        "{err}"
    );
}

/// A git repository with the project in `proj/` beside another file, two commits (the first
/// with another README), in the given object format. Returns (repo, first, second).
fn git_repo(format: &str) -> (tempfile::TempDir, String, String) {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let git = |args: &[&str]| -> String {
        let o = Command::new("git")
            .arg("-C")
            .arg(r)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .env("GIT_AUTHOR_DATE", "1700000000 +0000")
            .env("GIT_COMMITTER_DATE", "1700000000 +0000")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    git(&["init", "-q", &format!("--object-format={format}")]);
    std::fs::create_dir(r.join("proj")).unwrap();
    std::fs::write(r.join("other.txt"), "beside\n").unwrap();
    std::fs::write(r.join("proj/README"), "first\n").unwrap();
    std::fs::write(r.join("proj/kiln.toml"), recipe_toml(TINY, &["out/*"], "")).unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-qm", "first"]);
    let first = git(&["rev-parse", "HEAD"]);
    std::fs::write(r.join("proj/README"), "second\n").unwrap();
    git(&["commit", "-qam", "second"]);
    let second = git(&["rev-parse", "HEAD"]);
    (d, first, second)
}

fn git_bytes(repo: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let o = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

/// A request for folder `proj` of `commit`, whose source is `proj` as committed in `tree_of`.
fn git_request(repo: &std::path::Path, commit: &str, tree_of: &str) -> (BuildRequest, Vec<u8>) {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let source = git_bytes(
        repo,
        &["archive", "--format=tar", &format!("{tree_of}:proj")],
    );
    let mut req = request(Platform::SevSnp, &source);
    req.source.commit = Some(commit.to_owned());
    req.source.git = Some(kiln_verifier::build_output::GitProof {
        commit_object: b64(&git_bytes(repo, &["cat-file", "commit", commit])),
        path: "proj".into(),
        trees: vec![b64(&git_bytes(
            repo,
            &["cat-file", "tree", &format!("{commit}:")],
        ))],
    });
    (req, source)
}

/// The guest proves the commit the host names: from the commit object and the root tree it
/// recomputes the id of the unpacked `proj/` folder, for SHA-1 and SHA-256 repositories, and
/// records the commit as a `gitCommit` digest with the tree it recomputed.
#[test]
fn the_guest_proves_the_git_commit_of_the_source() {
    for format in ["sha1", "sha256"] {
        let (repo, _, head) = git_repo(format);
        let (req, source) = git_request(repo.path(), &head, &head);
        let out = build(&Launch::new(Platform::SevSnp), &req, &source, None);
        assert!(
            out.status.success(),
            "{format}: {:?} {}",
            out.error(),
            out.stderr
        );
        assert!(
            out.logs(Stream::Builder)
                .iter()
                .any(|l| l.starts_with(&format!("proved commit {head} ({format})"))),
            "{:?}",
            out.logs(Stream::Builder)
        );
        let st = signed_statement(&out);
        let dep = &st.predicate.build_definition.resolved_dependencies[0];
        assert_eq!(dep.digest["gitCommit"], head);
        let tree = String::from_utf8(git_bytes(
            repo.path(),
            &["rev-parse", &format!("{head}:proj")],
        ))
        .unwrap();
        let ann = dep.annotations.as_ref().unwrap();
        assert_eq!(ann["gitTree"], tree.trim());
        assert_eq!(ann["gitObjectFormat"], format);
        assert_eq!(ann["gitPath"], "proj");
    }
}

/// A host that lies about the commit is caught before the build runs: another commit's id,
/// another commit's objects for this source, a source of another commit, a changed
/// SOURCE_DATE_EPOCH, or a commit without its objects.
#[test]
fn a_commit_the_source_is_not_is_refused() {
    let (repo, first, head) = git_repo("sha1");
    let r = repo.path();
    // The objects of HEAD, but the id of the first commit.
    let (mut req, source) = git_request(r, &head, &head);
    req.source.commit = Some(first.clone());
    let cases: Vec<(&str, BuildRequest, Vec<u8>, &str)> = vec![
        ("other id", req, source, "the commit id"),
        // The first commit's own objects, over HEAD's source (another README).
        {
            let (_, source) = git_request(r, &head, &head);
            let (req, _) = git_request(r, &first, &first);
            let mut req = req;
            req.source.sha256 = hex::encode(Sha256::digest(&source));
            req.source.size = source.len() as u64;
            ("other commit", req, source, "folder \"proj\"")
        },
        {
            let (mut req, source) = git_request(r, &head, &head);
            req.source.source_date_epoch = 1_600_000_000;
            (
                "other epoch",
                req,
                source,
                "sourceDateEpoch: claimed 1600000000",
            )
        },
        {
            let (mut req, source) = git_request(r, &head, &head);
            req.source.git = None;
            ("no objects", req, source, "sent no git objects")
        },
    ];
    for (what, req, source, why) in cases {
        let out = build(&Launch::new(Platform::SevSnp), &req, &source, None);
        let err = out.expect_error();
        assert!(
            err.contains("is not commit") || err.contains("not commit"),
            "{what}: {err}"
        );
        assert!(err.contains(why), "{what}: {err}");
        assert!(
            !out.logs(Stream::Stdout).contains(&"building"),
            "{what}: the build must not run"
        );
    }
}

/// The recipe is the source's: the request only names the file, and a recipe path that
/// leaves the source, or a symlinked recipe, is refused.
#[test]
fn the_recipe_comes_from_the_source() {
    let source = tiny_source();
    for (path, why) in [
        ("../kiln.toml", "plain names"),
        ("missing.toml", "no such file"),
    ] {
        let mut req = request(Platform::Nitro, &source);
        req.recipe_path = path.into();
        let out = build(&Launch::new(Platform::Nitro), &req, &source, None);
        let err = out.expect_error();
        assert!(err.contains(why), "{path}: {err}");
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "kiln.toml", "README").unwrap();
    let mut h = tar::Header::new_gnu();
    let recipe = recipe_toml(TINY, &["out/*"], "");
    h.set_size(recipe.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "README", recipe.as_bytes()).unwrap();
    let linked = b.into_inner().unwrap();
    let req = request(Platform::Nitro, &linked);
    let out = build(&Launch::new(Platform::Nitro), &req, &linked, None);
    let err = out.expect_error();
    assert!(err.contains("not a plain file"), "{err}");
}
