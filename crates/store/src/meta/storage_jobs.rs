//! Storage jobs (`/v2/storage/jobs`) in the metadata store: the record, the repository trait, its
//! SQLite implementation and the conformance suite (`storage_job_store_suite!`).
use crate::meta::Cached;
use rusqlite::OptionalExtension;
use serde_json::Value;

use super::{SqliteMetaStore, json_col};
use kbstack_core::Result as ApiResult;

/// Job states; a job ends `success` or `error`, never stays `waiting`/`processing` past a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Waiting,
    Processing,
    Success,
    Error,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Waiting => "waiting",
            JobStatus::Processing => "processing",
            JobStatus::Success => "success",
            JobStatus::Error => "error",
        }
    }

    fn parse(s: &str) -> JobStatus {
        match s {
            "waiting" => JobStatus::Waiting,
            "processing" => JobStatus::Processing,
            "success" => JobStatus::Success,
            _ => JobStatus::Error,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StorageJob {
    pub id: i64,
    pub project_id: i64,
    pub branch_id: i64,
    pub status: JobStatus,
    pub operation_name: String,
    pub operation_params: Value,
    pub table_id: Option<String>,
    pub results: Value,
    pub error: Value,
    pub created: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub run_id: Option<String>,
    pub creator_token_id: i64,
    pub creator_description: String,
    pub metrics: Value,
}

/// What a new job is made of; it starts `waiting`.
#[derive(Debug, Clone)]
pub struct NewStorageJob {
    pub project_id: i64,
    pub branch_id: i64,
    pub operation_name: String,
    pub operation_params: Value,
    pub table_id: Option<String>,
    pub created: String,
    pub run_id: Option<String>,
    pub creator_token_id: i64,
    pub creator_description: String,
    /// The node that runs it (`nodes.rs`).
    pub node_id: String,
}

pub trait StorageJobStore {
    fn insert_storage_job(&self, job: &NewStorageJob) -> ApiResult<i64>;
    fn set_storage_job_processing(&self, id: i64, start_time: &str) -> ApiResult<()>;
    /// The end of a job: its status, results and error (JSON texts), when. A job that ended
    /// already (a live node ended it for its dead one) keeps its end.
    fn finish_storage_job(&self, id: i64, status: JobStatus, results: Option<&str>, error: Option<&str>, end_time: &str) -> ApiResult<()>;
    /// Every job still `waiting` or `processing` whose node has no heartbeat since
    /// `live_since_ms` ends `error` with `error`; returns how many.
    fn fail_orphaned_storage_jobs(&self, live_since_ms: i64, error: &str, end_time: &str) -> ApiResult<usize>;
    fn storage_job(&self, project_id: i64, id: i64) -> ApiResult<Option<StorageJob>>;
    /// The project's jobs, newest first, optionally of one status; `limit` None: all.
    fn storage_jobs(&self, project_id: i64, status: Option<&str>, limit: Option<i64>, offset: i64) -> ApiResult<Vec<StorageJob>>;
}

const COLUMNS: &str = "id, project_id, branch_id, status, operation_name, operation_params, table_id, results, error, created, \
    start_time, end_time, run_id, creator_token_id, creator_description, metrics";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<StorageJob> {
    Ok(StorageJob {
        id: r.get(0)?,
        project_id: r.get(1)?,
        branch_id: r.get(2)?,
        status: JobStatus::parse(&r.get::<_, String>(3)?),
        operation_name: r.get(4)?,
        operation_params: json_col(r.get(5)?),
        table_id: r.get(6)?,
        results: json_col(r.get(7)?),
        error: json_col(r.get(8)?),
        created: r.get(9)?,
        start_time: r.get(10)?,
        end_time: r.get(11)?,
        run_id: r.get(12)?,
        creator_token_id: r.get(13)?,
        creator_description: r.get(14)?,
        metrics: json_col(r.get(15)?),
    })
}

impl StorageJobStore for SqliteMetaStore {
    fn insert_storage_job(&self, j: &NewStorageJob) -> ApiResult<i64> {
        self.with(|c| {
            c.execute_cached(
                "INSERT INTO jobs (project_id, branch_id, status, operation_name, operation_params, table_id, created, run_id, \
                 creator_token_id, creator_description, node_id) VALUES (?1, ?2, 'waiting', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                rusqlite::params![
                    j.project_id,
                    j.branch_id,
                    j.operation_name,
                    j.operation_params.to_string(),
                    j.table_id,
                    j.created,
                    j.run_id,
                    j.creator_token_id,
                    j.creator_description,
                    j.node_id
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn set_storage_job_processing(&self, id: i64, start_time: &str) -> ApiResult<()> {
        self.with(|c| c.execute_cached("UPDATE jobs SET status = 'processing', start_time = ?1 WHERE id = ?2 AND status = 'waiting'", rusqlite::params![start_time, id]))?;
        Ok(())
    }

    fn finish_storage_job(&self, id: i64, status: JobStatus, results: Option<&str>, error: Option<&str>, end_time: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute_cached(
                "UPDATE jobs SET status = ?1, results = ?2, error = ?3, end_time = ?4 WHERE id = ?5 AND status IN ('waiting', 'processing')",
                rusqlite::params![status.as_str(), results, error, end_time, id],
            )
        })?;
        Ok(())
    }

    fn fail_orphaned_storage_jobs(&self, live_since_ms: i64, error: &str, end_time: &str) -> ApiResult<usize> {
        self.with(|c| {
            c.execute_cached(
                &format!(
                    "UPDATE jobs SET status = 'error', error = ?1, end_time = ?2 WHERE status IN ('waiting', 'processing') AND {}",
                    super::nodes::not_live("node_id", "?3")
                ),
                rusqlite::params![error, end_time, live_since_ms],
            )
        })
    }

    fn storage_job(&self, project_id: i64, id: i64) -> ApiResult<Option<StorageJob>> {
        self.with(|c| c.query_row_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1 AND project_id = ?2"), [id, project_id], from_row).optional())
    }

    fn storage_jobs(&self, project_id: i64, status: Option<&str>, limit: Option<i64>, offset: i64) -> ApiResult<Vec<StorageJob>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE project_id = ?1 AND (?2 IS NULL OR status = ?2) ORDER BY id DESC LIMIT ?3 OFFSET ?4"
            ))?;
            st.query_map(rusqlite::params![project_id, status, limit.unwrap_or(-1), offset], from_row)?.collect()
        })
    }
}

/// The behaviour every `StorageJobStore` must have; `storage_job_store_suite!` runs each check
/// as a named test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::tokens::ProjectStore;

    fn new_job(project_id: i64, table: &str) -> NewStorageJob {
        NewStorageJob {
            project_id,
            branch_id: 1,
            operation_name: "tableImport".into(),
            operation_params: serde_json::json!({"tableId": table}),
            table_id: Some(table.into()),
            created: "2026-01-01T00:00:00+0000".into(),
            run_id: Some("12.34".into()),
            creator_token_id: 3,
            creator_description: "token".into(),
            node_id: "node-a".into(),
        }
    }

    fn projects<S: ProjectStore>(s: &S) {
        s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
        s.ensure_project(2, "two", "2026-01-01T00:00:00+0000").unwrap();
    }

    pub fn lifecycle<S: ProjectStore + StorageJobStore>(s: &S) {
        projects(s);
        let id = s.insert_storage_job(&new_job(1, "in.c-a.t")).unwrap();
        let job = s.storage_job(1, id).unwrap().expect("stored");
        assert_eq!(job.status, JobStatus::Waiting);
        assert_eq!(job.operation_params["tableId"], "in.c-a.t");
        assert_eq!((job.run_id.as_deref(), job.creator_token_id), (Some("12.34"), 3));
        assert_eq!(s.storage_job(2, id).unwrap(), None, "another project's job is not found");

        s.set_storage_job_processing(id, "2026-01-01T00:00:01+0000").unwrap();
        assert_eq!(s.storage_job(1, id).unwrap().unwrap().status, JobStatus::Processing);
        s.finish_storage_job(id, JobStatus::Success, Some(r#"{"importedRowsCount":3}"#), None, "2026-01-01T00:00:02+0000").unwrap();
        let done = s.storage_job(1, id).unwrap().unwrap();
        assert_eq!(done.status, JobStatus::Success);
        assert_eq!(done.results["importedRowsCount"], 3);
        assert_eq!(done.end_time.as_deref(), Some("2026-01-01T00:00:02+0000"));
    }

    pub fn listing_and_restart<S: ProjectStore + StorageJobStore>(s: &S) {
        projects(s);
        let a = s.insert_storage_job(&new_job(1, "in.c-a.t")).unwrap();
        let b = s.insert_storage_job(&new_job(1, "in.c-a.u")).unwrap();
        let other = s.insert_storage_job(&new_job(2, "in.c-b.t")).unwrap();
        s.finish_storage_job(a, JobStatus::Error, None, Some(r#"{"code":"x"}"#), "2026-01-01T00:00:02+0000").unwrap();
        let ids = |jobs: Vec<StorageJob>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
        assert_eq!(ids(s.storage_jobs(1, None, None, 0).unwrap()), vec![b, a], "newest first, one project");
        assert_eq!(ids(s.storage_jobs(1, Some("error"), None, 0).unwrap()), vec![a]);
        assert_eq!(ids(s.storage_jobs(1, None, Some(1), 1).unwrap()), vec![a]);
        assert_eq!(s.fail_orphaned_storage_jobs(i64::MAX, r#"{"code":"interrupted"}"#, "2026-01-01T00:00:03+0000").unwrap(), 2);
        assert_eq!(s.storage_job(1, b).unwrap().unwrap().status, JobStatus::Error);
        assert_eq!(s.storage_job(2, other).unwrap().unwrap().error["code"], "interrupted");
        assert_eq!(s.storage_job(1, a).unwrap().unwrap().error["code"], "x", "finished jobs keep their end");
    }
}

#[macro_export]
macro_rules! storage_job_store_suite {
    ($make:expr) => {
        #[test]
        fn storage_job_store_lifecycle() {
            $crate::meta::storage_jobs::suite::lifecycle(&$make());
        }
        #[test]
        fn storage_job_store_listing_and_restart() {
            $crate::meta::storage_jobs::suite::listing_and_restart(&$make());
        }
    };
}
