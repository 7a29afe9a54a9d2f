//! The Stream management API under `/stream/v1` (host `stream.<suffix>`; notes: services.md §8,
//! spec `../stream/openapi3.json`). Changes answer `202` with a Task (already finished here);
//! errors use the goa envelope `{statusCode, error: "<name>", message}`, plus the
//! `status`/`exceptionId` every kbstack envelope carries.
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::entities::{self as ent, MAX_PAGE};
use super::wire;
use crate::app::AppState;
use crate::http::routes::{get, post, put};
use crate::http::{ApiError, Params, Routes};
use crate::meta::stream::StreamEntity;
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    const S: &str = "/stream/v1/branches/{branchId}/sources";
    Routes::new()
        .route("/stream", get(index))
        .route("/stream/v1", get(index))
        .route(S, get(list_sources).post(create_source))
        .route(&format!("{S}/deleted"), get(list_deleted_sources))
        .route(&format!("{S}/{{sourceId}}"), get(get_source).patch(update_source).delete(delete_source))
        .route(&format!("{S}/{{sourceId}}/undelete"), put(undelete_source))
        .route(&format!("{S}/{{sourceId}}/disable"), put(disable_source))
        .route(&format!("{S}/{{sourceId}}/enable"), put(enable_source))
        .route(&format!("{S}/{{sourceId}}/rotate-secret"), post(rotate_secret))
        .route(&format!("{S}/{{sourceId}}/settings"), get(source_settings).patch(patch_source_settings))
        .route(&format!("{S}/{{sourceId}}/sinks"), get(list_sinks).post(create_sink))
        .route(&format!("{S}/{{sourceId}}/sinks/deleted"), get(list_deleted_sinks))
        .route(&format!("{S}/{{sourceId}}/sinks/{{sinkId}}"), get(get_sink).patch(update_sink).delete(delete_sink))
        .route(&format!("{S}/{{sourceId}}/sinks/{{sinkId}}/undelete"), put(undelete_sink))
        .route(&format!("{S}/{{sourceId}}/sinks/{{sinkId}}/disable"), put(disable_sink))
        .route(&format!("{S}/{{sourceId}}/sinks/{{sinkId}}/enable"), put(enable_sink))
        .route(&format!("{S}/{{sourceId}}/sinks/{{sinkId}}/settings"), get(sink_settings).patch(patch_sink_settings))
        .route(&format!("{S}/{{sourceId}}/sinks/{{sinkId}}/statistics/total"), get(sink_statistics_total))
        .route(&format!("{S}/{{sourceId}}/sinks/{{sinkId}}/statistics/files"), get(sink_statistics_files))
        .route("/stream/v1/branches/{branchId}/aggregation/sources", get(aggregation_sources))
        .route("/stream/v1/tasks/{taskId}", get(get_task))
        .map_router(|r| r.layer(axum::middleware::from_fn(stream_envelope)))
}

/// An `ApiError` in the Stream service's goa envelope.
pub struct StreamError(pub ApiError);

impl From<ApiError> for StreamError {
    fn from(e: ApiError) -> Self {
        StreamError(e)
    }
}

impl From<kbstack_core::Error> for StreamError {
    fn from(e: kbstack_core::Error) -> Self {
        StreamError(e.into())
    }
}

impl IntoResponse for StreamError {
    fn into_response(self) -> Response {
        let code = self.0.code.as_str();
        let name = if code.starts_with("stream.") { code.to_string() } else { format!("stream.api.{code}") };
        crate::http::error::service_error_response(self.0, "stream-", |body| {
            body["statusCode"] = body["code"].clone();
            body["message"] = body["error"].clone();
            body["error"] = json!(name);
        })
    }
}

type SResult<T> = Result<T, StreamError>;

async fn stream_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| StreamError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "stream", "documentation": "https://stream.keboola.com/v1/documentation"}))
}

/// A JSON object body (an empty body is `{}`).
fn body_of(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ent::invalid("The body must be a JSON object.")),
        Err(e) => Err(ApiError::validation(format!("The body is not valid JSON: {e}"))),
    }
}

fn accepted(task: Value) -> (StatusCode, Json<Value>) {
    (StatusCode::ACCEPTED, Json(task))
}

// Sources -----------------------------------------------------------------------------------

fn page(state: &AppState, auth: &Auth, branch_id: i64, query: Option<String>, deleted: bool, with_sinks: bool) -> SResult<Value> {
    let p = Params::from_query(query.as_deref())?;
    let after = p.str("afterId").unwrap_or_default();
    let limit = match p.str("limit").filter(|s| !s.is_empty()) {
        None => MAX_PAGE,
        Some(l) => l.trim().parse::<usize>().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| ent::invalid(format!("\"limit\" must be 1 to {MAX_PAGE}.")))?,
    };
    let all: Vec<StreamEntity> = state.meta.stream_entities(auth.project_id, branch_id, None)?.into_iter().filter(|e| e.deleted == deleted).collect();
    let total = all.len();
    let chosen: Vec<&StreamEntity> = all.iter().filter(|e| after.is_empty() || e.source_id.as_str() > after.as_str()).take(limit).collect();
    let mut sources = Vec::new();
    for e in &chosen {
        let mut v = wire::source(state, e);
        if with_sinks {
            let sinks: Vec<Value> = state
                .meta
                .stream_entities(auth.project_id, branch_id, Some(&e.source_id))?
                .iter()
                .filter(|s| !s.deleted)
                .map(|s| {
                    let mut v = wire::sink(s);
                    v["statistics"] = super::flush::statistics_total(state, s);
                    v
                })
                .collect();
            v["sinks"] = json!(sinks);
        }
        sources.push(v);
    }
    let page = wire::Page { after_id: after, last_id: chosen.last().map(|e| e.source_id.clone()).unwrap_or_default(), limit, total_count: total };
    Ok(json!({"projectId": auth.project_id, "branchId": branch_id, "page": page, "sources": sources}))
}

async fn list_sources(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(branch): Path<String>, RawQuery(q): RawQuery) -> SResult<Json<Value>> {
    let auth = auth?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    Ok(Json(page(&state, &auth, b, q, false, false)?))
}

async fn list_deleted_sources(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(branch): Path<String>, RawQuery(q): RawQuery) -> SResult<Json<Value>> {
    let auth = auth?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    Ok(Json(page(&state, &auth, b, q, true, false)?))
}

async fn aggregation_sources(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(branch): Path<String>, RawQuery(q): RawQuery) -> SResult<Json<Value>> {
    let auth = auth?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    Ok(Json(page(&state, &auth, b, q, false, true)?))
}

async fn create_source(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(branch): Path<String>, body: Bytes) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    let e = ent::create_source(&state, &auth, b, &body_of(&body)?)?;
    Ok(accepted(ent::finished_task(&state, &auth, "source.create", &e)?))
}

async fn get_source(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>) -> SResult<Json<Value>> {
    let auth = auth?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    Ok(Json(wire::source(&state, &ent::load_source(&state, &auth, b, &source)?)))
}

async fn update_source(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>, body: Bytes) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    let e = ent::update_source(&state, &auth, b, &source, &body_of(&body)?)?;
    Ok(accepted(ent::finished_task(&state, &auth, "source.update", &e)?))
}

async fn delete_source(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    let e = ent::load_source(&state, &auth, b, &source)?;
    let e = ent::set_deleted(&state, &auth, e, true)?;
    close_open_slices(&state, &e).await;
    Ok(accepted(ent::finished_task(&state, &auth, "source.delete", &e)?))
}

/// A deleted or disabled source or sink stops taking events; what it took is closed for import.
async fn close_open_slices(state: &AppState, e: &StreamEntity) {
    if let Some(w) = state.stream.writer() {
        w.close(ent::sink_key(e)).await;
    }
}

async fn undelete_source(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    let e = ent::load_deleted_source(&state, &auth, b, &source)?;
    if state.meta.stream_entities(auth.project_id, b, None)?.iter().filter(|x| !x.deleted).count() >= MAX_PAGE {
        return Err(ent::invalid(format!("A branch has at most {MAX_PAGE} sources.")).into());
    }
    let e = ent::set_deleted(&state, &auth, e, false)?;
    Ok(accepted(ent::finished_task(&state, &auth, "source.undelete", &e)?))
}

async fn disable_source(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    let e = ent::set_disabled(&state, &auth, ent::load_source(&state, &auth, b, &source)?, true)?;
    close_open_slices(&state, &e).await;
    Ok(accepted(ent::finished_task(&state, &auth, "source.disable", &e)?))
}

async fn enable_source(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    let e = ent::set_disabled(&state, &auth, ent::load_source(&state, &auth, b, &source)?, false)?;
    Ok(accepted(ent::finished_task(&state, &auth, "source.enable", &e)?))
}

async fn rotate_secret(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>) -> SResult<Json<Value>> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    let e = ent::rotate_secret(&state, &auth, ent::load_source(&state, &auth, b, &source)?)?;
    Ok(Json(wire::source(&state, &e)))
}

async fn source_settings(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>) -> SResult<Json<Value>> {
    let auth = auth?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    ent::load_source(&state, &auth, b, &source)?;
    Ok(Json(json!({"settings": []})))
}

async fn patch_source_settings(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>, body: Bytes) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    let e = ent::load_source(&state, &auth, b, &source)?;
    let p = body_of(&body)?;
    if p["settings"].as_array().is_some_and(|l| !l.is_empty()) {
        return Err(ent::invalid("A source has no settings kbstack lets change; import conditions are sink settings.").into());
    }
    Ok(accepted(ent::finished_task(&state, &auth, "source.update", &e)?))
}

// Sinks -------------------------------------------------------------------------------------

fn sinks_list(state: &AppState, auth: &Auth, branch_id: i64, source: &str, deleted: bool) -> SResult<Value> {
    ent::load_source(state, auth, branch_id, source)?;
    let sinks: Vec<Value> = state.meta.stream_entities(auth.project_id, branch_id, Some(source))?.iter().filter(|e| e.deleted == deleted).map(wire::sink).collect();
    let page = wire::Page { after_id: String::new(), last_id: sinks.last().and_then(|s| s["sinkId"].as_str()).unwrap_or_default().to_string(), limit: ent::MAX_SINKS, total_count: sinks.len() };
    Ok(json!({"projectId": auth.project_id, "branchId": branch_id, "sourceId": source, "page": page, "sinks": sinks}))
}

async fn list_sinks(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>) -> SResult<Json<Value>> {
    let auth = auth?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    Ok(Json(sinks_list(&state, &auth, b, &source, false)?))
}

async fn list_deleted_sinks(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>) -> SResult<Json<Value>> {
    let auth = auth?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    Ok(Json(sinks_list(&state, &auth, b, &source, true)?))
}

async fn create_sink(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((branch, source)): Path<(String, String)>, body: Bytes) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let b = ent::branch_of(&state, &auth, &branch)?;
    let e = ent::create_sink(&state, &auth, b, &source, &body_of(&body)?)?;
    Ok(accepted(ent::finished_task(&state, &auth, "sink.create", &e)?))
}

type SinkPath = Path<(String, String, String)>;

fn sink_of(state: &AppState, auth: &Auth, (branch, source, sink): &(String, String, String), deleted: bool) -> SResult<StreamEntity> {
    let b = ent::branch_of(state, auth, branch)?;
    Ok(ent::load_sink(state, auth, b, source, sink, deleted)?)
}

async fn get_sink(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): SinkPath) -> SResult<Json<Value>> {
    let auth = auth?;
    Ok(Json(wire::sink(&sink_of(&state, &auth, &p, false)?)))
}

async fn update_sink(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): SinkPath, body: Bytes) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let e = sink_of(&state, &auth, &p, false)?;
    let e = ent::update_sink(&state, &auth, e, &body_of(&body)?)?;
    Ok(accepted(ent::finished_task(&state, &auth, "sink.update", &e)?))
}

async fn delete_sink(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): SinkPath) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let e = ent::set_deleted(&state, &auth, sink_of(&state, &auth, &p, false)?, true)?;
    close_open_slices(&state, &e).await;
    Ok(accepted(ent::finished_task(&state, &auth, "sink.delete", &e)?))
}

async fn undelete_sink(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): SinkPath) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let e = ent::set_deleted(&state, &auth, sink_of(&state, &auth, &p, true)?, false)?;
    Ok(accepted(ent::finished_task(&state, &auth, "sink.undelete", &e)?))
}

async fn disable_sink(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): SinkPath) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let e = ent::set_disabled(&state, &auth, sink_of(&state, &auth, &p, false)?, true)?;
    close_open_slices(&state, &e).await;
    Ok(accepted(ent::finished_task(&state, &auth, "sink.disable", &e)?))
}

async fn enable_sink(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): SinkPath) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let e = ent::set_disabled(&state, &auth, sink_of(&state, &auth, &p, false)?, false)?;
    Ok(accepted(ent::finished_task(&state, &auth, "sink.enable", &e)?))
}

async fn sink_settings(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): SinkPath) -> SResult<Json<Value>> {
    let auth = auth?;
    let e = sink_of(&state, &auth, &p, false)?;
    Ok(Json(json!({"settings": ent::sink_settings(&e.body)})))
}

async fn patch_sink_settings(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): SinkPath, body: Bytes) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    ent::require_write(&auth)?;
    let e = sink_of(&state, &auth, &p, false)?;
    let e = ent::patch_sink_settings(&state, &auth, e, &body_of(&body)?)?;
    Ok(accepted(ent::finished_task(&state, &auth, "sink.update", &e)?))
}

async fn sink_statistics_total(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): SinkPath) -> SResult<Json<Value>> {
    let auth = auth?;
    let e = sink_of(&state, &auth, &p, false)?;
    Ok(Json(super::flush::statistics_total(&state, &e)))
}

async fn sink_statistics_files(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): SinkPath) -> SResult<Json<Value>> {
    let auth = auth?;
    let e = sink_of(&state, &auth, &p, false)?;
    Ok(Json(super::flush::statistics_files(&state, &e)?))
}

async fn get_task(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(task): Path<String>) -> SResult<Json<Value>> {
    let auth = auth?;
    Ok(Json(ent::load_task(&state, &auth, &task)?))
}
