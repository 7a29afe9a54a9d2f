//! Queue jobs in the metadata store (`queue_jobs`) and their wire shape.
use rusqlite::OptionalExtension;
use serde_json::{Value, json};

use super::{iso_ms, now_ms};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};

pub const FINISHED: &[&str] = &["success", "warning", "error", "cancelled", "terminated"];
pub const KILLABLE: &[&str] = &["created", "waiting", "processing"];
pub const STATUSES: &[&str] =
    &["created", "waiting", "processing", "success", "warning", "error", "terminating", "cancelled", "terminated"];
pub const TYPES: &[&str] = &["standard", "container", "phaseContainer", "orchestrationContainer", "retryContainer"];

/// A job as stored. `definition` holds what is fixed at creation and not searched on
/// (`configData`, `backend`, `parallelism`, `behavior`, `variableValuesData`, orchestration links…).
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub project_id: i64,
    pub branch_id: i64,
    pub run_id: String,
    pub parent_run_id: String,
    pub token_id: i64,
    pub token_description: String,
    pub token_secret: Option<String>,
    pub component: String,
    pub config: Option<String>,
    pub config_row_ids: Vec<String>,
    pub mode: String,
    pub kind: String,
    pub status: String,
    pub desired_status: String,
    pub tag: Option<String>,
    pub variable_values_id: Option<String>,
    pub lock_key: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub delayed_start_ms: Option<i64>,
    pub duration_seconds: i64,
    pub definition: Value,
    pub result: Value,
    pub usage_data: Value,
    pub metrics: Value,
}

pub const COLUMNS: &str = "id, project_id, branch_id, run_id, parent_run_id, token_id, token_description, token_secret, \
    component, config, config_row_ids, mode, type, status, desired_status, tag, variable_values_id, lock_key, created_ms, \
    updated_ms, start_ms, end_ms, delayed_start_ms, duration_seconds, definition, result, usage_data, metrics";

fn json_text(t: Option<String>) -> Value {
    t.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null)
}

impl Job {
    pub fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Job> {
        Ok(Job {
            id: r.get(0)?,
            project_id: r.get(1)?,
            branch_id: r.get(2)?,
            run_id: r.get(3)?,
            parent_run_id: r.get(4)?,
            token_id: r.get(5)?,
            token_description: r.get(6)?,
            token_secret: r.get(7)?,
            component: r.get(8)?,
            config: r.get(9)?,
            config_row_ids: serde_json::from_str(&r.get::<_, String>(10)?).unwrap_or_default(),
            mode: r.get(11)?,
            kind: r.get(12)?,
            status: r.get(13)?,
            desired_status: r.get(14)?,
            tag: r.get(15)?,
            variable_values_id: r.get(16)?,
            lock_key: r.get(17)?,
            created_ms: r.get(18)?,
            updated_ms: r.get(19)?,
            start_ms: r.get(20)?,
            end_ms: r.get(21)?,
            delayed_start_ms: r.get(22)?,
            duration_seconds: r.get(23)?,
            definition: json_text(r.get(24)?),
            result: json_text(r.get(25)?),
            usage_data: json_text(r.get(26)?),
            metrics: json_text(r.get(27)?),
        })
    }

    pub fn is_finished(&self) -> bool {
        FINISHED.contains(&self.status.as_str())
    }

    pub fn def(&self, key: &str) -> &Value {
        self.definition.get(key).unwrap_or(&Value::Null)
    }

    /// `configData` when the job carries its configuration inline.
    pub fn config_data(&self) -> Option<&Value> {
        match self.def("configData") {
            Value::Null => None,
            v => Some(v),
        }
    }

    /// Processing time only (billable): start → end, or start → now while running.
    pub fn duration(&self) -> i64 {
        match (self.start_ms, self.end_ms) {
            (Some(s), Some(e)) => ((e - s).max(0) + 500) / 1000,
            (Some(s), None) => (now_ms() - s).max(0) / 1000,
            _ => 0,
        }
    }
}

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

/// What a new job is made of (validated by the API or built by a container job).
#[derive(Debug, Clone, Default)]
pub struct NewJob {
    pub project_id: i64,
    pub branch_id: i64,
    pub parent_run_id: Option<String>,
    pub token_id: i64,
    pub token_description: String,
    pub token_secret: String,
    pub component: String,
    pub config: Option<String>,
    pub config_row_ids: Vec<String>,
    pub mode: String,
    pub kind: String,
    pub tag: Option<String>,
    pub variable_values_id: Option<String>,
    pub lock_key: Option<String>,
    pub delayed_start_ms: Option<i64>,
    pub definition: Value,
}

/// Insert a job in `created`; its `runId` is its id under the parent's run.
pub fn insert(state: &AppState, j: &NewJob) -> ApiResult<Job> {
    let now = now_ms();
    // The runner needs the caller's token until the job ends; it is kept sealed, never in clear.
    let sealed_secret = state.secrets.seal(&j.token_secret);
    let job = state.meta.tx(|tx| {
        tx.execute(
            "INSERT INTO queue_jobs (project_id, branch_id, run_id, parent_run_id, token_id, token_description, token_secret, \
             component, config, config_row_ids, mode, type, status, desired_status, tag, variable_values_id, lock_key, \
             created_ms, updated_ms, delayed_start_ms, definition) \
             VALUES (?1, ?2, '', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'created', 'processing', ?12, ?13, ?14, ?15, ?15, ?16, ?17)",
            rusqlite::params![
                j.project_id,
                j.branch_id,
                j.parent_run_id.clone().unwrap_or_default(),
                j.token_id,
                j.token_description,
                sealed_secret,
                j.component,
                j.config,
                json!(j.config_row_ids).to_string(),
                j.mode,
                j.kind,
                j.tag,
                j.variable_values_id,
                j.lock_key,
                now,
                j.delayed_start_ms,
                j.definition.to_string(),
            ],
        )?;
        let id = tx.last_insert_rowid();
        let run_id = match &j.parent_run_id {
            Some(p) if !p.is_empty() => format!("{p}.{id}"),
            _ => id.to_string(),
        };
        tx.execute("UPDATE queue_jobs SET run_id = ?1 WHERE id = ?2", rusqlite::params![run_id, id])?;
        // Read back in the same transaction: the job as created, before a worker can claim it.
        Ok::<_, ApiError>(tx.query_row(&format!("SELECT {COLUMNS} FROM queue_jobs WHERE id = ?1"), [id], Job::from_row)?)
    })?;
    state.queue.wake();
    Ok(job)
}

pub fn load(state: &AppState, id: i64) -> ApiResult<Option<Job>> {
    Ok(state.meta.with(|c| {
        c.query_row(&format!("SELECT {COLUMNS} FROM queue_jobs WHERE id = ?1"), [id], Job::from_row).optional()
    })?)
}

pub fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::QueueJobNotFound, format!("Job \"{id}\" not found"))
}

/// A job of the project (404 otherwise).
pub fn load_for(state: &AppState, project_id: i64, id: &str) -> ApiResult<Job> {
    let n: i64 = id.trim().parse().map_err(|_| not_found(id))?;
    match load(state, n)? {
        Some(j) if j.project_id == project_id => Ok(j),
        _ => Err(not_found(id)),
    }
}

/// Jobs whose run is under `run_id` (children, grandchildren…).
pub fn descendants(state: &AppState, project_id: i64, run_id: &str) -> ApiResult<Vec<Job>> {
    Ok(state.meta.with(|c| {
        let mut st = c.prepare(&format!(
            "SELECT {COLUMNS} FROM queue_jobs WHERE project_id = ?1 AND substr(run_id, 1, length(?2) + 1) = ?2 || '.' ORDER BY id"
        ))?;
        st.query_map(rusqlite::params![project_id, run_id], Job::from_row)?.collect()
    })?)
}

/// Replace the job's result (a running job reports progress; a container its tasks).
pub fn set_result(state: &AppState, id: i64, result: &Value) -> ApiResult<()> {
    state.meta.with(|c| {
        c.execute(
            "UPDATE queue_jobs SET result = ?1, updated_ms = ?2 WHERE id = ?3",
            rusqlite::params![result.to_string(), now_ms(), id],
        )
    })?;
    Ok(())
}

pub fn set_runner_pid(state: &AppState, id: i64, pid: Option<i64>) -> ApiResult<()> {
    state.meta.with(|c| c.execute("UPDATE queue_jobs SET runner_pid = ?1 WHERE id = ?2", rusqlite::params![pid, id]))?;
    Ok(())
}

/// Kill: `desiredStatus: terminating`; a job that never started ends `cancelled` at once, a
/// running one becomes `terminating` until its worker stops it. Children are killed with it.
pub fn kill(state: &AppState, job: &Job) -> ApiResult<Job> {
    if !KILLABLE.contains(&job.status.as_str()) && job.status != "terminating" {
        return Err(ApiError::new(
            Code::QueueJobNotKillable,
            format!("Job \"{}\" is not in one of killable states (created, waiting, processing); it is \"{}\".", job.id, job.status),
        ));
    }
    let now = now_ms();
    let cancelled_result = json!({"message": "Job was cancelled before it started.", "error": {"type": "user", "message": "Job was cancelled before it started."}});
    state.meta.with(|c| {
        c.execute(
            "UPDATE queue_jobs SET desired_status = 'terminating', status = 'cancelled', end_ms = ?1, updated_ms = ?1, \
             token_secret = NULL, result = ?3 WHERE id = ?2 AND status IN ('created', 'waiting')",
            rusqlite::params![now, job.id, cancelled_result.to_string()],
        )?;
        c.execute(
            "UPDATE queue_jobs SET desired_status = 'terminating', status = 'terminating', updated_ms = ?1 \
             WHERE id = ?2 AND status = 'processing'",
            rusqlite::params![now, job.id],
        )
    })?;
    state.queue.cancel(job.id);
    for child in descendants(state, job.project_id, &job.run_id)? {
        if KILLABLE.contains(&child.status.as_str()) {
            let _ = kill(state, &child);
        }
    }
    state.queue.wake();
    load(state, job.id)?.ok_or_else(|| not_found(&job.id.to_string()))
}

/// End the job as `error` with `result` (`terminated` if a kill was asked for), whatever it
/// reported: the fallback when its own outcome cannot be stored.
pub fn end_as_error(state: &AppState, id: i64, result: &Value, now: i64) -> ApiResult<()> {
    state.meta.with(|c| {
        c.execute(
            "UPDATE queue_jobs SET status = CASE WHEN desired_status = 'terminating' THEN 'terminated' ELSE 'error' END, \
             result = ?1, end_ms = ?2, updated_ms = ?2, token_secret = NULL, runner_pid = NULL, \
             duration_seconds = CASE WHEN start_ms IS NULL THEN 0 ELSE (?2 - start_ms + 500) / 1000 END WHERE id = ?3",
            rusqlite::params![result.to_string(), now, id],
        )
    })?;
    Ok(())
}

/// Older data dirs kept queued jobs' tokens in clear: seal them (run once at start).
pub fn seal_plain_secrets(state: &AppState) -> ApiResult<usize> {
    state.meta.tx(|tx| {
        let plain: Vec<(i64, String)> = {
            let mut st = tx.prepare("SELECT id, token_secret FROM queue_jobs WHERE token_secret IS NOT NULL AND token_secret NOT LIKE 'kbstack:v1:%'")?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?
        };
        for (id, secret) in &plain {
            tx.execute("UPDATE queue_jobs SET token_secret = ?1 WHERE id = ?2", rusqlite::params![state.secrets.seal(secret), id])?;
        }
        Ok(plain.len())
    })
}
