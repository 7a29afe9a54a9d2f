//! The Syrup queue under `/syrup/queue` (notes: services.md §19): Queue jobs of the caller's
//! project in Syrup's shape. `GET /job/{id}` (the polling URL of every run), `GET /jobs?q=…`
//! (Elasticsearch query string, `limit`, `offset`; newest first), `POST /jobs/{id}/kill`.
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::api::SResult;
use super::wire::SyrupJob;
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Params, Routes};
use crate::meta::queue_jobs::{QueueJobPage, QueueJobSort, QueueJobSortField};
use crate::queue::store;
use crate::storage::auth::Auth;
use kbstack_core::QueueJobStatus;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/syrup/queue", get(index))
        .route("/syrup/queue/job/{id}", get(detail))
        .route("/syrup/queue/jobs/{id}", get(detail))
        .route("/syrup/queue/jobs", get(list))
        .route("/syrup/queue/jobs/{id}/kill", post(kill))
}

pub fn job_json(state: &AppState, job: &store::Job) -> Value {
    let mut out = serde_json::to_value(SyrupJob::of(job, &super::syrup_url(state))).unwrap_or(Value::Null);
    if let Some(result) = super::provisioning::job_result(state, job) {
        out["result"] = result;
    }
    out
}

async fn index() -> Json<Value> {
    Json(json!({"api": "syrup-queue", "documentation": "https://syrupqueue.docs.apiary.io/"}))
}

async fn detail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<Json<Value>> {
    let auth = auth?;
    let job = store::load_for(&state, auth.project_id, &id)?;
    Ok(Json(job_json(&state, &job)))
}

async fn list(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> SResult<Json<Value>> {
    let auth = auth?;
    let p = Params::from_query(req.uri().query())?;
    let q = p.str("q").unwrap_or_default();
    let parsed = super::query_string::parse(&q, auth.project_id)?;
    let limit = p.int("limit")?.unwrap_or(100);
    let offset = p.int("offset")?.unwrap_or(0);
    if !(1..=10_000).contains(&limit) {
        return Err(super::api::bad("limit: use 1 to 10000."));
    }
    if offset < 0 {
        return Err(super::api::bad("offset: use 0 or more."));
    }
    if parsed.matches_nothing {
        return Ok(Json(json!([])));
    }
    let page = QueueJobPage { sort: QueueJobSort { field: QueueJobSortField::Id, descending: true }, limit, offset };
    let jobs = state.meta.search_queue_jobs(auth.project_id.into(), &parsed.filter, &page)?;
    Ok(Json(Value::Array(jobs.iter().map(|j| job_json(&state, j)).collect())))
}

/// Kill as the Queue does (the creator, or a token allowed the component); a finished job is a
/// 400, as Syrup answered "Job is not in killable state".
async fn kill(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    let job = store::load_for(&state, auth.project_id, &id)?;
    if job.token_id != auth.token.id {
        auth.require_component(&job.component)?;
    }
    let job = if job.status == QueueJobStatus::Terminating { job } else { store::kill(&state, &job)? };
    Ok((StatusCode::ACCEPTED, Json(job_json(&state, &job))))
}
