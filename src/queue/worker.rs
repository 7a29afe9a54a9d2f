//! The worker pool inside `kbstack serve`: a dispatcher claims runnable jobs (oldest first, one per
//! configuration, at most `workers` standard jobs at once; container jobs only coordinate and take
//! no slot), runs each on its own task, and records the outcome. At start-up, jobs a dead process
//! left `processing` end as `error`.
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::now_ms;
use super::store;
use crate::app::AppState;
use crate::http::error::new_exception_id;
use crate::meta::queue_jobs::{ClaimedQueueJob, QueueJobEnd};
use kbstack_core::QueueJobStatus;

/// How a run ended, as the runner reports it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `success`, `warning` or `error`.
    pub status: QueueJobStatus,
    pub result: Value,
    pub usage: Value,
    pub metrics: Value,
}

/// A failure of kbstack itself met while running the job: an application error.
impl From<crate::http::ApiError> for Outcome {
    fn from(e: crate::http::ApiError) -> Outcome {
        Outcome::app_error(e.message.clone(), json!({}))
    }
}

impl Outcome {
    pub fn success(result: Value) -> Outcome {
        Outcome { status: QueueJobStatus::Success, result, usage: Value::Null, metrics: Value::Null }
    }

    /// A user error (exit code 1, bad configuration…).
    pub fn user_error(message: impl Into<String>, mut result: Value) -> Outcome {
        let message = message.into();
        if !result.is_object() {
            result = json!({});
        }
        result["message"] = json!(message);
        result["error"] = json!({"type": "user", "message": message, "exceptionId": new_exception_id()});
        Outcome { status: QueueJobStatus::Error, result, usage: Value::Null, metrics: Value::Null }
    }

    /// An application error (a crash, any other exit code).
    pub fn app_error(message: impl Into<String>, mut result: Value) -> Outcome {
        let message = message.into();
        if !result.is_object() {
            result = json!({});
        }
        result["message"] = json!(message);
        result["error"] = json!({"type": "application", "message": message, "exceptionId": new_exception_id()});
        Outcome { status: QueueJobStatus::Error, result, usage: Value::Null, metrics: Value::Null }
    }
}

/// Running jobs whose node has no heartbeat since `live_since_ms` (`crate::node`) end: `error`,
/// or `terminated` when a kill was under way. Each ends once, whichever node gets there first.
pub fn end_orphaned(state: &AppState, live_since_ms: i64) -> crate::http::ApiResult<()> {
    for job in state.meta.orphaned_queue_jobs(live_since_ms)? {
        kill_leftover_process(state, job.id);
        let now = now_ms();
        let (status, result) = if job.status == QueueJobStatus::Terminating {
            (QueueJobStatus::Terminated, json!({"message": "Job was terminated; the server stopped while terminating it."}))
        } else {
            let message = "The job was interrupted: the kbstack server running it stopped (crash or restart) before the job finished. \
                           Its outputs may be incomplete; run it again.";
            let mut result = if job.result.is_object() { job.result.clone() } else { json!({}) };
            result["message"] = json!(message);
            result["error"] = json!({"type": "application", "message": message, "exceptionId": new_exception_id()});
            (QueueJobStatus::Error, result)
        };
        if !state.meta.end_queue_job(job.id.into(), status, &result, now)? {
            continue;
        }
        // Children a dead container would have waited for are cancelled with it.
        if job.kind != "standard" {
            for child in state.meta.queue_job_descendants(job.project_id.into(), &job.run_id).unwrap_or_default() {
                if matches!(child.status, QueueJobStatus::Created | QueueJobStatus::Waiting) {
                    let _ = store::kill(state, &child);
                }
            }
        }
        tracing::warn!(job = job.id, status = status.as_str(), "queue job of a stopped node ended");
        crate::notification::events::job_ended(state, job.id);
    }
    Ok(())
}

/// Jobs this node runs that a kill on another node moved to `terminating`: signal them here.
pub fn cancel_jobs_killed_elsewhere(state: &AppState) -> crate::http::ApiResult<()> {
    let ids: Vec<i64> = state.queue.running.lock().keys().copied().collect();
    for id in ids {
        if let Some(job) = state.meta.queue_job(id.into())? {
            if job.status == QueueJobStatus::Terminating {
                state.queue.cancel(id);
            }
        }
    }
    Ok(())
}

/// A component process of a job the dead process ran may still be alive: kill its process group,
/// but only when it is really that job's (its environment names the job).
fn kill_leftover_process(state: &AppState, job_id: i64) {
    let Some(pid) = state.meta.queue_job_runner_pid(job_id.into()).ok().flatten() else { return };
    let marker = format!("KBSTACK_QUEUE_JOB_ID={job_id}");
    let owned = std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()))
        .unwrap_or(false);
    if owned {
        unsafe {
            libc::kill(-(pid as i32), libc::SIGKILL);
            libc::kill(pid as i32, libc::SIGKILL);
        }
        tracing::warn!(job = job_id, pid, "killed the leftover process of an interrupted job");
    }
}

pub async fn dispatcher(state: AppState) {
    loop {
        let delay = match dispatch_once(&state) {
            Ok(next_delayed) => next_delayed,
            Err(e) => {
                tracing::error!("queue dispatcher: {e}");
                None
            }
        };
        let wait = delay.map(|ms| Duration::from_millis(ms.clamp(5, 1000) as u64)).unwrap_or(Duration::from_millis(1000));
        let _ = tokio::time::timeout(wait, state.queue.notify.notified()).await;
    }
}

/// Claim what can run now and start it. Returns how long until the next delayed job is due.
fn dispatch_once(state: &AppState) -> crate::http::ApiResult<Option<i64>> {
    let q = &state.queue;
    let now = now_ms();
    let free = q.workers.saturating_sub(q.busy.load(Ordering::SeqCst));
    let parallelism = crate::manage::limit_value(None, "components.jobsParallelism").unwrap_or(10.0) as usize;
    let claims = state.meta.claim_queue_jobs(&q.instance, free, parallelism, now, &mut |id| {
        // Registered before the claim commits: a kill that sees `processing` finds the token.
        q.running.lock().insert(id, CancellationToken::new());
    })?;
    for ClaimedQueueJob { id, coordinator } in claims.claimed {
        let Some(cancel) = q.running.lock().get(&id).cloned() else { continue };
        if !coordinator {
            q.busy.fetch_add(1, Ordering::SeqCst);
        }
        let st = state.clone();
        tokio::spawn(async move { run(st, id, coordinator, cancel).await });
    }
    Ok(claims.next_delayed_in_ms)
}

async fn run(state: AppState, id: i64, coordinator: bool, cancel: CancellationToken) {
    let st = state.clone();
    let c = cancel.clone();
    let outcome = match tokio::spawn(async move {
        match st.meta.queue_job(id.into()) {
            Ok(Some(job)) => crate::runner::run(&st, &job, c).await,
            Ok(None) => Outcome::app_error("Job vanished from the queue.", json!({})),
            Err(e) => Outcome::app_error(format!("Cannot load the job: {}", e.message), json!({})),
        }
    })
    .await
    {
        Ok(o) => o,
        Err(e) => Outcome::app_error(format!("The job runner crashed: {e}"), json!({})),
    };
    let recorded = finish(&state, id, outcome.clone()).or_else(|e| {
        // A full disk: give back the space reserve and write the same outcome once more.
        if state.meta.release_reserve() { finish(&state, id, outcome) } else { Err(e) }
    });
    match recorded {
        Ok(()) => state.meta.reclaim_reserve(),
        Err(e) => {
            tracing::error!(job = id, "cannot record the job's outcome: {}", e.message);
            record_failure_until_it_lands(&state, id).await;
        }
    }
    // Subscriptions hear of the end in the background (`job-failed`, `job-succeeded`…).
    crate::notification::events::job_ended(&state, id);
    state.queue.running.lock().remove(&id);
    if !coordinator {
        state.queue.busy.fetch_sub(1, Ordering::SeqCst);
    }
    state.queue.wake();
}

/// Job messages are shown to clients: without server paths, bounded in size.
fn redact_messages(result: &mut Value) {
    for pointer in ["/message", "/error/message"] {
        if let Some(Value::String(m)) = result.pointer_mut(pointer) {
            *m = crate::http::error::public_message(m);
        }
    }
}

/// A job always reaches a final state: when its outcome cannot be written (a result too big, a
/// full disk), a short error is, retried until the store takes it.
async fn record_failure_until_it_lands(state: &AppState, id: i64) {
    let message = "The job finished but its result could not be recorded (the result is too large or the server's disk is full).";
    let result = json!({"message": message, "error": {"type": "application", "message": message, "exceptionId": new_exception_id()}});
    state.meta.store_until_it_lands(id, || store::end_as_error(state, id, &result, now_ms())).await;
}

/// Record the end of a run; a job asked to terminate ends `terminated` whatever it reported.
pub fn finish(state: &AppState, id: i64, outcome: Outcome) -> crate::http::ApiResult<()> {
    let mut outcome = outcome;
    redact_messages(&mut outcome.result);
    let mut terminated = if outcome.result.is_object() { outcome.result.clone() } else { json!({}) };
    terminated["message"] = json!("Job was terminated by a user.");
    if let Some(o) = terminated.as_object_mut() {
        o.remove("error");
    }
    let end = QueueJobEnd { status: outcome.status, result: &outcome.result, usage: &outcome.usage, metrics: &outcome.metrics };
    state.meta.finish_queue_job(id.into(), &end, &terminated, now_ms())?;
    charge_credits(state, id);
    Ok(())
}

/// A pay-as-you-go project pays for the job it ran (once: the charge carries the job id). A
/// failed charge is logged, never turned into a failure of the job.
fn charge_credits(state: &AppState, id: i64) {
    let charged = state.meta.queue_job(id.into()).map_err(crate::http::ApiError::from).and_then(|job| match job {
        Some(job) => crate::billing::charge_finished_job(state, &job),
        None => Ok(None),
    });
    match charged {
        Ok(Some(credits)) => tracing::info!(job = id, credits, "pay-as-you-go credits charged"),
        Ok(None) => {}
        Err(e) => tracing::error!(job = id, "cannot charge the job's credits: {}", e.message),
    }
}
