//! The built-in component registry (what Keboola's Developer Portal provides to the Storage index)
//! and `GET /v2/storage/components/{id}`.
//!
//! `components_registry.json` lists each component compactly; `expand` fills in the fields every
//! definition carries so that clients decoding the full shape (Go `Component`) find them all.
use axum::extract::{Path, State};
use crate::http::routes::get;
use axum::{Extension, Json};
use crate::http::Routes;
use serde_json::{Map, Value, json};

use super::auth::Auth;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, BranchPrefix, Code};

pub fn routes() -> Routes<AppState> {
    Routes::new().route("/v2/storage/components/{id}", get(detail))
}

/// The Developer Portal's definitions this stack lists, in full shape, their `uri`s under `base`
/// (the stack's public URL). Built once at start and kept in the state.
pub fn build(base: &str) -> Vec<Value> {
    let base = base.trim_end_matches('/');
    let compact: Vec<Value> =
        serde_json::from_str(include_str!("components_registry.json")).expect("components_registry.json is valid JSON");
    compact.into_iter().map(|c| expand(c, base)).collect()
}

fn expand(c: Value, base: &str) -> Value {
    let id = c["id"].as_str().unwrap_or_default().to_string();
    full_shape(
        &c,
        Origin {
            definition: json!({
                "type": "aws-ecr",
                "uri": format!("147946154733.dkr.ecr.us-east-1.amazonaws.com/developer-portal-v2/{id}"),
                "tag": "latest",
            }),
            vendor: json!({"contact": ["Keboola", "support@keboola.com"]}),
            has_run: false,
            documentation_url: format!("https://components.keboola.com/components/{id}"),
            uri: Some(format!("{base}/v2/storage/components/{id}")),
        },
    )
}

/// What a definition's full shape says about where it comes from.
pub struct Origin {
    /// `data.definition` (image or kbstack runner).
    pub definition: Value,
    /// `data.vendor`.
    pub vendor: Value,
    pub has_run: bool,
    /// Default of `documentationUrl`.
    pub documentation_url: String,
    /// `uri` of the definition (listed only for the Developer Portal's components).
    pub uri: Option<String>,
}

/// The full definition every client decodes (Go `Component`), from compact fields: `id`, `type`,
/// `name`, `description`, `data` (merged over the defaults), schemas, flags, features…
pub fn full_shape(c: &Value, origin: Origin) -> Value {
    let id = c["id"].as_str().unwrap_or_default().to_string();
    let kind = c["type"].as_str().unwrap_or("other").to_string();
    let mut data = json!({
        "definition": origin.definition,
        "vendor": origin.vendor,
        "configuration_format": "json",
        "memory": "512m",
        "process_timeout": 21600,
        "forward_token": false,
        "forward_token_details": false,
        "default_bucket": false,
        "default_bucket_stage": "in",
        "synchronous_actions": [],
        "network": "bridge",
        "image_parameters": {},
        "logging": {"type": "standard", "gelf_server_type": "tcp", "no_application_errors": false},
        "staging_storage": {"input": "local", "output": "local"},
    });
    if let (Some(d), Some(overrides)) = (data.as_object_mut(), c.get("data").and_then(Value::as_object)) {
        for (k, v) in overrides {
            d.insert(k.clone(), v.clone());
        }
    }
    let get = |k: &str, default: Value| c.get(k).cloned().unwrap_or(default);
    let description = get("description", json!(""));
    let mut shape = json!({
        "id": id,
        "type": kind,
        "name": get("name", json!(id)),
        "description": description,
        "longDescription": get("longDescription", description.clone()),
        "version": 1,
        "complexity": null,
        "categories": get("categories", json!([])),
        "hasUI": false,
        "hasRun": origin.has_run,
        "ico32": null,
        "ico64": null,
        "ico128": null,
        "data": data,
        "flags": get("flags", json!([])),
        "configurationSchema": get("configurationSchema", json!({})),
        "configurationRowSchema": get("configurationRowSchema", json!({})),
        "emptyConfiguration": get("emptyConfiguration", json!({})),
        "emptyConfigurationRow": get("emptyConfigurationRow", json!({})),
        "uiOptions": {},
        "configurationDescription": null,
        "features": get("features", json!([])),
        "expiredOn": null,
        "documentationUrl": get("documentationUrl", json!(origin.documentation_url)),
        "dataTypesConfiguration": {},
        "processorConfiguration": {},
    });
    if let (Some(uri), Some(o)) = (origin.uri, shape.as_object_mut()) {
        let at = o.keys().position(|k| k == "documentationUrl").unwrap_or(o.len());
        o.shift_insert(at, "uri".into(), json!(uri));
    }
    shape
}

/// The `exclude=componentDetails` form of a component.
pub fn summary(c: &Value) -> Value {
    let mut out = Map::new();
    for key in ["id", "name", "type", "ico64", "ico128", "features", "flags", "description", "categories"] {
        out.insert(key.to_string(), c.get(key).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// Every component of this stack: the built-in registry, then the process components registered
/// in the data dir (`kbstack component register`).
pub fn all(state: &AppState) -> Vec<Value> {
    let mut out = state.components.portal().to_vec();
    for c in state.components.process().iter().map(|c| c.definition.clone()) {
        if !out.iter().any(|b| b["id"] == c["id"]) {
            out.push(c);
        }
    }
    out
}

/// The definition of a registered component, or `storage.components.notFound`.
pub fn find(state: &AppState, id: &str) -> ApiResult<Value> {
    all(state)
        .into_iter()
        .find(|c| c["id"] == id)
        .ok_or_else(|| ApiError::new(Code::ComponentNotFound, format!("Component \"{id}\" not found")))
}

/// Public without the branch prefix (APIB "without authentication"); the branch form needs a token.
async fn detail(
    State(state): State<AppState>,
    prefix: Option<Extension<BranchPrefix>>,
    auth: Result<Auth, ApiError>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if prefix.is_some() {
        auth?;
    }
    Ok(Json(find(&state, &id)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_the_components_clients_need() {
        let all = build("http://x");
        for id in ["keboola.runner-config-test", "keboola.orchestrator", "keboola.flow", "keboola.snowflake-transformation"] {
            let c = all.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id} missing"));
            assert_eq!(c["uri"], format!("http://x/v2/storage/components/{id}"));
            assert!(c["data"]["definition"]["uri"].as_str().unwrap().ends_with(id));
        }
        let mut ids: Vec<&str> = all.iter().map(|c| c["id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "component ids are unique");
        assert_eq!(summary(&all[0]).as_object().unwrap().len(), 9);
    }
}
