//! Verification time: seconds since the Unix epoch, always passed in by the caller.
//!
//! The library never reads the clock. The CLI reads it once and passes it down.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A point in time, in whole seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(i64);

impl UnixTime {
    /// The time a reading of the system clock gives (the command lines' one read of the clock:
    /// the library never reads it). A clock before 1970 or past the range is an error, never a
    /// silent 0 or maximum.
    pub fn from_system_time(t: std::time::SystemTime) -> Result<Self, String> {
        let since = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| format!("the system clock is before 1970: {e}"))?;
        i64::try_from(since.as_secs())
            .map(Self::from_secs)
            .map_err(|_| "the system clock is out of range".to_owned())
    }

    /// A time from seconds since the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 timestamp such as `2025-09-01T00:00:00Z` (fractions are truncated).
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimeParseError> {
        OffsetDateTime::parse(text.trim(), &Rfc3339)
            .map(|t| Self(t.unix_timestamp()))
            .map_err(|e| TimeParseError {
                input: text.to_owned(),
                reason: e.to_string(),
            })
    }

    /// From milliseconds since the epoch (Nitro timestamps), rounding down.
    pub const fn from_millis(ms: u64) -> Self {
        // u64 milliseconds / 1000 always fits in i64.
        Self((ms / 1000) as i64)
    }

    /// Adds seconds, saturating.
    pub const fn saturating_add(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// Subtracts seconds, saturating.
    pub const fn saturating_sub(self, secs: i64) -> Self {
        Self(self.0.saturating_sub(secs))
    }

    /// Converts an X.509 / DER time.
    pub fn from_der(t: der::DateTime) -> Self {
        let secs = t.unix_duration().as_secs();
        // der::DateTime is bounded to year 9999, far inside i64.
        Self(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
        {
            Some(s) => f.write_str(&s),
            None => write!(f, "@{}", self.0),
        }
    }
}

impl Serialize for UnixTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UnixTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// An RFC 3339 timestamp that did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeParseError {
    /// The text given.
    pub input: String,
    /// Why it was refused.
    pub reason: String,
}

impl fmt::Display for TimeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid RFC 3339 time {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for TimeParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_reading_converts_or_is_refused() {
        use std::time::{Duration, UNIX_EPOCH};
        let t = UNIX_EPOCH + Duration::from_secs(1_756_684_800);
        assert_eq!(
            UnixTime::from_system_time(t).unwrap().as_secs(),
            1_756_684_800
        );
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert!(UnixTime::from_system_time(before)
            .unwrap_err()
            .contains("before 1970"));
    }

    #[test]
    fn round_trips_rfc3339() {
        let t = UnixTime::parse_rfc3339("2025-09-01T00:00:00Z").unwrap();
        assert_eq!(t.as_secs(), 1_756_684_800);
        assert_eq!(t.to_string(), "2025-09-01T00:00:00Z");
        assert!(UnixTime::parse_rfc3339("2025-13-01T00:00:00Z").is_err());
        assert!(UnixTime::parse_rfc3339("yesterday").is_err());
    }
}
