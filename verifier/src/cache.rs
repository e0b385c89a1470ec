//! A verifier object's memo of work already done: verified certificate paths and collateral
//! signatures, keyed by the SHA-256 of everything the result depends on, or (for large inputs)
//! by a [`sampled_key`] with the exact inputs stored in the entry and compared on every hit.
//!
//! A cached entry never skips a time check: each records the window in which it holds, and
//! callers check the verification time against it on every use. Outside the window the full
//! (cold) verification runs again and reports the precise failure.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use crate::time::UnixTime;

/// Entries kept before the cache is cleared (a bound on memory for long-lived verifiers).
const MAX_ENTRIES: usize = 4096;

/// A cached result, valid in `[not_before, not_after]`.
#[derive(Debug)]
pub struct Entry<T> {
    /// Start of validity.
    pub not_before: UnixTime,
    /// End of validity.
    pub not_after: UnixTime,
    /// The cached value.
    pub value: T,
}

/// The memo itself.
#[derive(Debug, Default)]
pub struct Cache {
    map: RwLock<HashMap<[u8; 32], Arc<dyn Any + Send + Sync>>>,
}

/// Builds a cache key from a domain label and the inputs the result depends on.
pub fn key(domain: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((domain.len() as u64).to_le_bytes());
    h.update(domain.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// Bytes of each part that [`sampled_key`] reads: this many windows of [`SAMPLE_WINDOW`] bytes
/// spread over the part (all of a part shorter than that).
const SAMPLE_WINDOWS: usize = 16;
/// Width of one window of [`sampled_key`].
const SAMPLE_WINDOW: usize = 64;

/// A cheap key for large inputs: the domain, each part's length and `SAMPLE_WINDOWS` windows
/// of its bytes spread evenly (the whole part when it is short). Unlike [`key`] it does not
/// identify the inputs: an entry stored under a sampled key must carry the exact inputs it
/// was computed from, and a lookup uses it only when they are byte-for-byte those of the
/// current call (two different inputs with the same samples only displace each other).
pub fn sampled_key(domain: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"sampled");
    h.update((domain.len() as u64).to_le_bytes());
    h.update(domain.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        if p.len() <= SAMPLE_WINDOWS * SAMPLE_WINDOW {
            h.update(p);
            continue;
        }
        // Windows start at 0, step, 2 * step, ... and the last one ends with the part.
        let last = p.len().saturating_sub(SAMPLE_WINDOW);
        let step = last / (SAMPLE_WINDOWS - 1);
        for i in 0..SAMPLE_WINDOWS - 1 {
            let start = step.saturating_mul(i);
            h.update(
                p.get(start..start.saturating_add(SAMPLE_WINDOW))
                    .unwrap_or_default(),
            );
        }
        h.update(p.get(last..).unwrap_or_default());
    }
    h.finalize().into()
}

impl Cache {
    /// A cached value for `key`, if there is one valid at `time`.
    pub fn get<T: Send + Sync + 'static>(
        &self,
        key: &[u8; 32],
        time: UnixTime,
    ) -> Option<Arc<Entry<T>>> {
        let map = self.map.read().ok()?;
        let entry = Arc::clone(map.get(key)?).downcast::<Entry<T>>().ok()?;
        (entry.not_before <= time && time <= entry.not_after).then_some(entry)
    }

    /// Remembers a value.
    pub fn insert<T: Send + Sync + 'static>(&self, key: [u8; 32], entry: Entry<T>) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, Arc::new(entry));
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything.
    pub fn clear(&self) {
        if let Ok(mut map) = self.map.write() {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_hold_only_inside_their_window() {
        let cache = Cache::default();
        let k = key("t", &[b"a"]);
        cache.insert(
            k,
            Entry {
                not_before: UnixTime::from_secs(10),
                not_after: UnixTime::from_secs(20),
                value: 7u32,
            },
        );
        assert_eq!(
            cache.get::<u32>(&k, UnixTime::from_secs(15)).unwrap().value,
            7
        );
        assert!(cache.get::<u32>(&k, UnixTime::from_secs(9)).is_none());
        assert!(cache.get::<u32>(&k, UnixTime::from_secs(21)).is_none());
        assert!(
            cache.get::<u64>(&k, UnixTime::from_secs(15)).is_none(),
            "type-checked"
        );
        assert_ne!(
            key("t", &[b"ab"]),
            key("t", &[b"a", b"b"]),
            "parts are framed"
        );
    }

    #[test]
    fn sampled_keys_see_lengths_ends_and_short_inputs_whole() {
        assert_ne!(sampled_key("t", &[b"ab"]), sampled_key("t", &[b"a", b"b"]));
        assert_ne!(sampled_key("t", &[b"ab"]), key("t", &[b"ab"]));
        let long = vec![7u8; 10_000];
        let mut last = long.clone();
        if let Some(b) = last.last_mut() {
            *b = 8;
        }
        let mut first = long.clone();
        if let Some(b) = first.first_mut() {
            *b = 8;
        }
        let k = sampled_key("t", &[&long]);
        assert_ne!(k, sampled_key("t", &[&last]));
        assert_ne!(k, sampled_key("t", &[&first]));
        assert_ne!(k, sampled_key("t", &[&long[1..]]));
        assert_eq!(k, sampled_key("t", &[&long.clone()]));
    }
}
