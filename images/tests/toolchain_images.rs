//! The recipe's toolchain images: each toolchain (`c`, `rust`, …) unpacks into a tree whose
//! manifest (`usr/share/kiln/toolchain.json`) names the toolchain and exactly the packages the
//! recipe pins for it, and two disks built from that tree are byte-identical with equal root
//! hashes. Needs the recipe's packages (fetched into the cache on first run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Read;

use kiln_image::inputs::{prepare_default, Toolchain};
use kiln_image::toolchain_disk::build_toolchain_disk;
use kiln_provenance::toolchain_manifest::{ToolchainManifest, MANIFEST_PATH};

fn same_bytes(a: &std::path::Path, b: &std::path::Path) -> bool {
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut x).unwrap();
        let mut m = 0;
        while m < n {
            let k = fb.read(&mut y[m..n]).unwrap();
            if k == 0 {
                return false;
            }
            m += k;
        }
        if x[..n] != y[..n] {
            return false;
        }
        if n == 0 {
            return fb.read(&mut y).unwrap() == 0;
        }
    }
}

#[test]
fn every_toolchain_gives_one_disk_twice_and_its_manifest_names_its_pins() {
    let (recipe, _cache, inputs) = prepare_default(Toolchain::All).unwrap();
    assert!(inputs.toolchain_roots.contains_key("c"));
    assert!(inputs.toolchain_roots.contains_key("rust"));
    let scratch = tempfile::tempdir().unwrap();
    for (name, tree) in &inputs.toolchain_roots {
        let t = recipe.toolchain(name).unwrap();
        let manifest =
            ToolchainManifest::parse(&std::fs::read(tree.join(MANIFEST_PATH)).unwrap()).unwrap();
        assert_eq!(&manifest.name, name);
        let pinned: Vec<_> = t
            .deb
            .iter()
            .map(|d| (d.package.as_str(), d.version.as_str(), d.sha256.as_str()))
            .collect();
        let listed: Vec<_> = manifest
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.sha256.as_str()))
            .collect();
        assert_eq!(
            listed, pinned,
            "{name}: the manifest lists exactly the pins"
        );

        let (a, b) = (
            scratch.path().join(format!("{name}-a.img")),
            scratch.path().join(format!("{name}-b.img")),
        );
        let started = std::time::Instant::now();
        let da = build_toolchain_disk(tree, &a, 0).unwrap();
        eprintln!(
            "{name}: disk of {} bytes in {} ms, root {}",
            std::fs::metadata(&a).unwrap().len(),
            started.elapsed().as_millis(),
            hex::encode(da.verity.root)
        );
        let db = build_toolchain_disk(tree, &b, 0).unwrap();
        assert_eq!(da.verity.root, db.verity.root, "{name}: root hashes");
        assert_eq!(da.sha256, db.sha256, "{name}: disk digests");
        assert!(same_bytes(&a, &b), "{name}: two disks differ");
        std::fs::remove_file(&a).unwrap();
        std::fs::remove_file(&b).unwrap();
    }
    // The Rust toolchain carries the C one it extends (rustc links through cc).
    let rust = recipe.toolchain("rust").unwrap();
    for c in recipe.toolchain("c").unwrap().deb {
        assert!(rust.deb.contains(&c), "rust lacks {}", c.package);
    }
    for tool in [
        "usr/bin/rustc",
        "usr/bin/cargo",
        "usr/bin/cc",
        "usr/bin/bwrap",
    ] {
        assert!(inputs.toolchain_roots["rust"].join(tool).exists(), "{tool}");
    }
}
