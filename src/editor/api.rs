//! The Editor service's HTTP API under `/editor` (host `editor.<suffix>`). Errors use the PHP
//! services' envelope (`error`, integer `code`, `exceptionId`) with the text also in `message`,
//! which is what the Go SDK reads (`editor_error.go`).
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire;
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Params, Routes};
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/editor", get(index))
        .route("/editor/health-check", get(health))
        .route("/editor/sql/sessions", get(list).post(create))
        .route("/editor/sql/sessions/{id}", get(detail).delete(remove))
        .route("/editor/sql/sessions/{id}/reset-credentials", post(reset_credentials))
        .map_router(|r| r.layer(axum::middleware::from_fn(editor_envelope)))
}

/// An `ApiError` in the Editor service's envelope.
pub struct EditorError(pub ApiError);

impl From<ApiError> for EditorError {
    fn from(e: ApiError) -> Self {
        EditorError(e)
    }
}

impl From<kbstack_core::Error> for EditorError {
    fn from(e: kbstack_core::Error) -> Self {
        EditorError(e.into())
    }
}

impl IntoResponse for EditorError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "editor-", |body| body["message"] = body["error"].clone())
    }
}

type EResult<T> = Result<T, EditorError>;

async fn editor_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| EditorError(err).into_response()).await
}

async fn index(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "appName": "editor-service",
        "appVersion": env!("CARGO_PKG_VERSION"),
        "apiDocs": format!("{}/docs/swagger.yaml", state.urls.service("editor")),
    }))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn create(State(state): State<AppState>, auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> EResult<(StatusCode, Json<wire::Session>)> {
    let auth = auth?;
    let session = super::create(&state, &auth, &p?.values)?;
    Ok((StatusCode::CREATED, Json(super::to_wire(&state, &session)?)))
}

async fn list(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> EResult<Json<Vec<wire::Session>>> {
    let auth = auth?;
    let p = Params::from_query(req.uri().query())?;
    let all = match p.str("listAll").as_deref() {
        None | Some("") | Some("0") => false,
        Some("1") => true,
        Some(_) => return Err(ApiError::validation("The \"listAll\" parameter must be \"0\" or \"1\".").into()),
    };
    let branch = match p.str("branchId").filter(|b| !b.is_empty()) {
        Some(b) => Some(super::branch_id(&state, &auth, &b)?),
        None => None,
    };
    // Everyone's sessions only for tokens that may see everyone's workspaces.
    let token = if all && auth.can_manage_buckets() { None } else { Some(auth.token.id) };
    let sessions = state.meta.editor_sessions(auth.project_id, branch, token)?;
    Ok(Json(sessions.iter().map(|s| super::to_wire(&state, s)).collect::<Result<_, _>>()?))
}

async fn detail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> EResult<Json<wire::Session>> {
    let auth = auth?;
    let s = super::session_for(&state, &auth, &id)?;
    Ok(Json(super::to_wire(&state, &s)?))
}

async fn remove(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> EResult<StatusCode> {
    let auth = auth?;
    super::delete(&state, &auth, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset_credentials(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> EResult<Json<wire::Credentials>> {
    let auth = auth?;
    Ok(Json(super::reset_credentials(&state, &auth, &id)?))
}
