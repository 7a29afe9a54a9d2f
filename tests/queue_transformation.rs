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
    assert_eq!(table_rows(&s, "out.c-report.by_city"), vec![vec!["Brno", "5", "1"], vec!["Prague", "17", "2"]]);

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

fn table_rows(s: &Server, table: &str) -> Vec<Vec<String>> {
    s.preview_rows(table, "")
}

#[test]
fn python_transformation_runs_script_blocks() {
    let s = Server::start();
    let (st, _) = s.post_form("buckets", &[("name", "py"), ("stage", "in")]);
    assert_eq!(st, 201);
    let (st, t) = s.post_form("buckets/in.c-py/tables", &[("name", "n"), ("dataString", "x\n1\n2\n3\n")]);
    assert_eq!(st, 201, "{t}");
    let j = create_job(&s, json!({"component": "keboola.python-transformation-v2", "configData": {
        "storage": {"input": {"tables": [{"source": "in.c-py.n", "destination": "n.csv"}]},
                    "output": {"tables": [{"source": "sq.csv", "destination": "out.c-py.sq"}]}},
        "parameters": {"blocks": [{"name": "b", "codes": [
            {"name": "read", "script": ["import csv", "rows = list(csv.DictReader(open('in/tables/n.csv')))"]},
            {"name": "write", "script": ["w = csv.writer(open('out/tables/sq.csv', 'w', newline=''))\nw.writerow(['x', 'sq'])\nfor r in rows:\n    w.writerow([r['x'], int(r['x']) ** 2])\nprint('squared', len(rows))"]}
        ]}]}
    }}));
    let done = wait_finished(&s, &id(&j), 60);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(table_rows(&s, "out.c-py.sq"), vec![vec!["1", "1"], vec!["2", "4"], vec!["3", "9"]]);
    let j = create_job(&s, json!({"component": "keboola.python-transformation-v2", "configData": {
        "parameters": {"blocks": [{"name": "b", "codes": [{"name": "c", "script": ["raise ValueError('bad data in row 7')"]}]}]}
    }}));
    let e = wait_finished(&s, &id(&j), 60);
    assert_eq!(e["status"], "error");
    assert!(e["result"]["message"].as_str().unwrap().contains("bad data in row 7"), "{e}");
}

#[test]
fn variables_render_configurations() {
    let s = Server::start();
    let (st, _) = s.post_form("buckets", &[("name", "v"), ("stage", "in")]);
    assert_eq!(st, 201);
    let (st, t) = s.post_form("buckets/in.c-v/tables", &[("name", "orders"), ("dataString", "id,city\n1,Prague\n2,Brno\n3,Brno\n")]);
    assert_eq!(st, 201, "{t}");
    create_config(
        &s,
        "keboola.variables",
        "vars",
        json!({"variables": [{"name": "city", "type": "string"}]}),
        vec![json!({"id": "defaults", "configuration": {"values": [{"name": "city", "value": "Brno"}]}})],
        false,
    );
    let cfg = |with_default: bool| {
        let mut c = json!({
            "variables_id": "vars",
            "storage": {"input": {"tables": [{"source": "in.c-v.orders", "destination": "orders.csv"}]},
                        "output": {"tables": [{"source": "picked.csv", "destination": "out.c-v.picked"}]}},
            "parameters": {"blocks": [{"name": "b", "codes": [{"name": "c", "script": [
                "CREATE TABLE \"picked.csv\" AS SELECT id FROM orders WHERE city = '{{ city }}'"
            ]}]}]}
        });
        if with_default {
            c["variables_values_id"] = json!("defaults");
        }
        c
    };
    create_config(&s, DUCKDB, "with-default", cfg(true), vec![], false);
    create_config(&s, DUCKDB, "no-default", cfg(false), vec![], false);
    let j = create_job(&s, json!({"component": DUCKDB, "config": "with-default"}));
    let done = wait_finished(&s, &id(&j), 60);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(table_rows(&s, "out.c-v.picked"), vec![vec!["2"], vec!["3"]]);
    assert_eq!(done["result"]["variables"], json!([{"name": "city", "value": "Brno"}]));

    let j = create_job(&s, json!({"component": DUCKDB, "config": "with-default", "variableValuesData": {"values": [{"name": "city", "value": "Prague"}]}}));
    assert_eq!(wait_finished(&s, &id(&j), 60)["status"], "success");
    assert_eq!(table_rows(&s, "out.c-v.picked"), vec![vec!["1"]]);

    let j = create_job(&s, json!({"component": DUCKDB, "config": "no-default"}));
    let e = wait_finished(&s, &id(&j), 60);
    assert_eq!(e["status"], "error");
    assert_eq!(e["result"]["error"]["type"], "user");
    assert!(e["result"]["message"].as_str().unwrap().contains("Missing values for placeholders: city"), "{e}");
}
