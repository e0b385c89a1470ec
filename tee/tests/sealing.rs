//! Sealing keys through the `Tee` trait: bound to the chip, the launch measurement and the
//! guest policy.
#![allow(clippy::unwrap_used)]

mod common;

use common::T_MS;
use kiln_tee::sim::{FixedClock, SimChip, SimProfile, SimTee};
use kiln_tee::{process_measurement, Platform, Tee};

fn launch(seed: u8, platform: Platform, binary: &[u8], policy: u64) -> Box<dyn Tee> {
    let profile = SimProfile::default_for(platform);
    Box::new(
        SimTee::launch(
            SimChip::from_seed(&[seed; 32]),
            profile,
            process_measurement(platform, binary, b"params"),
            policy,
            FixedClock::new(T_MS),
        )
        .unwrap(),
    )
}

#[test]
fn same_launch_same_key() {
    for platform in Platform::ALL {
        let a = launch(1, platform, b"enclave", 0x3_0000);
        let b = launch(1, platform, b"enclave", 0x3_0000);
        assert_eq!(a.sealing_key(b"k").unwrap(), b.sealing_key(b"k").unwrap());
        assert_eq!(a.measurement(), b.measurement());
    }
}

#[test]
fn different_measurement_chip_policy_or_context_different_key() {
    for platform in Platform::ALL {
        let key = launch(1, platform, b"enclave", 0x3_0000)
            .sealing_key(b"k")
            .unwrap();
        let others = [
            launch(1, platform, b"enclave v2", 0x3_0000)
                .sealing_key(b"k")
                .unwrap(),
            launch(2, platform, b"enclave", 0x3_0000)
                .sealing_key(b"k")
                .unwrap(),
            launch(1, platform, b"enclave", 0x3_0000 | (1 << 19))
                .sealing_key(b"k")
                .unwrap(),
            launch(1, platform, b"enclave", 0x3_0000)
                .sealing_key(b"k2")
                .unwrap(),
        ];
        for (i, other) in others.iter().enumerate() {
            assert_ne!(&key, other, "{platform} case {i}");
        }
    }
}

#[test]
fn platforms_do_not_share_keys() {
    let keys: Vec<[u8; 32]> = Platform::ALL
        .into_iter()
        .map(|p| launch(1, p, b"enclave", 0).sealing_key(b"k").unwrap())
        .collect();
    assert_ne!(keys[0], keys[1]);
    assert_ne!(keys[1], keys[2]);
    assert_ne!(keys[0], keys[2]);
}

#[test]
fn a_state_directory_chip_keeps_its_keys_across_opens() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kiln-tee-sealing-state");
    let _ = std::fs::remove_dir_all(&dir);
    let key = |chip| {
        SimTee::launch(
            chip,
            SimProfile::Nitro,
            process_measurement(Platform::Nitro, b"enclave", b""),
            0,
            FixedClock::new(T_MS),
        )
        .unwrap()
        .sealing_key(b"k")
        .unwrap()
    };
    let first = key(SimChip::open(&dir).unwrap());
    assert_eq!(first, key(SimChip::open(&dir).unwrap()));
    std::fs::remove_dir_all(&dir).unwrap();
    // A new chip in the same place is another chip.
    assert_ne!(first, key(SimChip::open(&dir).unwrap()));
    std::fs::remove_dir_all(&dir).unwrap();
}
