//! Triggers on PostgreSQL (`TriggerStore`; see ../triggers.rs).
use super::PgMetaStore;
use crate::meta::json_col;
use crate::meta::triggers::{TriggerRecord, TriggerStore};
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{ProjectId, TriggerId};
use serde_json::Value;

fn from_row(r: &postgres::Row) -> Result<TriggerRecord, postgres::Error> {
    Ok(TriggerRecord { id: r.try_get(0)?, body: json_col(r.try_get(1)?) })
}

impl TriggerStore for PgMetaStore {
    fn insert_trigger(&self, project: ProjectId, body: &Value) -> ApiResult<TriggerId> {
        let id = self.with(|c| {
            c.query_one("INSERT INTO triggers (project_id, body) VALUES ($1, $2) RETURNING id", &[&project.get(), &body.to_string()])?.try_get(0)
        })?;
        Ok(TriggerId(id))
    }

    fn trigger(&self, project: ProjectId, id: TriggerId) -> ApiResult<Option<TriggerRecord>> {
        self.with(|c| {
            c.query_opt("SELECT id, body FROM triggers WHERE id = $1 AND project_id = $2", &[&id.get(), &project.get()])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn triggers(&self, project: ProjectId) -> ApiResult<Vec<TriggerRecord>> {
        self.with(|c| c.query("SELECT id, body FROM triggers WHERE project_id = $1 ORDER BY id", &[&project.get()])?.iter().map(from_row).collect())
    }

    fn update_trigger(&self, project: ProjectId, id: TriggerId, body: &Value) -> ApiResult<()> {
        self.with(|c| c.execute("UPDATE triggers SET body = $1 WHERE id = $2 AND project_id = $3", &[&body.to_string(), &id.get(), &project.get()]))?;
        Ok(())
    }

    fn delete_trigger(&self, project: ProjectId, id: TriggerId) -> ApiResult<()> {
        self.with(|c| c.execute("DELETE FROM triggers WHERE id = $1 AND project_id = $2", &[&id.get(), &project.get()]))?;
        Ok(())
    }
}
