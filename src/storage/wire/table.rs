//! The table object (`tables`, `tables/{id}`, a bucket's `tables`, a created table): field
//! names, types and order as Keboola sends them (notes: storage-api.md §7).
use serde::Serialize;
use serde_json::Value;

use super::bucket::Bucket;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    pub uri: String,
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub transactional: bool,
    pub primary_key: Vec<String>,
    pub index_type: Option<String>,
    pub index_key: Vec<String>,
    pub distribution_type: Option<String>,
    pub distribution_key: Vec<String>,
    pub synthetic_primary_key_enabled: bool,
    pub created: String,
    pub last_import_date: Option<String>,
    pub last_change_date: Option<String>,
    pub rows_count: u64,
    pub data_size_bytes: u64,
    pub is_alias: bool,
    pub is_aliasable: bool,
    pub is_typed: bool,
    pub table_type: String,
    pub timestamp_type: String,
    pub path: String,
    /// Where the table lives in the backend: `[database, schema, table]`.
    pub backend_path: Vec<String>,
    pub columns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<Value>>,
    /// `{column: [metadata…]}`, or `[]` when no column has any (PHP's empty map).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column_metadata: Option<Value>,
    /// Typed tables only: `{primaryKeysNames, columns: [{name, definition, basetype, …}]}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<Value>,
    /// A table of a linked bucket: the shared table it shows (`{id, uri, name, project}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_table: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<Bucket>,
}
