//! Legacy transformations (component `transformation`, also `keboola.legacy-transformation`;
//! notes: services.md §22): a configuration is a bucket, each row one transformation
//! `{name, phase, dependencies: [row ids], backend, type, input: [...], output: [...],
//! queries: [...], disabled}`. The rows run one after another, by `phase` and then
//! `dependencies` (a topological order; a cycle, an unknown dependency or one on a later phase
//! is a user error), each on DuckDB as `transformation::run` runs the modern SQL
//! transformations: Snowflake SQL (`backend: snowflake`) translated first, other SQL backends
//! as written. A query DuckDB rejects fails the job naming the transformation and the query.
use std::cmp::Ordering;

use serde_json::{Value, json};

use crate::http::params::scalar_to_string;

/// One transformation to order: its row id, name, phase and dependencies.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub phase: String,
    pub dependencies: Vec<String>,
}

impl Row {
    pub fn of(id: &str, configuration: &Value) -> Row {
        let name = configuration["name"].as_str().filter(|n| !n.is_empty()).map(str::to_string).unwrap_or_else(|| id.to_string());
        let dependencies = configuration["dependencies"].as_array().into_iter().flatten().filter_map(scalar_to_string).collect();
        Row { id: id.to_string(), name, phase: scalar_to_string(&configuration["phase"]).unwrap_or_else(|| "1".into()), dependencies }
    }
}

/// A transformation the legacy `disabled` flag switches off.
pub fn is_disabled(configuration: &Value) -> bool {
    crate::queue::configs::truthy(&configuration["disabled"])
}

fn phase_cmp(a: &str, b: &str) -> Ordering {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

/// The order to run `rows` in (indexes into it). `known` are every row id of the configuration
/// (a dependency on a transformation not run this time is satisfied; on none at all it is an
/// error).
pub fn order(rows: &[Row], known: &[String]) -> Result<Vec<usize>, String> {
    for r in rows {
        for d in &r.dependencies {
            if !known.contains(d) {
                return Err(format!("Transformation \"{}\" depends on \"{d}\", which is not a transformation of this bucket.", r.name));
            }
            if let Some(dep) = rows.iter().find(|x| &x.id == d) {
                if phase_cmp(&dep.phase, &r.phase) == Ordering::Greater {
                    return Err(format!(
                        "Transformation \"{}\" (phase {}) depends on \"{}\" of a later phase ({}); dependent transformations must be in the same phase or a later one.",
                        r.name, r.phase, dep.name, dep.phase
                    ));
                }
            }
        }
    }
    let mut done: Vec<usize> = Vec::new();
    let mut left: Vec<usize> = (0..rows.len()).collect();
    // Stable: the earliest phase first, then the configuration's order.
    left.sort_by(|a, b| phase_cmp(&rows[*a].phase, &rows[*b].phase).then(a.cmp(b)));
    while !left.is_empty() {
        let ready = left.iter().position(|i| {
            rows[*i].dependencies.iter().all(|d| !rows.iter().any(|x| &x.id == d) || done.iter().any(|j| &rows[*j].id == d))
        });
        let Some(pos) = ready else {
            let names: Vec<&str> = left.iter().map(|i| rows[*i].name.as_str()).collect();
            return Err(format!("Transformations {} depend on each other in a cycle.", names.join(", ")));
        };
        done.push(left.remove(pos));
    }
    Ok(done)
}

fn with_csv(name: &str) -> String {
    if name.ends_with(".csv") { name.to_string() } else { format!("{name}.csv") }
}

/// The keys of a legacy mapping item under their Common Interface names.
fn rename(item: &Value, keys: &[(&str, &str)]) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(o) = item.as_object() {
        for (k, v) in o {
            let name = keys.iter().find(|(legacy, _)| legacy == k).map(|(_, ci)| *ci).unwrap_or(k.as_str());
            out.insert(name.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// The transformation as the configuration `transformation::run` reads: its input tables under
/// their destination names (`orders`, and `orders.csv`), one block with one code per query, the
/// output tables read from the relations the queries created.
pub fn to_runner_configuration(row: &Row, configuration: &Value) -> Result<Value, String> {
    let backend = configuration["backend"].as_str().unwrap_or("snowflake");
    let kind = configuration["type"].as_str().unwrap_or("simple");
    if backend == "docker" || matches!(kind, "python" | "r" | "openrefine" | "julia") {
        return Err(format!(
            "Transformation \"{}\": {kind} transformations (backend \"{backend}\") cannot run on this stack; only SQL transformations run (on DuckDB).",
            row.name
        ));
    }
    let input: Vec<Value> = configuration["input"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let mut m = rename(i, &[("whereColumn", "where_column"), ("whereValues", "where_values"), ("whereOperator", "where_operator"), ("changedSince", "changed_since")]);
            let source = i["source"].as_str().unwrap_or("");
            let destination = i["destination"].as_str().filter(|d| !d.is_empty()).unwrap_or_else(|| source.rsplit('.').next().unwrap_or(source));
            m["destination"] = json!(with_csv(destination));
            m
        })
        .collect();
    let output: Vec<Value> = configuration["output"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let mut m = rename(
                o,
                &[
                    ("primaryKey", "primary_key"),
                    ("deleteWhereColumn", "delete_where_column"),
                    ("deleteWhereValues", "delete_where_values"),
                    ("deleteWhereOperator", "delete_where_operator"),
                ],
            );
            m["source"] = json!(with_csv(o["source"].as_str().unwrap_or("")));
            m
        })
        .collect();
    let queries: Vec<Value> = match &configuration["queries"] {
        Value::Array(q) => q.clone(),
        Value::String(s) => vec![json!(s)],
        _ => Vec::new(),
    };
    let codes: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            json!({
                "name": format!("query #{}", i + 1),
                "place": format!("Transformation \"{}\" (row {}), query #{}", row.name, row.id, i + 1),
                "script": [q],
            })
        })
        .collect();
    Ok(json!({
        "storage": {"input": {"tables": input}, "output": {"tables": output}},
        "parameters": {"backend": backend, "blocks": [{"name": row.name, "codes": codes}]},
        "runtime": configuration["runtime"],
    }))
}

/// Whether the transformation's SQL is Snowflake's (translated before DuckDB runs it).
pub fn is_snowflake(runner_configuration: &Value) -> bool {
    runner_configuration["parameters"]["backend"] == "snowflake"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, phase: &str, deps: &[&str]) -> Row {
        Row { id: id.into(), name: format!("t{id}"), phase: phase.into(), dependencies: deps.iter().map(|d| d.to_string()).collect() }
    }

    #[test]
    fn orders_by_phase_then_dependencies() {
        let rows = vec![row("a", "1", &["b"]), row("c", "2", &[]), row("b", "1", &[])];
        let known: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(order(&rows, &known).unwrap(), vec![2, 0, 1]);
        // phases compare as numbers
        let rows = vec![row("x", "10", &[]), row("y", "9", &[])];
        assert_eq!(order(&rows, &["x".into(), "y".into()]).unwrap(), vec![1, 0]);
    }

    #[test]
    fn refuses_cycles_unknown_and_later_phase_dependencies() {
        let known: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        assert!(order(&[row("a", "1", &["b"]), row("b", "1", &["a"])], &known).unwrap_err().contains("cycle"));
        assert!(order(&[row("a", "1", &["zzz"])], &known).unwrap_err().contains("zzz"));
        assert!(order(&[row("a", "1", &["b"]), row("b", "2", &[])], &known).unwrap_err().contains("later phase"));
        // a dependency that exists but is not run this time is satisfied
        assert_eq!(order(&[row("a", "1", &["b"])], &known).unwrap(), vec![0]);
    }

    #[test]
    fn converts_mappings_and_queries() {
        let cfg = json!({"name": "Clean", "backend": "snowflake", "type": "simple",
            "input": [{"source": "in.c-main.orders", "destination": "orders", "whereColumn": "s", "whereValues": ["x"]}],
            "output": [{"source": "clean", "destination": "out.c-main.clean", "primaryKey": ["id"]}],
            "queries": ["CREATE TABLE clean AS SELECT * FROM orders", "SELECT 1"]});
        let c = to_runner_configuration(&Row::of("7", &cfg), &cfg).unwrap();
        assert_eq!(c["storage"]["input"]["tables"][0]["destination"], "orders.csv");
        assert_eq!(c["storage"]["input"]["tables"][0]["where_column"], "s");
        assert_eq!(c["storage"]["output"]["tables"][0]["source"], "clean.csv");
        assert_eq!(c["storage"]["output"]["tables"][0]["primary_key"], json!(["id"]));
        assert_eq!(c["parameters"]["blocks"][0]["codes"][1]["place"], "Transformation \"Clean\" (row 7), query #2");
        assert!(is_snowflake(&c));
        assert!(to_runner_configuration(&Row::of("8", &json!({"backend": "docker", "type": "python"})), &json!({"backend": "docker", "type": "python"})).is_err());
    }
}
