//! Hostile builds on the sim backend: each project's own build script is the attacker, and
//! each must fail to get what it wants. Where the build still succeeds, its output must verify
//! and be honest. The attacks use python3 (ctypes for raw syscalls) from the system's `/usr`,
//! which the sandbox shows read-only.
//!
//! The sandbox (bubblewrap, see enclave/src/sandbox.rs) is required: these tests fail where it
//! cannot be set up, as `kiln build` does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{text, verify};

const NONCE: &str = "0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de";

/// A project whose build runs `script` (a POSIX shell script) and whose output is `out.txt`.
fn project(dir: &Path, script: &str, time: &str) -> PathBuf {
    let proj = dir.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(proj.join("build.sh"), script).unwrap();
    std::fs::write(
        proj.join("kiln.toml"),
        format!(
            "[build]\ncommand = \"sh build.sh\"\noutputs = [\"out.txt\"]\n\
             env = [\"PATH\", \"KILN_TEST_SECRET\"]\n\n[limits]\ntime = \"{time}\"\n"
        ),
    )
    .unwrap();
    proj
}

/// `kiln build` of `proj` (state in `state`, a secret in kiln's own environment).
fn build(proj: &Path, out: &Path, state: &Path) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(["build"])
        .arg(proj)
        .args(["--backend", "sim", "--nonce", NONCE, "--out"])
        .arg(out)
        .env("KILN_STATE_DIR", state)
        .env("KILN_ENCLAVE", common::enclave())
        .env("KILN_TEST_SECRET", "s3cr3t-from-the-host");
    cmd.output().unwrap()
}

struct Run {
    _dir: tempfile::TempDir,
    out: PathBuf,
    state: PathBuf,
    output: Output,
}

fn run(script: &str) -> Run {
    run_with_time(script, "60s")
}

fn run_with_time(script: &str, time: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let proj = project(dir.path(), script, time);
    let state = dir.path().join("state");
    let out = dir.path().join("out");
    let output = build(&proj, &out, &state);
    Run {
        _dir: dir,
        out,
        state,
        output,
    }
}

impl Run {
    /// Asserts the build succeeded and its output verifies; returns `out.txt`.
    fn report(&self) -> String {
        assert_eq!(self.output.status.code(), Some(0), "{}", text(&self.output));
        let v = verify(&self.out, &[], &self.state);
        assert_eq!(v.status.code(), Some(0), "{}", text(&v));
        std::fs::read_to_string(self.out.join("artifacts/out.txt")).unwrap()
    }
}

/// Python that calls a syscall through ctypes and prints `NAME errno` (0 = it worked).
fn syscall_probe(name: &str, nr: u32, args: &str) -> String {
    format!(
        "python3 -c 'import ctypes,os; l=ctypes.CDLL(None,use_errno=True); \
         r=l.syscall({nr},{args}); print(\"{name}\", 0 if r>=0 else ctypes.get_errno())' >> out.txt\n"
    )
}

#[test]
fn the_enclave_s_memory_and_descriptors_are_out_of_reach() {
    let mut script = String::from(
        "set -u\n: > out.txt\n\
         # Every process the build can see, and whether any is kiln-enclave.\n\
         for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline >> procs 2>/dev/null; echo >> procs; done\n\
         if grep -q kiln-enclave procs; then echo ENCLAVE-VISIBLE >> out.txt; fi\n\
         for p in /proc/[0-9]*; do if head -c 1 $p/mem >/dev/null 2>&1; then echo MEM-READ $p >> out.txt; fi; done\n\
         python3 -c 'import os; [print(\"fd\", f, os.readlink(\"/proc/self/fd/\" + f)) for f in os.listdir(\"/proc/self/fd\")]' >> out.txt 2>/dev/null\n",
    );
    // ptrace(PTRACE_ATTACH, 1), process_vm_readv(1, ...), pidfd_open(1), pidfd_getfd(0, 0),
    // bpf, perf_event_open, keyctl, mount, init_module, userfaultfd, io_uring_setup.
    for (name, nr, args) in [
        ("ptrace", 101, "16,1,0,0"),
        ("process_vm_readv", 310, "1,0,0,0,0,0"),
        ("pidfd_open", 434, "1,0"),
        ("pidfd_getfd", 438, "0,0,0"),
        ("bpf", 321, "0,0,0"),
        ("perf_event_open", 298, "0,0,-1,-1,0"),
        ("keyctl", 250, "0,0,0,0,0"),
        ("mount", 165, "0,0,0,0,0"),
        ("init_module", 175, "0,0,0"),
        ("userfaultfd", 323, "0"),
        ("io_uring_setup", 425, "1,0"),
        // The same through the x32 ABI (number | 0x40000000; x32's own ptrace and
        // process_vm_readv numbers): EPERM from the filter, not ENOSYS from the kernel.
        ("ptrace-x32", 0x4000_0000 | 521, "16,1,0,0"),
        ("pidfd_getfd-x32", 0x4000_0000 | 438, "0,0,0"),
        ("process_vm_readv-x32", 0x4000_0000 | 539, "1,0,0,0,0,0"),
    ] {
        script.push_str(&syscall_probe(name, nr, args));
    }
    let r = run(&script);
    let report = r.report();
    assert!(!report.contains("ENCLAVE-VISIBLE"), "{report}");
    assert!(!report.contains("MEM-READ"), "{report}");
    // What a build process holds: stdin (/dev/null), pipes, files of the build's own folder;
    // no socket (the enclave's channels to the host and the security processor), no pidfd.
    let fds: Vec<&str> = report.lines().filter(|l| l.starts_with("fd ")).collect();
    assert!(fds.len() >= 3, "{report}");
    for line in &fds {
        let target = line.splitn(3, ' ').nth(2).unwrap_or_default();
        assert!(
            target == "/dev/null"
                || target.starts_with("pipe:")
                || target.contains("/src/")
                || target.starts_with("/proc/"),
            "descriptor outside the build's reach: {line}\n{report}"
        );
    }
    for line in report.lines().filter(|l| !l.starts_with("fd ")) {
        let (name, errno) = line.split_once(' ').unwrap();
        assert_eq!(errno, "1", "{name} must fail with EPERM: {report}");
    }
}

#[test]
fn the_tee_interfaces_the_host_s_files_and_its_secrets_are_out_of_reach() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let script = format!(
        "set -u\n: > out.txt\n\
         for f in /dev/sev-guest /dev/tdx_guest /dev/nsm /sys/kernel/config/tsm /dev/virtio-ports \
         {state}/sim-chip {state}/keys /root /home; do [ -e $f ] && echo SEEN $f >> out.txt; done\n\
         find / -xdev -type s 2>/dev/null | grep -v '^/proc' | sed 's/^/SOCKET /' >> out.txt\n\
         env | grep -q s3cr3t && echo SECRET-IN-ENV >> out.txt\n\
         grep -rqs s3cr3t /proc/*/environ && echo SECRET-IN-PROC >> out.txt\n\
         echo id $(id -u) >> out.txt\n\
         echo dev $(ls -A /dev | sort | tr '\\n' ' ') >> out.txt\n\
         if touch /dev/planted 2>/dev/null; then echo WROTE-DEV >> out.txt; fi\n",
        state = state.display()
    );
    let proj = project(dir.path(), &script, "60s");
    let out = dir.path().join("out");
    let o = build(&proj, &out, &state);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report = std::fs::read_to_string(out.join("artifacts/out.txt")).unwrap();
    for bad in ["SEEN", "SOCKET", "SECRET", "WROTE-DEV"] {
        assert!(!report.contains(bad), "{report}");
    }
    assert!(report.contains("id 1000"), "{report}");
    // A minimal /dev: five devices, the standard links, a private shm; no tty, no pty.
    assert!(
        report
            .lines()
            .any(|l| l == "dev fd full null random shm stderr stdin stdout urandom zero"),
        "{report}"
    );
    assert!(
        state.join("sim-chip").exists(),
        "the state the build could not see exists"
    );
}

#[test]
fn the_network_and_host_sockets_are_out_of_reach() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let sock_dir = tempfile::tempdir_in("/tmp").unwrap();
    let sock = sock_dir.path().join("host.sock");
    let unix = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    unix.set_nonblocking(true).unwrap();
    let script = format!(
        ": > out.txt\n\
         python3 -c 'import socket; s=socket.socket(); s.settimeout(3); s.connect((\"127.0.0.1\",{port}))' \
         2>/dev/null && echo TCP-CONNECTED >> out.txt\n\
         python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.connect(\"{sock}\")' \
         2>/dev/null && echo UNIX-CONNECTED >> out.txt\n\
         echo done >> out.txt\n",
        sock = sock.display()
    );
    let r = run(&script);
    let report = r.report();
    assert_eq!(report, "done\n");
    assert!(
        listener.accept().is_err(),
        "nothing reached the host's listener"
    );
    assert!(unix.accept().is_err(), "nothing reached the host's socket");
}

#[test]
fn nothing_the_build_starts_outlives_it_or_touches_its_outputs() {
    let marker = format!("kiln-daemon-{}", std::process::id());
    // A setsid daemon that would rewrite the output after it was hashed, and a double-forked
    // sleeper; both carry the marker in their command lines (python's argv).
    let script = format!(
        "echo honest > out.txt\n\
         setsid python3 -c 'import sys,time; time.sleep(2); open(sys.argv[1],\"w\").write(\"tampered\\n\")' \
         $PWD/out.txt {marker} </dev/null >/dev/null 2>&1 &\n\
         ( ( python3 -c 'import time; time.sleep(60)' {marker} </dev/null >/dev/null 2>&1 & ) & )\n\
         sleep 0.5\n\
         [ $(pgrep -c -f {marker}) -ge 2 ] && echo both-alive-inside >> out.txt\n"
    );
    let r = run(&script);
    let report = r.report();
    assert_eq!(
        report, "honest\nboth-alive-inside\n",
        "the daemons ran during the build"
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    // No process with the marker survives the build anywhere on this machine.
    let mut survivors = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let mut cmdline = String::new();
        if let Ok(mut f) = std::fs::File::open(entry.path().join("cmdline")) {
            let _ = f.read_to_string(&mut cmdline);
        }
        if cmdline.contains(&marker) {
            survivors.push(cmdline);
        }
    }
    assert!(survivors.is_empty(), "{survivors:?}");
    assert_eq!(
        std::fs::read_to_string(r.out.join("artifacts/out.txt")).unwrap(),
        "honest\nboth-alive-inside\n"
    );
    let v = verify(&r.out, &[], &r.state);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
}

#[test]
fn writes_outside_the_work_folder_fail_and_symlinked_outputs_are_refused() {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let marker = format!("kiln-escape-{}", std::process::id());
    let script = format!(
        ": > out.txt\n\
         for f in /usr/{marker} /etc/{marker} {home}/{marker} /tmp/{marker}; do \
         echo x > $f 2>/dev/null && echo WROTE $f >> out.txt; done\n\
         echo done >> out.txt\n"
    );
    let r = run(&script);
    let report = r.report();
    // The sandbox's own /tmp is writable and private; nothing else is.
    assert_eq!(report, format!("WROTE /tmp/{marker}\ndone\n"));
    for p in [
        format!("/usr/{marker}"),
        format!("/etc/{marker}"),
        format!("{home}/{marker}"),
        format!("/tmp/{marker}"),
    ] {
        assert!(!Path::new(&p).exists(), "{p} exists on the host");
    }

    let r = run("ln -s /etc/passwd out.txt\n");
    assert_ne!(r.output.status.code(), Some(0), "{}", text(&r.output));
    assert!(text(&r.output).contains("symlink"), "{}", text(&r.output));
    assert!(!r.out.exists(), "no partial output");
}

#[test]
fn fork_bombs_memory_hogs_and_huge_files_fail_the_build_not_the_machine() {
    // Processes: with its own uid the build hits its process limit, the shell cannot fork,
    // and the build fails; kiln reports it, and nothing of it is left running.
    let marker = format!("kiln-bomb-{}", std::process::id());
    let r = run_with_time(
        &format!(
            "i=0; while [ $i -lt 9000 ]; do sh -c 'sleep 30; :' {marker} & i=$((i+1)); done; echo $i > out.txt\n"
        ),
        "60s",
    );
    if nix_is_root() {
        assert_eq!(r.output.status.code(), Some(1), "{}", text(&r.output));
        assert!(
            text(&r.output).contains("the build command failed"),
            "{}",
            text(&r.output)
        );
        assert!(!r.out.exists(), "no partial output");
    }
    let survivors = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&marker))
        })
        .count();
    assert_eq!(
        survivors, 0,
        "every forked process was killed with the build"
    );
    // Memory: an address-space reservation past the limit fails (nothing is touched, so a
    // missing limit would not hurt the machine either).
    let r = run(
        "python3 -c 'import mmap; mmap.mmap(-1, 17 << 30)' 2>/dev/null && echo MAPPED > out.txt || echo refused > out.txt\n",
    );
    assert_eq!(r.report(), "refused\n");
    // Disk: one file past the size limit (sparse: nothing is written).
    let r = run(
        "python3 -c 'f=open(\"big\",\"wb\"); f.truncate(9 << 30)' 2>/dev/null && echo GREW > out.txt || echo refused > out.txt\n",
    );
    assert_eq!(r.report(), "refused\n");
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
}
