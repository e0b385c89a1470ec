//! Intel TDX through configfs-tsm (`/sys/kernel/config/tsm/report`, Linux 6.7+).
//!
//! One quote: `mkdir <root>/<name>` (the kernel fills in the attributes), check `provider`
//! is `tdx_guest`, read `generation`, write the 64 bytes to `inblob`, read `outblob`, read
//! `generation` again: it must be exactly one more (our write), otherwise another writer
//! raced us and the quote may not carry our REPORT_DATA. Then `rmdir`.
//!
//! TDX has no measurement-bound sealing key: the signing key lives for one launch.
//! Collateral (TCB info, QE identity, CRLs) is not reachable from the guest; the host adds it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use kiln_tee::{Measurement, Platform, ReportData, Tee, TeeError, TeeEvidence};

/// The provider a TDX guest's reports must come from.
pub const PROVIDER: &str = "tdx_guest";
/// The TDX guest device, present in TDX guests.
pub const DEVICE: &str = "/dev/tdx_guest";

/// Attribute access of one report entry (a directory under the configfs root).
pub trait ReportEntry {
    /// Reads an attribute.
    fn read(&self, attr: &str) -> io::Result<Vec<u8>>;
    /// Writes an attribute.
    fn write(&self, attr: &str, data: &[u8]) -> io::Result<()>;
}

/// A report entry directory.
#[derive(Debug)]
pub struct DirEntry(pub PathBuf);

impl ReportEntry for DirEntry {
    fn read(&self, attr: &str) -> io::Result<Vec<u8>> {
        fs::read(self.0.join(attr))
    }
    fn write(&self, attr: &str, data: &[u8]) -> io::Result<()> {
        fs::write(self.0.join(attr), data)
    }
}

fn read_number(entry: &dyn ReportEntry, attr: &str) -> Result<u64, String> {
    let raw = entry.read(attr).map_err(|e| format!("read {attr}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    text.trim()
        .parse()
        .map_err(|e| format!("{attr} is {:?}: {e}", text.trim()))
}

/// One quote from an entry, with the generation check.
pub fn quote_from_entry(entry: &dyn ReportEntry, inblob: &[u8; 64]) -> Result<Vec<u8>, String> {
    let provider = entry
        .read("provider")
        .map_err(|e| format!("read provider: {e}"))?;
    let provider = String::from_utf8_lossy(&provider);
    if provider.trim() != PROVIDER {
        return Err(format!(
            "the configfs-tsm provider is {:?}, not {PROVIDER:?}",
            provider.trim()
        ));
    }
    let before = read_number(entry, "generation")?;
    entry
        .write("inblob", inblob)
        .map_err(|e| format!("write inblob: {e}"))?;
    let quote = entry
        .read("outblob")
        .map_err(|e| format!("read outblob: {e}"))?;
    let after = read_number(entry, "generation")?;
    if after != before.saturating_add(1) {
        return Err(format!(
            "generation went from {before} to {after}: another writer used the report entry"
        ));
    }
    Ok(quote)
}

/// Fields of a quote the enclave needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteFields {
    /// MRTD.
    pub mrtd: [u8; 48],
    /// RTMR0..3.
    pub rtmr: [[u8; 48]; 4],
    /// REPORTDATA.
    pub report_data: [u8; 64],
}

/// Reads the TD report body of a v4 quote (after the 48-byte header) or a v5 quote (after
/// the header, a 2-byte body type and a 4-byte size).
pub fn parse_quote(q: &[u8]) -> Result<QuoteFields, String> {
    let get = |at: usize, len: usize| {
        q.get(at..at + len)
            .ok_or_else(|| format!("the quote is {} bytes, too short", q.len()))
    };
    let version = u16::from_le_bytes(get(0, 2)?.try_into().map_err(|_| "version")?);
    let body = match version {
        4 => 48,
        5 => 48 + 6,
        v => return Err(format!("quote version {v} is not 4 or 5")),
    };
    let reg = |off: usize| -> Result<[u8; 48], String> {
        get(body + off, 48)?
            .try_into()
            .map_err(|_| "register".to_owned())
    };
    Ok(QuoteFields {
        mrtd: reg(136)?,
        rtmr: [reg(328)?, reg(376)?, reg(424)?, reg(472)?],
        report_data: get(body + 520, 64)?.try_into().map_err(|_| "report data")?,
    })
}

/// A TDX guest.
#[derive(Debug)]
pub struct TdxTee {
    root: PathBuf,
    measurement: Measurement,
}

static NEXT_ENTRY: AtomicU64 = AtomicU64::new(0);

fn tsm_error(path: &Path, op: &'static str, reason: String) -> TeeError {
    TeeError::Io {
        path: path.to_path_buf(),
        op,
        source: io::Error::other(reason),
    }
}

impl TdxTee {
    /// Reads the measurement from a first quote under `root`.
    pub fn open(root: &Path) -> Result<Self, TeeError> {
        let mut tee = Self {
            root: root.to_path_buf(),
            measurement: Measurement::Tdx {
                mrtd: [0; 48],
                rtmr: [[0; 48]; 4],
            },
        };
        let q = tee.quote(&[0; 64])?;
        let f = parse_quote(&q).map_err(|e| tsm_error(root, "parse a quote from", e))?;
        tee.measurement = Measurement::Tdx {
            mrtd: f.mrtd,
            rtmr: f.rtmr,
        };
        Ok(tee)
    }

    fn quote(&self, inblob: &[u8; 64]) -> Result<Vec<u8>, TeeError> {
        let n = NEXT_ENTRY.fetch_add(1, Ordering::Relaxed);
        let dir = self.root.join(format!("kiln-{}-{n}", std::process::id()));
        fs::create_dir(&dir).map_err(|e| TeeError::Io {
            path: dir.clone(),
            op: "create the configfs-tsm report entry",
            source: e,
        })?;
        let result = quote_from_entry(&DirEntry(dir.clone()), inblob);
        // configfs removes the attributes with the directory.
        let _ = fs::remove_dir(&dir);
        result.map_err(|e| tsm_error(&dir, "get a quote from", e))
    }
}

impl Tee for TdxTee {
    fn platform(&self) -> Platform {
        Platform::Tdx
    }

    fn evidence(&self, report_data: &ReportData) -> Result<TeeEvidence, TeeError> {
        if report_data.nitro_public_key.is_some() || report_data.nonce.is_some() {
            return Err(TeeError::InvalidRequest {
                field: "report data",
                reason: "TDX binds only 64 bytes".into(),
            });
        }
        let quote = self.quote(&report_data.bytes)?;
        let f = parse_quote(&quote).map_err(|e| tsm_error(&self.root, "parse a quote from", e))?;
        if f.report_data != report_data.bytes {
            return Err(tsm_error(
                &self.root,
                "check the quote from",
                "the quote does not carry the REPORT_DATA written".into(),
            ));
        }
        Ok(TeeEvidence {
            platform: Platform::Tdx,
            evidence: quote,
            vek_der: None,
            chain_pem: None,
            collateral_json: None,
            simulated_root_der: None,
        })
    }

    fn measurement(&self) -> Measurement {
        self.measurement
    }

    fn sealing_key(&self, _context: &[u8]) -> Result<[u8; 32], TeeError> {
        Err(TeeError::InvalidRequest {
            field: "sealing key",
            reason: "TDX has no measurement-bound sealing key: the signing key lives for one \
                     launch"
                .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn fake_quote(version: u16, report_data: &[u8]) -> Vec<u8> {
        let body = if version == 4 { 48 } else { 54 };
        let mut q = vec![0u8; body + 584 + 100];
        q[0..2].copy_from_slice(&version.to_le_bytes());
        q[body + 136..body + 184].fill(0x11);
        q[body + 328..body + 376].fill(0x20);
        q[body + 472..body + 520].fill(0x23);
        q[body + 520..body + 584].copy_from_slice(report_data);
        q
    }

    /// A directory laid out like a configfs-tsm report entry, whose "kernel" bumps the
    /// generation on each inblob write (and `extra` more, to fake a racing writer) and puts
    /// a quote carrying the inblob in outblob.
    struct FakeKernel {
        dir: DirEntry,
        extra: u64,
    }

    impl ReportEntry for FakeKernel {
        fn read(&self, attr: &str) -> io::Result<Vec<u8>> {
            self.dir.read(attr)
        }
        fn write(&self, attr: &str, data: &[u8]) -> io::Result<()> {
            self.dir.write(attr, data)?;
            if attr == "inblob" {
                let g = read_number(&self.dir, "generation").unwrap();
                self.dir
                    .write("generation", format!("{}\n", g + 1 + self.extra).as_bytes())?;
                self.dir.write("outblob", &fake_quote(4, data))?;
            }
            Ok(())
        }
    }

    fn entry(provider: &str, extra: u64) -> (tempfile::TempDir, FakeKernel) {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("provider"), format!("{provider}\n")).unwrap();
        fs::write(d.path().join("generation"), "0\n").unwrap();
        let k = FakeKernel {
            dir: DirEntry(d.path().to_path_buf()),
            extra,
        };
        (d, k)
    }

    #[test]
    fn a_quote_is_written_read_and_checked_for_races() {
        let (d, k) = entry(PROVIDER, 0);
        let q = quote_from_entry(&k, &[0x5a; 64]).unwrap();
        assert_eq!(fs::read(d.path().join("inblob")).unwrap(), [0x5a; 64]);
        assert_eq!(parse_quote(&q).unwrap().report_data, [0x5a; 64]);
        let (_d, racy) = entry(PROVIDER, 1);
        assert!(quote_from_entry(&racy, &[0; 64])
            .unwrap_err()
            .contains("another writer"));
        let (_d, snp) = entry("sev_guest", 0);
        assert!(quote_from_entry(&snp, &[0; 64])
            .unwrap_err()
            .contains("not \"tdx_guest\""));
    }

    #[test]
    fn quotes_v4_and_v5_give_the_registers() {
        for v in [4, 5] {
            let f = parse_quote(&fake_quote(v, &[7; 64])).unwrap();
            assert_eq!(f.mrtd, [0x11; 48]);
            assert_eq!(f.rtmr[0], [0x20; 48]);
            assert_eq!(f.rtmr[1], [0; 48]);
            assert_eq!(f.rtmr[3], [0x23; 48]);
            assert_eq!(f.report_data, [7; 64]);
        }
        assert!(parse_quote(&fake_quote(4, &[0; 64])[..300]).is_err());
        assert!(parse_quote(&[3, 0, 0, 0]).is_err());
    }

    #[test]
    fn the_tee_refuses_to_seal_and_says_why() {
        let tee = TdxTee {
            root: "/nonexistent".into(),
            measurement: Measurement::Tdx {
                mrtd: [0; 48],
                rtmr: [[0; 48]; 4],
            },
        };
        assert!(tee
            .sealing_key(b"x")
            .unwrap_err()
            .to_string()
            .contains("one launch"));
        // A root that does not exist fails at mkdir, naming the entry.
        let err = tee.evidence(&ReportData::new([0; 64])).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/kiln-"), "{err}");
    }

    #[test]
    #[ignore = "needs a real TDX guest with configfs-tsm; run with KILN_HW_TESTS=1"]
    fn a_real_guest_quotes() {
        let tee = TdxTee::open(Path::new("/sys/kernel/config/tsm/report")).unwrap();
        let b = tee.evidence(&ReportData::new([0x42; 64])).unwrap();
        assert_eq!(parse_quote(&b.evidence).unwrap().report_data, [0x42; 64]);
    }
}
