//! The policy file: its TOML schema, and the conversion into a [`Policy`] with every reference
//! file resolved. Unknown keys and malformed values are refused with their line and column.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::de::{
    AnyHex, DurationDe, FixedHex, HexList, PcrIndex, PlatformName, ProductName, SigningKeyName,
    StatusName, TeeTcbSvn, U32List,
};
use super::error::{Location, PolicyError};
use super::model::{BuildPolicy, NitroPolicy, Policy, ProductTcb, SnpPolicy, SnpTcb, TdxPolicy};
use super::reference::{resolve, ReferenceValues};
use kiln_verifier::snp::SnpProduct;
use kiln_verifier::{Hex, Platform};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    build: RawBuild,
    #[serde(rename = "sev-snp")]
    sev_snp: Option<RawSnp>,
    tdx: Option<RawTdx>,
    nitro: Option<RawNitro>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    allowed_platforms: Option<Vec<PlatformName>>,
    allow_simulated: Option<bool>,
    builder_id: Option<String>,
    source_repository: Option<String>,
    source_commit: Option<String>,
    source_digest: Option<FixedHex<32>>,
    max_evidence_age: Option<DurationDe>,
    require_nonce: Option<AnyHex>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct RawTcb {
    bl: Option<u8>,
    tee: Option<u8>,
    snp: Option<u8>,
    ucode: Option<u8>,
    fmc: Option<u8>,
}

impl From<RawTcb> for SnpTcb {
    fn from(r: RawTcb) -> Self {
        Self {
            bl: r.bl,
            tee: r.tee,
            snp: r.snp,
            ucode: r.ucode,
            fmc: r.fmc,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProductTcb {
    min_tcb: Option<RawTcb>,
    min_launch_tcb: Option<RawTcb>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnp {
    measurement: Option<HexList<48>>,
    measurement_from: Option<Spanned<String>>,
    measurement_key: Option<Spanned<String>>,
    host_data: Option<FixedHex<32>>,
    family_id: Option<FixedHex<16>>,
    image_id: Option<FixedHex<16>>,
    min_tcb: Option<RawTcb>,
    min_launch_tcb: Option<RawTcb>,
    by_product: Option<BTreeMap<ProductName, Spanned<RawProductTcb>>>,
    min_guest_svn: Option<u32>,
    vmpl: Option<U32List>,
    max_vmpl: Option<u8>,
    allow_debug: Option<bool>,
    allow_migration_agent: Option<bool>,
    allow_smt: Option<bool>,
    require_single_socket: Option<bool>,
    signing_key: Option<SigningKeyName>,
    products: Option<Vec<ProductName>>,
    require_chip_id_unmasked: Option<bool>,
    require_crl: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTdx {
    mrtd: Option<HexList<48>>,
    rtmr0: Option<HexList<48>>,
    rtmr1: Option<HexList<48>>,
    rtmr2: Option<HexList<48>>,
    rtmr3: Option<HexList<48>>,
    measurement_from: Option<Spanned<String>>,
    measurement_key: Option<Spanned<String>>,
    mrseam: Option<HexList<48>>,
    mrconfigid: Option<FixedHex<48>>,
    mrowner: Option<FixedHex<48>>,
    mrownerconfig: Option<FixedHex<48>>,
    allow_debug: Option<bool>,
    xfam: Option<FixedHex<8>>,
    min_tee_tcb_svn: Option<TeeTcbSvn>,
    accepted_tcb_statuses: Option<Spanned<Vec<StatusName>>>,
    max_collateral_age: Option<DurationDe>,
    allow_unknown_tcb: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNitro {
    pcrs: Option<BTreeMap<PcrIndex, HexList<48>>>,
    measurement_from: Option<Spanned<String>>,
    measurement_key: Option<Spanned<String>>,
    allow_debug: Option<bool>,
    max_document_age: Option<DurationDe>,
    module_id_pattern: Option<String>,
}

/// Resolves a `measurement_from` path that is not a reference JSON file (a guest-image
/// recipe or image folder, which only the host can build and measure): returns `None` to
/// fall back to reading the path as a reference file.
pub type ReferenceResolver<'r> =
    &'r dyn Fn(&Path, Platform) -> Option<Result<ReferenceValues, String>>;

/// What the conversion needs to name a place in the file and find reference files.
struct Ctx<'a> {
    text: &'a str,
    origin: &'a str,
    base: &'a Path,
    resolver: Option<ReferenceResolver<'a>>,
}

impl Ctx<'_> {
    fn invalid(&self, span: std::ops::Range<usize>, key: &str, message: String) -> PolicyError {
        PolicyError::Invalid {
            origin: self.origin.to_owned(),
            location: Some(Location::of_offset(self.text, span.start)),
            key: key.to_owned(),
            message,
        }
    }

    /// Loads `measurement_from` of section `section` for `platform`: with `measurement_key`,
    /// a signed reference verified with that public key; otherwise a reference file (or what
    /// the resolver makes of an image folder or recipe).
    fn reference(
        &self,
        section: &str,
        platform: Platform,
        written: &Spanned<String>,
        producer_key: Option<&Spanned<String>>,
    ) -> Result<ReferenceValues, PolicyError> {
        let key = format!("{section}.measurement_from");
        let path = resolve(self.base, written.get_ref());
        if let Some(k) = producer_key {
            let key_path = resolve(self.base, k.get_ref());
            return ReferenceValues::from_signed_file_for(&path, &key_path, platform)
                .map_err(|e| self.invalid(written.span(), &key, e.to_string()));
        }
        let resolved = self.resolver.and_then(|r| r(&path, platform));
        let refs = match resolved {
            Some(result) => result.map_err(|e| self.invalid(written.span(), &key, e))?,
            None => ReferenceValues::from_file_for(&path, Some(platform))
                .map_err(|e| self.invalid(written.span(), &key, e.to_string()))?,
        };
        if refs.platform != platform {
            return Err(self.invalid(
                written.span(),
                &key,
                format!(
                    "{} holds {} measurements, not {platform}",
                    path.display(),
                    refs.platform
                ),
            ));
        }
        Ok(refs)
    }
}

/// Parses a policy's TOML text; relative reference-file paths resolve against `base`.
pub(crate) fn parse(
    text: &str,
    origin: &str,
    base: &Path,
    resolver: Option<ReferenceResolver<'_>>,
) -> Result<Policy, PolicyError> {
    let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax {
        origin: origin.to_owned(),
        location: e.span().map(|s| Location::of_offset(text, s.start)),
        message: e.message().trim().to_owned(),
    })?;
    let ctx = Ctx {
        text,
        origin,
        base,
        resolver,
    };
    let b = raw.build;
    let build = BuildPolicy {
        allowed_platforms: b
            .allowed_platforms
            .map(|v| v.into_iter().map(|p| p.0).collect()),
        allow_simulated: b.allow_simulated.unwrap_or(false),
        builder_id: b.builder_id,
        source_repository: b.source_repository,
        source_commit: b.source_commit,
        source_digest: b.source_digest.map(|h| h.0),
        max_evidence_age: b.max_evidence_age.map(|d| d.0),
        require_nonce: b.require_nonce.map(|h| h.0),
    };
    Ok(Policy {
        origin: origin.to_owned(),
        build,
        sev_snp: raw.sev_snp.map(|s| snp(&ctx, s)).transpose()?,
        tdx: raw.tdx.map(|t| tdx(&ctx, t)).transpose()?,
        nitro: raw.nitro.map(|n| nitro(&ctx, n)).transpose()?,
    })
}

/// Appends `value` to `list` unless it is there.
fn add_unique(list: &mut Vec<Hex>, value: Hex) {
    if !list.contains(&value) {
        list.push(value);
    }
}

fn snp(ctx: &Ctx<'_>, s: RawSnp) -> Result<SnpPolicy, PolicyError> {
    let mut measurement = s.measurement.map(|l| l.0).unwrap_or_default();
    if let (None, Some(k)) = (&s.measurement_from, &s.measurement_key) {
        return Err(ctx.invalid(
            k.span(),
            "sev-snp.measurement_key",
            "measurement_key names the key of a signed measurement_from, and there is none".into(),
        ));
    }
    if let Some(from) = &s.measurement_from {
        let refs = ctx.reference(
            "sev-snp",
            Platform::SevSnp,
            from,
            s.measurement_key.as_ref(),
        )?;
        for value in refs.measurements.into_values() {
            add_unique(&mut measurement, value);
        }
    }
    let mut by_product = BTreeMap::new();
    for (name, entry) in s.by_product.unwrap_or_default() {
        let span = entry.span();
        let raw = entry.into_inner();
        let tcb = ProductTcb {
            min_tcb: raw.min_tcb.map(SnpTcb::from),
            min_launch_tcb: raw.min_launch_tcb.map(SnpTcb::from),
        };
        let has_fmc = SnpProduct::from_name(&name.0).is_some_and(SnpProduct::has_fmc);
        let fmc_written = [tcb.min_tcb, tcb.min_launch_tcb]
            .iter()
            .flatten()
            .any(|t| t.fmc.is_some());
        if fmc_written && !has_fmc {
            return Err(ctx.invalid(
                span,
                &format!("sev-snp.by_product.{}", name.0),
                format!("{} has no FMC component in its TCB", name.0),
            ));
        }
        by_product.insert(name.0, tcb);
    }
    let d = SnpPolicy::default();
    Ok(SnpPolicy {
        measurement,
        host_data: s.host_data.map(|h| h.0),
        family_id: s.family_id.map(|h| h.0),
        image_id: s.image_id.map(|h| h.0),
        min_tcb: s.min_tcb.map(SnpTcb::from),
        min_launch_tcb: s.min_launch_tcb.map(SnpTcb::from),
        by_product,
        min_guest_svn: s.min_guest_svn,
        vmpl: s.vmpl.map(|l| l.0),
        max_vmpl: s.max_vmpl.map(u32::from),
        allow_debug: s.allow_debug.unwrap_or(d.allow_debug),
        allow_migration_agent: s.allow_migration_agent.unwrap_or(d.allow_migration_agent),
        allow_smt: s.allow_smt.unwrap_or(d.allow_smt),
        require_single_socket: s.require_single_socket.unwrap_or(d.require_single_socket),
        signing_key: s.signing_key.map_or(d.signing_key, |k| k.0),
        products: s.products.map(|v| v.into_iter().map(|p| p.0).collect()),
        require_chip_id_unmasked: s
            .require_chip_id_unmasked
            .unwrap_or(d.require_chip_id_unmasked),
        require_crl: s.require_crl.unwrap_or(d.require_crl),
    })
}

fn tdx(ctx: &Ctx<'_>, t: RawTdx) -> Result<TdxPolicy, PolicyError> {
    let mut measurements: BTreeMap<String, Vec<Hex>> = BTreeMap::new();
    for (name, list) in [
        ("mrtd", t.mrtd),
        ("rtmr0", t.rtmr0),
        ("rtmr1", t.rtmr1),
        ("rtmr2", t.rtmr2),
        ("rtmr3", t.rtmr3),
    ] {
        if let Some(list) = list {
            measurements.insert(name.to_owned(), list.0);
        }
    }
    if let (None, Some(k)) = (&t.measurement_from, &t.measurement_key) {
        return Err(ctx.invalid(
            k.span(),
            "tdx.measurement_key",
            "measurement_key names the key of a signed measurement_from, and there is none".into(),
        ));
    }
    if let Some(from) = &t.measurement_from {
        let refs = ctx.reference("tdx", Platform::Tdx, from, t.measurement_key.as_ref())?;
        for (name, value) in refs.measurements {
            add_unique(measurements.entry(name).or_default(), value);
        }
    }
    let d = TdxPolicy::default();
    let accepted_tcb_statuses = match t.accepted_tcb_statuses {
        None => d.accepted_tcb_statuses,
        Some(list) if list.get_ref().is_empty() => {
            return Err(ctx.invalid(
                list.span(),
                "tdx.accepted_tcb_statuses",
                "an empty list accepts no quote with collateral; write at least \"UpToDate\""
                    .into(),
            ))
        }
        Some(list) => list.into_inner().into_iter().map(|s| s.0 .0).collect(),
    };
    Ok(TdxPolicy {
        measurements,
        mrseam: t.mrseam.map(|l| l.0).unwrap_or_default(),
        mrconfigid: t.mrconfigid.map(|h| h.0),
        mrowner: t.mrowner.map(|h| h.0),
        mrownerconfig: t.mrownerconfig.map(|h| h.0),
        allow_debug: t.allow_debug.unwrap_or(d.allow_debug),
        xfam: t.xfam.map(|h| h.0),
        min_tee_tcb_svn: t.min_tee_tcb_svn.map(|s| s.0),
        accepted_tcb_statuses,
        max_collateral_age: t.max_collateral_age.map(|d| d.0),
        allow_unknown_tcb: t.allow_unknown_tcb.unwrap_or(d.allow_unknown_tcb),
    })
}

fn nitro(ctx: &Ctx<'_>, n: RawNitro) -> Result<NitroPolicy, PolicyError> {
    let mut pcrs: BTreeMap<u16, Vec<Hex>> = n
        .pcrs
        .unwrap_or_default()
        .into_iter()
        .map(|(i, l)| (i.0, l.0))
        .collect();
    if let (None, Some(k)) = (&n.measurement_from, &n.measurement_key) {
        return Err(ctx.invalid(
            k.span(),
            "nitro.measurement_key",
            "measurement_key names the key of a signed measurement_from, and there is none".into(),
        ));
    }
    if let Some(from) = &n.measurement_from {
        let refs = ctx.reference("nitro", Platform::Nitro, from, n.measurement_key.as_ref())?;
        for (name, value) in refs.measurements {
            // The reference file's names were checked to be `pcr<index>` with index < 32.
            let index = name
                .strip_prefix("pcr")
                .and_then(|i| i.parse::<u16>().ok())
                .ok_or_else(|| {
                    ctx.invalid(
                        from.span(),
                        "nitro.measurement_from",
                        format!("{name:?} is not a PCR"),
                    )
                })?;
            add_unique(pcrs.entry(index).or_default(), value);
        }
    }
    Ok(NitroPolicy {
        pcrs,
        allow_debug: n.allow_debug.unwrap_or(false),
        max_document_age: n.max_document_age.map(|d| d.0),
        module_id_pattern: n.module_id_pattern,
    })
}
