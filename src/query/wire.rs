//! The Query service's JSON shapes, as keboola-query-service 0.3.0 (`models.py`) and the MCP
//! server (`clients/query.py`, `workspace.py`) read them (notes: clients.md §4, services.md §7).
use serde::Serialize;
use serde_json::Value;

/// `POST …/queries` and `POST /queries/{id}/cancel`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobId {
    pub query_job_id: String,
}

/// `GET /queries/{id}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub query_job_id: String,
    pub status: String,
    pub actor_type: String,
    pub statements: Vec<Statement>,
    pub created_at: String,
    pub changed_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canceled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    pub id: String,
    pub query: String,
    pub status: String,
    /// The backend's id of the statement's run (here the statement's id), once it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_affected: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_rows: Option<i64>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

/// One statement of `GET /branches/{b}/workspaces/{w}/queries`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryStatement {
    #[serde(flatten)]
    pub statement: Statement,
    pub query_job_id: String,
    pub warehouse: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_size: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct History {
    pub statements: Vec<HistoryStatement>,
}

/// A result column: Snowflake's result-set type names (`fixed`, `real`, `text`, ...), which
/// is what the service's clients get from a Snowflake workspace.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub nullable: bool,
    pub length: i64,
}

/// `GET /queries/{id}/{statementId}/results`: one page. `message` is always present (the MCP
/// server reads it as `results['message']`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultPage {
    pub status: String,
    pub columns: Vec<Column>,
    /// Rows of values as text, NULL as null.
    pub data: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_affected: Option<i64>,
    pub number_of_rows: i64,
    pub message: Option<String>,
}
