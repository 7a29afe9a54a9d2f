//! Query service jobs on PostgreSQL (`QueryJobStore`; see ../query_jobs.rs). A workspace's
//! history pages by `query_statements.seq`, the insertion order, as on SQLite.
use super::{PgMetaStore, flag};
use crate::meta::query_jobs::{JOB_COLUMNS, QueryJob, QueryJobState, QueryJobStore, QueryStatement, STATEMENT_COLUMNS, StatementState, TERMINAL};
use kbstack_core::{Error as ApiError, Result as ApiResult};

fn bad_state(s: &str) -> ApiError {
    ApiError::internal(format!("unknown query job or statement state \"{s}\""))
}

fn job_from_row(r: &postgres::Row) -> ApiResult<QueryJob> {
    let state: String = r.try_get(7)?;
    Ok(QueryJob {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        branch_id: r.try_get(2)?,
        workspace_id: r.try_get(3)?,
        token_id: r.try_get(4)?,
        actor_type: r.try_get(5)?,
        transactional: flag(r, 6)?,
        state: QueryJobState::parse(&state).ok_or_else(|| bad_state(&state))?,
        created: r.try_get(8)?,
        created_ms: r.try_get(9)?,
        changed: r.try_get(10)?,
        canceled_at: r.try_get(11)?,
        cancellation_reason: r.try_get(12)?,
        node_id: r.try_get::<_, Option<String>>(13)?.unwrap_or_default(),
        statements: Vec::new(),
    })
}

fn statement_from_row(r: &postgres::Row) -> ApiResult<QueryStatement> {
    let state: String = r.try_get(4)?;
    Ok(QueryStatement {
        id: r.try_get(0)?,
        job_id: r.try_get(1)?,
        position: r.try_get(2)?,
        query: r.try_get(3)?,
        state: StatementState::parse(&state).ok_or_else(|| bad_state(&state))?,
        error: r.try_get(5)?,
        rows_affected: r.try_get(6)?,
        number_of_rows: r.try_get(7)?,
        columns: r.try_get(8)?,
        created: r.try_get(9)?,
        executed_at: r.try_get(10)?,
        completed_at: r.try_get(11)?,
    })
}

impl QueryJobStore for PgMetaStore {
    fn insert_query_job(&self, j: &QueryJob) -> ApiResult<()> {
        self.tx(|tx| {
            tx.execute(
                &format!("INSERT INTO query_jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"),
                &[
                    &j.id,
                    &j.project_id,
                    &j.branch_id,
                    &j.workspace_id,
                    &j.token_id,
                    &j.actor_type,
                    &(j.transactional as i64),
                    &j.state.as_str(),
                    &j.created,
                    &j.created_ms,
                    &j.changed,
                    &j.canceled_at,
                    &j.cancellation_reason,
                    &j.node_id,
                ],
            )?;
            let st = tx.prepare(
                "INSERT INTO query_statements (id, job_id, project_id, workspace_id, position, query, status, error, rows_affected, \
                 number_of_rows, columns, created, executed_at, completed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )?;
            for s in &j.statements {
                tx.execute(
                    &st,
                    &[
                        &s.id,
                        &j.id,
                        &j.project_id,
                        &j.workspace_id,
                        &s.position,
                        &s.query,
                        &s.state.as_str(),
                        &s.error,
                        &s.rows_affected,
                        &s.number_of_rows,
                        &s.columns,
                        &s.created,
                        &s.executed_at,
                        &s.completed_at,
                    ],
                )?;
            }
            Ok::<(), kbstack_core::Error>(())
        })
    }

    fn query_job(&self, id: &str) -> ApiResult<Option<QueryJob>> {
        let (job, statements) = self.with(|c| {
            let Some(job) = c.query_opt(&format!("SELECT {JOB_COLUMNS} FROM query_jobs WHERE id = $1"), &[&id])? else {
                return Ok((None, Vec::new()));
            };
            let statements = c.query(&format!("SELECT {STATEMENT_COLUMNS} FROM query_statements WHERE job_id = $1 ORDER BY position"), &[&id])?;
            Ok((Some(job), statements))
        })?;
        let Some(job) = job else { return Ok(None) };
        let mut job = job_from_row(&job)?;
        job.statements = statements.iter().map(statement_from_row).collect::<ApiResult<_>>()?;
        Ok(Some(job))
    }

    fn set_query_job_state(&self, id: &str, state: QueryJobState, changed: &str) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                &format!("UPDATE query_jobs SET status = $2, changed = $3 WHERE id = $1 AND status NOT IN {TERMINAL}"),
                &[&id, &state.as_str(), &changed],
            )? > 0)
        })
    }

    fn cancel_query_job(&self, id: &str, at: &str, reason: &str) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                &format!(
                    "UPDATE query_jobs SET status = 'canceled', changed = $2, canceled_at = $2, cancellation_reason = $3 \
                     WHERE id = $1 AND status NOT IN {TERMINAL}"
                ),
                &[&id, &at, &reason],
            )? > 0)
        })
    }

    fn update_query_statement(&self, s: &QueryStatement) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE query_statements SET status = $2, error = $3, rows_affected = $4, number_of_rows = $5, columns = $6, \
                 executed_at = $7, completed_at = $8 WHERE id = $1",
                &[&s.id, &s.state.as_str(), &s.error, &s.rows_affected, &s.number_of_rows, &s.columns, &s.executed_at, &s.completed_at],
            )
        })?;
        Ok(())
    }

    fn query_history(&self, project_id: i64, workspace_id: i64, after_id: Option<&str>, limit: i64) -> ApiResult<Vec<QueryStatement>> {
        let rows = self.with(|c| {
            let before: i64 = match after_id {
                None => i64::MAX,
                Some(after) => c
                    .query_opt(
                        "SELECT seq FROM query_statements WHERE id = $1 AND project_id = $2 AND workspace_id = $3",
                        &[&after, &project_id, &workspace_id],
                    )?
                    .map(|r| r.try_get(0))
                    .transpose()?
                    .unwrap_or(i64::MAX),
            };
            c.query(
                &format!(
                    "SELECT {STATEMENT_COLUMNS} FROM query_statements WHERE project_id = $1 AND workspace_id = $2 AND seq < $3 \
                     ORDER BY seq DESC LIMIT $4"
                ),
                &[&project_id, &workspace_id, &before, &limit.max(0)],
            )
        })?;
        rows.iter().map(statement_from_row).collect()
    }

    fn unfinished_query_jobs(&self) -> ApiResult<Vec<String>> {
        self.with(|c| {
            c.query(&format!("SELECT id FROM query_jobs WHERE status NOT IN {TERMINAL} ORDER BY created_ms, id"), &[])?
                .iter()
                .map(|r| r.try_get(0))
                .collect()
        })
    }

    fn orphaned_query_jobs(&self, live_since_ms: i64) -> ApiResult<Vec<String>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT id FROM query_jobs WHERE status NOT IN {TERMINAL} AND {} ORDER BY created_ms, id",
                    crate::meta::nodes::not_live("node_id", "$1")
                ),
                &[&live_since_ms],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
        })
    }

    fn finished_query_jobs_before(&self, created_ms: i64, limit: i64) -> ApiResult<Vec<String>> {
        self.with(|c| {
            c.query(
                &format!("SELECT id FROM query_jobs WHERE created_ms < $1 AND status IN {TERMINAL} ORDER BY created_ms, id LIMIT $2"),
                &[&created_ms, &limit.max(0)],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
        })
    }

    fn delete_query_job(&self, id: &str) -> ApiResult<bool> {
        self.tx(|tx| {
            tx.execute("DELETE FROM query_statements WHERE job_id = $1", &[&id])?;
            Ok::<bool, kbstack_core::Error>(tx.execute("DELETE FROM query_jobs WHERE id = $1", &[&id])? > 0)
        })
    }
}
