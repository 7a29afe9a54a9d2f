//! Notification subscriptions on PostgreSQL (`SubscriptionStore`; see ../notification_subscriptions.rs).
use super::PgMetaStore;
use crate::meta::json_col;
use crate::meta::notification_subscriptions::{NewSubscription, SubscriptionRecord, SubscriptionStore};
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{ProjectId, SubscriptionId};

const COLUMNS: &str = "id, project_id, event, filters, recipient, expires_ms, created_ms";
/// Not expired at `$3`.
const ACTIVE: &str = "(expires_ms IS NULL OR expires_ms > $3)";

fn from_row(r: &postgres::Row) -> Result<SubscriptionRecord, postgres::Error> {
    Ok(SubscriptionRecord {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        event: r.try_get(2)?,
        filters: json_col(r.try_get(3)?),
        recipient: json_col(r.try_get(4)?),
        expires_ms: r.try_get(5)?,
        created_ms: r.try_get(6)?,
    })
}

impl SubscriptionStore for PgMetaStore {
    fn insert_subscription(&self, s: &NewSubscription) -> ApiResult<SubscriptionRecord> {
        self.with(|c| {
            from_row(&c.query_one(
                &format!(
                    "INSERT INTO notification_subscriptions (project_id, event, filters, recipient, expires_ms, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
                ),
                &[&s.project_id, &s.event, &s.filters.to_string(), &s.recipient.to_string(), &s.expires_ms, &s.created_ms],
            )?)
        })
    }

    fn subscription(&self, project: ProjectId, id: SubscriptionId, now_ms: i64) -> ApiResult<Option<SubscriptionRecord>> {
        self.with(|c| {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM notification_subscriptions WHERE id = $1 AND project_id = $2 AND {ACTIVE}"),
                &[&id.get(), &project.get(), &now_ms],
            )?
            .as_ref()
            .map(from_row)
            .transpose()
        })
    }

    fn subscriptions(&self, project: ProjectId, event: Option<&str>, now_ms: i64) -> ApiResult<Vec<SubscriptionRecord>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM notification_subscriptions WHERE project_id = $1 AND ($2::TEXT IS NULL OR event = $2) AND {ACTIVE} ORDER BY id"
                ),
                &[&project.get(), &event, &now_ms],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
    }

    fn delete_subscription(&self, project: ProjectId, id: SubscriptionId, now_ms: i64) -> ApiResult<bool> {
        let deleted = self.with(|c| {
            c.execute(
                &format!("DELETE FROM notification_subscriptions WHERE id = $1 AND project_id = $2 AND {ACTIVE}"),
                &[&id.get(), &project.get(), &now_ms],
            )
        })?;
        Ok(deleted == 1)
    }
}
