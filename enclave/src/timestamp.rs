//! RFC 3339 timestamps (UTC) for the provenance's `startedOn` and `finishedOn`, from the
//! system clock, without a date-time crate in the guest: the civil date of a day count is
//! Howard Hinnant's `civil_from_days` (proleptic Gregorian calendar, exact for every date
//! from 1970 on).

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` as `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the fraction with its trailing zeros dropped (as
/// the `time` crate writes RFC 3339). `None` before 1970.
pub fn rfc3339(t: SystemTime) -> Option<String> {
    let since = t.duration_since(UNIX_EPOCH).ok()?;
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = since.subsec_nanos();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    Some(out)
}

/// Year, month (1–12) and day (1–31) of the `days`-th day after 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so that leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of the era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the year from March, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, nanos: u32) -> String {
        rfc3339(UNIX_EPOCH + Duration::new(secs, nanos)).unwrap()
    }

    #[test]
    fn known_instants() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_756_684_800, 0), "2025-09-01T00:00:00Z");
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(at(951_868_799, 0), "2000-02-29T23:59:59Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00Z");
        assert_eq!(at(4_107_542_399, 0), "2100-02-28T23:59:59Z");
        assert_eq!(at(1_796_327_161, 120_000_000), "2026-12-03T19:46:01.12Z");
        assert_eq!(at(1_796_327_161, 1), "2026-12-03T19:46:01.000000001Z");
        assert_eq!(at(253_402_300_799, 0), "9999-12-31T23:59:59Z");
        assert!(rfc3339(UNIX_EPOCH - Duration::from_secs(1)).is_none());
    }

    #[test]
    fn every_day_of_four_centuries_follows_the_one_before() {
        let mut last = civil_from_days(0);
        for day in 1..146_097 {
            let (y, m, d) = civil_from_days(day);
            let next_day = (y, m, d) > last;
            let month_len = match m {
                2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            assert!(
                next_day && (1..=month_len).contains(&d),
                "day {day}: {y}-{m}-{d}"
            );
            if d > 1 {
                assert_eq!((y, m, d - 1), last);
            }
            last = (y, m, d);
        }
    }
}
