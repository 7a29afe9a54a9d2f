//! The component registry (what Keboola's Developer Portal provides to the Storage index) and
//! `GET /v2/storage/components/{id}`.
//!
//! `components/registry.json` lists the built-in catalog compactly (schemas too large to keep
//! inline live in `components/schemas/`); an operator may import a fuller catalog saved from the
//! Developer Portal or a Storage index (`kbstack component import-catalog`), which is kept in
//! `<data-dir>/component-catalog.json` and merged over the built-in one. `expand` fills in the
//! fields every definition carries so that clients decoding the full shape (Go `Component`) find
//! them all. Where each entry and schema comes from: `components/PROVENANCE.md`.
use std::path::{Path as FsPath, PathBuf};
use std::sync::OnceLock;

use axum::extract::{Path, State};
use crate::http::routes::get;
use axum::{Extension, Json};
use crate::http::Routes;
use serde_json::{Map, Value, json};

use super::auth::Auth;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, BranchPrefix, Code};

pub mod catalog;

pub fn routes() -> Routes<AppState> {
    Routes::new().route("/v2/storage/components/{id}", get(detail))
}

const SQL_TRANSFORMATION_SCHEMA: &str = include_str!("components/schemas/transformation-sql.json");

/// Schemas kept beside `registry.json` rather than inline: (component id, field, JSON document).
const SCHEMAS: &[(&str, &str, &str)] = &[
    ("keboola.flow", "configurationSchema", include_str!("components/schemas/keboola.flow.json")),
    ("keboola.orchestrator", "configurationSchema", include_str!("components/schemas/keboola.orchestrator.json")),
    ("keboola.snowflake-transformation", "configurationSchema", SQL_TRANSFORMATION_SCHEMA),
    ("keboola.duckdb-transformation", "configurationSchema", SQL_TRANSFORMATION_SCHEMA),
    ("keboola.google-bigquery-transformation", "configurationSchema", SQL_TRANSFORMATION_SCHEMA),
    ("keboola.python-transformation-v2", "configurationSchema", include_str!("components/schemas/transformation-python.json")),
];

/// The built-in catalog's compact entries with their schemas filled in (parsed once).
pub fn builtin_catalog() -> &'static [Value] {
    static CATALOG: OnceLock<Vec<Value>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut compact: Vec<Value> =
            serde_json::from_str(include_str!("components/registry.json")).expect("components/registry.json is valid JSON");
        for (id, field, text) in SCHEMAS {
            let schema: Value = serde_json::from_str(text).expect("component schemas are valid JSON");
            if let Some(entry) = compact.iter_mut().find(|c| c["id"] == *id) {
                entry[*field] = schema;
            }
        }
        compact
    })
}

/// The built-in compact entry of `id`, if the catalog lists it.
pub fn builtin_entry(id: &str) -> Option<&'static Value> {
    builtin_catalog().iter().find(|c| c["id"] == id)
}

/// Where an imported catalog is kept.
pub fn catalog_path(data_dir: &FsPath) -> PathBuf {
    data_dir.join("component-catalog.json")
}

/// The Developer Portal's definitions this stack lists, in full shape, their `uri`s under `base`
/// (the stack's public URL): the built-in catalog with an imported one merged over it (an
/// imported entry replaces the built-in entry of its id). Built once at start.
pub fn build(base: &str, data_dir: &FsPath) -> Vec<Value> {
    let base = base.trim_end_matches('/');
    let mut compact: Vec<Value> = builtin_catalog().to_vec();
    match std::fs::read_to_string(catalog_path(data_dir)) {
        Ok(text) => match serde_json::from_str::<Vec<Value>>(&text) {
            Ok(imported) => {
                let at: std::collections::HashMap<String, usize> =
                    compact.iter().enumerate().map(|(i, c)| (c["id"].as_str().unwrap_or_default().to_string(), i)).collect();
                for entry in imported {
                    match entry["id"].as_str().and_then(|id| at.get(id)) {
                        Some(&i) => compact[i] = entry,
                        None => compact.push(entry),
                    }
                }
            }
            Err(e) => tracing::warn!("ignoring {}: not a JSON array of components: {e}", catalog_path(data_dir).display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("ignoring {}: {e}", catalog_path(data_dir).display()),
    }
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
        "version": get("version", json!(1)),
        "complexity": get("complexity", Value::Null),
        "categories": get("categories", json!([])),
        "hasUI": get("hasUI", json!(false)),
        "hasRun": origin.has_run,
        "ico32": get("ico32", Value::Null),
        "ico64": get("ico64", Value::Null),
        "ico128": get("ico128", Value::Null),
        "data": data,
        "flags": get("flags", json!([])),
        "configurationSchema": get("configurationSchema", json!({})),
        "configurationRowSchema": get("configurationRowSchema", json!({})),
        "emptyConfiguration": get("emptyConfiguration", json!({})),
        "emptyConfigurationRow": get("emptyConfigurationRow", json!({})),
        "uiOptions": get("uiOptions", json!({})),
        "configurationDescription": get("configurationDescription", Value::Null),
        "features": get("features", json!([])),
        "expiredOn": get("expiredOn", Value::Null),
        "documentationUrl": get("documentationUrl", json!(origin.documentation_url)),
        "dataTypesConfiguration": get("dataTypesConfiguration", json!({})),
        "processorConfiguration": get("processorConfiguration", json!({})),
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

/// Every component of this stack, in listing order: the catalog (an entry replaced by the
/// Developer Portal's published app of its id), then the process components registered in the
/// data dir (`kbstack component register`) that the catalog does not list, then the published
/// apps the catalog does not list.
pub fn for_each(state: &AppState, mut f: impl FnMut(&Value)) {
    let registry = &state.components;
    let developer = crate::runner::registry::published_apps(state);
    let process = registry.process();
    let published = |id: &Value| developer.listed.iter().find(|d| &d["id"] == id).filter(|_| !process.iter().any(|p| *id == p.id.as_str()));
    for c in registry.portal() {
        f(published(&c["id"]).unwrap_or(c));
    }
    for c in process.iter().filter(|c| registry.portal_entry(&c.id).is_none()) {
        f(&c.definition);
    }
    for d in developer.listed.iter().filter(|d| registry.portal_entry(d["id"].as_str().unwrap_or_default()).is_none()) {
        if !process.iter().any(|p| d["id"] == p.id.as_str()) {
            f(d);
        }
    }
}

/// The definition of a registered component, or `storage.components.notFound`.
pub fn find(state: &AppState, id: &str) -> ApiResult<Value> {
    let registry = &state.components;
    crate::runner::registry::developer_entry(state, id)
        .or_else(|| registry.portal_entry(id).cloned())
        .or_else(|| registry.process().iter().find(|c| c.id == id).map(|c| c.definition.clone()))
        .ok_or_else(|| ApiError::new(Code::ComponentNotFound, format!("Component \"{id}\" not found")))
}

/// The index's `components` array as JSON text (`short`: the `componentDetails`-excluded form).
/// The catalog's part is serialized once (the index is requested often and the catalog may be
/// large) unless a published app replaces one of its entries; the few registered process
/// components and published apps are serialized each time.
pub fn index_json(state: &AppState, short: bool) -> String {
    let registry = &state.components;
    let developer = crate::runner::registry::published_apps(state);
    let overrides_catalog = developer.listed.iter().any(|d| registry.portal_entry(d["id"].as_str().unwrap_or_default()).is_some());
    if overrides_catalog {
        let mut all = Vec::new();
        for_each(state, |c| all.push(c.clone()));
        return format!("[{}]", serialize_members(&all, short));
    }
    let catalog = registry.catalog_json(short);
    let mut out = String::with_capacity(catalog.len() + 2);
    out.push('[');
    out.push_str(catalog);
    let process = registry.process();
    let extra = process
        .iter()
        .filter(|c| registry.portal_entry(&c.id).is_none())
        .map(|c| &c.definition)
        .chain(developer.listed.iter().filter(|d| !process.iter().any(|p| d["id"] == p.id.as_str())));
    for c in extra {
        if out.len() > 1 {
            out.push(',');
        }
        let shape = if short { summary(c) } else { c.clone() };
        out.push_str(&serde_json::to_string(&shape).unwrap_or_else(|_| "null".into()));
    }
    out.push(']');
    out
}

/// The catalog's definitions as the comma-separated members of a JSON array.
pub fn serialize_members(definitions: &[Value], short: bool) -> String {
    let members: Vec<String> = definitions
        .iter()
        .map(|c| serde_json::to_string(&if short { summary(c) } else { c.clone() }).unwrap_or_else(|_| "null".into()))
        .collect();
    members.join(",")
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
        let all = build("http://x", std::path::Path::new("/nonexistent"));
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
