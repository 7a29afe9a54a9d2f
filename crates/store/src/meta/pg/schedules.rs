//! Scheduler schedules on PostgreSQL (`ScheduleStore`; see ../schedules.rs). A run is claimed by a
//! compare-and-set on `fired_through_ms`, so one node fires it whichever nodes try.
use serde_json::Value;

use super::PgMetaStore;
use crate::meta::json_col;
use crate::meta::schedules::{EXECUTIONS_KEPT, NewSchedule, ScheduleExecution, ScheduleRecord, ScheduleStore};
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{ProjectId, ScheduleId};

const COLUMNS: &str = "id, project_id, branch_id, configuration_id, configuration_version_id, token_id, token_secret, body, created_ms, fired_through_ms";

fn from_row(r: &postgres::Row) -> Result<ScheduleRecord, postgres::Error> {
    Ok(ScheduleRecord {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        branch_id: r.try_get(2)?,
        configuration_id: r.try_get(3)?,
        configuration_version_id: r.try_get(4)?,
        token_id: r.try_get(5)?,
        sealed_token_secret: r.try_get(6)?,
        body: json_col(r.try_get(7)?),
        created_ms: r.try_get(8)?,
        fired_through_ms: r.try_get(9)?,
    })
}

impl ScheduleStore for PgMetaStore {
    fn insert_schedule(&self, s: &NewSchedule) -> ApiResult<ScheduleRecord> {
        self.with(|c| {
            from_row(&c.query_one(
                &format!(
                    "INSERT INTO schedules (project_id, branch_id, configuration_id, configuration_version_id, token_id, token_secret, body, \
                     created_ms, fired_through_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {COLUMNS}"
                ),
                &[
                    &s.project_id,
                    &s.branch_id,
                    &s.configuration_id,
                    &s.configuration_version_id,
                    &s.token_id,
                    &s.sealed_token_secret,
                    &s.body.to_string(),
                    &s.now_ms,
                ],
            )?)
        })
    }

    fn schedule(&self, project: ProjectId, id: ScheduleId) -> ApiResult<Option<ScheduleRecord>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM schedules WHERE id = $1 AND project_id = $2"), &[&id.get(), &project.get()])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn schedules(&self, project: ProjectId, configuration_id: Option<&str>) -> ApiResult<Vec<ScheduleRecord>> {
        self.with(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM schedules WHERE project_id = $1 AND ($2::TEXT IS NULL OR configuration_id = $2) ORDER BY id"),
                &[&project.get(), &configuration_id],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn all_schedules(&self) -> ApiResult<Vec<ScheduleRecord>> {
        self.with(|c| c.query(&format!("SELECT {COLUMNS} FROM schedules ORDER BY id"), &[])?.iter().map(from_row).collect())
    }

    fn reload_schedule(&self, project: ProjectId, id: ScheduleId, version: &str, body: &Value, now_ms: i64) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE schedules SET configuration_version_id = $1, body = $2, fired_through_ms = GREATEST(fired_through_ms, $3) \
                 WHERE id = $4 AND project_id = $5",
                &[&version, &body.to_string(), &now_ms, &id.get(), &project.get()],
            )
        })?;
        Ok(())
    }

    fn set_schedule_token(&self, project: ProjectId, id: ScheduleId, token_id: i64, sealed_token_secret: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE schedules SET token_id = $1, token_secret = $2 WHERE id = $3 AND project_id = $4",
                &[&token_id, &sealed_token_secret, &id.get(), &project.get()],
            )
        })?;
        Ok(())
    }

    fn delete_schedule(&self, project: ProjectId, id: ScheduleId) -> ApiResult<bool> {
        Ok(self.tx(|tx| -> Result<bool, postgres::Error> {
            let mine = tx.query_opt("SELECT 1 FROM schedules WHERE id = $1 AND project_id = $2", &[&id.get(), &project.get()])?.is_some();
            if mine {
                tx.execute("DELETE FROM schedule_executions WHERE schedule_id = $1", &[&id.get()])?;
                tx.execute("DELETE FROM schedules WHERE id = $1", &[&id.get()])?;
            }
            Ok(mine)
        })?)
    }

    fn claim_schedule_run(&self, id: ScheduleId, expected_ms: i64, through_ms: i64) -> ApiResult<bool> {
        let changed = self.with(|c| {
            c.execute("UPDATE schedules SET fired_through_ms = $1 WHERE id = $2 AND fired_through_ms = $3", &[&through_ms, &id.get(), &expected_ms])
        })?;
        Ok(changed == 1)
    }

    fn add_schedule_execution(&self, id: ScheduleId, e: &ScheduleExecution) -> ApiResult<()> {
        Ok(self.tx(|tx| -> Result<(), postgres::Error> {
            tx.execute(
                "INSERT INTO schedule_executions (schedule_id, job_id, execution_ms) VALUES ($1, $2, $3)",
                &[&id.get(), &e.job_id, &e.execution_ms],
            )?;
            tx.execute(
                "DELETE FROM schedule_executions WHERE schedule_id = $1 AND id NOT IN \
                 (SELECT id FROM schedule_executions WHERE schedule_id = $1 ORDER BY id DESC LIMIT $2)",
                &[&id.get(), &(EXECUTIONS_KEPT as i64)],
            )?;
            Ok(())
        })?)
    }

    fn schedule_executions(&self, id: ScheduleId) -> ApiResult<Vec<ScheduleExecution>> {
        self.with(|c| {
            c.query("SELECT job_id, execution_ms FROM schedule_executions WHERE schedule_id = $1 ORDER BY id DESC", &[&id.get()])?
                .iter()
                .map(|r| Ok(ScheduleExecution { job_id: r.try_get(0)?, execution_ms: r.try_get(1)? }))
                .collect()
        })
    }
}
