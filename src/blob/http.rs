//! The Azure-Blob-compatible endpoint: `/abs/{account}/{container}/{blob}` with the operations the
//! Azure SDKs use for files: Put Blob, Put Block, Put Block List, Get Blob (ranged), Get Blob
//! Properties. Every request carries a SAS (`sas.rs`). Errors are Azure's XML, not the Storage API
//! envelope, because the Azure SDKs parse them (`x-ms-error-code` first, then `<Code>`).
//!
//! Bodies are streamed to a node-local scratch file, then published through the blob backend
//! (local disk or S3), so no upload is held in memory and a partial upload is never visible; blocks
//! are staged in the backend, so any node may take any block and commit the list.
use std::path::Path;

use crate::http::Routes;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use crate::http::routes::any;

use super::sas::{self, Perm};
use super::{ACCOUNT, CONTAINER, ObjectMeta, valid_blob_name};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params};
use crate::storage::files;

/// The version we answer with when a client sends none.
const DEFAULT_VERSION: &str = "2021-08-06";
/// A block list names at most 50,000 blocks of ~100 bytes of XML each.
const MAX_BLOCK_LIST_BYTES: usize = 16 * 1024 * 1024;

pub fn router() -> Routes<AppState> {
    Routes::new()
        .route("/abs/{account}/{container}/{*blob}", any(handle))
        // Uploads are streamed to disk and may be gigabytes: not subject to the API body limit.
        .map_router(|r| r.layer(DefaultBodyLimit::disable()))
}

/// A GET URL of one blob carrying `sas`; `endpoint` is `PublicUrls::blob_endpoint`.
pub fn blob_url(endpoint: &str, blob_name: &str, sas: &str) -> String {
    // Segment by segment, like the Azure SDK (`quote(blob_name, safe='~/')`).
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');
    let path = percent_encoding::utf8_percent_encode(blob_name, SEGMENT);
    format!("{endpoint}/{CONTAINER}/{path}?{sas}")
}

async fn handle(State(state): State<AppState>, method: Method, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let version = headers
        .get("x-ms-version")
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(DEFAULT_VERSION));
    let mut resp = match dispatch(&state, &method, &uri, &headers, body).await {
        Ok(resp) => resp,
        Err(err) => error_response(&err),
    };
    let h = resp.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-ms-request-id", id);
    }
    h.insert("x-ms-version", version);
    resp
}

/// Azure's error body; the SDKs read the code from `x-ms-error-code`, falling back to `<Code>`.
fn error_response(err: &ApiError) -> Response {
    if err.code.is_server_error() {
        tracing::error!(code = err.code.as_str(), "blob endpoint: {}", err.message);
    }
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{}</Code><Message>{}</Message></Error>",
        err.code.as_str(),
        xml_escape(&err.message)
    );
    let mut resp = (err.status(), body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    if let Ok(code) = HeaderValue::from_str(err.code.as_str()) {
        h.insert("x-ms-error-code", code);
    }
    resp
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn auth_failed(why: impl Into<String>) -> ApiError {
    ApiError::new(Code::BlobAuthFailed, why)
}

fn invalid(why: impl Into<String>) -> ApiError {
    ApiError::new(Code::BlobInvalidInput, why)
}

fn blob_not_found() -> ApiError {
    ApiError::new(Code::BlobNotFound, "The specified blob does not exist.")
}

/// The blob name of a request path `/abs/{account}/{container}/{blob...}` (percent-decoded).
fn blob_name(uri: &Uri) -> ApiResult<String> {
    let rest = uri.path().strip_prefix("/abs/").unwrap_or_default();
    let mut parts = rest.splitn(3, '/');
    let (account, container, raw) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if account != ACCOUNT || container != CONTAINER {
        return Err(ApiError::new(Code::ContainerNotFound, "The specified container does not exist."));
    }
    let name = percent_encoding::percent_decode_str(raw).decode_utf8().map_err(|_| invalid("The blob name is not UTF-8."))?;
    if !valid_blob_name(&name) {
        return Err(invalid("The specified blob name is not valid."));
    }
    Ok(name.into_owned())
}

async fn dispatch(state: &AppState, method: &Method, uri: &Uri, headers: &HeaderMap, body: Body) -> ApiResult<Response> {
    let name = blob_name(uri)?;
    let query = Params::from_query(uri.query())?;
    let comp = query.str("comp");
    let need = if *method == Method::GET || *method == Method::HEAD { Perm::Read } else { Perm::Write };
    sas::verify(&state.blobs.sas_key, uri.query(), &name, need).map_err(auth_failed)?;
    match (method.as_str(), comp.as_deref()) {
        ("PUT", None) => put_blob(state, &name, headers, body).await,
        ("PUT", Some("block")) => put_block(state, &name, &query, body).await,
        ("PUT", Some("blocklist")) => put_block_list(state, &name, headers, body).await,
        ("GET", None) => get_blob(state, &name, headers, false).await,
        ("HEAD", None) => get_blob(state, &name, headers, true).await,
        (m, c) => Err(invalid(format!("Operation {m} {} is not supported by kbstack.", c.map(|c| format!("comp={c}")).unwrap_or_default()))),
    }
}

/// Writes go only into the directory of a file that still exists; returns that file.
fn require_owner(state: &AppState, name: &str) -> ApiResult<files::FileRecord> {
    files::file_for_blob(state, name)?.ok_or_else(|| auth_failed("The file this signature was issued for no longer exists."))
}

fn if_none_match_any(headers: &HeaderMap) -> bool {
    headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "*")
}

fn already_exists() -> ApiError {
    ApiError::new(Code::BlobAlreadyExists, "The specified blob already exists.")
}

fn staging_file(state: &AppState) -> std::path::PathBuf {
    state.blobs.staging_dir().join(format!("{}.part", uuid::Uuid::new_v4().simple()))
}

/// Stream a request body into `path`; the file is removed when the body breaks off.
async fn receive(body: Body, path: &Path) -> ApiResult<u64> {
    let result = async {
        let file = std::fs::File::create(path)?;
        let (written, file) = super::body::write_body(super::upload_stream(body), file).await?;
        tokio::task::spawn_blocking(move || file.sync_all()).await.map_err(|e| ApiError::internal(format!("fsync panicked: {e}")))??;
        Ok::<u64, ApiError>(written)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(path).await;
    }
    result
}

async fn put_blob(state: &AppState, name: &str, headers: &HeaderMap, body: Body) -> ApiResult<Response> {
    require_owner(state, name)?;
    let backend = state.blobs.backend();
    let no_overwrite = if_none_match_any(headers);
    if no_overwrite && backend.head(name).await?.is_some() {
        return Err(already_exists());
    }
    let staged = staging_file(state);
    let written = receive(body, &staged).await?;
    if let Some(expected) = content_length(headers) {
        if expected != written {
            let _ = tokio::fs::remove_file(&staged).await;
            return Err(invalid(format!("Received {written} bytes of the {expected} announced.")));
        }
    }
    let meta = backend.put_file(name, &staged, no_overwrite).await;
    let _ = tokio::fs::remove_file(&staged).await;
    let meta = meta?;
    files::blob_written(state, name)?;
    Ok(written_response(&meta))
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

async fn put_block(state: &AppState, name: &str, query: &Params, body: Body) -> ApiResult<Response> {
    require_owner(state, name)?;
    let block_id = query.str("blockid").filter(|b| !b.is_empty() && b.len() <= 1024).ok_or_else(|| {
        ApiError::new(Code::BlobInvalidInput, "The blockid query parameter is missing or too long.")
    })?;
    state.blobs.backend().stage_block(name, &block_id, super::upload_stream(body)).await?;
    Ok(created(HeaderMap::new()))
}

async fn put_block_list(state: &AppState, name: &str, headers: &HeaderMap, body: Body) -> ApiResult<Response> {
    require_owner(state, name)?;
    let backend = state.blobs.backend();
    let no_overwrite = if_none_match_any(headers);
    if no_overwrite && backend.head(name).await?.is_some() {
        return Err(already_exists());
    }
    let xml = axum::body::to_bytes(body, MAX_BLOCK_LIST_BYTES)
        .await
        .map_err(|_| invalid("The block list is too large or could not be read."))?;
    let ids = parse_block_list(&String::from_utf8_lossy(&xml))?;
    let started = std::time::Instant::now();
    let meta = backend.commit_blocks(name, &ids, no_overwrite).await?;
    tracing::debug!(blocks = ids.len(), ms = started.elapsed().as_millis() as u64, "block list committed");
    files::blob_written(state, name)?;
    Ok(written_response(&meta))
}

/// The block ids of a `<BlockList>` body in order (`Latest`, `Committed` and `Uncommitted` alike:
/// kbstack keeps no committed blocks apart, so each names a staged block).
fn parse_block_list(xml: &str) -> ApiResult<Vec<String>> {
    let mut ids = Vec::new();
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else { break };
        let tag = &after[..close];
        rest = &after[close + 1..];
        if matches!(tag, "Latest" | "Committed" | "Uncommitted") {
            let end_tag = format!("</{tag}>");
            let end = rest.find(&end_tag).ok_or_else(|| ApiError::new(Code::InvalidBlockList, "The block list XML is malformed."))?;
            ids.push(rest[..end].trim().to_string());
            rest = &rest[end + end_tag.len()..];
        }
    }
    if !xml.contains("<BlockList") {
        return Err(ApiError::new(Code::InvalidBlockList, "The request body is not a <BlockList>."));
    }
    Ok(ids)
}

fn created(mut headers: HeaderMap) -> Response {
    headers.insert("x-ms-request-server-encrypted", HeaderValue::from_static("true"));
    let mut resp = (StatusCode::CREATED, headers).into_response();
    resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

fn written_response(meta: &ObjectMeta) -> Response {
    let mut headers = HeaderMap::new();
    put_header(&mut headers, header::ETAG, &meta.etag);
    put_header(&mut headers, header::LAST_MODIFIED, &http_date(Some(meta.modified)));
    created(headers)
}

fn put_header(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// RFC 1123 (`Tue, 15 Nov 1994 08:12:31 GMT`), as Azure sends and the SDKs parse.
fn http_date(t: Option<std::time::SystemTime>) -> String {
    let t: chrono::DateTime<chrono::Utc> = t.map_or_else(chrono::Utc::now, Into::into);
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// What a range header asks of a blob of `size` bytes.
#[derive(Debug, PartialEq)]
enum RangeAsk {
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

/// `x-ms-range` wins over `Range` (Azure's rule); `bytes=a-b` or `bytes=a-`.
fn range_ask(headers: &HeaderMap, size: u64) -> RangeAsk {
    let Some(raw) = headers.get("x-ms-range").or_else(|| headers.get(header::RANGE)).and_then(|v| v.to_str().ok()) else {
        return RangeAsk::Whole;
    };
    let parsed = raw.trim().strip_prefix("bytes=").and_then(|r| r.split_once('-')).and_then(|(a, b)| {
        let start: u64 = a.trim().parse().ok()?;
        let end: Option<u64> = if b.trim().is_empty() { None } else { Some(b.trim().parse().ok()?) };
        Some((start, end))
    });
    match parsed {
        Some((start, end)) if start < size && end.is_none_or(|e| e >= start) => {
            RangeAsk::Part(start, end.map_or(size - 1, |e| e.min(size - 1)))
        }
        _ => RangeAsk::Unsatisfiable,
    }
}

async fn get_blob(state: &AppState, name: &str, headers: &HeaderMap, head: bool) -> ApiResult<Response> {
    let backend = state.blobs.backend();
    let meta = backend.head(name).await?.ok_or_else(blob_not_found)?;
    let size = meta.size;
    let tag = meta.etag.clone();
    // The SDK pins later chunk requests of one download to the first response's ETag.
    if let Some(want) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        if want.trim() != "*" && want.trim() != tag {
            return Err(ApiError::new(Code::BlobConditionNotMet, "The condition specified using HTTP conditional header(s) is not met."));
        }
    }
    let mut out = HeaderMap::new();
    put_header(&mut out, header::ETAG, &tag);
    let modified = http_date(Some(meta.modified));
    put_header(&mut out, header::LAST_MODIFIED, &modified);
    // Objects are replaced whole: the current version was created when it was last written.
    put_header(&mut out, HeaderName::from_static("x-ms-creation-time"), &modified);
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
    out.insert("x-ms-lease-state", HeaderValue::from_static("available"));
    out.insert("x-ms-lease-status", HeaderValue::from_static("unlocked"));
    out.insert("x-ms-server-encrypted", HeaderValue::from_static("true"));
    let (status, start, len) = match range_ask(headers, size) {
        RangeAsk::Whole => (StatusCode::OK, 0, size),
        RangeAsk::Part(start, end) => {
            put_header(&mut out, header::CONTENT_RANGE, &format!("bytes {start}-{end}/{size}"));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeAsk::Unsatisfiable => {
            // The Azure SDK asks for the first 32 MiB of every blob; on an empty blob this 416 makes it
            // retry without a range (`_download.py`).
            let mut resp = error_response(&ApiError::new(Code::InvalidRange, "The range specified is invalid for the current size of the resource."));
            put_header(resp.headers_mut(), header::CONTENT_RANGE, &format!("bytes */{size}"));
            return Ok(resp);
        }
    };
    put_header(&mut out, header::CONTENT_LENGTH, &len.to_string());
    if head {
        return Ok((status, out).into_response());
    }
    let stream = backend.get_range(name, start..start + len).await?;
    Ok((status, out, Body::from_stream(stream)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(range: &str, size: u64) -> RangeAsk {
        let mut h = HeaderMap::new();
        h.insert("x-ms-range", HeaderValue::from_str(range).unwrap());
        range_ask(&h, size)
    }

    #[test]
    fn ranges() {
        assert_eq!(ask("bytes=0-33554431", 6), RangeAsk::Part(0, 5));
        assert_eq!(ask("bytes=2-3", 6), RangeAsk::Part(2, 3));
        assert_eq!(ask("bytes=2-", 6), RangeAsk::Part(2, 5));
        assert_eq!(ask("bytes=0-33554431", 0), RangeAsk::Unsatisfiable);
        assert_eq!(ask("bytes=6-7", 6), RangeAsk::Unsatisfiable);
        assert_eq!(ask("bytes=3-2", 6), RangeAsk::Unsatisfiable);
        assert_eq!(range_ask(&HeaderMap::new(), 6), RangeAsk::Whole);
    }

    #[test]
    fn block_lists_keep_order() {
        let xml = "<?xml version='1.0' encoding='utf-8'?>\n<BlockList><Latest>QUFB</Latest><Uncommitted>QkJC</Uncommitted><Committed>Q0ND</Committed></BlockList>";
        assert_eq!(parse_block_list(xml).unwrap(), vec!["QUFB", "QkJC", "Q0ND"]);
        assert!(parse_block_list("<BlockList><Latest>QUFB</BlockList>").is_err());
        assert!(parse_block_list("nonsense").is_err());
    }
}
