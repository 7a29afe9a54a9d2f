//! Storage jobs on PostgreSQL (`StorageJobStore`; see ../storage_jobs.rs).
use super::PgMetaStore;
use crate::meta::json_col;
use crate::meta::storage_jobs::{JobStatus, NewStorageJob, StorageJob, StorageJobStore};
use kbstack_core::Result as ApiResult;

const COLUMNS: &str = "id, project_id, branch_id, status, operation_name, operation_params, table_id, results, error, created, \
    start_time, end_time, run_id, creator_token_id, creator_description, metrics";

fn parse_status(s: &str) -> JobStatus {
    match s {
        "waiting" => JobStatus::Waiting,
        "processing" => JobStatus::Processing,
        "success" => JobStatus::Success,
        _ => JobStatus::Error,
    }
}

fn from_row(r: &postgres::Row) -> Result<StorageJob, postgres::Error> {
    Ok(StorageJob {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        branch_id: r.try_get(2)?,
        status: parse_status(r.try_get(3)?),
        operation_name: r.try_get(4)?,
        operation_params: json_col(r.try_get(5)?),
        table_id: r.try_get(6)?,
        results: json_col(r.try_get(7)?),
        error: json_col(r.try_get(8)?),
        created: r.try_get(9)?,
        start_time: r.try_get(10)?,
        end_time: r.try_get(11)?,
        run_id: r.try_get(12)?,
        creator_token_id: r.try_get(13)?,
        creator_description: r.try_get(14)?,
        metrics: json_col(r.try_get(15)?),
    })
}

impl StorageJobStore for PgMetaStore {
    fn insert_storage_job(&self, j: &NewStorageJob) -> ApiResult<i64> {
        self.with(|c| {
            c.query_one(
                "INSERT INTO jobs (project_id, branch_id, status, operation_name, operation_params, table_id, created, run_id, \
                 creator_token_id, creator_description, node_id) VALUES ($1, $2, 'waiting', $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                &[
                    &j.project_id,
                    &j.branch_id,
                    &j.operation_name,
                    &j.operation_params.to_string(),
                    &j.table_id,
                    &j.created,
                    &j.run_id,
                    &j.creator_token_id,
                    &j.creator_description,
                    &j.node_id,
                ],
            )?
            .try_get(0)
        })
    }

    fn set_storage_job_processing(&self, id: i64, start_time: &str) -> ApiResult<()> {
        self.with(|c| c.execute("UPDATE jobs SET status = 'processing', start_time = $1 WHERE id = $2 AND status = 'waiting'", &[&start_time, &id]))?;
        Ok(())
    }

    fn finish_storage_job(&self, id: i64, status: JobStatus, results: Option<&str>, error: Option<&str>, end_time: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE jobs SET status = $1, results = $2, error = $3, end_time = $4 WHERE id = $5 AND status IN ('waiting', 'processing')",
                &[&status.as_str(), &results, &error, &end_time, &id],
            )
        })?;
        Ok(())
    }

    fn fail_orphaned_storage_jobs(&self, live_since_ms: i64, error: &str, end_time: &str) -> ApiResult<usize> {
        let n = self.with(|c| {
            c.execute(
                &format!(
                    "UPDATE jobs SET status = 'error', error = $1, end_time = $2 WHERE status IN ('waiting', 'processing') AND {}",
                    crate::meta::nodes::not_live("node_id", "$3")
                ),
                &[&error, &end_time, &live_since_ms],
            )
        })?;
        Ok(n as usize)
    }

    fn storage_job(&self, project_id: i64, id: i64) -> ApiResult<Option<StorageJob>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1 AND project_id = $2"), &[&id, &project_id])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn storage_jobs(&self, project_id: i64, status: Option<&str>, limit: Option<i64>, offset: i64) -> ApiResult<Vec<StorageJob>> {
        self.with(|c| {
            // LIMIT NULL is no limit.
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM jobs WHERE project_id = $1 AND ($2::TEXT IS NULL OR status = $2) ORDER BY id DESC LIMIT $3 OFFSET $4"
                ),
                &[&project_id, &status, &limit, &offset],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }
}
