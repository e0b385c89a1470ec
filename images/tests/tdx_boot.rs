//! TDX RTMR1/RTMR2 prediction (kiln_image::tdx_boot): the Authenticode digest agrees with the
//! signature Debian's signing service put on the pinned kernel, each input moves exactly the
//! registers it should, and what cannot be modelled is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use kiln_image::inputs::{prepare_default, Toolchain};
use kiln_image::tdx_boot::{
    authenticode, kernel_release, load_options, predict, qemu_patched_kernel, replay,
    signed_authenticode_sha256, Event,
};
use sha2::{Digest, Sha256, Sha384};

const GIB: u64 = 1 << 30;

fn pinned_kernel() -> Vec<u8> {
    let (recipe, cache, _) = prepare_default(Toolchain::Skip).expect("fetch the pinned kernel");
    std::fs::read(recipe.kernel_dir(&cache).join("vmlinuz")).unwrap()
}

fn pe_checksum_offset(image: &[u8]) -> usize {
    let pe = u32::from_le_bytes(image[0x3c..0x40].try_into().unwrap()) as usize;
    pe + 4 + 20 + 64
}

#[test]
fn the_authenticode_digest_is_the_one_debian_signed() {
    let kernel = pinned_kernel();
    let signed = signed_authenticode_sha256(&kernel)
        .unwrap()
        .expect("Debian's kernels are signed for Secure Boot");
    assert_eq!(signed.len(), 32);
    assert_eq!(
        authenticode::<Sha256>(&kernel).unwrap().as_slice(),
        &signed[..],
        "our Authenticode digest differs from the one in the kernel's own signature"
    );
    // The checksum field is outside the digest; a byte of a section is inside.
    let mut k = kernel.clone();
    let at = pe_checksum_offset(&k);
    k[at] ^= 0xff;
    assert_eq!(authenticode::<Sha256>(&k).unwrap().as_slice(), &signed[..]);
    let mut k = kernel.clone();
    let mid = k.len() / 2;
    k[mid] ^= 0x01;
    assert_ne!(authenticode::<Sha256>(&k).unwrap().as_slice(), &signed[..]);
    // Not a PE image: an error, not a panic.
    assert!(authenticode::<Sha384>(&kernel[..0x300]).is_err());
    assert!(authenticode::<Sha384>(b"MZ").is_err());
}

#[test]
fn rtmr1_and_rtmr2_replay_their_events_and_move_with_their_inputs() {
    let kernel = pinned_kernel();
    let initrd = b"070701 a small initrd".repeat(1000);
    let cmdline = "console=ttyS0 quiet";
    let p = predict(&kernel, &initrd, cmdline, 4 * GIB).unwrap();
    assert!(p.kernel_release.starts_with("6."), "{}", p.kernel_release);
    assert_eq!(p.rtmr1_events.len(), 5);
    assert_eq!(p.rtmr2_events.len(), 2);
    assert_eq!(replay(&p.rtmr1_events), p.rtmr1);
    assert_eq!(replay(&p.rtmr2_events), p.rtmr2);
    // The register is the extend chain: SHA-384(SHA-384(0^48 ‖ d1) ‖ d2).
    let d = |b: &[u8]| -> [u8; 48] { Sha384::digest(b).into() };
    let mut first = Sha384::new();
    first.update([0u8; 48]);
    first.update(d(&load_options(cmdline, true)));
    let mut second = Sha384::new();
    second.update(first.finalize());
    second.update(d(&initrd));
    assert_eq!(p.rtmr2, <[u8; 48]>::from(second.finalize()));
    assert_eq!(p.load_options, "initrd=initrd console=ttyS0 quiet");
    assert_eq!(
        p.rtmr1_events[2],
        Event {
            what: "EV_SEPARATOR".into(),
            digest: d(&[0, 0, 0, 0])
        }
    );

    // The initrd's bytes move RTMR2 only; its size moves RTMR1 too (QEMU writes it into the
    // setup header) and the command line moves RTMR2 only.
    let mut other = initrd.clone();
    other[7] ^= 1;
    let q = predict(&kernel, &other, cmdline, 4 * GIB).unwrap();
    assert_eq!(q.rtmr1, p.rtmr1);
    assert_ne!(q.rtmr2, p.rtmr2);
    let mut longer = initrd.clone();
    longer.extend_from_slice(&[0; 8192]);
    let q = predict(&kernel, &longer, cmdline, 4 * GIB).unwrap();
    assert_ne!(q.rtmr1, p.rtmr1);
    let q = predict(&kernel, &initrd, "console=ttyS0", 4 * GIB).unwrap();
    assert_eq!(q.rtmr1, p.rtmr1);
    assert_ne!(q.rtmr2, p.rtmr2);
    // Memory: from 2.75 GiB on, q35 keeps 2 GiB below 4 GiB, so the initrd's place (and RTMR1)
    // no longer changes; below that it does.
    let q = predict(&kernel, &initrd, cmdline, 16 * GIB).unwrap();
    assert_eq!(q.rtmr1, p.rtmr1);
    let q = predict(&kernel, &initrd, cmdline, GIB).unwrap();
    assert_ne!(q.rtmr1, p.rtmr1);
    // The kernel's bytes move RTMR1.
    let mut k = kernel.clone();
    let mid = k.len() / 2;
    k[mid] ^= 1;
    assert_ne!(
        predict(&k, &initrd, cmdline, 4 * GIB).unwrap().rtmr1,
        p.rtmr1
    );
    // Deterministic.
    assert_eq!(predict(&kernel, &initrd, cmdline, 4 * GIB).unwrap(), p);
}

/// A header of boot protocol 2.15 loaded high, with `XLF_CAN_BE_LOADED_ABOVE_4G`.
fn header() -> Vec<u8> {
    let mut k = vec![0u8; 0x1000];
    k[0x202..0x206].copy_from_slice(b"HdrS");
    k[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    k[0x211] = 0x01;
    k[0x236..0x238].copy_from_slice(&0x007fu16.to_le_bytes());
    k[0x20e..0x210].copy_from_slice(&0x0100u16.to_le_bytes());
    k[0x300..0x30c].copy_from_slice(b"6.12.0-test\0");
    k
}

fn u32_at(k: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(k[at..at + 4].try_into().unwrap())
}

#[test]
fn qemu_s_setup_header_patch_is_modelled_field_by_field() {
    let k = header();
    let p = qemu_patched_kernel(&k, 0x10_0000, "console=ttyS0", 4 * GIB).unwrap();
    assert_eq!(p[0x210], 0xb0, "type_of_loader");
    assert_eq!(p[0x211], 0x81, "loadflags | CAN_USE_HEAP");
    assert_eq!(&p[0x224..0x226], &0xfe00u16.to_le_bytes(), "heap_end_ptr");
    assert_eq!(&p[0x226..0x228], &[0, 0], "ext_loader_ver/type untouched");
    assert_eq!(u32_at(&p, 0x228), 0x20000, "cmd_line_ptr");
    // 2 GiB below 4 GiB, minus the ACPI area, minus one, minus the initrd, page-aligned.
    let max = 0x8000_0000u32 - 0x28000 - 1;
    assert_eq!(
        u32_at(&p, 0x218),
        (max - 0x10_0000) & !0xfff,
        "ramdisk_image"
    );
    assert_eq!(u32_at(&p, 0x21c), 0x10_0000, "ramdisk_size");
    // Everything else is the kernel's own.
    let changed: Vec<usize> = (0..k.len()).filter(|&i| k[i] != p[i]).collect();
    assert!(
        changed.iter().all(|i| (0x210..0x22c).contains(i)),
        "{changed:x?}"
    );
    // 1 GiB of RAM: all of it below 4 GiB.
    let p = qemu_patched_kernel(&k, 0x10_0000, "", GIB).unwrap();
    assert_eq!(
        u32_at(&p, 0x218),
        (0x4000_0000u32 - 0x28000 - 1 - 0x10_0000) & !0xfff
    );
    // Without an initrd the ramdisk fields stay zero.
    let p = qemu_patched_kernel(&k, 0, "", 4 * GIB).unwrap();
    assert_eq!(u32_at(&p, 0x218), 0);
    // A kernel without XLF_CAN_BE_LOADED_ABOVE_4G: its own initrd_addr_max bounds it.
    let mut low = header();
    low[0x236..0x238].copy_from_slice(&0u16.to_le_bytes());
    low[0x22c..0x230].copy_from_slice(&0x3fff_ffffu32.to_le_bytes());
    let p = qemu_patched_kernel(&low, 0x10_0000, "", 4 * GIB).unwrap();
    assert_eq!(u32_at(&p, 0x218), (0x3fff_ffff - 0x10_0000) & !0xfff);
}

#[test]
fn what_is_not_modelled_is_refused() {
    let k = header();
    let err = |r: Result<Vec<u8>, kiln_image::ImageError>| r.unwrap_err().to_string();
    assert!(err(qemu_patched_kernel(&k, 0, "vga=791", 4 * GIB)).contains("vga="));
    let mut old = header();
    old[0x206..0x208].copy_from_slice(&0x0201u16.to_le_bytes());
    assert!(err(qemu_patched_kernel(&old, 0, "", 4 * GIB)).contains("protocol"));
    let mut not_high = header();
    not_high[0x211] = 0;
    assert!(err(qemu_patched_kernel(&not_high, 0, "", 4 * GIB)).contains("loaded high"));
    assert!(err(qemu_patched_kernel(&k, 3 * GIB, "", 4 * GIB)).contains("does not fit"));
    assert!(err(qemu_patched_kernel(&k[..0x100], 0, "", 4 * GIB)).contains("HdrS"));
    assert!(err(qemu_patched_kernel(&k, 1, "", 0x1000)).contains("no room"));
    assert_eq!(kernel_release(&k).unwrap(), "6.12.0-test");
    assert!(kernel_release(&k[..0x200]).is_err());
}

#[test]
fn a_kernel_that_leaves_the_initrd_unmeasured_on_tdx_is_refused() {
    let mut kernel = pinned_kernel();
    let ptr = u16::from_le_bytes(kernel[0x20e..0x210].try_into().unwrap()) as usize + 0x200;
    let old = b"6.1.0-99-cloud-amd64 ";
    kernel[ptr..ptr + old.len()].copy_from_slice(old);
    assert_eq!(kernel_release(&kernel).unwrap(), "6.1.0-99-cloud-amd64");
    let e = predict(&kernel, b"initrd", "", 4 * GIB)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not measure the initrd"), "{e}");
}
