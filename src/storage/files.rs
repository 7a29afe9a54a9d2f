//! Files API (owned by the blob/files work; the signatures below are the contract tables rely on).
use std::path::PathBuf;

use axum::Router;

use super::auth::Auth;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult};

pub fn routes() -> Router<AppState> {
    Router::new()
}

/// What a server-side producer (table export) asks for.
pub struct NewFile {
    pub name: String,
    pub is_sliced: bool,
    pub is_permanent: bool,
    pub is_encrypted: bool,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FileRow {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub is_sliced: bool,
    /// Blob name (non-sliced) or blob-name prefix (sliced: slices are `<prefix><slice>`, manifest `<prefix>manifest`).
    pub blob_path: String,
    pub size_bytes: Option<i64>,
}

pub fn create_file(_state: &AppState, _auth: &Auth, _f: NewFile) -> ApiResult<FileRow> {
    Err(ApiError::new(crate::http::Code::NotImplemented, "files not implemented yet"))
}

pub fn load_file(_state: &AppState, _auth: &Auth, _id: i64) -> ApiResult<FileRow> {
    Err(ApiError::new(crate::http::Code::NotImplemented, "files not implemented yet"))
}

/// Local paths of the file's content, slices in manifest order.
pub fn content_paths(_state: &AppState, _file: &FileRow) -> ApiResult<Vec<PathBuf>> {
    Err(ApiError::new(crate::http::Code::NotImplemented, "files not implemented yet"))
}

/// Record the final size after a server-side producer wrote the blobs.
pub fn set_size(_state: &AppState, _file_id: i64, _size: i64) -> ApiResult<()> {
    Ok(())
}
