//! Storage jobs: `202` + a job that is readable at once and runs in the background. The request
//! that started it waits briefly so that small jobs come back finished (clients sleep seconds
//! between polls). A restart never leaves a job `waiting` or `processing`.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use crate::http::Query;
use axum::http::StatusCode;
use crate::http::routes::get;
use axum::Json;
use crate::http::Routes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Auth;
use super::wire::job as wire;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, error::new_exception_id, error::public_message, now_iso};
use crate::meta::storage_jobs::{JobStatus, NewStorageJob, StorageJob};

pub fn routes() -> Routes<AppState> {
    Routes::new().route("/v2/storage/jobs", get(list)).route("/v2/storage/jobs/{id}", get(detail))
}

/// Serialises jobs that touch the same object (a table, a bucket): DuckDB would abort one of two
/// concurrent writers, Keboola queues them.
#[derive(Default)]
pub struct JobRunner {
    locks: parking_lot::Mutex<HashMap<String, Arc<parking_lot::Mutex<()>>>>,
}

impl JobRunner {
    fn lock_for(&self, key: &str) -> Arc<parking_lot::Mutex<()>> {
        self.locks.lock().entry(key.to_string()).or_default().clone()
    }
}

/// Run `work` holding the lock `key` (a table's): this node's, and with a store other nodes share
/// (scale-out) the stack-wide one as well, so that a table's creates, loads and deletes run one
/// after another whichever nodes took them. Blocking: call it off the async workers.
pub fn with_lock<T, E: From<ApiError>>(state: &AppState, key: &str, work: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let lock = state.jobs.lock_for(key);
    let _guard = lock.lock();
    if state.meta.sqlite().is_some() {
        return work();
    }
    let mut work = Some(work);
    let mut out = None;
    state
        .meta
        .exclusively(key, &mut || {
            out = work.take().map(|w| w());
            Ok(())
        })
        .map_err(|e| E::from(ApiError::internal(e)))?;
    out.unwrap_or_else(|| Err(E::from(ApiError::internal("the locked work did not run"))))
}

pub struct JobSpec {
    pub operation_name: &'static str,
    pub operation_params: Value,
    pub table_id: Option<String>,
    /// Jobs with the same key run one after another.
    pub lock_key: Option<String>,
}

/// Create a job, run `work` on a blocking thread, and answer 202 with the job as it stands
/// after a short wait.
pub async fn start<F>(state: &AppState, auth: &Auth, spec: JobSpec, work: F) -> ApiResult<(StatusCode, Json<Value>)>
where
    F: FnOnce(&AppState) -> ApiResult<Value> + Send + 'static,
{
    let id = state.meta.insert_storage_job(&NewStorageJob {
        project_id: auth.project_id,
        branch_id: auth.branch_id,
        operation_name: spec.operation_name.to_string(),
        operation_params: spec.operation_params,
        table_id: spec.table_id,
        created: now_iso(),
        run_id: auth.run_id.clone(),
        creator_token_id: auth.token.id,
        creator_description: auth.token.description.clone(),
        node_id: state.node_id.clone(),
    })?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let st = state.clone();
    let lock_key = spec.lock_key.clone();
    tokio::spawn(async move {
        let st2 = st.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let run = || {
                let _ = st2.meta.set_storage_job_processing(id, &now_iso());
                work(&st2)
            };
            match lock_key {
                Some(key) => with_lock(&st2, &key, run),
                None => run(),
            }
        })
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(format!("job panicked: {e}"))));
        finish(&st, id, outcome).await;
        let _ = done_tx.send(());
    });
    let _ = tokio::time::timeout(Duration::from_millis(state.config.job_wait_ms), done_rx).await;
    Ok((StatusCode::ACCEPTED, Json(load_job(state, auth.project_id, id)?)))
}

/// Record the job's end. A job always reaches a final state: when its result cannot be written
/// (too big, disk full), a short error is, and that is retried until it lands.
async fn finish(state: &AppState, id: i64, outcome: ApiResult<Value>) {
    let (status, results, error) = match outcome {
        Ok(results) => (JobStatus::Success, Some(results.to_string()), None),
        Err(e) => {
            let exception_id = new_exception_id();
            let message = public_message(&e.message);
            if e.code.is_server_error() {
                tracing::error!(job = id, exception_id, "job failed: {message}");
            }
            let mut err = json!({"code": e.code.as_str(), "message": message, "exceptionId": exception_id});
            // Details a client reads from results (e.g. missingColumns of csvImport.columnsNotMatch).
            let results = e.context.clone();
            if let Some(ctx) = &e.context {
                err["contextParams"] = ctx.clone();
            }
            (JobStatus::Error, results.map(|r| r.to_string()), Some(err.to_string()))
        }
    };
    let write = || state.meta.finish_storage_job(id, status, results.as_deref(), error.as_deref(), &now_iso());
    // A full disk: give back the space reserve and write the same end once more.
    let res = write().or_else(|e| if state.meta.release_reserve() { write() } else { Err(e) });
    let Err(e) = res else {
        state.meta.reclaim_reserve();
        return;
    };
    tracing::error!(job = id, "cannot record the job's result: {}", e.message);
    let fallback = json!({
        "code": Code::Internal.as_str(),
        "message": "The job finished but its result could not be recorded (the result is too large or the server's disk is full).",
        "exceptionId": new_exception_id(),
    })
    .to_string();
    state.meta.store_until_it_lands(id, || state.meta.finish_storage_job(id, JobStatus::Error, None, Some(&fallback), &now_iso())).await;
}

/// Jobs whose node has no heartbeat since `live_since_ms` (a process that stopped, `crate::node`)
/// end as `error`. The message does not claim nothing changed: a crash between a load's commit
/// and the job's record leaves the new data in place (each load is one transaction, so never a mix).
pub fn end_orphaned(state: &AppState, live_since_ms: i64) -> ApiResult<()> {
    let err = json!({
        "code": "storage.jobs.interrupted",
        "message": "The job was interrupted by a server restart before its result was recorded; \
                    its changes were applied in full or not at all. Check the data before running it again.",
        "exceptionId": new_exception_id(),
    });
    let n = state.meta.fail_orphaned_storage_jobs(live_since_ms, &err.to_string(), &now_iso())?;
    if n > 0 {
        tracing::warn!(jobs = n, "storage jobs of a stopped node ended as error");
    }
    Ok(())
}

fn job_json(state: &AppState, j: &StorageJob) -> Value {
    let wire = wire::StorageJob {
        id: j.id,
        status: j.status.as_str().to_string(),
        url: format!("{}/jobs/{}", state.storage_url(), j.id),
        table_id: j.table_id.clone(),
        operation_name: j.operation_name.clone(),
        operation_params: j.operation_params.clone(),
        created_time: j.created.clone(),
        start_time: j.start_time.clone(),
        end_time: j.end_time.clone(),
        run_id: j.run_id.clone(),
        results: j.results.clone(),
        creator_token: wire::CreatorToken { id: j.creator_token_id.to_string(), description: j.creator_description.clone() },
        metrics: match &j.metrics {
            Value::Null => json!({"inCompressed": false, "inBytes": 0, "inBytesUncompressed": 0,
                                  "outCompressed": false, "outBytes": 0, "outBytesUncompressed": 0}),
            m => m.clone(),
        },
        error: (j.status == JobStatus::Error).then(|| j.error.clone()),
    };
    serde_json::to_value(wire).unwrap_or(Value::Null)
}

pub fn load_job(state: &AppState, project_id: i64, id: i64) -> ApiResult<Value> {
    let job = state.meta.storage_job(project_id, id)?.ok_or_else(|| ApiError::new(Code::JobNotFound, format!("Job {id} not found")))?;
    Ok(job_json(state, &job))
}

/// The job once it reached `success` or `error`, for callers that answer only when the work is
/// done (the Importer). Jobs always reach a final state (`finish`), so this ends.
pub async fn wait_finished(state: &AppState, project_id: i64, id: i64) -> ApiResult<Value> {
    loop {
        let job = load_job(state, project_id, id)?;
        if matches!(job["status"].as_str(), Some("success") | Some("error")) {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A token without `canManageBuckets` sees its own jobs and the jobs of tables in buckets it may
/// read, nothing of buckets it cannot see.
fn visible_to(auth: &Auth, job: &Value) -> bool {
    if auth.can_manage_buckets() || job["creatorToken"]["id"].as_str() == Some(auth.token.id.to_string().as_str()) {
        return true;
    }
    let table = job["tableId"].as_str().unwrap_or("");
    match table.rsplit_once('.') {
        Some((bucket, _)) => auth.bucket_level(bucket).is_some(),
        None => false,
    }
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let not_found = || ApiError::new(Code::JobNotFound, format!("Job {id} not found"));
    let job_id: i64 = id.parse().map_err(|_| not_found())?;
    let job = load_job(&state, auth.project_id, job_id)?;
    if !visible_to(&auth, &job) {
        return Err(not_found());
    }
    Ok(Json(job))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<String>,
    offset: Option<String>,
    storage_job_status: Option<String>,
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    let limit: i64 = q.limit.and_then(|l| l.parse().ok()).unwrap_or(100).clamp(1, 1000);
    let offset: i64 = q.offset.and_then(|l| l.parse().ok()).unwrap_or(0).max(0);
    // Limited tokens: filtered here, so pages are cut after filtering (the visible set is small).
    let limited = !auth.can_manage_buckets();
    let (page_limit, page_offset) = if limited { (None, 0) } else { (Some(limit), offset) };
    let jobs: Vec<Value> = state
        .meta
        .storage_jobs(auth.project_id, q.storage_job_status.as_deref(), page_limit, page_offset)?
        .iter()
        .map(|j| job_json(&state, j))
        .collect();
    let jobs: Vec<Value> = if limited {
        jobs.into_iter().filter(|j| visible_to(&auth, j)).skip(offset as usize).take(limit as usize).collect()
    } else {
        jobs
    };
    Ok(Json(Value::Array(jobs)))
}
