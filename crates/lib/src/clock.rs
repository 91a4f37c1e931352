//! The wall clock as promote writes it: UTC, in names that sort in time order (backups) and in
//! RFC 3339 for people (who holds a lock since when).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time since the Unix epoch (zero on a clock set before it).
pub(crate) fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `20261123T120501.123456Z` (to the microsecond): sorts in time order, safe as a file name.
pub(crate) fn compact(at: Duration) -> String {
    let (y, m, d, secs) = civil(at.as_secs());
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{:06}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        at.subsec_micros()
    )
}

/// `2026-11-23T12:05:01Z` (RFC 3339, to the second).
pub(crate) fn rfc3339(at: Duration) -> String {
    let (y, m, d, secs) = civil(at.as_secs());
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `3m12s`, `2h5m`, `40s`: how long, for people.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// The civil date and the seconds into that day of `secs` since the epoch.
fn civil(secs: u64) -> (i64, u32, u32, u64) {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    (y, m, d, secs % 86_400)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_civil_utc() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let at = Duration::new(20_415 * 86_400 + 12 * 3600 + 5 * 60 + 1, 123_456_789);
        assert_eq!(compact(at), "20251123T120501.123456Z");
        assert_eq!(rfc3339(at), "2025-11-23T12:05:01Z");
        assert_eq!(compact(now()).len(), "20261123T120501.123456Z".len());
        assert_eq!(human(Duration::from_secs(192)), "3m12s");
        assert_eq!(human(Duration::from_secs(7500)), "2h05m");
    }
}
