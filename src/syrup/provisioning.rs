//! The Provisioning API (notes: services.md §23; spec `provisioning/apiary.apib`) under
//! `/syrup/provisioning`: credentials per token, backend and type, each a Storage workspace
//! (DuckDB, reached through the Query service with the same token and the `workspaceId`).
//! Credentials expire `LIFETIME` after their last use (`touch`); `extend` moves it. `kill`
//! cancels the Query jobs running in the workspace. No Docker container (RStudio, Jupyter) runs
//! here: the `docker` backend's async create and delete are Queue jobs of the builtin
//! `keboola.provisioning` component that make or drop such a workspace; loading data into a
//! container or a transformation's sandbox (`input`, `output`, `save`, `load`,
//! `transformation`) answers a 400 that says so.
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::api::{SResult, SyrupBody, SyrupError, bad};
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Code, Params, Routes};
use crate::meta::provisioning::ProvisioningCredentials;
use crate::meta::workspaces::Workspace;
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
        .route(&format!("{p}/async/{{backend}}"), post(async_create))
        .route(&format!("{p}/async/{{backend}}/{{id}}"), post(async_second).delete(async_second))
        .route(&format!("{p}/async/{{backend}}/{{id}}/{{op}}"), post(async_data))
}

async fn index() -> Json<Value> {
    Json(json!({"api": "provisioning", "documentation": "https://provisioningapi.docs.apiary.io/", "backends": DB_BACKENDS}))
}

fn not_found(id: &str) -> SyrupError {
    SyrupError(ApiError::new(Code::ProvisioningCredentialsNotFound, format!("Credentials \"{id}\" not found.")))
}

fn backend_of(raw: &str) -> SResult<&str> {
    if raw == "docker" {
        return Ok(raw);
    }
    if !DB_BACKENDS.contains(&raw) {
        return Err(bad(format!("Unknown backend \"{raw}\"; use one of {}, or docker (async).", DB_BACKENDS.join(", "))));
    }
    Ok(raw)
}

fn type_of(backend: &str, raw: Option<String>) -> SResult<String> {
    let (allowed, default) = if backend == "docker" { (DOCKER_TYPES, "jupyter") } else { (DB_TYPES, "transformations") };
    let t = raw.filter(|s| !s.is_empty()).unwrap_or_else(|| default.into());
    if !allowed.contains(&t.as_str()) {
        return Err(bad(format!("Unknown credentials type \"{t}\" for the {backend} backend; use one of {}.", allowed.join(", "))));
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

/// The token's credentials of `backend` and `kind`, made (a new workspace) if it has none.
fn credentials_for(state: &AppState, auth: &Auth, backend: &str, kind: &str) -> SResult<(ProvisioningCredentials, Workspace)> {
    if let Some(c) = state.meta.token_provisioning_credentials(auth.project_id, auth.token.id, backend, kind)? {
        if let Some(w) = state.meta.workspace(auth.project_id, c.workspace_id)? {
            return Ok((c, w));
        }
        // Its workspace was deleted through Storage: the credentials went with it.
        state.meta.delete_provisioning_credentials(auth.project_id, c.id)?;
    }
    let (w, password) = crate::storage::workspaces::create_for_service(state, auth, None, "default")?;
    let now = crate::queue::now_ms();
    let mut c = ProvisioningCredentials {
        id: 0,
        project_id: auth.project_id,
        backend: backend.to_string(),
        kind: kind.to_string(),
        token_id: auth.token.id,
        workspace_id: w.id,
        sealed_password: state.secrets.seal(&password.unwrap_or_default()),
        created_ms: now,
        touch_ms: now,
    };
    c.id = match state.meta.insert_provisioning_credentials(&c) {
        Ok(id) => id,
        Err(e) => {
            let _ = crate::storage::workspaces::drop_workspace(state, &w);
            return Err(e.into());
        }
    };
    Ok((c, w))
}

/// `POST /{backend}` `{type}`: the token's credentials of that type, made if it has none (201).
async fn create(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(backend): Path<String>, body: SyrupBody) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    let backend = backend_of(&backend)?;
    if backend == "docker" {
        return Err(bad("The docker backend is created through the async action (POST /provisioning/async/docker)."));
    }
    let kind = type_of(backend, body.0.get("type").and_then(crate::http::params::scalar_to_string))?;
    let (c, w) = credentials_for(&state, &auth, backend, &kind)?;
    Ok((StatusCode::CREATED, Json(credentials_json(&state, &c, &w, false))))
}

/// `GET /{backend}?type=`: the token's credentials of that type (404 when it has none).
async fn find(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(backend): Path<String>, req: Request) -> SResult<Json<Value>> {
    let auth = auth?;
    let p = Params::from_query(req.uri().query())?;
    let backend = backend_of(&backend)?;
    let kind = type_of(backend, p.str("type"))?;
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

/// The Queue component that runs the async (Docker backend) tasks.
pub const COMPONENT: &str = "keboola.provisioning";

fn async_job(state: &AppState, auth: &Auth, command: &str, parameters: Value) -> SResult<Json<Value>> {
    let mut fields = serde_json::Map::new();
    fields.insert("component".into(), json!(COMPONENT));
    fields.insert("configData".into(), json!({"parameters": parameters.clone()}));
    let mut new = crate::queue::jobs::build(state, auth, crate::queue::jobs::JobRequest::parse(&fields)?)?;
    if let Some(def) = new.definition.as_object_mut() {
        def.insert("syrupComponent".into(), json!("provisioning"));
        def.insert("syrupCommand".into(), json!(command));
        def.insert("syrupParams".into(), parameters);
    }
    let job = crate::queue::store::insert(state, &new, &auth.secret)?;
    Ok(Json(json!({"id": job.id, "url": format!("{}/queue/job/{}", super::syrup_url(state), job.id), "status": "waiting"})))
}

/// `POST /async/docker` `{type}`: a job that makes the token's credentials of that type (a SQL
/// workspace: no RStudio or Jupyter container runs here); `result.credentials.id` names them.
async fn async_create(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(backend): Path<String>, body: SyrupBody) -> SResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    if backend != "docker" {
        return Err(bad("Only the \"docker\" backend has async actions."));
    }
    let kind = body.0.get("type").and_then(crate::http::params::scalar_to_string).unwrap_or_default();
    if !DOCKER_TYPES.contains(&kind.as_str()) {
        return Err(bad(format!("Invalid request: \"type\" must be one of {}.", DOCKER_TYPES.join(", "))));
    }
    let params = json!({"task": "create", "backend": "docker", "type": kind, "input": body.0.get("input").cloned().unwrap_or(json!([]))});
    Ok((StatusCode::ACCEPTED, async_job(&state, &auth, "create", params)?))
}

/// `DELETE /async/docker/{id}`: a job that drops the credentials and their workspace.
/// `POST /async/docker/transformation` (a transformation's sandbox) is refused: it would need the
/// legacy transformation's input loaded into a container.
async fn async_second(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    method: axum::http::Method,
    Path((backend, id)): Path<(String, String)>,
) -> SResult<Json<Value>> {
    let auth = auth?;
    if backend != "docker" {
        return Err(bad("Only the \"docker\" backend has async actions."));
    }
    if method != axum::http::Method::DELETE {
        return Err(bad(
            "Transformation sandboxes in Docker containers are not provided by this stack: create credentials (POST /provisioning/snowflake) \
             and load the transformation's input through Storage (POST /v2/storage/workspaces/{id}/load).",
        ));
    }
    load(&state, &auth, "docker", &id)?;
    async_job(&state, &auth, "delete", json!({"task": "delete", "backend": "docker", "id": id}))
}

/// Loading data into, or saving files from, a Docker sandbox: not provided (no containers).
async fn async_data(auth: Result<Auth, ApiError>, Path(_params): Path<std::collections::HashMap<String, String>>) -> SResult<Json<Value>> {
    let _auth = auth?;
    Err(bad(
        "Loading data into or saving files from Docker sandboxes is not provided by this stack: the credentials are a SQL workspace; \
         load tables through Storage (POST /v2/storage/workspaces/{id}/load) and read them through the Query API.",
    ))
}

/// The `keboola.provisioning` job's task (run by the runner): `Ok` is the message it logs.
pub fn run_task(state: &AppState, auth: &Auth, configuration: &Value) -> Result<String, String> {
    let p = &configuration["parameters"];
    let backend = p["backend"].as_str().unwrap_or("docker");
    match p["task"].as_str().unwrap_or("create") {
        "create" => {
            let kind = p["type"].as_str().unwrap_or("jupyter");
            let (c, w) = credentials_for(state, auth, backend, kind).map_err(|e| e.0.0.message)?;
            Ok(format!("Credentials {} ({backend}, {kind}) are ready: workspace {}.", c.id, w.id))
        }
        "delete" => {
            let id = p["id"].as_str().map(str::to_string).unwrap_or_else(|| p["id"].to_string());
            let (c, w) = load(state, auth, backend, &id).map_err(|e| e.0.0.message)?;
            crate::storage::workspaces::drop_workspace(state, &w).map_err(|e| e.0.message)?;
            state.meta.delete_provisioning_credentials(auth.project_id, c.id).map_err(|e| e.message)?;
            Ok(format!("Credentials {} deleted.", c.id))
        }
        other => Err(format!("Unknown provisioning task \"{other}\".")),
    }
}

/// What a finished provisioning job shows in Syrup's `result` (the spec's async examples).
pub fn job_result(state: &AppState, job: &crate::queue::store::Job) -> Option<Value> {
    if job.component != COMPONENT || job.status != kbstack_core::QueueJobStatus::Success {
        return None;
    }
    let p = &job.def("syrupParams");
    match p["task"].as_str() {
        Some("create") => {
            let kind = p["type"].as_str()?;
            let c = state.meta.token_provisioning_credentials(job.project_id, job.token_id, "docker", kind).ok()??;
            let w = state.meta.workspace(job.project_id, c.workspace_id).ok()??;
            let out = credentials_json(state, &c, &w, false);
            Some(json!({"status": "ok", "credentials": out["credentials"], "url": out["url"]}))
        }
        Some("delete") => Some(json!({"status": "ok"})),
        _ => None,
    }
}
