//! `build_image` twice gives identical bytes (kernel, initramfs archives, EIF), the EIF's
//! PCRs equal the independent script's, PCR2 covers the toolchain ramdisk that names its
//! toolchain, and the image's disk equals a fresh build of its tree.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::path::Path;
use std::process::Command;

use kiln_image::image::{build_image, BuildOptions};
use kiln_image::inputs::{prepare_default, Toolchain};
use kiln_image::recipe::DEFAULT_TOOLCHAIN;
use kiln_image::toolchain_disk::build_toolchain_disk;
use kiln_provenance::toolchain_manifest::MANIFEST_PATH;
use sha2::{Digest, Sha384};

#[test]
fn image_build_is_reproducible() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (recipe, cache, _) = prepare_default(Toolchain::default_one()).unwrap();
    // Stand-in for kiln-enclave: any static binary will do for the bytes.
    let init = recipe
        .toolchain(DEFAULT_TOOLCHAIN)
        .unwrap()
        .root(&cache)
        .unwrap()
        .join("bin/busybox");
    let opts = BuildOptions {
        cache,
        init,
        eif: true,
        toolchain: Some(DEFAULT_TOOLCHAIN.into()),
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let (pa, ma) = build_image(&recipe, &opts, a.path()).unwrap();
    eprintln!("image build: {} ms", t.elapsed().as_millis());
    let (pb, mb) = build_image(&recipe, &opts, b.path()).unwrap();
    assert_eq!(ma.files, mb.files, "two builds give identical bytes");
    for name in [
        "vmlinuz",
        "vmlinux",
        "base.cpio",
        "toolchain.img",
        "toolchain.cpio",
        "initrd.cpio",
        "cmdline",
        "image.eif",
        "image.json",
    ] {
        let x = std::fs::read(a.path().join(name)).unwrap();
        assert_eq!(x, std::fs::read(b.path().join(name)).unwrap(), "{name}");
    }
    for f in &ma.files {
        eprintln!("{:>12} {} {}", f.size, f.sha256, f.name);
    }
    let pcrs = ma.nitro.clone().unwrap();
    let out = Command::new("python3")
        .arg(root.join("images/tests/eif_pcrs.py"))
        .arg(&pa.eif)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["crc_ok"], true);
    assert_eq!(v["PCR0"], hex::encode(pcrs.pcr0));
    assert_eq!(v["PCR1"], hex::encode(pcrs.pcr1));
    assert_eq!(v["PCR2"], hex::encode(pcrs.pcr2));
    eprintln!("PCR0 {}\nPCR1 {}\nPCR2 {}", v["PCR0"], v["PCR1"], v["PCR2"]);
    assert_eq!(pb.cmdline.file_name(), pa.cmdline.file_name());

    // The image's disk (copied from the cache) is the disk its tree gives when built afresh.
    let tree = recipe
        .toolchain(DEFAULT_TOOLCHAIN)
        .unwrap()
        .root(&opts.cache)
        .unwrap();
    let fresh = build_toolchain_disk(&tree, &a.path().join("fresh.img"), 0).unwrap();
    assert_eq!(
        hex::encode(fresh.sha256),
        ma.files
            .iter()
            .find(|f| f.name == "toolchain.img")
            .unwrap()
            .sha256
    );
    assert_eq!(
        ma.toolchain_disk_root.as_deref(),
        Some(hex::encode(fresh.verity.root).as_str())
    );

    // On Nitro the toolchain is the EIF's second ramdisk: PCR2 is exactly its digest extended
    // once, and the ramdisk carries the manifest naming the toolchain and its packages.
    let ramdisk = std::fs::read(&pa.toolchain).unwrap();
    let pcr2 = Sha384::new()
        .chain_update([0u8; 48])
        .chain_update(Sha384::digest(&ramdisk))
        .finalize();
    assert_eq!(hex::encode(pcr2), hex::encode(pcrs.pcr2));
    let at = find(&ramdisk, MANIFEST_PATH.as_bytes()).expect("the manifest is in the ramdisk");
    let rest = &ramdisk[at..];
    assert!(find(rest, b"\"name\": \"c\"").is_some());
    assert!(find(rest, b"\"name\": \"gcc-12\"").is_some());
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
