//! Output mapping of tables: every file (or sliced folder) in `out/tables`, its manifest and the
//! `storage.output.tables[]` mapping decide the destination and load options; the data is loaded
//! with the Storage import code. Missing buckets and tables are created through the Storage API
//! in-process, with the job's token.
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::Logger;
use super::registry::Component;
use crate::app::AppState;
use crate::backend::{Filter, Operator, Select};
use crate::http::params::scalar_to_string;
use crate::queue::configs::truthy;
use crate::queue::worker::Outcome;
use crate::storage::auth::Auth;
use crate::storage::tables::import::{CsvOptions, HeaderMode, build_source, run_import};
use crate::storage::tables::{self, select::parse_time};

fn user(msg: String) -> Outcome {
    Outcome::user_error(msg, json!({}))
}

fn app(msg: String) -> Outcome {
    Outcome::app_error(msg, json!({}))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(scalar_to_string).collect(),
        Value::String(s) if !s.is_empty() => s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect(),
        _ => Vec::new(),
    }
}

/// `in.c-keboola-ex-db-snowflake-493493`: the default bucket of a configuration.
pub fn default_bucket(component: &Component, config_id: &str) -> String {
    let sanitized: String = component.id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("{}.c-{}-{}", component.default_bucket_stage(), sanitized, config_id)
}

struct Item {
    name: String,
    path: PathBuf,
    manifest: Value,
    mapping: Value,
}

fn single_char(v: &Value, default: Option<char>, what: &str) -> Result<Option<char>, Outcome> {
    match v.as_str() {
        None => Ok(default),
        Some("") => Ok(None),
        Some(s) if s.chars().count() == 1 => Ok(s.chars().next()),
        Some("\\t") => Ok(Some('\t')),
        Some(s) => Err(user(format!("Output mapping: {what} \"{s}\" must be a single character."))),
    }
}

/// Load `out/tables` into Storage. With `write_always_only` (the component failed) only the
/// tables marked `write_always` are stored.
#[allow(clippy::too_many_arguments)]
pub fn tables(
    state: &AppState,
    auth: &Auth,
    component: &Component,
    config_id: Option<&str>,
    cfg: &Value,
    data_dir: &Path,
    logger: &Logger,
    write_always_only: bool,
) -> Result<Vec<Value>, Outcome> {
    let out_dir = data_dir.join("out/tables");
    let mappings: Vec<Value> = cfg["storage"]["output"]["tables"].as_array().cloned().unwrap_or_default();
    let mut items = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .map_err(|e| app(format!("Cannot read out/tables: {e}")))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.ends_with(".manifest") && !n.starts_with('.'))
        .collect();
    names.sort();
    for name in &names {
        let path = out_dir.join(name);
        let manifest_path = out_dir.join(format!("{name}.manifest"));
        let manifest = match std::fs::read(&manifest_path) {
            Ok(b) => serde_json::from_slice::<Value>(&b).map_err(|e| user(format!("Output mapping: manifest of \"{name}\" is not valid JSON: {e}")))?,
            Err(_) => json!({}),
        };
        let mapping = mappings.iter().find(|m| m["source"].as_str() == Some(name.as_str())).cloned().unwrap_or(json!({}));
        items.push(Item { name: name.clone(), path, manifest, mapping });
    }
    let missing: Vec<String> = mappings
        .iter()
        .filter_map(|m| m["source"].as_str())
        .filter(|s| !names.iter().any(|n| n == s))
        .map(str::to_string)
        .collect();
    if !missing.is_empty() && !write_always_only {
        return Err(user(format!("Output mapping: table sources not found in out/tables: {}.", missing.join(", "))));
    }
    let bucket_default = cfg["storage"]["output"]["default_bucket"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| if component.default_bucket() { config_id.map(|c| default_bucket(component, c)) } else { None });

    let mut loaded = Vec::new();
    for item in items {
        // Mapping keys win over the manifest's.
        let opt = |key: &str| -> Value {
            match item.mapping.get(key) {
                Some(v) if !v.is_null() => v.clone(),
                _ => item.manifest.get(key).cloned().unwrap_or(Value::Null),
            }
        };
        if write_always_only && !truthy(&opt("write_always")) {
            continue;
        }
        let base = item.name.strip_suffix(".csv.gz").or_else(|| item.name.strip_suffix(".csv")).unwrap_or(&item.name).to_string();
        let destination = match opt("destination").as_str().filter(|s| !s.is_empty()) {
            Some(d) if d.split('.').count() == 3 => d.to_string(),
            Some(d) => match &bucket_default {
                Some(b) => format!("{b}.{d}"),
                None => return Err(user(format!("Output mapping: destination \"{d}\" of \"{}\" is not a table id (stage.c-bucket.table).", item.name))),
            },
            None => match &bucket_default {
                _ if base.split('.').count() == 3 => base.clone(),
                Some(b) => format!("{b}.{base}"),
                None => {
                    return Err(user(format!(
                        "Output mapping: no destination for \"{}\": set it in the output mapping or the manifest, or name the file \"stage.c-bucket.table.csv\".",
                        item.name
                    )));
                }
            },
        };
        let incremental = truthy(&opt("incremental"));
        let primary_key = strings(&opt("primary_key"));
        let columns = strings(&opt("columns"));
        let opts = CsvOptions {
            delimiter: single_char(&opt("delimiter"), Some(','), "delimiter")?.unwrap_or(','),
            enclosure: single_char(&opt("enclosure"), Some('"'), "enclosure")?,
            escaped_by: None,
        };
        let paths: Vec<PathBuf> = if item.path.is_dir() {
            let mut p: Vec<PathBuf> = std::fs::read_dir(&item.path)
                .map_err(|e| app(e.to_string()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
                .collect();
            p.sort();
            if columns.is_empty() {
                return Err(user(format!("Output mapping: \"{}\" is a sliced table; its manifest must list \"columns\" (slices are headless).", item.name)));
            }
            if p.is_empty() {
                logger.log("warn", &format!("Output mapping: sliced table \"{}\" has no slices; nothing loaded.", item.name));
                continue;
            }
            p
        } else {
            vec![item.path.clone()]
        };
        let mode = if columns.is_empty() { HeaderMode::FromFile } else { HeaderMode::Given(columns.clone()) };
        let source = build_source(paths, &opts, mode).map_err(|e| user(format!("Output mapping of \"{}\" to \"{destination}\": {}", item.name, e.message)))?;
        let t = ensure_table(state, auth, &destination, &source.columns, &primary_key)?;
        if !primary_key.is_empty() && !same_columns(&primary_key, &t.primary_key) {
            return Err(user(format!(
                "Output mapping does not match destination table: primary key \"{}\" does not match \"{}\" in \"{destination}\".",
                primary_key.join(", "),
                t.primary_key.join(", ")
            )));
        }
        let res = crate::storage::jobs::with_lock(state, &tables::lock_key(&t), || {
            delete_where(state, &t, &item, &opt)?;
            run_import(state, auth, &t, source, incremental)
                .map_err(|e| user(format!("Output mapping of \"{}\" to \"{destination}\" failed: {}", item.name, e.message)))
        })?;
        logger.log(
            "info",
            &format!("Table {destination} loaded from out/tables/{} ({} rows{}).", item.name, res["importedRowsCount"], if incremental { ", incremental" } else { "" }),
        );
        let t = tables::find_table(state, t.project_id, t.branch_id, &t.id).ok().flatten().unwrap_or(t);
        let cols = &t.stats.columns;
        loaded.push(json!({
            "id": t.id,
            "name": t.name,
            "displayName": t.display_name,
            "columns": cols.iter().map(|c| json!({"name": c})).collect::<Vec<_>>(),
        }));
    }
    Ok(loaded)
}

fn same_columns(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| y.eq_ignore_ascii_case(x)))
}

/// The destination table, created (with its bucket) when missing.
fn ensure_table(state: &AppState, auth: &Auth, id: &str, columns: &[String], primary_key: &[String]) -> Result<tables::Table, Outcome> {
    if let Some(t) = tables::find_table(state, auth.project_id, auth.branch_id, id).map_err(|e| app(e.0.message))? {
        return Ok(t);
    }
    let (bucket, name) = tables::split_table_id(id).ok_or_else(|| user(format!("Output mapping: \"{id}\" is not a valid table id.")))?;
    let (stage, bucket_name) = bucket.split_once('.').unwrap_or(("", ""));
    let bucket_exists = crate::storage::buckets::load_bucket(state, auth.project_id, auth.branch_id, &bucket).is_ok();
    if !bucket_exists {
        let Some(short) = bucket_name.strip_prefix("c-").filter(|_| stage == "in" || stage == "out") else {
            return Err(user(format!("Output mapping: bucket \"{bucket}\" does not exist and cannot be created (use in.c-<name> or out.c-<name>).")));
        };
        let created = crate::storage::buckets::create_bucket(state, auth, crate::storage::buckets::NewBucket::named(short, stage));
        // A concurrent job may have created it meanwhile: only a bucket that still does not exist is an error.
        if let Err(e) = created {
            if crate::storage::buckets::load_bucket(state, auth.project_id, auth.branch_id, &bucket).is_err() {
                return Err(user(format!("Output mapping: cannot create bucket \"{bucket}\": {}", e.message)));
            }
        }
    }
    let created = tables::create::create_empty(state, auth, &bucket, &name, columns, primary_key.to_vec());
    match tables::find_table(state, auth.project_id, auth.branch_id, id).map_err(|e| app(e.0.message))? {
        Some(t) => Ok(t),
        None => Err(user(format!(
            "Output mapping: cannot create table \"{id}\": {}",
            created.err().map(|e| e.0.message).unwrap_or_else(|| "the table vanished".into())
        ))),
    }
}

/// `delete_where` rules (and the deprecated `delete_where_column/values/operator`), run before the load.
fn delete_where(state: &AppState, t: &tables::Table, item: &Item, opt: &dyn Fn(&str) -> Value) -> Result<(), Outcome> {
    let mut rules: Vec<Select> = Vec::new();
    let op = |s: &str| -> Result<Operator, Outcome> {
        match s {
            "" | "eq" => Ok(Operator::Eq),
            "ne" => Ok(Operator::Ne),
            other => Err(user(format!("Output mapping of \"{}\": delete operator \"{other}\" is not eq or ne.", item.name))),
        }
    };
    if let Some(col) = opt("delete_where_column").as_str().filter(|c| !c.is_empty()) {
        rules.push(Select {
            filters: vec![Filter {
                column: col.to_string(),
                operator: op(opt("delete_where_operator").as_str().unwrap_or("eq"))?,
                values: strings(&opt("delete_where_values")),
                data_type: None,
            }],
            ..Select::default()
        });
    }
    if let Some(list) = opt("delete_where").as_array() {
        for rule in list {
            let mut s = Select::default();
            for (key, slot) in [("changed_since", &mut s.changed_since), ("changed_until", &mut s.changed_until)] {
                if let Some(v) = rule[key].as_str().filter(|v| !v.is_empty()) {
                    *slot = Some(parse_time(key, v).map_err(|e| user(format!("Output mapping of \"{}\": {}", item.name, e.message)))?);
                }
            }
            for f in rule["where_filters"].as_array().cloned().unwrap_or_default() {
                let column = f["column"].as_str().unwrap_or_default().to_string();
                if f.get("values_from_workspace").is_some_and(|v| !v.is_null()) {
                    return Err(user(format!("Output mapping of \"{}\": values_from_workspace is not supported on this stack.", item.name)));
                }
                s.filters.push(Filter {
                    column,
                    operator: op(f["operator"].as_str().unwrap_or("eq"))?,
                    values: strings(&f["values_from_set"]),
                    data_type: None,
                });
            }
            if s.filters.is_empty() && s.changed_since.is_none() && s.changed_until.is_none() {
                continue;
            }
            rules.push(s);
        }
    }
    for s in rules {
        state.tables.delete_rows(&t.location(), &s).map_err(|e| user(format!("Output mapping of \"{}\": deleting rows failed: {e}", item.name)))?;
    }
    Ok(())
}
