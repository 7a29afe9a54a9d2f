//! The table snapshot object (`tables/{id}/snapshots`, `snapshots/{id}`, a snapshot job's
//! results): field names and types as Keboola sends them (notes: storage-api.md §7.6).
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// A numeric string, as Keboola sends it.
    pub id: String,
    pub description: String,
    pub created_time: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub creator_token: CreatorToken,
    /// In the list only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Keboola keeps a snapshot's rows in a file; here they are a table copy, so there is none.
    pub data_file_id: Option<String>,
    /// In the detail only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<SnapshotTable>,
}

#[derive(Debug, Serialize)]
pub struct CreatorToken {
    pub id: i64,
    pub description: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotTable {
    pub id: String,
    pub primary_key: Vec<String>,
    pub columns: Vec<String>,
}
