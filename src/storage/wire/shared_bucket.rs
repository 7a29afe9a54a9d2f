//! A bucket shared with the project (`GET shared-buckets`): field names and order as Keboola
//! sends them (APIB "List Shared Buckets").
use serde::Serialize;
use serde_json::Value;

use super::bucket::ProjectRef;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedBucket {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub stage: String,
    pub description: String,
    pub sharing: String,
    pub created: String,
    pub last_change_date: Option<String>,
    pub data_size_bytes: u64,
    pub rows_count: u64,
    pub backend: String,
    pub project: ProjectRef,
    pub tables: Vec<SharedTable>,
    pub color: Option<String>,
    pub sharing_parameters: Value,
    pub shared_by: SharedBy,
    pub owner: Option<Value>,
    pub updated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<Value>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedTable {
    pub id: String,
    pub name: String,
    pub display_name: String,
}

#[derive(Debug, Serialize)]
pub struct SharedBy {
    pub id: i64,
    pub name: String,
    pub date: String,
}
