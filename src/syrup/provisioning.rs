//! The Provisioning API (notes: services.md §23; spec `provisioning/apiary.apib`) under
//! `/syrup/provisioning`: credentials per token, backend and type, each a Storage workspace
//! (DuckDB, reached through the Query service with the same token and the `workspaceId`).
//! Credentials expire `LIFETIME` after their last use (`touch`); `extend` moves it. `kill`
//! cancels the Query jobs running in the workspace. Docker containers (RStudio, Jupyter) are not
//! run by this stack: the async (Docker) routes answer a 400 that says so.
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::api::{SResult, SyrupBody, SyrupError, bad};
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Code, Params, Routes};
use crate::meta::provisioning::{ProvisioningCredentials, ProvisioningStore};
use crate::meta::query_jobs::QueryJobStore;
use crate::meta::workspaces::{Workspace, WorkspaceStore};
use crate::storage::auth::Auth;

/// How long credentials live after their last use (Keboola's sandboxes: 5 days).
const LIFETIME_MS: i64 = 5 * 24 * 3600 * 1000;

/// Database backends and the types each accepts (the spec's table; `read` for read-only use).
const DB_BACKENDS: &[&str] = &["snowflake", "redshift", "redshift-workspace", "synapse", "exasol", "teradata", "bigquery"];
const DB_TYPES: &[&str] = &["transformations", "sandbox", "writer", "luckyguess", "read"];
const DOCKER_TYPES: &[&str] = &["rstudio", "jupyter", "julipyter"];

pub fn routes() -> Routes<AppState> {
    let p = "/syrup/provisioning";
    Routes::new()
        .route(p, get(index))
        .route(&format!("{p}/{{backend}}"), post(create).get(find))
        .route(&format!("{p}/{{backend}}/{{id}}"), get(detail).delete(drop))
        .route(&format!("{p}/{{backend}}/{{id}}/kill"), post(kill))
        .route(&format!("{p}/{{backend}}/{{id}}/extend"), post(extend))
        .route(&format!("{p}/async/{{backend}}"), post(docker_async))
        .route(&format!("{p}/async/{{backend}}/{{id}}"), post(docker_async).delete(docker_async))
        .route(&format!("{p}/async/{{backend}}/{{id}}/{{op}}"), post(docker_async))
}

async fn index() -> Json<Value> {
    Json(json!({"api": "provisioning", "documentation": "https://provisioningapi.docs.apiary.io/", "backends": DB_BACKENDS}))
}

fn not_found(id: &str) -> SyrupError {
    SyrupError(ApiError::new(Code::ProvisioningCredentialsNotFound, format!("Credentials \"{id}\" not found.")))
}

fn backend_of(raw: &str) -> SResult<&str> {
    if raw == "docker" {
        return Err(docker_refusal());
    }
    if !DB_BACKENDS.contains(&raw) {
        return Err(bad(format!("Unknown backend \"{raw}\"; use one of {}, or docker (async).", DB_BACKENDS.join(", "))));
    }
    Ok(raw)
}

fn docker_refusal() -> SyrupError {
    bad("Docker sandboxes (RStudio, Jupyter, Julia containers) are not run by this stack. Use database credentials \
         (POST /provisioning/snowflake) or the Workspaces API (data-science), whose workspaces are SQL workspaces here.")
}

fn type_of(raw: Option<String>) -> SResult<String> {
    let t = raw.filter(|s| !s.is_empty()).unwrap_or_else(|| "transformations".into());
    if DOCKER_TYPES.contains(&t.as_str()) {
        return Err(docker_refusal());
    }
    if !DB_TYPES.contains(&t.as_str()) {
        return Err(bad(format!("Unknown credentials type \"{t}\"; use one of {}.", DB_TYPES.join(", "))));
    }
    Ok(t)
}

/// `2019-08-26T20:50:01+00:00`
fn iso(ms: i64) -> String {
    crate::queue::iso_ms(ms)
}

/// Credentials of the caller's project whose workspace still exists, in the token's reach.
fn load(state: &AppState, auth: &Auth, backend: &str, id: &str) -> SResult<(ProvisioningCredentials, Workspace)> {
    let n: i64 = id.trim().parse().map_err(|_| not_found(id))?;
    let c = state.meta.provisioning_credentials(auth.project_id, n)?.ok_or_else(|| not_found(id))?;
    if c.backend != backend || (c.token_id != auth.token.id && !auth.can_manage_buckets()) {
        return Err(not_found(id));
    }
    let w = state.meta.workspace(auth.project_id, c.workspace_id)?.ok_or_else(|| not_found(id))?;
    Ok((c, w))
}

/// The spec's credentials object: connection details of the workspace (the Query service
/// reaches it with the Storage token and `workspaceId`).
fn credentials_json(state: &AppState, c: &ProvisioningCredentials, w: &Workspace, detail: bool) -> Value {
    let password = state.secrets.open(&c.sealed_password).unwrap_or_default();
    let wire = crate::storage::workspaces::workspace_wire(state, w, Some(password.clone()));
    let conn = &wire.connection;
    let (host, port) = match conn.host.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse::<u16>().ok()),
        _ => (conn.host.clone(), None),
    };
    let mut out = json!({
        "credentials": {
            "id": c.id,
            "hostname": host,
            "port": port,
            "db": conn.database,
            "schema": conn.schema,
            "warehouse": conn.warehouse,
            "user": conn.user,
            "password": password,
            "workspaceId": w.id.to_string(),
        },
        "id": c.id,
        "touch": c.touch_ms / 1000,
        "expiration": iso(c.touch_ms + LIFETIME_MS),
    });
    if detail {
        out["inUse"] = json!(in_use(state, c));
        out["canExtend"] = json!(true);
    } else {
        out["url"] = json!(format!("{}/{}", c.backend, c.id));
    }
    out
}

/// Running Query jobs in the credentials' workspace.
fn running_queries(state: &AppState, c: &ProvisioningCredentials) -> Vec<String> {
    let ids = state.meta.unfinished_query_jobs().unwrap_or_default();
    ids.into_iter()
        .filter(|id| state.meta.query_job(id).ok().flatten().is_some_and(|j| j.project_id == c.project_id && j.workspace_id == c.workspace_id))
        .collect()
}

fn in_use(state: &AppState, c: &ProvisioningCredentials) -> bool {
    !running_queries(state, c).is_empty()
}

/// `POST /{backend}` `{type}`: the token's credentials of that type, made if it has none (201).
async fn create(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(backend): Path<String>, body: SyrupBody) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    let backend = backend_of(&backend)?;
    let kind = type_of(body.0.get("type").and_then(crate::http::params::scalar_to_string))?;
    if let Some(c) = state.meta.token_provisioning_credentials(auth.project_id, auth.token.id, backend, &kind)? {
        if let Some(w) = state.meta.workspace(auth.project_id, c.workspace_id)? {
            return Ok((StatusCode::CREATED, Json(credentials_json(&state, &c, &w, false))));
        }
        // Its workspace was deleted through Storage: the credentials went with it.
        state.meta.delete_provisioning_credentials(auth.project_id, c.id)?;
    }
    let (w, password) = crate::storage::workspaces::create_for_service(&state, &auth, None, "default")?;
    let now = crate::queue::now_ms();
    let mut c = ProvisioningCredentials {
        id: 0,
        project_id: auth.project_id,
        backend: backend.to_string(),
        kind,
        token_id: auth.token.id,
        workspace_id: w.id,
        sealed_password: state.secrets.seal(&password.unwrap_or_default()),
        created_ms: now,
        touch_ms: now,
    };
    c.id = match state.meta.insert_provisioning_credentials(&c) {
        Ok(id) => id,
        Err(e) => {
            let _ = crate::storage::workspaces::drop_workspace(&state, &w);
            return Err(e.into());
        }
    };
    Ok((StatusCode::CREATED, Json(credentials_json(&state, &c, &w, false))))
}

/// `GET /{backend}?type=`: the token's credentials of that type (404 when it has none).
async fn find(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(backend): Path<String>, req: Request) -> SResult<Json<Value>> {
    let auth = auth?;
    let p = Params::from_query(req.uri().query())?;
    let backend = backend_of(&backend)?;
    let kind = type_of(p.str("type"))?;
    let c = state
        .meta
        .token_provisioning_credentials(auth.project_id, auth.token.id, backend, &kind)?
        .ok_or_else(|| SyrupError(ApiError::new(Code::ProvisioningCredentialsNotFound, format!("This token has no {backend} credentials of type \"{kind}\"."))))?;
    let w = state.meta.workspace(auth.project_id, c.workspace_id)?.ok_or_else(|| not_found(&c.id.to_string()))?;
    Ok(Json(credentials_json(&state, &c, &w, true)))
}

async fn detail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((backend, id)): Path<(String, String)>) -> SResult<Json<Value>> {
    let auth = auth?;
    let (c, w) = load(&state, &auth, backend_of(&backend)?, &id)?;
    Ok(Json(credentials_json(&state, &c, &w, true)))
}

/// Drop the credentials and their workspace.
async fn drop(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((backend, id)): Path<(String, String)>) -> SResult<Json<Value>> {
    let auth = auth?;
    let (c, w) = load(&state, &auth, backend_of(&backend)?, &id)?;
    crate::storage::workspaces::drop_workspace(&state, &w)?;
    state.meta.delete_provisioning_credentials(auth.project_id, c.id)?;
    Ok(Json(json!({"status": "ok"})))
}

/// Cancel the Query jobs running in the workspace.
async fn kill(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((backend, id)): Path<(String, String)>) -> SResult<Json<Value>> {
    let auth = auth?;
    let (c, _) = load(&state, &auth, backend_of(&backend)?, &id)?;
    for job in running_queries(&state, &c) {
        // A job that finished meanwhile is fine.
        let _ = crate::query::cancel(&state, &auth, &job, "Killed through the Provisioning API.");
    }
    Ok(Json(json!({"status": "ok"})))
}

/// Mark the credentials used now: their expiration moves `LIFETIME` ahead.
async fn extend(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((backend, id)): Path<(String, String)>) -> SResult<Json<Value>> {
    let auth = auth?;
    let (c, _) = load(&state, &auth, backend_of(&backend)?, &id)?;
    let now = crate::queue::now_ms();
    state.meta.touch_provisioning_credentials(auth.project_id, c.id, now)?;
    Ok(Json(json!({"touch": now / 1000, "expiration": iso(now + LIFETIME_MS), "id": c.id})))
}

/// The async (Docker container) routes: checked, then refused (no Docker sandboxes here).
async fn docker_async(auth: Result<Auth, ApiError>, Path(params): Path<std::collections::HashMap<String, String>>) -> SResult<Json<Value>> {
    let _auth = auth?;
    if params.get("backend").map(String::as_str) != Some("docker") {
        return Err(bad("Only the \"docker\" backend has async actions."));
    }
    Err(docker_refusal())
}
