//! Provisioning credentials on PostgreSQL (`ProvisioningStore`; see ../provisioning.rs).
use super::PgMetaStore;
use crate::meta::provisioning::{ProvisioningCredentials, ProvisioningStore};
use kbstack_core::Result as ApiResult;

const COLUMNS: &str = "id, project_id, backend, kind, token_id, workspace_id, sealed_password, created_ms, touch_ms";

fn from_row(r: &postgres::Row) -> Result<ProvisioningCredentials, postgres::Error> {
    Ok(ProvisioningCredentials {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        backend: r.try_get(2)?,
        kind: r.try_get(3)?,
        token_id: r.try_get(4)?,
        workspace_id: r.try_get(5)?,
        sealed_password: r.try_get(6)?,
        created_ms: r.try_get(7)?,
        touch_ms: r.try_get(8)?,
    })
}

impl ProvisioningStore for PgMetaStore {
    fn insert_provisioning_credentials(&self, c: &ProvisioningCredentials) -> ApiResult<i64> {
        self.with(|conn| {
            conn.query_one(
                "INSERT INTO provisioning_credentials (project_id, backend, kind, token_id, workspace_id, sealed_password, created_ms, touch_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[&c.project_id, &c.backend, &c.kind, &c.token_id, &c.workspace_id, &c.sealed_password, &c.created_ms, &c.touch_ms],
            )?
            .try_get(0)
        })
    }

    fn provisioning_credentials(&self, project_id: i64, id: i64) -> ApiResult<Option<ProvisioningCredentials>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM provisioning_credentials WHERE project_id = $1 AND id = $2"), &[&project_id, &id])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn token_provisioning_credentials(&self, project_id: i64, token_id: i64, backend: &str, kind: &str) -> ApiResult<Option<ProvisioningCredentials>> {
        self.with(|c| {
            c.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM provisioning_credentials WHERE project_id = $1 AND token_id = $2 AND backend = $3 AND kind = $4 \
                     ORDER BY id DESC LIMIT 1"
                ),
                &[&project_id, &token_id, &backend, &kind],
            )?
            .as_ref()
            .map(from_row)
            .transpose()
        })
    }

    fn touch_provisioning_credentials(&self, project_id: i64, id: i64, touch_ms: i64) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute("UPDATE provisioning_credentials SET touch_ms = $3 WHERE project_id = $1 AND id = $2", &[&project_id, &id, &touch_ms])? > 0)
        })
    }

    fn delete_provisioning_credentials(&self, project_id: i64, id: i64) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM provisioning_credentials WHERE project_id = $1 AND id = $2", &[&project_id, &id])? > 0))
    }
}
