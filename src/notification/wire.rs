//! The subscription object of `/notification/project-subscriptions…` (notes: services.md §10):
//! the id as a string, every filter with its operator, `expiresAt`/`createdAt` as RFC 3339.
//!
//! A webhook recipient carries its URL both as `url` (the PHP client reads it) and as `address`
//! (the Go SDK's `NotificationRecipient` has only that field).
use serde::Serialize;
use serde_json::Value;

use crate::meta::notification_subscriptions::SubscriptionRecord;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub event: String,
    pub filters: Value,
    pub recipient: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub created_at: String,
}

impl Subscription {
    pub fn of(record: &SubscriptionRecord) -> Subscription {
        let mut recipient = record.recipient.clone();
        if recipient["channel"] == "webhook" {
            recipient["address"] = recipient["url"].clone();
        }
        Subscription {
            id: record.id.to_string(),
            event: record.event.clone(),
            filters: record.filters.clone(),
            recipient,
            expires_at: record.expires_ms.map(crate::queue::iso_ms),
            created_at: crate::queue::iso_ms(record.created_ms),
        }
    }
}
