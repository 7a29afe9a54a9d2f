//! The Syrup-era wire shapes: the Syrup queue's job object (notes: services.md §19) made from a
//! Queue job, and the `202 {id, url, status}` answer of every `run`.
use serde::Serialize;
use serde_json::{Value, json};

use crate::queue::iso_ms;
use crate::queue::store::Job;
use kbstack_core::QueueJobStatus;

/// Syrup's statuses: a Queue job that is `created` has not been picked up yet, which Syrup
/// called `waiting` (it had no `created`).
pub fn syrup_status(status: QueueJobStatus) -> &'static str {
    match status {
        QueueJobStatus::Created | QueueJobStatus::Waiting => "waiting",
        other => other.as_str(),
    }
}

/// `202` answer of a run: the job id as a string, its polling URL and `waiting`.
#[derive(Debug, Serialize)]
pub struct Created {
    pub id: String,
    pub url: String,
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
pub struct IdName {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct IdDescription {
    pub id: String,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct Process {
    pub host: String,
    pub pid: i64,
}

/// A Syrup queue job (`GET /queue/job/{id}`, `GET /queue/jobs`, kill).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyrupJob {
    pub id: i64,
    pub run_id: String,
    pub lock_name: String,
    pub project: IdName,
    pub token: IdDescription,
    /// The Syrup component that ran it (`docker` for component jobs).
    pub component: String,
    pub command: String,
    pub params: Value,
    pub result: Value,
    pub status: &'static str,
    pub process: Process,
    pub created_time: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub duration_seconds: Option<i64>,
    pub wait_seconds: Option<i64>,
    pub nesting_level: usize,
    pub encrypted: bool,
    pub error: Option<String>,
    pub error_note: Option<String>,
    pub terminated_by: Value,
    pub usage: Value,
    pub is_finished: bool,
    pub url: String,
}

impl SyrupJob {
    /// `syrup_url` is the Syrup service's base URL.
    pub fn of(job: &Job, syrup_url: &str) -> SyrupJob {
        let syrup_component = match job.def("syrupComponent") {
            Value::String(s) => s.clone(),
            _ => "docker".to_string(),
        };
        let mut params = json!({"component": job.component, "mode": job.mode});
        if let Some(c) = &job.config {
            params["config"] = json!(c);
        }
        if let Some(row) = job.config_row_ids.first() {
            params["row"] = json!(row);
        }
        if let Some(cd) = job.config_data() {
            params["configData"] = cd.clone();
        }
        if let Some(tag) = &job.tag {
            params["tag"] = json!(tag);
        }
        // Jobs of another Syrup component (provisioning) show their own parameters.
        if let Some(own) = job.def("syrupParams").as_object() {
            params = Value::Object(own.clone());
        }
        let lock_target = job.config.clone().unwrap_or_else(|| job.id.to_string());
        let error_kind = job.result["error"]["type"].as_str().map(str::to_string);
        let failed = matches!(job.status, QueueJobStatus::Error);
        let terminated = matches!(job.status, QueueJobStatus::Terminated | QueueJobStatus::Terminating | QueueJobStatus::Cancelled);
        SyrupJob {
            id: job.id,
            run_id: job.run_id.clone(),
            lock_name: format!("{syrup_component}-{}-{}-{lock_target}", job.project_id, job.component),
            project: IdName {
                id: job.project_id,
                name: job.def("projectName").as_str().unwrap_or("kbstack").to_string(),
            },
            token: IdDescription { id: job.token_id.to_string(), description: job.token_description.clone() },
            component: syrup_component,
            command: job.def("syrupCommand").as_str().unwrap_or("run").to_string(),
            params,
            result: match &job.result {
                Value::Null => json!({}),
                r => r.clone(),
            },
            status: syrup_status(job.status),
            process: Process { host: "kbstack".into(), pid: std::process::id() as i64 },
            created_time: iso_ms(job.created_ms),
            start_time: job.start_ms.map(iso_ms),
            end_time: job.end_ms.map(iso_ms),
            duration_seconds: job.start_ms.map(|_| job.duration()),
            wait_seconds: job.start_ms.map(|s| ((s - job.created_ms).max(0)) / 1000),
            nesting_level: job.run_id.matches('.').count(),
            encrypted: true,
            error: if failed { Some(error_kind.unwrap_or_else(|| "application".into())) } else { None },
            error_note: None,
            terminated_by: if terminated {
                json!({"id": job.token_id.to_string(), "description": job.token_description})
            } else {
                json!({})
            },
            usage: match &job.usage_data {
                Value::Null => json!([]),
                u => u.clone(),
            },
            is_finished: job.is_finished(),
            url: format!("{syrup_url}/queue/job/{}", job.id),
        }
    }
}
