//! The AI service's HTTP API under `/ai` (notes: services.md §14). Every call but the index,
//! the health check and the documentation sources needs a valid Storage token
//! (`X-StorageApi-Token`). Errors use the PHP services' envelope:
//! `{error, code: <HTTP status>, status: "error", exceptionId}`.
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::{ComponentDocs, ComponentSuggestion, DocsAnswer};
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Code, Params, Routes};
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/ai", get(index))
        .route("/ai/health-check", get(health_check))
        .route("/ai/docs/components/{componentId}", get(component_docs))
        .route("/ai/suggest/component", post(suggest_component))
        .route("/ai/docs/question", post(docs_question))
        .route("/ai/docs/sources/{name}", get(docs_source))
        .map_router(|r| r.layer(axum::middleware::from_fn(ai_envelope)))
}

/// An `ApiError` in the AI service's envelope (integer `code`).
pub struct AiError(pub ApiError);

impl From<ApiError> for AiError {
    fn from(e: ApiError) -> Self {
        AiError(e)
    }
}

impl IntoResponse for AiError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "ai-", |_| {})
    }
}

type AResult<T> = Result<T, AiError>;

/// The middleware that renders axum's own refusals in the AI service's envelope.
async fn ai_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| AiError(err).into_response()).await
}

async fn index(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "appName": "ai-service",
        "appVersion": format!("kbstack-{}", env!("CARGO_PKG_VERSION")),
        "apiDocs": format!("{}/docs/sources/readme", state.urls.service("ai")),
    }))
}

async fn health_check() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn component_docs(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> AResult<Json<ComponentDocs>> {
    auth?;
    Ok(Json(super::component_docs(&state, &id)?))
}

async fn suggest_component(State(state): State<AppState>, auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> AResult<Json<ComponentSuggestion>> {
    auth?;
    let p = p?;
    let prompt = super::required_text(p.str("prompt").or_else(|| p.str("query")), "prompt")?;
    Ok(Json(super::suggest(&state, &prompt)?))
}

/// 201 as the spec says (both clients accept any 2xx).
async fn docs_question(State(state): State<AppState>, auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> AResult<(StatusCode, Json<DocsAnswer>)> {
    auth?;
    let p = p?;
    let query = super::required_text(p.str("query").or_else(|| p.str("text")), "query")?;
    Ok((StatusCode::CREATED, Json(super::question(&state, &query).await?)))
}

/// The documents answers cite (`sourceUrls`): public like any documentation page.
async fn docs_source(Path(name): Path<String>) -> AResult<Response> {
    match name.trim_end_matches(".md").to_ascii_lowercase().as_str() {
        "readme" => Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], super::index::README).into_response()),
        _ => Err(ApiError::new(Code::RouteNotFound, format!("There is no documentation source \"{name}\"; the sources are: readme.")).into()),
    }
}
