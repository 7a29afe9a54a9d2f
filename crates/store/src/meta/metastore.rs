//! Metastore objects (the semantic layer repository, `src/metastore`): typed JSON documents of a
//! project, each identified by its type and UUID, with every revision kept. The head of an object
//! is in `metastore_objects`; each revision (the head's included) in `metastore_revisions`. Names
//! are unique per project and type. The trait, its SQLite implementation and the conformance
//! suite (`metastore_store_suite!`).
use kbstack_core::Result as ApiResult;
use rusqlite::OptionalExtension;

use super::{AlreadyExists, SqliteMetaStore};

#[derive(Debug, Clone, PartialEq)]
pub struct MetaObject {
    pub object_type: String,
    pub id: String,
    /// The project that owns (created) the object.
    pub project_id: i64,
    pub organization_id: i64,
    pub name: String,
    pub branch: String,
    /// `project`, `organization` or `targeted`.
    pub scope: String,
    pub target_project_ids: Vec<i64>,
    pub schema_version: String,
    pub revision: i64,
    pub data: serde_json::Value,
    pub created_at: String,
    /// When the head changed last; for a revision, when that revision was made.
    pub last_updated: String,
    pub scope_elevation_requested_at: Option<String>,
}

pub trait MetastoreStore {
    /// Record a new object (its revision included); `Err(AlreadyExists)` when the project has an
    /// object of the type with that name.
    fn insert_meta_object(&self, o: &MetaObject) -> ApiResult<Result<(), AlreadyExists>>;
    /// Replace the head of an existing object and record its revision (a revision of the same
    /// number is replaced: scope changes keep the revision); `Err(AlreadyExists)` on a name
    /// another object of the project and type has. False-free: the caller read it first.
    fn save_meta_object(&self, o: &MetaObject) -> ApiResult<Result<(), AlreadyExists>>;
    fn meta_object(&self, object_type: &str, id: &str) -> ApiResult<Option<MetaObject>>;
    /// Objects of the type owned by the project or by any project of the organization (the
    /// caller decides what it may see), oldest first.
    fn meta_objects(&self, object_type: &str, project_id: i64, organization_id: i64) -> ApiResult<Vec<MetaObject>>;
    /// Every revision of the project's objects of the type: by object (oldest first), then revision.
    fn meta_object_revisions(&self, object_type: &str, project_id: i64) -> ApiResult<Vec<MetaObject>>;
    fn meta_object_revision(&self, object_type: &str, id: &str, revision: i64) -> ApiResult<Option<MetaObject>>;
    /// The object and all its revisions; false when there is no such object.
    fn delete_meta_object(&self, object_type: &str, id: &str) -> ApiResult<bool>;
    /// One past revision; false when there is none of that number.
    fn delete_meta_object_revision(&self, object_type: &str, id: &str, revision: i64) -> ApiResult<bool>;
}

const COLUMNS: &str = "object_type, id, project_id, organization_id, name, branch, scope, target_project_ids, \
     schema_version, revision, data, created_at, last_updated, scope_elevation_requested_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<MetaObject> {
    let targets: String = r.get(7)?;
    let data: String = r.get(10)?;
    Ok(MetaObject {
        object_type: r.get(0)?,
        id: r.get(1)?,
        project_id: r.get(2)?,
        organization_id: r.get(3)?,
        name: r.get(4)?,
        branch: r.get(5)?,
        scope: r.get(6)?,
        target_project_ids: serde_json::from_str(&targets).unwrap_or_default(),
        schema_version: r.get(8)?,
        revision: r.get(9)?,
        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        created_at: r.get(11)?,
        last_updated: r.get(12)?,
        scope_elevation_requested_at: r.get(13)?,
    })
}

/// `seq` orders objects by creation (timestamps tie); an object's revisions carry its `seq`.
fn write(c: &rusqlite::Connection, table: &str, verb: &str, o: &MetaObject, seq: i64) -> rusqlite::Result<usize> {
    c.execute(
        &format!("{verb} INTO {table} ({COLUMNS}, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
        rusqlite::params![
            o.object_type,
            o.id,
            o.project_id,
            o.organization_id,
            o.name,
            o.branch,
            o.scope,
            serde_json::json!(o.target_project_ids).to_string(),
            o.schema_version,
            o.revision,
            o.data.to_string(),
            o.created_at,
            o.last_updated,
            o.scope_elevation_requested_at,
            seq,
        ],
    )
}

fn name_taken(c: &rusqlite::Connection, o: &MetaObject) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT 1 FROM metastore_objects WHERE project_id = ?1 AND object_type = ?2 AND name = ?3 AND id <> ?4",
        rusqlite::params![o.project_id, o.object_type, o.name, o.id],
        |_| Ok(()),
    )
    .optional()
    .map(|x| x.is_some())
}

impl MetastoreStore for SqliteMetaStore {
    fn insert_meta_object(&self, o: &MetaObject) -> ApiResult<Result<(), AlreadyExists>> {
        Ok(self.tx(|c| {
            if name_taken(c, o)? {
                return Ok(Err(AlreadyExists));
            }
            let seq: i64 = c.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM metastore_objects", [], |r| r.get(0))?;
            write(c, "metastore_objects", "INSERT", o, seq)?;
            write(c, "metastore_revisions", "INSERT OR REPLACE", o, seq)?;
            Ok::<_, rusqlite::Error>(Ok(()))
        })?)
    }

    fn save_meta_object(&self, o: &MetaObject) -> ApiResult<Result<(), AlreadyExists>> {
        Ok(self.tx(|c| {
            if name_taken(c, o)? {
                return Ok(Err(AlreadyExists));
            }
            let seq: Option<i64> = c
                .query_row("SELECT seq FROM metastore_objects WHERE object_type = ?1 AND id = ?2", rusqlite::params![o.object_type, o.id], |r| r.get(0))
                .optional()?;
            let seq = seq.unwrap_or(i64::MAX);
            c.execute("DELETE FROM metastore_objects WHERE object_type = ?1 AND id = ?2", rusqlite::params![o.object_type, o.id])?;
            write(c, "metastore_objects", "INSERT", o, seq)?;
            write(c, "metastore_revisions", "INSERT OR REPLACE", o, seq)?;
            Ok::<_, rusqlite::Error>(Ok(()))
        })?)
    }

    fn meta_object(&self, object_type: &str, id: &str) -> ApiResult<Option<MetaObject>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM metastore_objects WHERE object_type = ?1 AND id = ?2"),
                rusqlite::params![object_type, id],
                from_row,
            )
            .optional()
        })
    }

    fn meta_objects(&self, object_type: &str, project_id: i64, organization_id: i64) -> ApiResult<Vec<MetaObject>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM metastore_objects WHERE object_type = ?1 AND (project_id = ?2 OR organization_id = ?3) \
                 ORDER BY seq"
            ))?;
            st.query_map(rusqlite::params![object_type, project_id, organization_id], from_row)?.collect()
        })
    }

    fn meta_object_revisions(&self, object_type: &str, project_id: i64) -> ApiResult<Vec<MetaObject>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM metastore_revisions WHERE object_type = ?1 AND project_id = ?2 \
                 ORDER BY seq, revision"
            ))?;
            st.query_map(rusqlite::params![object_type, project_id], from_row)?.collect()
        })
    }

    fn meta_object_revision(&self, object_type: &str, id: &str, revision: i64) -> ApiResult<Option<MetaObject>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM metastore_revisions WHERE object_type = ?1 AND id = ?2 AND revision = ?3"),
                rusqlite::params![object_type, id, revision],
                from_row,
            )
            .optional()
        })
    }

    fn delete_meta_object(&self, object_type: &str, id: &str) -> ApiResult<bool> {
        Ok(self.tx(|c| {
            let n = c.execute("DELETE FROM metastore_objects WHERE object_type = ?1 AND id = ?2", rusqlite::params![object_type, id])?;
            c.execute("DELETE FROM metastore_revisions WHERE object_type = ?1 AND id = ?2", rusqlite::params![object_type, id])?;
            Ok::<_, rusqlite::Error>(n > 0)
        })?)
    }

    fn delete_meta_object_revision(&self, object_type: &str, id: &str, revision: i64) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM metastore_revisions WHERE object_type = ?1 AND id = ?2 AND revision = ?3",
                rusqlite::params![object_type, id, revision],
            )? > 0)
        })
    }
}

/// The behaviour every `MetastoreStore` must have; `metastore_store_suite!` runs each check as a
/// named test.
#[doc(hidden)]
pub mod suite {
    use super::*;

    pub fn object(project_id: i64, id: &str, name: &str) -> MetaObject {
        MetaObject {
            object_type: "semantic-model".into(),
            id: id.into(),
            project_id,
            organization_id: 10,
            name: name.into(),
            branch: "main".into(),
            scope: "project".into(),
            target_project_ids: vec![],
            schema_version: "1.0.0".into(),
            revision: 1,
            data: serde_json::json!({"name": name, "tags": ["a"]}),
            // The same instant for all: the order is that of creation, not of the clock.
            created_at: "2026-01-01T00:00:00Z".into(),
            last_updated: "2026-01-01T00:00:00Z".into(),
            scope_elevation_requested_at: None,
        }
    }

    pub fn recorded_whole_and_revised<S: MetastoreStore>(s: &S) {
        let a = object(1, "a", "sales");
        s.insert_meta_object(&a).unwrap().expect("new");
        assert_eq!(s.meta_object("semantic-model", "a").unwrap(), Some(a.clone()));
        assert_eq!(s.meta_object("semantic-dataset", "a").unwrap(), None, "the type is part of the identity");
        let mut a2 = a.clone();
        a2.revision = 2;
        a2.data = serde_json::json!({"name": "sales", "v": 2});
        a2.target_project_ids = vec![3, 4];
        s.save_meta_object(&a2).unwrap().expect("saved");
        assert_eq!(s.meta_object("semantic-model", "a").unwrap(), Some(a2.clone()));
        assert_eq!(s.meta_object_revisions("semantic-model", 1).unwrap(), vec![a.clone(), a2.clone()]);
        assert_eq!(s.meta_object_revision("semantic-model", "a", 1).unwrap(), Some(a));
        assert!(s.meta_object_revisions("semantic-model", 2).unwrap().is_empty(), "another project's revisions are its own");
        assert!(s.delete_meta_object_revision("semantic-model", "a", 1).unwrap());
        assert!(!s.delete_meta_object_revision("semantic-model", "a", 1).unwrap());
        assert_eq!(s.meta_object_revisions("semantic-model", 1).unwrap(), vec![a2]);
    }

    pub fn names_are_unique_per_project_and_type<S: MetastoreStore>(s: &S) {
        s.insert_meta_object(&object(1, "a", "sales")).unwrap().expect("new");
        assert_eq!(s.insert_meta_object(&object(1, "b", "sales")).unwrap(), Err(AlreadyExists));
        s.insert_meta_object(&object(2, "c", "sales")).unwrap().expect("another project has its own names");
        let mut d = object(1, "d", "sales");
        d.object_type = "semantic-dataset".into();
        s.insert_meta_object(&d).unwrap().expect("another type has its own names");
        s.insert_meta_object(&object(1, "e", "costs")).unwrap().expect("new");
        let mut renamed = object(1, "e", "sales");
        renamed.revision = 2;
        assert_eq!(s.save_meta_object(&renamed).unwrap(), Err(AlreadyExists), "a rename onto a taken name");
        assert_eq!(s.meta_object("semantic-model", "e").unwrap().unwrap().name, "costs", "left as it was");
    }

    pub fn listed_by_organization_and_deleted<S: MetastoreStore>(s: &S) {
        s.insert_meta_object(&object(1, "a", "one")).unwrap().unwrap();
        s.insert_meta_object(&object(2, "bb", "two")).unwrap().unwrap();
        let mut other_org = object(3, "ccc", "three");
        other_org.organization_id = 11;
        s.insert_meta_object(&other_org).unwrap().unwrap();
        let ids = |p, o| s.meta_objects("semantic-model", p, o).unwrap().into_iter().map(|x| x.id).collect::<Vec<_>>();
        assert_eq!(ids(1, 10), vec!["a", "bb"], "the project's and its organization's, oldest first");
        assert_eq!(ids(3, 11), vec!["ccc"]);
        assert!(s.delete_meta_object("semantic-model", "a").unwrap());
        assert!(!s.delete_meta_object("semantic-model", "a").unwrap());
        assert_eq!(s.meta_object("semantic-model", "a").unwrap(), None);
        assert!(s.meta_object_revisions("semantic-model", 1).unwrap().is_empty(), "its revisions went with it");
        s.insert_meta_object(&object(1, "z", "one")).unwrap().expect("its name is free again");
    }
}

#[macro_export]
macro_rules! metastore_store_suite {
    ($make:expr) => {
        #[test]
        fn metastore_store_recorded_whole_and_revised() {
            $crate::meta::metastore::suite::recorded_whole_and_revised(&$make());
        }
        #[test]
        fn metastore_store_names_are_unique_per_project_and_type() {
            $crate::meta::metastore::suite::names_are_unique_per_project_and_type(&$make());
        }
        #[test]
        fn metastore_store_listed_by_organization_and_deleted() {
            $crate::meta::metastore::suite::listed_by_organization_and_deleted(&$make());
        }
    };
}
