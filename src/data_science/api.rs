//! The Data Science HTTP API: data apps under `/data-science` (and `/sandboxes`, the service's
//! old id; host `data-science.<stack>`). Errors use the PHP services' envelope `{error, code,
//! status: "error", exceptionId}` (sandboxes-service is a Symfony app).
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::{App, Run, Settings};
use super::{Change, NewApp};
use crate::app::AppState;
use crate::http::routes::get;
use crate::http::{ApiError, Code, Params, Routes};
use crate::meta::data_apps::DataApp;
use crate::storage::auth::Auth;

/// The service's ids: `data-science` and the old `sandboxes`, both serving the same API.
pub const MOUNTS: [&str; 2] = ["/data-science", "/sandboxes"];
/// `limit` maximum of `GET /apps` (spec).
const MAX_LIMIT: i64 = 500;

pub fn routes() -> Routes<AppState> {
    let mut routes = Routes::new();
    for m in MOUNTS {
        routes = routes
            .route(m, get(index))
            .route(&format!("{m}/apps"), get(list).post(create))
            .route(&format!("{m}/apps/{{id}}"), get(detail).patch(update).delete(remove))
            .route(&format!("{m}/apps/{{id}}/password"), get(password))
            .route(&format!("{m}/apps/{{id}}/runs"), get(runs))
            .route(&format!("{m}/apps/{{id}}/logs/tail"), get(logs_tail))
            .route(&format!("{m}/apps/{{id}}/git-repo"), get(git_repo))
            .route(&format!("{m}/runtimes"), get(runtimes))
            .route(&format!("{m}/sandboxes"), get(sandbox_list))
            .route(&format!("{m}/sandboxes/{{id}}"), get(sandbox_detail).delete(sandbox_delete));
    }
    routes.map_router(|r| r.layer(axum::middleware::from_fn(envelope)))
}

/// An `ApiError` in the service's envelope.
pub struct DataScienceError(pub ApiError);

impl From<ApiError> for DataScienceError {
    fn from(e: ApiError) -> Self {
        DataScienceError(e)
    }
}

impl From<kbstack_core::Error> for DataScienceError {
    fn from(e: kbstack_core::Error) -> Self {
        DataScienceError(e.into())
    }
}

impl IntoResponse for DataScienceError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "data-science-", |_| {})
    }
}

type DResult<T> = Result<T, DataScienceError>;

async fn envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| DataScienceError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "data-science", "documentation": "https://sandboxes.keboola.com/documentation"}))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::DataAppInvalidPayload, message)
}

/// The app as the API shows it: settings from its configuration, activity from the runtime.
fn app_json(state: &AppState, auth: &Auth, app: &DataApp) -> App {
    let config = crate::storage::configurations::find_active(state, auth.project_id, super::branch_of(auth, app), super::COMPONENT, &app.config_id)
        .ok()
        .flatten()
        .unwrap_or(Value::Null);
    let params = &config["configuration"]["parameters"];
    let settings = Settings {
        auto_suspend_after_seconds: params["autoSuspendAfterSeconds"].as_u64().unwrap_or(super::DEFAULT_AUTO_SUSPEND_SECS),
        size: params["size"].as_str().unwrap_or("tiny").to_string(),
    };
    App::of(app, super::url(state, app), settings, state.data_apps.last_request(app.id))
}

fn query(req: &Request) -> Result<Params, ApiError> {
    Params::from_query(req.uri().query()).map_err(|e| invalid(e.0.message))
}

fn number(p: &Params, name: &str, default: i64, min: i64, max: i64) -> Result<usize, ApiError> {
    let n = p.int(name).map_err(|e| invalid(e.0.message))?.unwrap_or(default);
    if n < min || n > max {
        return Err(invalid(format!("{name}: This value should be between {min} and {max}.")));
    }
    Ok(n as usize)
}

async fn list(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> DResult<Json<Vec<App>>> {
    let auth = auth?;
    let p = query(&req)?;
    let offset = number(&p, "offset", 0, 0, i64::MAX)?;
    let limit = number(&p, "limit", 100, 1, MAX_LIMIT)?;
    let component = p.str("componentId").filter(|c| !c.is_empty());
    let types: Vec<String> = match p.get("type") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter_map(crate::http::params::scalar_to_string).collect(),
        Some(v) => crate::http::params::scalar_to_string(v).into_iter().collect(),
    };
    let branch = p.str("branchId").filter(|b| !b.is_empty());
    let apps = state.meta.data_apps(auth.project_id, offset, limit)?;
    let shown = apps
        .iter()
        .filter(|a| component.as_deref().is_none_or(|c| a.component_id == c))
        .filter(|a| types.is_empty() || types.contains(&a.app_type))
        .filter(|a| branch.as_deref().is_none_or(|b| a.branch_id.map(|id| id.to_string()).as_deref() == Some(b)))
        .map(|a| app_json(&state, &auth, a))
        .collect();
    Ok(Json(shown))
}

/// `branchId`: null (the default branch), a number or its string.
fn branch_param(p: &Params) -> Result<Option<i64>, ApiError> {
    match p.get("branchId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(v) => crate::http::params::scalar_to_string(v)
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| invalid("branchId: This value should be a branch id or null.")),
    }
}

async fn create(State(state): State<AppState>, auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> DResult<Json<App>> {
    let auth = auth?;
    let p = p.map_err(|e| invalid(e.0.message))?;
    let string = |name: &str| match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{name}: This value should be of type string."))),
    };
    let app_type = string("type")?.ok_or_else(|| invalid("type: This value should not be blank."))?;
    let name = string("name")?.ok_or_else(|| invalid("name: This value should not be blank."))?;
    let config = match p.get("config") {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(Value::Array(a)) if a.is_empty() => json!({}),
        Some(_) => return Err(invalid("config: This value should be of type object.").into()),
    };
    let new = NewApp {
        branch_id: branch_param(&p)?,
        name,
        description: string("description")?.unwrap_or_default(),
        app_type,
        config,
        use_managed_git_repo: p.flag("useManagedGitRepo").map_err(|e| invalid(e.0.message))?,
    };
    let app = super::create(&state, &auth, new)?;
    Ok(Json(app_json(&state, &auth, &app)))
}

async fn detail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> DResult<Json<App>> {
    let auth = auth?;
    let app = super::load(&state, &auth, &id)?;
    Ok(Json(app_json(&state, &auth, &app)))
}

async fn update(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>, p: Result<Params, ApiError>) -> DResult<Json<App>> {
    let auth = auth?;
    super::load(&state, &auth, &id)?;
    let p = p.map_err(|e| invalid(e.0.message))?;
    let change = Change {
        desired_state: p.get("desiredState").map(|v| crate::http::params::scalar_to_string(v).unwrap_or_default()),
        config_version: p.get("configVersion").and_then(crate::http::params::scalar_to_string),
        restart_if_running: p.flag("restartIfRunning").map_err(|e| invalid(e.0.message))?,
    };
    let app = super::change(&state, &auth, &id, change)?;
    Ok(Json(app_json(&state, &auth, &app)))
}

async fn remove(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> DResult<StatusCode> {
    super::delete(&state, &auth?, &id)?;
    Ok(StatusCode::ACCEPTED)
}

async fn password(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> DResult<Json<Value>> {
    let auth = auth?;
    let app = super::load(&state, &auth, &id)?;
    Ok(Json(json!({"password": super::password(&state, &app)?})))
}

async fn runs(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>, req: Request) -> DResult<Json<Vec<Run>>> {
    let auth = auth?;
    let app = super::load(&state, &auth, &id)?;
    let p = query(&req)?;
    let offset = number(&p, "offset", 0, 0, i64::MAX)?;
    let limit = number(&p, "limit", 5, 1, 100)?;
    Ok(Json(super::runs(&state, &app, offset, limit)?.iter().map(Run::of).collect()))
}

async fn logs_tail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>, req: Request) -> DResult<Response> {
    let auth = auth?;
    let app = super::load(&state, &auth, &id)?;
    let p = query(&req)?;
    let since = match p.str("since").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            chrono::DateTime::parse_from_rfc3339(&s)
                .map_err(|_| invalid(format!("since: \"{s}\" is not an ISO 8601 date with a time zone.")))?
                .with_timezone(&chrono::Utc),
        ),
    };
    if since.is_some() && p.get("lines").is_some() {
        return Err(invalid("Use either lines or since, not both.").into());
    }
    let lines = number(&p, "lines", 100, 1, 10_000)?;
    let text = super::runtime::log_tail(&state, app.id, Some(lines), since);
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

async fn git_repo(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> DResult<Json<Value>> {
    let auth = auth?;
    let app = super::load(&state, &auth, &id)?;
    let repository = super::git_repository(&state, &auth, &app)?;
    let https = repository.as_deref().filter(|r| r.starts_with("https://") || r.starts_with("http://"));
    let ssh = repository.as_deref().filter(|r| r.starts_with("git@") || r.starts_with("ssh://"));
    Ok(Json(json!({"httpsUrl": https, "sshUrl": ssh, "isManagedGitRepo": false, "repository": repository})))
}

/// What apps run on here: the host's Python with Streamlit.
async fn runtimes(State(state): State<AppState>, auth: Result<Auth, ApiError>) -> DResult<Json<Value>> {
    auth?;
    Ok(Json(json!([{
        "type": "streamlit",
        "description": format!("Streamlit on the host's Python ({})", state.config.data_apps_python),
        "isTypeDefault": true,
        "imageTag": null,
        "endOfLifeDate": null,
    }])))
}

/// The project's sandboxes in the token's branch (Storage workspaces of `keboola.sandboxes`).
async fn sandbox_list(State(state): State<AppState>, auth: Result<Auth, ApiError>) -> DResult<Json<Vec<Value>>> {
    let auth = auth?;
    Ok(Json(super::sandboxes::list(&state, &auth)?.iter().map(|w| super::sandboxes::record(&state, w, None)).collect()))
}

async fn sandbox_detail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> DResult<Json<Value>> {
    let auth = auth?;
    let w = super::sandboxes::load(&state, &auth, &id)?;
    Ok(Json(super::sandboxes::record(&state, &w, None)))
}

/// Drop the sandbox's workspace (its configuration stays, as the `delete` task leaves it).
async fn sandbox_delete(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> DResult<StatusCode> {
    let auth = auth?;
    let w = super::sandboxes::load(&state, &auth, &id)?;
    crate::storage::workspaces::drop_workspace(&state, &w)?;
    Ok(StatusCode::NO_CONTENT)
}
