//! Creating Queue jobs, the domain side: a `JobRequest` (what `POST /queue/jobs` and a flow's job
//! task describe, read as leniently as Keboola reads it) becomes a validated `NewJob`. The HTTP
//! handler and the flows both come here; neither goes through the other.
use serde_json::{Map, Value, json};

use super::configs;
use super::search;
use super::store::NewJob;
use crate::app::AppState;
use crate::http::params::scalar_to_string;
use crate::http::{ApiError, ApiResult, Code};
use crate::runner::registry;
use crate::storage::auth::Auth;

/// A create-job request with every field in its one accepted shape.
#[derive(Debug, Clone, Default)]
pub struct JobRequest {
    pub component: String,
    pub mode: String,
    pub config: Option<String>,
    pub config_row_ids: Vec<String>,
    pub config_data: Option<Value>,
    pub branch_id: Option<String>,
    pub variable_values_id: Option<String>,
    pub variable_values_data: Option<Value>,
    pub backend: Option<Value>,
    pub parallelism: Option<String>,
    pub tag: Option<String>,
    pub delay: Option<i64>,
    pub delayed_start_time: Option<String>,
    pub parent_run_id: Option<String>,
    pub behavior: Option<Value>,
    pub executor: Option<String>,
    pub orchestration_job_id: Option<String>,
    pub orchestration_task_id: Option<String>,
    pub orchestration_phase_id: Option<String>,
    pub only_orchestration_task_ids: Option<Value>,
    pub previous_job_id: Option<String>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::validation(msg)
}

/// The request's fields by name: ids may be numbers or strings, empty strings are absent.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> ApiResult<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(v @ (Value::String(_) | Value::Number(_))) => Ok(scalar_to_string(v)),
            Some(_) => Err(bad(format!("Invalid request:\n - {key}: This value should be of type string."))),
        }
    }

    fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(v) => scalar_to_string(v)
                .and_then(|s| s.trim().parse().ok())
                .map(Some)
                .ok_or_else(|| bad(format!("Invalid request:\n - {key}: This value should be of type int."))),
        }
    }
}

impl JobRequest {
    /// Read a request body (or a flow task) and check each field's shape; what the fields refer
    /// to is checked by `build`.
    pub fn parse(fields: &Map<String, Value>) -> ApiResult<JobRequest> {
        let f = Fields(fields);
        let component = f.string("component")?.ok_or_else(|| bad("Invalid request:\n - component: This value should not be blank."))?;
        let mode = f.string("mode")?.unwrap_or_else(|| "run".into());
        if !["run", "forceRun", "debug"].contains(&mode.as_str()) {
            return Err(bad(format!("Invalid request:\n - mode: \"{mode}\" is not a valid mode; allowed: run, forceRun, debug.")));
        }
        let not_object = || bad("Invalid request:\n - configData: This value should be a JSON object (the configuration of the component).");
        let config_data = match f.get("configData") {
            None => None,
            Some(Value::Object(o)) => Some(Value::Object(o.clone())),
            Some(Value::Array(a)) if a.is_empty() => Some(json!({})),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => Some(v),
                _ => return Err(not_object()),
            },
            Some(_) => return Err(not_object()),
        };
        if let Some(cd) = &config_data {
            for key in ["parameters", "storage", "runtime", "processors", "authorization"] {
                if let Some(v) = cd.get(key) {
                    if !(v.is_object() || v.is_null() || v.as_array().is_some_and(|a| a.is_empty())) {
                        return Err(bad(format!("Invalid request:\n - configData.{key}: This value should be an object.")));
                    }
                }
            }
        }
        let config_row_ids: Vec<String> = match f.get("configRowIds") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| scalar_to_string(v).ok_or_else(|| bad("Invalid request:\n - configRowIds: Each item should be a string.")))
                .collect::<ApiResult<_>>()?,
            Some(Value::String(s)) if s.is_empty() => Vec::new(),
            Some(v @ (Value::String(_) | Value::Number(_))) => scalar_to_string(v).into_iter().collect(),
            Some(_) => return Err(bad("Invalid request:\n - configRowIds: This value should be an array of row ids.")),
        };
        let variable_values_data = match f.get("variableValuesData") {
            None => None,
            Some(Value::Object(o)) => {
                let values = o.get("values").cloned().unwrap_or(json!([]));
                let Value::Array(items) = &values else {
                    return Err(bad("Invalid request:\n - variableValuesData.values: This value should be an array of {name, value}."));
                };
                if items.iter().any(|item| item.get("name").and_then(Value::as_str).is_none() || item.get("value").is_none()) {
                    return Err(bad("Invalid request:\n - variableValuesData.values: each item needs \"name\" and \"value\"."));
                }
                Some(json!({"values": values}))
            }
            Some(Value::Array(a)) if a.is_empty() => None,
            Some(_) => return Err(bad("Invalid request:\n - variableValuesData: This value should be an object {values: [{name, value}]}.")),
        };
        let backend = match f.get("backend") {
            None => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(json!({"type": s})),
            Some(Value::Object(o)) => Some(Value::Object(o.clone())),
            Some(Value::Array(a)) if a.is_empty() => None,
            Some(_) => return Err(bad("Invalid request:\n - backend: This value should be a size (\"small\") or an object {type, context}.")),
        };
        if let Some(t) = backend.as_ref().and_then(|b| b.get("type")).and_then(Value::as_str) {
            if !["xsmall", "small", "medium", "large"].contains(&t) {
                return Err(bad(format!("Invalid request:\n - backend.type: \"{t}\" is not valid; allowed: xsmall, small, medium, large.")));
            }
        }
        let parallelism = match f.get("parallelism") {
            None => None,
            Some(v) => {
                let s = scalar_to_string(v).unwrap_or_default();
                if !(s == "infinity" || s.parse::<u32>().is_ok_and(|n| n <= 100)) {
                    return Err(bad(format!("Invalid request:\n - parallelism: \"{s}\" is not valid; allowed: 0-100 or \"infinity\".")));
                }
                Some(s)
            }
        };
        Ok(JobRequest {
            component,
            mode,
            config: f.string("config")?,
            config_row_ids,
            config_data,
            branch_id: f.string("branchId")?,
            variable_values_id: f.string("variableValuesId")?,
            variable_values_data,
            backend,
            parallelism,
            tag: f.string("tag")?,
            delay: f.int("delay")?,
            delayed_start_time: f.string("delayedStartTime")?,
            parent_run_id: f.string("parentRunId")?,
            behavior: f.get("behavior").cloned().filter(Value::is_object),
            executor: f.string("executor")?,
            orchestration_job_id: f.string("orchestrationJobId")?,
            orchestration_task_id: f.string("orchestrationTaskId")?,
            orchestration_phase_id: f.string("orchestrationPhaseId")?,
            only_orchestration_task_ids: f.get("onlyOrchestrationTaskIds").cloned().filter(Value::is_array),
            previous_job_id: f.string("previousJobId")?,
        })
    }
}

/// Validate a request against the project (component, access, configuration, rows, branch,
/// times) and resolve what the job runs.
pub fn build(state: &AppState, auth: &Auth, req: JobRequest) -> ApiResult<NewJob> {
    let JobRequest { component, mode, config, config_row_ids, config_data, .. } = req.clone();
    if !registry::is_known(state, &component) {
        return Err(ApiError::new(
            Code::ComponentNotFound,
            format!("Component \"{component}\" not found. Register process components with `kbstack component register <file>`."),
        ));
    }
    auth.require_component(&component)?;
    if config.is_none() && config_data.is_none() {
        return Err(bad("Invalid request: either \"config\" (a stored configuration id) or \"configData\" (an inline configuration) must be set."));
    }
    let branch_id = match req.branch_id.as_deref() {
        None => auth.branch_id,
        Some("default" | "null") => auth.default_branch_id,
        Some(b) => {
            let not_found = || ApiError::new(Code::BranchNotFound, format!("Branch \"{b}\" not found."));
            let id: i64 = b.parse().map_err(|_| not_found())?;
            if !state.meta.branch_exists(auth.project_id, id)? {
                return Err(not_found());
            }
            id
        }
    };

    // A stored configuration must exist (and be enabled unless forceRun), even with configData.
    let mut stored = None;
    if let Some(cid) = &config {
        let cfg = configs::load(state, auth.project_id, branch_id, &component, cid)?.ok_or_else(|| {
            ApiError::new(
                Code::ConfigurationNotFound,
                format!("Configuration \"{cid}\" of component \"{component}\" not found in branch \"{branch_id}\"."),
            )
        })?;
        if config_data.is_none() && mode == "run" && cfg.is_disabled() {
            return Err(bad(format!(
                "Configuration \"{cid}\" of component \"{component}\" is disabled. Enable it, or run it with mode \"forceRun\"."
            )));
        }
        if config_data.is_none() {
            if let Some(row) = config_row_ids.iter().find(|row| cfg.row(row).is_none()) {
                return Err(ApiError::new(
                    Code::RowNotFound,
                    format!("Row \"{row}\" of configuration \"{cid}\" of component \"{component}\" not found."),
                ));
            }
        }
        stored = Some(cfg);
    } else if !config_row_ids.is_empty() {
        return Err(bad("Invalid request:\n - configRowIds: rows can be run only with a stored configuration (\"config\")."));
    }
    let has_values = req.variable_values_data.as_ref().is_some_and(|d| d["values"].as_array().is_some_and(|a| !a.is_empty()));
    if req.variable_values_id.is_some() && has_values {
        return Err(bad("Invalid request: \"variableValuesId\" and \"variableValuesData\" cannot be used together."));
    }
    let delayed_start_ms = match (req.delay, &req.delayed_start_time) {
        (Some(_), Some(_)) => return Err(bad("Invalid request: \"delay\" and \"delayedStartTime\" cannot be used together.")),
        (Some(d), None) if d < 0 => return Err(bad("Invalid request:\n - delay: This value should be 0 or more.")),
        (Some(d), None) => Some(
            d.checked_mul(1000)
                .and_then(|ms| super::now_ms().checked_add(ms))
                .ok_or_else(|| bad("Invalid request:\n - delay: This value is too large."))?,
        ),
        (None, Some(t)) => {
            Some(search::parse_when(t).ok_or_else(|| bad(format!("Invalid request:\n - delayedStartTime: \"{t}\" is not a valid time.")))?)
        }
        (None, None) => None,
    };
    let parent_run_id = auth.run_id.clone().or(req.parent_run_id.clone()).filter(|r| !r.is_empty());

    // Rows with a parallelism run as a container of one job per row; orchestrations as containers.
    let rows_to_run = stored
        .as_ref()
        .filter(|_| config_data.is_none())
        .map(|cfg| crate::runner::rows_to_run(cfg, &config_row_ids).len())
        .unwrap_or(0);
    let kind = if registry::is_orchestrator(&component) {
        "orchestrationContainer"
    } else if rows_to_run > 0 && req.parallelism.is_some() {
        "container"
    } else {
        "standard"
    }
    .to_string();
    let lock_key = config.as_ref().map(|c| format!("{}:{}:{}:{}", auth.project_id, branch_id, component, c));
    // The job keeps (and shows) inline secrets as ciphers, as Keboola's Queue does; the runner opens them.
    let config_data = match config_data {
        Some(cd) => Some(crate::encryption::encrypt_value(state, &crate::encryption::Scope::project(&component, auth.project_id), cd).map_err(bad)?),
        None => None,
    };

    let mut definition = json!({
        "configData": config_data,
        "backend": req.backend,
        "parallelism": req.parallelism,
        "variableValuesData": req.variable_values_data,
        "behavior": req.behavior,
        "executor": req.executor,
        "orchestrationJobId": req.orchestration_job_id,
        "orchestrationTaskId": req.orchestration_task_id,
        "orchestrationPhaseId": req.orchestration_phase_id,
        "onlyOrchestrationTaskIds": req.only_orchestration_task_ids,
        "previousJobId": req.previous_job_id,
        "projectName": project_name(state, auth.project_id),
        "branchType": if branch_id == auth.default_branch_id { "default" } else { "dev" },
    });
    if let Some(o) = definition.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    Ok(NewJob {
        project_id: auth.project_id,
        branch_id,
        parent_run_id,
        token_id: auth.token.id,
        token_description: auth.token.description.clone(),
        component,
        config,
        config_row_ids,
        mode,
        kind,
        tag: req.tag,
        variable_values_id: req.variable_values_id,
        lock_key,
        delayed_start_ms,
        definition,
    })
}

fn project_name(state: &AppState, project_id: i64) -> String {
    state.meta.project(project_id).ok().flatten().map(|(name, _)| name).unwrap_or_else(|| "kbstack".into())
}
