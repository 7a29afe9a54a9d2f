//! Merge requests on PostgreSQL (`MergeRequestStore`; see ../merge_requests.rs). The check for
//! a branch's open request and the insert run under a per-branch advisory lock, so two nodes
//! never both open one; a merge is one transaction, as on SQLite.
use std::cell::RefCell;

use postgres::GenericClient;
use serde_json::Value;

use super::configurations::PgConfigurations;
use super::{PgMetaStore, lock_until_commit};
use crate::meta::configurations::{ComponentScope, ConfigurationTx, StoredConfiguration};
use crate::meta::json_col;
use crate::meta::merge_requests::{BranchHasOpenRequest, COLUMNS, LOCKING_STATES, MergeRequest, MergeRequestStore, MergeTx, OPEN_STATES};
use kbstack_core::ids::Scope;
use kbstack_core::{Error, Result as ApiResult};

fn from_row(r: &postgres::Row) -> Result<MergeRequest, postgres::Error> {
    Ok(MergeRequest {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        branch_from_id: r.try_get(2)?,
        branch_into_id: r.try_get(3)?,
        state: r.try_get(4)?,
        title: r.try_get(5)?,
        description: r.try_get(6)?,
        external_id: r.try_get(7)?,
        auto_merge_strategy: r.try_get(8)?,
        auto_merge_at: r.try_get(9)?,
        creator_id: r.try_get(10)?,
        creator_name: r.try_get(11)?,
        reviewers: serde_json::from_str(&r.try_get::<_, String>(12)?).unwrap_or_default(),
        approvals: serde_json::from_str(&r.try_get::<_, String>(13)?).unwrap_or_default(),
        change_log: Some(json_col(r.try_get(14)?)).filter(|v| !v.is_null()),
        created: r.try_get(15)?,
        merged_at: r.try_get(16)?,
        merger_id: r.try_get(17)?,
        merger_name: r.try_get(18)?,
    })
}

fn load(c: &mut impl GenericClient, project_id: i64, id: i64) -> Result<Option<MergeRequest>, postgres::Error> {
    c.query_opt(&format!("SELECT {COLUMNS} FROM merge_requests WHERE project_id = $1 AND id = $2"), &[&project_id, &id])?
        .as_ref()
        .map(from_row)
        .transpose()
}

fn save(c: &mut impl GenericClient, mr: &MergeRequest) -> Result<(), postgres::Error> {
    c.execute(
        "UPDATE merge_requests SET branch_from_id = $3, branch_into_id = $4, state = $5, title = $6, description = $7, \
         external_id = $8, auto_merge_strategy = $9, auto_merge_at = $10, reviewers = $11, approvals = $12, change_log = $13, \
         merged_at = $14, merger_id = $15, merger_name = $16 WHERE project_id = $1 AND id = $2",
        &[
            &mr.project_id,
            &mr.id,
            &mr.branch_from_id,
            &mr.branch_into_id,
            &mr.state,
            &mr.title,
            &mr.description,
            &mr.external_id,
            &mr.auto_merge_strategy,
            &mr.auto_merge_at,
            &serde_json::to_string(&mr.reviewers).unwrap_or_else(|_| "[]".into()),
            &serde_json::to_string(&mr.approvals).unwrap_or_else(|_| "[]".into()),
            &mr.change_log.as_ref().map(Value::to_string),
            &mr.merged_at,
            &mr.merger_id,
            &mr.merger_name,
        ],
    )?;
    Ok(())
}

/// The open request of a branch, if any.
fn open_request_of(c: &mut impl GenericClient, project_id: i64, branch_id: i64, states: &[&str]) -> Result<Option<i64>, postgres::Error> {
    let states: Vec<String> = states.iter().map(|s| s.to_string()).collect();
    c.query_opt(
        "SELECT id FROM merge_requests WHERE project_id = $1 AND branch_from_id = $2 AND state = ANY($3) LIMIT 1",
        &[&project_id, &branch_id, &states],
    )?
    .map(|r| r.try_get(0))
    .transpose()
}

impl MergeRequestStore for PgMetaStore {
    fn insert_merge_request(&self, mr: &MergeRequest) -> ApiResult<Result<i64, BranchHasOpenRequest>> {
        self.tx(|tx| {
            if let Some(from) = mr.branch_from_id {
                lock_until_commit(tx, &format!("merge_request_branch:{}:{from}", mr.project_id))?;
                if let Some(open) = open_request_of(tx, mr.project_id, from, &OPEN_STATES)? {
                    return Ok(Err(BranchHasOpenRequest(open)));
                }
            }
            let id: i64 = tx
                .query_one(
                    "INSERT INTO merge_requests (project_id, branch_from_id, branch_into_id, state, title, created, creator_id, creator_name) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    &[&mr.project_id, &mr.branch_from_id, &mr.branch_into_id, &mr.state, &mr.title, &mr.created, &mr.creator_id, &mr.creator_name],
                )?
                .try_get(0)?;
            save(tx, &MergeRequest { id, ..mr.clone() })?;
            Ok::<_, Error>(Ok(id))
        })
    }

    fn merge_request(&self, project_id: i64, id: i64) -> ApiResult<Option<MergeRequest>> {
        self.with(|c| load(c, project_id, id))
    }

    fn merge_requests(&self, project_id: i64) -> ApiResult<Vec<MergeRequest>> {
        self.with(|c| {
            c.query(&format!("SELECT {COLUMNS} FROM merge_requests WHERE project_id = $1 ORDER BY id DESC"), &[&project_id])?
                .iter()
                .map(from_row)
                .collect()
        })
    }

    fn branch_locked(&self, project_id: i64, branch_id: i64) -> ApiResult<bool> {
        self.with(|c| Ok(open_request_of(c, project_id, branch_id, &LOCKING_STATES)?.is_some()))
    }

    /// The row is read `FOR UPDATE`: a change on another node waits for this one.
    fn change_merge_request_dyn(&self, project_id: i64, id: i64, change: &mut dyn FnMut(&mut MergeRequest) -> bool) -> ApiResult<bool> {
        super::blocking(|| {
            let mut conn = self.pool.get()?;
            let mut tx = conn.transaction()?;
            let row = tx.query_opt(&format!("SELECT {COLUMNS} FROM merge_requests WHERE project_id = $1 AND id = $2 FOR UPDATE"), &[&project_id, &id])?;
            let Some(mut mr) = row.as_ref().map(from_row).transpose()? else {
                return Ok(false);
            };
            if change(&mut mr) {
                mr.id = id;
                mr.project_id = project_id;
                save(&mut tx, &mr)?;
                tx.commit()?;
            }
            Ok(true)
        })
    }

    fn reset_merge_requests(&self, from: &str, to: &str) -> ApiResult<usize> {
        Ok(self.with(|c| c.execute("UPDATE merge_requests SET state = $2 WHERE state = $1", &[&from, &to]))? as usize)
    }

    fn merge_tx_dyn(&self, work: &mut dyn FnMut(&dyn MergeTx) -> bool) -> ApiResult<()> {
        super::blocking(|| {
            let mut conn = self.pool.get()?;
            let tx = RefCell::new(conn.transaction()?);
            if work(&PgMerge { tx: &tx }) {
                tx.into_inner().commit()?;
            }
            Ok(())
        })
    }
}

/// `MergeTx` on one open transaction (one call at a time, as in `PgConfigurations`).
struct PgMerge<'t, 'a> {
    tx: &'t RefCell<postgres::Transaction<'a>>,
}

impl MergeTx for PgMerge<'_, '_> {
    fn merge_request(&self, project_id: i64, id: i64) -> ApiResult<Option<MergeRequest>> {
        Ok(load(&mut *self.tx.borrow_mut(), project_id, id)?)
    }

    fn save_merge_request(&self, mr: &MergeRequest) -> ApiResult<()> {
        Ok(save(&mut *self.tx.borrow_mut(), mr)?)
    }

    fn branch_configurations(&self, scope: Scope) -> ApiResult<Vec<StoredConfiguration>> {
        let rows = self.tx.borrow_mut().query(
            "SELECT component_id, id, body, is_deleted FROM configurations WHERE project_id = $1 AND branch_id = $2 ORDER BY seq",
            &[&scope.project.get(), &scope.branch.get()],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(StoredConfiguration {
                component_id: r.try_get(0)?,
                id: r.try_get(1)?,
                document: json_col(r.try_get(2)?),
                is_deleted: super::flag(r, 3)?,
            });
        }
        Ok(out)
    }

    fn configurations_at(&self, at: ComponentScope) -> Box<dyn ConfigurationTx + '_> {
        Box::new(PgConfigurations { tx: self.tx, at })
    }

    fn merge_configuration_metadata(&self, project_id: i64, from: i64, into: i64, object_id: &str) -> ApiResult<()> {
        self.tx.borrow_mut().execute(
            "INSERT INTO metadata (project_id, branch_id, object_type, object_id, provider, key, value, timestamp) \
             SELECT project_id, $3, object_type, object_id, provider, key, value, timestamp FROM metadata f \
             WHERE f.project_id = $1 AND f.branch_id = $2 AND f.object_type = 'configuration' AND f.object_id = $4 \
             ON CONFLICT (project_id, branch_id, object_type, object_id, provider, key) \
             DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp WHERE excluded.timestamp > metadata.timestamp",
            &[&project_id, &from, &into, &object_id],
        )?;
        Ok(())
    }

    fn delete_branch(&self, project_id: i64, branch_id: i64) -> ApiResult<()> {
        let mut tx = self.tx.borrow_mut();
        for table in ["tables", "table_stats"] {
            tx.execute(&format!("DELETE FROM {table} WHERE project_id = $1 AND branch_id = $2"), &[&project_id, &branch_id])?;
        }
        Ok(super::branches::delete_branch_records(&mut *tx, project_id, branch_id)?)
    }
}
