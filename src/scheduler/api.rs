//! The Scheduler HTTP API under `/scheduler` (notes: services.md §2). Errors use the PHP
//! services' envelope: `{error, code: <HTTP status>, status: "error", exceptionId}`.
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::schedules;
use super::wire::Schedule;
use crate::app::AppState;
use crate::http::routes::{delete, get, post};
use crate::http::{ApiError, Params, Routes};
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/scheduler", get(index))
        .route("/scheduler/schedules", post(activate).get(list))
        .route("/scheduler/schedules/{id}", get(detail).delete(remove))
        .route("/scheduler/schedules/{id}/refreshToken", post(refresh_token))
        .route("/scheduler/configurations/{id}", delete(remove_configuration))
        .map_router(|r| r.layer(axum::middleware::from_fn(scheduler_envelope)))
}

/// An `ApiError` in the Scheduler's envelope (integer `code`).
pub struct SchedulerError(pub ApiError);

impl From<ApiError> for SchedulerError {
    fn from(e: ApiError) -> Self {
        SchedulerError(e)
    }
}

impl From<kbstack_core::Error> for SchedulerError {
    fn from(e: kbstack_core::Error) -> Self {
        SchedulerError(e.into())
    }
}

impl IntoResponse for SchedulerError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "scheduler-", |_| {})
    }
}

type SResult<T> = Result<T, SchedulerError>;

/// The middleware that renders axum's own refusals in the Scheduler's envelope.
async fn scheduler_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| SchedulerError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "scheduler", "documentation": "https://app.swaggerhub.com/apis/odinuv/scheduler"}))
}

async fn activate(State(state): State<AppState>, auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> SResult<(StatusCode, Json<Schedule>)> {
    let auth = auth?;
    let p = p?;
    let configuration_id = p
        .str("configurationId")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::validation("Invalid request:\n - configurationId: This value should not be blank."))?;
    let version = p.str("configurationVersionId").filter(|s| !s.is_empty());
    let record = schedules::activate(&state, &auth, configuration_id.trim(), version.as_deref())?;
    Ok((StatusCode::CREATED, Json(schedules::to_wire(&state, &record)?)))
}

async fn list(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> SResult<Json<Vec<Schedule>>> {
    let auth = auth?;
    let p = Params::from_query(req.uri().query())?;
    let target = match (p.str("componentId").filter(|s| !s.is_empty()), p.str("configurationId").filter(|s| !s.is_empty())) {
        (None, None) => None,
        (Some(component), Some(config)) => Some((component, config)),
        _ => return Err(ApiError::validation("Invalid request: \"componentId\" and \"configurationId\" must be used together.").into()),
    };
    let records = schedules::list(&state, &auth, target.as_ref().map(|(a, b)| (a.as_str(), b.as_str())))?;
    let wire = records.iter().map(|r| schedules::to_wire(&state, r)).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(wire))
}

async fn detail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<Json<Schedule>> {
    let auth = auth?;
    let record = schedules::load(&state, &auth, &id)?;
    Ok(Json(schedules::to_wire(&state, &record)?))
}

async fn remove(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<StatusCode> {
    schedules::delete(&state, &auth?, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn refresh_token(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<Json<Schedule>> {
    let auth = auth?;
    let record = schedules::refresh_token(&state, &auth, &id)?;
    Ok(Json(schedules::to_wire(&state, &record)?))
}

async fn remove_configuration(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> SResult<StatusCode> {
    schedules::delete_for_configuration(&state, &auth?, &id)?;
    Ok(StatusCode::NO_CONTENT)
}
