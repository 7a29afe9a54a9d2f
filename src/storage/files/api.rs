//! Files API handlers: prepare (create + upload credentials), detail (+ download credentials with
//! `federationToken`), list, delete, tags. Files are presented as `provider: "azure"` because the
//! Azure connection string is the one upload target every client takes from the server
//! (storage-api notes §9.4); the blob endpoint is kbstack's own (`blob::http`).
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crate::http::routes::{delete, get, post};
use axum::Json;
use crate::http::Routes;
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::search::Filter;
use super::{BlobLayout, FileRecord, MAX_AGE_DAYS, NewFile, UploadAttrs};
use crate::app::AppState;
use crate::storage::wire::file as wire;
use crate::blob::{self, sas};
use crate::http::{ApiError, ApiResult, Params, iso};
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/v2/storage/files/prepare", post(prepare_upload))
        .route("/v2/storage/files", get(list))
        .route("/v2/storage/files/{id}", get(detail).delete(remove))
        .route("/v2/storage/files/{id}/tags", post(add_tag))
        .route("/v2/storage/files/{id}/tags/{tag}", delete(remove_tag))
}

/// The `url` of a file is a presigned GET valid for one hour (APIB, Files group).
const URL_HOURS: i64 = 1;
/// Upload and federation (download) credentials: long enough for multi-gigabyte transfers; the
/// APIB's federation credentials are "valid for 12 hours".
const CREDENTIALS_HOURS: i64 = 12;

pub fn file_json(state: &AppState, f: &FileRecord) -> Value {
    let url_sas = sas::sign(&state.blobs.sas_key, &f.dir(), "r", Utc::now() + Duration::hours(URL_HOURS));
    let file = wire::File {
        id: f.id,
        created: f.created.clone(),
        is_public: f.is_public,
        is_sliced: f.is_sliced,
        is_encrypted: f.is_encrypted,
        is_permanent: f.is_permanent,
        name: f.name.clone(),
        file_type: file_type(&f.name).to_string(),
        url: blob::http::blob_url(&state.urls.blob_endpoint(), &f.download_blob(), &url_sas),
        provider: "azure".into(),
        region: "local".into(),
        size_bytes: f.size_bytes,
        tags: f.tags.clone(),
        max_age_days: (!f.is_permanent).then_some(MAX_AGE_DAYS),
        run_id: f.run_id.clone(),
        run_ids: f.run_ids.clone(),
        creator_token: wire::CreatorToken { id: f.creator_token_id, description: f.creator_description.clone() },
    };
    serde_json::to_value(file).unwrap_or(Value::Null)
}

/// Keboola reports `csv` for CSV data (plain or gzipped, as exports are) and `parquet` for
/// Parquet exports; other files are `file`.
fn file_type(name: &str) -> &'static str {
    let n = name.trim_end_matches(".gz");
    if n.ends_with(".csv") {
        "csv"
    } else if n.ends_with(".parquet") {
        "parquet"
    } else {
        "file"
    }
}

/// `{SASConnectionString, expiration}` for the file's directory with `perms`.
fn credentials(state: &AppState, f: &FileRecord, perms: &str) -> Value {
    let expiry = Utc::now() + Duration::hours(CREDENTIALS_HOURS);
    let token = sas::sign(&state.blobs.sas_key, &f.dir(), perms, expiry);
    json!({
        "SASConnectionString": sas::connection_string(&state.urls.blob_endpoint(), &token),
        "expiration": iso(expiry),
    })
}

fn parse_id(raw: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| super::not_found(raw))
}

async fn prepare_upload(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = p.required_str("name")?;
    let new = NewFile {
        name,
        is_sliced: p.flag("isSliced")?,
        is_permanent: p.flag("isPermanent")?,
        is_encrypted: p.flag("isEncrypted")?,
        tags: p.list("tags"),
    };
    let size_bytes = p.int("sizeBytes")?;
    if size_bytes.is_some_and(|s| s < 0) {
        return Err(ApiError::validation("Invalid request:\n - sizeBytes: This value should be positive or zero."));
    }
    let attrs = UploadAttrs { is_public: p.flag("isPublic")?, size_bytes, content_type: p.str("contentType") };
    let f = super::insert_file(&state, &auth, new, attrs)?;
    let mut body = file_json(&state, &f);
    body["absUploadParams"] = json!({
        "blobName": f.blob_path,
        "accountName": blob::ACCOUNT,
        "container": blob::CONTAINER,
        "absCredentials": credentials(&state, &f, "rcw"),
    });
    Ok((StatusCode::CREATED, Json(body)))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    let f = super::load_file(&state, &auth, parse_id(&id)?)?;
    let mut body = file_json(&state, &f);
    // Download credentials only on request: clients tell providers apart by these keys, and the
    // kbcstorage tests assert `credentials` is absent otherwise.
    if p.flag("federationToken")? {
        body["absPath"] = json!({"container": blob::CONTAINER, "name": f.blob_path});
        body["absCredentials"] = credentials(&state, &f, "r");
    }
    Ok(Json(body))
}

async fn list(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<Json<Vec<Value>>> {
    let filter = Filter::from_params(&p)?;
    let limit = p.int("limit")?.unwrap_or(100).max(0) as usize;
    let offset = p.int("offset")?.unwrap_or(0).max(0) as usize;
    let files = super::search(&state, &auth, &filter, (p.int("sinceId")?, p.int("maxId")?), offset, limit)?;
    Ok(Json(files.iter().map(|f| file_json(&state, f)).collect()))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let f = super::load_file(&state, &auth, parse_id(&id)?)?;
    let st = state.clone();
    tokio::task::spawn_blocking(move || super::delete_file(&st, &f)).await.map_err(ApiError::internal)??;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_tag(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<StatusCode> {
    let f = super::load_file(&state, &auth, parse_id(&id)?)?;
    let tag = p.required_str("tag")?.trim().to_string();
    let mut tags = f.tags;
    if !tag.is_empty() && !tags.contains(&tag) {
        tags.push(tag);
        super::set_tags(&state, f.id, &tags)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_tag(State(state): State<AppState>, auth: Auth, Path((id, tag)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let f = super::load_file(&state, &auth, parse_id(&id)?)?;
    let tags: Vec<String> = f.tags.iter().filter(|t| **t != tag).cloned().collect();
    if tags.len() != f.tags.len() {
        super::set_tags(&state, f.id, &tags)?;
    }
    Ok(StatusCode::NO_CONTENT)
}
