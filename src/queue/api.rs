//! The Queue HTTP API under `/queue`. Errors use the Queue's envelope: `{error, code: <HTTP
//! status>, status: "error", exceptionId}`.
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::configs;
use super::search::{self, parse_filters, parse_page};
use super::store::{self, Job, NewJob, job_json};
use crate::app::AppState;
use crate::http::error::new_exception_id;
use crate::http::{ApiError, Code, Params};
use crate::runner::registry;
use crate::storage::auth::Auth;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/queue/jobs", post(create).get(legacy_list))
        .route("/queue/jobs/{id}", get(detail))
        .route("/queue/job/{id}", get(detail))
        .route("/queue/jobs/{id}/kill", post(kill))
        .route("/queue/search/jobs", get(search_jobs))
        .route("/queue/search/grouped-jobs", get(grouped_jobs))
        .route("/queue/configurations-jobs", get(configurations_jobs))
        .route("/queue/latest-configurations-jobs", get(latest_configurations_jobs))
        .route("/queue/stats/project", get(stats))
        .route("/queue", get(index))
}

/// An `ApiError` in the Queue's envelope (integer `code`).
pub struct QueueError(pub ApiError);

impl From<ApiError> for QueueError {
    fn from(e: ApiError) -> Self {
        QueueError(e)
    }
}

impl From<rusqlite::Error> for QueueError {
    fn from(e: rusqlite::Error) -> Self {
        QueueError(e.into())
    }
}

impl IntoResponse for QueueError {
    fn into_response(self) -> Response {
        let status = self.0.code.status();
        let exception_id = format!("job-queue-{}", new_exception_id().trim_start_matches("exception-"));
        if status.is_server_error() {
            tracing::error!(exception_id, "{}", self.0.message);
        }
        let mut body = json!({
            "error": self.0.message,
            "code": status.as_u16(),
            "status": "error",
            "exceptionId": exception_id,
        });
        if let Some(ctx) = self.0.context {
            body["context"] = ctx;
        }
        let mut resp = (status, body.to_string()).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}

type QResult<T> = Result<T, QueueError>;

fn bad(msg: impl Into<String>) -> QueueError {
    QueueError(ApiError::validation(msg))
}

async fn index() -> Json<Value> {
    Json(json!({"api": "queue", "documentation": "https://app.swaggerhub.com/apis/odinuv/job-queue-api"}))
}

fn query_params(req: &Request) -> QResult<Params> {
    Ok(Params::from_query(req.uri().query())?)
}

/// A string field that may arrive as a number.
fn opt_string(p: &Params, key: &str) -> QResult<Option<String>> {
    match p.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(v @ (Value::String(_) | Value::Number(_))) => Ok(crate::http::params::scalar_to_string(v)),
        Some(_) => Err(bad(format!("Invalid request:\n - {key}: This value should be of type string."))),
    }
}

async fn create(State(state): State<AppState>, auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> QResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    let p = p?;
    let new = build_job(&state, &auth, &p)?;
    let job = store::insert(&state, &new)?;
    Ok((StatusCode::CREATED, Json(job_json(&state, &job))))
}

/// Validate a create-job request and resolve what the job runs.
pub fn build_job(state: &AppState, auth: &Auth, p: &Params) -> QResult<NewJob> {
    let component = opt_string(p, "component")?
        .ok_or_else(|| bad("Invalid request:\n - component: This value should not be blank."))?;
    let mode = opt_string(p, "mode")?.unwrap_or_else(|| "run".into());
    if !["run", "forceRun", "debug"].contains(&mode.as_str()) {
        return Err(bad(format!("Invalid request:\n - mode: \"{mode}\" is not a valid mode; allowed: run, forceRun, debug.")));
    }
    if !registry::is_known(state, &component) {
        return Err(QueueError(ApiError::new(
            Code::ComponentNotFound,
            format!("Component \"{component}\" not found. Register process components with `kbstack component register <file>`."),
        )));
    }
    auth.require_component(&component)?;

    let config_data = match p.get("configData") {
        None => None,
        Some(Value::Object(o)) => Some(Value::Object(o.clone())),
        Some(Value::Array(a)) if a.is_empty() => Some(json!({})),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => Some(v),
            _ => return Err(bad("Invalid request:\n - configData: This value should be a JSON object (the configuration of the component).")),
        },
        Some(_) => return Err(bad("Invalid request:\n - configData: This value should be a JSON object (the configuration of the component).")),
    };
    if let Some(cd) = &config_data {
        for key in ["parameters", "storage", "runtime", "processors", "authorization"] {
            if let Some(v) = cd.get(key) {
                if !(v.is_object() || v.is_null() || v.as_array().is_some_and(|a| a.is_empty())) {
                    return Err(bad(format!("Invalid request:\n - configData.{key}: This value should be an object.")));
                }
            }
        }
    }
    let config = opt_string(p, "config")?;
    let config_row_ids: Vec<String> = match p.get("configRowIds") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| crate::http::params::scalar_to_string(v).ok_or_else(|| bad("Invalid request:\n - configRowIds: Each item should be a string.")))
            .collect::<QResult<_>>()?,
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(v @ (Value::String(_) | Value::Number(_))) => crate::http::params::scalar_to_string(v).into_iter().collect(),
        Some(_) => return Err(bad("Invalid request:\n - configRowIds: This value should be an array of row ids.")),
    };
    if config.is_none() && config_data.is_none() {
        return Err(bad("Invalid request: either \"config\" (a stored configuration id) or \"configData\" (an inline configuration) must be set."));
    }

    let branch_id = match opt_string(p, "branchId")? {
        None => auth.branch_id,
        Some(b) if b == "default" || b == "null" => auth.default_branch_id,
        Some(b) => {
            let id: i64 = b.parse().map_err(|_| QueueError(ApiError::new(Code::BranchNotFound, format!("Branch \"{b}\" not found."))))?;
            let exists = state.meta.with(|c| {
                c.query_row("SELECT 1 FROM branches WHERE project_id = ?1 AND id = ?2", [auth.project_id, id], |_| Ok(()))
                    .map(|_| true)
                    .or_else(|e| if matches!(e, rusqlite::Error::QueryReturnedNoRows) { Ok(false) } else { Err(e) })
            })?;
            if !exists {
                return Err(QueueError(ApiError::new(Code::BranchNotFound, format!("Branch \"{b}\" not found."))));
            }
            id
        }
    };

    // A stored configuration must exist (and be enabled unless forceRun), even with configData.
    let mut stored = None;
    if let Some(cid) = &config {
        let cfg = configs::load(state, auth.project_id, branch_id, &component, cid)?.ok_or_else(|| {
            QueueError(ApiError::new(
                Code::ConfigurationNotFound,
                format!("Configuration \"{cid}\" of component \"{component}\" not found in branch \"{branch_id}\"."),
            ))
        })?;
        if config_data.is_none() && mode == "run" && cfg.is_disabled() {
            return Err(bad(format!(
                "Configuration \"{cid}\" of component \"{component}\" is disabled. Enable it, or run it with mode \"forceRun\"."
            )));
        }
        if config_data.is_none() {
            for row in &config_row_ids {
                if cfg.row(row).is_none() {
                    return Err(QueueError(ApiError::new(
                        Code::RowNotFound,
                        format!("Row \"{row}\" of configuration \"{cid}\" of component \"{component}\" not found."),
                    )));
                }
            }
        }
        stored = Some(cfg);
    } else if !config_row_ids.is_empty() {
        return Err(bad("Invalid request:\n - configRowIds: rows can be run only with a stored configuration (\"config\")."));
    }

    let variable_values_id = opt_string(p, "variableValuesId")?;
    let variable_values_data = match p.get("variableValuesData") {
        None => None,
        Some(Value::Object(o)) => {
            let values = o.get("values").cloned().unwrap_or(json!([]));
            let Value::Array(items) = &values else {
                return Err(bad("Invalid request:\n - variableValuesData.values: This value should be an array of {name, value}."));
            };
            for item in items {
                if item.get("name").and_then(Value::as_str).is_none() || item.get("value").is_none() {
                    return Err(bad("Invalid request:\n - variableValuesData.values: each item needs \"name\" and \"value\"."));
                }
            }
            Some(json!({"values": values}))
        }
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(_) => return Err(bad("Invalid request:\n - variableValuesData: This value should be an object {values: [{name, value}]}.")),
    };
    if variable_values_id.is_some() && variable_values_data.as_ref().is_some_and(|d| d["values"].as_array().is_some_and(|a| !a.is_empty())) {
        return Err(bad("Invalid request: \"variableValuesId\" and \"variableValuesData\" cannot be used together."));
    }

    let backend = match p.get("backend") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(json!({"type": s})),
        Some(Value::Object(o)) => Some(Value::Object(o.clone())),
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(_) => return Err(bad("Invalid request:\n - backend: This value should be a size (\"small\") or an object {type, context}.")),
    };
    if let Some(t) = backend.as_ref().and_then(|b| b.get("type")).and_then(Value::as_str) {
        if !["xsmall", "small", "medium", "large"].contains(&t) {
            return Err(bad(format!("Invalid request:\n - backend.type: \"{t}\" is not valid; allowed: xsmall, small, medium, large.")));
        }
    }
    let parallelism = match p.get("parallelism") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let s = crate::http::params::scalar_to_string(v).unwrap_or_default();
            let ok = s == "infinity" || s.parse::<u32>().is_ok_and(|n| n <= 100);
            if !ok {
                return Err(bad(format!("Invalid request:\n - parallelism: \"{s}\" is not valid; allowed: 0-100 or \"infinity\".")));
            }
            Some(s)
        }
    };
    let tag = opt_string(p, "tag")?;
    let delayed_start_ms = match (p.int("delay")?, opt_string(p, "delayedStartTime")?) {
        (Some(_), Some(_)) => return Err(bad("Invalid request: \"delay\" and \"delayedStartTime\" cannot be used together.")),
        (Some(d), None) if d < 0 => return Err(bad("Invalid request:\n - delay: This value should be 0 or more.")),
        (Some(d), None) => Some(d.checked_mul(1000).and_then(|ms| super::now_ms().checked_add(ms)).ok_or_else(|| {
            bad("Invalid request:\n - delay: This value is too large.")
        })?),
        (None, Some(t)) => Some(search::parse_when(&t).ok_or_else(|| bad(format!("Invalid request:\n - delayedStartTime: \"{t}\" is not a valid time.")))?),
        (None, None) => None,
    };
    let parent_run_id = auth.run_id.clone().or(opt_string(p, "parentRunId")?).filter(|r| !r.is_empty());

    // Rows with a parallelism run as a container of one job per row; orchestrations as containers.
    let rows_to_run = stored
        .as_ref()
        .filter(|_| config_data.is_none())
        .map(|cfg| crate::runner::rows_to_run(cfg, &config_row_ids).len())
        .unwrap_or(0);
    let kind = if registry::is_orchestrator(&component) {
        "orchestrationContainer"
    } else if rows_to_run > 0 && parallelism.is_some() {
        "container"
    } else {
        "standard"
    }
    .to_string();
    let lock_key = config.as_ref().map(|c| format!("{}:{}:{}:{}", auth.project_id, branch_id, component, c));

    let mut definition = json!({
        "configData": config_data,
        "backend": backend,
        "parallelism": parallelism,
        "variableValuesData": variable_values_data,
        "behavior": p.get("behavior").cloned().filter(Value::is_object),
        "executor": opt_string(p, "executor")?,
        "orchestrationJobId": opt_string(p, "orchestrationJobId")?,
        "orchestrationTaskId": opt_string(p, "orchestrationTaskId")?,
        "orchestrationPhaseId": opt_string(p, "orchestrationPhaseId")?,
        "onlyOrchestrationTaskIds": p.get("onlyOrchestrationTaskIds").cloned().filter(Value::is_array),
        "previousJobId": opt_string(p, "previousJobId")?,
        "projectName": project_name(state, auth.project_id),
        "branchType": if branch_id == auth.default_branch_id { "default" } else { "dev" },
    });
    if let Some(o) = definition.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    Ok(NewJob {
        project_id: auth.project_id,
        branch_id,
        parent_run_id,
        token_id: auth.token.id,
        token_description: auth.token.description.clone(),
        token_secret: auth.secret.clone(),
        component,
        config,
        config_row_ids,
        mode,
        kind,
        tag,
        variable_values_id,
        lock_key,
        delayed_start_ms,
        definition,
    })
}

fn project_name(state: &AppState, project_id: i64) -> String {
    state
        .meta
        .with(|c| c.query_row("SELECT name FROM projects WHERE id = ?1", [project_id], |r| r.get::<_, String>(0)))
        .unwrap_or_else(|_| "kbstack".into())
}

async fn detail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> QResult<Json<Value>> {
    let auth = auth?;
    let job = store::load_for(&state, auth.project_id, &id)?;
    Ok(Json(job_json(&state, &job)))
}

async fn kill(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> QResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    let job = store::load_for(&state, auth.project_id, &id)?;
    // Keboola: a job is killed by the token that created it or by one allowed to run its component.
    if job.token_id != auth.token.id {
        auth.require_component(&job.component)?;
    }
    if job.status == "terminating" {
        return Ok((StatusCode::ACCEPTED, Json(job_json(&state, &job))));
    }
    let job = store::kill(&state, &job)?;
    Ok((StatusCode::ACCEPTED, Json(job_json(&state, &job))))
}

fn jobs_json(state: &AppState, jobs: &[Job]) -> Value {
    Value::Array(jobs.iter().map(|j| job_json(state, j)).collect())
}

async fn search_jobs(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> QResult<Json<Value>> {
    let auth = auth?;
    let p = query_params(&req)?;
    let f = parse_filters(&state, &auth, &p)?;
    let page = parse_page(&p, "desc")?;
    Ok(Json(jobs_json(&state, &search::query(&state, &f, &page)?)))
}

/// The deprecated `GET /jobs` (same filters as search).
async fn legacy_list(state: State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> QResult<Json<Value>> {
    search_jobs(state, auth, req).await
}

const GROUP_FIELDS: &[(&str, &str)] =
    &[("projectId", "project_id"), ("branchId", "branch_id"), ("componentId", "component"), ("configId", "config")];

fn group_value(job: &Job, field: &str) -> Value {
    match field {
        "projectId" => json!(job.project_id.to_string()),
        "branchId" => json!(job.branch_id.to_string()),
        "componentId" => json!(job.component),
        "configId" => json!(job.config),
        _ => Value::Null,
    }
}

/// Jobs grouped by some of projectId/branchId/componentId/configId, `jobsPerGroup` per group;
/// groups ordered by their first job in the requested order.
fn grouped(state: &AppState, auth: &Auth, p: &Params, group_by: Vec<String>, per_group: i64, default_order: &str) -> QResult<Vec<(Value, Vec<Job>)>> {
    for g in &group_by {
        if !GROUP_FIELDS.iter().any(|(k, _)| k == g) {
            return Err(bad(format!("Invalid request:\n - groupBy: \"{g}\" is not valid; allowed: projectId, branchId, componentId, configId.")));
        }
    }
    if per_group < 1 {
        return Err(bad("Invalid request:\n - jobsPerGroup: This value should be 1 or more."));
    }
    let f = parse_filters(state, auth, p)?;
    let mut page = parse_page(p, default_order)?;
    let limit = page.limit;
    let offset = page.offset;
    page.limit = 100_000;
    page.offset = 0;
    let mut groups: Vec<(Value, Vec<Job>)> = Vec::new();
    for job in search::query(state, &f, &page)? {
        let key = Value::Object(group_by.iter().map(|g| (g.clone(), group_value(&job, g))).collect());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, jobs)) => {
                if (jobs.len() as i64) < per_group {
                    jobs.push(job);
                }
            }
            None => groups.push((key, vec![job])),
        }
    }
    Ok(groups.into_iter().skip(offset as usize).take(limit as usize).collect())
}

async fn grouped_jobs(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> QResult<Json<Value>> {
    let auth = auth?;
    let p = query_params(&req)?;
    let mut group_by = search::list(&p, "groupBy");
    if group_by.is_empty() {
        group_by = vec!["componentId".into(), "configId".into()];
    }
    let per_group = p.int("jobsPerGroup")?.unwrap_or(5);
    // Filters may also come nested as `filters[createdTimeFrom]=…` (kbagent).
    let mut p = p;
    if let Some(Value::Object(filters)) = p.get("filters").cloned() {
        for (k, v) in filters {
            p.values.entry(k).or_insert(v);
        }
    }
    let groups = grouped(&state, &auth, &p, group_by, per_group, "asc")?;
    Ok(Json(Value::Array(
        groups.into_iter().map(|(g, jobs)| json!({"group": g, "jobs": jobs_json(&state, &jobs)})).collect(),
    )))
}

/// Deprecated: the latest `jobsPerConfiguration` jobs of each configuration, flattened.
async fn configurations_jobs(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> QResult<Json<Value>> {
    let auth = auth?;
    let p = query_params(&req)?;
    let per = p.int("jobsPerConfiguration")?.unwrap_or(1);
    let mut p = p;
    if p.get("sortBy").is_none() {
        p.values.insert("sortBy".into(), json!("id"));
    }
    let default_order = if p.get("sortOrder").is_some() { "asc" } else { "desc" };
    let groups = grouped(&state, &auth, &p, vec!["componentId".into(), "configId".into()], per, default_order)?;
    let jobs: Vec<Job> = groups.into_iter().filter(|(g, _)| !g["configId"].is_null()).flat_map(|(_, j)| j).collect();
    Ok(Json(jobs_json(&state, &jobs)))
}

/// Deprecated: the latest job of each configuration that ran during the last month.
async fn latest_configurations_jobs(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> QResult<Json<Value>> {
    let auth = auth?;
    let mut p = query_params(&req)?;
    p.values.insert("createdTimeFrom".into(), json!("-1 month"));
    p.values.insert("sortBy".into(), json!("id"));
    p.values.insert("sortOrder".into(), json!("desc"));
    let groups = grouped(&state, &auth, &p, vec!["componentId".into(), "configId".into()], 1, "desc")?;
    let jobs: Vec<Job> = groups.into_iter().filter(|(g, _)| !g["configId"].is_null()).flat_map(|(_, j)| j).collect();
    Ok(Json(jobs_json(&state, &jobs)))
}

async fn stats(State(state): State<AppState>, auth: Result<Auth, ApiError>) -> QResult<Json<Value>> {
    let auth = auth?;
    let sum: i64 = state.meta.with(|c| {
        c.query_row(
            "SELECT COALESCE(SUM(duration_seconds), 0) FROM queue_jobs WHERE project_id = ?1 AND type = 'standard'",
            [auth.project_id],
            |r| r.get(0),
        )
    })?;
    Ok(Json(json!({"jobs": {"durationSum": sum}})))
}
