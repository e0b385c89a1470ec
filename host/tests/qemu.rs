//! The QEMU backend end to end (TCG here): `kiln image build` is reproducible; `kiln build
//! --backend qemu` builds the C example inside a VM booted from kiln's image, and `kiln verify`
//! accepts it against the measurement `kiln image measure --platform sim` predicted and refuses
//! it against the image with a one-byte change to the command line; a guest that crashes at
//! boot, hangs, or goes away mid-build gives a clear error, no output and no QEMU left behind.
//!
//! Needs QEMU and the pinned kernel/toolchain (`scripts/install-deps`); builds the static
//! kiln-enclave itself (a no-op when it is current). VM tests run one at a time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

use kiln_image::initramfs::Archive;
use kiln_image::inputs::{prepare_default, Toolchain};
use kiln_image::recipe::DEFAULT_TOOLCHAIN;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The static enclave, built once per test run; the kernel and toolchain fetched.
fn static_enclave() -> PathBuf {
    static ONCE: OnceLock<PathBuf> = OnceLock::new();
    ONCE.get_or_init(|| {
        prepare_default(Toolchain::default_one()).expect("fetch the image recipe's inputs");
        let st = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-p",
                "kiln-enclave",
                "--target",
                "x86_64-unknown-linux-gnu",
            ])
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .current_dir(root())
            .status()
            .unwrap();
        assert!(st.success(), "building the static kiln-enclave failed");
        let kiln = PathBuf::from(env!("CARGO_BIN_EXE_kiln"));
        let target = kiln.parent().unwrap().parent().unwrap();
        let p = target.join("x86_64-unknown-linux-gnu/release/kiln-enclave");
        assert!(p.is_file(), "{}", p.display());
        p
    })
    .clone()
}

/// One VM at a time (2 cores, TCG); the shared state folder keeps the simulated chip.
fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn state() -> &'static Path {
    static S: OnceLock<tempfile::TempDir> = OnceLock::new();
    S.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn kiln(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env("KILN_STATE_DIR", state())
        .env("KILN_ENCLAVE_STATIC", static_enclave())
        .output()
        .unwrap();
    eprintln!(
        "$ kiln {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One image for the VM tests.
fn image() -> PathBuf {
    static IMG: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    IMG.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("img");
        let out = kiln(&["image", "build", "--out", s(&dir)]);
        assert!(out.status.success());
        (d, dir)
    })
    .1
    .clone()
}

/// The image with the recipe's `rust` toolchain.
fn rust_image() -> PathBuf {
    static IMG: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    IMG.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("img");
        let out = kiln(&["image", "build", "--toolchain", "rust", "--out", s(&dir)]);
        assert!(out.status.success());
        (d, dir)
    })
    .1
    .clone()
}

/// QEMU processes whose command line mentions the test state folder.
fn stray_qemu() -> Vec<String> {
    let needle = state().to_string_lossy().into_owned();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains("qemu-system") && cmd.contains(&needle) {
                found.push(cmd);
            }
        }
    }
    found
}

#[test]
fn image_build_twice_gives_identical_bytes() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    for dir in [&a, &b] {
        let out = kiln(&["image", "build", "--format", "eif", "--out", s(dir)]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("image {}", s(dir))));
    }
    for f in [
        "vmlinuz",
        "base.cpio",
        "toolchain.img",
        "toolchain.cpio",
        "initrd.cpio",
        "cmdline",
        "image.eif",
        "image.json",
    ] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(!x.is_empty(), "{f} is empty");
        assert!(x == y, "{f} differs between two builds");
    }
    // The Nitro prediction reads the EIF; the sim prediction is the same for both folders.
    let nitro = kiln(&["image", "measure", "--platform", "nitro", "--image", s(&a)]);
    assert!(nitro.status.success());
    assert!(String::from_utf8_lossy(&nitro.stdout).contains("nitro pcr0 "));
    let m = |dir: &Path| kiln(&["image", "measure", "--platform", "sim", "--image", s(dir)]).stdout;
    assert_eq!(m(&a), m(&b));
}

fn last_hex(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().last().unwrap();
    let hex = line.split_whitespace().last().unwrap().to_owned();
    assert_eq!(hex.len(), 96, "{line}");
    hex
}

#[test]
fn qemu_build_verifies_against_the_predicted_measurement_only() {
    let img = image();
    let _vm = serial();
    let d = tempfile::tempdir().unwrap();

    // Predict, then build in the VM.
    let predicted = kiln(&["image", "measure", "--platform", "sim", "--image", s(&img)]);
    assert!(predicted.status.success());
    let hex = last_hex(&predicted.stdout);
    let reference = d.path().join("reference.json");
    let json = kiln(&[
        "image",
        "measure",
        "--platform",
        "sim",
        "--image",
        s(&img),
        "--json",
    ]);
    std::fs::write(&reference, &json.stdout).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["platform"], "sim");
    assert_eq!(doc["measurements"]["measurement"], hex.as_str());

    let out = d.path().join("out");
    let example = root().join("examples/c-hello");
    let b = kiln(&[
        "build",
        s(&example),
        "--backend",
        "qemu",
        "--image",
        s(&img),
        "--out",
        s(&out),
        "--json",
    ]);
    assert!(b.status.success(), "kiln build --backend qemu failed");
    assert!(out.join("artifacts/hello").is_file());
    let summary: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(summary["measurement"]["measurement"], hex.as_str());
    assert!(stray_qemu().is_empty(), "{:?}", stray_qemu());

    // The provenance names what determined the measurement.
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("provenance.sigstore.json")).unwrap())
            .unwrap();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let deps = statement["predicate"]["runDetails"]["builder"]["builderDependencies"]
        .as_array()
        .unwrap()
        .clone();
    let digest_of = |name: &str| {
        deps.iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {deps:?}"))["digest"]["sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (name, file) in [
        ("kernel", "vmlinux"),
        ("initrd", "initrd.cpio"),
        ("cmdline", "cmdline"),
    ] {
        let want = kiln_image::image::sha256_file(&img.join(file)).unwrap().1;
        assert_eq!(digest_of(name), hex::encode(want), "{name}");
    }

    // Accepted against the prediction, given three ways.
    for expect in [
        vec!["--expect-measurement", hex.as_str()],
        vec!["--reference", s(&reference)],
        vec!["--reference", s(&img)],
    ] {
        let mut args = vec!["verify", s(&out), "--allow-simulated"];
        args.extend(expect);
        assert!(kiln(&args).status.success(), "{args:?}");
    }

    // Refused against the image with a one-byte change to its command line.
    let other = d.path().join("img2");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["vmlinuz", "vmlinux", "initrd.cpio"] {
        std::fs::copy(img.join(f), other.join(f)).unwrap();
    }
    let mut cmdline = std::fs::read(img.join("cmdline")).unwrap();
    *cmdline.last_mut().unwrap() ^= 0x20;
    std::fs::write(other.join("cmdline"), &cmdline).unwrap();
    let json2 = kiln(&[
        "image",
        "measure",
        "--platform",
        "sim",
        "--image",
        s(&other),
        "--json",
    ]);
    let reference2 = d.path().join("reference2.json");
    std::fs::write(&reference2, &json2.stdout).unwrap();
    assert_ne!(
        last_hex(
            &kiln(&[
                "image",
                "measure",
                "--platform",
                "sim",
                "--image",
                s(&other)
            ])
            .stdout
        ),
        hex
    );
    for r in [&reference2, &other] {
        let v = kiln(&["verify", s(&out), "--allow-simulated", "--reference", s(r)]);
        assert_eq!(
            v.status.code(),
            Some(1),
            "a changed command line must be refused"
        );
        let text = String::from_utf8_lossy(&v.stdout);
        assert!(text.contains("BROKEN expectation"), "{text}");
    }

    // A policy whose expected measurement comes from the reference file or the image folder
    // (not a literal) accepts the build; pointing it at the changed image rejects it (exit 3).
    let starter = kiln(&["policy", "init", s(&out), "--allow-simulated"]);
    assert!(
        starter.status.success(),
        "{}",
        String::from_utf8_lossy(&starter.stderr)
    );
    let starter = String::from_utf8(starter.stdout).unwrap();
    let without_literal: String = starter
        .lines()
        .filter(|l| !l.starts_with("measurement = "))
        .map(|l| format!("{l}\n"))
        .collect();
    for (from, code) in [(&reference, 0), (&img, 0), (&reference2, 3), (&other, 3)] {
        let policy = without_literal.replace(
            "[sev-snp]\n",
            &format!("[sev-snp]\nmeasurement_from = {:?}\n", s(from)),
        );
        assert!(policy.contains("measurement_from"), "{policy}");
        let path = d.path().join("policy.toml");
        std::fs::write(&path, &policy).unwrap();
        let v = kiln(&["verify", s(&out), "--allow-simulated", "--policy", s(&path)]);
        assert_eq!(
            v.status.code(),
            Some(code),
            "{from:?}: {}",
            String::from_utf8_lossy(&v.stdout)
        );
    }
}

/// An image folder with the real kernel and command line and a busybox `/init` script.
fn fault_image(dir: &Path, init: &str) -> PathBuf {
    let img = image();
    let (recipe, cache, _) = prepare_default(Toolchain::default_one()).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    for f in ["vmlinuz", "vmlinux", "cmdline", "image.json"] {
        std::fs::copy(img.join(f), dir.join(f)).unwrap();
    }
    let mut a = Archive::new();
    a.add_bytes("init", init.as_bytes().to_vec(), true).unwrap();
    let busybox = recipe
        .toolchain(DEFAULT_TOOLCHAIN)
        .unwrap()
        .root(&cache)
        .unwrap()
        .join("bin/busybox");
    a.add_file("bin/busybox", &busybox, true).unwrap();
    a.add_char_device("dev/console", 5, 1, 0o600).unwrap();
    std::fs::write(dir.join("initrd.cpio"), a.to_newc().unwrap()).unwrap();
    dir.to_path_buf()
}

fn failed_build(image: &Path, project: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "build",
        s(project),
        "--backend",
        "qemu",
        "--image",
        s(image),
        "--out",
        s(out),
    ];
    args.extend(extra);
    let b = kiln(&args);
    assert_eq!(b.status.code(), Some(1), "the build must fail");
    assert!(!out.exists(), "no output after a failed build");
    assert!(stray_qemu().is_empty(), "stray QEMU: {:?}", stray_qemu());
    String::from_utf8_lossy(&b.stderr).into_owned()
}

#[test]
fn guest_crashing_at_boot_is_reported_with_its_console() {
    let _vm = serial();
    let d = tempfile::tempdir().unwrap();
    let img = fault_image(
        &d.path().join("crash"),
        "#!/bin/busybox sh\necho kiln-test: init gives up\nexit 3\n",
    );
    let err = failed_build(
        &img,
        &root().join("examples/c-hello"),
        &d.path().join("out"),
        &[],
    );
    assert!(
        err.contains("the guest stopped before it was ready"),
        "{err}"
    );
    assert!(err.contains("console log: "), "{err}");
    // The log it names holds what the guest printed.
    let console = console_named_in(&err);
    assert!(console.contains("kiln-test: init gives up"), "{console}");
    assert!(err.contains("after a kernel panic"), "{err}");
}

#[test]
fn guest_hanging_at_boot_is_killed_at_the_timeout() {
    let _vm = serial();
    let d = tempfile::tempdir().unwrap();
    let img = fault_image(
        &d.path().join("hang"),
        "#!/bin/busybox sh\nwhile :; do /bin/busybox sleep 1; done\n",
    );
    let started = std::time::Instant::now();
    let err = failed_build(
        &img,
        &root().join("examples/c-hello"),
        &d.path().join("out"),
        &["--timeout", "8"],
    );
    assert!(
        err.contains("did not become ready (no hello) within 8 s"),
        "{err}"
    );
    assert!(started.elapsed().as_secs() < 60);
}

/// The VM goes away in the middle of a build (the host kills QEMU once the build has
/// started): a clear error naming the stopped VM and its console log, no output, no stray QEMU.
#[test]
fn guest_going_away_mid_build_is_a_clear_error() {
    let img = image();
    let _vm = serial();
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("kiln.toml"),
        "[build]\ncommand = \"echo going; sleep 60\"\noutputs = [\"x\"]\n\n[limits]\ntime = \"2m\"\n",
    )
    .unwrap();
    let out = d.path().join("out");
    let log = d.path().join("kiln.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "build",
            s(&project),
            "--backend",
            "qemu",
            "--image",
            s(&img),
            "--out",
            s(&out),
        ])
        .env("KILN_STATE_DIR", state())
        .env("KILN_ENCLAVE_STATIC", static_enclave())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("going")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the build never started"
        );
        assert!(child.try_wait().unwrap().is_none(), "kiln ended early");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for pid in qemu_pids() {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    let status = child.wait().unwrap();
    let err = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("the build session failed"), "{err}");
    assert!(err.contains("the VM stopped"), "{err}");
    assert!(err.contains("console log: "), "{err}");
    assert!(!out.exists(), "no output after a failed build");
    assert!(stray_qemu().is_empty(), "stray QEMU: {:?}", stray_qemu());
}

/// `kiln build --backend qemu` of `project` into `out`, which must succeed and verify against
/// the image's reference; returns the artifact `x`.
/// The console log that kiln's stderr names (`console log PATH` in the launch report, or
/// `console log: PATH;` in an error), read.
fn console_named_in(stderr: &str) -> String {
    let path = stderr
        .split("console log")
        .nth(1)
        .and_then(|t| t.trim_start_matches(':').split_whitespace().next())
        .map(|t| t.trim_end_matches(';'))
        .unwrap_or_else(|| panic!("no console log named in {stderr}"));
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The in-toto Statement an output's bundle signs.
fn signed_statement(out: &Path) -> serde_json::Value {
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("provenance.sigstore.json")).unwrap())
            .unwrap();
    let payload = kiln_verifier::build_output::dsse::decode_base64(
        bundle["dsseEnvelope"]["payload"].as_str().unwrap(),
    )
    .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

fn vm_build_verified(img: &Path, project: &Path, out: &Path) -> String {
    let b = kiln(&[
        "build",
        s(project),
        "--backend",
        "qemu",
        "--image",
        s(img),
        "--out",
        s(out),
    ]);
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let v = kiln(&["verify", s(out), "--allow-simulated", "--reference", s(img)]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
    std::fs::read_to_string(out.join("artifacts/x")).unwrap()
}

/// A hostile build in the guest tries to power the VM off, reach the TEE interfaces, the
/// virtio ports and PID 1's memory: it cannot, the build goes on, and its output verifies and
/// is honest.
#[test]
fn a_hostile_build_in_the_guest_reaches_neither_the_tee_nor_init() {
    let img = image();
    let _vm = serial();
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let script = r#": > x
poweroff -f 2>/dev/null; echo still-running >> x
for f in /dev/sev-guest /dev/tdx_guest /dev/nsm /sys/kernel/config /dev/virtio-ports /dev/vport1p1; do [ -e $f ] && echo SEEN $f >> x; done
for p in /proc/[0-9]*; do head -c 1 $p/mem >/dev/null 2>&1 && echo MEM $p >> x; done
grep -l kiln-enclave /proc/[0-9]*/cmdline >/dev/null 2>&1 && echo ENCLAVE-VISIBLE >> x
echo uid $(id -u) >> x
echo dev $(ls -A /dev | sort | tr '\n' ' ') >> x
"#;
    std::fs::write(project.join("build.sh"), script).unwrap();
    std::fs::write(
        project.join("kiln.toml"),
        "[build]\ncommand = \"sh build.sh\"\noutputs = [\"x\"]\n",
    )
    .unwrap();
    let out = d.path().join("out");
    let x = vm_build_verified(&img, &project, &out);
    assert_eq!(
        x,
        "still-running\nuid 1000\ndev fd full null random shm stderr stdin stdout urandom zero\n",
        "{x}"
    );
    // In the guest the build has its own cgroup: memory and process limits, signed.
    let st = signed_statement(&out);
    let sb = &st["predicate"]["buildDefinition"]["internalParameters"]["sandbox"];
    assert_eq!(sb["cgroup"], "v2", "{sb}");
    assert_eq!(sb["complete"], true, "{sb}");
    assert!(sb["limits"]["memoryBytes"].as_u64().unwrap() > 0, "{sb}");
}

/// In the guest, the build's own syscalls cannot reach PID 1 or the enclave (ptrace,
/// process_vm_readv, pidfd_open/pidfd_getfd), it has no network (TCP to the host's address,
/// vsock to the host), and a daemon it leaves is killed before the outputs are hashed: the
/// build succeeds, and its output verifies and is honest.
#[test]
fn a_hostile_build_in_the_guest_gets_no_syscall_no_network_and_leaves_no_daemon() {
    let img = image();
    let _vm = serial();
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("attack.c"),
        r#"#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
static void rep(const char *what, long r) { printf("%s %s\n", what, r < 0 ? "refused" : "WORKED"); }
int main(void) {
  char buf[16];
  struct iovec l = {buf, sizeof buf}, r = {(void *)0x400000, sizeof buf};
  rep("ptrace", ptrace(PTRACE_ATTACH, 1, 0, 0));
  rep("process_vm_readv", syscall(SYS_process_vm_readv, 1, &l, 1, &r, 1, 0));
  long fd = syscall(SYS_pidfd_open, 1, 0);
  rep("pidfd_open", fd);
  rep("pidfd_getfd", syscall(SYS_pidfd_getfd, fd < 0 ? 0 : fd, 3, 0));
  int v = socket(AF_VSOCK, SOCK_STREAM, 0);
  struct sockaddr_vm va = {.svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = 1024};
  rep("vsock", v < 0 ? -1 : connect(v, (struct sockaddr *)&va, sizeof va));
  int t = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in ta = {.sin_family = AF_INET, .sin_port = htons(22)};
  inet_pton(AF_INET, "10.0.2.2", &ta.sin_addr);
  rep("tcp", t < 0 ? -1 : connect(t, (struct sockaddr *)&ta, sizeof ta));
  return 0;
}
"#,
    )
    .unwrap();
    std::fs::write(
        project.join("build.sh"),
        // The daemon waits for the build's shell to end, then appends for ever: had it
        // outlived the build, the output the enclave reads would say so.
        "cc -o attack attack.c && ./attack > x\n\
         main=$$\n\
         (setsid sh -c \"while kill -0 $main 2>/dev/null; do :; done; \
         while :; do echo TAMPERED >> x; done\" &)\n",
    )
    .unwrap();
    std::fs::write(
        project.join("kiln.toml"),
        "[build]\ncommand = \"sh build.sh\"\noutputs = [\"x\"]\n",
    )
    .unwrap();
    let out = d.path().join("out");
    let x = vm_build_verified(&img, &project, &out);
    assert_eq!(
        x,
        "ptrace refused\nprocess_vm_readv refused\npidfd_open refused\npidfd_getfd refused\n\
         vsock refused\ntcp refused\n",
        "{x}"
    );
}

/// A guest build of a project made of `files` (name, content) that must fail; returns its
/// stderr.
fn failing_guest_build(files: &[(&str, &str)]) -> String {
    let img = image();
    let _vm = serial();
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    for (name, content) in files {
        std::fs::write(project.join(name), content).unwrap();
    }
    failed_build(&img, &project, &d.path().join("out"), &[])
}

/// A build that fills its disk in the guest fills the guest's size-limited tmpfs, not the
/// host: the write fails, the build fails with the reason, and the guest lives to say so.
#[test]
fn a_build_that_fills_its_disk_in_the_guest_fails_the_build_not_the_guest() {
    let err = failing_guest_build(&[(
        "kiln.toml",
        "[build]\ncommand = \"cat /dev/zero > fill; echo survived > x\"\noutputs = [\"x\"]\n",
    )]);
    assert!(
        err.contains("No space left on device") || err.contains("the build ran out of memory"),
        "{err}"
    );
    assert!(err.contains("the build command failed"), "{err}");
}

/// A build that touches more memory than the guest has is killed inside its cgroup: the
/// build fails with a clear reason, and the guest (the enclave) lives to report it.
#[test]
fn a_memory_hog_in_the_guest_fails_the_build_not_the_guest() {
    let err = failing_guest_build(&[
        (
            "hog.c",
            "#include <stdlib.h>\n#include <string.h>\nint main(void){for(int i=0;i<64;i++){char*p=malloc(32<<20);if(!p)return 2;memset(p,1,32<<20);}return 0;}\n",
        ),
        (
            "kiln.toml",
            "[build]\ncommand = \"cc -o hog hog.c && ./hog && echo survived > x\"\noutputs = [\"x\"]\n",
        ),
    ]);
    assert!(err.contains("the build ran out of memory"), "{err}");
}

fn qemu_pids() -> Vec<u32> {
    let needle = state().to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains("qemu-system") && cmd.contains(&needle)).then_some(pid)
        })
        .collect()
}

/// `kiln image measure --platform tdx`: RTMR1 and RTMR2 predicted from the image's kernel,
/// initrd and command line (the values `kiln_image::tdx_boot` computes), MRTD and RTMR0 only
/// as the caller gives them, and the reference says which is which.
#[test]
fn tdx_reference_predicts_rtmr1_and_rtmr2_and_takes_mrtd_and_rtmr0_from_the_caller() {
    let img = image();
    let measure = |extra: &[&str]| {
        let mut args = vec!["image", "measure", "--platform", "tdx", "--image", s(&img)];
        args.extend_from_slice(extra);
        args.push("--json");
        let o = kiln(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let doc = measure(&["--memory", "4096"]);
    let m = &doc["measurements"];
    let predicted = kiln_image::tdx_boot::predict(
        &std::fs::read(img.join("vmlinuz")).unwrap(),
        &std::fs::read(img.join("initrd.cpio")).unwrap(),
        std::fs::read_to_string(img.join("cmdline"))
            .unwrap()
            .trim_end(),
        4096 << 20,
    )
    .unwrap();
    assert_eq!(m["rtmr1"], hex::encode(predicted.rtmr1));
    assert_eq!(m["rtmr2"], hex::encode(predicted.rtmr2));
    assert!(m.get("mrtd").is_none() && m.get("rtmr0").is_none(), "{m}");
    assert_eq!(
        doc["launch"]["missing"],
        serde_json::json!(["mrtd", "rtmr0"])
    );
    assert_eq!(
        doc["launch"]["events"]["rtmr1"].as_array().unwrap().len(),
        5
    );

    let (mrtd, rtmr0) = ("11".repeat(48), "22".repeat(48));
    let doc = measure(&["--memory", "4096", "--mrtd", &mrtd, "--rtmr0", &rtmr0]);
    assert_eq!(doc["measurements"]["mrtd"], mrtd.as_str());
    assert_eq!(doc["measurements"]["rtmr0"], rtmr0.as_str());
    assert_eq!(doc["measurements"]["rtmr1"], m["rtmr1"]);
    assert_eq!(
        doc["launch"]["givenByCaller"],
        serde_json::json!(["mrtd", "rtmr0"])
    );

    // Less memory than 2.75 GiB moves the initrd QEMU writes into the setup header: RTMR1.
    let small = measure(&["--memory", "1024"]);
    assert_ne!(small["measurements"]["rtmr1"], m["rtmr1"]);
    assert_eq!(small["measurements"]["rtmr2"], m["rtmr2"]);

    for bad in [&["--mrtd", "xyz"][..], &["--rtmr0", "abcd"][..]] {
        let mut args = vec!["image", "measure", "--platform", "tdx", "--image", s(&img)];
        args.extend_from_slice(bad);
        let o = kiln(&args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// A copy of the test image; with `flip`, one byte of its toolchain disk is changed at that
/// offset, with `cmdline` its command line is replaced.
fn image_copy(dir: &Path, flip: Option<usize>, cmdline: Option<&str>) -> PathBuf {
    let img = image();
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(&img).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    if let Some(at) = flip {
        let disk = dir.join("toolchain.img");
        let mut bytes = std::fs::read(&disk).unwrap();
        bytes[at] ^= 0x01;
        std::fs::write(&disk, bytes).unwrap();
    }
    if let Some(c) = cmdline {
        std::fs::write(dir.join("cmdline"), c).unwrap();
    }
    dir.to_path_buf()
}

/// The guest's userland is the image's toolchain disk, opened with dm-verity against the root
/// hash on the measured command line: the build runs and verifies, and the console says the
/// disk was mounted. The disk with one changed byte is refused at boot with the kernel's and
/// /init's reasons, and no output is written. A command line naming another root hash is
/// another measurement.
#[test]
fn the_toolchain_disk_is_verified_by_the_guest_and_a_changed_byte_is_refused() {
    let _vm = serial();
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("kiln.toml"),
        "[build]\ncommand = \"echo built > x\"\noutputs = [\"x\"]\n",
    )
    .unwrap();
    let img = image();
    let cmdline = std::fs::read_to_string(img.join("cmdline")).unwrap();
    assert!(cmdline.contains(" kiln.toolchain=vda,"), "{cmdline}");
    assert!(std::fs::metadata(img.join("initrd.cpio")).unwrap().len() < 16 << 20);

    let out = d.path().join("out");
    let b = kiln(&[
        "build",
        s(&project),
        "--backend",
        "qemu",
        "--image",
        s(&img),
        "--out",
        s(&out),
    ]);
    let err = String::from_utf8_lossy(&b.stderr).into_owned();
    assert!(b.status.success(), "{err}");
    let console = console_named_in(&err);
    assert!(
        console.contains("toolchain c (") && console.contains("from disk vda at /toolchain"),
        "{console}"
    );
    let v = kiln(&[
        "verify",
        s(&out),
        "--allow-simulated",
        "--reference",
        s(&img),
    ]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
    // The signed provenance names the disk the guest verified, by its root hash.
    let st = signed_statement(&out);
    let deps = st["predicate"]["runDetails"]["builder"]["builderDependencies"]
        .as_array()
        .unwrap();
    let root = cmdline
        .split("kiln.toolchain=vda,")
        .nth(1)
        .and_then(|r| r.split(',').nth(1))
        .unwrap();
    assert!(
        deps.iter()
            .any(|d| d["uri"] == "kiln:toolchain/c" && d["digest"]["dmVeritySha256Root"] == root),
        "{deps:?}"
    );

    // A byte of the SquashFS superblock, the first block read at mount.
    let bad = image_copy(&d.path().join("bad"), Some(40), None);
    let err = failed_build(&bad, &project, &d.path().join("out-bad"), &[]);
    let console = console_named_in(&err);
    assert!(console.contains("is corrupted"), "{console}");
    assert!(
        console.contains("setup failed: toolchain disk:"),
        "{console}"
    );

    // A byte in the middle of the filesystem (file data, not read at mount): the guest boots,
    // and the block fails when the build reads it.
    let blocks: usize = cmdline
        .split("kiln.toolchain=vda,")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|b| b.parse().ok())
        .unwrap();
    let reader = d.path().join("reader");
    std::fs::create_dir_all(&reader).unwrap();
    std::fs::write(
        reader.join("kiln.toml"),
        "[build]\ncommand = \"find /usr /bin /lib -xdev -type f -exec cat {} + > /dev/null && echo read > x\"\noutputs = [\"x\"]\n",
    )
    .unwrap();
    let mid = image_copy(&d.path().join("mid"), Some(blocks * 4096 / 2 + 123), None);
    let err = failed_build(&mid, &reader, &d.path().join("out-mid"), &[]);
    let console = console_named_in(&err);
    assert!(console.contains("is corrupted"), "{console}\n{err}");

    // Another root hash on the command line: another measurement.
    let root_at = cmdline.find("kiln.toolchain=vda,").unwrap() + "kiln.toolchain=vda,".len();
    let mut other = cmdline.clone();
    let comma = other[root_at..].find(',').unwrap() + root_at + 1;
    let flipped = if &other[comma..=comma] == "0" {
        "1"
    } else {
        "0"
    };
    other.replace_range(comma..=comma, flipped);
    let other_img = image_copy(&d.path().join("other"), None, Some(&other));
    let m = |dir: &Path| kiln(&["image", "measure", "--platform", "sim", "--image", s(dir)]).stdout;
    assert_ne!(m(&img), m(&other_img));
}

#[test]
fn rust_examples_build_in_the_vm_from_the_rust_toolchain_image_and_verify_against_its_prediction() {
    let img = rust_image();
    let _vm = serial();
    let d = tempfile::tempdir().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(img.join("image.json")).unwrap()).unwrap();
    assert_eq!(manifest["toolchain"], "rust");
    assert_eq!(manifest["local_kernel"], "vmlinux");
    let root_hash = manifest["toolchain_disk_root"].as_str().unwrap().to_owned();
    let reference = d.path().join("reference.json");
    let json = kiln(&[
        "image",
        "measure",
        "--platform",
        "sim",
        "--image",
        s(&img),
        "--json",
    ]);
    assert!(json.status.success());
    std::fs::write(&reference, &json.stdout).unwrap();
    let recipe = kiln_image::recipe::Recipe::builtin().unwrap();
    let rustc = recipe.toolchain("rust").unwrap();
    let rustc = rustc.deb.iter().find(|p| p.package == "rustc-web").unwrap();

    for (example, artifact, locked) in [
        ("rust-hello", "target/release/rust-hello", &[][..]),
        (
            "rust-grep",
            "target/release/rust-grep",
            &["regex", "regex-automata", "memchr"][..],
        ),
    ] {
        let out = d.path().join(example);
        let b = kiln(&[
            "build",
            s(&root().join("examples").join(example)),
            "--backend",
            "qemu",
            "--image",
            s(&img),
            "--out",
            s(&out),
        ]);
        assert!(
            b.status.success(),
            "{example}: kiln build --backend qemu failed"
        );
        let v = kiln(&[
            "verify",
            s(&out),
            "--allow-simulated",
            "--reference",
            s(&reference),
        ]);
        assert!(
            v.status.success(),
            "{example}: not accepted against the prediction"
        );

        // The statement names the toolchain image (its root hash) and its Debian packages,
        // besides the crates of Cargo.lock.
        let statement = signed_statement(&out);
        let builder = statement["predicate"]["runDetails"]["builder"]["builderDependencies"]
            .as_array()
            .unwrap()
            .clone();
        let image_dep = builder
            .iter()
            .find(|d| d["uri"] == "kiln:toolchain/rust")
            .unwrap_or_else(|| panic!("{example}: no kiln:toolchain/rust in {builder:?}"));
        assert_eq!(
            image_dep["digest"]["dmVeritySha256Root"],
            root_hash.as_str()
        );
        let resolved = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
            .as_array()
            .unwrap()
            .clone();
        let uris: Vec<&str> = resolved.iter().filter_map(|d| d["uri"].as_str()).collect();
        let rustc_dep = resolved
            .iter()
            .find(|d| {
                d["uri"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("pkg:deb/debian/rustc-web@"))
            })
            .unwrap_or_else(|| panic!("{example}: no rustc-web in {uris:?}"));
        assert_eq!(rustc_dep["digest"]["sha256"], rustc.sha256.as_str());
        assert_eq!(rustc_dep["annotations"]["toolchain"], "rust");
        for krate in locked {
            assert!(
                uris.iter()
                    .any(|u| u.starts_with(&format!("pkg:cargo/{krate}@"))),
                "{example}: no {krate} in {uris:?}"
            );
        }
        assert!(
            out.join("artifacts").join(artifact).is_file(),
            "{example}: no {artifact}"
        );
        // Its SBOMs list the image's Debian packages with the recipe's versions and digests.
        let mut want: Vec<(String, String, String)> = recipe
            .toolchain("rust")
            .unwrap()
            .deb
            .iter()
            .map(|p| (p.package.clone(), p.version.clone(), p.sha256.clone()))
            .collect();
        want.sort();
        for format in ["spdx", "cyclonedx"] {
            let o = kiln(&[
                "sbom",
                s(&out),
                "--format",
                format,
                "--allow-simulated",
                "--reference",
                s(&reference),
            ]);
            assert!(o.status.success(), "{example}: kiln sbom --format {format}");
            let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(deb_packages(&doc), want, "{example} {format}");
        }
    }

    // The binary Debian's rustc built in the guest runs here (same glibc as bookworm).
    let grep = d
        .path()
        .join("rust-grep/artifacts/target/release/rust-grep");
    let input = d.path().join("input.txt");
    std::fs::write(&input, "alpha\nbeta\ngamma\n").unwrap();
    let run = Command::new(&grep)
        .args(["^[bg]", s(&input)])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).lines().count(), 2);

    // The host will not boot an image with another toolchain than the recipe names ...
    let c_out = d.path().join("c-on-rust");
    let refused = kiln(&[
        "build",
        s(&root().join("examples/c-hello")),
        "--backend",
        "qemu",
        "--image",
        s(&img),
        "--out",
        s(&c_out),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(
        text.contains("carries toolchain \"rust\"") && text.contains("image is \"c\""),
        "{text}"
    );
    assert!(!c_out.exists());
    // ... and a host that lies about it (image.json says c) meets the guest's own check: the
    // recipe comes from the source, the toolchain's name from the verified disk.
    let liar = d.path().join("liar");
    std::fs::create_dir_all(&liar).unwrap();
    for f in [
        "vmlinuz",
        "vmlinux",
        "initrd.cpio",
        "cmdline",
        "toolchain.img",
    ] {
        std::fs::copy(img.join(f), liar.join(f)).unwrap();
    }
    let lie = std::fs::read_to_string(img.join("image.json"))
        .unwrap()
        .replace("\"toolchain\": \"rust\"", "\"toolchain\": \"c\"");
    std::fs::write(liar.join("image.json"), lie).unwrap();
    let fooled = kiln(&[
        "build",
        s(&root().join("examples/c-hello")),
        "--backend",
        "qemu",
        "--image",
        s(&liar),
        "--out",
        s(&c_out),
    ]);
    assert!(!fooled.status.success());
    let text = String::from_utf8_lossy(&fooled.stderr);
    assert!(
        text.contains("this guest booted with the \"rust\" toolchain image"),
        "{text}"
    );
    assert!(!c_out.exists(), "no output from a refused build");
    assert!(stray_qemu().is_empty(), "{:?}", stray_qemu());
}

/// (name, version, SHA-256) of every `pkg:deb` package of an SPDX or CycloneDX document, sorted.
fn deb_packages(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    let spdx = doc.get("spdxVersion").is_some();
    let items: Vec<&serde_json::Value> = if spdx {
        doc["packages"].as_array().unwrap().iter().collect()
    } else {
        doc["formulation"][0]["components"]
            .as_array()
            .unwrap()
            .iter()
            .collect()
    };
    let mut out: Vec<(String, String, String)> = items
        .into_iter()
        .filter_map(|p| {
            let (purl, version, sha) = if spdx {
                (
                    p["externalRefs"][0]["referenceLocator"].as_str()?,
                    p["versionInfo"].as_str()?,
                    p["checksums"][0]["checksumValue"].as_str()?,
                )
            } else {
                (
                    p["purl"].as_str()?,
                    p["version"].as_str()?,
                    p["hashes"][0]["content"].as_str()?,
                )
            };
            purl.starts_with("pkg:deb/debian/").then(|| {
                (
                    p["name"].as_str().unwrap_or_default().to_owned(),
                    version.to_owned(),
                    sha.to_owned(),
                )
            })
        })
        .collect();
    out.sort();
    out
}
