//! Queue jobs as the service handles them: created with the caller's token sealed, read within the
//! caller's project, killed with their children; and their wire shape. The jobs themselves are
//! kept by `QueueJobStore` (`meta::queue_jobs`).
use serde_json::{Value, json};

use super::{iso_ms, now_ms};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};
use crate::meta::queue_jobs::QueueJobEnd;
use kbstack_core::QueueJobStatus;

/// The store's records under the names the Queue and the runner know them by.
pub use crate::meta::queue_jobs::{NewQueueJob as NewJob, QueueJob as Job};

pub const TYPES: &[&str] = &["standard", "container", "phaseContainer", "orchestrationContainer", "retryContainer"];

/// PHP serialises empty arrays and objects alike as `[]`; the clients expect that for these keys.
/// The job object: every key present, ids as strings (`queue::wire::QueueJob`).
pub fn job_json(state: &AppState, job: &Job) -> Value {
    let jobs_url = format!("{}/jobs", crate::storage::index::service_url(state, "queue"));
    serde_json::to_value(super::wire::QueueJob::of(job, &jobs_url)).unwrap_or(Value::Null)
}

/// The job object without the request context (flow conditions read child jobs with it).
pub fn job_json_light(job: &Job) -> Value {
    json!({
        "id": job.id.to_string(),
        "runId": job.run_id,
        "status": job.status,
        "component": job.component,
        "config": job.config,
        "result": job.result,
        "durationSeconds": job.duration(),
        "startTime": job.start_ms.map(iso_ms),
        "endTime": job.end_ms.map(iso_ms),
    })
}

/// Insert a job in `created`; its `runId` is its id under the parent's run.
pub fn insert(state: &AppState, j: &NewJob, token_secret: &str) -> ApiResult<Job> {
    // The runner needs the caller's token until the job ends; it is kept sealed, never in clear.
    let job = state.meta.insert_queue_job(j, &state.secrets.seal(token_secret), now_ms())?;
    state.queue.wake();
    Ok(job)
}

pub fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::QueueJobNotFound, format!("Job \"{id}\" not found"))
}

/// A job of the project (404 otherwise).
pub fn load_for(state: &AppState, project_id: i64, id: &str) -> ApiResult<Job> {
    let n: i64 = id.trim().parse().map_err(|_| not_found(id))?;
    state.meta.project_queue_job(project_id.into(), n.into())?.ok_or_else(|| not_found(id))
}

/// Kill: `desiredStatus: terminating`; a job that never started ends `cancelled` at once, a
/// running one becomes `terminating` until its worker stops it. Children are killed with it.
pub fn kill(state: &AppState, job: &Job) -> ApiResult<Job> {
    if !job.status.is_killable() && job.status != QueueJobStatus::Terminating {
        return Err(ApiError::new(
            Code::QueueJobNotKillable,
            format!("Job \"{}\" is not in one of killable states (created, waiting, processing); it is \"{}\".", job.id, job.status),
        ));
    }
    let cancelled_result = json!({"message": "Job was cancelled before it started.", "error": {"type": "user", "message": "Job was cancelled before it started."}});
    state.meta.kill_queue_job(job.id.into(), &cancelled_result, now_ms())?;
    state.queue.cancel(job.id);
    for child in state.meta.queue_job_descendants(job.project_id.into(), &job.run_id)? {
        if child.status.is_killable() {
            let _ = kill(state, &child);
        }
    }
    state.queue.wake();
    state.meta.queue_job(job.id.into())?.ok_or_else(|| not_found(&job.id.to_string()))
}

/// End the job as `error` with `result` (`terminated` if a kill was asked for), whatever it
/// reported: the fallback when its own outcome cannot be stored.
pub fn end_as_error(state: &AppState, id: i64, result: &Value, now: i64) -> kbstack_core::Result<()> {
    let end = QueueJobEnd { status: QueueJobStatus::Error, result, usage: &Value::Null, metrics: &Value::Null };
    state.meta.finish_queue_job(id.into(), &end, result, now)
}
