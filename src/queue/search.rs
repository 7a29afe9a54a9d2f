//! Job search filters shared by `/search/jobs`, `/search/grouped-jobs`, `/configurations-jobs`
//! and the legacy `GET /jobs`: list parameters in every encoding (`a[]=`, `a[0]=`, `a=x&a=y`),
//! PHP-style times (`-8 hours`, `today`, `last monday`, ISO dates), sorting and paging.
use chrono::{Datelike, Duration, TimeZone, Utc};
use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use super::store::{COLUMNS, Job, STATUSES, TYPES};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Params};
use crate::storage::auth::Auth;

pub const SORT_FIELDS: &[(&str, &str)] = &[
    ("id", "id"),
    ("runId", "run_id"),
    ("projectId", "project_id"),
    ("branchId", "branch_id"),
    ("componentId", "component"),
    ("configId", "config"),
    ("configRowId", "config_row_ids"),
    ("tokenDescription", "token_description"),
    ("status", "status"),
    ("desiredStatus", "desired_status"),
    ("mode", "mode"),
    ("createdTime", "created_ms"),
    ("updatedTime", "updated_ms"),
    ("startTime", "start_ms"),
    ("endTime", "end_ms"),
    ("durationSeconds", "duration_seconds"),
];

/// A WHERE clause over `queue_jobs` with its parameters.
pub struct Filter {
    pub clauses: Vec<String>,
    pub params: Vec<SqlValue>,
}

impl Filter {
    fn new(auth: &Auth) -> Filter {
        Filter { clauses: vec!["project_id = ?".into()], params: vec![SqlValue::Integer(auth.project_id)] }
    }

    fn any_of(&mut self, column: &str, values: Vec<SqlValue>) {
        if values.is_empty() {
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.clauses.push(format!("{column} IN ({marks})"));
        self.params.extend(values);
    }

    pub fn sql(&self) -> String {
        self.clauses.join(" AND ")
    }
}

fn texts(values: Vec<String>) -> Vec<SqlValue> {
    values.into_iter().map(SqlValue::Text).collect()
}

fn invalid(field: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("Invalid request:\n - {field}: {msg}"))
}

fn ints(field: &str, values: Vec<String>) -> ApiResult<Vec<SqlValue>> {
    values
        .into_iter()
        .map(|v| v.trim().parse::<i64>().map(SqlValue::Integer).map_err(|_| invalid(field, format!("\"{v}\" is not a valid id."))))
        .collect()
}

/// All values of a list parameter, however it was encoded; empty strings dropped.
pub fn list(p: &Params, key: &str) -> Vec<String> {
    let mut out = p.list(key);
    // `a[]` with a single value arrives as an object {"0": v} normalised to a list; a
    // comma-joined single string is not split (ids never contain commas, descriptions may).
    if out.is_empty() {
        if let Some(Value::Object(o)) = p.get(key) {
            out = o.values().filter_map(crate::http::params::scalar_to_string).collect();
        }
    }
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

pub fn parse_filters(state: &AppState, auth: &Auth, p: &Params) -> ApiResult<Filter> {
    let mut f = Filter::new(auth);
    f.any_of("id", ints("id", list(p, "id"))?);
    f.any_of("run_id", texts(list(p, "runId")));
    f.any_of("parent_run_id", texts(list(p, "parentRunId")));
    let branches = list(p, "branchId");
    if !branches.is_empty() {
        let mut values = Vec::new();
        for b in branches {
            if b == "null" || b == "default" {
                values.push(SqlValue::Integer(auth.default_branch_id));
            } else {
                values.push(SqlValue::Integer(b.parse().map_err(|_| invalid("branchId", format!("\"{b}\" is not a valid branch id.")))?));
            }
        }
        f.any_of("branch_id", values);
    }
    f.any_of("token_id", ints("tokenId", list(p, "tokenId"))?);
    f.any_of("token_description", texts(list(p, "tokenDescription")));
    let mut components = list(p, "componentId");
    components.extend(list(p, "component"));
    f.any_of("component", texts(components));
    let mut configs = list(p, "configId");
    configs.extend(list(p, "config"));
    f.any_of("config", texts(configs));
    let rows = list(p, "configRowIds");
    if !rows.is_empty() {
        let marks = vec!["?"; rows.len()].join(", ");
        f.clauses.push(format!("EXISTS (SELECT 1 FROM json_each(config_row_ids) WHERE json_each.value IN ({marks}))"));
        f.params.extend(texts(rows));
    }
    let modes = list(p, "mode");
    f.any_of("mode", texts(modes));
    let statuses = list(p, "status");
    for s in &statuses {
        if !STATUSES.contains(&s.as_str()) {
            return Err(invalid("status", format!("\"{s}\" is not a valid status; allowed: {}.", STATUSES.join(", "))));
        }
    }
    f.any_of("status", texts(statuses));
    f.any_of("desired_status", texts(list(p, "desiredStatus")));
    let types = list(p, "type");
    for t in &types {
        if !TYPES.contains(&t.as_str()) {
            return Err(invalid("type", format!("\"{t}\" is not a valid type; allowed: {}.", TYPES.join(", "))));
        }
    }
    f.any_of("type", texts(types));
    f.any_of("tag", texts(list(p, "tag")));
    f.any_of("variable_values_id", texts(list(p, "variableValuesId")));
    for (key, column, cmp) in [
        ("createdTimeFrom", "created_ms", ">="),
        ("createdTimeTo", "created_ms", "<"),
        ("startTimeFrom", "start_ms", ">="),
        ("startTimeTo", "start_ms", "<"),
        ("endTimeFrom", "end_ms", ">="),
        ("endTimeTo", "end_ms", "<"),
    ] {
        if let Some(s) = p.str(key).filter(|s| !s.trim().is_empty()) {
            let ms = parse_when(&s).ok_or_else(|| invalid(key, format!("\"{s}\" is not a valid date and time.")))?;
            f.clauses.push(format!("{column} {cmp} ?"));
            f.params.push(SqlValue::Integer(ms));
        }
    }
    for (key, cmp) in [("durationSecondsFrom", ">="), ("durationSecondsTo", "<")] {
        if let Some(s) = p.str(key).filter(|s| !s.trim().is_empty()) {
            let n: f64 = s.trim().parse().map_err(|_| invalid(key, format!("\"{s}\" is not a number.")))?;
            f.clauses.push(format!("duration_seconds {cmp} ?"));
            f.params.push(SqlValue::Real(n));
        }
    }
    if let Some(Value::Object(props)) = p.get("componentProps") {
        if let Some(kind) = props.get("type").and_then(crate::http::params::scalar_to_string) {
            let kind = kind.trim_end_matches('s').to_string();
            let ids: Vec<String> = crate::runner::registry::all_definitions(state)
                .into_iter()
                .filter(|c| c["type"].as_str().map(|t| t.trim_end_matches('s')) == Some(kind.as_str()))
                .filter_map(|c| c["id"].as_str().map(str::to_string))
                .collect();
            if ids.is_empty() {
                f.clauses.push("0".into());
            } else {
                f.any_of("component", texts(ids));
            }
        }
    }
    Ok(f)
}

pub struct Page {
    pub order: String,
    pub limit: i64,
    pub offset: i64,
}

pub fn parse_page(p: &Params, default_order: &str) -> ApiResult<Page> {
    let sort_by = p.str("sortBy").filter(|s| !s.is_empty()).unwrap_or_else(|| "id".into());
    let column = SORT_FIELDS
        .iter()
        .find(|(k, _)| *k == sort_by)
        .map(|(_, c)| *c)
        .ok_or_else(|| invalid("sortBy", format!("\"{sort_by}\" is not valid; allowed: {}.", SORT_FIELDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "))))?;
    let order = p.str("sortOrder").filter(|s| !s.is_empty()).unwrap_or_else(|| default_order.into()).to_ascii_lowercase();
    if order != "asc" && order != "desc" {
        return Err(invalid("sortOrder", format!("\"{order}\" is not valid; allowed: asc, desc.")));
    }
    let limit = p.int("limit")?.unwrap_or(100);
    if limit < 1 {
        return Err(invalid("limit", "This value should be 1 or more."));
    }
    let offset = p.int("offset")?.unwrap_or(0);
    if offset < 0 {
        return Err(invalid("offset", "This value should be 0 or more."));
    }
    // Missing values (a job not started yet has no startTime) sort last either way.
    let dir = order.to_ascii_uppercase();
    Ok(Page { order: format!("{column} IS NULL, {column} {dir}, id {dir}"), limit: limit.min(10_000), offset })
}

pub fn query(state: &AppState, f: &Filter, page: &Page) -> ApiResult<Vec<Job>> {
    let sql = format!("SELECT {COLUMNS} FROM queue_jobs WHERE {} ORDER BY {} LIMIT ? OFFSET ?", f.sql(), page.order);
    let mut params = f.params.clone();
    params.push(SqlValue::Integer(page.limit));
    params.push(SqlValue::Integer(page.offset));
    Ok(state.meta.with(|c| {
        let mut st = c.prepare(&sql)?;
        st.query_map(rusqlite::params_from_iter(params.iter()), Job::from_row)?.collect()
    })?)
}

/// PHP `strtotime`-style times in UTC: absolute dates and times, unix seconds, `now`, `today`,
/// `midnight`, `yesterday`, `tomorrow`, `[last|next|this] <weekday>`, `last|next <unit>`,
/// `±N <unit>[s]`, `N <unit>[s] ago`.
pub fn parse_when(s: &str) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    let now = Utc::now();
    let midnight = Utc.from_utc_datetime(&now.date_naive().and_hms_opt(0, 0, 0)?);
    let simple = match t.as_str() {
        "today" | "midnight" => Some(midnight),
        "yesterday" => Some(midnight - Duration::days(1)),
        "tomorrow" => Some(midnight + Duration::days(1)),
        _ => None,
    };
    if let Some(v) = simple {
        return Some(v.timestamp_millis());
    }
    let words: Vec<&str> = t.split_whitespace().collect();
    let weekday = |w: &&str| -> Option<u32> {
        let w: &str = w;
        const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
        DAYS.iter().position(|d| *d == w || d.starts_with(w) && w.len() >= 3).map(|i| i as u32)
    };
    let today = now.weekday().num_days_from_monday() as i64;
    match words.as_slice() {
        [rel, w] if weekday(w).is_some() && ["last", "next", "this"].contains(rel) => {
            let target = weekday(w)? as i64;
            let rel: &str = rel;
            let delta = match rel {
                "last" => -((today - target - 1).rem_euclid(7) + 1),
                "next" => (target - today - 1).rem_euclid(7) + 1,
                _ => (target - today).rem_euclid(7),
            };
            return Some((midnight + Duration::days(delta)).timestamp_millis());
        }
        [w] if weekday(w).is_some() => {
            let delta = (weekday(w)? as i64 - today).rem_euclid(7);
            return Some((midnight + Duration::days(delta)).timestamp_millis());
        }
        [rel @ ("last" | "next"), unit] => {
            let sign = if *rel == "last" { "-1" } else { "+1" };
            return crate::storage::tables::select::parse_time("t", &format!("{sign} {unit}")).ok().map(|d| d.timestamp_millis());
        }
        _ => {}
    }
    crate::storage::tables::select::parse_time("t", s).ok().map(|d| d.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now = Utc::now().timestamp_millis();
        let eight = parse_when("-8 hours").unwrap();
        assert!((now - eight - 8 * 3_600_000).abs() < 5_000);
        assert!(parse_when("today").unwrap() <= now);
        assert!(parse_when("last monday").unwrap() < now);
        assert!(parse_when("-1 week").unwrap() < now);
        assert_eq!(parse_when("2021-01-01").unwrap(), 1_609_459_200_000);
        assert!(parse_when("not a time").is_none());
    }
}
