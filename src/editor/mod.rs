//! The Editor service (`/editor`, host `editor.<suffix>`; notes: services.md §6): SQL editor
//! sessions, each backed by a Storage workspace of its project (made through
//! `storage::workspaces`, so the Query service and Storage see it as any other). The workspace
//! is made synchronously, so a session is `ready` when the create answers. Handlers are in
//! `api`, the session object in `wire`.
pub mod api;
pub mod wire;

use serde_json::{Map, Value};

use crate::app::AppState;
use crate::http::params::scalar_to_string;
use crate::http::{ApiError, ApiResult, Code};
use crate::meta::editor_sessions::EditorSession;
use crate::storage::auth::Auth;
use crate::workspace::{database_name, schema_name};

/// The login type of a session's workspace when the request names none.
const DEFAULT_LOGIN_TYPE: &str = "snowflake-person-sso";

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::validation(message)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::EditorSessionNotFound, format!("Session \"{id}\" not found."))
}

/// A branch as a request names it: its id, or `default`.
pub fn branch_id(state: &AppState, auth: &Auth, raw: &str) -> ApiResult<i64> {
    if raw == "default" {
        return Ok(auth.default_branch_id);
    }
    let id: i64 = raw.trim().parse().map_err(|_| ApiError::new(Code::BranchNotFound, format!("Branch \"{raw}\" not found.")))?;
    if !state.meta.branch_exists(auth.project_id, id)? {
        return Err(ApiError::new(Code::BranchNotFound, format!("Branch \"{raw}\" not found.")));
    }
    Ok(id)
}

/// An optional string field (numbers taken as their text).
fn optional(body: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ (Value::String(_) | Value::Number(_))) => {
            let s = scalar_to_string(v).unwrap_or_default();
            if s.contains('\0') || s.len() > 255 {
                return Err(invalid(format!("The \"{key}\" field is not valid.")));
            }
            Ok(Some(s).filter(|s| !s.trim().is_empty()))
        }
        Some(_) => Err(invalid(format!("The \"{key}\" field must be a string."))),
    }
}

/// `POST /sql/sessions`: make the workspace (under the configuration when one is named) and
/// record the session.
pub fn create(state: &AppState, auth: &Auth, body: &Map<String, Value>) -> ApiResult<EditorSession> {
    let branch = optional(body, "branchId")?.ok_or_else(|| invalid("The \"branchId\" field is required."))?;
    let component = optional(body, "componentId")?;
    let configuration = optional(body, "configurationId")?;
    match optional(body, "loadMode")?.as_deref() {
        // `input` is "not yet implemented" in Keboola's service too: both start clean.
        None | Some("clean") | Some("input") => {}
        Some(other) => return Err(invalid(format!("The \"loadMode\" field must be \"clean\" or \"input\", not \"{other}\"."))),
    }
    let login_type = optional(body, "loginType")?.unwrap_or_else(|| DEFAULT_LOGIN_TYPE.to_string());
    let mut auth = auth.clone();
    auth.branch_id = branch_id(state, &auth, &branch)?;
    let config = match (component.clone(), configuration.clone()) {
        (Some(c), Some(id)) => {
            crate::storage::configurations::require_active(state, &auth, &c, &id)?;
            Some((c, id))
        }
        (None, None) => None,
        _ => return Err(invalid("\"componentId\" and \"configurationId\" go together.")),
    };
    let (workspace, _password) = crate::storage::workspaces::create_for_service(state, &auth, config, &login_type)?;
    let at = now();
    let session = EditorSession {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: auth.project_id,
        branch_id: auth.branch_id,
        token_id: auth.token.id,
        component_id: component.unwrap_or_default(),
        configuration_id: configuration.unwrap_or_default(),
        workspace_id: workspace.id,
        status: "ready".into(),
        login_type,
        shared: false,
        created: at.clone(),
        updated: at,
        last_error: None,
        last_loaded_at: None,
    };
    if let Err(e) = state.meta.insert_editor_session(&session) {
        let _ = crate::storage::workspaces::drop_workspace(state, &workspace);
        return Err(e.into());
    }
    Ok(session)
}

/// A session of the token's project it may use: one it made, or any with bucket management.
pub fn session_for(state: &AppState, auth: &Auth, id: &str) -> ApiResult<EditorSession> {
    if id.is_empty() || id.len() > 64 {
        return Err(not_found(id));
    }
    match state.meta.editor_session(auth.project_id, id)? {
        Some(s) if s.token_id == auth.token.id || auth.can_manage_buckets() => Ok(s),
        _ => Err(not_found(id)),
    }
}

/// Drop the session's workspace, then the session.
pub fn delete(state: &AppState, auth: &Auth, id: &str) -> ApiResult<()> {
    let s = session_for(state, auth, id)?;
    if s.status == "initializing" {
        return Err(invalid("The session is still initializing; delete it when it is ready."));
    }
    if let Some(w) = state.meta.workspace(s.project_id, s.workspace_id)? {
        crate::storage::workspaces::drop_workspace(state, &w)?;
    }
    state.meta.delete_editor_session(s.project_id, &s.id)?;
    Ok(())
}

/// A new key pair for the session's workspace: the public key is set on the workspace, the
/// private key is only in the answer. (An EC P-256 pair: kbstack's TLS stack has no RSA key
/// generation, and nothing here logs in with it.)
pub fn reset_credentials(state: &AppState, auth: &Auth, id: &str) -> ApiResult<wire::Credentials> {
    let mut s = session_for(state, auth, id)?;
    if !["ready", "loading", "unloading"].contains(&s.status.as_str()) {
        return Err(invalid(format!("Credentials can be reset only for a ready session (it is {}).", s.status)));
    }
    let pair = rcgen::KeyPair::generate().map_err(ApiError::internal)?;
    let public_key = pair.public_key_pem();
    if !state.meta.set_workspace_public_key(s.project_id, s.workspace_id, &public_key)? {
        return Err(ApiError::new(Code::WorkspaceNotFound, format!("The workspace of session \"{id}\" no longer exists.")));
    }
    s.updated = now();
    state.meta.update_editor_session(&s)?;
    Ok(wire::Credentials { private_key: pair.serialize_pem(), public_key })
}

pub fn to_wire(state: &AppState, s: &EditorSession) -> ApiResult<wire::Session> {
    let workspace = state.meta.workspace(s.project_id, s.workspace_id)?;
    Ok(wire::Session {
        id: s.id.clone(),
        created_at: s.created.clone(),
        updated_at: s.updated.clone(),
        // A workspace dropped through Storage leaves its session without one.
        status: if workspace.is_some() { s.status.clone() } else { "failed".into() },
        user_id: s.token_id.to_string(),
        branch_id: s.branch_id.to_string(),
        component_id: s.component_id.clone(),
        configuration_id: s.configuration_id.clone(),
        workspace_schema: schema_name(s.workspace_id),
        workspace_database: database_name(s.workspace_id),
        workspace_id: s.workspace_id.to_string(),
        workspace_create_job_id: None,
        workspace_load_jobs: Vec::new(),
        read_only_storage_access: workspace.as_ref().is_some_and(|w| w.read_only_storage_access),
        backend_type: "snowflake".into(),
        backend_size: workspace.as_ref().and_then(|w| w.backend_size.clone()),
        last_error: if workspace.is_some() { s.last_error.clone() } else { Some("The session's workspace no longer exists.".into()) },
        shared: s.shared,
        workspace_login_type: s.login_type.clone(),
        last_loaded_at: s.last_loaded_at.clone(),
    })
}
