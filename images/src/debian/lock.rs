//! `kiln image lock`: checking that every pin of a recipe can still be fetched, and resolving
//! pins again from apt's current package indices (version, SHA-256, pool path and a new
//! snapshot timestamp), written back into the recipe text with its comments and layout kept.
//!
//! Two ways to re-resolve:
//! - [`LockMode::All`], like `cargo update`: every pin becomes the newest version of its suite,
//!   the kernel follows its metapackage (`track`), and every suite's snapshot timestamp becomes
//!   the time of the lock (all pins are then in the archive at that moment).
//! - [`LockMode::Unavailable`]: only the pins no reachable source serves are replaced, each
//!   with its own snapshot timestamp (the rest of its suite keeps the old one). This is what
//!   `scripts/test` does on a fresh machine when the live archive has moved on.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use toml_edit::{value, DocumentMut, Item};

use super::fetch::FetchSources;
use super::packages::{kernel_of_metapackage, AptIndices, PackageEntry, Wanted};
use super::ArchiveError;
use crate::recipe::{DebPin, Recipe};

/// Whether a pin can still be fetched, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Served with the pinned digest by these sources.
    Served(Vec<String>),
    /// No reachable source serves it; why, per source.
    Unavailable(Vec<String>),
}

/// The state of one pin.
#[derive(Debug, Clone)]
pub struct PinCheck {
    /// `kernel` or `toolchain`.
    pub role: String,
    /// The pin.
    pub pin: DebPin,
    /// Whether a reachable source serves it.
    pub availability: Availability,
    /// A newer version the pin's suite serves (`package=version`), if any: a stale pin.
    pub newer: Option<String>,
}

impl PinCheck {
    /// Whether no reachable source serves the pin.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.availability, Availability::Unavailable(_))
    }
}

/// The packages a recipe needs from the indices: its pins, the kernel's metapackage, and every
/// `linux-image-*` package (the one the metapackage names may not be pinned yet).
pub fn wanted_packages(recipe: &Recipe) -> Wanted {
    let mut names: BTreeSet<String> = recipe.pins().into_iter().map(|p| p.package).collect();
    names.insert(recipe.kernel.track.clone());
    Wanted {
        names,
        prefixes: vec!["linux-image-".to_owned()],
    }
}

/// The newest entry for the pin of `role`: the kernel through its metapackage, the others by
/// name in the pin's suite.
fn newest_for<'a>(
    recipe: &Recipe,
    role: &str,
    pin: &DebPin,
    indices: &'a AptIndices,
) -> Result<&'a PackageEntry, ArchiveError> {
    if role == KERNEL_ROLE {
        let meta = indices
            .newest(&recipe.kernel.track, &pin.suite)
            .ok_or_else(|| ArchiveError::NotInIndex {
                package: recipe.kernel.track.clone(),
                suite: pin.suite.clone(),
            })?;
        let name = kernel_of_metapackage(&meta.depends).ok_or_else(|| ArchiveError::Index {
            file: meta.suite.clone(),
            reason: format!(
                "{}={} depends on no linux-image-* package",
                meta.package, meta.version
            ),
        })?;
        return indices
            .newest(name, &pin.suite)
            .ok_or_else(|| ArchiveError::NotInIndex {
                package: name.to_owned(),
                suite: pin.suite.clone(),
            });
    }
    indices
        .newest(&pin.package, &pin.suite)
        .ok_or_else(|| ArchiveError::NotInIndex {
            package: pin.package.clone(),
            suite: pin.suite.clone(),
        })
}

/// Every pin with its role: `kernel`, or `toolchains.<name>` (the table that pins it, which
/// no toolchain name can make equal to `kernel`).
fn roles(recipe: &Recipe) -> Vec<(String, DebPin)> {
    let mut v = vec![(KERNEL_ROLE.to_owned(), recipe.kernel.pin())];
    for (name, t) in &recipe.toolchains {
        v.extend(
            t.deb
                .iter()
                .cloned()
                .map(|p| (format!("{TOOLCHAIN_ROLE_PREFIX}{name}"), p)),
        );
    }
    v
}

/// The prefix of a toolchain pin's role.
const TOOLCHAIN_ROLE_PREFIX: &str = "toolchains.";

/// The role of the kernel's pin.
const KERNEL_ROLE: &str = "kernel";

/// Checks every pin: served by apt's indices with the pinned digest, or by the snapshot
/// archive (a HEAD request, when `sources.snapshot`); a newer version in its suite is noted.
pub fn check(recipe: &Recipe, indices: &AptIndices, sources: &FetchSources) -> Vec<PinCheck> {
    let mut snapshot_down: Option<String> = None;
    let mut out = Vec::new();
    for (role, pin) in roles(recipe) {
        let mut served = Vec::new();
        let mut why = Vec::new();
        if sources.apt {
            let mut other_digest = None;
            for e in indices.find(&pin.package, &pin.version) {
                if e.sha256 == pin.sha256 {
                    served.push(format!("apt ({})", e.suite));
                } else {
                    other_digest = Some(e.sha256.clone());
                }
            }
            if served.is_empty() {
                why.push(match other_digest {
                    Some(d) => format!(
                        "apt sources: serve {}={} with SHA-256 {d}, not the pinned one",
                        pin.package, pin.version
                    ),
                    None => format!(
                        "apt sources: no {}={} in the package indices",
                        pin.package, pin.version
                    ),
                });
            }
        }
        if sources.snapshot {
            match (&snapshot_down, recipe.snapshot.url(&pin)) {
                (Some(e), _) => why.push(format!("snapshot archive: unreachable ({e})")),
                (None, None) => why.push(format!(
                    "snapshot archive: suite {} has no [snapshot.suites] entry",
                    pin.suite
                )),
                (None, Some(url)) => match sources.snapshot_serves(&url) {
                    Ok(true) => served.push("snapshot".to_owned()),
                    Ok(false) => why.push(format!("snapshot archive: {url} is not served")),
                    Err(e) => {
                        why.push(format!("snapshot archive: unreachable ({e})"));
                        snapshot_down = Some(e);
                    }
                },
            }
        }
        let newer = newest_for(recipe, &role, &pin, indices).ok().and_then(|e| {
            let newer_version = match (e.parsed_version(), pin_version(&pin)) {
                (Some(a), Some(b)) => a > b,
                _ => false,
            };
            (e.package != pin.package || newer_version)
                .then(|| format!("{}={}", e.package, e.version))
        });
        let availability = if served.is_empty() {
            Availability::Unavailable(why)
        } else {
            Availability::Served(served)
        };
        out.push(PinCheck {
            role,
            pin,
            availability,
            newer,
        });
    }
    out
}

fn pin_version(pin: &DebPin) -> Option<debversion::Version> {
    pin.version.parse().ok()
}

/// Which pins to resolve again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Every pin, to the newest version of its suite.
    All,
    /// Only the pins no reachable source serves.
    Unavailable,
}

/// One replaced pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinChange {
    /// `kernel` or `toolchain`.
    pub role: String,
    /// The pin before.
    pub old: DebPin,
    /// The pin after.
    pub new: DebPin,
}

impl std::fmt::Display for PinChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}={} → {}={} ({})",
            self.old.package, self.old.version, self.new.package, self.new.version, self.new.suite
        )
    }
}

/// A snapshot timestamp (`YYYYMMDDTHHMMSSZ`) of `at`.
pub fn snapshot_timestamp(at: SystemTime) -> String {
    let t = time::OffsetDateTime::from(at);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The result of a lock: the new recipe text and what changed.
#[derive(Debug, Clone)]
pub struct Locked {
    /// The rewritten recipe (comments kept).
    pub text: String,
    /// Every pin that changed.
    pub changes: Vec<PinChange>,
}

/// Resolves pins again (`mode`) from `indices` and returns the recipe `text` with them
/// replaced. `checks` (from [`check`]) decides which pins are unavailable; `now` is the time of
/// the lock (the new snapshot timestamp).
pub fn lock(
    text: &str,
    recipe: &Recipe,
    indices: &AptIndices,
    checks: &[PinCheck],
    mode: LockMode,
    now: SystemTime,
) -> Result<Locked, ArchiveError> {
    let ts = snapshot_timestamp(now);
    let unavailable: BTreeSet<&str> = checks
        .iter()
        .filter(|c| c.is_unavailable())
        .map(|c| c.pin.package.as_str())
        .collect();
    let mut changes = Vec::new();
    for (role, pin) in roles(recipe) {
        if mode == LockMode::Unavailable && !unavailable.contains(pin.package.as_str()) {
            continue;
        }
        let e = newest_for(recipe, &role, &pin, indices)?;
        let new = DebPin {
            package: e.package.clone(),
            version: e.version.clone(),
            sha256: e.sha256.clone(),
            suite: pin.suite.clone(),
            path: e.filename.clone(),
            snapshot: match mode {
                LockMode::All => None,
                LockMode::Unavailable => Some(ts.clone()),
            },
        };
        let same = new.package == pin.package
            && new.version == pin.version
            && new.sha256 == pin.sha256
            && new.path == pin.path;
        if same && mode == LockMode::All {
            continue;
        }
        if same {
            // Unavailable, yet the indices serve exactly the pin: nothing to replace it with.
            return Err(ArchiveError::Unavailable {
                pin: format!("{}={}", pin.package, pin.version),
                attempts: vec![format!(
                    "apt's indices list it, yet no source served it: run `apt-get update`"
                )],
            });
        }
        changes.push(PinChange {
            role,
            old: pin,
            new,
        });
    }
    if changes.is_empty() {
        return Ok(Locked {
            text: text.to_owned(),
            changes,
        });
    }
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| ArchiveError::Edit(e.to_string()))?;
    for c in &changes {
        let table = if c.role == KERNEL_ROLE {
            doc.get_mut("kernel").and_then(Item::as_table_like_mut)
        } else {
            c.role
                .strip_prefix(TOOLCHAIN_ROLE_PREFIX)
                .and_then(|name| doc.get_mut("toolchains")?.get_mut(name))
                .and_then(|t| t.get_mut("deb"))
                .and_then(Item::as_array_of_tables_mut)
                .and_then(|a| {
                    a.iter_mut().find(|t| {
                        t.get("package").and_then(Item::as_str) == Some(c.old.package.as_str())
                    })
                })
                .map(|t| t as &mut dyn toml_edit::TableLike)
        }
        .ok_or_else(|| ArchiveError::Edit(format!("no table for {}", c.old.package)))?;
        table.insert("package", value(c.new.package.as_str()));
        table.insert("version", value(c.new.version.as_str()));
        table.insert("sha256", value(c.new.sha256.as_str()));
        table.insert("path", value(c.new.path.as_str()));
        match &c.new.snapshot {
            Some(t) => {
                table.insert("snapshot", value(t.as_str()));
            }
            None => {
                table.remove("snapshot");
            }
        }
        if c.role == KERNEL_ROLE && c.new.package != c.old.package {
            let release = c.new.package.strip_prefix("linux-image-").ok_or_else(|| {
                ArchiveError::Edit(format!("{} is not linux-image-*", c.new.package))
            })?;
            table.insert("release", value(release));
        }
    }
    if mode == LockMode::All {
        let suites: BTreeMap<String, ()> = recipe
            .snapshot
            .suites
            .keys()
            .map(|k| (k.clone(), ()))
            .collect();
        let table = doc
            .get_mut("snapshot")
            .and_then(|s| s.get_mut("suites"))
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| ArchiveError::Edit("no [snapshot.suites]".into()))?;
        for suite in suites.keys() {
            if let Some(entry) = table.get_mut(suite).and_then(Item::as_table_like_mut) {
                entry.insert("timestamp", value(ts.as_str()));
            }
        }
        // Pins left unchanged lose their own timestamps: their suite's new one covers them.
        if let Some(k) = doc.get_mut("kernel").and_then(Item::as_table_like_mut) {
            k.remove("snapshot");
        }
        for name in recipe.toolchains.keys() {
            if let Some(debs) = doc
                .get_mut("toolchains")
                .and_then(|t| t.get_mut(name))
                .and_then(|t| t.get_mut("deb"))
                .and_then(Item::as_array_of_tables_mut)
            {
                for t in debs.iter_mut() {
                    t.remove("snapshot");
                }
            }
        }
    }
    let text = doc.to_string();
    // What was written must read back as a valid recipe with the new pins.
    let back = Recipe::parse(&text).map_err(|e| ArchiveError::Edit(e.to_string()))?;
    for c in &changes {
        if !back.pins().iter().any(|p| p == &c.new) {
            return Err(ArchiveError::Edit(format!(
                "{} did not read back as written",
                c.new.package
            )));
        }
    }
    Ok(Locked { text, changes })
}
