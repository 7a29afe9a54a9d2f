//! Storage workspaces (notes: storage-api.md §14): create (sync 201, or `async=true` as a
//! `workspaceCreate` job), list, detail, delete (`workspaceDrop` job with `async`), password
//! reset, public key, `load`/`load-clone` of Storage tables (`workspaceLoad` job), and the
//! workspaces of a configuration. The data is in the workspace engine (`crate::workspace`); the
//! record in `meta::workspaces`. `tables-async`/`import-async` read a workspace table through
//! `export_source`.
//!
//! Who sees a workspace: the token that made it, and tokens that manage buckets; others get a
//! 404. A load reads only tables of buckets the token may read.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{Auth, Need, hash_token};
use super::wire::workspace as wire;
use super::{configurations, jobs, tables};
use crate::app::AppState;
use crate::backend::{CsvSource, Select};
use crate::http::params::{parse_bool, scalar_to_string};
use crate::http::routes::{get, post};
use crate::http::{ApiError, ApiResult, Code, Params, Routes, now_iso};
use crate::meta::workspaces::Workspace;
use crate::workspace::{LoadColumn, WorkspaceLoad, database_name, schema_name};

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/v2/storage/workspaces", get(list).post(create))
        .route("/v2/storage/workspaces/{id}", get(detail).delete(remove))
        .route("/v2/storage/workspaces/{id}/load", post(load))
        .route("/v2/storage/workspaces/{id}/load-clone", post(load))
        .route("/v2/storage/workspaces/{id}/password", post(reset_password))
        .route("/v2/storage/workspaces/{id}/public-key", post(set_public_key))
        .route("/v2/storage/components/{id}/configs/{config}/workspaces", get(config_list).post(config_create))
}

const LOGIN_TYPES: &[&str] = &[
    "default",
    "none",
    "snowflake-legacy-service",
    "snowflake-person-sso",
    "snowflake-person-keypair",
    "snowflake-service-keypair",
];

/// Login types that get a password (the others log in by key pair, SSO, or not at all).
fn has_password(login_type: &str) -> bool {
    matches!(login_type, "default" | "snowflake-legacy-service")
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::WorkspaceNotFound, format!("Workspace {id} not found"))
}

fn new_password() -> String {
    use rand::Rng;
    rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(32).map(char::from).collect()
}

pub(crate) fn may_see(auth: &Auth, w: &Workspace) -> bool {
    auth.can_manage_buckets() || w.creator_token_id == auth.token.id
}

/// A workspace of the request's project and branch the token may use (404 otherwise).
pub fn load_workspace(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Workspace> {
    let numeric: i64 = id.trim().parse().map_err(|_| not_found(id))?;
    match state.meta.workspace(auth.project_id, numeric)? {
        Some(w) if w.branch_id == auth.branch_id && may_see(auth, &w) => Ok(w),
        _ => Err(not_found(id)),
    }
}

/// `host[:port]` of the stack's public URL: where clients reach kbstack.
fn public_host(state: &AppState) -> String {
    let root = state.urls.root();
    let without_scheme = root.split_once("://").map(|(_, rest)| rest).unwrap_or(&root);
    without_scheme.split('/').next().unwrap_or_default().to_string()
}

pub fn workspace_wire(state: &AppState, w: &Workspace, password: Option<String>) -> wire::Workspace {
    wire::Workspace {
        id: w.id,
        name: schema_name(w.id),
        kind: "table".into(),
        component: w.component.clone(),
        configuration_id: w.configuration_id.clone(),
        created: w.created.clone(),
        backend_size: w.backend_size.clone(),
        statement_timeout_seconds: w.statement_timeout_seconds,
        connection: wire::Connection {
            backend: w.backend.clone(),
            host: public_host(state),
            region: "local".into(),
            database: database_name(w.id),
            schema: schema_name(w.id),
            warehouse: "KBSTACK".into(),
            user: format!("KBSTACK_{}", schema_name(w.id)),
            login_type: w.login_type.clone(),
            password,
        },
        creator_token: wire::CreatorToken { id: w.creator_token_id, description: w.creator_description.clone() },
        creator_user: None,
        read_only_storage_access: w.read_only_storage_access,
        platform_usage_type: "user".into(),
        sso_login_available: false,
    }
}

fn to_json(v: &wire::Workspace) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

/// A create request, checked before anything is made.
#[derive(Clone)]
struct NewWorkspace {
    backend_size: Option<String>,
    login_type: String,
    read_only_storage_access: bool,
    statement_timeout_seconds: i64,
    public_key: Option<String>,
    configuration: Option<(String, String)>,
}

fn new_workspace(p: &Params, configuration: Option<(String, String)>) -> ApiResult<NewWorkspace> {
    match p.str("backend").as_deref() {
        None | Some("") | Some("snowflake") => {}
        Some(other) => {
            return Err(ApiError::validation(format!(
                "Invalid request:\n - backend: \"{other}\" is not supported; this stack serves SQL workspaces reported as \"snowflake\"."
            )));
        }
    }
    let login_type = p.str("loginType").filter(|l| !l.is_empty()).unwrap_or_else(|| "default".into());
    if !LOGIN_TYPES.contains(&login_type.as_str()) {
        return Err(ApiError::validation(format!(
            "Invalid request:\n - loginType: \"{login_type}\" is not one of {}.",
            LOGIN_TYPES.join(", ")
        )));
    }
    let public_key = p.str("publicKey").filter(|k| !k.trim().is_empty());
    if login_type.ends_with("-keypair") && public_key.is_none() {
        return Err(ApiError::validation(format!("Invalid request:\n - publicKey: required for loginType \"{login_type}\".")));
    }
    let statement_timeout_seconds = match p.int("statementTimeoutSeconds")? {
        Some(t) if t < 0 => return Err(ApiError::validation("Invalid request:\n - statementTimeoutSeconds: This value should be positive.")),
        Some(t) => t,
        None => 7200,
    };
    let backend_size = p.str("backendSize").filter(|s| !s.is_empty());
    if let Some(size) = &backend_size {
        if !["xsmall", "small", "medium", "large"].contains(&size.as_str()) {
            return Err(ApiError::validation(format!("Invalid request:\n - backendSize: \"{size}\" is not one of small, medium, large.")));
        }
    }
    Ok(NewWorkspace {
        backend_size,
        login_type,
        // Keboola turns read-only Storage access on for new projects' workspaces unless asked
        // not to; keboola-cli relies on it (it sends no flag and then reads "bucket"."table").
        read_only_storage_access: p.bool("readOnlyStorageAccess")?.unwrap_or(true),
        statement_timeout_seconds,
        public_key,
        configuration,
    })
}

/// Record and make the workspace; nothing stays behind on failure. Blocking. The password (for
/// password logins) is in the answer only.
fn make(state: &AppState, auth: &Auth, n: &NewWorkspace) -> ApiResult<(Workspace, Option<String>)> {
    let password = has_password(&n.login_type).then(new_password);
    let mut w = Workspace {
        id: 0,
        project_id: auth.project_id,
        branch_id: auth.branch_id,
        component: n.configuration.as_ref().map(|c| c.0.clone()),
        configuration_id: n.configuration.as_ref().map(|c| c.1.clone()),
        backend: "snowflake".into(),
        backend_size: n.backend_size.clone(),
        login_type: n.login_type.clone(),
        read_only_storage_access: n.read_only_storage_access,
        statement_timeout_seconds: n.statement_timeout_seconds,
        created: now_iso(),
        creator_token_id: auth.token.id,
        creator_description: auth.token.description.clone(),
        password_hash: password.as_deref().map(hash_token),
        public_key: n.public_key.clone(),
    };
    w.id = state.meta.insert_workspace(&w)?;
    if let Err(e) = state.workspaces.create(w.id) {
        let _ = state.workspaces.remove(w.id);
        let _ = state.meta.delete_workspace(w.project_id, w.id);
        return Err(e.into());
    }
    Ok((w, password))
}

async fn create_in(state: AppState, auth: Auth, p: Params, configuration: Option<(String, String)>) -> ApiResult<Response> {
    let n = new_workspace(&p, configuration)?;
    let run_async = p.get("async").and_then(parse_bool).unwrap_or(false);
    if !run_async {
        let (w, password) = make(&state, &auth, &n)?;
        return Ok((StatusCode::CREATED, Json(to_json(&workspace_wire(&state, &w, password))?)).into_response());
    }
    let mut values = json!({"backend": "snowflake", "branchId": auth.branch_id, "loginType": n.login_type});
    if let Some((component, config)) = &n.configuration {
        values["component_id"] = json!(component);
        values["config_id"] = json!(config);
    }
    let spec = jobs::JobSpec { operation_name: "workspaceCreate", operation_params: json!({"values": values}), table_id: None, lock_key: None };
    let job_auth = auth.clone();
    // A job's results are stored: the password is not put there (reset it to get one).
    let answer = jobs::start(&state, &auth, spec, move |st| {
        let (w, _) = make(st, &job_auth, &n)?;
        to_json(&workspace_wire(st, &w, None))
    })
    .await?;
    Ok(answer.into_response())
}

async fn create(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<Response> {
    create_in(state, auth, p, None).await
}

async fn config_create(State(state): State<AppState>, auth: Auth, Path((component, config)): Path<(String, String)>, p: Params) -> ApiResult<Response> {
    configurations::require_active(&state, &auth, &component, &config)?;
    create_in(state, auth, p, Some((component, config))).await
}

fn list_json(state: &AppState, auth: &Auth, items: Vec<Workspace>) -> ApiResult<Json<Value>> {
    let out: Vec<Value> = items.iter().filter(|w| may_see(auth, w)).map(|w| to_json(&workspace_wire(state, w, None))).collect::<ApiResult<_>>()?;
    Ok(Json(Value::Array(out)))
}

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    list_json(&state, &auth, state.meta.workspaces(auth.project_id, auth.branch_id)?)
}

async fn config_list(State(state): State<AppState>, auth: Auth, Path((component, config)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    configurations::require_active(&state, &auth, &component, &config)?;
    list_json(&state, &auth, state.meta.configuration_workspaces(auth.project_id, auth.branch_id, &component, &config)?)
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let w = load_workspace(&state, &auth, &id)?;
    Ok(Json(to_json(&workspace_wire(&state, &w, None))?))
}

/// The engine's data first, then the record: a crash between leaves a record whose delete can
/// be repeated, never an engine file nothing points at.
pub fn drop_workspace(state: &AppState, w: &Workspace) -> ApiResult<()> {
    state.workspaces.remove(w.id)?;
    state.meta.delete_workspace(w.project_id, w.id)?;
    Ok(())
}

/// Every workspace of a configuration, in every branch (the configuration is purged).
pub fn drop_configuration_workspaces(state: &AppState, project_id: i64, component: &str, configuration_id: &str) -> ApiResult<()> {
    for branch in state.meta.branches(project_id.into())? {
        for w in state.meta.configuration_workspaces(project_id, branch.id, component, configuration_id)? {
            drop_workspace(state, &w)?;
        }
    }
    Ok(())
}

/// Every workspace of a branch (the branch is deleted).
pub fn drop_branch_workspaces(state: &AppState, project_id: i64, branch_id: i64) -> ApiResult<()> {
    for w in state.meta.workspaces(project_id, branch_id)? {
        drop_workspace(state, &w)?;
    }
    Ok(())
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Response> {
    let w = load_workspace(&state, &auth, &id)?;
    if !p.get("async").and_then(parse_bool).unwrap_or(false) {
        drop_workspace(&state, &w)?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let spec = jobs::JobSpec {
        operation_name: "workspaceDrop",
        operation_params: json!({"workspaceId": w.id.to_string()}),
        table_id: None,
        lock_key: Some(lock_key(&w)),
    };
    let answer = jobs::start(&state, &auth, spec, move |st| {
        drop_workspace(st, &w)?;
        Ok(Value::Null)
    })
    .await?;
    Ok(answer.into_response())
}

fn lock_key(w: &Workspace) -> String {
    format!("workspace:{}:{}", w.project_id, w.id)
}

async fn reset_password(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<wire::PasswordReset>)> {
    let w = load_workspace(&state, &auth, &id)?;
    if !has_password(&w.login_type) {
        return Err(ApiError::validation(format!(
            "Workspace {id} has loginType \"{}\", which has no password; set a public key instead.",
            w.login_type
        )));
    }
    let password = new_password();
    state.meta.set_workspace_password(w.project_id, w.id, Some(&hash_token(&password)))?;
    Ok((StatusCode::CREATED, Json(wire::PasswordReset { password })))
}

async fn set_public_key(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let w = load_workspace(&state, &auth, &id)?;
    let key = p.required_str("publicKey")?;
    if !key.contains("PUBLIC KEY") && key.trim().len() < 32 {
        return Err(ApiError::validation("Invalid request:\n - publicKey: not a PEM public key."));
    }
    state.meta.set_workspace_public_key(w.project_id, w.id, &key)?;
    Ok((StatusCode::CREATED, Json(json!({"publicKey": key}))))
}

/// One `input[]` item of a load, resolved against Storage with the token's rights.
struct Input {
    table: tables::Table,
    load: WorkspaceLoad,
}

fn load_columns(item: &Params) -> ApiResult<Vec<LoadColumn>> {
    let items: Vec<Value> = match item.get("columns") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => o.values().cloned().collect(),
        Some(Value::String(s)) => s.split(',').map(|c| json!(c.trim())).filter(|c| c != "").collect(),
        Some(_) => return Err(ApiError::validation("Invalid request:\n - input[].columns: This value should be an array.")),
    };
    items
        .iter()
        .map(|c| match c {
            Value::Object(o) => {
                let source = o.get("source").and_then(scalar_to_string).filter(|s| !s.is_empty()).ok_or_else(|| {
                    ApiError::validation("Invalid request:\n - input[].columns[].source: This value should not be blank.")
                })?;
                let destination = o.get("destination").and_then(scalar_to_string).filter(|s| !s.is_empty()).unwrap_or_else(|| source.clone());
                let data_type = o.get("type").and_then(scalar_to_string).filter(|s| !s.is_empty()).map(|t| {
                    match o.get("length").and_then(scalar_to_string).filter(|l| !l.is_empty()) {
                        Some(l) => format!("{t}({l})"),
                        None => t,
                    }
                });
                Ok(LoadColumn { source, destination, data_type })
            }
            other => match scalar_to_string(other).filter(|s| !s.is_empty()) {
                Some(name) => Ok(LoadColumn { source: name.clone(), destination: name, data_type: None }),
                None => Err(ApiError::validation("Invalid request:\n - input[].columns: each column needs a name.")),
            },
        })
        .collect()
}

fn valid_destination(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.contains('\0') && !name.contains('/')
}

fn parse_input(state: &AppState, auth: &Auth, value: &Value) -> ApiResult<Input> {
    let Value::Object(map) = value else {
        return Err(ApiError::validation("Invalid request:\n - input: each item should be an object."));
    };
    let item = Params { values: map.clone(), files: Vec::new() };
    if item.has("dataFileId") {
        return Err(ApiError::validation(
            "Invalid request:\n - input[].dataFileId: files load only into file (ABS) workspaces, which this stack does not serve.",
        ));
    }
    let source = item.required_str("source").map_err(|_| ApiError::validation("Invalid request:\n - input[].source: This value should not be blank."))?;
    let destination = item.required_str("destination").map_err(|_| ApiError::validation("Invalid request:\n - input[].destination: This value should not be blank."))?;
    if !valid_destination(&destination) {
        return Err(ApiError::validation(format!("Invalid request:\n - input[].destination: \"{destination}\" is not a valid table name.")));
    }
    if item.flag("incremental")? {
        return Err(ApiError::validation("Invalid request:\n - input[].incremental: incremental workspace loads are not supported by this stack."));
    }
    let mut source_auth = auth.clone();
    if let Some(branch) = item.int("sourceBranchId")? {
        if !state.meta.branch_exists(auth.project_id, branch)? {
            return Err(ApiError::new(Code::BranchNotFound, format!("Branch \"{branch}\" not found.")));
        }
        source_auth.branch_id = branch;
    }
    let table = tables::load_table(state, &source_auth, &source, Need::Read)?;
    let mut select: Select = tables::select::parse_select(&item, None)?;
    select.columns = None;
    if let Some(rows) = item.int("rows")? {
        if rows < 0 {
            return Err(ApiError::validation("Invalid request:\n - input[].rows: This value should be positive."));
        }
        if rows > 0 {
            select.limit = Some(rows as u64);
        }
    }
    let load = WorkspaceLoad {
        source: table.location(),
        destination,
        select,
        columns: load_columns(&item)?,
        overwrite: item.flag("overwrite")?,
    };
    Ok(Input { table, load })
}

fn inputs(p: &Params) -> ApiResult<Vec<Value>> {
    match p.get("input") {
        Some(Value::Array(a)) if !a.is_empty() => Ok(a.clone()),
        Some(Value::Object(o)) if !o.is_empty() => Ok(o.values().cloned().collect()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) if !a.is_empty() => Ok(a),
            _ => Err(ApiError::validation("Invalid request:\n - input: This value should be an array of tables.")),
        },
        _ => Err(ApiError::validation("Invalid request:\n - input: This value should not be blank.")),
    }
}

/// `load` and `load-clone` (a copy either way): every input checked first, then one job that
/// clears the workspace unless `preserve`, and copies each table.
async fn load(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let w = load_workspace(&state, &auth, &id)?;
    let preserve = p.flag("preserve")?;
    let raw = inputs(&p)?;
    let items: Vec<Input> = raw.iter().map(|v| parse_input(&state, &auth, v)).collect::<ApiResult<_>>()?;
    let mut seen = std::collections::HashSet::new();
    for i in &items {
        if !seen.insert(i.load.destination.to_ascii_lowercase()) {
            return Err(ApiError::validation(format!("Invalid request:\n - input: the destination \"{}\" is used twice.", i.load.destination)));
        }
    }
    let spec = jobs::JobSpec {
        operation_name: "workspaceLoad",
        operation_params: json!({"workspaceId": w.id.to_string(), "preserve": preserve, "input": raw, "queue": "main"}),
        table_id: None,
        lock_key: Some(lock_key(&w)),
    };
    jobs::start(&state, &auth, spec, move |st| {
        if !preserve {
            st.workspaces.clear(w.id)?;
        }
        let mut loaded = Vec::new();
        for i in &items {
            let rows = st.workspaces.load(w.id, &i.load)?;
            loaded.push(json!({"source": i.table.id, "destination": i.load.destination, "rowsCount": rows}));
        }
        Ok(json!({"workspaceId": w.id, "tables": loaded}))
    })
    .await
}

/// A workspace table as a CSV source for `tables-async`/`import-async` (`dataWorkspaceId` with
/// `dataObject` or the deprecated `dataTableName`). The staging directory goes with the guard.
pub fn export_source(state: &AppState, w: &Workspace, table: &str) -> ApiResult<(CsvSource, tempfile::TempDir)> {
    let dir = tempfile::tempdir_in(state.blobs.staging_dir())?;
    let source = state.workspaces.export(w.id, table, dir.path())?;
    Ok((source, dir))
}

/// The workspace and table a table create or import names, when it names one.
pub fn source_param(state: &AppState, auth: &Auth, p: &Params) -> ApiResult<Option<(Workspace, String)>> {
    let Some(id) = p.str("dataWorkspaceId").filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let w = load_workspace(state, auth, &id)?;
    let table = p
        .str("dataObject")
        .filter(|s| !s.is_empty())
        .or_else(|| p.str("dataTableName").filter(|s| !s.is_empty()))
        .ok_or_else(|| ApiError::validation("Invalid request:\n - dataObject: the workspace table to read is required with dataWorkspaceId."))?;
    Ok(Some((w, table)))
}

/// A workspace made for another service (an Editor session): in `auth.branch_id`, under a
/// configuration when given, with the login type asked for (one of `LOGIN_TYPES`). The
/// password of a password login is in the answer only.
pub fn create_for_service(state: &AppState, auth: &Auth, configuration: Option<(String, String)>, login_type: &str) -> ApiResult<(Workspace, Option<String>)> {
    if !LOGIN_TYPES.contains(&login_type) {
        return Err(ApiError::validation(format!("Invalid request:\n - loginType: \"{login_type}\" is not one of {}.", LOGIN_TYPES.join(", "))));
    }
    let n = NewWorkspace {
        backend_size: None,
        login_type: login_type.to_string(),
        read_only_storage_access: false,
        statement_timeout_seconds: 7200,
        public_key: None,
        configuration,
    };
    make(state, auth, &n)
}
