//! Metastore objects on PostgreSQL (`MetastoreStore`; see ../metastore.rs).
use postgres::GenericClient;

use super::{PgMetaStore, lock_until_commit};
use crate::meta::AlreadyExists;
use crate::meta::metastore::{MetaObject, MetastoreStore};
use kbstack_core::Result as ApiResult;

const COLUMNS: &str = "object_type, id, project_id, organization_id, name, branch, scope, target_project_ids, \
     schema_version, revision, data, created_at, last_updated, scope_elevation_requested_at";

fn from_row(r: &postgres::Row) -> Result<MetaObject, postgres::Error> {
    let targets: String = r.try_get(7)?;
    let data: String = r.try_get(10)?;
    Ok(MetaObject {
        object_type: r.try_get(0)?,
        id: r.try_get(1)?,
        project_id: r.try_get(2)?,
        organization_id: r.try_get(3)?,
        name: r.try_get(4)?,
        branch: r.try_get(5)?,
        scope: r.try_get(6)?,
        target_project_ids: serde_json::from_str(&targets).unwrap_or_default(),
        schema_version: r.try_get(8)?,
        revision: r.try_get(9)?,
        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        created_at: r.try_get(11)?,
        last_updated: r.try_get(12)?,
        scope_elevation_requested_at: r.try_get(13)?,
    })
}

/// Write `o` into `table`; `on_conflict` says what a row with the same key becomes. `seq` orders
/// objects by creation; an object's revisions carry its `seq`.
fn write(c: &mut impl GenericClient, table: &str, on_conflict: &str, o: &MetaObject, seq: i64) -> Result<u64, postgres::Error> {
    c.execute(
        &format!(
            "INSERT INTO {table} ({COLUMNS}, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) {on_conflict}"
        ),
        &[
            &o.object_type,
            &o.id,
            &o.project_id,
            &o.organization_id,
            &o.name,
            &o.branch,
            &o.scope,
            &serde_json::json!(o.target_project_ids).to_string(),
            &o.schema_version,
            &o.revision,
            &o.data.to_string(),
            &o.created_at,
            &o.last_updated,
            &o.scope_elevation_requested_at,
            &seq,
        ],
    )
}

/// A revision of the same number is replaced (scope changes keep the revision).
const REPLACE_REVISION: &str = "ON CONFLICT (object_type, id, revision) DO UPDATE SET project_id = excluded.project_id, \
     organization_id = excluded.organization_id, name = excluded.name, branch = excluded.branch, scope = excluded.scope, \
     target_project_ids = excluded.target_project_ids, schema_version = excluded.schema_version, data = excluded.data, \
     created_at = excluded.created_at, last_updated = excluded.last_updated, \
     scope_elevation_requested_at = excluded.scope_elevation_requested_at, seq = excluded.seq";

/// Names are checked and written under the project's lock, so two nodes cannot both take one.
fn name_taken(c: &mut impl GenericClient, o: &MetaObject) -> Result<bool, postgres::Error> {
    lock_until_commit(c, &format!("metastore:{}:{}", o.project_id, o.object_type))?;
    Ok(c
        .query_opt(
            "SELECT 1 FROM metastore_objects WHERE project_id = $1 AND object_type = $2 AND name = $3 AND id <> $4",
            &[&o.project_id, &o.object_type, &o.name, &o.id],
        )?
        .is_some())
}

impl MetastoreStore for PgMetaStore {
    fn insert_meta_object(&self, o: &MetaObject) -> ApiResult<Result<(), AlreadyExists>> {
        Ok(self.tx(|c| -> Result<Result<(), AlreadyExists>, postgres::Error> {
            if name_taken(c, o)? {
                return Ok(Err(AlreadyExists));
            }
            lock_until_commit(c, "metastore-seq")?;
            let seq: i64 = c.query_one("SELECT COALESCE(MAX(seq), 0) + 1 FROM metastore_objects", &[])?.try_get(0)?;
            write(c, "metastore_objects", "", o, seq)?;
            write(c, "metastore_revisions", REPLACE_REVISION, o, seq)?;
            Ok(Ok(()))
        })?)
    }

    fn save_meta_object(&self, o: &MetaObject) -> ApiResult<Result<(), AlreadyExists>> {
        Ok(self.tx(|c| -> Result<Result<(), AlreadyExists>, postgres::Error> {
            if name_taken(c, o)? {
                return Ok(Err(AlreadyExists));
            }
            let seq: Option<i64> = c
                .query_opt("SELECT seq FROM metastore_objects WHERE object_type = $1 AND id = $2", &[&o.object_type, &o.id])?
                .map(|r| r.try_get(0))
                .transpose()?;
            let seq = seq.unwrap_or(i64::MAX);
            c.execute("DELETE FROM metastore_objects WHERE object_type = $1 AND id = $2", &[&o.object_type, &o.id])?;
            write(c, "metastore_objects", "", o, seq)?;
            write(c, "metastore_revisions", REPLACE_REVISION, o, seq)?;
            Ok(Ok(()))
        })?)
    }

    fn meta_object(&self, object_type: &str, id: &str) -> ApiResult<Option<MetaObject>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM metastore_objects WHERE object_type = $1 AND id = $2"), &[&object_type, &id])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn meta_objects(&self, object_type: &str, project_id: i64, organization_id: i64) -> ApiResult<Vec<MetaObject>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM metastore_objects WHERE object_type = $1 AND (project_id = $2 OR organization_id = $3) ORDER BY seq"
                ),
                &[&object_type, &project_id, &organization_id],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn meta_object_revisions(&self, object_type: &str, project_id: i64) -> ApiResult<Vec<MetaObject>> {
        self.with(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM metastore_revisions WHERE object_type = $1 AND project_id = $2 ORDER BY seq, revision"),
                &[&object_type, &project_id],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn meta_object_revision(&self, object_type: &str, id: &str, revision: i64) -> ApiResult<Option<MetaObject>> {
        self.with(|c| {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM metastore_revisions WHERE object_type = $1 AND id = $2 AND revision = $3"),
                &[&object_type, &id, &revision],
            )?
            .as_ref()
            .map(from_row)
            .transpose()
        })
    }

    fn delete_meta_object(&self, object_type: &str, id: &str) -> ApiResult<bool> {
        Ok(self.tx(|c| -> Result<bool, postgres::Error> {
            let n = c.execute("DELETE FROM metastore_objects WHERE object_type = $1 AND id = $2", &[&object_type, &id])?;
            c.execute("DELETE FROM metastore_revisions WHERE object_type = $1 AND id = $2", &[&object_type, &id])?;
            Ok(n > 0)
        })?)
    }

    fn delete_meta_object_revision(&self, object_type: &str, id: &str, revision: i64) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM metastore_revisions WHERE object_type = $1 AND id = $2 AND revision = $3",
                &[&object_type, &id, &revision],
            )? > 0)
        })
    }
}
