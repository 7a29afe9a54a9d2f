//! Buckets in the metadata store: the record, the repository trait, its SQLite implementation and
//! the conformance suite (`bucket_store_suite!`). A bucket id (`in.c-main`) and a display name
//! within a stage are unique per branch.
use crate::meta::Cached;
use rusqlite::OptionalExtension;

use super::metadata::Object;
use super::{AlreadyExists, SqliteMetaStore};
use kbstack_core::ids::ProjectId;
use kbstack_core::{Result as ApiResult, Scope};

#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub project_id: i64,
    pub branch_id: i64,
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub stage: String,
    pub description: String,
    pub backend: String,
    pub color: Option<String>,
    pub created: String,
    pub last_change_date: Option<String>,
}

impl Bucket {
    pub fn scope(&self) -> Scope {
        Scope::new(self.project_id, self.branch_id)
    }
}

/// What another bucket of the branch already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketConflict {
    Id,
    /// The display name, in the same stage.
    DisplayName,
}

/// The changes of one bucket update; `None` keeps the value.
#[derive(Debug, Clone, Default)]
pub struct BucketChanges {
    pub display_name: Option<String>,
    pub color: Option<String>,
    pub description: Option<String>,
}

pub trait BucketStore {
    fn bucket(&self, scope: Scope, id: &str) -> ApiResult<Option<Bucket>>;
    /// The branch's buckets, by id.
    fn buckets(&self, scope: Scope) -> ApiResult<Vec<Bucket>>;
    /// The ids of the project's buckets in every branch, each once, sorted.
    fn project_bucket_ids(&self, project: ProjectId) -> ApiResult<Vec<String>>;
    /// Insert `bucket` in its branch, in one transaction, unless its id or its display name (in
    /// its stage) is taken there.
    fn insert_bucket(&self, bucket: &Bucket) -> ApiResult<Result<(), BucketConflict>>;
    /// Apply `changes` and set the last change to `changed`, in one transaction, unless the new
    /// display name is another bucket's (in the same stage).
    fn update_bucket(&self, scope: Scope, id: &str, changes: &BucketChanges, changed: &str) -> ApiResult<Result<(), AlreadyExists>>;
    /// Record a change of the bucket (of its tables) at `changed`.
    fn touch_bucket(&self, scope: Scope, id: &str, changed: &str) -> ApiResult<()>;
    /// Delete the bucket's record and its metadata, in one transaction (its tables are dropped
    /// before, with their data).
    fn delete_bucket(&self, scope: Scope, id: &str) -> ApiResult<()>;
}

const COLUMNS: &str = "project_id, branch_id, id, name, display_name, stage, description, backend, color, created, last_change_date";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        project_id: r.get(0)?,
        branch_id: r.get(1)?,
        id: r.get(2)?,
        name: r.get(3)?,
        display_name: r.get(4)?,
        stage: r.get(5)?,
        description: r.get(6)?,
        backend: r.get(7)?,
        color: r.get(8)?,
        created: r.get(9)?,
        last_change_date: r.get(10)?,
    })
}

fn exists(c: &rusqlite::Connection, scope: Scope, id: &str) -> rusqlite::Result<bool> {
    c.query_row_cached(
        "SELECT 1 FROM buckets WHERE project_id = ?1 AND branch_id = ?2 AND id = ?3",
        rusqlite::params![scope.project.get(), scope.branch.get(), id],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

/// Whether a bucket of the branch other than `except` has this display name in `stage`.
fn display_name_taken(c: &rusqlite::Connection, scope: Scope, stage: &str, display_name: &str, except: &str) -> rusqlite::Result<bool> {
    c.query_row_cached(
        "SELECT 1 FROM buckets WHERE project_id = ?1 AND branch_id = ?2 AND stage = ?3 AND display_name = ?4 AND id != ?5",
        rusqlite::params![scope.project.get(), scope.branch.get(), stage, display_name, except],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

/// Set one column of a bucket.
fn set(c: &rusqlite::Connection, scope: Scope, id: &str, column: &str, value: &str) -> rusqlite::Result<usize> {
    c.execute_cached(
        &format!("UPDATE buckets SET {column} = ?1 WHERE project_id = ?2 AND branch_id = ?3 AND id = ?4"),
        rusqlite::params![value, scope.project.get(), scope.branch.get(), id],
    )
}

/// Insert `b` unless its id or display name (in its stage) is taken in its branch; the caller
/// holds the transaction (a linked bucket is inserted together with its link).
pub(crate) fn insert_in(tx: &rusqlite::Connection, b: &Bucket) -> rusqlite::Result<Result<(), BucketConflict>> {
    let scope = b.scope();
    if exists(tx, scope, &b.id)? {
        return Ok(Err(BucketConflict::Id));
    }
    if display_name_taken(tx, scope, &b.stage, &b.display_name, &b.id)? {
        return Ok(Err(BucketConflict::DisplayName));
    }
    tx.execute_cached(
        &format!("INSERT INTO buckets ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
        rusqlite::params![
            b.project_id,
            b.branch_id,
            b.id,
            b.name,
            b.display_name,
            b.stage,
            b.description,
            b.backend,
            b.color,
            b.created,
            b.last_change_date
        ],
    )?;
    Ok(Ok(()))
}

impl BucketStore for SqliteMetaStore {
    fn bucket(&self, scope: Scope, id: &str) -> ApiResult<Option<Bucket>> {
        self.with(|c| {
            c.query_row_cached(
                &format!("SELECT {COLUMNS} FROM buckets WHERE project_id = ?1 AND branch_id = ?2 AND id = ?3"),
                rusqlite::params![scope.project.get(), scope.branch.get(), id],
                from_row,
            )
            .optional()
        })
    }

    fn buckets(&self, scope: Scope) -> ApiResult<Vec<Bucket>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM buckets WHERE project_id = ?1 AND branch_id = ?2 ORDER BY id"))?;
            st.query_map([scope.project.get(), scope.branch.get()], from_row)?.collect()
        })
    }

    fn project_bucket_ids(&self, project: ProjectId) -> ApiResult<Vec<String>> {
        self.cached(|c| &c.bucket_ids, &project.get(), |_| true, |c| {
            let mut st = c.prepare_cached("SELECT DISTINCT id FROM buckets WHERE project_id = ?1 ORDER BY id")?;
            st.query_map([project.get()], |r| r.get(0))?.collect()
        })
    }

    fn insert_bucket(&self, b: &Bucket) -> ApiResult<Result<(), BucketConflict>> {
        Ok(self.tx(|tx| insert_in(tx, b))?)
    }

    fn update_bucket(&self, scope: Scope, id: &str, changes: &BucketChanges, changed: &str) -> ApiResult<Result<(), AlreadyExists>> {
        self.tx(|tx| {
            if let Some(display_name) = &changes.display_name {
                let stage: Option<String> = tx
                    .query_row_cached(
                        "SELECT stage FROM buckets WHERE project_id = ?1 AND branch_id = ?2 AND id = ?3",
                        rusqlite::params![scope.project.get(), scope.branch.get(), id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(stage) = stage
                    && display_name_taken(tx, scope, &stage, display_name, id)?
                {
                    return Ok(Err(AlreadyExists));
                }
                set(tx, scope, id, "display_name", display_name)?;
            }
            if let Some(color) = &changes.color {
                set(tx, scope, id, "color", color)?;
            }
            if let Some(description) = &changes.description {
                set(tx, scope, id, "description", description)?;
            }
            set(tx, scope, id, "last_change_date", changed)?;
            Ok(Ok(()))
        })
    }

    fn touch_bucket(&self, scope: Scope, id: &str, changed: &str) -> ApiResult<()> {
        self.with(|c| set(c, scope, id, "last_change_date", changed))?;
        Ok(())
    }

    fn delete_bucket(&self, scope: Scope, id: &str) -> ApiResult<()> {
        self.tx(|tx| {
            tx.execute_cached(
                "DELETE FROM metadata WHERE project_id = ?1 AND branch_id = ?2 AND object_type = ?3 AND object_id = ?4",
                rusqlite::params![scope.project.get(), scope.branch.get(), Object::Bucket.as_str(), id],
            )?;
            // Its link (when it is a linked bucket) and its sharing go with it.
            for table in ["bucket_links", "bucket_shares"] {
                tx.execute_cached(
                    &format!("DELETE FROM {table} WHERE project_id = ?1 AND branch_id = ?2 AND bucket_id = ?3"),
                    rusqlite::params![scope.project.get(), scope.branch.get(), id],
                )?;
            }
            tx.execute_cached(
                "DELETE FROM buckets WHERE project_id = ?1 AND branch_id = ?2 AND id = ?3",
                rusqlite::params![scope.project.get(), scope.branch.get(), id],
            )?;
            Ok(())
        })
    }
}

/// The behaviour every `BucketStore` must have; `bucket_store_suite!` runs each check as a named
/// test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::metadata::MetadataStore;

    const CREATED: &str = "2026-01-01T00:00:00+0000";

    /// `in.c-<name>` in `scope`, displayed as `<name>`.
    pub fn bucket(scope: Scope, name: &str) -> Bucket {
        Bucket {
            project_id: scope.project.get(),
            branch_id: scope.branch.get(),
            id: format!("in.c-{name}"),
            name: format!("c-{name}"),
            display_name: name.into(),
            stage: "in".into(),
            description: String::new(),
            backend: "snowflake".into(),
            color: None,
            created: CREATED.into(),
            last_change_date: Some(CREATED.into()),
        }
    }

    fn ids(buckets: Vec<Bucket>) -> Vec<String> {
        buckets.into_iter().map(|b| b.id).collect()
    }

    pub fn inserted_and_listed_per_branch<S: BucketStore>(s: &S) {
        let (main, dev, other) = (Scope::new(1, 1), Scope::new(1, 2), Scope::new(2, 3));
        let mut b = bucket(main, "b");
        b.color = Some("#fff".into());
        b.description = "about b".into();
        s.insert_bucket(&b).unwrap().unwrap();
        s.insert_bucket(&bucket(main, "a")).unwrap().unwrap();
        assert_eq!(s.project_bucket_ids(1.into()).unwrap(), vec!["in.c-a", "in.c-b"]);
        s.insert_bucket(&bucket(dev, "c")).unwrap().unwrap();
        s.insert_bucket(&bucket(other, "d")).unwrap().unwrap();
        assert_eq!(s.bucket(main, "in.c-b").unwrap(), Some(b));
        assert_eq!(ids(s.buckets(main).unwrap()), vec!["in.c-a", "in.c-b"], "by id, one branch");
        assert_eq!(ids(s.buckets(dev).unwrap()), vec!["in.c-c"]);
        assert_eq!(s.bucket(main, "in.c-c").unwrap(), None, "another branch's bucket is not found");
        assert_eq!(s.bucket(Scope::new(2, 1), "in.c-a").unwrap(), None, "nor another project's");
        assert_eq!(s.project_bucket_ids(1.into()).unwrap(), vec!["in.c-a", "in.c-b", "in.c-c"], "every branch of the project");
    }

    pub fn ids_and_display_names_unique_per_branch<S: BucketStore>(s: &S) {
        let (main, dev) = (Scope::new(1, 1), Scope::new(1, 2));
        s.insert_bucket(&bucket(main, "a")).unwrap().unwrap();
        let mut again = bucket(main, "a");
        again.display_name = "fresh".into();
        assert_eq!(s.insert_bucket(&again).unwrap(), Err(BucketConflict::Id));
        let mut same_display = bucket(main, "b");
        same_display.display_name = "a".into();
        assert_eq!(s.insert_bucket(&same_display).unwrap(), Err(BucketConflict::DisplayName));
        same_display.stage = "out".into();
        same_display.id = "out.c-b".into();
        assert_eq!(s.insert_bucket(&same_display).unwrap(), Ok(()), "display names are unique per stage");
        assert_eq!(s.insert_bucket(&bucket(dev, "a")).unwrap(), Ok(()), "and per branch");
        assert_eq!(s.insert_bucket(&bucket(Scope::new(2, 1), "a")).unwrap(), Ok(()), "and per project");
        assert_eq!(s.buckets(main).unwrap().len(), 2, "a refused insert stores nothing");
    }

    pub fn updated_and_touched<S: BucketStore>(s: &S) {
        let main = Scope::new(1, 1);
        s.insert_bucket(&bucket(main, "a")).unwrap().unwrap();
        s.insert_bucket(&bucket(main, "b")).unwrap().unwrap();
        let taken = BucketChanges { display_name: Some("b".into()), color: Some("#000".into()), ..Default::default() };
        assert_eq!(s.update_bucket(main, "in.c-a", &taken, "2026-02-02T00:00:00+0000").unwrap(), Err(AlreadyExists));
        assert_eq!(s.bucket(main, "in.c-a").unwrap(), Some(bucket(main, "a")), "a refused update changes nothing");

        let changes = BucketChanges { display_name: Some("renamed".into()), color: Some("#000".into()), description: Some("d".into()) };
        s.update_bucket(main, "in.c-a", &changes, "2026-02-02T00:00:00+0000").unwrap().unwrap();
        let a = s.bucket(main, "in.c-a").unwrap().unwrap();
        assert_eq!((a.display_name.as_str(), a.color.as_deref(), a.description.as_str()), ("renamed", Some("#000"), "d"));
        assert_eq!(a.last_change_date.as_deref(), Some("2026-02-02T00:00:00+0000"));
        let keep_name = BucketChanges { display_name: Some("renamed".into()), ..Default::default() };
        assert_eq!(s.update_bucket(main, "in.c-a", &keep_name, "2026-02-03T00:00:00+0000").unwrap(), Ok(()), "its own name is free");
        assert_eq!(s.bucket(main, "in.c-a").unwrap().unwrap().color.as_deref(), Some("#000"), "what is not changed stays");

        s.touch_bucket(main, "in.c-b", "2026-03-03T00:00:00+0000").unwrap();
        assert_eq!(s.bucket(main, "in.c-b").unwrap().unwrap().last_change_date.as_deref(), Some("2026-03-03T00:00:00+0000"));
    }

    pub fn deleted_with_its_metadata<S: BucketStore + MetadataStore>(s: &S) {
        let (main, dev) = (Scope::new(1, 1), Scope::new(1, 2));
        let meta = [("k".to_string(), "v".to_string())];
        for scope in [main, dev] {
            s.insert_bucket(&bucket(scope, "a")).unwrap().unwrap();
            s.upsert_metadata(scope, Object::Bucket, "in.c-a", "user", &meta, CREATED).unwrap();
        }
        s.delete_bucket(main, "in.c-a").unwrap();
        assert_eq!(s.bucket(main, "in.c-a").unwrap(), None);
        assert!(s.metadata(main, Object::Bucket, "in.c-a").unwrap().is_empty());
        assert!(s.bucket(dev, "in.c-a").unwrap().is_some(), "the same id in another branch stays");
        assert_eq!(s.metadata(dev, Object::Bucket, "in.c-a").unwrap().len(), 1);
        s.insert_bucket(&bucket(main, "a")).unwrap().unwrap();
        assert!(s.metadata(main, Object::Bucket, "in.c-a").unwrap().is_empty(), "a new bucket of the same id starts bare");
    }
}

#[macro_export]
macro_rules! bucket_store_suite {
    ($make:expr) => {
        #[test]
        fn bucket_store_inserted_and_listed_per_branch() {
            $crate::meta::buckets::suite::inserted_and_listed_per_branch(&$make());
        }
        #[test]
        fn bucket_store_ids_and_display_names_unique_per_branch() {
            $crate::meta::buckets::suite::ids_and_display_names_unique_per_branch(&$make());
        }
        #[test]
        fn bucket_store_updated_and_touched() {
            $crate::meta::buckets::suite::updated_and_touched(&$make());
        }
        #[test]
        fn bucket_store_deleted_with_its_metadata() {
            $crate::meta::buckets::suite::deleted_with_its_metadata(&$make());
        }
    };
}
