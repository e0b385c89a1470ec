//! Toolchain disks: two builds of one tree are byte-identical whatever the files' owners and
//! times; the SquashFS reads back as the tree (by backhand, and by `unsquashfs`, the reference
//! implementation); the verity tree and root hash are those `veritysetup format` computes; one
//! changed byte changes the root hash. Under CI, `unsquashfs` and `veritysetup` must be present
//! (`scripts/install-deps` installs squashfs-tools and cryptsetup-bin); elsewhere those two
//! cross-checks are skipped, and say so.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use backhand::{FilesystemReader, InnerNode};
use kiln_image::toolchain_disk::{build_toolchain_disk, read_filesystem};
use kiln_image::verity::{hash_tree, BLOCK};

const MTIME: u32 = 1_700_000_000;

/// A small toolchain-like tree: nested folders, an executable, a large file spanning several
/// SquashFS blocks, an empty file, a symbolic link.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("usr/lib/x86_64-linux-gnu")).unwrap();
    fs::write(root.join("usr/bin/cc"), b"#!/bin/sh\necho cc\n").unwrap();
    fs::set_permissions(root.join("usr/bin/cc"), fs::Permissions::from_mode(0o755)).unwrap();
    let big: Vec<u8> = (0..600_000u32).map(|i| (i * 31 % 253) as u8).collect();
    fs::write(root.join("usr/lib/x86_64-linux-gnu/libbig.a"), &big).unwrap();
    fs::write(root.join("usr/lib/empty"), b"").unwrap();
    symlink("cc", root.join("usr/bin/gcc")).unwrap();
}

fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || !ci(),
        "{tool} is missing under CI (scripts/install-deps installs it)"
    );
    if !found {
        eprintln!("SKIPPED the {tool} cross-check: {tool} is not installed");
    }
    found
}

#[test]
fn two_builds_are_identical_whatever_the_files_owners_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    make_tree(&a);
    make_tree(&b);
    // Other times (and, as root, another owner) on the second tree.
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
    for f in [
        "usr/bin/cc",
        "usr/lib/empty",
        "usr/lib/x86_64-linux-gnu/libbig.a",
    ] {
        fs::File::options()
            .write(true)
            .open(b.join(f))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    if nix::unistd::geteuid().is_root() {
        nix::unistd::chown(&b.join("usr/bin/cc"), Some(1234.into()), Some(1234.into())).unwrap();
    }
    let one = build_toolchain_disk(&a, &dir.path().join("one.img"), MTIME).unwrap();
    let two = build_toolchain_disk(&b, &dir.path().join("two.img"), MTIME).unwrap();
    assert_eq!(
        fs::read(&one.path).unwrap(),
        fs::read(&two.path).unwrap(),
        "two builds of one tree differ"
    );
    assert_eq!(one.verity.root, two.verity.root);
    assert_eq!(one.sha256, two.sha256);
    let len = fs::metadata(&one.path).unwrap().len();
    assert_eq!(
        len,
        one.filesystem_bytes + one.verity.hash_area.len() as u64
    );
    assert_eq!(one.filesystem_bytes % BLOCK as u64, 0);
    // Another time is another disk.
    let later = build_toolchain_disk(&a, &dir.path().join("later.img"), MTIME + 1).unwrap();
    assert_ne!(later.verity.root, one.verity.root);
}

#[test]
fn the_filesystem_reads_back_as_the_tree_with_fixed_owners_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("t");
    make_tree(&tree);
    let disk = build_toolchain_disk(&tree, &dir.path().join("d.img"), MTIME).unwrap();
    let bytes = read_filesystem(&disk).unwrap();
    let reader = FilesystemReader::from_reader(std::io::Cursor::new(bytes)).unwrap();
    let mut seen = BTreeMap::new();
    for node in reader.files() {
        assert_eq!(
            (node.header.uid, node.header.gid),
            (0, 0),
            "{:?}",
            node.fullpath
        );
        // The root folder's time is backhand's fixed 0; every other entry's is the one given.
        let want = if node.fullpath == Path::new("/") {
            0
        } else {
            MTIME
        };
        assert_eq!(node.header.mtime, want, "{:?}", node.fullpath);
        let what = match &node.inner {
            InnerNode::Dir(_) => "dir".to_owned(),
            InnerNode::Symlink(l) => format!("-> {}", l.link.display()),
            InnerNode::File(f) => {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut reader.file(f).reader(), &mut data).unwrap();
                format!(
                    "{:o} {}",
                    node.header.permissions,
                    hex::encode(sha256(&data))
                )
            }
            other => panic!("unexpected node {other:?}"),
        };
        seen.insert(node.fullpath.display().to_string(), what);
    }
    let big = fs::read(tree.join("usr/lib/x86_64-linux-gnu/libbig.a")).unwrap();
    assert_eq!(seen["/usr/bin/gcc"], "-> cc");
    assert_eq!(seen["/usr/bin/cc"].split(' ').next(), Some("755"));
    assert_eq!(
        seen["/usr/lib/x86_64-linux-gnu/libbig.a"],
        format!("644 {}", hex::encode(sha256(&big)))
    );
    assert!(seen.contains_key("/usr/lib/empty"));

    // The reference implementation reads it too, with the same contents.
    if have("unsquashfs") {
        let fs_only = dir.path().join("fs.squashfs");
        fs::write(&fs_only, read_filesystem(&disk).unwrap()).unwrap();
        let out = dir.path().join("x");
        let st = Command::new("unsquashfs")
            .args(["-no-xattrs", "-quiet", "-d"])
            .arg(&out)
            .arg(&fs_only)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            fs::read(out.join("usr/lib/x86_64-linux-gnu/libbig.a")).unwrap(),
            big
        );
        assert_eq!(
            fs::read_link(out.join("usr/bin/gcc")).unwrap(),
            Path::new("cc")
        );
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

#[test]
fn the_verity_tree_is_veritysetup_s_and_one_flipped_byte_changes_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("t");
    make_tree(&tree);
    let disk = build_toolchain_disk(&tree, &dir.path().join("d.img"), MTIME).unwrap();
    let data = read_filesystem(&disk).unwrap();
    // The stored hash area is the tree of the stored data.
    let whole = fs::read(&disk.path).unwrap();
    let (fs_part, hash_part) = whole.split_at(data.len());
    assert_eq!(fs_part, &data[..]);
    assert_eq!(hash_part, &disk.verity.hash_area[..]);
    assert_eq!(hash_tree(&data[..], disk.verity.salt).unwrap(), disk.verity);
    // One changed byte anywhere in the filesystem changes the root hash.
    let mut flipped = data.clone();
    flipped[data.len() / 2] ^= 0x01;
    assert_ne!(
        hash_tree(&flipped[..], disk.verity.salt).unwrap().root,
        disk.verity.root
    );

    if have("veritysetup") {
        let data_file = dir.path().join("data");
        let hash_file = dir.path().join("hash");
        fs::write(&data_file, &data).unwrap();
        let out = Command::new("veritysetup")
            .args([
                "format",
                "--no-superblock",
                "--format=1",
                "--hash=sha256",
                "--data-block-size=4096",
                "--hash-block-size=4096",
            ])
            .arg(format!("--salt={}", hex::encode(disk.verity.salt)))
            .arg(&data_file)
            .arg(&hash_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let root = text
            .lines()
            .find_map(|l| l.strip_prefix("Root hash:"))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no root hash in {text}"));
        assert_eq!(root, hex::encode(disk.verity.root));
        assert_eq!(fs::read(&hash_file).unwrap(), disk.verity.hash_area);
    }
}

#[test]
fn special_files_and_missing_trees_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = build_toolchain_disk(&dir.path().join("none"), &dir.path().join("x.img"), MTIME)
        .unwrap_err();
    assert!(err.to_string().contains("not a folder"), "{err}");
    let tree = dir.path().join("t");
    fs::create_dir_all(&tree).unwrap();
    nix::unistd::mkfifo(&tree.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let out = dir.path().join("y.img");
    let err = build_toolchain_disk(&tree, &out, MTIME).unwrap_err();
    assert!(err.to_string().contains("neither a folder"), "{err}");
    assert!(!out.exists(), "no partial disk is left behind");
}
