//! Branches on PostgreSQL (`BranchStore`; see ../branches.rs). A name is checked and written in
//! one transaction under the project's branch lock, so two nodes cannot both take it.
use postgres::GenericClient;

use super::{PgMetaStore, flag, lock_until_commit};
use crate::meta::AlreadyExists;
use crate::meta::branches::{Branch, BranchStore, NewBranch};
use crate::meta::metadata::Object;
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{BranchId, ProjectId};

const COLUMNS: &str = "id, project_id, name, description, created, is_default, creator_token_id, creator_description";

fn from_row(r: &postgres::Row) -> Result<Branch, postgres::Error> {
    Ok(Branch {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        name: r.try_get(2)?,
        description: r.try_get(3)?,
        created: r.try_get(4)?,
        is_default: flag(r, 5)?,
        creator_token_id: r.try_get(6)?,
        creator_description: r.try_get(7)?,
    })
}

fn lock_names(tx: &mut impl GenericClient, project: i64) -> Result<(), postgres::Error> {
    lock_until_commit(tx, &format!("branches:{project}"))
}

/// Whether a branch of the project other than `except` has this name.
fn name_taken(c: &mut impl GenericClient, project: i64, name: &str, except: Option<i64>) -> Result<bool, postgres::Error> {
    Ok(c
        .query_opt("SELECT 1 FROM branches WHERE project_id = $1 AND name = $2 AND id IS DISTINCT FROM $3", &[&project, &name, &except])?
        .is_some())
}

fn default_branch_in(c: &mut impl GenericClient, project: i64) -> Result<Option<i64>, postgres::Error> {
    c.query_opt("SELECT id FROM branches WHERE project_id = $1 AND is_default = 1", &[&project])?.map(|r| r.try_get(0)).transpose()
}

/// Copy the live configurations of branch `from` into `to`, with the versions and metadata of
/// those copied.
fn copy_configurations(c: &mut impl GenericClient, project: i64, from: i64, to: i64) -> Result<(), postgres::Error> {
    c.execute(
        "INSERT INTO configurations (project_id, branch_id, component_id, id, body, is_deleted) \
         SELECT project_id, $3::BIGINT, component_id, id, body, is_deleted FROM configurations \
         WHERE project_id = $1 AND branch_id = $2 AND is_deleted = 0 ORDER BY seq",
        &[&project, &from, &to],
    )?;
    for (table, columns) in [
        ("configuration_versions", "component_id, config_id, version, snapshot"),
        ("configuration_row_versions", "component_id, config_id, row_id, version, snapshot"),
    ] {
        c.execute(
            &format!(
                "INSERT INTO {table} (project_id, branch_id, {columns}) SELECT project_id, $3::BIGINT, {columns} FROM {table} v \
                 WHERE project_id = $1 AND branch_id = $2 AND EXISTS (SELECT 1 FROM configurations c WHERE c.project_id = $1 \
                 AND c.branch_id = $3 AND c.component_id = v.component_id AND c.id = v.config_id)"
            ),
            &[&project, &from, &to],
        )?;
    }
    // A configuration's metadata hangs on `componentId/configId`.
    c.execute(
        "INSERT INTO metadata (project_id, branch_id, object_type, object_id, provider, key, value, timestamp) \
         SELECT m.project_id, $3::BIGINT, m.object_type, m.object_id, m.provider, m.key, m.value, m.timestamp FROM metadata m \
         WHERE m.project_id = $1 AND m.branch_id = $2 AND m.object_type = $4 AND EXISTS (SELECT 1 FROM \
         configurations c WHERE c.project_id = $1 AND c.branch_id = $3 AND c.component_id || '/' || c.id = m.object_id) \
         ORDER BY m.id",
        &[&project, &from, &to, &Object::Configuration.as_str()],
    )?;
    Ok(())
}

impl BranchStore for PgMetaStore {
    fn default_branch(&self, project_id: i64) -> ApiResult<Option<i64>> {
        self.with(|c| default_branch_in(c, project_id))
    }

    fn branch_exists(&self, project_id: i64, id: i64) -> ApiResult<bool> {
        self.with(|c| Ok(c.query_opt("SELECT 1 FROM branches WHERE project_id = $1 AND id = $2", &[&project_id, &id])?.is_some()))
    }

    fn ensure_default_branch(&self, project_id: i64, name: &str, created: &str) -> ApiResult<i64> {
        Ok(self.tx(|tx| -> Result<i64, postgres::Error> {
            lock_names(tx, project_id)?;
            if let Some(id) = default_branch_in(tx, project_id)? {
                return Ok(id);
            }
            tx.query_one(
                "INSERT INTO branches (project_id, name, description, is_default, created) VALUES ($1, $2, '', 1, $3) RETURNING id",
                &[&project_id, &name, &created],
            )?
            .try_get(0)
        })?)
    }

    fn branches(&self, project: ProjectId) -> ApiResult<Vec<Branch>> {
        self.with(|c| {
            c.query(&format!("SELECT {COLUMNS} FROM branches WHERE project_id = $1 ORDER BY id"), &[&project.get()])?.iter().map(from_row).collect()
        })
    }

    fn branch(&self, project: ProjectId, id: BranchId) -> ApiResult<Option<Branch>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM branches WHERE id = $1 AND project_id = $2"), &[&id.get(), &project.get()])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn branch_name_taken(&self, project: ProjectId, name: &str) -> ApiResult<bool> {
        self.with(|c| name_taken(c, project.get(), name, None))
    }

    fn create_dev_branch(&self, project: ProjectId, from: BranchId, b: &NewBranch) -> ApiResult<Result<BranchId, AlreadyExists>> {
        self.tx(|tx| {
            lock_names(tx, project.get())?;
            if name_taken(tx, project.get(), &b.name, None)? {
                return Ok(Err(AlreadyExists));
            }
            let id: i64 = tx
                .query_one(
                    "INSERT INTO branches (project_id, name, description, is_default, created, creator_token_id, creator_description) \
                     VALUES ($1, $2, $3, 0, $4, $5, $6) RETURNING id",
                    &[&project.get(), &b.name, &b.description, &b.created, &b.creator_token_id, &b.creator_description],
                )?
                .try_get(0)?;
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
                lock_names(tx, project.get())?;
                if name_taken(tx, project.get(), name, Some(id.get()))? {
                    return Ok(Err(AlreadyExists));
                }
                tx.execute("UPDATE branches SET name = $1 WHERE id = $2 AND project_id = $3", &[&name, &id.get(), &project.get()])?;
            }
            if let Some(description) = description {
                tx.execute(
                    "UPDATE branches SET description = $1 WHERE id = $2 AND project_id = $3",
                    &[&description, &id.get(), &project.get()],
                )?;
            }
            Ok(Ok(()))
        })
    }

    fn delete_branch(&self, project: ProjectId, id: BranchId) -> ApiResult<()> {
        Ok(self.tx(|tx| delete_branch_records(tx, project.get(), id.get()))?)
    }
}

/// The records and metadata of every object in the branch, and the branch.
pub(crate) fn delete_branch_records(tx: &mut impl GenericClient, project: i64, id: i64) -> Result<(), postgres::Error> {
    for table in ["configurations", "configuration_versions", "configuration_row_versions", "buckets", "metadata"] {
        tx.execute(&format!("DELETE FROM {table} WHERE project_id = $1 AND branch_id = $2"), &[&project, &id])?;
    }
    tx.execute("DELETE FROM branches WHERE id = $1 AND project_id = $2", &[&id, &project])?;
    Ok(())
}
