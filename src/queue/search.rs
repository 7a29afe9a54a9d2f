//! Job search filters shared by `/search/jobs`, `/search/grouped-jobs`, `/configurations-jobs`
//! and the legacy `GET /jobs`: list parameters in every encoding (`a[]=`, `a[0]=`, `a=x&a=y`),
//! PHP-style times (`-8 hours`, `today`, `last monday`, ISO dates), sorting and paging.
use chrono::{Datelike, Duration, TimeZone, Utc};
use serde_json::Value;

use super::store::TYPES;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Params};
use crate::meta::queue_jobs::{QueueJobFilter, QueueJobPage, QueueJobSort, QueueJobSortField};
use crate::storage::auth::Auth;
use kbstack_core::QueueJobStatus;

pub const SORT_FIELDS: &[(&str, QueueJobSortField)] = &[
    ("id", QueueJobSortField::Id),
    ("runId", QueueJobSortField::RunId),
    ("projectId", QueueJobSortField::ProjectId),
    ("branchId", QueueJobSortField::BranchId),
    ("componentId", QueueJobSortField::Component),
    ("configId", QueueJobSortField::Config),
    ("configRowId", QueueJobSortField::ConfigRowIds),
    ("tokenDescription", QueueJobSortField::TokenDescription),
    ("status", QueueJobSortField::Status),
    ("desiredStatus", QueueJobSortField::DesiredStatus),
    ("mode", QueueJobSortField::Mode),
    ("createdTime", QueueJobSortField::CreatedTime),
    ("updatedTime", QueueJobSortField::UpdatedTime),
    ("startTime", QueueJobSortField::StartTime),
    ("endTime", QueueJobSortField::EndTime),
    ("durationSeconds", QueueJobSortField::DurationSeconds),
];

fn invalid(field: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("Invalid request:\n - {field}: {msg}"))
}

fn ints(field: &str, values: Vec<String>) -> ApiResult<Vec<i64>> {
    values
        .into_iter()
        .map(|v| v.trim().parse::<i64>().map_err(|_| invalid(field, format!("\"{v}\" is not a valid id."))))
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

/// The search filters of a request (within the caller's project, which the store adds).
pub fn parse_filters(state: &AppState, auth: &Auth, p: &Params) -> ApiResult<QueueJobFilter> {
    let mut f = QueueJobFilter {
        ids: ints("id", list(p, "id"))?,
        run_ids: list(p, "runId"),
        parent_run_ids: list(p, "parentRunId"),
        ..Default::default()
    };
    for b in list(p, "branchId") {
        f.branch_ids.push(if b == "null" || b == "default" {
            auth.default_branch_id
        } else {
            b.parse().map_err(|_| invalid("branchId", format!("\"{b}\" is not a valid branch id.")))?
        });
    }
    f.token_ids = ints("tokenId", list(p, "tokenId"))?;
    f.token_descriptions = list(p, "tokenDescription");
    f.components = list(p, "componentId");
    f.components.extend(list(p, "component"));
    f.configs = list(p, "configId");
    f.configs.extend(list(p, "config"));
    f.config_row_ids = list(p, "configRowIds");
    f.modes = list(p, "mode");
    for s in list(p, "status") {
        let status = QueueJobStatus::parse(&s).ok_or_else(|| {
            let allowed: Vec<&str> = QueueJobStatus::ALL.iter().map(|s| s.as_str()).collect();
            invalid("status", format!("\"{s}\" is not a valid status; allowed: {}.", allowed.join(", ")))
        })?;
        f.statuses.push(status);
    }
    f.desired_statuses = list(p, "desiredStatus");
    f.types = list(p, "type");
    for t in &f.types {
        if !TYPES.contains(&t.as_str()) {
            return Err(invalid("type", format!("\"{t}\" is not a valid type; allowed: {}.", TYPES.join(", "))));
        }
    }
    f.tags = list(p, "tag");
    f.variable_values_ids = list(p, "variableValuesId");
    for (key, bound) in [
        ("createdTimeFrom", &mut f.created_from_ms),
        ("createdTimeTo", &mut f.created_to_ms),
        ("startTimeFrom", &mut f.start_from_ms),
        ("startTimeTo", &mut f.start_to_ms),
        ("endTimeFrom", &mut f.end_from_ms),
        ("endTimeTo", &mut f.end_to_ms),
    ] {
        if let Some(s) = p.str(key).filter(|s| !s.trim().is_empty()) {
            *bound = Some(parse_when(&s).ok_or_else(|| invalid(key, format!("\"{s}\" is not a valid date and time.")))?);
        }
    }
    for (key, bound) in [("durationSecondsFrom", &mut f.duration_from_seconds), ("durationSecondsTo", &mut f.duration_to_seconds)] {
        if let Some(s) = p.str(key).filter(|s| !s.trim().is_empty()) {
            *bound = Some(s.trim().parse().map_err(|_| invalid(key, format!("\"{s}\" is not a number.")))?);
        }
    }
    if let Some(Value::Object(props)) = p.get("componentProps") {
        if let Some(kind) = props.get("type").and_then(crate::http::params::scalar_to_string) {
            f.components_of_type = Some(crate::runner::registry::ids_of_type(state, &kind));
        }
    }
    Ok(f)
}

pub fn parse_page(p: &Params, default_order: &str) -> ApiResult<QueueJobPage> {
    let sort_by = p.str("sortBy").filter(|s| !s.is_empty()).unwrap_or_else(|| "id".into());
    let field = SORT_FIELDS
        .iter()
        .find(|(k, _)| *k == sort_by)
        .map(|(_, field)| *field)
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
    // Missing values (a job not started yet has no startTime) sort last either way (the store's rule).
    Ok(QueueJobPage { sort: QueueJobSort { field, descending: order == "desc" }, limit: limit.min(10_000), offset })
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
