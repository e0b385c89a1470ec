//! Shared test support: the manifest of real vectors in `../shared/vectors`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use base64::Engine as _;
use kiln_verifier::{Error, ErrorKind, Evidence, Platform, UnixTime};

/// The vectors folder: `shared/` sits beside the repository checkout.
pub fn vectors_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors"));
    assert!(
        dir.join("manifest.toml").is_file(),
        "test vectors not found at {} (the repository must be checked out with shared/ beside it)",
        dir.display()
    );
    dir
}

/// One `[[case]]` of the manifest.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Case {
    pub id: String,
    pub platform: String,
    pub evidence: String,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub vek: Option<String>,
    #[serde(default)]
    pub chain: Option<String>,
    #[serde(default)]
    pub collateral: Option<String>,
    pub at: String,
    pub expect: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(serde::Deserialize)]
struct Manifest {
    case: Vec<Case>,
}

/// Every case of the manifest.
pub fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(vectors_dir().join("manifest.toml")).unwrap();
    let manifest: Manifest = toml::from_str(&text).unwrap();
    assert!(!manifest.case.is_empty());
    manifest.case
}

/// The files of one case, loaded.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub case: Case,
    pub platform: Platform,
    pub evidence: Vec<u8>,
    pub vek: Option<Vec<u8>>,
    pub chain: Option<Vec<u8>>,
    pub collateral: Option<Vec<u8>>,
    pub at: UnixTime,
}

impl Loaded {
    pub fn evidence(&self) -> Evidence<'_> {
        Evidence {
            platform: Some(self.platform),
            bytes: &self.evidence,
            vek: self.vek.as_deref(),
            chain: self.chain.as_deref(),
            collateral: self.collateral.as_deref(),
            crl: None,
        }
    }

    pub fn verified(&self) -> bool {
        self.case.expect == "verified"
    }
}

pub fn load(case: &Case) -> Loaded {
    let dir = vectors_dir();
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let raw = read(&case.evidence);
    let evidence = match case.encoding.as_deref() {
        None | Some("raw") => raw,
        Some("base64") => {
            let text: String = String::from_utf8(raw)
                .unwrap()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap()
        }
        Some(other) => panic!("{}: unknown encoding {other}", case.id),
    };
    Loaded {
        platform: Platform::parse(&case.platform)
            .unwrap_or_else(|| panic!("{}: platform {}", case.id, case.platform)),
        evidence,
        vek: case.vek.as_deref().map(read),
        chain: case.chain.as_deref().map(read),
        collateral: case.collateral.as_deref().map(read),
        at: UnixTime::parse_rfc3339(&case.at).unwrap(),
        case: case.clone(),
    }
}

pub fn load_all() -> Vec<Loaded> {
    cases().iter().map(load).collect()
}

/// The claims of the manifest case `id`, verified at its time (the case must verify).
pub fn verified_claims(id: &str) -> (kiln_verifier::Claims, UnixTime) {
    let case = cases()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no case {id}"));
    let l = load(&case);
    let v = kiln_verifier::Verifier::default()
        .verify(&l.evidence(), l.at)
        .unwrap();
    (v.claims().clone(), l.at)
}

/// The kinds of failure a manifest `reason` may name, by the words it uses.
pub fn expected_kinds(reason: &str) -> Vec<ErrorKind> {
    let r = reason.to_ascii_lowercase();
    let table: &[(&str, &[ErrorKind])] = &[
        ("certificate expired", &[ErrorKind::CertificateValidity]),
        (
            "collateral expired",
            &[
                ErrorKind::CollateralValidity,
                ErrorKind::CertificateValidity,
            ],
        ),
        ("no tcb level", &[ErrorKind::TcbLevelNotFound]),
        ("revoked", &[ErrorKind::Revoked, ErrorKind::TcbRevoked]),
        ("signature does not verify", &[ErrorKind::EvidenceSignature]),
        ("untrusted root", &[ErrorKind::UntrustedRoot]),
        ("simulated", &[ErrorKind::Simulated]),
        ("malformed", &[ErrorKind::Malformed]),
        ("mismatch", &[ErrorKind::Mismatch]),
    ];
    table
        .iter()
        .filter(|(words, _)| r.contains(words))
        .flat_map(|(_, kinds)| kinds.iter().copied())
        .collect()
}

/// Asserts that `err` is of a kind the case's reason names.
pub fn assert_reason(case: &Case, err: &Error) {
    let reason = case
        .reason
        .as_deref()
        .unwrap_or_else(|| panic!("{}: a rejected case must state its reason", case.id));
    let kinds = expected_kinds(reason);
    assert!(
        !kinds.is_empty(),
        "{}: the reason {reason:?} names no kind of failure this suite knows; extend expected_kinds()",
        case.id
    );
    assert!(
        kinds.contains(&err.kind()),
        "{}: rejected for the wrong reason: expected {kinds:?} ({reason}), got {:?}: {err}",
        case.id,
        err.kind()
    );
}
