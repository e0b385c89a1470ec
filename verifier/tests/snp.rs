//! SEV-SNP: every manifest case gets its verdict, and every verified case is tampered with in
//! every way the format allows (signed bytes, signature, VEK, time, length, signing key role).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::sync::OnceLock;

use kiln_verifier::snp::{self, Report, SigningKey, SnpProduct, TcbVersion};
use kiln_verifier::{
    Error, ErrorKind, Evidence, Platform, PlatformDetails, TrustAnchors, UnixTime, Verifier,
};

fn snp_cases() -> &'static [common::Loaded] {
    static CASES: OnceLock<Vec<common::Loaded>> = OnceLock::new();
    CASES.get_or_init(|| {
        let cases: Vec<_> = common::cases()
            .iter()
            .filter(|c| c.platform == "sev-snp")
            .map(common::load)
            .collect();
        assert!(
            cases.len() >= 8,
            "the manifest lists at least 8 SEV-SNP cases"
        );
        cases
    })
}

fn verified_cases() -> impl Iterator<Item = &'static common::Loaded> {
    snp_cases().iter().filter(|c| c.verified())
}

/// One verifier for the whole file: its cache is what makes the tamper tests fast, and it
/// must not change any verdict.
fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| Verifier::new(TrustAnchors::vendor()))
}

fn details(c: &kiln_verifier::Claims) -> &snp::SnpDetails {
    match &c.details {
        PlatformDetails::SevSnp(d) => d,
        other => panic!("not SEV-SNP details: {other:?}"),
    }
}

fn with_bytes<'a>(loaded: &'a common::Loaded, bytes: &'a [u8]) -> Evidence<'a> {
    let mut ev = loaded.evidence();
    ev.bytes = bytes;
    ev
}

#[test]
fn every_manifest_case_gets_its_verdict() {
    for loaded in snp_cases() {
        let id = &loaded.case.id;
        let result = verifier().verify(&loaded.evidence(), loaded.at);
        if !loaded.verified() {
            let err = result.expect_err(id);
            common::assert_reason(&loaded.case, &err);
            continue;
        }
        let verified = result.unwrap_or_else(|e| panic!("{id}: {e}"));
        let c = verified.claims();
        let d = details(c);
        assert_eq!(c.platform, Platform::SevSnp, "{id}");
        assert!(!c.simulated, "{id}");
        assert!(
            id.contains(&c.product.to_ascii_lowercase()),
            "{id}: product {}",
            c.product
        );
        assert_eq!(c.anchor.name, format!("AMD ARK-{}", c.product), "{id}");
        assert_eq!(c.measurements["measurement"].as_bytes().len(), 48, "{id}");
        assert_eq!(
            c.measurements["measurement"].as_bytes(),
            &loaded.evidence[0x90..0xC0]
        );
        assert_eq!(
            c.report_data.as_ref().unwrap().as_bytes(),
            &loaded.evidence[0x50..0x90]
        );
        assert_eq!(c.verified_at, loaded.at);
        assert_eq!(c.debug, d.policy.debug, "{id}");
        let keys: Vec<_> = c.tcb.versions.keys().map(String::as_str).collect();
        assert_eq!(keys, ["bl", "snp", "tee", "ucode"], "{id}");
        assert_eq!(
            c.tcb.versions["ucode"],
            u64::from(d.reported_tcb.microcode),
            "{id}"
        );
        assert_eq!(d.vek.serial.as_bytes(), [0], "{id}: VEK serial number");
        assert!(
            d.vek
                .product_name
                .as_deref()
                .unwrap()
                .starts_with(&c.product),
            "{id}"
        );
        let version = u32::from_le_bytes(loaded.evidence[..4].try_into().unwrap());
        assert_eq!(d.version, version, "{id}");
        assert_eq!(d.cpuid.is_some(), version >= 3, "{id}");
        assert_eq!(d.launch_mit_vector.is_some(), version >= 5, "{id}");
        match d.key_info.signing_key {
            SigningKey::Vcek => {
                assert!(d.vek.hw_id.is_some() && d.vek.csp_id.is_none(), "{id}");
                assert_eq!(
                    c.chip_id.as_ref().unwrap().as_bytes(),
                    &loaded.evidence[0x1A0..0x1E0]
                );
            }
            SigningKey::Vlek => {
                assert!(d.vek.hw_id.is_none(), "{id}");
                assert_eq!(
                    d.vek.csp_id.as_deref(),
                    Some("CN=cc-us-east-2.amazonaws.com")
                );
                assert!(
                    c.chip_id.is_none() && d.chip_id_masked,
                    "{id}: CHIP_ID is zero"
                );
                assert_eq!(d.vmpl, 1, "{id}");
            }
        }
        // Case-specific facts from the manifest notes.
        match id.as_str() {
            "snp-milan-v2-debug-go-sev-guest" => {
                assert!(c.debug);
                assert_eq!(
                    &c.report_data.as_ref().unwrap().as_bytes()[..5],
                    [1, 2, 3, 4, 5]
                );
            }
            "snp-milan-v2-trustee" => {
                assert_eq!(d.current_tcb.microcode, 206);
                assert_eq!(d.reported_tcb.microcode, 115);
            }
            "snp-genoa-v3-azure" => {
                let cpuid = d.cpuid.unwrap();
                assert_eq!((cpuid.family, cpuid.model), (0x19, 0x11));
            }
            "snp-milan-v3-vlek-trustee" => assert_eq!(d.key_info.signing_key, SigningKey::Vlek),
            _ => assert!(!c.debug, "{id}: only the go-sev-guest report allows DEBUG"),
        }
        let json = verified.to_json();
        assert_eq!(json["details"]["platform"], "sev-snp", "{id}");
        assert_eq!(
            json["details"]["key_info"]["signing_key"],
            match d.key_info.signing_key {
                SigningKey::Vcek => "vcek",
                SigningKey::Vlek => "vlek",
            }
        );
    }
}

#[test]
fn warm_verification_uses_the_cache_and_gives_the_same_claims() {
    let loaded = verified_cases().next().unwrap();
    let v = Verifier::new(TrustAnchors::vendor());
    let cold = v.verify(&loaded.evidence(), loaded.at).unwrap();
    assert_eq!(v.cached_entries(), 1, "the VEK path is cached");
    let warm = v.verify(&loaded.evidence(), loaded.at).unwrap();
    assert_eq!(cold.to_json(), warm.to_json());
    assert_eq!(v.cached_entries(), 1);
    // A failure is never cached.
    let v = Verifier::new(TrustAnchors::vendor());
    let mut bad = loaded.evidence.clone();
    bad[0x90] ^= 1;
    assert!(v.verify(&with_bytes(loaded, &bad), loaded.at).is_err());
    let expired = snp_cases().iter().find(|c| !c.verified()).unwrap();
    assert!(v.verify(&expired.evidence(), expired.at).is_err());
    assert_eq!(
        v.cached_entries(),
        1,
        "only the path of the first (valid) VEK is cached"
    );
}

/// What flipping one bit of the signed region must give.
#[derive(Debug)]
enum Expect {
    /// The signature check fails (the field itself is well formed).
    Signature,
    /// A reserved region is reported at exactly this offset.
    Reserved(usize),
    /// A field check fires first: one of these kinds.
    Kinds(&'static [ErrorKind]),
}

/// `d` describes the untampered report: its product and signing key decide which bytes the
/// certificate binds (REPORTED_TCB components, CPUID product, CHIP_ID against the hwID).
fn expect_for_flip(original: &[u8], d: &snp::SnpDetails, offset: usize, mask: u8) -> Expect {
    let version = u32::from_le_bytes(original[..4].try_into().unwrap());
    let mut flipped = original.to_vec();
    flipped[offset] ^= mask;
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let cpuid_end = if version >= 3 { 0x18B } else { 0x188 };
    let mit_end = if version >= 5 { 0x208 } else { 0x1F8 };
    match offset {
        // Another version: unsupported, or 3 <-> 2 with the CPUID bytes reserved / missing.
        0x00..=0x03 => Expect::Kinds(&[
            ErrorKind::Unsupported,
            ErrorKind::Malformed,
            ErrorKind::Mismatch,
        ]),
        0x08..=0x0F => {
            let policy = u64_at(&flipped, 0x08);
            if policy >> 26 != 0 {
                Expect::Reserved(offset)
            } else if policy & (1 << 17) == 0 {
                Expect::Kinds(&[ErrorKind::Malformed])
            } else {
                Expect::Signature
            }
        }
        0x34..=0x37 => Expect::Kinds(&[ErrorKind::Unsupported]),
        0x48..=0x4B => {
            let key_info = u32::from_le_bytes(flipped[0x48..0x4C].try_into().unwrap());
            let before = u32::from_le_bytes(original[0x48..0x4C].try_into().unwrap());
            let signing_key = (key_info >> 2) & 7;
            if key_info >> 5 != 0 {
                Expect::Reserved(offset)
            } else if signing_key > 1 {
                Expect::Kinds(&[ErrorKind::Unsupported])
            } else if key_info & 2 != 0 && signing_key == 0 {
                Expect::Kinds(&[ErrorKind::Malformed])
            } else if signing_key != (before >> 2) & 7 {
                Expect::Kinds(&[ErrorKind::Mismatch])
            } else {
                Expect::Signature
            }
        }
        0x4C..=0x4F | 0x1EB | 0x1EF => Expect::Reserved(offset),
        // REPORTED_TCB: the bytes of named components are compared with the VEK.
        0x180..=0x187 => {
            let tcb = |b: &[u8]| TcbVersion::decode(u64_at(b, 0x180), d.product);
            if tcb(&flipped).versions() == tcb(original).versions() {
                Expect::Signature
            } else {
                Expect::Kinds(&[ErrorKind::Mismatch])
            }
        }
        // CPUID family and model must stay within the chain's product.
        0x188 | 0x189 if version >= 3 => {
            if SnpProduct::from_cpuid(flipped[0x188], flipped[0x189]) == Some(d.product) {
                Expect::Signature
            } else {
                Expect::Kinds(&[ErrorKind::Mismatch])
            }
        }
        // CHIP_ID: the part a VCEK's hwID certifies.
        0x1A0..=0x1DF
            if d.key_info.signing_key == SigningKey::Vcek
                && offset - 0x1A0 < d.vek.hw_id.as_ref().unwrap().as_bytes().len() =>
        {
            Expect::Kinds(&[ErrorKind::Mismatch])
        }
        o if (cpuid_end..0x1A0).contains(&o) || (mit_end..0x2A0).contains(&o) => {
            Expect::Reserved(o)
        }
        _ => Expect::Signature,
    }
}

fn check_flip(loaded: &common::Loaded, offset: usize, mask: u8, expect: &Expect) {
    let mut bytes = loaded.evidence.clone();
    bytes[offset] ^= mask;
    let err = verifier()
        .verify(&with_bytes(loaded, &bytes), loaded.at)
        .err()
        .unwrap_or_else(|| {
            panic!(
                "{}: flipping {mask:#04x} at {offset:#x} verified",
                loaded.case.id
            )
        });
    let ok = match expect {
        Expect::Signature => matches!(err, Error::EvidenceSignature { .. }),
        Expect::Reserved(at) => {
            matches!(err, Error::ReservedNotZero { offset, .. } if offset == *at)
        }
        Expect::Kinds(kinds) => kinds.contains(&err.kind()),
    };
    assert!(
        ok,
        "{}: flip {mask:#04x} at {offset:#x}: expected {expect:?}, got {err:?}",
        loaded.case.id
    );
}

#[test]
fn every_byte_of_the_signed_region_is_protected() {
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for loaded in verified_cases() {
        let verified = verifier().verify(&loaded.evidence(), loaded.at).unwrap();
        let d = details(verified.claims());
        for offset in 0..snp::SIGNED_LEN {
            let mask = 1u8 << (offset % 8);
            let expect = expect_for_flip(&loaded.evidence, d, offset, mask);
            check_flip(loaded, offset, mask, &expect);
            let class = match expect {
                Expect::Signature => "signature",
                Expect::Reserved(_) => "reserved",
                Expect::Kinds(k) if k == [ErrorKind::Mismatch] => "mismatch",
                Expect::Kinds(_) => "field",
            };
            *seen.entry(class).or_default() += 1;
        }
    }
    // Every class of check was exercised.
    assert_eq!(seen.len(), 4, "{seen:?}");
}

#[test]
fn every_byte_of_the_signature_structure_is_checked() {
    for loaded in verified_cases() {
        for offset in snp::SIGNED_LEN..snp::REPORT_LEN {
            let within = offset - snp::SIGNED_LEN;
            // R and S: 48 significant bytes each, then 24 bytes of zero padding; reserved after.
            let expect = match within {
                0..=47 | 72..=119 => Expect::Signature,
                _ => Expect::Reserved(offset),
            };
            check_flip(loaded, offset, 0x80 >> (offset % 8), &expect);
        }
    }
}

#[test]
fn another_cases_vek_is_refused() {
    for a in verified_cases() {
        for b in verified_cases() {
            if a.vek == b.vek || a.evidence == b.evidence {
                continue;
            }
            let mut ev = a.evidence();
            ev.vek = b.vek.as_deref();
            ev.chain = b.chain.as_deref();
            let err = verifier().verify(&ev, a.at).expect_err(&a.case.id);
            let a_role = details(verifier().verify(&a.evidence(), a.at).unwrap().claims())
                .key_info
                .signing_key;
            let b_role = details(verifier().verify(&b.evidence(), b.at).unwrap().claims())
                .key_info
                .signing_key;
            // Another chip's or product's VEK differs in hwID, TCB or CPUID product before its
            // signature is tried.
            let expected = match &err {
                Error::Mismatch { field, .. } if a_role != b_role => field.contains("KEY_INFO"),
                Error::Mismatch { field, .. } => {
                    ["hwID", "TCB", "CPUID"].iter().any(|w| field.contains(w))
                }
                Error::EvidenceSignature { .. } => a_role == b_role,
                _ => false,
            };
            assert!(
                expected,
                "{} with the VEK of {}: {err}",
                a.case.id, b.case.id
            );
        }
    }
}

#[test]
fn a_turin_vcek_is_refused_for_milan_and_genoa_reports() {
    let dir = common::vectors_dir();
    let turin = std::fs::read(dir.join("snp/virtee-sev/vcek_turin.der")).unwrap();
    for loaded in verified_cases() {
        let mut ev = loaded.evidence();
        ev.vek = Some(&turin);
        ev.chain = None;
        let err = verifier().verify(&ev, loaded.at).unwrap_err();
        let verified = verifier().verify(&loaded.evidence(), loaded.at).unwrap();
        let d = details(verified.claims());
        // Its path to ARK-Turin verifies; then the role, the CPUID or the Turin TCB layout
        // (FMC in byte 0) tells it apart.
        let field = match (d.key_info.signing_key, d.version) {
            (SigningKey::Vlek, _) => "KEY_INFO",
            (SigningKey::Vcek, 2) => "REPORTED_TCB",
            (SigningKey::Vcek, _) => "CPUID",
        };
        assert!(
            matches!(&err, Error::Mismatch { field: f, .. } if f.contains(field)),
            "{}: {err}",
            loaded.case.id
        );
    }
}

#[test]
fn time_outside_the_vek_validity_is_refused_even_when_cached() {
    for loaded in verified_cases() {
        let verified = verifier().verify(&loaded.evidence(), loaded.at).unwrap();
        let vek = &details(verified.claims()).vek;
        for at in [
            vek.not_before.saturating_sub(1),
            vek.not_after.saturating_add(1),
        ] {
            let err = verifier().verify(&loaded.evidence(), at).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::CertificateValidity,
                "{} at {at}: {err}",
                loaded.case.id
            );
        }
        for at in [vek.not_before, vek.not_after] {
            verifier().verify(&loaded.evidence(), at).unwrap();
        }
    }
}

#[test]
fn truncated_or_extended_reports_are_malformed() {
    for loaded in verified_cases() {
        let lengths = (0..snp::REPORT_LEN)
            .step_by(37)
            .chain([1, 4, 0x2A0, snp::REPORT_LEN - 1]);
        for len in lengths {
            let err = verifier()
                .verify(&with_bytes(loaded, &loaded.evidence[..len]), loaded.at)
                .unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::Malformed,
                "{} cut to {len}: {err}",
                loaded.case.id
            );
        }
        for junk in [&[0u8][..], &[0xFF; 16], b"-----BEGIN CERTIFICATE-----"] {
            let mut bytes = loaded.evidence.clone();
            bytes.extend_from_slice(junk);
            let err = verifier()
                .verify(&with_bytes(loaded, &bytes), loaded.at)
                .unwrap_err();
            assert!(
                matches!(err, Error::TrailingData { extra, .. } if extra == junk.len()),
                "{err}"
            );
        }
    }
}

#[test]
fn key_info_must_name_the_role_of_the_given_vek() {
    for loaded in verified_cases() {
        let mut bytes = loaded.evidence.clone();
        // Swap the SIGNING_KEY between VCEK (0) and VLEK (1), MASK_CHIP_KEY cleared.
        bytes[0x48] = (bytes[0x48] & 1) | ((((bytes[0x48] >> 2) & 7) ^ 1) << 2);
        let err = verifier()
            .verify(&with_bytes(loaded, &bytes), loaded.at)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Mismatch { field, .. } if field.contains("KEY_INFO")),
            "{}: {err}",
            loaded.case.id
        );
        // No signing key at all: the report is unsigned.
        bytes[0x48] = 7 << 2;
        let err = verifier()
            .verify(&with_bytes(loaded, &bytes), loaded.at)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    }
}

#[test]
fn inputs_missing_or_not_anchored_are_refused() {
    let loaded = verified_cases().next().unwrap();
    let mut ev = loaded.evidence();
    ev.vek = None;
    let err = verifier().verify(&ev, loaded.at).unwrap_err();
    assert!(matches!(err, Error::MissingInput { .. }), "{err}");
    ev.vek = Some(b"not a certificate");
    assert_eq!(
        verifier().verify(&ev, loaded.at).unwrap_err().kind(),
        ErrorKind::Malformed
    );

    // Azure's [VCEK, ASK, ARK] bundle: the first certificate is the VEK, the ARK that comes
    // with it ends no chain unless it is pinned.
    let dir = common::vectors_dir();
    let bundle = std::fs::read(dir.join("snp/trustee/azure/vcek.pem")).unwrap();
    let report =
        std::fs::read(dir.join("snp/trustee/azure/milan_snp_report_from_hcl.bin")).unwrap();
    let ev = Evidence::new(&report).vek(&bundle);
    verifier().verify(&ev, loaded.at).unwrap();
    let err = Verifier::new(TrustAnchors::empty())
        .verify(&ev, loaded.at)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UntrustedRoot, "{err}");
    // The platform is detected from the report.
    assert_eq!(
        kiln_verifier::detect_platform(&report).unwrap(),
        Platform::SevSnp
    );
}

// ---------------- parsing, on hand-built reports ----------------

/// A well-formed (unsigned) report of `version`: policy 0x30000, VCEK, Milan CPUID on v3+.
fn build(version: u32) -> Vec<u8> {
    let mut b = vec![0u8; snp::REPORT_LEN];
    b[0..4].copy_from_slice(&version.to_le_bytes());
    b[0x08..0x10].copy_from_slice(&0x3_0000u64.to_le_bytes());
    b[0x34..0x38].copy_from_slice(&1u32.to_le_bytes());
    if version >= 3 {
        b[0x188..0x18B].copy_from_slice(&[0x19, 0x01, 0x01]);
    }
    b
}

fn parse_err(bytes: &[u8]) -> Error {
    Report::parse(bytes).unwrap_err()
}

#[test]
fn v5_fields_are_read_and_reserved_before_v5() {
    let mut b = build(5);
    b[0x1F8..0x200].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
    b[0x200..0x208].copy_from_slice(&0x0000_0000_0000_0003u64.to_le_bytes());
    b[0x1E8..0x1EB].copy_from_slice(&[21, 55, 1]);
    b[0x1EC..0x1EF].copy_from_slice(&[20, 54, 1]);
    b[0x48] = 0b101; // AUTHOR_KEY_EN, VLEK
    let r = Report::parse(&b).unwrap();
    assert_eq!(r.version, 5);
    assert_eq!(r.launch_mit_vector, Some(0x1122_3344_5566_7788));
    assert_eq!(r.current_mit_vector, Some(3));
    assert_eq!(
        (
            r.current_version.major,
            r.current_version.minor,
            r.current_version.build
        ),
        (1, 55, 21)
    );
    assert_eq!(
        (r.committed_version.major, r.committed_version.minor),
        (1, 54)
    );
    assert!(r.key_info.author_key_en && !r.key_info.mask_chip_key);
    assert_eq!(r.key_info.signing_key, SigningKey::Vlek);
    let cpuid = r.cpuid.unwrap();
    assert_eq!(
        (cpuid.family, cpuid.model, cpuid.stepping),
        (0x19, 0x01, 0x01)
    );
    // The same bytes are reserved in v3, and the rest up to 0x2A0 in v5.
    b[0..4].copy_from_slice(&3u32.to_le_bytes());
    assert!(matches!(
        parse_err(&b),
        Error::ReservedNotZero { offset: 0x1F8, .. }
    ));
    let mut b = build(5);
    b[0x208] = 1;
    assert!(matches!(
        parse_err(&b),
        Error::ReservedNotZero { offset: 0x208, .. }
    ));
    // CPUID bytes are reserved in v2, and 0x18B.. in v3.
    let mut b = build(2);
    b[0x189] = 1;
    assert!(matches!(
        parse_err(&b),
        Error::ReservedNotZero { offset: 0x189, .. }
    ));
    let mut b = build(3);
    b[0x18B] = 1;
    assert!(matches!(
        parse_err(&b),
        Error::ReservedNotZero { offset: 0x18B, .. }
    ));
    assert!(Report::parse(&build(2)).unwrap().cpuid.is_none());
}

#[test]
fn versions_algorithms_and_key_info_are_checked() {
    for version in [0u32, 1, 4, 6, 0x0200_0000] {
        let b = build(version);
        assert!(
            matches!(parse_err(&b), Error::Unsupported { .. }),
            "version {version}"
        );
    }
    let mut b = build(3);
    b[0x34] = 2;
    assert!(matches!(parse_err(&b), Error::Unsupported { .. }));
    for (key_info, kind) in [
        (7u8 << 2, ErrorKind::Unsupported),
        (2 << 2, ErrorKind::Unsupported),
        (1 << 5, ErrorKind::Malformed),
        (0b10, ErrorKind::Malformed), // MASK_CHIP_KEY with the VCEK
    ] {
        let mut b = build(3);
        b[0x48] = key_info;
        assert_eq!(parse_err(&b).kind(), kind, "KEY_INFO {key_info:#x}");
    }
    let mut b = build(3);
    b[0x48] = 0b110; // MASK_CHIP_KEY with the VLEK
    assert!(Report::parse(&b).unwrap().key_info.mask_chip_key);
    // POLICY: bit 17 must be one, bits 63:26 zero.
    let mut b = build(3);
    b[0x0A] = 0x01;
    assert_eq!(parse_err(&b).kind(), ErrorKind::Malformed);
    let mut b = build(3);
    b[0x0B] = 0x04;
    assert!(matches!(
        parse_err(&b),
        Error::ReservedNotZero { offset: 0x0B, .. }
    ));
    assert!(matches!(
        parse_err(&build(3)[..100]),
        Error::Truncated { .. }
    ));
}

#[test]
fn policy_and_signature_are_decoded() {
    let mut b = build(2);
    // ABI 1.51, SMT, reserved-one, DEBUG, SINGLE_SOCKET, PAGE_SWAP_DISABLE.
    let policy: u64 = 0x33 | (1 << 8) | (1 << 16) | (1 << 17) | (1 << 19) | (1 << 20) | (1 << 25);
    b[0x08..0x10].copy_from_slice(&policy.to_le_bytes());
    for i in 0..48 {
        b[0x2A0 + i] = i as u8 + 1; // R, little-endian
        b[0x2E8 + i] = 0xA0 + i as u8 / 2; // S
    }
    let r = Report::parse(&b).unwrap();
    let p = r.policy;
    assert_eq!((p.abi_major, p.abi_minor, p.raw), (1, 0x33, policy));
    assert!(p.smt && p.debug && p.single_socket && p.page_swap_disable);
    assert!(
        !p.migrate_ma && !p.cxl_allow && !p.mem_aes_256_xts && !p.rapl_dis && !p.ciphertext_hiding
    );
    let sig = r.signature_fixed();
    assert_eq!(sig[0], 48, "R is converted to big-endian");
    assert_eq!(sig[47], 1);
    assert_eq!(sig[48], 0xA0 + 47 / 2);
    assert_eq!(r.signed_bytes(), &b[..0x2A0]);
    // The upper 24 bytes of R and S and everything after S are zero.
    for offset in [0x2A0 + 48, 0x2E8 + 71, 0x330, 0x49F] {
        let mut bad = b.clone();
        bad[offset] = 1;
        assert!(matches!(parse_err(&bad), Error::ReservedNotZero { offset: o, .. } if o == offset));
    }
}

#[test]
fn turin_tcb_layout_is_decoded() {
    let raw = u64::from_le_bytes([1, 2, 3, 4, 0, 0, 0, 5]);
    let t = TcbVersion::decode(raw, SnpProduct::Turin);
    assert_eq!(
        (t.fmc, t.bootloader, t.tee, t.snp, t.microcode),
        (Some(1), 2, 3, 4, 5)
    );
    let versions = t.versions();
    assert_eq!(versions["fmc"], 1);
    assert_eq!(versions["bl"], 2);
    assert_eq!(versions["ucode"], 5);
    let m = TcbVersion::decode(raw, SnpProduct::Genoa);
    assert_eq!(
        (m.fmc, m.bootloader, m.tee, m.snp, m.microcode),
        (None, 1, 2, 0, 5)
    );
    assert!(!m.versions().contains_key("fmc"));
}

#[test]
fn masked_chip_id_is_parsed_and_flagged() {
    let b = build(3);
    let r = Report::parse(&b).unwrap();
    assert!(r.chip_id_masked());
    let mut b = build(3);
    b[0x1A0 + 63] = 0x42;
    let r = Report::parse(&b).unwrap();
    assert!(!r.chip_id_masked());
    assert_eq!(r.chip_id[63], 0x42);
}

#[test]
fn product_is_identified_from_cpuid() {
    let table = [
        (0x19, 0x01, Some(SnpProduct::Milan)),
        (0x19, 0x0F, Some(SnpProduct::Milan)),
        (0x19, 0x11, Some(SnpProduct::Genoa)),
        (0x19, 0xA0, Some(SnpProduct::Genoa)),
        (0x1A, 0x02, Some(SnpProduct::Turin)),
        (0x1A, 0x11, Some(SnpProduct::Turin)),
        (0x19, 0x21, None), // a desktop Zen 3
        (0x17, 0x31, None), // Rome has no SEV-SNP
        (0x1A, 0x40, None),
        (0, 0, None),
    ];
    for (family, model, product) in table {
        assert_eq!(
            SnpProduct::from_cpuid(family, model),
            product,
            "{family:#x}/{model:#x}"
        );
    }
    let b = build(3);
    let r = Report::parse(&b).unwrap();
    snp::check_cpuid(&r, SnpProduct::Milan).unwrap();
    let err = snp::check_cpuid(&r, SnpProduct::Genoa).unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    let mut b = build(3);
    b[0x188..0x18B].copy_from_slice(&[0x1A, 0x02, 0x00]);
    let r = Report::parse(&b).unwrap();
    snp::check_cpuid(&r, SnpProduct::Turin).unwrap();
    assert!(snp::check_cpuid(&r, SnpProduct::Milan).is_err());
    // v2 has no CPUID: any chain product is accepted here.
    let b = build(2);
    snp::check_cpuid(&Report::parse(&b).unwrap(), SnpProduct::Turin).unwrap();
}

#[test]
fn the_expired_vlek_verifies_inside_its_validity() {
    // The same evidence at two fixed times: the verdict depends only on the time given.
    let expired = snp_cases().iter().find(|c| !c.verified()).unwrap();
    let earlier = UnixTime::parse_rfc3339("2025-06-01T00:00:00Z").unwrap();
    verifier().verify(&expired.evidence(), earlier).unwrap();
    verifier()
        .verify(&expired.evidence(), expired.at)
        .unwrap_err();
}

/// Copies of the Milan ASK, each with one byte of its RSA modulus changed: every one names the
/// VCEK's issuer, none holds the key that signed it.
fn impostor_asks(count: usize) -> Vec<kiln_verifier::pki::Cert> {
    use der::Decode;
    let pem = std::fs::read(common::vectors_dir().join("snp/roots/ask_milan.pem")).unwrap();
    let ask = kiln_verifier::pki::parse_certificates(&pem, "ASK")
        .unwrap()
        .remove(0);
    let der = ask.der().to_vec();
    let parsed = x509_cert::Certificate::from_der(&der).unwrap();
    let key = parsed
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let at = der.windows(key.len()).position(|w| w == key).unwrap() + key.len() / 2;
    (0..count)
        .map(|i| {
            let mut copy = der.clone();
            copy[at + i] ^= 0x01;
            kiln_verifier::pki::Cert::from_der(&copy).unwrap()
        })
        .collect()
}

#[test]
fn a_pool_of_impostor_issuers_ends_when_the_signature_budget_is_spent() {
    use kiln_verifier::path::{verify_path, MAX_SIGNATURE_CHECKS};
    let vcek_der = std::fs::read(common::vectors_dir().join("snp/virtee-sev/vcek_milan.der"));
    let vcek = kiln_verifier::pki::Cert::from_der(&vcek_der.unwrap()).unwrap();
    let roots = TrustAnchors::vendor().roots_for(Platform::SevSnp);
    let at = UnixTime::parse_rfc3339("2025-06-01T00:00:00Z").unwrap();

    // Within the budget: each impostor costs one failed signature check, and the search ends
    // with the signature error of the first one.
    let few = impostor_asks(MAX_SIGNATURE_CHECKS - 1);
    let err = verify_path(&vcek, &few, &roots, at).unwrap_err();
    assert!(!err.to_string().contains("signature checks"), "{err}");

    // Past it: refused for the work, not for the last impostor.
    let many = impostor_asks(MAX_SIGNATURE_CHECKS + 8);
    let err = verify_path(&vcek, &many, &roots, at).unwrap_err();
    assert!(matches!(err, Error::Certificate { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "more than {MAX_SIGNATURE_CHECKS} signature checks"
        )),
        "{err}"
    );

    // The genuine ASK after the impostors still chains while the budget lasts.
    let mut pool = impostor_asks(4);
    pool.extend(
        kiln_verifier::pki::parse_certificates(
            &std::fs::read(common::vectors_dir().join("snp/roots/ask_milan.pem")).unwrap(),
            "ASK",
        )
        .unwrap(),
    );
    let path = verify_path(&vcek, &pool, &roots, at).unwrap();
    assert_eq!(path.certificates().len(), 2);
    assert!(!path.is_simulated());
}
