//! Data apps of the Data Science service: the deployment record kept beside an app's
//! `keboola.data-apps` configuration (state, desired state, the configuration version it runs),
//! and its runs, one per start. Every read by id is scoped by project except `data_app_any`, which
//! the app proxy uses (it authenticates with the app's password, not a project token). The
//! trait, its SQLite implementation and the conformance suite (`data_app_store_suite!`).
use kbstack_core::Result as ApiResult;

use super::SqliteMetaStore;

#[derive(Debug, Clone, PartialEq)]
pub struct DataApp {
    pub id: i64,
    pub project_id: i64,
    /// `None`: the project's default branch (the API's `branchId: null`).
    pub branch_id: Option<i64>,
    pub component_id: String,
    pub config_id: String,
    pub config_version: String,
    pub app_type: String,
    pub name: String,
    pub state: String,
    pub desired_state: String,
    /// Stopped for inactivity, so the next request to it starts it again.
    pub auto_suspended: bool,
    pub sealed_password: String,
    /// The token the app runs with (`KBC_TOKEN`), sealed.
    pub sealed_token: String,
    pub created: String,
    pub last_request: Option<String>,
    pub last_start: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppRun {
    pub id: i64,
    pub app_id: i64,
    pub state: String,
    pub mode: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub startup_logs: Option<String>,
    /// `(reason, message)` of a failed run.
    pub failure: Option<(String, String)>,
}

pub trait DataAppStore {
    /// Record a new app (its `id` is ignored) and answer it with the id given.
    fn insert_data_app(&self, app: &DataApp) -> ApiResult<DataApp>;
    fn data_app(&self, project_id: i64, id: i64) -> ApiResult<Option<DataApp>>;
    /// An app of any project: for the app proxy only.
    fn data_app_any(&self, id: i64) -> ApiResult<Option<DataApp>>;
    /// The project's apps, oldest first.
    fn data_apps(&self, project_id: i64, offset: usize, limit: usize) -> ApiResult<Vec<DataApp>>;
    /// Every app whose state is one of `states`, of every project (recovery at start).
    fn data_apps_in_states(&self, states: &[&str]) -> ApiResult<Vec<DataApp>>;
    /// Save the app's changeable fields; false when the project has no such app.
    fn update_data_app(&self, app: &DataApp) -> ApiResult<bool>;
    /// Remove the app and its runs; false when the project has no such app.
    fn delete_data_app(&self, project_id: i64, id: i64) -> ApiResult<bool>;
    /// Record a new run (its `id` is ignored) and answer it with the id given.
    fn insert_app_run(&self, run: &AppRun) -> ApiResult<AppRun>;
    fn update_app_run(&self, run: &AppRun) -> ApiResult<()>;
    /// The app's runs, newest first.
    fn app_runs(&self, app_id: i64, offset: usize, limit: usize) -> ApiResult<Vec<AppRun>>;
    /// Runs still `starting` or `running` of any app (recovery at start).
    fn open_app_runs(&self) -> ApiResult<Vec<AppRun>>;
}

pub(crate) const APP_COLUMNS: &str = "id, project_id, branch_id, component_id, config_id, config_version, type, name, state, desired_state, \
     auto_suspended, sealed_password, sealed_token, created, last_request, last_start";

fn app_from_row(r: &rusqlite::Row) -> rusqlite::Result<DataApp> {
    Ok(DataApp {
        id: r.get(0)?,
        project_id: r.get(1)?,
        branch_id: r.get(2)?,
        component_id: r.get(3)?,
        config_id: r.get(4)?,
        config_version: r.get(5)?,
        app_type: r.get(6)?,
        name: r.get(7)?,
        state: r.get(8)?,
        desired_state: r.get(9)?,
        auto_suspended: r.get(10)?,
        sealed_password: r.get(11)?,
        sealed_token: r.get(12)?,
        created: r.get(13)?,
        last_request: r.get(14)?,
        last_start: r.get(15)?,
    })
}

pub(crate) const RUN_COLUMNS: &str = "id, app_id, state, mode, created_at, started_at, stopped_at, startup_logs, failure_reason, failure_message";

fn run_from_row(r: &rusqlite::Row) -> rusqlite::Result<AppRun> {
    let reason: Option<String> = r.get(8)?;
    let message: Option<String> = r.get(9)?;
    Ok(AppRun {
        id: r.get(0)?,
        app_id: r.get(1)?,
        state: r.get(2)?,
        mode: r.get(3)?,
        created_at: r.get(4)?,
        started_at: r.get(5)?,
        stopped_at: r.get(6)?,
        startup_logs: r.get(7)?,
        failure: reason.map(|reason| (reason, message.unwrap_or_default())),
    })
}

/// SQL placeholders `?1, ?2, …` for `n` values.
fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

impl DataAppStore for SqliteMetaStore {
    fn insert_data_app(&self, a: &DataApp) -> ApiResult<DataApp> {
        self.with(|c| {
            c.execute(
                "INSERT INTO data_apps (project_id, branch_id, component_id, config_id, config_version, type, name, state, \
                 desired_state, auto_suspended, sealed_password, sealed_token, created, last_request, last_start) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                rusqlite::params![
                    a.project_id,
                    a.branch_id,
                    a.component_id,
                    a.config_id,
                    a.config_version,
                    a.app_type,
                    a.name,
                    a.state,
                    a.desired_state,
                    a.auto_suspended,
                    a.sealed_password,
                    a.sealed_token,
                    a.created,
                    a.last_request,
                    a.last_start,
                ],
            )?;
            Ok(DataApp { id: c.last_insert_rowid(), ..a.clone() })
        })
    }

    fn data_app(&self, project_id: i64, id: i64) -> ApiResult<Option<DataApp>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM data_apps WHERE project_id = ?1 AND id = ?2"))?;
            let mut rows = st.query_map(rusqlite::params![project_id, id], app_from_row)?;
            rows.next().transpose()
        })
    }

    fn data_app_any(&self, id: i64) -> ApiResult<Option<DataApp>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM data_apps WHERE id = ?1"))?;
            let mut rows = st.query_map(rusqlite::params![id], app_from_row)?;
            rows.next().transpose()
        })
    }

    fn data_apps(&self, project_id: i64, offset: usize, limit: usize) -> ApiResult<Vec<DataApp>> {
        self.with(|c| {
            let mut st =
                c.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM data_apps WHERE project_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3"))?;
            st.query_map(rusqlite::params![project_id, limit as i64, offset as i64], app_from_row)?.collect()
        })
    }

    fn data_apps_in_states(&self, states: &[&str]) -> ApiResult<Vec<DataApp>> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        self.with(|c| {
            let sql = format!("SELECT {APP_COLUMNS} FROM data_apps WHERE state IN ({}) ORDER BY id", placeholders(states.len()));
            let mut st = c.prepare(&sql)?;
            st.query_map(rusqlite::params_from_iter(states.iter()), app_from_row)?.collect()
        })
    }

    fn update_data_app(&self, a: &DataApp) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE data_apps SET config_version = ?3, name = ?4, state = ?5, desired_state = ?6, auto_suspended = ?7, \
                 sealed_password = ?8, sealed_token = ?9, last_request = ?10, last_start = ?11, config_id = ?12 \
                 WHERE project_id = ?1 AND id = ?2",
                rusqlite::params![
                    a.project_id,
                    a.id,
                    a.config_version,
                    a.name,
                    a.state,
                    a.desired_state,
                    a.auto_suspended,
                    a.sealed_password,
                    a.sealed_token,
                    a.last_request,
                    a.last_start,
                    a.config_id,
                ],
            )? > 0)
        })
    }

    fn delete_data_app(&self, project_id: i64, id: i64) -> ApiResult<bool> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let deleted = tx.execute("DELETE FROM data_apps WHERE project_id = ?1 AND id = ?2", rusqlite::params![project_id, id])? > 0;
            if deleted {
                tx.execute("DELETE FROM data_app_runs WHERE app_id = ?1", rusqlite::params![id])?;
            }
            tx.commit()?;
            Ok(deleted)
        })
    }

    fn insert_app_run(&self, r: &AppRun) -> ApiResult<AppRun> {
        self.with(|c| {
            let (reason, message) = r.failure.clone().unzip();
            c.execute(
                "INSERT INTO data_app_runs (app_id, state, mode, created_at, started_at, stopped_at, startup_logs, failure_reason, failure_message) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                rusqlite::params![r.app_id, r.state, r.mode, r.created_at, r.started_at, r.stopped_at, r.startup_logs, reason, message],
            )?;
            Ok(AppRun { id: c.last_insert_rowid(), ..r.clone() })
        })
    }

    fn update_app_run(&self, r: &AppRun) -> ApiResult<()> {
        self.with(|c| {
            let (reason, message) = r.failure.clone().unzip();
            c.execute(
                "UPDATE data_app_runs SET state = ?2, started_at = ?3, stopped_at = ?4, startup_logs = ?5, failure_reason = ?6, \
                 failure_message = ?7 WHERE id = ?1",
                rusqlite::params![r.id, r.state, r.started_at, r.stopped_at, r.startup_logs, reason, message],
            )?;
            Ok(())
        })
    }

    fn app_runs(&self, app_id: i64, offset: usize, limit: usize) -> ApiResult<Vec<AppRun>> {
        self.with(|c| {
            let mut st =
                c.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM data_app_runs WHERE app_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3"))?;
            st.query_map(rusqlite::params![app_id, limit as i64, offset as i64], run_from_row)?.collect()
        })
    }

    fn open_app_runs(&self) -> ApiResult<Vec<AppRun>> {
        self.with(|c| {
            let mut st =
                c.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM data_app_runs WHERE state IN ('starting', 'running') ORDER BY id"))?;
            st.query_map([], run_from_row)?.collect()
        })
    }
}

/// The behaviour every `DataAppStore` must have; `data_app_store_suite!` runs each check as a
/// named test.
#[doc(hidden)]
pub mod suite {
    use super::*;

    pub fn app(project_id: i64, name: &str) -> DataApp {
        DataApp {
            id: 0,
            project_id,
            branch_id: None,
            component_id: "keboola.data-apps".into(),
            config_id: format!("cfg-{name}"),
            config_version: "1".into(),
            app_type: "streamlit".into(),
            name: name.into(),
            state: "created".into(),
            desired_state: "stopped".into(),
            auto_suspended: false,
            sealed_password: "sealed-password".into(),
            sealed_token: "sealed-token".into(),
            created: "2026-01-01T00:00:00+0000".into(),
            last_request: None,
            last_start: None,
        }
    }

    pub fn run(app_id: i64, state: &str) -> AppRun {
        AppRun {
            id: 0,
            app_id,
            state: state.into(),
            mode: "prod".into(),
            created_at: "2026-01-01T00:00:00+0000".into(),
            started_at: None,
            stopped_at: None,
            startup_logs: None,
            failure: None,
        }
    }

    pub fn recorded_whole_and_scoped_by_project<S: DataAppStore>(s: &S) {
        let a = s.insert_data_app(&app(1, "a")).unwrap();
        let b = s.insert_data_app(&app(1, "b")).unwrap();
        let other = s.insert_data_app(&app(2, "c")).unwrap();
        assert!(a.id > 0 && b.id > a.id, "ids are given in order");
        assert_eq!(s.data_app(1, a.id).unwrap(), Some(a.clone()));
        assert_eq!(s.data_app(2, a.id).unwrap(), None, "another project never sees it");
        assert_eq!(s.data_app_any(other.id).unwrap(), Some(other.clone()), "the proxy sees every app");
        assert_eq!(s.data_apps(1, 0, 100).unwrap(), vec![a.clone(), b.clone()], "oldest first");
        assert_eq!(s.data_apps(1, 1, 100).unwrap(), vec![b.clone()]);
        assert_eq!(s.data_apps(1, 0, 1).unwrap(), vec![a]);
    }

    pub fn updated_and_found_by_state<S: DataAppStore>(s: &S) {
        let mut a = s.insert_data_app(&app(1, "a")).unwrap();
        s.insert_data_app(&app(1, "b")).unwrap();
        a.state = "running".into();
        a.desired_state = "running".into();
        a.config_version = "3".into();
        a.config_id = "cfg-other".into();
        a.auto_suspended = true;
        a.last_start = Some("2026-01-02T00:00:00+0000".into());
        assert!(s.update_data_app(&a).unwrap());
        assert_eq!(s.data_app(1, a.id).unwrap(), Some(a.clone()));
        assert_eq!(s.data_apps_in_states(&["running", "starting"]).unwrap(), vec![a.clone()]);
        assert!(s.data_apps_in_states(&[]).unwrap().is_empty());
        let mut stranger = a.clone();
        stranger.project_id = 2;
        stranger.state = "stopped".into();
        assert!(!s.update_data_app(&stranger).unwrap(), "another project cannot change it");
        assert_eq!(s.data_app(1, a.id).unwrap().unwrap().state, "running");
    }

    pub fn runs_newest_first_and_deleted_with_the_app<S: DataAppStore>(s: &S) {
        let a = s.insert_data_app(&app(1, "a")).unwrap();
        let first = s.insert_app_run(&run(a.id, "starting")).unwrap();
        let mut second = s.insert_app_run(&run(a.id, "starting")).unwrap();
        second.state = "failed".into();
        second.failure = Some(("StartupProbeFailed".into(), "no answer".into()));
        second.startup_logs = Some("boom".into());
        s.update_app_run(&second).unwrap();
        assert_eq!(s.app_runs(a.id, 0, 10).unwrap(), vec![second.clone(), first.clone()]);
        assert_eq!(s.app_runs(a.id, 1, 10).unwrap(), vec![first.clone()]);
        assert_eq!(s.open_app_runs().unwrap(), vec![first]);
        assert!(!s.delete_data_app(2, a.id).unwrap(), "another project cannot delete it");
        assert!(s.delete_data_app(1, a.id).unwrap());
        assert_eq!(s.data_app(1, a.id).unwrap(), None);
        assert!(s.app_runs(a.id, 0, 10).unwrap().is_empty(), "runs go with the app");
    }
}

#[macro_export]
macro_rules! data_app_store_suite {
    ($make:expr) => {
        #[test]
        fn data_app_store_recorded_whole_and_scoped_by_project() {
            $crate::meta::data_apps::suite::recorded_whole_and_scoped_by_project(&$make());
        }
        #[test]
        fn data_app_store_updated_and_found_by_state() {
            $crate::meta::data_apps::suite::updated_and_found_by_state(&$make());
        }
        #[test]
        fn data_app_store_runs_newest_first_and_deleted_with_the_app() {
            $crate::meta::data_apps::suite::runs_newest_first_and_deleted_with_the_app(&$make());
        }
    };
}
