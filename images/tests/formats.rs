//! newc writer and EIF writer: format checks against independent readers (GNU cpio, a Python
//! PCR script from the EIF specification) and reproducibility.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::path::Path;
use std::process::Command;

use kiln_image::eif::{parse_eif, write_eif, EifInputs, EifMetadata};
use kiln_image::initramfs::Archive;

fn sample_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
    std::fs::write(dir.join("usr/bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
    let mut p = std::fs::metadata(dir.join("usr/bin/tool"))
        .unwrap()
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o4775); // setuid + odd bits: normalised
    std::fs::set_permissions(dir.join("usr/bin/tool"), p).unwrap();
    std::fs::write(dir.join("usr/data.txt"), b"data").unwrap();
    std::os::unix::fs::symlink("bin/tool", dir.join("usr/link")).unwrap();
}

fn archive(init: &[u8], tree: &Path) -> Archive {
    let mut a = Archive::new();
    a.add_bytes("init", init.to_vec(), true).unwrap();
    a.add_char_device("dev/console", 5, 1, 0o600).unwrap();
    a.add_bytes("lib/modules/x/a.ko", vec![7; 5], false)
        .unwrap();
    a.add_tree("opt", tree).unwrap();
    a
}

#[test]
fn newc_is_deterministic_and_readable_by_gnu_cpio() {
    let t1 = tempfile::tempdir().unwrap();
    let t2 = tempfile::tempdir().unwrap();
    sample_tree(t1.path());
    sample_tree(t2.path());
    // Different mtimes and an extra touch must not change the bytes.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(t2.path().join("usr/data.txt"), b"data").unwrap();
    let a = archive(b"INIT", t1.path()).to_newc().unwrap();
    let b = archive(b"INIT", t2.path()).to_newc().unwrap();
    assert_eq!(a, b, "two builds give identical bytes");
    assert_eq!(a.len() % 4, 0);
    assert!(a.starts_with(b"070701"));

    let out = tempfile::tempdir().unwrap();
    let f = out.path().join("a.cpio");
    std::fs::write(&f, &a).unwrap();
    let list = Command::new("cpio")
        .args(["-itv", "--quiet", "-F"])
        .arg(&f)
        .output()
        .expect("GNU cpio installed");
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let text = String::from_utf8(list.stdout).unwrap();
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    // Sorted, parents first, symlink shown with its target.
    assert!(text.contains("opt/usr/link -> bin/tool"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let find = |n: &str| lines.iter().find(|l| l.contains(n)).unwrap().to_string();
    assert!(find(" dev/console").starts_with("crw-------"), "{text}");
    assert!(
        find(" opt/usr/bin/tool").starts_with("-rwxr-xr-x"),
        "{text}"
    );
    assert!(
        find(" opt/usr/data.txt").starts_with("-rw-r--r--"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(" opt/usr/bin") && l.starts_with("drwxr-xr-x")),
        "{text}"
    );
    assert!(
        text.lines()
            .all(|l| l.contains(" root     root ") || l.contains(" 0        0 ")),
        "{text}"
    );
    assert!(names.contains(&"init"));
    let mut sorted = names.clone();
    sorted.sort();
    // cpio prints "link -> target": compare the entry order on the path part only.
    let paths: Vec<&str> = text
        .lines()
        .map(|l| l.split(" -> ").next().unwrap().rsplit(' ').next().unwrap())
        .collect();
    let mut sp = paths.clone();
    sp.sort();
    assert_eq!(paths, sp, "entries are sorted");

    // Extraction reproduces the content.
    let x = tempfile::tempdir().unwrap();
    let st = Command::new("cpio")
        .args(["-id", "--quiet", "--no-absolute-filenames", "-F"])
        .arg(&f)
        .current_dir(x.path())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    let _ = st; // mknod of dev/console may be refused without privileges; files still extract
    assert_eq!(std::fs::read(x.path().join("init")).unwrap(), b"INIT");
    assert_eq!(
        std::fs::read(x.path().join("opt/usr/bin/tool")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
}

#[test]
fn newc_rejects_bad_paths() {
    let mut a = Archive::new();
    assert!(a.add_bytes("../etc", vec![], false).is_err());
    assert!(a.add_bytes("a//b", vec![], false).is_err());
    assert!(a.add_bytes("", vec![], false).is_err());
    a.add_bytes("f", vec![], false).unwrap();
    assert!(
        a.add_bytes("f/g", vec![], false).is_err(),
        "a file cannot be a parent"
    );
}

fn eif_inputs(dir: &Path, cmdline: &str) -> EifInputs {
    std::fs::write(dir.join("kernel"), vec![0x4b; 4099]).unwrap();
    std::fs::write(dir.join("r0"), b"ramdisk zero").unwrap();
    std::fs::write(dir.join("r1"), vec![0x31; 70_000]).unwrap();
    EifInputs {
        kernel: dir.join("kernel"),
        cmdline: cmdline.into(),
        ramdisks: vec![dir.join("r0"), dir.join("r1")],
        metadata: EifMetadata::kiln("6.12-test", serde_json::json!({})),
        default_mem: 512 << 20,
        default_cpus: 2,
    }
}

#[test]
fn eif_is_deterministic_and_pcrs_match_an_independent_computation() {
    let d = tempfile::tempdir().unwrap();
    let inputs = eif_inputs(d.path(), "console=ttyS0 quiet");
    let p1 = write_eif(&inputs, &d.path().join("a.eif")).unwrap();
    let p2 = write_eif(&inputs, &d.path().join("b.eif")).unwrap();
    let a = std::fs::read(d.path().join("a.eif")).unwrap();
    assert_eq!(
        a,
        std::fs::read(d.path().join("b.eif")).unwrap(),
        "two builds give identical bytes"
    );
    assert_eq!(p1, p2);

    let s = parse_eif(&a).unwrap();
    assert!(s.crc_ok);
    assert_eq!(s.version, 4);
    let kinds: Vec<u16> = s.sections.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        vec![1, 2, 5, 3, 3],
        "kernel, cmdline, metadata, ramdisks"
    );
    assert_eq!(s.pcrs(), p1);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eif_pcrs.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(d.path().join("a.eif"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["crc_ok"], true, "CRC32 agrees with zlib");
    assert_eq!(v["PCR0"], hex::encode(p1.pcr0));
    assert_eq!(v["PCR1"], hex::encode(p1.pcr1));
    assert_eq!(v["PCR2"], hex::encode(p1.pcr2));

    // A one-byte change of the command line moves PCR0 and PCR1, not PCR2.
    let q = write_eif(
        &eif_inputs(d.path(), "console=ttyS0 quieT"),
        &d.path().join("c.eif"),
    )
    .unwrap();
    assert_ne!(q.pcr0, p1.pcr0);
    assert_ne!(q.pcr1, p1.pcr1);
    assert_eq!(q.pcr2, p1.pcr2);

    // A corrupted byte is caught by the CRC.
    let mut bad = a.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(!parse_eif(&bad).unwrap().crc_ok);
}

#[test]
fn crc32_matches_the_standard_check_value() {
    let mut c = kiln_image::eif::Crc32::default();
    c.update(b"123456789");
    assert_eq!(c.finish(), 0xCBF4_3926);
}
