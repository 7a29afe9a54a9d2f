//! The Orchestration and Job objects of Orchestrator v2 (the blueprint's models): integer ids,
//! times as ISO 8601 with the offset (`2013-03-02T11:11:24+01:00`), `uri` the resource's URL.
use serde::Serialize;
use serde_json::{Value, json};

use super::{Orchestration as Stored, jobs};
use crate::app::AppState;
use crate::queue::store::Job as QueueJob;
use crate::queue::{iso_ms, now_ms};
use crate::runner::registry::ORCHESTRATOR;
use crate::scheduler::cron::CronSpec;
use crate::storage::auth::Auth;
use kbstack_core::ids::ScheduleId;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Orchestration {
    pub id: i64,
    pub name: String,
    pub crontab_record: Option<String>,
    pub created_time: String,
    pub last_scheduled_time: Option<String>,
    pub next_scheduled_time: Option<String>,
    pub active: bool,
    pub token: Value,
    pub uri: String,
    /// The Storage configuration it is (`keboola.orchestrator`), as the PHP client's tests read.
    pub configuration_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<Value>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: i64,
    pub orchestration_id: i64,
    pub created_time: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub status: String,
    pub initialized_by: String,
    pub token: Value,
    pub initiator_token: Value,
    pub results: Value,
    pub notifications_emails: Vec<String>,
    pub tasks: Vec<Value>,
    pub run_id: Value,
    pub uri: String,
}

/// `https://syrup.<stack>/orchestrator`.
pub fn base_url(state: &AppState) -> String {
    format!("{}/orchestrator", crate::storage::index::service_url(state, "syrup"))
}

/// Storage's `2026-01-10T12:00:00+0000` as `2026-01-10T12:00:00+00:00`.
fn iso(t: &str) -> String {
    chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(t))
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// The token shown without its secret.
fn token_of(o: &Stored) -> Value {
    json!({"id": o.v2()["token"]["id"], "description": o.v2()["token"]["description"]})
}

impl Orchestration {
    /// `detail`: with notifications and tasks (the collection leaves them out, as the blueprint).
    pub fn of(state: &AppState, auth: &Auth, o: &Stored, detail: bool) -> Orchestration {
        let crontab = o.crontab();
        // The crontab's next time, as Orchestrator v2 showed it also for an inactive one.
        let next = crontab
            .as_deref()
            .and_then(|c| CronSpec::parse(c, "UTC").ok())
            .and_then(|spec| spec.next_after(now_ms()))
            .map(iso_ms);
        Orchestration {
            id: o.id.parse().unwrap_or(0),
            name: o.name(),
            crontab_record: crontab,
            created_time: iso(o.body["created"].as_str().unwrap_or("")),
            last_scheduled_time: last_scheduled(state, auth, o),
            next_scheduled_time: next,
            active: o.active(),
            token: token_of(o),
            uri: format!("{}/orchestrations/{}", base_url(state), o.id),
            configuration_id: o.id.clone(),
            notifications: detail.then(|| o.notifications()),
            tasks: detail.then(|| o.tasks()),
        }
    }
}

/// When its schedule last created a job.
fn last_scheduled(state: &AppState, auth: &Auth, o: &Stored) -> Option<String> {
    let record = crate::scheduler::schedules::list(state, auth, Some((ORCHESTRATOR, &o.id))).ok()?.into_iter().next()?;
    let executions = state.meta.schedule_executions(ScheduleId(record.id)).ok()?;
    executions.iter().map(|e| e.execution_ms).max().map(iso_ms)
}

impl Job {
    pub fn of(state: &AppState, job: &QueueJob, o: &Stored) -> Job {
        let v2 = job.def("orchestratorV2");
        let by_v2 = v2.is_object();
        let job_token = json!({"id": job.token_id, "description": job.token_description});
        let results = if job.result.is_object() && job.is_finished() {
            json!({"message": job.result["message"], "tasks": job.result["tasks"], "phases": job.result["phases"]})
        } else {
            Value::Null
        };
        let tasks = match v2["tasks"].as_array() {
            Some(t) => t.clone(),
            None => o.tasks(),
        };
        Job {
            id: job.id,
            orchestration_id: o.id.parse().unwrap_or(0),
            created_time: iso_ms(job.created_ms),
            start_time: job.start_ms.map(iso_ms),
            end_time: job.end_ms.map(iso_ms),
            status: jobs::status(job).to_string(),
            // A job the Scheduler created carries its token; any other was asked for.
            initialized_by: if !by_v2 && job.token_description == crate::scheduler::schedules::TOKEN_DESCRIPTION { "scheduler" } else { "manually" }.to_string(),
            token: token_of(o),
            initiator_token: if by_v2 { v2["initiatorToken"].clone() } else { json!({"id": job.token_id, "description": job.token_description, "userAgent": ""}) },
            results,
            notifications_emails: v2["notificationsEmails"].as_array().map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_string)).collect()).unwrap_or_default(),
            tasks,
            run_id: job.run_id.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(job.run_id)),
            uri: format!("{}/jobs/{}", base_url(state), job.id),
        }
        .with_token_fallback(job_token)
    }

    fn with_token_fallback(mut self, job_token: Value) -> Job {
        if self.token["id"].is_null() {
            self.token = job_token;
        }
        self
    }
}
