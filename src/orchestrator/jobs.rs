//! Orchestration jobs: Queue jobs of the orchestration's `keboola.orchestrator` configuration
//! (the ids are the Queue's), created with the orchestration's token as `POST /queue/jobs`
//! would (`queue::jobs`), and read back in the v2 shape. What only v2 knows about a job (who
//! asked for it, its notification emails, the tasks it ran) sits in the job's definition.
use serde_json::{Value, json};

use super::{Orchestration, definition};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult};
use crate::meta::queue_jobs::{QueueJobFilter, QueueJobPage, QueueJobSort, QueueJobSortField};
use crate::queue::jobs::{self as queue_jobs, JobRequest};
use crate::queue::store::{self, Job};
use crate::runner::registry::ORCHESTRATOR;
use crate::storage::auth::Auth;
use kbstack_core::QueueJobStatus;
use kbstack_core::ids::ProjectId;

/// The v2 status of a Queue job.
pub fn status(job: &Job) -> &'static str {
    if job.desired_status == QueueJobStatus::Terminating {
        return "cancelled";
    }
    match job.status {
        QueueJobStatus::Created | QueueJobStatus::Waiting => "waiting",
        QueueJobStatus::Processing => "processing",
        QueueJobStatus::Success => "success",
        QueueJobStatus::Warning => "warning",
        QueueJobStatus::Error => "error",
        _ => "cancelled",
    }
}

/// Run the orchestration now: `tasks` (all of them, in order) may switch tasks off for this run.
pub fn run(state: &AppState, auth: &Auth, o: &Orchestration, emails: Vec<String>, tasks: Option<&Value>, user_agent: &str) -> ApiResult<Job> {
    let run_auth = super::run_auth(state, auth, o)?;
    let mut stored = o.tasks();
    if let Some(given) = tasks.filter(|t| !t.is_null()) {
        let given = definition::tasks(given).map_err(ApiError::validation)?;
        if given.len() != stored.len() {
            return Err(ApiError::validation(format!(
                "Invalid request:\n - tasks: the job's tasks must be all {} tasks of the orchestration, in order.",
                stored.len()
            )));
        }
        for (s, g) in stored.iter_mut().zip(&given) {
            s["active"] = g["active"].clone();
        }
    }
    for (i, e) in emails.iter().enumerate() {
        crate::notification::valid_email(e).map_err(|_| ApiError::validation(format!("Invalid request:\n - notificationsEmails[{i}]: \"{e}\" is not a valid email address.")))?;
    }
    let only: Vec<Value> = stored.iter().filter(|t| t["active"] != json!(false)).map(|t| json!(t["id"].to_string())).collect();
    let request = JobRequest {
        component: ORCHESTRATOR.into(),
        mode: "run".into(),
        config: Some(o.id.clone()),
        only_orchestration_task_ids: tasks.filter(|t| !t.is_null()).map(|_| json!(only)),
        ..JobRequest::default()
    };
    let mut new = queue_jobs::build(state, &run_auth, request)?;
    new.definition["orchestratorV2"] = json!({
        "initializedBy": "manually",
        "initiatorToken": {"id": auth.token.id, "description": auth.token.description, "userAgent": user_agent},
        "notificationsEmails": emails,
        "tasks": stored,
    });
    let job = store::insert(state, &new, &run_auth.secret)?;
    // A failing job emails `notificationsEmails` through a subscription of this job's failure.
    for email in &emails {
        let body = json!({
            "event": "job-failed",
            "filters": [{"field": "job.id", "value": job.id.to_string()}],
            "recipient": {"channel": "email", "address": email},
            "expiresAt": "+30 days",
        });
        crate::notification::create(state, auth, body.as_object().unwrap_or(&serde_json::Map::new()))?;
    }
    Ok(job)
}

/// The orchestration's jobs, newest first, and how many there are.
pub fn list(state: &AppState, auth: &Auth, o: &Orchestration, limit: i64, offset: i64) -> ApiResult<(Vec<Job>, usize)> {
    let filter = QueueJobFilter {
        components: vec![ORCHESTRATOR.into()],
        configs: vec![o.id.clone()],
        types: vec!["orchestrationContainer".into()],
        branch_ids: vec![auth.branch_id],
        ..QueueJobFilter::default()
    };
    let all = QueueJobPage { sort: QueueJobSort { field: QueueJobSortField::Id, descending: true }, limit: 100_000, offset: 0 };
    let jobs = state.meta.search_queue_jobs(ProjectId(auth.project_id), &filter, &all)?;
    let total = jobs.len();
    Ok((jobs.into_iter().skip(offset.max(0) as usize).take(limit.clamp(0, 1000) as usize).collect(), total))
}

/// A job of an orchestration of the caller's project (404 otherwise).
pub fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<(Job, Orchestration)> {
    let job = store::load_for(state, auth.project_id, id)?;
    if job.component != ORCHESTRATOR || job.kind != "orchestrationContainer" {
        return Err(store::not_found(id));
    }
    let o = super::load(state, auth, job.config.as_deref().unwrap_or("")).map_err(|_| store::not_found(id))?;
    Ok((job, o))
}

/// `DELETE /jobs/{id}`: only a job that has not started yet can be cancelled.
pub fn cancel(state: &AppState, auth: &Auth, id: &str) -> ApiResult<()> {
    let (job, _) = load(state, auth, id)?;
    if !matches!(job.status, QueueJobStatus::Created | QueueJobStatus::Waiting) {
        return Err(ApiError::validation(format!("Job {id} is not waiting (it is \"{}\"); only waiting jobs can be cancelled.", status(&job))));
    }
    store::kill(state, &job)?;
    Ok(())
}
