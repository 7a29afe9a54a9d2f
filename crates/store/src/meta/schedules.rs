//! Scheduler schedules in the metadata store: the record, the repository trait, its SQLite
//! implementation and the conformance suite (`schedule_store_suite!`). A schedule belongs to a
//! project; `fired_through_ms` is what makes firing exactly-once across restarts (a run is
//! claimed by moving it forward, compare-and-set, before the job is created).
use rusqlite::OptionalExtension;
use serde_json::Value;

use super::{SqliteMetaStore, json_col};
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{ProjectId, ScheduleId};

/// Recent runs kept per schedule (older ones are dropped as new ones are recorded).
pub const EXECUTIONS_KEPT: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    pub project_id: i64,
    pub branch_id: i64,
    pub configuration_id: String,
    pub configuration_version_id: String,
    pub token_id: i64,
    /// Sealed by the caller; the store never sees it in clear.
    pub sealed_token_secret: String,
    /// `{schedule: {cronTab, timezone, state}, target: {...}}` as read from the configuration.
    pub body: Value,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleExecution {
    pub job_id: String,
    pub execution_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRecord {
    pub id: i64,
    pub project_id: i64,
    pub branch_id: i64,
    pub configuration_id: String,
    pub configuration_version_id: String,
    pub token_id: i64,
    pub sealed_token_secret: String,
    pub body: Value,
    pub created_ms: i64,
    pub fired_through_ms: i64,
}

pub trait ScheduleStore {
    /// A new schedule; nothing at or before `now_ms` fires.
    fn insert_schedule(&self, s: &NewSchedule) -> ApiResult<ScheduleRecord>;
    fn schedule(&self, project: ProjectId, id: ScheduleId) -> ApiResult<Option<ScheduleRecord>>;
    /// The project's schedules by id, optionally only those of one `keboola.scheduler` configuration.
    fn schedules(&self, project: ProjectId, configuration_id: Option<&str>) -> ApiResult<Vec<ScheduleRecord>>;
    /// Every schedule of every project (the firing loop).
    fn all_schedules(&self) -> ApiResult<Vec<ScheduleRecord>>;
    /// A re-activation: the configuration's new version and body; times up to `now_ms` are not fired.
    fn reload_schedule(&self, project: ProjectId, id: ScheduleId, version: &str, body: &Value, now_ms: i64) -> ApiResult<()>;
    fn set_schedule_token(&self, project: ProjectId, id: ScheduleId, token_id: i64, sealed_token_secret: &str) -> ApiResult<()>;
    /// Delete with its executions; false when there was none.
    fn delete_schedule(&self, project: ProjectId, id: ScheduleId) -> ApiResult<bool>;
    /// Claim the run for times up to `through_ms`, only if nobody moved `fired_through_ms` from
    /// `expected_ms` meanwhile. True: the caller creates the job.
    fn claim_schedule_run(&self, id: ScheduleId, expected_ms: i64, through_ms: i64) -> ApiResult<bool>;
    /// Record a run; keeps the newest `EXECUTIONS_KEPT`.
    fn add_schedule_execution(&self, id: ScheduleId, execution: &ScheduleExecution) -> ApiResult<()>;
    /// Recent runs, newest first.
    fn schedule_executions(&self, id: ScheduleId) -> ApiResult<Vec<ScheduleExecution>>;
}

const COLUMNS: &str = "id, project_id, branch_id, configuration_id, configuration_version_id, token_id, token_secret, body, created_ms, fired_through_ms";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        id: r.get(0)?,
        project_id: r.get(1)?,
        branch_id: r.get(2)?,
        configuration_id: r.get(3)?,
        configuration_version_id: r.get(4)?,
        token_id: r.get(5)?,
        sealed_token_secret: r.get(6)?,
        body: json_col(r.get(7)?),
        created_ms: r.get(8)?,
        fired_through_ms: r.get(9)?,
    })
}

impl ScheduleStore for SqliteMetaStore {
    fn insert_schedule(&self, s: &NewSchedule) -> ApiResult<ScheduleRecord> {
        self.with(|c| {
            c.execute(
                "INSERT INTO schedules (project_id, branch_id, configuration_id, configuration_version_id, token_id, token_secret, body, \
                 created_ms, fired_through_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                rusqlite::params![
                    s.project_id,
                    s.branch_id,
                    s.configuration_id,
                    s.configuration_version_id,
                    s.token_id,
                    s.sealed_token_secret,
                    s.body.to_string(),
                    s.now_ms
                ],
            )?;
            c.query_row(&format!("SELECT {COLUMNS} FROM schedules WHERE id = ?1"), [c.last_insert_rowid()], from_row)
        })
    }

    fn schedule(&self, project: ProjectId, id: ScheduleId) -> ApiResult<Option<ScheduleRecord>> {
        self.with(|c| {
            c.query_row(&format!("SELECT {COLUMNS} FROM schedules WHERE id = ?1 AND project_id = ?2"), [id.get(), project.get()], from_row)
                .optional()
        })
    }

    fn schedules(&self, project: ProjectId, configuration_id: Option<&str>) -> ApiResult<Vec<ScheduleRecord>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM schedules WHERE project_id = ?1 AND (?2 IS NULL OR configuration_id = ?2) ORDER BY id"
            ))?;
            st.query_map(rusqlite::params![project.get(), configuration_id], from_row)?.collect()
        })
    }

    fn all_schedules(&self) -> ApiResult<Vec<ScheduleRecord>> {
        self.with(|c| {
            let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM schedules ORDER BY id"))?;
            st.query_map([], from_row)?.collect()
        })
    }

    fn reload_schedule(&self, project: ProjectId, id: ScheduleId, version: &str, body: &Value, now_ms: i64) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE schedules SET configuration_version_id = ?1, body = ?2, fired_through_ms = MAX(fired_through_ms, ?3) \
                 WHERE id = ?4 AND project_id = ?5",
                rusqlite::params![version, body.to_string(), now_ms, id.get(), project.get()],
            )
        })?;
        Ok(())
    }

    fn set_schedule_token(&self, project: ProjectId, id: ScheduleId, token_id: i64, sealed_token_secret: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE schedules SET token_id = ?1, token_secret = ?2 WHERE id = ?3 AND project_id = ?4",
                rusqlite::params![token_id, sealed_token_secret, id.get(), project.get()],
            )
        })?;
        Ok(())
    }

    fn delete_schedule(&self, project: ProjectId, id: ScheduleId) -> ApiResult<bool> {
        self.tx(|tx| {
            let mine: bool = tx
                .query_row("SELECT 1 FROM schedules WHERE id = ?1 AND project_id = ?2", [id.get(), project.get()], |_| Ok(true))
                .optional()?
                .unwrap_or(false);
            if mine {
                tx.execute("DELETE FROM schedule_executions WHERE schedule_id = ?1", [id.get()])?;
                tx.execute("DELETE FROM schedules WHERE id = ?1", [id.get()])?;
            }
            Ok::<_, kbstack_core::Error>(mine)
        })
    }

    fn claim_schedule_run(&self, id: ScheduleId, expected_ms: i64, through_ms: i64) -> ApiResult<bool> {
        let changed = self.with(|c| {
            c.execute(
                "UPDATE schedules SET fired_through_ms = ?1 WHERE id = ?2 AND fired_through_ms = ?3",
                rusqlite::params![through_ms, id.get(), expected_ms],
            )
        })?;
        Ok(changed == 1)
    }

    fn add_schedule_execution(&self, id: ScheduleId, e: &ScheduleExecution) -> ApiResult<()> {
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO schedule_executions (schedule_id, job_id, execution_ms) VALUES (?1, ?2, ?3)",
                rusqlite::params![id.get(), e.job_id, e.execution_ms],
            )?;
            tx.execute(
                "DELETE FROM schedule_executions WHERE schedule_id = ?1 AND id NOT IN \
                 (SELECT id FROM schedule_executions WHERE schedule_id = ?1 ORDER BY id DESC LIMIT ?2)",
                rusqlite::params![id.get(), EXECUTIONS_KEPT as i64],
            )?;
            Ok::<_, kbstack_core::Error>(())
        })
    }

    fn schedule_executions(&self, id: ScheduleId) -> ApiResult<Vec<ScheduleExecution>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT job_id, execution_ms FROM schedule_executions WHERE schedule_id = ?1 ORDER BY id DESC")?;
            st.query_map([id.get()], |r| Ok(ScheduleExecution { job_id: r.get(0)?, execution_ms: r.get(1)? }))?.collect()
        })
    }
}

/// The behaviour every `ScheduleStore` must have; `schedule_store_suite!` runs each check as a
/// named test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::tokens::ProjectStore;
    use serde_json::json;

    fn projects<S: ProjectStore>(s: &S) {
        s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
        s.ensure_project(2, "two", "2026-01-01T00:00:00+0000").unwrap();
    }

    fn new(project_id: i64, configuration_id: &str, now_ms: i64) -> NewSchedule {
        NewSchedule {
            project_id,
            branch_id: 10,
            configuration_id: configuration_id.into(),
            configuration_version_id: "1".into(),
            token_id: 7,
            sealed_token_secret: "sealed".into(),
            body: json!({"schedule": {"cronTab": "* * * * *", "timezone": "UTC", "state": "enabled"}}),
            now_ms,
        }
    }

    pub fn lifecycle<S: ProjectStore + ScheduleStore>(s: &S) {
        projects(s);
        let created = s.insert_schedule(&new(1, "100", 5_000)).unwrap();
        assert_eq!(created.fired_through_ms, 5_000, "nothing before activation fires");
        let id = ScheduleId(created.id);
        assert_eq!(s.schedule(ProjectId(1), id).unwrap(), Some(created.clone()));
        assert_eq!(s.schedule(ProjectId(2), id).unwrap(), None, "another project's schedule is not found");

        let body = json!({"schedule": {"cronTab": "0 * * * *", "timezone": "UTC", "state": "disabled"}});
        s.reload_schedule(ProjectId(2), id, "9", &json!({}), 9_000).unwrap();
        assert_eq!(s.schedule(ProjectId(1), id).unwrap().unwrap(), created, "another project cannot reload it");
        s.reload_schedule(ProjectId(1), id, "2", &body, 6_000).unwrap();
        let reloaded = s.schedule(ProjectId(1), id).unwrap().unwrap();
        assert_eq!((reloaded.configuration_version_id.as_str(), &reloaded.body, reloaded.fired_through_ms), ("2", &body, 6_000));
        s.reload_schedule(ProjectId(1), id, "3", &body, 1_000).unwrap();
        assert_eq!(s.schedule(ProjectId(1), id).unwrap().unwrap().fired_through_ms, 6_000, "a reload never moves it back");

        s.set_schedule_token(ProjectId(1), id, 8, "sealed-2").unwrap();
        let t = s.schedule(ProjectId(1), id).unwrap().unwrap();
        assert_eq!((t.token_id, t.sealed_token_secret.as_str()), (8, "sealed-2"));

        assert!(!s.delete_schedule(ProjectId(2), id).unwrap(), "another project cannot delete it");
        assert!(s.delete_schedule(ProjectId(1), id).unwrap());
        assert_eq!(s.schedule(ProjectId(1), id).unwrap(), None);
        assert!(!s.delete_schedule(ProjectId(1), id).unwrap());
    }

    pub fn listed_per_project_and_configuration<S: ProjectStore + ScheduleStore>(s: &S) {
        projects(s);
        let a = s.insert_schedule(&new(1, "100", 0)).unwrap().id;
        let other = s.insert_schedule(&new(2, "100", 0)).unwrap().id;
        let b = s.insert_schedule(&new(1, "200", 0)).unwrap().id;
        let ids = |v: Vec<ScheduleRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(s.schedules(ProjectId(1), None).unwrap()), vec![a, b]);
        assert_eq!(ids(s.schedules(ProjectId(1), Some("100")).unwrap()), vec![a]);
        assert_eq!(ids(s.schedules(ProjectId(2), None).unwrap()), vec![other]);
        assert_eq!(ids(s.all_schedules().unwrap()), vec![a, other, b]);
    }

    pub fn a_run_is_claimed_once<S: ProjectStore + ScheduleStore>(s: &S) {
        projects(s);
        let id = ScheduleId(s.insert_schedule(&new(1, "100", 1_000)).unwrap().id);
        assert!(s.claim_schedule_run(id, 1_000, 60_000).unwrap());
        assert!(!s.claim_schedule_run(id, 1_000, 60_000).unwrap(), "the same run is not claimed twice");
        assert_eq!(s.schedule(ProjectId(1), id).unwrap().unwrap().fired_through_ms, 60_000);
        assert!(s.claim_schedule_run(id, 60_000, 120_000).unwrap());
    }

    pub fn executions_newest_first_and_bounded<S: ProjectStore + ScheduleStore>(s: &S) {
        projects(s);
        let id = ScheduleId(s.insert_schedule(&new(1, "100", 0)).unwrap().id);
        let other = ScheduleId(s.insert_schedule(&new(1, "200", 0)).unwrap().id);
        for n in 0..(EXECUTIONS_KEPT as i64 + 5) {
            s.add_schedule_execution(id, &ScheduleExecution { job_id: n.to_string(), execution_ms: n * 1000 }).unwrap();
        }
        s.add_schedule_execution(other, &ScheduleExecution { job_id: "x".into(), execution_ms: 1 }).unwrap();
        let runs = s.schedule_executions(id).unwrap();
        assert_eq!(runs.len(), EXECUTIONS_KEPT);
        assert_eq!(runs[0].job_id, (EXECUTIONS_KEPT + 4).to_string(), "newest first");
        assert_eq!(s.schedule_executions(other).unwrap().len(), 1);
        s.delete_schedule(ProjectId(1), id).unwrap();
        assert!(s.schedule_executions(id).unwrap().is_empty(), "deleted with the schedule");
    }
}

#[macro_export]
macro_rules! schedule_store_suite {
    ($make:expr) => {
        #[test]
        fn schedule_store_lifecycle() {
            $crate::meta::schedules::suite::lifecycle(&$make());
        }
        #[test]
        fn schedule_store_listed_per_project_and_configuration() {
            $crate::meta::schedules::suite::listed_per_project_and_configuration(&$make());
        }
        #[test]
        fn schedule_store_a_run_is_claimed_once() {
            $crate::meta::schedules::suite::a_run_is_claimed_once(&$make());
        }
        #[test]
        fn schedule_store_executions_newest_first_and_bounded() {
            $crate::meta::schedules::suite::executions_newest_first_and_bounded(&$make());
        }
    };
}
