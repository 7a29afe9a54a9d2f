//! The Queue HTTP API under `/queue`. Errors use the Queue's envelope: `{error, code: <HTTP
//! status>, status: "error", exceptionId}`.
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crate::http::routes::{get, post};
use axum::Json;
use crate::http::Routes;
use serde_json::{Value, json};

use super::jobs::{self, JobRequest};
use super::search::{self, parse_filters, parse_page};
use super::store::{self, Job, job_json};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Params};
use crate::meta::queue_jobs::{QueueJobFilter, QueueJobPage};
use crate::storage::auth::Auth;
use kbstack_core::QueueJobStatus;

pub fn routes() -> Routes<AppState> {
    Routes::new()
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

impl From<kbstack_core::Error> for QueueError {
    fn from(e: kbstack_core::Error) -> Self {
        QueueError(e.into())
    }
}

impl IntoResponse for QueueError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "job-queue-", |_| {})
    }
}

type QResult<T> = Result<T, QueueError>;

/// The middleware that renders axum's own refusals in the Queue's envelope.
pub async fn queue_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| QueueError(err).into_response()).await
}

fn bad(msg: impl Into<String>) -> QueueError {
    QueueError(ApiError::validation(msg))
}

async fn index() -> Json<Value> {
    Json(json!({"api": "queue", "documentation": "https://app.swaggerhub.com/apis/odinuv/job-queue-api"}))
}

fn query_params(req: &Request) -> QResult<Params> {
    Ok(Params::from_query(req.uri().query())?)
}

async fn create(State(state): State<AppState>, auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> QResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    let p = p?;
    let new = jobs::build(&state, &auth, JobRequest::parse(&p.values)?)?;
    // Pay-as-you-go projects run jobs only while they have credits (Billing's CreditsChecker).
    crate::billing::check_can_run(&state, auth.project_id)?;
    let job = store::insert(&state, &new, &auth.secret)?;
    Ok((StatusCode::CREATED, Json(job_json(&state, &job))))
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
    if job.status == QueueJobStatus::Terminating {
        return Ok((StatusCode::ACCEPTED, Json(job_json(&state, &job))));
    }
    let job = store::kill(&state, &job)?;
    Ok((StatusCode::ACCEPTED, Json(job_json(&state, &job))))
}

fn jobs_json(state: &AppState, jobs: &[Job]) -> Value {
    Value::Array(jobs.iter().map(|j| job_json(state, j)).collect())
}

/// The caller's project's jobs that match.
fn search_jobs_of(state: &AppState, auth: &Auth, f: &QueueJobFilter, page: &QueueJobPage) -> ApiResult<Vec<Job>> {
    Ok(state.meta.search_queue_jobs(auth.project_id.into(), f, page)?)
}

async fn search_jobs(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> QResult<Json<Value>> {
    let auth = auth?;
    let p = query_params(&req)?;
    let f = parse_filters(&state, &auth, &p)?;
    let page = parse_page(&p, "desc")?;
    Ok(Json(jobs_json(&state, &search_jobs_of(&state, &auth, &f, &page)?)))
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
    for job in search_jobs_of(state, auth, &f, &page)? {
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
    let sum = state.meta.queue_duration_sum(auth.project_id.into())?;
    Ok(Json(json!({"jobs": {"durationSum": sum}})))
}
