//! Keboola's timestamp format (PHP `DATE_ISO8601`): `2017-02-13T10:27:50+0100`.
pub fn iso(ts: chrono::DateTime<chrono::Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%S%z").to_string()
}

pub fn now_iso() -> String {
    iso(chrono::Utc::now())
}
