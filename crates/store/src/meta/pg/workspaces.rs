//! Workspace records on PostgreSQL (`WorkspaceStore`; see ../workspaces.rs).
use super::{PgMetaStore, flag};
use crate::meta::workspaces::{Workspace, WorkspaceStore};
use kbstack_core::Result as ApiResult;

const COLUMNS: &str = "id, project_id, branch_id, component, configuration_id, backend, backend_size, login_type, \
                       read_only_storage_access, statement_timeout_seconds, created, creator_token_id, \
                       creator_description, password_hash, public_key";

fn from_row(r: &postgres::Row) -> Result<Workspace, postgres::Error> {
    Ok(Workspace {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        branch_id: r.try_get(2)?,
        component: r.try_get(3)?,
        configuration_id: r.try_get(4)?,
        backend: r.try_get(5)?,
        backend_size: r.try_get(6)?,
        login_type: r.try_get(7)?,
        read_only_storage_access: flag(r, 8)?,
        statement_timeout_seconds: r.try_get(9)?,
        created: r.try_get(10)?,
        creator_token_id: r.try_get(11)?,
        creator_description: r.try_get(12)?,
        password_hash: r.try_get(13)?,
        public_key: r.try_get(14)?,
    })
}

impl WorkspaceStore for PgMetaStore {
    fn insert_workspace(&self, w: &Workspace) -> ApiResult<i64> {
        self.with(|c| {
            c.query_one(
                "INSERT INTO workspaces (project_id, branch_id, component, configuration_id, backend, backend_size, \
                 login_type, read_only_storage_access, statement_timeout_seconds, created, creator_token_id, \
                 creator_description, password_hash, public_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
                &[
                    &w.project_id,
                    &w.branch_id,
                    &w.component,
                    &w.configuration_id,
                    &w.backend,
                    &w.backend_size,
                    &w.login_type,
                    &(w.read_only_storage_access as i64),
                    &w.statement_timeout_seconds,
                    &w.created,
                    &w.creator_token_id,
                    &w.creator_description,
                    &w.password_hash,
                    &w.public_key,
                ],
            )?
            .try_get(0)
        })
    }

    fn workspace(&self, project_id: i64, id: i64) -> ApiResult<Option<Workspace>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM workspaces WHERE project_id = $1 AND id = $2"), &[&project_id, &id])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn workspaces(&self, project_id: i64, branch_id: i64) -> ApiResult<Vec<Workspace>> {
        self.with(|c| {
            c.query(&format!("SELECT {COLUMNS} FROM workspaces WHERE project_id = $1 AND branch_id = $2 ORDER BY id"), &[&project_id, &branch_id])?
                .iter()
                .map(from_row)
                .collect()
        })
    }

    fn configuration_workspaces(&self, project_id: i64, branch_id: i64, component: &str, configuration_id: &str) -> ApiResult<Vec<Workspace>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM workspaces WHERE project_id = $1 AND branch_id = $2 AND component = $3 \
                     AND configuration_id = $4 ORDER BY id"
                ),
                &[&project_id, &branch_id, &component, &configuration_id],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn set_workspace_password(&self, project_id: i64, id: i64, password_hash: Option<&str>) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute("UPDATE workspaces SET password_hash = $3 WHERE project_id = $1 AND id = $2", &[&project_id, &id, &password_hash])? > 0)
        })
    }

    fn set_workspace_public_key(&self, project_id: i64, id: i64, public_key: &str) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute("UPDATE workspaces SET public_key = $3 WHERE project_id = $1 AND id = $2", &[&project_id, &id, &public_key])? > 0)
        })
    }

    fn delete_workspace(&self, project_id: i64, id: i64) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM workspaces WHERE project_id = $1 AND id = $2", &[&project_id, &id])? > 0))
    }
}
