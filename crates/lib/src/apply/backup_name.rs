//! The names of backup files: one function makes them and one reads them.
//!
//! `20261123T120501.123456Z-4242-0.json`: when the backup was taken (UTC, to the microsecond),
//! the process that took it and a counter within that process. Two runs, or two backups of one
//! run in the same microsecond, never get the same name; the file is created only if the name
//! is free (a writer on another host that picked the same name tries the next). Names written
//! before these (`20261123T120501.123Z.json`) are still read, and everything sorts by time.

use std::sync::atomic::{AtomicU32, Ordering};

/// Backups made by this process so far: the last part of a name.
static MADE: AtomicU32 = AtomicU32::new(0);

/// A backup's file name, read: ordered by when it was taken.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BackupName {
    /// When, as `YYYYMMDDTHHMMSS.fffffffffZ` (the fraction padded to nanoseconds, so that
    /// names of both forms compare by time).
    taken: String,
    /// The process that took it (0 in names written before the process was named).
    pid: u32,
    /// Its count within that process.
    seq: u32,
}

impl BackupName {
    /// Returns a fresh name (with `.json`) for a backup taken now.
    pub fn fresh() -> String {
        let seq = MADE.fetch_add(1, Ordering::Relaxed);
        let stamp = crate::clock::compact(crate::clock::now());
        format!("{stamp}-{}-{seq}.json", std::process::id())
    }

    /// When the backup was taken, as its name says: `2026-11-23T12:05:01.123456Z` (UTC).
    pub fn taken(&self) -> String {
        let t = &self.taken;
        let fraction = t[16..t.len() - 1].trim_end_matches('0');
        let fraction = if fraction.is_empty() { "0" } else { fraction };
        format!(
            "{}-{}-{}T{}:{}:{}.{fraction}Z",
            &t[0..4],
            &t[4..6],
            &t[6..8],
            &t[9..11],
            &t[11..13],
            &t[13..15]
        )
    }

    /// Reads the file name `name` of a backup; `None` when it is not one promote wrote.
    pub fn parse(name: &str) -> Option<BackupName> {
        let stem = name.strip_suffix(".json")?;
        let (stamp, unique) = match stem.split_once('-') {
            Some((stamp, unique)) => (stamp, Some(unique)),
            None => (stem, None),
        };
        let (date_time, fraction) = stamp.strip_suffix('Z')?.split_once('.')?;
        let (date, time) = date_time.split_once('T')?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(date, 8) || !digits(time, 6) || fraction.is_empty() || fraction.len() > 9 {
            return None;
        }
        if !digits(fraction, fraction.len()) {
            return None;
        }
        let (pid, seq) = match unique {
            Some(u) => {
                let (pid, seq) = u.split_once('-')?;
                (pid.parse().ok()?, seq.parse().ok()?)
            }
            None => (0, 0),
        };
        Some(BackupName {
            taken: format!("{date}T{time}.{fraction:0<9}Z"),
            pid,
            seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_are_unique_parse_and_sort_by_time() {
        let old = BackupName::parse("20261123T120501.123Z.json").unwrap();
        assert_eq!(old.taken(), "2026-11-23T12:05:01.123Z");
        let new = BackupName::parse("20261123T120501.000000Z-42-0.json").unwrap();
        assert_eq!(new.taken(), "2026-11-23T12:05:01.0Z");
        let a = BackupName::fresh();
        let b = BackupName::fresh();
        assert_ne!(a, b);
        let (pa, pb) = (
            BackupName::parse(&a).unwrap(),
            BackupName::parse(&b).unwrap(),
        );
        assert!(pa < pb, "{a} {b}");
        assert_eq!(pa.pid, std::process::id());
        // The older form still reads, and compares by time with the new one.
        let old = BackupName::parse("20261123T120501.123Z.json").unwrap();
        let new = BackupName::parse("20261123T120501.122999Z-7-0.json").unwrap();
        let later = BackupName::parse("20261123T120501.123001Z-7-0.json").unwrap();
        assert!(new < old && old < later);
        for bad in [
            "x.json",
            "20261123T120501.123Z",
            "20261123T120501.123Z.json.tenant",
            "2026112T120501.123Z.json",
            "20261123T120501.Z.json",
            "20261123T120501.123Z-a-0.json",
            "20261123T120501.123Z-1.json",
        ] {
            assert_eq!(BackupName::parse(bad), None, "{bad}");
        }
    }
}
