//! The job runner (Common Interface): for each job (and each configuration row of it) a fresh data
//! folder, input mapping, `config.json`, `in/state.json`, the component (builtin or process),
//! output mapping, the new state on the configuration, and `result`.
pub mod action;
pub mod config_test;
pub mod debug;
pub mod files;
pub mod flow;
pub mod input;
pub mod legacy_transformation;
pub mod output;
pub mod process;
pub mod registry;
pub(crate) mod sandbox;
pub mod transformation;
pub mod variables;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::queue::configs::{self, StoredConfig, truthy};
use crate::queue::store::Job;
use crate::queue::worker::Outcome;
use crate::storage::auth::Auth;
use crate::storage::events;
use registry::{Component, Kind};
use process::Exit;

/// Default process timeout (Keboola's default component limit: 6 hours).
const DEFAULT_TIMEOUT_SECS: u64 = 6 * 3600;

/// Writes a job's log lines as Storage events of its run (`runId` = the job id), with the job's
/// secrets hidden.
#[derive(Clone)]
pub struct Logger {
    sink: Sink,
    /// The decrypted `#` values of the job (and their base64 and JSON forms), shown as `[hidden]`.
    hidden: std::sync::Arc<parking_lot::RwLock<Vec<String>>>,
}

/// Where a run's output goes.
#[derive(Clone)]
enum Sink {
    /// Storage events of the job's run.
    Events { state: AppState, auth: Auth, component: String },
    /// Kept for the caller: a synchronous action has no Storage access and answers with its
    /// stdout.
    Capture(std::sync::Arc<parking_lot::Mutex<Captured>>),
}

/// A captured run's output streams (log lines of a built-in component go to `stderr`).
#[derive(Debug, Default, Clone)]
pub struct Captured {
    pub stdout: String,
    pub stderr: String,
}

/// Which stream of a component a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Captured output beyond this is dropped (a runaway action must not exhaust memory).
const CAPTURE_LIMIT: usize = 16 * 1024 * 1024;

impl Logger {
    pub fn new(state: &AppState, auth: &Auth, job: &Job) -> Logger {
        let mut auth = auth.clone();
        auth.run_id = Some(job.id.to_string());
        Logger { sink: Sink::Events { state: state.clone(), auth, component: job.component.clone() }, hidden: Default::default() }
    }

    /// A logger that records nothing in Storage and keeps the output (`captured`).
    pub fn capturing() -> Logger {
        Logger { sink: Sink::Capture(Default::default()), hidden: Default::default() }
    }

    /// What a capturing logger kept (empty for one writing events).
    pub fn captured(&self) -> Captured {
        match &self.sink {
            Sink::Capture(c) => c.lock().clone(),
            Sink::Events { .. } => Captured::default(),
        }
    }

    /// A line the component wrote: an event (stdout info, stderr error), or kept as is.
    pub fn output(&self, stream: Stream, line: &str) {
        match &self.sink {
            Sink::Capture(c) => c.lock().push(stream, line),
            Sink::Events { .. } => self.log(if stream == Stream::Stdout { "info" } else { "error" }, line),
        }
    }

    /// Hide these values (and their reversible encodings) in every later line, as Keboola's
    /// runner filters a component's output.
    pub fn hide(&self, secrets: &[String]) {
        use base64::Engine;
        let mut hidden = self.hidden.write();
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            for form in [s.clone(), base64::engine::general_purpose::STANDARD.encode(s), serde_json::to_string(s).unwrap_or_default()] {
                if !hidden.contains(&form) {
                    hidden.push(form);
                }
            }
        }
    }

    /// `text` with the hidden values replaced by `[hidden]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.hidden.read().iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[hidden]");
            }
        }
        out
    }

    /// `kind`: info, warn, error, success.
    pub fn log(&self, kind: &str, message: &str) {
        let kind = match kind {
            "warning" => "warn",
            "info" | "warn" | "error" | "success" => kind,
            _ => "info",
        };
        let mut message = self.redact(message);
        if message.len() > 64 * 1024 {
            let mut cut = 64 * 1024;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        crate::http::error::redact_paths(&mut message);
        let (state, auth, component) = match &self.sink {
            Sink::Events { state, auth, component } => (state, auth, component),
            Sink::Capture(c) => return c.lock().push(Stream::Stderr, &message),
        };
        let res = events::record(state, auth, events::NewEvent {
            event: format!("ext.{component}."),
            component: component.clone(),
            message,
            kind: kind.into(),
            object_type: None,
            object_id: None,
            params: json!({}),
            results: json!({}),
        });
        if let Err(e) = res {
            tracing::warn!("cannot record a job log event: {}", e.message);
        }
    }
}

impl Captured {
    fn push(&mut self, stream: Stream, line: &str) {
        let buf = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        if buf.len() + line.len() < CAPTURE_LIMIT {
            buf.push_str(line);
            buf.push('\n');
        }
    }
}

/// The job's token as an `Auth` on the job's branch and run.
fn job_auth(state: &AppState, job: &Job) -> Result<Auth, String> {
    let token = state
        .meta
        .token(job.token_id)
        .ok()
        .flatten()
        .ok_or_else(|| format!("The token \"{}\" that created the job no longer exists.", job.token_id))?;
    let default_branch_id: i64 = state
        .meta
        .default_branch(job.project_id)
        .map_err(|e| e.message)?
        .ok_or_else(|| format!("project {} has no default branch", job.project_id))?;
    Ok(Auth {
        project_id: job.project_id,
        token,
        secret: job.token_secret.as_deref().and_then(|s| state.secrets.open(s)).unwrap_or_default(),
        branch_id: job.branch_id,
        default_branch_id,
        run_id: Some(job.run_id.clone()),
    })
}

/// Rows a job runs: the ones asked for (even disabled), else every enabled row.
pub fn rows_to_run(cfg: &StoredConfig, ids: &[String]) -> Vec<Value> {
    let rows = cfg.rows();
    if ids.is_empty() {
        rows.into_iter().filter(|r| !truthy(&r["isDisabled"])).collect()
    } else {
        ids.iter().filter_map(|id| cfg.row(id)).collect()
    }
}

/// Legacy transformations: the rows to run in phase and dependency order, each turned into the
/// configuration the DuckDB transformation runs (`legacy_transformation`).
fn legacy_rows(cfg: &StoredConfig, rows: Vec<Value>, asked: &[String]) -> Result<Vec<Value>, String> {
    let known: Vec<String> = cfg.rows().iter().filter_map(|r| r["id"].as_str().map(str::to_string)).collect();
    let base = cfg.configuration();
    let rows: Vec<(Value, Value)> = rows
        .into_iter()
        .map(|r| (merge(&base, &r["configuration"]), r))
        .filter(|(c, r)| !asked.is_empty() && asked.iter().any(|a| r["id"].as_str() == Some(a.as_str())) || !legacy_transformation::is_disabled(c))
        .collect();
    let described: Vec<legacy_transformation::Row> = rows
        .iter()
        .map(|(c, r)| {
            let mut d = legacy_transformation::Row::of(r["id"].as_str().unwrap_or(""), c);
            if c["name"].as_str().is_none_or(str::is_empty) {
                d.name = r["name"].as_str().filter(|n| !n.is_empty()).map(str::to_string).unwrap_or(d.name);
            }
            d
        })
        .collect();
    let order = legacy_transformation::order(&described, &known)?;
    order
        .into_iter()
        .map(|i| {
            let (c, r) = &rows[i];
            let mut row = r.clone();
            row["configuration"] = legacy_transformation::to_runner_configuration(&described[i], c)?;
            Ok(row)
        })
        .collect()
}

/// Row configuration over the configuration's: objects merge recursively, the row wins.
pub fn merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = a.clone();
            for (k, v) in b {
                let merged = match out.get(k) {
                    Some(existing) => merge(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, Value::Null) => base.clone(),
        (_, v) => v.clone(),
    }
}

pub async fn run(state: &AppState, job: &Job, cancel: CancellationToken) -> Outcome {
    let auth = match job_auth(state, job) {
        Ok(a) => a,
        Err(e) => return Outcome::user_error(e, json!({})),
    };
    let logger = Logger::new(state, &auth, job);
    match job.kind.as_str() {
        "standard" => standard(state, job, &auth, &cancel, &logger).await,
        "container" => flow::rows(state, job, &auth, &cancel, &logger).await,
        "orchestrationContainer" => flow::orchestration(state, job, &auth, &cancel, &logger).await,
        "phaseContainer" => flow::phase(state, job, &auth, &cancel, &logger).await,
        other => Outcome::app_error(format!("Jobs of type \"{other}\" are not supported by this stack yet."), json!({})),
    }
}

fn empty_result() -> Value {
    json!({
        "message": "",
        "configVersion": null,
        "images": [],
        "input": {"tables": []},
        "output": {"tables": []},
        "artifacts": {"uploaded": [], "downloaded": []},
        "variables": [],
    })
}

/// What one run of a component works with.
pub struct Definition<'a> {
    pub component: &'a Component,
    pub configuration: Value,
    pub config_id: Option<String>,
    pub row_id: Option<String>,
    pub config_version: Option<String>,
    /// The stored state (`{component, storage}`), None for inline configurations.
    pub state: Option<Value>,
}

async fn standard(state: &AppState, job: &Job, auth: &Auth, cancel: &CancellationToken, logger: &Logger) -> Outcome {
    let mut result = empty_result();
    let Some(component) = registry::find(state, &job.component) else {
        return Outcome::user_error(
            format!(
                "Component \"{}\" cannot run on this stack: only built-in components and registered process components run here \
                 (register one with `kbstack component register <file>`).",
                job.component
            ),
            result,
        );
    };
    let mut definitions = Vec::new();
    if let Some(cd) = job.config_data() {
        let version = match &job.config {
            Some(cid) => configs::load(state, job.project_id, job.branch_id, &job.component, cid).ok().flatten().and_then(|c| c.version()),
            None => None,
        };
        result["configVersion"] = json!(version);
        definitions.push(Definition {
            component: &component,
            configuration: cd.clone(),
            config_id: job.config.clone(),
            row_id: None,
            config_version: version,
            state: None,
        });
    } else {
        let Some(cid) = &job.config else { return Outcome::user_error("The job has neither config nor configData.", result) };
        let cfg = match configs::load(state, job.project_id, job.branch_id, &job.component, cid) {
            Ok(Some(c)) => c,
            Ok(None) => return Outcome::user_error(format!("Configuration \"{cid}\" of component \"{}\" not found.", job.component), result),
            Err(e) => return Outcome::app_error(e.into_inner().message, result),
        };
        result["configVersion"] = json!(cfg.version());
        let base = cfg.configuration();
        let mut rows = rows_to_run(&cfg, &job.config_row_ids);
        if matches!(component.kind, Kind::LegacyTransformation) {
            match legacy_rows(&cfg, rows, &job.config_row_ids) {
                Ok(r) if r.is_empty() => {
                    result["message"] = json!("No transformation to run.");
                    logger.log("warn", "The bucket has no enabled transformation to run.");
                    return Outcome::success(result);
                }
                Ok(r) => rows = r,
                Err(e) => {
                    logger.log("error", &e);
                    return Outcome::user_error(e, result);
                }
            }
        }
        if rows.is_empty() {
            definitions.push(Definition {
                component: &component,
                configuration: base.clone(),
                config_id: Some(cid.clone()),
                row_id: None,
                config_version: cfg.version(),
                state: Some(cfg.state()),
            });
        }
        for row in rows {
            definitions.push(Definition {
                component: &component,
                configuration: merge(&base, &row["configuration"]),
                config_id: Some(cid.clone()),
                row_id: row["id"].as_str().map(str::to_string),
                config_version: cfg.version(),
                state: Some(row["state"].clone()),
            });
        }
    }
    for def in definitions.iter_mut() {
        let scope = job_scope(job, auth, def.config_id.as_deref());
        match variables::render(state, job, &def.configuration, &scope) {
            Ok(rendered) => {
                logger.hide(&rendered.secrets);
                if !rendered.replaced.is_empty() {
                    logger.log("info", &format!("Replaced values for variables: {}", rendered.replaced.join(", ")));
                }
                def.configuration = rendered.configuration;
                if !rendered.used.is_empty() {
                    result["variables"] = json!(rendered.used);
                }
            }
            Err(e) => return Outcome::user_error(e, result),
        }
        // OAuth credentials go in as the broker keeps them (ciphers of the job's project and
        // component), so the decryption below opens them with the configuration's own secrets.
        if let Err(e) = crate::oauth::for_job(state, job.project_id, &job.component, &mut def.configuration) {
            return Outcome::user_error(e, result);
        }
        match crate::encryption::decrypt_for_job(state, &scope, &def.configuration) {
            Ok(decrypted) => {
                logger.hide(&decrypted.secrets);
                def.configuration = decrypted.value;
                logger.hide(&crate::oauth::data_secrets(&def.configuration));
            }
            Err(e) => return Outcome::user_error(e, result),
        }
    }
    let mut usage: Vec<Value> = Vec::new();
    let mut bytes = (0u64, 0u64);
    for def in &definitions {
        match run_definition(state, job, auth, def, cancel, logger).await {
            Ok(r) => {
                if let Some(u) = r["_usage"].as_array() {
                    usage.extend(u.iter().cloned());
                }
                bytes.0 += r["_bytes"][0].as_u64().unwrap_or(0);
                bytes.1 += r["_bytes"][1].as_u64().unwrap_or(0);
                for key in ["input", "output"] {
                    for kind in ["tables", "files"] {
                        if let Some(new) = r[key][kind].as_array() {
                            if !result[key][kind].is_array() {
                                result[key][kind] = json!([]);
                            }
                            if let Some(all) = result[key][kind].as_array_mut() {
                                all.extend(new.iter().cloned());
                            }
                        }
                    }
                }
            }
            Err(mut outcome) => {
                for key in ["configVersion", "input", "output"] {
                    if outcome.result.get(key).is_none() {
                        outcome.result[key] = result[key].clone();
                    }
                }
                return outcome;
            }
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    result["message"] = json!("Component processing finished.");
    logger.log("success", "Component processing finished.");
    let mut outcome = Outcome::success(result);
    if !usage.is_empty() {
        outcome.usage = Value::Array(usage);
    }
    let backend = job.def("backend");
    outcome.metrics = json!({
        "storage": {"inputTablesBytesSum": bytes.0, "outputTablesBytesSum": bytes.1},
        "backend": {"size": backend["type"].as_str().unwrap_or("small"), "containerSize": "small", "context": backend["context"]},
    });
    outcome
}

/// What the job's ciphers must have been made for: its component, project, configuration (if
/// any) and branch type.
fn job_scope(job: &Job, auth: &Auth, config_id: Option<&str>) -> crate::encryption::Scope {
    crate::encryption::Scope {
        component: Some(job.component.clone()),
        project: Some(job.project_id.to_string()),
        config: config_id.map(str::to_string),
        branch_type: Some(if auth.branch_id == auth.default_branch_id { "default" } else { "dev" }.to_string()),
    }
}

/// Bytes of the files under `dir` (manifests excluded).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_size(&p)
            } else if p.extension().is_some_and(|x| x == "manifest") {
                0
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

fn job_dir(state: &AppState, job: &Job, row: Option<&str>) -> PathBuf {
    let name = match row {
        Some(r) => format!("{}-{}", job.id, r.replace(['/', '\\', '.'], "_")),
        None => job.id.to_string(),
    };
    state.config.data_dir.join("job-data").join(name)
}

/// The Common Interface environment of a run.
fn environment(state: &AppState, job: &Job, auth: &Auth, def: &Definition, data_dir: &Path) -> Vec<(String, String)> {
    let config_id = def.config_id.clone().unwrap_or_else(|| {
        let digest = <sha2::Sha256 as sha2::Digest>::digest(def.configuration.to_string().as_bytes());
        hex::encode(&digest[..16])
    });
    let mut env = vec![
        ("KBC_DATADIR".to_string(), format!("{}/", data_dir.display())),
        ("KBC_RUNID".into(), job.run_id.clone()),
        ("KBC_JOBID".into(), job.id.to_string()),
        ("KBC_PROJECTID".into(), job.project_id.to_string()),
        ("KBC_CONFIGID".into(), config_id),
        ("KBC_CONFIGVERSION".into(), def.config_version.clone().unwrap_or_default()),
        ("KBC_COMPONENTID".into(), job.component.clone()),
        ("KBC_BRANCHID".into(), job.branch_id.to_string()),
        ("KBC_STACKID".into(), state.urls.stack_id()),
        ("KBC_STAGING_FILE_PROVIDER".into(), "azure".into()),
        ("KBC_PROJECT_FEATURE_GATES".into(), "queuev2".into()),
        ("KBC_COMPONENT_RUN_MODE".into(), if job.mode == "debug" { "debug" } else { "run" }.into()),
        ("KBSTACK_QUEUE_JOB_ID".into(), job.id.to_string()),
    ];
    if let Some(row) = &def.row_id {
        env.push(("KBC_CONFIGROWID".into(), row.clone()));
    }
    if def.component.forward_token() {
        env.push(("KBC_TOKEN".into(), auth.secret.clone()));
        env.push(("KBC_URL".into(), state.urls.root()));
    }
    if def.component.forward_token_details() {
        env.push(("KBC_PROJECTNAME".into(), job.def("projectName").as_str().unwrap_or("kbstack").to_string()));
        env.push(("KBC_TOKENID".into(), job.token_id.to_string()));
        env.push(("KBC_TOKENDESC".into(), job.token_description.clone()));
        env.push(("KBC_REALUSER".into(), job.token_description.clone()));
    }
    env
}

/// The component part of a stored state (`state.component`; a bare object is taken as is).
fn component_state(stored: &Value) -> Value {
    match stored {
        Value::Object(o) if o.contains_key("component") || o.contains_key("storage") => {
            o.get("component").cloned().filter(|c| c.is_object()).unwrap_or(json!({}))
        }
        Value::Object(o) => Value::Object(o.clone()),
        _ => json!({}),
    }
}

/// Debug mode: store a snapshot of the data folder (`debug::upload_stage`) off the async workers.
async fn upload_stage(state: &AppState, auth: &Auth, job: &Job, def: &Definition<'_>, data_dir: &Path, stage: &'static str, logger: &Logger) -> Result<(), Outcome> {
    let (st, a, j, row, d, l) = (state.clone(), auth.clone(), job.clone(), def.row_id.clone(), data_dir.to_path_buf(), logger.clone());
    tokio::task::spawn_blocking(move || debug::upload_stage(&st, &a, &j, row.as_deref(), &d, stage, &l))
        .await
        .unwrap_or_else(|e| Err(format!("Archiving the data folder crashed: {e}")))
        .map(|_| ())
        .map_err(|e| Outcome::app_error(e, json!({})))
}

fn write_json(path: &Path, v: &Value) -> Result<(), Outcome> {
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap_or_default())
        .map_err(|e| Outcome::app_error(format!("Cannot write {}: {e}", path.display()), json!({})))
}

/// One component run on its own data folder; `Err` carries the failed outcome.
async fn run_definition(
    state: &AppState,
    job: &Job,
    auth: &Auth,
    def: &Definition<'_>,
    cancel: &CancellationToken,
    logger: &Logger,
) -> Result<Value, Outcome> {
    let dir = job_dir(state, job, def.row_id.as_deref());
    let _ = std::fs::remove_dir_all(&dir);
    let data_dir = dir.join("data");
    for sub in ["in/tables", "in/files", "in/user", "out/tables", "out/files"] {
        std::fs::create_dir_all(data_dir.join(sub)).map_err(|e| Outcome::app_error(format!("Cannot create the data folder: {e}"), json!({})))?;
    }
    let keep = state.config.keep_job_data;
    let out = run_in_dir(state, job, auth, def, &data_dir, cancel, logger).await;
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    out
}

async fn run_in_dir(
    state: &AppState,
    job: &Job,
    auth: &Auth,
    def: &Definition<'_>,
    data_dir: &Path,
    cancel: &CancellationToken,
    logger: &Logger,
) -> Result<Value, Outcome> {
    let mut result = json!({"input": {"tables": []}, "output": {"tables": []}});
    let cfg = &def.configuration;
    let what = match &def.row_id {
        Some(r) => format!("component \"{}\" (configuration row {r})", job.component),
        None => format!("component \"{}\"", job.component),
    };
    logger.log("info", &format!("Running {what}."));

    // Input mapping.
    let stored_storage_state = def.state.as_ref().map(|s| s["storage"].clone()).unwrap_or(Value::Null);
    let input = {
        let st = state.clone();
        let a = auth.clone();
        let c = cfg.clone();
        let d = data_dir.to_path_buf();
        let s = stored_storage_state.clone();
        let l = logger.clone();
        tokio::task::spawn_blocking(move || input::tables(&st, &a, &c, &s, &d, &l))
            .await
            .unwrap_or_else(|e| Err(Outcome::app_error(format!("Input mapping crashed: {e}"), json!({}))))?
    };
    result["input"]["tables"] = json!(input.tables);
    let in_files = {
        let st = state.clone();
        let a = auth.clone();
        let c = cfg.clone();
        let d = data_dir.to_path_buf();
        let l = logger.clone();
        tokio::task::spawn_blocking(move || files::input(&st, &a, &c, &d, &l))
            .await
            .unwrap_or_else(|e| Err(Outcome::app_error(format!("Input mapping of files crashed: {e}"), json!({}))))?
    };
    if !in_files.is_empty() {
        result["input"]["files"] = json!(in_files);
    }

    // State and config.json. The state's `#` values were stored encrypted (below).
    let in_state = component_state(def.state.as_ref().unwrap_or(&Value::Null));
    let in_state = match crate::encryption::decrypt_for_job(state, &job_scope(job, auth, def.config_id.as_deref()), &in_state) {
        Ok(d) => {
            logger.hide(&d.secrets);
            d.value
        }
        Err(e) => return Err(Outcome::user_error(format!("The stored state cannot be used: {e}"), json!({}))),
    };
    write_json(&data_dir.join("in/state.json"), &in_state)?;
    let mut config = match cfg {
        Value::Object(o) => Value::Object(o.clone()),
        _ => json!({}),
    };
    for key in ["storage", "parameters", "authorization"] {
        if !config.get(key).is_some_and(Value::is_object) {
            config[key] = json!({});
        }
    }
    config["image_parameters"] = def.component.data("image_parameters").clone();
    if !config["image_parameters"].is_object() {
        config["image_parameters"] = json!({});
    }
    config["action"] = json!("run");
    write_json(&data_dir.join("config.json"), &config)?;
    let debug = job.mode == "debug";
    if debug {
        upload_stage(state, auth, job, def, data_dir, "stage_0", logger).await?;
    }

    // The component.
    let env = environment(state, job, auth, def, data_dir);
    let timeout = cfg["runtime"]["process_timeout"]
        .as_u64()
        .or_else(|| def.component.process_timeout())
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    let exit = match &def.component.kind {
        Kind::ConfigTest => {
            tokio::select! {
                e = config_test::run(data_dir, &env, cancel, logger) => e,
                _ = tokio::time::sleep(Duration::from_secs(timeout)) => Exit::TimedOut(timeout),
            }
        }
        Kind::DuckDb | Kind::LegacyTransformation => {
            let d = data_dir.to_path_buf();
            let c = cancel.clone();
            let l = logger.clone();
            let st = state.clone();
            let snowflake = def.component.id == registry::SNOWFLAKE_TRANSFORMATION
                || (matches!(def.component.kind, Kind::LegacyTransformation) && legacy_transformation::is_snowflake(cfg));
            tokio::task::spawn_blocking(move || transformation::run(&d, &c, &l, snowflake.then_some(&st.snowflake_sql)))
                .await
                .unwrap_or_else(|e| Exit::Failed(format!("the transformation crashed: {e}")))
        }
        Kind::Python => {
            let script: Vec<String> = cfg["parameters"]["blocks"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|b| b["codes"].as_array().cloned().unwrap_or_default())
                .flat_map(|c| match &c["script"] {
                    Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect::<Vec<_>>(),
                    Value::String(s) => vec![s.clone()],
                    _ => Vec::new(),
                })
                .collect();
            let path = data_dir.parent().unwrap_or(data_dir).join("script.py");
            if let Err(e) = std::fs::write(&path, script.join("\n\n")) {
                return Err(Outcome::app_error(format!("Cannot write the script: {e}"), json!({})));
            }
            let python = state.config.transformation_python.clone();
            let spec = registry::ProcessSpec { command: vec![python, path.display().to_string()], working_dir: None, env: Vec::new() };
            let st = state.clone();
            let id = job.id;
            process::run(&spec, data_dir, &state.config.data_dir, &env, Duration::from_secs(timeout), cancel, logger, move |pid| {
                let _ = st.meta.set_queue_job_runner_pid(id.into(), pid as i64);
            })
            .await
        }
        Kind::Sandboxes => {
            let (st, a, config_id, c, l) = (state.clone(), auth.clone(), def.config_id.clone(), cfg.clone(), logger.clone());
            tokio::task::spawn_blocking(move || match crate::data_science::sandboxes::run_task(&st, &a, config_id.as_deref(), &c) {
                Ok(message) => {
                    l.output(Stream::Stdout, &message);
                    Exit::Code(0, Vec::new())
                }
                Err(message) => Exit::Code(1, vec![message]),
            })
            .await
            .unwrap_or_else(|e| Exit::Failed(format!("the sandbox task crashed: {e}")))
        }
        Kind::Provisioning => {
            let (st, a, c, l) = (state.clone(), auth.clone(), cfg.clone(), logger.clone());
            tokio::task::spawn_blocking(move || match crate::syrup::provisioning::run_task(&st, &a, &c) {
                Ok(message) => {
                    l.output(Stream::Stdout, &message);
                    Exit::Code(0, Vec::new())
                }
                Err(message) => Exit::Code(1, vec![message]),
            })
            .await
            .unwrap_or_else(|e| Exit::Failed(format!("the provisioning task crashed: {e}")))
        }
        Kind::Process(spec) => {
            let st = state.clone();
            let id = job.id;
            process::run(spec, data_dir, &state.config.data_dir, &env, Duration::from_secs(timeout), cancel, logger, move |pid| {
                let _ = st.meta.set_queue_job_runner_pid(id.into(), pid as i64);
            })
            .await
        }
    };
    let tail = |lines: &[String]| logger.redact(&lines.iter().rev().take(5).rev().cloned().collect::<Vec<_>>().join("\n"));
    let failure = match exit {
        Exit::Code(0, _) => None,
        Exit::Code(1, lines) => Some(Outcome::user_error(
            if lines.is_empty() { "The component failed with a user error (exit code 1).".to_string() } else { tail(&lines) },
            json!({}),
        )),
        Exit::Code(code, lines) => {
            let msg = format!(
                "Application error: the component exited with code {code}{}",
                if lines.is_empty() { ".".to_string() } else { format!(": {}", tail(&lines)) }
            );
            Some(if def.component.no_application_errors() { Outcome::user_error(msg, json!({})) } else { Outcome::app_error(msg, json!({})) })
        }
        Exit::Cancelled => Some(Outcome::user_error("Job was terminated by a user.", json!({}))),
        Exit::TimedOut(secs) => {
            logger.log("error", &format!("Process timeout: the component ran longer than {secs} seconds and was killed."));
            Some(Outcome::user_error(format!("Process timeout: the component ran longer than {secs} seconds and was killed."), json!({})))
        }
        Exit::Failed(msg) => Some(Outcome::app_error(format!("The component could not run: {msg}"), json!({}))),
    };
    if let Some(mut f) = failure {
        // write_always tables are stored even when the component failed.
        if !debug && !cancel.is_cancelled() {
            let st = state.clone();
            let a = auth.clone();
            let c = def.component.clone();
            let cf = cfg.clone();
            let d = data_dir.to_path_buf();
            let cid = def.config_id.clone();
            let l = logger.clone();
            if let Ok(Ok(tables)) = tokio::task::spawn_blocking(move || output::tables(&st, &a, &c, cid.as_deref(), &cf, &d, &l, true)).await {
                f.result["output"] = json!({"tables": tables});
            }
        }
        f.result["input"] = result["input"].clone();
        return Err(f);
    }

    if debug {
        upload_stage(state, auth, job, def, data_dir, "stage_output", logger).await?;
        logger.log("info", "Debug mode: the output mapping and the state were not stored.");
        return Ok(result);
    }
    let tables = {
        let st = state.clone();
        let a = auth.clone();
        let c = def.component.clone();
        let cf = cfg.clone();
        let d = data_dir.to_path_buf();
        let cid = def.config_id.clone();
        let l = logger.clone();
        tokio::task::spawn_blocking(move || output::tables(&st, &a, &c, cid.as_deref(), &cf, &d, &l, false))
            .await
            .unwrap_or_else(|e| Err(Outcome::app_error(format!("Output mapping crashed: {e}"), json!({}))))
    };
    match tables {
        Ok(t) => result["output"]["tables"] = json!(t),
        Err(mut f) => {
            f.result["input"] = result["input"].clone();
            return Err(f);
        }
    }
    let out_files = {
        let st = state.clone();
        let a = auth.clone();
        let comp = job.component.clone();
        let cf = cfg.clone();
        let d = data_dir.to_path_buf();
        let l = logger.clone();
        tokio::task::spawn_blocking(move || files::output(&st, &a, &comp, &cf, &d, &l))
            .await
            .unwrap_or_else(|e| Err(Outcome::app_error(format!("Output mapping of files crashed: {e}"), json!({}))))
    };
    match out_files {
        Ok(f) if !f.is_empty() => result["output"]["files"] = json!(f),
        Ok(_) => {}
        Err(mut f) => {
            f.result["input"] = result["input"].clone();
            return Err(f);
        }
    }

    // out/usage.json: an array of {metric, value}.
    if let Ok(bytes) = std::fs::read(data_dir.join("out/usage.json")) {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(items)) if items.iter().all(|i| i["metric"].is_string() && !i["value"].is_null()) => {
                result["_usage"] = Value::Array(items);
            }
            _ => {
                return Err(Outcome::user_error(
                    "out/usage.json must be an array of {\"metric\": string, \"value\": number}.",
                    json!({"input": result["input"].clone()}),
                ));
            }
        }
    }
    result["_bytes"] = json!([dir_size(&data_dir.join("in/tables")), dir_size(&data_dir.join("out/tables"))]);

    // State: only for stored configurations; a missing or empty out/state.json clears it.
    if let (Some(_), Some(cid)) = (&def.state, &def.config_id) {
        let out_state = std::fs::read(data_dir.join("out/state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(|v| v.is_object())
            .unwrap_or(json!({}));
        // Keboola keeps a state's secrets as `KBC::ProjectSecure::` ciphers.
        let out_state = crate::encryption::encrypt_value(state, &crate::encryption::Scope::project(&job.component, job.project_id), out_state)
            .map_err(|e| Outcome::app_error(format!("Cannot encrypt the state: {e}"), json!({})))?;
        let new_state = json!({"component": out_state, "storage": {"input": {"tables": input.adaptive_state, "files": []}}});
        if let Err(e) = configs::store_state(state, job.project_id, job.branch_id, &job.component, cid, def.row_id.as_deref(), new_state) {
            return Err(Outcome::app_error(format!("Cannot store the state: {}", e.message), result));
        }
    }
    Ok(result)
}
