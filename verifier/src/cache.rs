//! A verifier object's memo of work already done: verified certificate paths and collateral
//! signatures, keyed by the SHA-256 of everything the result depends on.
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
}
