//! The `KBC.datatype.*` column metadata Keboola keeps for typed tables (provider `storage`):
//! clients read a typed column's type from `columnMetadata`, not from `definition` (keboola-cli
//! `table-detail`, keboola-mcp-server `get_table`). Written once per column when the column is
//! defined, so the column metadata API shows them too.
use serde_json::{Value, json};

use super::Table;
use crate::app::AppState;
use crate::http::ApiResult;
use crate::storage::metadata::{self, Object};

/// The provider Keboola files its own column metadata under.
pub const PROVIDER: &str = "storage";

/// `{key, value}` items for one `definition.columns[]` entry: type, nullable, basetype, and the
/// length and default when the column has them.
pub fn items(column: &Value) -> Vec<Value> {
    let def = &column["definition"];
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let nullable = def["nullable"].as_bool().unwrap_or(true);
    let mut out = vec![
        json!({"key": "KBC.datatype.type", "value": text(&def["type"]).unwrap_or_default()}),
        // "1"/"0": both readers (kbagent compares with "1", MCP accepts 1/true) agree on these.
        json!({"key": "KBC.datatype.nullable", "value": if nullable { "1" } else { "0" }}),
        json!({"key": "KBC.datatype.basetype", "value": text(&column["basetype"]).unwrap_or_default()}),
    ];
    if let Some(length) = text(&def["length"]).filter(|l| !l.is_empty()) {
        out.push(json!({"key": "KBC.datatype.length", "value": length}));
    }
    if let Some(default) = text(&def["default"]) {
        out.push(json!({"key": "KBC.datatype.default", "value": default}));
    }
    out
}

/// Store the items of `column` (a `definition.columns[]` entry) on that column of `t`.
pub fn store(state: &AppState, t: &Table, column: &Value) -> ApiResult<()> {
    let name = column["name"].as_str().unwrap_or_default();
    metadata::upsert(state, &t.scope(), Object::Column, &format!("{}.{name}", t.id), PROVIDER, &items(column))
}

/// Store the items of every column of a typed table's definition.
pub fn store_definition(state: &AppState, t: &Table) -> ApiResult<()> {
    for column in t.definition["columns"].as_array().into_iter().flatten() {
        store(state, t, column)?;
    }
    Ok(())
}
