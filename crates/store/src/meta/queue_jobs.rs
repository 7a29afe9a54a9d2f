//! Queue jobs (`/queue/jobs`) in the metadata store: the record, the repository trait, its SQLite
//! implementation and the conformance suite (`queue_job_store_suite!`). Times are unix
//! milliseconds. The search filter and sort live in `search`, the suite in `suite`.
pub(crate) mod search;
#[doc(hidden)]
pub mod suite;

use crate::meta::Cached;
use std::collections::{HashMap, HashSet};

use rusqlite::OptionalExtension;
use serde_json::{Value, json};

use super::{SqliteMetaStore, json_col};
use crate::secrets::Sealer;
use kbstack_core::ids::{ProjectId, QueueJobId};
use kbstack_core::{QueueJobStatus, Result as ApiResult};

pub use search::{QueueJobFilter, QueueJobPage, QueueJobSort, QueueJobSortField};

/// A job as stored. `definition` holds what is fixed at creation and not searched on
/// (`configData`, `backend`, `parallelism`, `behavior`, `variableValuesData`, orchestration links…).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueJob {
    pub id: i64,
    pub project_id: i64,
    pub branch_id: i64,
    pub run_id: String,
    pub parent_run_id: String,
    pub token_id: i64,
    pub token_description: String,
    /// The creator's token, sealed, until the job ends.
    pub token_secret: Option<String>,
    pub component: String,
    pub config: Option<String>,
    pub config_row_ids: Vec<String>,
    pub mode: String,
    /// `standard`, or a container type (`container`, `phaseContainer`, `orchestrationContainer`…).
    pub kind: String,
    pub status: QueueJobStatus,
    /// `processing`, or `terminating` once a kill was asked for.
    pub desired_status: QueueJobStatus,
    pub tag: Option<String>,
    pub variable_values_id: Option<String>,
    /// Jobs with the same key run one at a time (a configuration, or one of its rows).
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

impl QueueJob {
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
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
            (Some(s), None) => (chrono::Utc::now().timestamp_millis() - s).max(0) / 1000,
            _ => 0,
        }
    }
}

/// What a new job is made of (validated by the Queue API or built by a container job); it starts
/// `created`. The creator's token is passed sealed, beside it.
#[derive(Debug, Clone, Default)]
pub struct NewQueueJob {
    pub project_id: i64,
    pub branch_id: i64,
    pub parent_run_id: Option<String>,
    pub token_id: i64,
    pub token_description: String,
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

/// A job a claim moved to `processing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimedQueueJob {
    pub id: i64,
    /// A container job only coordinates its children and takes no worker slot.
    pub coordinator: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueClaims {
    /// Oldest first.
    pub claimed: Vec<ClaimedQueueJob>,
    /// How long until the next delayed job is due, if one waits.
    pub next_delayed_in_ms: Option<i64>,
}

/// How a run ended, as the runner reports it; a null `usage` or `metrics` is stored as none.
#[derive(Debug, Clone, Copy)]
pub struct QueueJobEnd<'a> {
    pub status: QueueJobStatus,
    pub result: &'a Value,
    pub usage: &'a Value,
    pub metrics: &'a Value,
}

pub trait QueueJobStore {
    /// A new job, `created` with `desiredStatus: processing`; its `runId` is its id under
    /// `parent_run_id`. Returns the job as stored, before any claim can change it.
    fn insert_queue_job(&self, job: &NewQueueJob, sealed_token_secret: &str, now_ms: i64) -> ApiResult<QueueJob>;
    /// A job of any project (the worker and the runner, which know only the id).
    fn queue_job(&self, id: QueueJobId) -> ApiResult<Option<QueueJob>>;
    fn project_queue_job(&self, project: ProjectId, id: QueueJobId) -> ApiResult<Option<QueueJob>>;
    /// The project's jobs whose run is under `run_id` (children, grandchildren…), by id.
    fn queue_job_descendants(&self, project: ProjectId, run_id: &str) -> ApiResult<Vec<QueueJob>>;
    /// The project's jobs matching `filter`, one page of them.
    fn search_queue_jobs(&self, project: ProjectId, filter: &QueueJobFilter, page: &QueueJobPage) -> ApiResult<Vec<QueueJob>>;
    /// Seconds the project's standard jobs ran (containers only wait for theirs).
    fn queue_duration_sum(&self, project: ProjectId) -> ApiResult<i64>;

    /// Move what can run now to `processing` for `runner_id`, in one transaction: `created` and
    /// `waiting` jobs oldest first, not before their delayed start, at most one running job per
    /// lock key (a job kept behind one becomes `waiting`; later jobs of its key stay behind it),
    /// at most `free_slots` standard jobs (coordinators take none). A job is claimed once, however
    /// many claims run at the same time, and at most a project's `components.jobsParallelism`
    /// limit (its `project_details.limits`, else `default_parallelism`; at least 1) of its standard
    /// jobs processing at once — coordinators are not counted, so a container can never starve its
    /// own children; a job held back by the limit becomes `waiting`. `on_claim` sees each claimed
    /// id before the claim commits.
    fn claim_queue_jobs(
        &self,
        runner_id: &str,
        free_slots: usize,
        default_parallelism: usize,
        now_ms: i64,
        on_claim: &mut dyn FnMut(i64),
    ) -> ApiResult<QueueClaims>;
    /// The component process running the job (to kill it after a crash).
    fn set_queue_job_runner_pid(&self, id: QueueJobId, pid: i64) -> ApiResult<()>;
    fn queue_job_runner_pid(&self, id: QueueJobId) -> ApiResult<Option<i64>>;

    /// Kill: `desiredStatus: terminating`; a job not started yet (`created`, `waiting`) ends
    /// `cancelled` with `cancelled_result` and forgets its token, a `processing` one becomes
    /// `terminating`; any other is left as it is.
    fn kill_queue_job(&self, id: QueueJobId, cancelled_result: &Value, now_ms: i64) -> ApiResult<()>;
    /// The end of a run: `end`, or `terminated` with `terminated_result` when a kill was asked
    /// for. The duration is counted from the start, the token and the process are forgotten. Only
    /// a running (`processing`, `terminating`) job ends: one ended already keeps its end.
    fn finish_queue_job(&self, id: QueueJobId, end: &QueueJobEnd, terminated_result: &Value, now_ms: i64) -> ApiResult<()>;
    /// End a running job with `status` and `result` whatever it asked for (the job of a dead
    /// node); false when it was not running any more (another node ended it first).
    fn end_queue_job(&self, id: QueueJobId, status: QueueJobStatus, result: &Value, now_ms: i64) -> ApiResult<bool>;
    /// Jobs of every project still `processing` or `terminating`, by id.
    fn running_queue_jobs(&self) -> ApiResult<Vec<QueueJob>>;
    /// The running jobs whose runner (a node) has no heartbeat since `live_since_ms`, by id.
    fn orphaned_queue_jobs(&self, live_since_ms: i64) -> ApiResult<Vec<QueueJob>>;
    /// Seal the tokens older data dirs kept in clear, in one transaction; returns how many.
    fn seal_plain_queue_token_secrets(&self, sealer: &Sealer) -> ApiResult<usize>;
}

pub(crate) const COLUMNS: &str = "id, project_id, branch_id, run_id, parent_run_id, token_id, token_description, token_secret, \
    component, config, config_row_ids, mode, type, status, desired_status, tag, variable_values_id, lock_key, created_ms, \
    updated_ms, start_ms, end_ms, delayed_start_ms, duration_seconds, definition, result, usage_data, metrics";

fn status_at(r: &rusqlite::Row, idx: usize) -> rusqlite::Result<QueueJobStatus> {
    let text: String = r.get(idx)?;
    QueueJobStatus::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, format!("unknown queue job status \"{text}\"").into())
    })
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<QueueJob> {
    Ok(QueueJob {
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
        status: status_at(r, 13)?,
        desired_status: status_at(r, 14)?,
        tag: r.get(15)?,
        variable_values_id: r.get(16)?,
        lock_key: r.get(17)?,
        created_ms: r.get(18)?,
        updated_ms: r.get(19)?,
        start_ms: r.get(20)?,
        end_ms: r.get(21)?,
        delayed_start_ms: r.get(22)?,
        duration_seconds: r.get(23)?,
        definition: json_col(r.get(24)?),
        result: json_col(r.get(25)?),
        usage_data: json_col(r.get(26)?),
        metrics: json_col(r.get(27)?),
    })
}

pub(crate) fn json_or_null(v: &Value) -> Option<String> {
    if v.is_null() { None } else { Some(v.to_string()) }
}

/// Billable seconds from the start to `?{now}` (0 when the job never started), rounded.
fn duration_sql(now: &str) -> String {
    format!("CASE WHEN start_ms IS NULL THEN 0 ELSE (MAX({now} - start_ms, 0) + 500) / 1000 END")
}

impl QueueJobStore for SqliteMetaStore {
    fn insert_queue_job(&self, j: &NewQueueJob, sealed_token_secret: &str, now_ms: i64) -> ApiResult<QueueJob> {
        self.tx(|tx| {
            tx.execute_cached(
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
                    sealed_token_secret,
                    j.component,
                    j.config,
                    json!(j.config_row_ids).to_string(),
                    j.mode,
                    j.kind,
                    j.tag,
                    j.variable_values_id,
                    j.lock_key,
                    now_ms,
                    j.delayed_start_ms,
                    j.definition.to_string(),
                ],
            )?;
            let id = tx.last_insert_rowid();
            let run_id = match &j.parent_run_id {
                Some(p) if !p.is_empty() => format!("{p}.{id}"),
                _ => id.to_string(),
            };
            tx.execute_cached("UPDATE queue_jobs SET run_id = ?1 WHERE id = ?2", rusqlite::params![run_id, id])?;
            Ok(tx.query_row_cached(&format!("SELECT {COLUMNS} FROM queue_jobs WHERE id = ?1"), [id], from_row)?)
        })
    }

    fn queue_job(&self, id: QueueJobId) -> ApiResult<Option<QueueJob>> {
        self.with(|c| c.query_row_cached(&format!("SELECT {COLUMNS} FROM queue_jobs WHERE id = ?1"), [id.get()], from_row).optional())
    }

    fn project_queue_job(&self, project: ProjectId, id: QueueJobId) -> ApiResult<Option<QueueJob>> {
        self.with(|c| {
            c.query_row_cached(&format!("SELECT {COLUMNS} FROM queue_jobs WHERE id = ?1 AND project_id = ?2"), [id.get(), project.get()], from_row)
                .optional()
        })
    }

    fn queue_job_descendants(&self, project: ProjectId, run_id: &str) -> ApiResult<Vec<QueueJob>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM queue_jobs WHERE project_id = ?1 AND substr(run_id, 1, length(?2) + 1) = ?2 || '.' ORDER BY id"
            ))?;
            st.query_map(rusqlite::params![project.get(), run_id], from_row)?.collect()
        })
    }

    fn search_queue_jobs(&self, project: ProjectId, filter: &QueueJobFilter, page: &QueueJobPage) -> ApiResult<Vec<QueueJob>> {
        let (sql, params) = search::select(search::Dialect::Sqlite, COLUMNS, project, filter, page);
        self.with(|c| {
            let mut st = c.prepare_cached(&sql)?;
            st.query_map(rusqlite::params_from_iter(params.iter()), from_row)?.collect()
        })
    }

    fn queue_duration_sum(&self, project: ProjectId) -> ApiResult<i64> {
        self.with(|c| {
            c.query_row_cached(
                "SELECT COALESCE(SUM(duration_seconds), 0) FROM queue_jobs WHERE project_id = ?1 AND type = 'standard'",
                [project.get()],
                |r| r.get(0),
            )
        })
    }

    fn claim_queue_jobs(
        &self,
        runner_id: &str,
        free_slots: usize,
        default_parallelism: usize,
        now_ms: i64,
        on_claim: &mut dyn FnMut(i64),
    ) -> ApiResult<QueueClaims> {
        self.tx(|tx| {
            // Standard jobs each project has processing now (its jobsParallelism is spent on these).
            let mut running: HashMap<i64, usize> = HashMap::new();
            {
                let mut st = tx.prepare_cached(
                    "SELECT project_id, COUNT(*) FROM queue_jobs WHERE status IN ('processing', 'terminating') AND type = 'standard' \
                     GROUP BY project_id",
                )?;
                for row in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
                    let (project, n) = row?;
                    running.insert(project, n as usize);
                }
            }
            let mut busy: HashSet<String> = HashSet::new();
            {
                let mut st =
                    tx.prepare_cached("SELECT lock_key FROM queue_jobs WHERE status IN ('processing', 'terminating') AND lock_key IS NOT NULL")?;
                for k in st.query_map([], |r| r.get::<_, String>(0))? {
                    busy.insert(k?);
                }
            }
            type Candidate = (i64, String, String, Option<String>, Option<i64>, i64, Option<f64>);
            let candidates: Vec<Candidate> = {
                let mut st = tx.prepare_cached(
                    "SELECT q.id, q.type, q.status, q.lock_key, q.delayed_start_ms, q.project_id, \
                     json_extract(d.limits, '$.\"components.jobsParallelism\".value') \
                     FROM queue_jobs q LEFT JOIN project_details d ON d.project_id = q.project_id \
                     WHERE q.status IN ('created', 'waiting') ORDER BY q.id LIMIT 1000",
                )?;
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6).ok().flatten())))?
                    .collect::<Result<_, _>>()?
            };
            let mut free = free_slots;
            let mut claims = QueueClaims::default();
            for (id, kind, status, lock, delayed, project, limit) in candidates {
                if let Some(at) = delayed.filter(|at| *at > now_ms) {
                    claims.next_delayed_in_ms = Some(claims.next_delayed_in_ms.map_or(at - now_ms, |n| n.min(at - now_ms)));
                    continue;
                }
                if let Some(l) = &lock {
                    if busy.contains(l) {
                        if status == "created" {
                            tx.execute_cached("UPDATE queue_jobs SET status = 'waiting', updated_ms = ?1 WHERE id = ?2", rusqlite::params![now_ms, id])?;
                        }
                        continue;
                    }
                }
                let coordinator = kind != "standard";
                let project_limit = limit.map(|l| l.max(1.0) as usize).unwrap_or(default_parallelism).max(1);
                if !coordinator && running.get(&project).copied().unwrap_or(0) >= project_limit {
                    if status == "created" {
                        tx.execute_cached("UPDATE queue_jobs SET status = 'waiting', updated_ms = ?1 WHERE id = ?2", rusqlite::params![now_ms, id])?;
                    }
                    if let Some(l) = lock {
                        busy.insert(l);
                    }
                    continue;
                }
                if !coordinator && free == 0 {
                    if let Some(l) = lock {
                        // Later jobs of the same key stay behind this one.
                        busy.insert(l);
                    }
                    continue;
                }
                let n = tx.execute_cached(
                    "UPDATE queue_jobs SET status = 'processing', start_ms = ?1, updated_ms = ?1, runner_id = ?2 \
                     WHERE id = ?3 AND status IN ('created', 'waiting')",
                    rusqlite::params![now_ms, runner_id, id],
                )?;
                if n == 0 {
                    continue;
                }
                if let Some(l) = lock {
                    busy.insert(l);
                }
                if !coordinator {
                    free -= 1;
                    *running.entry(project).or_default() += 1;
                }
                on_claim(id);
                claims.claimed.push(ClaimedQueueJob { id, coordinator });
            }
            Ok(claims)
        })
    }

    fn set_queue_job_runner_pid(&self, id: QueueJobId, pid: i64) -> ApiResult<()> {
        self.with(|c| c.execute_cached("UPDATE queue_jobs SET runner_pid = ?1 WHERE id = ?2", [pid, id.get()]))?;
        Ok(())
    }

    fn queue_job_runner_pid(&self, id: QueueJobId) -> ApiResult<Option<i64>> {
        let pid: Option<Option<i64>> =
            self.with(|c| c.query_row_cached("SELECT runner_pid FROM queue_jobs WHERE id = ?1", [id.get()], |r| r.get(0)).optional())?;
        Ok(pid.flatten())
    }

    fn kill_queue_job(&self, id: QueueJobId, cancelled_result: &Value, now_ms: i64) -> ApiResult<()> {
        self.tx(|tx| {
            tx.execute_cached(
                "UPDATE queue_jobs SET desired_status = 'terminating', status = 'cancelled', end_ms = ?1, updated_ms = ?1, \
                 token_secret = NULL, result = ?3 WHERE id = ?2 AND status IN ('created', 'waiting')",
                rusqlite::params![now_ms, id.get(), cancelled_result.to_string()],
            )?;
            tx.execute_cached(
                "UPDATE queue_jobs SET desired_status = 'terminating', status = 'terminating', updated_ms = ?1 \
                 WHERE id = ?2 AND status = 'processing'",
                rusqlite::params![now_ms, id.get()],
            )?;
            Ok(())
        })
    }

    fn finish_queue_job(&self, id: QueueJobId, end: &QueueJobEnd, terminated_result: &Value, now_ms: i64) -> ApiResult<()> {
        let sql = format!(
            "UPDATE queue_jobs SET \
             status = CASE WHEN desired_status = 'terminating' THEN 'terminated' ELSE ?1 END, \
             result = CASE WHEN desired_status = 'terminating' THEN ?2 ELSE ?3 END, \
             usage_data = ?4, metrics = ?5, end_ms = ?6, updated_ms = ?6, duration_seconds = {}, \
             token_secret = NULL, runner_pid = NULL WHERE id = ?7 AND status IN ('processing', 'terminating')",
            duration_sql("?6")
        );
        self.with(|c| {
            c.execute_cached(
                &sql,
                rusqlite::params![
                    end.status.as_str(),
                    terminated_result.to_string(),
                    end.result.to_string(),
                    json_or_null(end.usage),
                    json_or_null(end.metrics),
                    now_ms,
                    id.get()
                ],
            )
        })?;
        Ok(())
    }

    fn end_queue_job(&self, id: QueueJobId, status: QueueJobStatus, result: &Value, now_ms: i64) -> ApiResult<bool> {
        let sql = format!(
            "UPDATE queue_jobs SET status = ?1, result = ?2, end_ms = ?3, updated_ms = ?3, token_secret = NULL, \
             duration_seconds = {}, runner_pid = NULL WHERE id = ?4 AND status IN ('processing', 'terminating')",
            duration_sql("?3")
        );
        Ok(self.with(|c| c.execute_cached(&sql, rusqlite::params![status.as_str(), result.to_string(), now_ms, id.get()]))? > 0)
    }

    fn running_queue_jobs(&self) -> ApiResult<Vec<QueueJob>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM queue_jobs WHERE status IN ('processing', 'terminating') ORDER BY id"))?;
            st.query_map([], from_row)?.collect()
        })
    }

    fn orphaned_queue_jobs(&self, live_since_ms: i64) -> ApiResult<Vec<QueueJob>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM queue_jobs WHERE status IN ('processing', 'terminating') AND {} ORDER BY id",
                super::nodes::not_live("runner_id", "?1")
            ))?;
            st.query_map([live_since_ms], from_row)?.collect()
        })
    }

    fn seal_plain_queue_token_secrets(&self, sealer: &Sealer) -> ApiResult<usize> {
        self.tx(|tx| {
            let stored: Vec<(i64, String)> = {
                let mut st = tx.prepare_cached("SELECT id, token_secret FROM queue_jobs WHERE token_secret IS NOT NULL")?;
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
            };
            let plain: Vec<(i64, String)> = stored.into_iter().filter(|(_, secret)| !Sealer::is_sealed(secret)).collect();
            for (id, secret) in &plain {
                tx.execute_cached("UPDATE queue_jobs SET token_secret = ?1 WHERE id = ?2", rusqlite::params![sealer.seal(secret), id])?;
            }
            Ok(plain.len())
        })
    }
}

/// One named test per check of `suite`, for the store `$make()` returns (a fresh, empty store
/// each call).
#[macro_export]
macro_rules! queue_job_store_suite {
    ($make:expr) => {
        #[test]
        fn queue_job_store_insert_and_read() {
            $crate::meta::queue_jobs::suite::insert_and_read(&$make());
        }
        #[test]
        fn queue_job_store_claims_oldest_first_and_each_job_once() {
            $crate::meta::queue_jobs::suite::claims_oldest_first_and_each_job_once(&$make());
        }
        #[test]
        fn queue_job_store_concurrent_claims_never_share_a_job() {
            $crate::meta::queue_jobs::suite::concurrent_claims_never_share_a_job(&$make());
        }
        #[test]
        fn queue_job_store_one_running_job_per_lock_key() {
            $crate::meta::queue_jobs::suite::one_running_job_per_lock_key(&$make());
        }
        #[test]
        fn queue_job_store_project_parallelism_limit() {
            $crate::meta::queue_jobs::suite::project_parallelism_limit(&$make());
        }
        #[test]
        fn queue_job_store_delayed_jobs_wait_for_their_time() {
            $crate::meta::queue_jobs::suite::delayed_jobs_wait_for_their_time(&$make());
        }
        #[test]
        fn queue_job_store_kill_and_finish() {
            $crate::meta::queue_jobs::suite::kill_and_finish(&$make());
        }
        #[test]
        fn queue_job_store_search_filters_sorts_and_pages() {
            $crate::meta::queue_jobs::suite::search_filters_sorts_and_pages(&$make());
        }
        #[test]
        fn queue_job_store_recovery_after_a_restart() {
            $crate::meta::queue_jobs::suite::recovery_after_a_restart(&$make());
        }
    };
}
