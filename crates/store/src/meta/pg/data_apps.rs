//! Data apps and their runs on PostgreSQL (`DataAppStore`; see ../data_apps.rs).
use super::{PgMetaStore, flag};
use crate::meta::data_apps::{APP_COLUMNS, AppRun, DataApp, DataAppStore, RUN_COLUMNS};
use kbstack_core::Result as ApiResult;

fn app_from_row(r: &postgres::Row) -> Result<DataApp, postgres::Error> {
    Ok(DataApp {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        branch_id: r.try_get(2)?,
        component_id: r.try_get(3)?,
        config_id: r.try_get(4)?,
        config_version: r.try_get(5)?,
        app_type: r.try_get(6)?,
        name: r.try_get(7)?,
        state: r.try_get(8)?,
        desired_state: r.try_get(9)?,
        auto_suspended: flag(r, 10)?,
        sealed_password: r.try_get(11)?,
        sealed_token: r.try_get(12)?,
        created: r.try_get(13)?,
        last_request: r.try_get(14)?,
        last_start: r.try_get(15)?,
    })
}

fn run_from_row(r: &postgres::Row) -> Result<AppRun, postgres::Error> {
    let reason: Option<String> = r.try_get(8)?;
    let message: Option<String> = r.try_get(9)?;
    Ok(AppRun {
        id: r.try_get(0)?,
        app_id: r.try_get(1)?,
        state: r.try_get(2)?,
        mode: r.try_get(3)?,
        created_at: r.try_get(4)?,
        started_at: r.try_get(5)?,
        stopped_at: r.try_get(6)?,
        startup_logs: r.try_get(7)?,
        failure: reason.map(|reason| (reason, message.unwrap_or_default())),
    })
}

/// A page bound as PostgreSQL takes it (SQLite reads a negative limit as none; PostgreSQL refuses it).
fn bound(n: usize) -> i64 {
    n.min(i64::MAX as usize) as i64
}

impl DataAppStore for PgMetaStore {
    fn insert_data_app(&self, a: &DataApp) -> ApiResult<DataApp> {
        let id: i64 = self.with(|c| {
            c.query_one(
                "INSERT INTO data_apps (project_id, branch_id, component_id, config_id, config_version, type, name, state, \
                 desired_state, auto_suspended, sealed_password, sealed_token, created, last_request, last_start) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
                &[
                    &a.project_id,
                    &a.branch_id,
                    &a.component_id,
                    &a.config_id,
                    &a.config_version,
                    &a.app_type,
                    &a.name,
                    &a.state,
                    &a.desired_state,
                    &(a.auto_suspended as i64),
                    &a.sealed_password,
                    &a.sealed_token,
                    &a.created,
                    &a.last_request,
                    &a.last_start,
                ],
            )?
            .try_get(0)
        })?;
        Ok(DataApp { id, ..a.clone() })
    }

    fn data_app(&self, project_id: i64, id: i64) -> ApiResult<Option<DataApp>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {APP_COLUMNS} FROM data_apps WHERE project_id = $1 AND id = $2"), &[&project_id, &id])?
                .as_ref()
                .map(app_from_row)
                .transpose()
        })
    }

    fn data_app_any(&self, id: i64) -> ApiResult<Option<DataApp>> {
        self.with(|c| c.query_opt(&format!("SELECT {APP_COLUMNS} FROM data_apps WHERE id = $1"), &[&id])?.as_ref().map(app_from_row).transpose())
    }

    fn data_apps(&self, project_id: i64, offset: usize, limit: usize) -> ApiResult<Vec<DataApp>> {
        self.with(|c| {
            c.query(
                &format!("SELECT {APP_COLUMNS} FROM data_apps WHERE project_id = $1 ORDER BY id LIMIT $2 OFFSET $3"),
                &[&project_id, &bound(limit), &bound(offset)],
            )?
            .iter()
            .map(app_from_row)
            .collect()
        })
    }

    fn data_apps_in_states(&self, states: &[&str]) -> ApiResult<Vec<DataApp>> {
        let states: Vec<String> = states.iter().map(|s| s.to_string()).collect();
        self.with(|c| {
            c.query(&format!("SELECT {APP_COLUMNS} FROM data_apps WHERE state = ANY($1) ORDER BY id"), &[&states])?.iter().map(app_from_row).collect()
        })
    }

    fn update_data_app(&self, a: &DataApp) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE data_apps SET config_version = $3, name = $4, state = $5, desired_state = $6, auto_suspended = $7, \
                 sealed_password = $8, sealed_token = $9, last_request = $10, last_start = $11, config_id = $12 \
                 WHERE project_id = $1 AND id = $2",
                &[
                    &a.project_id,
                    &a.id,
                    &a.config_version,
                    &a.name,
                    &a.state,
                    &a.desired_state,
                    &(a.auto_suspended as i64),
                    &a.sealed_password,
                    &a.sealed_token,
                    &a.last_request,
                    &a.last_start,
                    &a.config_id,
                ],
            )? > 0)
        })
    }

    fn delete_data_app(&self, project_id: i64, id: i64) -> ApiResult<bool> {
        self.tx(|tx| {
            let deleted = tx.execute("DELETE FROM data_apps WHERE project_id = $1 AND id = $2", &[&project_id, &id])? > 0;
            if deleted {
                tx.execute("DELETE FROM data_app_runs WHERE app_id = $1", &[&id])?;
            }
            Ok::<bool, kbstack_core::Error>(deleted)
        })
    }

    fn insert_app_run(&self, r: &AppRun) -> ApiResult<AppRun> {
        let (reason, message) = r.failure.clone().unzip();
        let id: i64 = self.with(|c| {
            c.query_one(
                "INSERT INTO data_app_runs (app_id, state, mode, created_at, started_at, stopped_at, startup_logs, failure_reason, failure_message) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                &[&r.app_id, &r.state, &r.mode, &r.created_at, &r.started_at, &r.stopped_at, &r.startup_logs, &reason, &message],
            )?
            .try_get(0)
        })?;
        Ok(AppRun { id, ..r.clone() })
    }

    fn update_app_run(&self, r: &AppRun) -> ApiResult<()> {
        let (reason, message) = r.failure.clone().unzip();
        self.with(|c| {
            c.execute(
                "UPDATE data_app_runs SET state = $2, started_at = $3, stopped_at = $4, startup_logs = $5, failure_reason = $6, \
                 failure_message = $7 WHERE id = $1",
                &[&r.id, &r.state, &r.started_at, &r.stopped_at, &r.startup_logs, &reason, &message],
            )
        })?;
        Ok(())
    }

    fn app_runs(&self, app_id: i64, offset: usize, limit: usize) -> ApiResult<Vec<AppRun>> {
        self.with(|c| {
            c.query(
                &format!("SELECT {RUN_COLUMNS} FROM data_app_runs WHERE app_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"),
                &[&app_id, &bound(limit), &bound(offset)],
            )?
            .iter()
            .map(run_from_row)
            .collect()
        })
    }

    fn open_app_runs(&self) -> ApiResult<Vec<AppRun>> {
        self.with(|c| {
            c.query(&format!("SELECT {RUN_COLUMNS} FROM data_app_runs WHERE state IN ('starting', 'running') ORDER BY id"), &[])?
                .iter()
                .map(run_from_row)
                .collect()
        })
    }
}
