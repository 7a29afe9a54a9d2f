//! The Metastore HTTP API under `/metastore` (notes: services.md §18; paths from keboola-cli
//! `metastore_client.py` and MCP `clients/metastore.py`). Objects come back as `{"data": …}`;
//! creates answer 201, deletes and grant changes 204. Errors: `{error, code: <HTTP status>,
//! exception, status: "error", exceptionId, errors?}` — keboola-cli reads `error` (or
//! `exception`/`errors`), MCP `error` or `exception`.
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::Object;
use super::{NewObject, filter, invalid, schemas};
use crate::app::AppState;
use crate::http::routes::{get, put};
use crate::http::{ApiError, Code, Params, Routes};
use crate::storage::auth::Auth;

const BASE: &str = "/metastore/api/v1";

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/metastore", get(index))
        .route(&format!("{BASE}/schema/{{type}}"), get(schema_versions))
        .route(&format!("{BASE}/schema/{{type}}/{{version}}"), get(schema))
        .route(&format!("{BASE}/repository/{{type}}"), get(list).post(create))
        .route(&format!("{BASE}/repository/{{type}}/organization"), get(list_organization))
        .route(&format!("{BASE}/repository/{{type}}/revisions"), get(revisions))
        .route(&format!("{BASE}/repository/{{type}}/{{id}}"), get(detail).put(replace).patch(patch).delete(remove))
        .route(&format!("{BASE}/repository/{{type}}/{{id}}/revisions"), get(object_revisions))
        .route(&format!("{BASE}/repository/{{type}}/{{id}}/revisions/{{revision}}"), get(revision).delete(remove_revision))
        .route(&format!("{BASE}/repository/{{type}}/{{id}}/scope-elevation-request"), put(request_elevation).delete(withdraw_elevation))
        .route(&format!("{BASE}/repository/{{type}}/{{id}}/target-projects"), put(target_projects))
        .map_router(|r| r.layer(axum::middleware::from_fn(metastore_envelope)))
}

/// An `ApiError` in the Metastore's envelope.
pub struct MetastoreError(pub ApiError);

impl From<ApiError> for MetastoreError {
    fn from(e: ApiError) -> Self {
        MetastoreError(e)
    }
}

impl From<kbstack_core::Error> for MetastoreError {
    fn from(e: kbstack_core::Error) -> Self {
        MetastoreError(e.into())
    }
}

impl IntoResponse for MetastoreError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "metastore-", |body| {
            body["exception"] = body["error"].clone();
            if let Some(errors) = body.get_mut("context").and_then(|c| c.as_object_mut()).and_then(|c| c.remove("errors")) {
                body["errors"] = errors;
            }
        })
    }
}

type MResult<T> = Result<T, MetastoreError>;

async fn metastore_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| MetastoreError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "metastore", "version": "v1"}))
}

fn data(v: impl serde::Serialize) -> Json<Value> {
    Json(json!({ "data": v }))
}

fn query(req: &Request) -> Result<filter::ListQuery, ApiError> {
    let p = Params::from_query(req.uri().query()).map_err(|e| ApiError::new(Code::MetastoreBadRequest, e.0.message))?;
    filter::parse(&p)
}

async fn schema_versions(auth: Result<Auth, ApiError>, Path(object_type): Path<String>) -> MResult<Json<Value>> {
    auth?;
    super::known_type(&object_type)?;
    Ok(Json(schemas::versions(&object_type)))
}

async fn schema(auth: Result<Auth, ApiError>, Path((object_type, version)): Path<(String, String)>) -> MResult<Json<Value>> {
    auth?;
    super::known_type(&object_type)?;
    schemas::schema(&object_type, &version)
        .map(Json)
        .ok_or_else(|| ApiError::new(Code::MetastoreNotFound, format!("Schema version \"{version}\" of \"{object_type}\" not found")).into())
}

async fn list(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(object_type): Path<String>, req: Request) -> MResult<Json<Value>> {
    let auth = auth?;
    let q = query(&req)?;
    Ok(data(Object::list(&q.apply(super::list(&state, &auth, &object_type)?))))
}

async fn list_organization(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(object_type): Path<String>, req: Request) -> MResult<Json<Value>> {
    let auth = auth?;
    let q = query(&req)?;
    Ok(data(Object::list(&q.apply(super::list_organization(&state, &auth, &object_type)?))))
}

async fn revisions(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(object_type): Path<String>, req: Request) -> MResult<Json<Value>> {
    let auth = auth?;
    let q = query(&req)?;
    Ok(data(Object::list(&q.apply(super::revisions(&state, &auth, &object_type)?))))
}

fn optional_string(p: &Params, name: &str) -> Result<Option<String>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("Validation failed: {name} must be a string"))),
    }
}

fn project_ids(v: &Value) -> Result<Vec<i64>, ApiError> {
    let bad = || invalid("Validation failed: targetProjectIds must be a list of project ids");
    let Value::Array(items) = v else { return Err(bad()) };
    items.iter().map(|i| i.as_i64().or_else(|| i.as_str().and_then(|s| s.trim().parse().ok())).filter(|n| *n > 0).ok_or_else(bad)).collect()
}

fn required_data(p: &Params) -> Result<Value, ApiError> {
    match p.get("data") {
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(invalid("Validation failed: data must be an object")),
        None => Err(invalid("Validation failed: data is required")),
    }
}

async fn create(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path(object_type): Path<String>,
    p: Result<Params, ApiError>,
) -> MResult<(StatusCode, Json<Value>)> {
    let auth = auth?;
    super::known_type(&object_type)?;
    let p = p?;
    let new = NewObject {
        name: optional_string(&p, "name")?,
        data: required_data(&p)?,
        branch: optional_string(&p, "branch")?,
        scope: optional_string(&p, "scope")?,
        target_project_ids: p.get("targetProjectIds").map(project_ids).transpose()?,
        schema_version: optional_string(&p, "schemaVersion")?,
    };
    let o = super::create(&state, &auth, &object_type, new)?;
    Ok((StatusCode::CREATED, data(Object::of(&o))))
}

async fn detail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((object_type, id)): Path<(String, String)>) -> MResult<Json<Value>> {
    let auth = auth?;
    Ok(data(Object::of(&super::get(&state, &auth, &object_type, &id)?)))
}

async fn replace(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((object_type, id)): Path<(String, String)>,
    p: Result<Params, ApiError>,
) -> MResult<Json<Value>> {
    let auth = auth?;
    super::known_type(&object_type)?;
    let p = p?;
    let name = optional_string(&p, "name")?.ok_or_else(|| invalid("Validation failed: name is required"))?;
    let body = required_data(&p)?;
    Ok(data(Object::of(&super::update(&state, &auth, &object_type, &id, Some(name), Some(body), false)?)))
}

async fn patch(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((object_type, id)): Path<(String, String)>,
    p: Result<Params, ApiError>,
) -> MResult<Json<Value>> {
    let auth = auth?;
    super::known_type(&object_type)?;
    let p = p?;
    if p.values.contains_key("scope") {
        return Ok(data(Object::of(&super::elevate(&state, &auth, &object_type, &id, &p.values)?)));
    }
    let name = optional_string(&p, "name")?;
    let body = match p.get("data") {
        None => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err(invalid("Validation failed: data must be an object").into()),
    };
    if name.is_none() && body.is_none() {
        return Err(invalid("Validation failed: nothing to change (name, data or scope)").into());
    }
    Ok(data(Object::of(&super::update(&state, &auth, &object_type, &id, name, body, true)?)))
}

async fn remove(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((object_type, id)): Path<(String, String)>) -> MResult<StatusCode> {
    super::delete(&state, &auth?, &object_type, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn object_revisions(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((object_type, id)): Path<(String, String)>, req: Request) -> MResult<Json<Value>> {
    let auth = auth?;
    let q = query(&req)?;
    Ok(data(Object::list(&q.apply(super::object_revisions(&state, &auth, &object_type, &id)?))))
}

fn revision_number(s: &str) -> Result<i64, ApiError> {
    s.trim().parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| ApiError::new(Code::MetastoreNotFound, format!("Revision \"{s}\" not found")))
}

async fn revision(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((object_type, id, rev)): Path<(String, String, String)>) -> MResult<Json<Value>> {
    let auth = auth?;
    let rev = revision_number(&rev)?;
    Ok(data(Object::of(&super::revision(&state, &auth, &object_type, &id, rev)?)))
}

async fn remove_revision(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((object_type, id, rev)): Path<(String, String, String)>) -> MResult<StatusCode> {
    let auth = auth?;
    let rev = revision_number(&rev)?;
    super::delete_revision(&state, &auth, &object_type, &id, rev)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn request_elevation(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((object_type, id)): Path<(String, String)>) -> MResult<Json<Value>> {
    Ok(data(Object::of(&super::request_elevation(&state, &auth?, &object_type, &id, true)?)))
}

async fn withdraw_elevation(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((object_type, id)): Path<(String, String)>) -> MResult<Json<Value>> {
    Ok(data(Object::of(&super::request_elevation(&state, &auth?, &object_type, &id, false)?)))
}

async fn target_projects(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((object_type, id)): Path<(String, String)>,
    p: Result<Params, ApiError>,
) -> MResult<StatusCode> {
    let auth = auth?;
    super::known_type(&object_type)?;
    let p = p?;
    let targets = project_ids(p.get("targetProjectIds").unwrap_or(&Value::Array(vec![])))?;
    super::set_targets(&state, &auth, &object_type, &id, targets)?;
    Ok(StatusCode::NO_CONTENT)
}
