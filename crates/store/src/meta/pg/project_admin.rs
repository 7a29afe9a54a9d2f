//! Project details, the feature catalogue and the credit ledger on PostgreSQL
//! (`ProjectAdminStore`; see ../project_admin.rs).
use postgres::GenericClient;

use super::{PgMetaStore, flag, lock_until_commit};
use crate::meta::project_admin::{CreditEntry, Feature, NameTaken, ProjectAdminStore, ProjectDetails};
use kbstack_core::Result as ApiResult;

const DETAIL_COLUMNS: &str = "p.id, p.name, p.created, d.organization_id, d.type, d.description, d.expires, \
    d.data_retention_days, d.deleted_time, d.purged_time, d.features, d.limits";
const FEATURE_COLUMNS: &str = "id, name, type, title, description, can_be_managed_by_admin, can_be_managed_via_api, created";
const CREDIT_COLUMNS: &str = "id, project_id, amount, description, created, job_id";

fn details_from_row(r: &postgres::Row) -> Result<ProjectDetails, postgres::Error> {
    let features: String = r.try_get(10)?;
    let limits: String = r.try_get(11)?;
    Ok(ProjectDetails {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        created: r.try_get(2)?,
        organization_id: r.try_get(3)?,
        kind: r.try_get(4)?,
        description: r.try_get(5)?,
        expires: r.try_get(6)?,
        data_retention_days: r.try_get(7)?,
        deleted_time: r.try_get(8)?,
        purged_time: r.try_get(9)?,
        features: serde_json::from_str(&features).unwrap_or_default(),
        limits: serde_json::from_str(&limits).unwrap_or_default(),
    })
}

fn feature_from_row(r: &postgres::Row) -> Result<Feature, postgres::Error> {
    Ok(Feature {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        kind: r.try_get(2)?,
        title: r.try_get(3)?,
        description: r.try_get(4)?,
        can_be_managed_by_admin: flag(r, 5)?,
        can_be_managed_via_api: flag(r, 6)?,
        created: r.try_get(7)?,
    })
}

fn credit_from_row(r: &postgres::Row) -> Result<CreditEntry, postgres::Error> {
    Ok(CreditEntry {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        amount: r.try_get(2)?,
        description: r.try_get(3)?,
        created: r.try_get(4)?,
        job_id: r.try_get(5)?,
    })
}

fn write_details(c: &mut impl GenericClient, d: &ProjectDetails) -> Result<(), postgres::Error> {
    let features = serde_json::to_string(&d.features).unwrap_or_else(|_| "[]".into());
    let limits = serde_json::to_string(&d.limits).unwrap_or_else(|_| "{}".into());
    c.execute("UPDATE projects SET name = $1 WHERE id = $2", &[&d.name, &d.id])?;
    c.execute(
        "INSERT INTO project_details (project_id, organization_id, type, description, expires, data_retention_days, \
         deleted_time, purged_time, features, limits) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (project_id) DO UPDATE SET organization_id = excluded.organization_id, type = excluded.type, \
         description = excluded.description, expires = excluded.expires, data_retention_days = excluded.data_retention_days, \
         deleted_time = excluded.deleted_time, purged_time = excluded.purged_time, features = excluded.features, limits = excluded.limits",
        &[
            &d.id,
            &d.organization_id,
            &d.kind,
            &d.description,
            &d.expires,
            &d.data_retention_days,
            &d.deleted_time,
            &d.purged_time,
            &features,
            &limits,
        ],
    )?;
    Ok(())
}

impl ProjectAdminStore for PgMetaStore {
    fn create_project(&self, d: &ProjectDetails, branch_name: &str) -> ApiResult<i64> {
        Ok(self.tx(|tx| -> Result<i64, postgres::Error> {
            // Two nodes creating projects at once must not pick the same id.
            lock_until_commit(tx, "projects")?;
            let id: i64 = tx.query_one("SELECT COALESCE(MAX(id), 0) + 1 FROM projects", &[])?.try_get(0)?;
            tx.execute("INSERT INTO projects (id, name, created) VALUES ($1, $2, $3)", &[&id, &d.name, &d.created])?;
            write_details(tx, &ProjectDetails { id, ..d.clone() })?;
            tx.execute(
                "INSERT INTO branches (project_id, name, description, is_default, created) VALUES ($1, $2, '', 1, $3)",
                &[&id, &branch_name, &d.created],
            )?;
            Ok(id)
        })?)
    }

    fn adopt_projects(&self, organization_id: i64) -> ApiResult<usize> {
        let n = self.with(|c| {
            c.execute(
                "INSERT INTO project_details (project_id, organization_id) \
                 SELECT id, $1 FROM projects WHERE id NOT IN (SELECT project_id FROM project_details) ON CONFLICT DO NOTHING",
                &[&organization_id],
            )
        })?;
        Ok(n as usize)
    }

    fn project_details(&self, id: i64) -> ApiResult<Option<ProjectDetails>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {DETAIL_COLUMNS} FROM projects p JOIN project_details d ON d.project_id = p.id WHERE p.id = $1"), &[&id])?
                .as_ref()
                .map(details_from_row)
                .transpose()
        })
    }

    fn project_list(&self, organization_id: Option<i64>, deleted: bool) -> ApiResult<Vec<ProjectDetails>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {DETAIL_COLUMNS} FROM projects p JOIN project_details d ON d.project_id = p.id \
                     WHERE ($1::BIGINT IS NULL OR d.organization_id = $1) AND (d.deleted_time IS NOT NULL) = $2 ORDER BY p.id"
                ),
                &[&organization_id, &deleted],
            )?
            .iter()
            .map(details_from_row)
            .collect()
        })
    }

    fn update_project_details(&self, d: &ProjectDetails) -> ApiResult<()> {
        Ok(self.tx(|tx| write_details(tx, d))?)
    }

    fn purge_project(&self, id: i64, now: &str) -> ApiResult<()> {
        Ok(self.tx(|tx| -> Result<(), postgres::Error> {
            tx.execute("DELETE FROM tokens WHERE project_id = $1", &[&id])?;
            tx.execute("UPDATE project_details SET purged_time = $1 WHERE project_id = $2", &[&now, &id])?;
            Ok(())
        })?)
    }

    fn insert_feature(&self, f: &Feature) -> ApiResult<Result<i64, NameTaken>> {
        let row = self.with(|c| {
            c.query_opt(
                "INSERT INTO features (name, type, title, description, can_be_managed_by_admin, can_be_managed_via_api, created) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING id",
                &[
                    &f.name,
                    &f.kind,
                    &f.title,
                    &f.description,
                    &(f.can_be_managed_by_admin as i64),
                    &(f.can_be_managed_via_api as i64),
                    &f.created,
                ],
            )
        })?;
        Ok(match row {
            Some(r) => Ok(r.try_get(0)?),
            None => Err(NameTaken),
        })
    }

    fn feature(&self, id: i64) -> ApiResult<Option<Feature>> {
        self.with(|c| c.query_opt(&format!("SELECT {FEATURE_COLUMNS} FROM features WHERE id = $1"), &[&id])?.as_ref().map(feature_from_row).transpose())
    }

    fn feature_by_name(&self, name: &str) -> ApiResult<Option<Feature>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {FEATURE_COLUMNS} FROM features WHERE name = $1"), &[&name])?.as_ref().map(feature_from_row).transpose()
        })
    }

    fn features(&self, kind: Option<&str>) -> ApiResult<Vec<Feature>> {
        self.with(|c| {
            c.query(&format!("SELECT {FEATURE_COLUMNS} FROM features WHERE $1::TEXT IS NULL OR type = $1 ORDER BY id"), &[&kind])?
                .iter()
                .map(feature_from_row)
                .collect()
        })
    }

    fn update_feature(&self, f: &Feature) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE features SET title = $1, description = $2, can_be_managed_by_admin = $3, can_be_managed_via_api = $4 WHERE id = $5",
                &[&f.title, &f.description, &(f.can_be_managed_by_admin as i64), &(f.can_be_managed_via_api as i64), &f.id],
            )
        })?;
        Ok(())
    }

    fn delete_feature(&self, id: i64) -> ApiResult<()> {
        self.with(|c| c.execute("DELETE FROM features WHERE id = $1", &[&id]))?;
        Ok(())
    }

    /// A job already charged is not charged again: its entry's id comes back with false.
    fn add_credit(&self, e: &CreditEntry) -> ApiResult<(i64, bool)> {
        Ok(self.tx(|tx| -> Result<(i64, bool), postgres::Error> {
            let inserted = tx.query_opt(
                "INSERT INTO credits (project_id, amount, description, created, job_id) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (job_id) DO NOTHING RETURNING id",
                &[&e.project_id, &e.amount, &e.description, &e.created, &e.job_id],
            )?;
            if let Some(r) = inserted {
                return Ok((r.try_get(0)?, true));
            }
            let existing = tx.query_one("SELECT id FROM credits WHERE job_id = $1", &[&e.job_id])?;
            Ok((existing.try_get(0)?, false))
        })?)
    }

    fn credit_balance(&self, project_id: i64) -> ApiResult<f64> {
        self.with(|c| c.query_one("SELECT COALESCE(SUM(amount), 0)::DOUBLE PRECISION FROM credits WHERE project_id = $1", &[&project_id])?.try_get(0))
    }

    fn credit_entries(&self, project_id: i64) -> ApiResult<Vec<CreditEntry>> {
        self.with(|c| {
            c.query(&format!("SELECT {CREDIT_COLUMNS} FROM credits WHERE project_id = $1 ORDER BY id"), &[&project_id])?
                .iter()
                .map(credit_from_row)
                .collect()
        })
    }
}
