//! The Data Science service (`data-science`, old id `sandboxes`; notes: services.md §5): data
//! apps. An app is a `keboola.data-apps` configuration in Storage (what it runs: Streamlit code in
//! `parameters.script` or a git repository in `parameters.dataApp.git`) plus the deployment kept
//! here (`DataAppStore`): state, desired state and the configuration version it runs. Deploying
//! starts the app as a child process with the host's Python (`runtime`), reached through the
//! stack at `<stack>/hub/<id>/` (`proxy`); an idle app is stopped and the next request to it
//! starts it again.
pub mod api;
pub mod proxy;
pub mod runtime;
pub mod sandboxes;
pub mod wire;

use rand::Rng;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, now_iso};
use crate::meta::data_apps::{AppRun, DataApp};
use crate::storage::auth::Auth;
use crate::storage::configurations::{self, NewConfiguration};

pub const COMPONENT: &str = "keboola.data-apps";
/// The app types kbstack can run; others are refused at creation.
pub const TYPES: [&str; 1] = ["streamlit"];
/// Seconds of inactivity before a running app is stopped when its configuration says nothing
/// (Keboola's default, `autoSuspendAfterSeconds: 900`).
pub const DEFAULT_AUTO_SUSPEND_SECS: u64 = 900;

pub mod states {
    pub const CREATED: &str = "created";
    pub const STARTING: &str = "starting";
    pub const RUNNING: &str = "running";
    pub const STOPPING: &str = "stopping";
    pub const STOPPED: &str = "stopped";
}

pub fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::DataAppNotFound, format!("App \"{id}\" not found"))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::DataAppInvalidPayload, message)
}

/// The project's app with this id (404 for another project's or an unknown one).
pub fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<DataApp> {
    let n: i64 = id.parse().map_err(|_| not_found(id))?;
    state.meta.data_app(auth.project_id, n)?.ok_or_else(|| not_found(id))
}

/// The branch an app's configuration lives in (`None` is the default branch).
pub fn branch_of(auth: &Auth, app: &DataApp) -> i64 {
    app.branch_id.unwrap_or(auth.default_branch_id)
}

/// What `POST /apps` was given.
pub struct NewApp {
    pub branch_id: Option<i64>,
    pub name: String,
    pub description: String,
    pub app_type: String,
    pub config: Value,
    pub use_managed_git_repo: bool,
}

fn random_password() -> String {
    rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(24).map(char::from).collect()
}

/// Create the app: its configuration in Storage (`#` values encrypted there) and its deployment
/// record, stopped until deployed. The token it runs with is the creator's, as a Queue job's is.
pub fn create(state: &AppState, auth: &Auth, new: NewApp) -> ApiResult<DataApp> {
    if !TYPES.contains(&new.app_type.as_str()) {
        return Err(invalid(format!(
            "type: \"{}\" is not supported here; kbstack runs these app types: {}.",
            new.app_type,
            TYPES.join(", ")
        )));
    }
    if new.use_managed_git_repo {
        return Err(ApiError::new(
            Code::DataAppBadRequest,
            "Managed git repositories are not available on kbstack; set parameters.dataApp.git to a repository URL or put the code in parameters.script.",
        ));
    }
    if new.name.trim().is_empty() {
        return Err(invalid("name: This value should not be blank."));
    }
    if !new.config.is_object() {
        return Err(invalid("config: This value should be of type object."));
    }
    let branch = new.branch_id.unwrap_or(auth.default_branch_id);
    let mut config = new.config;
    if let Some(b) = new.branch_id {
        if state.meta.branch(auth.project_id.into(), b.into())?.is_none() {
            return Err(invalid(format!("branchId: branch {b} does not exist in the project.")));
        }
    }
    // The app's id first: Keboola writes it into the configuration (`parameters.id`), where
    // clients look it up (keboola-mcp-server finds an app by its configuration).
    let app = DataApp {
        id: 0,
        project_id: auth.project_id,
        branch_id: new.branch_id.filter(|b| *b != auth.default_branch_id),
        component_id: COMPONENT.into(),
        config_id: String::new(),
        config_version: String::new(),
        app_type: new.app_type,
        name: new.name.clone(),
        state: states::CREATED.into(),
        desired_state: states::STOPPED.into(),
        auto_suspended: false,
        sealed_password: state.secrets.seal(&random_password()),
        sealed_token: state.secrets.seal(&auth.secret),
        created: now_iso(),
        last_request: None,
        last_start: None,
    };
    let mut app = state.meta.insert_data_app(&app)?;
    if !config["parameters"].is_object() {
        config["parameters"] = json!({});
    }
    config["parameters"]["id"] = json!(app.id.to_string());
    let made = configurations::create_configuration(
        state,
        auth,
        branch,
        COMPONENT,
        NewConfiguration {
            id: None,
            name: new.name.clone(),
            description: new.description,
            configuration: config,
            state: json!({}),
            is_disabled: false,
            change: "Data app created".into(),
        },
    );
    let body = match made {
        Ok(body) => body,
        Err(e) => {
            state.meta.delete_data_app(auth.project_id, app.id)?;
            return Err(e);
        }
    };
    app.config_id = body["id"].as_str().unwrap_or_default().to_string();
    app.config_version = body["version"].to_string();
    state.meta.update_data_app(&app)?;
    Ok(app)
}

/// What `PATCH /apps/{id}` asks for.
pub struct Change {
    pub desired_state: Option<String>,
    pub config_version: Option<String>,
    pub restart_if_running: bool,
}

/// Deploy (desired state `running`, at a configuration version) or stop the app. Starting runs
/// in the background: the answer shows `starting`, the runs tell how it went.
pub fn change(state: &AppState, auth: &Auth, id: &str, change: Change) -> ApiResult<DataApp> {
    let mut app = load(state, auth, id)?;
    match change.desired_state.as_deref() {
        Some(states::RUNNING) => {
            if let Some(v) = &change.config_version {
                configurations::version_in_branch(state, auth.project_id, branch_of(auth, &app), COMPONENT, &app.config_id, v)
                    .map_err(|_| invalid(format!("configVersion: version \"{v}\" of configuration {} does not exist.", app.config_id)))?;
                app.config_version = v.clone();
            }
            let running = state.data_apps.is_running(app.id);
            app.desired_state = states::RUNNING.into();
            app.auto_suspended = false;
            // The app now runs with the token that deployed it.
            app.sealed_token = state.secrets.seal(&auth.secret);
            if !running || change.restart_if_running {
                app.state = states::STARTING.into();
                state.meta.update_data_app(&app)?;
                runtime::start(state, &app, "prod");
            } else {
                state.meta.update_data_app(&app)?;
            }
        }
        Some(states::STOPPED) => {
            app.desired_state = states::STOPPED.into();
            app.auto_suspended = false;
            state.meta.update_data_app(&app)?;
            runtime::stop_now(state, app.id, "stopped by request");
            app.state = states::STOPPED.into();
            state.meta.update_data_app(&app)?;
        }
        Some(other) => return Err(invalid(format!("desiredState: \"{other}\" is not one of \"running\", \"stopped\"."))),
        None if change.config_version.is_some() => {
            // Keboola: a version is only deployed together with `desiredState: running`.
            return Err(invalid("configVersion can only be set together with desiredState \"running\"."));
        }
        None => {}
    }
    load(state, auth, id)
}

/// Delete a settled app (state equal to desired state, else 400 as Keboola) with its
/// configuration and files.
pub fn delete(state: &AppState, auth: &Auth, id: &str) -> ApiResult<()> {
    let app = load(state, auth, id)?;
    let settled = app.state == app.desired_state || (app.state == states::CREATED && app.desired_state == states::STOPPED);
    if !settled {
        return Err(ApiError::new(
            Code::DataAppBadRequest,
            format!("App \"{id}\" is {} while it should be {}; wait until it is, then delete it.", app.state, app.desired_state),
        ));
    }
    runtime::stop_now(state, app.id, "deleted");
    // A configuration already deleted in Storage leaves nothing to trash.
    match configurations::trash_configuration(state, auth, branch_of(auth, &app), COMPONENT, &app.config_id, "Configuration deleted") {
        Err(e) if e.0.code == Code::ConfigurationNotFound => {}
        other => other?,
    }
    state.meta.delete_data_app(auth.project_id, app.id)?;
    runtime::remove_files(state, app.id);
    Ok(())
}

pub fn password(state: &AppState, app: &DataApp) -> ApiResult<String> {
    state.secrets.open(&app.sealed_password).ok_or_else(|| ApiError::internal("the app password cannot be opened"))
}

pub fn runs(state: &AppState, app: &DataApp, offset: usize, limit: usize) -> ApiResult<Vec<AppRun>> {
    Ok(state.meta.app_runs(app.id, offset, limit)?)
}

/// The git repository the app's deployed configuration names, if any.
pub fn git_repository(state: &AppState, auth: &Auth, app: &DataApp) -> ApiResult<Option<String>> {
    let config = configurations::version_in_branch(state, auth.project_id, branch_of(auth, app), COMPONENT, &app.config_id, &app.config_version)?;
    Ok(config["configuration"]["parameters"]["dataApp"]["git"]["repository"].as_str().map(str::to_string))
}

/// The app's public address: under the Storage host, as `https://<slug>-<id>.hub.<stack>` would be
/// on Keboola (one host name for every app needs no wildcard certificate or DNS).
pub fn url(state: &AppState, app: &DataApp) -> String {
    format!("{}/{}/{}/", state.urls.root(), proxy::MOUNT, app.id)
}
