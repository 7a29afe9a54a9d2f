//! Metadata items on PostgreSQL (`MetadataStore`; see ../metadata.rs).
use super::PgMetaStore;
use crate::meta::metadata::{MetadataItem, MetadataStore, Object};
use kbstack_core::{Result as ApiResult, Scope};

const COLUMNS: &str = "id, object_id, provider, key, value, timestamp";

fn from_row(r: &postgres::Row) -> Result<MetadataItem, postgres::Error> {
    Ok(MetadataItem {
        id: r.try_get(0)?,
        object_id: r.try_get(1)?,
        provider: r.try_get(2)?,
        key: r.try_get(3)?,
        value: r.try_get(4)?,
        timestamp: r.try_get(5)?,
    })
}

impl MetadataStore for PgMetaStore {
    fn metadata(&self, scope: Scope, object: Object, object_id: &str) -> ApiResult<Vec<MetadataItem>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM metadata WHERE project_id = $1 AND branch_id = $2 AND object_type = $3 AND object_id = $4 ORDER BY id"
                ),
                &[&scope.project.get(), &scope.branch.get(), &object.as_str(), &object_id],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn metadata_by_prefix(&self, scope: Scope, object: Object, prefix: &str) -> ApiResult<Vec<MetadataItem>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM metadata WHERE project_id = $1 AND branch_id = $2 AND object_type = $3 \
                     AND starts_with(object_id, $4) ORDER BY id"
                ),
                &[&scope.project.get(), &scope.branch.get(), &object.as_str(), &prefix],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn upsert_metadata(
        &self,
        scope: Scope,
        object: Object,
        object_id: &str,
        provider: &str,
        pairs: &[(String, String)],
        timestamp: &str,
    ) -> ApiResult<()> {
        self.tx(|tx| {
            for (key, value) in pairs {
                tx.execute(
                    "INSERT INTO metadata (project_id, branch_id, object_type, object_id, provider, key, value, timestamp) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (project_id, branch_id, object_type, object_id, provider, key) \
                     DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp",
                    &[&scope.project.get(), &scope.branch.get(), &object.as_str(), &object_id, &provider, key, value, &timestamp],
                )?;
            }
            Ok(())
        })
    }

    fn delete_metadata(&self, scope: Scope, object: Object, object_id: &str, id: i64) -> ApiResult<bool> {
        let deleted = self.with(|c| {
            c.execute(
                "DELETE FROM metadata WHERE id = $1 AND project_id = $2 AND branch_id = $3 AND object_type = $4 AND object_id = $5",
                &[&id, &scope.project.get(), &scope.branch.get(), &object.as_str(), &object_id],
            )
        })?;
        Ok(deleted > 0)
    }

    fn purge_metadata(&self, scope: Scope, object: Object, object_id: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM metadata WHERE project_id = $1 AND branch_id = $2 AND object_type = $3 AND object_id = $4",
                &[&scope.project.get(), &scope.branch.get(), &object.as_str(), &object_id],
            )
        })?;
        Ok(())
    }
}
