//! The Importer HTTP API under `/import` (notes: services.md §17). Errors use the PHP services'
//! envelope `{error, code: <HTTP status>, status: "error", exceptionId}`, with the message also
//! in `message` (the importer spec's `Error` schema requires `message` and `status`).
//!
//! Bodies are multipart and may be gigabytes: the API body limit does not apply; the `data` part
//! is streamed to a staging file as it arrives (never held in memory), other parts are small
//! text. The token's write access to the table is checked before the `data` part is read when
//! `tableId` comes first (as the docs' examples send it), otherwise once the body is in.
use std::io::Write;

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Staged;
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, ApiResult, Params, Routes};
use crate::storage::auth::{Auth, Need};
use crate::storage::tables::{Table, load_table};

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/import", get(index))
        .route("/import/write-table", post(write_table))
        .route("/import/upload-file", post(upload_file))
        .map_router(|r| r.layer(DefaultBodyLimit::disable()).layer(axum::middleware::from_fn(import_envelope)))
}

/// An `ApiError` in the Importer's envelope.
pub struct ImportError(pub ApiError);

impl From<ApiError> for ImportError {
    fn from(e: ApiError) -> Self {
        ImportError(e)
    }
}

impl From<kbstack_core::Error> for ImportError {
    fn from(e: kbstack_core::Error) -> Self {
        ImportError(e.into())
    }
}

impl IntoResponse for ImportError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "import-", |body| {
            body["message"] = body["error"].clone();
        })
    }
}

type IResult<T> = Result<T, ImportError>;

/// Every service answers at its root (clients and the host-routing check probe it).
async fn index() -> Json<Value> {
    Json(serde_json::json!({"api": "import", "documentation": "https://app.swaggerhub.com/apis/keboola/import"}))
}

async fn import_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| ImportError(err).into_response()).await
}

/// Room for the form's other parts and boundaries beside `data` in a `Content-Length`.
const FORM_OVERHEAD_BYTES: u64 = 64 * 1024;
/// The longest text part (`tableId`, `columns[]`, `name`, …).
const MAX_TEXT_PART_BYTES: usize = 256 * 1024;

/// A body announced larger than the limit is refused before a byte of it is read.
fn check_length(headers: &HeaderMap, max: u64) -> ApiResult<()> {
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(n) if n > max.saturating_add(FORM_OVERHEAD_BYTES) => Err(super::too_large(max)),
        _ => Ok(()),
    }
}

fn bad_multipart(e: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("Invalid request: the body is not a readable multipart/form-data form ({e})."))
}

/// The form as received: its text parts, and the `data` part on disk.
struct Form {
    fields: Vec<(String, String)>,
    data: Option<Staged>,
}

impl Form {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The text parts as `Params` (PHP bracket rules: `columns[]`, `tags[]`).
    fn params(&self) -> ApiResult<Params> {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let query = self
            .fields
            .iter()
            .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, NON_ALPHANUMERIC), utf8_percent_encode(v, NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&");
        Params::from_query(Some(&query))
    }
}

/// Read the form; `before_data` runs on the text parts seen so far, just before `data` is read.
async fn receive(state: &AppState, multipart: &mut Multipart, max: u64, mut before_data: impl FnMut(&Form) -> ApiResult<()>) -> ApiResult<Form> {
    let mut form = Form { fields: Vec::new(), data: None };
    while let Some(mut field) = multipart.next_field().await.map_err(bad_multipart)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "data" {
            if form.data.is_some() {
                return Err(ApiError::validation("Invalid request:\n - data: only one \"data\" part may be sent."));
            }
            before_data(&form)?;
            let file_name = field.file_name().map(str::to_string);
            let staged = tempfile::NamedTempFile::new_in(state.blobs.staging_dir())?;
            let mut out = std::io::BufWriter::with_capacity(1024 * 1024, staged.reopen()?);
            let mut bytes = 0u64;
            // The handler runs on the blocking pool: plain writes here block no async worker.
            while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
                bytes += chunk.len() as u64;
                if bytes > max {
                    return Err(super::too_large(max));
                }
                out.write_all(&chunk)?;
            }
            out.flush()?;
            out.get_ref().sync_all()?;
            form.data = Some(Staged { file: staged, file_name, bytes });
        } else {
            let mut text = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
                if text.len() + chunk.len() > MAX_TEXT_PART_BYTES {
                    return Err(ApiError::validation(format!("Invalid request:\n - {name}: the value is longer than {MAX_TEXT_PART_BYTES} bytes.")));
                }
                text.extend_from_slice(&chunk);
            }
            form.fields.push((name, String::from_utf8_lossy(&text).into_owned()));
        }
    }
    Ok(form)
}

async fn multipart_of(state: &AppState, req: Request) -> ApiResult<Multipart> {
    Multipart::from_request(req, state).await.map_err(bad_multipart)
}

/// What is read of a refused form at most before answering: a client still sending a small
/// form then reads the refusal instead of a reset connection; a big upload is cut off.
const DRAIN_BYTES: usize = 4 * 1024 * 1024;

async fn drain(multipart: &mut Multipart) {
    let mut left = DRAIN_BYTES;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            if chunk.len() >= left {
                return;
            }
            left -= chunk.len();
        }
    }
}

/// `receive`, draining the rest of the form when it is refused (except for its size).
async fn receive_or_drain(state: &AppState, mut multipart: Multipart, max: u64, before_data: impl FnMut(&Form) -> ApiResult<()>) -> ApiResult<Form> {
    let result = receive(state, &mut multipart, max, before_data).await;
    if let Err(e) = &result {
        if e.code != crate::http::Code::PayloadTooLarge {
            drain(&mut multipart).await;
        }
    }
    result
}

fn required_table_id(form: &Form) -> ApiResult<String> {
    form.field("tableId")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::validation("Invalid request:\n - tableId: This value should not be blank."))
}

fn missing_data() -> ApiError {
    ApiError::validation("Invalid request:\n - data: This value should not be blank (send the file as the \"data\" part).")
}

/// A refusal before the form is read (no or a bad token): the body is read first, up to
/// `DRAIN_BYTES`, so that a client still sending a small form reads the answer.
async fn refuse_unread(req: Request, err: ApiError) -> ImportError {
    let _ = axum::body::to_bytes(req.into_body(), DRAIN_BYTES).await;
    ImportError(err)
}

async fn write_table(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> IResult<Json<Value>> {
    let auth = match auth {
        Ok(a) => a,
        Err(e) => return Err(refuse_unread(req, e).await),
    };
    let max = super::max_bytes();
    check_length(req.headers(), max)?;
    let multipart = multipart_of(&state, req).await?;
    let mut checked: Option<Table> = None;
    let form = receive_or_drain(&state, multipart, max, |form| {
        if let Some(id) = form.field("tableId").map(str::trim).filter(|s| !s.is_empty()) {
            checked = Some(load_table(&state, &auth, id, Need::Write)?);
        }
        Ok(())
    })
    .await?;
    let table_id = required_table_id(&form)?;
    let table = match checked {
        Some(t) if t.id == table_id => t,
        _ => load_table(&state, &auth, &table_id, Need::Write)?,
    };
    let p = form.params()?;
    let data = form.data.ok_or_else(missing_data)?;
    Ok(Json(super::write_table(&state, &auth, table, &p, data).await?))
}

/// Multipart (`data` a file part), or a form body with `data` as text (the spec's second
/// encoding; subject to the API body limit).
async fn upload_file(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> IResult<Json<Value>> {
    let auth = match auth {
        Ok(a) => a,
        Err(e) => return Err(refuse_unread(req, e).await),
    };
    let max = super::max_bytes();
    check_length(req.headers(), max)?;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let (p, data) = if is_multipart {
        let form = receive_or_drain(&state, multipart_of(&state, req).await?, max, |_| Ok(())).await?;
        (form.params()?, form.data.ok_or_else(missing_data)?)
    } else {
        let p = Params::from_request(req, &state).await?;
        let text = p.str("data").ok_or_else(missing_data)?;
        let staged = stage_text(&state, &text)?;
        (p, staged)
    };
    let file = super::upload_file(&state, &auth, &p, data)?;
    Ok(Json(crate::storage::files::file_json(&state, &file)))
}

fn stage_text(state: &AppState, text: &str) -> ApiResult<Staged> {
    let mut staged = tempfile::NamedTempFile::new_in(state.blobs.staging_dir())?;
    staged.write_all(text.as_bytes())?;
    staged.as_file().sync_all()?;
    Ok(Staged { file: staged, file_name: None, bytes: text.len() as u64 })
}
