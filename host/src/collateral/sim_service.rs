//! kiln's SIMULATED KDS and PCS: the simulated chip of a state folder answering the same paths,
//! with the same headers, as AMD's KDS and Intel's PCS, so that `kiln collateral fetch` (and
//! everything built on it) runs end to end against simulated evidence in CI. Everything it
//! serves is signed by the chip's simulated vendor keys, whose roots say SIMULATED; the
//! verifier refuses them unless the caller pins them (`--allow-simulated`).
//!
//! | path | answer |
//! |---|---|
//! | `/vcek/v1/{product}/{hwid}?…SPL=…` | the chip's VCEK for that TCB; 404 for another hwID |
//! | `/vcek/v1/{product}/cert_chain` | the simulated ASK and ARK |
//! | `/vcek/v1/{product}/crl` | the simulated ARK's CRL (DER, listing nothing; valid from a day ago for 30 days) |
//! | `/tdx/certification/v4/tcb?fmspc=` | TCB info (404 for another FMSPC), `TCB-Info-Issuer-Chain` |
//! | `/tdx/certification/v4/qe/identity` | QE identity, `SGX-Enclave-Identity-Issuer-Chain` |
//! | `/sgx/certification/v4/pckcrl?ca=platform` | the Platform CA's CRL (DER), `SGX-PCK-CRL-Issuer-Chain` |
//! | `/sgx/certification/v4/rootcacrl` | the root CA's CRL, hex (as a PCCS serves it) |

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;

use kiln_provenance::SnpProduct;
use kiln_tee::chip::SimChip;
use kiln_tee::pki::snp::{SnpCrlIssuer, SnpCrlSpec, SnpTcb};

/// A day, in seconds.
const DAY: i64 = 86_400;

use super::pcs::percent_encode;

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    fn ok(body: Vec<u8>) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body,
        }
    }

    fn not_found(why: &str) -> Self {
        Self {
            status: 404,
            headers: Vec::new(),
            body: format!("SIMULATED service: {why}\n").into_bytes(),
        }
    }

    fn with(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_owned(), value));
        self
    }
}

/// The simulated services of one chip.
#[derive(Debug, Clone)]
pub struct SimService {
    chip: Arc<SimChip>,
}

fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

impl SimService {
    /// The services of `chip`.
    pub fn new(chip: Arc<SimChip>) -> Self {
        Self { chip }
    }

    /// The answer to a GET of `target` (path and query) at `now_unix`.
    pub fn answer(&self, target: &str, now_unix: i64) -> Answer {
        match self.try_answer(target, now_unix) {
            Ok(a) => a,
            Err(e) => Answer {
                status: 500,
                headers: Vec::new(),
                body: format!("SIMULATED service failed: {e}\n").into_bytes(),
            },
        }
    }

    fn try_answer(&self, target: &str, now_unix: i64) -> Result<Answer, kiln_tee::TeeError> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["vcek", "v1", product, "cert_chain"] => {
                let Some(p) = SnpProduct::from_name(product) else {
                    return Ok(Answer::not_found("no such product"));
                };
                let pki = self.chip.snp_pki(p, tcb_of(p, ""))?;
                Ok(Answer::ok(pki.chain_pem()?.into_bytes()))
            }
            ["vcek", "v1", product, "crl"] => {
                let Some(p) = SnpProduct::from_name(product) else {
                    return Ok(Answer::not_found("no such product"));
                };
                let crl = self.chip.snp_crl(
                    p,
                    &SnpCrlSpec {
                        issuer: SnpCrlIssuer::Ark,
                        this_update: now_unix - DAY,
                        next_update: now_unix + 30 * DAY,
                        revoked: Vec::new(),
                    },
                )?;
                Ok(Answer::ok(crl))
            }
            ["vcek", "v1", product, hwid] => {
                let Some(p) = SnpProduct::from_name(product) else {
                    return Ok(Answer::not_found("no such product"));
                };
                let pki = self.chip.snp_pki(p, tcb_of(p, query))?;
                let len = if p == SnpProduct::Turin { 8 } else { 64 };
                let own = hex::encode(pki.chip_id.get(..len).unwrap_or(&pki.chip_id));
                if !own.eq_ignore_ascii_case(hwid) {
                    return Ok(Answer::not_found("no chip with this hwID"));
                }
                Ok(Answer::ok(pki.vcek_der.clone()))
            }
            ["tdx", "certification", "v4", "tcb"] => {
                let pki = self.chip.tdx_pki()?;
                let fmspc = hex::encode_upper(pki.platform.fmspc);
                if !query_value(query, "fmspc").is_some_and(|f| f.eq_ignore_ascii_case(&fmspc)) {
                    return Ok(Answer::not_found("no TCB info for this FMSPC"));
                }
                let c = self.collateral(now_unix)?;
                Ok(Answer::ok(
                    format!(
                        r#"{{"tcbInfo":{},"signature":"{}"}}"#,
                        field(&c, "tcb_info"),
                        field(&c, "tcb_info_signature")
                    )
                    .into_bytes(),
                )
                .with(
                    "TCB-Info-Issuer-Chain",
                    percent_encode(&field(&c, "tcb_info_issuer_chain")),
                ))
            }
            ["tdx", "certification", "v4", "qe", "identity"] => {
                let c = self.collateral(now_unix)?;
                Ok(Answer::ok(
                    format!(
                        r#"{{"enclaveIdentity":{},"signature":"{}"}}"#,
                        field(&c, "qe_identity"),
                        field(&c, "qe_identity_signature")
                    )
                    .into_bytes(),
                )
                .with(
                    "SGX-Enclave-Identity-Issuer-Chain",
                    percent_encode(&field(&c, "qe_identity_issuer_chain")),
                ))
            }
            ["sgx", "certification", "v4", "pckcrl"]
                if query_value(query, "ca") == Some("platform") =>
            {
                let c = self.collateral(now_unix)?;
                let der = hex::decode(field(&c, "pck_crl")).unwrap_or_default();
                Ok(Answer::ok(der).with(
                    "SGX-PCK-CRL-Issuer-Chain",
                    percent_encode(&field(&c, "pck_crl_issuer_chain")),
                ))
            }
            ["sgx", "certification", "v4", "rootcacrl"] => {
                let c = self.collateral(now_unix)?;
                Ok(Answer::ok(field(&c, "root_ca_crl").into_bytes()))
            }
            _ => Ok(Answer::not_found("no such path")),
        }
    }

    fn collateral(&self, now_unix: i64) -> Result<serde_json::Value, kiln_tee::TeeError> {
        let pki = self.chip.tdx_pki()?;
        let json = kiln_tee::evidence::collateral::collateral_json(&pki, now_unix)?;
        Ok(serde_json::from_slice(&json).unwrap_or_default())
    }

    /// Serves on `listener` until the process ends: one thread per connection, one request
    /// each (`Connection: close`).
    pub fn serve(self, listener: TcpListener) {
        for stream in listener.incoming().flatten() {
            let service = self.clone();
            std::thread::spawn(move || {
                let Ok(read_half) = stream.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(read_half);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    match reader.read_line(&mut h) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if h == "\r\n" || h == "\n" => break,
                        Ok(_) => {}
                    }
                }
                let mut words = line.split_whitespace();
                let answer = match (words.next(), words.next()) {
                    (Some("GET"), Some(target)) => {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                            .unwrap_or(0);
                        service.answer(target, now)
                    }
                    _ => Answer {
                        status: 405,
                        headers: Vec::new(),
                        body: b"GET only\n".to_vec(),
                    },
                };
                let mut head = format!(
                    "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\nX-Kiln-Simulated: true\r\n",
                    answer.status,
                    if answer.status == 200 { "OK" } else { "Error" },
                    answer.body.len()
                );
                for (n, v) in &answer.headers {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let mut out = stream;
                let _ = out.write_all(head.as_bytes());
                let _ = out.write_all(&answer.body);
            });
        }
    }
}

fn field(c: &serde_json::Value, name: &str) -> String {
    c.get(name)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The TCB a VCEK query names (missing SPLs are 0).
fn tcb_of(product: SnpProduct, query: &str) -> SnpTcb {
    let spl = |name: &str| {
        query_value(query, name)
            .and_then(|v| v.parse::<u8>().ok())
            .unwrap_or(0)
    };
    if query.is_empty() {
        return kiln_tee::pki::snp::SimulatedSnpProduct::default_tcb(product);
    }
    SnpTcb {
        fmc: spl("fmcSPL"),
        bootloader: spl("blSPL"),
        tee: spl("teeSPL"),
        snp: spl("snpSPL"),
        microcode: spl("ucodeSPL"),
    }
}
