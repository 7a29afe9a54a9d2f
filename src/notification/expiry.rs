//! A subscription's `expiresAt`: an absolute date (RFC 3339, also with a space for the `T` as in
//! Keboola's example `2023-01-07 14:00:00+01:00`) or a time relative to now in PHP's
//! `strtotime` manner, as the clients send it (`+24 hours`, `1 day`, `+1 week 2 days`).
use chrono::{DateTime, Months, TimeZone, Utc};

/// Unix ms, or what is wrong (for a 400).
pub fn parse(raw: &str, now_ms: i64) -> Result<i64, String> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S%:z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Ok(t.timestamp_millis());
        }
    }
    relative(s, now_ms).ok_or_else(|| {
        format!("expiresAt: \"{raw}\" is neither a date (RFC 3339, e.g. 2030-01-07T14:00:00+01:00) nor a relative time (e.g. \"+24 hours\").")
    })
}

/// `[+]<n> <unit> [<n> <unit>…]`, units from seconds to years (singular, plural or short).
fn relative(s: &str, now_ms: i64) -> Option<i64> {
    let words: Vec<&str> = s.strip_prefix('+').unwrap_or(s).split_whitespace().collect();
    if words.is_empty() || words.len() % 2 != 0 {
        return None;
    }
    let mut t = Utc.timestamp_millis_opt(now_ms).single()?;
    for pair in words.chunks(2) {
        let n: u32 = pair[0].strip_prefix('+').unwrap_or(pair[0]).parse().ok()?;
        let unit = pair[1].to_ascii_lowercase();
        let unit = unit.strip_suffix('s').unwrap_or(&unit);
        let seconds = |k: i64| chrono::Duration::try_seconds(k * n as i64);
        t = match unit {
            "sec" | "second" => t.checked_add_signed(seconds(1)?)?,
            "min" | "minute" => t.checked_add_signed(seconds(60)?)?,
            "hour" => t.checked_add_signed(seconds(3600)?)?,
            "day" => t.checked_add_signed(seconds(86_400)?)?,
            "week" => t.checked_add_signed(seconds(7 * 86_400)?)?,
            "month" => t.checked_add_months(Months::new(n))?,
            "year" => t.checked_add_months(Months::new(n.checked_mul(12)?))?,
            _ => return None,
        };
    }
    Some(t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn absolute_dates() {
        assert_eq!(parse("2026-01-07T14:00:00+01:00", NOW), Ok(1_767_790_800_000));
        assert_eq!(parse("2026-01-07 14:00:00+01:00", NOW), Ok(1_767_790_800_000), "Keboola's example");
        assert_eq!(parse("2026-01-07T13:00:00Z", NOW), Ok(1_767_790_800_000));
    }

    #[test]
    fn relative_times() {
        assert_eq!(parse("+24 hours", NOW), Ok(NOW + 86_400_000));
        assert_eq!(parse("1 day", NOW), Ok(NOW + 86_400_000));
        assert_eq!(parse("+1 hour", NOW), Ok(NOW + 3_600_000));
        assert_eq!(parse("+1 week 2 days", NOW), Ok(NOW + 9 * 86_400_000));
        assert_eq!(parse("+30 min", NOW), Ok(NOW + 1_800_000));
        assert_eq!(parse("1 month", NOW), Ok(NOW + 31 * 86_400_000));
        for bad in ["", "tomorrow", "+x hours", "24", "+24 lightyears", "2026-13-01", "-1 day"] {
            assert!(parse(bad, NOW).is_err(), "{bad}");
        }
    }
}
