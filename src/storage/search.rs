//! `GET global-search` (notes: storage-api.md §15; APIB "Global search"; keboola-mcp-server's
//! `global_search`): names of buckets, tables, configurations and configuration rows that
//! contain the query, in the token's project, with `types`, `projectIds`, `branchTypes`,
//! `branchIds`, `limit` and `offset`. Configurations are typed by their component: flows
//! (`keboola.orchestrator`, `keboola.flow`), transformations (components of type
//! `transformation`), workspaces (`keboola.sandboxes`), shared code (`keboola.shared-code`).
use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde_json::{Value, json};

use super::auth::Auth;
use super::sharing::{ORGANIZATION_ID, project_ref};
use super::wire::search::{GlobalSearch, SearchItem};
use crate::app::AppState;
use crate::http::routes::get;
use crate::http::{ApiError, ApiResult, Params, Routes};
use crate::meta::search::{BranchKind, SearchHit, SearchKind, SearchQuery};

pub fn routes() -> Routes<AppState> {
    Routes::new().route("/v2/storage/global-search", get(search))
}

const TYPES: &[&str] =
    &["flow", "bucket", "table", "transformation", "configuration", "configuration-row", "workspace", "shared-code", "rows", "state"];
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

/// The API type of a configuration of `component_id`.
fn configuration_type(state: &AppState, component_id: &str) -> &'static str {
    match component_id {
        "keboola.orchestrator" | "keboola.flow" => "flow",
        "keboola.sandboxes" => "workspace",
        "keboola.shared-code" => "shared-code",
        _ if super::components::find(state, component_id).is_ok_and(|c| c["type"] == "transformation") => "transformation",
        _ => "configuration",
    }
}

fn component_name(state: &AppState, component_id: &str) -> String {
    super::components::find(state, component_id)
        .ok()
        .and_then(|c| c["name"].as_str().map(str::to_string))
        .unwrap_or_else(|| component_id.to_string())
}

fn invalid(key: &str, value: &str, allowed: &str) -> ApiError {
    ApiError::validation(format!("Invalid request:\n - {key}: \"{value}\" is not valid; allowed are {allowed}."))
}

fn ids(p: &Params, key: &str) -> ApiResult<Vec<i64>> {
    p.list(key)
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| v.trim().parse::<i64>().map_err(|_| ApiError::validation(format!("Invalid request:\n - {key}: \"{v}\" is not an integer."))))
        .collect()
}

async fn search(State(state): State<AppState>, auth: Auth, uri: Uri) -> ApiResult<Json<GlobalSearch>> {
    let p = Params::from_query(uri.query())?;
    let text = p.required_str("query")?;
    let limit = p.int("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::validation(format!("Invalid request:\n - limit: This value should be between 1 and {MAX_LIMIT}.")));
    }
    let offset = p.int("offset")?.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::validation("Invalid request:\n - offset: This value should be greater than or equal to 0."));
    }
    let types: Vec<String> = p.list("types").into_iter().filter(|t| !t.is_empty()).collect();
    if let Some(bad) = types.iter().find(|t| !TYPES.contains(&t.as_str())) {
        return Err(invalid("types", bad, &TYPES.join(", ")));
    }
    let branch_kinds: Vec<String> = p.list("branchTypes").into_iter().filter(|t| !t.is_empty()).collect();
    let branch_kind = match (branch_kinds.iter().any(|k| k == "production"), branch_kinds.iter().any(|k| k == "development")) {
        _ if branch_kinds.iter().any(|k| k != "production" && k != "development") => {
            let bad = branch_kinds.iter().find(|k| *k != "production" && *k != "development").cloned().unwrap_or_default();
            return Err(invalid("branchTypes", &bad, "production, development"));
        }
        (true, false) => BranchKind::Default,
        (false, true) => BranchKind::Development,
        _ => BranchKind::Any,
    };
    // A Storage token reaches its own project only: other projects asked for find nothing.
    let asked = ids(&p, "projectIds")?;
    let project_ids = if asked.is_empty() || asked.contains(&auth.project_id) { vec![auth.project_id] } else { Vec::new() };
    let branch_ids = ids(&p, "branchIds")?;

    let wanted = |t: &str| types.is_empty() || types.iter().any(|x| x == t || (x == "rows" && t == "configuration-row"));
    let mut kinds = Vec::new();
    if wanted("bucket") {
        kinds.push(SearchKind::Bucket);
    }
    if wanted("table") {
        kinds.push(SearchKind::Table);
    }
    if ["flow", "transformation", "configuration", "workspace", "shared-code"].iter().any(|t| wanted(t)) {
        kinds.push(SearchKind::Configuration);
    }
    if wanted("configuration-row") {
        kinds.push(SearchKind::ConfigurationRow);
    }
    let hits = if kinds.is_empty() {
        Vec::new()
    } else {
        state.meta.global_search(&SearchQuery { text, project_ids, branch_ids, branch_kind, kinds })?
    };

    // Typed, and only what the token may see.
    let typed: Vec<(&'static str, SearchHit)> = hits
        .into_iter()
        .filter_map(|h| {
            let kind = match h.kind {
                SearchKind::Bucket => "bucket",
                SearchKind::Table => "table",
                SearchKind::Configuration => configuration_type(&state, h.component_id.as_deref().unwrap_or_default()),
                SearchKind::ConfigurationRow => "configuration-row",
            };
            let visible = match h.kind {
                SearchKind::Bucket => auth.bucket_level(&h.id).is_some(),
                SearchKind::Table => auth.bucket_level(h.parent_id.as_deref().unwrap_or_default()).is_some(),
                _ => auth.can_access_component(h.component_id.as_deref().unwrap_or_default()),
            };
            (visible && wanted(kind)).then_some((kind, h))
        })
        .collect();

    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_project: BTreeMap<String, String> = BTreeMap::new();
    let mut project_names: HashMap<i64, String> = HashMap::new();
    for (kind, h) in &typed {
        *by_type.entry((*kind).to_string()).or_default() += 1;
        let name = project_names.entry(h.project_id).or_insert_with(|| project_ref(&state, h.project_id).name).clone();
        by_project.insert(h.project_id.to_string(), name);
    }
    by_type.insert("total".into(), typed.len());

    let mut branches: HashMap<(i64, i64), Value> = HashMap::new();
    let mut components: HashMap<String, String> = HashMap::new();
    let mut items = Vec::new();
    let all = typed.len();
    for (kind, h) in typed.into_iter().skip(offset as usize).take(limit as usize) {
        let project_name = project_names.get(&h.project_id).cloned().unwrap_or_default();
        let branch = branches
            .entry((h.project_id, h.branch_id))
            .or_insert_with(|| {
                let b = state.meta.branch(h.project_id.into(), h.branch_id.into()).ok().flatten();
                let (name, is_default) = b.map(|b| (b.name, b.is_default)).unwrap_or_default();
                json!({"id": h.branch_id, "name": name, "isDefault": is_default, "isNative": is_default})
            })
            .clone();
        let mut full_path = json!({"project": {"id": h.project_id, "name": project_name}, "branch": branch});
        match h.kind {
            SearchKind::Bucket => {}
            SearchKind::Table => full_path["bucket"] = json!({"id": h.parent_id, "name": h.parent_name}),
            SearchKind::Configuration | SearchKind::ConfigurationRow => {
                let component = h.component_id.clone().unwrap_or_default();
                let name = components.entry(component.clone()).or_insert_with(|| component_name(&state, &component)).clone();
                full_path["component"] = json!({"id": component, "name": name});
                if h.kind == SearchKind::ConfigurationRow {
                    full_path["configuration"] = json!({"id": h.parent_id, "name": h.parent_name});
                }
            }
        }
        items.push(SearchItem {
            id: h.id,
            kind: kind.to_string(),
            name: h.name,
            full_path,
            component_id: h.component_id,
            organization_id: ORGANIZATION_ID,
            project_id: h.project_id,
            project_name,
            created: h.created,
        });
    }
    Ok(Json(GlobalSearch { all, items, by_type, by_project }))
}
