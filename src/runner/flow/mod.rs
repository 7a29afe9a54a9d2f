//! Container jobs: they create child jobs and wait for them, taking no worker slot.
//!
//! - `container` (`rows`): configuration rows with a `parallelism`, one child job per row.
//! - Flows (`phases`): a `keboola.orchestrator` (phases ordered by `dependsOn`) or `keboola.flow`
//!   (phases linked by conditional `next` transitions) job is the `orchestrationContainer`; each
//!   phase runs as a `phaseContainer` child job, whose job tasks run as its child jobs.
//!
//! Child jobs are ordinary Queue jobs under the container's run (`runId` = `<container
//! runId>.<child id>`, so a task job's is `flow.phase.task`); killing a container kills them all.
mod conditions;
mod phases;
mod rows;

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::queue::jobs::{self, JobRequest};
use crate::queue::configs::truthy;
use crate::queue::store::{self, Job};
use crate::storage::auth::Auth;

pub use phases::{orchestration, phase};
pub use rows::rows;

/// Create a child job of `parent` from a create-job request body (validated like `POST /jobs`).
/// A row job of a container locks its row, not the configuration its container holds.
fn create_child(state: &AppState, auth: &Auth, parent: &Job, body: Value) -> Result<Job, String> {
    let mut child_auth = auth.clone();
    child_auth.run_id = Some(parent.run_id.clone());
    let fields = match body {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    let request = JobRequest::parse(&fields).map_err(|e| e.0.message)?;
    let mut new = jobs::build(state, &child_auth, request).map_err(|e| e.0.message)?;
    if parent.kind == "container" {
        new.lock_key = new.lock_key.map(|k| format!("{k}:row:{}", new.config_row_ids.join(",")));
    }
    store::insert(state, &new, &child_auth.secret).map_err(|e| e.0.message)
}

/// Wait until the job is finished (a kill of its container reaches it through `store::kill`,
/// which kills descendants); `None` if it is gone (nothing deletes jobs, but a wait must end).
async fn wait_job(state: &AppState, id: i64) -> Option<Job> {
    loop {
        match state.meta.queue_job(id.into()) {
            Ok(Some(j)) if j.is_finished() => return Some(j),
            Ok(None) => return None,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn iso_opt(ms: Option<i64>) -> Value {
    ms.map(|m| json!(crate::queue::iso_ms(m))).unwrap_or(Value::Null)
}

fn id_str(v: &Value) -> String {
    crate::http::params::scalar_to_string(v).unwrap_or_default()
}

/// A task's state as the flow sees it.
#[derive(Clone)]
pub struct TaskRun {
    id: String,
    name: String,
    phase: String,
    kind: String,
    component: Value,
    config: Value,
    job: Option<Job>,
    status: String,
    message: String,
    tolerated: bool,
}

impl TaskRun {
    /// A task of the flow configuration before it ran.
    fn new(task: &Value, phase: &str) -> TaskRun {
        let spec = &task["task"];
        TaskRun {
            id: id_str(&task["id"]),
            name: task["name"].as_str().unwrap_or("").to_string(),
            phase: phase.to_string(),
            kind: spec["type"].as_str().unwrap_or("job").to_string(),
            component: spec["componentId"].clone(),
            config: spec["configId"].clone(),
            job: None,
            status: "processing".into(),
            message: String::new(),
            tolerated: truthy(&task["continueOnFailure"]),
        }
    }

    /// `result.tasks[]` item.
    fn to_json(&self) -> Value {
        let job = self.job.as_ref();
        json!({
            "id": self.id,
            "name": self.name,
            "type": self.kind,
            "jobId": job.map(|j| j.id.to_string()),
            "phase": self.phase,
            "status": self.status,
            "component": self.component,
            "configId": self.config,
            "duration": job.map(|j| j.duration()).unwrap_or(0),
            "startTime": iso_opt(job.and_then(|j| j.start_ms)),
            "endTime": iso_opt(job.and_then(|j| j.end_ms)),
            "results": job.map(|j| vec![json!({"jobId": j.id.to_string(), "status": j.status, "duration": j.duration(), "result": j.result})]).unwrap_or_default(),
            "message": self.message,
            "continueOnFailure": self.tolerated,
        })
    }

    /// Back from a phase container's `result.tasks[]` (the task's job is read again).
    fn from_json(state: &AppState, v: &Value) -> TaskRun {
        let job = v["jobId"].as_str().and_then(|id| id.parse::<i64>().ok()).and_then(|id| state.meta.queue_job(id.into()).ok().flatten());
        TaskRun {
            id: id_str(&v["id"]),
            name: v["name"].as_str().unwrap_or("").to_string(),
            phase: id_str(&v["phase"]),
            kind: v["type"].as_str().unwrap_or("job").to_string(),
            component: v["component"].clone(),
            config: v["configId"].clone(),
            job,
            status: v["status"].as_str().unwrap_or("error").to_string(),
            message: v["message"].as_str().unwrap_or("").to_string(),
            tolerated: truthy(&v["continueOnFailure"]),
        }
    }
}

/// What conditions see: the tasks and phases run so far and the flow variables.
#[derive(Default)]
pub struct FlowState {
    tasks: Vec<TaskRun>,
    phases: Vec<Value>,
    variables: Map<String, Value>,
}

/// `retry` of a phase or a job task: `{retryOn: [{type: errorMessageContains|errorMessageExact,
/// value}], strategy: "linear", strategyParams: {maxRetries (3), delay (10 s)}}`; without
/// `retryOn` every failure is retried.
struct Retry {
    max: u64,
    delay: Duration,
    on: Vec<(String, String)>,
}

impl Retry {
    fn of(v: &Value) -> Option<Retry> {
        if !v.is_object() {
            return None;
        }
        let params = &v["strategyParams"];
        let num = |x: &Value, default: u64| x.as_u64().or_else(|| x.as_str().and_then(|s| s.parse().ok())).unwrap_or(default);
        let on = v["retryOn"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["type"].as_str().unwrap_or("").to_string(), c["value"].as_str().unwrap_or("").to_string()))
            .collect();
        Some(Retry { max: num(&params["maxRetries"], 3), delay: Duration::from_secs(num(&params["delay"], 10).min(3600)), on })
    }

    fn applies(&self, message: &str) -> bool {
        self.on.is_empty()
            || self.on.iter().any(|(kind, value)| match kind.as_str() {
                "errorMessageExact" => message == value,
                _ => message.contains(value.as_str()),
            })
    }
}
