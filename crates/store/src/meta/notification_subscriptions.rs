//! Notifications project subscriptions in the metadata store: the record, the repository trait,
//! its SQLite implementation and the conformance suite (`subscription_store_suite!`). A
//! subscription belongs to a project; one whose `expires_ms` has passed is as good as gone: it is
//! neither read nor listed (and so never matched by an event).
use rusqlite::OptionalExtension;
use serde_json::Value;

use super::{SqliteMetaStore, json_col};
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{ProjectId, SubscriptionId};

#[derive(Debug, Clone, PartialEq)]
pub struct NewSubscription {
    pub project_id: i64,
    pub event: String,
    /// `[{field, value, operator}]`, as validated by the service.
    pub filters: Value,
    /// `{channel: "email", address}` or `{channel: "webhook", url}`.
    pub recipient: Value,
    /// Unix ms; `None`: never expires.
    pub expires_ms: Option<i64>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRecord {
    pub id: i64,
    pub project_id: i64,
    pub event: String,
    pub filters: Value,
    pub recipient: Value,
    pub expires_ms: Option<i64>,
    pub created_ms: i64,
}

pub trait SubscriptionStore {
    fn insert_subscription(&self, s: &NewSubscription) -> ApiResult<SubscriptionRecord>;
    /// The project's subscription unless it expired at or before `now_ms`.
    fn subscription(&self, project: ProjectId, id: SubscriptionId, now_ms: i64) -> ApiResult<Option<SubscriptionRecord>>;
    /// The project's unexpired subscriptions by id, optionally only those of one event.
    fn subscriptions(&self, project: ProjectId, event: Option<&str>, now_ms: i64) -> ApiResult<Vec<SubscriptionRecord>>;
    /// False when the project has no such (unexpired) subscription.
    fn delete_subscription(&self, project: ProjectId, id: SubscriptionId, now_ms: i64) -> ApiResult<bool>;
}

const COLUMNS: &str = "id, project_id, event, filters, recipient, expires_ms, created_ms";
const ACTIVE: &str = "(expires_ms IS NULL OR expires_ms > ?)";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<SubscriptionRecord> {
    Ok(SubscriptionRecord {
        id: r.get(0)?,
        project_id: r.get(1)?,
        event: r.get(2)?,
        filters: json_col(r.get(3)?),
        recipient: json_col(r.get(4)?),
        expires_ms: r.get(5)?,
        created_ms: r.get(6)?,
    })
}

impl SubscriptionStore for SqliteMetaStore {
    fn insert_subscription(&self, s: &NewSubscription) -> ApiResult<SubscriptionRecord> {
        self.with(|c| {
            c.execute(
                "INSERT INTO notification_subscriptions (project_id, event, filters, recipient, expires_ms, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![s.project_id, s.event, s.filters.to_string(), s.recipient.to_string(), s.expires_ms, s.created_ms],
            )?;
            c.query_row(&format!("SELECT {COLUMNS} FROM notification_subscriptions WHERE id = ?1"), [c.last_insert_rowid()], from_row)
        })
    }

    fn subscription(&self, project: ProjectId, id: SubscriptionId, now_ms: i64) -> ApiResult<Option<SubscriptionRecord>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM notification_subscriptions WHERE id = ?1 AND project_id = ?2 AND {}", ACTIVE.replace('?', "?3")),
                rusqlite::params![id.get(), project.get(), now_ms],
                from_row,
            )
            .optional()
        })
    }

    fn subscriptions(&self, project: ProjectId, event: Option<&str>, now_ms: i64) -> ApiResult<Vec<SubscriptionRecord>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM notification_subscriptions WHERE project_id = ?1 AND (?2 IS NULL OR event = ?2) AND {} ORDER BY id",
                ACTIVE.replace('?', "?3")
            ))?;
            st.query_map(rusqlite::params![project.get(), event, now_ms], from_row)?.collect()
        })
    }

    fn delete_subscription(&self, project: ProjectId, id: SubscriptionId, now_ms: i64) -> ApiResult<bool> {
        let deleted = self.with(|c| {
            c.execute(
                &format!("DELETE FROM notification_subscriptions WHERE id = ?1 AND project_id = ?2 AND {}", ACTIVE.replace('?', "?3")),
                rusqlite::params![id.get(), project.get(), now_ms],
            )
        })?;
        Ok(deleted == 1)
    }
}

/// The behaviour every `SubscriptionStore` must have; `subscription_store_suite!` runs each
/// check as a named test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::tokens::ProjectStore;
    use serde_json::json;

    fn projects<S: ProjectStore>(s: &S) {
        s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
        s.ensure_project(2, "two", "2026-01-01T00:00:00+0000").unwrap();
    }

    fn new(project_id: i64, event: &str, expires_ms: Option<i64>) -> NewSubscription {
        NewSubscription {
            project_id,
            event: event.into(),
            filters: json!([{"field": "job.component.id", "value": "ex", "operator": "=="}]),
            recipient: json!({"channel": "email", "address": "a@example.com"}),
            expires_ms,
            created_ms: 1_000,
        }
    }

    pub fn lifecycle<S: ProjectStore + SubscriptionStore>(s: &S) {
        projects(s);
        let created = s.insert_subscription(&new(1, "job-failed", None)).unwrap();
        assert_eq!((created.project_id, created.event.as_str(), created.created_ms), (1, "job-failed", 1_000));
        assert_eq!(created.filters, new(1, "", None).filters, "filters kept as given");
        let id = SubscriptionId(created.id);
        assert_eq!(s.subscription(ProjectId(1), id, 2_000).unwrap(), Some(created.clone()));
        assert_eq!(s.subscription(ProjectId(2), id, 2_000).unwrap(), None, "another project's subscription is not found");
        assert!(!s.delete_subscription(ProjectId(2), id, 2_000).unwrap(), "another project cannot delete it");
        assert!(s.delete_subscription(ProjectId(1), id, 2_000).unwrap());
        assert_eq!(s.subscription(ProjectId(1), id, 2_000).unwrap(), None);
        assert!(!s.delete_subscription(ProjectId(1), id, 2_000).unwrap());
    }

    pub fn listed_per_project_and_event<S: ProjectStore + SubscriptionStore>(s: &S) {
        projects(s);
        let a = s.insert_subscription(&new(1, "job-failed", None)).unwrap().id;
        let other = s.insert_subscription(&new(2, "job-failed", None)).unwrap().id;
        let b = s.insert_subscription(&new(1, "job-succeeded", None)).unwrap().id;
        let ids = |v: Vec<SubscriptionRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(s.subscriptions(ProjectId(1), None, 0).unwrap()), vec![a, b]);
        assert_eq!(ids(s.subscriptions(ProjectId(1), Some("job-failed"), 0).unwrap()), vec![a]);
        assert_eq!(ids(s.subscriptions(ProjectId(2), None, 0).unwrap()), vec![other]);
    }

    pub fn expired_ones_are_gone<S: ProjectStore + SubscriptionStore>(s: &S) {
        projects(s);
        let lasting = s.insert_subscription(&new(1, "job-failed", None)).unwrap();
        let expiring = s.insert_subscription(&new(1, "job-failed", Some(5_000))).unwrap();
        let ids = |v: Vec<SubscriptionRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(s.subscriptions(ProjectId(1), Some("job-failed"), 4_999).unwrap()), vec![lasting.id, expiring.id]);
        assert_eq!(s.subscription(ProjectId(1), SubscriptionId(expiring.id), 4_999).unwrap().and_then(|r| r.expires_ms), Some(5_000));
        assert_eq!(ids(s.subscriptions(ProjectId(1), None, 5_000).unwrap()), vec![lasting.id], "expired at its time");
        assert_eq!(s.subscription(ProjectId(1), SubscriptionId(expiring.id), 5_000).unwrap(), None);
        assert!(!s.delete_subscription(ProjectId(1), SubscriptionId(expiring.id), 6_000).unwrap());
    }
}

#[macro_export]
macro_rules! subscription_store_suite {
    ($make:expr) => {
        #[test]
        fn subscription_store_lifecycle() {
            $crate::meta::notification_subscriptions::suite::lifecycle(&$make());
        }
        #[test]
        fn subscription_store_listed_per_project_and_event() {
            $crate::meta::notification_subscriptions::suite::listed_per_project_and_event(&$make());
        }
        #[test]
        fn subscription_store_expired_ones_are_gone() {
            $crate::meta::notification_subscriptions::suite::expired_ones_are_gone(&$make());
        }
    };
}
