//! The Orchestrator v2 HTTP API under `/syrup/orchestrator` (blueprint
//! `reference/orchestrator-v2/apiary.apib`, client keboola/orchestrator-php-client). Errors use
//! Syrup's envelope: `{status: "error", error, code: <HTTP status>, message, exceptionId}`.
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::wire::{Job, Orchestration};
use super::{Changes, jobs};
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Code, Params, Routes};
use crate::storage::auth::Auth;

const BASE: &str = "/syrup/orchestrator";

pub fn routes() -> Routes<AppState> {
    let r = |p: &str| format!("{BASE}{p}");
    Routes::new()
        .route(&r(""), get(index))
        .route(&r("/orchestrations"), get(list).post(create))
        .route(&r("/orchestrations/{id}"), get(detail).put(update).delete(remove))
        .route(&r("/orchestrations/{id}/create-token"), post(create_token))
        .route(&r("/orchestrations/{id}/trigger"), post(trigger))
        .route(&r("/orchestrations/{id}/tasks"), get(tasks).put(put_tasks))
        // The blueprint's spelling, and the right one.
        .route(&r("/orchestrations/{id}/nofitications"), get(notifications).put(put_notifications))
        .route(&r("/orchestrations/{id}/notifications"), get(notifications).put(put_notifications))
        .route(&r("/orchestrations/{id}/jobs"), get(list_jobs).post(create_job))
        .route(&r("/jobs/{id}"), get(job_detail).delete(cancel_job))
        .route(&r("/run"), post(run))
        .map_router(|r| r.layer(axum::middleware::from_fn(syrup_envelope)))
}

// One writer for Syrup's envelope: the Orchestrator answers in it as every Syrup service does.
pub use crate::syrup::api::{SResult, SyrupError};

async fn syrup_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| SyrupError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "orchestrator", "version": "v2", "documentation": "https://keboolaorchestratorv2api.docs.apiary.io/"}))
}

fn body_map(p: Params) -> Map<String, Value> {
    p.values
}

fn user_agent(headers: &HeaderMap) -> String {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// A JSON body that may be an array (tasks, notifications): parsed as sent.
fn json_body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::validation("Invalid request: the body should be a JSON array."));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::validation(format!("Invalid request: the body is not valid JSON ({e}).")))
}

async fn list(State(state): State<AppState>, auth: Result<Auth, ApiError>) -> SResult<Json<Vec<Orchestration>>> {
    let auth = auth?;
    let all = super::list(&state, &auth)?;
    Ok(Json(all.iter().map(|o| Orchestration::of(&state, &auth, o, false)).collect()))
}

async fn create(State(state): State<AppState>, auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> SResult<(StatusCode, Json<Orchestration>)> {
    let auth = auth?;
    let changes = Changes::read(&body_map(p?)).map_err(ApiError::validation)?;
    let o = super::create(&state, &auth, changes)?;
    Ok((StatusCode::CREATED, Json(Orchestration::of(&state, &auth, &o, true))))
}

async fn detail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<Json<Orchestration>> {
    let auth = auth?;
    let o = super::load(&state, &auth, &id)?;
    Ok(Json(Orchestration::of(&state, &auth, &o, true)))
}

async fn update(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>, p: Result<Params, ApiError>) -> SResult<Json<Orchestration>> {
    let auth = auth?;
    super::load(&state, &auth, &id)?;
    let changes = Changes::read(&body_map(p?)).map_err(ApiError::validation)?;
    let o = super::update(&state, &auth, &id, changes)?;
    Ok(Json(Orchestration::of(&state, &auth, &o, true)))
}

async fn remove(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<StatusCode> {
    super::delete(&state, &auth?, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_token(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<Json<Orchestration>> {
    let auth = auth?;
    let o = super::refresh_token(&state, &auth, &id)?;
    Ok(Json(Orchestration::of(&state, &auth, &o, true)))
}

async fn tasks(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<Json<Vec<Value>>> {
    let auth = auth?;
    Ok(Json(super::load(&state, &auth, &id)?.tasks()))
}

async fn put_tasks(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>, body: Bytes) -> SResult<(StatusCode, Json<Vec<Value>>)> {
    let auth = auth?;
    super::load(&state, &auth, &id)?;
    let tasks = super::definition::tasks(&json_body(&body)?).map_err(ApiError::validation)?;
    let o = super::update(&state, &auth, &id, Changes { tasks: Some(tasks), ..Changes::default() })?;
    Ok((StatusCode::ACCEPTED, Json(o.tasks())))
}

async fn notifications(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<Json<Vec<Value>>> {
    let auth = auth?;
    Ok(Json(super::load(&state, &auth, &id)?.notifications()))
}

async fn put_notifications(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>, body: Bytes) -> SResult<(StatusCode, Json<Vec<Value>>)> {
    let auth = auth?;
    super::load(&state, &auth, &id)?;
    let notifications = super::definition::notifications(&json_body(&body)?).map_err(ApiError::validation)?;
    let o = super::update(&state, &auth, &id, Changes { notifications: Some(notifications), ..Changes::default() })?;
    Ok((StatusCode::ACCEPTED, Json(o.notifications())))
}

fn emails(p: &Params) -> Result<Vec<String>, ApiError> {
    match p.get("notificationsEmails") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|e| e.as_str().map(str::to_string).ok_or_else(|| ApiError::validation("Invalid request:\n - notificationsEmails: This value should be an array of emails.")))
            .collect(),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.trim().to_string()]),
        Some(_) => Err(ApiError::validation("Invalid request:\n - notificationsEmails: This value should be an array of emails.")),
    }
}

/// `POST /orchestrations/{id}/trigger`: 409 when the orchestration is inactive.
async fn trigger(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>, headers: HeaderMap, p: Result<Params, ApiError>) -> SResult<(StatusCode, Json<Job>)> {
    let auth = auth?;
    let o = super::load(&state, &auth, &id)?;
    let p = p?;
    if !o.active() {
        return Err(ApiError::new(Code::OrchestrationInactive, format!("Orchestration \"{id}\" is disabled; enable it (active: true) to trigger it.")).into());
    }
    let job = jobs::run(&state, &auth, &o, emails(&p)?, p.get("tasks"), &user_agent(&headers))?;
    Ok((StatusCode::ACCEPTED, Json(Job::of(&state, &job, &o))))
}

/// `POST /orchestrations/{id}/jobs`: a manual run (an inactive orchestration runs too).
async fn create_job(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>, headers: HeaderMap, p: Result<Params, ApiError>) -> SResult<(StatusCode, Json<Job>)> {
    let auth = auth?;
    let o = super::load(&state, &auth, &id)?;
    let p = p?;
    let job = jobs::run(&state, &auth, &o, emails(&p)?, p.get("tasks"), &user_agent(&headers))?;
    Ok((StatusCode::CREATED, Json(Job::of(&state, &job, &o))))
}

/// `POST /run {config, notificationsEmails?, tasks?}` (the PHP client's `runOrchestration`).
async fn run(State(state): State<AppState>, auth: Result<Auth, ApiError>, headers: HeaderMap, p: Result<Params, ApiError>) -> SResult<(StatusCode, Json<Job>)> {
    let auth = auth?;
    let p = p?;
    let id = p.str("config").filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::validation("Invalid request:\n - config: This value should not be blank."))?;
    let o = super::load(&state, &auth, &id)?;
    let job = jobs::run(&state, &auth, &o, emails(&p)?, p.get("tasks"), &user_agent(&headers))?;
    Ok((StatusCode::ACCEPTED, Json(Job::of(&state, &job, &o))))
}

async fn list_jobs(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>, req: Request) -> SResult<Response> {
    let auth = auth?;
    let q = Params::from_query(req.uri().query())?;
    let o = super::load(&state, &auth, &id)?;
    let limit = q.int("limit")?.unwrap_or(20);
    let offset = q.int("offset")?.unwrap_or(0);
    if limit < 0 || offset < 0 {
        return Err(ApiError::validation("Invalid request: limit and offset should be 0 or more.").into());
    }
    let (page, total) = jobs::list(&state, &auth, &o, limit, offset)?;
    let body: Vec<Job> = page.iter().map(|j| Job::of(&state, j, &o)).collect();
    Ok(([("X-Total-Count", total.to_string())], Json(body)).into_response())
}

async fn job_detail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<Json<Job>> {
    let auth = auth?;
    let (job, o) = jobs::load(&state, &auth, &id)?;
    Ok(Json(Job::of(&state, &job, &o)))
}

async fn cancel_job(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<StatusCode> {
    jobs::cancel(&state, &auth?, &id)?;
    Ok(StatusCode::NO_CONTENT)
}
