//! Intel TDX verification against the real quotes and collateral of `shared/vectors`, and
//! tampered copies of them.
//!
//! The quote layout is re-derived here from Intel's tables (independently of the library's
//! parser) so that each tamper hits the field it names.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::ops::Range;
use std::sync::OnceLock;

use kiln_verifier::{
    Error, ErrorKind, Evidence, Platform, TcbStatus, TrustAnchors, UnixTime, VerifiedEvidence,
    Verifier,
};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors");

#[derive(Debug, Clone, serde::Deserialize)]
struct Case {
    id: String,
    platform: String,
    evidence: String,
    #[serde(default)]
    collateral: Option<String>,
    at: String,
    expect: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(serde::Deserialize)]
struct Manifest {
    case: Vec<Case>,
}

#[derive(Debug)]
struct Loaded {
    case: Case,
    quote: Vec<u8>,
    collateral: Option<Vec<u8>>,
    at: UnixTime,
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{VECTORS}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `platform = "tdx"` case of the manifest, loaded.
fn cases() -> &'static [Loaded] {
    static CASES: OnceLock<Vec<Loaded>> = OnceLock::new();
    CASES.get_or_init(|| {
        let text = String::from_utf8(read("manifest.toml")).unwrap();
        let manifest: Manifest = toml::from_str(&text).unwrap();
        let tdx: Vec<Loaded> = manifest
            .case
            .into_iter()
            .filter(|c| c.platform == "tdx")
            .map(|case| Loaded {
                quote: read(&case.evidence),
                collateral: case.collateral.as_deref().map(read),
                at: UnixTime::parse_rfc3339(&case.at).unwrap(),
                case,
            })
            .collect();
        assert!(tdx.len() >= 7, "the manifest lists {} TDX cases", tdx.len());
        tdx
    })
}

fn case(id: &str) -> &'static Loaded {
    cases()
        .iter()
        .find(|l| l.case.id == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

fn verified_cases() -> impl Iterator<Item = &'static Loaded> {
    cases().iter().filter(|l| l.case.expect == "verified")
}

fn run(
    v: &Verifier,
    quote: &[u8],
    collateral: Option<&[u8]>,
    at: UnixTime,
) -> Result<VerifiedEvidence, Error> {
    let evidence = Evidence {
        platform: Some(Platform::Tdx),
        bytes: quote,
        collateral,
        ..Evidence::default()
    };
    v.verify(&evidence, at)
}

fn run_case(v: &Verifier, l: &Loaded) -> Result<VerifiedEvidence, Error> {
    run(v, &l.quote, l.collateral.as_deref(), l.at)
}

/// One verifier shared by the tests that want warm caches.
fn warm() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(Verifier::default)
}

fn t(s: &str) -> UnixTime {
    UnixTime::parse_rfc3339(s).unwrap()
}

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

/// Where each field of a quote lies (Intel TDX DCAP quote format, v4 and v5).
#[derive(Debug, Clone)]
struct Layout {
    signed: Range<usize>,
    ak_signature: Range<usize>,
    ak_key: Range<usize>,
    qe_report: Range<usize>,
    qe_signature: Range<usize>,
    qe_auth: Range<usize>,
    pem: Range<usize>,
    end: usize,
}

fn layout(q: &[u8]) -> Layout {
    let (body_at, body_len) = match u16_at(q, 0) {
        4 => (48, 584),
        5 => (54, u32_at(q, 50)),
        v => panic!("version {v}"),
    };
    let signed_end = body_at + body_len;
    let s = signed_end + 4;
    let end = s + u32_at(q, signed_end);
    assert_eq!(u16_at(q, s + 128), 6, "QE report certification data");
    let cd_end = s + 134 + u32_at(q, s + 130);
    let auth_len = u16_at(q, s + 582);
    let inner = s + 584 + auth_len;
    assert_eq!(u16_at(q, inner), 5, "PCK chain");
    let pem = inner + 6..inner + 6 + u32_at(q, inner + 2);
    assert_eq!(pem.end, cd_end);
    assert_eq!(cd_end, end);
    Layout {
        signed: 0..signed_end,
        ak_signature: s..s + 64,
        ak_key: s + 64..s + 128,
        qe_report: s + 134..s + 518,
        qe_signature: s + 518..s + 582,
        qe_auth: s + 584..s + 584 + auth_len,
        pem,
        end,
    }
}

/// The quote with its PCK chain replaced (every length field fixed up), cut at its end.
fn with_pem(q: &[u8], pem: &[u8]) -> Vec<u8> {
    let l = layout(q);
    let inner = l.pem.start - 6;
    let mut cert_data = q[l.qe_report.start..inner].to_vec();
    cert_data.extend_from_slice(&5u16.to_le_bytes());
    cert_data.extend_from_slice(&(pem.len() as u32).to_le_bytes());
    cert_data.extend_from_slice(pem);
    let mut sig = q[l.ak_signature.start..l.ak_key.end].to_vec();
    sig.extend_from_slice(&6u16.to_le_bytes());
    sig.extend_from_slice(&(cert_data.len() as u32).to_le_bytes());
    sig.extend_from_slice(&cert_data);
    let mut out = q[l.signed.clone()].to_vec();
    out.extend_from_slice(&(sig.len() as u32).to_le_bytes());
    out.extend_from_slice(&sig);
    out
}

fn details(v: &VerifiedEvidence) -> Value {
    v.to_json()["details"].clone()
}

fn hex_of(b: &[u8]) -> String {
    hex::encode(b)
}

// ---------------------------------------------------------------- manifest verdicts

#[test]
fn every_tdx_manifest_case_gets_its_verdict() {
    let v = Verifier::default();
    let mut failures = Vec::new();
    for l in cases() {
        let result = run_case(&v, l);
        match (l.case.expect.as_str(), result) {
            ("verified", Ok(ok)) => {
                let c = ok.claims();
                assert_eq!(c.platform, Platform::Tdx, "{}", l.case.id);
                assert!(!c.simulated, "{}", l.case.id);
                let expected = match l.case.id.as_str() {
                    "tdx-v4-uptodate-dcap-qvl" => TcbStatus::UpToDate,
                    _ if l.collateral.is_none() => TcbStatus::Unknown,
                    other => panic!("{other}: no expected TCB status in this test"),
                };
                assert_eq!(c.tcb.status, expected, "{}", l.case.id);
            }
            ("rejected", Err(e)) => {
                let reason = l.case.reason.as_deref().unwrap().to_ascii_lowercase();
                let kinds: &[ErrorKind] = if reason.contains("no tcb level") {
                    &[ErrorKind::TcbLevelNotFound]
                } else if reason.contains("expired") {
                    &[
                        ErrorKind::CollateralValidity,
                        ErrorKind::CertificateValidity,
                    ]
                } else {
                    panic!(
                        "{}: reason {reason:?} not understood by this test",
                        l.case.id
                    )
                };
                if !kinds.contains(&e.kind()) {
                    failures.push(format!(
                        "{}: expected {kinds:?}, got {:?}: {e}",
                        l.case.id,
                        e.kind()
                    ));
                }
            }
            (expect, result) => failures.push(format!(
                "{}: expected {expect}, got {:?}",
                l.case.id,
                result.map(|_| "verified")
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn claims_carry_every_field_of_the_quote() {
    for l in verified_cases() {
        let ok = run_case(warm(), l).unwrap();
        let c = ok.claims();
        let q = &l.quote;
        let lay = layout(q);
        let body = if u16_at(q, 0) == 4 { 48 } else { 54 };
        let id = &l.case.id;

        assert_eq!(c.product, "TDX 1.0", "{id}");
        let names: Vec<&str> = c.measurements.keys().map(String::as_str).collect();
        assert_eq!(names, ["mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3"], "{id}");
        assert_eq!(
            c.measurements["mrtd"].as_bytes(),
            &q[body + 136..body + 184],
            "{id}"
        );
        assert_eq!(
            c.measurements["rtmr3"].as_bytes(),
            &q[body + 472..body + 520],
            "{id}"
        );
        assert_eq!(
            c.report_data.as_ref().unwrap().as_bytes(),
            &q[body + 520..body + 584],
            "{id}"
        );
        assert!(
            !c.debug,
            "{id}: td_attributes bit 0 is clear in every vector"
        );
        assert_eq!(c.chip_id, None);
        assert_eq!(c.anchor.name, "Intel SGX Root CA");
        for i in 0..16 {
            assert_eq!(
                c.tcb.versions[&format!("tee_tcb_svn[{i}]")],
                u64::from(q[body + i]),
                "{id}"
            );
        }
        assert!(c.tcb.versions.contains_key("pce_svn") && c.tcb.versions.contains_key("qe_svn"));

        let d = details(&ok);
        assert_eq!(d["quote_version"], u16_at(q, 0), "{id}");
        assert_eq!(d["qe_vendor_id"], "939a7233f79c4ca9940a0db3957f0607");
        assert_eq!(d["mrseam"], hex_of(&q[body + 16..body + 64]), "{id}");
        assert_eq!(
            d["td_attributes"],
            hex_of(&q[body + 120..body + 128]),
            "{id}"
        );
        assert_eq!(d["xfam"], hex_of(&q[body + 128..body + 136]), "{id}");
        assert_eq!(
            d["mrownerconfig"],
            hex_of(&q[body + 280..body + 328]),
            "{id}"
        );
        assert_eq!(d["rtmrs"][1], hex_of(&q[body + 376..body + 424]), "{id}");
        assert_eq!(d["attestation_key"], hex_of(&q[lay.ak_key.clone()]), "{id}");
        assert_eq!(d["trailing_bytes"], q.len() - lay.end, "{id}");
        assert_eq!(d["trailing_bytes_zero"], true, "{id}");
        assert_eq!(d["qe_report"]["isvprodid"], 2, "{id}");

        if l.collateral.is_none() {
            // Nothing says whether the platform is up to date, and the claims say so.
            assert_eq!(c.tcb.status, TcbStatus::Unknown, "{id}");
            assert!(c.tcb.advisory_ids.is_empty());
            assert_eq!(d["collateral"], Value::Null, "{id}");
            assert_eq!(d["pck"]["revocation_checked"], false, "{id}");
        } else {
            assert_eq!(d["pck"]["revocation_checked"], true, "{id}");
        }
    }

    let gcp = case("tdx-v4-gcp-no-collateral");
    let ok = run_case(warm(), gcp).unwrap();
    let nonce = read("tdx/go-tdx-guest/gcp-ccel/nonce.dat");
    assert_eq!(
        ok.claims().report_data.as_ref().unwrap().as_bytes(),
        nonce.as_slice()
    );
    assert_eq!(
        details(&ok)["trailing_bytes"],
        8000 - layout(&gcp.quote).end
    );
}

#[test]
fn up_to_date_quote_reports_its_collateral_and_module() {
    let ok = run_case(warm(), case("tdx-v4-uptodate-dcap-qvl")).unwrap();
    let c = ok.claims();
    assert_eq!(c.tcb.status, TcbStatus::UpToDate);
    assert!(c.tcb.advisory_ids.is_empty());
    let d = details(&ok);
    assert_eq!(d["pck"]["fmspc"], "b0c06f000000");
    assert_eq!(d["pck"]["pce_id"], "0000");
    let col = &d["collateral"];
    assert_eq!(col["tcb_info_issue_date"], "2025-06-19T10:16:03Z");
    assert_eq!(col["tcb_info_next_update"], "2025-07-19T10:16:03Z");
    assert_eq!(col["qe_identity_issue_date"], "2025-06-19T10:32:27Z");
    assert_eq!(col["tcb_evaluation_data_number"], 17);
    assert_eq!(col["platform_status"], "UpToDate");
    assert_eq!(col["qe_status"], "UpToDate");
    assert_eq!(col["platform_tcb_date"], "2024-03-13T00:00:00Z");
    // TEE_TCB_SVN = 06 01 ...: module identity TDX_01, SVN 6 reaches its isvsvn-4 level.
    assert_eq!(col["module"]["id"], "TDX_01");
    assert_eq!(col["module"]["level_isvsvn"], 4);
    assert_eq!(col["module"]["status"], "UpToDate");
    assert_eq!(col["status"], "UpToDate");
}

#[test]
fn tdx_1_5_quote_v5_verifies_its_own_signatures_without_collateral() {
    // The v5 quote is rejected with its collateral (no TCB level); without collateral its
    // signatures and PCK chain verify, and its TDX 1.5 fields come out.
    let l = case("tdx-v5-no-tcb-level");
    let q = &l.quote;
    assert_eq!((u16_at(q, 0), u16_at(q, 48), u32_at(q, 50)), (5, 3, 648));
    let lay = layout(q);
    assert_eq!(lay.signed, 0..702);
    let ok = run(warm(), q, None, l.at).unwrap();
    let c = ok.claims();
    assert_eq!(c.product, "TDX 1.5");
    assert_eq!(c.tcb.status, TcbStatus::Unknown);
    assert_eq!(c.measurements["mrtd"].as_bytes(), &q[54 + 136..54 + 184]);
    assert_eq!(c.tcb.versions["tee_tcb_svn2[0]"], u64::from(q[54 + 584]));
    let d = details(&ok);
    assert_eq!(d["body_type"], 3);
    assert_eq!(d["tee_tcb_svn2"], hex_of(&q[54 + 584..54 + 600]));
    assert_eq!(d["mrservicetd"], hex_of(&q[54 + 600..54 + 648]));
    for at in lay.signed.clone().step_by(7).chain(48..54) {
        let mut t = q.clone();
        t[at] ^= 1 << (at % 8);
        assert!(
            run(warm(), &t, None, l.at).is_err(),
            "byte {at} of the v5 signed region"
        );
    }
    for n in (0..lay.end).step_by(13) {
        assert!(run(warm(), &q[..n], None, l.at).is_err(), "cut at {n}");
    }
}

// ---------------------------------------------------------------- caching

#[test]
fn warm_verification_gives_the_cold_result_and_keeps_every_check() {
    let l = case("tdx-v4-uptodate-dcap-qvl");
    let v = Verifier::default();
    let cold = run_case(&v, l).unwrap();
    assert_eq!(
        v.cached_entries(),
        2,
        "verified collateral and verified PCK chain"
    );
    let warm_result = run_case(&v, l).unwrap();
    assert_eq!(cold.to_json(), warm_result.to_json());
    assert_eq!(v.cached_entries(), 2);

    // With both caches warm, the quote's own signatures are still checked.
    let lay = layout(&l.quote);
    for at in [
        lay.signed.start + 200,
        lay.ak_signature.start + 5,
        lay.qe_report.start + 80,
        lay.qe_signature.start + 9,
    ] {
        let mut q = l.quote.clone();
        q[at] ^= 0x10;
        assert!(
            run(&v, &q, l.collateral.as_deref(), l.at).is_err(),
            "byte {at}"
        );
    }

    // Outside the cached window the cold path runs and reports the precise failure.
    let err = run(
        &v,
        &l.quote,
        l.collateral.as_deref(),
        t("2025-08-01T00:00:00Z"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CollateralValidity, "{err}");

    // A failure is never cached: the valid collateral verifies again afterwards, and a
    // rejected one (no TCB level) is rejected again.
    assert!(run_case(&v, l).is_ok());
    let outdated = case("tdx-v5-no-tcb-level");
    for _ in 0..2 {
        let err = run_case(&v, outdated).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TcbLevelNotFound, "{err}");
    }
}

// ---------------------------------------------------------------- tampered quotes

#[test]
fn tampering_with_the_signed_region_is_rejected() {
    for l in verified_cases() {
        let lay = layout(&l.quote);
        for at in lay.signed.clone().step_by(7) {
            let mut q = l.quote.clone();
            q[at] ^= 1 << (at % 8);
            let r = run(warm(), &q, l.collateral.as_deref(), l.at);
            assert!(
                r.is_err(),
                "{}: flipping byte {at} of the signed region went unnoticed",
                l.case.id
            );
        }
    }
}

#[test]
fn tampering_with_the_signature_data_is_rejected() {
    for l in verified_cases() {
        let lay = layout(&l.quote);
        let fields = [
            ("attestation key signature", lay.ak_signature.clone()),
            ("attestation key", lay.ak_key.clone()),
            ("QE report", lay.qe_report.clone()),
            ("QE report signature", lay.qe_signature.clone()),
            ("QE authentication data", lay.qe_auth.clone()),
        ];
        for (name, range) in fields {
            let positions = range.clone().step_by(7).chain([range.end - 1]);
            for at in positions {
                let mut q = l.quote.clone();
                q[at] ^= 0x80 >> (at % 8);
                let r = run(warm(), &q, l.collateral.as_deref(), l.at);
                assert!(
                    r.is_err(),
                    "{}: {name} byte {at} flipped went unnoticed",
                    l.case.id
                );
            }
        }
        // Inside the PCK leaf certificate's base64 (its TBS part).
        let pem = &l.quote[lay.pem.clone()];
        let body_start = pem.iter().position(|b| *b == b'\n').unwrap() + 1;
        for at in (body_start + 40..body_start + 600).step_by(37) {
            if pem[at] == b'\n' {
                continue;
            }
            let mut q = l.quote.clone();
            let i = lay.pem.start + at;
            q[i] = if q[i] == b'A' { b'B' } else { b'A' };
            let r = run(warm(), &q, l.collateral.as_deref(), l.at);
            assert!(
                r.is_err(),
                "{}: PCK certificate byte {at} changed went unnoticed",
                l.case.id
            );
        }
    }
}

#[test]
fn a_pck_chain_from_another_quote_is_rejected() {
    let l = case("tdx-v4-uptodate-dcap-qvl");
    let other = case("tdx-v4-gcp-no-collateral");
    let own_pem = &l.quote[layout(&l.quote).pem];
    let other_pem = &other.quote[layout(&other.quote).pem];
    assert_ne!(own_pem, other_pem);

    // Control: rebuilding the quote around its own chain changes nothing.
    let rebuilt = with_pem(&l.quote, own_pem);
    assert!(run(warm(), &rebuilt, l.collateral.as_deref(), l.at).is_ok());
    assert!(run(warm(), &rebuilt, None, l.at).is_ok());

    let swapped = with_pem(&l.quote, other_pem);
    for collateral in [l.collateral.as_deref(), None] {
        let err = run(warm(), &swapped, collateral, l.at).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::EvidenceSignature, "{err}");
    }
}

#[test]
fn the_root_in_the_quote_is_never_what_is_trusted() {
    let l = case("tdx-v4-uptodate-dcap-qvl");
    let pem = std::str::from_utf8(&l.quote[layout(&l.quote).pem]).unwrap();
    let blocks: Vec<&str> = pem.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert!(blocks.len() >= 3);
    // Without the root the chain still verifies: the root comes from the anchors.
    let no_root = with_pem(&l.quote, blocks[..2].concat().as_bytes());
    assert!(run(warm(), &no_root, l.collateral.as_deref(), l.at).is_ok());
    // Without the intermediate it cannot.
    let no_ca = with_pem(&l.quote, [blocks[0], blocks[2]].concat().as_bytes());
    assert!(run(warm(), &no_ca, None, l.at).is_err());

    // With no anchors, or only other platforms' roots, nothing verifies.
    let ark =
        kiln_verifier::pki::parse_certificates(&read("snp/roots/ark_milan.pem"), "ARK").unwrap();
    let mut snp_only = TrustAnchors::empty();
    snp_only
        .add_vendor_root(Platform::SevSnp, "ARK-Milan", ark[0].der())
        .unwrap();
    for anchors in [TrustAnchors::empty(), snp_only] {
        let v = Verifier::new(anchors);
        for l in verified_cases() {
            let err = run_case(&v, l).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UntrustedRoot, "{}: {err}", l.case.id);
        }
    }

    // The Intel root pinned as a *simulated* root: verified, and marked simulated.
    let mut sim = TrustAnchors::empty();
    sim.allow_simulated(
        Platform::Tdx,
        "test root",
        &read("tdx/roots/intel_sgx_root_ca.der"),
    )
    .unwrap();
    let ok = run_case(&Verifier::new(sim), l).unwrap();
    assert!(ok.claims().simulated && ok.is_simulated());
    assert_eq!(ok.to_json()["anchor"]["origin"], "simulated");
}

#[test]
fn truncated_quotes_are_rejected_and_padding_is_optional() {
    for l in verified_cases() {
        let lay = layout(&l.quote);
        let boundaries = [
            lay.signed.end - 1,
            lay.signed.end,
            lay.signed.end + 3,
            lay.ak_key.end,
            lay.qe_report.start - 1,
            lay.qe_auth.start - 1,
            lay.pem.start - 1,
            lay.pem.start,
            lay.end - 1,
        ];
        for n in (0..lay.end).step_by(11).chain(boundaries) {
            let r = run(warm(), &l.quote[..n], l.collateral.as_deref(), l.at);
            assert!(r.is_err(), "{}: cut at {n} of {}", l.case.id, lay.end);
        }
        // Cutting only padding leaves the quote intact.
        for n in [lay.end, (lay.end + l.quote.len()) / 2] {
            let ok = run(warm(), &l.quote[..n], l.collateral.as_deref(), l.at).unwrap();
            assert_eq!(details(&ok)["trailing_bytes"], n - lay.end);
        }
    }
}

#[test]
fn bytes_after_the_quote_are_ignored_and_reported() {
    // The real SPR quote carries "extra bytes(only for testing purpose)" after its signature
    // data: bytes outside every signature are ignored (as by Intel's QVL) and reported.
    let spr = case("tdx-v4-spr-no-tcb-level");
    let lay = layout(&spr.quote);
    assert!(spr.quote[lay.end..].iter().any(|b| *b != 0));
    let ok = run(warm(), &spr.quote, None, t("2023-07-01T01:00:00Z")).unwrap();
    assert_eq!(details(&ok)["trailing_bytes"], spr.quote.len() - lay.end);
    assert_eq!(details(&ok)["trailing_bytes_zero"], false);

    let l = case("tdx-v4-uptodate-dcap-qvl");
    let clean = run_case(warm(), l).unwrap();
    let mut junk = l.quote.clone();
    junk.extend_from_slice(b"\xffjunk");
    let ok = run(warm(), &junk, l.collateral.as_deref(), l.at).unwrap();
    assert_eq!(details(&ok)["trailing_bytes_zero"], false);
    let strip = |mut j: Value| {
        let d = j["details"].as_object_mut().unwrap();
        d.remove("trailing_bytes");
        d.remove("trailing_bytes_zero");
        j
    };
    assert_eq!(
        strip(clean.to_json()),
        strip(ok.to_json()),
        "the claims do not depend on them"
    );
}

#[test]
fn bytes_inside_the_declared_structures_are_never_ignored() {
    // Grow the signature data length by one: the next (padding) byte is then inside the
    // signature data, where every size must be consumed exactly.
    let l = case("tdx-v4-uptodate-dcap-qvl");
    let lay = layout(&l.quote);
    let mut q = l.quote.clone();
    let len = u32_at(&q, lay.signed.end) as u32 + 1;
    q[lay.signed.end..lay.signed.end + 4].copy_from_slice(&len.to_le_bytes());
    let err = run(warm(), &q, None, l.at).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
    // A v4 quote relabelled v5 is rejected too.
    let mut v5 = l.quote.clone();
    v5[0] = 5;
    assert!(run(warm(), &v5, None, l.at).is_err());
}

// ---------------------------------------------------------------- tampered collateral

fn collateral_json(l: &Loaded) -> Value {
    serde_json::from_slice(l.collateral.as_ref().unwrap()).unwrap()
}

fn with_field(l: &Loaded, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<u8> {
    let mut j = collateral_json(l);
    edit(j.as_object_mut().unwrap());
    serde_json::to_vec(&j).unwrap()
}

/// The collateral with one string field rewritten.
fn edit(l: &Loaded, field: &str, f: impl FnOnce(String) -> String) -> Vec<u8> {
    with_field(l, |j| {
        let text = f(j[field].as_str().unwrap().to_owned());
        j.insert(field.into(), Value::String(text));
    })
}

/// Changes one hex digit in the middle of a string.
fn flip_hex(text: String) -> String {
    let mut b = text.into_bytes();
    let mid = b.len() / 2;
    b[mid] = if b[mid] == b'0' { b'1' } else { b'0' };
    String::from_utf8(b).unwrap()
}

#[test]
fn tampered_collateral_is_rejected() {
    let l = case("tdx-v4-uptodate-dcap-qvl");
    // Controls: re-serialising the outer JSON changes nothing (the signed strings are intact),
    // and an extra `pck_certificate_chain` field, as some producers add, is ignored.
    assert!(run(warm(), &l.quote, Some(&with_field(l, |_| {})), l.at).is_ok());
    let extra = with_field(l, |j| {
        j.insert(
            "pck_certificate_chain".into(),
            Value::String("ignored".into()),
        );
    });
    assert!(run(warm(), &l.quote, Some(&extra), l.at).is_ok());

    let spr = collateral_json(case("tdx-v4-spr-no-tcb-level"));
    let chain = |j: &serde_json::Map<String, Value>| {
        j["tcb_info_issuer_chain"].as_str().unwrap().to_owned()
    };
    use ErrorKind::*;
    let tampered: Vec<(&str, Vec<u8>, ErrorKind)> = vec![
        // One character of the signed TCB info / QE identity text, whitespace included.
        (
            "tcb_info number",
            edit(l, "tcb_info", |t| t.replace("Number\":17", "Number\":18")),
            CollateralSignature,
        ),
        (
            "tcb_info status",
            edit(l, "tcb_info", |t| t.replacen("UpToDate", "OutOfDate", 1)),
            CollateralSignature,
        ),
        (
            "tcb_info space",
            edit(l, "tcb_info", |t| format!("{t} ")),
            CollateralSignature,
        ),
        (
            "qe_identity",
            edit(l, "qe_identity", |t| {
                t.replace("\"isvprodid\":2", "\"isvprodid\":3")
            }),
            CollateralSignature,
        ),
        // The signatures themselves, or one used for the other document.
        (
            "tcb_info_signature",
            edit(l, "tcb_info_signature", flip_hex),
            CollateralSignature,
        ),
        (
            "qe_identity_signature",
            edit(l, "qe_identity_signature", flip_hex),
            CollateralSignature,
        ),
        (
            "signature swap",
            with_field(l, |j| {
                let qe = j["qe_identity_signature"].clone();
                j.insert("tcb_info_signature".into(), qe);
            }),
            CollateralSignature,
        ),
        // CRLs swapped, duplicated, altered, or a genuine PCK CRL of 2023.
        (
            "CRLs swapped",
            with_field(l, |j| {
                let (root, pck) = (j["root_ca_crl"].clone(), j["pck_crl"].clone());
                j.insert("root_ca_crl".into(), pck);
                j.insert("pck_crl".into(), root);
            }),
            Mismatch,
        ),
        (
            "root CRL as PCK CRL",
            with_field(l, |j| {
                let root = j["root_ca_crl"].clone();
                j.insert("pck_crl".into(), root);
            }),
            Mismatch,
        ),
        (
            "PCK CRL byte",
            edit(l, "pck_crl", flip_hex),
            CollateralSignature,
        ),
        (
            "2023 PCK CRL",
            with_field(l, |j| {
                j.insert("pck_crl".into(), spr["pck_crl"].clone());
            }),
            CollateralValidity,
        ),
        // Issuer chains: the root alone, or a signer that is not the TCB Signing certificate.
        (
            "root only",
            with_field(l, |j| {
                let root = chain(j)
                    .split_inclusive("-----END CERTIFICATE-----")
                    .nth(1)
                    .unwrap()
                    .to_owned();
                j.insert("tcb_info_issuer_chain".into(), Value::String(root));
            }),
            CertificateChain,
        ),
        (
            "PCK CA as TCB signer",
            with_field(l, |j| {
                let ca = j["pck_crl_issuer_chain"].clone();
                j.insert("tcb_info_issuer_chain".into(), ca);
            }),
            CertificateChain,
        ),
        // Not the collateral format, or a field missing.
        ("empty object", b"{}".to_vec(), Malformed),
        ("not JSON", b"not json".to_vec(), Malformed),
        (
            "missing field",
            with_field(l, |j| {
                j.remove("qe_identity");
            }),
            Malformed,
        ),
    ];
    for (name, collateral, kind) in tampered {
        let err = run(warm(), &l.quote, Some(&collateral), l.at).unwrap_err();
        assert_eq!(err.kind(), kind, "{name}: {err}");
    }
}

#[test]
fn genuine_collateral_for_another_platform_is_rejected() {
    // The v5 quote's collateral is genuine and valid in March 2026, but for FMSPC 90c06f000000.
    let l = case("tdx-v4-uptodate-dcap-qvl");
    let other = case("tdx-v5-no-tcb-level");
    let err = run(warm(), &l.quote, other.collateral.as_deref(), other.at).unwrap_err();
    assert!(
        matches!(err, Error::Mismatch { field, .. } if field.starts_with("FMSPC")),
        "{err}"
    );
}

#[test]
fn times_outside_the_collateral_windows_are_rejected() {
    let l = case("tdx-v4-uptodate-dcap-qvl");
    let v = Verifier::default();
    let ok = run_case(&v, l).unwrap();
    let col = details(&ok)["collateral"].clone();
    let date = |k: &str| t(col[k].as_str().unwrap());
    let until = date("valid_until");
    let from = [
        date("tcb_info_issue_date"),
        date("qe_identity_issue_date"),
        date("crls_this_update"),
    ]
    .into_iter()
    .max()
    .unwrap();

    assert!(
        run(&v, &l.quote, l.collateral.as_deref(), until).is_ok(),
        "the window is inclusive"
    );
    assert!(run(&v, &l.quote, l.collateral.as_deref(), from).is_ok());
    for at in [
        until.saturating_add(1),
        from.saturating_sub(1),
        date("tcb_info_next_update").saturating_add(86_400),
        date("tcb_info_issue_date").saturating_sub(86_400),
    ] {
        let err = run(&v, &l.quote, l.collateral.as_deref(), at).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CollateralValidity, "at {at}: {err}");
    }
    // Without collateral, only the certificates' validity bounds the time.
    assert!(run(&v, &l.quote, None, t("2030-01-01T00:00:00Z")).is_ok());
    let err = run(&v, &l.quote, None, t("2033-01-01T00:00:00Z")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CertificateValidity, "{err}");
}
