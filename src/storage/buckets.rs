//! Buckets (in progress).
use axum::Router;

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};

pub fn routes() -> Router<AppState> {
    Router::new()
}

pub fn all_bucket_ids(_state: &AppState, _project_id: i64) -> ApiResult<Vec<String>> {
    Ok(Vec::new())
}

pub fn load_bucket(_state: &AppState, _project_id: i64, _branch_id: i64, id: &str) -> ApiResult<()> {
    Err(ApiError::new(Code::BucketNotFound, format!("The bucket \"{id}\" was not found")))
}
