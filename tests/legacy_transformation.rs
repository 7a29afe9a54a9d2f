//! Legacy transformations (component `transformation`) through the real binary: rows are
//! transformations run on DuckDB in phase and dependency order, Snowflake SQL translated, and a
//! query DuckDB rejects fails the job with a user error naming the transformation and query.
mod common;
mod queue_support;

use common::Server;
use queue_support::*;
use serde_json::{Value, json};

const LEGACY: &str = "transformation";

fn bucket_with_orders(s: &Server) {
    let (st, b) = s.post_form("buckets", &[("name", "shop"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let (st, t) = s.post_form(
        "buckets/in.c-shop/tables",
        &[("name", "orders"), ("dataString", "id,city,amount\n1,Prague,10\n2,Brno,5\n3,Prague,7\n")],
    );
    assert_eq!(st, 201, "{t}");
}

/// A server whose runner has a Python with sqlglot (Snowflake SQL translation); None (the test
/// is skipped, as the Snowflake transformation tests are) without one.
fn server() -> Option<Server> {
    let Some(python) = common::venv_python("sqlglot") else {
        eprintln!("legacy_transformation: no Python with sqlglot (KBSTACK_TEST_PYTHON or the test venv); not run");
        return None;
    };
    Some(Server::start_with_env(&[("KBSTACK_TRANSFORMATION_PYTHON", &python.display().to_string())]))
}

/// A row as the legacy UI stored it.
fn row(id: &str, configuration: Value) -> Value {
    json!({"id": id, "configuration": configuration})
}

#[test]
fn two_dependent_rows_run_in_dependency_order() {
    let Some(s) = server() else { return };
    bucket_with_orders(&s);
    // Row "b" is listed first but depends on "a": "a" must run first (its output is "b"'s input).
    create_config(
        &s,
        LEGACY,
        "legacy1",
        json!({}),
        vec![
            row("b", json!({
                "name": "Report", "phase": 1, "dependencies": ["a"], "backend": "snowflake", "type": "simple",
                "input": [{"source": "out.c-stage.typed", "destination": "typed"}],
                "output": [{"source": "by_city", "destination": "out.c-report.by_city", "primaryKey": ["city"]}],
                "queries": ["CREATE TABLE \"by_city\" AS SELECT \"city\", SUM(TO_NUMBER(\"amount\"))::INTEGER AS \"total\" FROM \"typed\" GROUP BY \"city\" ORDER BY \"city\";"]
            })),
            row("a", json!({
                "name": "Typed orders", "phase": "1", "dependencies": [], "backend": "snowflake", "type": "simple",
                "input": [{"source": "in.c-shop.orders", "destination": "orders"}],
                "output": [{"source": "typed", "destination": "out.c-stage.typed"}],
                "queries": ["CREATE TABLE \"typed\" AS SELECT \"city\", TO_NUMBER(\"amount\") AS \"amount\" FROM \"orders\";"]
            })),
            // Disabled: not run.
            row("c", json!({"name": "Off", "disabled": true, "backend": "snowflake", "type": "simple", "queries": ["SELECT * FROM nowhere"]})),
        ],
        false,
    );
    let j = create_job(&s, json!({"component": LEGACY, "config": "legacy1"}));
    let done = wait_finished(&s, &id(&j), 120);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(s.preview_rows("out.c-report.by_city", ""), vec![vec!["Brno", "5"], vec!["Prague", "17"]]);
    let outputs: Vec<&str> = done["result"]["output"]["tables"].as_array().unwrap().iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(outputs, vec!["out.c-stage.typed", "out.c-report.by_city"], "a before b: {done}");

    // Only the asked-for row runs (its dependency exists, so it is satisfied).
    let j = create_job(&s, json!({"component": LEGACY, "config": "legacy1", "configRowIds": ["b"]}));
    assert_eq!(wait_finished(&s, &id(&j), 120)["status"], "success");
}

#[test]
fn rejected_queries_cycles_and_unknown_dependencies_are_user_errors() {
    let Some(s) = server() else { return };
    bucket_with_orders(&s);
    create_config(
        &s,
        LEGACY,
        "broken",
        json!({}),
        vec![row("q", json!({
            "name": "Uses Snowflake only", "phase": 1, "backend": "snowflake", "type": "simple",
            "input": [{"source": "in.c-shop.orders", "destination": "orders"}],
            "queries": ["CREATE TABLE ok AS SELECT * FROM \"orders\";", "CREATE TABLE bad AS SELECT \"no_such_column\" FROM \"orders\";"]
        }))],
        false,
    );
    let j = create_job(&s, json!({"component": LEGACY, "config": "broken"}));
    let e = wait_finished(&s, &id(&j), 120);
    assert_eq!(e["status"], "error", "{e}");
    assert_eq!(e["result"]["error"]["type"], "user", "{e}");
    let msg = e["result"]["message"].as_str().unwrap();
    assert!(msg.contains("Uses Snowflake only") && msg.contains("query #2"), "names the transformation and the query: {msg}");

    create_config(
        &s,
        LEGACY,
        "cycle",
        json!({}),
        vec![
            row("x", json!({"name": "X", "phase": 1, "dependencies": ["y"], "backend": "snowflake", "queries": ["SELECT 1"]})),
            row("y", json!({"name": "Y", "phase": 1, "dependencies": ["x"], "backend": "snowflake", "queries": ["SELECT 1"]})),
        ],
        false,
    );
    let e = wait_finished(&s, &id(&create_job(&s, json!({"component": LEGACY, "config": "cycle"}))), 60);
    assert_eq!(e["status"], "error");
    assert!(e["result"]["message"].as_str().unwrap().contains("cycle"), "{e}");

    create_config(
        &s,
        LEGACY,
        "unknown",
        json!({}),
        vec![row("u", json!({"name": "U", "phase": 1, "dependencies": ["ghost"], "backend": "snowflake", "queries": ["SELECT 1"]}))],
        false,
    );
    let e = wait_finished(&s, &id(&create_job(&s, json!({"component": LEGACY, "config": "unknown"}))), 60);
    assert_eq!(e["status"], "error");
    assert_eq!(e["result"]["error"]["type"], "user");
    assert!(e["result"]["message"].as_str().unwrap().contains("ghost"), "{e}");
}

/// SQL of other backends (Redshift, MySQL…) runs on DuckDB as written (no translation, no
/// sqlglot needed); a python transformation is refused as a user error.
#[test]
fn other_sql_backends_run_as_written_and_docker_types_are_refused() {
    let s = Server::start();
    bucket_with_orders(&s);
    create_config(
        &s,
        LEGACY,
        "redshift",
        json!({}),
        vec![row("r", json!({
            "name": "Count", "phase": 1, "backend": "redshift", "type": "simple",
            "input": [{"source": "in.c-shop.orders", "destination": "orders"}],
            "output": [{"source": "n", "destination": "out.c-rs.n"}],
            "queries": ["CREATE TABLE n AS SELECT COUNT(*) AS orders FROM orders"]
        }))],
        false,
    );
    let done = wait_finished(&s, &id(&create_job(&s, json!({"component": LEGACY, "config": "redshift"}))), 60);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(s.preview_rows("out.c-rs.n", ""), vec![vec!["3"]]);

    create_config(&s, LEGACY, "py", json!({}), vec![row("p", json!({"name": "Py", "backend": "docker", "type": "python", "queries": ["print(1)"]}))], false);
    let e = wait_finished(&s, &id(&create_job(&s, json!({"component": LEGACY, "config": "py"}))), 60);
    assert_eq!(e["status"], "error");
    assert_eq!(e["result"]["error"]["type"], "user");
    assert!(e["result"]["message"].as_str().unwrap().contains("python"), "{e}");
}
