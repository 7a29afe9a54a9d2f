//! The SQLdep analyzer's HTTP API under `/sqldep-analyzer` (legacy service id; no public spec,
//! so the endpoints are kbstack's own, Keboola-style). Every call but the index needs a valid
//! Storage token (`X-StorageApi-Token`). Errors use the PHP services' envelope:
//! `{error, code: <HTTP status>, status: "error", exceptionId: "sqldep-…"}`.
//!
//! - `GET  /sqldep-analyzer/v1/dialects`
//! - `POST /sqldep-analyzer/v1/analyze  {sql: string | string[], dialect}` → statements with their
//!   reads, writes and errors (a script that does not parse is still a 200, `valid: false`)
//! - `POST /sqldep-analyzer/v1/validate {sql, dialect}` → `{valid, errors[]}`
use axum::Json;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::{Analysis, Validation};
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Params, Routes};
use crate::storage::auth::Auth;

/// Longest script analyzed (bytes).
const MAX_SQL_BYTES: usize = 2 * 1024 * 1024;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/sqldep-analyzer", get(index))
        .route("/sqldep-analyzer/v1/dialects", get(dialects))
        .route("/sqldep-analyzer/v1/analyze", post(analyze))
        .route("/sqldep-analyzer/v1/validate", post(validate))
        .map_router(|r| r.layer(axum::middleware::from_fn(sqldep_envelope)))
}

/// An `ApiError` in the analyzer's envelope (integer `code`).
pub struct SqldepError(pub ApiError);

impl From<ApiError> for SqldepError {
    fn from(e: ApiError) -> Self {
        SqldepError(e)
    }
}

impl IntoResponse for SqldepError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "sqldep-", |_| {})
    }
}

type SResult<T> = Result<T, SqldepError>;

async fn sqldep_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| SqldepError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "sqldep-analyzer", "description": "SQL validation and table/column dependencies", "dialects": super::DIALECTS}))
}

async fn dialects(auth: Result<Auth, ApiError>) -> SResult<Json<Value>> {
    auth?;
    Ok(Json(json!(super::DIALECTS)))
}

/// The script and dialect of a request: `sql` a string or a list of statements (joined by `;`).
fn script(p: &Params) -> Result<(String, String), ApiError> {
    let sql = match p.get("sql") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            let parts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            parts.ok_or_else(|| ApiError::validation("Invalid request:\n - sql: a list of statements must hold strings only."))?.join(";\n")
        }
        Some(_) => return Err(ApiError::validation("Invalid request:\n - sql: This value should be a string or a list of strings.")),
        None => return Err(ApiError::validation("Invalid request:\n - sql: This value should not be blank.")),
    };
    if sql.trim().is_empty() {
        return Err(ApiError::validation("Invalid request:\n - sql: This value should not be blank."));
    }
    if sql.len() > MAX_SQL_BYTES {
        return Err(ApiError::validation(format!("Invalid request:\n - sql: the script is longer than {MAX_SQL_BYTES} bytes.")));
    }
    if sql.contains('\0') {
        return Err(ApiError::validation("Invalid request:\n - sql: the script contains a NUL byte."));
    }
    let dialect = p.str("dialect").unwrap_or_else(|| "generic".into());
    if super::dialect(&dialect).is_none() {
        return Err(ApiError::validation(format!(
            "Invalid request:\n - dialect: \"{}\" is not one of: {}.",
            dialect.chars().take(64).collect::<String>(),
            super::DIALECTS.join(", ")
        )));
    }
    Ok((sql, dialect))
}

async fn analyze(auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> SResult<Json<Analysis>> {
    auth?;
    let (sql, dialect) = script(&p?)?;
    Ok(Json(super::analyze(&sql, &dialect)))
}

async fn validate(auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> SResult<Json<Validation>> {
    auth?;
    let (sql, dialect) = script(&p?)?;
    let a = super::analyze(&sql, &dialect);
    Ok(Json(Validation { dialect: a.dialect, valid: a.valid, statements: a.statements.len(), errors: a.errors }))
}
