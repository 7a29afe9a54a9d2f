//! Workspace records: who made a workspace, for which configuration, how clients log in. The
//! password is never stored: only its hash (it is shown once, on create or reset). The
//! workspace's data lives in the workspace engine (`crate::workspace`). Ids are global; every
//! read is scoped by project. The trait, its SQLite implementation and the conformance suite
//! (`workspace_store_suite!`).
use rusqlite::OptionalExtension;

use super::SqliteMetaStore;
use kbstack_core::Result as ApiResult;

#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    pub id: i64,
    pub project_id: i64,
    pub branch_id: i64,
    /// `component` and `configurationId` of a configuration's workspace.
    pub component: Option<String>,
    pub configuration_id: Option<String>,
    /// The backend reported to clients (`snowflake`).
    pub backend: String,
    pub backend_size: Option<String>,
    pub login_type: String,
    pub read_only_storage_access: bool,
    pub statement_timeout_seconds: i64,
    pub created: String,
    pub creator_token_id: i64,
    pub creator_description: String,
    /// SHA-256 hex of the current password; `None` for key-pair logins.
    pub password_hash: Option<String>,
    pub public_key: Option<String>,
}

pub trait WorkspaceStore {
    /// Record a workspace; `workspace.id` is ignored and the new id returned.
    fn insert_workspace(&self, workspace: &Workspace) -> ApiResult<i64>;
    fn workspace(&self, project_id: i64, id: i64) -> ApiResult<Option<Workspace>>;
    /// A branch's workspaces, oldest first.
    fn workspaces(&self, project_id: i64, branch_id: i64) -> ApiResult<Vec<Workspace>>;
    /// The workspaces of one configuration in a branch, oldest first.
    fn configuration_workspaces(&self, project_id: i64, branch_id: i64, component: &str, configuration_id: &str) -> ApiResult<Vec<Workspace>>;
    /// False when the project has no such workspace.
    fn set_workspace_password(&self, project_id: i64, id: i64, password_hash: Option<&str>) -> ApiResult<bool>;
    fn set_workspace_public_key(&self, project_id: i64, id: i64, public_key: &str) -> ApiResult<bool>;
    /// False when the project has no such workspace.
    fn delete_workspace(&self, project_id: i64, id: i64) -> ApiResult<bool>;
}

const COLUMNS: &str = "id, project_id, branch_id, component, configuration_id, backend, backend_size, login_type, \
                       read_only_storage_access, statement_timeout_seconds, created, creator_token_id, \
                       creator_description, password_hash, public_key";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: r.get(0)?,
        project_id: r.get(1)?,
        branch_id: r.get(2)?,
        component: r.get(3)?,
        configuration_id: r.get(4)?,
        backend: r.get(5)?,
        backend_size: r.get(6)?,
        login_type: r.get(7)?,
        read_only_storage_access: r.get(8)?,
        statement_timeout_seconds: r.get(9)?,
        created: r.get(10)?,
        creator_token_id: r.get(11)?,
        creator_description: r.get(12)?,
        password_hash: r.get(13)?,
        public_key: r.get(14)?,
    })
}

impl WorkspaceStore for SqliteMetaStore {
    fn insert_workspace(&self, w: &Workspace) -> ApiResult<i64> {
        self.with(|c| {
            c.query_row(
                "INSERT INTO workspaces (project_id, branch_id, component, configuration_id, backend, backend_size, \
                 login_type, read_only_storage_access, statement_timeout_seconds, created, creator_token_id, \
                 creator_description, password_hash, public_key) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id",
                rusqlite::params![
                    w.project_id,
                    w.branch_id,
                    w.component,
                    w.configuration_id,
                    w.backend,
                    w.backend_size,
                    w.login_type,
                    w.read_only_storage_access,
                    w.statement_timeout_seconds,
                    w.created,
                    w.creator_token_id,
                    w.creator_description,
                    w.password_hash,
                    w.public_key,
                ],
                |r| r.get(0),
            )
        })
    }

    fn workspace(&self, project_id: i64, id: i64) -> ApiResult<Option<Workspace>> {
        self.with(|c| {
            c.query_row(&format!("SELECT {COLUMNS} FROM workspaces WHERE project_id = ?1 AND id = ?2"), [project_id, id], from_row)
                .optional()
        })
    }

    fn workspaces(&self, project_id: i64, branch_id: i64) -> ApiResult<Vec<Workspace>> {
        self.with(|c| {
            let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM workspaces WHERE project_id = ?1 AND branch_id = ?2 ORDER BY id"))?;
            st.query_map([project_id, branch_id], from_row)?.collect()
        })
    }

    fn configuration_workspaces(&self, project_id: i64, branch_id: i64, component: &str, configuration_id: &str) -> ApiResult<Vec<Workspace>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM workspaces WHERE project_id = ?1 AND branch_id = ?2 AND component = ?3 \
                 AND configuration_id = ?4 ORDER BY id"
            ))?;
            st.query_map(rusqlite::params![project_id, branch_id, component, configuration_id], from_row)?.collect()
        })
    }

    fn set_workspace_password(&self, project_id: i64, id: i64, password_hash: Option<&str>) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE workspaces SET password_hash = ?3 WHERE project_id = ?1 AND id = ?2",
                rusqlite::params![project_id, id, password_hash],
            )? > 0)
        })
    }

    fn set_workspace_public_key(&self, project_id: i64, id: i64, public_key: &str) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE workspaces SET public_key = ?3 WHERE project_id = ?1 AND id = ?2",
                rusqlite::params![project_id, id, public_key],
            )? > 0)
        })
    }

    fn delete_workspace(&self, project_id: i64, id: i64) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM workspaces WHERE project_id = ?1 AND id = ?2", [project_id, id])? > 0))
    }
}

#[doc(hidden)]
pub mod suite {
    use super::*;

    pub fn workspace(project_id: i64, branch_id: i64, config: Option<(&str, &str)>) -> Workspace {
        Workspace {
            id: 0,
            project_id,
            branch_id,
            component: config.map(|c| c.0.to_string()),
            configuration_id: config.map(|c| c.1.to_string()),
            backend: "snowflake".into(),
            backend_size: None,
            login_type: "default".into(),
            read_only_storage_access: false,
            statement_timeout_seconds: 7200,
            created: "2026-01-01T00:00:00+0000".into(),
            creator_token_id: 7,
            creator_description: "Master Token".into(),
            password_hash: Some("ab".repeat(32)),
            public_key: None,
        }
    }

    pub fn recorded_whole_and_read_back<S: WorkspaceStore>(s: &S) {
        let new = workspace(1, 10, Some(("keboola.snowflake-transformation", "123")));
        let id = s.insert_workspace(&new).unwrap();
        assert_eq!(s.workspace(1, id).unwrap().expect("recorded"), Workspace { id, ..new });
        let second = s.insert_workspace(&workspace(1, 10, None)).unwrap();
        assert!(second > id, "ids increase");
        assert!(s.workspace(2, id).unwrap().is_none(), "another project never sees it");
    }

    pub fn listed_per_branch_and_configuration<S: WorkspaceStore>(s: &S) {
        let a = s.insert_workspace(&workspace(1, 10, Some(("c", "1")))).unwrap();
        let b = s.insert_workspace(&workspace(1, 10, None)).unwrap();
        let c = s.insert_workspace(&workspace(1, 10, Some(("c", "1")))).unwrap();
        s.insert_workspace(&workspace(1, 11, Some(("c", "1")))).unwrap();
        s.insert_workspace(&workspace(1, 10, Some(("c", "2")))).unwrap();
        s.insert_workspace(&workspace(2, 10, Some(("c", "1")))).unwrap();
        let ids = |v: Vec<Workspace>| v.into_iter().map(|w| w.id).collect::<Vec<_>>();
        assert_eq!(ids(s.configuration_workspaces(1, 10, "c", "1").unwrap()), vec![a, c]);
        let all = ids(s.workspaces(1, 10).unwrap());
        assert_eq!(all.len(), 4);
        assert!(all.contains(&b) && all.windows(2).all(|w| w[0] < w[1]));
    }

    pub fn credentials_changed_and_deleted<S: WorkspaceStore>(s: &S) {
        let id = s.insert_workspace(&workspace(1, 10, None)).unwrap();
        assert!(s.set_workspace_password(1, id, Some("cd")).unwrap());
        assert!(s.set_workspace_public_key(1, id, "KEY").unwrap());
        let got = s.workspace(1, id).unwrap().unwrap();
        assert_eq!((got.password_hash.as_deref(), got.public_key.as_deref()), (Some("cd"), Some("KEY")));
        assert!(!s.set_workspace_password(2, id, Some("x")).unwrap(), "not through another project");
        assert!(!s.delete_workspace(2, id).unwrap());
        assert!(s.delete_workspace(1, id).unwrap());
        assert!(s.workspace(1, id).unwrap().is_none());
        assert!(!s.delete_workspace(1, id).unwrap());
    }
}

#[macro_export]
macro_rules! workspace_store_suite {
    ($make:expr) => {
        #[test]
        fn workspace_store_recorded_whole_and_read_back() {
            $crate::meta::workspaces::suite::recorded_whole_and_read_back(&$make());
        }
        #[test]
        fn workspace_store_listed_per_branch_and_configuration() {
            $crate::meta::workspaces::suite::listed_per_branch_and_configuration(&$make());
        }
        #[test]
        fn workspace_store_credentials_changed_and_deleted() {
            $crate::meta::workspaces::suite::credentials_changed_and_deleted(&$make());
        }
    };
}
