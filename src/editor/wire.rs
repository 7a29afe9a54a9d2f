//! The Editor service's session object (spec `SqlEditorSession`; notes: services.md §6; SDK
//! `pkg/keboola/editor_session.go`).
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub status: String,
    pub user_id: String,
    pub branch_id: String,
    pub component_id: String,
    pub configuration_id: String,
    pub workspace_schema: String,
    pub workspace_database: String,
    pub workspace_id: String,
    /// Made synchronously here: no Storage job.
    pub workspace_create_job_id: Option<String>,
    pub workspace_load_jobs: Vec<LoadJob>,
    pub read_only_storage_access: bool,
    pub backend_type: String,
    pub backend_size: Option<String>,
    pub last_error: Option<String>,
    pub shared: bool,
    pub workspace_login_type: String,
    pub last_loaded_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LoadJob {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `POST /sql/sessions/{id}/reset-credentials`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub private_key: String,
    pub public_key: String,
}
