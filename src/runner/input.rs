//! Input mapping of tables: `storage.input.tables[]` exported from the table backend into
//! `in/tables/<destination>` (RFC CSV with a header) with an input manifest beside it.
use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use super::Logger;
use crate::app::AppState;
use crate::backend::{ExportFormat, ExportSpec, Filter, Operator, Select};
use crate::http::params::scalar_to_string;
use crate::queue::worker::Outcome;
use crate::storage::auth::{Auth, Need};
use crate::storage::tables::{self, select::parse_time};

pub struct Input {
    /// `result.input.tables` entries.
    pub tables: Vec<Value>,
    /// `state.storage.input.tables` for `changed_since: adaptive`.
    pub adaptive_state: Vec<Value>,
}

fn user(msg: String) -> Outcome {
    Outcome::user_error(msg, json!({}))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(scalar_to_string).collect(),
        Value::Null => Vec::new(),
        other => scalar_to_string(other).into_iter().collect(),
    }
}

/// A safe file name inside `in/tables` (no path separators, no `..`).
fn safe_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && !name.contains('\\') && name != "." && name != ".."
}

pub fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\"\""))
}

pub fn tables(state: &AppState, auth: &Auth, cfg: &Value, storage_state: &Value, data_dir: &Path, logger: &Logger) -> Result<Input, Outcome> {
    let mut out = Input { tables: Vec::new(), adaptive_state: Vec::new() };
    let Some(mappings) = cfg["storage"]["input"]["tables"].as_array() else { return Ok(out) };
    for m in mappings {
        let source = m["source"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| user("Input mapping: each table needs a \"source\".".into()))?;
        let destination = m["destination"].as_str().filter(|s| !s.is_empty()).unwrap_or(source).to_string();
        if !safe_name(&destination) {
            return Err(user(format!("Input mapping: \"{destination}\" is not a valid destination file name.")));
        }
        let t = tables::load_table(state, auth, source, Need::Read)
            .map_err(|e| user(format!("Input mapping: table \"{source}\" cannot be read: {}", e.message)))?;
        let loc = t.location();
        let all_columns = state.tables.columns(&loc).map_err(|e| Outcome::app_error(format!("Input mapping of {source}: {e}"), json!({})))?;
        let mut select = Select::default();
        let columns = strings(&m["columns"]);
        if !columns.is_empty() {
            let missing: Vec<&String> = columns.iter().filter(|c| !all_columns.contains(c)).collect();
            if !missing.is_empty() {
                return Err(user(format!(
                    "Input mapping of \"{source}\": columns {} do not exist in the table (it has {}).",
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                    all_columns.join(", ")
                )));
            }
            select.columns = Some(columns.clone());
        }
        let where_column = m["where_column"].as_str().filter(|s| !s.is_empty());
        let where_values = strings(&m["where_values"]);
        match (where_column, where_values.is_empty()) {
            (Some(col), false) => {
                let op = m["where_operator"].as_str().unwrap_or("eq");
                let operator = match op {
                    "eq" | "" => Operator::Eq,
                    "ne" => Operator::Ne,
                    other => return Err(user(format!("Input mapping of \"{source}\": where_operator \"{other}\" is not eq or ne."))),
                };
                if !all_columns.iter().any(|c| c == col) {
                    return Err(user(format!("Input mapping of \"{source}\": where_column \"{col}\" does not exist in the table.")));
                }
                select.filters.push(Filter { column: col.to_string(), operator, values: where_values, data_type: None });
            }
            (None, true) => {}
            _ => return Err(user(format!("Input mapping of \"{source}\": where_column and where_values must be set together."))),
        }
        let mut changed_since = m["changed_since"].as_str().filter(|s| !s.is_empty()).map(str::to_string);
        if changed_since.is_none() {
            if let Some(days) = m["days"].as_i64().or_else(|| m["days"].as_str().and_then(|d| d.parse().ok())).filter(|d| *d > 0) {
                changed_since = Some(format!("-{days} days"));
            }
        }
        match changed_since.as_deref() {
            Some("adaptive") => {
                let previous = storage_state["input"]["tables"]
                    .as_array()
                    .and_then(|a| a.iter().find(|e| e["source"] == source))
                    .and_then(|e| e["lastImportDate"].as_str())
                    .map(str::to_string);
                if let Some(prev) = previous {
                    select.changed_since = Some(parse_time("changed_since", &prev).map_err(|e| user(e.0.message))?);
                }
                out.adaptive_state.push(json!({"source": source, "lastImportDate": t.last_import_date}));
            }
            Some(s) => {
                select.changed_since = Some(
                    parse_time("changed_since", s).map_err(|_| user(format!("Input mapping of \"{source}\": changed_since \"{s}\" is not a valid time.")))?,
                );
            }
            None => {}
        }
        if let Some(limit) = m["limit"].as_u64().or_else(|| m["limit"].as_str().and_then(|l| l.parse().ok())) {
            select.limit = Some(limit);
        }
        let header = select.columns.clone().unwrap_or_else(|| all_columns.clone());

        let tmp = tempfile::tempdir_in(data_dir.parent().unwrap_or(data_dir)).map_err(|e| Outcome::app_error(e.to_string(), json!({})))?;
        let slices = state
            .tables
            .export(&loc, &ExportSpec { select, dir: tmp.path().to_path_buf(), format: ExportFormat::Csv { gzip: false } })
            .map_err(|e| Outcome::app_error(format!("Input mapping of {source}: {e}"), json!({})))?;
        let target = data_dir.join("in/tables").join(&destination);
        let write = || -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&target)?);
            writeln!(f, "{}", header.iter().map(|c| quote(c)).collect::<Vec<_>>().join(","))?;
            for s in &slices {
                std::io::copy(&mut std::fs::File::open(s)?, &mut f)?;
            }
            f.flush()
        };
        write().map_err(|e| Outcome::app_error(format!("Input mapping of {source}: {e}"), json!({})))?;
        let (rows, bytes) = state.tables.stats(&loc).unwrap_or((0, 0));
        let manifest = json!({
            "id": t.id,
            "uri": format!("{}/tables/{}", state.storage_url(), t.id),
            "name": t.name,
            "primary_key": t.primary_key,
            "created": t.created,
            "last_change_date": t.last_change_date,
            "last_import_date": t.last_import_date,
            "columns": header,
            "metadata": [],
            "column_metadata": {},
            "rows_count": rows,
            "data_size_bytes": bytes,
            "is_alias": false,
            "attributes": [],
            "indexed_columns": [],
        });
        std::fs::write(data_dir.join("in/tables").join(format!("{destination}.manifest")), serde_json::to_vec_pretty(&manifest).unwrap_or_default())
            .map_err(|e| Outcome::app_error(e.to_string(), json!({})))?;
        logger.log("info", &format!("Fetched table {source} as in/tables/{destination}."));
        out.tables.push(json!({
            "id": t.id,
            "name": t.name,
            "displayName": t.display_name,
            "columns": header.iter().map(|c| json!({"name": c})).collect::<Vec<_>>(),
        }));
    }
    Ok(out)
}
