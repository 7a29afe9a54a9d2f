//! The token object (`tokens/verify`, `tokens`, `tokens/{id}`): field names, types and order as
//! Keboola sends them (notes: storage-api.md §3.4).
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: String,
    /// The secret: only when it is created, refreshed or verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub description: String,
    pub created: String,
    pub refreshed: String,
    pub uri: String,
    pub is_master_token: bool,
    pub can_manage_buckets: bool,
    pub can_manage_tokens: bool,
    pub can_read_all_file_uploads: bool,
    pub can_purge_trash: bool,
    pub can_manage_protected_default_branch: bool,
    pub can_create_jobs: bool,
    pub expires: Option<String>,
    pub is_expired: bool,
    pub is_disabled: bool,
    #[serde(rename = "isBYODB")]
    pub is_byodb: bool,
    pub daily_capacity: i64,
    /// `{bucketId: level}`, or `[]` when empty (PHP serialises an empty map as a list).
    pub bucket_permissions: BucketPermissions,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_token: Option<CreatorToken>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_access: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<Admin>,
    pub organization: Organization,
    pub owner: Owner,
}

#[derive(Debug)]
pub struct BucketPermissions(pub Map<String, Value>);

impl Serialize for BucketPermissions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() { Vec::<Value>::new().serialize(s) } else { self.0.serialize(s) }
    }
}

#[derive(Debug, Serialize)]
pub struct CreatorToken {
    pub id: i64,
    pub description: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Admin {
    pub id: i64,
    pub name: String,
    pub features: Vec<String>,
    pub is_organization_member: bool,
    pub role: String,
    pub is_activated: bool,
}

#[derive(Debug, Serialize)]
pub struct Organization {
    pub id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub region: String,
    pub created: String,
    pub expires: Option<String>,
    pub features: Vec<String>,
    pub data_size_bytes: u64,
    pub rows_count: u64,
    pub has_mysql: bool,
    pub has_synapse: bool,
    pub has_redshift: bool,
    pub has_snowflake: bool,
    pub has_exasol: bool,
    pub has_teradata: bool,
    pub has_bigquery: bool,
    pub default_backend: String,
    /// PHP sends this flag as a string ("0"/"1").
    pub has_try_mode_on: String,
    pub limits: Map<String, Value>,
    pub metrics: Map<String, Value>,
    pub is_disabled: bool,
    pub billed_monthly_price: Option<f64>,
    pub data_retention_time_in_days: i64,
    pub assigned_backends: Vec<String>,
    pub file_storage_provider: String,
}

/// `{name: {name, value}}`, the shape of `owner.limits` and `owner.metrics`.
pub fn named_values(items: &[(&str, i64)]) -> Map<String, Value> {
    items.iter().map(|(name, value)| (name.to_string(), serde_json::json!({"name": name, "value": value}))).collect()
}
