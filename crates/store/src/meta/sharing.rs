//! Bucket sharing in the metadata store: which buckets are shared and to whom (`bucket_shares`),
//! and which buckets are links to another project's shared bucket (`bucket_links`). The
//! repository trait, its SQLite implementation and the conformance suite
//! (`sharing_store_suite!`). Who may see a share (organization, projects, users) is the
//! service's business; the store keeps the records and the rules that need one transaction:
//! a link is made only while its source is shared, a share is removed only while unlinked.
use crate::meta::Cached;
use rusqlite::OptionalExtension;

use super::SqliteMetaStore;
use super::buckets::{Bucket, BucketConflict, insert_in};
use kbstack_core::{Result as ApiResult, Scope};

/// A shared bucket: `sharing` is `organization`, `organization-project`, `specific-projects` or
/// `specific-users` (with its targets).
#[derive(Debug, Clone, PartialEq)]
pub struct BucketShare {
    pub project_id: i64,
    pub branch_id: i64,
    pub bucket_id: String,
    pub sharing: String,
    pub target_project_ids: Vec<i64>,
    pub target_users: Vec<String>,
    pub shared_by_id: i64,
    pub shared_by_name: String,
    pub shared_date: String,
}

impl BucketShare {
    pub fn scope(&self) -> Scope {
        Scope::new(self.project_id, self.branch_id)
    }
}

/// A bucket that shows another project's shared bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketLink {
    pub project_id: i64,
    pub branch_id: i64,
    pub bucket_id: String,
    pub source_project_id: i64,
    pub source_branch_id: i64,
    pub source_bucket_id: String,
    pub created: String,
}

impl BucketLink {
    pub fn scope(&self) -> Scope {
        Scope::new(self.project_id, self.branch_id)
    }

    pub fn source_scope(&self) -> Scope {
        Scope::new(self.source_project_id, self.source_branch_id)
    }
}

/// Why a link was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefused {
    /// The source bucket is not (or no longer) shared.
    NotShared,
    Conflict(BucketConflict),
}

/// A share kept because buckets still link to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StillLinked;

pub trait SharingStore {
    /// Share a bucket, or change how it is shared (the record is replaced).
    fn share_bucket(&self, share: &BucketShare) -> ApiResult<()>;
    fn bucket_share(&self, scope: Scope, bucket_id: &str) -> ApiResult<Option<BucketShare>>;
    /// Every shared bucket of every project (one organization), by project and bucket id.
    fn bucket_shares(&self) -> ApiResult<Vec<BucketShare>>;
    /// Stop sharing, in one transaction, unless a bucket still links to it. Nothing shared is fine.
    fn unshare_bucket(&self, scope: Scope, bucket_id: &str) -> ApiResult<Result<(), StillLinked>>;
    /// Insert `bucket` together with its link to `source`, in one transaction, only while the
    /// source is shared and the bucket's id and display name are free.
    fn insert_linked_bucket(&self, bucket: &Bucket, source: Scope, source_bucket_id: &str) -> ApiResult<Result<(), LinkRefused>>;
    /// The link of a bucket, when it is a linked bucket.
    fn bucket_link(&self, scope: Scope, bucket_id: &str) -> ApiResult<Option<BucketLink>>;
    /// The buckets linking to a bucket, by project and bucket id.
    fn links_to(&self, source: Scope, source_bucket_id: &str) -> ApiResult<Vec<BucketLink>>;
}

pub(crate) const SHARE_COLUMNS: &str =
    "project_id, branch_id, bucket_id, sharing, target_project_ids, target_users, shared_by_id, shared_by_name, shared_date";
pub(crate) const LINK_COLUMNS: &str = "project_id, branch_id, bucket_id, source_project_id, source_branch_id, source_bucket_id, created";

fn share_from_row(r: &rusqlite::Row) -> rusqlite::Result<BucketShare> {
    let projects: String = r.get(4)?;
    let users: String = r.get(5)?;
    Ok(BucketShare {
        project_id: r.get(0)?,
        branch_id: r.get(1)?,
        bucket_id: r.get(2)?,
        sharing: r.get(3)?,
        target_project_ids: serde_json::from_str(&projects).unwrap_or_default(),
        target_users: serde_json::from_str(&users).unwrap_or_default(),
        shared_by_id: r.get(6)?,
        shared_by_name: r.get(7)?,
        shared_date: r.get(8)?,
    })
}

fn link_from_row(r: &rusqlite::Row) -> rusqlite::Result<BucketLink> {
    Ok(BucketLink {
        project_id: r.get(0)?,
        branch_id: r.get(1)?,
        bucket_id: r.get(2)?,
        source_project_id: r.get(3)?,
        source_branch_id: r.get(4)?,
        source_bucket_id: r.get(5)?,
        created: r.get(6)?,
    })
}

fn is_shared(c: &rusqlite::Connection, scope: Scope, bucket_id: &str) -> rusqlite::Result<bool> {
    c.query_row_cached(
        "SELECT 1 FROM bucket_shares WHERE project_id = ?1 AND branch_id = ?2 AND bucket_id = ?3",
        rusqlite::params![scope.project.get(), scope.branch.get(), bucket_id],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

fn is_linked(c: &rusqlite::Connection, source: Scope, bucket_id: &str) -> rusqlite::Result<bool> {
    c.query_row_cached(
        "SELECT 1 FROM bucket_links WHERE source_project_id = ?1 AND source_branch_id = ?2 AND source_bucket_id = ?3 LIMIT 1",
        rusqlite::params![source.project.get(), source.branch.get(), bucket_id],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

impl SharingStore for SqliteMetaStore {
    fn share_bucket(&self, s: &BucketShare) -> ApiResult<()> {
        let projects = serde_json::to_string(&s.target_project_ids).unwrap_or_else(|_| "[]".into());
        let users = serde_json::to_string(&s.target_users).unwrap_or_else(|_| "[]".into());
        self.with(|c| {
            c.execute_cached(
                &format!("INSERT OR REPLACE INTO bucket_shares ({SHARE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                rusqlite::params![
                    s.project_id,
                    s.branch_id,
                    s.bucket_id,
                    s.sharing,
                    projects,
                    users,
                    s.shared_by_id,
                    s.shared_by_name,
                    s.shared_date
                ],
            )
        })?;
        Ok(())
    }

    fn bucket_share(&self, scope: Scope, bucket_id: &str) -> ApiResult<Option<BucketShare>> {
        self.with(|c| {
            c.query_row_cached(
                &format!("SELECT {SHARE_COLUMNS} FROM bucket_shares WHERE project_id = ?1 AND branch_id = ?2 AND bucket_id = ?3"),
                rusqlite::params![scope.project.get(), scope.branch.get(), bucket_id],
                share_from_row,
            )
            .optional()
        })
    }

    fn bucket_shares(&self) -> ApiResult<Vec<BucketShare>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {SHARE_COLUMNS} FROM bucket_shares ORDER BY project_id, bucket_id"))?;
            st.query_map([], share_from_row)?.collect()
        })
    }

    fn unshare_bucket(&self, scope: Scope, bucket_id: &str) -> ApiResult<Result<(), StillLinked>> {
        self.tx(|tx| {
            if is_linked(tx, scope, bucket_id)? {
                return Ok(Err(StillLinked));
            }
            tx.execute_cached(
                "DELETE FROM bucket_shares WHERE project_id = ?1 AND branch_id = ?2 AND bucket_id = ?3",
                rusqlite::params![scope.project.get(), scope.branch.get(), bucket_id],
            )?;
            Ok(Ok(()))
        })
    }

    fn insert_linked_bucket(&self, bucket: &Bucket, source: Scope, source_bucket_id: &str) -> ApiResult<Result<(), LinkRefused>> {
        self.tx(|tx| {
            if !is_shared(tx, source, source_bucket_id)? {
                return Ok(Err(LinkRefused::NotShared));
            }
            if let Err(conflict) = insert_in(tx, bucket)? {
                return Ok(Err(LinkRefused::Conflict(conflict)));
            }
            tx.execute_cached(
                &format!("INSERT INTO bucket_links ({LINK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                rusqlite::params![
                    bucket.project_id,
                    bucket.branch_id,
                    bucket.id,
                    source.project.get(),
                    source.branch.get(),
                    source_bucket_id,
                    bucket.created
                ],
            )?;
            Ok(Ok(()))
        })
    }

    fn bucket_link(&self, scope: Scope, bucket_id: &str) -> ApiResult<Option<BucketLink>> {
        self.with(|c| {
            c.query_row_cached(
                &format!("SELECT {LINK_COLUMNS} FROM bucket_links WHERE project_id = ?1 AND branch_id = ?2 AND bucket_id = ?3"),
                rusqlite::params![scope.project.get(), scope.branch.get(), bucket_id],
                link_from_row,
            )
            .optional()
        })
    }

    fn links_to(&self, source: Scope, source_bucket_id: &str) -> ApiResult<Vec<BucketLink>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM bucket_links WHERE source_project_id = ?1 AND source_branch_id = ?2 AND source_bucket_id = ?3 ORDER BY project_id, bucket_id"
            ))?;
            st.query_map(rusqlite::params![source.project.get(), source.branch.get(), source_bucket_id], link_from_row)?.collect()
        })
    }
}

/// The behaviour every `SharingStore` must have; `sharing_store_suite!` runs each check as a
/// named test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::buckets::BucketStore;
    use crate::meta::buckets::suite::bucket;

    const WHEN: &str = "2026-01-01T00:00:00+0000";

    pub fn share(scope: Scope, bucket_id: &str, sharing: &str) -> BucketShare {
        BucketShare {
            project_id: scope.project.get(),
            branch_id: scope.branch.get(),
            bucket_id: bucket_id.into(),
            sharing: sharing.into(),
            target_project_ids: Vec::new(),
            target_users: Vec::new(),
            shared_by_id: 7,
            shared_by_name: "admin".into(),
            shared_date: WHEN.into(),
        }
    }

    pub fn shared_changed_and_listed<S: SharingStore + BucketStore>(s: &S) {
        let (a, b) = (Scope::new(1, 1), Scope::new(2, 2));
        s.insert_bucket(&bucket(a, "x")).unwrap().unwrap();
        s.insert_bucket(&bucket(b, "y")).unwrap().unwrap();
        assert_eq!(s.bucket_share(a, "in.c-x").unwrap(), None);
        s.share_bucket(&share(a, "in.c-x", "organization")).unwrap();
        let mut to_projects = share(b, "in.c-y", "specific-projects");
        to_projects.target_project_ids = vec![1, 3];
        s.share_bucket(&to_projects).unwrap();
        assert_eq!(s.bucket_share(b, "in.c-y").unwrap(), Some(to_projects.clone()), "targets kept");
        s.share_bucket(&share(a, "in.c-x", "organization-project")).unwrap();
        assert_eq!(s.bucket_share(a, "in.c-x").unwrap().unwrap().sharing, "organization-project", "a new share replaces the old");
        let all: Vec<(i64, String)> = s.bucket_shares().unwrap().into_iter().map(|sh| (sh.project_id, sh.bucket_id)).collect();
        assert_eq!(all, vec![(1, "in.c-x".to_string()), (2, "in.c-y".to_string())], "every project's, once each");
        assert_eq!(s.bucket_share(Scope::new(1, 9), "in.c-x").unwrap(), None, "per branch");
    }

    pub fn linked_only_while_shared_and_unshared_only_when_unlinked<S: SharingStore + BucketStore>(s: &S) {
        let (a, b) = (Scope::new(1, 1), Scope::new(2, 2));
        s.insert_bucket(&bucket(a, "x")).unwrap().unwrap();
        let mut linked = bucket(b, "l");
        assert_eq!(s.insert_linked_bucket(&linked, a, "in.c-x").unwrap(), Err(LinkRefused::NotShared));
        assert_eq!(s.bucket(b, "in.c-l").unwrap(), None, "a refused link stores nothing");

        s.share_bucket(&share(a, "in.c-x", "organization")).unwrap();
        s.insert_linked_bucket(&linked, a, "in.c-x").unwrap().unwrap();
        assert_eq!(s.bucket(b, "in.c-l").unwrap(), Some(linked.clone()), "the bucket is stored with its link");
        let link = s.bucket_link(b, "in.c-l").unwrap().unwrap();
        assert_eq!((link.source_scope(), link.source_bucket_id.as_str()), (a, "in.c-x"));
        assert_eq!(s.bucket_link(a, "in.c-x").unwrap(), None, "the source is not a link");
        assert_eq!(s.links_to(a, "in.c-x").unwrap(), vec![link.clone()]);
        assert_eq!(
            s.insert_linked_bucket(&linked, a, "in.c-x").unwrap(),
            Err(LinkRefused::Conflict(BucketConflict::Id)),
            "the id is checked as for any bucket"
        );

        assert_eq!(s.unshare_bucket(a, "in.c-x").unwrap(), Err(StillLinked));
        assert!(s.bucket_share(a, "in.c-x").unwrap().is_some(), "a refused unshare keeps the share");
        s.delete_bucket(b, "in.c-l").unwrap();
        assert_eq!(s.bucket_link(b, "in.c-l").unwrap(), None, "deleting the linked bucket drops its link");
        assert!(s.links_to(a, "in.c-x").unwrap().is_empty());
        assert_eq!(s.unshare_bucket(a, "in.c-x").unwrap(), Ok(()));
        assert_eq!(s.bucket_share(a, "in.c-x").unwrap(), None);
        assert_eq!(s.unshare_bucket(a, "in.c-x").unwrap(), Ok(()), "unsharing twice is fine");

        linked.id = "in.c-m".into();
        linked.display_name = "m".into();
        assert_eq!(s.insert_linked_bucket(&linked, a, "in.c-x").unwrap(), Err(LinkRefused::NotShared), "not after the unshare");
    }

    pub fn deleting_a_bucket_drops_its_share<S: SharingStore + BucketStore>(s: &S) {
        let a = Scope::new(1, 1);
        s.insert_bucket(&bucket(a, "x")).unwrap().unwrap();
        s.share_bucket(&share(a, "in.c-x", "organization")).unwrap();
        s.delete_bucket(a, "in.c-x").unwrap();
        assert_eq!(s.bucket_share(a, "in.c-x").unwrap(), None);
        s.insert_bucket(&bucket(a, "x")).unwrap().unwrap();
        assert_eq!(s.bucket_share(a, "in.c-x").unwrap(), None, "a new bucket of the same id starts unshared");
    }
}

#[macro_export]
macro_rules! sharing_store_suite {
    ($make:expr) => {
        #[test]
        fn sharing_store_shared_changed_and_listed() {
            $crate::meta::sharing::suite::shared_changed_and_listed(&$make());
        }
        #[test]
        fn sharing_store_linked_only_while_shared_and_unshared_only_when_unlinked() {
            $crate::meta::sharing::suite::linked_only_while_shared_and_unshared_only_when_unlinked(&$make());
        }
        #[test]
        fn sharing_store_deleting_a_bucket_drops_its_share() {
            $crate::meta::sharing::suite::deleting_a_bucket_drops_its_share(&$make());
        }
    };
}
