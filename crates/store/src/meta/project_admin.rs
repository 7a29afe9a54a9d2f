//! What the Management API keeps about a project beside its Storage contents: its organization,
//! type, expiry, deleted and purged state, features and limits; the stack's feature catalogue;
//! and the credit ledger of pay-as-you-go projects. The repository trait, its SQLite
//! implementation and the conformance suite (`project_admin_store_suite!`).
use crate::meta::Cached;
use rusqlite::OptionalExtension;
use serde_json::{Map, Value};

use super::SqliteMetaStore;
use kbstack_core::Result as ApiResult;

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectDetails {
    pub id: i64,
    pub name: String,
    pub created: String,
    pub organization_id: i64,
    /// `production`, `demo`, `poc`, …
    pub kind: String,
    pub description: String,
    pub expires: Option<String>,
    pub data_retention_days: i64,
    pub deleted_time: Option<String>,
    pub purged_time: Option<String>,
    pub features: Vec<String>,
    /// Limits set on the project, by name (defaults are the service's).
    pub limits: Map<String, Value>,
}

impl ProjectDetails {
    pub fn is_deleted(&self) -> bool {
        self.deleted_time.is_some()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub id: i64,
    pub name: String,
    /// `project` or `admin`.
    pub kind: String,
    pub title: String,
    pub description: String,
    pub can_be_managed_by_admin: bool,
    pub can_be_managed_via_api: bool,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreditEntry {
    pub id: i64,
    pub project_id: i64,
    /// Positive when given, negative when a job consumed it.
    pub amount: f64,
    pub description: String,
    pub created: String,
    pub job_id: Option<i64>,
}

/// A name refused because another record has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameTaken;

pub trait ProjectAdminStore {
    /// Create a project with its details and its default branch `branch_name`, in one
    /// transaction; returns its id (the next free one).
    fn create_project(&self, details: &ProjectDetails, branch_name: &str) -> ApiResult<i64>;
    /// Details rows for projects that have none (made before the Management API existed), in
    /// `organization_id`.
    fn adopt_projects(&self, organization_id: i64) -> ApiResult<usize>;
    /// A project's details, deleted or not.
    fn project_details(&self, id: i64) -> ApiResult<Option<ProjectDetails>>;
    /// Projects of an organization (`Some`) or of the stack, not deleted (`false`) or deleted
    /// (`true`), by id.
    fn project_list(&self, organization_id: Option<i64>, deleted: bool) -> ApiResult<Vec<ProjectDetails>>;
    /// Write name, organization, type, description, expiry, retention, state, features and limits.
    fn update_project_details(&self, details: &ProjectDetails) -> ApiResult<()>;
    /// Purge: the project's Storage tokens go and it is marked purged, in one transaction.
    fn purge_project(&self, id: i64, now: &str) -> ApiResult<()>;

    fn insert_feature(&self, f: &Feature) -> ApiResult<Result<i64, NameTaken>>;
    fn feature(&self, id: i64) -> ApiResult<Option<Feature>>;
    fn feature_by_name(&self, name: &str) -> ApiResult<Option<Feature>>;
    fn features(&self, kind: Option<&str>) -> ApiResult<Vec<Feature>>;
    fn update_feature(&self, f: &Feature) -> ApiResult<()>;
    fn delete_feature(&self, id: i64) -> ApiResult<()>;

    /// Add a ledger entry; an entry for a job already charged is not added again (false).
    fn add_credit(&self, entry: &CreditEntry) -> ApiResult<(i64, bool)>;
    fn credit_balance(&self, project_id: i64) -> ApiResult<f64>;
    fn credit_entries(&self, project_id: i64) -> ApiResult<Vec<CreditEntry>>;
}

const DETAIL_COLUMNS: &str = "p.id, p.name, p.created, d.organization_id, d.type, d.description, d.expires, \
    d.data_retention_days, d.deleted_time, d.purged_time, d.features, d.limits";
const FEATURE_COLUMNS: &str = "id, name, type, title, description, can_be_managed_by_admin, can_be_managed_via_api, created";
const CREDIT_COLUMNS: &str = "id, project_id, amount, description, created, job_id";

fn details_from_row(r: &rusqlite::Row) -> rusqlite::Result<ProjectDetails> {
    let features: String = r.get(10)?;
    let limits: String = r.get(11)?;
    Ok(ProjectDetails {
        id: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        organization_id: r.get(3)?,
        kind: r.get(4)?,
        description: r.get(5)?,
        expires: r.get(6)?,
        data_retention_days: r.get(7)?,
        deleted_time: r.get(8)?,
        purged_time: r.get(9)?,
        features: serde_json::from_str(&features).unwrap_or_default(),
        limits: serde_json::from_str(&limits).unwrap_or_default(),
    })
}

fn feature_from_row(r: &rusqlite::Row) -> rusqlite::Result<Feature> {
    Ok(Feature {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        title: r.get(3)?,
        description: r.get(4)?,
        can_be_managed_by_admin: r.get(5)?,
        can_be_managed_via_api: r.get(6)?,
        created: r.get(7)?,
    })
}

fn credit_from_row(r: &rusqlite::Row) -> rusqlite::Result<CreditEntry> {
    Ok(CreditEntry { id: r.get(0)?, project_id: r.get(1)?, amount: r.get(2)?, description: r.get(3)?, created: r.get(4)?, job_id: r.get(5)? })
}

fn write_details(c: &rusqlite::Connection, d: &ProjectDetails) -> rusqlite::Result<()> {
    let features = serde_json::to_string(&d.features).unwrap_or_else(|_| "[]".into());
    let limits = serde_json::to_string(&d.limits).unwrap_or_else(|_| "{}".into());
    c.execute_cached("UPDATE projects SET name = ?1 WHERE id = ?2", rusqlite::params![d.name, d.id])?;
    c.execute_cached(
        "INSERT OR REPLACE INTO project_details (project_id, organization_id, type, description, expires, data_retention_days, \
         deleted_time, purged_time, features, limits) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        rusqlite::params![
            d.id,
            d.organization_id,
            d.kind,
            d.description,
            d.expires,
            d.data_retention_days,
            d.deleted_time,
            d.purged_time,
            features,
            limits
        ],
    )?;
    Ok(())
}

impl ProjectAdminStore for SqliteMetaStore {
    fn create_project(&self, d: &ProjectDetails, branch_name: &str) -> ApiResult<i64> {
        self.tx(|tx| {
            let id: i64 = tx.query_row_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM projects", [], |r| r.get(0))?;
            tx.execute_cached("INSERT INTO projects (id, name, created) VALUES (?1, ?2, ?3)", rusqlite::params![id, d.name, d.created])?;
            write_details(tx, &ProjectDetails { id, ..d.clone() })?;
            tx.execute_cached(
                "INSERT INTO branches (project_id, name, description, is_default, created) VALUES (?1, ?2, '', 1, ?3)",
                rusqlite::params![id, branch_name, d.created],
            )?;
            Ok::<_, rusqlite::Error>(id)
        })
        .map_err(Into::into)
    }

    fn adopt_projects(&self, organization_id: i64) -> ApiResult<usize> {
        self.with(|c| {
            c.execute_cached(
                "INSERT INTO project_details (project_id, organization_id) \
                 SELECT id, ?1 FROM projects WHERE id NOT IN (SELECT project_id FROM project_details)",
                [organization_id],
            )
        })
    }

    fn project_details(&self, id: i64) -> ApiResult<Option<ProjectDetails>> {
        self.cached(|c| &c.details, &id, |_| true, |c| {
            c.query_row_cached(
                &format!("SELECT {DETAIL_COLUMNS} FROM projects p JOIN project_details d ON d.project_id = p.id WHERE p.id = ?1"),
                [id],
                details_from_row,
            )
            .optional()
        })
    }

    fn project_list(&self, organization_id: Option<i64>, deleted: bool) -> ApiResult<Vec<ProjectDetails>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {DETAIL_COLUMNS} FROM projects p JOIN project_details d ON d.project_id = p.id \
                 WHERE (?1 IS NULL OR d.organization_id = ?1) AND (d.deleted_time IS NOT NULL) = ?2 ORDER BY p.id"
            ))?;
            st.query_map(rusqlite::params![organization_id, deleted], details_from_row)?.collect()
        })
    }

    fn update_project_details(&self, d: &ProjectDetails) -> ApiResult<()> {
        self.tx(|tx| write_details(tx, d))?;
        Ok(())
    }

    fn purge_project(&self, id: i64, now: &str) -> ApiResult<()> {
        self.tx(|tx| {
            tx.execute_cached("DELETE FROM tokens WHERE project_id = ?1", [id])?;
            tx.execute_cached("UPDATE project_details SET purged_time = ?1 WHERE project_id = ?2", rusqlite::params![now, id])?;
            Ok::<_, rusqlite::Error>(())
        })?;
        Ok(())
    }

    fn insert_feature(&self, f: &Feature) -> ApiResult<Result<i64, NameTaken>> {
        self.tx(|tx| {
            if tx.query_row_cached("SELECT 1 FROM features WHERE name = ?1", [&f.name], |_| Ok(())).optional()?.is_some() {
                return Ok(Err(NameTaken));
            }
            tx.execute_cached(
                "INSERT INTO features (name, type, title, description, can_be_managed_by_admin, can_be_managed_via_api, created) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![f.name, f.kind, f.title, f.description, f.can_be_managed_by_admin, f.can_be_managed_via_api, f.created],
            )?;
            Ok(Ok(tx.last_insert_rowid()))
        })
    }

    fn feature(&self, id: i64) -> ApiResult<Option<Feature>> {
        self.with(|c| c.query_row_cached(&format!("SELECT {FEATURE_COLUMNS} FROM features WHERE id = ?1"), [id], feature_from_row).optional())
    }

    fn feature_by_name(&self, name: &str) -> ApiResult<Option<Feature>> {
        self.with(|c| {
            c.query_row_cached(&format!("SELECT {FEATURE_COLUMNS} FROM features WHERE name = ?1"), [name], feature_from_row).optional()
        })
    }

    fn features(&self, kind: Option<&str>) -> ApiResult<Vec<Feature>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {FEATURE_COLUMNS} FROM features WHERE ?1 IS NULL OR type = ?1 ORDER BY id"))?;
            st.query_map([kind], feature_from_row)?.collect()
        })
    }

    fn update_feature(&self, f: &Feature) -> ApiResult<()> {
        self.with(|c| {
            c.execute_cached(
                "UPDATE features SET title = ?1, description = ?2, can_be_managed_by_admin = ?3, can_be_managed_via_api = ?4 WHERE id = ?5",
                rusqlite::params![f.title, f.description, f.can_be_managed_by_admin, f.can_be_managed_via_api, f.id],
            )
        })?;
        Ok(())
    }

    fn delete_feature(&self, id: i64) -> ApiResult<()> {
        self.with(|c| c.execute_cached("DELETE FROM features WHERE id = ?1", [id]))?;
        Ok(())
    }

    fn add_credit(&self, e: &CreditEntry) -> ApiResult<(i64, bool)> {
        self.with(|c| {
            let n = c.execute_cached(
                "INSERT OR IGNORE INTO credits (project_id, amount, description, created, job_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![e.project_id, e.amount, e.description, e.created, e.job_id],
            )?;
            Ok((c.last_insert_rowid(), n > 0))
        })
    }

    fn credit_balance(&self, project_id: i64) -> ApiResult<f64> {
        self.with(|c| c.query_row_cached("SELECT COALESCE(SUM(amount), 0.0) FROM credits WHERE project_id = ?1", [project_id], |r| r.get(0)))
    }

    fn credit_entries(&self, project_id: i64) -> ApiResult<Vec<CreditEntry>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {CREDIT_COLUMNS} FROM credits WHERE project_id = ?1 ORDER BY id"))?;
            st.query_map([project_id], credit_from_row)?.collect()
        })
    }
}

/// The behaviour every `ProjectAdminStore` must have; `project_admin_store_suite!` runs each check.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::branches::BranchStore;
    use crate::meta::tokens::{ProjectStore, TokenRecord, TokenStore};
    use kbstack_core::ids::ProjectId;

    const NOW: &str = "2026-01-01T00:00:00+0000";

    fn details(name: &str, organization_id: i64) -> ProjectDetails {
        ProjectDetails {
            id: 0,
            name: name.into(),
            created: NOW.into(),
            organization_id,
            kind: "production".into(),
            description: String::new(),
            expires: None,
            data_retention_days: 7,
            deleted_time: None,
            purged_time: None,
            features: vec![],
            limits: Map::new(),
        }
    }

    pub fn projects_created_with_a_branch_listed_deleted_and_purged<S: ProjectAdminStore + ProjectStore + TokenStore + BranchStore>(s: &S) {
        s.ensure_project(1, "old", NOW).unwrap();
        assert_eq!(s.project_details(1).unwrap(), None);
        assert_eq!(s.adopt_projects(1).unwrap(), 1, "a project made before gets details");
        assert_eq!(s.adopt_projects(1).unwrap(), 0);
        let a = s.create_project(&details("A", 2), "Main").unwrap();
        let b = s.create_project(&details("B", 2), "Main").unwrap();
        assert_eq!((a, b), (2, 3));
        let branches = s.branches(ProjectId::from(a)).unwrap();
        assert_eq!((branches.len(), branches[0].is_default), (1, true), "a new project has its default branch");
        assert_eq!(s.project_list(Some(2), false).unwrap().iter().map(|p| p.id).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(s.project_list(None, false).unwrap().len(), 3);

        let (tid, secret) = s.insert_token(&TokenRecord::master(a, "m", NOW), &|id| format!("{id}-x")).unwrap();
        let hash = crate::meta::tokens::hash_token(&secret);
        assert_eq!(s.token_by_hash(&hash).unwrap().map(|t| t.id), Some(tid));
        let mut d = s.project_details(a).unwrap().unwrap();
        d.name = "A2".into();
        d.features = vec!["pay-as-you-go".into()];
        d.limits.insert("components.jobsParallelism".into(), serde_json::json!({"name": "components.jobsParallelism", "value": 2}));
        d.deleted_time = Some(NOW.into());
        s.update_project_details(&d).unwrap();
        assert_eq!(s.project_details(a).unwrap().unwrap(), d);
        assert_eq!(s.project(a).unwrap().unwrap().0, "A2");
        assert_eq!(s.project_list(Some(2), true).unwrap().iter().map(|p| p.id).collect::<Vec<_>>(), vec![a]);
        assert_eq!(s.project_list(Some(2), false).unwrap().iter().map(|p| p.id).collect::<Vec<_>>(), vec![b]);

        assert_eq!(s.token_by_hash(&hash).unwrap(), None, "a deleted project's tokens stop working at once");
        s.purge_project(a, NOW).unwrap();
        assert_eq!(s.token(tid).unwrap(), None, "purged with its tokens");
        assert_eq!(s.project_details(a).unwrap().unwrap().purged_time.as_deref(), Some(NOW));
    }

    pub fn features_unique_by_name<S: ProjectAdminStore>(s: &S) {
        let f = Feature {
            id: 0,
            name: "pay-as-you-go".into(),
            kind: "project".into(),
            title: "PAYG".into(),
            description: String::new(),
            can_be_managed_by_admin: false,
            can_be_managed_via_api: true,
            created: NOW.into(),
        };
        let id = s.insert_feature(&f).unwrap().unwrap();
        assert_eq!(s.insert_feature(&f).unwrap(), Err(NameTaken));
        s.insert_feature(&Feature { name: "ui".into(), kind: "admin".into(), ..f.clone() }).unwrap().unwrap();
        assert_eq!(s.features(Some("project")).unwrap().len(), 1);
        assert_eq!(s.features(None).unwrap().len(), 2);
        let mut got = s.feature_by_name("pay-as-you-go").unwrap().unwrap();
        got.title = "Pay as you go".into();
        s.update_feature(&got).unwrap();
        assert_eq!(s.feature(id).unwrap().unwrap(), got);
        s.delete_feature(id).unwrap();
        assert_eq!(s.feature(id).unwrap(), None);
    }

    pub fn credits_charged_once_per_job<S: ProjectAdminStore>(s: &S) {
        let e = |amount, job_id| CreditEntry { id: 0, project_id: 5, amount, description: "x".into(), created: NOW.into(), job_id };
        assert_eq!(s.credit_balance(5).unwrap(), 0.0);
        s.add_credit(&e(10.0, None)).unwrap();
        assert!(s.add_credit(&e(-1.5, Some(42))).unwrap().1);
        assert!(!s.add_credit(&e(-1.5, Some(42))).unwrap().1, "a job is charged once");
        assert_eq!(s.credit_balance(5).unwrap(), 8.5);
        assert_eq!(s.credit_balance(6).unwrap(), 0.0);
        assert_eq!(s.credit_entries(5).unwrap().len(), 2);
    }
}

#[macro_export]
macro_rules! project_admin_store_suite {
    ($make:expr) => {
        #[test]
        fn project_admin_store_projects_created_with_a_branch_listed_deleted_and_purged() {
            $crate::meta::project_admin::suite::projects_created_with_a_branch_listed_deleted_and_purged(&$make());
        }
        #[test]
        fn project_admin_store_features_unique_by_name() {
            $crate::meta::project_admin::suite::features_unique_by_name(&$make());
        }
        #[test]
        fn project_admin_store_credits_charged_once_per_job() {
            $crate::meta::project_admin::suite::credits_charged_once_per_job(&$make());
        }
    };
}
