//! The framework's own refusals in the service's envelope.
//!
//! Before a handler runs, axum answers some requests itself: a method the route does not serve
//! (405, empty body), a path segment that is not UTF-8 or does not parse (400 "Invalid URL"), a
//! query string or body an extractor cannot read (400/415/422, plain text). Clients parse every
//! error as the service's JSON envelope, so one middleware per service rewrites those plain
//! answers through the service's envelope writer, for every route, present and future.
//! Answers that already carry a body type (JSON envelopes, the blob API's XML) pass untouched.
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, Code};

/// A framework rejection body is a short text; a longer one is cut (it is only quoted).
const MAX_REJECTION_BYTES: usize = 16 * 1024;

/// The Storage-style services' middleware (`axum::middleware::from_fn(json_envelope)`).
pub async fn json_envelope(req: Request, next: Next) -> Response {
    in_envelope(req, next, |err| err.into_response()).await
}

/// Runs the request; a plain-text or empty error answer is re-rendered by `render`.
pub async fn in_envelope(req: Request, next: Next, render: impl FnOnce(ApiError) -> Response) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || has_body_type(&resp) {
        return resp;
    }
    let allow = resp.headers().get(header::ALLOW).cloned();
    let text = match axum::body::to_bytes(resp.into_body(), MAX_REJECTION_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let err = rejection_error(status, &method, &path, &text, allow.as_ref());
    let mut out = render(err);
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

/// A JSON or XML answer is already in an envelope; text and empty answers are the framework's.
fn has_body_type(resp: &Response<Body>) -> bool {
    match resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(ct) => !ct.starts_with("text/plain"),
        None => false,
    }
}

fn rejection_error(status: StatusCode, method: &axum::http::Method, path: &str, text: &str, allow: Option<&HeaderValue>) -> ApiError {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            // axum adds the `Allow` header outside the route's layers, so it is usually not here
            // yet; the client gets it on the answer all the same.
            let allowed = match allow.and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) {
                Some(list) => format!(" (allowed: {})", list.replace(',', ", ")),
                None => String::new(),
            };
            ApiError::new(Code::MethodNotAllowed, format!("Method \"{method}\" is not allowed on \"{path}\"{allowed}."))
        }
        StatusCode::NOT_FOUND => ApiError::new(Code::RouteNotFound, format!("Route \"{method} {path}\" was not found.")),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(Code::PayloadTooLarge, "Request body is larger than the limit."),
        s if s.is_server_error() => ApiError::internal(if text.is_empty() { s.to_string() } else { text.to_string() }),
        // 400 "Invalid URL", 415, 422 …: the request could not be read.
        _ if text.is_empty() => ApiError::validation(format!("Invalid request ({status}).")),
        _ => ApiError::validation(format!("Invalid request: {text}")),
    }
}
