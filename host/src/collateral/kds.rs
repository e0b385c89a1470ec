//! AMD's Key Distribution Service (KDS), as the "VCEK Certificate and KDS Interface
//! Specification" (AMD 57230) lays it out: what to ask it for an SEV-SNP report, and where.
//! Pure: the requests are derived from the report's bytes; fetching is [`super::http`]'s.
//!
//! | item | path under the base URL |
//! |---|---|
//! | VCEK | `/vcek/v1/{product}/{hwid}?blSPL=…&teeSPL=…&snpSPL=…&ucodeSPL=…` (Turin: `fmcSPL` first, and an 8-byte hwID) |
//! | ASK + ARK | `/vcek/v1/{product}/cert_chain` |
//! | ASVK + ARK | `/vlek/v1/{product}/cert_chain` |
//! | CRL | `/vcek/v1/{product}/crl` |
//!
//! A VLEK cannot be fetched: the cloud provider provisions it into the firmware, so it comes only
//! with the host's extended report (or configfs-tsm's auxiliary blob).

use std::fmt;

use kiln_provenance::SnpProduct;
use kiln_verifier::snp::{Component, Report, SigningKey, TcbVersion};

/// AMD's public KDS.
pub const DEFAULT_KDS_URL: &str = "https://kdsintf.amd.com";
/// The environment variable that replaces [`DEFAULT_KDS_URL`] (as `--kds-url` does).
pub const KDS_URL_ENV: &str = "KILN_KDS_URL";

/// Why no VCEK request can be made for a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KdsRequestError {
    /// The bytes are not an SEV-SNP report.
    NotAReport(String),
    /// The report is signed by a VLEK, which the KDS does not serve.
    Vlek,
    /// The report's CHIP_ID is masked (all zero): the KDS cannot name the chip.
    ChipIdMasked,
    /// A v2 report does not name its CPU and none was given.
    ProductUnknown,
    /// The report's CPUID names a CPU kiln does not know.
    UnknownCpu {
        /// CPUID_FAM_ID.
        family: u8,
        /// CPUID_MOD_ID.
        model: u8,
    },
    /// The report's CPUID and the product given disagree.
    ProductMismatch {
        /// From the report.
        report: SnpProduct,
        /// Given by the caller.
        given: SnpProduct,
    },
}

impl fmt::Display for KdsRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAReport(why) => write!(f, "not an SEV-SNP attestation report: {why}"),
            Self::Vlek => f.write_str(
                "the report is signed by a VLEK, which AMD's KDS does not serve (the cloud \
                 provider provisions it): take it from the host's extended report or the \
                 configfs-tsm auxiliary blob",
            ),
            Self::ChipIdMasked => f.write_str(
                "the report's CHIP_ID is masked (MASK_CHIP_ID): the KDS cannot name the chip's \
                 VCEK; take the VCEK from the host's extended report",
            ),
            Self::ProductUnknown => f.write_str(
                "a version 2 report does not name its CPU: say which with --product \
                 milan|genoa|turin",
            ),
            Self::UnknownCpu { family, model } => write!(
                f,
                "the report's CPUID (family {family:#x}, model {model:#x}) is not an EPYC \
                 generation kiln knows"
            ),
            Self::ProductMismatch { report, given } => write!(
                f,
                "the report's CPUID says {}, not the {} given",
                report.name(),
                given.name()
            ),
        }
    }
}

impl std::error::Error for KdsRequestError {}

/// The VCEK a report needs: the product, the chip's hwID and the TCB the VCEK was derived
/// from (REPORTED_TCB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcekRequest {
    /// The EPYC generation.
    pub product: SnpProduct,
    /// The hwID, lowercase hex: CHIP_ID (64 bytes), or its first 8 bytes on Turin.
    pub hwid: String,
    /// REPORTED_TCB, decoded for the product.
    pub tcb: TcbVersion,
}

impl VcekRequest {
    /// The request for `report`'s VCEK; `product` is needed for a v2 report (whose CPUID
    /// fields are reserved) and must agree with a v3+ report's.
    pub fn from_report(
        report: &[u8],
        product: Option<SnpProduct>,
    ) -> Result<Self, KdsRequestError> {
        let r = Report::parse(report).map_err(|e| KdsRequestError::NotAReport(e.to_string()))?;
        if r.key_info.signing_key == SigningKey::Vlek {
            return Err(KdsRequestError::Vlek);
        }
        if r.chip_id.iter().all(|b| *b == 0) {
            return Err(KdsRequestError::ChipIdMasked);
        }
        let from_cpuid = match r.cpuid {
            Some(c) => Some(SnpProduct::from_cpuid(c.family, c.model).ok_or(
                KdsRequestError::UnknownCpu {
                    family: c.family,
                    model: c.model,
                },
            )?),
            None => None,
        };
        let product = match (from_cpuid, product) {
            (Some(report), Some(given)) if report != given => {
                return Err(KdsRequestError::ProductMismatch { report, given })
            }
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => return Err(KdsRequestError::ProductUnknown),
        };
        let hwid_len = if product == SnpProduct::Turin { 8 } else { 64 };
        let hwid = hex::encode(r.chip_id.get(..hwid_len).unwrap_or(&r.chip_id));
        Ok(Self {
            product,
            hwid,
            tcb: TcbVersion::decode(r.reported_tcb, product),
        })
    }

    /// The path and query of the VCEK under the KDS base URL.
    pub fn path(&self) -> String {
        let query: Vec<String> = Component::all_for(self.product)
            .iter()
            .filter_map(|c| {
                self.tcb
                    .get(*c)
                    .map(|v| format!("{}={v:02}", c.extension_name()))
            })
            .collect();
        format!(
            "/vcek/v1/{}/{}?{}",
            self.product.name(),
            self.hwid,
            query.join("&")
        )
    }

    /// The cache key: product, hwID and the raw TCB.
    pub fn cache_key(&self) -> String {
        format!(
            "vcek/{}/{}/{:016x}",
            self.product.name(),
            self.hwid,
            self.tcb.raw
        )
    }
}

/// The path of the chain that certifies a VCEK (ASK + ARK) or a VLEK (ASVK + ARK).
pub fn chain_path(product: SnpProduct, key: SigningKey) -> String {
    let kind = match key {
        SigningKey::Vcek => "vcek",
        SigningKey::Vlek => "vlek",
    };
    format!("/{kind}/v1/{}/cert_chain", product.name())
}

/// The path of the product's CRL, issued by its ARK (revoked ASKs and ASVKs).
pub fn crl_path(product: SnpProduct) -> String {
    format!("/vcek/v1/{}/crl", product.name())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn vector(rel: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/vectors")
            .join(rel);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn a_milan_report_asks_for_its_chip_and_reported_tcb() {
        // v2: the CPU is not in the report, so the product is the caller's.
        let report = vector("snp/virtee-sev/report_milan.bin");
        assert_eq!(
            VcekRequest::from_report(&report, None).unwrap_err(),
            KdsRequestError::ProductUnknown
        );
        let req = VcekRequest::from_report(&report, Some(SnpProduct::Milan)).unwrap();
        assert_eq!(req.hwid.len(), 128);
        let path = req.path();
        assert!(
            path.starts_with(&format!("/vcek/v1/Milan/{}?blSPL=", req.hwid)),
            "{path}"
        );
        assert!(
            path.contains("&teeSPL=") && path.contains("&snpSPL="),
            "{path}"
        );
        assert!(
            path.contains(&format!("&ucodeSPL={:02}", req.tcb.microcode)),
            "{path}"
        );
        assert!(!path.contains("fmcSPL"), "{path}");
    }

    #[test]
    fn vlek_and_garbage_are_refused_with_the_reason() {
        let vlek = vector("snp/trustee/test-vlek-report.bin");
        assert_eq!(
            VcekRequest::from_report(&vlek, Some(SnpProduct::Milan)).unwrap_err(),
            KdsRequestError::Vlek
        );
        let e = VcekRequest::from_report(&[0u8; 10], Some(SnpProduct::Milan)).unwrap_err();
        assert!(matches!(e, KdsRequestError::NotAReport(_)), "{e}");
        assert_eq!(
            chain_path(SnpProduct::Genoa, SigningKey::Vlek),
            "/vlek/v1/Genoa/cert_chain"
        );
        assert_eq!(crl_path(SnpProduct::Turin), "/vcek/v1/Turin/crl");
    }
}
