//! Tables (in progress).
use axum::Router;
use serde_json::Value;

use super::auth::{Auth, Need};
use super::metadata::Scope;
use crate::app::AppState;
use crate::backend::TableLocation;
use crate::http::{ApiError, ApiResult, Code};

pub fn routes() -> Router<AppState> {
    Router::new()
}

pub struct TableRow {
    pub id: String,
    pub project_id: i64,
    pub branch_id: i64,
    pub bucket_id: String,
    pub name: String,
}

impl TableRow {
    pub fn location(&self) -> TableLocation {
        TableLocation { project_id: self.project_id, branch_id: self.branch_id, bucket_id: self.bucket_id.clone(), table: self.name.clone() }
    }
}

pub fn load_table(_state: &AppState, _auth: &Auth, id: &str, _need: Need) -> ApiResult<TableRow> {
    Err(ApiError::new(Code::TableNotFound, format!("The table \"{id}\" was not found")))
}

pub fn column_metadata_json(_state: &AppState, _scope: &Scope, _table_id: &str, _columns: &[String]) -> ApiResult<Value> {
    Ok(Value::Array(vec![]))
}
