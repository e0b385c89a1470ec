//! The issued-certificate cache of a chip with a state directory: evidence is byte for byte
//! what a chip without the cache gives, and a corrupted, truncated or foreign cache file is
//! replaced, never used.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{all_profiles, chip, report_data, T_MS};
use kiln_tee::chip::{PKI_CACHE_PREFIX, SECRET_FILE};
use kiln_tee::sim::{FixedClock, SimChip, SimProfile, SimTee};
use kiln_tee::{process_measurement, ReportData, Tee};

fn state_dir(name: &str, seed: u8) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kiln-tee-pki-cache-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(SECRET_FILE), [seed; 32]).unwrap();
    dir
}

/// Every profile's evidence files, concatenated, for `chip`.
fn evidence(chip: &Arc<SimChip>) -> Vec<Vec<u8>> {
    all_profiles()
        .into_iter()
        .map(|profile: SimProfile| {
            let m = process_measurement(profile.platform(), b"cache", b"--test");
            let tee = SimTee::launch(
                Arc::clone(chip),
                profile,
                m,
                profile.default_policy(),
                FixedClock::new(T_MS),
            )
            .unwrap();
            let b = tee.evidence(&ReportData::new(report_data())).unwrap();
            let mut out = b.evidence;
            for part in [
                b.vek_der,
                b.chain_pem.map(String::into_bytes),
                b.collateral_json,
                b.simulated_root_der,
            ]
            .into_iter()
            .flatten()
            {
                out.extend_from_slice(&part);
            }
            out
        })
        .collect()
}

fn cache_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(PKI_CACHE_PREFIX)
        })
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn cached_certificates_give_identical_evidence_and_bad_caches_are_replaced() {
    // Chip 1's RSA keys, from the test cache into the process-wide one, where the opened
    // chip of the same secret finds them.
    let reference = chip(1);
    reference.amd_rsa_keys().unwrap();
    let expected = evidence(&reference);

    let dir = state_dir("main", 1);
    assert_eq!(evidence(&SimChip::open(&dir).unwrap()), expected);
    let files = cache_files(&dir);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "pki-cache-nitro.bin",
            "pki-cache-snp-genoa-0702000000000e48.bin",
            "pki-cache-snp-milan-0301000000000873.bin",
            "pki-cache-snp-turin-0203040500000009.bin",
            "pki-cache-tdx.bin",
        ]
    );
    #[cfg(unix)]
    for (name, _) in &files {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join(name)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }

    // A later process (a new chip object) uses the files and leaves them as they are.
    assert_eq!(evidence(&SimChip::open(&dir).unwrap()), expected);
    assert_eq!(cache_files(&dir), files);

    // Damage each file in turn: a flipped byte in the middle (a certificate), a flipped tag,
    // a truncation, garbage, an empty file. Each is refused, the evidence stays the same and
    // the file is rewritten.
    for (name, good) in &files {
        let damaged: Vec<Vec<u8>> = vec![
            {
                let mut b = good.clone();
                b[good.len() / 2] ^= 0x01;
                b
            },
            {
                let mut b = good.clone();
                let last = b.len() - 1;
                b[last] ^= 0x80;
                b
            },
            good[..good.len() - 40].to_vec(),
            b"not a cache".to_vec(),
            Vec::new(),
        ];
        for bad in damaged {
            fs::write(dir.join(name), &bad).unwrap();
            assert_eq!(evidence(&SimChip::open(&dir).unwrap()), expected, "{name}");
            assert_eq!(&fs::read(dir.join(name)).unwrap(), good, "{name}");
        }
    }

    // Another chip's file (valid for that chip) is refused too.
    let other = state_dir("other", 2);
    SimChip::open(&other).unwrap().tdx_pki().unwrap();
    let foreign = fs::read(other.join("pki-cache-tdx.bin")).unwrap();
    assert_ne!(
        &foreign,
        &files
            .iter()
            .find(|(n, _)| n == "pki-cache-tdx.bin")
            .unwrap()
            .1
    );
    fs::write(dir.join("pki-cache-tdx.bin"), &foreign).unwrap();
    assert_eq!(evidence(&SimChip::open(&dir).unwrap()), expected);
    assert_eq!(cache_files(&dir), files);

    // A file renamed to another product's name does not authenticate under it.
    let milan = dir.join("pki-cache-snp-milan-0301000000000873.bin");
    let genoa = dir.join("pki-cache-snp-genoa-0702000000000e48.bin");
    fs::copy(&milan, &genoa).unwrap();
    assert_eq!(evidence(&SimChip::open(&dir).unwrap()), expected);
    assert_eq!(cache_files(&dir), files);

    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&other).unwrap();
}
