//! Queue jobs on PostgreSQL (`QueueJobStore`; see ../queue_jobs.rs).
//!
//! Claims: every node's claim runs in one transaction under one advisory lock, so the global
//! rules (one running job per lock key, a project's parallelism) see every claim committed
//! before them, exactly as the SQLite store's single connection does; the candidates are read
//! `FOR UPDATE SKIP LOCKED`, so a claim never waits on (nor takes) a job another transaction is
//! killing or finishing. A claim is short (at most 1000 candidates), so nodes queue on the lock
//! only briefly.
use std::collections::{HashMap, HashSet};

use postgres::types::ToSql;
use serde_json::{Value, json};

use super::{PgMetaStore, lock_until_commit, pg_params};
use crate::meta::json_col;
use crate::meta::queue_jobs::search::{self, Dialect};
use crate::meta::queue_jobs::{
    COLUMNS, ClaimedQueueJob, NewQueueJob, QueueClaims, QueueJob, QueueJobEnd, QueueJobFilter, QueueJobPage, QueueJobStore, json_or_null,
};
use crate::secrets::Sealer;
use kbstack_core::ids::{ProjectId, QueueJobId};
use kbstack_core::{Error as ApiError, QueueJobStatus, Result as ApiResult};

fn status(text: String) -> ApiResult<QueueJobStatus> {
    QueueJobStatus::parse(&text).ok_or_else(|| ApiError::internal(format!("unknown queue job status \"{text}\"")))
}

fn from_row(r: &postgres::Row) -> ApiResult<QueueJob> {
    Ok(QueueJob {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        branch_id: r.try_get(2)?,
        run_id: r.try_get(3)?,
        parent_run_id: r.try_get(4)?,
        token_id: r.try_get(5)?,
        token_description: r.try_get(6)?,
        token_secret: r.try_get(7)?,
        component: r.try_get(8)?,
        config: r.try_get(9)?,
        config_row_ids: serde_json::from_str(&r.try_get::<_, String>(10)?).unwrap_or_default(),
        mode: r.try_get(11)?,
        kind: r.try_get(12)?,
        status: status(r.try_get(13)?)?,
        desired_status: status(r.try_get(14)?)?,
        tag: r.try_get(15)?,
        variable_values_id: r.try_get(16)?,
        lock_key: r.try_get(17)?,
        created_ms: r.try_get(18)?,
        updated_ms: r.try_get(19)?,
        start_ms: r.try_get(20)?,
        end_ms: r.try_get(21)?,
        delayed_start_ms: r.try_get(22)?,
        duration_seconds: r.try_get(23)?,
        definition: json_col(r.try_get(24)?),
        result: json_col(r.try_get(25)?),
        usage_data: json_col(r.try_get(26)?),
        metrics: json_col(r.try_get(27)?),
    })
}

/// Billable seconds from the start to `now` (a parameter mark; 0 when the job never started), rounded.
fn duration_sql(now: &str) -> String {
    format!("CASE WHEN start_ms IS NULL THEN 0 ELSE (GREATEST({now} - start_ms, 0) + 500) / 1000 END")
}

/// Where a job's project allows `components.jobsParallelism` (a number, else none).
const PARALLELISM: &str = "CASE WHEN jsonb_typeof(d.limits::jsonb -> 'components.jobsParallelism' -> 'value') = 'number' \
     THEN (d.limits::jsonb -> 'components.jobsParallelism' ->> 'value')::DOUBLE PRECISION END";

impl QueueJobStore for PgMetaStore {
    fn insert_queue_job(&self, j: &NewQueueJob, sealed_token_secret: &str, now_ms: i64) -> ApiResult<QueueJob> {
        let row = self.tx(|tx| -> Result<postgres::Row, postgres::Error> {
            let id: i64 = tx
                .query_one(
                    "INSERT INTO queue_jobs (project_id, branch_id, run_id, parent_run_id, token_id, token_description, token_secret, \
                     component, config, config_row_ids, mode, type, status, desired_status, tag, variable_values_id, lock_key, \
                     created_ms, updated_ms, delayed_start_ms, definition) \
                     VALUES ($1, $2, '', $3, $4, $5, $6, $7, $8, $9, $10, $11, 'created', 'processing', $12, $13, $14, $15, $15, $16, $17) \
                     RETURNING id",
                    &[
                        &j.project_id,
                        &j.branch_id,
                        &j.parent_run_id.clone().unwrap_or_default(),
                        &j.token_id,
                        &j.token_description,
                        &sealed_token_secret,
                        &j.component,
                        &j.config,
                        &json!(j.config_row_ids).to_string(),
                        &j.mode,
                        &j.kind,
                        &j.tag,
                        &j.variable_values_id,
                        &j.lock_key,
                        &now_ms,
                        &j.delayed_start_ms,
                        &j.definition.to_string(),
                    ],
                )?
                .try_get(0)?;
            let run_id = match &j.parent_run_id {
                Some(p) if !p.is_empty() => format!("{p}.{id}"),
                _ => id.to_string(),
            };
            tx.execute("UPDATE queue_jobs SET run_id = $1 WHERE id = $2", &[&run_id, &id])?;
            tx.query_one(&format!("SELECT {COLUMNS} FROM queue_jobs WHERE id = $1"), &[&id])
        })?;
        from_row(&row)
    }

    fn queue_job(&self, id: QueueJobId) -> ApiResult<Option<QueueJob>> {
        let row = self.with(|c| c.query_opt(&format!("SELECT {COLUMNS} FROM queue_jobs WHERE id = $1"), &[&id.get()]))?;
        row.as_ref().map(from_row).transpose()
    }

    fn project_queue_job(&self, project: ProjectId, id: QueueJobId) -> ApiResult<Option<QueueJob>> {
        let row = self.with(|c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM queue_jobs WHERE id = $1 AND project_id = $2"), &[&id.get(), &project.get()])
        })?;
        row.as_ref().map(from_row).transpose()
    }

    fn queue_job_descendants(&self, project: ProjectId, run_id: &str) -> ApiResult<Vec<QueueJob>> {
        let rows = self.with(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM queue_jobs WHERE project_id = $1 AND starts_with(run_id, $2 || '.') ORDER BY id"),
                &[&project.get(), &run_id],
            )
        })?;
        rows.iter().map(from_row).collect()
    }

    fn search_queue_jobs(&self, project: ProjectId, filter: &QueueJobFilter, page: &QueueJobPage) -> ApiResult<Vec<QueueJob>> {
        let (sql, params) = search::select(Dialect::Postgres, COLUMNS, project, filter, page);
        let params = pg_params(params);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        let rows = self.with(|c| c.query(&sql, &refs))?;
        rows.iter().map(from_row).collect()
    }

    fn queue_duration_sum(&self, project: ProjectId) -> ApiResult<i64> {
        self.with(|c| {
            c.query_one(
                "SELECT COALESCE(SUM(duration_seconds), 0)::BIGINT FROM queue_jobs WHERE project_id = $1 AND type = 'standard'",
                &[&project.get()],
            )?
            .try_get(0)
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
        Ok(self.tx(|tx| -> Result<QueueClaims, postgres::Error> {
            // Taken first: the counts below then see every claim committed before this one.
            lock_until_commit(tx, "queue-claims")?;
            // Standard jobs each project has processing now (its jobsParallelism is spent on these).
            let mut running: HashMap<i64, usize> = HashMap::new();
            for r in tx.query(
                "SELECT project_id, COUNT(*) FROM queue_jobs WHERE status IN ('processing', 'terminating') AND type = 'standard' \
                 GROUP BY project_id",
                &[],
            )? {
                running.insert(r.try_get(0)?, r.try_get::<_, i64>(1)? as usize);
            }
            let mut busy: HashSet<String> = HashSet::new();
            for r in tx.query("SELECT lock_key FROM queue_jobs WHERE status IN ('processing', 'terminating') AND lock_key IS NOT NULL", &[])? {
                busy.insert(r.try_get(0)?);
            }
            let candidates = tx.query(
                &format!(
                    "SELECT q.id, q.type, q.status, q.lock_key, q.delayed_start_ms, q.project_id, {PARALLELISM} \
                     FROM queue_jobs q LEFT JOIN project_details d ON d.project_id = q.project_id \
                     WHERE q.status IN ('created', 'waiting') ORDER BY q.id LIMIT 1000 FOR UPDATE OF q SKIP LOCKED"
                ),
                &[],
            )?;
            let mut free = free_slots;
            let mut claims = QueueClaims::default();
            for r in candidates {
                let (id, kind, status, lock, delayed, project, limit): (i64, String, String, Option<String>, Option<i64>, i64, Option<f64>) =
                    (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, r.try_get(6)?);
                if let Some(at) = delayed.filter(|at| *at > now_ms) {
                    claims.next_delayed_in_ms = Some(claims.next_delayed_in_ms.map_or(at - now_ms, |n| n.min(at - now_ms)));
                    continue;
                }
                if let Some(l) = &lock {
                    if busy.contains(l) {
                        if status == "created" {
                            tx.execute("UPDATE queue_jobs SET status = 'waiting', updated_ms = $1 WHERE id = $2", &[&now_ms, &id])?;
                        }
                        continue;
                    }
                }
                let coordinator = kind != "standard";
                let project_limit = limit.map(|l| l.max(1.0) as usize).unwrap_or(default_parallelism).max(1);
                if !coordinator && running.get(&project).copied().unwrap_or(0) >= project_limit {
                    if status == "created" {
                        tx.execute("UPDATE queue_jobs SET status = 'waiting', updated_ms = $1 WHERE id = $2", &[&now_ms, &id])?;
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
                let n = tx.execute(
                    "UPDATE queue_jobs SET status = 'processing', start_ms = $1, updated_ms = $1, runner_id = $2 \
                     WHERE id = $3 AND status IN ('created', 'waiting')",
                    &[&now_ms, &runner_id, &id],
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
        })?)
    }

    fn set_queue_job_runner_pid(&self, id: QueueJobId, pid: i64) -> ApiResult<()> {
        self.with(|c| c.execute("UPDATE queue_jobs SET runner_pid = $1 WHERE id = $2", &[&pid, &id.get()]))?;
        Ok(())
    }

    fn queue_job_runner_pid(&self, id: QueueJobId) -> ApiResult<Option<i64>> {
        let row = self.with(|c| c.query_opt("SELECT runner_pid FROM queue_jobs WHERE id = $1", &[&id.get()]))?;
        Ok(row.map(|r| r.try_get::<_, Option<i64>>(0)).transpose()?.flatten())
    }

    fn kill_queue_job(&self, id: QueueJobId, cancelled_result: &Value, now_ms: i64) -> ApiResult<()> {
        Ok(self.tx(|tx| -> Result<(), postgres::Error> {
            tx.execute(
                "UPDATE queue_jobs SET desired_status = 'terminating', status = 'cancelled', end_ms = $1, updated_ms = $1, \
                 token_secret = NULL, result = $3 WHERE id = $2 AND status IN ('created', 'waiting')",
                &[&now_ms, &id.get(), &cancelled_result.to_string()],
            )?;
            tx.execute(
                "UPDATE queue_jobs SET desired_status = 'terminating', status = 'terminating', updated_ms = $1 \
                 WHERE id = $2 AND status = 'processing'",
                &[&now_ms, &id.get()],
            )?;
            Ok(())
        })?)
    }

    fn finish_queue_job(&self, id: QueueJobId, end: &QueueJobEnd, terminated_result: &Value, now_ms: i64) -> ApiResult<()> {
        let sql = format!(
            "UPDATE queue_jobs SET \
             status = CASE WHEN desired_status = 'terminating' THEN 'terminated' ELSE $1 END, \
             result = CASE WHEN desired_status = 'terminating' THEN $2 ELSE $3 END, \
             usage_data = $4, metrics = $5, end_ms = $6, updated_ms = $6, duration_seconds = {}, \
             token_secret = NULL, runner_pid = NULL WHERE id = $7 AND status IN ('processing', 'terminating')",
            duration_sql("$6")
        );
        self.with(|c| {
            c.execute(
                &sql,
                &[
                    &end.status.as_str(),
                    &terminated_result.to_string(),
                    &end.result.to_string(),
                    &json_or_null(end.usage),
                    &json_or_null(end.metrics),
                    &now_ms,
                    &id.get(),
                ],
            )
        })?;
        Ok(())
    }

    fn end_queue_job(&self, id: QueueJobId, status: QueueJobStatus, result: &Value, now_ms: i64) -> ApiResult<bool> {
        let sql = format!(
            "UPDATE queue_jobs SET status = $1, result = $2, end_ms = $3, updated_ms = $3, token_secret = NULL, \
             duration_seconds = {}, runner_pid = NULL WHERE id = $4 AND status IN ('processing', 'terminating')",
            duration_sql("$3")
        );
        Ok(self.with(|c| c.execute(&sql, &[&status.as_str(), &result.to_string(), &now_ms, &id.get()]))? > 0)
    }

    fn running_queue_jobs(&self) -> ApiResult<Vec<QueueJob>> {
        let rows = self.with(|c| c.query(&format!("SELECT {COLUMNS} FROM queue_jobs WHERE status IN ('processing', 'terminating') ORDER BY id"), &[]))?;
        rows.iter().map(from_row).collect()
    }

    fn orphaned_queue_jobs(&self, live_since_ms: i64) -> ApiResult<Vec<QueueJob>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM queue_jobs WHERE status IN ('processing', 'terminating') AND {} ORDER BY id",
            crate::meta::nodes::not_live("runner_id", "$1")
        );
        let rows = self.with(|c| c.query(&sql, &[&live_since_ms]))?;
        rows.iter().map(from_row).collect()
    }

    fn seal_plain_queue_token_secrets(&self, sealer: &Sealer) -> ApiResult<usize> {
        Ok(self.tx(|tx| -> Result<usize, postgres::Error> {
            let mut plain = Vec::new();
            for r in tx.query("SELECT id, token_secret FROM queue_jobs WHERE token_secret IS NOT NULL FOR UPDATE", &[])? {
                let (id, secret): (i64, String) = (r.try_get(0)?, r.try_get(1)?);
                if !Sealer::is_sealed(&secret) {
                    plain.push((id, secret));
                }
            }
            for (id, secret) in &plain {
                tx.execute("UPDATE queue_jobs SET token_secret = $1 WHERE id = $2", &[&sealer.seal(secret), id])?;
            }
            Ok(plain.len())
        })?)
    }
}
