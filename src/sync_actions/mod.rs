//! The Synchronous Actions service, served at `/sync-actions`: a component's declared action
//! (`data.synchronous_actions` of its definition) run through the runner (`runner::action`) with
//! the caller's `configData`, its stdout JSON the response. Handlers are in `api`, the wire
//! shapes in `wire`; this module checks what a request names.
pub mod api;
pub mod wire;

use serde_json::{Map, Value};

use crate::app::AppState;
use crate::http::params::scalar_to_string;
use crate::http::{ApiError, ApiResult, Code};
use crate::runner::action::{self, ActionFailure, ActionRun};
use crate::runner::registry;
use crate::storage::auth::Auth;

/// `POST /actions`, each field in its one accepted shape.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub component_id: String,
    pub action: String,
    pub config_data: Value,
    pub branch_id: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::validation(message)
}

/// A required, non-empty string field (numbers are taken as their text, as PHP would).
fn required(fields: &Map<String, Value>, key: &str) -> ApiResult<String> {
    match fields.get(key) {
        None | Some(Value::Null) => Err(bad(format!("The \"{key}\" field is required."))),
        Some(v @ (Value::String(_) | Value::Number(_))) => {
            scalar_to_string(v).filter(|s| !s.trim().is_empty()).ok_or_else(|| bad(format!("The \"{key}\" field must not be empty.")))
        }
        Some(_) => Err(bad(format!("The \"{key}\" field must be a string."))),
    }
}

impl ActionRequest {
    pub fn parse(fields: &Map<String, Value>) -> ApiResult<ActionRequest> {
        let component_id = required(fields, "componentId")?;
        let action = required(fields, "action")?;
        // PHP clients send an empty configuration as `[]`.
        let config_data = match fields.get("configData") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(Value::Array(a)) if a.is_empty() => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => return Err(bad("The \"configData\" field must be a JSON object (the configuration of the component).")),
        };
        let branch_id = match fields.get("branchId") {
            None | Some(Value::Null) => None,
            Some(v @ (Value::String(_) | Value::Number(_))) => scalar_to_string(v).filter(|s| !s.is_empty()),
            Some(_) => return Err(bad("The \"branchId\" field must be a branch id or \"default\".")),
        };
        Ok(ActionRequest { component_id, action, config_data, branch_id })
    }
}

/// Why a request got no component answer.
#[derive(Debug)]
pub enum SyncActionError {
    /// The request itself is wrong (unknown component, undeclared action, bad field): a 4xx in
    /// the service's envelope.
    Refused(ApiError),
    /// The component ran and failed (or timed out): Keboola's docker-error shape.
    Failed(ActionFailure),
}

impl From<ApiError> for SyncActionError {
    fn from(e: ApiError) -> Self {
        SyncActionError::Refused(e)
    }
}

impl From<kbstack_core::Error> for SyncActionError {
    fn from(e: kbstack_core::Error) -> Self {
        SyncActionError::Refused(e.into())
    }
}

fn component_not_found(id: &str) -> ApiError {
    ApiError::new(Code::ComponentNotFound, format!("Component \"{id}\" not found."))
}

/// The actions `component_id` declares (an unknown component is a 404).
pub fn list_actions(state: &AppState, component_id: &str) -> ApiResult<Vec<String>> {
    let definition = registry::definition(state, component_id).ok_or_else(|| component_not_found(component_id))?;
    Ok(registry::declared_actions(&definition))
}

/// Run the action the request names, for the token's project.
pub async fn run(state: &AppState, auth: &Auth, req: &ActionRequest) -> Result<Value, SyncActionError> {
    let declared = list_actions(state, &req.component_id)?;
    auth.require_component(&req.component_id)?;
    if !declared.iter().any(|a| a == &req.action) {
        let known = if declared.is_empty() { "it declares none".to_string() } else { format!("declared: {}", declared.join(", ")) };
        return Err(bad(format!(
            "Action \"{}\" is not a synchronous action of component \"{}\" ({known}).",
            req.action, req.component_id
        ))
        .into());
    }
    let branch_id = match req.branch_id.as_deref() {
        None | Some("default" | "null") => auth.default_branch_id,
        Some(b) => {
            let not_found = || ApiError::new(Code::BranchNotFound, format!("Branch \"{b}\" not found."));
            let id: i64 = b.parse().map_err(|_| not_found())?;
            if !state.meta.branch_exists(auth.project_id, id)? {
                return Err(not_found().into());
            }
            id
        }
    };
    let Some(component) = registry::find(state, &req.component_id) else {
        return Err(bad(format!(
            "Component \"{}\" cannot run on this stack: only built-in components and registered process components run here \
             (register one with `kbstack component register <file>`).",
            req.component_id
        ))
        .into());
    };
    let run = ActionRun { component: &component, action: &req.action, config_data: &req.config_data, auth, branch_id };
    action::run(state, run).await.map_err(SyncActionError::Failed)
}
