//! Branches in the metadata store, as far as every request needs them (the default branch, and
//! whether a branch exists): the trait, its SQLite implementation, the conformance suite
//! (`branch_store_suite!`). The dev-branch resource itself still keeps its SQL in
//! `storage::branches` (to move here).
use rusqlite::OptionalExtension;

use super::MetaStore;
use kbstack_core::Result as ApiResult;

pub trait BranchStore {
    /// The project's default branch ("Main").
    fn default_branch(&self, project_id: i64) -> ApiResult<Option<i64>>;
    fn branch_exists(&self, project_id: i64, id: i64) -> ApiResult<bool>;
    /// The default branch, created with `name` when the project has none.
    fn ensure_default_branch(&self, project_id: i64, name: &str, created: &str) -> ApiResult<i64>;
}

impl BranchStore for MetaStore {
    fn default_branch(&self, project_id: i64) -> ApiResult<Option<i64>> {
        self.with(|c| c.query_row("SELECT id FROM branches WHERE project_id = ?1 AND is_default = 1", [project_id], |r| r.get(0)).optional())
    }

    fn branch_exists(&self, project_id: i64, id: i64) -> ApiResult<bool> {
        let found = self.with(|c| {
            c.query_row("SELECT 1 FROM branches WHERE project_id = ?1 AND id = ?2", [project_id, id], |_| Ok(())).optional()
        })?;
        Ok(found.is_some())
    }

    fn ensure_default_branch(&self, project_id: i64, name: &str, created: &str) -> ApiResult<i64> {
        self.tx(|tx| {
            let existing: Option<i64> = tx
                .query_row("SELECT id FROM branches WHERE project_id = ?1 AND is_default = 1", [project_id], |r| r.get(0))
                .optional()?;
            if let Some(id) = existing {
                return Ok(id);
            }
            tx.execute(
                "INSERT INTO branches (project_id, name, description, is_default, created) VALUES (?1, ?2, '', 1, ?3)",
                rusqlite::params![project_id, name, created],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }
}

#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::tokens::ProjectStore;

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
}

#[macro_export]
macro_rules! branch_store_suite {
    ($make:expr) => {
        #[test]
        fn branch_store_default_branch_once_per_project() {
            $crate::meta::branches::suite::default_branch_once_per_project(&$make());
        }
    };
}
