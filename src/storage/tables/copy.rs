//! Copying a table's metadata as it is (providers, keys, values) between tables, branches and
//! snapshots: snapshots keep it as JSON, restores and dev-branch pulls write it back.
use serde_json::{Value, json};

use super::Table;
use crate::app::AppState;
use crate::http::{ApiResult, now_iso};
use crate::meta::metadata::{MetadataItem, Object};
use kbstack_core::Scope;

fn items_json(items: &[MetadataItem]) -> Value {
    Value::Array(items.iter().map(|m| json!({"provider": m.provider, "key": m.key, "value": m.value})).collect())
}

/// The table's own metadata and its columns' (`{column: [items]}`), as stored.
pub fn metadata_of(state: &AppState, t: &Table) -> ApiResult<(Value, Value)> {
    let scope = t.scope();
    let table_items = items_json(&state.meta.metadata(scope, Object::Table, &t.id)?);
    let prefix = format!("{}.", t.id);
    let mut columns = serde_json::Map::new();
    for m in state.meta.metadata_by_prefix(scope, Object::Column, &prefix)? {
        let col = m.object_id[prefix.len()..].to_string();
        let entry = columns.entry(col).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({"provider": m.provider, "key": m.key, "value": m.value}));
        }
    }
    Ok((table_items, Value::Object(columns)))
}

/// Write items of `metadata_of` onto `table_id` in `scope`, provider by provider.
pub fn restore_metadata(state: &AppState, scope: Scope, table_id: &str, table_items: &Value, column_items: &Value) -> ApiResult<()> {
    write_items(state, scope, Object::Table, table_id, table_items)?;
    if let Some(columns) = column_items.as_object() {
        for (column, items) in columns {
            write_items(state, scope, Object::Column, &format!("{table_id}.{column}"), items)?;
        }
    }
    Ok(())
}

fn write_items(state: &AppState, scope: Scope, object: Object, object_id: &str, items: &Value) -> ApiResult<()> {
    let mut by_provider: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for it in items.as_array().into_iter().flatten() {
        let text = |k: &str| it.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let provider = text("provider");
        let pair = (text("key"), text("value"));
        match by_provider.iter_mut().find(|(p, _)| *p == provider) {
            Some((_, pairs)) => pairs.push(pair),
            None => by_provider.push((provider, vec![pair])),
        }
    }
    let now = now_iso();
    for (provider, pairs) in by_provider {
        state.meta.upsert_metadata(scope, object, object_id, &provider, &pairs, &now)?;
    }
    Ok(())
}
