//! HTTP GET for collateral: ureq with rustls, proxies from the environment (`HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), timeouts, bodies of bounded size, and errors that
//! name the URL and the status. HTTP 429 (AMD's KDS limits each address to about one request
//! per VCEK every few seconds) is waited out as `Retry-After` says, within a bounded number of
//! retries and a bounded wait each; every other status is the caller's to judge.

use std::fmt;
use std::time::Duration;

/// The largest body accepted (a CRL or a TCB info is tens of KiB).
pub const MAX_BODY: u64 = 4 << 20;

/// A response: status, the headers the caller may need, the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a GET failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// No response: DNS, connection, TLS, timeout, a body cut short.
    Transport {
        /// The URL.
        url: String,
        /// The client's reason.
        reason: String,
    },
    /// Still HTTP 429 after every retry.
    RateLimited {
        /// The URL.
        url: String,
        /// Requests made.
        attempts: u32,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport { url, reason } => write!(f, "GET {url}: {reason}"),
            Self::RateLimited { url, attempts } => write!(
                f,
                "GET {url}: HTTP 429 Too Many Requests after {attempts} requests (the service \
                 limits requests per address; try again later, or use the cache)"
            ),
        }
    }
}

impl std::error::Error for HttpError {}

/// How patient the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// Requests after the first one answered 429.
    pub retries: u32,
    /// The longest wait honoured before one retry (a longer `Retry-After` is cut to this).
    pub max_wait: Duration,
    /// The wait when a 429 names none.
    pub default_wait: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            retries: 3,
            max_wait: Duration::from_secs(30),
            default_wait: Duration::from_secs(5),
        }
    }
}

/// The client.
#[derive(Debug, Clone)]
pub struct Http {
    agent: ureq::Agent,
    patience: Patience,
    sleep: fn(Duration),
}

/// The wait a `Retry-After` value asks for: delay-seconds, or an HTTP date (counted from
/// `now_unix`); `None` for anything else.
pub fn retry_after(value: &str, now_unix: u64) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    let when = when.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(when.saturating_sub(now_unix)))
}

impl Http {
    /// A client with `patience` for HTTP 429.
    pub fn new(patience: Patience) -> Self {
        let config = ureq::Agent::config_builder()
            .proxy(ureq::Proxy::try_from_env())
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent: config.new_agent(),
            patience,
            sleep: std::thread::sleep,
        }
    }

    /// Replaces the sleep between retries (tests count instead of waiting).
    pub fn with_sleep(mut self, sleep: fn(Duration)) -> Self {
        self.sleep = sleep;
        self
    }

    /// GET `url`: the response of whatever status, after waiting out HTTP 429s.
    pub fn get(&self, url: &str) -> Result<Response, HttpError> {
        let transport = |reason: String| HttpError::Transport {
            url: url.to_owned(),
            reason,
        };
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let resp = self
                .agent
                .get(url)
                .call()
                .map_err(|e| transport(e.to_string()))?;
            let status = resp.status().as_u16();
            let headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .filter_map(|(n, v)| {
                    v.to_str()
                        .ok()
                        .map(|v| (n.as_str().to_ascii_lowercase(), v.to_owned()))
                })
                .collect();
            if status == 429 {
                if attempts > self.patience.retries {
                    return Err(HttpError::RateLimited {
                        url: url.to_owned(),
                        attempts,
                    });
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let wait = headers
                    .iter()
                    .find(|(n, _)| n == "retry-after")
                    .and_then(|(_, v)| retry_after(v, now))
                    .unwrap_or(self.patience.default_wait)
                    .min(self.patience.max_wait);
                (self.sleep)(wait);
                continue;
            }
            let body = resp
                .into_body()
                .into_with_config()
                .limit(MAX_BODY)
                .read_to_vec()
                .map_err(|e| transport(format!("reading the body: {e}")))?;
            return Ok(Response {
                status,
                headers,
                body,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_nothing_else() {
        assert_eq!(retry_after("7", 0), Some(Duration::from_secs(7)));
        // 1994-11-06 08:49:37 UTC is 784111777.
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_770),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_800),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", 0), None);
        assert_eq!(retry_after("-3", 0), None);
    }
}
