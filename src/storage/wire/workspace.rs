//! The workspace object (`workspaces`, `workspaces/{id}`, a configuration's workspaces, a
//! `workspaceCreate` job's results): field names and types as Keboola sends them (notes:
//! storage-api.md §14; APIB L6590–6636). `connection.backend` is `snowflake`, what clients
//! accept; the engine behind it is DuckDB.
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    pub id: i64,
    /// The working schema's name.
    pub name: String,
    /// `table` (a SQL workspace; file workspaces are not served).
    #[serde(rename = "type")]
    pub kind: String,
    pub component: Option<String>,
    pub configuration_id: Option<String>,
    /// `+hhmm` offset: the Go SDK parses it strictly with `2006-01-02T15:04:05-0700`.
    pub created: String,
    pub backend_size: Option<String>,
    pub statement_timeout_seconds: i64,
    pub connection: Connection,
    pub creator_token: CreatorToken,
    /// Tokens here are not users.
    pub creator_user: Option<CreatorUser>,
    pub read_only_storage_access: bool,
    pub platform_usage_type: String,
    pub sso_login_available: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub backend: String,
    pub host: String,
    pub region: String,
    pub database: String,
    pub schema: String,
    pub warehouse: String,
    pub user: String,
    pub login_type: String,
    /// Only in the answer to a create or a password reset: it is stored hashed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CreatorToken {
    pub id: i64,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct CreatorUser {
    pub id: i64,
    pub name: String,
}

/// `POST workspaces/{id}/password`.
#[derive(Debug, Serialize)]
pub struct PasswordReset {
    pub password: String,
}
