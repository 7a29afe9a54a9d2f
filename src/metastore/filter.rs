//! The list endpoints' query language: `limit`/`offset` paging, `modelUUID` (a model's children),
//! `filter` (free text: a case-insensitive substring of the name or the data), and the generic
//! `field[op]=value` filters (`name=x`, `name[not]=x`, `scope_elevation_requested_at[not][null]=true`,
//! `revision[gte]=2`, `name[like]=sal`, `scope[in]=project,targeted`). A field is one of the
//! object's meta fields (camelCase or snake_case) or else a path into its data (`a.b`).
use serde_json::Value;

use crate::http::{ApiError, ApiResult, Code, Params};
use crate::meta::metastore::MetaObject;

/// Most objects one page returns.
pub const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Default)]
pub struct ListQuery {
    pub limit: Option<usize>,
    pub offset: usize,
    pub model_uuid: Option<String>,
    pub text: Option<String>,
    /// `(field, ops, value)`.
    pub conditions: Vec<(String, Vec<String>, String)>,
}

fn bad(message: String) -> ApiError {
    ApiError::new(Code::MetastoreBadRequest, message)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `{"not": {"null": "true"}}` → `(["not", "null"], "true")`.
fn flatten(v: &Value, ops: &mut Vec<String>) -> Result<String, ()> {
    match v {
        Value::Object(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next().unwrap();
            ops.push(k.clone());
            flatten(inner, ops)
        }
        other => scalar(other).ok_or(()),
    }
}

const OPS: [&str; 12] = ["eq", "not", "ne", "neq", "null", "like", "contains", "in", "gt", "gte", "lt", "lte"];

pub fn parse(p: &Params) -> ApiResult<ListQuery> {
    let mut q = ListQuery::default();
    for (key, v) in &p.values {
        let text = || scalar(v).ok_or_else(|| bad(format!("{key}: must be a single value")));
        match key.as_str() {
            "limit" => {
                let n: i64 = text()?.trim().parse().map_err(|_| bad(format!("limit: must be an integer between 1 and {MAX_LIMIT}")))?;
                if !(1..=MAX_LIMIT).contains(&n) {
                    return Err(bad(format!("limit: must be an integer between 1 and {MAX_LIMIT}")));
                }
                q.limit = Some(n as usize);
            }
            "offset" => {
                let n: i64 = text()?.trim().parse().map_err(|_| bad("offset: must be a non-negative integer".into()))?;
                q.offset = usize::try_from(n).map_err(|_| bad("offset: must be a non-negative integer".into()))?;
            }
            "modelUUID" | "modelId" => q.model_uuid = Some(text()?).filter(|s| !s.is_empty()),
            "filter" => q.text = Some(text()?.to_lowercase()).filter(|s| !s.is_empty()),
            field => {
                let mut ops = Vec::new();
                let value = flatten(v, &mut ops).map_err(|_| bad(format!("{field}: a filter takes one value")))?;
                if let Some(op) = ops.iter().find(|o| !OPS.contains(&o.as_str())) {
                    return Err(bad(format!("{field}: unknown filter operator \"{op}\"")));
                }
                q.conditions.push((field.to_string(), ops, value));
            }
        }
    }
    Ok(q)
}

/// The value of a field of the object, as text (None: absent or null).
fn field(o: &MetaObject, name: &str) -> Option<String> {
    let meta = match name {
        "id" => Some(o.id.clone()),
        "name" => Some(o.name.clone()),
        "scope" => Some(o.scope.clone()),
        "branch" => Some(o.branch.clone()),
        "revision" => Some(o.revision.to_string()),
        "projectId" | "project_id" => Some(o.project_id.to_string()),
        "schemaVersion" | "schema_version" => Some(o.schema_version.clone()),
        "createdAt" | "created_at" => Some(o.created_at.clone()),
        "lastUpdated" | "last_updated" | "updated_at" => Some(o.last_updated.clone()),
        "scopeElevationRequestedAt" | "scope_elevation_requested_at" => return o.scope_elevation_requested_at.clone(),
        _ => None,
    };
    if meta.is_some() {
        return meta;
    }
    let path = name.strip_prefix("attributes.").or_else(|| name.strip_prefix("data.")).unwrap_or(name);
    let mut v = &o.data;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    scalar(v).or_else(|| (!v.is_null()).then(|| v.to_string()))
}

fn compare(have: &str, want: &str) -> std::cmp::Ordering {
    match (have.parse::<f64>(), want.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
        _ => have.cmp(want),
    }
}

fn truthy(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

fn holds(o: &MetaObject, name: &str, ops: &[String], want: &str) -> bool {
    let have = field(o, name);
    let negate = ops.iter().any(|op| matches!(op.as_str(), "not" | "ne" | "neq"));
    let op = ops.iter().rev().find(|op| !matches!(op.as_str(), "not" | "ne" | "neq")).map(String::as_str).unwrap_or("eq");
    let result = match op {
        "null" => have.is_none() == truthy(want),
        "like" | "contains" => {
            let needle = want.trim_matches('%').to_lowercase();
            have.is_some_and(|h| h.to_lowercase().contains(&needle))
        }
        "in" => have.is_some_and(|h| want.split(',').any(|w| w.trim() == h)),
        "gt" => have.is_some_and(|h| compare(&h, want).is_gt()),
        "gte" => have.is_some_and(|h| compare(&h, want).is_ge()),
        "lt" => have.is_some_and(|h| compare(&h, want).is_lt()),
        "lte" => have.is_some_and(|h| compare(&h, want).is_le()),
        _ => have.as_deref() == Some(want),
    };
    result != negate
}

impl ListQuery {
    fn matches(&self, o: &MetaObject) -> bool {
        // A model has no `modelUUID`: the filter does not apply to it (the real metastore
        // ignores filter keys a type's schema lacks).
        if let Some(model) = &self.model_uuid {
            if o.object_type != "semantic-model" && o.data.get("modelUUID").and_then(Value::as_str) != Some(model) {
                return false;
            }
        }
        if let Some(text) = &self.text {
            if !o.name.to_lowercase().contains(text) && !o.data.to_string().to_lowercase().contains(text) {
                return false;
            }
        }
        self.conditions.iter().all(|(name, ops, want)| holds(o, name, ops, want))
    }

    /// The matching objects, one page.
    pub fn apply(&self, objects: Vec<MetaObject>) -> Vec<MetaObject> {
        let matching = objects.into_iter().filter(|o| self.matches(o)).skip(self.offset);
        match self.limit {
            Some(n) => matching.take(n).collect(),
            None => matching.collect(),
        }
    }
}
