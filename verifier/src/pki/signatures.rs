//! Signature checks: X.509-style (DER ECDSA, RSA PKCS#1 v1.5, RSA-PSS) and raw fixed-width ECDSA.

use super::*;

/// Why a signature check failed.
#[derive(Debug)]
pub enum SigError {
    /// The algorithm or key is not one we accept.
    Unsupported(String),
    /// The signature is wrong.
    Invalid,
}

/// RSASSA-PSS-params (RFC 4055). Absent fields take the (SHA-1) defaults, which we refuse.
#[derive(der::Sequence)]
pub(super) struct PssParams {
    #[asn1(context_specific = "0", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", optional = "true")]
    salt_len: Option<u32>,
    #[asn1(context_specific = "3", optional = "true")]
    trailer: Option<u32>,
}

pub(super) fn pss_algorithm(
    params: Option<&der::asn1::Any>,
) -> Result<&'static dyn VerificationAlgorithm, SigError> {
    let unsupported = |r: &str| SigError::Unsupported(format!("RSASSA-PSS parameters: {r}"));
    let params = params.ok_or_else(|| unsupported("absent"))?;
    let params: PssParams = params
        .decode_as()
        .map_err(|e| unsupported(&e.to_string()))?;
    let hash = params
        .hash
        .map(|h| h.oid)
        .ok_or_else(|| unsupported("SHA-1"))?;
    let mgf = params
        .mask_gen
        .ok_or_else(|| unsupported("MGF1 with SHA-1"))?;
    let mgf_hash = mgf
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok())
        .map(|a| a.oid);
    if mgf.oid != OID_MGF1 || mgf_hash != Some(hash) {
        return Err(unsupported(
            "mask generation is not MGF1 with the message hash",
        ));
    }
    if params.trailer.unwrap_or(1) != 1 {
        return Err(unsupported("trailer field is not 1"));
    }
    let salt = params.salt_len.unwrap_or(20);
    match (hash, salt) {
        (h, 48) if h == OID_SHA384 => Ok(&signature::RSA_PSS_2048_8192_SHA384),
        (h, 32) if h == OID_SHA256 => Ok(&signature::RSA_PSS_2048_8192_SHA256),
        _ => Err(unsupported(&format!("hash {hash} with salt length {salt}"))),
    }
}

/// Verifies an X.509-style signature (DER ECDSA, RSA PKCS#1 v1.5 or RSA-PSS) made by the key
/// of `signer` over `message`.
pub fn verify_x509_signature(
    signer: &Cert,
    algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    sig: &[u8],
) -> Result<(), SigError> {
    let curve = signer.ec_curve();
    let alg: &'static dyn VerificationAlgorithm = match algorithm.oid {
        oid if oid == rfc5912::ECDSA_WITH_SHA_256 => match curve {
            Some(c) if c == OID_SECP256R1 => &signature::ECDSA_P256_SHA256_ASN1,
            Some(c) if c == OID_SECP384R1 => &signature::ECDSA_P384_SHA256_ASN1,
            _ => return Err(SigError::Unsupported("ECDSA issuer key curve".into())),
        },
        oid if oid == rfc5912::ECDSA_WITH_SHA_384 => match curve {
            Some(c) if c == OID_SECP256R1 => &signature::ECDSA_P256_SHA384_ASN1,
            Some(c) if c == OID_SECP384R1 => &signature::ECDSA_P384_SHA384_ASN1,
            _ => return Err(SigError::Unsupported("ECDSA issuer key curve".into())),
        },
        oid if oid == rfc5912::SHA_256_WITH_RSA_ENCRYPTION => {
            &signature::RSA_PKCS1_2048_8192_SHA256
        }
        oid if oid == rfc5912::SHA_384_WITH_RSA_ENCRYPTION => {
            &signature::RSA_PKCS1_2048_8192_SHA384
        }
        oid if oid == OID_RSASSA_PSS => pss_algorithm(algorithm.parameters.as_ref())?,
        other => {
            return Err(SigError::Unsupported(format!(
                "signature algorithm {other}"
            )))
        }
    };
    let is_rsa_alg = !matches!(
        algorithm.oid,
        o if o == rfc5912::ECDSA_WITH_SHA_256 || o == rfc5912::ECDSA_WITH_SHA_384
    );
    let key_is_rsa = signer
        .0
        .parsed
        .tbs_certificate
        .subject_public_key_info
        .algorithm
        .oid
        == rfc5912::RSA_ENCRYPTION;
    if is_rsa_alg != key_is_rsa {
        return Err(SigError::Unsupported(
            "signature algorithm does not match the issuer's key type".into(),
        ));
    }
    UnparsedPublicKey::new(alg, signer.public_key())
        .verify(message, sig)
        .map_err(|_| SigError::Invalid)
}

/// Verifies a raw fixed-width ECDSA signature (`r || s`, big-endian) by a raw SEC1 key.
pub fn verify_ecdsa_fixed(
    alg: &'static signature::EcdsaVerificationAlgorithm,
    public_key_sec1: &[u8],
    message: &[u8],
    sig_r_s: &[u8],
) -> bool {
    UnparsedPublicKey::new(alg, public_key_sec1)
        .verify(message, sig_r_s)
        .is_ok()
}
