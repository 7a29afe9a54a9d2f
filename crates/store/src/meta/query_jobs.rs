//! Query service jobs: SQL statements submitted for one workspace, run in order, each with its
//! state, counts and result columns (the rows are the service's result files). Ids are global
//! strings; reads by id return the job whatever its project, and the service refuses another
//! project's. The trait, its SQLite implementation and the conformance suite
//! (`query_job_store_suite!`).
use rusqlite::OptionalExtension;

use super::SqliteMetaStore;
use kbstack_core::Result as ApiResult;

/// A job's state, as the Query service's clients spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryJobState {
    Created,
    Enqueued,
    Processing,
    Canceled,
    Completed,
    Failed,
}

impl QueryJobState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryJobState::Created => "created",
            QueryJobState::Enqueued => "enqueued",
            QueryJobState::Processing => "processing",
            QueryJobState::Canceled => "canceled",
            QueryJobState::Completed => "completed",
            QueryJobState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<QueryJobState> {
        [Self::Created, Self::Enqueued, Self::Processing, Self::Canceled, Self::Completed, Self::Failed].into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, QueryJobState::Canceled | QueryJobState::Completed | QueryJobState::Failed)
    }
}

/// A statement's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementState {
    Waiting,
    Processing,
    Canceled,
    Completed,
    Failed,
    /// An earlier statement of the job failed (or the job was canceled) before this one ran.
    NotExecuted,
}

impl StatementState {
    pub fn as_str(self) -> &'static str {
        match self {
            StatementState::Waiting => "waiting",
            StatementState::Processing => "processing",
            StatementState::Canceled => "canceled",
            StatementState::Completed => "completed",
            StatementState::Failed => "failed",
            StatementState::NotExecuted => "notExecuted",
        }
    }

    pub fn parse(s: &str) -> Option<StatementState> {
        [Self::Waiting, Self::Processing, Self::Canceled, Self::Completed, Self::Failed, Self::NotExecuted]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryStatement {
    pub id: String,
    pub job_id: String,
    /// Its place in the job, from 0.
    pub position: i64,
    pub query: String,
    pub state: StatementState,
    pub error: Option<String>,
    pub rows_affected: Option<i64>,
    pub number_of_rows: Option<i64>,
    /// The result's columns as JSON (`[{"name","type"}]`), once it ran.
    pub columns: Option<String>,
    pub created: String,
    pub executed_at: Option<String>,
    pub completed_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryJob {
    pub id: String,
    pub project_id: i64,
    pub branch_id: i64,
    pub workspace_id: i64,
    pub token_id: i64,
    /// `user` or `system`.
    pub actor_type: String,
    pub transactional: bool,
    pub state: QueryJobState,
    pub created: String,
    /// `created` in Unix milliseconds (retention).
    pub created_ms: i64,
    pub changed: String,
    pub canceled_at: Option<String>,
    pub cancellation_reason: Option<String>,
    /// The node that runs it (`nodes.rs`); empty for jobs recorded before nodes existed.
    pub node_id: String,
    /// In order.
    pub statements: Vec<QueryStatement>,
}

pub trait QueryJobStore {
    /// Record a job with its statements (their `job_id` is taken from the job).
    fn insert_query_job(&self, job: &QueryJob) -> ApiResult<()>;
    fn query_job(&self, id: &str) -> ApiResult<Option<QueryJob>>;
    /// Move a job that has not finished to `state`; false when it had finished (a cancel came
    /// first) or does not exist.
    fn set_query_job_state(&self, id: &str, state: QueryJobState, changed: &str) -> ApiResult<bool>;
    /// Mark a job that has not finished canceled; false when it had finished or does not exist.
    fn cancel_query_job(&self, id: &str, at: &str, reason: &str) -> ApiResult<bool>;
    /// Write a statement's state, error, counts, columns and times (found by its id).
    fn update_query_statement(&self, statement: &QueryStatement) -> ApiResult<()>;
    /// A workspace's statements, newest first, at most `limit`; with `after_id`, only those
    /// older than that statement.
    fn query_history(&self, project_id: i64, workspace_id: i64, after_id: Option<&str>, limit: i64) -> ApiResult<Vec<QueryStatement>>;
    /// Jobs not finished (to fail after a restart), oldest first.
    fn unfinished_query_jobs(&self) -> ApiResult<Vec<String>>;
    /// Unfinished jobs whose node has no heartbeat since `live_since_ms`, oldest first.
    fn orphaned_query_jobs(&self, live_since_ms: i64) -> ApiResult<Vec<String>>;
    /// Finished jobs created before `created_ms`, oldest first, at most `limit`.
    fn finished_query_jobs_before(&self, created_ms: i64, limit: i64) -> ApiResult<Vec<String>>;
    /// The job and its statements; false when there was none.
    fn delete_query_job(&self, id: &str) -> ApiResult<bool>;
}

pub(crate) const JOB_COLUMNS: &str = "id, project_id, branch_id, workspace_id, token_id, actor_type, transactional, status, created, \
                           created_ms, changed, canceled_at, cancellation_reason, node_id";
pub(crate) const STATEMENT_COLUMNS: &str =
    "id, job_id, position, query, status, error, rows_affected, number_of_rows, columns, created, executed_at, completed_at";
pub(crate) const TERMINAL: &str = "('canceled', 'completed', 'failed')";

fn bad_state(s: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, format!("unknown state {s}").into())
}

fn job_from_row(r: &rusqlite::Row) -> rusqlite::Result<QueryJob> {
    let state: String = r.get(7)?;
    Ok(QueryJob {
        id: r.get(0)?,
        project_id: r.get(1)?,
        branch_id: r.get(2)?,
        workspace_id: r.get(3)?,
        token_id: r.get(4)?,
        actor_type: r.get(5)?,
        transactional: r.get(6)?,
        state: QueryJobState::parse(&state).ok_or_else(|| bad_state(&state))?,
        created: r.get(8)?,
        created_ms: r.get(9)?,
        changed: r.get(10)?,
        canceled_at: r.get(11)?,
        cancellation_reason: r.get(12)?,
        node_id: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
        statements: Vec::new(),
    })
}

fn statement_from_row(r: &rusqlite::Row) -> rusqlite::Result<QueryStatement> {
    let state: String = r.get(4)?;
    Ok(QueryStatement {
        id: r.get(0)?,
        job_id: r.get(1)?,
        position: r.get(2)?,
        query: r.get(3)?,
        state: StatementState::parse(&state).ok_or_else(|| bad_state(&state))?,
        error: r.get(5)?,
        rows_affected: r.get(6)?,
        number_of_rows: r.get(7)?,
        columns: r.get(8)?,
        created: r.get(9)?,
        executed_at: r.get(10)?,
        completed_at: r.get(11)?,
    })
}

impl QueryJobStore for SqliteMetaStore {
    fn insert_query_job(&self, j: &QueryJob) -> ApiResult<()> {
        self.tx(|tx| {
            tx.execute(
                &format!("INSERT INTO query_jobs ({JOB_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
                rusqlite::params![
                    j.id,
                    j.project_id,
                    j.branch_id,
                    j.workspace_id,
                    j.token_id,
                    j.actor_type,
                    j.transactional,
                    j.state.as_str(),
                    j.created,
                    j.created_ms,
                    j.changed,
                    j.canceled_at,
                    j.cancellation_reason,
                    j.node_id,
                ],
            )?;
            let mut st = tx.prepare(
                "INSERT INTO query_statements (id, job_id, project_id, workspace_id, position, query, status, error, rows_affected, \
                 number_of_rows, columns, created, executed_at, completed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for s in &j.statements {
                st.execute(rusqlite::params![
                    s.id,
                    j.id,
                    j.project_id,
                    j.workspace_id,
                    s.position,
                    s.query,
                    s.state.as_str(),
                    s.error,
                    s.rows_affected,
                    s.number_of_rows,
                    s.columns,
                    s.created,
                    s.executed_at,
                    s.completed_at,
                ])?;
            }
            Ok::<(), kbstack_core::Error>(())
        })
    }

    fn query_job(&self, id: &str) -> ApiResult<Option<QueryJob>> {
        self.with(|c| {
            let Some(mut job) = c.query_row(&format!("SELECT {JOB_COLUMNS} FROM query_jobs WHERE id = ?1"), [id], job_from_row).optional()?
            else {
                return Ok(None);
            };
            let mut st = c.prepare_cached(&format!("SELECT {STATEMENT_COLUMNS} FROM query_statements WHERE job_id = ?1 ORDER BY position"))?;
            job.statements = st.query_map([id], statement_from_row)?.collect::<Result<_, _>>()?;
            Ok(Some(job))
        })
    }

    fn set_query_job_state(&self, id: &str, state: QueryJobState, changed: &str) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                &format!("UPDATE query_jobs SET status = ?2, changed = ?3 WHERE id = ?1 AND status NOT IN {TERMINAL}"),
                rusqlite::params![id, state.as_str(), changed],
            )? > 0)
        })
    }

    fn cancel_query_job(&self, id: &str, at: &str, reason: &str) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                &format!(
                    "UPDATE query_jobs SET status = 'canceled', changed = ?2, canceled_at = ?2, cancellation_reason = ?3 \
                     WHERE id = ?1 AND status NOT IN {TERMINAL}"
                ),
                rusqlite::params![id, at, reason],
            )? > 0)
        })
    }

    fn update_query_statement(&self, s: &QueryStatement) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE query_statements SET status = ?2, error = ?3, rows_affected = ?4, number_of_rows = ?5, columns = ?6, \
                 executed_at = ?7, completed_at = ?8 WHERE id = ?1",
                rusqlite::params![s.id, s.state.as_str(), s.error, s.rows_affected, s.number_of_rows, s.columns, s.executed_at, s.completed_at],
            )?;
            Ok(())
        })
    }

    fn query_history(&self, project_id: i64, workspace_id: i64, after_id: Option<&str>, limit: i64) -> ApiResult<Vec<QueryStatement>> {
        self.with(|c| {
            let before: i64 = match after_id {
                None => i64::MAX,
                Some(after) => c
                    .query_row(
                        "SELECT seq FROM query_statements WHERE id = ?1 AND project_id = ?2 AND workspace_id = ?3",
                        rusqlite::params![after, project_id, workspace_id],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(i64::MAX),
            };
            let mut st = c.prepare_cached(&format!(
                "SELECT {STATEMENT_COLUMNS} FROM query_statements WHERE project_id = ?1 AND workspace_id = ?2 AND seq < ?3 \
                 ORDER BY seq DESC LIMIT ?4"
            ))?;
            st.query_map(rusqlite::params![project_id, workspace_id, before, limit], statement_from_row)?.collect()
        })
    }

    fn unfinished_query_jobs(&self) -> ApiResult<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare(&format!("SELECT id FROM query_jobs WHERE status NOT IN {TERMINAL} ORDER BY created_ms, id"))?;
            st.query_map([], |r| r.get(0))?.collect()
        })
    }

    fn orphaned_query_jobs(&self, live_since_ms: i64) -> ApiResult<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT id FROM query_jobs WHERE status NOT IN {TERMINAL} AND {} ORDER BY created_ms, id",
                super::nodes::not_live("node_id", "?1")
            ))?;
            st.query_map([live_since_ms], |r| r.get(0))?.collect()
        })
    }

    fn finished_query_jobs_before(&self, created_ms: i64, limit: i64) -> ApiResult<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT id FROM query_jobs WHERE created_ms < ?1 AND status IN {TERMINAL} ORDER BY created_ms, id LIMIT ?2"
            ))?;
            st.query_map([created_ms, limit], |r| r.get(0))?.collect()
        })
    }

    fn delete_query_job(&self, id: &str) -> ApiResult<bool> {
        self.tx(|tx| {
            tx.execute("DELETE FROM query_statements WHERE job_id = ?1", [id])?;
            Ok::<bool, kbstack_core::Error>(tx.execute("DELETE FROM query_jobs WHERE id = ?1", [id])? > 0)
        })
    }
}

#[doc(hidden)]
pub mod suite {
    use super::*;

    pub fn job(id: &str, project_id: i64, workspace_id: i64, created_ms: i64, queries: &[&str]) -> QueryJob {
        QueryJob {
            id: id.into(),
            project_id,
            branch_id: 10,
            workspace_id,
            token_id: 7,
            actor_type: "user".into(),
            transactional: true,
            state: QueryJobState::Created,
            created: "2026-01-01T00:00:00Z".into(),
            created_ms,
            changed: "2026-01-01T00:00:00Z".into(),
            canceled_at: None,
            cancellation_reason: None,
            node_id: "node-a".into(),
            statements: queries
                .iter()
                .enumerate()
                .map(|(i, q)| QueryStatement {
                    id: format!("{id}-s{i}"),
                    job_id: id.into(),
                    position: i as i64,
                    query: q.to_string(),
                    state: StatementState::Waiting,
                    error: None,
                    rows_affected: None,
                    number_of_rows: None,
                    columns: None,
                    created: "2026-01-01T00:00:00Z".into(),
                    executed_at: None,
                    completed_at: None,
                })
                .collect(),
        }
    }

    pub fn recorded_whole_and_updated<S: QueryJobStore>(s: &S) {
        let new = job("j1", 1, 5, 1000, &["SELECT 1", "SELECT 2"]);
        s.insert_query_job(&new).unwrap();
        assert_eq!(s.query_job("j1").unwrap().expect("recorded"), new);
        assert!(s.query_job("nope").unwrap().is_none());
        let mut done = new.statements[0].clone();
        done.state = StatementState::Completed;
        done.number_of_rows = Some(1);
        done.columns = Some(r#"[{"name":"1","type":"INTEGER"}]"#.into());
        done.executed_at = Some("2026-01-01T00:00:01Z".into());
        done.completed_at = Some("2026-01-01T00:00:02Z".into());
        s.update_query_statement(&done).unwrap();
        assert!(s.set_query_job_state("j1", QueryJobState::Processing, "2026-01-01T00:00:01Z").unwrap());
        let got = s.query_job("j1").unwrap().unwrap();
        assert_eq!((got.state, got.changed.as_str()), (QueryJobState::Processing, "2026-01-01T00:00:01Z"));
        assert_eq!(got.statements[0], done);
        assert_eq!(got.statements[1].state, StatementState::Waiting);
    }

    pub fn finished_jobs_stay_finished<S: QueryJobStore>(s: &S) {
        s.insert_query_job(&job("j1", 1, 5, 1000, &["SELECT 1"])).unwrap();
        assert!(s.cancel_query_job("j1", "2026-01-01T00:00:03Z", "user asked").unwrap());
        // The runner's late "completed" does not overwrite the cancel; a second cancel is refused.
        assert!(!s.set_query_job_state("j1", QueryJobState::Completed, "2026-01-01T00:00:04Z").unwrap());
        assert!(!s.cancel_query_job("j1", "2026-01-01T00:00:05Z", "again").unwrap());
        let got = s.query_job("j1").unwrap().unwrap();
        assert_eq!(got.state, QueryJobState::Canceled);
        assert_eq!((got.canceled_at.as_deref(), got.cancellation_reason.as_deref()), (Some("2026-01-01T00:00:03Z"), Some("user asked")));
        assert!(!s.cancel_query_job("nope", "x", "y").unwrap());
    }

    pub fn history_newest_first_per_workspace<S: QueryJobStore>(s: &S) {
        s.insert_query_job(&job("a", 1, 5, 1000, &["A0", "A1"])).unwrap();
        s.insert_query_job(&job("b", 1, 6, 1000, &["B0"])).unwrap();
        s.insert_query_job(&job("c", 1, 5, 1000, &["C0"])).unwrap();
        s.insert_query_job(&job("d", 2, 5, 1000, &["D0"])).unwrap();
        let queries = |v: Vec<QueryStatement>| v.into_iter().map(|s| s.query).collect::<Vec<_>>();
        assert_eq!(queries(s.query_history(1, 5, None, 10).unwrap()), vec!["C0", "A1", "A0"]);
        assert_eq!(queries(s.query_history(1, 5, None, 2).unwrap()), vec!["C0", "A1"]);
        assert_eq!(queries(s.query_history(1, 5, Some("a-s1"), 10).unwrap()), vec!["A0"]);
        assert_eq!(queries(s.query_history(2, 5, None, 10).unwrap()), vec!["D0"], "another project's apart");
        let first = s.query_history(1, 5, None, 1).unwrap().remove(0);
        assert_eq!(first.job_id, "c");
    }

    pub fn unfinished_and_expired_found_and_deleted<S: QueryJobStore>(s: &S) {
        s.insert_query_job(&job("old", 1, 5, 1000, &["X"])).unwrap();
        s.insert_query_job(&job("running", 1, 5, 1500, &["Y"])).unwrap();
        s.insert_query_job(&job("new", 1, 5, 9000, &["Z"])).unwrap();
        s.set_query_job_state("old", QueryJobState::Completed, "t").unwrap();
        s.set_query_job_state("new", QueryJobState::Failed, "t").unwrap();
        s.set_query_job_state("running", QueryJobState::Processing, "t").unwrap();
        assert_eq!(s.unfinished_query_jobs().unwrap(), vec!["running".to_string()]);
        assert_eq!(s.orphaned_query_jobs(i64::MAX).unwrap(), vec!["running".to_string()], "node-a is not live");
        assert_eq!(s.finished_query_jobs_before(5000, 10).unwrap(), vec!["old".to_string()], "running and new jobs are kept");
        assert!(s.delete_query_job("old").unwrap());
        assert!(!s.delete_query_job("old").unwrap());
        assert!(s.query_job("old").unwrap().is_none());
        assert_eq!(s.query_history(1, 5, None, 10).unwrap().len(), 2, "its statements went with it");
    }
}

#[macro_export]
macro_rules! query_job_store_suite {
    ($make:expr) => {
        #[test]
        fn query_job_store_recorded_whole_and_updated() {
            $crate::meta::query_jobs::suite::recorded_whole_and_updated(&$make());
        }
        #[test]
        fn query_job_store_finished_jobs_stay_finished() {
            $crate::meta::query_jobs::suite::finished_jobs_stay_finished(&$make());
        }
        #[test]
        fn query_job_store_history_newest_first_per_workspace() {
            $crate::meta::query_jobs::suite::history_newest_first_per_workspace(&$make());
        }
        #[test]
        fn query_job_store_unfinished_and_expired_found_and_deleted() {
            $crate::meta::query_jobs::suite::unfinished_and_expired_found_and_deleted(&$make());
        }
    };
}
