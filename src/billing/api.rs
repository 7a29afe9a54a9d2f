//! The Billing HTTP API under `/billing` (notes: services.md §13; spec
//! `reference/billing/openapi.api-evangelist-original.yml`). Errors use the PHP services'
//! envelope: `{error, code: <HTTP status>, status: "error", exceptionId}`.
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::routes::{get, put};
use crate::http::{ApiError, Code, Params, Routes};
use crate::manage::auth::SuperAdmin;
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/billing", get(index))
        .route("/billing/credits", get(credits).post(top_up))
        .route("/billing/duration/job", put(duration_job))
        .map_router(|r| r.layer(axum::middleware::from_fn(billing_envelope)))
}

/// An `ApiError` in the Billing service's envelope (integer `code`).
pub struct BillingError(pub ApiError);

impl From<ApiError> for BillingError {
    fn from(e: ApiError) -> Self {
        BillingError(e)
    }
}

impl From<kbstack_core::Error> for BillingError {
    fn from(e: kbstack_core::Error) -> Self {
        BillingError(e.into())
    }
}

impl IntoResponse for BillingError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "billing-", |_| {})
    }
}

type BResult<T> = Result<T, BillingError>;

async fn billing_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| BillingError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "billing", "documentation": "https://app.swaggerhub.com/apis/keboola/billing-api"}))
}

fn credits_json(state: &AppState, project_id: i64) -> BResult<Value> {
    let b = super::balance(state, project_id)?;
    Ok(json!({
        "consumed": b.consumed,
        "remaining": b.remaining,
        "stats": {"componentJobs": {"consumed": b.consumed}},
    }))
}

/// `GET /credits`: the project of the Storage token, its remaining and consumed credits.
async fn credits(State(state): State<AppState>, auth: Result<Auth, ApiError>) -> BResult<Json<Value>> {
    let auth = auth?;
    Ok(Json(credits_json(&state, auth.project_id)?))
}

/// `POST /credits`: the balance, with an automatic top-up when it is spent. Top-ups charge a
/// card through a payment provider, which this stack has not: a spent balance is refused with
/// `topUp.notConfigured` (credits are given with `POST /manage/projects/{id}/credits`).
async fn top_up(State(state): State<AppState>, auth: Result<Auth, ApiError>) -> BResult<Json<Value>> {
    let auth = auth?;
    let body = credits_json(&state, auth.project_id)?;
    if body["remaining"].as_f64().unwrap_or(0.0) > 0.0 {
        return Ok(Json(body));
    }
    Err(ApiError::new(
        Code::BillingTopUpNotConfigured,
        "Automatic top-up is not configured on this stack (no payment provider). Credits are given by a super admin \
         with POST /manage/projects/{id}/credits.",
    )
    .into())
}

/// `PUT /duration/job` (manage token, internal): a job's duration. A PAYG project is charged for
/// it (once per job id, whoever reports it first); for any other project the call is recorded
/// as telemetry only and nothing is charged.
async fn duration_job(State(state): State<AppState>, _admin: Result<SuperAdmin, ApiError>, p: Result<Params, ApiError>) -> BResult<(StatusCode, Json<Value>)> {
    _admin?;
    let p = p?;
    let text = |key: &str| p.get(key).and_then(|v| match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let invalid = |m: &str| BillingError(ApiError::validation(format!("Invalid request: {m}")));
    let project_id: i64 = text("projectId").and_then(|s| s.parse().ok()).ok_or_else(|| invalid("projectId must be a project id."))?;
    let job_id: i64 = text("jobId").and_then(|s| s.parse().ok()).ok_or_else(|| invalid("jobId must be a job id."))?;
    let seconds = match p.get("durationSeconds") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s >= 0.0)
    .ok_or_else(|| invalid("durationSeconds must be a number >= 0."))?;
    if state.meta.project_details(project_id)?.is_none() {
        return Err(ApiError::new(Code::ManageNotFound, format!("Project {project_id} not found")).into());
    }
    let backend = p.get("backend").cloned().unwrap_or(Value::Null);
    let component = text("componentId").unwrap_or_default();
    super::charge(&state, project_id, job_id, seconds, &backend, &format!("Job ({component})"))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "PartitionKey": project_id.to_string(),
            "RowKey": format!("{:x}", md5_like(project_id, job_id)),
            "projectId": project_id.to_string(),
            "jobId": job_id.to_string(),
            "durationSeconds": seconds,
        })),
    ))
}

/// A stable row key for a job's record (the spec shows an opaque hex key).
fn md5_like(project_id: i64, job_id: i64) -> u128 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (project_id, job_id).hash(&mut h);
    let a = h.finish();
    job_id.hash(&mut h);
    ((a as u128) << 64) | h.finish() as u128
}
