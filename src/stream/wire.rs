//! The Stream API's objects (`stream/openapi3.json`): Source (with its ingestion URL), Sink,
//! Task, the paged lists, the statistics levels. Sources and sinks are kept as their JSON; the
//! internal part (`_internal`: secret, sink token, settings) never leaves.
use serde::Serialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::meta::stream::StreamEntity;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub status: String,
    pub is_finished: bool,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub outputs: Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub after_id: String,
    pub last_id: String,
    pub limit: usize,
    pub total_count: usize,
}

fn public(body: &Value) -> Value {
    let mut v = body.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("_internal");
    }
    v
}

/// The source's ingestion URL: `<stream-in>/stream/<project>/<source>/<secret>`.
pub fn ingest_url(state: &AppState, e: &StreamEntity) -> String {
    format!("{}/stream/{}/{}/{}", state.urls.service(super::INGEST_MOUNT), e.project_id, e.source_id, super::entities::secret_of(&e.body))
}

pub fn source(state: &AppState, e: &StreamEntity) -> Value {
    let mut v = public(&e.body);
    let secret = super::entities::secret_of(&e.body);
    if e.body["type"] == "otlp" {
        let base = format!("{}/otlp/{}/{}", state.urls.service(super::INGEST_MOUNT), e.project_id, e.source_id);
        v["otlp"] = json!({"url": format!("{base}/{secret}"), "baseUrl": base, "secret": secret});
    } else {
        v["http"] = json!({"url": ingest_url(state, e)});
    }
    v
}

pub fn sink(e: &StreamEntity) -> Value {
    public(&e.body)
}
