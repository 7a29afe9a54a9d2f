//! Component configurations (`/v2/storage/components/{c}/configs…`): CRUD, trash, versions,
//! rollback and copy, metadata, search, and the `GET /v2/storage/components` listing. Rows live
//! in `rows`.
//!
//! A configuration is one JSON document (rows embedded, in the shape of `wire::configuration`);
//! every change except the state endpoints bumps `version` and stores a snapshot of the document
//! (without state) as a version. Rows are versioned separately as well. All of it is kept by
//! `meta::configurations::ConfigurationStore`, one request being one of its transactions.
pub mod merge;
mod rows;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use crate::http::routes::{delete, get, post, put};
use axum::Json;
use crate::http::Routes;
use kbstack_core::Scope;
use serde_json::{Map, Value, json};

use super::auth::Auth;
use super::branches::{metadata_items, without_provider};
use super::components;
use super::metadata::{self, Object};
use super::wire::configuration as wire;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};
use crate::meta::configurations::{ComponentScope, ConfigurationStore, ConfigurationTx, metadata_object_id};

/// The branch transactions of `storage::branches` copy and drop a branch's configurations with
/// these (SQLite, inside their own transactions).

const CONFIG: &str = "/v2/storage/components/{id}/configs/{config}";

pub fn routes() -> Routes<AppState> {
    let at = |tail: &str| format!("{CONFIG}{tail}");
    Routes::new()
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

fn scope(auth: &Auth) -> Scope {
    Scope::new(auth.project_id, auth.branch_id)
}

/// The configurations of a registered component (404 otherwise) the token may manage (403
/// otherwise), in the request's project and branch.
fn key(state: &AppState, auth: &Auth, component: &str) -> ApiResult<ComponentScope> {
    components::find(state, component)?;
    auth.require_component(component)?;
    Ok(ComponentScope { scope: scope(auth), component: component.into() })
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::ConfigurationNotFound, format!("Configuration {id} not found"))
}

/// The document, in the trash or not.
fn load(tx: &dyn ConfigurationTx, id: &str) -> ApiResult<Option<Value>> {
    Ok(tx.configuration(id)?.map(|c| c.document))
}

fn load_any(tx: &dyn ConfigurationTx, id: &str) -> ApiResult<Value> {
    load(tx, id)?.ok_or_else(|| not_found(id))
}

/// A configuration that is not in the trash (deleted ones answer 404 like Keboola).
fn load_active(tx: &dyn ConfigurationTx, id: &str) -> ApiResult<Value> {
    match load(tx, id)? {
        Some(body) if body["isDeleted"] != true => Ok(body),
        _ => Err(not_found(id)),
    }
}

/// A new configuration. An id held only by a configuration in the trash is reused (the trashed one
/// is purged): the client test suites re-create fixed ids that their teardown merely deleted.
fn insert(tx: &dyn ConfigurationTx, k: &ComponentScope, body: &Value) -> ApiResult<()> {
    let id = body["id"].as_str().unwrap_or_default();
    if let Some(existing) = load(tx, id)? {
        if existing["isDeleted"] != true {
            return Err(ApiError::new(
                Code::ConfigurationAlreadyExists,
                format!("Configuration already exists: component \"{}\", id \"{id}\"", k.component),
            ));
        }
        tx.purge_configuration(id)?;
    }
    Ok(tx.insert_configuration(id, body)?)
}

fn save(tx: &dyn ConfigurationTx, body: &Value) -> ApiResult<()> {
    Ok(tx.save_configuration(body["id"].as_str().unwrap_or_default(), body, body["isDeleted"] == true)?)
}

/// Load an active configuration in a transaction, let `f` change it, save it.
fn mutate<T>(
    state: &AppState,
    k: &ComponentScope,
    id: &str,
    f: impl FnOnce(&dyn ConfigurationTx, &mut Value) -> ApiResult<T>,
) -> ApiResult<T> {
    state.meta.configuration_tx(k, |tx| {
        let mut body = load_active(tx, id)?;
        let out = f(tx, &mut body)?;
        save(tx, &body)?;
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
fn commit_version(tx: &dyn ConfigurationTx, auth: &Auth, body: &mut Value, change: &str) -> ApiResult<()> {
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
    Ok(tx.insert_version(body["id"].as_str().unwrap_or_default(), version, &snapshot)?)
}

fn load_version(tx: &dyn ConfigurationTx, id: &str, version: &str) -> ApiResult<Value> {
    let missing = || ApiError::new(Code::ConfigurationVersionNotFound, format!("Version {version} not found"));
    let v: i64 = version.parse().map_err(|_| missing())?;
    Ok(tx.version(id, v)?.ok_or_else(missing)?.snapshot)
}

/// Configuration and row ids: what fits in a URL segment without escaping.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A fresh numeric id from the store's sequence (Keboola ids look like `"236606822"`).
fn generate_id(tx: &dyn ConfigurationTx, taken: impl Fn(&str) -> ApiResult<bool>) -> ApiResult<String> {
    loop {
        let id = tx.next_id()?.to_string();
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

/// A configuration as Storage saves it: every `#` value encrypted for the component in the
/// project (`KBC::ProjectSecure::`, services.md §3), ciphers and `{{ var }}` placeholders kept.
fn with_secrets_encrypted(state: &AppState, auth: &Auth, component: &str, configuration: Value) -> ApiResult<Value> {
    let scope = crate::encryption::Scope::project(component, auth.project_id);
    crate::encryption::encrypt_value(state, &scope, configuration).map_err(ApiError::validation)
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
    let configs = state.meta.configurations(scope(&auth), None, deleted)?;
    let mut by_component: std::collections::HashMap<&str, Vec<_>> = std::collections::HashMap::new();
    for c in &configs {
        by_component.entry(c.component_id.as_str()).or_default().push(c);
    }
    let mut out = Vec::new();
    components::for_each(&state, |component| {
        let id = component["id"].as_str().unwrap_or_default();
        let Some(mine) = by_component.get(id) else { return };
        if component_type.as_deref().is_some_and(|t| component["type"] != t) || !auth.can_access_component(id) {
            return;
        }
        let listed: Vec<Value> = mine
            .iter()
            .map(|c| {
                let body = &c.document;
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
            return;
        }
        let mut c = component.clone();
        c["configurations"] = Value::Array(listed);
        out.push(c);
    });
    Ok(Json(Value::Array(out)))
}

async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(component): Path<String>,
    p: Params,
) -> ApiResult<Json<Vec<wire::Configuration>>> {
    let k = key(&state, &auth, &component)?;
    let deleted = p.flag("isDeleted")?;
    let configs = state.meta.configurations(k.scope, Some(&k.component), deleted)?;
    Ok(Json(configs.into_iter().map(|c| wire::Configuration::of(c.document)).collect::<ApiResult<_>>()?))
}

// ---------------------------------------------------------------------------------------------
// Configuration CRUD

async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(component): Path<String>,
    p: Params,
) -> ApiResult<(StatusCode, Json<wire::Configuration>)> {
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
    let new = NewConfiguration { id: given_id, name, description: p.str_or("description", ""), configuration, state: config_state, is_disabled, change };
    let body = insert_new(&state, &auth, &k, new)?;
    Ok((StatusCode::CREATED, Json(wire::Configuration::of(body)?)))
}

/// A configuration to create (the body of `POST …/configs`).
pub struct NewConfiguration {
    /// None: a fresh numeric id.
    pub id: Option<String>,
    pub name: String,
    pub description: String,
    pub configuration: Value,
    pub state: Value,
    pub is_disabled: bool,
    pub change: String,
}

/// Creates the configuration with its first version; `#` values are encrypted for the component.
fn insert_new(state: &AppState, auth: &Auth, k: &ComponentScope, new: NewConfiguration) -> ApiResult<Value> {
    let configuration = with_secrets_encrypted(state, auth, k.component.as_str(), new.configuration)?;
    state.meta.configuration_tx(k, |tx| {
        let id = match &new.id {
            Some(id) => id.clone(),
            None => generate_id(tx, |id| Ok(load(tx, id)?.is_some()))?,
        };
        let mut body = json!({
            "id": id,
            "name": new.name,
            "description": new.description,
            "created": now_iso(),
            "creatorToken": auth.token.creator_json(),
            "version": 0,
            "changeDescription": "",
            "isDisabled": new.is_disabled,
            "isDeleted": false,
            "configuration": configuration,
            "rowsSortOrder": [],
            "rows": [],
            "state": new.state,
            "currentVersion": null,
        });
        insert(tx, k, &body)?;
        commit_version(tx, auth, &mut body, &new.change)?;
        save(tx, &body)?;
        Ok::<_, ApiError>(body)
    })
}

/// For another service: the snapshot of one version of a configuration (404 code when missing).
pub fn version_in_branch(state: &AppState, project: i64, branch: i64, component: &str, id: &str, version: &str) -> ApiResult<Value> {
    let k = ComponentScope { scope: Scope::new(project, branch), component: component.into() };
    state.meta.configuration_tx(&k, |tx| {
        load_any(tx, id)?;
        load_version(tx, id, version)
    })
}

/// For other services (Templates, Data Science's apps): create a configuration in `branch` of the
/// token's project, as `POST …/configs` does (same checks of the component and the token).
/// Returns the document.
pub fn create_configuration(state: &AppState, auth: &Auth, branch: i64, component: &str, new: NewConfiguration) -> ApiResult<Value> {
    let k = key(state, auth, component)?;
    let k = ComponentScope { scope: Scope::new(auth.project_id, branch), component: k.component };
    insert_new(state, auth, &k, new)
}

/// For other services: replace a configuration's name, description and content (a new version).
pub fn replace_configuration(
    state: &AppState,
    auth: &Auth,
    component: &str,
    id: &str,
    name: &str,
    description: &str,
    configuration: Value,
    change: &str,
) -> ApiResult<Value> {
    let k = key(state, auth, component)?;
    let configuration = with_secrets_encrypted(state, auth, component, configuration)?;
    mutate(state, &k, id, |tx, body| {
        body["name"] = json!(name);
        body["description"] = json!(description);
        body["configuration"] = configuration;
        commit_version(tx, auth, body, change)?;
        Ok(body.clone())
    })
}

/// For other services: the configurations of a component in `branch` of the token's project,
/// not in the trash (same checks of the component and the token as `GET …/configs`).
pub fn list_configurations(state: &AppState, auth: &Auth, branch: i64, component: &str) -> ApiResult<Vec<Value>> {
    let k = key(state, auth, component)?;
    let configs = state.meta.configurations(Scope::new(auth.project_id, branch), Some(&k.component), false)?;
    Ok(configs.into_iter().map(|c| c.document).collect())
}

/// For other services: move a configuration of `branch` to the trash (the first `DELETE
/// …/configs/{id}`); 404 code when it is not there or already in the trash.
pub fn trash_configuration(state: &AppState, auth: &Auth, branch: i64, component: &str, id: &str, change: &str) -> ApiResult<()> {
    let k = key(state, auth, component)?;
    let k = ComponentScope { scope: Scope::new(auth.project_id, branch), component: k.component };
    mutate(state, &k, id, |tx, body| {
        body["isDeleted"] = json!(true);
        commit_version(tx, auth, body, change)
    })
}

/// For other services: a configuration's metadata items `{id, key, value, timestamp}`.
pub fn configuration_metadata(state: &AppState, auth: &Auth, component: &str, id: &str) -> ApiResult<Vec<Value>> {
    metadata::list(state, &(auth).into(), Object::Configuration, &metadata_object_id(component, id))
}

/// For other services: upsert `{key, value}` metadata items on a configuration.
pub fn set_configuration_metadata(state: &AppState, auth: &Auth, component: &str, id: &str, items: &[Value]) -> ApiResult<()> {
    metadata::upsert(state, &(auth).into(), Object::Configuration, &metadata_object_id(component, id), "", items)
}

async fn detail(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id)): Path<(String, String)>,
) -> ApiResult<Json<wire::Configuration>> {
    let k = key(&state, &auth, &component)?;
    Ok(Json(wire::Configuration::of(state.meta.configuration_tx(&k, |tx| load_active(tx, &id))?)?))
}

/// Partial update of the given keys; a new version even when nothing changed (as Keboola).
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Json<wire::Configuration>> {
    let k = key(&state, &auth, &component)?;
    let configuration = object_param(&p, "configuration")?.map(|c| with_secrets_encrypted(&state, &auth, &component, c)).transpose()?;
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
        commit_version(tx, &auth, body, &change)?;
        Ok(body.clone())
    })?;
    Ok(Json(wire::Configuration::of(body)?))
}

/// State is runtime data of the component: stored without a new version.
async fn put_state(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Json<wire::Configuration>> {
    let k = key(&state, &auth, &component)?;
    let new_state = object_param(&p, "state")?
        .ok_or_else(|| ApiError::validation("Invalid request:\n - state: This value should not be blank."))?;
    let body = mutate(&state, &k, &id, |_, body| {
        body["state"] = new_state;
        Ok(body.clone())
    })?;
    Ok(Json(wire::Configuration::of(body)?))
}

/// For the runner (not a request): the active configuration document of a component in a
/// project's branch, if any.
/// A configuration the token may use, not in the trash (its workspaces hang under it).
pub fn require_active(state: &AppState, auth: &Auth, component: &str, id: &str) -> ApiResult<()> {
    let k = key(state, auth, component)?;
    state.meta.configuration_tx(&k, |tx| load_active(tx, id).map(|_| ()))
}

fn exists(state: &AppState, k: &ComponentScope, id: &str) -> ApiResult<bool> {
    Ok(state.meta.configuration_tx(k, |tx| load(tx, id))?.is_some())
}

pub fn find_active(state: &AppState, project: i64, branch: i64, component: &str, id: &str) -> ApiResult<Option<Value>> {
    let k = ComponentScope { scope: Scope::new(project, branch), component: component.into() };
    Ok(state.meta.configuration_tx(&k, |tx| load(tx, id))?.filter(|body| body["isDeleted"] != true))
}

/// For the runner: store the state a run left on the configuration, or on one of its rows, without
/// a new version (as `PUT …/state` does). `false` when the configuration or row no longer exists.
pub fn store_run_state(state: &AppState, project: i64, branch: i64, component: &str, id: &str, row: Option<&str>, new_state: Value) -> ApiResult<bool> {
    let k = ComponentScope { scope: Scope::new(project, branch), component: component.into() };
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
    state.meta.configuration_tx(&k, |tx| {
        let mut body = load_any(tx, &id)?;
        if body["isDeleted"] != true {
            body["isDeleted"] = json!(true);
            commit_version(tx, &auth, &mut body, "Configuration deleted")?;
            save(tx, &body)?;
            return Ok(());
        }
        if !in_default {
            return Err(ApiError::validation(format!(
                "Configuration {id} is already deleted; configurations cannot be purged in a development branch."
            )));
        }
        Ok(tx.purge_configuration(&id)?)
    })?;
    // A purged configuration's workspaces go with it (a trashed one keeps them, to be restored).
    if in_default && !exists(&state, &k, &id)? {
        super::workspaces::drop_configuration_workspaces(&state, auth.project_id, &component, &id)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn restore(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id)): Path<(String, String)>,
) -> ApiResult<Json<wire::Configuration>> {
    let k = key(&state, &auth, &component)?;
    let body = state.meta.configuration_tx(&k, |tx| {
        let mut body = load_any(tx, &id)?;
        if body["isDeleted"] != true {
            return Err(ApiError::new(Code::ConfigurationNotFound, format!("Deleted configuration {id} not found")));
        }
        body["isDeleted"] = json!(false);
        commit_version(tx, &auth, &mut body, "Configuration restored")?;
        save(tx, &body)?;
        Ok(body)
    })?;
    Ok(Json(wire::Configuration::of(body)?))
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
    let versions = state.meta.configuration_tx(&k, |tx| {
        load_any(tx, &id)?;
        Ok::<_, ApiError>(tx.versions(&id, limit, offset)?)
    })?;
    let listed = versions
        .into_iter()
        .map(|v| {
            let s = v.snapshot;
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
    Ok(Json(state.meta.configuration_tx(&k, |tx| {
        load_any(tx, &id)?;
        load_version(tx, &id, &version)
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
        let snapshot = load_version(tx, &id, &version)?;
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
                        None => rows::last_state(tx, &id, &row_id)?,
                    };
                    let mut row = rows::with_state(old, last_state);
                    rows::commit_row_version(tx, &id, &auth, &mut row, &change)?;
                    restored.push(row);
                }
            }
        }
        body["rows"] = Value::Array(restored);
        commit_version(tx, &auth, body, &change)?;
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
    let new_id = state.meta.configuration_tx(&k, |tx| {
        let source = load_any(tx, &id)?;
        let snapshot = load_version(tx, &id, &version)?;
        let change = change_description(&p, || {
            format!("Copied from configuration \"{}\" (ID {id}) version {version}", source["name"].as_str().unwrap_or_default())
        });
        let new_id = generate_id(tx, |cid| Ok(load(tx, cid)?.is_some()))?;
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
            rows::commit_row_version(tx, &new_id, &auth, &mut row, &change)?;
            copied.push(row);
        }
        body["rows"] = Value::Array(copied);
        let order: Vec<Value> = snapshot["rowsSortOrder"]
            .as_array()
            .map(|o| o.iter().filter_map(|old| renamed.iter().find(|(from, _)| from == old).map(|(_, to)| json!(to))).collect())
            .unwrap_or_default();
        body["rowsSortOrder"] = Value::Array(order);
        insert(tx, &k, &body)?;
        commit_version(tx, &auth, &mut body, &change)?;
        save(tx, &body)?;
        Ok::<_, ApiError>(new_id)
    })?;
    Ok((StatusCode::CREATED, Json(json!({"id": new_id}))))
}

// ---------------------------------------------------------------------------------------------
// Metadata and search

async fn list_metadata(
    State(state): State<AppState>,
    auth: Auth,
    Path((component, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let k = key(&state, &auth, &component)?;
    state.meta.configuration_tx(&k, |tx| load_active(tx, &id))?;
    let items = metadata::list(&state, &(&auth).into(), Object::Configuration, &metadata_object_id(&component, &id))?;
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
    state.meta.configuration_tx(&k, |tx| load_active(tx, &id))?;
    let object = metadata_object_id(&component, &id);
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
    state.meta.configuration_tx(&k, |tx| load_active(tx, &id))?;
    metadata::remove(&state, &(&auth).into(), Object::Configuration, &metadata_object_id(&component, &id), &mid)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v2/storage/search/component-configurations`: configurations by component, id, or any of
/// `metadataKeys`; `include=filteredMetadata` narrows each item's metadata to those keys.
async fn search(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<Json<Value>> {
    let component = p.str("componentId").or_else(|| p.str("idComponent")).filter(|s| !s.is_empty());
    let config = p.str("configurationId").filter(|s| !s.is_empty());
    let keys = p.list("metadataKeys");
    let filtered = p.csv_list("include").iter().any(|i| i == "filteredMetadata");
    let mut out = Vec::new();
    for candidate in state.meta.configurations(scope(&auth), None, false)? {
        let (component_id, config_id) = (candidate.component_id, candidate.id);
        if component.as_deref().is_some_and(|c| c != component_id)
            || config.as_deref().is_some_and(|c| c != config_id)
            || !auth.can_access_component(&component_id)
        {
            continue;
        }
        let items = metadata::list(&state, &(&auth).into(), Object::Configuration, &metadata_object_id(&component_id, &config_id))?;
        let has_key = |it: &Value| keys.iter().any(|k| it["key"] == k.as_str());
        if !keys.is_empty() && !items.iter().any(has_key) {
            continue;
        }
        let items = if filtered && !keys.is_empty() { items.into_iter().filter(has_key).collect() } else { items };
        out.push(json!({"idComponent": component_id, "configurationId": config_id, "metadata": without_provider(items)}));
    }
    Ok(Json(Value::Array(out)))
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
