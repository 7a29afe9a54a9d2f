//! Metadata on buckets, tables, columns, branches and configurations in the metadata store:
//! `(key, value)` items under a provider, one per (provider, key) of an object, scoped by project
//! and branch. The trait, its SQLite implementation and the conformance suite
//! (`metadata_store_suite!`).
use crate::meta::Cached;
use super::SqliteMetaStore;
use kbstack_core::{Result as ApiResult, Scope};

/// What metadata hangs on; the object id is the Keboola id (bucket id, table id, `tableId.column`,
/// branch id, `componentId/configId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    Bucket,
    Table,
    Column,
    Branch,
    Configuration,
}

impl Object {
    pub fn as_str(self) -> &'static str {
        match self {
            Object::Bucket => "bucket",
            Object::Table => "table",
            Object::Column => "column",
            Object::Branch => "branch",
            Object::Configuration => "configuration",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetadataItem {
    pub id: i64,
    pub object_id: String,
    pub provider: String,
    pub key: String,
    pub value: String,
    pub timestamp: String,
}

pub trait MetadataStore {
    /// The object's items, oldest first.
    fn metadata(&self, scope: Scope, object: Object, object_id: &str) -> ApiResult<Vec<MetadataItem>>;
    /// The items of every object whose id starts with `prefix` (a table's columns: `tableId.`),
    /// oldest first.
    fn metadata_by_prefix(&self, scope: Scope, object: Object, prefix: &str) -> ApiResult<Vec<MetadataItem>>;
    /// Set `(key, value)` pairs under `provider` at `timestamp`, in one transaction: an item with
    /// the same provider and key keeps its id and takes the new value and timestamp.
    fn upsert_metadata(
        &self,
        scope: Scope,
        object: Object,
        object_id: &str,
        provider: &str,
        pairs: &[(String, String)],
        timestamp: &str,
    ) -> ApiResult<()>;
    /// Delete the object's item `id`; false when the object has no such item.
    fn delete_metadata(&self, scope: Scope, object: Object, object_id: &str, id: i64) -> ApiResult<bool>;
    /// Delete every item of the object (the object is being deleted).
    fn purge_metadata(&self, scope: Scope, object: Object, object_id: &str) -> ApiResult<()>;
}

const COLUMNS: &str = "id, object_id, provider, key, value, timestamp";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<MetadataItem> {
    Ok(MetadataItem { id: r.get(0)?, object_id: r.get(1)?, provider: r.get(2)?, key: r.get(3)?, value: r.get(4)?, timestamp: r.get(5)? })
}

impl MetadataStore for SqliteMetaStore {
    fn metadata(&self, scope: Scope, object: Object, object_id: &str) -> ApiResult<Vec<MetadataItem>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM metadata WHERE project_id = ?1 AND branch_id = ?2 AND object_type = ?3 AND object_id = ?4 ORDER BY id"
            ))?;
            st.query_map(rusqlite::params![scope.project.get(), scope.branch.get(), object.as_str(), object_id], from_row)?.collect()
        })
    }

    fn metadata_by_prefix(&self, scope: Scope, object: Object, prefix: &str) -> ApiResult<Vec<MetadataItem>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM metadata WHERE project_id = ?1 AND branch_id = ?2 AND object_type = ?3 \
                 AND substr(object_id, 1, length(?4)) = ?4 ORDER BY id"
            ))?;
            st.query_map(rusqlite::params![scope.project.get(), scope.branch.get(), object.as_str(), prefix], from_row)?.collect()
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
                tx.execute_cached(
                    "INSERT INTO metadata (project_id, branch_id, object_type, object_id, provider, key, value, timestamp) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (project_id, branch_id, object_type, object_id, provider, key) \
                     DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp",
                    rusqlite::params![scope.project.get(), scope.branch.get(), object.as_str(), object_id, provider, key, value, timestamp],
                )?;
            }
            Ok(())
        })
    }

    fn delete_metadata(&self, scope: Scope, object: Object, object_id: &str, id: i64) -> ApiResult<bool> {
        let deleted = self.with(|c| {
            c.execute_cached(
                "DELETE FROM metadata WHERE id = ?1 AND project_id = ?2 AND branch_id = ?3 AND object_type = ?4 AND object_id = ?5",
                rusqlite::params![id, scope.project.get(), scope.branch.get(), object.as_str(), object_id],
            )
        })?;
        Ok(deleted > 0)
    }

    fn purge_metadata(&self, scope: Scope, object: Object, object_id: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute_cached(
                "DELETE FROM metadata WHERE project_id = ?1 AND branch_id = ?2 AND object_type = ?3 AND object_id = ?4",
                rusqlite::params![scope.project.get(), scope.branch.get(), object.as_str(), object_id],
            )
        })?;
        Ok(())
    }
}

/// The behaviour every `MetadataStore` must have; `metadata_store_suite!` runs each check as a
/// named test.
#[doc(hidden)]
pub mod suite {
    use super::*;

    const T1: &str = "2026-01-01T00:00:00+0000";
    const T2: &str = "2026-01-02T00:00:00+0000";

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn keys(items: &[MetadataItem]) -> Vec<(&str, &str, &str)> {
        items.iter().map(|i| (i.provider.as_str(), i.key.as_str(), i.value.as_str())).collect()
    }

    pub fn upserted_by_provider_and_key<S: MetadataStore>(s: &S) {
        let main = Scope::new(1, 1);
        s.upsert_metadata(main, Object::Bucket, "in.c-a", "user", &pairs(&[("k1", "a"), ("k2", "b")]), T1).unwrap();
        s.upsert_metadata(main, Object::Bucket, "in.c-a", "system", &pairs(&[("k1", "other provider")]), T1).unwrap();
        let before = s.metadata(main, Object::Bucket, "in.c-a").unwrap();
        assert_eq!(keys(&before), vec![("user", "k1", "a"), ("user", "k2", "b"), ("system", "k1", "other provider")], "oldest first");

        s.upsert_metadata(main, Object::Bucket, "in.c-a", "user", &pairs(&[("k1", "changed")]), T2).unwrap();
        let after = s.metadata(main, Object::Bucket, "in.c-a").unwrap();
        assert_eq!(after[0].id, before[0].id, "an upsert keeps the item");
        assert_eq!((after[0].value.as_str(), after[0].timestamp.as_str()), ("changed", T2));
        assert_eq!(after[1], before[1], "other keys untouched");
        assert_eq!(after[0].object_id, "in.c-a");
    }

    pub fn scoped_by_project_branch_and_object<S: MetadataStore>(s: &S) {
        let main = Scope::new(1, 1);
        s.upsert_metadata(main, Object::Table, "in.c-a.t", "user", &pairs(&[("k", "main")]), T1).unwrap();
        s.upsert_metadata(Scope::new(1, 2), Object::Table, "in.c-a.t", "user", &pairs(&[("k", "dev")]), T1).unwrap();
        s.upsert_metadata(Scope::new(2, 1), Object::Table, "in.c-a.t", "user", &pairs(&[("k", "other project")]), T1).unwrap();
        s.upsert_metadata(main, Object::Bucket, "in.c-a.t", "user", &pairs(&[("k", "a bucket")]), T1).unwrap();
        assert_eq!(keys(&s.metadata(main, Object::Table, "in.c-a.t").unwrap()), vec![("user", "k", "main")]);
        assert_eq!(keys(&s.metadata(Scope::new(1, 2), Object::Table, "in.c-a.t").unwrap()), vec![("user", "k", "dev")]);
        assert_eq!(keys(&s.metadata(Scope::new(2, 1), Object::Table, "in.c-a.t").unwrap()), vec![("user", "k", "other project")]);
        assert!(s.metadata(main, Object::Table, "in.c-a.u").unwrap().is_empty());

        let theirs = s.metadata(Scope::new(2, 1), Object::Table, "in.c-a.t").unwrap()[0].id;
        assert!(!s.delete_metadata(main, Object::Table, "in.c-a.t", theirs).unwrap(), "another project's item is not found");
        assert_eq!(s.metadata(Scope::new(2, 1), Object::Table, "in.c-a.t").unwrap().len(), 1);
    }

    pub fn columns_listed_by_prefix<S: MetadataStore>(s: &S) {
        let main = Scope::new(1, 1);
        s.upsert_metadata(main, Object::Column, "in.c-a.t.b", "user", &pairs(&[("k", "1")]), T1).unwrap();
        s.upsert_metadata(main, Object::Column, "in.c-a.t.a", "user", &pairs(&[("k", "2")]), T1).unwrap();
        s.upsert_metadata(main, Object::Column, "in.c-a.tt.a", "user", &pairs(&[("k", "3")]), T1).unwrap();
        s.upsert_metadata(Scope::new(1, 2), Object::Column, "in.c-a.t.a", "user", &pairs(&[("k", "4")]), T1).unwrap();
        let found = s.metadata_by_prefix(main, Object::Column, "in.c-a.t.").unwrap();
        let ids: Vec<(&str, &str)> = found.iter().map(|i| (i.object_id.as_str(), i.value.as_str())).collect();
        assert_eq!(ids, vec![("in.c-a.t.b", "1"), ("in.c-a.t.a", "2")]);
        // A prefix is matched literally (`_` and `%` are no wildcards).
        s.upsert_metadata(main, Object::Column, "in.c-a.tXa", "user", &pairs(&[("k", "5")]), T1).unwrap();
        assert!(s.metadata_by_prefix(main, Object::Column, "in.c-a.t_").unwrap().is_empty());
    }

    pub fn deleted_one_by_one_or_all<S: MetadataStore>(s: &S) {
        let main = Scope::new(1, 1);
        s.upsert_metadata(main, Object::Branch, "1", "", &pairs(&[("a", "1"), ("b", "2")]), T1).unwrap();
        s.upsert_metadata(main, Object::Branch, "2", "", &pairs(&[("a", "1")]), T1).unwrap();
        let items = s.metadata(main, Object::Branch, "1").unwrap();
        assert!(s.delete_metadata(main, Object::Branch, "1", items[0].id).unwrap());
        assert!(!s.delete_metadata(main, Object::Branch, "1", items[0].id).unwrap(), "gone");
        assert_eq!(s.metadata(main, Object::Branch, "1").unwrap(), vec![items[1].clone()]);
        s.purge_metadata(main, Object::Branch, "1").unwrap();
        assert!(s.metadata(main, Object::Branch, "1").unwrap().is_empty());
        assert_eq!(s.metadata(main, Object::Branch, "2").unwrap().len(), 1, "other objects keep theirs");
    }
}

#[macro_export]
macro_rules! metadata_store_suite {
    ($make:expr) => {
        #[test]
        fn metadata_store_upserted_by_provider_and_key() {
            $crate::meta::metadata::suite::upserted_by_provider_and_key(&$make());
        }
        #[test]
        fn metadata_store_scoped_by_project_branch_and_object() {
            $crate::meta::metadata::suite::scoped_by_project_branch_and_object(&$make());
        }
        #[test]
        fn metadata_store_columns_listed_by_prefix() {
            $crate::meta::metadata::suite::columns_listed_by_prefix(&$make());
        }
        #[test]
        fn metadata_store_deleted_one_by_one_or_all() {
            $crate::meta::metadata::suite::deleted_one_by_one_or_all(&$make());
        }
    };
}
