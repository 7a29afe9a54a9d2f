//! The Queue's job object (`POST/GET /queue/jobs…`, `search/jobs`): every key present, ids as
//! strings, PHP's empty-object-as-`[]` where Keboola sends it (notes: services.md §1).
use serde::Serialize;
use serde_json::{Value, json};

use super::iso_ms;
use super::store::Job;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueJob {
    pub id: String,
    pub run_id: String,
    pub parent_run_id: String,
    pub project: ProjectRef,
    pub token: TokenRef,
    pub status: String,
    pub desired_status: String,
    pub mode: String,
    pub component: String,
    pub config: Option<String>,
    pub config_row: Option<String>,
    pub config_data: Value,
    pub config_row_ids: Vec<String>,
    pub tag: Option<String>,
    pub created_time: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub delayed_start_time: Option<String>,
    pub duration_seconds: i64,
    pub result: Value,
    pub usage_data: Value,
    pub is_finished: bool,
    pub url: String,
    pub branch_id: String,
    pub branch_type: Value,
    pub variable_values_id: Option<String>,
    pub variable_values_data: Value,
    pub backend: Value,
    pub executor: Value,
    pub metrics: Value,
    pub behavior: Value,
    pub parallelism: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub orchestration_job_id: Option<String>,
    pub orchestration_task_id: Option<String>,
    pub orchestration_phase_id: Option<String>,
    pub only_orchestration_task_ids: Value,
    pub previous_job_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProjectRef {
    pub id: String,
    pub name: Value,
}

#[derive(Debug, Serialize)]
pub struct TokenRef {
    pub id: String,
    pub description: String,
}

/// PHP serialises an empty map (and a missing one) as `[]`.
fn php_empty(v: &Value) -> Value {
    match v {
        Value::Null => json!([]),
        Value::Object(o) if o.is_empty() => json!([]),
        other => other.clone(),
    }
}

/// A stored id or number, as the string clients compare.
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(crate::http::params::scalar_to_string(other).unwrap_or_default()),
    }
}

impl QueueJob {
    /// The job as clients see it; `jobs_url` is the Queue's `…/jobs` base.
    pub fn of(job: &Job, jobs_url: &str) -> QueueJob {
        let def = &job.definition;
        QueueJob {
            id: job.id.to_string(),
            run_id: job.run_id.clone(),
            parent_run_id: job.parent_run_id.clone(),
            project: ProjectRef { id: job.project_id.to_string(), name: def.get("projectName").cloned().unwrap_or(json!("kbstack")) },
            token: TokenRef { id: job.token_id.to_string(), description: job.token_description.clone() },
            status: job.status.to_string(),
            desired_status: job.desired_status.to_string(),
            mode: job.mode.clone(),
            component: job.component.clone(),
            config: job.config.clone(),
            config_row: job.config_row_ids.first().cloned(),
            config_data: php_empty(def.get("configData").unwrap_or(&Value::Null)),
            config_row_ids: job.config_row_ids.clone(),
            tag: job.tag.clone(),
            created_time: iso_ms(job.created_ms),
            start_time: job.start_ms.map(iso_ms),
            end_time: job.end_ms.map(iso_ms),
            delayed_start_time: job.delayed_start_ms.map(iso_ms),
            duration_seconds: job.duration(),
            result: php_empty(&job.result),
            usage_data: php_empty(&job.usage_data),
            is_finished: job.is_finished(),
            url: format!("{jobs_url}/{}", job.id),
            branch_id: job.branch_id.to_string(),
            branch_type: def.get("branchType").cloned().unwrap_or(json!("default")),
            variable_values_id: job.variable_values_id.clone(),
            variable_values_data: match def.get("variableValuesData") {
                Some(v @ Value::Object(_)) => v.clone(),
                _ => json!({"values": []}),
            },
            backend: match def.get("backend") {
                Some(Value::Object(o)) if !o.is_empty() => Value::Object(o.clone()),
                _ => json!([]),
            },
            executor: def.get("executor").cloned().unwrap_or(json!("dind")),
            metrics: php_empty(&job.metrics),
            behavior: def.get("behavior").cloned().filter(Value::is_object).unwrap_or(json!({"onError": null})),
            parallelism: id_text(def.get("parallelism")),
            kind: job.kind.clone(),
            orchestration_job_id: id_text(def.get("orchestrationJobId")),
            orchestration_task_id: id_text(def.get("orchestrationTaskId")),
            orchestration_phase_id: id_text(def.get("orchestrationPhaseId")),
            only_orchestration_task_ids: def.get("onlyOrchestrationTaskIds").cloned().unwrap_or(Value::Null),
            previous_job_id: id_text(def.get("previousJobId")),
        }
    }
}
