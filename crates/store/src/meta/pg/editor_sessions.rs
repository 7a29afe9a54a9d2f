//! Editor sessions on PostgreSQL (`EditorSessionStore`; see ../editor_sessions.rs).
use super::{PgMetaStore, flag};
use crate::meta::editor_sessions::{EditorSession, EditorSessionStore};
use kbstack_core::Result as ApiResult;

const COLUMNS: &str = "id, project_id, branch_id, token_id, component_id, configuration_id, workspace_id, status, login_type, \
                       shared, created, updated, last_error, last_loaded_at";

fn from_row(r: &postgres::Row) -> Result<EditorSession, postgres::Error> {
    Ok(EditorSession {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        branch_id: r.try_get(2)?,
        token_id: r.try_get(3)?,
        component_id: r.try_get(4)?,
        configuration_id: r.try_get(5)?,
        workspace_id: r.try_get(6)?,
        status: r.try_get(7)?,
        login_type: r.try_get(8)?,
        shared: flag(r, 9)?,
        created: r.try_get(10)?,
        updated: r.try_get(11)?,
        last_error: r.try_get(12)?,
        last_loaded_at: r.try_get(13)?,
    })
}

impl EditorSessionStore for PgMetaStore {
    fn insert_editor_session(&self, s: &EditorSession) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                &format!("INSERT INTO editor_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"),
                &[
                    &s.id,
                    &s.project_id,
                    &s.branch_id,
                    &s.token_id,
                    &s.component_id,
                    &s.configuration_id,
                    &s.workspace_id,
                    &s.status,
                    &s.login_type,
                    &(s.shared as i64),
                    &s.created,
                    &s.updated,
                    &s.last_error,
                    &s.last_loaded_at,
                ],
            )
        })?;
        Ok(())
    }

    fn editor_session(&self, project_id: i64, id: &str) -> ApiResult<Option<EditorSession>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM editor_sessions WHERE project_id = $1 AND id = $2"), &[&project_id, &id])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn editor_sessions(&self, project_id: i64, branch_id: Option<i64>, token_id: Option<i64>) -> ApiResult<Vec<EditorSession>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM editor_sessions WHERE project_id = $1 AND ($2::BIGINT IS NULL OR branch_id = $2) \
                     AND ($3::BIGINT IS NULL OR token_id = $3) ORDER BY created, seq"
                ),
                &[&project_id, &branch_id, &token_id],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn update_editor_session(&self, s: &EditorSession) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE editor_sessions SET status = $3, updated = $4, last_error = $5, last_loaded_at = $6 WHERE project_id = $1 AND id = $2",
                &[&s.project_id, &s.id, &s.status, &s.updated, &s.last_error, &s.last_loaded_at],
            )? > 0)
        })
    }

    fn delete_editor_session(&self, project_id: i64, id: &str) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM editor_sessions WHERE project_id = $1 AND id = $2", &[&project_id, &id])? > 0))
    }
}
