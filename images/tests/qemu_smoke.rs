//! Boots the pinned kernel in QEMU with a tiny initramfs whose /init (busybox-static from the
//! pinned toolchain) writes a line to the `kiln.control` virtio-serial port and powers off.
//! Checks the line, prints boot-to-ready, and that no QEMU process remains on any path
//! (normal exit, drop of a running guest, hang + timeout, crash at boot).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_image::initramfs::Archive;
use kiln_image::inputs::{prepare_default, Toolchain};
use kiln_image::qemu_process::{self as qemu, Accel, VmConfig};
use kiln_image::recipe::Recipe;
use kiln_image::recipe::DEFAULT_TOOLCHAIN;

fn fetch() -> (Recipe, PathBuf) {
    let (recipe, cache, _) =
        prepare_default(Toolchain::default_one()).expect("fetch the recipe's inputs");
    (recipe, cache)
}

const READY_INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs devtmpfs /dev
for p in /sys/class/virtio-ports/*; do
  [ "$(/bin/busybox cat $p/name)" = kiln.control ] && dev=/dev/${p##*/}
done
read up idle < /proc/uptime
# One open for both directions: the kernel drops host data for a port no one has open.
exec 3<>$dev
echo "kiln-ready uptime=$up" >&3
# Wait for the host's ack so the line is out of the virtqueue before power-off.
read ack <&3
/bin/busybox poweroff -f
"#;

const HANG_INIT: &str = "#!/bin/busybox sh\nwhile :; do /bin/busybox sleep 1; done\n";
const CRASH_INIT: &str = "#!/bin/busybox sh\nexit 1\n";

fn tiny_initrd(dir: &Path, cache: &Path, recipe: &Recipe, init: &str) -> PathBuf {
    let mut a = Archive::new();
    a.add_bytes("init", init.as_bytes().to_vec(), true).unwrap();
    a.add_file(
        "bin/busybox",
        &recipe
            .toolchain(DEFAULT_TOOLCHAIN)
            .unwrap()
            .root(cache)
            .unwrap()
            .join("bin/busybox"),
        true,
    )
    .unwrap();
    a.add_char_device("dev/console", 5, 1, 0o600).unwrap();
    a.add_dir("sys").unwrap();
    a.add_dir("proc").unwrap();
    let p = dir.join("initrd.cpio");
    std::fs::write(&p, a.to_newc().unwrap()).unwrap();
    p
}

fn config(dir: &Path, kernel: PathBuf, initrd: PathBuf, cmdline: &str, accel: Accel) -> VmConfig {
    VmConfig {
        qemu: PathBuf::from("qemu-system-x86_64"),
        kernel,
        initrd,
        cmdline: cmdline.into(),
        memory_mib: 512,
        vcpus: 1,
        accel,
        control_socket: dir.join("control.sock"),
        device_socket: dir.join("device.sock"),
        console_log: dir.join("console.log"),
        disks: Vec::new(),
    }
}

/// A TCG guest of the pinned kernel and command line booting a busybox initrd whose /init
/// is `init`, with its files in `dir`.
fn tiny_vm(dir: &Path, cache: &Path, recipe: &Recipe, init: &str) -> VmConfig {
    let initrd = tiny_initrd(dir, cache, recipe, init);
    config(
        dir,
        recipe.kernel_dir(cache).join("vmlinuz"),
        initrd,
        &recipe.kernel.cmdline,
        Accel::Tcg,
    )
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie would show state Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

fn boot_once(recipe: &Recipe, cache: &Path, accel: Accel) -> Duration {
    let d = tempfile::tempdir().unwrap();
    let kernel = recipe.kernel_dir(cache).join("vmlinuz");
    let initrd = tiny_initrd(d.path(), cache, recipe, READY_INIT);
    let c = config(d.path(), kernel, initrd, &recipe.kernel.cmdline, accel);
    let mut vm = qemu::launch(&c, Duration::from_secs(10)).unwrap();
    let pid = vm.guard.pid().unwrap();
    vm.control
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(&vm.control).read_line(&mut line).unwrap();
    let ready = vm.guard.started.elapsed();
    std::io::Write::write_all(&mut &vm.control, b"bye\n").unwrap();
    assert!(
        line.starts_with("kiln-ready"),
        "got {line:?}; console: {}",
        std::fs::read_to_string(&c.console_log).unwrap_or_default()
    );
    let status = vm.guard.wait_timeout(Duration::from_secs(60)).unwrap();
    assert!(status.success() || status.code().is_some(), "{status}");
    assert!(!alive(pid), "no qemu process remains");
    eprintln!(
        "boot-to-ready under {}: {} ms (guest: {})",
        accel.as_str(),
        ready.as_millis(),
        line.trim()
    );
    ready
}

#[test]
fn boots_pinned_kernel_and_reports_ready() {
    let (recipe, cache) = fetch();
    let scratch = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (accel, why) = qemu::detect_accel(
        Path::new("qemu-system-x86_64"),
        &recipe.kernel_dir(&cache).join("vmlinuz"),
        scratch.path(),
        Duration::from_secs(10),
    );
    eprintln!(
        "accelerator: {} ({why}; probe {} ms)",
        accel.as_str(),
        t.elapsed().as_millis()
    );
    let tcg = boot_once(&recipe, &cache, Accel::Tcg);
    assert!(tcg < Duration::from_secs(60));
    if accel == Accel::Kvm {
        boot_once(&recipe, &cache, Accel::Kvm);
    }
}

#[test]
fn tcg_probe_runs_and_nothing_is_left_behind() {
    let scratch = tempfile::tempdir().unwrap();
    assert!(qemu::probe_accel(
        Path::new("qemu-system-x86_64"),
        Accel::Tcg,
        scratch.path(),
        Duration::from_secs(20)
    )
    .unwrap());
    let (recipe, cache) = fetch();
    let kernel = recipe.kernel_dir(&cache).join("vmlinuz");
    let t = Instant::now();
    assert!(qemu::probe_kernel(
        Path::new("qemu-system-x86_64"),
        Accel::Tcg,
        &kernel,
        scratch.path(),
        Duration::from_secs(60)
    )
    .unwrap());
    eprintln!("TCG kernel probe: {} ms", t.elapsed().as_millis());
}

#[test]
fn hang_times_out_and_drop_kills_the_guest() {
    let (recipe, cache) = fetch();
    let d = tempfile::tempdir().unwrap();
    let c = tiny_vm(d.path(), &cache, &recipe, HANG_INIT);
    let mut vm = qemu::launch(&c, Duration::from_secs(10)).unwrap();
    let pid = vm.guard.pid().unwrap();
    let e = vm
        .guard
        .wait_timeout(Duration::from_millis(1500))
        .unwrap_err();
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(!alive(pid));

    // Dropping a running guest kills it.
    let vm = qemu::launch(&c, Duration::from_secs(10)).unwrap();
    let pid = vm.guard.pid().unwrap();
    assert!(alive(pid));
    drop(vm);
    assert!(!alive(pid));
}

#[test]
fn crash_at_boot_ends_qemu() {
    let (recipe, cache) = fetch();
    let d = tempfile::tempdir().unwrap();
    let c = tiny_vm(d.path(), &cache, &recipe, CRASH_INIT);
    let mut vm = qemu::launch(&c, Duration::from_secs(10)).unwrap();
    let pid = vm.guard.pid().unwrap();
    // init exiting panics the kernel; panic=-1 + -no-reboot make QEMU exit.
    vm.guard.wait_timeout(Duration::from_secs(60)).unwrap();
    assert!(!alive(pid));
    let console = std::fs::read_to_string(&c.console_log).unwrap();
    assert!(console.contains("Attempted to kill init"), "{console}");
}

#[test]
fn qemu_start_failure_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let c = config(
        d.path(),
        d.path().join("no-kernel"),
        d.path().join("no-initrd"),
        "x",
        Accel::Tcg,
    );
    // QEMU may connect its channels before it loads the kernel: the failure shows either at
    // launch or as a quick exit, with QEMU's own message.
    match qemu::launch(&c, Duration::from_secs(10)) {
        Err(e) => assert!(e.to_string().contains("qemu exited at start-up"), "{e}"),
        Ok(mut vm) => {
            let st = vm.guard.wait_timeout(Duration::from_secs(10)).unwrap();
            assert!(!st.success());
            assert!(
                vm.guard.stderr_tail().contains("no-kernel"),
                "{}",
                vm.guard.stderr_tail()
            );
        }
    }
}
