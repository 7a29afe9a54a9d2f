//! Configuration rows (`…/configs/{c}/rows…`). Rows live inside the configuration document;
//! each row change is a row version and a configuration version.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crate::http::routes::{get, post, put};
use axum::Json;
use crate::http::Routes;
use serde_json::{Map, Value, json};

use super::{
    change_description, commit_version, generate_id, key, load_active, load_any, mutate, object_param, paging, rows_of, save, valid_id,
    with_secrets_encrypted,
};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};
use crate::meta::configurations::{ConfigurationStore, ConfigurationTx};
use crate::storage::auth::Auth;
use crate::storage::wire::row as wire;

const ROWS: &str = "/v2/storage/components/{id}/configs/{config}/rows";
const ROW: &str = "/v2/storage/components/{id}/configs/{config}/rows/{row}";

pub(super) fn routes() -> Routes<AppState> {
    let at = |tail: &str| format!("{ROW}{tail}");
    Routes::new()
        .route(ROWS, get(list).post(create))
        .route(ROW, get(detail).put(update).delete(remove))
        .route(&at("/state"), put(put_state))
        .route(&at("/versions"), get(versions))
        .route(&at("/versions/{version}"), get(version_detail))
        .route(&at("/versions/{version}/rollback"), post(rollback))
        .route(&at("/versions/{version}/create"), post(copy))
}

/// What a row version records besides its metadata (state is runtime data, not versioned content).
pub(super) const CONTENT: [&str; 4] = ["configuration", "name", "description", "isDisabled"];

/// A row in wire order, with its content taken from `content` (a request or an old version).
pub(super) fn new_row(auth: &Auth, id: &str, content: &Value, state: Value) -> Value {
    json!({
        "id": id,
        "configuration": content.get("configuration").cloned().unwrap_or_else(|| json!({})),
        "state": state,
        "name": content.get("name").cloned().unwrap_or_else(|| json!("")),
        "description": content.get("description").cloned().unwrap_or_else(|| json!("")),
        "isDisabled": content.get("isDisabled").cloned().unwrap_or(json!(false)),
        "version": 0,
        "created": now_iso(),
        "creatorToken": auth.token.creator_json(),
        "changeDescription": "",
        "versionIdentifier": "",
    })
}

pub(super) fn without_state(row: &Value) -> Value {
    let mut row = row.clone();
    if let Some(o) = row.as_object_mut() {
        o.shift_remove("state");
    }
    row
}

/// Put `state` back in its wire position (after `configuration`).
pub(super) fn with_state(mut row: Value, state: Value) -> Value {
    if let Some(o) = row.as_object_mut() {
        let at = o.keys().position(|k| k == "configuration").map_or(o.len(), |i| i + 1);
        o.shift_insert(at, "state".into(), state);
    }
    row
}

pub(super) fn same_content(a: &Value, b: &Value) -> bool {
    CONTENT.iter().all(|f| a[*f] == b[*f])
}

/// Record a new version of `row` (numbered after its whole history) with who and why.
pub(super) fn commit_row_version(tx: &dyn ConfigurationTx, config_id: &str, auth: &Auth, row: &mut Value, change: &str) -> ApiResult<()> {
    let row_id = row["id"].as_str().unwrap_or_default().to_string();
    let version = tx.last_row_version(config_id, &row_id)? + 1;
    let identifier = super::version_identifier();
    row["version"] = json!(version);
    row["changeDescription"] = json!(change);
    row["versionIdentifier"] = json!(identifier);
    let mut snapshot = json!({
        "version": version,
        "created": now_iso(),
        "creatorToken": auth.token.creator_json(),
        "changeDescription": change,
        "versionIdentifier": identifier,
        "state": row["state"],
    });
    for field in CONTENT {
        snapshot[field] = row[field].clone();
    }
    Ok(tx.insert_row_version(config_id, &row_id, version, &snapshot)?)
}

/// The state a deleted row had when last versioned (restored with it on rollback).
pub(super) fn last_state(tx: &dyn ConfigurationTx, config_id: &str, row_id: &str) -> ApiResult<Value> {
    let latest = tx.row_versions(config_id, row_id, 1, 0)?;
    Ok(latest.first().and_then(|v| v.snapshot.get("state").cloned()).unwrap_or_else(|| json!({})))
}

fn load_row_version(tx: &dyn ConfigurationTx, config_id: &str, row_id: &str, version: &str) -> ApiResult<Value> {
    let missing = || ApiError::new(Code::ConfigurationVersionNotFound, format!("Row {row_id} version {version} not found"));
    let v: i64 = version.parse().map_err(|_| missing())?;
    Ok(tx.row_version(config_id, row_id, v)?.ok_or_else(missing)?.snapshot)
}

fn row_not_found(row_id: &str) -> ApiError {
    ApiError::new(Code::RowNotFound, format!("Row {row_id} not found"))
}

fn row_index(body: &Value, row_id: &str) -> ApiResult<usize> {
    rows_of(body).iter().position(|r| r["id"] == row_id).ok_or_else(|| row_not_found(row_id))
}

/// `rowsSortOrder` must name every row exactly once (or be empty: creation order).
pub(super) fn apply_sort_order(body: &mut Value, order: Vec<String>) -> ApiResult<()> {
    let rows = rows_of(body);
    if !order.is_empty() {
        let mut sorted = Vec::new();
        for id in &order {
            match rows.iter().find(|r| r["id"] == id.as_str()) {
                Some(r) if !sorted.iter().any(|s: &Value| s["id"] == id.as_str()) => sorted.push(r.clone()),
                _ => return Err(ApiError::validation(format!("Invalid request:\n - rowsSortOrder: Row \"{id}\" is unknown or repeated."))),
            }
        }
        if sorted.len() != rows.len() {
            return Err(ApiError::validation("Invalid request:\n - rowsSortOrder: The order must contain all row ids."));
        }
        body["rows"] = Value::Array(sorted);
    }
    body["rowsSortOrder"] = json!(order);
    Ok(())
}

/// Content fields present in the request (configuration checked to be an object, its `#`
/// values encrypted as the configuration's are).
fn content_params(state: &AppState, auth: &Auth, component: &str, p: &Params) -> ApiResult<Map<String, Value>> {
    let mut content = Map::new();
    if let Some(c) = object_param(p, "configuration")? {
        content.insert("configuration".into(), with_secrets_encrypted(state, auth, component, c)?);
    }
    for field in ["name", "description"] {
        if let Some(v) = p.str(field) {
            content.insert(field.into(), json!(v));
        }
    }
    if let Some(d) = p.bool("isDisabled")? {
        content.insert("isDisabled".into(), json!(d));
    }
    Ok(content)
}

async fn list(State(state): State<AppState>, auth: Auth, Path((component, id)): Path<(String, String)>) -> ApiResult<Json<Vec<wire::Row>>> {
    let k = key(&state, &auth, &component)?;
    let body = state.meta.configuration_tx(&k, |tx| load_active(tx, &id))?;
    Ok(Json(rows_of(&body).into_iter().map(wire::Row::of).collect::<ApiResult<_>>()?))
}

async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id)): Path<(String, String)>,
    p: Params,
) -> ApiResult<(StatusCode, Json<wire::Row>)> {
    let k = key(&state, &auth, &component)?;
    let content = Value::Object(content_params(&state, &auth, &component, &p)?);
    let row_state = object_param(&p, "state")?.unwrap_or_else(|| json!({}));
    let given = p.str("rowId").filter(|s| !s.is_empty());
    if given.as_deref().is_some_and(|r| !valid_id(r)) {
        return Err(ApiError::validation("Invalid request:\n - rowId: may contain only letters, digits, dashes, underscores and dots."));
    }
    let row = mutate(&state, &k, &id, |tx, body| {
        let existing = rows_of(body);
        let taken = |r: &str| existing.iter().any(|x| x["id"] == r);
        let row_id = match given {
            Some(r) if taken(&r) => {
                return Err(ApiError::new(Code::RowAlreadyExists, format!("Row {r} already exists in configuration {id}")));
            }
            Some(r) => r,
            None => generate_id(tx, |r| Ok(taken(r)))?,
        };
        // A reused id (of a deleted row) starts a fresh history.
        tx.delete_row_versions(&id, &row_id)?;
        let change = change_description(&p, || format!("Row {row_id} added"));
        let mut row = new_row(&auth, &row_id, &content, row_state);
        commit_row_version(tx, &id, &auth, &mut row, &change)?;
        if let Some(rows) = body["rows"].as_array_mut() {
            rows.push(row.clone());
        }
        if let Some(order) = body["rowsSortOrder"].as_array_mut().filter(|o| !o.is_empty()) {
            order.push(json!(row_id));
        }
        commit_version(tx, &auth, body, &change)?;
        Ok(row)
    })?;
    Ok((StatusCode::CREATED, Json(wire::Row::of(row)?)))
}

async fn detail(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, row_id)): Path<(String, String, String)>,
) -> ApiResult<Json<wire::Row>> {
    let k = key(&state, &auth, &component)?;
    let body = state.meta.configuration_tx(&k, |tx| load_active(tx, &id))?;
    Ok(Json(wire::Row::of(rows_of(&body).swap_remove(row_index(&body, &row_id)?))?))
}

async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, row_id)): Path<(String, String, String)>,
    p: Params,
) -> ApiResult<Json<wire::Row>> {
    let k = key(&state, &auth, &component)?;
    let content = content_params(&state, &auth, &component, &p)?;
    let row_state = object_param(&p, "state")?;
    let change = change_description(&p, || format!("Row {row_id} changed"));
    let row = mutate(&state, &k, &id, |tx, body| {
        let i = row_index(body, &row_id)?;
        let row = &mut body["rows"][i];
        for (field, v) in content {
            row[field.as_str()] = v;
        }
        if let Some(s) = row_state {
            row["state"] = s;
        }
        commit_row_version(tx, &id, &auth, row, &change)?;
        let row = row.clone();
        commit_version(tx, &auth, body, &change)?;
        Ok(row)
    })?;
    Ok(Json(wire::Row::of(row)?))
}

async fn put_state(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, row_id)): Path<(String, String, String)>,
    p: Params,
) -> ApiResult<Json<wire::Row>> {
    let k = key(&state, &auth, &component)?;
    let new_state = object_param(&p, "state")?
        .ok_or_else(|| ApiError::validation("Invalid request:\n - state: This value should not be blank."))?;
    let row = mutate(&state, &k, &id, |_, body| {
        let i = row_index(body, &row_id)?;
        body["rows"][i]["state"] = new_state;
        Ok(body["rows"][i].clone())
    })?;
    Ok(Json(wire::Row::of(row)?))
}

/// Permanent; the row's versions stay so that a configuration rollback can bring it back.
async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, row_id)): Path<(String, String, String)>,
    p: Params,
) -> ApiResult<StatusCode> {
    let k = key(&state, &auth, &component)?;
    let change = change_description(&p, || format!("Row {row_id} deleted"));
    mutate(&state, &k, &id, |tx, body| {
        let i = row_index(body, &row_id)?;
        if let Some(rows) = body["rows"].as_array_mut() {
            rows.remove(i);
        }
        if let Some(order) = body["rowsSortOrder"].as_array_mut() {
            order.retain(|r| *r != row_id.as_str());
        }
        commit_version(tx, &auth, body, &change)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn versions(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, row_id)): Path<(String, String, String)>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let k = key(&state, &auth, &component)?;
    let include = if p.has("include") { p.csv_list("include") } else { vec!["configuration".into()] };
    let (limit, offset) = paging(&p)?;
    let versions = state.meta.configuration_tx(&k, |tx| {
        let body = load_any(tx, &id)?;
        let versions = tx.row_versions(&id, &row_id, limit, offset)?;
        if versions.is_empty() && row_index(&body, &row_id).is_err() {
            return Err(row_not_found(&row_id));
        }
        Ok(versions)
    })?;
    let listed = versions
        .into_iter()
        .map(|v| {
            let s = v.snapshot;
            let mut o = Map::new();
            for field in ["version", "name", "description", "isDisabled", "created", "creatorToken", "changeDescription", "versionIdentifier"] {
                o.insert(field.into(), s[field].clone());
            }
            if include.iter().any(|i| i == "configuration") {
                o.insert("configuration".into(), s["configuration"].clone());
            }
            Value::Object(o)
        })
        .collect();
    Ok(Json(Value::Array(listed)))
}

async fn version_detail(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, row_id, version)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    let k = key(&state, &auth, &component)?;
    let snapshot = state.meta.configuration_tx(&k, |tx| {
        load_any(tx, &id)?;
        load_row_version(tx, &id, &row_id, &version)
    })?;
    Ok(Json(without_state(&snapshot)))
}

/// A new row version with the old content; the state is kept.
async fn rollback(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, row_id, version)): Path<(String, String, String, String)>,
    p: Params,
) -> ApiResult<(StatusCode, Json<wire::Row>)> {
    let k = key(&state, &auth, &component)?;
    let change = change_description(&p, || format!("Rollback to version {version}"));
    let row = mutate(&state, &k, &id, |tx, body| {
        let i = row_index(body, &row_id)?;
        let snapshot = load_row_version(tx, &id, &row_id, &version)?;
        let row = &mut body["rows"][i];
        for field in CONTENT {
            row[field] = snapshot[field].clone();
        }
        commit_row_version(tx, &id, &auth, row, &change)?;
        let row = row.clone();
        commit_version(tx, &auth, body, &change)?;
        Ok(row)
    })?;
    Ok((StatusCode::CREATED, Json(wire::Row::of(row)?)))
}

/// A new row (new id, empty state) from a row version, in this or another configuration.
async fn copy(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, row_id, version)): Path<(String, String, String, String)>,
    p: Params,
) -> ApiResult<(StatusCode, Json<wire::Row>)> {
    let k = key(&state, &auth, &component)?;
    let target_id = p.str("targetConfigId").filter(|s| !s.is_empty()).unwrap_or_else(|| id.clone());
    let row = state.meta.configuration_tx(&k, |tx| {
        load_active(tx, &id)?;
        let snapshot = load_row_version(tx, &id, &row_id, &version)?;
        let mut target = load_active(tx, &target_id)?;
        let change = change_description(&p, || format!("Row {row_id} version {version} copied from configuration {id}"));
        let existing = rows_of(&target);
        let new_id = generate_id(tx, |r| Ok(existing.iter().any(|x| x["id"] == r)))?;
        let mut row = new_row(&auth, &new_id, &snapshot, json!({}));
        commit_row_version(tx, &target_id, &auth, &mut row, &change)?;
        if let Some(rows) = target["rows"].as_array_mut() {
            rows.push(row.clone());
        }
        if let Some(order) = target["rowsSortOrder"].as_array_mut().filter(|o| !o.is_empty()) {
            order.push(json!(new_id));
        }
        commit_version(tx, &auth, &mut target, &change)?;
        save(tx, &target)?;
        Ok::<_, ApiError>(row)
    })?;
    Ok((StatusCode::CREATED, Json(wire::Row::of(row)?)))
}
