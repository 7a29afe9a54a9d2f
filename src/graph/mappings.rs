//! What one configuration document says about lineage: its input and output mappings (of the
//! configuration and of each row), the tables its SQL reads and writes, a flow's tasks.
//!
//! Mappings: `configuration.storage.input.tables[]{source, destination, columns}` and
//! `configuration.storage.output.tables[]{source, destination}` (runner.md §4.2–4.3); legacy
//! `transformation` rows keep theirs in `configuration.input[]`/`output[]` with SQL in
//! `configuration.queries[]` and the dialect in `configuration.backend`; modern transformations
//! keep SQL in `parameters.blocks[].codes[].script[]` (runner.md §13). Flows list
//! `configuration.tasks[].task{componentId, configId}`.
use serde_json::{Value, json};

/// A table a configuration reads or writes.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub table: String,
    /// `input`, `output`, or `sql` (named by the SQL with its Storage id, no mapping).
    pub kind: String,
    /// The mapping's columns, else the columns the SQL uses there.
    pub columns: Vec<String>,
    pub row_id: Option<String>,
}

#[derive(Debug, Default)]
pub struct Found {
    pub inputs: Vec<Mapped>,
    pub outputs: Vec<Mapped>,
    /// (componentId, configId) of a flow's tasks.
    pub tasks: Vec<(String, String)>,
    /// The SQL analysis summary, for transformations with SQL.
    pub sql: Option<Value>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// A Storage table id: `stage.c-bucket.table` (also `in.c-x.t.csv` as some sources write it).
fn storage_id(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches(".csv");
    let parts: Vec<&str> = name.split('.').collect();
    (parts.len() == 3 && matches!(parts[0], "in" | "out") && parts[1].starts_with("c-") && !parts[2].is_empty()).then(|| name.to_string())
}

/// The name a table has inside the transformation: the mapping's destination, else the last
/// part of its id.
fn local_name(mapping: &Value, key_local: &str, key_storage: &str) -> String {
    let local = mapping[key_local].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    local
        .unwrap_or_else(|| mapping[key_storage].as_str().unwrap_or_default().rsplit('.').next().unwrap_or_default().to_string())
        .trim_end_matches(".csv")
        .to_ascii_lowercase()
}

/// One scope's mappings and SQL (the configuration, or one row).
fn scope(component: &str, configuration: &Value, row_id: Option<&str>, found: &mut Found, sql_summaries: &mut Vec<Value>) {
    let row = row_id.map(str::to_string);
    let legacy = component == "transformation";
    let input_list: Vec<&Value> = configuration
        .pointer("/storage/input/tables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(if legacy { configuration["input"].as_array().into_iter().flatten().collect::<Vec<_>>() } else { Vec::new() })
        .collect();
    let output_list: Vec<&Value> = configuration
        .pointer("/storage/output/tables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(if legacy { configuration["output"].as_array().into_iter().flatten().collect::<Vec<_>>() } else { Vec::new() })
        .collect();

    let (script, dialect) = sql_of(component, configuration);
    let analysis = script.filter(|s| !s.trim().is_empty()).and_then(|s| dialect.map(|d| crate::sqldep::analyze(&s, d)));
    // Columns the SQL uses, per table name as the SQL writes it (lowercase, no `.csv`).
    let mut sql_columns: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    if let Some(a) = &analysis {
        for s in &a.statements {
            for r in &s.reads {
                let cols = sql_columns.entry(r.table.trim_end_matches(".csv").to_ascii_lowercase()).or_default();
                for c in &r.columns {
                    if !cols.contains(c) {
                        cols.push(c.clone());
                    }
                }
            }
        }
    }

    let mut local_inputs = Vec::new();
    for m in &input_list {
        let Some(source) = m["source"].as_str().filter(|s| !s.is_empty()) else { continue };
        let local = local_name(m, "destination", "source");
        let mut columns = strings(&m["columns"]);
        if columns.is_empty() {
            columns = sql_columns.get(&local).cloned().unwrap_or_default();
        }
        local_inputs.push(local);
        found.inputs.push(Mapped { table: source.to_string(), kind: "input".into(), columns, row_id: row.clone() });
    }
    let mut local_outputs = Vec::new();
    for m in &output_list {
        let destination = m["destination"].as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let Some(destination) = destination.or_else(|| m["source"].as_str().and_then(storage_id)) else { continue };
        local_outputs.push(local_name(m, "source", "destination"));
        found.outputs.push(Mapped { table: destination, kind: "output".into(), columns: strings(&m["columns"]), row_id: row.clone() });
    }

    if let Some(a) = analysis {
        // Tables the SQL names by their Storage id without a mapping: edges of their own.
        for name in &a.inputs {
            let lower = name.trim_end_matches(".csv").to_ascii_lowercase();
            if local_inputs.contains(&lower) {
                continue;
            }
            if let Some(id) = storage_id(name) {
                let columns = sql_columns.get(&lower).cloned().unwrap_or_default();
                found.inputs.push(Mapped { table: id, kind: "sql".into(), columns, row_id: row.clone() });
            }
        }
        for name in &a.outputs {
            let lower = name.trim_end_matches(".csv").to_ascii_lowercase();
            if local_outputs.contains(&lower) {
                continue;
            }
            if let Some(id) = storage_id(name) {
                found.outputs.push(Mapped { table: id, kind: "sql".into(), columns: Vec::new(), row_id: row.clone() });
            }
        }
        let errors: Vec<Value> = a.errors.iter().take(10).map(|e| json!({"statement": e.statement, "message": e.message, "line": e.line, "column": e.column})).collect();
        let mut summary = json!({
            "dialect": a.dialect,
            "valid": a.valid,
            "statements": a.statements.len(),
            "reads": a.inputs,
            "writes": a.outputs,
            "errors": errors,
        });
        if let Some(r) = &row {
            summary["rowId"] = json!(r);
        }
        sql_summaries.push(summary);
    }
}

/// The scope's SQL as one script, and its dialect (`None`: no SQL, or not a SQL component).
fn sql_of(component: &str, configuration: &Value) -> (Option<String>, Option<&'static str>) {
    if component == "transformation" {
        let kind = configuration["type"].as_str().unwrap_or("simple").to_ascii_lowercase();
        if matches!(kind.as_str(), "python" | "r" | "openrefine") {
            return (None, None);
        }
        let dialect = match configuration["backend"].as_str().unwrap_or("snowflake").to_ascii_lowercase().as_str() {
            "redshift" => "redshift",
            "mysql" => "mysql",
            "synapse" => "synapse",
            "exasol" => "exasol",
            _ => "snowflake",
        };
        let queries = strings(&configuration["queries"]);
        return ((!queries.is_empty()).then(|| queries.join(";\n")), Some(dialect));
    }
    let Some(dialect) = crate::sqldep::dialect_of_component(component) else { return (None, None) };
    if !component.contains("transformation") {
        return (None, None);
    }
    let mut statements = Vec::new();
    for block in configuration.pointer("/parameters/blocks").and_then(Value::as_array).into_iter().flatten() {
        for code in block["codes"].as_array().into_iter().flatten() {
            match &code["script"] {
                Value::String(s) => statements.push(s.clone()),
                v => statements.extend(strings(v)),
            }
        }
    }
    ((!statements.is_empty()).then(|| statements.join(";\n")), Some(dialect))
}

/// Everything a configuration document says about lineage.
pub fn of_configuration(component: &str, doc: &Value) -> Found {
    let mut found = Found::default();
    let mut sql = Vec::new();
    let configuration = &doc["configuration"];
    if crate::runner::registry::is_orchestrator(component) {
        for t in configuration["tasks"].as_array().into_iter().flatten() {
            let spec = &t["task"];
            if let (Some(c), Some(id)) = (spec["componentId"].as_str(), spec["configId"].as_str().map(str::to_string).or_else(|| spec["configId"].as_i64().map(|i| i.to_string()))) {
                let task = (c.to_string(), id);
                if !found.tasks.contains(&task) {
                    found.tasks.push(task);
                }
            }
        }
        return found;
    }
    scope(component, configuration, None, &mut found, &mut sql);
    for row in doc["rows"].as_array().into_iter().flatten() {
        if row["isDisabled"] == true {
            continue;
        }
        let id = row["id"].as_str().map(str::to_string).unwrap_or_else(|| row["id"].to_string());
        scope(component, &row["configuration"], Some(&id), &mut found, &mut sql);
    }
    found.sql = match sql.len() {
        0 => None,
        1 if sql[0].get("rowId").is_none() => sql.pop(),
        _ => Some(Value::Array(sql)),
    };
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transformation_mappings_and_sql() {
        let doc = json!({"configuration": {
            "storage": {
                "input": {"tables": [{"source": "in.c-ex.orders", "destination": "orders"}]},
                "output": {"tables": [{"source": "summary", "destination": "out.c-tr.summary"}]}
            },
            "parameters": {"blocks": [{"name": "b", "codes": [{"name": "c", "script": [
                "CREATE TABLE summary AS SELECT id, SUM(amount) AS total FROM orders GROUP BY id",
                "INSERT INTO \"out.c-tr.audit\" SELECT * FROM \"in.c-ex.customers\""
            ]}]}]}
        }});
        let f = of_configuration("keboola.snowflake-transformation", &doc);
        let inputs: Vec<(&str, &str)> = f.inputs.iter().map(|m| (m.table.as_str(), m.kind.as_str())).collect();
        assert_eq!(inputs, vec![("in.c-ex.orders", "input"), ("in.c-ex.customers", "sql")]);
        assert_eq!(f.inputs[0].columns, vec!["amount", "id"]);
        let outputs: Vec<(&str, &str)> = f.outputs.iter().map(|m| (m.table.as_str(), m.kind.as_str())).collect();
        assert_eq!(outputs, vec![("out.c-tr.summary", "output"), ("out.c-tr.audit", "sql")]);
        assert_eq!(f.sql.unwrap()["valid"], true);
    }

    #[test]
    fn legacy_transformation_rows() {
        let doc = json!({"configuration": {}, "rows": [{"id": "r1", "configuration": {
            "backend": "snowflake", "type": "simple",
            "input": [{"source": "in.c-a.t", "destination": "t"}],
            "output": [{"source": "o", "destination": "out.c-b.o"}],
            "queries": ["CREATE TABLE o AS SELECT x FROM t"]
        }}]});
        let f = of_configuration("transformation", &doc);
        assert_eq!(f.inputs[0].row_id.as_deref(), Some("r1"));
        assert_eq!(f.inputs[0].columns, vec!["x"]);
        assert_eq!(f.outputs[0].table, "out.c-b.o");
    }
}
