//! The Query service (`/query/api/v1`, host `query.<suffix>`; notes: services.md §7, clients.md
//! §4): SQL statements submitted for a Storage workspace run as a job off the request path, in
//! order, on one session of the workspace (`runner`); `transactional` jobs in one transaction.
//! Job and statement states are in the metadata store (`meta::query_jobs`), result rows in files
//! read page by page (`results`). Handlers are in `api`, wire shapes in `wire`; every statement
//! passes `dialect::prepare_statement` before it runs.
pub mod api;
pub mod dialect;
pub mod results;
pub mod runner;
pub mod storage_access;
pub mod wire;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};
use crate::meta::query_jobs::{QueryJob, QueryJobState, QueryStatement, StatementState};
use crate::meta::workspaces::Workspace;
use crate::storage::auth::Auth;

/// Most statements one job may carry.
pub const MAX_STATEMENTS: usize = 100;
/// Largest page of results and of history.
pub const MAX_PAGE_SIZE: i64 = 10_000;
/// Finished jobs removed per sweep (each sweep runs on a submit).
const SWEEP_BATCH: i64 = 100;

/// The service's in-process side: where results go, its limits, the cancel flags of the jobs
/// running now.
pub struct QueryRuntime {
    pub results_dir: PathBuf,
    pub statement_timeout: Duration,
    pub retention: Duration,
    running: Mutex<HashMap<String, Arc<AtomicBool>>>,
}

impl QueryRuntime {
    pub fn new(results_dir: PathBuf, statement_timeout: Duration, retention: Duration) -> QueryRuntime {
        QueryRuntime { results_dir, statement_timeout, retention, running: Mutex::new(HashMap::new()) }
    }

    /// The cancel flag of a job about to run (its runner polls it).
    fn register(&self, job_id: &str) -> Arc<AtomicBool> {
        self.running.lock().entry(job_id.to_string()).or_default().clone()
    }

    fn unregister(&self, job_id: &str) {
        self.running.lock().remove(job_id);
    }

    /// Ask a running job to stop; its runner interrupts the statement within a tick.
    fn signal_cancel(&self, job_id: &str) {
        if let Some(flag) = self.running.lock().get(job_id) {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

/// `POST …/queries`, each field in its one accepted shape.
#[derive(Debug, Clone)]
pub struct SubmitRequest {
    pub statements: Vec<String>,
    pub transactional: bool,
    pub actor_type: String,
    /// The request's own statement timeout (`timeout: "60s"`), at most the configured one.
    pub timeout: Option<Duration>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::validation(message)
}

/// `60s`, `5m`, `1h`, `1500ms` or a number of seconds.
fn parse_timeout(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().ok()?;
    let d = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

impl SubmitRequest {
    pub fn parse(body: &Map<String, Value>) -> ApiResult<SubmitRequest> {
        let statements = match body.get("statements") {
            None | Some(Value::Null) => return Err(invalid("The \"statements\" field is required.")),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) if !s.trim().is_empty() && !s.contains('\0') => Ok(s.clone()),
                    _ => Err(invalid("Each of \"statements\" must be a non-empty SQL string.")),
                })
                .collect::<ApiResult<Vec<String>>>()?,
            Some(_) => return Err(invalid("The \"statements\" field must be an array of SQL strings.")),
        };
        if statements.is_empty() {
            return Err(invalid("The \"statements\" field must hold at least one statement."));
        }
        if statements.len() > MAX_STATEMENTS {
            return Err(invalid(format!("A job holds at most {MAX_STATEMENTS} statements.")));
        }
        let transactional = match body.get("transactional") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("The \"transactional\" field must be a boolean.")),
        };
        let actor_type = match body.get("actorType") {
            None | Some(Value::Null) => "user".to_string(),
            Some(Value::String(s)) if s == "user" || s == "system" => s.clone(),
            Some(_) => return Err(invalid("The \"actorType\" field must be \"user\" or \"system\".")),
        };
        let timeout = match body.get("timeout") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(parse_timeout(s).ok_or_else(|| invalid("The \"timeout\" field must be a duration such as \"60s\"."))?),
            Some(Value::Number(n)) => Some(
                n.as_u64().filter(|n| *n > 0).map(Duration::from_secs).ok_or_else(|| invalid("The \"timeout\" field must be a positive number of seconds."))?,
            ),
            Some(_) => return Err(invalid("The \"timeout\" field must be a duration such as \"60s\".")),
        };
        for (key, want_string) in [("sessionId", true), ("refreshMetadataOnSuccess", false)] {
            match body.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(_)) if want_string => {}
                Some(Value::Bool(_)) if !want_string => {}
                Some(_) => return Err(invalid(format!("The \"{key}\" field has a wrong type."))),
            }
        }
        Ok(SubmitRequest { statements, transactional, actor_type, timeout })
    }
}

/// A timestamp as the service writes them: RFC 3339, UTC, milliseconds, `Z`.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn workspace_not_found(id: &str) -> ApiError {
    ApiError::new(Code::WorkspaceNotFound, format!("Workspace \"{id}\" not found."))
}

/// The workspace a path names, if the token's project owns it in that branch and the token may
/// use it (404 otherwise). The branch is its numeric id, or `default`/`main` for the default one.
pub fn workspace_for(state: &AppState, auth: &Auth, branch: &str, workspace_id: &str) -> ApiResult<Workspace> {
    let branch_id = match branch {
        "default" | "main" => auth.default_branch_id,
        other => {
            let id: i64 = other.trim().parse().map_err(|_| ApiError::new(Code::BranchNotFound, format!("Branch \"{other}\" not found.")))?;
            if !state.meta.branch_exists(auth.project_id, id)? {
                return Err(ApiError::new(Code::BranchNotFound, format!("Branch \"{other}\" not found.")));
            }
            id
        }
    };
    let id: i64 = workspace_id.trim().parse().map_err(|_| workspace_not_found(workspace_id))?;
    match state.meta.workspace(auth.project_id, id)? {
        Some(w) if w.branch_id == branch_id && crate::storage::workspaces::may_see(auth, &w) => Ok(w),
        _ => Err(workspace_not_found(workspace_id)),
    }
}

/// Record the job and start it; returns its id.
pub fn submit(state: &AppState, auth: &Auth, workspace: &Workspace, req: SubmitRequest) -> ApiResult<String> {
    sweep_expired(state);
    let id = uuid::Uuid::new_v4().to_string();
    let created = now();
    let job = QueryJob {
        id: id.clone(),
        project_id: auth.project_id,
        branch_id: workspace.branch_id,
        workspace_id: workspace.id,
        token_id: auth.token.id,
        actor_type: req.actor_type,
        transactional: req.transactional,
        state: QueryJobState::Created,
        created: created.clone(),
        created_ms: chrono::Utc::now().timestamp_millis(),
        changed: created.clone(),
        canceled_at: None,
        cancellation_reason: None,
        node_id: state.node_id.clone(),
        statements: req
            .statements
            .iter()
            .enumerate()
            .map(|(i, q)| QueryStatement {
                id: uuid::Uuid::new_v4().to_string(),
                job_id: id.clone(),
                position: i as i64,
                query: q.clone(),
                state: StatementState::Waiting,
                error: None,
                rows_affected: None,
                number_of_rows: None,
                columns: None,
                created: created.clone(),
                executed_at: None,
                completed_at: None,
            })
            .collect(),
    };
    state.meta.insert_query_job(&job)?;
    let timeout = req.timeout.map_or(state.query.statement_timeout, |t| t.min(state.query.statement_timeout));
    let cancel = state.query.register(&id);
    let st = state.clone();
    let job_id = id.clone();
    // Off the request path, on the blocking pool: the job waits there for its workspace's lock.
    tokio::task::spawn_blocking(move || {
        runner::run(&st, &job_id, &cancel, timeout);
        st.query.unregister(&job_id);
    });
    Ok(id)
}

/// A job of the token's project (404 otherwise, also for another project's).
pub fn job_for(state: &AppState, auth: &Auth, id: &str) -> ApiResult<QueryJob> {
    let not_found = || ApiError::new(Code::QueryJobNotFound, format!("Query job \"{id}\" not found."));
    if id.is_empty() || id.len() > 64 {
        return Err(not_found());
    }
    match state.meta.query_job(id)? {
        Some(job) if job.project_id == auth.project_id => Ok(job),
        _ => Err(not_found()),
    }
}

/// Cancel a job that has not finished; a finished one is a 400.
pub fn cancel(state: &AppState, auth: &Auth, id: &str, reason: &str) -> ApiResult<()> {
    let job = job_for(state, auth, id)?;
    if job.state.is_terminal() || !state.meta.cancel_query_job(&job.id, &now(), reason)? {
        return Err(ApiError::new(Code::QueryJobFinished, format!("Query job \"{id}\" has already finished ({}).", job.state.as_str())));
    }
    state.query.signal_cancel(&job.id);
    Ok(())
}

/// Jobs of a node with no heartbeat since `live_since_ms` (a stopped process, `crate::node`):
/// failed, their statements failed or not executed.
pub fn end_orphaned(state: &AppState, live_since_ms: i64) -> ApiResult<()> {
    for id in state.meta.orphaned_query_jobs(live_since_ms)? {
        let Some(job) = state.meta.query_job(&id)? else { continue };
        let at = now();
        for mut s in job.statements {
            let next = match s.state {
                StatementState::Processing => StatementState::Failed,
                StatementState::Waiting => StatementState::NotExecuted,
                _ => continue,
            };
            if next == StatementState::Failed {
                s.error = Some("The query service restarted while the statement ran.".into());
                s.completed_at = Some(at.clone());
            }
            s.state = next;
            state.meta.update_query_statement(&s)?;
        }
        state.meta.set_query_job_state(&id, QueryJobState::Failed, &at)?;
    }
    Ok(())
}

/// Remove finished jobs older than the retention, with their results (a batch per call).
pub fn sweep_expired(state: &AppState) {
    let cutoff = chrono::Utc::now().timestamp_millis() - state.query.retention.as_millis() as i64;
    let expired = match state.meta.finished_query_jobs_before(cutoff, SWEEP_BATCH) {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!("query job retention: {}", e.message);
            return;
        }
    };
    for id in expired {
        results::remove_job(&state.query.results_dir, &id);
        if let Err(e) = state.meta.delete_query_job(&id) {
            tracing::warn!(job_id = id, "query job retention: {}", e.message);
        }
    }
}

/// Snowflake's result-set type name and length for a DuckDB type (what a Snowflake workspace's
/// clients get).
pub fn snowflake_type(duckdb_type: &str) -> (&'static str, i64) {
    let t = duckdb_type.to_ascii_uppercase();
    let base = t.split('(').next().unwrap_or("").trim();
    match base {
        "TINYINT" | "SMALLINT" | "INTEGER" | "BIGINT" | "HUGEINT" | "UTINYINT" | "USMALLINT" | "UINTEGER" | "UBIGINT" | "DECIMAL" => ("fixed", 0),
        "FLOAT" | "DOUBLE" => ("real", 0),
        "VARCHAR" => ("text", 16_777_216),
        "BOOLEAN" => ("boolean", 0),
        "DATE" => ("date", 0),
        "TIME" => ("time", 0),
        "TIMESTAMP" => ("timestamp_ntz", 0),
        "TIMESTAMP WITH TIME ZONE" => ("timestamp_tz", 0),
        "BLOB" => ("binary", 8_388_608),
        _ => ("variant", 0),
    }
}
