//! A schedule's times: a 5-field crontab evaluated in a time zone given by IANA name
//! (`Europe/Prague`) or as an offset (`+0100`, `-05:00`), as Keboola's Scheduler accepts both.
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use croner::Cron;

#[derive(Debug, Clone, Copy)]
enum Zone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

#[derive(Debug, Clone)]
pub struct CronSpec {
    cron: Cron,
    zone: Zone,
}

impl CronSpec {
    /// The crontab and time zone, or what is wrong with them (for a 400).
    pub fn parse(cron_tab: &str, timezone: &str) -> Result<CronSpec, String> {
        let fields = cron_tab.split_whitespace().count();
        if fields != 5 {
            return Err(format!("Invalid cronTab \"{cron_tab}\": expected 5 fields (minute hour day-of-month month day-of-week), found {fields}."));
        }
        let cron = Cron::new(cron_tab).parse().map_err(|e| format!("Invalid cronTab \"{cron_tab}\": {e}."))?;
        let zone = parse_zone(timezone).ok_or_else(|| format!("Invalid timezone \"{timezone}\": use a time zone name (\"Europe/Prague\") or an offset (\"+0100\")."))?;
        Ok(CronSpec { cron, zone })
    }

    /// The first time strictly after `after_ms` (Unix ms), in Unix ms.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after = Utc.timestamp_millis_opt(after_ms).single()?;
        match self.zone {
            Zone::Named(tz) => self.next_in(&after.with_timezone(&tz)),
            Zone::Fixed(off) => self.next_in(&after.with_timezone(&off)),
        }
    }

    fn next_in<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<i64> {
        self.cron.find_next_occurrence(after, false).ok().map(|t| t.timestamp_millis())
    }
}

fn parse_zone(timezone: &str) -> Option<Zone> {
    let tz = timezone.trim();
    if let Ok(named) = chrono_tz::Tz::from_str(tz) {
        return Some(Zone::Named(named));
    }
    // `+0100`, `+01:00`, `-05`: an offset from UTC.
    let (sign, rest) = match tz.as_bytes().first()? {
        b'+' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !(digits.len() == 2 || digits.len() == 4) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
    if hours > 14 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).map(Zone::Fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(iso: &str) -> i64 {
        DateTime::parse_from_rfc3339(iso).unwrap().timestamp_millis()
    }

    #[test]
    fn evaluates_in_the_named_zone_across_daylight_saving() {
        let nine_in_prague = CronSpec::parse("0 9 * * *", "Europe/Prague").unwrap();
        // Winter: CET (+01:00); summer: CEST (+02:00).
        assert_eq!(nine_in_prague.next_after(ms("2026-01-10T12:00:00Z")), Some(ms("2026-01-11T08:00:00Z")));
        assert_eq!(nine_in_prague.next_after(ms("2026-07-10T12:00:00Z")), Some(ms("2026-07-11T07:00:00Z")));
    }

    #[test]
    fn evaluates_with_an_offset_and_strictly_after() {
        let spec = CronSpec::parse("30 * * * *", "+0100").unwrap();
        assert_eq!(spec.next_after(ms("2026-01-10T12:00:00Z")), Some(ms("2026-01-10T12:30:00Z")));
        assert_eq!(spec.next_after(ms("2026-01-10T12:30:00Z")), Some(ms("2026-01-10T13:30:00Z")), "not the time itself");
        assert_eq!(spec.next_after(ms("2026-01-10T12:29:59.900Z")), Some(ms("2026-01-10T12:30:00Z")));
        let every_minute = CronSpec::parse("* * * * *", "-05:00").unwrap();
        assert_eq!(every_minute.next_after(ms("2026-01-10T12:00:00.300Z")), Some(ms("2026-01-10T12:01:00Z")));
    }

    #[test]
    fn refuses_bad_crontabs_and_zones() {
        for bad in ["", "* * * *", "0 * * * * *", "61 * * * *", "x * * * *"] {
            assert!(CronSpec::parse(bad, "UTC").is_err(), "{bad:?}");
        }
        for bad in ["Mars/Olympus", "+25", "+01:0", "1", ""] {
            assert!(CronSpec::parse("* * * * *", bad).is_err(), "{bad:?}");
        }
        assert!(CronSpec::parse("*/5 1-3 * * MON-FRI", "UTC").is_ok());
    }
}
