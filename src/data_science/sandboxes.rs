//! Workspaces of the Data Science service (the sandboxes API, notes: services.md §5), backed by
//! Storage workspaces: kbstack has no notebook server, so a sandbox of any type is a SQL workspace
//! (DuckDB, shown as Snowflake) bound to its `keboola.sandboxes` configuration.
//!
//! - The `keboola.sandboxes` component (a Queue job, as the Go SDK and Keboola's UI run it):
//!   `parameters.task = "create"` makes the workspace and writes its id into the configuration's
//!   `parameters.id`; `"delete"` drops the workspace named by `parameters.id`.
//! - `GET /sandboxes`, `GET|DELETE /sandboxes/{id}`, `GET /projects/current`: the records.
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};
use crate::meta::workspaces::Workspace;
use crate::storage::auth::Auth;

pub const COMPONENT: &str = "keboola.sandboxes";

fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::DataAppNotFound, format!("Sandbox \"{id}\" not found"))
}

/// The workspace behind sandbox `id` (one of a `keboola.sandboxes` configuration, in the token's project).
pub fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Workspace> {
    let n: i64 = id.parse().map_err(|_| not_found(id))?;
    let w = state.meta.workspace(auth.project_id, n)?.ok_or_else(|| not_found(id))?;
    if w.component.as_deref() != Some(COMPONENT) || !crate::storage::workspaces::may_see(auth, &w) {
        return Err(not_found(id));
    }
    Ok(w)
}

/// The project's sandboxes in the token's branch, oldest first.
pub fn list(state: &AppState, auth: &Auth) -> ApiResult<Vec<Workspace>> {
    Ok(state.meta.workspaces(auth.project_id, auth.branch_id)?.into_iter().filter(|w| w.component.as_deref() == Some(COMPONENT)).collect())
}

/// The sandbox record (`id, projectId, tokenId, type, active, createdTimestamp, …,
/// workspaceDetails.connection`), built from the workspace and its configuration.
pub fn record(state: &AppState, w: &Workspace, password: Option<String>) -> Value {
    let wire = crate::storage::workspaces::workspace_wire(state, w, password.clone());
    let c = &wire.connection;
    let mut r = json!({
        "id": w.id.to_string(),
        "projectId": w.project_id.to_string(),
        "tokenId": w.creator_token_id.to_string(),
        "componentId": COMPONENT,
        "configurationId": w.configuration_id,
        "branchId": w.branch_id.to_string(),
        "type": w.backend,
        "size": w.backend_size.clone().unwrap_or_else(|| "small".into()),
        "active": true,
        "shared": false,
        "physicalId": c.schema,
        "user": c.user,
        "host": c.host,
        "url": c.host,
        "createdTimestamp": w.created,
        "updatedTimestamp": w.created,
        "workspaceDetails": {"connection": {"database": c.database, "schema": c.schema, "warehouse": c.warehouse}},
    });
    if let Some(p) = password {
        r["password"] = json!(p);
    }
    r
}

/// The `keboola.sandboxes` job: create or delete the configuration's workspace. `Err` is a user error.
pub fn run_task(state: &AppState, auth: &Auth, config_id: Option<&str>, cfg: &Value) -> Result<String, String> {
    let params = &cfg["parameters"];
    match params["task"].as_str().unwrap_or("create") {
        "create" => {
            let config_id = config_id.ok_or("a sandbox is created for a configuration: the job needs one")?;
            let (w, _password) = crate::storage::workspaces::create_for_service(state, auth, Some((COMPONENT.into(), config_id.into())), "default")
                .map_err(|e| e.0.message)?;
            let body = crate::storage::configurations::find_active(state, auth.project_id, auth.branch_id, COMPONENT, config_id)
                .map_err(|e| e.0.message)?
                .ok_or_else(|| format!("configuration {config_id} does not exist"))?;
            let mut configuration = body["configuration"].clone();
            if !configuration.is_object() {
                configuration = json!({});
            }
            if !configuration["parameters"].is_object() {
                configuration["parameters"] = json!({});
            }
            configuration["parameters"]["id"] = json!(w.id.to_string());
            crate::storage::configurations::replace_configuration(
                state,
                auth,
                COMPONENT,
                config_id,
                body["name"].as_str().unwrap_or_default(),
                body["description"].as_str().unwrap_or_default(),
                configuration,
                "Sandbox created",
            )
            .map_err(|e| e.0.message)?;
            Ok(format!("Sandbox {} created (a SQL workspace).", w.id))
        }
        "delete" => {
            let id = params["id"].as_str().map(str::to_string).or_else(|| params["id"].as_i64().map(|n| n.to_string())).ok_or("parameters.id names no sandbox")?;
            let w = load(state, auth, &id).map_err(|e| e.0.message)?;
            crate::storage::workspaces::drop_workspace(state, &w).map_err(|e| e.0.message)?;
            Ok(format!("Sandbox {id} deleted."))
        }
        other => Err(format!("parameters.task \"{other}\" is not one of \"create\", \"delete\"")),
    }
}
