//! `keboola.duckdb-transformation` and `keboola.snowflake-transformation` (its Snowflake SQL
//! translated to DuckDB statement by statement, `crate::sql_dialect`, session statements dropped
//! with a note): a fresh in-memory DuckDB per run; every input
//! table is a view named after its file in `in/tables` (`"orders.csv"`, and `orders` too); the
//! blocks of `parameters.blocks[].codes[].script[]` run in order, one statement (or batch) per
//! script item; each output mapping source is the table or view named after the output file
//! (`"out.csv"`, or `out`), written to `out/tables/<source>` for the output mapping.
//!
//! The engine (`kbstack_store::transform`) runs inside the server, so before any user SQL the
//! session is locked down: files only inside the job's data folder, no extensions, no settings
//! changed.
use std::path::Path;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use kbstack_store::transform::{InputSource, SqlSession};

use crate::sql_dialect::{SnowflakeToDuckDb, TranslateError};

use super::Logger;
use super::process::Exit;

/// A statement as shown in a message.
fn short(sql: &str) -> String {
    sql.chars().take(300).collect()
}

fn user(msg: String, logger: &Logger) -> Exit {
    logger.log("error", &msg);
    Exit::Code(1, vec![msg])
}

/// `snowflake`: the translator when the scripts are Snowflake SQL (None: DuckDB's dialect).
pub fn run(data_dir: &Path, cancel: &CancellationToken, logger: &Logger, snowflake: Option<&SnowflakeToDuckDb>) -> Exit {
    // Absolute and canonical: the paths user SQL gives are compared with it after DuckDB resolved them.
    let data_dir = match std::fs::canonicalize(data_dir) {
        Ok(d) => d,
        Err(e) => return Exit::Failed(format!("cannot resolve the data folder: {e}")),
    };
    let data_dir = data_dir.as_path();
    let tmp_dir = data_dir.parent().unwrap_or(data_dir).join("tmp");
    if let Err(e) = std::fs::create_dir_all(&tmp_dir) {
        return Exit::Failed(format!("cannot create the job's temporary folder: {e}"));
    }
    let config: Value = match std::fs::read(data_dir.join("config.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        Some(c) => c,
        None => return Exit::Code(2, vec!["config.json is missing or invalid".into()]),
    };
    let session = match SqlSession::open() {
        Ok(s) => s,
        Err(e) => return Exit::Failed(format!("cannot open DuckDB: {e}")),
    };

    // Inputs: one view per file (or sliced folder) in in/tables.
    let in_tables = data_dir.join("in/tables");
    let mut names: Vec<String> = std::fs::read_dir(&in_tables)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().to_string()).collect())
        .unwrap_or_default();
    names.retain(|n| !n.ends_with(".manifest"));
    names.sort();
    for name in &names {
        let path = in_tables.join(name);
        let manifest: Value = std::fs::read(in_tables.join(format!("{name}.manifest")))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let columns: Vec<String> =
            manifest["columns"].as_array().map(|c| c.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default();
        let source = if path.is_dir() { InputSource::Sliced { dir: &path, columns: &columns } } else { InputSource::File(&path) };
        let mut aliases = vec![name.clone()];
        if let Some(stem) = name.strip_suffix(".csv").filter(|s| !s.is_empty()) {
            aliases.push(stem.to_string());
        }
        for alias in aliases {
            if let Err(e) = session.create_input_view(&alias, &source) {
                return user(format!("Cannot load the input table \"{name}\": {e}"), logger);
            }
        }
    }

    if let Err(e) = session.lock_down(data_dir, &tmp_dir) {
        return Exit::Failed(format!("cannot restrict DuckDB to the data folder: {e}"));
    }

    // Blocks, codes, scripts in order.
    let blocks = config["parameters"]["blocks"].as_array().cloned().unwrap_or_default();
    for (bi, block) in blocks.iter().enumerate() {
        let block_name = block["name"].as_str().map(str::to_string).unwrap_or_else(|| format!("#{}", bi + 1));
        for (ci, code) in block["codes"].as_array().cloned().unwrap_or_default().iter().enumerate() {
            let code_name = code["name"].as_str().map(str::to_string).unwrap_or_else(|| format!("#{}", ci + 1));
            let scripts: Vec<String> = match &code["script"] {
                Value::Array(items) => items.iter().filter_map(|s| s.as_str().map(str::to_string)).collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            };
            logger.log("info", &format!("Running block \"{block_name}\", code \"{code_name}\" ({} statements).", scripts.len()));
            for sql in scripts {
                if cancel.is_cancelled() {
                    return Exit::Cancelled;
                }
                if sql.trim().is_empty() {
                    continue;
                }
                // A code may name itself for messages (legacy transformations: the row and query).
                let place = code["place"].as_str().map(str::to_string).unwrap_or_else(|| format!("Block \"{block_name}\", code \"{code_name}\""));
                let Some(translator) = snowflake else {
                    if let Err(e) = session.run(&sql) {
                        return user(format!("{place}: query failed: {e}\nQuery: {}", short(&sql)), logger);
                    }
                    continue;
                };
                let translation = match translator.translate(&sql) {
                    Ok(t) => t,
                    Err(e @ TranslateError::Failed(_)) => return Exit::Failed(e.to_string()),
                    Err(e) => return user(format!("{place}: {e}"), logger),
                };
                for dropped in &translation.dropped {
                    logger.log("info", &format!("{place}: skipped \"{}\": {}.", short(&dropped.snowflake), dropped.reason));
                }
                for statement in &translation.statements {
                    if cancel.is_cancelled() {
                        return Exit::Cancelled;
                    }
                    if let Err(mut e) = session.run(&statement.duckdb) {
                        if e.contains("json extension") {
                            e.push_str("\n(This kbstack's DuckDB engine is built without JSON support: PARSE_JSON, `:` paths and FLATTEN are not available.)");
                        }
                        return user(
                            format!(
                                "{place}: query failed: {e}\nQuery: {}\nRun on DuckDB as: {}",
                                short(&statement.snowflake),
                                short(&statement.duckdb)
                            ),
                            logger,
                        );
                    }
                }
            }
        }
    }

    // Outputs: the relation named after each output file.
    let outputs = config["storage"]["output"]["tables"].as_array().cloned().unwrap_or_default();
    for o in outputs {
        let Some(source) = o["source"].as_str() else { continue };
        let stem = source.strip_suffix(".csv").unwrap_or(source);
        let relation = if session.relation_exists(source) {
            source.to_string()
        } else if session.relation_exists(stem) {
            stem.to_string()
        } else {
            return user(format!("Output table \"{source}\" was not created: create a table or view named \"{source}\" (or \"{stem}\")."), logger);
        };
        let target = data_dir.join("out/tables").join(source);
        if let Err(e) = session.copy_to_csv(&relation, &target) {
            return user(format!("Cannot write the output table \"{source}\": {e}"), logger);
        }
    }
    logger.log("info", "Transformation finished.");
    Exit::Code(0, Vec::new())
}
