//! The Vault HTTP API under `/vault` (notes: services.md §11, spec `../vault/`). Errors use the
//! PHP services' envelope: `{error, code: <HTTP status>, status: "error", exceptionId}`. As the
//! Symfony service does it, a body that fails validation is a 422 and query parameters that do
//! are a 404 (`MapRequestPayload` / `MapQueryString` defaults, what the spec lists).
use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::Variable;
use super::{Filter, MAX_LIMIT, NewVariable};
use crate::app::AppState;
use crate::http::params::scalar_to_string;
use crate::http::routes::{delete, get, post};
use crate::http::{ApiError, Code, Params, Routes};
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/vault", get(index))
        .route("/vault/health-check", post(index).get(index))
        .route("/vault/variables", post(create).get(list))
        .route("/vault/variables/{hash}", delete(remove))
        .route("/vault/variables/scoped/branch/{branch_id}", get(scoped))
        .route("/vault/variables/merged/branch", get(merged))
        .map_router(|r| r.layer(axum::middleware::from_fn(vault_envelope)))
}

/// An `ApiError` in the Vault's envelope (integer `code`).
pub struct VaultError(pub ApiError);

impl From<ApiError> for VaultError {
    fn from(e: ApiError) -> Self {
        VaultError(e)
    }
}

impl From<kbstack_core::Error> for VaultError {
    fn from(e: kbstack_core::Error) -> Self {
        VaultError(e.into())
    }
}

impl IntoResponse for VaultError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "vault-", |_| {})
    }
}

type VResult<T> = Result<T, VaultError>;

/// The middleware that renders axum's own refusals in the Vault's envelope.
async fn vault_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| VaultError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "vault", "documentation": "https://vault.keboola.com/docs/swagger.yaml"}))
}

fn invalid_payload(message: String) -> ApiError {
    ApiError::new(Code::VaultInvalidPayload, message)
}

fn invalid_query(message: String) -> ApiError {
    ApiError::new(Code::VaultInvalidQuery, message)
}

/// `attributes` as a map of strings: an object of scalars; an empty list or nothing is none
/// (PHP clients encode an empty array as `[]`).
fn attributes(v: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    match v {
        None => Ok(BTreeMap::new()),
        Some(Value::Array(items)) if items.is_empty() => Ok(BTreeMap::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match scalar_to_string(v) {
                Some(s) => Ok((k.clone(), s)),
                None => Err(format!("attributes[{k}]: This value should be of type string.")),
            })
            .collect(),
        Some(_) => Err("attributes: This value should be of type object.".into()),
    }
}

fn payload(p: &Params) -> Result<NewVariable, ApiError> {
    let string = |name: &str| match p.get(name) {
        None => Err(invalid_payload(format!("{name}: This value should not be null."))),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid_payload(format!("{name}: This value should be of type string."))),
    };
    let key = string("key")?;
    let value = string("value")?;
    let flags = match p.get("flags") {
        None => Vec::new(),
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|f| f.as_str().map(str::to_string).ok_or_else(|| invalid_payload("flags: Each flag should be of type string.".into())))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid_payload("flags: This value should be of type array.".into())),
    };
    let attributes = attributes(p.get("attributes")).map_err(invalid_payload)?;
    Ok(NewVariable { key, value, flags, attributes })
}

async fn create(State(state): State<AppState>, auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> VResult<(StatusCode, Json<Variable>)> {
    let auth = auth?;
    let p = p?;
    let variable = super::create(&state, &auth, payload(&p)?)?;
    Ok((StatusCode::CREATED, Json(Variable::of(&variable))))
}

/// `key` and `attributes[…]` of a list's query.
fn filter(p: &Params) -> Result<Filter, ApiError> {
    let key = match p.get("key") {
        None => None,
        Some(v) => Some(scalar_to_string(v).ok_or_else(|| invalid_query("key: This value should be of type string.".into()))?),
    };
    let attributes = attributes(p.get("attributes")).map_err(invalid_query)?;
    Ok(Filter { key: key.filter(|k| !k.is_empty()), attributes })
}

fn query(req: &Request) -> Result<Params, ApiError> {
    Params::from_query(req.uri().query()).map_err(|e| invalid_query(e.0.message))
}

async fn list(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> VResult<Json<Vec<Variable>>> {
    let auth = auth?;
    let p = query(&req)?;
    let f = filter(&p)?;
    let number = |name: &str, default: i64, min: i64, max: i64| -> Result<usize, ApiError> {
        let n = p.int(name).map_err(|e| invalid_query(e.0.message))?.unwrap_or(default);
        if n < min || n > max {
            return Err(invalid_query(format!("{name}: This value should be between {min} and {max}.")));
        }
        Ok(n as usize)
    };
    let offset = number("offset", 0, 0, i64::MAX)?;
    let limit = number("limit", MAX_LIMIT as i64, 1, MAX_LIMIT as i64)?;
    Ok(Json(Variable::list(&super::list(&state, &auth, &f, offset, limit)?)))
}

async fn remove(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(hash): Path<String>) -> VResult<StatusCode> {
    super::delete(&state, &auth?, &hash)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn scoped(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(branch_id): Path<String>, req: Request) -> VResult<Json<Vec<Variable>>> {
    let auth = auth?;
    let p = query(&req)?;
    let f = filter(&p)?;
    let branch_id = super::branch_of(&state, &auth, branch_id.trim())?;
    Ok(Json(Variable::list(&super::scoped_for_branch(&state, auth.project_id, branch_id, &f)?)))
}

/// The deprecated form of `scoped`, the branch in the query (`?branchId=`).
async fn merged(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> VResult<Json<Vec<Variable>>> {
    let auth = auth?;
    let p = query(&req)?;
    let branch_id = p.str("branchId").map(|b| b.trim().to_string()).filter(|b| !b.is_empty());
    let branch_id = branch_id.ok_or_else(|| invalid_query("branchId: This value should not be blank.".into()))?;
    let f = filter(&p)?;
    let branch_id = super::branch_of(&state, &auth, &branch_id)?;
    Ok(Json(Variable::list(&super::scoped_for_branch(&state, auth.project_id, branch_id, &f)?)))
}
