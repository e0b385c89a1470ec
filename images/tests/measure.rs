//! Predicted measurements: the sim encoding, and SEV-SNP against the independent
//! `sev-snp-measure` (PyPI, pinned in scripts/install-deps, installed in .tools/py-snp).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_image::measure::{self, SnpParams, VmLaunch};
use sha2::{Digest, Sha384};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(d: &Path) -> (PathBuf, PathBuf) {
    std::fs::write(d.join("k"), vec![0x11; 10_000]).unwrap();
    std::fs::write(d.join("i"), vec![0x22; 3_000]).unwrap();
    (d.join("k"), d.join("i"))
}

#[test]
fn sim_measurement_follows_the_documented_encoding() {
    let d = tempfile::tempdir().unwrap();
    let (k, i) = files(d.path());
    let l = VmLaunch {
        kernel: k,
        initrd: i,
        cmdline: "console=ttyS0".into(),
        vcpus: 2,
        memory_mib: 2048,
    };
    let m = measure::sim_vm_measurement(&l).unwrap();
    // Recompute by hand from the module documentation.
    let mut h = Sha384::new();
    h.update(b"kiln-sim-vm-measurement/v1\0");
    h.update(10_000u64.to_le_bytes());
    h.update(Sha384::digest(vec![0x11; 10_000]));
    h.update(3_000u64.to_le_bytes());
    h.update(Sha384::digest(vec![0x22; 3_000]));
    h.update(13u64.to_le_bytes());
    h.update(b"console=ttyS0");
    h.update(2u32.to_le_bytes());
    h.update(2048u64.to_le_bytes());
    assert_eq!(m.to_vec(), h.finalize().to_vec());
    // Every input moves it.
    for l2 in [
        VmLaunch {
            cmdline: "console=ttyS1".into(),
            ..l.clone()
        },
        VmLaunch {
            vcpus: 3,
            ..l.clone()
        },
        VmLaunch {
            memory_mib: 2049,
            ..l.clone()
        },
    ] {
        assert_ne!(measure::sim_vm_measurement(&l2).unwrap(), m);
    }
}

fn sev_snp_measure(args: &[&str]) -> String {
    let py = repo().join(".tools/py-snp");
    assert!(
        py.join("sevsnpmeasure").is_dir(),
        "sev-snp-measure missing: run scripts/install-deps"
    );
    let out = Command::new("python3")
        .env("PYTHONPATH", &py)
        .args(["-m", "sevsnpmeasure.cli"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

const DEBIAN_OVMF: &str = "/usr/share/ovmf/OVMF.fd";

#[test]
fn snp_firmware_digest_equals_sev_snp_measure_on_debian_ovmf() {
    assert!(
        Path::new(DEBIAN_OVMF).is_file(),
        "{DEBIAN_OVMF} missing: run scripts/install-deps"
    );
    for (vcpus, ty) in [
        (1u32, "EPYC-v4"),
        (2, "EPYC-v4"),
        (4, "EPYC-Milan"),
        (2, "EPYC-Genoa"),
    ] {
        let p = SnpParams {
            ovmf: DEBIAN_OVMF.into(),
            vcpus,
            vcpu_type: ty.into(),
            guest_features: 1,
        };
        let ours = hex::encode(measure::snp_firmware_digest(&p).unwrap());
        let theirs = sev_snp_measure(&[
            "--mode",
            "snp",
            "--vcpus",
            &vcpus.to_string(),
            "--vcpu-type",
            ty,
            "--ovmf",
            DEBIAN_OVMF,
        ]);
        assert_eq!(ours, theirs, "{vcpus} x {ty}");
    }
}

#[test]
fn snp_kernel_hashes_page_equals_sev_snp_measure() {
    let d = tempfile::tempdir().unwrap();
    let (k, i) = files(d.path());
    let cmdline = "console=ttyS0 quiet panic=-1 rdinit=/init";
    let ours = measure::sev_hashes_page(&k, &i, cmdline, 0x300).unwrap();
    let script = format!(
        "import sys; from sevsnpmeasure.sev_hashes import SevHashes; \
         sys.stdout.write(SevHashes({:?}, {:?}, {:?}).construct_page(0x300).hex())",
        k.display().to_string(),
        i.display().to_string(),
        cmdline
    );
    let py = repo().join(".tools/py-snp");
    let out = Command::new("python3")
        .env("PYTHONPATH", &py)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(hex::encode(ours), String::from_utf8(out.stdout).unwrap());
}

#[test]
fn snp_kernel_hashes_need_an_amdsev_ovmf() {
    // Debian's OVMF has SEV metadata but no SNP_KERNEL_HASHES section: both tools refuse.
    let d = tempfile::tempdir().unwrap();
    let (k, i) = files(d.path());
    let p = SnpParams {
        ovmf: DEBIAN_OVMF.into(),
        vcpus: 2,
        vcpu_type: "EPYC-v4".into(),
        guest_features: 1,
    };
    let e = measure::snp_launch_digest(&p, &k, &i, "x").unwrap_err();
    assert!(e.to_string().contains("AmdSev"), "{e}");
    assert!(measure::parse_vcpu_type("EPYC-Nope").is_err());
}
