//! The signing key: ECDSA P-256, made in the guest on first launch and sealed with
//! AES-256-GCM under the TEE's measurement-bound sealing key. The host keeps only the sealed
//! blob and hands it back on the next launch; a launch with another measurement cannot open
//! it and makes a new key.
//!
//! Sealed blob: `version (1) || nonce (12) || ciphertext || tag (16)`, the version byte as
//! associated data.

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

use crate::error::EnclaveError;

/// The sealing key's context.
pub const SEALING_CONTEXT: &[u8] = b"kiln signing key v1";
/// The blob format version.
pub const BLOB_VERSION: u8 = 1;

/// SubjectPublicKeyInfo DER prefix of an uncompressed P-256 point (id-ecPublicKey,
/// prime256v1, BIT STRING of 66 bytes).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The signing key.
#[derive(Debug)]
pub struct SigningKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    rng: SystemRandom,
}

fn crypto(op: &'static str) -> impl FnOnce(ring::error::Unspecified) -> EnclaveError {
    move |_| EnclaveError::Crypto {
        op,
        reason: "ring reported an unspecified error".into(),
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate() -> Result<Self, EnclaveError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(crypto("generate the signing key"))?;
        Self::from_pkcs8(pkcs8.as_ref().to_vec())
    }

    /// The key in `pkcs8`.
    pub fn from_pkcs8(pkcs8: Vec<u8>) -> Result<Self, EnclaveError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8, &rng)
            .map_err(|e| EnclaveError::Crypto {
                op: "load the signing key",
                reason: e.to_string(),
            })?;
        Ok(Self { pair, pkcs8, rng })
    }

    /// SubjectPublicKeyInfo, DER.
    pub fn spki_der(&self) -> Vec<u8> {
        let mut out = P256_SPKI_PREFIX.to_vec();
        out.extend_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// SubjectPublicKeyInfo, PEM (`PUBLIC KEY`).
    pub fn public_key_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.spki_der());
        let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END PUBLIC KEY-----\n");
        out
    }

    /// An ECDSA P-256 / SHA-256 signature over `message`, DER.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        Ok(self
            .pair
            .sign(&self.rng, message)
            .map_err(crypto("sign"))?
            .as_ref()
            .to_vec())
    }

    /// The key sealed under `sealing_key`.
    pub fn seal(&self, sealing_key: &[u8; 32]) -> Result<Vec<u8>, EnclaveError> {
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, sealing_key).map_err(crypto("seal the signing key"))?,
        );
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(crypto("draw a sealing nonce"))?;
        let mut sealed = self.pkcs8.clone();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from([BLOB_VERSION]),
            &mut sealed,
        )
        .map_err(crypto("seal the signing key"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(BLOB_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a blob sealed under `sealing_key`; the reason when it cannot be opened.
    pub fn unseal(blob: &[u8], sealing_key: &[u8; 32]) -> Result<Self, String> {
        let (version, rest) = blob.split_first().ok_or("the sealed key is empty")?;
        if *version != BLOB_VERSION {
            return Err(format!(
                "sealed key format version {version}, expected {BLOB_VERSION}"
            ));
        }
        if rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(format!("the sealed key is {} bytes, too short", blob.len()));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce")?;
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, sealing_key).map_err(|_| "bad sealing key")?,
        );
        let mut buf = sealed.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from([BLOB_VERSION]), &mut buf)
            .map_err(|_| {
                "it does not open with this launch's sealing key (sealed by another \
                 measurement, policy or chip, or altered)"
            })?;
        Self::from_pkcs8(plain.to_vec()).map_err(|e| crate::error::report(&e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};

    #[test]
    fn sealed_keys_open_only_under_their_sealing_key() {
        let k = SigningKey::generate().unwrap();
        let blob = k.seal(&[1; 32]).unwrap();
        assert_eq!(blob[0], BLOB_VERSION);
        let back = SigningKey::unseal(&blob, &[1; 32]).unwrap();
        assert_eq!(back.spki_der(), k.spki_der());
        assert!(SigningKey::unseal(&blob, &[2; 32])
            .unwrap_err()
            .contains("does not open"));
        let mut flipped = blob.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(SigningKey::unseal(&flipped, &[1; 32]).is_err());
        assert!(SigningKey::unseal(&[2], &[1; 32])
            .unwrap_err()
            .contains("version"));
        assert!(SigningKey::unseal(&[], &[1; 32]).is_err());
        assert!(SigningKey::unseal(&[1, 0, 0], &[1; 32]).is_err());
    }

    #[test]
    fn signatures_verify_with_the_spki_key() {
        let k = SigningKey::generate().unwrap();
        let sig = k.sign(b"payload").unwrap();
        let point = &k.spki_der()[P256_SPKI_PREFIX.len()..];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
            .verify(b"payload", &sig)
            .unwrap();
        let pem = k.public_key_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nMFkw"));
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
    }
}
