//! The ingestion endpoint: `POST /stream-in/stream/{projectId}/{sourceId}/{secret}` (host
//! `stream-in.<suffix>`: `POST /stream/...`), the URL a source shows as `http.url`. Any body;
//! each enabled sink maps it to a row; the answer `OK` (text/plain) comes once every row is
//! fsynced on local disk (`writer`). Refusals are the Stream envelope: a wrong secret 401, a
//! disabled source 403, an unknown source 404, a body a mapping cannot read 400.
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Value, json};

use super::api::StreamError;
use super::mapping::{self, Event, ParsedBody};
use super::writer::SinkRow;
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Code, Routes};

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/stream-in", get(index))
        .route("/stream-in/health-check", get(health))
        .route("/stream-in/stream/{projectId}/{sourceId}/{secret}", post(receive).get(usage))
        .route("/stream-in/otlp/{projectId}/{sourceId}/{secret}/v1/{signal}", post(otlp))
        .map_router(|r| r.layer(axum::middleware::from_fn(envelope)))
}

/// `POST /stream-in/stream/...`: the event path, which runs off the blocking pool (`app`).
pub fn is_ingest_path(path: &str) -> bool {
    path.starts_with("/stream-in/stream/")
}

async fn envelope(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| StreamError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "stream-in", "documentation": "https://help.keboola.com/storage/data-streams/"}))
}

async fn health() -> &'static str {
    "OK"
}

async fn usage() -> Result<&'static str, StreamError> {
    Err(ApiError::new(Code::RouteNotFound, "please send data using POST /stream/<projectID>/<sourceID>/<secret>").into())
}

async fn otlp() -> Result<&'static str, StreamError> {
    Err(ApiError::validation(
        "OTLP ingestion is not supported by kbstack yet: send events to an HTTP source (POST /stream/<projectID>/<sourceID>/<secret>).",
    ).into())
}

/// The sender's address as a proxy tells it (the direct peer address is not passed to handlers).
fn client_ip(headers: &HeaderMap) -> String {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    h("x-forwarded-for").and_then(|v| v.split(',').next()).or(h("x-real-ip")).unwrap_or("").trim().to_string()
}

fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn receive(State(state): State<AppState>, Path((project, source, secret)): Path<(String, String, String)>, headers: HeaderMap, body: Bytes) -> Result<Response, StreamError> {
    let unknown = || ApiError::new(Code::StreamNotFound, format!("Source \"{source}\" of project \"{project}\" not found."));
    let project_id: i64 = project.parse().map_err(|_| unknown())?;
    let live = state.stream.source(project_id, &source).ok_or_else(unknown)?;
    if !secrets_equal(&live.secret, &secret) {
        return Err(ApiError::new(Code::StreamSecretInvalid, "The secret in the URL is not the source's secret.").into());
    }
    if live.disabled {
        return Err(ApiError::new(Code::StreamDisabled, format!("Source \"{source}\" is disabled.")).into());
    }
    let writer = state.stream.writer().ok_or_else(|| ApiError::internal("the stream writer is not running"))?;
    // Headers in canonical form only when a mapping reads them.
    let pairs: Vec<(String, String)> = if live.sinks.iter().any(|s| s.mapping.iter().any(mapping::Column::reads_headers)) {
        headers.iter().map(|(k, v)| (mapping::canonical_header(k.as_str()), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
    } else {
        Vec::new()
    };
    let ip = client_ip(&headers);
    let event = Event { body: &body, headers: &pairs, ip: &ip, received: chrono::Utc::now() };
    let mut parsed = ParsedBody::new(&body);
    let mut rows = Vec::with_capacity(live.sinks.len());
    for sink in &live.sinks {
        let values = mapping::row(&sink.mapping, &event, &mut parsed).map_err(|e| ApiError::validation(format!("Sink \"{}\": {}", sink.key.sink_id, e.message)))?;
        let mut line = Vec::with_capacity(128);
        mapping::csv_line(&values, &mut line);
        rows.push(SinkRow { key: sink.key.clone(), columns: sink.columns.clone(), conditions: sink.conditions, line });
    }
    if !rows.is_empty() {
        writer.append(rows).await.map_err(|e| ApiError::new(Code::Internal, e))?;
    }
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "OK").into_response())
}
