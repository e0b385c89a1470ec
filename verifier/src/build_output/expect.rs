//! What the caller expects of a build, and which of its claims those expectations pin.
//!
//! A valid chain proves only that *some* guest with *some* measurement signed the output.
//! What makes it worth anything is the caller's reference: the measurement of the builder
//! image they trust, and with it the builder id that image stands for. Without one,
//! [`check`] refuses unless the caller says [`AnyMeasurement::Accept`]; whatever the caller
//! did not pin is listed in [`Pinning::unpinned`], so reports can say which claims rest on
//! the host's word.

use std::collections::BTreeMap;

use crate::build_output::error::BuildError;
use crate::build_output::request::BuildRequest;
use crate::{Claims, Platform};

/// What the caller expects of the build, beyond a valid chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    /// The platform's primary measurement (SEV-SNP `measurement`, TDX `mrtd`, Nitro `pcr0`).
    pub measurement: Option<Vec<u8>>,
    /// Further measurements by claim name (`rtmr0`, `pcr1`, ...).
    pub measurements: BTreeMap<String, Vec<u8>>,
    /// `builder.id` (from `--expect-builder` or the reference that names its builder).
    pub builder_id: Option<String>,
    /// SHA-256 (hex) of the source archive.
    pub source_sha256: Option<String>,
    /// The git commit of the source.
    pub source_commit: Option<String>,
    /// The nonce the caller gave `kiln build` (hex).
    pub nonce: Option<String>,
    /// Whether evidence of a debug-mode guest (its memory open to the host) is acceptable:
    /// refused unless the caller says [`DebugEvidence::Allow`].
    pub debug: DebugEvidence,
    /// Whether a build may verify without a measurement reference: refused unless the caller
    /// says [`AnyMeasurement::Accept`].
    pub any_measurement: AnyMeasurement,
}

/// Whether a build whose evidence says the guest ran in debug mode is accepted. A debug
/// guest's memory and registers are open to the host, so nothing it signed is worth more than
/// the host's word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DebugEvidence {
    /// Refuse it (the default).
    #[default]
    Refuse,
    /// Accept it (for debugging kiln itself; `kiln verify --allow-debug`).
    Allow,
}

/// Whether a build verifies when the caller pinned no measurement (or, on TDX, not all of
/// MRTD and RTMR0–2). Evidence of *any* guest image then passes: one that leaks its key, or
/// signs whatever the host asks, as well as kiln's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AnyMeasurement {
    /// Refuse (the default).
    #[default]
    Refuse,
    /// Accept (`kiln verify --accept-any-measurement`); reports say the image is unpinned.
    Accept,
}

/// The registers a TDX reference must pin: MRTD covers only the TD's firmware (TDVF); RTMR0
/// its configuration (the TD HOB, ACPI tables, boot variables), RTMR1 the kernel and the
/// boot path, RTMR2 the command line and the initrd. RTMR3 is left to the guest at run time.
pub const TDX_REFERENCE_REGISTERS: [&str; 4] = ["mrtd", "rtmr0", "rtmr1", "rtmr2"];

/// Which claims of a verified build the caller's expectations pinned.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pinning {
    /// Claims an expectation fixed and the build matched (`measurement mrtd`, `builder id`,
    /// `source digest`, `source commit`, `nonce`).
    pub pinned: Vec<String>,
    /// Claims nothing fixed: they are whatever the evidence or the host said.
    pub unpinned: Vec<String>,
}

impl Pinning {
    /// Whether `what` was pinned.
    pub fn is_pinned(&self, what: &str) -> bool {
        self.pinned.iter().any(|p| p == what)
    }
}

/// The registers a measurement reference must pin for evidence of `platform`: the primary
/// register, which on kiln's simulated TEE covers the whole launch; on TDX hardware MRTD and
/// RTMR0–2, since MRTD alone says nothing about the kernel, initrd or command line.
pub fn required_registers(platform: Platform, simulated: bool) -> &'static [&'static str] {
    match platform {
        Platform::Tdx if !simulated => &TDX_REFERENCE_REGISTERS,
        Platform::SevSnp => &["measurement"],
        Platform::Tdx => &["mrtd"],
        Platform::Nitro => &["pcr0"],
    }
}

/// Checks the caller's expectations against the verified claims and the request:
///
/// 1. A production guest: debug evidence is refused unless [`DebugEvidence::Allow`].
/// 2. A measurement reference: at least the primary measurement (TDX hardware: MRTD and
///    RTMR0–2; the simulator's primary register covers the whole launch) is pinned, unless
///    [`AnyMeasurement::Accept`].
/// 3. Every pinned register equals the evidence's.
/// 4. Builder id, source digest, commit and nonce equal the request's where pinned.
///
/// Returns what was pinned and what was not.
pub fn check(
    expect: &Expectations,
    claims: &Claims,
    request: &BuildRequest,
) -> Result<Pinning, BuildError> {
    // 1.
    if claims.debug && expect.debug == DebugEvidence::Refuse {
        return Err(BuildError::Expectation {
            what: "a production guest (the evidence says debug mode: the host can read and \
                   change the guest's memory; --allow-debug accepts it)"
                .into(),
            expected: "debug off".into(),
            found: "debug on".into(),
        });
    }
    let mut wanted: BTreeMap<String, &[u8]> = expect
        .measurements
        .iter()
        .map(|(k, v)| (k.clone(), v.as_slice()))
        .collect();
    if let Some(m) = &expect.measurement {
        wanted.insert(
            claims.platform.primary_measurement().to_owned(),
            m.as_slice(),
        );
    }
    // 2.
    if expect.any_measurement == AnyMeasurement::Refuse {
        let required = required_registers(claims.platform, claims.simulated);
        let missing: Vec<String> = required
            .iter()
            .filter(|r| !wanted.contains_key(**r))
            .map(|r| (*r).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(BuildError::NoReference {
                platform: claims.platform,
                missing,
                nothing_pinned: wanted.is_empty(),
            });
        }
    }
    // 3.
    let mut pinning = Pinning::default();
    for (name, value) in &wanted {
        let found = claims.measurements.get(name);
        if found.map(|h| h.as_bytes()) != Some(*value) {
            return Err(BuildError::Expectation {
                what: format!("measurement {name}"),
                expected: hex::encode(value),
                found: found
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "(absent)".into()),
            });
        }
    }
    for name in claims.measurements.keys() {
        let entry = format!("measurement {name}");
        if wanted.contains_key(name) {
            pinning.pinned.push(entry);
        } else {
            pinning.unpinned.push(entry);
        }
    }
    // 4.
    let strings = [
        ("builder id", &expect.builder_id, Some(&request.builder_id)),
        (
            "source digest",
            &expect.source_sha256,
            Some(&request.source.sha256),
        ),
        (
            "source commit",
            &expect.source_commit,
            request.source.commit.as_ref(),
        ),
        ("nonce", &expect.nonce, Some(&request.nonce)),
    ];
    for (what, want, found) in strings {
        match want {
            Some(want) => {
                if found.map(|f| f.eq_ignore_ascii_case(want)) != Some(true) {
                    return Err(BuildError::Expectation {
                        what: what.to_owned(),
                        expected: want.clone(),
                        found: found.cloned().unwrap_or_else(|| "(none)".into()),
                    });
                }
                pinning.pinned.push(what.to_owned());
            }
            None => pinning.unpinned.push(what.to_owned()),
        }
    }
    Ok(pinning)
}
