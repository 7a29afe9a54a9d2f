//! Synchronous actions (Common Interface "actions"): the component run once with `config.json`
//! `action` set, on a throw-away data folder with no input or output mapping and no Storage events
//! (a sync action has no Storage access), its stdout JSON the answer. The time limit is
//! `sync_action_timeout_secs` (Keboola's 30 s). The Sync Actions service (`crate::sync_actions`)
//! calls `run`; the exit codes mean what they mean for jobs (1 user error, ≥ 2 application error).
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::process::{self, Exit};
use super::registry::{Component, Kind};
use super::{Logger, config_test};
use crate::app::AppState;
use crate::storage::auth::Auth;

/// One action to run.
pub struct ActionRun<'a> {
    pub component: &'a Component,
    pub action: &'a str,
    /// The configuration as the caller sent it (`#` values may be ciphers).
    pub config_data: &'a Value,
    pub auth: &'a Auth,
    /// The branch the action runs for (its type picks which ciphers open).
    pub branch_id: i64,
}

/// Why an action gave no answer.
#[derive(Debug)]
pub enum ActionFailure {
    /// Exit code 1, a timeout, a cipher that does not open: Keboola's "User error" (400), the
    /// message shown to the caller.
    User(String),
    /// Exit code ≥ 2 or an answer that is not JSON: Keboola's "Application error" (500); the
    /// detail (secrets hidden) is for the server's log only.
    Application(String),
}

/// Keboola shortens a failed container's message to its first and last 2000 characters.
const MESSAGE_LIMIT: usize = 4000;

pub async fn run(state: &AppState, run: ActionRun<'_>) -> Result<Value, ActionFailure> {
    let component = run.component;
    let branch_type = if run.branch_id == run.auth.default_branch_id { "default" } else { "dev" };
    let scope = crate::encryption::Scope {
        component: Some(component.id.clone()),
        project: Some(run.auth.project_id.to_string()),
        config: None,
        branch_type: Some(branch_type.to_string()),
    };
    // Vault variables are in place before the `#` values open, as for a job.
    let vault = super::variables::render_vault(state, run.auth.project_id, run.branch_id, &scope, run.config_data).map_err(ActionFailure::User)?;
    if !vault.missing.is_empty() {
        return Err(ActionFailure::User(super::variables::missing_error(&vault.missing)));
    }
    let mut configuration = vault.configuration;
    crate::oauth::for_job(state, run.auth.project_id, &component.id, &mut configuration).map_err(ActionFailure::User)?;
    let decrypted = crate::encryption::decrypt_for_job(state, &scope, &configuration).map_err(ActionFailure::User)?;
    let logger = Logger::capturing();
    logger.hide(&vault.secrets);
    logger.hide(&decrypted.secrets);
    logger.hide(&crate::oauth::data_secrets(&decrypted.value));

    let run_id = run.auth.run_id.clone().unwrap_or_else(|| (uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000).to_string());
    let dir = state.config.data_dir.join("job-data").join(format!("action-{}", uuid::Uuid::new_v4().simple()));
    let data_dir = dir.join("data");
    let prepared = prepare(&data_dir, component, run.action, decrypted.value);
    let exit = match prepared {
        Ok(()) => {
            let env = environment(state, &run, &run_id, &data_dir);
            execute(state, component, &data_dir, &env, &logger).await
        }
        Err(e) => Exit::Failed(e),
    };
    if !state.config.keep_job_data {
        let _ = std::fs::remove_dir_all(&dir);
    }
    answer(component, exit, &logger)
}

/// The data folder and `config.json`: the configuration with `action` set and the objects a
/// component expects present.
fn prepare(data_dir: &Path, component: &Component, action: &str, configuration: Value) -> Result<(), String> {
    for sub in ["in/tables", "in/files", "in/user", "out/tables", "out/files"] {
        std::fs::create_dir_all(data_dir.join(sub)).map_err(|e| format!("cannot create the data folder: {e}"))?;
    }
    let mut config = match configuration {
        Value::Object(o) => Value::Object(o),
        _ => json!({}),
    };
    for key in ["storage", "parameters", "authorization"] {
        if !config.get(key).is_some_and(Value::is_object) {
            config[key] = json!({});
        }
    }
    config["image_parameters"] = component.data("image_parameters").clone();
    if !config["image_parameters"].is_object() {
        config["image_parameters"] = json!({});
    }
    config["action"] = json!(action);
    std::fs::write(data_dir.join("config.json"), serde_json::to_vec_pretty(&config).unwrap_or_default())
        .map_err(|e| format!("cannot write config.json: {e}"))?;
    std::fs::write(data_dir.join("in/state.json"), b"{}").map_err(|e| format!("cannot write in/state.json: {e}"))
}

/// The Common Interface variables of an action (no configuration id: a hash of nothing stored).
fn environment(state: &AppState, run: &ActionRun, run_id: &str, data_dir: &Path) -> Vec<(String, String)> {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(run.config_data.to_string().as_bytes());
    let mut env = vec![
        ("KBC_DATADIR".to_string(), format!("{}/", data_dir.display())),
        ("KBC_RUNID".into(), run_id.to_string()),
        ("KBC_PROJECTID".into(), run.auth.project_id.to_string()),
        ("KBC_CONFIGID".into(), hex::encode(&digest[..16])),
        ("KBC_CONFIGVERSION".into(), String::new()),
        ("KBC_COMPONENTID".into(), run.component.id.clone()),
        ("KBC_BRANCHID".into(), run.branch_id.to_string()),
        ("KBC_STACKID".into(), state.urls.stack_id()),
        ("KBC_STAGING_FILE_PROVIDER".into(), "azure".into()),
        ("KBC_PROJECT_FEATURE_GATES".into(), "queuev2".into()),
        ("KBC_COMPONENT_RUN_MODE".into(), "run".into()),
    ];
    if run.component.forward_token() {
        env.push(("KBC_TOKEN".into(), run.auth.secret.clone()));
        env.push(("KBC_URL".into(), state.urls.root()));
    }
    env
}

async fn execute(state: &AppState, component: &Component, data_dir: &Path, env: &[(String, String)], logger: &Logger) -> Exit {
    let timeout = state.config.sync_action_timeout_secs;
    match &component.kind {
        Kind::ConfigTest => tokio::select! {
            e = config_test::action(data_dir, env, logger) => e,
            _ = tokio::time::sleep(Duration::from_secs(timeout)) => Exit::TimedOut(timeout),
        },
        Kind::Process(spec) => {
            let never = CancellationToken::new();
            process::run(spec, data_dir, &state.config.data_dir, env, Duration::from_secs(timeout), &never, logger, |_| {}).await
        }
        Kind::DuckDb | Kind::LegacyTransformation | Kind::Python | Kind::Sandboxes | Kind::Provisioning => Exit::Failed(format!("component \"{}\" has no synchronous actions", component.id)),
    }
}

/// Exit code and output as Keboola's runner reads them: the message of a failure is stderr, else
/// stdout; success must print JSON.
fn answer(component: &Component, exit: Exit, logger: &Logger) -> Result<Value, ActionFailure> {
    let out = logger.captured();
    let message = || {
        let text = if out.stderr.trim().is_empty() { out.stdout.trim() } else { out.stderr.trim() };
        let text = if text.is_empty() { "No error message." } else { text };
        shorten(&logger.redact(text))
    };
    match exit {
        Exit::Code(0, _) => serde_json::from_str(out.stdout.trim()).map_err(|e| {
            ActionFailure::Application(format!(
                "the output of action of component \"{}\" is not valid JSON ({e}): {}",
                component.id,
                shorten(&logger.redact(out.stdout.trim()))
            ))
        }),
        Exit::Code(1, _) => Err(ActionFailure::User(message())),
        Exit::Code(code, _) if component.no_application_errors() => {
            Err(ActionFailure::User(format!("{} failed: ({code}) {}", component.id, message())))
        }
        Exit::Code(code, _) => Err(ActionFailure::Application(format!("{} failed: ({code}) {}", component.id, message()))),
        Exit::TimedOut(secs) => Err(ActionFailure::User(format!("Running {} container exceeded the timeout of {secs} seconds.", component.id))),
        Exit::Cancelled => Err(ActionFailure::User("The action was cancelled.".into())),
        Exit::Failed(e) => Err(ActionFailure::Application(format!("the action of component \"{}\" could not run: {e}", component.id))),
    }
}

fn shorten(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= MESSAGE_LIMIT {
        return text.to_string();
    }
    let head: String = chars[..MESSAGE_LIMIT / 2].iter().collect();
    let tail: String = chars[chars.len() - MESSAGE_LIMIT / 2..].iter().collect();
    format!("{head} ... {tail}")
}
