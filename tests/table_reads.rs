//! Preview formats, every filter and operator, ordering, limits, row deletion.
mod common;

use common::Server;
use serde_json::{Value, json};

fn setup(s: &Server) -> String {
    let (st, b) = s.post_json("buckets", json!({"name": "reads", "stage": "in"}));
    assert_eq!(st, 201, "{b}");
    let csv = "id,name,amount\n1,alice,10\n2,bob,9\n3,carol,100\n4,dave,\n";
    let (st, t) = s.post_form("buckets/in.c-reads/tables", &[("name", "people"), ("dataString", csv), ("primaryKey", "id")]);
    assert_eq!(st, 201, "{t}");
    t["id"].as_str().unwrap().to_string()
}

fn ids(s: &Server, t: &str, query: &str) -> Vec<String> {
    let (st, body) = s.get(&format!("tables/{t}/data-preview?format=json{query}"));
    assert_eq!(st, 200, "{query}: {body}");
    body["rows"].as_array().unwrap().iter().map(|r| r[0]["value"].as_str().unwrap().to_string()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn preview_csv_has_a_quoted_header_and_quoted_values() {
    let s = Server::start();
    let t = setup(&s);
    let resp = s.client.get(s.api(&format!("tables/{t}/data-preview?columns=name,id&orderBy[0][column]=id"))).header("X-StorageApi-Token", common::MASTER_TOKEN).send().unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().unwrap();
    assert_eq!(body, "\"name\",\"id\"\n\"alice\",\"1\"\n\"bob\",\"2\"\n\"carol\",\"3\"\n\"dave\",\"4\"\n");
}

#[test]
fn where_filters_with_every_operator() {
    let s = Server::start();
    let t = setup(&s);
    let f = |op: &str, vals: &[&str], dt: Option<&str>| {
        let mut q = format!("&whereFilters[0][column]=amount&whereFilters[0][operator]={op}");
        for (i, v) in vals.iter().enumerate() {
            q.push_str(&format!("&whereFilters[0][values][{i}]={v}"));
        }
        if let Some(dt) = dt {
            q.push_str(&format!("&whereFilters[0][dataType]={dt}"));
        }
        sorted(ids(&s, &t, &q))
    };
    assert_eq!(f("eq", &["10", "100"], None), ["1", "3"]);
    assert_eq!(f("ne", &["10", "100"], None), ["2", "4"]);
    assert_eq!(f("eq", &[""], None), ["4"]);
    // Text comparison without a dataType ("9" and "100" sort after "10"), numeric with one.
    assert_eq!(f("gt", &["10"], None), ["2", "3"]);
    assert_eq!(f("gt", &["10"], Some("INTEGER")), ["3"]);
    assert_eq!(f("ge", &["10"], Some("DOUBLE")), ["1", "3"]);
    assert_eq!(f("lt", &["10"], Some("INTEGER")), ["2"]);
    assert_eq!(f("le", &["10"], Some("BIGINT")), ["1", "2"]);
    // Filters are ANDed.
    assert_eq!(
        sorted(ids(&s, &t, "&whereFilters[0][column]=amount&whereFilters[0][operator]=ge&whereFilters[0][values][0]=9&whereFilters[0][dataType]=INTEGER&whereFilters[1][column]=name&whereFilters[1][operator]=ne&whereFilters[1][values][0]=bob")),
        ["1", "3"]
    );
    // The deprecated form, as kbcstorage sends it.
    assert_eq!(sorted(ids(&s, &t, "&whereColumn=name&whereValues[]=bob&whereValues[]=dave&whereOperator=eq")), ["2", "4"]);
    assert_eq!(sorted(ids(&s, &t, "&whereColumn=name&whereValues[]=bob&whereOperator=ne")), ["1", "3", "4"]);
}

#[test]
fn order_limit_and_columns() {
    let s = Server::start();
    let t = setup(&s);
    assert_eq!(ids(&s, &t, "&orderBy[0][column]=amount&orderBy[0][order]=DESC&orderBy[0][dataType]=INTEGER&limit=2"), ["3", "1"]);
    assert_eq!(ids(&s, &t, "&orderBy[0][column]=name&orderBy[0][order]=DESC"), ["4", "3", "2", "1"]);
    let (st, body) = s.get(&format!("tables/{t}/data-preview?format=json&columns=name&limit=1&orderBy[0][column]=id"));
    assert_eq!(st, 200);
    assert_eq!(body["columns"], json!(["name"]));
    assert_eq!(body["rows"], json!([[{"columnName": "name", "value": "alice", "isTruncated": false}]]));
}

#[test]
fn bad_filters_are_client_errors() {
    let s = Server::start();
    let t = setup(&s);
    for (query, code) in [
        ("&whereFilters[0][column]=nope&whereFilters[0][values][0]=1", "storage.tables.columnNotExists"),
        ("&whereFilters[0][column]=id&whereFilters[0][operator]=like&whereFilters[0][values][0]=1", "validation.failed"),
        ("&whereFilters[0][column]=id&whereFilters[0][operator]=gt&whereFilters[0][values][0]=1&whereFilters[0][values][1]=2", "validation.failed"),
        ("&columns=nope", "storage.tables.columnNotExists"),
        ("&changedSince=not-a-time", "validation.failed"),
        ("&orderBy[0][column]=id&orderBy[0][order]=sideways", "validation.failed"),
    ] {
        let (st, body) = s.get(&format!("tables/{t}/data-preview?format=json{query}"));
        assert_eq!(st, 400, "{query}: {body}");
        assert_eq!(body["code"], code, "{query}");
        assert!(body["exceptionId"].is_string());
        assert_eq!(body["status"], "error");
    }
}

#[test]
fn delete_rows_with_filters_and_the_truncate_rule() {
    let s = Server::start();
    let t = setup(&s);
    let (st, body) = s.send(s.client.delete(s.api(&format!("tables/{t}/rows"))).header("X-StorageApi-Token", common::MASTER_TOKEN).json(&json!({})));
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["code"], "storage.tables.validation.unintendedTruncation");
    let (st, job) = s.send(
        s.client
            .delete(s.api(&format!("tables/{t}/rows")))
            .header("X-StorageApi-Token", common::MASTER_TOKEN)
            .json(&json!({"whereFilters": [{"column": "name", "operator": "eq", "values": ["bob", "carol"]}]})),
    );
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["results"]["deletedRows"], 2);
    assert_eq!(sorted(ids(&s, &t, "")), ["1", "4"]);
    // The same filter as a query string (PHP deleteTableRowsAsQuery).
    let (st, job) = s.delete(&format!("tables/{t}/rows?whereColumn=id&whereValues[0]=4"));
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
    assert_eq!(ids(&s, &t, ""), ["1"]);
    let (st, job) = s.delete(&format!("tables/{t}/rows?allowTruncate=1"));
    assert_eq!(st, 202);
    assert_eq!(s.wait_job(&job)["results"]["deletedRows"], 1);
    let (_, detail) = s.get(&format!("tables/{t}"));
    assert_eq!(detail["rowsCount"], 0);
}

#[test]
fn jobs_are_readable_and_listed() {
    let s = Server::start();
    let t = setup(&s);
    let (st, job) = s.post_json(&format!("tables/{t}/primary-key"), json!({"columns": ["name"]}));
    assert_eq!(st, 400, "table already has a key: {job}");
    let (st, job) = s.delete(&format!("tables/{t}/primary-key"));
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["operationName"], "tablePrimaryKeyDelete");
    assert_eq!(job["results"]["primaryKey"], json!([]));
    let (st, jobs) = s.get("jobs");
    assert_eq!(st, 200);
    assert!(jobs.as_array().unwrap().iter().any(|j| j["id"] == job["id"]));
    let (st, body) = s.get("jobs/999999");
    assert_eq!(st, 404);
    assert_eq!(body["code"], "storage.jobs.notFound");
    let _: Value = body;
}
