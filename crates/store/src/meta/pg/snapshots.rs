//! Table snapshots on PostgreSQL (`SnapshotStore`; see ../snapshots.rs).
use super::{PgMetaStore, flag};
use crate::meta::json_col;
use crate::meta::snapshots::{Snapshot, SnapshotStore};
use kbstack_core::Result as ApiResult;

const COLUMNS: &str = "id, project_id, branch_id, table_id, description, created, creator_token_id, creator_description, \
                       primary_key, columns, is_typed, definition, table_metadata, column_metadata";

fn from_row(r: &postgres::Row) -> Result<Snapshot, postgres::Error> {
    let list = |text: String| serde_json::from_str(&text).unwrap_or_default();
    Ok(Snapshot {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        branch_id: r.try_get(2)?,
        table_id: r.try_get(3)?,
        description: r.try_get(4)?,
        created: r.try_get(5)?,
        creator_token_id: r.try_get(6)?,
        creator_description: r.try_get(7)?,
        primary_key: list(r.try_get(8)?),
        columns: list(r.try_get(9)?),
        is_typed: flag(r, 10)?,
        definition: json_col(r.try_get(11)?),
        table_metadata: json_col(r.try_get(12)?),
        column_metadata: json_col(r.try_get(13)?),
    })
}

impl SnapshotStore for PgMetaStore {
    fn insert_snapshot(&self, s: &Snapshot) -> ApiResult<i64> {
        self.with(|c| {
            c.query_one(
                "INSERT INTO table_snapshots (project_id, branch_id, table_id, description, created, creator_token_id, \
                 creator_description, primary_key, columns, is_typed, definition, table_metadata, column_metadata) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                &[
                    &s.project_id,
                    &s.branch_id,
                    &s.table_id,
                    &s.description,
                    &s.created,
                    &s.creator_token_id,
                    &s.creator_description,
                    &serde_json::json!(s.primary_key).to_string(),
                    &serde_json::json!(s.columns).to_string(),
                    &(s.is_typed as i64),
                    &s.definition.to_string(),
                    &s.table_metadata.to_string(),
                    &s.column_metadata.to_string(),
                ],
            )?
            .try_get(0)
        })
    }

    fn snapshot(&self, project_id: i64, id: i64) -> ApiResult<Option<Snapshot>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM table_snapshots WHERE project_id = $1 AND id = $2"), &[&project_id, &id])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn table_snapshots(&self, project_id: i64, branch_id: i64, table_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<Snapshot>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM table_snapshots WHERE project_id = $1 AND branch_id = $2 AND table_id = $3 \
                     ORDER BY id DESC LIMIT $4 OFFSET $5"
                ),
                &[&project_id, &branch_id, &table_id, &limit, &offset],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn delete_snapshot(&self, project_id: i64, id: i64) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM table_snapshots WHERE project_id = $1 AND id = $2", &[&project_id, &id])? > 0))
    }
}
