//! Buckets on PostgreSQL (`BucketStore`; see ../buckets.rs). An id and a display name are checked
//! and written in one transaction under the branch's bucket lock, so two nodes cannot both take them.
use postgres::GenericClient;

use super::{PgMetaStore, lock_until_commit};
use crate::meta::AlreadyExists;
use crate::meta::buckets::{Bucket, BucketChanges, BucketConflict, BucketStore};
use crate::meta::metadata::Object;
use kbstack_core::ids::ProjectId;
use kbstack_core::{Result as ApiResult, Scope};

const COLUMNS: &str = "project_id, branch_id, id, name, display_name, stage, description, backend, color, created, last_change_date";

fn from_row(r: &postgres::Row) -> Result<Bucket, postgres::Error> {
    Ok(Bucket {
        project_id: r.try_get(0)?,
        branch_id: r.try_get(1)?,
        id: r.try_get(2)?,
        name: r.try_get(3)?,
        display_name: r.try_get(4)?,
        stage: r.try_get(5)?,
        description: r.try_get(6)?,
        backend: r.try_get(7)?,
        color: r.try_get(8)?,
        created: r.try_get(9)?,
        last_change_date: r.try_get(10)?,
    })
}

fn lock_names(tx: &mut impl GenericClient, scope: Scope) -> Result<(), postgres::Error> {
    lock_until_commit(tx, &format!("buckets:{}:{}", scope.project.get(), scope.branch.get()))
}

fn exists(c: &mut impl GenericClient, scope: Scope, id: &str) -> Result<bool, postgres::Error> {
    Ok(c
        .query_opt("SELECT 1 FROM buckets WHERE project_id = $1 AND branch_id = $2 AND id = $3", &[&scope.project.get(), &scope.branch.get(), &id])?
        .is_some())
}

/// Whether a bucket of the branch other than `except` has the display name in the stage.
fn display_name_taken(c: &mut impl GenericClient, scope: Scope, stage: &str, display_name: &str, except: &str) -> Result<bool, postgres::Error> {
    Ok(c
        .query_opt(
            "SELECT 1 FROM buckets WHERE project_id = $1 AND branch_id = $2 AND stage = $3 AND display_name = $4 AND id <> $5",
            &[&scope.project.get(), &scope.branch.get(), &stage, &display_name, &except],
        )?
        .is_some())
}

fn set(c: &mut impl GenericClient, scope: Scope, id: &str, column: &str, value: &str) -> Result<u64, postgres::Error> {
    c.execute(
        &format!("UPDATE buckets SET {column} = $1 WHERE project_id = $2 AND branch_id = $3 AND id = $4"),
        &[&value, &scope.project.get(), &scope.branch.get(), &id],
    )
}

/// Insert a bucket inside the caller's transaction, unless its id or display name is taken.
pub(crate) fn insert_in(tx: &mut impl GenericClient, b: &Bucket) -> Result<Result<(), BucketConflict>, postgres::Error> {
    let scope = b.scope();
    lock_names(tx, scope)?;
    if exists(tx, scope, &b.id)? {
        return Ok(Err(BucketConflict::Id));
    }
    if display_name_taken(tx, scope, &b.stage, &b.display_name, &b.id)? {
        return Ok(Err(BucketConflict::DisplayName));
    }
    tx.execute(
        &format!("INSERT INTO buckets ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
        &[
            &b.project_id,
            &b.branch_id,
            &b.id,
            &b.name,
            &b.display_name,
            &b.stage,
            &b.description,
            &b.backend,
            &b.color,
            &b.created,
            &b.last_change_date,
        ],
    )?;
    Ok(Ok(()))
}

impl BucketStore for PgMetaStore {
    fn bucket(&self, scope: Scope, id: &str) -> ApiResult<Option<Bucket>> {
        self.with(|c| {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM buckets WHERE project_id = $1 AND branch_id = $2 AND id = $3"),
                &[&scope.project.get(), &scope.branch.get(), &id],
            )?
            .as_ref()
            .map(from_row)
            .transpose()
        })
    }

    fn buckets(&self, scope: Scope) -> ApiResult<Vec<Bucket>> {
        self.with(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM buckets WHERE project_id = $1 AND branch_id = $2 ORDER BY id"),
                &[&scope.project.get(), &scope.branch.get()],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn project_bucket_ids(&self, project: ProjectId) -> ApiResult<Vec<String>> {
        self.with(|c| {
            c.query("SELECT DISTINCT id FROM buckets WHERE project_id = $1 ORDER BY id", &[&project.get()])?
                .iter()
                .map(|r| r.try_get(0))
                .collect()
        })
    }

    fn insert_bucket(&self, b: &Bucket) -> ApiResult<Result<(), BucketConflict>> {
        Ok(self.tx(|tx| insert_in(tx, b))?)
    }

    fn update_bucket(&self, scope: Scope, id: &str, changes: &BucketChanges, changed: &str) -> ApiResult<Result<(), AlreadyExists>> {
        self.tx(|tx| {
            if let Some(display_name) = &changes.display_name {
                lock_names(tx, scope)?;
                let stage: Option<String> = tx
                    .query_opt(
                        "SELECT stage FROM buckets WHERE project_id = $1 AND branch_id = $2 AND id = $3",
                        &[&scope.project.get(), &scope.branch.get(), &id],
                    )?
                    .map(|r| r.try_get(0))
                    .transpose()?;
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
            let (project, branch) = (scope.project.get(), scope.branch.get());
            tx.execute(
                "DELETE FROM metadata WHERE project_id = $1 AND branch_id = $2 AND object_type = $3 AND object_id = $4",
                &[&project, &branch, &Object::Bucket.as_str(), &id],
            )?;
            for table in ["bucket_links", "bucket_shares"] {
                tx.execute(&format!("DELETE FROM {table} WHERE project_id = $1 AND branch_id = $2 AND bucket_id = $3"), &[&project, &branch, &id])?;
            }
            tx.execute("DELETE FROM buckets WHERE project_id = $1 AND branch_id = $2 AND id = $3", &[&project, &branch, &id])?;
            Ok(())
        })
    }
}
