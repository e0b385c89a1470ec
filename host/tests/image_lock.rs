//! The image recipe's pins against a faked Debian archive: a local HTTP server laid out like
//! the live archive (what apt reads, through a private `APT_CONFIG`) and like the snapshot
//! archive (`archive/<archive>/<timestamp>/pool/...`). The live archive has moved on: it no
//! longer serves one pinned version. Checks `kiln image lock --check` (names the pin, exit 1),
//! `kiln image fetch` (apt first, then the snapshot; the SHA-256 decides), `kiln image lock
//! --unavailable-only` (replaces just that pin, loudly, into another file) and a full
//! `kiln image lock` (every pin newest, the kernel followed through its metapackage).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// A static file server on 127.0.0.1 (GET and HEAD, 404 for anything missing). Lives as long
/// as the test process.
fn serve(root: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let root = Arc::new(root);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = Arc::clone(&root);
            std::thread::spawn(move || handle(stream, &root));
        }
    });
    port
}

fn unescape(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&path[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn handle(stream: TcpStream, root: &Path) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h.to_ascii_lowercase().starts_with("connection: close") {
                close = true;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
        }
        let mut parts = request.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = unescape(parts.next().unwrap_or("/").split('?').next().unwrap_or("/"));
        let file = root.join(path.trim_start_matches('/'));
        let body = if path.contains("..") {
            None
        } else {
            std::fs::read(&file).ok().filter(|_| file.is_file())
        };
        let (status, body) = match body {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", b"not found".to_vec()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
            body.len()
        );
        if out.write_all(head.as_bytes()).is_err() {
            return;
        }
        if method != "HEAD" && out.write_all(&body).is_err() {
            return;
        }
        let _ = out.flush();
        if close {
            return;
        }
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Builds a `.deb` with `files` (path → contents) and returns its bytes.
fn deb(
    work: &Path,
    package: &str,
    version: &str,
    depends: &str,
    files: &[(&str, &[u8])],
) -> Vec<u8> {
    let tree = work.join(format!("tree-{package}-{version}"));
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    let mut control = format!(
        "Package: {package}\nVersion: {version}\nArchitecture: amd64\nMaintainer: kiln tests <t@example.invalid>\nDescription: test package\n"
    );
    if !depends.is_empty() {
        control.push_str(&format!("Depends: {depends}\n"));
    }
    std::fs::write(tree.join("DEBIAN/control"), control).unwrap();
    for (path, data) in files {
        let p = tree.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let out = work.join(format!("{package}_{version}.deb"));
    let st = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "-b"])
        .arg(&tree)
        .arg(&out)
        .output()
        .expect("dpkg-deb (Debian's dpkg) is needed by this test");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::read(out).unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("xz")
        .args(["-c", "-z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    child.wait_with_output().unwrap().stdout
}

/// One package version in the fake archive.
#[derive(Clone)]
struct Pkg {
    name: String,
    version: String,
    pool: String,
    bytes: Vec<u8>,
}

impl Pkg {
    fn sha(&self) -> String {
        sha256_hex(&self.bytes)
    }
    fn paragraph(&self, depends: &str) -> String {
        let mut p = format!(
            "Package: {}\nVersion: {}\nArchitecture: amd64\nFilename: {}\nSize: {}\nSHA256: {}\n",
            self.name,
            self.version,
            self.pool,
            self.bytes.len(),
            self.sha()
        );
        if !depends.is_empty() {
            p.push_str(&format!("Depends: {depends}\n"));
        }
        p.push('\n');
        p
    }
}

/// Writes `dists/<suite>/main/binary-amd64/Packages` + `Release` and the pool files.
fn publish(archive: &Path, suite: &str, pkgs: &[(&Pkg, &str)]) {
    let dir = archive.join("dists").join(suite).join("main/binary-amd64");
    std::fs::create_dir_all(&dir).unwrap();
    let mut index = String::new();
    for (p, depends) in pkgs {
        index.push_str(&p.paragraph(depends));
        let f = archive.join(&p.pool);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, &p.bytes).unwrap();
    }
    std::fs::write(dir.join("Packages"), &index).unwrap();
    let release = format!(
        "Suite: {suite}\nCodename: {suite}\nArchitectures: amd64\nComponents: main\nDate: Thu, 03 Dec 2026 00:00:00 UTC\nSHA256:\n {} {} main/binary-amd64/Packages\n",
        sha256_hex(index.as_bytes()),
        index.len()
    );
    std::fs::write(archive.join("dists").join(suite).join("Release"), release).unwrap();
}

const T1: &str = "20260101T000000Z";

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    apt_config: PathBuf,
    recipe: PathBuf,
    www: PathBuf,
    old_libfoo: Pkg,
    new_libfoo: Pkg,
    new_kernel: Pkg,
}

fn pin(role_table: &str, p: &Pkg, suite: &str) -> String {
    format!(
        "{role_table}\npackage = \"{}\"\nversion = \"{}\"\nsha256 = \"{}\"\nsuite = \"{suite}\"\npath = \"{}\"\n",
        p.name,
        p.version,
        p.sha(),
        p.pool
    )
}

/// The fake world: the live archive serves hello 1.0-1 (bookworm), libfoo 2.0-2 only
/// (bookworm-security dropped the pinned 2.0-1) and kernels 1.0-test and 1.1-test (the
/// metapackage now names 1.1-test); the snapshot archive keeps libfoo 2.0-1 at T1.
fn fixture() -> Fixture {
    assert!(
        Command::new("apt-get").arg("--version").output().is_ok(),
        "this test needs apt-get (kiln's image pins come from Debian's archive)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let work = dir.join("work");
    let www = dir.join("www");
    let kernel_files = |release: &str| -> Vec<(String, Vec<u8>)> {
        vec![
            (
                format!("boot/vmlinuz-{release}"),
                format!("kernel {release}").into_bytes(),
            ),
            (
                format!("boot/config-{release}"),
                b"CONFIG_TEST=y\n".to_vec(),
            ),
            (
                format!("lib/modules/{release}/kernel/drivers/test.ko.xz"),
                xz(format!("module of {release}").as_bytes()),
            ),
        ]
    };
    let mk =
        |name: &str, version: &str, pool: &str, depends: &str, files: Vec<(String, Vec<u8>)>| {
            let files: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(p, d)| (p.as_str(), d.as_slice()))
                .collect();
            Pkg {
                name: name.into(),
                version: version.into(),
                pool: pool.into(),
                bytes: deb(&work, name, version, depends, &files),
            }
        };
    let kernel = mk(
        "linux-image-1.0-test",
        "1.0-1",
        "pool/main/l/linux/linux-image-1.0-test_1.0-1_amd64.deb",
        "",
        kernel_files("1.0-test"),
    );
    let new_kernel = mk(
        "linux-image-1.1-test",
        "1.1-1",
        "pool/main/l/linux/linux-image-1.1-test_1.1-1_amd64.deb",
        "",
        kernel_files("1.1-test"),
    );
    let meta = mk(
        "linux-image-test",
        "1.1-1",
        "pool/main/l/linux/linux-image-test_1.1-1_amd64.deb",
        "linux-image-1.1-test (= 1.1-1)",
        vec![],
    );
    let hello = mk(
        "hello",
        "1.0-1",
        "pool/main/h/hello/hello_1.0-1_amd64.deb",
        "",
        vec![("usr/bin/hello".into(), b"#!/bin/sh\necho hello\n".to_vec())],
    );
    let old_libfoo = mk(
        "libfoo",
        "2.0-1",
        "pool/updates/main/l/libfoo/libfoo_2.0-1_amd64.deb",
        "",
        vec![("usr/lib/libfoo.so.2".into(), b"old".to_vec())],
    );
    let new_libfoo = mk(
        "libfoo",
        "2.0-2",
        "pool/updates/main/l/libfoo/libfoo_2.0-2_amd64.deb",
        "",
        vec![("usr/lib/libfoo.so.2".into(), b"new".to_vec())],
    );
    publish(
        &www.join("debian"),
        "bookworm",
        &[
            (&kernel, ""),
            (&new_kernel, ""),
            (&meta, "linux-image-1.1-test (= 1.1-1)"),
            (&hello, ""),
        ],
    );
    publish(
        &www.join("debian-security"),
        "bookworm-security",
        &[(&new_libfoo, "")],
    );
    let snap = www.join("snapshot/archive/debian-security").join(T1);
    std::fs::create_dir_all(snap.join(&old_libfoo.pool).parent().unwrap()).unwrap();
    std::fs::write(snap.join(&old_libfoo.pool), &old_libfoo.bytes).unwrap();
    let port = serve(www.clone());

    // A private apt: its own sources, state and cache; nothing of the machine's apt setup.
    let apt = dir.join("apt");
    for d in [
        "state/lists/partial",
        "cache/archives/partial",
        "etc/parts",
        "etc/prefs",
    ] {
        std::fs::create_dir_all(apt.join(d)).unwrap();
    }
    std::fs::write(apt.join("state/status"), "").unwrap();
    std::fs::write(
        apt.join("etc/sources.list"),
        format!(
            "deb [trusted=yes] http://127.0.0.1:{port}/debian bookworm main\n\
             deb [trusted=yes] http://127.0.0.1:{port}/debian-security bookworm-security main\n"
        ),
    )
    .unwrap();
    let a = apt.display();
    let apt_config = apt.join("apt.conf");
    std::fs::write(
        &apt_config,
        format!(
            "Dir::State \"{a}/state\";\nDir::State::status \"{a}/state/status\";\n\
             Dir::Cache \"{a}/cache\";\nDir::Etc::SourceList \"{a}/etc/sources.list\";\n\
             Dir::Etc::SourceParts \"{a}/etc/parts\";\nDir::Etc::Parts \"{a}/etc/parts\";\n\
             Dir::Etc::PreferencesParts \"{a}/etc/prefs\";\nDir::Etc::Preferences \"{a}/etc/prefs/none\";\n\
             Debug::NoLocking \"true\";\nAPT::Sandbox::User \"root\";\nAcquire::http::Proxy \"false\";\n\
             Acquire::Languages \"none\";\n"
        ),
    )
    .unwrap();
    let up = Command::new("apt-get")
        .args(["update", "-q"])
        .env("APT_CONFIG", &apt_config)
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "apt-get update: {}",
        String::from_utf8_lossy(&up.stderr)
    );

    let recipe = dir.join("recipe.toml");
    let text = format!(
        "# a test recipe\nformat = 3\n\n[snapshot]\nbase = \"http://127.0.0.1:{port}/snapshot\"\n\n\
         [snapshot.suites]\n# kept comment\nbookworm = {{ archive = \"debian\", timestamp = \"{T1}\" }}\n\
         bookworm-security = {{ archive = \"debian-security\", timestamp = \"{T1}\" }}\n\n\
         {}track = \"linux-image-test\"\nrelease = \"1.0-test\"\ncmdline = \"console=ttyS0\"\n\
         modules = [\"kernel/drivers/test.ko\"]\n\n[toolchains.c]\nbusybox_applets = []\n\n{}\n{}",
        pin("[kernel]", &kernel, "bookworm"),
        pin("[[toolchains.c.deb]]", &hello, "bookworm"),
        pin("[[toolchains.c.deb]]", &old_libfoo, "bookworm-security"),
    );
    std::fs::write(&recipe, text).unwrap();
    Fixture {
        _tmp: tmp,
        dir,
        apt_config,
        recipe,
        www,
        old_libfoo,
        new_libfoo,
        new_kernel,
    }
}

impl Fixture {
    fn kiln(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(args)
            .env("APT_CONFIG", &self.apt_config)
            .env_remove("KILN_IMAGE_RECIPE")
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }

    /// `kiln image fetch --recipe RECIPE --cache CACHE`.
    fn fetch(&self, recipe: &str, cache: &Path) -> Output {
        self.kiln(&[
            "image",
            "fetch",
            "--recipe",
            recipe,
            "--cache",
            cache.to_str().unwrap(),
        ])
    }

    fn snapshot_file(&self) -> PathBuf {
        self.www
            .join("snapshot/archive/debian-security")
            .join(T1)
            .join(&self.old_libfoo.pool)
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_pin_the_live_archive_dropped_is_fetched_from_the_snapshot_archive() {
    let f = fixture();
    let recipe = f.recipe.to_str().unwrap();
    let check = f.kiln(&["image", "lock", "--check", "--recipe", recipe]);
    let t = text(&check);
    assert_eq!(check.status.code(), Some(0), "{t}");
    assert!(t.contains("libfoo=2.0-1  served: snapshot"), "{t}");
    assert!(t.contains("hello=1.0-1  served: apt (bookworm)"), "{t}");
    assert!(
        t.contains("warning: libfoo=2.0-1 is stale: suite bookworm-security serves libfoo=2.0-2"),
        "{t}"
    );
    assert!(
        t.contains("serves linux-image-1.1-test=1.1-1"),
        "the kernel is followed through its metapackage: {t}"
    );

    let cache = f.dir.join("cache");
    let fetch = f.fetch(recipe, &cache);
    let t = text(&fetch);
    assert_eq!(fetch.status.code(), Some(0), "{t}");
    assert!(
        t.contains("fetched hello=1.0-1 from the apt sources"),
        "{t}"
    );
    assert!(
        t.contains("fetched libfoo=2.0-1 from the snapshot archive (http://127.0.0.1:"),
        "{t}"
    );
    let toolchain = String::from_utf8_lossy(&fetch.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("toolchain.c=").map(PathBuf::from))
        .unwrap();
    assert_eq!(
        std::fs::read(toolchain.join("usr/lib/libfoo.so.2")).unwrap(),
        b"old"
    );
    let kernel = String::from_utf8_lossy(&fetch.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("kernel=").map(PathBuf::from))
        .unwrap();
    assert_eq!(
        std::fs::read(kernel.join("vmlinuz")).unwrap(),
        b"kernel 1.0-test"
    );
    assert_eq!(
        std::fs::read(kernel.join("modules/kernel/drivers/test.ko")).unwrap(),
        b"module of 1.0-test",
        "modules are stored decompressed"
    );
    // A second fetch finds everything in the cache and downloads nothing.
    let again = f.fetch(recipe, &cache);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(!text(&again).contains("fetched"), "{}", text(&again));
}

#[test]
fn the_sha256_decides_not_the_source() {
    let f = fixture();
    let recipe = f.recipe.to_str().unwrap();
    // The snapshot archive serves other bytes under the pinned path.
    let mut bad = f.old_libfoo.bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(f.snapshot_file(), &bad).unwrap();
    let cache = f.dir.join("cache");
    let fetch = f.fetch(recipe, &cache);
    let t = text(&fetch);
    assert_eq!(fetch.status.code(), Some(2), "{t}");
    assert!(
        t.contains("no source serves libfoo=2.0-1 with its pinned SHA-256"),
        "{t}"
    );
    assert!(
        t.contains("apt sources: E: Version '2.0-1' for 'libfoo' was not found"),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "served a file with SHA-256 {}, not the pinned {}",
            sha256_hex(&bad),
            f.old_libfoo.sha()
        )),
        "{t}"
    );
    let debs: Vec<_> = std::fs::read_dir(cache.join("debs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        debs.iter().all(|n| !n.starts_with("libfoo")),
        "nothing of the bad download is kept: {debs:?}"
    );
    assert!(
        debs.iter().all(|n| !n.starts_with(".partial")),
        "no temporaries left: {debs:?}"
    );
    assert!(
        !cache.join("toolchain").exists()
            || std::fs::read_dir(cache.join("toolchain"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[test]
fn a_pin_no_source_serves_fails_the_check_and_is_replaced_loudly_into_a_local_lock() {
    let f = fixture();
    let recipe = f.recipe.to_str().unwrap();
    std::fs::remove_file(f.snapshot_file()).unwrap();
    let original = std::fs::read_to_string(&f.recipe).unwrap();

    let check = f.kiln(&["image", "lock", "--check", "--recipe", recipe]);
    let t = text(&check);
    assert_eq!(check.status.code(), Some(1), "{t}");
    assert!(t.contains("libfoo=2.0-1  UNAVAILABLE"), "{t}");
    assert!(
        t.contains("apt sources: no libfoo=2.0-1 in the package indices"),
        "{t}"
    );
    assert!(t.contains("/archive/debian-security/20260101T000000Z/pool/updates/main/l/libfoo/libfoo_2.0-1_amd64.deb is not served"), "{t}");
    assert!(t.contains("3 pins: 2 served, 1 unavailable"), "{t}");
    let json = f.kiln(&["image", "lock", "--check", "--json", "--recipe", recipe]);
    assert_eq!(json.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    let states: Vec<_> = doc["pins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["served", "served", "unavailable"]);

    let local = f.dir.join("local/recipe.lock.toml");
    let lock = f.kiln(&[
        "image",
        "lock",
        "--unavailable-only",
        "--recipe",
        recipe,
        "--output",
        local.to_str().unwrap(),
    ]);
    let t = text(&lock);
    assert_eq!(lock.status.code(), Some(0), "{t}");
    let stderr = String::from_utf8_lossy(&lock.stderr);
    assert!(
        stderr.contains("NOTICE: no reachable source serves 1 pinned package(s)"),
        "{t}"
    );
    assert!(
        stderr.contains("libfoo=2.0-1 → libfoo=2.0-2 (bookworm-security)"),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(&f.recipe).unwrap(),
        original,
        "the recipe itself is untouched"
    );
    let locked = std::fs::read_to_string(&local).unwrap();
    assert!(locked.contains(&f.new_libfoo.sha()), "{locked}");
    assert!(
        locked.contains(&format!("path = \"{}\"", f.new_libfoo.pool)),
        "{locked}"
    );
    assert!(!locked.contains(&f.old_libfoo.sha()), "{locked}");
    assert!(
        locked.contains("version = \"1.0-1\"\nsha256"),
        "other pins stay: {locked}"
    );
    assert!(
        locked.contains("package = \"linux-image-1.0-test\""),
        "the kernel stays: {locked}"
    );
    assert!(locked.contains("# kept comment"), "{locked}");
    assert!(
        locked.contains(&format!("timestamp = \"{T1}\"")),
        "suite timestamps stay: {locked}"
    );
    let own_ts = locked
        .lines()
        .find_map(|l| l.strip_prefix("snapshot = \""))
        .expect("the replaced pin carries its own snapshot timestamp");
    assert_eq!(own_ts.len(), 17, "{own_ts}");

    // The local lock passes the check and fetches.
    let check = f.kiln(&[
        "image",
        "lock",
        "--check",
        "--recipe",
        local.to_str().unwrap(),
    ]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let cache = f.dir.join("cache");
    let fetch = f.fetch(local.to_str().unwrap(), &cache);
    assert_eq!(fetch.status.code(), Some(0), "{}", text(&fetch));
    assert!(
        text(&fetch).contains("fetched libfoo=2.0-2 from the apt sources"),
        "{}",
        text(&fetch)
    );
}

#[test]
fn a_full_lock_moves_every_pin_to_its_suite_s_newest_and_keeps_comments() {
    let f = fixture();
    let recipe = f.recipe.to_str().unwrap();
    let lock = f.kiln(&["image", "lock", "--recipe", recipe, "--json"]);
    let t = text(&lock);
    assert_eq!(lock.status.code(), Some(0), "{t}");
    let doc: serde_json::Value = serde_json::from_slice(&lock.stdout).unwrap();
    let changed: Vec<_> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}={}",
                c["new"]["package"].as_str().unwrap(),
                c["new"]["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(changed, ["linux-image-1.1-test=1.1-1", "libfoo=2.0-2"]);
    let locked = std::fs::read_to_string(&f.recipe).unwrap();
    assert!(locked.starts_with("# a test recipe\n"), "{locked}");
    assert!(locked.contains("# kept comment"), "{locked}");
    assert!(
        locked.contains("release = \"1.1-test\""),
        "the release follows the kernel: {locked}"
    );
    assert!(locked.contains(&f.new_kernel.sha()), "{locked}");
    assert!(
        !locked.contains(T1),
        "every suite gets the new timestamp: {locked}"
    );
    assert!(
        !locked.contains("\nsnapshot = "),
        "no per-pin timestamps after a full lock: {locked}"
    );
    // Locking again changes nothing.
    let again = f.kiln(&["image", "lock", "--recipe", recipe]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("every pin is current; nothing to change"),
        "{}",
        text(&again)
    );
    assert_eq!(std::fs::read_to_string(&f.recipe).unwrap(), locked);
}

#[test]
fn lock_usage_errors_are_clear() {
    let f = fixture();
    let o = f.kiln(&["image", "lock", "--recipe", "/nonexistent/recipe.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("read the recipe /nonexistent/recipe.toml"),
        "{}",
        text(&o)
    );
    let bad = f.dir.join("bad.toml");
    std::fs::write(&bad, "format = 1\n").unwrap();
    let o = f.kiln(&[
        "image",
        "lock",
        "--check",
        "--recipe",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = f.kiln(&["image", "fetch", "--no-apt", "--no-snapshot"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("leave no source"), "{}", text(&o));
}
