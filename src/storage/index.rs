//! `GET /v2/storage`: the index, answered without a token.
use axum::extract::State;
use crate::http::Query;
use crate::http::routes::get;
use axum::Json;
use crate::http::Routes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::components::{all, summary};
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
pub const SERVICE_IDS: &[&str] = &["queue", "encryption", "sync-actions", "scheduler", "query", "editor"];

async fn index(State(state): State<AppState>, Query(q): Query<IndexQuery>) -> Json<Value> {
    let exclude: Vec<&str> = q.exclude.as_deref().unwrap_or("").split(',').map(str::trim).collect();
    let services: Vec<Value> =
        SERVICE_IDS.iter().map(|id| json!({"id": id, "url": service_url(&state, id)})).collect();
    let mut body = json!({
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
    if !exclude.contains(&"components") {
        let short = exclude.contains(&"componentDetails");
        let components: Vec<Value> = all(&state)
            .iter()
            .map(|c| if short { summary(c) } else { c.clone() })
            .collect();
        body["components"] = Value::Array(components);
    }
    Json(body)
}

pub fn service_url(state: &AppState, id: &str) -> String {
    state.urls.service(id)
}
