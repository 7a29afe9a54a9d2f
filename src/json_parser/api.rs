//! The JSON Parser's HTTP API under `/json-parser` (legacy service id; no public spec, so the
//! endpoint is kbstack's own, Keboola-style). Needs a valid Storage token. Errors use the PHP
//! services' envelope `{error, code: <HTTP status>, status: "error", exceptionId: "json-parser-…"}`;
//! a document that is not JSON is a 400 whose `context` holds the `line` and `column`.
//!
//! `POST /json-parser/v1/parse`: the document is the body (any content type), or the file part
//! (`data`) of a multipart form. Options come from the query string or the form's text parts:
//! `rootType` (default `root`), `nestedArraysAsJson`, `output` = `zip` (default: a zip of
//! `<table>.csv`), `json` (the tables inline) or `files` (each CSV written to Storage Files, tagged
//! `json-parser` plus `tags[]`; answers the file ids, 201).
use std::io::Write;

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::{ParsedTable, ParsedTables, WrittenFile, WrittenFiles};
use super::{Options, Table};
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, ApiResult, Code, Params, Routes};
use crate::storage::auth::Auth;
use crate::storage::files::{self, NewFile};

/// The largest document parsed (bytes): parsing holds it and its tables in memory.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
/// Room for a form's boundaries and text parts beside the document.
const FORM_OVERHEAD_BYTES: usize = 256 * 1024;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/json-parser", get(index))
        .route("/json-parser/v1/parse", post(parse))
        .map_router(|r| r.layer(DefaultBodyLimit::max(MAX_DOCUMENT_BYTES + FORM_OVERHEAD_BYTES)).layer(axum::middleware::from_fn(envelope)))
}

/// An `ApiError` in the JSON Parser's envelope (integer `code`).
pub struct JsonParserError(pub ApiError);

impl From<ApiError> for JsonParserError {
    fn from(e: ApiError) -> Self {
        JsonParserError(e)
    }
}

impl IntoResponse for JsonParserError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "json-parser-", |_| {})
    }
}

type JResult<T> = Result<T, JsonParserError>;

async fn envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| JsonParserError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({
        "api": "json-parser",
        "description": "JSON to CSV tables by the rules of Keboola's JSON parser library",
        "outputs": ["zip", "json", "files"],
    }))
}

fn too_large() -> ApiError {
    ApiError::new(Code::PayloadTooLarge, format!("The JSON document is larger than the limit of {MAX_DOCUMENT_BYTES} bytes."))
}

fn bad_multipart(e: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("Invalid request: the body is not a readable multipart/form-data form ({e})."))
}

/// The document's bytes and the options (query string, then the form's text parts).
async fn receive(state: &AppState, req: Request) -> ApiResult<(Vec<u8>, Params)> {
    let query = req.uri().query().map(str::to_string);
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if !content_type.starts_with("multipart/form-data") {
        let body = axum::body::to_bytes(req.into_body(), MAX_DOCUMENT_BYTES).await.map_err(|_| too_large())?;
        return Ok((body.to_vec(), Params::from_query(query.as_deref())?));
    }
    let mut multipart = Multipart::from_request(req, state).await.map_err(bad_multipart)?;
    let mut document: Option<Vec<u8>> = None;
    let mut pairs: Vec<String> = query.into_iter().filter(|q| !q.is_empty()).collect();
    while let Some(mut field) = multipart.next_field().await.map_err(bad_multipart)? {
        let name = field.name().unwrap_or_default().to_string();
        let is_document = field.file_name().is_some() || matches!(name.as_str(), "data" | "file" | "json");
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
            if bytes.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        if is_document {
            if document.is_some() {
                return Err(ApiError::validation("Invalid request: send one JSON document (one file part) at a time."));
            }
            document = Some(bytes);
        } else {
            use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
            let value = String::from_utf8_lossy(&bytes);
            pairs.push(format!("{}={}", utf8_percent_encode(&name, NON_ALPHANUMERIC), utf8_percent_encode(&value, NON_ALPHANUMERIC)));
        }
    }
    let document = document.ok_or_else(|| ApiError::validation("Invalid request:\n - data: the form has no file part with the JSON document."))?;
    Ok((document, Params::from_query(Some(&pairs.join("&")))?))
}

/// The document as JSON; a syntax error names its line and column.
fn read_document(bytes: &[u8]) -> ApiResult<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::validation("Invalid request: the JSON document is empty."));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::validation(format!("The document is not valid JSON: {e}")).with_context(json!({"line": e.line(), "column": e.column()}))
    })
}

enum Output {
    Zip,
    Json,
    Files,
}

fn options(p: &Params) -> ApiResult<(Options, Output)> {
    let root_type = p.str("rootType").or_else(|| p.str("type")).filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "root".into());
    if root_type.len() > 64 || root_type.contains('\0') {
        return Err(ApiError::validation("Invalid request:\n - rootType: at most 64 characters, no NUL."));
    }
    let output = match p.str("output").as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("zip") => Output::Zip,
        Some("json") => Output::Json,
        Some("files") | Some("file") | Some("storage") => Output::Files,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "Invalid request:\n - output: \"{}\" is not one of: zip, json, files.",
                other.chars().take(32).collect::<String>()
            )));
        }
    };
    Ok((Options { root_type, nested_arrays_as_json: p.flag("nestedArraysAsJson")? }, output))
}

async fn parse(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> JResult<Response> {
    let auth = auth?;
    let (bytes, p) = receive(&state, req).await?;
    let (opts, output) = options(&p)?;
    let document = read_document(&bytes)?;
    drop(bytes);
    let tables = super::parse(&document, &opts)?;
    drop(document);
    Ok(match output {
        Output::Zip => {
            let zip = zip_of(&tables)?;
            let name = super::safe_name(&opts.root_type);
            (
                [(header::CONTENT_TYPE, "application/zip".to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.zip\""))],
                zip,
            )
                .into_response()
        }
        Output::Json => Json(ParsedTables {
            tables: tables.into_iter().map(|t| ParsedTable { name: t.name, columns: t.columns, rows_count: t.rows.len(), rows: t.rows }).collect(),
        })
        .into_response(),
        Output::Files => {
            let written = write_files(&state, &auth, &tables, p.list("tags"), p.flag("isPermanent")?)?;
            (StatusCode::CREATED, Json(WrittenFiles { files: written })).into_response()
        }
    })
}

fn zip_of(tables: &[Table]) -> ApiResult<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for t in tables {
        zip.start_file(format!("{}.csv", t.name), options).map_err(ApiError::internal)?;
        zip.write_all(&t.to_csv()?)?;
    }
    Ok(zip.finish().map_err(ApiError::internal)?.into_inner())
}

/// Each table as a Storage file (staged, then moved into its blob, as the Importer does).
fn write_files(state: &AppState, auth: &Auth, tables: &[Table], tags: Vec<String>, permanent: bool) -> ApiResult<Vec<WrittenFile>> {
    let mut tags: Vec<String> = tags.into_iter().filter(|t| !t.trim().is_empty()).collect();
    tags.insert(0, "json-parser".into());
    let mut out = Vec::new();
    for t in tables {
        let csv = t.to_csv()?;
        let staged = tempfile::NamedTempFile::new_in(state.blobs.staging_dir())?;
        std::fs::write(staged.path(), &csv)?;
        let new = NewFile { name: format!("{}.csv", t.name), is_sliced: false, is_permanent: permanent, is_encrypted: false, tags: tags.clone() };
        let file = files::create_from_staged(state, auth, new, false, staged.path())?;
        out.push(WrittenFile { id: file.id, name: file.name, table: t.name.clone(), columns: t.columns.clone(), rows_count: t.rows.len(), size_bytes: csv.len() as u64 });
    }
    Ok(out)
}
