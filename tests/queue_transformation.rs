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

const SNOWFLAKE: &str = "keboola.snowflake-transformation";

/// A server whose runner's Python has sqlglot (the test venv), or None: the test is skipped.
fn server_with_sqlglot(test: &str) -> Option<Server> {
    let Some(python) = common::venv_python("sqlglot") else {
        eprintln!("{test}: no Python with sqlglot (KBSTACK_TEST_PYTHON or the test venv); not run");
        return None;
    };
    Some(Server::start_with_env(&[("KBSTACK_TRANSFORMATION_PYTHON", &python.display().to_string())]))
}

fn job_events(s: &Server, job_id: &str) -> Vec<String> {
    let (st, ev) = s.get(&format!("events?runId={job_id}&limit=1000"));
    assert_eq!(st, 200, "{ev}");
    ev.as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap_or("").to_string()).collect()
}

#[test]
fn snowflake_transformation_runs_translated_snowflake_sql() {
    let Some(s) = server_with_sqlglot("snowflake_transformation_runs_translated_snowflake_sql") else { return };
    let (st, b) = s.post_form("buckets", &[("name", "sales"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let (st, t) = s.post_form(
        "buckets/in.c-sales/tables",
        &[("name", "orders"), ("dataString", "id,Customer,amount,created_at\n1,Ann,10.50,2024-01-05\n2,Bob,abc,2024-02-10\n3,Ann,99.99,2024-03-01\n")],
    );
    assert_eq!(st, 201, "{t}");
    create_config(
        &s,
        SNOWFLAKE,
        "sf",
        json!({
            "storage": {
                "input": {"tables": [{"source": "in.c-sales.orders", "destination": "orders"}]},
                "output": {"tables": [{"source": "by_customer", "destination": "out.c-report.by_customer"}]}
            },
            "parameters": {"blocks": [
                {"name": "setup", "codes": [{"name": "session", "script": [
                    "ALTER SESSION SET MULTI_STATEMENT_COUNT = 0;",
                    "USE WAREHOUSE \"KEBOOLA_PROD\";"
                ]}]},
                {"name": "transform", "codes": [{"name": "typed", "script": [
                    "CREATE OR REPLACE TABLE \"typed\" AS SELECT \"id\"::INTEGER AS \"id\", \"Customer\", TRY_TO_NUMBER(\"amount\", 10, 2) AS \"amount\", TO_DATE(\"created_at\") AS \"created\" FROM \"orders\";",
                    "CREATE OR REPLACE TABLE \"by_customer\" AS\nSELECT \"Customer\",\n  LISTAGG(\"id\"::VARCHAR, ',') WITHIN GROUP (ORDER BY \"id\") AS \"Ids\",\n  SUM(NVL(\"amount\", 0)) AS \"Total\",\n  IFF(COUNT(*) > 1, 'repeat', 'once') AS \"Kind\",\n  TO_VARCHAR(DATEADD(day, 1, MAX(\"created\")), 'YYYY-MM-DD') AS \"Next\"\nFROM \"typed\" GROUP BY \"Customer\"\nQUALIFY ROW_NUMBER() OVER (ORDER BY \"Customer\") <= 2;"
                ]}]}
            ]}
        }),
        vec![],
        false,
    );
    let j = create_job(&s, json!({"component": SNOWFLAKE, "config": "sf"}));
    let done = wait_finished(&s, &id(&j), 120);
    assert_eq!(done["status"], "success", "{done}");
    let mut rows = table_rows(&s, "out.c-report.by_customer");
    rows.sort();
    assert_eq!(rows, vec![vec!["Ann", "1,3", "110.49", "repeat", "2024-03-02"], vec!["Bob", "2", "0.00", "once", "2024-02-11"]]);
    let (st, table) = s.get("tables/out.c-report.by_customer");
    assert_eq!(st, 200, "{table}");
    assert_eq!(table["columns"], json!(["Customer", "Ids", "Total", "Kind", "Next"]));
    let events = job_events(&s, &id(&j));
    assert!(events.iter().any(|e| e.contains("skipped \"ALTER SESSION SET MULTI_STATEMENT_COUNT = 0\"")), "{events:#?}");
    assert!(events.iter().any(|e| e.contains("skipped \"USE WAREHOUSE")), "{events:#?}");
}

#[test]
fn snowflake_transformation_names_an_untranslatable_statement() {
    let Some(s) = server_with_sqlglot("snowflake_transformation_names_an_untranslatable_statement") else { return };
    let j = create_job(&s, json!({"component": SNOWFLAKE, "configData": {"parameters": {"blocks": [
        {"name": "load", "codes": [{"name": "stage", "script": [
            "CREATE TABLE \"a\" AS SELECT 1 AS x;\nCREATE OR REPLACE STAGE my_stage URL = 's3://bucket/path';"
        ]}]}
    ]}}}));
    let e = wait_finished(&s, &id(&j), 120);
    assert_eq!(e["status"], "error", "{e}");
    assert_eq!(e["result"]["error"]["type"], "user", "{e}");
    let msg = e["result"]["message"].as_str().unwrap();
    assert!(msg.contains("Block \"load\", code \"stage\"") && msg.contains("CREATE OR REPLACE STAGE my_stage"), "{msg}");

    // A translated statement DuckDB refuses names the Snowflake statement and what ran.
    let j = create_job(&s, json!({"component": SNOWFLAKE, "configData": {"parameters": {"blocks": [
        {"name": "b", "codes": [{"name": "c", "script": ["SELECT NVL(x, 0) FROM \"no_such_table\""]}]}
    ]}}}));
    let e = wait_finished(&s, &id(&j), 120);
    assert_eq!(e["result"]["error"]["type"], "user", "{e}");
    let msg = e["result"]["message"].as_str().unwrap();
    assert!(msg.contains("NVL(x, 0)") && msg.contains("COALESCE(x, 0)") && msg.contains("no_such_table"), "{msg}");
}

#[test]
fn snowflake_transformation_without_sqlglot_says_how_to_install_it() {
    let s = Server::start_with_env(&[("KBSTACK_TRANSFORMATION_PYTHON", "/nonexistent/python3")]);
    let j = create_job(&s, json!({"component": SNOWFLAKE, "configData": {"parameters": {"blocks": [
        {"name": "b", "codes": [{"name": "c", "script": ["SELECT 1"]}]}
    ]}}}));
    let e = wait_finished(&s, &id(&j), 60);
    assert_eq!(e["result"]["error"]["type"], "user", "{e}");
    let msg = e["result"]["message"].as_str().unwrap();
    assert!(msg.contains("sqlglot") && msg.contains("pip install"), "{msg}");
}
