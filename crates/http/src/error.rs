//! The one envelope writer of the Storage-style JSON APIs.
//!
//! Every failure leaves the server as `{error, code, status: "error", exceptionId}`; request
//! rejections (bad JSON, unknown route, oversized body) are rendered through the same writer.
//! `ApiError` wraps the domain's `kbstack_core::Error` only so that it can be a response (the
//! orphan rule keeps `IntoResponse` out of the core crate, which knows no web framework).
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use kbstack_core::error::{Code, MAX_MESSAGE_CHARS, new_exception_id, public_message, redact_paths, set_private_paths};

/// A failure as handlers return it: the domain error, answerable as a response.
#[derive(Debug, Clone)]
pub struct ApiError(pub kbstack_core::Error);

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError(kbstack_core::Error::new(code, message))
    }
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError(kbstack_core::Error::validation(message))
    }
    pub fn denied(message: impl Into<String>) -> Self {
        ApiError(kbstack_core::Error::denied(message))
    }
    pub fn internal(err: impl std::fmt::Display) -> Self {
        ApiError(kbstack_core::Error::internal(err))
    }
    pub fn with_context(self, context: serde_json::Value) -> Self {
        ApiError(self.0.with_context(context))
    }
    /// The domain error, for code that returns `kbstack_core::Result`.
    pub fn into_inner(self) -> kbstack_core::Error {
        self.0
    }
    pub fn status(&self) -> StatusCode {
        status_of(self.0.code)
    }
}

pub fn status_of(code: Code) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl std::ops::Deref for ApiError {
    type Target = kbstack_core::Error;
    fn deref(&self) -> &kbstack_core::Error {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut kbstack_core::Error {
        &mut self.0
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Whatever converts into the domain error (the domain error itself, or a library failure met
/// with `?`) converts into `ApiError`.
impl<E> From<E> for ApiError
where
    kbstack_core::Error: From<E>,
{
    fn from(err: E) -> Self {
        ApiError(err.into())
    }
}

/// The one envelope writer.
pub fn envelope(err: &kbstack_core::Error, exception_id: &str) -> serde_json::Value {
    let mut body = json!({
        "error": public_message(&err.message),
        "code": err.code.as_str(),
        "status": "error",
        "exceptionId": exception_id,
    });
    if let (Some(serde_json::Value::Object(extra)), Some(obj)) = (&err.context, body.as_object_mut()) {
        obj.insert("context".into(), serde_json::Value::Object(extra.clone()));
    }
    body
}

/// The envelope of the PHP services beside Storage (Queue, Encryption): `code` is the HTTP status
/// as a number, and the exception id carries the service's prefix (`job-queue-…`). `decorate`
/// adds what one service's clients read besides (the Encryption client reads `message`).
pub fn service_error_response(err: ApiError, exception_prefix: &str, decorate: impl FnOnce(&mut serde_json::Value)) -> Response {
    let status = err.status();
    let exception_id = format!("{exception_prefix}{}", new_exception_id().trim_start_matches("exception-"));
    if status.is_server_error() {
        tracing::error!(exception_id, "{}", public_message(&err.message));
    }
    let mut body = json!({
        "error": public_message(&err.message),
        "code": status.as_u16(),
        "status": "error",
        "exceptionId": exception_id,
    });
    if let Some(ctx) = err.0.context {
        body["context"] = ctx;
    }
    decorate(&mut body);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let exception_id = new_exception_id();
        if self.code.is_server_error() {
            tracing::error!(exception_id, code = self.code.as_str(), "{}", public_message(&self.message));
        } else {
            tracing::debug!(exception_id, code = self.code.as_str(), "{}", self.message);
        }
        let body = envelope(&self.0, &exception_id);
        let mut resp = (self.status(), body.to_string()).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}
