//! Table records on PostgreSQL (`TableStore`; see ../tables.rs).
use postgres::GenericClient;

use super::{PgMetaStore, flag};
use crate::meta::AlreadyExists;
use crate::meta::json_col;
use crate::meta::metadata::Object;
use crate::meta::tables::{Table, TableStats, TableStore};
use kbstack_core::{Result as ApiResult, Scope};

const COLUMNS: &str = "id, project_id, branch_id, bucket_id, name, display_name, primary_key, created, last_import_date, last_change_date, is_typed, definition";

/// A table record with its stats (absent on a store from before they were kept: empty).
const SELECT: &str = "SELECT t.id, t.project_id, t.branch_id, t.bucket_id, t.name, t.display_name, t.primary_key, t.created, \
     t.last_import_date, t.last_change_date, t.is_typed, t.definition, s.columns, s.rows_count, s.data_size_bytes \
     FROM tables t LEFT JOIN table_stats s ON s.project_id = t.project_id AND s.branch_id = t.branch_id AND s.table_id = t.id";

fn from_row(r: &postgres::Row) -> Result<Table, postgres::Error> {
    let primary_key: String = r.try_get(6)?;
    let columns: Option<String> = r.try_get(12)?;
    Ok(Table {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        branch_id: r.try_get(2)?,
        bucket_id: r.try_get(3)?,
        name: r.try_get(4)?,
        display_name: r.try_get(5)?,
        primary_key: serde_json::from_str(&primary_key).unwrap_or_default(),
        created: r.try_get(7)?,
        last_import_date: r.try_get(8)?,
        last_change_date: r.try_get(9)?,
        is_typed: flag(r, 10)?,
        definition: json_col(r.try_get(11)?),
        stats: TableStats {
            columns: columns.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default(),
            rows_count: r.try_get::<_, Option<i64>>(13)?.unwrap_or(0) as u64,
            data_size_bytes: r.try_get::<_, Option<i64>>(14)?.unwrap_or(0) as u64,
        },
    })
}

fn write_stats(c: &mut impl GenericClient, project: i64, branch: i64, id: &str, stats: &TableStats) -> Result<(), postgres::Error> {
    c.execute(
        "INSERT INTO table_stats (project_id, branch_id, table_id, columns, rows_count, data_size_bytes) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (project_id, branch_id, table_id) DO UPDATE SET columns = $4, rows_count = $5, data_size_bytes = $6",
        &[&project, &branch, &id, &serde_json::json!(stats.columns).to_string(), &(stats.rows_count as i64), &(stats.data_size_bytes as i64)],
    )?;
    Ok(())
}

fn primary_key_text(primary_key: &[String]) -> String {
    serde_json::json!(primary_key).to_string()
}

impl TableStore for PgMetaStore {
    fn table(&self, scope: Scope, id: &str) -> ApiResult<Option<Table>> {
        self.with(|c| {
            c.query_opt(&format!("{SELECT} WHERE t.project_id = $1 AND t.branch_id = $2 AND t.id = $3"), &[&scope.project.get(), &scope.branch.get(), &id])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn tables(&self, scope: Scope) -> ApiResult<Vec<Table>> {
        self.with(|c| {
            c.query(&format!("{SELECT} WHERE t.project_id = $1 AND t.branch_id = $2 ORDER BY t.id"), &[&scope.project.get(), &scope.branch.get()])?
                .iter()
                .map(from_row)
                .collect()
        })
    }

    fn bucket_tables(&self, scope: Scope, bucket_id: &str) -> ApiResult<Vec<Table>> {
        self.with(|c| {
            c.query(
                &format!("{SELECT} WHERE t.project_id = $1 AND t.branch_id = $2 AND t.bucket_id = $3 ORDER BY t.id"),
                &[&scope.project.get(), &scope.branch.get(), &bucket_id],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn insert_table(&self, t: &Table) -> ApiResult<Result<(), AlreadyExists>> {
        self.tx(|tx| {
            // The key decides, also between nodes racing for the same id.
            let inserted = tx.execute(
                &format!("INSERT INTO tables ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING"),
                &[
                    &t.id,
                    &t.project_id,
                    &t.branch_id,
                    &t.bucket_id,
                    &t.name,
                    &t.display_name,
                    &primary_key_text(&t.primary_key),
                    &t.created,
                    &t.last_import_date,
                    &t.last_change_date,
                    &(t.is_typed as i64),
                    &(!t.definition.is_null()).then(|| t.definition.to_string()),
                ],
            )?;
            if inserted == 0 {
                return Ok(Err(AlreadyExists));
            }
            write_stats(tx, t.project_id, t.branch_id, &t.id, &t.stats)?;
            Ok(Ok(()))
        })
    }

    fn set_table_display_name(&self, scope: Scope, id: &str, display_name: &str, changed: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE tables SET display_name = $1, last_change_date = $2 WHERE project_id = $3 AND branch_id = $4 AND id = $5",
                &[&display_name, &changed, &scope.project.get(), &scope.branch.get(), &id],
            )
        })?;
        Ok(())
    }

    fn set_primary_key(&self, scope: Scope, id: &str, primary_key: &[String]) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE tables SET primary_key = $1 WHERE project_id = $2 AND branch_id = $3 AND id = $4",
                &[&primary_key_text(primary_key), &scope.project.get(), &scope.branch.get(), &id],
            )
        })?;
        Ok(())
    }

    fn mark_table_changed(&self, scope: Scope, id: &str, changed: &str, imported: bool, stats: &TableStats) -> ApiResult<()> {
        let (project, branch) = (scope.project.get(), scope.branch.get());
        self.tx(|tx| {
            write_stats(tx, project, branch, id, stats)?;
            tx.execute(
                "UPDATE tables SET last_change_date = $1, last_import_date = CASE WHEN $2 THEN $1 ELSE last_import_date END \
                 WHERE project_id = $3 AND branch_id = $4 AND id = $5",
                &[&changed, &imported, &project, &branch, &id],
            )?;
            tx.execute(
                "UPDATE buckets SET last_change_date = $1 WHERE project_id = $2 AND branch_id = $3 \
                 AND id = (SELECT bucket_id FROM tables WHERE project_id = $2 AND branch_id = $3 AND id = $4)",
                &[&changed, &project, &branch, &id],
            )?;
            Ok(())
        })
    }

    fn set_table_stats(&self, scope: Scope, id: &str, stats: &TableStats) -> ApiResult<()> {
        self.with(|c| write_stats(c, scope.project.get(), scope.branch.get(), id, stats))
    }

    fn project_table_stats(&self, project_id: i64) -> ApiResult<(u64, u64)> {
        self.with(|c| {
            // sum() of BIGINT is NUMERIC in PostgreSQL: back to BIGINT.
            let r = c.query_one(
                "SELECT COALESCE(sum(s.rows_count), 0)::BIGINT, COALESCE(sum(s.data_size_bytes), 0)::BIGINT FROM table_stats s \
                 JOIN tables t ON t.project_id = s.project_id AND t.branch_id = s.branch_id AND t.id = s.table_id \
                 WHERE s.project_id = $1",
                &[&project_id],
            )?;
            Ok((r.try_get::<_, i64>(0)? as u64, r.try_get::<_, i64>(1)? as u64))
        })
    }

    fn every_table(&self) -> ApiResult<Vec<Table>> {
        self.with(|c| c.query(&format!("{SELECT} ORDER BY t.project_id, t.branch_id, t.id"), &[])?.iter().map(from_row).collect())
    }

    fn delete_table(&self, scope: Scope, id: &str) -> ApiResult<()> {
        let (project, branch) = (scope.project.get(), scope.branch.get());
        self.tx(|tx| {
            tx.execute("DELETE FROM table_stats WHERE project_id = $1 AND branch_id = $2 AND table_id = $3", &[&project, &branch, &id])?;
            tx.execute(
                "DELETE FROM metadata WHERE project_id = $1 AND branch_id = $2 AND object_type = $3 AND object_id = $4",
                &[&project, &branch, &Object::Table.as_str(), &id],
            )?;
            // A column's object id is `tableId.column`.
            tx.execute(
                "DELETE FROM metadata WHERE project_id = $1 AND branch_id = $2 AND object_type = $3 AND starts_with(object_id, $4)",
                &[&project, &branch, &Object::Column.as_str(), &format!("{id}.")],
            )?;
            tx.execute("DELETE FROM tables WHERE project_id = $1 AND branch_id = $2 AND id = $3", &[&project, &branch, &id])?;
            Ok(())
        })
    }
}
