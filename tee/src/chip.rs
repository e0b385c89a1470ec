//! A simulated chip: a 32-byte secret (like a real chip's fused secret) from which every key
//! of the simulated vendor PKIs and every sealing key is derived.
//!
//! Ways to get one:
//!
//! - [`SimChip::from_seed`]: the secret is given, so the same seed always gives the same
//!   keys, certificates and (with the same inputs) byte-identical evidence. For tests.
//! - [`SimChip::from_seed_cached`]: the same, keeping the slow RSA keys in a cache directory
//!   shared between processes (test suites).
//! - [`SimChip::open`]: the secret is drawn from the OS on first use and kept in a state
//!   directory (mode 0700, files 0600), like a chip's fuses; later opens find it there.
//!
//! Key derivation: `PRK = HKDF-Extract(salt = "kiln-tee sim chip v1", IKM = secret)`, then one
//! `HKDF-Expand(PRK, label)` per key. Elliptic-curve keys are drawn from a ChaCha20 stream
//! seeded by their label's output; so are the two RSA-4096 keys of the simulated AMD root and
//! signing key. RSA-4096 generation takes seconds (1.7 to 10.6 s for the pair, two threads,
//! on the 2-core CI machine), so those keys are made once per chip, on first SEV-SNP use: kept
//! in a process-wide cache keyed by a digest of the secret, and in the state or cache
//! directory (PKCS#8 DER, mode 0600) when there is one. TDX and Nitro keys take milliseconds.
//!
//! Issuing the SEV-SNP chain takes three RSA-4096 signatures (tens of milliseconds, every
//! process). A chip with a state directory therefore keeps the certificates it issued there
//! ([`PKI_CACHE_PREFIX`] files, one per PKI: `snp-<product>-<TCB_VERSION hex>`, `tdx`,
//! `nitro`; mode 0600, written through a rename). Such a file is trusted only as far as it
//! proves itself: its HMAC-SHA256 tag, keyed by the chip secret and covering the file's name,
//! must verify, and each certificate is reused only when its TBSCertificate and signature
//! algorithm are exactly what the chip would issue now (same keys, same profile). Anything
//! else is issued again and the file rewritten, so evidence is byte for byte what a chip
//! without the file gives. Keys are never cached: all but the RSA pair derive from the secret
//! in microseconds to milliseconds. Seeded chips keep their PKIs in memory only.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use std::sync::atomic::{AtomicU64, Ordering};

use hkdf::{Hkdf, HkdfExtract};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::RsaPrivateKey;
use sha2::Sha256;

use crate::error::TeeError;
use crate::pki::nitro::NitroRoot;
use crate::pki::snp::{AmdRsaKeys, SnpChipKeys, SnpPki, SnpProduct, SnpTcb};
use crate::pki::tdx::TdxPki;
use crate::pki::KeySource;

/// The file holding the chip secret in a state directory.
pub const SECRET_FILE: &str = "chip-secret";
const ARK_FILE: &str = "amd-ark-rsa4096.pk8";
const ASK_FILE: &str = "amd-ask-rsa4096.pk8";
/// The prefix of the issued-certificate cache files in a state directory.
pub const PKI_CACHE_PREFIX: &str = "pki-cache-";
const PKI_CACHE_MAGIC: &[u8] = b"kiln-tee sim pki cache v1\n";
/// No PKI cache file is near this (the SEV-SNP one is about 4 KiB).
const PKI_CACHE_MAX_BYTES: u64 = 1 << 20;
const PKI_CACHE_TAG_LEN: usize = 32;

/// A simulated chip. Cheap to share (`Arc`); PKIs are made on first use and kept.
pub struct SimChip {
    secret: [u8; 32],
    state_dir: Option<PathBuf>,
    rsa_cache_dir: Option<PathBuf>,
    amd_rsa: Mutex<Option<Arc<AmdRsaKeys>>>,
    snp: Mutex<SnpPkis>,
    tdx: Mutex<Option<Arc<TdxPki>>>,
    nitro: Mutex<Option<Arc<NitroRoot>>>,
}

impl std::fmt::Debug for SimChip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimChip")
            .field(
                "id",
                &hex::encode(self.derive("chip id").get(..8).unwrap_or(&[])),
            )
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

/// SEV-SNP chains by product and TCB_VERSION bytes.
type SnpPkis = BTreeMap<(SnpProduct, [u8; 8]), Arc<SnpPki>>;

type RsaCache = Mutex<HashMap<[u8; 32], Arc<AmdRsaKeys>>>;

fn rsa_cache() -> &'static RsaCache {
    static CACHE: OnceLock<RsaCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves only a cache half-filled, never an
    // inconsistent value: recover the guard.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SimChip {
    fn with_secret(secret: [u8; 32], state_dir: Option<PathBuf>) -> Self {
        Self {
            secret,
            rsa_cache_dir: state_dir.clone(),
            state_dir,
            amd_rsa: Mutex::new(None),
            snp: Mutex::new(BTreeMap::new()),
            tdx: Mutex::new(None),
            nitro: Mutex::new(None),
        }
    }

    /// A chip whose secret is `seed`: reproducible keys and evidence.
    pub fn from_seed(seed: &[u8; 32]) -> Arc<Self> {
        Arc::new(Self::with_secret(*seed, None))
    }

    /// A chip whose secret is `seed`, keeping its RSA-4096 keys (a pure function of the
    /// seed, slow to compute) in `cache_dir` so that other processes skip their generation.
    /// The cache files are named after a digest of the seed, never the seed itself.
    pub fn from_seed_cached(seed: &[u8; 32], cache_dir: &Path) -> Arc<Self> {
        let mut chip = Self::with_secret(*seed, None);
        chip.rsa_cache_dir = Some(cache_dir.to_path_buf());
        Arc::new(chip)
    }

    /// Whether the chip in state directory `dir` already holds its AMD vendor keys
    /// (RSA-4096, generated on first SEV-SNP use, which takes seconds): callers announce the
    /// wait when it does not.
    pub fn has_vendor_keys(dir: &Path) -> bool {
        dir.join(ARK_FILE).is_file() && dir.join(ASK_FILE).is_file()
    }

    /// The chip kept in `dir`, created there on first use with a secret from the OS.
    pub fn open(dir: &Path) -> Result<Arc<Self>, TeeError> {
        create_private_dir(dir)?;
        let path = dir.join(SECRET_FILE);
        let secret = match fs::read(&path) {
            Ok(bytes) => secret_from_file(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut fresh = [0u8; 32];
                rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut fresh)
                    .map_err(|e| TeeError::crypto("chip secret", e))?;
                match publish_private(&path, &fresh) {
                    Ok(()) => fresh,
                    // Another process (or thread) created it first: use theirs. It was
                    // published whole, so it is never seen half-written.
                    Err(TeeError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        let bytes = fs::read(&path)
                            .map_err(|e| TeeError::io(&path, "read chip secret", e))?;
                        secret_from_file(&path, &bytes)?
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(TeeError::io(&path, "read chip secret", e)),
        };
        Ok(Arc::new(Self::with_secret(secret, Some(dir.to_path_buf()))))
    }

    /// The state directory, if the chip has one.
    pub fn state_dir(&self) -> Option<&Path> {
        self.state_dir.as_deref()
    }

    /// 32 bytes derived from the secret for `label`.
    pub(crate) fn derive(&self, label: &str) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(b"kiln-tee sim chip v1"), &self.secret);
        let mut out = [0u8; 32];
        // Invariant: 32 bytes is far below HKDF-SHA256's limit of 255 * 32.
        #[allow(clippy::expect_used)]
        hk.expand(label.as_bytes(), &mut out)
            .expect("32-byte HKDF output");
        out
    }

    /// The secret sealing keys derive from.
    pub(crate) fn sealing_secret(&self) -> [u8; 32] {
        self.derive("sealing")
    }

    /// The simulated AMD ARK and ASK keys (RSA-4096), made once per chip.
    pub fn amd_rsa_keys(&self) -> Result<Arc<AmdRsaKeys>, TeeError> {
        let mut slot = lock(&self.amd_rsa);
        if let Some(keys) = slot.as_ref() {
            return Ok(Arc::clone(keys));
        }
        // One generation at a time in the process: chips of the same seed made by parallel
        // threads then wait for the first one's keys instead of computing them again.
        static GENERATION: Mutex<()> = Mutex::new(());
        let _generation = lock(&GENERATION);
        let cache_key = self.derive("rsa cache key");
        if let Some(keys) = lock(rsa_cache()).get(&cache_key) {
            *slot = Some(Arc::clone(keys));
            return Ok(Arc::clone(keys));
        }
        let keys = match &self.rsa_cache_dir {
            Some(dir) => {
                // In a state directory the files belong to this one chip; in a shared cache
                // directory they are told apart by the cache key.
                let prefix = if self.state_dir.is_some() {
                    String::new()
                } else {
                    create_private_dir(dir)?;
                    format!("{}-", hex::encode(cache_key.get(..12).unwrap_or(&[])))
                };
                match load_rsa(dir, &prefix)? {
                    Some(keys) => keys,
                    None => {
                        let keys = self.generate_rsa()?;
                        store_rsa(dir, &prefix, &keys)?;
                        keys
                    }
                }
            }
            None => self.generate_rsa()?,
        };
        let keys = Arc::new(keys);
        lock(rsa_cache()).insert(cache_key, Arc::clone(&keys));
        *slot = Some(Arc::clone(&keys));
        Ok(keys)
    }

    /// Generates both RSA-4096 keys, one per thread.
    fn generate_rsa(&self) -> Result<AmdRsaKeys, TeeError> {
        let gen = |label: &str| {
            let mut rng = ChaCha20Rng::from_seed(self.derive(label));
            RsaPrivateKey::new(&mut rng, 4096).map_err(|e| TeeError::crypto("RSA-4096 key", e))
        };
        let (ark, ask) = std::thread::scope(|s| {
            let ark = s.spawn(|| gen("amd ark rsa4096"));
            let ask = gen("amd ask rsa4096");
            (ark.join(), ask)
        });
        let ark =
            ark.map_err(|_| TeeError::crypto("RSA-4096 key", "key generation panicked"))??;
        Ok(AmdRsaKeys { ark, ask: ask? })
    }

    /// A CRL of this chip's simulated AMD chain for `product` (the ARK's, as AMD's KDS serves
    /// it, or the ASK's), signed with the simulated key.
    pub fn snp_crl(
        &self,
        product: SnpProduct,
        spec: &crate::pki::snp::SnpCrlSpec,
    ) -> Result<Vec<u8>, TeeError> {
        let rsa = self.amd_rsa_keys()?;
        let salt_secret = self.derive("amd crl pss salt");
        crate::pki::snp::issue_crl(product, &rsa, &salt_secret, spec)
    }

    /// The chain for `product` certifying `tcb` (the VCEK is per TCB, as AMD's are).
    pub fn snp_pki(&self, product: SnpProduct, tcb: SnpTcb) -> Result<Arc<SnpPki>, TeeError> {
        let key = (product, tcb.to_bytes(product));
        if let Some(pki) = lock(&self.snp).get(&key) {
            return Ok(Arc::clone(pki));
        }
        let kind = format!(
            "snp-{}-{}",
            product.name().to_ascii_lowercase(),
            hex::encode(tcb.to_bytes(product))
        );
        let cached = self.load_pki_cache(&kind)?;
        let rsa = self.amd_rsa_keys()?;
        let salt_secret = self.derive("amd pss salt");
        let chip_id: [u8; 64] = {
            let mut id = [0u8; 64];
            id.copy_from_slice(&self.derive_bytes("snp chip id", 64));
            id
        };
        let vcek = self.p384_key(&format!(
            "snp vcek {} {}",
            product.name(),
            hex::encode(tcb.to_bytes(product))
        ));
        let pki = Arc::new(crate::pki::snp::build(
            product,
            tcb,
            SnpChipKeys {
                rsa: &rsa,
                salt_secret: &salt_secret,
                vcek,
                chip_id,
            },
            &cached,
        )?);
        self.store_pki_cache(&kind, &cached, &[&pki.ark_der, &pki.ask_der, &pki.vcek_der])?;
        lock(&self.snp).insert(key, Arc::clone(&pki));
        Ok(pki)
    }

    /// The simulated Intel PCK chain, TCB signing certificate and attestation key.
    pub fn tdx_pki(&self) -> Result<Arc<TdxPki>, TeeError> {
        let mut slot = lock(&self.tdx);
        if let Some(pki) = slot.as_ref() {
            return Ok(Arc::clone(pki));
        }
        let cached = self.load_pki_cache("tdx")?;
        let pki = Arc::new(crate::pki::tdx::build(self, &cached)?);
        self.store_pki_cache(
            "tdx",
            &cached,
            &[
                &pki.root_der,
                &pki.platform_ca_der,
                &pki.pck_der,
                &pki.tcb_signing_der,
            ],
        )?;
        *slot = Some(Arc::clone(&pki));
        Ok(pki)
    }

    /// The simulated AWS Nitro root and the keys of its intermediates.
    pub fn nitro_root(&self) -> Result<Arc<NitroRoot>, TeeError> {
        let mut slot = lock(&self.nitro);
        if let Some(root) = slot.as_ref() {
            return Ok(Arc::clone(root));
        }
        let cached = self.load_pki_cache("nitro")?;
        let root = Arc::new(crate::pki::nitro::build_root(self, &cached)?);
        self.store_pki_cache("nitro", &cached, &[&root.root_der])?;
        *slot = Some(Arc::clone(&root));
        Ok(root)
    }

    fn pki_cache_path(&self, kind: &str) -> Option<PathBuf> {
        self.state_dir
            .as_ref()
            .map(|dir| dir.join(format!("{PKI_CACHE_PREFIX}{kind}.bin")))
    }

    /// HMAC-SHA256 (as HKDF-Extract computes it: the salt is the key) of a cache file's body,
    /// keyed by the chip secret and bound to the file's kind.
    fn pki_cache_tag(&self, kind: &str, body: &[u8]) -> [u8; PKI_CACHE_TAG_LEN] {
        let key = self.derive("pki cache mac v1");
        let mut mac = HkdfExtract::<Sha256>::new(Some(&key));
        mac.input_ikm(&(kind.len() as u64).to_be_bytes());
        mac.input_ikm(kind.as_bytes());
        mac.input_ikm(body);
        mac.finalize().0.into()
    }

    /// The certificates of the cache file `kind`, in the order they were stored; empty when
    /// there is no state directory, no file, or a file that does not authenticate (it is
    /// then rewritten by [`Self::store_pki_cache`]).
    fn load_pki_cache(&self, kind: &str) -> Result<Vec<Vec<u8>>, TeeError> {
        let Some(path) = self.pki_cache_path(kind) else {
            return Ok(Vec::new());
        };
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(TeeError::io(path, "open PKI cache", e)),
        };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, PKI_CACHE_MAX_BYTES + 1),
            &mut bytes,
        )
        .map_err(|e| TeeError::io(&path, "read PKI cache", e))?;
        Ok(self.parse_pki_cache(kind, &bytes).unwrap_or_default())
    }

    /// The blobs of an authenticated cache file, or `None`.
    fn parse_pki_cache(&self, kind: &str, bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
        if bytes.len() as u64 > PKI_CACHE_MAX_BYTES {
            return None;
        }
        let body_len = bytes.len().checked_sub(PKI_CACHE_TAG_LEN)?;
        let (body, tag) = bytes.split_at(body_len);
        let expected = self.pki_cache_tag(kind, body);
        // Constant time: the comparison must not say how much of a forged tag is right.
        if tag
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
        {
            return None;
        }
        let mut rest = body.strip_prefix(PKI_CACHE_MAGIC)?;
        let mut blobs = Vec::new();
        while !rest.is_empty() {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
            let blob = tail.get(..len)?;
            blobs.push(blob.to_vec());
            rest = tail.get(len..)?;
        }
        Some(blobs)
    }

    /// Writes the cache file `kind` with `issued` unless `cached` (what was loaded) already
    /// holds exactly that.
    fn store_pki_cache(
        &self,
        kind: &str,
        cached: &[Vec<u8>],
        issued: &[&Vec<u8>],
    ) -> Result<(), TeeError> {
        let Some(path) = self.pki_cache_path(kind) else {
            return Ok(());
        };
        if cached.len() == issued.len() && cached.iter().zip(issued).all(|(c, i)| c == *i) {
            return Ok(());
        }
        let mut body = PKI_CACHE_MAGIC.to_vec();
        for blob in issued {
            let len = u32::try_from(blob.len()).map_err(|_| {
                TeeError::encoding("PKI cache", format!("a {}-byte certificate", blob.len()))
            })?;
            body.extend_from_slice(&len.to_be_bytes());
            body.extend_from_slice(blob);
        }
        let tag = self.pki_cache_tag(kind, &body);
        body.extend_from_slice(&tag);
        write_private_atomic(&path, &body)
    }
}

fn secret_from_file(path: &Path, bytes: &[u8]) -> Result<[u8; 32], TeeError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| TeeError::State {
        path: path.to_path_buf(),
        reason: format!("the chip secret must be 32 bytes, found {}", bytes.len()),
    })
}

fn create_private_dir(dir: &Path) -> Result<(), TeeError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| TeeError::io(dir, "create state directory", e))
}

/// Creates `path` with mode 0600 and writes `bytes`; fails if it exists.
fn write_private_new(path: &Path, bytes: &[u8]) -> Result<(), TeeError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| TeeError::io(path, "create", e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| TeeError::io(path, "write", e))
}

/// Creates `path` holding `bytes` (mode 0600) only if it does not exist, and atomically: the
/// bytes go to a temporary file first, which is then hard-linked into place (the link fails
/// with `AlreadyExists` when another writer won). A reader therefore sees no file or the
/// whole file, never the empty file that `create_new` followed by a write would show.
fn publish_private(path: &Path, bytes: &[u8]) -> Result<(), TeeError> {
    let tmp = unique_temporary(path);
    let linked = write_private_new(&tmp, bytes)
        .and_then(|()| fs::hard_link(&tmp, path).map_err(|e| TeeError::io(path, "create", e)));
    // The temporary goes in every case: linked, it is a second name of `path`.
    let _ = fs::remove_file(&tmp);
    linked
}

/// A temporary name beside `path`, unique per process and call.
fn unique_temporary(path: &Path) -> PathBuf {
    // Threads storing the same file must not share a temporary.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    tmp
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file and a rename.
fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<(), TeeError> {
    let tmp = unique_temporary(path);
    let renamed = write_private_new(&tmp, bytes).and_then(|()| {
        fs::rename(&tmp, path).map_err(|e| TeeError::io(path, "rename into place", e))
    });
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed
}

fn load_rsa(dir: &Path, prefix: &str) -> Result<Option<AmdRsaKeys>, TeeError> {
    let read = |name: &str| -> Result<Option<RsaPrivateKey>, TeeError> {
        let path = dir.join(format!("{prefix}{name}"));
        match fs::read(&path) {
            Ok(der) => RsaPrivateKey::from_pkcs8_der(&der)
                .map(Some)
                .map_err(|e| TeeError::State {
                    path,
                    reason: format!("not a PKCS#8 RSA key: {e}"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TeeError::io(path, "read", e)),
        }
    };
    match (read(ARK_FILE)?, read(ASK_FILE)?) {
        (Some(ark), Some(ask)) => Ok(Some(AmdRsaKeys { ark, ask })),
        _ => Ok(None),
    }
}

fn store_rsa(dir: &Path, prefix: &str, keys: &AmdRsaKeys) -> Result<(), TeeError> {
    for (name, key) in [(ARK_FILE, &keys.ark), (ASK_FILE, &keys.ask)] {
        let der = key
            .to_pkcs8_der()
            .map_err(|e| TeeError::encoding("RSA private key", e))?;
        write_private_atomic(&dir.join(format!("{prefix}{name}")), der.as_bytes())?;
    }
    Ok(())
}

/// Every key and identifier of the simulated PKIs derives from the chip's secret by label.
impl KeySource for SimChip {
    /// `n` bytes derived for `label` (a ChaCha20 stream seeded by the chip's derivation for it).
    fn derive_bytes(&self, label: &str, n: usize) -> Vec<u8> {
        let mut rng = ChaCha20Rng::from_seed(self.derive(label));
        let mut out = vec![0u8; n];
        rand_core::RngCore::fill_bytes(&mut rng, &mut out);
        out
    }

    fn p256_key(&self, label: &str) -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::random(&mut ChaCha20Rng::from_seed(self.derive(label)))
    }

    fn p384_key(&self, label: &str) -> p384::ecdsa::SigningKey {
        p384::ecdsa::SigningKey::random(&mut ChaCha20Rng::from_seed(self.derive(label)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn derivation_is_deterministic_and_label_separated() {
        let a = SimChip::from_seed(&[1; 32]);
        let b = SimChip::from_seed(&[1; 32]);
        let c = SimChip::from_seed(&[2; 32]);
        assert_eq!(a.derive("x"), b.derive("x"));
        assert_ne!(a.derive("x"), a.derive("y"));
        assert_ne!(a.derive("x"), c.derive("x"));
        assert_eq!(
            a.p384_key("k").verifying_key(),
            b.p384_key("k").verifying_key()
        );
        assert_eq!(a.derive_bytes("z", 64).len(), 64);
    }

    #[test]
    fn state_directory_keeps_the_secret_private() {
        let dir = std::env::temp_dir().join(format!("kiln-tee-chip-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let first = SimChip::open(&dir).unwrap();
        let again = SimChip::open(&dir).unwrap();
        assert_eq!(first.derive("x"), again.derive("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        fs::write(dir.join(SECRET_FILE), b"short").unwrap();
        assert!(matches!(SimChip::open(&dir), Err(TeeError::State { .. })));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Processes (here threads) opening a fresh state directory at once all get one secret:
    /// none reads a half-written file (the failure CI once saw: "found 0" bytes).
    #[test]
    fn concurrent_first_opens_agree_on_one_secret() {
        let base = std::env::temp_dir().join(format!("kiln-tee-race-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        for round in 0..40 {
            let dir = base.join(round.to_string());
            let barrier = Arc::new(std::sync::Barrier::new(8));
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (dir, barrier) = (dir.clone(), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        SimChip::open(&dir).map(|chip| chip.derive("x"))
                    })
                })
                .collect();
            let secrets: Vec<_> = handles
                .into_iter()
                .map(|h| h.join().unwrap().unwrap())
                .collect();
            assert!(secrets.iter().all(|s| *s == secrets[0]), "round {round}");
            let names: Vec<_> = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                names,
                [SECRET_FILE],
                "round {round}: temporaries left behind"
            );
        }
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_tagged_cache_is_used_only_where_it_is_what_would_be_issued() {
        let dir = std::env::temp_dir().join(format!("kiln-tee-pki-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let chip = SimChip::open(&dir).unwrap();
        let pki = chip.tdx_pki().unwrap();
        let path = chip.pki_cache_path("tdx").unwrap();
        let good = fs::read(&path).unwrap();
        assert_eq!(
            chip.load_pki_cache("tdx").unwrap(),
            [
                pki.root_der.clone(),
                pki.platform_ca_der.clone(),
                pki.pck_der.clone(),
                pki.tcb_signing_der.clone(),
            ]
        );
        // Correctly tagged, but the root in every place: only the root is reused.
        let root = &pki.root_der;
        chip.store_pki_cache("tdx", &[], &[root, root, root, root])
            .unwrap();
        let again = SimChip::open(&dir).unwrap();
        assert_eq!(again.load_pki_cache("tdx").unwrap().len(), 4);
        let reissued = again.tdx_pki().unwrap();
        assert_eq!(reissued.platform_ca_der, pki.platform_ca_der);
        assert_eq!(reissued.pck_der, pki.pck_der);
        assert_eq!(reissued.tcb_signing_der, pki.tcb_signing_der);
        assert_eq!(fs::read(&path).unwrap(), good);
        // A file tagged for another kind is not read as this one.
        assert!(again.load_pki_cache("nitro").unwrap().is_empty());
        fs::copy(&path, chip.pki_cache_path("nitro").unwrap()).unwrap();
        assert!(again.load_pki_cache("nitro").unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
