//! The Notifications service, served at `/notification` (notes: services.md §10): project
//! subscriptions (an event, filters into the event's payload, one email or webhook recipient,
//! an optional expiry) kept by `SubscriptionStore` (`meta::notification_subscriptions`), HTTP in
//! `api`. Queue jobs and flow phases that end emit their events through `events` (a domain call
//! from the Queue, never HTTP), and `delivery` sends what matched on background tasks.
pub mod api;
pub mod delivery;
pub mod events;
pub mod expiry;
pub mod wire;

use std::str::FromStr;

use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::http::params::scalar_to_string;
use crate::http::{ApiError, ApiResult, Code};
use crate::meta::notification_subscriptions::{NewSubscription, SubscriptionRecord};
use crate::storage::auth::Auth;
use kbstack_core::ids::{ProjectId, SubscriptionId};

/// Every event a subscription can name (Keboola's notification clients know these eight).
pub const EVENTS: &[&str] = &[
    "job-failed",
    "job-succeeded",
    "job-succeeded-with-warning",
    "job-processing-long",
    "phase-job-failed",
    "phase-job-succeeded",
    "phase-job-succeeded-with-warning",
    "phase-job-processing-long",
];

pub const OPERATORS: &[&str] = &["==", "!=", ">", "<", ">=", "<="];

const MAX_FILTERS: usize = 50;
const MAX_TEXT: usize = 1024;

pub fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::SubscriptionNotFound, format!("Subscription \"{id}\" not found."))
}

fn invalid(msg: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("Invalid request:\n - {msg}"))
}

/// Where a notification goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipient {
    Email(String),
    Webhook(String),
}

impl Recipient {
    /// `{channel: "email", address}` or `{channel: "webhook", url}` (the PHP client's shape; the
    /// Go SDK sends a webhook's URL as `address`, which is read too).
    pub fn parse(v: &Value) -> Result<Recipient, String> {
        let Some(o) = v.as_object() else { return Err("recipient: This value should be an object {channel, address|url}.".into()) };
        let text = |key: &str| o.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
        match text("channel") {
            Some("email") => {
                let address = text("address").ok_or("recipient.address: This value should not be blank.")?;
                valid_email(address).map(|a| Recipient::Email(a.to_string()))
            }
            Some("webhook") => {
                let url = text("url").or(text("address")).ok_or("recipient.url: This value should not be blank.")?;
                valid_url(url).map(|u| Recipient::Webhook(u.to_string()))
            }
            Some(other) => Err(format!("recipient.channel: \"{other}\" is not valid; allowed: email, webhook.")),
            None => Err("recipient.channel: This value should not be blank (email or webhook).".into()),
        }
    }

    /// As stored.
    pub fn to_json(&self) -> Value {
        match self {
            Recipient::Email(a) => json!({"channel": "email", "address": a}),
            Recipient::Webhook(u) => json!({"channel": "webhook", "url": u}),
        }
    }
}

pub fn valid_email(address: &str) -> Result<&str, String> {
    if address.len() > MAX_TEXT {
        return Err("recipient.address: This value is too long.".into());
    }
    lettre::Address::from_str(address).map(|_| address).map_err(|_| format!("recipient.address: \"{address}\" is not a valid email address."))
}

/// An absolute `http://` or `https://` URL with a host.
pub fn valid_url(url: &str) -> Result<&str, String> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    let ok = url.len() <= MAX_TEXT
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && host.is_some_and(|h| !h.is_empty() && !h.starts_with(':') && !h.contains('@'));
    if ok { Ok(url) } else { Err(format!("recipient.url: \"{url}\" is not a valid http(s) URL.")) }
}

/// `[{field, value, operator?}]` with the operator defaulted to `==`.
fn parse_filters(v: Option<&Value>) -> Result<Value, String> {
    let items = match v {
        None | Some(Value::Null) => return Ok(json!([])),
        Some(Value::Array(items)) => items,
        Some(Value::Object(o)) if o.is_empty() => return Ok(json!([])),
        Some(_) => return Err("filters: This value should be an array of {field, value, operator}.".into()),
    };
    if items.len() > MAX_FILTERS {
        return Err(format!("filters: at most {MAX_FILTERS} filters are allowed."));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(o) = item.as_object() else { return Err(format!("filters[{i}]: This value should be an object {{field, value, operator}}.")) };
        let field = o.get("field").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
        let field = field.ok_or_else(|| format!("filters[{i}].field: This value should not be blank."))?;
        if field.len() > MAX_TEXT {
            return Err(format!("filters[{i}].field: This value is too long."));
        }
        let value = match o.get("value") {
            Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) if scalar_to_string(v).is_some_and(|s| s.len() <= MAX_TEXT) => v.clone(),
            _ => return Err(format!("filters[{i}].value: This value should be a string, a number or a boolean.")),
        };
        let operator = match o.get("operator") {
            None | Some(Value::Null) => "==".to_string(),
            Some(Value::String(op)) if OPERATORS.contains(&op.trim()) => op.trim().to_string(),
            Some(other) => return Err(format!("filters[{i}].operator: {other} is not valid; allowed: {}.", OPERATORS.join(" "))),
        };
        out.push(json!({"field": field, "value": value, "operator": operator}));
    }
    Ok(Value::Array(out))
}

/// Keboola lets every role but `readOnly` (and `none`) change subscriptions. kbstack has no
/// users: a read-only member is a token that may change nothing (no master, no bucket managing,
/// only `read` bucket permissions, no components).
fn require_modify(auth: &Auth) -> ApiResult<()> {
    let t = &auth.token;
    let writes = t.is_master
        || t.can_manage_buckets
        || t.bucket_permissions.values().any(|p| p.as_str() != Some("read"))
        || t.component_access.as_ref().is_some_and(|c| !c.is_empty());
    if writes {
        Ok(())
    } else {
        Err(ApiError::denied("A read-only token cannot change notification subscriptions."))
    }
}

/// `POST /project-subscriptions`: validated body → stored subscription.
pub fn create(state: &AppState, auth: &Auth, body: &Map<String, Value>) -> ApiResult<SubscriptionRecord> {
    require_modify(auth)?;
    let event = body.get("event").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let event = event.ok_or_else(|| invalid("event: This value should not be blank."))?;
    if !EVENTS.contains(&event) {
        return Err(invalid(format!("event: Invalid event type \"{event}\", valid types are: \"{}\".", EVENTS.join(", "))));
    }
    let filters = parse_filters(body.get("filters")).map_err(invalid)?;
    let recipient = match body.get("recipient") {
        None | Some(Value::Null) => return Err(invalid("recipient: This value should not be blank.")),
        Some(v) => Recipient::parse(v).map_err(invalid)?,
    };
    let now = crate::queue::now_ms();
    let expires_ms = match body.get("expiresAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(expiry::parse(s, now).map_err(invalid)?),
        Some(_) => return Err(invalid("expiresAt: This value should be a date (RFC 3339) or a relative time such as \"+24 hours\".")),
    };
    if expires_ms.is_some_and(|e| e <= now) {
        return Err(invalid("expiresAt: The expiration must be in the future."));
    }
    Ok(state.meta.insert_subscription(&NewSubscription {
        project_id: auth.project_id,
        event: event.to_string(),
        filters,
        recipient: recipient.to_json(),
        expires_ms,
        created_ms: now,
    })?)
}

/// The project's unexpired subscriptions (every event: Keboola's server ignores `?event=`).
pub fn list(state: &AppState, auth: &Auth) -> ApiResult<Vec<SubscriptionRecord>> {
    Ok(state.meta.subscriptions(ProjectId(auth.project_id), None, crate::queue::now_ms())?)
}

/// A subscription of the caller's project (404 otherwise, and once it expired).
pub fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<SubscriptionRecord> {
    let n: i64 = id.trim().parse().map_err(|_| not_found(id))?;
    state.meta.subscription(ProjectId(auth.project_id), SubscriptionId(n), crate::queue::now_ms())?.ok_or_else(|| not_found(id))
}

pub fn delete(state: &AppState, auth: &Auth, id: &str) -> ApiResult<()> {
    require_modify(auth)?;
    let n: i64 = id.trim().parse().map_err(|_| not_found(id))?;
    if state.meta.delete_subscription(ProjectId(auth.project_id), SubscriptionId(n), crate::queue::now_ms())? {
        Ok(())
    } else {
        Err(not_found(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients() {
        assert_eq!(Recipient::parse(&json!({"channel": "email", "address": "a@b.cz"})), Ok(Recipient::Email("a@b.cz".into())));
        assert_eq!(Recipient::parse(&json!({"channel": "webhook", "url": "http://h:1/x"})), Ok(Recipient::Webhook("http://h:1/x".into())));
        assert_eq!(Recipient::parse(&json!({"channel": "webhook", "address": "https://h/x"})), Ok(Recipient::Webhook("https://h/x".into())), "the Go SDK's shape");
        for bad in [
            json!({"channel": "email", "address": "nope"}),
            json!({"channel": "email"}),
            json!({"channel": "webhook", "url": "ftp://h/x"}),
            json!({"channel": "webhook", "url": "http://"}),
            json!({"channel": "webhook", "url": "http://h/a b"}),
            json!({"channel": "sms", "address": "1"}),
            json!("email"),
        ] {
            assert!(Recipient::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_default_their_operator() {
        let f = parse_filters(Some(&json!([{"field": "job.component.id", "value": "x"}, {"field": "durationOvertimePercentage", "value": 0.75, "operator": ">="}]))).unwrap();
        assert_eq!(f, json!([{"field": "job.component.id", "value": "x", "operator": "=="}, {"field": "durationOvertimePercentage", "value": 0.75, "operator": ">="}]));
        assert_eq!(parse_filters(None).unwrap(), json!([]));
        for bad in [json!("x"), json!([{"value": "x"}]), json!([{"field": "a"}]), json!([{"field": "a", "value": "x", "operator": "=~"}]), json!([{"field": "a", "value": [1]}])] {
            assert!(parse_filters(Some(&bad)).is_err(), "{bad}");
        }
    }
}
