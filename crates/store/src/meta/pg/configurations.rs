//! Component configurations on PostgreSQL (`ConfigurationStore`, `TicketStore`; see
//! ../configurations.rs). Listings keep the creation order by `seq` (SQLite's rowid).
use std::cell::RefCell;

use postgres::GenericClient;
use serde_json::Value;

use super::{PgMetaStore, flag};
use crate::meta::configurations::{ComponentScope, ConfigurationStore, ConfigurationTx, StoredConfiguration, StoredVersion, metadata_object_id};
use crate::meta::json_col;
use crate::meta::tickets::TicketStore;
use kbstack_core::ids::{ComponentId, Scope};
use kbstack_core::Result as ApiResult;

fn configuration_from_row(r: &postgres::Row) -> Result<StoredConfiguration, postgres::Error> {
    Ok(StoredConfiguration { component_id: r.try_get(0)?, id: r.try_get(1)?, document: json_col(r.try_get(2)?), is_deleted: flag(r, 3)? })
}

fn version_from_row(r: &postgres::Row) -> Result<StoredVersion, postgres::Error> {
    Ok(StoredVersion { version: r.try_get(0)?, snapshot: json_col(r.try_get(1)?) })
}

/// The next value of a named sequence (1, 2, …), shared by every node.
pub(crate) fn next_sequence(c: &mut impl GenericClient, name: &str) -> Result<i64, postgres::Error> {
    c.query_one(
        "INSERT INTO sequences (name, value) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1 RETURNING value",
        &[&name],
    )?
    .try_get(0)
}

impl TicketStore for PgMetaStore {
    fn next_ticket(&self) -> ApiResult<i64> {
        self.with(|c| next_sequence(c, "tickets"))
    }
}

impl ConfigurationStore for PgMetaStore {
    fn configurations(&self, scope: Scope, component: Option<&ComponentId>, deleted: bool) -> ApiResult<Vec<StoredConfiguration>> {
        let component = component.map(ComponentId::as_str);
        self.with(|c| {
            c.query(
                "SELECT component_id, id, body, is_deleted FROM configurations \
                 WHERE project_id = $1 AND branch_id = $2 AND ($3::TEXT IS NULL OR component_id = $3) AND is_deleted = $4 ORDER BY seq",
                &[&scope.project.get(), &scope.branch.get(), &component, &(deleted as i64)],
            )?
            .iter()
            .map(configuration_from_row)
            .collect()
        })
    }

    fn configuration_tx_dyn(&self, at: &ComponentScope, work: &mut dyn FnMut(&dyn ConfigurationTx) -> bool) -> ApiResult<()> {
        super::blocking(|| {
            let mut conn = self.pool.get()?;
            let mut tx = conn.transaction()?;
            // Units of work on one component scope run one after another on every node, as
            // SQLite's one writer runs them: a change reads the document and its newest version,
            // then writes the next one (two at once would both write the same version).
            let key = format!("configurations:{}:{}:{}", at.scope.project.get(), at.scope.branch.get(), at.component.as_str());
            super::lock_until_commit(&mut tx, &key)?;
            let tx = RefCell::new(tx);
            if work(&PgConfigurations { tx: &tx, at: at.clone() }) {
                tx.into_inner().commit()?;
            }
            Ok(())
        })
    }
}

/// `ConfigurationTx` on an open PostgreSQL transaction (its calls need it mutably, the trait's
/// calls take `&self`: one call at a time, as a unit of work runs on one thread). Borrowed, so a
/// merge's transaction can hand it out too.
pub(crate) struct PgConfigurations<'t, 'a> {
    pub(crate) tx: &'t RefCell<postgres::Transaction<'a>>,
    pub(crate) at: ComponentScope,
}

const IN_SCOPE: &str = "project_id = $1 AND branch_id = $2 AND component_id = $3";

impl PgConfigurations<'_, '_> {
    /// The scope's parameters $1 (project), $2 (branch), $3 (component).
    fn scope(&self) -> (i64, i64, &str) {
        (self.at.scope.project.get(), self.at.scope.branch.get(), self.at.component.as_str())
    }

    fn versions_where(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> ApiResult<Vec<StoredVersion>> {
        Ok(self.tx.borrow_mut().query(sql, params)?.iter().map(version_from_row).collect::<Result<_, _>>()?)
    }
}

impl ConfigurationTx for PgConfigurations<'_, '_> {
    fn configuration(&self, id: &str) -> ApiResult<Option<StoredConfiguration>> {
        let (p, b, component) = self.scope();
        let row = self.tx.borrow_mut().query_opt(
            &format!("SELECT component_id, id, body, is_deleted FROM configurations WHERE {IN_SCOPE} AND id = $4"),
            &[&p, &b, &component, &id],
        )?;
        Ok(row.as_ref().map(configuration_from_row).transpose()?)
    }

    fn insert_configuration(&self, id: &str, document: &Value) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        self.tx.borrow_mut().execute(
            "INSERT INTO configurations (project_id, branch_id, component_id, id, body, is_deleted) VALUES ($1, $2, $3, $4, $5, 0)",
            &[&p, &b, &component, &id, &document.to_string()],
        )?;
        Ok(())
    }

    /// An UPDATE keeps `seq`, i.e. the creation order listings use.
    fn save_configuration(&self, id: &str, document: &Value, is_deleted: bool) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        self.tx.borrow_mut().execute(
            &format!("UPDATE configurations SET body = $5, is_deleted = $6 WHERE {IN_SCOPE} AND id = $4"),
            &[&p, &b, &component, &id, &document.to_string(), &(is_deleted as i64)],
        )?;
        Ok(())
    }

    fn purge_configuration(&self, id: &str) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        let mut tx = self.tx.borrow_mut();
        for (table, column) in
            [("configurations", "id"), ("configuration_versions", "config_id"), ("configuration_row_versions", "config_id")]
        {
            tx.execute(&format!("DELETE FROM {table} WHERE {IN_SCOPE} AND {column} = $4"), &[&p, &b, &component, &id])?;
        }
        tx.execute(
            "DELETE FROM metadata WHERE project_id = $1 AND branch_id = $2 AND object_type = 'configuration' AND object_id = $3",
            &[&p, &b, &metadata_object_id(component, id)],
        )?;
        Ok(())
    }

    fn next_id(&self) -> ApiResult<i64> {
        Ok(next_sequence(&mut *self.tx.borrow_mut(), "configurations")?)
    }

    fn insert_version(&self, config_id: &str, version: i64, snapshot: &Value) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        self.tx.borrow_mut().execute(
            "INSERT INTO configuration_versions (project_id, branch_id, component_id, config_id, version, snapshot) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project_id, branch_id, component_id, config_id, version) DO UPDATE SET snapshot = excluded.snapshot",
            &[&p, &b, &component, &config_id, &version, &snapshot.to_string()],
        )?;
        Ok(())
    }

    fn version(&self, config_id: &str, version: i64) -> ApiResult<Option<StoredVersion>> {
        let (p, b, component) = self.scope();
        let row = self.tx.borrow_mut().query_opt(
            &format!("SELECT version, snapshot FROM configuration_versions WHERE {IN_SCOPE} AND config_id = $4 AND version = $5"),
            &[&p, &b, &component, &config_id, &version],
        )?;
        Ok(row.as_ref().map(version_from_row).transpose()?)
    }

    fn versions(&self, config_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<StoredVersion>> {
        let (p, b, component) = self.scope();
        self.versions_where(
            &format!(
                "SELECT version, snapshot FROM configuration_versions WHERE {IN_SCOPE} AND config_id = $4 \
                 ORDER BY version DESC LIMIT $5 OFFSET $6"
            ),
            &[&p, &b, &component, &config_id, &limit, &offset],
        )
    }

    fn last_row_version(&self, config_id: &str, row_id: &str) -> ApiResult<i64> {
        let (p, b, component) = self.scope();
        Ok(self
            .tx
            .borrow_mut()
            .query_one(
                &format!(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM configuration_row_versions WHERE {IN_SCOPE} AND config_id = $4 AND row_id = $5"
                ),
                &[&p, &b, &component, &config_id, &row_id],
            )?
            .try_get(0)?)
    }

    fn insert_row_version(&self, config_id: &str, row_id: &str, version: i64, snapshot: &Value) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        self.tx.borrow_mut().execute(
            "INSERT INTO configuration_row_versions (project_id, branch_id, component_id, config_id, row_id, version, snapshot) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (project_id, branch_id, component_id, config_id, row_id, version) DO UPDATE SET snapshot = excluded.snapshot",
            &[&p, &b, &component, &config_id, &row_id, &version, &snapshot.to_string()],
        )?;
        Ok(())
    }

    fn row_version(&self, config_id: &str, row_id: &str, version: i64) -> ApiResult<Option<StoredVersion>> {
        let (p, b, component) = self.scope();
        let row = self.tx.borrow_mut().query_opt(
            &format!(
                "SELECT version, snapshot FROM configuration_row_versions WHERE {IN_SCOPE} AND config_id = $4 AND row_id = $5 AND version = $6"
            ),
            &[&p, &b, &component, &config_id, &row_id, &version],
        )?;
        Ok(row.as_ref().map(version_from_row).transpose()?)
    }

    fn row_versions(&self, config_id: &str, row_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<StoredVersion>> {
        let (p, b, component) = self.scope();
        self.versions_where(
            &format!(
                "SELECT version, snapshot FROM configuration_row_versions WHERE {IN_SCOPE} AND config_id = $4 AND row_id = $5 \
                 ORDER BY version DESC LIMIT $6 OFFSET $7"
            ),
            &[&p, &b, &component, &config_id, &row_id, &limit, &offset],
        )
    }

    fn delete_row_versions(&self, config_id: &str, row_id: &str) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        self.tx.borrow_mut().execute(
            &format!("DELETE FROM configuration_row_versions WHERE {IN_SCOPE} AND config_id = $4 AND row_id = $5"),
            &[&p, &b, &component, &config_id, &row_id],
        )?;
        Ok(())
    }
}
