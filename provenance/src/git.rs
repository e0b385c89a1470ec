//! Git objects, as the guest recomputes them to prove a commit.
//!
//! The host claims "this archive is folder `path` of commit `C`". The guest does not take
//! that on trust: it receives the commit object and the tree objects from the commit's root
//! down to the packed folder's parent ([`GitProof`](crate::request::GitProof)), recomputes
//! the tree of the unpacked files ([`tree_id`]), and [`verify_commit`] checks each link:
//! every parent tree names the child by name with the recomputed id, the root tree is the one
//! the commit object names, and the commit object hashes to `C`. SHA-1 repositories are hashed
//! with collision detection (`sha1-checked`, as git itself does); SHA-256 repositories with
//! SHA-256. Object ids are `hash("<kind> <len>\0" ‖ body)`.

use std::collections::BTreeMap;

use sha1_checked::Digest as _;

/// A repository's object format, told by the length of the claimed commit id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectFormat {
    /// 40 hex digits; hashed with SHA-1 and collision detection.
    Sha1,
    /// 64 hex digits.
    Sha256,
}

impl ObjectFormat {
    /// The format of a commit id in hex.
    pub fn of_commit(commit: &str) -> Option<Self> {
        if !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        match commit.len() {
            40 => Some(Self::Sha1),
            64 => Some(Self::Sha256),
            _ => None,
        }
    }

    /// `sha1` or `sha256`, as git names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }

    fn id_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }
}

/// Why a commit could not be proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitError {
    /// The claimed commit id is not 40 or 64 hex digits.
    CommitId(String),
    /// A SHA-1 input carries a collision attack.
    Collision {
        /// What was hashed.
        object: String,
    },
    /// An object is malformed.
    Malformed {
        /// Which object.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// A recomputed id differs from the one claimed.
    Mismatch {
        /// What was compared.
        what: String,
        /// The id the claim names.
        claimed: String,
        /// The id recomputed.
        computed: String,
    },
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CommitId(c) => write!(f, "{c:?} is not a git commit id (40 or 64 hex digits)"),
            Self::Collision { object } => {
                write!(f, "{object} carries a SHA-1 collision attack")
            }
            Self::Malformed { object, reason } => write!(f, "{object} is malformed: {reason}"),
            Self::Mismatch {
                what,
                claimed,
                computed,
            } => write!(f, "{what}: claimed {claimed}, recomputed {computed}"),
        }
    }
}

impl std::error::Error for GitError {}

/// The id of an object of `kind` with `body`.
pub fn object_id(format: ObjectFormat, kind: &str, body: &[u8]) -> Result<Vec<u8>, GitError> {
    let mut h = Hasher::new(format, kind, body.len() as u64);
    h.update(body);
    h.finish(&format!("the {kind} object"))
}

/// An incremental object hasher (for blobs streamed from disk).
pub enum Hasher {
    /// SHA-1 with collision detection.
    Sha1(Box<sha1_checked::Sha1>),
    /// SHA-256.
    Sha256(sha2::Sha256),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sha1(_) => "Hasher::Sha1",
            Self::Sha256(_) => "Hasher::Sha256",
        })
    }
}

impl Hasher {
    /// Starts an object of `kind` whose body is `len` bytes.
    pub fn new(format: ObjectFormat, kind: &str, len: u64) -> Self {
        let header = format!("{kind} {len}\0");
        let mut h = match format {
            // As git: detect, and refuse, rather than compute a "safe" alternative hash.
            ObjectFormat::Sha1 => Self::Sha1(Box::new(
                sha1_checked::Builder::default().safe_hash(false).build(),
            )),
            ObjectFormat::Sha256 => Self::Sha256(sha2::Sha256::new()),
        };
        h.update(header.as_bytes());
        h
    }

    /// Feeds body bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(bytes),
            Self::Sha256(h) => sha2::Digest::update(h, bytes),
        }
    }

    /// The object id; `object` names it in errors.
    pub fn finish(self, object: &str) -> Result<Vec<u8>, GitError> {
        match self {
            Self::Sha1(h) => {
                let r = h.try_finalize();
                if r.has_collision() {
                    return Err(GitError::Collision {
                        object: object.to_owned(),
                    });
                }
                Ok(r.hash().to_vec())
            }
            Self::Sha256(h) => Ok(sha2::Digest::finalize(h).to_vec()),
        }
    }
}

/// One entry of a tree, as the guest found it on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file: whether it is executable, and its blob id.
    File {
        /// Mode 100755 rather than 100644.
        executable: bool,
        /// The blob's id.
        id: Vec<u8>,
    },
    /// A symlink: the blob id of its target.
    Symlink {
        /// The blob's id.
        id: Vec<u8>,
    },
    /// A folder.
    Dir(BTreeMap<Vec<u8>, Node>),
}

/// The id of the tree `entries`, encoded as git does: entries sorted by name, a folder's name
/// compared as if it ended in `/`; each `<mode> <name>\0<raw id>`. An empty folder has no
/// place in a git tree, so a proof over one fails.
pub fn tree_id(
    format: ObjectFormat,
    entries: &BTreeMap<Vec<u8>, Node>,
) -> Result<Vec<u8>, GitError> {
    let mut sorted: Vec<(Vec<u8>, &[u8], Vec<u8>)> = Vec::with_capacity(entries.len());
    for (name, node) in entries {
        let (key, mode, id) = match node {
            Node::File { executable, id } => (
                name.clone(),
                if *executable {
                    &b"100755"[..]
                } else {
                    b"100644"
                },
                id.clone(),
            ),
            Node::Symlink { id } => (name.clone(), &b"120000"[..], id.clone()),
            Node::Dir(children) => {
                if children.is_empty() {
                    return Err(GitError::Malformed {
                        object: format!("folder {}", String::from_utf8_lossy(name)),
                        reason: "it is empty, and git trees hold no empty folders".into(),
                    });
                }
                let mut key = name.clone();
                key.push(b'/');
                (key, &b"40000"[..], tree_id(format, children)?)
            }
        };
        sorted.push((key, mode, id));
    }
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut body = Vec::new();
    for (key, mode, id) in &sorted {
        let name = key.strip_suffix(b"/").unwrap_or(key);
        body.extend_from_slice(mode);
        body.push(b' ');
        body.extend_from_slice(name);
        body.push(0);
        body.extend_from_slice(id);
    }
    object_id(format, "tree", &body)
}

/// One entry of a tree object: (mode, name, id).
type TreeEntry = (String, Vec<u8>, Vec<u8>);

/// The entries of a tree object.
fn parse_tree(format: ObjectFormat, body: &[u8], object: &str) -> Result<Vec<TreeEntry>, GitError> {
    let bad = |reason: &str| GitError::Malformed {
        object: object.to_owned(),
        reason: reason.to_owned(),
    };
    let mut rest = body;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|b| *b == b' ')
            .ok_or_else(|| bad("an entry without a mode"))?;
        let (mode, after) = rest.split_at(space);
        let after = after.get(1..).ok_or_else(|| bad("truncated"))?;
        let nul = after
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| bad("an entry without a name end"))?;
        let (name, after) = after.split_at(nul);
        let after = after.get(1..).ok_or_else(|| bad("truncated"))?;
        let id = after
            .get(..format.id_len())
            .ok_or_else(|| bad("a truncated object id"))?;
        rest = after.get(format.id_len()..).unwrap_or_default();
        let mode = std::str::from_utf8(mode).map_err(|_| bad("a mode that is not text"))?;
        out.push((mode.to_owned(), name.to_vec(), id.to_vec()));
    }
    Ok(out)
}

/// What a commit object says that the guest uses: its root tree and committer time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitFacts {
    /// The root tree's id.
    pub tree: Vec<u8>,
    /// The committer timestamp (seconds since the epoch).
    pub committer_time: i64,
}

/// Reads the header of a commit object: its `tree` line (first) and its `committer` line.
pub fn parse_commit(format: ObjectFormat, body: &[u8]) -> Result<CommitFacts, GitError> {
    let bad = |reason: String| GitError::Malformed {
        object: "the commit object".into(),
        reason,
    };
    let header_end = body
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(body.len());
    let header = body.get(..header_end).unwrap_or_default();
    let mut lines = header.split(|b| *b == b'\n');
    let first = lines.next().unwrap_or_default();
    let tree_hex = first
        .strip_prefix(b"tree ")
        .ok_or_else(|| bad("its first line is not `tree <id>`".into()))?;
    let tree = std::str::from_utf8(tree_hex)
        .ok()
        .and_then(|t| hex::decode(t).ok())
        .filter(|t| t.len() == format.id_len())
        .ok_or_else(|| {
            bad(format!(
                "`tree {}` is not a {} id",
                String::from_utf8_lossy(tree_hex),
                format.as_str()
            ))
        })?;
    let committer = lines
        .find_map(|l| l.strip_prefix(b"committer "))
        .ok_or_else(|| bad("no committer line".into()))?;
    // `committer Name <email> 1700000000 +0100`: the time is the second field from the end.
    let text = String::from_utf8_lossy(committer);
    let committer_time = text
        .rsplit(' ')
        .nth(1)
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| bad(format!("the committer line {text:?} has no timestamp")))?;
    Ok(CommitFacts {
        tree,
        committer_time,
    })
}

/// Proves that `packed_tree` (recomputed from the unpacked source) is folder `path` of commit
/// `commit`:
///
/// 1. `commit` is a 40- or 64-hex-digit id; its length sets the object format.
/// 2. For each component of `path`, deepest first, the parent tree object (`trees`, root
///    first) names it as a folder (mode 40000) with the id computed so far; the id of that
///    parent object is the next.
/// 3. The commit object names the resulting root tree.
/// 4. The commit object hashes to `commit` (SHA-1 with collision detection, or SHA-256).
///
/// Returns what the commit says (root tree, committer time).
pub fn verify_commit(
    commit: &str,
    commit_object: &[u8],
    path: &str,
    trees: &[Vec<u8>],
    packed_tree: &[u8],
) -> Result<CommitFacts, GitError> {
    // 1.
    let format =
        ObjectFormat::of_commit(commit).ok_or_else(|| GitError::CommitId(commit.to_owned()))?;
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if components.len() != trees.len() {
        return Err(GitError::Malformed {
            object: "the proof".into(),
            reason: format!(
                "folder {path:?} has {} components but the proof carries {} trees",
                components.len(),
                trees.len()
            ),
        });
    }
    // 2.
    let mut id = packed_tree.to_vec();
    for (depth, (name, tree)) in components.iter().zip(trees).enumerate().rev() {
        let object = format!(
            "the tree of {:?}",
            components.get(..depth).unwrap_or_default().join("/")
        );
        let entries = parse_tree(format, tree, &object)?;
        let entry = entries
            .iter()
            .find(|(_, n, _)| n.as_slice() == name.as_bytes())
            .ok_or_else(|| GitError::Malformed {
                object: object.clone(),
                reason: format!("it has no entry {name:?}"),
            })?;
        if entry.0 != "40000" || entry.2 != id {
            return Err(GitError::Mismatch {
                what: format!(
                    "folder {:?} in {object}",
                    components.get(..=depth).unwrap_or_default().join("/")
                ),
                claimed: format!("{} {}", entry.0, hex::encode(&entry.2)),
                computed: format!("40000 {}", hex::encode(&id)),
            });
        }
        id = object_id(format, "tree", tree)?;
    }
    // 3.
    let facts = parse_commit(format, commit_object)?;
    if facts.tree != id {
        return Err(GitError::Mismatch {
            what: "the commit's root tree".into(),
            claimed: hex::encode(&facts.tree),
            computed: hex::encode(&id),
        });
    }
    // 4.
    let computed = object_id(format, "commit", commit_object)?;
    if !hex::encode(&computed).eq_ignore_ascii_case(commit) {
        return Err(GitError::Mismatch {
            what: "the commit id".into(),
            claimed: commit.to_ascii_lowercase(),
            computed: hex::encode(computed),
        });
    }
    Ok(facts)
}

/// Checks a request's git proof ([`GitProof`](crate::request::GitProof)) against the tree id
/// of the source: decodes its objects, runs [`verify_commit`], and requires the commit's
/// committer time to be the request's `SOURCE_DATE_EPOCH`. The guest calls it with the tree it
/// recomputed from the unpacked files; the verifier with the tree the guest recorded.
pub fn check_proof(
    commit: &str,
    proof: &crate::request::GitProof,
    source_tree: &[u8],
    source_date_epoch: i64,
) -> Result<CommitFacts, GitError> {
    let b64 = |what: &str, text: &str| {
        crate::dsse::decode_base64(text).ok_or_else(|| GitError::Malformed {
            object: what.to_owned(),
            reason: "not base64".into(),
        })
    };
    let object = b64("the commit object", &proof.commit_object)?;
    let trees = proof
        .trees
        .iter()
        .map(|t| b64("a tree object", t))
        .collect::<Result<Vec<_>, _>>()?;
    let facts = verify_commit(commit, &object, &proof.path, &trees, source_tree)?;
    if facts.committer_time != source_date_epoch {
        return Err(GitError::Mismatch {
            what: "the request's sourceDateEpoch".into(),
            claimed: source_date_epoch.to_string(),
            computed: format!("{} (the committer time)", facts.committer_time),
        });
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn blob_and_tree_ids_match_git() {
        // `printf 'hi\n' | git hash-object --stdin`
        let blob = object_id(ObjectFormat::Sha1, "blob", b"hi\n").unwrap();
        assert_eq!(
            hex::encode(&blob),
            "45b983be36b73c0788dc9cbcb76cbb80fc7bb057"
        );
        // The empty tree.
        assert_eq!(
            hex::encode(object_id(ObjectFormat::Sha1, "tree", b"").unwrap()),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
        // `a` sorts after `a-b` as a folder ("a/" > "a-b") but before it as a file.
        let file = Node::File {
            executable: false,
            id: blob.clone(),
        };
        let mut inner = BTreeMap::new();
        inner.insert(b"x".to_vec(), file.clone());
        let mut as_dir = BTreeMap::new();
        as_dir.insert(b"a".to_vec(), Node::Dir(inner));
        as_dir.insert(b"a-b".to_vec(), file.clone());
        let id = tree_id(ObjectFormat::Sha1, &as_dir).unwrap();
        assert_eq!(id.len(), 20);
        let mut empty = BTreeMap::new();
        empty.insert(b"e".to_vec(), Node::Dir(BTreeMap::new()));
        assert!(tree_id(ObjectFormat::Sha1, &empty).is_err());
    }

    #[test]
    fn malformed_objects_are_errors_not_panics() {
        for body in [&b""[..], b"tree zz\n", b"tree \n\ncommitter", b"parent x\n"] {
            assert!(parse_commit(ObjectFormat::Sha1, body).is_err());
        }
        for t in [&b"100644"[..], b"100644 a", b"100644 a\0abc", b"40000 b\0"] {
            assert!(parse_tree(ObjectFormat::Sha1, t, "t").is_err());
        }
        assert!(verify_commit("xyz", b"", "", &[], &[0; 20]).is_err());
        assert!(verify_commit(&"a".repeat(40), b"", "a/b", &[vec![]], &[0; 20]).is_err());
    }
}
