//! The bucket object (`buckets`, `buckets/{id}`, a table's `bucket`): field names, types and
//! order as Keboola sends them (notes: storage-api.md §6).
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub uri: String,
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub id_branch: i64,
    pub stage: String,
    pub description: String,
    /// The URL of the bucket's tables; the detail lists the tables themselves.
    pub tables: BucketTables,
    pub created: String,
    pub last_change_date: Option<String>,
    pub updated: Option<String>,
    pub is_read_only: bool,
    pub data_size_bytes: u64,
    pub rows_count: u64,
    pub is_maintenance: bool,
    pub backend: String,
    /// `organization`, `organization-project`, `specific-projects`, `specific-users`, or null.
    pub sharing: Option<String>,
    /// The targets of a share to projects or users (`[]` otherwise, as PHP sends an empty map).
    pub sharing_parameters: Value,
    pub bucket_sharing_allowed: bool,
    pub has_external_schema: bool,
    pub database_name: String,
    pub path: String,
    pub is_snowflake_shared_database: bool,
    pub color: Option<String>,
    pub is_linked_bucket: bool,
    /// Where the bucket's data lives in the backend: `[database, schema]`.
    pub backend_path: Vec<String>,
    pub owner: Option<Value>,
    /// The bucket a linked bucket shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_bucket: Option<SourceBucket>,
    pub attributes: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linked_by: Option<Vec<LinkedBy>>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum BucketTables {
    Url(String),
    List(Vec<Value>),
}

/// A project as an object names it: `{id, name}`.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectRef {
    pub id: i64,
    pub name: String,
}

/// A linked bucket's source (`sourceBucket`).
#[derive(Debug, Clone, Serialize)]
pub struct SourceBucket {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project: ProjectRef,
}

/// One bucket linking to a shared bucket (`linkedBy[]`).
#[derive(Debug, Clone, Serialize)]
pub struct LinkedBy {
    pub id: String,
    pub created: String,
    pub project: ProjectRef,
}
