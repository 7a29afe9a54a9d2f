//! The one table of Keboola error codes and the one envelope writer.
//!
//! Every failure leaves the server as `{error, code, status: "error", exceptionId}`; request
//! rejections (bad JSON, unknown route, oversized body) are rendered through the same writer.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Keboola error codes with their HTTP statuses. Add a row here, never an ad-hoc status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    TokenMissing,
    TokenInvalid,
    AccessDenied,
    ValidationFailed,
    InvalidCsv,
    RouteNotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    BucketNotFound,
    BucketAlreadyExists,
    BucketNotEmpty,
    TableNotFound,
    TableAlreadyExists,
    ColumnNotExists,
    ColumnAlreadyExists,
    UnintendedTruncation,
    TokenNotFound,
    InvalidPermissions,
    FileNotFound,
    JobNotFound,
    EventNotFound,
    MetadataNotFound,
    ComponentNotFound,
    ConfigurationNotFound,
    ConfigurationAlreadyExists,
    ConfigurationVersionNotFound,
    RowNotFound,
    RowAlreadyExists,
    BranchNotFound,
    TriggerNotFound,
    DisplayNameInvalid,
    ColumnsNotMatch,
    DuplicateColumns,
    BlobAuthFailed,
    BlobNotFound,
    InvalidRange,
    NotImplemented,
    Internal,
    BlobAlreadyExists,
    BlobConditionNotMet,
    InvalidBlockList,
    BlobInvalidInput,
    ContainerNotFound,
    StorageValidation,
    QuerySyntax,
    BranchAlreadyExists,
    // Queue (src/queue)
    QueueJobNotFound,
    QueueJobNotKillable,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        self.row().0
    }

    pub fn status(self) -> StatusCode {
        self.row().1
    }

    fn row(self) -> (&'static str, StatusCode) {
        use Code::*;
        match self {
            TokenMissing => ("", StatusCode::UNAUTHORIZED),
            TokenInvalid => ("storage.tokenInvalid", StatusCode::UNAUTHORIZED),
            AccessDenied => ("accessDenied", StatusCode::FORBIDDEN),
            ValidationFailed => ("validation.failed", StatusCode::BAD_REQUEST),
            InvalidCsv => ("invalidCsv", StatusCode::BAD_REQUEST),
            RouteNotFound => ("notFound", StatusCode::NOT_FOUND),
            MethodNotAllowed => ("methodNotAllowed", StatusCode::METHOD_NOT_ALLOWED),
            PayloadTooLarge => ("payloadTooLarge", StatusCode::PAYLOAD_TOO_LARGE),
            BucketNotFound => ("storage.buckets.notFound", StatusCode::NOT_FOUND),
            BucketAlreadyExists => ("storage.buckets.alreadyExists", StatusCode::BAD_REQUEST),
            BucketNotEmpty => ("storage.buckets.notEmpty", StatusCode::BAD_REQUEST),
            TableNotFound => ("storage.tables.notFound", StatusCode::NOT_FOUND),
            TableAlreadyExists => ("storage.tables.alreadyExists", StatusCode::BAD_REQUEST),
            ColumnNotExists => ("storage.tables.columnNotExists", StatusCode::BAD_REQUEST),
            ColumnAlreadyExists => ("storage.tables.columnAlreadyExists", StatusCode::BAD_REQUEST),
            UnintendedTruncation => ("storage.tables.validation.unintendedTruncation", StatusCode::BAD_REQUEST),
            TokenNotFound => ("storage.tokens.notFound", StatusCode::NOT_FOUND),
            InvalidPermissions => ("storage.tokens.invalidPermissions", StatusCode::BAD_REQUEST),
            FileNotFound => ("storage.files.notFound", StatusCode::NOT_FOUND),
            JobNotFound => ("storage.jobs.notFound", StatusCode::NOT_FOUND),
            EventNotFound => ("storage.events.notFound", StatusCode::NOT_FOUND),
            MetadataNotFound => ("storage.metadata.notFound", StatusCode::NOT_FOUND),
            ComponentNotFound => ("storage.components.notFound", StatusCode::NOT_FOUND),
            ConfigurationNotFound => ("storage.configuration.notFound", StatusCode::NOT_FOUND),
            ConfigurationAlreadyExists => ("storage.configurations.configurationAlreadyExists", StatusCode::BAD_REQUEST),
            ConfigurationVersionNotFound => ("storage.configuration.versionNotFound", StatusCode::NOT_FOUND),
            RowNotFound => ("storage.configurationRows.notFound", StatusCode::NOT_FOUND),
            RowAlreadyExists => ("storage.configurations.rowAlreadyExists", StatusCode::BAD_REQUEST),
            BranchNotFound => ("storage.devBranches.notFound", StatusCode::NOT_FOUND),
            TriggerNotFound => ("storage.triggers.notFound", StatusCode::NOT_FOUND),
            DisplayNameInvalid => ("storage.webalize.displayName.invalid", StatusCode::UNPROCESSABLE_ENTITY),
            ColumnsNotMatch => ("csvImport.columnsNotMatch", StatusCode::BAD_REQUEST),
            DuplicateColumns => ("csvImport.duplicateColumnNames", StatusCode::BAD_REQUEST),
            BlobAuthFailed => ("AuthenticationFailed", StatusCode::FORBIDDEN),
            BlobNotFound => ("BlobNotFound", StatusCode::NOT_FOUND),
            InvalidRange => ("InvalidRange", StatusCode::RANGE_NOT_SATISFIABLE),
            NotImplemented => ("notImplemented", StatusCode::NOT_IMPLEMENTED),
            Internal => ("applicationError", StatusCode::INTERNAL_SERVER_ERROR),
            BlobAlreadyExists => ("BlobAlreadyExists", StatusCode::CONFLICT),
            BlobConditionNotMet => ("ConditionNotMet", StatusCode::PRECONDITION_FAILED),
            InvalidBlockList => ("InvalidBlockList", StatusCode::BAD_REQUEST),
            BlobInvalidInput => ("InvalidInput", StatusCode::BAD_REQUEST),
            ContainerNotFound => ("ContainerNotFound", StatusCode::NOT_FOUND),
            StorageValidation => ("storage.validation", StatusCode::BAD_REQUEST),
            QuerySyntax => ("query.syntax", StatusCode::BAD_REQUEST),
            BranchAlreadyExists => ("storage.devBranches.branchAlreadyExists", StatusCode::BAD_REQUEST),
            QueueJobNotFound => ("queue.jobNotFound", StatusCode::NOT_FOUND),
            QueueJobNotKillable => ("queue.jobNotKillable", StatusCode::BAD_REQUEST),
        }
    }
}

/// An API failure: a code from the table and a human message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// Extra keys merged into the envelope (e.g. `missingColumns`).
    pub context: Option<serde_json::Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), context: None }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Code::ValidationFailed, message)
    }
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(Code::AccessDenied, message)
    }
    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::new(Code::Internal, format!("Internal error: {err}"))
    }
    pub fn with_context(mut self, context: serde_json::Value) -> Self {
        self.context = Some(context);
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(err: rusqlite::Error) -> Self {
        ApiError::internal(err)
    }
}

impl From<std::io::Error> for ApiError {
    fn from(err: std::io::Error) -> Self {
        ApiError::internal(err)
    }
}

/// Paths of this server (its data dir) that must not reach clients: set once at start.
static PRIVATE_PATHS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Longest message a client is shown (and a job records); the rest is cut.
pub const MAX_MESSAGE_CHARS: usize = 4096;

pub fn set_private_paths(paths: Vec<String>) {
    let mut paths: Vec<String> = paths.into_iter().filter(|p| p.len() > 1).collect();
    // Longest first, so `/a/b/data` is replaced before a shorter `/a/b`.
    paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let _ = PRIVATE_PATHS.set(paths);
}

/// A message fit for clients: the server's own paths blanked out, and bounded in size (an error
/// can quote a whole input line).
pub fn public_message(message: &str) -> String {
    let mut out: String = if message.chars().nth(MAX_MESSAGE_CHARS).is_some() {
        let cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{cut}… (message truncated)")
    } else {
        message.to_string()
    };
    redact_paths(&mut out);
    out
}

/// The server's own paths in a text shown to clients (an error, a job's log line) blanked out.
pub fn redact_paths(text: &mut String) {
    for path in PRIVATE_PATHS.get().map(Vec::as_slice).unwrap_or_default() {
        if text.contains(path.as_str()) {
            *text = text.replace(path.as_str(), "[kbstack data]");
        }
    }
}

pub fn new_exception_id() -> String {
    format!("exception-{}", uuid::Uuid::new_v4().simple())
}

/// The one envelope writer.
pub fn envelope(err: &ApiError, exception_id: &str) -> serde_json::Value {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let exception_id = new_exception_id();
        if self.code.status().is_server_error() {
            tracing::error!(exception_id, code = self.code.as_str(), "{}", public_message(&self.message));
        } else {
            tracing::debug!(exception_id, code = self.code.as_str(), "{}", self.message);
        }
        let body = envelope(&self, &exception_id);
        let mut resp = (self.code.status(), body.to_string()).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}
