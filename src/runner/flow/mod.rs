//! Container jobs: configuration rows with a `parallelism` (one child job per row, at most
//! `parallelism` at once), `keboola.orchestrator` (phases ordered by `dependsOn`) and
//! `keboola.flow` (phases linked by conditional `next` transitions; tasks of type job,
//! notification, variable; retry). Child jobs are ordinary Queue jobs under the container's run
//! (`runId` = `<container runId>.<child id>`); killing the container kills them.
use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::Logger;
use crate::app::AppState;
use crate::http::Params;
use crate::queue::configs::{self, truthy};
use crate::queue::store::{self, Job};
use crate::queue::worker::Outcome;
use crate::storage::auth::Auth;

/// Create a child job of `parent` from a create-job request body (validated like `POST /jobs`).
/// A row job of a container locks its row, not the configuration its container holds.
fn create_child(state: &AppState, auth: &Auth, parent: &Job, body: Value) -> Result<Job, String> {
    let mut child_auth = auth.clone();
    child_auth.run_id = Some(parent.run_id.clone());
    let mut p = Params::default();
    if let Value::Object(o) = body {
        p.values = o;
    }
    let mut new = crate::queue::api::build_job(state, &child_auth, &p).map_err(|e| e.0.message)?;
    if parent.kind == "container" {
        new.lock_key = new.lock_key.map(|k| format!("{k}:row:{}", new.config_row_ids.join(",")));
    }
    store::insert(state, &new).map_err(|e| e.message)
}

/// Wait until every job in `ids` is finished (a kill of the container reaches them through
/// `store::kill`, which kills descendants).
async fn wait_all(state: &AppState, ids: &[i64]) -> Vec<Job> {
    loop {
        let jobs: Vec<Job> = ids.iter().filter_map(|id| store::load(state, *id).ok().flatten()).collect();
        if jobs.len() == ids.len() && jobs.iter().all(Job::is_finished) {
            return jobs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn iso_opt(ms: Option<i64>) -> Value {
    ms.map(|m| json!(crate::queue::iso_ms(m))).unwrap_or(Value::Null)
}

/// Rows of a configuration as child jobs, `parallelism` at a time; any failed row fails the container.
pub async fn rows(state: &AppState, job: &Job, auth: &Auth, cancel: &CancellationToken, logger: &Logger) -> Outcome {
    let Some(cid) = &job.config else { return Outcome::user_error("A container job needs a stored configuration.", json!({})) };
    let cfg = match configs::load(state, job.project_id, job.branch_id, &job.component, cid) {
        Ok(Some(c)) => c,
        _ => return Outcome::user_error(format!("Configuration \"{cid}\" of component \"{}\" not found.", job.component), json!({})),
    };
    let rows: Vec<String> = super::rows_to_run(&cfg, &job.config_row_ids).iter().filter_map(|r| r["id"].as_str().map(str::to_string)).collect();
    let limit = match job.def("parallelism").as_str() {
        Some("infinity") | None => rows.len().max(1),
        Some(n) => n.parse::<usize>().unwrap_or(1).max(1),
    };
    logger.log("info", &format!("Running {} configuration rows, {limit} at a time.", rows.len()));
    let mut pending: std::collections::VecDeque<String> = rows.into_iter().collect();
    let mut running: Vec<(String, i64)> = Vec::new();
    let mut done: Vec<(String, Job)> = Vec::new();
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < limit && !cancel.is_cancelled() {
            let Some(row) = pending.pop_front() else { break };
            let body = json!({"component": job.component, "config": cid, "configRowIds": [row], "mode": if job.mode == "run" { "forceRun" } else { job.mode.as_str() },
                              "branchId": job.branch_id.to_string(), "tag": job.tag});
            match create_child(state, auth, job, body) {
                Ok(child) => running.push((row, child.id)),
                Err(e) => return Outcome::user_error(format!("Cannot create the job of row \"{row}\": {e}"), json!({})),
            }
        }
        if cancel.is_cancelled() && running.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut still = Vec::new();
        for (row, id) in running {
            match store::load(state, id).ok().flatten() {
                Some(j) if j.is_finished() => done.push((row, j)),
                _ => still.push((row, id)),
            }
        }
        running = still;
    }
    let jobs: Vec<Value> = done
        .iter()
        .map(|(row, j)| json!({"id": j.id.to_string(), "rowId": row, "status": j.status, "durationSeconds": j.duration()}))
        .collect();
    let failed: Vec<&(String, Job)> = done.iter().filter(|(_, j)| j.status != "success").collect();
    let result = json!({"message": "", "jobs": jobs, "configVersion": cfg.version()});
    if failed.is_empty() {
        let mut r = result;
        r["message"] = json!(format!("All {} row jobs finished successfully.", done.len()));
        return Outcome::success(r);
    }
    let (row, j) = failed[0];
    Outcome::user_error(
        format!("Row \"{row}\" (job {}) ended {}: {}", j.id, j.status, j.result["message"].as_str().unwrap_or("")),
        result,
    )
}

/// A task's state as the flow sees it.
#[derive(Clone)]
struct TaskRun {
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

fn task_json(t: &TaskRun) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "type": t.kind,
        "jobId": t.job.as_ref().map(|j| j.id.to_string()),
        "phase": t.phase,
        "status": t.status,
        "component": t.component,
        "configId": t.config,
        "duration": t.job.as_ref().map(|j| j.duration()).unwrap_or(0),
        "startTime": iso_opt(t.job.as_ref().and_then(|j| j.start_ms)),
        "endTime": iso_opt(t.job.as_ref().and_then(|j| j.end_ms)),
        "results": t.job.as_ref().map(|j| vec![json!({"jobId": j.id.to_string(), "status": j.status, "duration": j.duration(), "result": j.result})]).unwrap_or_default(),
        "message": t.message,
        "continueOnFailure": t.tolerated,
    })
}

struct FlowState {
    tasks: Vec<TaskRun>,
    phases: Vec<Value>,
    variables: Map<String, Value>,
}

fn id_str(v: &Value) -> String {
    crate::http::params::scalar_to_string(v).unwrap_or_default()
}

/// Run the enabled tasks of one phase in parallel; returns (any failure, any untolerated failure).
async fn run_phase(
    state: &AppState,
    job: &Job,
    auth: &Auth,
    phase: &Value,
    tasks: &[Value],
    fs: &mut FlowState,
    cancel: &CancellationToken,
    logger: &Logger,
) -> (bool, bool) {
    let phase_id = id_str(&phase["id"]);
    let started = crate::queue::now_ms();
    logger.log("info", &format!("Phase \"{}\" started.", phase["name"].as_str().unwrap_or(&phase_id)));
    let mine: Vec<&Value> = tasks.iter().filter(|t| id_str(&t["phase"]) == phase_id && t["enabled"] != json!(false)).collect();
    let mut runs: Vec<TaskRun> = Vec::new();
    let mut waiting: Vec<(usize, i64)> = Vec::new();
    for t in &mine {
        let spec = &t["task"];
        let kind = spec["type"].as_str().unwrap_or("job").to_string();
        let mut run = TaskRun {
            id: id_str(&t["id"]),
            name: t["name"].as_str().unwrap_or("").to_string(),
            phase: phase_id.clone(),
            kind: kind.clone(),
            component: spec["componentId"].clone(),
            config: spec["configId"].clone(),
            job: None,
            status: "processing".into(),
            message: String::new(),
            tolerated: truthy(&t["continueOnFailure"]),
        };
        match kind.as_str() {
            "notification" => {
                logger.log("info", &format!("Notification ({}): {} {}", spec["channel"].as_str().unwrap_or("email"), spec["title"].as_str().unwrap_or(""), spec["message"].as_str().unwrap_or("")));
                run.status = "success".into();
            }
            "variable" => {
                let name = spec["name"].as_str().unwrap_or("").to_string();
                fs.variables.insert(name, spec.get("value").cloned().unwrap_or(Value::Null));
                run.status = "success".into();
            }
            _ => {
                if let Some(d) = spec["delay"].as_u64().filter(|d| *d > 0) {
                    tokio::time::sleep(Duration::from_secs(d.min(3600))).await;
                }
                let mut body = json!({
                    "component": spec["componentId"], "mode": spec["mode"].as_str().unwrap_or("run"),
                    "branchId": job.branch_id.to_string(),
                    "orchestrationJobId": job.id.to_string(), "orchestrationTaskId": run.id, "orchestrationPhaseId": phase_id,
                });
                for key in ["configId", "configData", "configRowIds", "tag", "variableValuesId", "variableValuesData", "backend"] {
                    if let Some(v) = spec.get(key).filter(|v| !v.is_null()) {
                        body[if key == "configId" { "config" } else { key }] = v.clone();
                    }
                }
                match create_child(state, auth, job, body) {
                    Ok(child) => {
                        waiting.push((runs.len(), child.id));
                        run.job = Some(child);
                    }
                    Err(e) => {
                        run.status = "error".into();
                        run.message = e.clone();
                        logger.log("error", &format!("Task \"{}\" could not start: {e}", run.name));
                    }
                }
            }
        }
        runs.push(run);
    }
    let ids: Vec<i64> = waiting.iter().map(|(_, id)| *id).collect();
    let finished = tokio::select! {
        j = wait_all(state, &ids) => j,
        _ = cancel.cancelled() => wait_all(state, &ids).await,
    };
    for ((idx, _), j) in waiting.iter().zip(finished) {
        let r = &mut runs[*idx];
        r.status = j.status.clone();
        r.message = j.result["message"].as_str().unwrap_or("").to_string();
        r.job = Some(j);
    }
    let failed = runs.iter().any(|r| r.status != "success");
    let fatal = runs.iter().any(|r| r.status != "success" && !r.tolerated);
    for r in &runs {
        if r.status != "success" {
            logger.log(if r.tolerated { "warn" } else { "error" }, &format!("Task \"{}\" ended {}{}", r.name, r.status, if r.message.is_empty() { String::new() } else { format!(": {}", r.message) }));
        }
    }
    let status = if fatal { "error" } else if failed { "warning" } else { "success" };
    fs.phases.push(json!({
        "id": phase_id, "name": phase["name"], "status": status,
        "duration": (crate::queue::now_ms() - started) / 1000, "startTime": crate::queue::iso_ms(started),
    }));
    fs.tasks.extend(runs);
    (failed, fatal)
}

/// `keboola.orchestrator` and `keboola.flow` configurations.
pub async fn orchestration(state: &AppState, job: &Job, auth: &Auth, cancel: &CancellationToken, logger: &Logger) -> Outcome {
    let configuration = match job.config_data() {
        Some(cd) => cd.clone(),
        None => {
            let Some(cid) = &job.config else { return Outcome::user_error("A flow job needs config or configData.", json!({})) };
            match configs::load(state, job.project_id, job.branch_id, &job.component, cid) {
                Ok(Some(c)) => c.configuration(),
                _ => return Outcome::user_error(format!("Configuration \"{cid}\" of component \"{}\" not found.", job.component), json!({})),
            }
        }
    };
    let phases: Vec<Value> = configuration["phases"].as_array().cloned().unwrap_or_default();
    let mut tasks: Vec<Value> = configuration["tasks"].as_array().cloned().unwrap_or_default();
    if let Some(only) = job.def("onlyOrchestrationTaskIds").as_array() {
        let only: Vec<String> = only.iter().map(id_str).collect();
        tasks.retain(|t| only.contains(&id_str(&t["id"])));
    }
    let mut fs = FlowState { tasks: Vec::new(), phases: Vec::new(), variables: Map::new() };
    let mut failed_any = false;
    let mut fatal = false;
    if job.component == super::registry::ORCHESTRATOR {
        // dependsOn: run phases in dependency order.
        let mut done: Vec<String> = Vec::new();
        let mut left = phases.clone();
        while !left.is_empty() && !fatal && !cancel.is_cancelled() {
            let pos = left.iter().position(|p| {
                p["dependsOn"].as_array().map(|d| d.iter().all(|x| done.contains(&id_str(x)))).unwrap_or(true)
            });
            let Some(pos) = pos else {
                return Outcome::user_error("The orchestration's phases depend on each other in a cycle (or on a missing phase).", flow_result(&fs, ""));
            };
            let phase = left.remove(pos);
            let (f, fa) = run_phase(state, job, auth, &phase, &tasks, &mut fs, cancel, logger).await;
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
            let phase = phases[i].clone();
            let mut attempt = 0;
            let (mut f, mut fa);
            loop {
                (f, fa) = run_phase(state, job, auth, &phase, &tasks, &mut fs, cancel, logger).await;
                let max = phase["retry"]["strategyParams"]["maxRetries"].as_u64().unwrap_or(0);
                if !fa || attempt >= max || cancel.is_cancelled() {
                    break;
                }
                attempt += 1;
                let delay = phase["retry"]["strategyParams"]["delay"].as_u64().unwrap_or(0);
                logger.log("warn", &format!("Retrying phase \"{}\" ({attempt}/{max}).", id_str(&phase["id"])));
                tokio::time::sleep(Duration::from_secs(delay.min(3600))).await;
            }
            failed_any |= f;
            current = None;
            let next = phase.get("next").and_then(Value::as_array).cloned();
            match next {
                None if !fa => current = if i + 1 < phases.len() { Some(i + 1) } else { None },
                None => {}
                Some(transitions) => {
                    let mut taken = false;
                    for t in transitions {
                        let has_condition = t.get("condition").is_some_and(|c| !c.is_null());
                        let ok = if has_condition { eval(&t["condition"], &fs) == json!(true) } else { !fa };
                        if ok {
                            taken = true;
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
                    // A failure nobody handles ends the flow as failed.
                    if fa && taken {
                        fa = false;
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
        return Outcome::user_error("Job was terminated by a user.", flow_result(&fs, ""));
    }
    if fatal {
        let failed = fs.tasks.iter().find(|t| t.status != "success" && !t.tolerated).map(|t| format!("Task \"{}\" failed: {}", t.name, t.message));
        let msg = failed.unwrap_or_else(|| "The flow failed.".into());
        return Outcome::user_error(msg.clone(), flow_result(&fs, &msg));
    }
    if failed_any {
        let mut o = Outcome::success(flow_result(&fs, "Orchestration finished with warnings: some tasks failed and were allowed to."));
        o.status = "warning";
        return o;
    }
    Outcome::success(flow_result(&fs, "Orchestration finished successfully."))
}

fn flow_result(fs: &FlowState, message: &str) -> Value {
    json!({
        "message": message,
        "tasks": fs.tasks.iter().map(task_json).collect::<Vec<_>>(),
        "phases": fs.phases,
        "variables": fs.variables,
    })
}

/// The condition tree of `keboola.flow` transitions (const, phase, task, variable, operator,
/// function COUNT).
fn eval(c: &Value, fs: &FlowState) -> Value {
    match c["type"].as_str().unwrap_or("") {
        "const" => c["value"].clone(),
        "variable" => fs.variables.get(c["value"].as_str().unwrap_or("")).cloned().unwrap_or(Value::Null),
        "phase" => {
            let id = id_str(&c["phase"]);
            let p = fs.phases.iter().rev().find(|p| id_str(&p["id"]) == id);
            match (p, c["value"].as_str().unwrap_or("status")) {
                (Some(p), "status") => p["status"].clone(),
                (Some(p), other) => p[other].clone(),
                (None, _) => Value::Null,
            }
        }
        "task" => {
            let id = id_str(&c["task"]);
            let t = fs.tasks.iter().rev().find(|t| t.id == id);
            match (t, c["value"].as_str().unwrap_or("job.status")) {
                (Some(t), "job.status" | "status") => json!(t.status),
                (Some(t), "job.result.message") => json!(t.message),
                (Some(t), path) => {
                    let j = t.job.as_ref().map(|j| store::job_json_light(j)).unwrap_or(Value::Null);
                    path.trim_start_matches("job.").split('.').fold(j, |v, k| v[k].clone())
                }
                (None, _) => Value::Null,
            }
        }
        "function" => {
            let args: Vec<Value> = c["operands"].as_array().map(|a| a.iter().map(|o| eval(o, fs)).collect()).unwrap_or_default();
            match c["function"].as_str().unwrap_or("") {
                "COUNT" => json!(args.first().map(|a| a.as_array().map(|x| x.len()).unwrap_or(if a.is_null() { 0 } else { 1 })).unwrap_or(0)),
                _ => Value::Null,
            }
        }
        "operator" => {
            let op = c["operator"].as_str().unwrap_or("");
            let raw = c["operands"].as_array().cloned().unwrap_or_default();
            if op == "ALL_TASKS_IN_PHASE" || op == "ANY_TASKS_IN_PHASE" {
                let phase = raw.first().map(|p| id_str(&eval(p, fs))).unwrap_or_default();
                let want = raw.get(1).map(|v| eval(v, fs)).unwrap_or(json!("success"));
                let statuses: Vec<Value> = fs.tasks.iter().filter(|t| t.phase == phase).map(|t| json!(t.status)).collect();
                return json!(if op == "ALL_TASKS_IN_PHASE" { !statuses.is_empty() && statuses.iter().all(|s| *s == want) } else { statuses.iter().any(|s| *s == want) });
            }
            let args: Vec<Value> = raw.iter().map(|o| eval(o, fs)).collect();
            let num = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
            let a = args.first().cloned().unwrap_or(Value::Null);
            let b = args.get(1).cloned().unwrap_or(Value::Null);
            json!(match op {
                "AND" => args.iter().all(|x| *x == json!(true)),
                "OR" => args.iter().any(|x| *x == json!(true)),
                "EQUALS" => a == b || (num(&a).is_some() && num(&a) == num(&b)),
                "NOT_EQUALS" => !(a == b || (num(&a).is_some() && num(&a) == num(&b))),
                "GREATER_THAN" => matches!((num(&a), num(&b)), (Some(x), Some(y)) if x > y),
                "LESS_THAN" => matches!((num(&a), num(&b)), (Some(x), Some(y)) if x < y),
                "CONTAINS" => match &a {
                    Value::Array(items) => items.contains(&b),
                    Value::String(s) => b.as_str().is_some_and(|x| s.contains(x)),
                    _ => false,
                },
                _ => false,
            })
        }
        _ => Value::Null,
    }
}
