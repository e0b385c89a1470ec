//! One build session with the host, from hello to result.
//!
//! ```text
//! E→H Hello                       H→E Hello
//!     (open the TEE, leave the network)
//! H→E BuildRequest                (parsed strictly; platform checked)
//!     (unseal or make the signing key)
//! H→E SourceChunk* SourceEnd      (size and SHA-256 checked, then unpacked)
//! E→H Progress(build) Log*        (the hermetic build, streamed)
//! E→H Progress(attest)            (evidence binding the key and the request)
//! E→H Progress(sign) ArtifactChunk*  Result
//! ```
//!
//! Any failure sends one `Error` carrying the whole cause chain, and no `Result`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_proto::{read_message, write_message, Message, Phase, Role, Stream, PROTOCOL_VERSION};
use kiln_provenance::{report_data, BuildRequest, Recipe};
use kiln_tee::device::{evidence_files, message_kind, Channel};
use kiln_tee::{Platform, ReportData, Tee};

use crate::backend::{self, Backend};
use crate::config::Config;
use crate::error::{report, EnclaveError};
use crate::keys::{SigningKey, SEALING_CONTEXT};
use crate::netns::{isolate_network, NetIsolation};
use crate::provenance::{self, KeyLifetime};
use crate::sandbox::Sandbox;
use crate::{commit, hermetic, outputs, source, toolchain, transport};

/// Connects to the host and runs one session; on failure the host gets an `Error` first.
pub fn run(config: &Config) -> Result<(), EnclaveError> {
    let mut control = transport::open(&config.control)?;
    let outcome = session(&mut *control, config);
    if let Err(e) = &outcome {
        // Best effort: the host may be gone, which is what the error may be about.
        let _ = write_message(&mut control, &Message::Error { message: report(e) });
    }
    outcome
}

/// The control channel with the session's helpers.
struct Host<'a> {
    ch: &'a mut dyn Channel,
}

impl Host<'_> {
    fn send(&mut self, msg: &Message, op: &'static str) -> Result<(), EnclaveError> {
        let mut ch = &mut *self.ch;
        write_message(&mut ch, msg).map_err(EnclaveError::frame(op))
    }

    fn read(&mut self, op: &'static str) -> Result<Message, EnclaveError> {
        let mut ch = &mut *self.ch;
        read_message(&mut ch).map_err(EnclaveError::frame(op))
    }

    fn progress(&mut self, phase: Phase, message: String) -> Result<(), EnclaveError> {
        self.send(&Message::Progress { phase, message }, "send progress")
    }

    fn say(&mut self, line: String) -> Result<(), EnclaveError> {
        self.send(
            &Message::Log {
                stream: Stream::Builder,
                line,
            },
            "send a log line",
        )
    }
}

fn hello(host: &mut Host<'_>) -> Result<(), EnclaveError> {
    host.send(
        &Message::Hello {
            protocol: PROTOCOL_VERSION,
            role: Role::Enclave,
            software: concat!("kiln-enclave ", env!("CARGO_PKG_VERSION")).into(),
        },
        "send hello",
    )?;
    match host.read("read the host's hello")? {
        Message::Hello {
            protocol,
            role: Role::Host,
            ..
        } if protocol == PROTOCOL_VERSION => Ok(()),
        Message::Hello { protocol, role, .. } if protocol == PROTOCOL_VERSION => {
            Err(EnclaveError::Protocol {
                expected: "a hello from the host",
                got: format!("a hello from {role:?}"),
            })
        }
        Message::Hello { protocol, .. } => Err(EnclaveError::Version {
            ours: PROTOCOL_VERSION,
            theirs: protocol,
        }),
        other => Err(EnclaveError::Protocol {
            expected: "hello",
            got: message_kind(&other),
        }),
    }
}

fn check_request(request: &BuildRequest, tee: &dyn Tee) -> Result<Option<Vec<u8>>, EnclaveError> {
    let bad = |reason: String| EnclaveError::Request { reason };
    if Platform::parse(&request.platform) != Some(tee.platform()) {
        return Err(EnclaveError::PlatformMismatch {
            requested: request.platform.clone(),
            tee: tee.platform(),
        });
    }
    if request.recipe_path.is_empty() {
        return Err(bad("recipePath is empty".into()));
    }
    if request.source.sha256.len() != 64 || hex::decode(&request.source.sha256).is_err() {
        return Err(bad(format!(
            "source.sha256 {:?} is not a hex SHA-256",
            request.source.sha256
        )));
    }
    let nonce = hex::decode(&request.nonce)
        .map_err(|e| bad(format!("the nonce {:?} is not hex: {e}", request.nonce)))?;
    Ok((!nonce.is_empty()).then_some(nonce))
}

/// The signing key: unsealed from the host's blob when it opens under this launch's sealing
/// key, else new (and sealed when the platform can seal). Returns the blob to hand back.
fn signing_key(
    host: &mut Host<'_>,
    backend: &Backend,
    sealed: Option<Vec<u8>>,
) -> Result<(SigningKey, Option<Vec<u8>>), EnclaveError> {
    if backend.key_lifetime == KeyLifetime::Launch {
        if sealed.is_some() {
            host.say(format!(
                "{} has no measurement-bound sealing key: the sealed key from an earlier launch \
                 is ignored and a new signing key lives for this launch only",
                backend.tee.platform()
            ))?;
        }
        return Ok((SigningKey::generate()?, None));
    }
    let sealing_key = backend
        .tee
        .sealing_key(SEALING_CONTEXT)
        .map_err(EnclaveError::tee("derive the sealing key"))?;
    if let Some(blob) = sealed {
        match SigningKey::unseal(&blob, &sealing_key) {
            Ok(key) => {
                host.say("unsealed the signing key from an earlier launch".into())?;
                return Ok((key, Some(blob)));
            }
            Err(reason) => host.say(format!(
                "the sealed signing key was refused: {reason}; made a new signing key"
            ))?,
        }
    } else {
        host.say("no sealed signing key: made a new one (first launch)".into())?;
    }
    let key = SigningKey::generate()?;
    let blob = key.seal(&sealing_key)?;
    Ok((key, Some(blob)))
}

fn session(control: &mut dyn Channel, config: &Config) -> Result<(), EnclaveError> {
    // The sandbox is planned (bubblewrap run once to see that the kernel grants every layer)
    // while the host says hello and sends its request: it depends on the launch only.
    let planned = {
        let roots = config.toolchain_roots.clone();
        let requirement = config.sandbox;
        let namespaces = config.namespaces.clone();
        std::thread::spawn(move || Sandbox::prepare(&roots, requirement, namespaces.as_ref()))
    };
    let mut host = Host { ch: control };
    hello(&mut host)?;
    let backend = backend::open(config)?;
    // Every channel is open: leave the network before anything of the request runs.
    let net = isolate_network();
    // Before any key exists (and after the user namespace's id maps are written, which a
    // non-dumpable process could not): no core dumps, and this process's memory and
    // descriptors only for CAP_SYS_PTRACE. Defence in depth: the build's sandbox cannot even
    // see this process.
    nix::sys::prctl::set_dumpable(false).map_err(|e| EnclaveError::Sandbox {
        reason: format!("cannot make the enclave non-dumpable: {e}"),
    })?;
    // A memory hog in the build is the OOM killer's choice, never the enclave (root only).
    crate::cgroup::shield_enclave_from_oom();
    let (request_bytes, sealed) = receive_request(&mut host)?;
    let request =
        BuildRequest::parse(&request_bytes).map_err(|reason| EnclaveError::Request { reason })?;
    let nonce = check_request(&request, &*backend.tee)?;
    match &net {
        NetIsolation::Isolated { how } => host.say(format!("network isolated ({how})"))?,
        NetIsolation::Unavailable { reason } => host.say(format!("WARNING: {reason}"))?,
    }
    // The sandbox's plan (or its refusal, naming the missing layer) comes before any key.
    let sandbox = planned.join().map_err(|_| EnclaveError::Sandbox {
        reason: "planning the sandbox panicked".into(),
    })??;
    announce_sandbox(&mut host, &sandbox)?;
    let (key, sealed_out) = signing_key(&mut host, &backend, sealed)?;

    let (work, archive, src, home, tmp) = work_dirs(&config.work_root)?;
    host.progress(
        Phase::Transfer,
        format!(
            "receiving the source ({} bytes, sha256 {})",
            request.source.size, request.source.sha256
        ),
    )?;
    source::receive(&mut *host.ch, &request.source, &archive)?;
    let entries = source::unpack(&archive, &src)?;
    std::fs::remove_file(&archive).map_err(|e| EnclaveError::io("remove", &archive, e))?;
    // The commit and the recipe come from the source, not from the host's word.
    let commit = commit::prove(&request.source, &src)?;
    if let Some(c) = &commit {
        announce_commit(&mut host, c)?;
    }
    let recipe = commit::read_recipe(&src, &request.recipe_path)?;
    let mut packages = toolchain::cargo_packages(&src)?;
    if let Some(image) = &config.toolchain_image {
        // The recipe (read from the source, not the host's word) names the toolchain image;
        // a host that booted another one gets no build.
        let wants = recipe.toolchain_image();
        if image.manifest.name != wants {
            return Err(EnclaveError::WrongToolchainImage {
                wants: wants.to_owned(),
                has: image.manifest.name.clone(),
            });
        }
        packages.extend(image.manifest.resolved_dependencies());
    }
    let env = build_env(&recipe, &request, &home, &tmp, &config.toolchain_roots);
    sandbox.hand_over(work.path(), &[&src, &home, &tmp])?;
    let build_cmd = sandbox.command(&recipe.command, &src, work.path(), &env)?;
    sandbox.apply_limits()?;
    let started = std::time::SystemTime::now();
    host.progress(
        Phase::Build,
        format!(
            "building {entries} source entries: {} (time limit {} s)",
            recipe.command, recipe.limits.time_secs
        ),
    )?;
    // The toolchain is located, hashed and asked its version while the build runs (hashing a
    // 40 MB cargo costs tens of milliseconds); its result is awaited before signing.
    let (tools, built) = std::thread::scope(|scope| {
        let tools = scope.spawn(|| toolchain::resolve_tools(&recipe.toolchain, &env, &src));
        let built = hermetic::run(
            build_cmd,
            &recipe.command,
            Duration::from_secs(recipe.limits.time_secs),
            &mut |stream, line| host.send(&Message::Log { stream, line }, "send a log line"),
        );
        let tools = tools.join().unwrap_or_else(|_| {
            Err(EnclaveError::Toolchain {
                tool: "(all)".into(),
                reason: "resolving the toolchain panicked".into(),
            })
        });
        (tools, built)
    });
    explain_out_of_memory(built, &sandbox)?;
    let tools = tools?;
    let found = outputs::collect(&src, &recipe.outputs, recipe.limits.output_bytes)?;
    let finished = std::time::SystemTime::now();

    // Hash (and hand over) the outputs first: the evidence binds them.
    host.progress(
        Phase::Attest,
        format!(
            "hashing {} outputs, then {} evidence from {} binding the signing key and the \
             signed statement (kiln-binding/v1)",
            found.len(),
            backend.tee.platform(),
            backend.choice.as_str()
        ),
    )?;
    let subjects = outputs::stream(&found, &mut |path, data, executable| {
        host.send(
            &Message::ArtifactChunk {
                path: path.to_owned(),
                data,
                executable,
            },
            "send an artifact",
        )
    })?;
    let statement = provenance::statement(provenance::Inputs {
        request: &request,
        request_bytes: &request_bytes,
        recipe: &recipe,
        commit: commit.as_ref(),
        platform: backend.tee.platform(),
        key_lifetime: backend.key_lifetime,
        network_isolation: net.is_isolated() || sandbox.is_sandboxed(),
        sandbox: sandbox.facts(),
        subjects,
        tools,
        packages,
        builder_dependencies: backend
            .builder_dependencies
            .iter()
            .cloned()
            .chain(
                config
                    .toolchain_image
                    .as_ref()
                    .map(|t| t.builder_dependency()),
            )
            .collect(),
        evidence: &[],
        started,
        finished,
    })?;
    attest_and_sign(&mut host, &backend, &key, statement, nonce, sealed_out)
}

/// Binds the signing key and the statement into evidence (`kiln-binding/v1`; on Nitro also
/// the public key and the caller's nonce), adds the evidence as byproducts outside the binding
/// (checked unchanged), signs the provenance and sends the result.
fn attest_and_sign(
    host: &mut Host<'_>,
    backend: &Backend,
    key: &SigningKey,
    mut statement: kiln_provenance::Statement,
    nonce: Option<Vec<u8>>,
    sealed_out: Option<Vec<u8>>,
) -> Result<(), EnclaveError> {
    // The SBOMs describe what the statement records; the provenance names each by its
    // digest, inside the binding.
    let sboms = provenance::sboms(&statement);
    statement.predicate.run_details.byproducts.extend(
        sboms
            .iter()
            .map(|(format, doc)| kiln_provenance::sbom::byproduct(*format, doc)),
    );
    let bound = provenance::binding_of(&statement)?;

    let spki = key.spki_der();
    let mut rd = ReportData::new(report_data(&spki, &bound));
    if backend.tee.platform() == Platform::Nitro {
        rd = rd.with_nitro_public_key(spki.clone());
        if let Some(n) = nonce {
            rd = rd.with_nonce(n);
        }
    }
    let evidence = backend
        .tee
        .evidence(&rd)
        .map_err(EnclaveError::tee("produce evidence"))?;
    let files = evidence_files(&evidence);
    statement
        .predicate
        .run_details
        .byproducts
        .extend(provenance::evidence_byproducts(
            backend.tee.platform(),
            &files,
        ));
    // The evidence byproducts are outside the binding: adding them must not change it.
    if provenance::binding_of(&statement)? != bound {
        return Err(EnclaveError::Crypto {
            op: "bind the statement",
            reason: "adding the evidence changed the statement's binding".into(),
        });
    }
    host.progress(
        Phase::Sign,
        "signing the provenance and the SBOMs (SPDX, CycloneDX)".into(),
    )?;
    let bundle = provenance::sign_bundle(&statement, key)?;
    let attestations = provenance::sign_sboms(&statement.subject, &sboms, key)?;
    host.send(
        &Message::Result {
            bundle,
            public_key_pem: key.public_key_pem(),
            evidence: files,
            attestations,
            sealed_key: sealed_out,
        },
        "send the result",
    )
}

/// Reads the host's build request and the sealed key it returns, if any.
fn receive_request(host: &mut Host<'_>) -> Result<(Vec<u8>, Option<Vec<u8>>), EnclaveError> {
    match host.read("read the build request")? {
        Message::BuildRequest {
            request,
            sealed_key,
        } => Ok((request, sealed_key)),
        other => Err(EnclaveError::Protocol {
            expected: "the build request",
            got: message_kind(&other),
        }),
    }
}

/// Tells the host which sandbox the build runs in, or loudly that it runs without one.
fn announce_sandbox(host: &mut Host<'_>, sandbox: &Sandbox) -> Result<(), EnclaveError> {
    let facts = sandbox.facts();
    match &facts.weaker_because {
        None => host.say(format!(
            "sandbox: {}, uid {}, namespaces {}, seccomp denies {} syscalls",
            facts.tool,
            facts.uid,
            facts.namespaces.join("/"),
            facts.seccomp_denied.len()
        )),
        Some(why) => host.say(format!(
            "WARNING: the build runs WITHOUT its sandbox (allowed by --allow-weaker-sandbox): {why}"
        )),
    }
}

/// A fresh work folder under `root` (removed on drop) with its archive path and its `src`,
/// `home` and `tmp` folders.
fn work_dirs(
    root: &Path,
) -> Result<(tempfile::TempDir, PathBuf, PathBuf, PathBuf, PathBuf), EnclaveError> {
    let work = tempfile::Builder::new()
        .prefix("kiln-build-")
        .tempdir_in(root)
        .map_err(|e| EnclaveError::io("create a work directory in", root, e))?;
    let (archive, src, home, tmp) = (
        work.path().join("source.tar"),
        work.path().join("src"),
        work.path().join("home"),
        work.path().join("tmp"),
    );
    for dir in [&src, &home, &tmp] {
        std::fs::create_dir(dir).map_err(|e| EnclaveError::io("create", dir, e))?;
    }
    Ok((work, archive, src, home, tmp))
}

/// Tells the host which commit the unpacked source was proved to be.
fn announce_commit(host: &mut Host<'_>, c: &commit::ProvenCommit) -> Result<(), EnclaveError> {
    host.say(format!(
        "proved commit {} ({}): the unpacked source is its tree {}{}",
        c.commit,
        c.format,
        c.tree,
        if c.path.is_empty() {
            String::new()
        } else {
            format!(" at {}", c.path)
        }
    ))
}

/// The build's hermetic environment, the toolchain folders the host resolved first on its
/// PATH.
fn build_env(
    recipe: &Recipe,
    request: &BuildRequest,
    home: &Path,
    tmp: &Path,
    toolchain_roots: &[PathBuf],
) -> BTreeMap<String, String> {
    let mut env =
        hermetic::hermetic_env(recipe, request.source.source_date_epoch, home, tmp, |k| {
            std::env::var(k).ok()
        });
    if !toolchain_roots.is_empty() {
        let mut path: Vec<String> = toolchain_roots
            .iter()
            .map(|r| r.join("bin").display().to_string())
            .collect();
        path.extend(env.get("PATH").cloned());
        env.insert("PATH".to_owned(), path.join(":"));
    }
    env
}

/// A failed build whose cgroup ran out of memory says so, with the limit and the kills.
fn explain_out_of_memory(
    built: Result<(), EnclaveError>,
    sandbox: &Sandbox,
) -> Result<(), EnclaveError> {
    match (built, sandbox.memory_exhausted()) {
        (Err(EnclaveError::BuildFailed { status }), Some((kills, max))) => {
            Err(EnclaveError::BuildFailed {
                status: format!(
                    "{status}: the build ran out of memory (its cgroup's limit is {} MiB; the \
                     OOM killer ended {kills} of its processes)",
                    max >> 20
                ),
            })
        }
        (built, _) => built,
    }
}
