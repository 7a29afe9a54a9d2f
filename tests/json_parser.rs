//! The JSON Parser through the real binary: a nested document as parent and child CSV tables (by
//! the rules of Keboola's JSON parser library), as a zip, inline, and written to Storage Files;
//! multipart uploads; refusals in the service's envelope (bad JSON with its position, type
//! conflicts with their path).
mod common;

use std::io::Read;

use common::{MASTER_TOKEN, Server};
use serde_json::{Value, json};

fn url(s: &Server, query: &str) -> String {
    format!("{}/json-parser/v1/parse{query}", s.url)
}

fn document() -> Value {
    json!([
        {"id": 1, "name": "Alice", "address": {"city": "Prague", "zip": "11000"},
         "orders": [{"oid": "a1", "total": 10.5, "items": [{"sku": "x", "qty": 2}, {"sku": "y", "qty": 1}]}],
         "tags": ["vip", "new"], "active": true},
        {"id": 2, "name": "Bob", "address": null,
         "orders": [{"oid": "b1", "total": 3, "items": []}, {"oid": "b2", "total": 4, "items": [{"sku": "z", "qty": 5}]}],
         "tags": [], "active": false}
    ])
}

fn table<'a>(tables: &'a Value, name: &str) -> &'a Value {
    tables["tables"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("no table {name}: {tables}"))
}

fn column(t: &Value, name: &str) -> usize {
    t["columns"].as_array().unwrap().iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}: {t}"))
}

#[test]
fn a_nested_document_becomes_parent_and_child_tables() {
    let s = Server::start();
    let (st, out) = s.send(s.client.post(url(&s, "?output=json")).header("X-StorageApi-Token", MASTER_TOKEN).json(&document()));
    assert_eq!(st, 200, "{out}");
    let names: Vec<&str> = out["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["root", "root_orders", "root_orders_items", "root_tags"], "{out}");

    let root = table(&out, "root");
    assert_eq!(root["columns"], json!(["id", "name", "address_city", "address_zip", "orders", "tags", "active"]));
    assert_eq!(root["rowsCount"], 2);
    let r = &root["rows"];
    assert_eq!(r[0].as_array().unwrap()[0..4], json!(["1", "Alice", "Prague", "11000"]).as_array().unwrap()[..]);
    assert_eq!((r[0][6].as_str(), r[1][6].as_str()), (Some("1"), Some("")), "booleans as the library writes them");
    assert_eq!(r[1][5], "", "an empty array links no child");

    let orders = table(&out, "root_orders");
    assert_eq!(orders["columns"], json!(["oid", "total", "items", "JSON_parentId"]));
    let parent = column(orders, "JSON_parentId");
    let key_alice = r[0][4].as_str().unwrap();
    let key_bob = r[1][4].as_str().unwrap();
    assert!(key_alice.starts_with("root_") && key_alice != key_bob, "{root}");
    let order_parents: Vec<&str> = orders["rows"].as_array().unwrap().iter().map(|row| row[parent].as_str().unwrap()).collect();
    assert_eq!(order_parents, vec![key_alice, key_bob, key_bob]);

    let items = table(&out, "root_orders_items");
    assert_eq!(items["columns"], json!(["sku", "qty", "JSON_parentId"]));
    assert_eq!(items["rowsCount"], 3);
    let item_parents: Vec<&str> = items["rows"].as_array().unwrap().iter().map(|row| row[2].as_str().unwrap()).collect();
    let order_keys: Vec<&str> = orders["rows"].as_array().unwrap().iter().map(|row| row[2].as_str().unwrap()).collect();
    assert!(order_keys[0].starts_with("root.orders_"), "{orders}");
    assert_eq!(item_parents, vec![order_keys[0], order_keys[0], order_keys[2]]);
    assert_eq!(order_keys[1], "", "b1's empty items link nothing");

    let tags = table(&out, "root_tags");
    assert_eq!(tags["columns"], json!(["data", "JSON_parentId"]));
    assert_eq!(tags["rows"], json!([["vip", key_alice], ["new", key_alice]]));
}

#[test]
fn the_default_answer_is_a_zip_of_csv_files() {
    let s = Server::start();
    let resp = s.client.post(url(&s, "?rootType=customers")).header("X-StorageApi-Token", MASTER_TOKEN).json(&document()).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let bytes = resp.bytes().unwrap().to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, vec!["customers.csv", "customers_orders.csv", "customers_orders_items.csv", "customers_tags.csv"]);
    let mut csv = String::new();
    zip.by_name("customers_orders_items.csv").unwrap().read_to_string(&mut csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "\"sku\",\"qty\",\"JSON_parentId\"");
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[1].starts_with("\"x\",\"2\",\"customers.orders_"), "{csv}");
}

#[test]
fn tables_can_be_written_to_storage_files_from_a_multipart_upload() {
    let s = Server::start();
    let form = reqwest::blocking::multipart::Form::new()
        .text("output", "files")
        .text("tags[]", "crm")
        .part("data", reqwest::blocking::multipart::Part::bytes(document().to_string().into_bytes()).file_name("customers.json"));
    let (st, out) = s.send(s.client.post(url(&s, "")).header("X-StorageApi-Token", MASTER_TOKEN).multipart(form));
    assert_eq!(st, 201, "{out}");
    let files = out["files"].as_array().unwrap();
    assert_eq!(files.len(), 4, "{out}");
    let root = files.iter().find(|f| f["table"] == "root").unwrap();
    assert_eq!(root["name"], "root.csv");
    assert_eq!(root["rowsCount"], 2);
    let id = root["id"].as_i64().unwrap();
    let (st, f) = s.get(&format!("files/{id}"));
    assert_eq!(st, 200, "{f}");
    let tags: Vec<&str> = f["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tags.contains(&"json-parser") && tags.contains(&"crm"), "{f}");
    let csv = String::from_utf8(s.download(id)).unwrap();
    assert!(csv.starts_with("\"id\",\"name\",\"address_city\""), "{csv}");
    assert_eq!(csv.lines().count(), 3, "{csv}");
}

#[test]
fn refusals_name_the_problem() {
    let s = Server::start();
    let post = |query: &str, body: &str| {
        s.send(s.client.post(url(&s, query)).header("X-StorageApi-Token", MASTER_TOKEN).header("Content-Type", "application/json").body(body.to_string()))
    };
    let (st, e) = post("", "[{\"a\": 1},\n {\"b\": }]");
    assert_eq!(st, 400, "{e}");
    assert_eq!((e["code"].as_u64(), e["status"].as_str()), (Some(400), Some("error")), "{e}");
    assert!(e["exceptionId"].as_str().unwrap().starts_with("json-parser-"), "{e}");
    assert_eq!((e["context"]["line"].as_u64(), e["context"]["column"].as_u64()), (Some(2), Some(8)), "{e}");

    let (st, e) = post("", r#"[{"a": 1}, {"a": {"b": 2}}]"#);
    assert_eq!(st, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("root[].a"), "{e}");

    let (st, e) = post("", "[[1, 2]]");
    assert_eq!(st, 400, "{e}");
    let (st, ok) = post("?output=json&nestedArraysAsJson=1", "[[1, 2]]");
    assert_eq!(st, 200, "{ok}");
    assert_eq!(ok["tables"][0]["rows"], json!([["[1,2]"]]));

    let (st, e) = post("", "[]");
    assert_eq!(st, 400, "{e}");
    let (st, e) = post("?output=xml", "[1]");
    assert_eq!(st, 400, "{e}");

    let (st, e) = s.send(s.client.post(url(&s, "")).json(&json!([1])));
    assert_eq!((st, e["code"].as_u64()), (401, Some(401)), "{e}");

    // A scalar where other rows have an array is a one-item array (the library's upgrade).
    let (st, ok) = post("?output=json", r#"[{"id": 1, "v": [1, 2]}, {"id": 2, "v": 3}]"#);
    assert_eq!(st, 200, "{ok}");
    assert_eq!(table(&ok, "root_v")["rowsCount"], 3);
}

#[test]
fn the_service_is_listed_and_answers_at_its_root() {
    let s = Server::start();
    let (st, index) = s.get("");
    assert_eq!(st, 200);
    let ids: Vec<&str> = index["services"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    for id in ["json-parser", "sqldep-analyzer", "graph"] {
        assert!(ids.contains(&id), "{ids:?}");
        let (st, root) = s.send(s.client.get(format!("{}/{id}", s.url)));
        assert_eq!(st, 200, "{id}: {root}");
    }
}
