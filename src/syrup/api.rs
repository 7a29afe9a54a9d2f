//! Syrup's own routes under `/syrup`: the index, `POST /{component}/run` and
//! `/{component}/encrypt`, and the Syrup queue (`queue`); the Docker Runner (`docker`) and
//! Provisioning (`provisioning`) routes are merged in. Errors use Syrup's envelope: `{status:
//! "error", error, code: <HTTP status>, message, exceptionId}`.
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::RunTarget;
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Code, Params, Routes};
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/syrup", get(index))
        .route("/syrup/{component}/run", post(run))
        .route("/syrup/{component}/encrypt", post(encrypt))
        .merge(super::queue::routes())
        .merge(super::docker::routes("/syrup/docker"))
        .merge(super::docker::routes("/docker-runner"))
        // keboola/syrup-php-client's sync actions: `<docker-runner URL>/docker/{component}/action/{action}`.
        .merge(super::docker::routes("/docker-runner/docker"))
        .merge(super::provisioning::routes())
        .map_router(|r| r.layer(axum::middleware::from_fn(syrup_envelope)))
}

/// An `ApiError` in Syrup's envelope.
pub struct SyrupError(pub ApiError);

impl From<ApiError> for SyrupError {
    fn from(e: ApiError) -> Self {
        SyrupError(e)
    }
}

impl From<kbstack_core::Error> for SyrupError {
    fn from(e: kbstack_core::Error) -> Self {
        SyrupError(e.into())
    }
}

impl IntoResponse for SyrupError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "syrup-", |body| body["message"] = body["error"].clone())
    }
}

pub type SResult<T> = Result<T, SyrupError>;

pub fn bad(msg: impl Into<String>) -> SyrupError {
    SyrupError(ApiError::validation(msg))
}

async fn syrup_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| SyrupError(err).into_response()).await
}

/// A Syrup request body. Syrup read the raw body as JSON whatever its Content-Type (old scripts
/// send `curl --data '{"config": "…"}'`, which curl labels a form); a body that is not JSON is
/// read as a form.
pub struct SyrupBody(pub Map<String, Value>);

impl FromRequest<AppState> for SyrupBody {
    type Rejection = SyrupError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| SyrupError(ApiError::new(Code::PayloadTooLarge, format!("Request body is larger than the limit of {limit} bytes."))))?;
        Ok(SyrupBody(parse_body(&bytes)?))
    }
}

fn parse_body(bytes: &Bytes) -> SResult<Map<String, Value>> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad("The request body must be UTF-8 text."))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Map::new());
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(o)) => Ok(o),
            Ok(Value::Array(a)) if a.is_empty() => Ok(Map::new()),
            Ok(_) => Err(bad("The request body must be a JSON object.")),
            Err(e) => Err(bad(format!("Invalid JSON in request body: {e}"))),
        };
    }
    Ok(Params::from_query(Some(trimmed))?.values)
}

async fn index(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "api": "syrup",
        "documentation": "https://developers.keboola.com/overview/api/",
        "components": {
            "queue": format!("{}/queue", super::syrup_url(&state)),
            "docker": format!("{}/docker", super::syrup_url(&state)),
            "provisioning": format!("{}/provisioning", super::syrup_url(&state)),
        },
    }))
}

/// `POST /{component}/run`: a Queue job of the component, answered as Syrup did (202).
async fn run(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(component): Path<String>, body: SyrupBody) -> SResult<(StatusCode, Json<super::wire::Created>)> {
    let auth = auth?;
    let component = super::component_id(&component)?;
    let target = RunTarget { syrup_component: component, component, branch: None, tag: None, mode: "run" };
    let job = super::run(&state, &auth, &body.0, &target)?;
    Ok((StatusCode::ACCEPTED, Json(super::created(&state, &job))))
}

/// `POST /{component}/encrypt`: the Encryption service's ciphers for the component in the
/// token's project (what Syrup's encrypt made: values only that project's jobs open). JSON in,
/// JSON out; any other body is one secret, answered as text.
pub async fn encrypt(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(component): Path<String>, req: Request) -> SResult<Response> {
    let auth = auth?;
    let component = super::component_id(&component)?.to_string();
    encrypt_body(&state, crate::encryption::Scope::project(&component, auth.project_id), req).await
}

/// Encrypt a JSON or text body for `scope`, answering in kind.
pub async fn encrypt_body(state: &AppState, scope: crate::encryption::Scope, req: Request) -> SResult<Response> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let limit = state.config.max_body_bytes;
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| SyrupError(ApiError::new(Code::PayloadTooLarge, format!("Request body is larger than the limit of {limit} bytes."))))?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| bad("The request body must be UTF-8 text."))?;
    if content_type.contains("json") {
        let value: Value = serde_json::from_str(&text).map_err(|e| bad(format!("Invalid JSON in request body: {e}")))?;
        let out = crate::encryption::encrypt_value(state, &scope, value).map_err(bad)?;
        return Ok((StatusCode::OK, Json(out)).into_response());
    }
    if text.is_empty() {
        return Err(bad("Nothing to encrypt: send the secret as text/plain or a JSON object with \"#\" keys."));
    }
    let out = crate::encryption::encrypt_value(state, &scope, Value::String(text)).map_err(bad)?;
    Ok(text_response(out.as_str().unwrap_or_default().to_string()))
}

pub fn text_response(text: String) -> Response {
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"));
    resp
}
