//! Issue 2's benchmark: kiln's verifier on one real vector per platform, cold (a fresh
//! `Verifier`, full chain and collateral verification) and warm (one `Verifier` reused, chains
//! and collateral cached), against peer crates doing the same work, and against the crypto
//! floor: the raw signature verifications the platform needs, done directly with `aws-lc-rs`, the library kiln verifies with.
//!
//! After criterion's groups it prints a table of ratios with PASS/MISS against the targets
//! (warm within 1.3x of the floor; kiln warm and cold faster than every peer). The table has
//! its own measurement: the routines of one platform run interleaved in short batches, round
//! by round, and the table reports a low percentile of the rounds, so that load from other
//! processes falls on all of them alike and the ratios hold on a busy machine (criterion
//! measures each routine in turn, seconds apart from the routines it is compared with).
//!
//! Run: `cargo bench -p kiln-verifier` (or `scripts/bench-verifier`, which keeps the table in
//! `target/bench-verifier.txt`). `KILN_BENCH_TABLE=path` also writes the table to a file;
//! `KILN_BENCH_TABLE_ONLY=1` skips criterion's groups (the table alone, in about 10 s).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use criterion::Criterion;
use kiln_verifier::{Evidence, Platform, TrustAnchors, UnixTime, Verifier};

/// Criterion's samples per benchmark.
const SAMPLES: usize = 20;
const WARM_UP: Duration = Duration::from_millis(400);
const MEASUREMENT: Duration = Duration::from_millis(1500);
/// Target: warm verification within this factor of the crypto floor.
const WARM_FLOOR_TARGET: f64 = 1.3;

// ---------------------------------------------------------------------------------------------
// Inputs

fn vectors_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors"));
    assert!(
        dir.join("manifest.toml").is_file(),
        "test vectors not found at {} (check the repository out with shared/ beside it)",
        dir.display()
    );
    dir
}

fn read(rel: &str) -> Vec<u8> {
    let path = vectors_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One vector: the evidence and its inputs, at its manifest time.
struct Vector {
    platform: Platform,
    label: &'static str,
    file: &'static str,
    evidence: Vec<u8>,
    vek: Option<Vec<u8>>,
    collateral: Option<Vec<u8>>,
    at: UnixTime,
}

impl Vector {
    fn evidence(&self) -> Evidence<'_> {
        Evidence {
            platform: Some(self.platform),
            bytes: &self.evidence,
            vek: self.vek.as_deref(),
            chain: None,
            collateral: self.collateral.as_deref(),
            crl: None,
        }
    }
}

fn at(text: &str) -> UnixTime {
    UnixTime::parse_rfc3339(text).unwrap()
}

fn snp_vector() -> Vector {
    Vector {
        platform: Platform::SevSnp,
        label: "SEV-SNP",
        file: "snp/virtee-sev/report_milan.bin + vcek_milan.der",
        evidence: read("snp/virtee-sev/report_milan.bin"),
        vek: Some(read("snp/virtee-sev/vcek_milan.der")),
        collateral: None,
        at: at("2025-09-01T00:00:00Z"),
    }
}

fn tdx_vector() -> Vector {
    Vector {
        platform: Platform::Tdx,
        label: "TDX",
        file: "tdx/dcap-qvl/tdx_quote + tdx_quote_collateral.json",
        evidence: read("tdx/dcap-qvl/tdx_quote"),
        vek: None,
        collateral: Some(read("tdx/dcap-qvl/tdx_quote_collateral.json")),
        at: at("2025-07-04T10:16:31Z"),
    }
}

fn nitro_vector() -> Vector {
    Vector {
        platform: Platform::Nitro,
        label: "Nitro",
        file: "nitro/evervault/prod-2022-10-13.cbor",
        evidence: read("nitro/evervault/prod-2022-10-13.cbor"),
        vek: None,
        collateral: None,
        at: at("2022-10-13T08:58:02Z"),
    }
}

// ---------------------------------------------------------------------------------------------
// Minimal DER / PEM helpers for the floor (test code: the inputs are the known-good vectors)

/// Header length and content length of the DER TLV at the start of `b`.
fn tlv(b: &[u8]) -> (usize, usize) {
    let first = b[1];
    if first < 0x80 {
        return (2, usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    let len = b[2..2 + n]
        .iter()
        .fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
    (2 + n, len)
}

/// Splits `SEQUENCE { tbs, algorithm, BIT STRING signature }` (a certificate or a CRL) into the
/// received `tbs` TLV and the signature bytes.
fn split_signed(der: &[u8]) -> (&[u8], &[u8]) {
    let (h, len) = tlv(der);
    let body = &der[h..h + len];
    let (th, tl) = tlv(body);
    let tbs = &body[..th + tl];
    let rest = &body[th + tl..];
    let (ah, al) = tlv(rest);
    let rest = &rest[ah + al..];
    assert_eq!(rest[0], 0x03, "signature is a BIT STRING");
    let (sh, sl) = tlv(rest);
    let bits = &rest[sh..sh + sl];
    assert_eq!(bits[0], 0, "no unused bits");
    (tbs, &bits[1..])
}

/// The subject public key (SEC1 point, or `RSAPublicKey` DER) of a DER certificate.
fn public_key(cert_der: &[u8]) -> Vec<u8> {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(cert_der).unwrap();
    cert.tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec()
}

/// Every `CERTIFICATE` block of a PEM text, as DER.
fn pem_certs(text: &[u8]) -> Vec<Vec<u8>> {
    let text = std::str::from_utf8(text).unwrap();
    let mut out = Vec::new();
    let mut rest = text;
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let end = rest[start..].find(END).unwrap() + start + END.len();
        let (label, der) = der::pem::decode_vec(&rest.as_bytes()[start..end]).unwrap();
        assert_eq!(label, "CERTIFICATE");
        out.push(der);
        rest = &rest[end..];
    }
    out
}

fn le16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

// ---------------------------------------------------------------------------------------------
// The crypto floor: each platform's signature verifications, done directly with aws-lc-rs

/// One signature verification, with its inputs prepared in advance.
struct SigCheck {
    what: &'static str,
    alg: &'static dyn VerificationAlgorithm,
    key: Vec<u8>,
    msg: Vec<u8>,
    sig: Vec<u8>,
}

impl SigCheck {
    fn new(
        what: &'static str,
        alg: &'static dyn VerificationAlgorithm,
        key: Vec<u8>,
        msg: &[u8],
        sig: &[u8],
    ) -> Self {
        let check = Self {
            what,
            alg,
            key,
            msg: msg.to_vec(),
            sig: sig.to_vec(),
        };
        assert!(
            check.run(),
            "floor check {what} does not verify on the vector"
        );
        check
    }

    fn run(&self) -> bool {
        UnparsedPublicKey::new(self.alg, &self.key)
            .verify(&self.msg, &self.sig)
            .is_ok()
    }
}

/// A floor: the warm checks (the evidence's own signatures) and the extra cold checks (chain
/// and collateral signatures).
struct Floor {
    warm: Vec<SigCheck>,
    cold_extra: Vec<SigCheck>,
}

fn run_all(checks: &[SigCheck]) -> bool {
    checks.iter().fold(true, |ok, c| ok & c.run())
}

impl Floor {
    fn describe(checks: &[SigCheck]) -> String {
        checks.iter().map(|c| c.what).collect::<Vec<_>>().join(", ")
    }
}

fn snp_floor(v: &Vector) -> Floor {
    let report = &v.evidence;
    // r and s are little-endian, zero-padded to 72 bytes each, at 0x2A0.
    let mut sig = Vec::with_capacity(96);
    sig.extend(report[0x2A0..0x2A0 + 48].iter().rev());
    sig.extend(report[0x2E8..0x2E8 + 48].iter().rev());
    let vcek = v.vek.as_deref().unwrap();
    let ask = pem_certs(&read("snp/roots/ask_milan.pem")).remove(0);
    let ark = pem_certs(&read("snp/roots/ark_milan.pem")).remove(0);
    let (vcek_tbs, vcek_sig) = split_signed(vcek);
    let (ask_tbs, ask_sig) = split_signed(&ask);
    Floor {
        warm: vec![SigCheck::new(
            "report ECDSA P-384 (VCEK)",
            &signature::ECDSA_P384_SHA384_FIXED,
            public_key(vcek),
            &report[..0x2A0],
            &sig,
        )],
        cold_extra: vec![
            SigCheck::new(
                "VCEK <- ASK RSA-PSS-4096/SHA-384",
                &signature::RSA_PSS_2048_8192_SHA384,
                public_key(&ask),
                vcek_tbs,
                vcek_sig,
            ),
            SigCheck::new(
                "ASK <- ARK RSA-PSS-4096/SHA-384",
                &signature::RSA_PSS_2048_8192_SHA384,
                public_key(&ark),
                ask_tbs,
                ask_sig,
            ),
        ],
    }
}

fn tdx_floor(v: &Vector) -> Floor {
    let q = &v.evidence;
    let version = le16(q, 0);
    // v4: TDX 1.0 body (584 bytes) at 48; v5: a 6-byte body descriptor at 48, then the body.
    let signed_end = match version {
        4 => 48 + 584,
        5 => 48 + 6 + le32(q, 50),
        other => panic!("quote version {other}"),
    };
    let sig_data = signed_end + 4;
    let att_sig = &q[sig_data..sig_data + 64];
    let mut att_key = vec![0x04];
    att_key.extend_from_slice(&q[sig_data + 64..sig_data + 128]);
    let cert_data = sig_data + 128;
    assert_eq!(le16(q, cert_data), 6, "QE report certification data");
    let qe_report_at = cert_data + 6;
    let qe_report = &q[qe_report_at..qe_report_at + 384];
    let qe_sig = &q[qe_report_at + 384..qe_report_at + 448];
    let auth_len = le16(q, qe_report_at + 448);
    let inner = qe_report_at + 450 + auth_len;
    assert_eq!(le16(q, inner), 5, "PCK chain certification data");
    let pck_len = le32(q, inner + 2);
    let pck_chain = pem_certs(&q[inner + 6..inner + 6 + pck_len]);
    let (pck, platform_ca, root) = (&pck_chain[0], &pck_chain[1], &pck_chain[2]);

    let collateral: serde_json::Value =
        serde_json::from_slice(v.collateral.as_deref().unwrap()).unwrap();
    let field = |name: &str| collateral[name].as_str().unwrap().to_owned();
    let tcb_signing = pem_certs(field("tcb_info_issuer_chain").as_bytes()).remove(0);
    let pck_crl = hex::decode(field("pck_crl")).unwrap();
    let root_crl = hex::decode(field("root_ca_crl")).unwrap();
    let tcb_info = field("tcb_info");
    let tcb_info_sig = hex::decode(field("tcb_info_signature")).unwrap();
    let qe_identity = field("qe_identity");
    let qe_identity_sig = hex::decode(field("qe_identity_signature")).unwrap();

    let asn1 = &signature::ECDSA_P256_SHA256_ASN1;
    let fixed = &signature::ECDSA_P256_SHA256_FIXED;
    let cert_check = |what, cert: &[u8], issuer: &[u8]| {
        let (tbs, sig) = split_signed(cert);
        SigCheck::new(what, asn1, public_key(issuer), tbs, sig)
    };
    Floor {
        warm: vec![
            SigCheck::new(
                "quote ECDSA P-256 (attestation key)",
                fixed,
                att_key,
                &q[..signed_end],
                att_sig,
            ),
            SigCheck::new(
                "QE report ECDSA P-256 (PCK)",
                fixed,
                public_key(pck),
                qe_report,
                qe_sig,
            ),
        ],
        cold_extra: vec![
            cert_check("PCK <- Platform CA", pck, platform_ca),
            cert_check("Platform CA <- Root CA", platform_ca, root),
            cert_check("TCB Signing <- Root CA", &tcb_signing, root),
            cert_check("PCK CRL <- Platform CA", &pck_crl, platform_ca),
            cert_check("Root CA CRL <- Root CA", &root_crl, root),
            SigCheck::new(
                "TCB info (TCB Signing)",
                fixed,
                public_key(&tcb_signing),
                tcb_info.as_bytes(),
                &tcb_info_sig,
            ),
            SigCheck::new(
                "QE identity (TCB Signing)",
                fixed,
                public_key(&tcb_signing),
                qe_identity.as_bytes(),
                &qe_identity_sig,
            ),
        ],
    }
}

fn nitro_floor(v: &Vector) -> Floor {
    use coset::CborSerializable;
    let sign1 = coset::CoseSign1::from_slice(&v.evidence).unwrap();
    let tbs = sign1.tbs_data(b"");
    let payload: ciborium::Value =
        ciborium::from_reader(sign1.payload.as_deref().unwrap()).unwrap();
    let map = payload.as_map().unwrap();
    let get = |name: &str| {
        map.iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let leaf = get("certificate").as_bytes().unwrap().clone();
    let bundle: Vec<Vec<u8>> = get("cabundle")
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_bytes().unwrap().clone())
        .collect();
    let mut chain = bundle.clone();
    chain.push(leaf.clone());
    let names = [
        "cabundle[1] <- root",
        "cabundle[2] <- cabundle[1]",
        "cabundle[3] <- cabundle[2]",
        "cabundle[4] <- cabundle[3]",
        "cabundle[5] <- cabundle[4]",
    ];
    let mut cold_extra: Vec<SigCheck> = chain
        .windows(2)
        .zip(names)
        .map(|(pair, name)| {
            let (tbs, sig) = split_signed(&pair[1]);
            SigCheck::new(
                name,
                &signature::ECDSA_P384_SHA384_ASN1,
                public_key(&pair[0]),
                tbs,
                sig,
            )
        })
        .collect();
    assert_eq!(cold_extra.len(), chain.len() - 1, "name every chain link");
    // The last link is the leaf's.
    if let Some(last) = cold_extra.last_mut() {
        last.what = "leaf <- last cabundle cert";
    }
    Floor {
        warm: vec![SigCheck::new(
            "COSE_Sign1 ES384 (leaf)",
            &signature::ECDSA_P384_SHA384_FIXED,
            public_key(&leaf),
            &tbs,
            &sign1.signature,
        )],
        cold_extra,
    }
}

// ---------------------------------------------------------------------------------------------
// Peers

/// A peer crate's verification, set up for one vector.
struct Peer {
    /// Bench id (under the platform's group).
    id: &'static str,
    /// Crate, version, features.
    name: &'static str,
    /// The API called and what it covers.
    api: &'static str,
    /// Whether the verification time is an explicit argument (else the system clock).
    explicit_time: bool,
    /// Compared with kiln cold (full work) or only informative (a partial task).
    full: bool,
    run: Box<dyn Fn() -> Result<(), String>>,
}

fn snp_peers(v: &Vector) -> Vec<Peer> {
    use sev::certs::snp::{ca, Certificate, Chain, Verifiable};
    use sev::firmware::guest::AttestationReport;
    use sev::parser::ByteParser;

    // The ARK and ASK are parsed once, like kiln's pinned anchors; the report and the VCEK are
    // parsed in every call, as kiln parses them.
    let ca = ca::Chain {
        ark: Certificate::from_pem(&read("snp/roots/ark_milan.pem")).unwrap(),
        ask: Certificate::from_pem(&read("snp/roots/ask_milan.pem")).unwrap(),
    };
    let report = v.evidence.clone();
    let vcek = v.vek.clone().unwrap();
    let full = move || -> Result<(), String> {
        let report = AttestationReport::from_bytes(&report).map_err(|e| e.to_string())?;
        let vek = Certificate::from_der(&vcek).map_err(|e| e.to_string())?;
        let chain = Chain {
            ca: ca.clone(),
            vek,
        };
        (&chain, &report).verify().map_err(|e| e.to_string())
    };
    let report = v.evidence.clone();
    let vek = Certificate::from_der(v.vek.as_deref().unwrap()).unwrap();
    let report_only = move || -> Result<(), String> {
        let report = AttestationReport::from_bytes(&report).map_err(|e| e.to_string())?;
        (&vek, &report).verify().map_err(|e| e.to_string())
    };
    vec![
        Peer {
            id: "peer-sev",
            name: "sev 8.0.0 (snp, crypto_nossl)",
            api: "AttestationReport::from_bytes + Certificate::from_der(VCEK) + (&Chain{ARK,ASK,VCEK}, &report).verify(): ARK self-sig, ASK, VCEK, report; no dates, no TCB/hwID checks",
            explicit_time: false,
            full: true,
            run: Box::new(full),
        },
        Peer {
            id: "peer-sev-report-only",
            name: "sev 8.0.0 (report only)",
            api: "AttestationReport::from_bytes + (&vcek, &report).verify() with the VCEK pre-parsed: the report signature only (compare with kiln warm)",
            explicit_time: false,
            full: false,
            run: Box::new(report_only),
        },
    ]
}

fn tdx_peers(v: &Vector) -> Vec<Peer> {
    // Deserialised once outside the loop (the peer's best case; kiln parses the JSON each cold
    // call). The PEM, CRLs and TCB JSON inside it are parsed by `verify` itself.
    let collateral: dcap_qvl::QuoteCollateralV3 =
        serde_json::from_slice(v.collateral.as_deref().unwrap()).unwrap();
    let quote = v.evidence.clone();
    let now = u64::try_from(v.at.as_secs()).unwrap();
    vec![Peer {
        id: "peer-dcap-qvl",
        name: "dcap-qvl 0.7.1 (std, ring, default-x509)",
        api: "dcap_qvl::verify::verify(quote, &QuoteCollateralV3, now_secs), collateral deserialised once outside the loop",
        explicit_time: true,
        full: true,
        run: Box::new(move || {
            dcap_qvl::verify::verify(&quote, &collateral, now)
                .map(|_| ())
                .map_err(|e| format!("{e:#}"))
        }),
    }]
}

fn nitro_peers(v: &Vector) -> Vec<Peer> {
    let doc = v.evidence.clone();
    let now = time::OffsetDateTime::from_unix_timestamp(v.at.as_secs()).unwrap();
    let doc2 = v.evidence.clone();
    vec![
        Peer {
            id: "peer-nitro_attest",
            name: "nitro_attest 0.2.0",
            api: "UnparsedAttestationDoc::from(doc).parse_and_verify(now): cabundle chain to the pinned root (x509-parser + ring), validity at `now`, COSE ES384",
            explicit_time: true,
            full: true,
            run: Box::new(move || {
                nitro_attest::UnparsedAttestationDoc::from(doc.as_slice())
                    .parse_and_verify(now)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Peer {
            id: "peer-attestation-doc-validation",
            name: "attestation-doc-validation 0.10.1",
            api: "validate_and_parse_attestation_doc(doc): webpki chain check at the SYSTEM CLOCK (no time argument), COSE ES384",
            explicit_time: false,
            full: true,
            run: Box::new(move || {
                attestation_doc_validation::validate_and_parse_attestation_doc(&doc2)
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            }),
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// One platform: its vector, the verdicts, and the routines to time

/// A named routine; it returns whether the verification succeeded, which must be `expect`.
struct Routine<'a> {
    id: &'static str,
    expect: bool,
    f: Box<dyn Fn() -> bool + 'a>,
}

impl<'a> Routine<'a> {
    fn new(id: &'static str, expect: bool, f: impl Fn() -> bool + 'a) -> Self {
        Self {
            id,
            expect,
            f: Box::new(f),
        }
    }
}

struct Setup {
    group: &'static str,
    vector: Vector,
    kiln: Result<(), String>,
    warm: Verifier,
    warm_cache_entries: usize,
    floor: Floor,
    peers: Vec<(Peer, Result<(), String>)>,
}

impl Setup {
    fn new(anchors: &TrustAnchors, vector: Vector, floor: Floor, peers: Vec<Peer>) -> Self {
        let group = match vector.platform {
            Platform::SevSnp => "snp",
            Platform::Tdx => "tdx",
            Platform::Nitro => "nitro",
        };
        // Does each verifier accept the vector? Only successes count as verifications.
        let kiln = Verifier::new(anchors.clone())
            .verify(&vector.evidence(), vector.at)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let warm = Verifier::new(anchors.clone());
        let _ = warm.verify(&vector.evidence(), vector.at);
        let warm_cache_entries = warm.cached_entries();
        let peers = peers
            .into_iter()
            .map(|p| {
                let status = (p.run)();
                (p, status)
            })
            .collect();
        Self {
            group,
            vector,
            kiln,
            warm,
            warm_cache_entries,
            floor,
            peers,
        }
    }

    /// kiln cold and warm (when kiln accepts the vector), the floors, and every peer. A peer
    /// that rejects the vector is still timed (time to its rejection); the table never counts
    /// that as a verification.
    fn routines<'a>(&'a self, anchors: &'a TrustAnchors) -> Vec<Routine<'a>> {
        let mut out: Vec<Routine<'a>> = Vec::new();
        let v = &self.vector;
        if self.kiln.is_ok() {
            out.push(Routine::new("kiln-cold", true, move || {
                Verifier::new(anchors.clone())
                    .verify(&v.evidence(), v.at)
                    .is_ok()
            }));
            out.push(Routine::new("kiln-warm", true, move || {
                self.warm.verify(&v.evidence(), v.at).is_ok()
            }));
        }
        out.push(Routine::new("floor-warm", true, || {
            run_all(&self.floor.warm)
        }));
        out.push(Routine::new("floor-cold", true, || {
            run_all(&self.floor.warm) & run_all(&self.floor.cold_extra)
        }));
        for (peer, status) in &self.peers {
            out.push(Routine::new(peer.id, status.is_ok(), || {
                (peer.run)().is_ok()
            }));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The table's measurement: the routines of one platform interleaved, round by round

/// Rounds of the interleaved measurement; each round times one batch of every routine.
const ROUNDS: usize = 80;
/// Target duration of one batch (at least one call). Short, so that many batches run without
/// being preempted on a busy machine.
const BATCH: Duration = Duration::from_millis(1);
/// The quantile of the rounds' per-call times that the table reports. Load from other
/// processes only ever adds time, so a low quantile estimates the routine's own cost; the
/// median and the spread are printed too.
const QUANTILE: f64 = 0.1;

#[derive(Clone, Copy)]
struct Stats {
    /// The `QUANTILE` of the per-call times: what the table reports.
    time: Duration,
    /// The median.
    median: Duration,
    /// Interquartile range relative to the median: the noise of the measurement.
    iqr: f64,
}

/// Times the routines interleaved (round `r` runs a batch of each, starting at routine
/// `r mod n`), so that load from other processes falls on all of them alike and their ratios
/// stay meaningful on a busy machine. Per-call time of each batch; median over the rounds.
fn interleaved(routines: &[Routine<'_>]) -> BTreeMap<&'static str, Stats> {
    let iters: Vec<u32> = routines
        .iter()
        .map(|Routine { id, expect, f }| {
            assert_eq!(f(), *expect, "{id}: not the verdict it had before timing");
            let start = Instant::now();
            for _ in 0..3 {
                black_box(f());
            }
            let per_call = start.elapsed() / 3;
            (BATCH.as_nanos() / per_call.as_nanos().max(1)).clamp(1, 100_000) as u32
        })
        .collect();
    let n = routines.len();
    let mut per: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); n];
    for round in 0..ROUNDS {
        for k in 0..n {
            let i = (round + k) % n;
            let f = &routines[i].f;
            let start = Instant::now();
            for _ in 0..iters[i] {
                black_box(f());
            }
            per[i].push(start.elapsed().as_secs_f64() / f64::from(iters[i]));
        }
    }
    routines
        .iter()
        .zip(per)
        .map(|(Routine { id, .. }, mut xs)| {
            xs.sort_by(f64::total_cmp);
            let q = |p: f64| xs[((xs.len() - 1) as f64 * p).round() as usize];
            let median = q(0.5);
            (
                *id,
                Stats {
                    time: Duration::from_secs_f64(q(QUANTILE)),
                    median: Duration::from_secs_f64(median),
                    iqr: (q(0.75) - q(0.25)) / median,
                },
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The table

fn fmt_time(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) => {
            let ns = d.as_secs_f64() * 1e9;
            if ns >= 1e6 {
                format!("{:.2} ms", ns / 1e6)
            } else if ns >= 1e3 {
                format!("{:.1} µs", ns / 1e3)
            } else {
                format!("{ns:.0} ns")
            }
        }
    }
}

fn ratio(a: Option<Duration>, b: Option<Duration>) -> Option<f64> {
    Some(a?.as_secs_f64() / b?.as_secs_f64())
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

/// A ratio with its verdict against a target.
fn judged(r: Option<f64>, pass: impl Fn(f64) -> bool) -> String {
    match r {
        Some(r) if pass(r) => format!("{} PASS", fmt_ratio(Some(r))),
        Some(r) => format!("{} MISS", fmt_ratio(Some(r))),
        None => "- MISS (not measured)".into(),
    }
}

fn row(cells: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str(" | ");
        }
        line.push_str(cell);
        line.push_str(&" ".repeat(w.saturating_sub(cell.chars().count())));
    }
    line.trim_end().to_owned()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

struct Measured<'a> {
    setup: &'a Setup,
    stats: BTreeMap<&'static str, Stats>,
}

impl Measured<'_> {
    fn get(&self, id: &str) -> Option<Duration> {
        self.stats.get(id).map(|s| s.time)
    }
}

fn table(
    measured: &[Measured<'_>],
    setup_stats: &BTreeMap<&'static str, Stats>,
    load: (String, String),
) -> String {
    let mut out = String::new();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        out,
        "kiln-verifier benchmark (issue 2): per-call times, the {:.0}th percentile of {ROUNDS} interleaved rounds per platform",
        QUANTILE * 100.0
    );
    let _ = writeln!(
        out,
        "machine: {cpus} CPUs; load average before / after the table's measurement: {} / {}",
        load.0, load.1
    );
    let _ = writeln!(
        out,
        "setup: TrustAnchors::vendor() {} (built once, outside the cold loop); Verifier::new(anchors.clone()) {} (inside every kiln cold call)",
        fmt_time(setup_stats.get("anchors-vendor").map(|s| s.time)),
        fmt_time(setup_stats.get("verifier-new").map(|s| s.time)),
    );
    let _ = writeln!(out);

    let header: Vec<String> = [
        "platform",
        "kiln warm",
        "kiln cold",
        "floor",
        "floor cold",
        "peer",
        "peer time",
        "warm/floor (<=1.3x)",
        "cold/floor",
        "cold/floor cold",
        "peer/kiln-cold (>1x)",
        "peer/kiln-warm (>1x)",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut misses = Vec::new();
    for m in measured {
        let s = m.setup;
        let label = s.vector.label;
        let (warm, cold) = (m.get("kiln-warm"), m.get("kiln-cold"));
        let (floor, floor_cold) = (m.get("floor-warm"), m.get("floor-cold"));
        let kiln_cell = |d: Option<Duration>| match &s.kiln {
            Ok(()) => fmt_time(d),
            Err(_) => "REJECTS".to_owned(),
        };
        let wf = ratio(warm, floor);
        if !wf.is_some_and(|r| r <= WARM_FLOOR_TARGET) {
            misses.push(format!("{label} warm/floor {}", fmt_ratio(wf)));
        }
        for (peer, status) in &s.peers {
            let pt = m.get(peer.id);
            let (pc, pw) = (ratio(pt, cold), ratio(pt, warm));
            let faster = |r: f64| r > 1.0;
            let (name, pc_cell, pw_cell, time_cell) = match status {
                Err(_) => (
                    format!("{} [REJECTS the vector]", peer.name),
                    "n/a (peer rejects)".to_owned(),
                    "n/a (peer rejects)".to_owned(),
                    format!("{} to reject", fmt_time(pt)),
                ),
                Ok(()) => {
                    if !pw.is_some_and(faster) {
                        misses.push(format!("{label} warm vs {} {}", peer.name, fmt_ratio(pw)));
                    }
                    if peer.full {
                        if !pc.is_some_and(faster) {
                            misses.push(format!("{label} cold vs {} {}", peer.name, fmt_ratio(pc)));
                        }
                        (
                            peer.name.to_owned(),
                            judged(pc, faster),
                            judged(pw, faster),
                            fmt_time(pt),
                        )
                    } else {
                        (
                            format!("{} [partial task]", peer.name),
                            format!("{} (info)", fmt_ratio(pc)),
                            judged(pw, faster),
                            fmt_time(pt),
                        )
                    }
                }
            };
            rows.push(vec![
                label.to_owned(),
                kiln_cell(warm),
                kiln_cell(cold),
                fmt_time(floor),
                fmt_time(floor_cold),
                name,
                time_cell,
                judged(wf, |r| r <= WARM_FLOOR_TARGET),
                fmt_ratio(ratio(cold, floor)),
                fmt_ratio(ratio(cold, floor_cold)),
                pc_cell,
                pw_cell,
            ]);
        }
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let _ = writeln!(out, "{}", row(&header, &widths));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let _ = writeln!(out, "{}", rule.join("-|-"));
    for r in &rows {
        let _ = writeln!(out, "{}", row(r, &widths));
    }
    let _ = writeln!(out);
    if misses.is_empty() {
        let _ = writeln!(out, "targets: all PASS");
    } else {
        let _ = writeln!(out, "targets: MISS: {}", misses.join("; "));
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "spread of the rounds (routine: reported time / median, interquartile range / median):"
    );
    for m in measured {
        let parts: Vec<String> = m
            .stats
            .iter()
            .map(|(id, s)| {
                format!(
                    "{id} {} / {}, {:.0}%",
                    fmt_time(Some(s.time)),
                    fmt_time(Some(s.median)),
                    s.iqr * 100.0
                )
            })
            .collect();
        let _ = writeln!(out, "- {}: {}", m.setup.vector.label, parts.join(", "));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "vectors, floors and peers:");
    for m in measured {
        let s = m.setup;
        let v = &s.vector;
        let _ = writeln!(out, "- {}: {} at {}", v.label, v.file, v.at);
        let _ = match &s.kiln {
            Ok(()) => writeln!(
                out,
                "  kiln: verifies the vector; the warm verifier holds {} cache entries after its first call",
                s.warm_cache_entries
            ),
            Err(e) => writeln!(out, "  kiln: REJECTS the vector ({e}); kiln not timed"),
        };
        let _ = writeln!(
            out,
            "  floor ({}): {}",
            s.floor.warm.len(),
            Floor::describe(&s.floor.warm)
        );
        let _ = writeln!(
            out,
            "  floor cold (+{}): {}",
            s.floor.cold_extra.len(),
            Floor::describe(&s.floor.cold_extra)
        );
        for (peer, status) in &s.peers {
            let time = if peer.explicit_time {
                "explicit time"
            } else {
                "no time argument"
            };
            let result = match status {
                Ok(()) => "verifies the vector".to_owned(),
                Err(e) => format!("REJECTS the vector: {e}"),
            };
            let _ = writeln!(out, "  peer {} [{time}]: {}; {result}", peer.name, peer.api);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not (criterion then runs each
    // routine once, and there is no table). KILN_BENCH_TABLE_ONLY=1 skips criterion's groups.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let table_only = std::env::var_os("KILN_BENCH_TABLE_ONLY").is_some();
    let mut c = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .nresamples(10_000)
        .configure_from_args();

    let anchors = TrustAnchors::vendor();
    let setup_routines: Vec<Routine<'_>> = vec![
        Routine::new("anchors-vendor", true, || {
            black_box(TrustAnchors::vendor()).roots().len() == 5
        }),
        Routine::new("verifier-new", true, || {
            black_box(Verifier::new(anchors.clone())).cached_entries() == 0
        }),
    ];
    let snp = snp_vector();
    let (floor, peers) = (snp_floor(&snp), snp_peers(&snp));
    let snp = Setup::new(&anchors, snp, floor, peers);
    let tdx = tdx_vector();
    let (floor, peers) = (tdx_floor(&tdx), tdx_peers(&tdx));
    let tdx = Setup::new(&anchors, tdx, floor, peers);
    let nitro = nitro_vector();
    let (floor, peers) = (nitro_floor(&nitro), nitro_peers(&nitro));
    let nitro = Setup::new(&anchors, nitro, floor, peers);
    let setups = [snp, tdx, nitro];

    if !(bench_mode && table_only) {
        let groups = std::iter::once(("setup", setup_routines.iter().collect::<Vec<_>>()));
        let all: Vec<(&str, Vec<Routine<'_>>)> = setups
            .iter()
            .map(|s| (s.group, s.routines(&anchors)))
            .collect();
        for (name, routines) in groups.chain(
            all.iter()
                .map(|(name, r)| (*name, r.iter().collect::<Vec<_>>())),
        ) {
            let mut group = c.benchmark_group(name);
            group
                .sample_size(SAMPLES)
                .warm_up_time(WARM_UP)
                .measurement_time(MEASUREMENT)
                .nresamples(10_000);
            for Routine { id, f, .. } in routines {
                group.bench_function(*id, |b| b.iter(f));
            }
            group.finish();
        }
        c.final_summary();
    }
    if !bench_mode {
        return;
    }

    let before = load_average();
    let setup_stats = interleaved(&setup_routines);
    let measured: Vec<Measured<'_>> = setups
        .iter()
        .map(|s| Measured {
            setup: s,
            stats: interleaved(&s.routines(&anchors)),
        })
        .collect();
    let text = table(&measured, &setup_stats, (before, load_average()));
    println!("\n{text}");
    if let Some(path) = std::env::var_os("KILN_BENCH_TABLE") {
        std::fs::write(&path, &text).unwrap();
    }
}
