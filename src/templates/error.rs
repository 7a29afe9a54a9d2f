//! The Templates service's error envelope (goa `GenericError`): `{statusCode, error, message}`
//! with `error` a name such as `templates.versionNotFound`; invalid inputs answer goa's
//! `ValidationError` `{error: "InvalidInputs", message, ValidationResult}` (no statusCode, as
//! Keboola's service answers it).
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::ValidationResult;
use crate::http::error::public_message;
use crate::http::{ApiError, Code};

#[derive(Debug)]
pub struct TemplatesError {
    pub status: StatusCode,
    pub name: String,
    pub message: String,
    /// A complete body instead of the generic one (invalid inputs).
    pub body: Option<Value>,
}

pub type TResult<T> = Result<T, TemplatesError>;

impl TemplatesError {
    pub fn new(status: StatusCode, name: &str, message: impl Into<String>) -> TemplatesError {
        TemplatesError { status, name: name.into(), message: message.into(), body: None }
    }

    pub fn bad_request(message: impl Into<String>) -> TemplatesError {
        Self::new(StatusCode::BAD_REQUEST, "templates.badRequest", message)
    }

    pub fn forbidden(message: impl Into<String>) -> TemplatesError {
        Self::new(StatusCode::FORBIDDEN, "templates.forbidden", message)
    }

    pub fn repository_not_found(name: &str) -> TemplatesError {
        Self::new(StatusCode::NOT_FOUND, "templates.repositoryNotFound", format!("Repository \"{name}\" not found."))
    }

    pub fn template_not_found(id: &str) -> TemplatesError {
        Self::new(StatusCode::NOT_FOUND, "templates.templateNotFound", format!("Template \"{id}\" not found."))
    }

    pub fn version_not_found(version: &str) -> TemplatesError {
        Self::new(StatusCode::NOT_FOUND, "templates.versionNotFound", format!("Version \"{version}\" not found."))
    }

    pub fn branch_not_found(branch: &str) -> TemplatesError {
        Self::new(StatusCode::NOT_FOUND, "templates.branchNotFound", format!("Branch \"{branch}\" not found."))
    }

    pub fn instance_not_found(id: &str) -> TemplatesError {
        Self::new(StatusCode::NOT_FOUND, "templates.instanceNotFound", format!("Instance \"{id}\" not found."))
    }

    pub fn task_not_found(id: &str) -> TemplatesError {
        Self::new(StatusCode::NOT_FOUND, "templates.taskNotFound", format!("Task \"{id}\" not found."))
    }

    pub fn invalid_inputs(result: ValidationResult) -> TemplatesError {
        let body = json!({"error": "InvalidInputs", "message": "Inputs are not valid.", "ValidationResult": result});
        TemplatesError { status: StatusCode::BAD_REQUEST, name: "InvalidInputs".into(), message: "Inputs are not valid.".into(), body: Some(body) }
    }
}

/// The name goa gives an error of a status (when no more specific one applies).
fn name_of(code: Code, status: StatusCode) -> &'static str {
    match (code, status.as_u16()) {
        (Code::BranchNotFound, _) => "templates.branchNotFound",
        (_, 400 | 415 | 422) => "templates.badRequest",
        (_, 401) => "templates.unauthorized",
        (_, 403) => "templates.forbidden",
        (_, 404) => "templates.notFound",
        (_, 405) => "templates.methodNotAllowed",
        (_, 409) => "templates.conflict",
        (_, 413) => "templates.payloadTooLarge",
        (_, 503) => "templates.unavailable",
        (_, s) if s >= 500 => "templates.internalError",
        _ => "templates.badRequest",
    }
}

impl From<ApiError> for TemplatesError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        if status.is_server_error() {
            tracing::error!("templates: {}", public_message(&e.message));
        }
        let message = if status.is_server_error() { "Internal Error".to_string() } else { public_message(&e.message) };
        TemplatesError::new(status, name_of(e.code, status), message)
    }
}

impl From<kbstack_core::Error> for TemplatesError {
    fn from(e: kbstack_core::Error) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for TemplatesError {
    fn into_response(self) -> Response {
        let body = self.body.unwrap_or_else(|| json!({"statusCode": self.status.as_u16(), "error": self.name, "message": self.message}));
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}
