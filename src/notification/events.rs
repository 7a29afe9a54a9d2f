//! Events and what they send. A Queue job that ends emits `job-failed` (status `error`),
//! `job-succeeded` or `job-succeeded-with-warning` — a flow's phase container the `phase-job-*`
//! ones; a cancelled or terminated job emits nothing. The payload is Keboola's (the notification
//! client's event data): `{errorMessage?, job{id, url, component{id, name}, tasks[], startTime?,
//! endTime?, configuration?{id, name}}, phase?{id, name}, project{id, name}, branch{id}}`.
//!
//! A subscription matches its event when every filter holds: `field` is a dotted path into the
//! payload (`job.component.id`, `branch.id`, `phase.id`, `durationOvertimePercentage`…), compared
//! with `operator` as numbers when both sides are numeric, else as text; a missing field only
//! satisfies `!=`.
//!
//! `job-processing-long` (`monitor`): a running job whose duration passed the average of the last
//! ten successful runs of the same configuration; `durationOvertimePercentage` is by how much
//! (`0.75` = 75 % longer). Each subscription hears of a job once, at the first check where its
//! filters hold (checked every 2 s).
use std::collections::HashSet;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use super::Recipient;
use super::delivery::{self, Message};
use crate::app::AppState;
use crate::http::ApiResult;
use crate::http::params::scalar_to_string;
use crate::meta::notification_subscriptions::SubscriptionRecord;
use crate::meta::queue_jobs::{QueueJobFilter, QueueJobPage, QueueJobSort, QueueJobSortField};
use crate::queue::store::Job;
use crate::queue::{iso_ms, now_ms};
use kbstack_core::QueueJobStatus;
use kbstack_core::ids::ProjectId;

const PHASE_CONTAINER: &str = "phaseContainer";

/// The job has ended (its outcome is stored): emit its event in the background. Never delays
/// or fails the job's end.
pub fn job_ended(state: &AppState, job_id: i64) {
    let st = state.clone();
    tokio::runtime::Handle::current().spawn_blocking(move || {
        if let Err(e) = emit_job_end(&st, job_id) {
            tracing::warn!(job = job_id, "notification of the job's end not sent: {}", e.message);
        }
    });
}

fn emit_job_end(state: &AppState, job_id: i64) -> ApiResult<()> {
    let Some(job) = state.meta.queue_job(job_id.into())? else { return Ok(()) };
    let base = match job.status {
        QueueJobStatus::Error => "job-failed",
        QueueJobStatus::Success => "job-succeeded",
        QueueJobStatus::Warning => "job-succeeded-with-warning",
        _ => return Ok(()),
    };
    let event = if job.kind == PHASE_CONTAINER { format!("phase-{base}") } else { base.to_string() };
    let subscriptions = state.meta.subscriptions(ProjectId(job.project_id), Some(&event), now_ms())?;
    if subscriptions.is_empty() {
        return Ok(());
    }
    let mut head = Map::new();
    if base != "job-succeeded" {
        head.insert("errorMessage".into(), json!(job.result["message"].as_str().unwrap_or("")));
    }
    let payload = payload(state, &job, head, None);
    deliver_matching(state, &event, &subscriptions, &payload);
    Ok(())
}

/// The event payload: `head` keys first (errorMessage, durations), then job, phase, project,
/// branch, then `tail` keys (uniqueId).
fn payload(state: &AppState, job: &Job, head: Map<String, Value>, tail: Option<(&str, Value)>) -> Value {
    let mut p = head;
    p.insert("job".into(), job_data(state, job));
    if job.kind == PHASE_CONTAINER {
        let phase_id = scalar_to_string(job.def("orchestrationPhaseId")).unwrap_or_default();
        let name = phase_name(state, job, &phase_id).unwrap_or_else(|| phase_id.clone());
        p.insert("phase".into(), json!({"id": phase_id, "name": name}));
    }
    p.insert("project".into(), json!({"id": job.project_id.to_string(), "name": project_name(state, job.project_id)}));
    p.insert("branch".into(), json!({"id": job.branch_id.to_string()}));
    if let Some((k, v)) = tail {
        p.insert(k.into(), v);
    }
    Value::Object(p)
}

fn project_name(state: &AppState, project_id: i64) -> String {
    state.meta.project(project_id).ok().flatten().map(|(name, _)| name).unwrap_or_default()
}

/// `job{id, url, component{id, name}, tasks[], startTime?, endTime?, configuration?{id, name}}`
/// (the configuration only when it has a name, as Keboola's client sends it).
fn job_data(state: &AppState, job: &Job) -> Value {
    let component_name = crate::runner::registry::definition(state, &job.component)
        .and_then(|d| d["name"].as_str().map(str::to_string))
        .unwrap_or_else(|| job.component.clone());
    let mut data = json!({
        "id": job.id.to_string(),
        "url": job_url(state, job.id),
        "component": {"id": job.component, "name": component_name},
        "tasks": [],
    });
    if let Some(start) = job.start_ms {
        data["startTime"] = json!(iso_ms(start));
    }
    if let Some(end) = job.end_ms {
        data["endTime"] = json!(iso_ms(end));
    }
    if let Some((id, name)) = configuration(state, job) {
        data["configuration"] = json!({"id": id, "name": name});
    }
    data
}

pub fn job_url(state: &AppState, id: i64) -> String {
    format!("{}/jobs/{id}", crate::storage::index::service_url(state, "queue"))
}

/// The job's stored configuration `(id, name)`, when it has a named one.
fn configuration(state: &AppState, job: &Job) -> Option<(String, String)> {
    let id = job.config.as_ref()?;
    let config = crate::queue::configs::load(state, job.project_id, job.branch_id, &job.component, id).ok().flatten()?;
    let name = config.body["name"].as_str().filter(|n| !n.is_empty())?.to_string();
    Some((id.clone(), name))
}

/// The name of a phase of the flow a phase container runs.
fn phase_name(state: &AppState, job: &Job, phase_id: &str) -> Option<String> {
    let flow = match job.config_data() {
        Some(cd) => cd.clone(),
        None => {
            let id = job.config.as_ref()?;
            crate::queue::configs::load(state, job.project_id, job.branch_id, &job.component, id).ok().flatten()?.configuration()
        }
    };
    let phases = flow["phases"].as_array()?;
    let phase = phases.iter().find(|p| scalar_to_string(&p["id"]).as_deref() == Some(phase_id))?;
    phase["name"].as_str().map(str::to_string)
}

fn deliver_matching(state: &AppState, event: &str, subscriptions: &[SubscriptionRecord], payload: &Value) {
    let (subject, text) = summary(event, payload);
    for sub in subscriptions.iter().filter(|s| s.event == event && matches(&s.filters, payload)) {
        match Recipient::parse(&sub.recipient) {
            Ok(r) => delivery::send(state, r, Message { payload: payload.clone(), subject: subject.clone(), text: text.clone() }),
            Err(e) => tracing::warn!(subscription = sub.id, "subscription has an unusable recipient: {e}"),
        }
    }
}

/// Every filter holds for the payload.
pub fn matches(filters: &Value, payload: &Value) -> bool {
    filters.as_array().into_iter().flatten().all(|f| {
        let field = f["field"].as_str().unwrap_or("");
        let actual = field.split('.').try_fold(payload, |v, key| v.get(key));
        holds(actual, f["operator"].as_str().unwrap_or("=="), &f["value"])
    })
}

fn holds(actual: Option<&Value>, operator: &str, expected: &Value) -> bool {
    let (Some(a), Some(e)) = (actual.and_then(scalar_to_string), scalar_to_string(expected)) else {
        return operator == "!=";
    };
    let ordering = match (a.trim().parse::<f64>(), e.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y),
        _ => Some(a.cmp(&e)),
    };
    let Some(o) = ordering else { return false };
    match operator {
        "==" => o.is_eq(),
        "!=" => o.is_ne(),
        ">" => o.is_gt(),
        "<" => o.is_lt(),
        ">=" => o.is_ge(),
        "<=" => o.is_le(),
        _ => false,
    }
}

/// An email's subject and text for an event.
fn summary(event: &str, p: &Value) -> (String, String) {
    let job = &p["job"];
    let outcome = match event.trim_start_matches("phase-") {
        "job-failed" => "failed",
        "job-succeeded" => "succeeded",
        "job-succeeded-with-warning" => "succeeded with warnings",
        _ => "is running longer than usual",
    };
    let what = match job["configuration"]["name"].as_str() {
        Some(config) => format!("\"{config}\" ({})", job["component"]["name"].as_str().unwrap_or("")),
        None => job["component"]["name"].as_str().unwrap_or("").to_string(),
    };
    let subject = match p["phase"]["name"].as_str() {
        Some(phase) => format!("[kbstack] Phase \"{phase}\" of {what} {outcome} (job {})", job["id"].as_str().unwrap_or("")),
        None => format!("[kbstack] {what} {outcome} (job {})", job["id"].as_str().unwrap_or("")),
    };
    let mut lines = vec![format!("Job {} {outcome}.", job["id"].as_str().unwrap_or("")), String::new()];
    let mut line = |label: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            lines.push(format!("{label}: {v}"));
        }
    };
    line("Project", Some(format!("{} ({})", p["project"]["name"].as_str().unwrap_or(""), p["project"]["id"].as_str().unwrap_or(""))));
    line("Branch", p["branch"]["id"].as_str().map(str::to_string));
    line("Component", Some(format!("{} ({})", job["component"]["name"].as_str().unwrap_or(""), job["component"]["id"].as_str().unwrap_or(""))));
    line("Configuration", job["configuration"]["id"].as_str().map(|id| format!("{} ({id})", job["configuration"]["name"].as_str().unwrap_or(""))));
    line("Phase", p["phase"]["id"].as_str().map(|id| format!("{} ({id})", p["phase"]["name"].as_str().unwrap_or(""))));
    line("Started", job["startTime"].as_str().map(str::to_string));
    line("Finished", job["endTime"].as_str().map(str::to_string));
    line("Average duration", p["averageDuration"].as_f64().map(|s| format!("{s:.0} s")));
    line("Current duration", p["currentDuration"].as_f64().map(|s| format!("{s:.0} s")));
    line("Error", p["errorMessage"].as_str().map(str::to_string));
    lines.push(String::new());
    lines.push(format!("Job: {}", job["url"].as_str().unwrap_or("")));
    (subject, lines.join("\n") + "\n")
}

/// A flow's `notification` task (`{title, message?, recipients: [{channel, address}]}`), sent
/// from its phase container `phase_job` as Keboola's direct project notification: the webhook
/// receives `{project{id, name}, title, message, flow{id, name, url}, job{id, url}}`. Returns how
/// many recipients it went to and what was wrong with the others: a notification never fails
/// its flow (delivery is in the background anyway).
pub fn flow_notification(state: &AppState, phase_job: &Job, spec: &Value) -> (usize, Vec<String>) {
    let title = spec["title"].as_str().unwrap_or("").to_string();
    let mut problems = Vec::new();
    let listed = spec["recipients"].as_array().cloned().unwrap_or_default();
    if listed.is_empty() {
        problems.push("the task has no recipients".to_string());
    }
    let recipients: Vec<Recipient> = listed
        .iter()
        .filter_map(|r| Recipient::parse(r).map_err(|e| problems.push(e)).ok())
        .collect();
    let flow_job_id = scalar_to_string(phase_job.def("orchestrationJobId")).and_then(|s| s.parse::<i64>().ok()).unwrap_or(phase_job.id);
    let (flow_id, flow_name) = configuration(state, phase_job)
        .or_else(|| phase_job.config.clone().map(|id| (id.clone(), id)))
        .unwrap_or_default();
    let flow_url = format!(
        "{}/branch/{}/components/{}/configs/{flow_id}",
        state.storage_url(),
        phase_job.branch_id,
        phase_job.component
    );
    let job_url = job_url(state, flow_job_id);
    let project_name = project_name(state, phase_job.project_id);
    for r in recipients.iter() {
        let message = match r {
            Recipient::Webhook(_) => spec["message"].as_str().map(|m| json!(m)).unwrap_or(Value::Null),
            Recipient::Email(_) => json!(spec["message"].as_str().unwrap_or("")),
        };
        let payload = json!({
            "project": {"id": phase_job.project_id.to_string(), "name": project_name},
            "title": title,
            "message": message,
            "flow": {"id": flow_id, "name": flow_name, "url": flow_url},
            "job": {"id": flow_job_id.to_string(), "url": job_url},
        });
        let text = format!(
            "{}\n\nProject: {project_name} ({})\nFlow: {flow_name} ({flow_id})\nJob: {job_url}\n",
            spec["message"].as_str().unwrap_or(&title),
            phase_job.project_id
        );
        delivery::send(state, r.clone(), Message { payload, subject: format!("[kbstack] {title}"), text });
    }
    (recipients.len(), problems)
}

/// How often running jobs are compared with their average (a store read per running job that
/// has a subscriber).
const MONITOR_TICK: Duration = Duration::from_secs(2);
/// Successful runs the average duration is taken over.
const AVERAGE_OVER: i64 = 10;

/// The `job-processing-long` check inside `kbstack serve`.
pub fn start_monitor(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let notified: std::sync::Arc<Mutex<HashSet<(i64, i64)>>> = Default::default();
        let mut interval = tokio::time::interval(MONITOR_TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let (st, seen) = (state.clone(), notified.clone());
            match tokio::task::spawn_blocking(move || check_long_running(&st, &seen, now_ms())).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("notification: cannot check long-running jobs: {}", e.message),
                Err(e) => tracing::error!("notification: the long-running check panicked: {e}"),
            }
        }
    });
}

/// Emit `job-processing-long` / `phase-job-processing-long` for running jobs past their average,
/// once per (job, subscription); `notified` forgets jobs that stopped running. Each node checks
/// the jobs it runs itself (what it has notified is in its memory): on a stack of several nodes a
/// job is reported once, not once per node.
pub fn check_long_running(state: &AppState, notified: &Mutex<HashSet<(i64, i64)>>, now: i64) -> ApiResult<()> {
    let running = state.meta.running_queue_jobs()?;
    notified.lock().retain(|(job, _)| running.iter().any(|j| j.id == *job));
    for job in running.iter().filter(|j| j.status == QueueJobStatus::Processing && state.queue.runs_here(j.id)) {
        let (Some(start), Some(config)) = (job.start_ms, job.config.as_ref()) else { continue };
        let event = if job.kind == PHASE_CONTAINER { "phase-job-processing-long" } else { "job-processing-long" };
        let subscriptions = state.meta.subscriptions(ProjectId(job.project_id), Some(event), now)?;
        let fresh: Vec<SubscriptionRecord> = subscriptions.into_iter().filter(|s| !notified.lock().contains(&(job.id, s.id))).collect();
        if fresh.is_empty() {
            continue;
        }
        let Some(average) = average_duration(state, job, config)? else { continue };
        let current = (now - start).max(0) as f64 / 1000.0;
        if current <= average {
            continue;
        }
        let overtime = (current - average) / average;
        let mut head = Map::new();
        head.insert("averageDuration".into(), json!(average));
        head.insert("currentDuration".into(), json!(current));
        head.insert("durationOvertimePercentage".into(), json!(overtime));
        let payload = payload(state, job, head, Some(("uniqueId", json!(job.id.to_string()))));
        let matched: Vec<SubscriptionRecord> = fresh.into_iter().filter(|s| matches(&s.filters, &payload)).collect();
        notified.lock().extend(matched.iter().map(|s| (job.id, s.id)));
        deliver_matching(state, event, &matched, &payload);
    }
    Ok(())
}

/// Mean duration (s) of the last successful runs of the same configuration and job type (the
/// same phase, for a phase container); `None` without history.
fn average_duration(state: &AppState, job: &Job, config: &str) -> ApiResult<Option<f64>> {
    let filter = QueueJobFilter {
        components: vec![job.component.clone()],
        configs: vec![config.to_string()],
        statuses: vec![QueueJobStatus::Success],
        types: vec![job.kind.clone()],
        branch_ids: vec![job.branch_id],
        ..QueueJobFilter::default()
    };
    let page = QueueJobPage { sort: QueueJobSort { field: QueueJobSortField::Id, descending: true }, limit: AVERAGE_OVER * 5, offset: 0 };
    let phase = job.def("orchestrationPhaseId");
    let durations: Vec<f64> = state
        .meta
        .search_queue_jobs(ProjectId(job.project_id), &filter, &page)?
        .into_iter()
        .filter(|j| j.id != job.id && j.def("orchestrationPhaseId") == phase && j.config_row_ids == job.config_row_ids)
        .filter_map(|j| Some((j.end_ms? - j.start_ms?).max(0) as f64 / 1000.0))
        .take(AVERAGE_OVER as usize)
        .collect();
    if durations.is_empty() {
        return Ok(None);
    }
    let average = durations.iter().sum::<f64>() / durations.len() as f64;
    Ok((average > 0.0).then_some(average))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compare_numbers_as_numbers_and_the_rest_as_text() {
        let p = json!({"job": {"component": {"id": "keboola.ex-http"}, "configuration": {"id": "123"}}, "branch": {"id": "5"}, "durationOvertimePercentage": 0.8});
        let f = |field: &str, op: &str, value: Value| json!([{"field": field, "operator": op, "value": value}]);
        assert!(matches(&json!([]), &p));
        assert!(matches(&f("job.component.id", "==", json!("keboola.ex-http")), &p));
        assert!(!matches(&f("job.component.id", "==", json!("other")), &p));
        assert!(matches(&f("job.configuration.id", "==", json!(123)), &p), "a number matches the id string");
        assert!(matches(&f("branch.id", "!=", json!("6")), &p));
        assert!(matches(&f("durationOvertimePercentage", ">=", json!(0.75)), &p));
        assert!(!matches(&f("durationOvertimePercentage", ">=", json!("0.9")), &p));
        assert!(matches(&f("durationOvertimePercentage", "<", json!(1)), &p));
        assert!(!matches(&f("phase.id", "==", json!("1")), &p), "a missing field does not equal");
        assert!(matches(&f("phase.id", "!=", json!("1")), &p), "but differs");
        let both = json!([{"field": "branch.id", "operator": "==", "value": "5"}, {"field": "job.component.id", "operator": "==", "value": "x"}]);
        assert!(!matches(&both, &p), "every filter must hold");
    }
}
