//! Metadata on buckets, tables, columns, branches and configurations: items `{id, key, value,
//! provider, timestamp}` upserted by (key, provider).
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crate::http::routes::{delete, get};
use axum::Json;
use crate::http::Routes;
use serde_json::{Value, json};

use super::auth::{Auth, Need};
use super::{buckets, tables};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};
use crate::meta::metadata::MetadataItem;
use kbstack_core::Scope;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/v2/storage/buckets/{id}/metadata", get(list_bucket).post(post_bucket))
        .route("/v2/storage/buckets/{id}/metadata/{mid}", delete(delete_bucket))
        .route("/v2/storage/tables/{id}/metadata", get(list_table).post(post_table))
        .route("/v2/storage/tables/{id}/metadata/{mid}", delete(delete_table))
        .route("/v2/storage/columns/{id}/metadata", get(list_column).post(post_column))
        .route("/v2/storage/columns/{id}/metadata/{mid}", delete(delete_column))
}

pub use crate::meta::metadata::Object;

/// Lets handlers pass `&(&auth).into()` where a scope is asked for.
impl From<&Auth> for Scope {
    fn from(auth: &Auth) -> Scope {
        auth.scope()
    }
}

/// An item as the API shows it (the id as a string).
fn item_json(item: MetadataItem) -> Value {
    json!({
        "id": item.id.to_string(),
        "key": item.key,
        "value": item.value,
        "provider": item.provider,
        "timestamp": item.timestamp,
    })
}

pub fn list(state: &AppState, scope: &Scope, object: Object, object_id: &str) -> ApiResult<Vec<Value>> {
    Ok(state.meta.metadata(*scope, object, object_id)?.into_iter().map(item_json).collect())
}

/// Metadata of every object whose id starts with `prefix` (column metadata of one table), as
/// (object id, item) in the order they were created.
pub fn list_by_prefix(state: &AppState, scope: &Scope, object: Object, prefix: &str) -> ApiResult<Vec<(String, Value)>> {
    let items = state.meta.metadata_by_prefix(*scope, object, prefix)?;
    Ok(items.into_iter().map(|item| (item.object_id.clone(), item_json(item))).collect())
}

/// Upsert `{key, value}` items under one provider.
pub fn upsert(state: &AppState, scope: &Scope, object: Object, object_id: &str, provider: &str, items: &[Value]) -> ApiResult<()> {
    let mut pairs = Vec::new();
    for it in items {
        let key = it.get("key").and_then(Value::as_str).filter(|k| !k.is_empty());
        let Some(key) = key else {
            return Err(ApiError::validation("Invalid request:\n - metadata: each item needs a non-empty \"key\"."));
        };
        let value = match it.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => crate::http::params::scalar_to_string(v).unwrap_or_else(|| v.to_string()),
        };
        pairs.push((key.to_string(), value));
    }
    Ok(state.meta.upsert_metadata(*scope, object, object_id, provider, &pairs, &now_iso())?)
}

pub fn remove(state: &AppState, scope: &Scope, object: Object, object_id: &str, metadata_id: &str) -> ApiResult<()> {
    let not_found = || ApiError::new(Code::MetadataNotFound, format!("Metadata \"{metadata_id}\" not found"));
    let id: i64 = metadata_id.parse().map_err(|_| not_found())?;
    if !state.meta.delete_metadata(*scope, object, object_id, id)? {
        return Err(not_found());
    }
    Ok(())
}

fn provider_of(p: &Params) -> ApiResult<String> {
    p.required_str("provider")
}

fn metadata_items(p: &Params) -> ApiResult<Vec<Value>> {
    match p.get("metadata") {
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(Value::Object(o)) => Ok(o.values().cloned().collect()),
        None => Ok(Vec::new()),
        _ => Err(ApiError::validation("Invalid request:\n - metadata: This value should be an array.")),
    }
}

async fn list_bucket(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    auth.bucket(&id, Need::Read)?;
    buckets::load_bucket(&s, auth.project_id, auth.branch_id, &id)?;
    Ok(Json(json!(list(&s, &(&auth).into(), Object::Bucket, &id)?)))
}

async fn post_bucket(State(s): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.bucket(&id, Need::Write)?;
    buckets::load_bucket(&s, auth.project_id, auth.branch_id, &id)?;
    upsert(&s, &(&auth).into(), Object::Bucket, &id, &provider_of(&p)?, &metadata_items(&p)?)?;
    Ok((StatusCode::CREATED, Json(json!(list(&s, &(&auth).into(), Object::Bucket, &id)?))))
}

async fn delete_bucket(State(s): State<AppState>, auth: Auth, Path((id, mid)): Path<(String, String)>) -> ApiResult<StatusCode> {
    auth.bucket(&id, Need::Write)?;
    remove(&s, &(&auth).into(), Object::Bucket, &id, &mid)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_table(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let t = tables::load_table(&s, &auth, &id, Need::Read)?;
    Ok(Json(json!(list(&s, &(&auth).into(), Object::Table, &t.id)?)))
}

/// `columnsMetadata` arrives keyed by column name, by column index, or (kbcstorage) as a list of
/// lists whose items carry `columnName`.
fn columns_metadata(p: &Params, columns: &[String]) -> ApiResult<Vec<(String, Vec<Value>)>> {
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    let mut push = |col: String, item: Value| match out.iter_mut().find(|(c, _)| *c == col) {
        Some((_, items)) => items.push(item),
        None => out.push((col, vec![item])),
    };
    let groups: Vec<(Option<String>, Value)> = match p.get("columnsMetadata") {
        None => return Ok(Vec::new()),
        Some(Value::Object(o)) => o.iter().map(|(k, v)| (Some(k.clone()), v.clone())).collect(),
        Some(Value::Array(a)) => a.iter().map(|v| (None, v.clone())).collect(),
        Some(_) => return Err(ApiError::validation("Invalid request:\n - columnsMetadata: This value should be an object.")),
    };
    for (key, items) in groups {
        let items = match items {
            Value::Array(a) => a,
            Value::Object(o) => o.values().cloned().collect(),
            _ => continue,
        };
        for it in items {
            let named = it.get("columnName").and_then(Value::as_str).map(str::to_string);
            let col = match (named, &key) {
                (Some(c), _) => c,
                (None, Some(k)) => match k.parse::<usize>() {
                    Ok(i) if !columns.contains(k) => columns.get(i).cloned().unwrap_or_else(|| k.clone()),
                    _ => k.clone(),
                },
                (None, None) => return Err(ApiError::validation("Invalid request:\n - columnsMetadata: columnName is required.")),
            };
            if !columns.contains(&col) {
                return Err(ApiError::new(Code::ColumnNotExists, format!("Column \"{col}\" not found in the table.")));
            }
            push(col, it);
        }
    }
    Ok(out)
}

async fn post_table(State(s): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = tables::load_table(&s, &auth, &id, Need::Write)?;
    let provider = provider_of(&p)?;
    let scope: Scope = (&auth).into();
    let columns = &t.stats.columns;
    let col_meta = columns_metadata(&p, &columns)?;
    upsert(&s, &scope, Object::Table, &t.id, &provider, &metadata_items(&p)?)?;
    for (col, items) in &col_meta {
        upsert(&s, &scope, Object::Column, &format!("{}.{col}", t.id), &provider, items)?;
    }
    let body = json!({
        "metadata": list(&s, &scope, Object::Table, &t.id)?,
        "columnsMetadata": tables::column_metadata_json(&s, &scope, &t.id, columns)?,
    });
    Ok((StatusCode::CREATED, Json(body)))
}

async fn delete_table(State(s): State<AppState>, auth: Auth, Path((id, mid)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let t = tables::load_table(&s, &auth, &id, Need::Write)?;
    remove(&s, &(&auth).into(), Object::Table, &t.id, &mid)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `in.c-b.table.column` → (table id, column).
fn split_column_id(id: &str) -> ApiResult<(String, String)> {
    let parts: Vec<&str> = id.splitn(4, '.').collect();
    if parts.len() != 4 {
        return Err(ApiError::validation(format!("Invalid column id \"{id}\": expected <stage>.<bucket>.<table>.<column>.")));
    }
    Ok((parts[..3].join("."), parts[3].to_string()))
}

async fn list_column(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let (table_id, _) = split_column_id(&id)?;
    tables::load_table(&s, &auth, &table_id, Need::Read)?;
    Ok(Json(json!(list(&s, &(&auth).into(), Object::Column, &id)?)))
}

async fn post_column(State(s): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let (table_id, column) = split_column_id(&id)?;
    let t = tables::load_table(&s, &auth, &table_id, Need::Write)?;
    if !t.stats.columns.contains(&column) {
        return Err(ApiError::new(Code::ColumnNotExists, format!("Column \"{column}\" not found in table \"{table_id}\".")));
    }
    upsert(&s, &(&auth).into(), Object::Column, &id, &provider_of(&p)?, &metadata_items(&p)?)?;
    Ok((StatusCode::CREATED, Json(json!(list(&s, &(&auth).into(), Object::Column, &id)?))))
}

async fn delete_column(State(s): State<AppState>, auth: Auth, Path((id, mid)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let (table_id, _) = split_column_id(&id)?;
    tables::load_table(&s, &auth, &table_id, Need::Write)?;
    remove(&s, &(&auth).into(), Object::Column, &id, &mid)?;
    Ok(StatusCode::NO_CONTENT)
}
