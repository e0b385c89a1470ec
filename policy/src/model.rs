//! The policy as loaded: reference values with every reference file resolved and every value
//! validated. This is also what Rego rules see as `data.kiln` (see [`super::rego`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use kiln_verifier::{Hex, Platform, TcbStatus};

/// A loaded policy. Obtained from [`Policy::from_toml_file`] or [`Policy::from_toml_str`];
/// its fields are public so that a command line can tighten it (for example set
/// `build.require_nonce` from a flag).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Policy {
    /// Where it was read from (a path, or the label given to `from_toml_str`).
    pub origin: String,
    /// `[build]`: values common to every platform.
    pub build: BuildPolicy,
    /// `[sev-snp]`, when written.
    #[serde(rename = "sev-snp")]
    pub sev_snp: Option<SnpPolicy>,
    /// `[tdx]`, when written.
    pub tdx: Option<TdxPolicy>,
    /// `[nitro]`, when written.
    pub nitro: Option<NitroPolicy>,
}

impl Policy {
    /// The measurement registers this policy pins for `platform` (by claim name): SEV-SNP
    /// `measurement`, TDX `mrtd`/`rtmr0`.., Nitro `pcr0`... Empty when its section pins none.
    pub fn pinned_registers(&self, platform: Platform) -> Vec<String> {
        match platform {
            Platform::SevSnp => self
                .sev_snp
                .as_ref()
                .filter(|s| !s.measurement.is_empty())
                .map(|_| vec!["measurement".to_owned()])
                .unwrap_or_default(),
            Platform::Tdx => self
                .tdx
                .as_ref()
                .map(|t| {
                    t.measurements
                        .iter()
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default(),
            Platform::Nitro => self
                .nitro
                .as_ref()
                .map(|n| {
                    n.pcrs
                        .iter()
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, _)| format!("pcr{k}"))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The platforms the policy admits: `build.allowed_platforms` when written, otherwise the
    /// platforms that have a section, otherwise all three.
    pub fn allowed_platforms(&self) -> Vec<Platform> {
        if let Some(list) = &self.build.allowed_platforms {
            return list.clone();
        }
        let mut sections = Vec::new();
        if self.sev_snp.is_some() {
            sections.push(Platform::SevSnp);
        }
        if self.tdx.is_some() {
            sections.push(Platform::Tdx);
        }
        if self.nitro.is_some() {
            sections.push(Platform::Nitro);
        }
        if sections.is_empty() {
            vec![Platform::SevSnp, Platform::Tdx, Platform::Nitro]
        } else {
            sections
        }
    }
}

/// A duration written as `30s`, `15m`, `24h`, `7d`, `2w` or a sum such as `1h30m`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duration {
    /// Seconds.
    pub secs: i64,
    /// As written.
    pub text: String,
}

impl Duration {
    /// Parses a duration; it must be positive.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid duration {text:?}: write a number and a unit (s, m, h, d, w), for example \"24h\" or \"1h30m\""
            )
        };
        let mut secs: i64 = 0;
        let mut digits = String::new();
        for c in text.trim().chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit: i64 = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return Err(bad()),
            };
            let n: i64 = digits.parse().map_err(|_| bad())?;
            secs = n
                .checked_mul(unit)
                .and_then(|v| secs.checked_add(v))
                .ok_or_else(bad)?;
            digits.clear();
        }
        if !digits.is_empty() || secs <= 0 {
            return Err(bad());
        }
        Ok(Self {
            secs,
            text: text.trim().to_owned(),
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// `[build]`: the values common to every platform.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildPolicy {
    /// Platforms admitted; `None`: see [`Policy::allowed_platforms`].
    pub allowed_platforms: Option<Vec<Platform>>,
    /// Whether evidence chaining to a simulated root is acceptable (false unless written).
    pub allow_simulated: bool,
    /// The provenance `builder.id` required.
    pub builder_id: Option<String>,
    /// The source repository required (as the build request names it).
    pub source_repository: Option<String>,
    /// The source commit required.
    pub source_commit: Option<String>,
    /// SHA-256 of the source archive required.
    pub source_digest: Option<Hex>,
    /// The oldest evidence accepted: evidence time (Nitro), else the provenance's finishedOn.
    pub max_evidence_age: Option<Duration>,
    /// The nonce the evidence must carry (Nitro `nonce`; a build's request nonce; SEV-SNP and
    /// TDX evidence on its own: the first bytes of REPORT_DATA).
    pub require_nonce: Option<Hex>,
}

/// Minimum SEV-SNP TCB component versions; only the components written are enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SnpTcb {
    /// Boot loader SPL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bl: Option<u8>,
    /// PSP OS (TEE) SPL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tee: Option<u8>,
    /// SNP firmware SPL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snp: Option<u8>,
    /// Microcode SPL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ucode: Option<u8>,
    /// FMC SPL (Turin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
}

impl SnpTcb {
    /// The components written, by claim name (`bl`, `tee`, `snp`, `ucode`, `fmc`).
    pub fn components(&self) -> Vec<(&'static str, u8)> {
        [
            ("bl", self.bl),
            ("tee", self.tee),
            ("snp", self.snp),
            ("ucode", self.ucode),
            ("fmc", self.fmc),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

/// Per-product minimum TCBs (`[sev-snp.by_product.Milan]`), replacing the section's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProductTcb {
    /// Minimum REPORTED_TCB.
    pub min_tcb: Option<SnpTcb>,
    /// Minimum LAUNCH_TCB.
    pub min_launch_tcb: Option<SnpTcb>,
}

/// Which key may have signed an SEV-SNP report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyPolicy {
    /// Either.
    #[default]
    Any,
    /// Only a VCEK (chip-unique key).
    Vcek,
    /// Only a VLEK (cloud-provider key).
    Vlek,
}

/// `[sev-snp]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnpPolicy {
    /// Accepted MEASUREMENT values (literals and `measurement_from`); empty: any.
    pub measurement: Vec<Hex>,
    /// Required HOST_DATA.
    pub host_data: Option<Hex>,
    /// Required FAMILY_ID.
    pub family_id: Option<Hex>,
    /// Required IMAGE_ID.
    pub image_id: Option<Hex>,
    /// Minimum REPORTED_TCB, every product.
    pub min_tcb: Option<SnpTcb>,
    /// Minimum LAUNCH_TCB, every product.
    pub min_launch_tcb: Option<SnpTcb>,
    /// Per-product minimums, by product name.
    pub by_product: BTreeMap<String, ProductTcb>,
    /// Minimum GUEST_SVN.
    pub min_guest_svn: Option<u32>,
    /// Accepted VMPLs.
    pub vmpl: Option<Vec<u32>>,
    /// Highest VMPL accepted.
    pub max_vmpl: Option<u32>,
    /// Whether guest policy DEBUG may be set (false unless written).
    pub allow_debug: bool,
    /// Whether guest policy MIGRATE_MA may be set (false unless written).
    pub allow_migration_agent: bool,
    /// Whether guest policy SMT may be set (true unless written).
    pub allow_smt: bool,
    /// Whether guest policy SINGLE_SOCKET must be set (false unless written).
    pub require_single_socket: bool,
    /// Which key may have signed the report.
    pub signing_key: SigningKeyPolicy,
    /// Accepted products (`Milan`, `Genoa`, `Turin`); `None`: any.
    pub products: Option<Vec<String>>,
    /// Whether CHIP_ID must be present (not masked, not VLEK-zeroed).
    pub require_chip_id_unmasked: bool,
    /// Whether revocation must have been checked against AMD's CRL (issued by the ARK,
    /// covering the ASK/ASVK): `crl.der` in the output's evidence, or `--crl`.
    pub require_crl: bool,
}

impl Default for SnpPolicy {
    fn default() -> Self {
        Self {
            measurement: Vec::new(),
            host_data: None,
            family_id: None,
            image_id: None,
            min_tcb: None,
            min_launch_tcb: None,
            by_product: BTreeMap::new(),
            min_guest_svn: None,
            vmpl: None,
            max_vmpl: None,
            allow_debug: false,
            allow_migration_agent: false,
            allow_smt: true,
            require_single_socket: false,
            signing_key: SigningKeyPolicy::Any,
            products: None,
            require_chip_id_unmasked: false,
            require_crl: false,
        }
    }
}

/// `[tdx]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdxPolicy {
    /// Accepted values of `mrtd`, `rtmr0`..`rtmr3` (literals and `measurement_from`).
    pub measurements: BTreeMap<String, Vec<Hex>>,
    /// Accepted MRSEAM values (TDX module builds).
    pub mrseam: Vec<Hex>,
    /// Required MRCONFIGID.
    pub mrconfigid: Option<Hex>,
    /// Required MROWNER.
    pub mrowner: Option<Hex>,
    /// Required MROWNERCONFIG.
    pub mrownerconfig: Option<Hex>,
    /// Whether TD_ATTRIBUTES.DEBUG may be set (false unless written).
    pub allow_debug: bool,
    /// Required XFAM.
    pub xfam: Option<Hex>,
    /// Minimum TEE_TCB_SVN, component by component (16 bytes).
    pub min_tee_tcb_svn: Option<Hex>,
    /// Accepted TCB statuses (`["UpToDate"]` unless written); any other than UpToDate that
    /// is accepted is reported as a warning.
    pub accepted_tcb_statuses: Vec<TcbStatus>,
    /// The oldest TCB info accepted (age = now - its issueDate).
    pub max_collateral_age: Option<Duration>,
    /// Whether a quote verified without collateral (status unknown) is acceptable.
    pub allow_unknown_tcb: bool,
}

impl Default for TdxPolicy {
    fn default() -> Self {
        Self {
            measurements: BTreeMap::new(),
            mrseam: Vec::new(),
            mrconfigid: None,
            mrowner: None,
            mrownerconfig: None,
            allow_debug: false,
            xfam: None,
            min_tee_tcb_svn: None,
            accepted_tcb_statuses: vec![TcbStatus::UpToDate],
            max_collateral_age: None,
            allow_unknown_tcb: false,
        }
    }
}

/// `[nitro]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NitroPolicy {
    /// Accepted values of each PCR, by index (literals and `measurement_from`).
    pub pcrs: BTreeMap<u16, Vec<Hex>>,
    /// Whether debug mode (PCR0/1/2 zero) is acceptable (false unless written).
    pub allow_debug: bool,
    /// The oldest document accepted (age = now - its timestamp).
    pub max_document_age: Option<Duration>,
    /// A glob (`*` any run, `?` one character) the module id must match.
    pub module_id_pattern: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("24h").unwrap().secs, 86_400);
        assert_eq!(Duration::parse("1h30m").unwrap().secs, 5_400);
        assert_eq!(Duration::parse("2w").unwrap().secs, 1_209_600);
        assert_eq!(Duration::parse("45s").unwrap().secs, 45);
        for bad in [
            "",
            "24",
            "h",
            "0s",
            "3 days",
            "-1h",
            "99999999999999999999w",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }
}
