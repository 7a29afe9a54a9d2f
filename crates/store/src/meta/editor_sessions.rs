//! Editor sessions: a SQL editor's session, backed by one Storage workspace of its project.
//! Ids are global (UUIDs); every read is scoped by project. The trait, its SQLite
//! implementation and the conformance suite (`editor_session_store_suite!`).
use rusqlite::OptionalExtension;

use super::SqliteMetaStore;
use kbstack_core::Result as ApiResult;

#[derive(Debug, Clone, PartialEq)]
pub struct EditorSession {
    pub id: String,
    pub project_id: i64,
    pub branch_id: i64,
    /// The token that made it (the session's "user").
    pub token_id: i64,
    pub component_id: String,
    pub configuration_id: String,
    pub workspace_id: i64,
    /// `initializing`, `ready`, `loading`, `unloading`, `failed`, `deleted`.
    pub status: String,
    pub login_type: String,
    pub shared: bool,
    pub created: String,
    pub updated: String,
    pub last_error: Option<String>,
    pub last_loaded_at: Option<String>,
}

pub trait EditorSessionStore {
    fn insert_editor_session(&self, session: &EditorSession) -> ApiResult<()>;
    fn editor_session(&self, project_id: i64, id: &str) -> ApiResult<Option<EditorSession>>;
    /// A project's sessions, oldest first; only one branch's and one token's when given.
    fn editor_sessions(&self, project_id: i64, branch_id: Option<i64>, token_id: Option<i64>) -> ApiResult<Vec<EditorSession>>;
    /// Write status, times, last error (found by project and id); false when there is none.
    fn update_editor_session(&self, session: &EditorSession) -> ApiResult<bool>;
    fn delete_editor_session(&self, project_id: i64, id: &str) -> ApiResult<bool>;
}

const COLUMNS: &str = "id, project_id, branch_id, token_id, component_id, configuration_id, workspace_id, status, login_type, \
                       shared, created, updated, last_error, last_loaded_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<EditorSession> {
    Ok(EditorSession {
        id: r.get(0)?,
        project_id: r.get(1)?,
        branch_id: r.get(2)?,
        token_id: r.get(3)?,
        component_id: r.get(4)?,
        configuration_id: r.get(5)?,
        workspace_id: r.get(6)?,
        status: r.get(7)?,
        login_type: r.get(8)?,
        shared: r.get(9)?,
        created: r.get(10)?,
        updated: r.get(11)?,
        last_error: r.get(12)?,
        last_loaded_at: r.get(13)?,
    })
}

impl EditorSessionStore for SqliteMetaStore {
    fn insert_editor_session(&self, s: &EditorSession) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                &format!("INSERT INTO editor_sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
                rusqlite::params![
                    s.id,
                    s.project_id,
                    s.branch_id,
                    s.token_id,
                    s.component_id,
                    s.configuration_id,
                    s.workspace_id,
                    s.status,
                    s.login_type,
                    s.shared,
                    s.created,
                    s.updated,
                    s.last_error,
                    s.last_loaded_at,
                ],
            )?;
            Ok(())
        })
    }

    fn editor_session(&self, project_id: i64, id: &str) -> ApiResult<Option<EditorSession>> {
        self.with(|c| {
            c.query_row(&format!("SELECT {COLUMNS} FROM editor_sessions WHERE project_id = ?1 AND id = ?2"), rusqlite::params![project_id, id], from_row)
                .optional()
        })
    }

    fn editor_sessions(&self, project_id: i64, branch_id: Option<i64>, token_id: Option<i64>) -> ApiResult<Vec<EditorSession>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM editor_sessions WHERE project_id = ?1 AND (?2 IS NULL OR branch_id = ?2) \
                 AND (?3 IS NULL OR token_id = ?3) ORDER BY created, rowid"
            ))?;
            st.query_map(rusqlite::params![project_id, branch_id, token_id], from_row)?.collect()
        })
    }

    fn update_editor_session(&self, s: &EditorSession) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE editor_sessions SET status = ?3, updated = ?4, last_error = ?5, last_loaded_at = ?6 WHERE project_id = ?1 AND id = ?2",
                rusqlite::params![s.project_id, s.id, s.status, s.updated, s.last_error, s.last_loaded_at],
            )? > 0)
        })
    }

    fn delete_editor_session(&self, project_id: i64, id: &str) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM editor_sessions WHERE project_id = ?1 AND id = ?2", rusqlite::params![project_id, id])? > 0))
    }
}

#[doc(hidden)]
pub mod suite {
    use super::*;

    pub fn session(id: &str, project_id: i64, branch_id: i64, token_id: i64) -> EditorSession {
        EditorSession {
            id: id.into(),
            project_id,
            branch_id,
            token_id,
            component_id: "keboola.snowflake-transformation".into(),
            configuration_id: "123".into(),
            workspace_id: 9,
            status: "ready".into(),
            login_type: "snowflake-person-sso".into(),
            shared: false,
            created: "2026-01-01T00:00:00.000Z".into(),
            updated: "2026-01-01T00:00:00.000Z".into(),
            last_error: None,
            last_loaded_at: None,
        }
    }

    pub fn recorded_listed_updated_deleted<S: EditorSessionStore>(s: &S) {
        let a = session("a", 1, 10, 7);
        s.insert_editor_session(&a).unwrap();
        s.insert_editor_session(&session("b", 1, 11, 7)).unwrap();
        s.insert_editor_session(&session("c", 1, 10, 8)).unwrap();
        s.insert_editor_session(&session("d", 2, 10, 7)).unwrap();
        assert_eq!(s.editor_session(1, "a").unwrap(), Some(a.clone()));
        assert!(s.editor_session(2, "a").unwrap().is_none(), "another project never sees it");
        let ids = |v: Vec<EditorSession>| v.into_iter().map(|x| x.id).collect::<Vec<_>>();
        assert_eq!(ids(s.editor_sessions(1, None, None).unwrap()), vec!["a", "b", "c"]);
        assert_eq!(ids(s.editor_sessions(1, Some(10), None).unwrap()), vec!["a", "c"]);
        assert_eq!(ids(s.editor_sessions(1, None, Some(7)).unwrap()), vec!["a", "b"]);
        let mut failed = a.clone();
        failed.status = "failed".into();
        failed.last_error = Some("boom".into());
        failed.updated = "2026-01-01T00:00:01.000Z".into();
        assert!(s.update_editor_session(&failed).unwrap());
        assert_eq!(s.editor_session(1, "a").unwrap(), Some(failed));
        assert!(!s.delete_editor_session(2, "a").unwrap());
        assert!(s.delete_editor_session(1, "a").unwrap());
        assert!(s.editor_session(1, "a").unwrap().is_none());
        assert!(!s.update_editor_session(&a).unwrap());
    }
}

#[macro_export]
macro_rules! editor_session_store_suite {
    ($make:expr) => {
        #[test]
        fn editor_session_store_recorded_listed_updated_deleted() {
            $crate::meta::editor_sessions::suite::recorded_listed_updated_deleted(&$make());
        }
    };
}
