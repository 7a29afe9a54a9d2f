//! Keboola's load semantics through the real binary: full/incremental × PK/no PK ×
//! changed/unchanged/duplicate rows, with `_timestamp` observed through `changedSince`.
mod common;

use common::Server;
use serde_json::{Value, json};

fn bucket(s: &Server, name: &str) -> String {
    let (st, b) = s.post_form("buckets", &[("name", name), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    b["id"].as_str().unwrap().to_string()
}

fn table(s: &Server, bucket: &str, name: &str, csv: &str, pk: &str) -> String {
    let (st, t) = s.post_form(&format!("buckets/{bucket}/tables"), &[("name", name), ("dataString", csv), ("primaryKey", pk)]);
    assert_eq!(st, 201, "{t}");
    t["id"].as_str().unwrap().to_string()
}

fn import(s: &Server, table: &str, csv: &str, incremental: bool) -> (u16, Value) {
    s.post_form(&format!("tables/{table}/import"), &[("dataString", csv), ("incremental", if incremental { "1" } else { "0" })])
}

fn rows_where(s: &Server, table: &str, query: &str) -> Vec<Vec<String>> {
    s.preview_rows(table, &format!("&limit=1000{query}"))
}

fn rows(s: &Server, table: &str) -> Vec<Vec<String>> {
    rows_where(s, table, "")
}

fn v(rows: &[&[&str]]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    out.sort();
    out
}

/// A point in time between two loads, as `changedSince` accepts it.
fn mark() -> String {
    std::thread::sleep(std::time::Duration::from_millis(20));
    let t = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    std::thread::sleep(std::time::Duration::from_millis(20));
    urlencode(&t)
}

fn urlencode(s: &str) -> String {
    common::urlencode(s)
}

#[test]
fn full_load_without_pk_replaces_everything() {
    let s = Server::start();
    let b = bucket(&s, "full");
    let t = table(&s, &b, "t", "id,name\n1,a\n2,b\n", "");
    let (st, r) = import(&s, &t, "id,name\n3,c\n3,c\n", false);
    assert_eq!(st, 200, "{r}");
    assert_eq!(rows(&s, &t), v(&[&["3", "c"], &["3", "c"]]));
}

#[test]
fn full_load_with_pk_keeps_one_row_per_key() {
    let s = Server::start();
    let b = bucket(&s, "fullpk");
    let t = table(&s, &b, "t", "id,name\n1,a\n1,b\n2,c\n", "id");
    let got = rows(&s, &t);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1], vec!["2", "c"]);
    assert!(got[0] == vec!["1", "a"] || got[0] == vec!["1", "b"]);
    import(&s, &t, "id,name\n5,x\n5,x\n6,y\n", false);
    assert_eq!(rows(&s, &t), v(&[&["5", "x"], &["6", "y"]]));
}

#[test]
fn incremental_with_pk_updates_only_changed_rows_and_never_deletes() {
    let s = Server::start();
    let b = bucket(&s, "incpk");
    let t = table(&s, &b, "t", "id,name\n1,a\n2,b\n3,c\n", "id");
    let since = mark();
    let (st, r) = import(&s, &t, "id,name\n1,a\n2,B\n4,d\n4,d\n", true);
    assert_eq!(st, 200, "{r}");
    // Row 3 is absent from the file and stays; row 1 is unchanged; 2 updated; 4 inserted once.
    assert_eq!(rows(&s, &t), v(&[&["1", "a"], &["2", "B"], &["3", "c"], &["4", "d"]]));
    // Only the changed and the new row got a new _timestamp.
    assert_eq!(rows_where(&s, &t, &format!("&changedSince={since}")), v(&[&["2", "B"], &["4", "d"]]));
    // Loading the same data again changes nothing.
    let since2 = mark();
    import(&s, &t, "id,name\n1,a\n2,B\n4,d\n", true);
    assert_eq!(rows_where(&s, &t, &format!("&changedSince={since2}")), Vec::<Vec<String>>::new());
    assert_eq!(rows(&s, &t).len(), 4);
}

#[test]
fn incremental_without_pk_appends() {
    let s = Server::start();
    let b = bucket(&s, "inc");
    let t = table(&s, &b, "t", "id,name\n1,a\n", "");
    let since = mark();
    import(&s, &t, "id,name\n1,a\n2,b\n", true);
    assert_eq!(rows(&s, &t), v(&[&["1", "a"], &["1", "a"], &["2", "b"]]));
    assert_eq!(rows_where(&s, &t, &format!("&changedSince={since}")), v(&[&["1", "a"], &["2", "b"]]));
}

#[test]
fn untyped_tables_store_null_as_empty_string_and_gain_new_columns() {
    let s = Server::start();
    let b = bucket(&s, "nulls");
    let t = table(&s, &b, "t", "id,name\n1,\n2,\"\"\n", "id");
    assert_eq!(rows(&s, &t), v(&[&["1", ""], &["2", ""]]));
    let (st, r) = import(&s, &t, "id,name,extra\n3,c,x\n", true);
    assert_eq!(st, 200, "{r}");
    let (_, detail) = s.get(&format!("tables/{t}"));
    assert_eq!(detail["columns"], json!(["id", "name", "extra"]));
    assert_eq!(rows(&s, &t), v(&[&["1", "", ""], &["2", "", ""], &["3", "c", "x"]]));
}

#[test]
fn a_file_missing_table_columns_fails_with_columns_not_match() {
    let s = Server::start();
    let b = bucket(&s, "missing");
    let t = table(&s, &b, "t", "id,name\n1,a\n", "");
    let (st, r) = import(&s, &t, "id\n2\n", false);
    assert_eq!(st, 400, "{r}");
    assert_eq!(r["code"], "csvImport.columnsNotMatch");
    assert_eq!(rows(&s, &t), v(&[&["1", "a"]]), "the failed load changed nothing");
}

#[test]
fn headerless_file_with_columns_parameter() {
    let s = Server::start();
    let b = bucket(&s, "cols");
    let t = table(&s, &b, "t", "id,name\n1,a\n", "");
    let (st, r) = s.post_form(
        &format!("tables/{t}/import"),
        &[("dataString", "b,2\n"), ("incremental", "1"), ("columns[0]", "name"), ("columns[1]", "id")],
    );
    assert_eq!(st, 200, "{r}");
    assert_eq!(rows(&s, &t), v(&[&["1", "a"], &["2", "b"]]));
    let (st, r) = s.post_form(&format!("tables/{t}/import"), &[("dataString", "3,c\n"), ("incremental", "1"), ("withoutHeaders", "1")]);
    assert_eq!(st, 200, "{r}");
    assert_eq!(rows(&s, &t).len(), 3);
}

#[test]
fn malformed_csv_and_wrong_column_count_are_client_errors() {
    let s = Server::start();
    let b = bucket(&s, "bad");
    let t = table(&s, &b, "t", "id,name\n1,a\n", "");
    let (st, r) = import(&s, &t, "id,name\n2,b,extra\n", false);
    assert_eq!(st, 400, "{r}");
    assert_eq!(r["code"], "invalidCsv");
    let (st, r) = import(&s, &t, "id,name\n2,\"unterminated\n", false);
    assert_eq!(st, 400, "{r}");
    assert_eq!(r["code"], "invalidCsv");
    let (st, r) = import(&s, &t, "id,na-me\n2,b\n", false);
    assert_eq!(st, 400, "{r}");
    assert_eq!(r["code"], "validation.failed");
    let (st, r) = import(&s, &t, "id,id\n2,b\n", false);
    assert_eq!(st, 400, "{r}");
    assert_eq!(r["code"], "csvImport.duplicateColumnNames");
    let (st, r) = s.post_form(&format!("tables/{t}/import"), &[("dataString", "id,name\n"), ("delimiter", "/t")]);
    assert_eq!(st, 400, "{r}");
    assert_eq!(r["code"], "invalidCsv");
    assert_eq!(rows(&s, &t), v(&[&["1", "a"]]));
}

/// Lines up to the reader's limit (8 MiB) load whole, whatever the reader's buffer size; a longer
/// one fails the job as the user's error, not the server's.
#[test]
fn long_lines_load_up_to_the_limit_and_fail_clearly_above_it() {
    let s = Server::start();
    let b = bucket(&s, "c-long");
    let t = table(&s, &b, "t", "id,v\n0,a\n", "id");
    let line = |len: usize| format!("id,v\n1,{}\n2,b\n", "x".repeat(len)).into_bytes();
    let file = s.upload("long.csv", line(7 * 1024 * 1024));
    let (st, job) = s.post_form(&format!("tables/{t}/import-async"), &[("dataFileId", &file.to_string())]);
    assert_eq!(st, 202, "{job}");
    let done = s.wait_job(&job);
    assert_eq!(done["status"], "success", "{done}");
    let (_, detail) = s.get(&format!("tables/{t}"));
    assert_eq!(detail["rowsCount"], 2, "{detail}");
    let long = rows_where(&s, &t, "&whereColumn=id&whereValues[]=1");
    assert_eq!(long.len(), 1);
    assert!(long[0][1].starts_with("xxxx"), "{:?}", &long[0][1][..10.min(long[0][1].len())]);

    let file = s.upload("longer.csv", line(9 * 1024 * 1024));
    let (st, job) = s.post_form(&format!("tables/{t}/import-async"), &[("dataFileId", &file.to_string())]);
    assert_eq!(st, 202, "{job}");
    let done = s.wait_job(&job);
    assert_eq!(done["status"], "error", "{done}");
    assert_eq!(done["error"]["code"], "invalidCsv", "{}", done["error"].to_string().chars().take(300).collect::<String>());
    assert_eq!(s.get(&format!("tables/{t}")).1["rowsCount"], 2, "the failed load changed nothing");
}
