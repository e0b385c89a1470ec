//! Trust anchors: the vendor roots pinned by the SHA-256 of their DER, passed to every
//! verification as data.
//!
//! A root that arrives inside the evidence (a Nitro `cabundle[0]`, the root of a TDX PCK chain,
//! the ARK of an SEV-SNP chain file) is never trusted because it is there: only a root whose
//! DER digest is in the caller's [`TrustAnchors`] ends a chain.

use std::sync::Arc;

use crate::error::Error;
use crate::pki::Cert;
use kiln_provenance::Platform;

/// Where a trust anchor comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnchorOrigin {
    /// A CPU or cloud vendor's root (AMD, Intel, AWS), or a root the caller pins as such.
    Vendor,
    /// A simulated vendor root: evidence chaining to it is marked simulated in every output.
    Simulated,
}

/// One pinned root certificate.
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    /// A short name (for example `AMD ARK-Milan`).
    pub name: String,
    /// The platform whose evidence it anchors.
    pub platform: Platform,
    /// Vendor or simulated.
    pub origin: AnchorOrigin,
    /// The certificate.
    pub cert: Cert,
}

/// A pinned certificate compiled into the verifier.
struct Pin {
    name: &'static str,
    platform: Platform,
    sha256: &'static str,
    der: &'static [u8],
}

/// Vendor roots (self-signed).
const ROOT_PINS: &[Pin] = &[
    Pin {
        name: "AMD ARK-Milan",
        platform: Platform::SevSnp,
        sha256: "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
        der: include_bytes!("../roots/amd_ark_milan.der"),
    },
    Pin {
        name: "AMD ARK-Genoa",
        platform: Platform::SevSnp,
        sha256: "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
        der: include_bytes!("../roots/amd_ark_genoa.der"),
    },
    Pin {
        name: "AMD ARK-Turin",
        platform: Platform::SevSnp,
        sha256: "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
        der: include_bytes!("../roots/amd_ark_turin.der"),
    },
    Pin {
        name: "Intel SGX Root CA",
        platform: Platform::Tdx,
        sha256: "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3",
        der: include_bytes!("../roots/intel_sgx_root_ca.der"),
    },
    Pin {
        name: "AWS Nitro Enclaves Root G1",
        platform: Platform::Nitro,
        sha256: "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b",
        der: include_bytes!("../roots/aws_nitro_root_g1.der"),
    },
];

/// Vendor intermediates known in advance (AMD ASK and ASVK). They are not trusted: each is
/// verified against its pinned ARK like any certificate that arrives with the evidence; they
/// are here so that a VCEK or VLEK alone suffices as input.
const INTERMEDIATE_PINS: &[Pin] = &[
    Pin {
        name: "AMD ASK SEV-Milan",
        platform: Platform::SevSnp,
        sha256: "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b",
        der: include_bytes!("../roots/amd_ask_milan.der"),
    },
    Pin {
        name: "AMD ASK SEV-Genoa",
        platform: Platform::SevSnp,
        sha256: "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521",
        der: include_bytes!("../roots/amd_ask_genoa.der"),
    },
    Pin {
        name: "AMD ASK SEV-Turin",
        platform: Platform::SevSnp,
        sha256: "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185",
        der: include_bytes!("../roots/amd_ask_turin.der"),
    },
    Pin {
        name: "AMD ASVK SEV-VLEK-Milan",
        platform: Platform::SevSnp,
        sha256: "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5",
        der: include_bytes!("../roots/amd_asvk_milan.der"),
    },
    Pin {
        name: "AMD ASVK SEV-VLEK-Genoa",
        platform: Platform::SevSnp,
        sha256: "197e610743a917d6b9bb982a5a9226ccc0a15b611be0619e626aca9151457372",
        der: include_bytes!("../roots/amd_asvk_genoa.der"),
    },
    Pin {
        name: "AMD ASVK SEV-VLEK-Turin",
        platform: Platform::SevSnp,
        sha256: "104e10a8bd060a3c20a434261a57d0588fd65a88915b4f65b08bdecaf8df1a3c",
        der: include_bytes!("../roots/amd_asvk_turin.der"),
    },
];

/// The set of trust anchors a verification runs against.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    roots: Vec<Arc<TrustAnchor>>,
    intermediates: Vec<(Platform, Cert)>,
}

fn load_pin(pin: &Pin) -> Result<Cert, Error> {
    let cert = Cert::from_der(pin.der)?;
    let digest = hex::encode(cert.sha256());
    if digest != pin.sha256 {
        return Err(Error::mismatch("pinned root digest", pin.sha256, digest));
    }
    Ok(cert)
}

impl TrustAnchors {
    /// No anchors at all: every verification fails until roots are added.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The pinned vendor roots: AMD ARK (Milan, Genoa, Turin) with their ASK and ASVK, the
    /// Intel SGX Root CA, and the AWS Nitro Enclaves Root G1.
    pub fn vendor() -> Self {
        let mut anchors = Self::empty();
        for pin in ROOT_PINS {
            // Invariant: the embedded DER files are checked against their digests by the
            // unit test `pins_match_their_digests`; a mismatch cannot reach a release.
            #[allow(clippy::expect_used)]
            let cert = load_pin(pin).expect("embedded root pin");
            anchors.roots.push(Arc::new(TrustAnchor {
                name: pin.name.to_owned(),
                platform: pin.platform,
                origin: AnchorOrigin::Vendor,
                cert,
            }));
        }
        for pin in INTERMEDIATE_PINS {
            // Invariant: as above.
            #[allow(clippy::expect_used)]
            let cert = load_pin(pin).expect("embedded intermediate pin");
            anchors.intermediates.push((pin.platform, cert));
        }
        anchors
    }

    /// Pins an additional root as a vendor root (for example a private PKI in a test lab).
    pub fn add_vendor_root(
        &mut self,
        platform: Platform,
        name: &str,
        der: &[u8],
    ) -> Result<&mut Self, Error> {
        self.add_root(platform, name, der, AnchorOrigin::Vendor)
    }

    /// Accepts a simulated root, by name. Evidence that chains to it verifies, and every claim
    /// resting on it is marked simulated. Without this call simulated evidence is rejected.
    pub fn allow_simulated(
        &mut self,
        platform: Platform,
        name: &str,
        der: &[u8],
    ) -> Result<&mut Self, Error> {
        self.add_root(platform, name, der, AnchorOrigin::Simulated)
    }

    fn add_root(
        &mut self,
        platform: Platform,
        name: &str,
        der: &[u8],
        origin: AnchorOrigin,
    ) -> Result<&mut Self, Error> {
        let cert = Cert::from_der(der)?;
        if !cert.is_self_issued() {
            return Err(Error::Certificate {
                what: cert.subject().to_owned(),
                reason: "a trust anchor must be a self-issued root".into(),
            });
        }
        cert.verify_issued_by(&cert)?;
        self.roots.push(Arc::new(TrustAnchor {
            name: name.to_owned(),
            platform,
            origin,
            cert,
        }));
        Ok(self)
    }

    /// Adds a known (untrusted, always verified) intermediate for a platform.
    pub fn add_intermediate(&mut self, platform: Platform, der: &[u8]) -> Result<&mut Self, Error> {
        self.intermediates.push((platform, Cert::from_der(der)?));
        Ok(self)
    }

    /// The roots for one platform.
    pub fn roots_for(&self, platform: Platform) -> Vec<Arc<TrustAnchor>> {
        self.roots
            .iter()
            .filter(|a| a.platform == platform)
            .cloned()
            .collect()
    }

    /// The known intermediates for one platform.
    pub fn intermediates_for(&self, platform: Platform) -> impl Iterator<Item = &Cert> {
        self.intermediates
            .iter()
            .filter(move |(p, _)| *p == platform)
            .map(|(_, c)| c)
    }

    /// Every root, for display.
    pub fn roots(&self) -> &[Arc<TrustAnchor>] {
        &self.roots
    }

    /// Whether a certificate name marks a simulated PKI. kiln's simulator writes
    /// [`SIMULATED_MARK`] into the organisation of every root and intermediate it makes, so a
    /// chain that ends in such a name and in no anchor accepted through
    /// [`TrustAnchors::allow_simulated`] is refused as simulated, not merely as untrusted.
    pub fn names_simulated(name: &str) -> bool {
        name.to_ascii_uppercase().contains(SIMULATED_MARK)
    }

    /// The refusal of a self-issued certificate that is not pinned: simulated evidence when
    /// its name says so, an untrusted root otherwise.
    pub(crate) fn refuse_unpinned_root(root: &Cert) -> Error {
        if Self::names_simulated(root.subject()) {
            Error::SimulatedEvidence {
                root: root.subject().to_owned(),
            }
        } else {
            Error::UntrustedRoot {
                subject: root.subject().to_owned(),
                reason: format!(
                    "self-signed root with SHA-256 {} is not pinned",
                    hex::encode(root.sha256())
                ),
            }
        }
    }

    /// The refusal of a certificate whose issuer is neither among `roots` nor given: simulated
    /// evidence when the issuer's name says so and no simulated root is allowed, an untrusted
    /// root otherwise.
    pub(crate) fn refuse_unknown_issuer(cert: &Cert, roots: &[Arc<TrustAnchor>]) -> Error {
        let issuer = cert.issuer();
        if Self::names_simulated(&issuer)
            && !roots.iter().any(|a| a.origin == AnchorOrigin::Simulated)
        {
            Error::SimulatedEvidence { root: issuer }
        } else {
            Error::UntrustedRoot {
                subject: cert.subject().to_owned(),
                reason: format!(
                    "its issuer {issuer:?} is neither pinned nor among the certificates given"
                ),
            }
        }
    }
}

pub use kiln_provenance::SIMULATED_MARK;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_match_their_digests() {
        for pin in ROOT_PINS.iter().chain(INTERMEDIATE_PINS) {
            let cert = load_pin(pin).unwrap_or_else(|e| panic!("{}: {e}", pin.name));
            assert_eq!(hex::encode(cert.sha256()), pin.sha256, "{}", pin.name);
        }
    }

    #[test]
    fn roots_are_self_signed_and_intermediates_chain_to_them() {
        let anchors = TrustAnchors::vendor();
        assert_eq!(anchors.roots().len(), 5);
        for root in anchors.roots() {
            root.cert.verify_issued_by(&root.cert).unwrap();
        }
        for (platform, cert) in &anchors.intermediates {
            let roots = anchors.roots_for(*platform);
            let issuer = roots
                .iter()
                .find(|r| r.cert.subject() == cert.issuer())
                .unwrap_or_else(|| panic!("no root for {}", cert.subject()));
            cert.verify_issued_by(&issuer.cert).unwrap();
        }
    }

    #[test]
    fn a_non_root_cannot_be_an_anchor() {
        let mut anchors = TrustAnchors::empty();
        let err = anchors
            .add_vendor_root(Platform::SevSnp, "ask", INTERMEDIATE_PINS[0].der)
            .unwrap_err();
        assert!(matches!(err, Error::Certificate { .. }), "{err}");
    }
}
