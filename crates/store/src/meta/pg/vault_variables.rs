//! Vault variables on PostgreSQL (`VaultVariableStore`; see ../vault_variables.rs).
use super::PgMetaStore;
use crate::meta::AlreadyExists;
use crate::meta::vault_variables::{VaultVariable, VaultVariableStore};
use kbstack_core::Result as ApiResult;

const COLUMNS: &str = "project_id, hash, key, value, flags, attributes, created";

fn from_row(r: &postgres::Row) -> Result<VaultVariable, postgres::Error> {
    let flags: String = r.try_get(4)?;
    let attributes: String = r.try_get(5)?;
    Ok(VaultVariable {
        project_id: r.try_get(0)?,
        hash: r.try_get(1)?,
        key: r.try_get(2)?,
        value: r.try_get(3)?,
        flags: serde_json::from_str(&flags).unwrap_or_default(),
        attributes: serde_json::from_str(&attributes).unwrap_or_default(),
        created: r.try_get(6)?,
    })
}

impl VaultVariableStore for PgMetaStore {
    fn insert_vault_variable(&self, v: &VaultVariable) -> ApiResult<Result<(), AlreadyExists>> {
        let inserted = self.with(|c| {
            c.execute(
                "INSERT INTO vault_variables (project_id, hash, key, value, flags, attributes, created) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, hash) DO NOTHING",
                &[
                    &v.project_id,
                    &v.hash,
                    &v.key,
                    &v.value,
                    &serde_json::json!(v.flags).to_string(),
                    &serde_json::json!(v.attributes).to_string(),
                    &v.created,
                ],
            )
        })?;
        Ok(if inserted == 1 { Ok(()) } else { Err(AlreadyExists) })
    }

    fn vault_variables(&self, project_id: i64, key: Option<&str>) -> ApiResult<Vec<VaultVariable>> {
        self.with(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM vault_variables WHERE project_id = $1 AND ($2::TEXT IS NULL OR key = $2) ORDER BY key, seq"),
                &[&project_id, &key],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn delete_vault_variable(&self, project_id: i64, hash: &str) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM vault_variables WHERE project_id = $1 AND hash = $2", &[&project_id, &hash])? > 0))
    }
}
