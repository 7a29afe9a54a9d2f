//! The Encryption API under `/encryption`: `POST /encrypt`, the index and the health check. It
//! takes no token (the MCP server sends none) and checks no id: a cipher is only as good as the
//! scope it names, and opens nowhere else. Errors use the PHP services' envelope with an integer
//! `code`, plus `message` (what keboola/encryption-api-php-client reads).
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Scope, encrypt_value};
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Code, Params, Routes};

/// The routes, with the framework's own refusals (unsupported method, unreadable query) in the
/// Encryption API's envelope.
pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/encryption", get(index))
        .route("/encryption/health-check", get(health_check))
        .route("/encryption/encrypt", post(encrypt))
        .map_router(|r| r.layer(axum::middleware::from_fn(encryption_envelope)))
}

async fn encryption_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| EncryptionError(err).into_response()).await
}

/// An `ApiError` in the Encryption API's envelope.
pub struct EncryptionError(pub ApiError);

impl From<ApiError> for EncryptionError {
    fn from(e: ApiError) -> Self {
        EncryptionError(e)
    }
}

impl IntoResponse for EncryptionError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "encryption-", |body| body["message"] = body["error"].clone())
    }
}

fn bad(message: impl Into<String>) -> EncryptionError {
    EncryptionError(ApiError::validation(message))
}

/// `GET /encryption`: what the service is (the shape of Keboola's index).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub app_name: String,
    pub app_version: String,
    pub api_docs: String,
}

async fn index(State(state): State<AppState>) -> Json<Index> {
    Json(Index {
        app_name: "encryption-api".into(),
        app_version: env!("CARGO_PKG_VERSION").into(),
        api_docs: format!("{}/docs/swagger.yaml", crate::storage::index::service_url(&state, "encryption")),
    })
}

async fn health_check() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `POST /encrypt?componentId=&projectId=&configId=&branchType=`: the parameters given choose the
/// cipher's scope (`Scope::kind`); empty ones count as absent.
async fn encrypt(State(state): State<AppState>, req: Request) -> Result<Response, EncryptionError> {
    let p = Params::from_query(req.uri().query())?;
    let given = |key: &str| p.str(key).filter(|s| !s.is_empty());
    let scope = Scope { component: given("componentId"), project: given("projectId"), config: given("configId"), branch_type: given("branchType") };
    scope.kind().map_err(bad)?;
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let limit = state.config.max_body_bytes;
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| EncryptionError(ApiError::new(Code::PayloadTooLarge, format!("Request body is larger than the limit of {limit} bytes."))))?;
    // How the body is sent is how it is answered: JSON (an object, array or string), or
    // `text/plain` (the whole body is the secret).
    if content_type.contains("json") {
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("Invalid JSON in request body: {e}")))?;
        let out = encrypt_value(&state, &scope, value).map_err(bad)?;
        return Ok((StatusCode::OK, Json(out)).into_response());
    }
    if !content_type.starts_with("text/plain") {
        return Err(bad(format!(
            "Unsupported Content-Type \"{content_type}\": send the value to encrypt as \"text/plain\" or \"application/json\"."
        )));
    }
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| bad("The text/plain body must be UTF-8 text."))?;
    let out = encrypt_value(&state, &scope, Value::String(text)).map_err(bad)?;
    let mut resp = (StatusCode::OK, out.as_str().unwrap_or_default().to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"));
    Ok(resp)
}
