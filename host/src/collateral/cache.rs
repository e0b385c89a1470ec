//! The collateral cache on disk, shared safely by concurrent `kiln` processes: an item is a
//! file under the cache folder at its key (`kds/vcek/Milan/<hwid>/<tcb>`), written to a
//! temporary sibling and renamed into place, so a reader sees a whole item or none; its
//! metadata (where and when it was fetched) is a `.meta.json` sibling written the same way,
//! after the item. Within a process, [`Cache::lock`] makes concurrent requests for one key
//! wait for the first, which then finds the item cached.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

/// Where and when an item was fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemMeta {
    /// The URL it came from.
    pub url: String,
    /// When, seconds since the Unix epoch.
    pub fetched_at: u64,
    /// When its issuer promises the next version (a CRL's or TCB info's `nextUpdate`), if it
    /// says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_update: Option<u64>,
}

/// A cached item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedItem {
    /// Its bytes.
    pub body: Vec<u8>,
    /// Its metadata.
    pub meta: ItemMeta,
}

/// The cache.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    locks: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
}

/// Whether `key` is a cache key: `/`-separated parts of `A-Za-z0-9._-`, none `.` or `..`.
fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

fn bad_key(key: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{key:?} is not a cache key"),
    )
}

/// Writes `bytes` to `path` through a temporary sibling renamed into place.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

impl Cache {
    /// The cache in `dir` (created when first written).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            locks: Arc::default(),
        }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn paths(&self, key: &str) -> io::Result<(PathBuf, PathBuf)> {
        if !is_key(key) {
            return Err(bad_key(key));
        }
        let item = self.dir.join(key);
        let meta = self.dir.join(format!("{key}.meta.json"));
        Ok((item, meta))
    }

    /// The item at `key`, if a whole one is there.
    pub fn get(&self, key: &str) -> io::Result<Option<CachedItem>> {
        let (item, meta) = self.paths(key)?;
        let meta = match fs::read(&meta) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // Metadata that does not parse is a damaged entry: treated as absent, refetched.
        let Ok(meta) = serde_json::from_slice::<ItemMeta>(&meta) else {
            return Ok(None);
        };
        match fs::read(&item) {
            Ok(body) => Ok(Some(CachedItem { body, meta })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores an item: the bytes first, then the metadata that makes it visible to [`get`].
    ///
    /// [`get`]: Cache::get
    pub fn put(&self, key: &str, body: &[u8], meta: &ItemMeta) -> io::Result<()> {
        let (item, meta_path) = self.paths(key)?;
        write_atomic(&item, body)?;
        let json = serde_json::to_vec_pretty(meta).map_err(io::Error::other)?;
        write_atomic(&meta_path, &json)
    }

    /// Holds `key` for this process until the guard drops: a second request for the same key
    /// waits, then finds what the first stored.
    pub fn lock(&self, key: &str) -> KeyLock {
        let slot = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(locks.entry(key.to_owned()).or_default())
        };
        KeyLock { slot }
    }
}

/// A held key (see [`Cache::lock`]).
#[derive(Debug)]
pub struct KeyLock {
    slot: Arc<Mutex<()>>,
}

impl KeyLock {
    /// Waits for the key.
    pub fn hold(&self) -> MutexGuard<'_, ()> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn items_round_trip_and_keys_cannot_leave_the_folder() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::new(d.path());
        let meta = ItemMeta {
            url: "http://x/y".into(),
            fetched_at: 5,
            next_update: Some(9),
        };
        assert_eq!(c.get("kds/vcek/Milan/ab/00").unwrap(), None);
        c.put("kds/vcek/Milan/ab/00", b"der", &meta).unwrap();
        let got = c.get("kds/vcek/Milan/ab/00").unwrap().unwrap();
        assert_eq!(got.body, b"der");
        assert_eq!(got.meta, meta);
        for bad in ["", "../x", "a//b", "/a", "a/./b", "a b", "a/.."] {
            assert!(c.put(bad, b"x", &meta).is_err(), "{bad}");
            assert!(c.get(bad).is_err(), "{bad}");
        }
        // Damaged metadata is a miss, not an error.
        std::fs::write(d.path().join("kds/vcek/Milan/ab/00.meta.json"), b"{").unwrap();
        assert_eq!(c.get("kds/vcek/Milan/ab/00").unwrap(), None);
    }

    #[test]
    fn one_key_is_held_by_one_thread_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::new(d.path());
        let inside = Arc::new(Mutex::new(0u32));
        let most = Arc::new(Mutex::new(0u32));
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (c, inside, most) = (c.clone(), inside.clone(), most.clone());
                s.spawn(move || {
                    let lock = c.lock("k");
                    let _held = lock.hold();
                    let now = {
                        let mut i = inside.lock().unwrap();
                        *i += 1;
                        *i
                    };
                    let mut m = most.lock().unwrap();
                    *m = (*m).max(now);
                    drop(m);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    *inside.lock().unwrap() -= 1;
                });
            }
        });
        assert_eq!(*most.lock().unwrap(), 1);
    }
}
