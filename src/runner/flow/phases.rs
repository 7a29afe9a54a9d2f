//! Flows: the `orchestrationContainer` walks the phases and runs each as a `phaseContainer` child
//! job; the phase container runs the phase's enabled tasks — notification and variable tasks in
//! place, job tasks as its child jobs, all at once — and reports them in `result.tasks` with the
//! flow variables as they stand after the phase. A job task's `retry` runs its job again, a
//! phase's `retry` the whole phase; a failed task fails its phase unless `continueOnFailure`
//! (then the phase and the flow end `warning`).
use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::conditions::eval;
use super::{FlowState, Retry, TaskRun, create_child, id_str, wait_job};
use crate::app::AppState;
use crate::queue::configs;
use crate::queue::store::{self, Job, NewJob};
use crate::queue::worker::Outcome;
use crate::runner::{Logger, registry};
use crate::storage::auth::Auth;
use kbstack_core::QueueJobStatus;

const TERMINATED: &str = "Job was terminated by a user.";

/// The flow's configuration: inline `configData`, else the stored configuration.
fn flow_configuration(state: &AppState, job: &Job) -> Result<Value, Outcome> {
    if let Some(cd) = job.config_data() {
        return Ok(cd.clone());
    }
    let Some(cid) = &job.config else { return Err(Outcome::user_error("A flow job needs config or configData.", json!({}))) };
    match configs::load(state, job.project_id, job.branch_id, &job.component, cid) {
        Ok(Some(c)) => Ok(c.configuration()),
        Ok(None) => Err(Outcome::user_error(format!("Configuration \"{cid}\" of component \"{}\" not found.", job.component), json!({}))),
        Err(e) => Err(Outcome::app_error(e.0.message, json!({}))),
    }
}

fn flow_result(fs: &FlowState, message: &str) -> Value {
    json!({
        "message": message,
        "tasks": fs.tasks.iter().map(TaskRun::to_json).collect::<Vec<_>>(),
        "phases": fs.phases,
        "variables": fs.variables,
    })
}

/// The `orchestrationContainer` job of a `keboola.orchestrator` or `keboola.flow` configuration.
pub async fn orchestration(state: &AppState, job: &Job, auth: &Auth, cancel: &CancellationToken, logger: &Logger) -> Outcome {
    let configuration = match flow_configuration(state, job) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let phases: Vec<Value> = configuration["phases"].as_array().cloned().unwrap_or_default();
    let mut fs = FlowState::default();
    let mut failed_any = false;
    let mut fatal = false;
    if job.component == registry::ORCHESTRATOR {
        // dependsOn: run phases in dependency order.
        let mut done: Vec<String> = Vec::new();
        let mut left = phases.clone();
        while !left.is_empty() && !fatal && !cancel.is_cancelled() {
            let pos = left.iter().position(|p| p["dependsOn"].as_array().is_none_or(|d| d.iter().all(|x| done.contains(&id_str(x)))));
            let Some(pos) = pos else {
                return Outcome::user_error("The orchestration's phases depend on each other in a cycle (or on a missing phase).", flow_result(&fs, ""));
            };
            let phase = left.remove(pos);
            let (f, fa) = run_phase(state, job, auth, &phase, &mut fs, cancel, logger).await;
            failed_any |= f;
            fatal |= fa;
            done.push(id_str(&phase["id"]));
        }
    } else {
        let index: HashMap<String, usize> = phases.iter().enumerate().map(|(i, p)| (id_str(&p["id"]), i)).collect();
        let mut current = if phases.is_empty() { None } else { Some(0usize) };
        let mut steps = 0;
        while let Some(i) = current {
            if cancel.is_cancelled() {
                break;
            }
            steps += 1;
            if steps > 1000 {
                return Outcome::user_error("The flow ran more than 1000 phases; its transitions loop.", flow_result(&fs, ""));
            }
            let phase = &phases[i];
            let (f, mut fa) = run_phase(state, job, auth, phase, &mut fs, cancel, logger).await;
            failed_any |= f;
            current = None;
            match phase.get("next").and_then(Value::as_array) {
                None if !fa => current = (i + 1 < phases.len()).then_some(i + 1),
                None => {}
                Some(transitions) => {
                    for t in transitions {
                        let has_condition = t.get("condition").is_some_and(|c| !c.is_null());
                        let taken = if has_condition { eval(&t["condition"], &fs) == json!(true) } else { !fa };
                        if !taken {
                            continue;
                        }
                        // A failure a transition handles does not fail the flow.
                        fa = false;
                        current = match &t["goto"] {
                            Value::Null => None,
                            g => match index.get(&id_str(g)) {
                                Some(j) => Some(*j),
                                None => return Outcome::user_error(format!("Transition to unknown phase \"{}\".", id_str(g)), flow_result(&fs, "")),
                            },
                        };
                        break;
                    }
                }
            }
            fatal |= fa;
            if fatal {
                break;
            }
        }
    }
    if cancel.is_cancelled() {
        return Outcome::user_error(TERMINATED, flow_result(&fs, ""));
    }
    if fatal {
        let failed = fs.tasks.iter().rev().find(|t| t.status != "success" && !t.tolerated).map(|t| format!("Task \"{}\" failed: {}", t.name, t.message));
        let failed = failed.or_else(|| fs.phases.last().and_then(|p| p["message"].as_str()).map(str::to_string));
        let msg = failed.unwrap_or_else(|| "The flow failed.".into());
        return Outcome::user_error(msg.clone(), flow_result(&fs, &msg));
    }
    if failed_any {
        let mut o = Outcome::success(flow_result(&fs, "Orchestration finished with warnings: some tasks failed and were allowed to."));
        o.status = QueueJobStatus::Warning;
        return o;
    }
    Outcome::success(flow_result(&fs, "Orchestration finished successfully."))
}

/// One phase as a `phaseContainer` child job, run again as its `retry` allows; returns
/// (a task failed, the phase failed).
async fn run_phase(state: &AppState, flow: &Job, auth: &Auth, phase: &Value, fs: &mut FlowState, cancel: &CancellationToken, logger: &Logger) -> (bool, bool) {
    let phase_id = id_str(&phase["id"]);
    let name = phase["name"].as_str().map(str::to_string).unwrap_or_else(|| phase_id.clone());
    let retry = Retry::of(&phase["retry"]);
    let mut attempt = 0;
    loop {
        logger.log("info", &format!("Phase \"{name}\" started."));
        let done = match create_phase_job(state, auth, flow, &phase_id, &fs.variables) {
            Ok(child) => wait_job(state, child.id).await.ok_or_else(|| format!("The job of phase \"{name}\" disappeared.")),
            Err(e) => Err(format!("Phase \"{name}\" could not start: {e}")),
        };
        let done = match done {
            Ok(j) => j,
            Err(message) => {
                logger.log("error", &message);
                fs.phases.push(json!({"id": phase_id, "name": phase["name"], "status": "error", "message": message}));
                return (true, true);
            }
        };
        let message = done.result["message"].as_str().unwrap_or("").to_string();
        fs.tasks.extend(done.result["tasks"].as_array().into_iter().flatten().map(|t| TaskRun::from_json(state, t)));
        if let Some(vars) = done.result["variables"].as_object() {
            fs.variables = vars.clone();
        }
        fs.phases.push(json!({
            "id": phase_id, "name": phase["name"], "jobId": done.id.to_string(), "status": done.status, "message": message,
            "duration": done.duration(), "startTime": super::iso_opt(done.start_ms), "endTime": super::iso_opt(done.end_ms),
        }));
        let failed = done.status != QueueJobStatus::Success;
        let fatal = failed && done.status != QueueJobStatus::Warning;
        if fatal && !cancel.is_cancelled() {
            if let Some(r) = retry.as_ref().filter(|r| attempt < r.max && r.applies(&message)) {
                attempt += 1;
                logger.log("warn", &format!("Phase \"{name}\" failed; retrying ({attempt}/{}) in {} s.", r.max, r.delay.as_secs()));
                if sleep_unless_cancelled(r.delay, cancel).await {
                    continue;
                }
            }
        }
        return (failed, fatal);
    }
}

/// `false` when the job was cancelled meanwhile.
async fn sleep_unless_cancelled(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = cancel.cancelled() => false,
    }
}

/// The phase container: the flow's component and configuration, no configuration lock (the flow
/// holds it), the phase id and the flow variables in its definition.
fn create_phase_job(state: &AppState, auth: &Auth, flow: &Job, phase_id: &str, variables: &Map<String, Value>) -> Result<Job, String> {
    let mut definition = json!({
        "configData": flow.def("configData"),
        "variableValuesData": flow.def("variableValuesData"),
        "orchestrationJobId": flow.id.to_string(),
        "orchestrationPhaseId": phase_id,
        "onlyOrchestrationTaskIds": flow.def("onlyOrchestrationTaskIds"),
        "flowVariables": variables,
        "projectName": flow.def("projectName"),
        "branchType": flow.def("branchType"),
    });
    if let Some(o) = definition.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    let new = NewJob {
        project_id: flow.project_id,
        branch_id: flow.branch_id,
        parent_run_id: Some(flow.run_id.clone()),
        token_id: auth.token.id,
        token_description: auth.token.description.clone(),
        component: flow.component.clone(),
        config: flow.config.clone(),
        config_row_ids: Vec::new(),
        mode: flow.mode.clone(),
        kind: "phaseContainer".into(),
        tag: None,
        variable_values_id: flow.variable_values_id.clone(),
        lock_key: None,
        delayed_start_ms: None,
        definition,
    };
    store::insert(state, &new, &auth.secret).map_err(|e| e.0.message)
}

/// The `phaseContainer` job: the tasks of one phase.
pub async fn phase(state: &AppState, job: &Job, auth: &Auth, cancel: &CancellationToken, logger: &Logger) -> Outcome {
    let configuration = match flow_configuration(state, job) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let phase_id = id_str(job.def("orchestrationPhaseId"));
    if !configuration["phases"].as_array().into_iter().flatten().any(|p| id_str(&p["id"]) == phase_id) {
        return Outcome::user_error(format!("Phase \"{phase_id}\" is not in the flow's configuration."), json!({}));
    }
    let only: Option<Vec<String>> = job.def("onlyOrchestrationTaskIds").as_array().map(|a| a.iter().map(id_str).collect());
    let tasks: Vec<&Value> = configuration["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| id_str(&t["phase"]) == phase_id && t["enabled"] != json!(false))
        .filter(|t| only.as_ref().is_none_or(|o| o.contains(&id_str(&t["id"]))))
        .collect();
    let flow_job_id = id_str(job.def("orchestrationJobId"));
    let mut fs = FlowState { variables: job.def("flowVariables").as_object().cloned().unwrap_or_default(), ..FlowState::default() };

    // Notification and variable tasks take effect in place, in order; job tasks run together.
    let mut runs: Vec<Option<TaskRun>> = Vec::new();
    let mut jobs = Vec::new();
    for t in &tasks {
        let mut run = TaskRun::new(t, &phase_id);
        let spec = &t["task"];
        match run.kind.as_str() {
            "notification" => {
                let (sent, problems) = crate::notification::events::flow_notification(state, job, spec);
                let title = spec["title"].as_str().unwrap_or("");
                for p in &problems {
                    logger.log("warn", &format!("Notification \"{title}\": not sent: {p}"));
                }
                logger.log("info", &format!("Notification \"{title}\" sent to {sent} recipient(s)."));
                run.status = "success".into();
            }
            "variable" => {
                let value = match spec.get("source").filter(|s| !s.is_null()) {
                    Some(source) => eval(source, &fs),
                    None => spec.get("value").cloned().unwrap_or(Value::Null),
                };
                fs.variables.insert(spec["name"].as_str().unwrap_or("").to_string(), value);
                run.status = "success".into();
            }
            _ => {
                jobs.push((runs.len(), run_job_task(state, job, auth, &flow_job_id, t, run, cancel, logger)));
                runs.push(None);
                continue;
            }
        }
        runs.push(Some(run));
    }
    let (slots, futures): (Vec<usize>, Vec<_>) = jobs.into_iter().unzip();
    for (slot, run) in slots.into_iter().zip(futures::future::join_all(futures).await) {
        runs[slot] = Some(run);
    }
    let runs: Vec<TaskRun> = runs.into_iter().flatten().collect();

    for r in runs.iter().filter(|r| r.status != "success") {
        let detail = if r.message.is_empty() { String::new() } else { format!(": {}", r.message) };
        logger.log(if r.tolerated { "warn" } else { "error" }, &format!("Task \"{}\" ended {}{detail}", r.name, r.status));
    }
    let fatal = runs.iter().find(|r| r.status != "success" && !r.tolerated).map(|r| format!("Task \"{}\" failed: {}", r.name, r.message));
    let failed = runs.iter().any(|r| r.status != "success");
    let result = |message: &str| {
        json!({"message": message, "tasks": runs.iter().map(TaskRun::to_json).collect::<Vec<_>>(), "variables": fs.variables})
    };
    if cancel.is_cancelled() {
        return Outcome::user_error(TERMINATED, result(TERMINATED));
    }
    if let Some(msg) = fatal {
        return Outcome::user_error(msg.clone(), result(&msg));
    }
    if failed {
        let mut o = Outcome::success(result("Phase finished with warnings: some tasks failed and were allowed to."));
        o.status = QueueJobStatus::Warning;
        return o;
    }
    Outcome::success(result("Phase finished successfully."))
}

/// A job task: its child job, run again as the task's `retry` allows.
#[allow(clippy::too_many_arguments)]
async fn run_job_task(
    state: &AppState,
    phase_job: &Job,
    auth: &Auth,
    flow_job_id: &str,
    task: &Value,
    mut run: TaskRun,
    cancel: &CancellationToken,
    logger: &Logger,
) -> TaskRun {
    let spec = &task["task"];
    let delay = spec["delay"].as_f64().or_else(|| spec["delay"].as_str().and_then(|s| s.trim().parse().ok())).unwrap_or(0.0);
    if delay > 0.0 && !sleep_unless_cancelled(Duration::from_secs_f64(delay.min(3600.0)), cancel).await {
        run.status = "cancelled".into();
        return run;
    }
    let mut body = json!({
        "component": spec["componentId"], "mode": spec["mode"].as_str().unwrap_or("run"),
        "branchId": phase_job.branch_id.to_string(),
        "orchestrationJobId": flow_job_id, "orchestrationTaskId": run.id, "orchestrationPhaseId": run.phase,
    });
    for key in ["configId", "configData", "configRowIds", "tag", "variableValuesId", "variableValuesData", "backend"] {
        if let Some(v) = spec.get(key).filter(|v| !v.is_null()) {
            body[if key == "configId" { "config" } else { key }] = v.clone();
        }
    }
    let retry = Retry::of(&spec["retry"]);
    let mut attempt = 0;
    loop {
        match create_child(state, auth, phase_job, body.clone()) {
            Ok(child) => match wait_job(state, child.id).await {
                Some(j) => {
                    run.status = j.status.to_string();
                    run.message = j.result["message"].as_str().unwrap_or("").to_string();
                    run.job = Some(j);
                }
                None => {
                    run.status = "error".into();
                    run.message = format!("The job {} of the task disappeared.", child.id);
                }
            },
            Err(e) => {
                run.status = "error".into();
                run.message = e;
                logger.log("error", &format!("Task \"{}\" could not start: {}", run.name, run.message));
                return run;
            }
        }
        if run.status == "success" || cancel.is_cancelled() {
            return run;
        }
        match retry.as_ref().filter(|r| attempt < r.max && r.applies(&run.message)) {
            Some(r) => {
                attempt += 1;
                logger.log("warn", &format!("Task \"{}\" ended {}; retrying ({attempt}/{}) in {} s.", run.name, run.status, r.max, r.delay.as_secs()));
                if !sleep_unless_cancelled(r.delay, cancel).await {
                    return run;
                }
            }
            None => return run,
        }
    }
}
