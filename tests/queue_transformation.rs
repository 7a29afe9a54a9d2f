//! `keboola.duckdb-transformation` through the real binary: input tables as views by file name,
//! blocks in order, outputs named after the output file, SQL errors as user errors.
mod common;
mod queue_support;

use common::Server;
use queue_support::*;
use serde_json::json;

const DUCKDB: &str = "keboola.duckdb-transformation";

#[test]
fn duckdb_transformation_blocks_inputs_and_outputs() {
    let s = Server::start();
    let (st, b) = s.post_form("buckets", &[("name", "sales"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let (st, t) = s.post_form(
        "buckets/in.c-sales/tables",
        &[("name", "orders"), ("dataString", "id,city,amount\n1,Prague,10\n2,Brno,5\n3,Prague,7\n")],
    );
    assert_eq!(st, 201, "{t}");
    create_config(
        &s,
        DUCKDB,
        "t1",
        json!({
            "storage": {
                "input": {"tables": [{"source": "in.c-sales.orders", "destination": "orders.csv"}]},
                "output": {"tables": [{"source": "by_city.csv", "destination": "out.c-report.by_city", "primary_key": ["city"]}]}
            },
            "parameters": {"blocks": [
                {"name": "prepare", "codes": [{"name": "typed", "script": [
                    "CREATE TABLE typed AS SELECT city, CAST(amount AS INTEGER) AS amount FROM \"orders.csv\";"
                ]}]},
                {"name": "aggregate", "codes": [{"name": "sum", "script": [
                    "CREATE TABLE \"by_city.csv\" AS SELECT city, SUM(amount) AS total, COUNT(*) AS orders FROM typed GROUP BY city ORDER BY city;"
                ]}]}
            ]}
        }),
        vec![],
        false,
    );
    let j = create_job(&s, json!({"component": DUCKDB, "config": "t1"}));
    let done = wait_finished(&s, &id(&j), 60);
    assert_eq!(done["status"], "success", "{done}");
    let (st, preview) = s.get("tables/out.c-report.by_city/data-preview?format=json");
    assert_eq!(st, 200, "{preview}");
    let mut rows: Vec<Vec<String>> = preview["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|c| c["value"].as_str().unwrap().to_string()).collect())
        .collect();
    rows.sort();
    assert_eq!(rows, vec![vec!["Brno", "5", "1"], vec!["Prague", "17", "2"]]);

    // A failing statement is a user error naming the block and the query.
    let j = create_job(&s, json!({"component": DUCKDB, "configData": {"parameters": {"blocks": [
        {"name": "broken", "codes": [{"name": "c", "script": ["SELECT * FROM no_such_table"]}]}
    ]}}}));
    let e = wait_finished(&s, &id(&j), 60);
    assert_eq!(e["status"], "error");
    assert_eq!(e["result"]["error"]["type"], "user");
    let msg = e["result"]["message"].as_str().unwrap();
    assert!(msg.contains("broken") && msg.contains("no_such_table"), "{msg}");

    // An output the script never created.
    let j = create_job(&s, json!({"component": DUCKDB, "configData": {
        "storage": {"output": {"tables": [{"source": "missing.csv", "destination": "out.c-x.missing"}]}},
        "parameters": {"blocks": [{"name": "b", "codes": [{"name": "c", "script": ["SELECT 1"]}]}]}
    }}));
    let e = wait_finished(&s, &id(&j), 60);
    assert_eq!(e["status"], "error");
    assert!(e["result"]["message"].as_str().unwrap().contains("missing.csv"), "{e}");
}
