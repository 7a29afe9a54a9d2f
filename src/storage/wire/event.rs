//! The event object (`events`, `events/{id}`, and the bucket, table and token event listings):
//! field names, types and order as Keboola sends them.
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The numeric id, as a string.
    pub id: String,
    pub uuid: String,
    pub event: String,
    pub component: String,
    pub message: String,
    pub description: String,
    /// `info`, `success`, `warn` or `error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub run_id: Option<String>,
    pub created: String,
    pub configuration_id: Option<String>,
    pub object_id: Option<String>,
    pub object_name: Option<String>,
    pub object_type: Option<String>,
    pub context: Context,
    pub params: Value,
    pub results: Value,
    pub performance: Value,
    pub token: Token,
    /// Only for events of development branches.
    pub id_branch: Option<i64>,
    pub uri: String,
    pub attachments: Vec<Value>,
}

/// Where an external event came from (null for the server's own events).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    pub remote_addr: Option<String>,
    pub http_referer: Option<String>,
    pub http_user_agent: Option<String>,
    pub api_version: String,
    pub user_agent: Option<String>,
    #[serde(rename = "async")]
    pub is_async: bool,
}

#[derive(Debug, Serialize)]
pub struct Token {
    pub id: Option<i64>,
    pub name: Option<String>,
}
