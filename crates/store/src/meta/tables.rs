//! Table records in the metadata store (the data lives behind `TableBackend`): the record, the
//! repository trait, its SQLite implementation and the conformance suite (`table_store_suite!`).
//! A table id (`in.c-main.orders`) is unique per branch.
use crate::meta::Cached;
use rusqlite::OptionalExtension;
use serde_json::Value;

use super::metadata::Object;
use super::{AlreadyExists, SqliteMetaStore, json_col};
use crate::backend::TableLocation;
use kbstack_core::{Result as ApiResult, Scope};

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub id: String,
    pub project_id: i64,
    pub branch_id: i64,
    pub bucket_id: String,
    pub name: String,
    pub display_name: String,
    pub primary_key: Vec<String>,
    pub created: String,
    pub last_import_date: Option<String>,
    pub last_change_date: Option<String>,
    pub is_typed: bool,
    /// The `tables-definition` a typed table was created with (JSON); `Null` for untyped tables.
    pub definition: Value,
    /// Its data as last written.
    pub stats: TableStats,
}

/// A table's data as last written: every write to it records these with the change, so reading
/// a table's shape and size never touches its data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableStats {
    pub columns: Vec<String>,
    pub rows_count: u64,
    pub data_size_bytes: u64,
}

impl Table {
    pub fn scope(&self) -> Scope {
        Scope::new(self.project_id, self.branch_id)
    }

    /// Where the table's data lives in the table backend.
    pub fn location(&self) -> TableLocation {
        TableLocation {
            project_id: self.project_id,
            branch_id: self.branch_id,
            bucket_id: self.bucket_id.clone(),
            table: self.name.clone(),
        }
    }
}

pub trait TableStore {
    fn table(&self, scope: Scope, id: &str) -> ApiResult<Option<Table>>;
    /// The branch's tables, by id.
    fn tables(&self, scope: Scope) -> ApiResult<Vec<Table>>;
    /// The bucket's tables, by id.
    fn bucket_tables(&self, scope: Scope, bucket_id: &str) -> ApiResult<Vec<Table>>;
    /// Insert `table` in its branch, in one transaction, unless its id is taken there.
    fn insert_table(&self, table: &Table) -> ApiResult<Result<(), AlreadyExists>>;
    fn set_table_display_name(&self, scope: Scope, id: &str, display_name: &str, changed: &str) -> ApiResult<()>;
    fn set_primary_key(&self, scope: Scope, id: &str, primary_key: &[String]) -> ApiResult<()>;
    /// A write to the table's data at `changed` (an import when `imported`): the table's last
    /// change (and last import), its data as written, and its bucket's last change, in one
    /// transaction.
    fn mark_table_changed(&self, scope: Scope, id: &str, changed: &str, imported: bool, stats: &TableStats) -> ApiResult<()>;
    /// Record the table's data as it is (a data dir from before stats were kept, a write cut
    /// short by a crash); no change date moves.
    fn set_table_stats(&self, scope: Scope, id: &str, stats: &TableStats) -> ApiResult<()>;
    /// Rows and bytes of every table of the project, in all its branches.
    fn project_table_stats(&self, project_id: i64) -> ApiResult<(u64, u64)>;
    /// Every table of every project and branch (start-up checks).
    fn every_table(&self) -> ApiResult<Vec<Table>>;
    /// Delete the table's record with its metadata and its columns' metadata, in one transaction
    /// (its data is dropped by the caller).
    fn delete_table(&self, scope: Scope, id: &str) -> ApiResult<()>;
}

const COLUMNS: &str = "id, project_id, branch_id, bucket_id, name, display_name, primary_key, created, last_import_date, last_change_date, is_typed, definition";

/// A table record with its stats (absent on a data dir from before they were kept: empty).
const SELECT: &str = "SELECT t.id, t.project_id, t.branch_id, t.bucket_id, t.name, t.display_name, t.primary_key, t.created, \
     t.last_import_date, t.last_change_date, t.is_typed, t.definition, s.columns, s.rows_count, s.data_size_bytes \
     FROM tables t LEFT JOIN table_stats s ON s.project_id = t.project_id AND s.branch_id = t.branch_id AND s.table_id = t.id";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Table> {
    let primary_key: String = r.get(6)?;
    let columns: Option<String> = r.get(12)?;
    Ok(Table {
        id: r.get(0)?,
        project_id: r.get(1)?,
        branch_id: r.get(2)?,
        bucket_id: r.get(3)?,
        name: r.get(4)?,
        display_name: r.get(5)?,
        primary_key: serde_json::from_str(&primary_key).unwrap_or_default(),
        created: r.get(7)?,
        last_import_date: r.get(8)?,
        last_change_date: r.get(9)?,
        is_typed: r.get(10)?,
        definition: json_col(r.get(11)?),
        stats: TableStats {
            columns: columns.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default(),
            rows_count: r.get::<_, Option<i64>>(13)?.unwrap_or(0) as u64,
            data_size_bytes: r.get::<_, Option<i64>>(14)?.unwrap_or(0) as u64,
        },
    })
}

fn write_stats(c: &rusqlite::Connection, project: i64, branch: i64, id: &str, stats: &TableStats) -> rusqlite::Result<()> {
    c.execute_cached(
        "INSERT INTO table_stats (project_id, branch_id, table_id, columns, rows_count, data_size_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (project_id, branch_id, table_id) DO UPDATE SET columns = ?4, rows_count = ?5, data_size_bytes = ?6",
        rusqlite::params![project, branch, id, serde_json::json!(stats.columns).to_string(), stats.rows_count as i64, stats.data_size_bytes as i64],
    )?;
    Ok(())
}

fn primary_key_text(primary_key: &[String]) -> String {
    serde_json::json!(primary_key).to_string()
}

impl TableStore for SqliteMetaStore {
    fn table(&self, scope: Scope, id: &str) -> ApiResult<Option<Table>> {
        self.with(|c| {
            c.query_row_cached(
                &format!("{SELECT} WHERE t.project_id = ?1 AND t.branch_id = ?2 AND t.id = ?3"),
                rusqlite::params![scope.project.get(), scope.branch.get(), id],
                from_row,
            )
            .optional()
        })
    }

    fn tables(&self, scope: Scope) -> ApiResult<Vec<Table>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("{SELECT} WHERE t.project_id = ?1 AND t.branch_id = ?2 ORDER BY t.id"))?;
            st.query_map([scope.project.get(), scope.branch.get()], from_row)?.collect()
        })
    }

    fn bucket_tables(&self, scope: Scope, bucket_id: &str) -> ApiResult<Vec<Table>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "{SELECT} WHERE t.project_id = ?1 AND t.branch_id = ?2 AND t.bucket_id = ?3 ORDER BY t.id"
            ))?;
            st.query_map(rusqlite::params![scope.project.get(), scope.branch.get(), bucket_id], from_row)?.collect()
        })
    }

    fn insert_table(&self, t: &Table) -> ApiResult<Result<(), AlreadyExists>> {
        self.tx(|tx| {
            let taken = tx
                .query_row_cached(
                    "SELECT 1 FROM tables WHERE project_id = ?1 AND branch_id = ?2 AND id = ?3",
                    rusqlite::params![t.project_id, t.branch_id, t.id],
                    |_| Ok(()),
                )
                .optional()?;
            if taken.is_some() {
                return Ok(Err(AlreadyExists));
            }
            tx.execute_cached(
                &format!("INSERT INTO tables ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
                rusqlite::params![
                    t.id,
                    t.project_id,
                    t.branch_id,
                    t.bucket_id,
                    t.name,
                    t.display_name,
                    primary_key_text(&t.primary_key),
                    t.created,
                    t.last_import_date,
                    t.last_change_date,
                    t.is_typed,
                    (!t.definition.is_null()).then(|| t.definition.to_string()),
                ],
            )?;
            write_stats(tx, t.project_id, t.branch_id, &t.id, &t.stats)?;
            Ok(Ok(()))
        })
    }

    fn set_table_display_name(&self, scope: Scope, id: &str, display_name: &str, changed: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute_cached(
                "UPDATE tables SET display_name = ?1, last_change_date = ?2 WHERE project_id = ?3 AND branch_id = ?4 AND id = ?5",
                rusqlite::params![display_name, changed, scope.project.get(), scope.branch.get(), id],
            )
        })?;
        Ok(())
    }

    fn set_primary_key(&self, scope: Scope, id: &str, primary_key: &[String]) -> ApiResult<()> {
        self.with(|c| {
            c.execute_cached(
                "UPDATE tables SET primary_key = ?1 WHERE project_id = ?2 AND branch_id = ?3 AND id = ?4",
                rusqlite::params![primary_key_text(primary_key), scope.project.get(), scope.branch.get(), id],
            )
        })?;
        Ok(())
    }

    fn mark_table_changed(&self, scope: Scope, id: &str, changed: &str, imported: bool, stats: &TableStats) -> ApiResult<()> {
        let (project, branch) = (scope.project.get(), scope.branch.get());
        self.tx(|tx| {
            write_stats(tx, project, branch, id, stats)?;
            tx.execute_cached(
                "UPDATE tables SET last_change_date = ?1, last_import_date = CASE WHEN ?2 THEN ?1 ELSE last_import_date END \
                 WHERE project_id = ?3 AND branch_id = ?4 AND id = ?5",
                rusqlite::params![changed, imported, project, branch, id],
            )?;
            tx.execute_cached(
                "UPDATE buckets SET last_change_date = ?1 WHERE project_id = ?2 AND branch_id = ?3 \
                 AND id = (SELECT bucket_id FROM tables WHERE project_id = ?2 AND branch_id = ?3 AND id = ?4)",
                rusqlite::params![changed, project, branch, id],
            )?;
            Ok(())
        })
    }

    fn set_table_stats(&self, scope: Scope, id: &str, stats: &TableStats) -> ApiResult<()> {
        self.with(|c| write_stats(c, scope.project.get(), scope.branch.get(), id, stats))
    }

    fn project_table_stats(&self, project_id: i64) -> ApiResult<(u64, u64)> {
        self.cached(|c| &c.table_stats, &project_id, |_| true, |c| {
            c.query_row_cached(
                "SELECT COALESCE(sum(s.rows_count), 0), COALESCE(sum(s.data_size_bytes), 0) FROM table_stats s \
                 JOIN tables t ON t.project_id = s.project_id AND t.branch_id = s.branch_id AND t.id = s.table_id \
                 WHERE s.project_id = ?1",
                [project_id],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
        })
    }

    fn every_table(&self) -> ApiResult<Vec<Table>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("{SELECT} ORDER BY t.project_id, t.branch_id, t.id"))?;
            st.query_map([], from_row)?.collect()
        })
    }

    fn delete_table(&self, scope: Scope, id: &str) -> ApiResult<()> {
        let (project, branch) = (scope.project.get(), scope.branch.get());
        self.tx(|tx| {
            tx.execute_cached("DELETE FROM table_stats WHERE project_id = ?1 AND branch_id = ?2 AND table_id = ?3", rusqlite::params![project, branch, id])?;
            tx.execute_cached(
                "DELETE FROM metadata WHERE project_id = ?1 AND branch_id = ?2 AND object_type = ?3 AND object_id = ?4",
                rusqlite::params![project, branch, Object::Table.as_str(), id],
            )?;
            // A column's object id is `tableId.column`.
            tx.execute_cached(
                "DELETE FROM metadata WHERE project_id = ?1 AND branch_id = ?2 AND object_type = ?3 AND substr(object_id, 1, length(?4)) = ?4",
                rusqlite::params![project, branch, Object::Column.as_str(), format!("{id}.")],
            )?;
            tx.execute_cached("DELETE FROM tables WHERE project_id = ?1 AND branch_id = ?2 AND id = ?3", rusqlite::params![project, branch, id])?;
            Ok(())
        })
    }
}

/// The behaviour every `TableStore` must have; `table_store_suite!` runs each check as a named
/// test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::buckets::{BucketStore, suite::bucket};
    use crate::meta::metadata::MetadataStore;

    const CREATED: &str = "2026-01-01T00:00:00+0000";

    pub fn table(scope: Scope, bucket_id: &str, name: &str) -> Table {
        Table {
            id: format!("{bucket_id}.{name}"),
            project_id: scope.project.get(),
            branch_id: scope.branch.get(),
            bucket_id: bucket_id.into(),
            name: name.into(),
            display_name: name.into(),
            primary_key: Vec::new(),
            created: CREATED.into(),
            last_import_date: None,
            last_change_date: Some(CREATED.into()),
            is_typed: false,
            definition: Value::Null,
            stats: TableStats { columns: vec!["id".into()], rows_count: 0, data_size_bytes: 0 },
        }
    }

    fn stats(columns: &[&str], rows_count: u64, data_size_bytes: u64) -> TableStats {
        TableStats { columns: columns.iter().map(|c| c.to_string()).collect(), rows_count, data_size_bytes }
    }

    fn ids(tables: Vec<Table>) -> Vec<String> {
        tables.into_iter().map(|t| t.id).collect()
    }

    pub fn inserted_and_listed_per_branch_and_bucket<S: TableStore>(s: &S) {
        let (main, dev, other) = (Scope::new(1, 1), Scope::new(1, 2), Scope::new(2, 3));
        let mut typed = table(main, "in.c-a", "typed");
        typed.is_typed = true;
        typed.primary_key = vec!["id".into(), "day".into()];
        typed.definition = serde_json::json!({"primaryKeysNames": ["id", "day"], "columns": [{"name": "id", "basetype": "INTEGER"}]});
        s.insert_table(&typed).unwrap().unwrap();
        s.insert_table(&table(main, "in.c-b", "x")).unwrap().unwrap();
        s.insert_table(&table(main, "in.c-a", "plain")).unwrap().unwrap();
        s.insert_table(&table(dev, "in.c-a", "dev")).unwrap().unwrap();
        s.insert_table(&table(other, "in.c-a", "theirs")).unwrap().unwrap();

        assert_eq!(s.table(main, "in.c-a.typed").unwrap(), Some(typed), "stored as given");
        assert_eq!(s.table(main, "in.c-a.plain").unwrap().unwrap().definition, Value::Null);
        assert_eq!(ids(s.tables(main).unwrap()), vec!["in.c-a.plain", "in.c-a.typed", "in.c-b.x"], "by id, one branch");
        assert_eq!(ids(s.bucket_tables(main, "in.c-a").unwrap()), vec!["in.c-a.plain", "in.c-a.typed"]);
        assert_eq!(ids(s.bucket_tables(dev, "in.c-a").unwrap()), vec!["in.c-a.dev"]);
        assert_eq!(s.table(main, "in.c-a.dev").unwrap(), None, "another branch's table is not found");
        assert_eq!(s.table(Scope::new(2, 1), "in.c-a.plain").unwrap(), None, "nor another project's");
    }

    pub fn ids_unique_per_branch<S: TableStore>(s: &S) {
        let (main, dev) = (Scope::new(1, 1), Scope::new(1, 2));
        s.insert_table(&table(main, "in.c-a", "t")).unwrap().unwrap();
        let mut again = table(main, "in.c-a", "t");
        again.display_name = "other".into();
        assert_eq!(s.insert_table(&again).unwrap(), Err(AlreadyExists));
        assert_eq!(s.table(main, "in.c-a.t").unwrap().unwrap().display_name, "t", "a refused insert changes nothing");
        assert_eq!(s.insert_table(&table(dev, "in.c-a", "t")).unwrap(), Ok(()));
        assert_eq!(s.insert_table(&table(Scope::new(2, 1), "in.c-a", "t")).unwrap(), Ok(()));
    }

    pub fn updated_and_changes_reach_the_bucket<S: BucketStore + TableStore>(s: &S) {
        let main = Scope::new(1, 1);
        s.insert_bucket(&bucket(main, "a")).unwrap().unwrap();
        s.insert_table(&table(main, "in.c-a", "t")).unwrap().unwrap();
        s.set_table_display_name(main, "in.c-a.t", "shown", "2026-02-01T00:00:00+0000").unwrap();
        s.set_primary_key(main, "in.c-a.t", &["id".into()]).unwrap();
        let t = s.table(main, "in.c-a.t").unwrap().unwrap();
        assert_eq!((t.display_name.as_str(), t.last_change_date.as_deref()), ("shown", Some("2026-02-01T00:00:00+0000")));
        assert_eq!(t.primary_key, vec!["id"]);
        s.set_primary_key(main, "in.c-a.t", &[]).unwrap();
        assert!(s.table(main, "in.c-a.t").unwrap().unwrap().primary_key.is_empty());

        s.mark_table_changed(main, "in.c-a.t", "2026-03-01T00:00:00+0000", false, &stats(&["id"], 0, 0)).unwrap();
        let t = s.table(main, "in.c-a.t").unwrap().unwrap();
        assert_eq!((t.last_change_date.as_deref(), t.last_import_date.as_deref()), (Some("2026-03-01T00:00:00+0000"), None));
        s.mark_table_changed(main, "in.c-a.t", "2026-03-02T00:00:00+0000", true, &stats(&["id"], 0, 0)).unwrap();
        let t = s.table(main, "in.c-a.t").unwrap().unwrap();
        assert_eq!(t.last_import_date.as_deref(), Some("2026-03-02T00:00:00+0000"));
        assert_eq!(s.bucket(main, "in.c-a").unwrap().unwrap().last_change_date.as_deref(), Some("2026-03-02T00:00:00+0000"));
        // A table whose bucket record is missing still takes the change.
        s.insert_table(&table(main, "in.c-gone", "t")).unwrap().unwrap();
        s.mark_table_changed(main, "in.c-gone.t", "2026-03-03T00:00:00+0000", true, &stats(&["id"], 0, 0)).unwrap();
        assert_eq!(s.table(main, "in.c-gone.t").unwrap().unwrap().last_import_date.as_deref(), Some("2026-03-03T00:00:00+0000"));
    }

    pub fn stats_kept_with_every_write<S: TableStore>(s: &S) {
        let (main, dev, other) = (Scope::new(1, 1), Scope::new(1, 2), Scope::new(2, 3));
        let mut t = table(main, "in.c-a", "t");
        t.stats = stats(&["id", "name"], 0, 0);
        s.insert_table(&t).unwrap().unwrap();
        assert_eq!(s.table(main, "in.c-a.t").unwrap().unwrap().stats, stats(&["id", "name"], 0, 0), "created with its columns");

        s.mark_table_changed(main, "in.c-a.t", "2026-03-01T00:00:00+0000", true, &stats(&["id", "name", "new"], 10, 240)).unwrap();
        let got = s.table(main, "in.c-a.t").unwrap().unwrap();
        assert_eq!(got.stats, stats(&["id", "name", "new"], 10, 240), "a write records the data as written");
        assert_eq!(s.tables(main).unwrap()[0].stats, got.stats, "listings carry them");

        s.set_table_stats(main, "in.c-a.t", &stats(&["id", "name", "new"], 7, 168)).unwrap();
        let got = s.table(main, "in.c-a.t").unwrap().unwrap();
        assert_eq!(got.stats.rows_count, 7);
        assert_eq!(got.last_change_date.as_deref(), Some("2026-03-01T00:00:00+0000"), "a recount moves no change date");

        let mut in_dev = table(dev, "in.c-a", "t");
        in_dev.stats = stats(&["id"], 3, 16);
        s.insert_table(&in_dev).unwrap().unwrap();
        let mut theirs = table(other, "in.c-a", "t");
        theirs.stats = stats(&["id"], 1000, 8000);
        s.insert_table(&theirs).unwrap().unwrap();
        assert_eq!(s.project_table_stats(1).unwrap(), (10, 184), "every branch of the project, no other project");
        assert_eq!(s.project_table_stats(9).unwrap(), (0, 0));
        assert_eq!(s.every_table().unwrap().len(), 3);

        s.delete_table(dev, "in.c-a.t").unwrap();
        assert_eq!(s.project_table_stats(1).unwrap(), (7, 168), "a deleted table's stats go with it");
        s.insert_table(&table(dev, "in.c-a", "t")).unwrap().unwrap();
        assert_eq!(s.table(dev, "in.c-a.t").unwrap().unwrap().stats.rows_count, 0, "a new table of the same id starts afresh");
    }

    pub fn deleted_with_its_and_its_columns_metadata<S: TableStore + MetadataStore>(s: &S) {
        let (main, dev) = (Scope::new(1, 1), Scope::new(1, 2));
        let meta = [("k".to_string(), "v".to_string())];
        for scope in [main, dev] {
            s.insert_table(&table(scope, "in.c-a", "t")).unwrap().unwrap();
            s.upsert_metadata(scope, Object::Table, "in.c-a.t", "user", &meta, CREATED).unwrap();
            s.upsert_metadata(scope, Object::Column, "in.c-a.t.id", "user", &meta, CREATED).unwrap();
        }
        s.insert_table(&table(main, "in.c-a", "tt")).unwrap().unwrap();
        s.upsert_metadata(main, Object::Column, "in.c-a.tt.id", "user", &meta, CREATED).unwrap();

        s.delete_table(main, "in.c-a.t").unwrap();
        assert_eq!(s.table(main, "in.c-a.t").unwrap(), None);
        assert!(s.metadata(main, Object::Table, "in.c-a.t").unwrap().is_empty());
        assert!(s.metadata(main, Object::Column, "in.c-a.t.id").unwrap().is_empty());
        assert_eq!(s.metadata(main, Object::Column, "in.c-a.tt.id").unwrap().len(), 1, "a table whose id starts alike keeps its own");
        assert!(s.table(dev, "in.c-a.t").unwrap().is_some(), "the same id in another branch stays");
        assert_eq!(s.metadata(dev, Object::Column, "in.c-a.t.id").unwrap().len(), 1);
    }
}

#[macro_export]
macro_rules! table_store_suite {
    ($make:expr) => {
        #[test]
        fn table_store_inserted_and_listed_per_branch_and_bucket() {
            $crate::meta::tables::suite::inserted_and_listed_per_branch_and_bucket(&$make());
        }
        #[test]
        fn table_store_ids_unique_per_branch() {
            $crate::meta::tables::suite::ids_unique_per_branch(&$make());
        }
        #[test]
        fn table_store_updated_and_changes_reach_the_bucket() {
            $crate::meta::tables::suite::updated_and_changes_reach_the_bucket(&$make());
        }
        #[test]
        fn table_store_stats_kept_with_every_write() {
            $crate::meta::tables::suite::stats_kept_with_every_write(&$make());
        }
        #[test]
        fn table_store_deleted_with_its_and_its_columns_metadata() {
            $crate::meta::tables::suite::deleted_with_its_and_its_columns_metadata(&$make());
        }
    };
}
