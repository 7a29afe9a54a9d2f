//! Wire models of the Data Science API (spec `../workspaces/…data-apps.yml` `ExistingApp`,
//! `AppRun`; ids and versions are strings, as keboola-mcp-server's models require).
use serde::Serialize;

use crate::meta::data_apps::{AppRun, DataApp};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub id: String,
    #[serde(rename = "type")]
    pub app_type: String,
    pub name: String,
    pub project_id: String,
    pub component_id: String,
    pub branch_id: Option<String>,
    pub config_id: String,
    pub config_version: String,
    pub state: String,
    pub desired_state: String,
    pub mode: &'static str,
    pub last_request_timestamp: Option<String>,
    pub last_start_timestamp: Option<String>,
    pub url: String,
    pub auto_suspend_after_seconds: u64,
    pub auto_restart_enabled: bool,
    pub size: String,
    pub provisioning_strategy: &'static str,
    pub has_managed_git_repo: bool,
}

/// What the app's configuration says about how it runs.
pub struct Settings {
    pub auto_suspend_after_seconds: u64,
    pub size: String,
}

impl App {
    pub fn of(app: &DataApp, url: String, settings: Settings, last_request: Option<String>) -> App {
        App {
            id: app.id.to_string(),
            app_type: app.app_type.clone(),
            name: app.name.clone(),
            project_id: app.project_id.to_string(),
            component_id: app.component_id.clone(),
            branch_id: app.branch_id.map(|b| b.to_string()),
            config_id: app.config_id.clone(),
            config_version: app.config_version.clone(),
            state: app.state.clone(),
            desired_state: app.desired_state.clone(),
            mode: "prod",
            last_request_timestamp: last_request.or_else(|| app.last_request.clone()),
            last_start_timestamp: app.last_start.clone(),
            url,
            auto_suspend_after_seconds: settings.auto_suspend_after_seconds,
            // Stopped for inactivity, it starts again on the next request.
            auto_restart_enabled: true,
            size: settings.size,
            provisioning_strategy: "operator",
            has_managed_git_repo: false,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureReason {
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub id: String,
    pub app_id: String,
    pub state: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub startup_logs: Option<String>,
    pub failure_reason: Option<FailureReason>,
    pub mode: String,
}

impl Run {
    pub fn of(run: &AppRun) -> Run {
        Run {
            id: run.id.to_string(),
            app_id: run.app_id.to_string(),
            state: run.state.clone(),
            created_at: run.created_at.clone(),
            started_at: run.started_at.clone(),
            stopped_at: run.stopped_at.clone(),
            startup_logs: run.startup_logs.clone(),
            failure_reason: run.failure.as_ref().map(|(reason, message)| FailureReason { reason: reason.clone(), message: message.clone() }),
            mode: run.mode.clone(),
        }
    }
}
