//! kiln's verifier: AMD SEV-SNP reports, Intel TDX quotes and AWS Nitro Enclaves attestation
//! documents, verified offline against pinned vendor roots at an explicit time.
//!
//! ```no_run
//! use kiln_verifier::{Evidence, TrustAnchors, UnixTime, Verifier};
//! # fn run(report: &[u8], vcek: &[u8]) -> Result<(), kiln_verifier::Error> {
//! let verifier = Verifier::new(TrustAnchors::vendor());
//! let at = UnixTime::parse_rfc3339("2025-09-01T00:00:00Z").expect("valid time");
//! let verified = verifier.verify(&Evidence::new(report).vek(vcek), at)?;
//! println!("{}", verified.claims().measurements["measurement"]);
//! # Ok(()) }
//! ```
//!
//! Verification does no I/O and never reads the clock. The only proof of success is a
//! [`VerifiedEvidence`], which has no public constructor.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod anchors;
pub mod build_output;
pub(crate) mod cache;
pub mod claims;
pub(crate) mod cursor;
pub mod error;
pub mod hex;
pub mod image_reference;
pub mod nitro;
pub mod path;
pub mod pki;
pub mod snp;
pub mod tdx;
pub mod time;
pub mod vsa;

use serde::Serialize;

pub use anchors::{AnchorOrigin, TrustAnchor, TrustAnchors};
pub use claims::{AnchorClaim, ClaimsOf, TcbClaims, TcbStatus};
pub use error::{Error, ErrorKind};
pub use hex::Hex;
pub use kiln_provenance::Platform;
pub use time::UnixTime;

use cache::Cache;

/// Platform-specific values, all of them, for policies that need more than the common claims.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "platform", rename_all = "kebab-case")]
pub enum PlatformDetails {
    /// SEV-SNP report fields.
    SevSnp(snp::SnpDetails),
    /// TDX quote fields.
    Tdx(tdx::TdxDetails),
    /// Nitro attestation document fields.
    Nitro(nitro::NitroDetails),
}

/// Normalised claims from verified evidence, with the platform's details.
pub type Claims = ClaimsOf<PlatformDetails>;

/// Evidence that passed verification. The only way to obtain one is
/// [`crate::Verifier::verify`]: its field is private and it has no public constructor.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct VerifiedEvidence {
    claims: Claims,
}

impl VerifiedEvidence {
    pub(crate) fn new(claims: Claims) -> Self {
        Self { claims }
    }

    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// Whether these claims rest on simulated evidence.
    pub fn is_simulated(&self) -> bool {
        self.claims.simulated
    }

    /// The claims as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.claims).unwrap_or(serde_json::Value::Null)
    }
}

/// Evidence and the inputs that come with it. Everything here is untrusted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence<'a> {
    /// The platform, or `None` to detect it from the bytes.
    pub platform: Option<Platform>,
    /// The evidence: an SEV-SNP report, a TDX quote, or a Nitro COSE_Sign1 document.
    pub bytes: &'a [u8],
    /// SEV-SNP: the VCEK or VLEK certificate (DER, PEM, or a PEM bundle whose first
    /// certificate is the VEK, as Azure serves it).
    pub vek: Option<&'a [u8]>,
    /// SEV-SNP: extra intermediates (ASK/ASVK), DER or PEM. Roots in it are ignored.
    pub chain: Option<&'a [u8]>,
    /// TDX: collateral in QuoteCollateralV3 JSON.
    pub collateral: Option<&'a [u8]>,
    /// SEV-SNP: certificate revocation lists (DER, one after the other, or `X509 CRL` PEM
    /// blocks): AMD's CRL of the product (`/vcek/v1/{product}/crl`, issued by the ARK), and
    /// optionally one issued by the ASK/ASVK. Without one, revocation is not checked.
    pub crl: Option<&'a [u8]>,
}

impl<'a> Evidence<'a> {
    /// Evidence whose platform is detected from its bytes.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            ..Self::default()
        }
    }

    /// Fixes the platform instead of detecting it.
    pub fn platform(mut self, platform: Platform) -> Self {
        self.platform = Some(platform);
        self
    }

    /// The SEV-SNP VCEK or VLEK.
    pub fn vek(mut self, vek: &'a [u8]) -> Self {
        self.vek = Some(vek);
        self
    }

    /// SEV-SNP intermediates.
    pub fn chain(mut self, chain: &'a [u8]) -> Self {
        self.chain = Some(chain);
        self
    }

    /// TDX collateral.
    pub fn collateral(mut self, collateral: &'a [u8]) -> Self {
        self.collateral = Some(collateral);
        self
    }

    /// SEV-SNP CRLs.
    pub fn crl(mut self, crl: &'a [u8]) -> Self {
        self.crl = Some(crl);
        self
    }
}

/// Verifies evidence against a fixed set of trust anchors, caching verified chains and
/// collateral so that repeated verifications pay only for the evidence's own signature.
#[derive(Debug)]
pub struct Verifier {
    anchors: TrustAnchors,
    cache: Cache,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new(TrustAnchors::vendor())
    }
}

impl Verifier {
    /// A verifier for these anchors.
    pub fn new(anchors: TrustAnchors) -> Self {
        Self {
            anchors,
            cache: Cache::default(),
        }
    }

    /// The anchors.
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// How many verified chains and collateral items the cache holds.
    pub fn cached_entries(&self) -> usize {
        self.cache.len()
    }

    /// Verifies evidence at `time`.
    ///
    /// 1. Determine the platform (given, or detected from the bytes).
    /// 2. Run that platform's verification (see [`snp::verify`], [`tdx::verify`],
    ///    [`nitro::verify`]): every signature, certificate and collateral item is checked at
    ///    `time` against the anchors given to [`Verifier::new`].
    /// 3. Return the claims, marked simulated if the anchor is simulated.
    pub fn verify(
        &self,
        evidence: &Evidence<'_>,
        time: UnixTime,
    ) -> Result<VerifiedEvidence, Error> {
        // 1.
        let platform = match evidence.platform {
            Some(p) => p,
            None => detect_platform(evidence.bytes)?,
        };
        // 2.
        let (anchors, cache) = (&self.anchors, &self.cache);
        let claims =
            match platform {
                Platform::SevSnp => snp::verify(anchors, cache, evidence, time)?
                    .map_details(PlatformDetails::SevSnp),
                Platform::Tdx => {
                    tdx::verify(anchors, cache, evidence, time)?.map_details(PlatformDetails::Tdx)
                }
                Platform::Nitro => nitro::verify(anchors, cache, evidence, time)?
                    .map_details(PlatformDetails::Nitro),
            };
        // 3.
        Ok(VerifiedEvidence::new(claims))
    }
}

/// Tells the platform from the first bytes of the evidence.
///
/// - Nitro: a CBOR array of four (`0x84`), possibly behind COSE_Sign1 tag 18 (`0xd2`).
/// - TDX: quote version 4 or 5, attestation key type 2 (ECDSA P-256), TEE type 0x81.
/// - SEV-SNP: report version 2, 3 or 5 and signature algorithm 1, at least 1184 bytes.
pub fn detect_platform(bytes: &[u8]) -> Result<Platform, Error> {
    let mut r = cursor::Reader::new(bytes, "evidence");
    let first = bytes.first().copied().ok_or(Error::UnknownFormat {
        reason: "the evidence is empty".into(),
    })?;
    if first == 0x84 || first == 0xd2 {
        return Ok(Platform::Nitro);
    }
    let head = r.array::<8>().map_err(|_| Error::UnknownFormat {
        reason: format!("only {} bytes", bytes.len()),
    })?;
    let [v0, v1, k0, k1, t0, t1, t2, t3] = head;
    let version16 = u16::from_le_bytes([v0, v1]);
    let key_type = u16::from_le_bytes([k0, k1]);
    let tee_type = u32::from_le_bytes([t0, t1, t2, t3]);
    if matches!(version16, 4 | 5) && key_type == 2 && tee_type == 0x81 {
        return Ok(Platform::Tdx);
    }
    let version32 = u32::from_le_bytes([v0, v1, k0, k1]);
    let sig_algo = cursor::slice(bytes, 0x34, 0x38, "evidence")
        .ok()
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_le_bytes);
    if matches!(version32, 2..=5) && sig_algo == Some(1) && bytes.len() >= snp::REPORT_LEN {
        return Ok(Platform::SevSnp);
    }
    Err(Error::UnknownFormat {
        reason: format!(
            "not a Nitro COSE_Sign1, TDX quote (version {version16}, key type {key_type}, TEE type {tee_type:#x}) or SEV-SNP report (version {version32}, {} bytes)",
            bytes.len()
        ),
    })
}
