//! Component configurations (`/v2/storage/components/{c}/configs…`): CRUD, trash, versions,
//! rollback and copy, metadata, search, and the `GET /v2/storage/components` listing. Rows live
//! in `rows`.
//!
//! A configuration is one JSON document (`configurations.body`, rows embedded, in wire shape);
//! every change except the state endpoints bumps `version` and stores a snapshot of the document
//! (without state) in `configuration_versions`. Rows are versioned separately as well, in
//! `configuration_row_versions`.
mod rows;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use rusqlite::{Connection, OptionalExtension};
use serde_json::{Map, Value, json};

use super::auth::Auth;
use super::branches::{metadata_items, without_provider};
use super::metadata::{self, Object};
use super::{components, tickets};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};
use crate::meta::json_col;

const CONFIG: &str = "/v2/storage/components/{id}/configs/{config}";

pub fn routes() -> Router<AppState> {
    let at = |tail: &str| format!("{CONFIG}{tail}");
    Router::new()
        .route("/v2/storage/components", get(list_components))
        .route("/v2/storage/components/{id}/configs", get(list).post(create))
        .route(CONFIG, get(detail).put(update).delete(remove))
        .route(&at("/state"), put(put_state))
        .route(&at("/restore"), post(restore))
        .route(&at("/versions"), get(versions))
        .route(&at("/versions/{version}"), get(version_detail))
        .route(&at("/versions/{version}/rollback"), post(rollback))
        .route(&at("/versions/{version}/create"), post(copy_version))
        .route(&at("/metadata"), get(list_metadata).post(post_metadata))
        .route(&at("/metadata/{mid}"), delete(delete_metadata))
        .route("/v2/storage/search/component-configurations", get(search))
        .merge(rows::routes())
}

/// The configurations of one component in the request's project and branch.
#[derive(Clone, Debug)]
struct Key {
    project: i64,
    branch: i64,
    component: String,
}

/// A registered component (404 otherwise) the token may manage (403 otherwise).
fn key(state: &AppState, auth: &Auth, component: &str) -> ApiResult<Key> {
    components::find(state, component)?;
    auth.require_component(component)?;
    Ok(Key { project: auth.project_id, branch: auth.branch_id, component: component.to_string() })
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::ConfigurationNotFound, format!("Configuration {id} not found"))
}

/// The document and whether it is in the trash.
fn load(c: &Connection, k: &Key, id: &str) -> rusqlite::Result<Option<Value>> {
    c.query_row(
        "SELECT body FROM configurations WHERE project_id = ?1 AND branch_id = ?2 AND component_id = ?3 AND id = ?4",
        rusqlite::params![k.project, k.branch, k.component, id],
        |r| Ok(json_col(r.get(0)?)),
    )
    .optional()
}

fn load_any(c: &Connection, k: &Key, id: &str) -> ApiResult<Value> {
    load(c, k, id)?.ok_or_else(|| not_found(id))
}

/// A configuration that is not in the trash (deleted ones answer 404 like Keboola).
fn load_active(c: &Connection, k: &Key, id: &str) -> ApiResult<Value> {
    match load(c, k, id)? {
        Some(body) if body["isDeleted"] != true => Ok(body),
        _ => Err(not_found(id)),
    }
}

/// A new configuration. An id held only by a configuration in the trash is reused (the trashed one
/// is purged): the client test suites re-create fixed ids that their teardown merely deleted.
fn insert(c: &Connection, k: &Key, body: &Value) -> ApiResult<()> {
    let id = body["id"].as_str().unwrap_or_default();
    if let Some(existing) = load(c, k, id)? {
        if existing["isDeleted"] == true {
            purge(c, k, id)?;
            return insert(c, k, body);
        }
        return Err(ApiError::new(
            Code::ConfigurationAlreadyExists,
            format!("Configuration already exists: component \"{}\", id \"{id}\"", k.component),
        ));
    }
    c.execute(
        "INSERT INTO configurations (project_id, branch_id, component_id, id, body, is_deleted) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
        rusqlite::params![k.project, k.branch, k.component, id, body.to_string()],
    )?;
    Ok(())
}

/// UPDATE rather than REPLACE keeps the rowid, i.e. the creation order listings use.
fn save(c: &Connection, k: &Key, body: &Value) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE configurations SET body = ?1, is_deleted = ?2 \
         WHERE project_id = ?3 AND branch_id = ?4 AND component_id = ?5 AND id = ?6",
        rusqlite::params![
            body.to_string(),
            body["isDeleted"] == true,
            k.project,
            k.branch,
            k.component,
            body["id"].as_str().unwrap_or_default()
        ],
    )?;
    Ok(())
}

/// Load an active configuration in a transaction, let `f` change it, save it.
fn mutate<T>(
    state: &AppState,
    k: &Key,
    id: &str,
    f: impl FnOnce(&Connection, &mut Value) -> ApiResult<T>,
) -> ApiResult<T> {
    state.meta.tx(|tx| {
        let mut body = load_active(tx, k, id)?;
        let out = f(tx, &mut body)?;
        save(tx, k, &body)?;
        Ok(out)
    })
}

/// A ULID-like version identifier: 48 bits of milliseconds and 80 random bits in Crockford base32.
fn version_identifier() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let millis = chrono::Utc::now().timestamp_millis().max(0) as u128;
    let random = u128::from_be_bytes(rand::random::<[u8; 16]>()) & ((1u128 << 80) - 1);
    let value = (millis << 80) | random;
    (0..26).map(|i| ALPHABET[((value >> (125 - 5 * i)) & 31) as usize] as char).collect()
}

/// Bump the version, record who and why, and store the snapshot of the new version.
fn commit_version(c: &Connection, k: &Key, auth: &Auth, body: &mut Value, change: &str) -> ApiResult<()> {
    let version = body["version"].as_i64().unwrap_or(0) + 1;
    let created = now_iso();
    let identifier = version_identifier();
    let creator = auth.token.creator_json();
    body["version"] = json!(version);
    body["changeDescription"] = json!(change);
    body["currentVersion"] = json!({
        "created": created,
        "creatorToken": creator,
        "changeDescription": change,
        "versionIdentifier": identifier,
    });
    let rows: Vec<Value> = body["rows"].as_array().map(|r| r.iter().map(rows::without_state).collect()).unwrap_or_default();
    let snapshot = json!({
        "version": version,
        "created": created,
        "versionIdentifier": identifier,
        "creatorToken": creator,
        "changeDescription": change,
        "isDeleted": body["isDeleted"],
        "name": body["name"],
        "description": body["description"],
        "isDisabled": body["isDisabled"],
        "configuration": body["configuration"],
        "rowsSortOrder": body["rowsSortOrder"],
        "rows": rows,
    });
    c.execute(
        "INSERT OR REPLACE INTO configuration_versions (project_id, branch_id, component_id, config_id, version, snapshot) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![k.project, k.branch, k.component, body["id"].as_str().unwrap_or_default(), version, snapshot.to_string()],
    )?;
    Ok(())
}

fn load_version(c: &Connection, k: &Key, id: &str, version: &str) -> ApiResult<Value> {
    let missing = || ApiError::new(Code::ConfigurationVersionNotFound, format!("Version {version} not found"));
    let v: i64 = version.parse().map_err(|_| missing())?;
    c.query_row(
        "SELECT snapshot FROM configuration_versions \
         WHERE project_id = ?1 AND branch_id = ?2 AND component_id = ?3 AND config_id = ?4 AND version = ?5",
        rusqlite::params![k.project, k.branch, k.component, id, v],
        |r| Ok(json_col(r.get(0)?)),
    )
    .optional()?
    .ok_or_else(missing)
}

/// Configuration and row ids: what fits in a URL segment without escaping.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A fresh numeric id from the project-wide sequence (Keboola ids look like `"236606822"`).
fn generate_id(c: &Connection, taken: impl Fn(&str) -> rusqlite::Result<bool>) -> rusqlite::Result<String> {
    loop {
        let id = tickets::next_sequence(c, "configurations")?.to_string();
        if !taken(&id)? {
            return Ok(id);
        }
    }
}

/// `configuration` / `state`: an object, or a string holding one; PHP's empty `[]` means `{}`.
fn object_param(p: &Params, key: &str) -> ApiResult<Option<Value>> {
    match p.json_value(key)? {
        None => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(Value::Array(a)) if a.is_empty() => Ok(Some(json!({}))),
        Some(_) => Err(ApiError::validation(format!("Invalid request:\n - {key}: This value should be an object."))),
    }
}

fn change_description(p: &Params, default: impl FnOnce() -> String) -> String {
    p.str("changeDescription").filter(|s| !s.is_empty()).unwrap_or_else(default)
}

fn rows_of(body: &Value) -> Vec<Value> {
    body["rows"].as_array().cloned().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Listings

/// `GET /v2/storage/components`: components having configurations in the branch, each with them.
async fn list_components(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<Json<Value>> {
    let include = p.csv_list("include");
    let has = |what: &str| include.iter().any(|i| i == what);
    let component_type = p.str("componentType").filter(|s| !s.is_empty());
    let deleted = p.flag("isDeleted")?;
    let configs: Vec<(String, Value)> = state.meta.with(|c| {
        let mut st = c.prepare(
            "SELECT component_id, body FROM configurations WHERE project_id = ?1 AND branch_id = ?2 AND is_deleted = ?3 ORDER BY rowid",
        )?;
        st.query_map(rusqlite::params![auth.project_id, auth.branch_id, deleted], |r| Ok((r.get(0)?, json_col(r.get(1)?))))?
            .collect()
    })?;
    let mut out = Vec::new();
    for component in &components::all(&state) {
        let id = component["id"].as_str().unwrap_or_default();
        if component_type.as_deref().is_some_and(|t| component["type"] != t) || !auth.can_access_component(id) {
            continue;
        }
        let listed: Vec<Value> = configs
            .iter()
            .filter(|(c, _)| c == id)
            .map(|(_, body)| {
                let mut o = Map::new();
                for field in ["id", "name", "description", "created", "creatorToken", "version", "changeDescription", "isDisabled", "isDeleted"] {
                    o.insert(field.into(), body[field].clone());
                }
                // The test suites assert these keys are absent unless asked for.
                if has("configuration") {
                    o.insert("configuration".into(), body["configuration"].clone());
                }
                if has("rows") {
                    o.insert("rowsSortOrder".into(), body["rowsSortOrder"].clone());
                    o.insert("rows".into(), body["rows"].clone());
                }
                if has("state") {
                    o.insert("state".into(), body["state"].clone());
                }
                o.insert("currentVersion".into(), body["currentVersion"].clone());
                o.insert("branchId".into(), json!(auth.branch_id));
                Value::Object(o)
            })
            .collect();
        if listed.is_empty() {
            continue;
        }
        let mut c = component.clone();
        c["configurations"] = Value::Array(listed);
        out.push(c);
    }
    Ok(Json(Value::Array(out)))
}

async fn list(State(state): State<AppState>, auth: Auth, Path(component): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    let k = key(&state, &auth, &component)?;
    let deleted = p.flag("isDeleted")?;
    let configs = state.meta.with(|c| {
        let mut st = c.prepare(
            "SELECT body FROM configurations \
             WHERE project_id = ?1 AND branch_id = ?2 AND component_id = ?3 AND is_deleted = ?4 ORDER BY rowid",
        )?;
        st.query_map(rusqlite::params![k.project, k.branch, k.component, deleted], |r| Ok(json_col(r.get(0)?)))?
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(Json(Value::Array(configs)))
}

// ---------------------------------------------------------------------------------------------
// Configuration CRUD

async fn create(State(state): State<AppState>, auth: Auth, Path(component): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let k = key(&state, &auth, &component)?;
    let name = p.required_str("name")?;
    let given_id = p.str("configurationId").filter(|s| !s.is_empty());
    if let Some(id) = &given_id {
        if !valid_id(id) {
            return Err(ApiError::validation(format!(
                "Invalid request:\n - configurationId: \"{id}\" may contain only letters, digits, dashes, underscores and dots."
            )));
        }
    }
    let configuration = object_param(&p, "configuration")?.unwrap_or_else(|| json!({}));
    let config_state = object_param(&p, "state")?.unwrap_or_else(|| json!({}));
    let is_disabled = p.flag("isDisabled")?;
    let change = change_description(&p, || "Configuration created".into());
    let body = state.meta.tx(|tx| {
        let id = match &given_id {
            Some(id) => id.clone(),
            None => generate_id(tx, |id| Ok(load(tx, &k, id)?.is_some()))?,
        };
        let mut body = json!({
            "id": id,
            "name": name,
            "description": p.str_or("description", ""),
            "created": now_iso(),
            "creatorToken": auth.token.creator_json(),
            "version": 0,
            "changeDescription": "",
            "isDisabled": is_disabled,
            "isDeleted": false,
            "configuration": configuration,
            "rowsSortOrder": [],
            "rows": [],
            "state": config_state,
            "currentVersion": null,
        });
        insert(tx, &k, &body)?;
        commit_version(tx, &k, &auth, &mut body, &change)?;
        save(tx, &k, &body)?;
        Ok::<_, ApiError>(body)
    })?;
    Ok((StatusCode::CREATED, Json(body)))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path((component, id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let k = key(&state, &auth, &component)?;
    Ok(Json(state.meta.tx(|tx| load_active(tx, &k, &id))?))
}

/// Partial update of the given keys; a new version even when nothing changed (as Keboola).
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let k = key(&state, &auth, &component)?;
    let configuration = object_param(&p, "configuration")?;
    let config_state = object_param(&p, "state")?;
    let is_disabled = p.bool("isDisabled")?;
    let name = p.str("name");
    if name.as_deref() == Some("") {
        return Err(ApiError::validation("Invalid request:\n - name: This value should not be blank."));
    }
    let sort_order = p.has("rowsSortOrder").then(|| p.list("rowsSortOrder"));
    let change = change_description(&p, || "Configuration updated".into());
    let body = mutate(&state, &k, &id, |tx, body| {
        if let Some(n) = name {
            body["name"] = json!(n);
        }
        if let Some(d) = p.str("description") {
            body["description"] = json!(d);
        }
        if let Some(c) = configuration {
            body["configuration"] = c;
        }
        if let Some(s) = config_state {
            body["state"] = s;
        }
        if let Some(d) = is_disabled {
            body["isDisabled"] = json!(d);
        }
        if let Some(order) = sort_order {
            rows::apply_sort_order(body, order)?;
        }
        commit_version(tx, &k, &auth, body, &change)?;
        Ok(body.clone())
    })?;
    Ok(Json(body))
}

/// State is runtime data of the component: stored without a new version.
async fn put_state(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let k = key(&state, &auth, &component)?;
    let new_state = object_param(&p, "state")?
        .ok_or_else(|| ApiError::validation("Invalid request:\n - state: This value should not be blank."))?;
    let body = mutate(&state, &k, &id, |_, body| {
        body["state"] = new_state;
        Ok(body.clone())
    })?;
    Ok(Json(body))
}

/// For the runner (not a request): the active configuration document of a component in a
/// project's branch, if any.
pub fn find_active(state: &AppState, project: i64, branch: i64, component: &str, id: &str) -> ApiResult<Option<Value>> {
    let k = Key { project, branch, component: component.to_string() };
    Ok(state.meta.with(|c| load(c, &k, id))?.filter(|body| body["isDeleted"] != true))
}

/// For the runner: store the state a run left on the configuration, or on one of its rows, without
/// a new version (as `PUT …/state` does). `false` when the configuration or row no longer exists.
pub fn store_run_state(state: &AppState, project: i64, branch: i64, component: &str, id: &str, row: Option<&str>, new_state: Value) -> ApiResult<bool> {
    let k = Key { project, branch, component: component.to_string() };
    let outcome = mutate(state, &k, id, |_, body| {
        let target = match row {
            None => Some(body),
            Some(row) => body["rows"].as_array_mut().and_then(|rows| rows.iter_mut().find(|r| r["id"].as_str() == Some(row))),
        };
        match target {
            Some(t) => {
                t["state"] = new_state;
                Ok(true)
            }
            None => Err(not_found(row.unwrap_or(id))),
        }
    });
    match outcome {
        Ok(stored) => Ok(stored),
        Err(e) if e.code == Code::ConfigurationNotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// First delete moves the configuration to the trash (a new version); deleting it again purges it
/// in the default branch and is refused in development branches.
async fn remove(State(state): State<AppState>, auth: Auth, Path((component, id)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let k = key(&state, &auth, &component)?;
    let in_default = auth.branch_id == auth.default_branch_id;
    state.meta.tx(|tx| {
        let mut body = load_any(tx, &k, &id)?;
        if body["isDeleted"] != true {
            body["isDeleted"] = json!(true);
            commit_version(tx, &k, &auth, &mut body, "Configuration deleted")?;
            save(tx, &k, &body)?;
            return Ok(());
        }
        if !in_default {
            return Err(ApiError::validation(format!(
                "Configuration {id} is already deleted; configurations cannot be purged in a development branch."
            )));
        }
        purge(tx, &k, &id)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a configuration for good: document, versions, row versions and metadata.
fn purge(c: &Connection, k: &Key, id: &str) -> ApiResult<()> {
    for table in ["configurations", "configuration_versions", "configuration_row_versions"] {
        let column = if table == "configurations" { "id" } else { "config_id" };
        c.execute(
            &format!("DELETE FROM {table} WHERE project_id = ?1 AND branch_id = ?2 AND component_id = ?3 AND {column} = ?4"),
            rusqlite::params![k.project, k.branch, k.component, id],
        )?;
    }
    // Inside the transaction, so directly on the generic store (object type 'configuration').
    c.execute(
        "DELETE FROM metadata WHERE project_id = ?1 AND branch_id = ?2 AND object_type = 'configuration' AND object_id = ?3",
        rusqlite::params![k.project, k.branch, metadata_object(&k.component, id)],
    )?;
    Ok(())
}

async fn restore(State(state): State<AppState>, auth: Auth, Path((component, id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let k = key(&state, &auth, &component)?;
    let body = state.meta.tx(|tx| {
        let mut body = load_any(tx, &k, &id)?;
        if body["isDeleted"] != true {
            return Err(ApiError::new(Code::ConfigurationNotFound, format!("Deleted configuration {id} not found")));
        }
        body["isDeleted"] = json!(false);
        commit_version(tx, &k, &auth, &mut body, "Configuration restored")?;
        save(tx, &k, &body)?;
        Ok(body)
    })?;
    Ok(Json(body))
}

// ---------------------------------------------------------------------------------------------
// Versions

fn paging(p: &Params) -> ApiResult<(i64, i64)> {
    Ok((p.int("limit")?.unwrap_or(100).clamp(0, 10_000), p.int("offset")?.unwrap_or(0).max(0)))
}

async fn versions(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let k = key(&state, &auth, &component)?;
    let include = if p.has("include") { p.csv_list("include") } else { vec!["name".into(), "description".into()] };
    let (limit, offset) = paging(&p)?;
    let snapshots = state.meta.tx(|tx| {
        load_any(tx, &k, &id)?;
        let mut st = tx.prepare(
            "SELECT snapshot FROM configuration_versions \
             WHERE project_id = ?1 AND branch_id = ?2 AND component_id = ?3 AND config_id = ?4 \
             ORDER BY version DESC LIMIT ?5 OFFSET ?6",
        )?;
        let rows = st.query_map(rusqlite::params![k.project, k.branch, k.component, id, limit, offset], |r| Ok(json_col(r.get(0)?)))?;
        Ok::<_, ApiError>(rows.collect::<Result<Vec<_>, _>>()?)
    })?;
    let listed = snapshots
        .into_iter()
        .map(|s| {
            let mut o = Map::new();
            for field in ["version", "created", "versionIdentifier", "creatorToken", "changeDescription", "isDeleted"] {
                o.insert(field.into(), s[field].clone());
            }
            for field in ["name", "description", "configuration"] {
                if include.iter().any(|i| i == field) {
                    o.insert(field.into(), s[field].clone());
                }
            }
            Value::Object(o)
        })
        .collect();
    Ok(Json(Value::Array(listed)))
}

async fn version_detail(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, version)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let k = key(&state, &auth, &component)?;
    Ok(Json(state.meta.tx(|tx| {
        load_any(tx, &k, &id)?;
        load_version(tx, &k, &id, &version)
    })?))
}

/// A new version equal to the old one; state is kept, and a row that comes back gets its last state.
async fn rollback(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, version)): Path<(String, String, String)>,
    p: Params,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let k = key(&state, &auth, &component)?;
    let new_version = mutate(&state, &k, &id, |tx, body| {
        let snapshot = load_version(tx, &k, &id, &version)?;
        let change = change_description(&p, || format!("Rollback to version {version}"));
        for field in ["name", "description", "isDisabled", "configuration", "rowsSortOrder"] {
            body[field] = snapshot[field].clone();
        }
        let current = rows_of(body);
        let mut restored = Vec::new();
        for old in snapshot["rows"].as_array().cloned().unwrap_or_default() {
            let existing = current.iter().find(|r| r["id"] == old["id"]);
            match existing {
                Some(row) if rows::same_content(row, &old) => restored.push(row.clone()),
                _ => {
                    let row_id = old["id"].as_str().unwrap_or_default().to_string();
                    let last_state = match existing {
                        Some(row) => row["state"].clone(),
                        None => rows::last_state(tx, &k, &id, &row_id)?,
                    };
                    let mut row = rows::with_state(old, last_state);
                    rows::commit_row_version(tx, &k, &id, &auth, &mut row, &change)?;
                    restored.push(row);
                }
            }
        }
        body["rows"] = Value::Array(restored);
        commit_version(tx, &k, &auth, body, &change)?;
        Ok(body["version"].clone())
    })?;
    Ok((StatusCode::CREATED, Json(json!({"version": new_version}))))
}

/// A new configuration from a version of this one (rows get new ids; state starts empty).
async fn copy_version(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, version)): Path<(String, String, String)>,
    p: Params,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let k = key(&state, &auth, &component)?;
    let new_id = state.meta.tx(|tx| {
        let source = load_any(tx, &k, &id)?;
        let snapshot = load_version(tx, &k, &id, &version)?;
        let change = change_description(&p, || {
            format!("Copied from configuration \"{}\" (ID {id}) version {version}", source["name"].as_str().unwrap_or_default())
        });
        let new_id = generate_id(tx, |cid| Ok(load(tx, &k, cid)?.is_some()))?;
        let mut body = json!({
            "id": new_id,
            "name": p.str("name").filter(|s| !s.is_empty()).map(Value::from).unwrap_or_else(|| snapshot["name"].clone()),
            "description": p.str("description").map(Value::from).unwrap_or_else(|| snapshot["description"].clone()),
            "created": now_iso(),
            "creatorToken": auth.token.creator_json(),
            "version": 0,
            "changeDescription": "",
            "isDisabled": snapshot["isDisabled"].as_bool().unwrap_or(false),
            "isDeleted": false,
            "configuration": snapshot["configuration"],
            "rowsSortOrder": [],
            "rows": [],
            "state": {},
            "currentVersion": null,
        });
        let mut renamed = Vec::new();
        let mut copied = Vec::new();
        for old in snapshot["rows"].as_array().cloned().unwrap_or_default() {
            let row_id = generate_id(tx, |_| Ok(false))?;
            renamed.push((old["id"].clone(), row_id.clone()));
            let mut row = rows::new_row(&auth, &row_id, &old, json!({}));
            rows::commit_row_version(tx, &k, &new_id, &auth, &mut row, &change)?;
            copied.push(row);
        }
        body["rows"] = Value::Array(copied);
        let order: Vec<Value> = snapshot["rowsSortOrder"]
            .as_array()
            .map(|o| o.iter().filter_map(|old| renamed.iter().find(|(from, _)| from == old).map(|(_, to)| json!(to))).collect())
            .unwrap_or_default();
        body["rowsSortOrder"] = Value::Array(order);
        insert(tx, &k, &body)?;
        commit_version(tx, &k, &auth, &mut body, &change)?;
        save(tx, &k, &body)?;
        Ok::<_, ApiError>(new_id)
    })?;
    Ok((StatusCode::CREATED, Json(json!({"id": new_id}))))
}

// ---------------------------------------------------------------------------------------------
// Metadata and search

/// The object id configuration metadata hangs on.
fn metadata_object(component: &str, id: &str) -> String {
    format!("{component}/{id}")
}

async fn list_metadata(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let k = key(&state, &auth, &component)?;
    state.meta.tx(|tx| load_active(tx, &k, &id))?;
    let items = metadata::list(&state, &(&auth).into(), Object::Configuration, &metadata_object(&component, &id))?;
    Ok(Json(without_provider(items)))
}

/// Configuration metadata has no provider (kbcstorage: "not yet implemented"); keys are unique.
async fn post_metadata(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id)): Path<(String, String)>,
    p: Params,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let k = key(&state, &auth, &component)?;
    state.meta.tx(|tx| load_active(tx, &k, &id))?;
    let object = metadata_object(&component, &id);
    metadata::upsert(&state, &(&auth).into(), Object::Configuration, &object, "", &metadata_items(&p)?)?;
    let items = metadata::list(&state, &(&auth).into(), Object::Configuration, &object)?;
    Ok((StatusCode::CREATED, Json(without_provider(items))))
}

async fn delete_metadata(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id, mid)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let k = key(&state, &auth, &component)?;
    state.meta.tx(|tx| load_active(tx, &k, &id))?;
    metadata::remove(&state, &(&auth).into(), Object::Configuration, &metadata_object(&component, &id), &mid)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v2/storage/search/component-configurations`: configurations by component, id, or any of
/// `metadataKeys`; `include=filteredMetadata` narrows each item's metadata to those keys.
async fn search(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<Json<Value>> {
    let component = p.str("componentId").or_else(|| p.str("idComponent")).filter(|s| !s.is_empty());
    let config = p.str("configurationId").filter(|s| !s.is_empty());
    let keys = p.list("metadataKeys");
    let filtered = p.csv_list("include").iter().any(|i| i == "filteredMetadata");
    let candidates: Vec<(String, String)> = state.meta.with(|c| {
        let mut st = c.prepare(
            "SELECT component_id, id FROM configurations WHERE project_id = ?1 AND branch_id = ?2 AND is_deleted = 0 ORDER BY rowid",
        )?;
        st.query_map([auth.project_id, auth.branch_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
    })?;
    let mut out = Vec::new();
    for (component_id, config_id) in candidates {
        if component.as_deref().is_some_and(|c| c != component_id)
            || config.as_deref().is_some_and(|c| c != config_id)
            || !auth.can_access_component(&component_id)
        {
            continue;
        }
        let items = metadata::list(&state, &(&auth).into(), Object::Configuration, &metadata_object(&component_id, &config_id))?;
        let has_key = |it: &Value| keys.iter().any(|k| it["key"] == k.as_str());
        if !keys.is_empty() && !items.iter().any(has_key) {
            continue;
        }
        let items = if filtered && !keys.is_empty() { items.into_iter().filter(has_key).collect() } else { items };
        out.push(json!({"idComponent": component_id, "configurationId": config_id, "metadata": without_provider(items)}));
    }
    Ok(Json(Value::Array(out)))
}

// ---------------------------------------------------------------------------------------------
// Branches

/// A new development branch starts with the default branch's configurations (history and
/// metadata included). Runs inside the branch-creating transaction.
pub fn copy_branch(c: &Connection, project_id: i64, from: i64, to: i64) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO configurations (project_id, branch_id, component_id, id, body, is_deleted) \
         SELECT project_id, ?3, component_id, id, body, is_deleted FROM configurations \
         WHERE project_id = ?1 AND branch_id = ?2 AND is_deleted = 0",
        [project_id, from, to],
    )?;
    for (table, columns) in [
        ("configuration_versions", "component_id, config_id, version, snapshot"),
        ("configuration_row_versions", "component_id, config_id, row_id, version, snapshot"),
    ] {
        c.execute(
            &format!(
                "INSERT INTO {table} (project_id, branch_id, {columns}) SELECT project_id, ?3, {columns} FROM {table} v \
                 WHERE project_id = ?1 AND branch_id = ?2 AND EXISTS (SELECT 1 FROM configurations c WHERE c.project_id = ?1 \
                 AND c.branch_id = ?3 AND c.component_id = v.component_id AND c.id = v.config_id)"
            ),
            [project_id, from, to],
        )?;
    }
    // The generic metadata store keeps configuration metadata under object type 'configuration'.
    c.execute(
        "INSERT INTO metadata (project_id, branch_id, object_type, object_id, provider, key, value, timestamp) \
         SELECT m.project_id, ?3, m.object_type, m.object_id, m.provider, m.key, m.value, m.timestamp FROM metadata m \
         WHERE m.project_id = ?1 AND m.branch_id = ?2 AND m.object_type = 'configuration' AND EXISTS (SELECT 1 FROM \
         configurations c WHERE c.project_id = ?1 AND c.branch_id = ?3 AND c.component_id || '/' || c.id = m.object_id)",
        [project_id, from, to],
    )?;
    Ok(())
}

/// Everything configuration-related of a branch being deleted.
pub fn drop_branch(c: &Connection, project_id: i64, branch_id: i64) -> rusqlite::Result<()> {
    for table in ["configurations", "configuration_versions", "configuration_row_versions"] {
        c.execute(&format!("DELETE FROM {table} WHERE project_id = ?1 AND branch_id = ?2"), [project_id, branch_id])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_identifiers_look_like_ulids() {
        let a = version_identifier();
        assert_eq!(a.len(), 26);
        assert!(a.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(a, version_identifier());
    }

    #[test]
    fn ids_are_url_safe() {
        assert!(valid_id("main-1"));
        assert!(valid_id("236606822"));
        assert!(!valid_id(""));
        assert!(!valid_id("a/b"));
        assert!(!valid_id("a b"));
    }
}
