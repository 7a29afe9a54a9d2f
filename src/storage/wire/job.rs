//! The Storage job object (`jobs`, `jobs/{id}`, the 202 of every async call): field names, types
//! and order as Keboola sends them (notes: storage-api.md §4).
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageJob {
    pub id: i64,
    pub status: String,
    pub url: String,
    pub table_id: Option<String>,
    pub operation_name: String,
    pub operation_params: Value,
    pub created_time: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub run_id: Option<String>,
    pub results: Value,
    pub creator_token: CreatorToken,
    pub metrics: Value,
    /// `{code, message, exceptionId}`: only on a job that ended in `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct CreatorToken {
    pub id: String,
    pub description: String,
}
