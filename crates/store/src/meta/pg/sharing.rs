//! Bucket sharing on PostgreSQL (`SharingStore`; see ../sharing.rs). Unsharing and linking to
//! a shared bucket take the same advisory lock on the source bucket, so on any node a link is
//! made only while its source is shared and a share removed only while nothing links to it.
use postgres::GenericClient;

use super::buckets::insert_in;
use super::{PgMetaStore, lock_until_commit};
use crate::meta::buckets::Bucket;
use crate::meta::sharing::{BucketLink, BucketShare, LINK_COLUMNS, LinkRefused, SHARE_COLUMNS, SharingStore, StillLinked};
use kbstack_core::{Result as ApiResult, Scope};

fn share_from_row(r: &postgres::Row) -> Result<BucketShare, postgres::Error> {
    let projects: String = r.try_get(4)?;
    let users: String = r.try_get(5)?;
    Ok(BucketShare {
        project_id: r.try_get(0)?,
        branch_id: r.try_get(1)?,
        bucket_id: r.try_get(2)?,
        sharing: r.try_get(3)?,
        target_project_ids: serde_json::from_str(&projects).unwrap_or_default(),
        target_users: serde_json::from_str(&users).unwrap_or_default(),
        shared_by_id: r.try_get(6)?,
        shared_by_name: r.try_get(7)?,
        shared_date: r.try_get(8)?,
    })
}

fn link_from_row(r: &postgres::Row) -> Result<BucketLink, postgres::Error> {
    Ok(BucketLink {
        project_id: r.try_get(0)?,
        branch_id: r.try_get(1)?,
        bucket_id: r.try_get(2)?,
        source_project_id: r.try_get(3)?,
        source_branch_id: r.try_get(4)?,
        source_bucket_id: r.try_get(5)?,
        created: r.try_get(6)?,
    })
}

/// Held until the transaction ends by whoever checks a share against its links.
fn lock_share(tx: &mut impl GenericClient, source: Scope, bucket_id: &str) -> Result<(), postgres::Error> {
    lock_until_commit(tx, &format!("bucket_share:{}:{}:{bucket_id}", source.project.get(), source.branch.get()))
}

fn is_shared(c: &mut impl GenericClient, scope: Scope, bucket_id: &str) -> Result<bool, postgres::Error> {
    Ok(c
        .query_opt(
            "SELECT 1 FROM bucket_shares WHERE project_id = $1 AND branch_id = $2 AND bucket_id = $3",
            &[&scope.project.get(), &scope.branch.get(), &bucket_id],
        )?
        .is_some())
}

fn is_linked(c: &mut impl GenericClient, source: Scope, bucket_id: &str) -> Result<bool, postgres::Error> {
    Ok(c
        .query_opt(
            "SELECT 1 FROM bucket_links WHERE source_project_id = $1 AND source_branch_id = $2 AND source_bucket_id = $3 LIMIT 1",
            &[&source.project.get(), &source.branch.get(), &bucket_id],
        )?
        .is_some())
}

impl SharingStore for PgMetaStore {
    fn share_bucket(&self, s: &BucketShare) -> ApiResult<()> {
        let projects = serde_json::to_string(&s.target_project_ids).unwrap_or_else(|_| "[]".into());
        let users = serde_json::to_string(&s.target_users).unwrap_or_else(|_| "[]".into());
        self.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO bucket_shares ({SHARE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (project_id, branch_id, bucket_id) DO UPDATE SET sharing = EXCLUDED.sharing, \
                     target_project_ids = EXCLUDED.target_project_ids, target_users = EXCLUDED.target_users, \
                     shared_by_id = EXCLUDED.shared_by_id, shared_by_name = EXCLUDED.shared_by_name, shared_date = EXCLUDED.shared_date"
                ),
                &[&s.project_id, &s.branch_id, &s.bucket_id, &s.sharing, &projects, &users, &s.shared_by_id, &s.shared_by_name, &s.shared_date],
            )
        })?;
        Ok(())
    }

    fn bucket_share(&self, scope: Scope, bucket_id: &str) -> ApiResult<Option<BucketShare>> {
        self.with(|c| {
            c.query_opt(
                &format!("SELECT {SHARE_COLUMNS} FROM bucket_shares WHERE project_id = $1 AND branch_id = $2 AND bucket_id = $3"),
                &[&scope.project.get(), &scope.branch.get(), &bucket_id],
            )?
            .as_ref()
            .map(share_from_row)
            .transpose()
        })
    }

    fn bucket_shares(&self) -> ApiResult<Vec<BucketShare>> {
        self.with(|c| c.query(&format!("SELECT {SHARE_COLUMNS} FROM bucket_shares ORDER BY project_id, bucket_id"), &[])?.iter().map(share_from_row).collect())
    }

    fn unshare_bucket(&self, scope: Scope, bucket_id: &str) -> ApiResult<Result<(), StillLinked>> {
        self.tx(|tx| {
            lock_share(tx, scope, bucket_id)?;
            if is_linked(tx, scope, bucket_id)? {
                return Ok(Err(StillLinked));
            }
            tx.execute(
                "DELETE FROM bucket_shares WHERE project_id = $1 AND branch_id = $2 AND bucket_id = $3",
                &[&scope.project.get(), &scope.branch.get(), &bucket_id],
            )?;
            Ok::<_, kbstack_core::Error>(Ok(()))
        })
    }

    fn insert_linked_bucket(&self, bucket: &Bucket, source: Scope, source_bucket_id: &str) -> ApiResult<Result<(), LinkRefused>> {
        self.tx(|tx| {
            lock_share(tx, source, source_bucket_id)?;
            if !is_shared(tx, source, source_bucket_id)? {
                return Ok(Err(LinkRefused::NotShared));
            }
            if let Err(conflict) = insert_in(tx, bucket)? {
                return Ok(Err(LinkRefused::Conflict(conflict)));
            }
            tx.execute(
                &format!("INSERT INTO bucket_links ({LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
                &[&bucket.project_id, &bucket.branch_id, &bucket.id, &source.project.get(), &source.branch.get(), &source_bucket_id, &bucket.created],
            )?;
            Ok::<_, kbstack_core::Error>(Ok(()))
        })
    }

    fn bucket_link(&self, scope: Scope, bucket_id: &str) -> ApiResult<Option<BucketLink>> {
        self.with(|c| {
            c.query_opt(
                &format!("SELECT {LINK_COLUMNS} FROM bucket_links WHERE project_id = $1 AND branch_id = $2 AND bucket_id = $3"),
                &[&scope.project.get(), &scope.branch.get(), &bucket_id],
            )?
            .as_ref()
            .map(link_from_row)
            .transpose()
        })
    }

    fn links_to(&self, source: Scope, source_bucket_id: &str) -> ApiResult<Vec<BucketLink>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {LINK_COLUMNS} FROM bucket_links WHERE source_project_id = $1 AND source_branch_id = $2 AND source_bucket_id = $3 \
                     ORDER BY project_id, bucket_id"
                ),
                &[&source.project.get(), &source.branch.get(), &source_bucket_id],
            )?
            .iter()
            .map(link_from_row)
            .collect()
        })
    }
}
