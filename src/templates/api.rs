//! The Templates HTTP API under `/templates` (host `templates.<suffix>`; spec
//! `reference/templates/openapi3.json`, notes services.md §9). Every endpoint but the index
//! takes `X-StorageApi-Token`; errors are goa's `{statusCode, error, message}` (`error`).
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{TResult, TemplatesError};
use super::repository::{self, Repository, Template, Version};
use super::{inputs, instances, tasks, wire};
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Params, Routes};
use crate::storage::auth::Auth;

const TEMPLATE: &str = "/templates/v1/repositories/{repository}/templates/{template}";
const INSTANCE: &str = "/templates/v1/project/{branch}/instances/{instance}";

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/templates", get(index))
        .route("/templates/v1", get(index))
        .route("/templates/v1/repositories", get(list_repositories))
        .route("/templates/v1/repositories/{repository}", get(repository_detail))
        .route("/templates/v1/repositories/{repository}/templates", get(list_templates))
        .route(TEMPLATE, get(template_detail))
        .route(&format!("{TEMPLATE}/{{version}}"), get(version_detail))
        .route(&format!("{TEMPLATE}/{{version}}/inputs"), get(version_inputs))
        .route(&format!("{TEMPLATE}/{{version}}/validate"), post(validate))
        .route(&format!("{TEMPLATE}/{{version}}/use"), post(use_template))
        .route("/templates/v1/project/{branch}/instances", get(list_instances))
        .route(INSTANCE, get(instance_detail).put(rename_instance).delete(delete_instance))
        .route(&format!("{INSTANCE}/upgrade/{{version}}/inputs"), get(upgrade_inputs).post(upgrade_validate))
        .route(&format!("{INSTANCE}/upgrade/{{version}}"), post(upgrade))
        .route("/templates/v1/tasks/{*task}", get(task_detail))
        .map_router(|r| r.layer(axum::middleware::from_fn(templates_envelope)))
}

/// The middleware that renders axum's own refusals in the service's envelope.
async fn templates_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| TemplatesError::from(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "templates", "documentation": "https://templates.keboola.com/v1/documentation"}))
}

fn authed(auth: Result<Auth, ApiError>) -> TResult<Auth> {
    Ok(auth?)
}

fn repo(name: &str) -> TResult<&'static Repository> {
    repository::find(name).ok_or_else(|| TemplatesError::repository_not_found(name))
}

fn template<'r>(repo: &'r Repository, id: &str) -> TResult<&'r Template> {
    repo.template(id).ok_or_else(|| TemplatesError::template_not_found(id))
}

fn version<'t>(template: &'t Template, v: &str) -> TResult<&'t Version> {
    template.version(v).ok_or_else(|| TemplatesError::version_not_found(v))
}

/// (repository, template, version) of a path.
fn lookup(r: &str, t: &str, v: &str) -> TResult<(&'static Repository, &'static Template, &'static Version)> {
    let repo = repo(r)?;
    let template = template(repo, t)?;
    Ok((repo, template, version(template, v)?))
}

fn body_of(p: Result<Params, ApiError>) -> TResult<Value> {
    Ok(Value::Object(p?.values))
}

fn checked(body: &Value, version: &Version) -> TResult<(wire::ValidationResult, inputs::Values)> {
    inputs::validate(body, &version.body).map_err(|e| TemplatesError::bad_request(e.0))
}

// ---------------------------------------------------------------------------------------------
// Repositories and templates

async fn list_repositories(auth: Result<Auth, ApiError>) -> TResult<Json<Value>> {
    authed(auth)?;
    let repos: Vec<wire::Repository> = repository::all().iter().map(wire::Repository::of).collect();
    Ok(Json(json!({"repositories": repos})))
}

async fn repository_detail(auth: Result<Auth, ApiError>, Path(r): Path<String>) -> TResult<Json<wire::Repository>> {
    authed(auth)?;
    Ok(Json(wire::Repository::of(repo(&r)?)))
}

async fn list_templates(auth: Result<Auth, ApiError>, Path(r): Path<String>) -> TResult<Json<Value>> {
    authed(auth)?;
    let repo = repo(&r)?;
    let templates: Vec<wire::Template> = repo.templates.iter().map(|t| wire::Template::of(repo, t, false)).collect();
    Ok(Json(json!({"repository": wire::Repository::of(repo), "templates": templates})))
}

async fn template_detail(auth: Result<Auth, ApiError>, Path((r, t)): Path<(String, String)>) -> TResult<Json<wire::Template>> {
    authed(auth)?;
    let repo = repo(&r)?;
    Ok(Json(wire::Template::of(repo, template(repo, &t)?, true)))
}

async fn version_detail(auth: Result<Auth, ApiError>, Path((r, t, v)): Path<(String, String, String)>) -> TResult<Json<wire::VersionDetail>> {
    authed(auth)?;
    let (repo, template, version) = lookup(&r, &t, &v)?;
    let mut detail = wire::VersionDetail::of(version);
    detail.repository = Some(wire::Repository::of(repo));
    detail.template = Some(wire::Template::of(repo, template, false));
    Ok(Json(detail))
}

fn inputs_of(version: &Version, defaults: &HashMap<String, Value>) -> wire::Inputs {
    wire::Inputs {
        step_groups: wire::step_groups(&version.body, defaults),
        initial_state: inputs::initial_state(&version.body, defaults),
    }
}

async fn version_inputs(auth: Result<Auth, ApiError>, Path((r, t, v)): Path<(String, String, String)>) -> TResult<Json<wire::Inputs>> {
    authed(auth)?;
    let (_, _, version) = lookup(&r, &t, &v)?;
    Ok(Json(inputs_of(version, &HashMap::new())))
}

async fn validate(
    auth: Result<Auth, ApiError>,
    Path((r, t, v)): Path<(String, String, String)>,
    p: Result<Params, ApiError>,
) -> TResult<Json<wire::ValidationResult>> {
    authed(auth)?;
    let (_, _, version) = lookup(&r, &t, &v)?;
    let body = body_of(p)?;
    Ok(Json(checked(&body, version)?.0))
}

fn required_text(body: &Value, key: &str) -> TResult<String> {
    match body.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(Value::Number(n)) if key == "branch" => Ok(n.to_string()),
        Some(Value::String(_)) => Err(TemplatesError::bad_request(format!("\"{key}\" cannot be empty."))),
        None | Some(Value::Null) => Err(TemplatesError::bad_request(format!("missing required field \"{key}\""))),
        Some(_) => Err(TemplatesError::bad_request(format!("invalid value for \"{key}\": expected a string"))),
    }
}

fn accepted(task: wire::Task) -> (StatusCode, Json<wire::Task>) {
    (StatusCode::ACCEPTED, Json(task))
}

fn service_url(state: &AppState) -> String {
    crate::storage::index::service_url(state, "templates")
}

/// Runs the work of a task and records it; what went wrong is the task's error.
fn run_task(
    state: &AppState,
    auth: &Auth,
    task_type: &'static str,
    work: impl FnOnce() -> TResult<(String, Value)>,
) -> (StatusCode, Json<wire::Task>) {
    let started = tasks::start(task_type, auth.project_id);
    let task = match work() {
        Ok((result, outputs)) => started.finish(&service_url(state), Ok(result), outputs),
        Err(e) => started.finish(&service_url(state), Err(e.message), json!({})),
    };
    accepted(task)
}

async fn use_template(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((r, t, v)): Path<(String, String, String)>,
    p: Result<Params, ApiError>,
) -> TResult<(StatusCode, Json<wire::Task>)> {
    let auth = authed(auth)?;
    instances::require_write(&auth)?;
    let (repo, template, version) = lookup(&r, &t, &v)?;
    let body = body_of(p)?;
    let name = required_text(&body, "name")?;
    let branch = required_text(&body, "branch")?;
    if template.deprecated {
        return Err(TemplatesError::bad_request(format!("Template \"{}\" is deprecated, it cannot be used.", template.id)));
    }
    let (result, values) = checked(&body, version)?;
    if !result.valid {
        return Err(TemplatesError::invalid_inputs(result));
    }
    let scoped = instances::in_branch(&state, &auth, &branch)?;
    Ok(run_task(&state, &auth, "template.use", || {
        let id = instances::create(&state, &scoped, repo, template, version, &name, &values)?;
        Ok((format!("template instance with id \"{id}\" created"), json!({"instanceId": id})))
    }))
}

// ---------------------------------------------------------------------------------------------
// Instances

async fn list_instances(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(branch): Path<String>) -> TResult<Json<Value>> {
    let auth = authed(auth)?;
    let scoped = instances::in_branch(&state, &auth, &branch)?;
    let mut out = Vec::new();
    for r in instances::records(&state, &scoped)? {
        let configs = instances::configs_of(&state, &scoped, &r.instance_id)?;
        out.push(instances::to_wire(&scoped, &r, &configs, false)?);
    }
    Ok(Json(json!({"instances": out})))
}

fn detail_of(state: &AppState, scoped: &Auth, instance: &str) -> TResult<wire::Instance> {
    let r = instances::record(state, scoped, instance)?;
    let configs = instances::configs_of(state, scoped, instance)?;
    instances::to_wire(scoped, &r, &configs, true)
}

async fn instance_detail(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((branch, instance)): Path<(String, String)>,
) -> TResult<Json<wire::Instance>> {
    let auth = authed(auth)?;
    let scoped = instances::in_branch(&state, &auth, &branch)?;
    Ok(Json(detail_of(&state, &scoped, &instance)?))
}

async fn rename_instance(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((branch, instance)): Path<(String, String)>,
    p: Result<Params, ApiError>,
) -> TResult<Json<wire::Instance>> {
    let auth = authed(auth)?;
    instances::require_write(&auth)?;
    let scoped = instances::in_branch(&state, &auth, &branch)?;
    let name = required_text(&body_of(p)?, "name")?;
    instances::rename(&state, &scoped, &instance, &name)?;
    Ok(Json(detail_of(&state, &scoped, &instance)?))
}

async fn delete_instance(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((branch, instance)): Path<(String, String)>,
) -> TResult<(StatusCode, Json<wire::Task>)> {
    let auth = authed(auth)?;
    instances::require_write(&auth)?;
    let scoped = instances::in_branch(&state, &auth, &branch)?;
    instances::record(&state, &scoped, &instance)?;
    Ok(run_task(&state, &auth, "template.delete", || {
        instances::delete(&state, &scoped, &instance)?;
        Ok((format!("template instance with id \"{instance}\" deleted"), json!({"instanceId": instance})))
    }))
}

/// The instance, its template and the version to upgrade to.
struct Upgrade {
    scoped: Auth,
    /// The version the instance has now (None when the repository no longer has it).
    current: Option<&'static Version>,
    repo: &'static Repository,
    template: &'static Template,
    version: &'static Version,
    configs: Vec<instances::InstanceConfig>,
}

fn upgrade_target(state: &AppState, auth: &Auth, branch: &str, instance: &str, v: &str) -> TResult<Upgrade> {
    let scoped = instances::in_branch(state, auth, branch)?;
    let record = instances::record(state, &scoped, instance)?;
    let (repo, template, version) = lookup(&record.repository_name, &record.template_id, v)?;
    let configs = instances::configs_of(state, &scoped, instance)?;
    let current = template.version(&record.version);
    Ok(Upgrade { scoped, current, repo, template, version, configs })
}

async fn upgrade_inputs(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((branch, instance, v)): Path<(String, String, String)>,
) -> TResult<Json<wire::Inputs>> {
    let auth = authed(auth)?;
    let u = upgrade_target(&state, &auth, &branch, &instance, &v)?;
    Ok(Json(inputs_of(u.version, &instances::current_values(&u.configs, u.current))))
}

async fn upgrade_validate(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((branch, instance, v)): Path<(String, String, String)>,
    p: Result<Params, ApiError>,
) -> TResult<Json<wire::ValidationResult>> {
    let auth = authed(auth)?;
    let u = upgrade_target(&state, &auth, &branch, &instance, &v)?;
    Ok(Json(checked(&body_of(p)?, u.version)?.0))
}

async fn upgrade(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((branch, instance, v)): Path<(String, String, String)>,
    p: Result<Params, ApiError>,
) -> TResult<(StatusCode, Json<wire::Task>)> {
    let auth = authed(auth)?;
    instances::require_write(&auth)?;
    let u = upgrade_target(&state, &auth, &branch, &instance, &v)?;
    let (result, values) = checked(&body_of(p)?, u.version)?;
    if !result.valid {
        return Err(TemplatesError::invalid_inputs(result));
    }
    Ok(run_task(&state, &auth, "template.upgrade", || {
        instances::upgrade(&state, &u.scoped, &instance, u.repo, u.template, u.version, &values)?;
        Ok((format!("template instance with id \"{instance}\" upgraded"), json!({"instanceId": instance})))
    }))
}

async fn task_detail(auth: Result<Auth, ApiError>, Path(task): Path<String>) -> TResult<Json<wire::Task>> {
    let auth = authed(auth)?;
    tasks::get(auth.project_id, &task).map(Json).ok_or_else(|| TemplatesError::task_not_found(&task))
}
