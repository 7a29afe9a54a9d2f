//! The SQLdep analyzer through the real binary: statements with the tables and columns they read
//! and write in several dialects, parse errors with positions in the whole script, refusals in
//! the service's envelope.
mod common;

use common::{MASTER_TOKEN, Server};
use serde_json::{Value, json};

fn post(s: &Server, path: &str, body: Value) -> (u16, Value) {
    s.send(s.client.post(format!("{}/sqldep-analyzer/v1/{path}", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body))
}

fn tables(uses: &Value) -> Vec<&str> {
    uses.as_array().unwrap().iter().map(|u| u["table"].as_str().unwrap()).collect()
}

#[test]
fn statements_read_and_write_tables_and_columns() {
    let s = Server::start();
    let sql = "CREATE TABLE \"summary\" AS\n  SELECT o.\"customer_id\", SUM(o.amount) AS total\n  FROM \"orders\" o JOIN \"customers\" c ON c.id = o.customer_id\n  GROUP BY 1;\n\
               INSERT INTO \"out.c-main\".\"report\" (customer_id, total) SELECT customer_id, total FROM \"summary\";\n\
               DROP TABLE \"summary\"";
    let (st, a) = post(&s, "analyze", json!({"sql": sql, "dialect": "snowflake"}));
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["valid"], true, "{a}");
    let stmts = a["statements"].as_array().unwrap();
    assert_eq!(stmts.len(), 3);
    assert_eq!(stmts[0]["type"], "CREATE TABLE");
    assert_eq!(tables(&stmts[0]["reads"]), vec!["orders", "customers"]);
    assert_eq!(stmts[0]["reads"][0]["columns"], json!(["amount", "customer_id"]));
    assert_eq!(stmts[0]["reads"][1]["columns"], json!(["id"]));
    assert_eq!(stmts[0]["writes"][0], json!({"table": "summary", "columns": ["customer_id", "total"]}));
    assert_eq!(stmts[1]["type"], "INSERT");
    assert_eq!(tables(&stmts[1]["writes"]), vec!["out.c-main.report"]);
    assert_eq!(stmts[1]["start"], json!({"line": 5, "column": 1}));
    assert_eq!(stmts[2]["type"], "DROP");
    assert_eq!(a["inputs"], json!(["orders", "customers"]), "summary is the script's own table");
    assert_eq!(a["outputs"], json!(["summary", "out.c-main.report"]));

    // Statements as a list, DuckDB dialect, CTEs are not tables.
    let (st, a) = post(&s, "analyze", json!({"sql": ["WITH w AS (SELECT * FROM read_src) SELECT a FROM w", "UPDATE t SET x = 1 WHERE y > 2"], "dialect": "duckdb"}));
    assert_eq!(st, 200, "{a}");
    assert_eq!(tables(&a["statements"][0]["reads"]), vec!["read_src"]);
    assert_eq!(a["statements"][0]["ctes"], json!(["w"]));
    assert_eq!(a["statements"][1]["type"], "UPDATE");
    assert_eq!(a["statements"][1]["writes"][0]["columns"], json!(["x"]));
}

#[test]
fn parse_errors_carry_positions_and_do_not_hide_other_statements() {
    let s = Server::start();
    let sql = "SELECT 1;\nSELECT a FROM t WHERE;\n  SELECT b FROM u";
    let (st, a) = post(&s, "analyze", json!({"sql": sql, "dialect": "postgres"}));
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["valid"], false);
    let errors = a["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{a}");
    assert_eq!((errors[0]["statement"].as_u64(), errors[0]["line"].as_u64()), (Some(1), Some(2)), "{a}");
    assert!(errors[0]["column"].as_u64().unwrap() >= 21, "{a}");
    assert_eq!(a["statements"][1]["type"], "INVALID");
    assert_eq!(tables(&a["statements"][2]["reads"]), vec!["u"]);
    assert_eq!(a["statements"][2]["start"], json!({"line": 3, "column": 3}));

    let (st, v) = post(&s, "validate", json!({"sql": sql, "dialect": "postgres"}));
    assert_eq!(st, 200, "{v}");
    assert_eq!((v["valid"].as_bool(), v["statements"].as_u64()), (Some(false), Some(3)), "{v}");

    // An unterminated string is a tokenizer error, still with a position.
    let (_, a) = post(&s, "validate", json!({"sql": "SELECT 'abc", "dialect": "bigquery"}));
    assert_eq!(a["valid"], false, "{a}");
    assert!(a["errors"][0]["line"].as_u64().is_some(), "{a}");

    // Dialects differ: `QUALIFY` is Snowflake's.
    let q = "SELECT a FROM t QUALIFY ROW_NUMBER() OVER (PARTITION BY a ORDER BY b) = 1";
    assert_eq!(post(&s, "validate", json!({"sql": q, "dialect": "snowflake"})).1["valid"], true);
}

#[test]
fn refusals_are_in_the_services_envelope() {
    let s = Server::start();
    for body in [json!({"dialect": "duckdb"}), json!({"sql": "SELECT 1", "dialect": "cobol"}), json!({"sql": 7}), json!({"sql": "  "})] {
        let (st, e) = post(&s, "analyze", body.clone());
        assert_eq!(st, 400, "{body}: {e}");
        assert!(e["code"] == 400 && e["status"] == "error" && e["exceptionId"].as_str().unwrap().starts_with("sqldep-"), "{e}");
    }
    let (st, e) = s.send(s.client.post(format!("{}/sqldep-analyzer/v1/analyze", s.url)).json(&json!({"sql": "SELECT 1"})));
    assert_eq!((st, e["code"].as_u64()), (401, Some(401)), "{e}");
    let (st, d) = s.send(s.client.get(format!("{}/sqldep-analyzer/v1/dialects", s.url)).header("X-StorageApi-Token", MASTER_TOKEN));
    assert_eq!(st, 200);
    assert!(d.as_array().unwrap().iter().any(|x| x == "duckdb"), "{d}");
}
