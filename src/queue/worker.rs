//! The worker pool inside `kbstack serve`: a dispatcher claims runnable jobs (oldest first, one per
//! configuration, at most `workers` standard jobs at once; container jobs only coordinate and take
//! no slot), runs each on its own task, and records the outcome. At start-up, jobs a dead process
//! left `processing` end as `error`.
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::OptionalExtension;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::store::{self, COLUMNS, Job};
use super::now_ms;
use crate::app::AppState;
use crate::http::error::new_exception_id;

/// How a run ended, as the runner reports it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `success`, `warning` or `error`.
    pub status: &'static str,
    pub result: Value,
    pub usage: Value,
    pub metrics: Value,
}

impl Outcome {
    pub fn success(result: Value) -> Outcome {
        Outcome { status: "success", result, usage: Value::Null, metrics: Value::Null }
    }

    /// A user error (exit code 1, bad configuration…).
    pub fn user_error(message: impl Into<String>, mut result: Value) -> Outcome {
        let message = message.into();
        if !result.is_object() {
            result = json!({});
        }
        result["message"] = json!(message);
        result["error"] = json!({"type": "user", "message": message, "exceptionId": new_exception_id()});
        Outcome { status: "error", result, usage: Value::Null, metrics: Value::Null }
    }

    /// An application error (a crash, any other exit code).
    pub fn app_error(message: impl Into<String>, mut result: Value) -> Outcome {
        let message = message.into();
        if !result.is_object() {
            result = json!({});
        }
        result["message"] = json!(message);
        result["error"] = json!({"type": "application", "message": message, "exceptionId": new_exception_id()});
        Outcome { status: "error", result, usage: Value::Null, metrics: Value::Null }
    }
}

/// At start-up: a job `processing` or `terminating` belongs to a process that is gone.
pub fn recover(state: &AppState) -> anyhow::Result<()> {
    let stale: Vec<Job> = state
        .meta
        .with(|c| {
            let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM queue_jobs WHERE status IN ('processing', 'terminating') ORDER BY id"))?;
            st.query_map([], Job::from_row)?.collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for job in &stale {
        kill_leftover_process(state, job.id);
        let now = now_ms();
        let (status, result) = if job.status == "terminating" {
            ("terminated", json!({"message": "Job was terminated; the server stopped while terminating it."}))
        } else {
            let message = "The job was interrupted: the kbstack server running it stopped (crash or restart) before the job finished. \
                           Its outputs may be incomplete; run it again.";
            let mut result = if job.result.is_object() { job.result.clone() } else { json!({}) };
            result["message"] = json!(message);
            result["error"] = json!({"type": "application", "message": message, "exceptionId": new_exception_id()});
            ("error", result)
        };
        state
            .meta
            .with(|c| {
                c.execute(
                    "UPDATE queue_jobs SET status = ?1, result = ?2, end_ms = ?3, updated_ms = ?3, token_secret = NULL, \
                     duration_seconds = CASE WHEN start_ms IS NULL THEN 0 ELSE (?3 - start_ms + 500) / 1000 END, runner_pid = NULL \
                     WHERE id = ?4",
                    rusqlite::params![status, result.to_string(), now, job.id],
                )
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // Children a dead container would have waited for are cancelled with it.
        if job.kind != "standard" {
            for child in store::descendants(state, job.project_id, &job.run_id).unwrap_or_default() {
                if child.status == "created" || child.status == "waiting" {
                    let _ = store::kill(state, &child);
                }
            }
        }
        tracing::warn!(job = job.id, status, "queue job of a previous process ended");
    }
    Ok(())
}

/// A component process of a job the dead process ran may still be alive: kill its process group,
/// but only when it is really that job's (its environment names the job).
fn kill_leftover_process(state: &AppState, job_id: i64) {
    let pid: Option<i64> = state
        .meta
        .with(|c| c.query_row("SELECT runner_pid FROM queue_jobs WHERE id = ?1", [job_id], |r| r.get::<_, Option<i64>>(0)).optional())
        .ok()
        .flatten()
        .flatten();
    let Some(pid) = pid else { return };
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
    let mut free = q.workers.saturating_sub(q.busy.load(Ordering::SeqCst));
    let (claimed, next_delayed) = state.meta.tx(|tx| {
        let mut busy: HashSet<String> = HashSet::new();
        {
            let mut st = tx.prepare("SELECT lock_key FROM queue_jobs WHERE status IN ('processing', 'terminating') AND lock_key IS NOT NULL")?;
            for k in st.query_map([], |r| r.get::<_, String>(0))? {
                busy.insert(k?);
            }
        }
        let candidates: Vec<(i64, String, String, Option<String>, Option<i64>)> = {
            let mut st = tx.prepare(
                "SELECT id, type, status, lock_key, delayed_start_ms FROM queue_jobs WHERE status IN ('created', 'waiting') ORDER BY id LIMIT 1000",
            )?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?.collect::<Result<_, _>>()?
        };
        let mut claimed = Vec::new();
        let mut next_delayed: Option<i64> = None;
        for (id, kind, status, lock, delayed) in candidates {
            if let Some(at) = delayed.filter(|at| *at > now) {
                next_delayed = Some(next_delayed.map_or(at - now, |n: i64| n.min(at - now)));
                continue;
            }
            if let Some(l) = &lock {
                if busy.contains(l) {
                    if status == "created" {
                        tx.execute("UPDATE queue_jobs SET status = 'waiting', updated_ms = ?1 WHERE id = ?2", rusqlite::params![now, id])?;
                    }
                    continue;
                }
            }
            let coordinator = kind != "standard";
            if !coordinator && free == 0 {
                if let Some(l) = lock {
                    // Later jobs of the same configuration stay behind this one.
                    busy.insert(l);
                }
                continue;
            }
            let n = tx.execute(
                "UPDATE queue_jobs SET status = 'processing', start_ms = ?1, updated_ms = ?1, runner_id = ?2 \
                 WHERE id = ?3 AND status IN ('created', 'waiting')",
                rusqlite::params![now, q.instance, id],
            )?;
            if n == 0 {
                continue;
            }
            if let Some(l) = lock {
                busy.insert(l);
            }
            if !coordinator {
                free -= 1;
            }
            // Registered before the claim commits: a kill that sees `processing` finds the token.
            q.running.lock().insert(id, CancellationToken::new());
            claimed.push((id, coordinator));
        }
        Ok::<_, crate::http::ApiError>((claimed, next_delayed))
    })?;
    for (id, coordinator) in claimed {
        let Some(cancel) = q.running.lock().get(&id).cloned() else { continue };
        if !coordinator {
            q.busy.fetch_add(1, Ordering::SeqCst);
        }
        let st = state.clone();
        tokio::spawn(async move { run(st, id, coordinator, cancel).await });
    }
    Ok(next_delayed)
}

async fn run(state: AppState, id: i64, coordinator: bool, cancel: CancellationToken) {
    let st = state.clone();
    let c = cancel.clone();
    let outcome = match tokio::spawn(async move {
        match store::load(&st, id) {
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
    if let Err(e) = finish(&state, id, outcome) {
        tracing::error!(job = id, "cannot record the job's outcome: {}", e.message);
        record_failure_until_it_lands(&state, id).await;
    }
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
    crate::meta::store_until_it_lands(id, || store::end_as_error(state, id, &result, now_ms())).await;
}

/// Record the end of a run; a job asked to terminate ends `terminated` whatever it reported.
pub fn finish(state: &AppState, id: i64, outcome: Outcome) -> crate::http::ApiResult<()> {
    let now = now_ms();
    state.meta.tx(|tx| {
        let (desired, start): (String, Option<i64>) =
            tx.query_row("SELECT desired_status, start_ms FROM queue_jobs WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut outcome = outcome;
        redact_messages(&mut outcome.result);
        let (status, result) = if desired == "terminating" {
            let mut r = if outcome.result.is_object() { outcome.result.clone() } else { json!({}) };
            r["message"] = json!("Job was terminated by a user.");
            if let Some(o) = r.as_object_mut() {
                o.remove("error");
            }
            ("terminated", r)
        } else {
            (outcome.status, outcome.result.clone())
        };
        let duration = start.map(|s| ((now - s).max(0) + 500) / 1000).unwrap_or(0);
        let json_or_null = |v: &Value| if v.is_null() { None } else { Some(v.to_string()) };
        tx.execute(
            "UPDATE queue_jobs SET status = ?1, result = ?2, usage_data = ?3, metrics = ?4, end_ms = ?5, updated_ms = ?5, \
             duration_seconds = ?6, token_secret = NULL, runner_pid = NULL WHERE id = ?7",
            rusqlite::params![status, result.to_string(), json_or_null(&outcome.usage), json_or_null(&outcome.metrics), now, duration, id],
        )?;
        Ok(())
    })
}
