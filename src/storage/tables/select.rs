//! Parsing the selection parameters shared by preview, export and row deletion, in every
//! encoding clients use (`whereFilters[0][values][0]=…`, JSON, deprecated `whereColumn`).
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use crate::backend::{Filter, Operator, OrderBy, Select};
use crate::http::params::scalar_to_string;
use crate::http::{ApiError, ApiResult, Params};

pub fn parse_select(p: &Params, max_limit: Option<u64>) -> ApiResult<Select> {
    let mut select = Select::default();
    let columns = p.csv_list("columns");
    if !columns.is_empty() {
        select.columns = Some(columns);
    }
    select.filters = parse_filters(p)?;
    select.changed_since = p.str("changedSince").filter(|s| !s.is_empty()).map(|s| parse_time("changedSince", &s)).transpose()?;
    select.changed_until = p.str("changedUntil").filter(|s| !s.is_empty()).map(|s| parse_time("changedUntil", &s)).transpose()?;
    select.order_by = parse_order_by(p)?;
    if let Some(limit) = p.int("limit")? {
        if limit < 0 {
            return Err(ApiError::validation("Invalid request:\n - limit: This value should be positive."));
        }
        select.limit = Some(match max_limit {
            Some(max) => (limit as u64).min(max),
            None => limit as u64,
        });
    }
    // Refused here, before an export or deletion job starts (the backend refuses it too).
    select.nul_free().map_err(|msg| ApiError::validation(format!("Invalid request:\n - {msg}")))?;
    Ok(select)
}

fn parse_filters(p: &Params) -> ApiResult<Vec<Filter>> {
    let mut filters = Vec::new();
    if let Some(column) = p.str("whereColumn").filter(|c| !c.is_empty()) {
        let op = p.str_or("whereOperator", "eq");
        filters.push(Filter {
            column,
            operator: Operator::parse(&op).ok_or_else(|| bad_operator(&op))?,
            values: p.list("whereValues"),
            data_type: None,
        });
    }
    let items: Vec<Value> = match p.get("whereFilters") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => o.values().cloned().collect(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => a,
            _ => return Err(ApiError::validation("Invalid request:\n - whereFilters: This value should be an array.")),
        },
        Some(_) => return Err(ApiError::validation("Invalid request:\n - whereFilters: This value should be an array.")),
    };
    for item in items {
        let column = item.get("column").and_then(scalar_to_string).filter(|c| !c.is_empty()).ok_or_else(|| {
            ApiError::validation("Invalid request:\n - whereFilters: each filter needs a \"column\".")
        })?;
        let op = item.get("operator").and_then(scalar_to_string).unwrap_or_else(|| "eq".into());
        let values: Vec<String> = match item.get("values") {
            Some(Value::Array(v)) => v.iter().filter_map(scalar_to_string).collect(),
            Some(v) => scalar_to_string(v).into_iter().collect(),
            None => Vec::new(),
        };
        if values.is_empty() {
            return Err(ApiError::validation(format!("Invalid request:\n - whereFilters: filter on \"{column}\" needs \"values\".")));
        }
        filters.push(Filter {
            column,
            operator: Operator::parse(&op).ok_or_else(|| bad_operator(&op))?,
            values,
            data_type: item.get("dataType").and_then(scalar_to_string).filter(|s| !s.is_empty()),
        });
    }
    Ok(filters)
}

fn bad_operator(op: &str) -> ApiError {
    ApiError::validation(format!("Invalid request:\n - whereOperator: \"{op}\" is not valid; allowed: eq, ne, gt, ge, lt, le."))
}

fn parse_order_by(p: &Params) -> ApiResult<Vec<OrderBy>> {
    let items: Vec<Value> = match p.get("orderBy") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => o.values().cloned().collect(),
        Some(_) => return Err(ApiError::validation("Invalid request:\n - orderBy: This value should be an array.")),
    };
    items
        .iter()
        .map(|item| {
            let column = item.get("column").and_then(scalar_to_string).ok_or_else(|| {
                ApiError::validation("Invalid request:\n - orderBy: each item needs a \"column\".")
            })?;
            let order = item.get("order").and_then(scalar_to_string).unwrap_or_else(|| "ASC".into());
            let descending = match order.to_ascii_uppercase().as_str() {
                "ASC" => false,
                "DESC" => true,
                other => return Err(ApiError::validation(format!("Invalid request:\n - orderBy: order \"{other}\" is not ASC or DESC."))),
            };
            Ok(OrderBy { column, descending, data_type: item.get("dataType").and_then(scalar_to_string).filter(|s| !s.is_empty()) })
        })
        .collect()
}

/// A unix timestamp, an ISO date/time, or a relative `strtotime` phrase (`-2 days`, `3 hours ago`, `now`).
/// Times are refused outside the years 1–9999: every store and wire format can hold those, and
/// nothing a client means lies beyond them.
pub fn parse_time(field: &str, s: &str) -> ApiResult<DateTime<Utc>> {
    let t = parse_any_time(field, s)?;
    if !(1..=9999).contains(&t.year()) {
        return Err(ApiError::validation(format!("Invalid request:\n - {field}: \"{}\" is out of range (years 1 to 9999).", s.trim())));
    }
    Ok(t)
}

fn parse_any_time(field: &str, s: &str) -> ApiResult<DateTime<Utc>> {
    let s = s.trim();
    let invalid = || ApiError::validation(format!("Invalid request:\n - {field}: \"{s}\" is not a valid time."));
    if let Ok(n) = s.parse::<i64>() {
        return Utc.timestamp_opt(n, 0).single().ok_or_else(invalid);
    }
    if s.eq_ignore_ascii_case("now") {
        return Ok(Utc::now());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).ok_or_else(invalid)?));
    }
    relative(s).ok_or_else(invalid)
}

fn relative(s: &str) -> Option<DateTime<Utc>> {
    let lower = s.to_ascii_lowercase();
    let (body, ago) = match lower.strip_suffix(" ago") {
        Some(b) => (b.trim().to_string(), true),
        None => (lower.clone(), false),
    };
    let mut parts = body.split_whitespace();
    let amount: i64 = parts.next()?.trim_start_matches('+').parse().ok()?;
    let unit = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let seconds = match unit.trim_end_matches('s') {
        "sec" | "second" => 1,
        "min" | "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        "week" => 604_800,
        "month" => 2_592_000,
        "year" => 31_536_000,
        _ => return None,
    };
    // Checked: an absurd amount is an invalid time, not a panic.
    let delta = amount.checked_mul(seconds)?.checked_mul(if ago { -1 } else { 1 })?;
    Utc::now().checked_add_signed(chrono::Duration::try_seconds(delta)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form() {
        assert_eq!(parse_time("x", "0").unwrap().timestamp(), 0);
        assert_eq!(parse_time("x", "2024-01-02 03:04:05").unwrap().timestamp(), 1704164645);
        assert_eq!(parse_time("x", "2024-01-02T03:04:05+0100").unwrap().timestamp(), 1704161045);
        let two_days = parse_time("x", "-2 days").unwrap();
        assert!((Utc::now() - two_days).num_seconds() >= 172_799);
        assert!(parse_time("x", "yesterday-ish").is_err());
        assert!(parse_time("x", "9223372036854775807 years").is_err());
        assert!(parse_time("x", "-9223372036854775807 days ago").is_err());
    }
}
