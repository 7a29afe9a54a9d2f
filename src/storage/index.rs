//! `GET /v2/storage`: the index, answered without a token.
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use crate::http::Query;
use crate::http::routes::get;
use crate::http::Routes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::components::index_json;
use crate::app::AppState;

pub fn routes() -> Routes<AppState> {
    Routes::new().route("/v2/storage", get(index))
}

#[derive(Deserialize)]
struct IndexQuery {
    exclude: Option<String>,
}

/// Services kbstack advertises: only those this node serves (clients that find a service here
/// call it; one that answers 404 is worse than one that is absent). Each is mounted under
/// `/<service id>` (`/queue/jobs`), the Storage API at `/v2/storage`; with a stack suffix the
/// host `<service id>.<suffix>` reaches the same mount (`net::hosts`). A service adds its id here
/// when it is served.
pub const SERVICE_IDS: &[&str] =
    &["queue", "encryption", "sync-actions", "scheduler", "query", "editor", "vault", "notification", "developer", "billing", "oauth", "import", "metastore", "data-science", "sandboxes", "ai", "templates", "stream", "syrup", "docker-runner", "gooddata-provisioning", "json-parser", "sqldep-analyzer", "graph"];

async fn index(State(state): State<AppState>, Query(q): Query<IndexQuery>) -> Response {
    let exclude: Vec<&str> = q.exclude.as_deref().unwrap_or("").split(',').map(str::trim).collect();
    let services: Vec<Value> =
        SERVICE_IDS.iter().map(|id| json!({"id": id, "url": service_url(&state, id)})).collect();
    let body = json!({
        "api": "storage",
        "version": "v2",
        "revision": env!("CARGO_PKG_VERSION"),
        "documentation": "http://docs.keboola.apiary.io/",
        "services": services,
        "features": ["kbstack", "disable-sync-import-data"],
        "urlTemplates": {
            "orchestrationJob": "/admin/projects/&&projectId&&/orchestrations/&&orchestrationId&&/jobs/&&jobId&&"
        },
    });
    let mut text = body.to_string();
    // The components (the bulk of the index) are spliced in as text serialized once per catalog.
    if !exclude.contains(&"components") {
        let components = index_json(&state, exclude.contains(&"componentDetails"));
        text.pop(); // the closing brace
        text.reserve(components.len() + 16);
        text.push_str(",\"components\":");
        text.push_str(&components);
        text.push('}');
    }
    ([(axum::http::header::CONTENT_TYPE, "application/json")], text).into_response()
}

pub fn service_url(state: &AppState, id: &str) -> String {
    state.urls.service(id)
}
