//! Branches in the metadata store: what every request needs (the default branch, whether a
//! branch exists) and the dev-branch resource (list, detail, create, update, delete). The
//! record, the trait, its SQLite implementation and the conformance suite (`branch_store_suite!`).
//! A branch name is unique per project.
use crate::meta::Cached;
use rusqlite::OptionalExtension;

use super::metadata::Object;
use super::{AlreadyExists, SqliteMetaStore};
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{BranchId, ProjectId};

#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub description: String,
    pub created: String,
    pub is_default: bool,
    /// The token that created a dev branch; the default branch has none.
    pub creator_token_id: Option<i64>,
    pub creator_description: Option<String>,
}

/// What a new dev branch is made of.
#[derive(Debug, Clone)]
pub struct NewBranch {
    pub name: String,
    pub description: String,
    pub created: String,
    pub creator_token_id: i64,
    pub creator_description: String,
}

pub trait BranchStore {
    /// The project's default branch ("Main").
    fn default_branch(&self, project_id: i64) -> ApiResult<Option<i64>>;
    fn branch_exists(&self, project_id: i64, id: i64) -> ApiResult<bool>;
    /// The default branch, created with `name` when the project has none.
    fn ensure_default_branch(&self, project_id: i64, name: &str, created: &str) -> ApiResult<i64>;
    /// The project's branches, by id.
    fn branches(&self, project: ProjectId) -> ApiResult<Vec<Branch>>;
    fn branch(&self, project: ProjectId, id: BranchId) -> ApiResult<Option<Branch>>;
    fn branch_name_taken(&self, project: ProjectId, name: &str) -> ApiResult<bool>;
    /// Create a dev branch that starts with copies of `from`'s configurations (not deleted ones),
    /// their versions and their metadata, in one transaction; refused when the name is taken.
    fn create_dev_branch(&self, project: ProjectId, from: BranchId, branch: &NewBranch) -> ApiResult<Result<BranchId, AlreadyExists>>;
    /// Rename and/or describe a branch, in one transaction; refused when another branch of the
    /// project has the name.
    fn update_branch(
        &self,
        project: ProjectId,
        id: BranchId,
        name: Option<&str>,
        description: Option<&str>,
    ) -> ApiResult<Result<(), AlreadyExists>>;
    /// Delete a branch with its configurations, bucket records and metadata, in one transaction
    /// (its tables are dropped before, with their data).
    fn delete_branch(&self, project: ProjectId, id: BranchId) -> ApiResult<()>;
}

const COLUMNS: &str = "id, project_id, name, description, created, is_default, creator_token_id, creator_description";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Branch> {
    Ok(Branch {
        id: r.get(0)?,
        project_id: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        created: r.get(4)?,
        is_default: r.get(5)?,
        creator_token_id: r.get(6)?,
        creator_description: r.get(7)?,
    })
}

/// Whether a branch of the project other than `except` has this name.
fn name_taken(c: &rusqlite::Connection, project: i64, name: &str, except: Option<i64>) -> rusqlite::Result<bool> {
    c.query_row_cached(
        "SELECT 1 FROM branches WHERE project_id = ?1 AND name = ?2 AND id IS NOT ?3",
        rusqlite::params![project, name, except],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

/// Copy the live configurations of branch `from` into `to`, with the versions and metadata of
/// those copied.
fn copy_configurations(c: &rusqlite::Connection, project: i64, from: i64, to: i64) -> rusqlite::Result<()> {
    c.execute_cached(
        "INSERT INTO configurations (project_id, branch_id, component_id, id, body, is_deleted) \
         SELECT project_id, ?3, component_id, id, body, is_deleted FROM configurations \
         WHERE project_id = ?1 AND branch_id = ?2 AND is_deleted = 0",
        [project, from, to],
    )?;
    for (table, columns) in [
        ("configuration_versions", "component_id, config_id, version, snapshot"),
        ("configuration_row_versions", "component_id, config_id, row_id, version, snapshot"),
    ] {
        c.execute_cached(
            &format!(
                "INSERT INTO {table} (project_id, branch_id, {columns}) SELECT project_id, ?3, {columns} FROM {table} v \
                 WHERE project_id = ?1 AND branch_id = ?2 AND EXISTS (SELECT 1 FROM configurations c WHERE c.project_id = ?1 \
                 AND c.branch_id = ?3 AND c.component_id = v.component_id AND c.id = v.config_id)"
            ),
            [project, from, to],
        )?;
    }
    // A configuration's metadata hangs on `componentId/configId`.
    c.execute_cached(
        "INSERT INTO metadata (project_id, branch_id, object_type, object_id, provider, key, value, timestamp) \
         SELECT m.project_id, ?3, m.object_type, m.object_id, m.provider, m.key, m.value, m.timestamp FROM metadata m \
         WHERE m.project_id = ?1 AND m.branch_id = ?2 AND m.object_type = ?4 AND EXISTS (SELECT 1 FROM \
         configurations c WHERE c.project_id = ?1 AND c.branch_id = ?3 AND c.component_id || '/' || c.id = m.object_id)",
        rusqlite::params![project, from, to, Object::Configuration.as_str()],
    )?;
    Ok(())
}

impl BranchStore for SqliteMetaStore {
    fn default_branch(&self, project_id: i64) -> ApiResult<Option<i64>> {
        self.cached(|c| &c.default_branches, &project_id, |_| true, |c| {
            c.query_row_cached("SELECT id FROM branches WHERE project_id = ?1 AND is_default = 1", [project_id], |r| r.get(0)).optional()
        })
    }

    fn branch_exists(&self, project_id: i64, id: i64) -> ApiResult<bool> {
        let found = self.with(|c| {
            c.query_row_cached("SELECT 1 FROM branches WHERE project_id = ?1 AND id = ?2", [project_id, id], |_| Ok(())).optional()
        })?;
        Ok(found.is_some())
    }

    fn ensure_default_branch(&self, project_id: i64, name: &str, created: &str) -> ApiResult<i64> {
        self.tx(|tx| {
            let existing: Option<i64> = tx
                .query_row_cached("SELECT id FROM branches WHERE project_id = ?1 AND is_default = 1", [project_id], |r| r.get(0))
                .optional()?;
            if let Some(id) = existing {
                return Ok(id);
            }
            tx.execute_cached(
                "INSERT INTO branches (project_id, name, description, is_default, created) VALUES (?1, ?2, '', 1, ?3)",
                rusqlite::params![project_id, name, created],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn branches(&self, project: ProjectId) -> ApiResult<Vec<Branch>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM branches WHERE project_id = ?1 ORDER BY id"))?;
            st.query_map([project.get()], from_row)?.collect()
        })
    }

    fn branch(&self, project: ProjectId, id: BranchId) -> ApiResult<Option<Branch>> {
        self.with(|c| {
            c.query_row_cached(&format!("SELECT {COLUMNS} FROM branches WHERE id = ?1 AND project_id = ?2"), [id.get(), project.get()], from_row)
                .optional()
        })
    }

    fn branch_name_taken(&self, project: ProjectId, name: &str) -> ApiResult<bool> {
        self.with(|c| name_taken(c, project.get(), name, None))
    }

    fn create_dev_branch(&self, project: ProjectId, from: BranchId, b: &NewBranch) -> ApiResult<Result<BranchId, AlreadyExists>> {
        self.tx(|tx| {
            if name_taken(tx, project.get(), &b.name, None)? {
                return Ok(Err(AlreadyExists));
            }
            tx.execute_cached(
                "INSERT INTO branches (project_id, name, description, is_default, created, creator_token_id, creator_description) \
                 VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6)",
                rusqlite::params![project.get(), b.name, b.description, b.created, b.creator_token_id, b.creator_description],
            )?;
            let id = tx.last_insert_rowid();
            copy_configurations(tx, project.get(), from.get(), id)?;
            Ok(Ok(BranchId(id)))
        })
    }

    fn update_branch(
        &self,
        project: ProjectId,
        id: BranchId,
        name: Option<&str>,
        description: Option<&str>,
    ) -> ApiResult<Result<(), AlreadyExists>> {
        self.tx(|tx| {
            if let Some(name) = name {
                if name_taken(tx, project.get(), name, Some(id.get()))? {
                    return Ok(Err(AlreadyExists));
                }
                tx.execute_cached(
                    "UPDATE branches SET name = ?1 WHERE id = ?2 AND project_id = ?3",
                    rusqlite::params![name, id.get(), project.get()],
                )?;
            }
            if let Some(description) = description {
                tx.execute_cached(
                    "UPDATE branches SET description = ?1 WHERE id = ?2 AND project_id = ?3",
                    rusqlite::params![description, id.get(), project.get()],
                )?;
            }
            Ok(Ok(()))
        })
    }

    fn delete_branch(&self, project: ProjectId, id: BranchId) -> ApiResult<()> {
        Ok(self.tx(|tx| delete_branch_records(tx, project.get(), id.get()))?)
    }
}

/// The records and metadata of every object in the branch, and the branch (inside the caller's
/// transaction; the merge of a merge request ends with it).
pub(crate) fn delete_branch_records(tx: &rusqlite::Connection, project: i64, id: i64) -> rusqlite::Result<()> {
    for table in ["configurations", "configuration_versions", "configuration_row_versions", "buckets", "metadata"] {
        tx.execute_cached(&format!("DELETE FROM {table} WHERE project_id = ?1 AND branch_id = ?2"), [project, id])?;
    }
    tx.execute_cached("DELETE FROM branches WHERE id = ?1 AND project_id = ?2", [id, project])?;
    Ok(())
}

#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::buckets::{BucketStore, suite::bucket};
    use crate::meta::metadata::MetadataStore;
    use crate::meta::tokens::ProjectStore;
    use kbstack_core::Scope;

    pub fn default_branch_once_per_project<S: ProjectStore + BranchStore>(s: &S) {
        s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
        s.ensure_project(2, "two", "2026-01-01T00:00:00+0000").unwrap();
        assert_eq!(s.default_branch(1).unwrap(), None);
        let main = s.ensure_default_branch(1, "Main", "2026-01-01T00:00:00+0000").unwrap();
        assert_eq!(s.ensure_default_branch(1, "Other", "2026-01-02T00:00:00+0000").unwrap(), main, "created once");
        assert_eq!(s.default_branch(1).unwrap(), Some(main));
        let other = s.ensure_default_branch(2, "Main", "2026-01-01T00:00:00+0000").unwrap();
        assert_ne!(other, main);
        assert!(s.branch_exists(1, main).unwrap());
        assert!(!s.branch_exists(2, main).unwrap(), "a branch belongs to one project");
        assert!(!s.branch_exists(1, main + 1000).unwrap());
    }

    fn new_branch(name: &str) -> NewBranch {
        NewBranch {
            name: name.into(),
            description: format!("about {name}"),
            created: "2026-01-02T00:00:00+0000".into(),
            creator_token_id: 7,
            creator_description: "creator".into(),
        }
    }

    /// Two projects with their default branches, and a dev branch "dev" in the first.
    fn with_dev_branch<S: ProjectStore + BranchStore>(s: &S) -> (BranchId, BranchId) {
        s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
        s.ensure_project(2, "two", "2026-01-01T00:00:00+0000").unwrap();
        let main = s.ensure_default_branch(1, "Main", "2026-01-01T00:00:00+0000").unwrap();
        s.ensure_default_branch(2, "Main", "2026-01-01T00:00:00+0000").unwrap();
        let dev = s.create_dev_branch(1.into(), main.into(), &new_branch("dev")).unwrap().expect("a free name");
        (main.into(), dev)
    }

    pub fn dev_branches_created_and_listed<S: ProjectStore + BranchStore>(s: &S) {
        let (main, dev) = with_dev_branch(s);
        let stored = s.branch(1.into(), dev).unwrap().expect("stored");
        assert_eq!(
            stored,
            Branch {
                id: dev.get(),
                project_id: 1,
                name: "dev".into(),
                description: "about dev".into(),
                created: "2026-01-02T00:00:00+0000".into(),
                is_default: false,
                creator_token_id: Some(7),
                creator_description: Some("creator".into()),
            }
        );
        let default = s.branch(1.into(), main).unwrap().unwrap();
        assert!(default.is_default);
        assert_eq!((default.creator_token_id, default.creator_description), (None, None), "the default branch has no creator");
        assert_eq!(s.branches(1.into()).unwrap().iter().map(|b| b.id).collect::<Vec<_>>(), vec![main.get(), dev.get()], "by id");
        assert_eq!(s.branches(2.into()).unwrap().len(), 1, "one project's branches only");
        assert_eq!(s.branch(2.into(), dev).unwrap(), None, "another project's branch is not found");

        assert!(s.branch_name_taken(1.into(), "dev").unwrap());
        assert!(s.branch_name_taken(1.into(), "Main").unwrap());
        assert!(!s.branch_name_taken(2.into(), "dev").unwrap());
        assert_eq!(s.create_dev_branch(1.into(), main, &new_branch("dev")).unwrap(), Err(AlreadyExists));
        assert_eq!(s.branches(1.into()).unwrap().len(), 2, "a refused create stores nothing");
        let main2 = s.default_branch(2).unwrap().unwrap();
        assert!(s.create_dev_branch(2.into(), main2.into(), &new_branch("dev")).unwrap().is_ok(), "names are unique per project");
    }

    pub fn dev_branches_updated<S: ProjectStore + BranchStore>(s: &S) {
        let (main, dev) = with_dev_branch(s);
        assert_eq!(s.update_branch(1.into(), dev, Some("Main"), Some("x")).unwrap(), Err(AlreadyExists));
        assert_eq!(s.branch(1.into(), dev).unwrap().unwrap().description, "about dev", "a refused update changes nothing");
        s.update_branch(1.into(), dev, Some("dev"), None).unwrap().expect("its own name is free");
        s.update_branch(1.into(), dev, Some("renamed"), Some("new")).unwrap().unwrap();
        let b = s.branch(1.into(), dev).unwrap().unwrap();
        assert_eq!((b.name.as_str(), b.description.as_str()), ("renamed", "new"));
        s.update_branch(1.into(), dev, None, Some("only described")).unwrap().unwrap();
        assert_eq!(s.branch(1.into(), dev).unwrap().unwrap().name, "renamed");
        s.update_branch(2.into(), main, Some("stolen"), None).unwrap().unwrap();
        assert_eq!(s.branch(1.into(), main).unwrap().unwrap().name, "Main", "another project cannot touch the branch");
    }

    pub fn dev_branch_deleted_with_its_objects<S: ProjectStore + BranchStore + BucketStore + MetadataStore>(s: &S) {
        let (main, dev) = with_dev_branch(s);
        let meta = [("k".to_string(), "v".to_string())];
        for branch in [main, dev] {
            let scope = Scope { project: 1.into(), branch };
            s.insert_bucket(&bucket(scope, "a")).unwrap().unwrap();
            s.upsert_metadata(scope, Object::Bucket, "in.c-a", "user", &meta, "2026-01-01T00:00:00+0000").unwrap();
            s.upsert_metadata(scope, Object::Branch, &branch.to_string(), "", &meta, "2026-01-01T00:00:00+0000").unwrap();
        }
        s.delete_branch(2.into(), dev).unwrap();
        assert!(s.branch(1.into(), dev).unwrap().is_some(), "another project cannot delete the branch");

        s.delete_branch(1.into(), dev).unwrap();
        assert_eq!(s.branch(1.into(), dev).unwrap(), None);
        assert!(!s.branch_exists(1, dev.get()).unwrap());
        let dev_scope = Scope { project: 1.into(), branch: dev };
        assert!(s.buckets(dev_scope).unwrap().is_empty());
        assert!(s.metadata(dev_scope, Object::Bucket, "in.c-a").unwrap().is_empty());
        assert!(s.metadata(dev_scope, Object::Branch, &dev.to_string()).unwrap().is_empty());
        let main_scope = Scope { project: 1.into(), branch: main };
        assert_eq!(s.buckets(main_scope).unwrap().len(), 1, "the default branch keeps its objects");
        assert_eq!(s.metadata(main_scope, Object::Bucket, "in.c-a").unwrap().len(), 1);
        assert_eq!(s.metadata(main_scope, Object::Branch, &main.to_string()).unwrap().len(), 1);
    }
}

#[macro_export]
macro_rules! branch_store_suite {
    ($make:expr) => {
        #[test]
        fn branch_store_default_branch_once_per_project() {
            $crate::meta::branches::suite::default_branch_once_per_project(&$make());
        }
        #[test]
        fn branch_store_dev_branches_created_and_listed() {
            $crate::meta::branches::suite::dev_branches_created_and_listed(&$make());
        }
        #[test]
        fn branch_store_dev_branches_updated() {
            $crate::meta::branches::suite::dev_branches_updated(&$make());
        }
        #[test]
        fn branch_store_dev_branch_deleted_with_its_objects() {
            $crate::meta::branches::suite::dev_branch_deleted_with_its_objects(&$make());
        }
    };
}
