//! Buckets and table structure: lifecycle, includes, metadata, typed tables, columns, keys.
mod common;

use common::Server;
use serde_json::json;

#[test]
fn bucket_lifecycle_sync_and_async() {
    let s = Server::start();
    let (st, b) = s.post_form("buckets", &[("name", "life"), ("stage", "out"), ("description", "d")]);
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["id"], "out.c-life");
    assert_eq!(b["name"], "c-life");
    assert_eq!(b["displayName"], "life");
    assert!(b["created"].as_str().unwrap().len() == 24, "YYYY-MM-DDTHH:MM:SS+hhmm: {}", b["created"]);
    let (st, d) = s.get("buckets/out.c-life");
    assert_eq!(st, 200);
    assert_eq!(d["tables"], json!([]));
    assert_eq!(d["description"], "d");
    let (st, u) = s.put_json("buckets/out.c-life", json!({"displayName": "renamed", "color": "#fff"}));
    assert_eq!(st, 200, "{u}");
    assert_eq!(u["displayName"], "renamed");
    let (st, m) = s.post_json("buckets/out.c-life/metadata", json!({"provider": "user", "metadata": [{"key": "k", "value": "v"}]}));
    assert_eq!(st, 201, "{m}");
    let (_, list) = s.get("buckets?include=metadata");
    assert_eq!(list[0]["metadata"][0]["key"], "k");
    assert_eq!(s.post_form("buckets/out.c-life/tables", &[("name", "t"), ("dataString", "a\n1\n")]).0, 201);
    let (st, body) = s.delete("buckets/out.c-life");
    assert_eq!(st, 400, "non-empty bucket without force: {body}");
    assert_eq!(body["code"], "storage.buckets.notEmpty");
    // Python sends booleans as True/False.
    let (st, job) = s.delete("buckets/out.c-life?force=True&async=True");
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
    assert_eq!(s.get("buckets/out.c-life").0, 404);
    assert_eq!(s.get("tables/out.c-life.t").0, 404);
    assert_eq!(s.post_json("buckets", json!({"name": "life", "stage": "out"})).0, 201, "the name is free again");
    assert_eq!(s.delete("buckets/out.c-life").0, 204);
}

#[test]
fn table_detail_metadata_and_column_metadata() {
    let s = Server::start();
    s.post_json("buckets", json!({"name": "meta"}));
    let (st, t) = s.post_form("buckets/in.c-meta/tables", &[("name", "t"), ("dataString", "col1,col2\nping,pong\n")]);
    assert_eq!(st, 201, "{t}");
    for key in ["uri", "id", "name", "primaryKey", "columns", "created", "lastImportDate", "lastChangeDate", "rowsCount", "metadata", "columnMetadata", "bucket"] {
        assert!(t.get(key).is_some(), "{key} in {t}");
    }
    assert_eq!(t["rowsCount"], 1);
    // kbcstorage sends columnsMetadata as a list of lists.
    let (st, r) = s.post_json(
        "tables/in.c-meta.t/metadata",
        json!({"provider": "test", "metadata": [{"key": "tk", "value": "tv"}],
               "columnsMetadata": [[{"key": "ck", "value": "cv", "columnName": "col1"}]]}),
    );
    assert_eq!(st, 201, "{r}");
    // ... and by column name (Go) — an upsert of the same key.
    let (st, _) = s.post_json("tables/in.c-meta.t/metadata", json!({"provider": "test", "columnsMetadata": {"col1": [{"key": "ck", "value": "cv2"}]}}));
    assert_eq!(st, 201);
    let (_, d) = s.get("tables/in.c-meta.t");
    assert_eq!(d["metadata"][0]["key"], "tk");
    assert_eq!(d["columnMetadata"]["col1"].as_array().unwrap().len(), 1);
    assert_eq!(d["columnMetadata"]["col1"][0]["value"], "cv2");
    let (st, body) = s.post_json("tables/in.c-meta.t/metadata", json!({"provider": "test", "columnsMetadata": {"nope": [{"key": "a", "value": "b"}]}}));
    assert_eq!(st, 400, "{body}");
    let mid = d["metadata"][0]["id"].as_str().unwrap();
    assert_eq!(s.delete(&format!("tables/in.c-meta.t/metadata/{mid}")).0, 204);
    let (_, list) = s.get("tables/in.c-meta.t/metadata");
    assert_eq!(list, json!([]));
    let (st, _) = s.post_json("columns/in.c-meta.t.col2/metadata", json!({"provider": "p", "metadata": [{"key": "x", "value": "y"}]}));
    assert_eq!(st, 201);
    let (_, list) = s.get("tables?include=columnMetadata,buckets");
    assert_eq!(list[0]["columnMetadata"]["col2"][0]["key"], "x");
    assert_eq!(list[0]["bucket"]["id"], "in.c-meta");
}

#[test]
fn typed_tables_columns_and_primary_keys() {
    let s = Server::start();
    s.post_json("buckets", json!({"name": "typed"}));
    let (st, job) = s.post_json(
        "buckets/in.c-typed/tables-definition",
        json!({"name": "t", "primaryKeysNames": ["id"], "columns": [
            {"name": "id", "definition": {"type": "INTEGER", "nullable": false}},
            {"name": "price", "basetype": "NUMERIC"},
            {"name": "label", "definition": {"type": "VARCHAR"}}
        ]}),
    );
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["results"]["isTyped"], true);
    assert_eq!(job["results"]["definition"]["columns"][1]["basetype"], "NUMERIC");
    let (st, r) = s.post_form("tables/in.c-typed.t/import", &[("dataString", "id,price,label\n1,1.50,a\n2,,b\n")]);
    assert_eq!(st, 200, "{r}");
    let (_, p) = s.get("tables/in.c-typed.t/data-preview?format=json&orderBy[0][column]=id");
    assert_eq!(p["rows"][0][1]["value"], "1.500000000");
    let (st, r) = s.post_form("tables/in.c-typed.t/import", &[("dataString", "id,price,label\nx,1,a\n")]);
    assert_eq!(st, 400, "a non-integer id: {r}");
    // Columns and keys are jobs whose results are the table.
    let (st, job) = s.post_json("tables/in.c-typed.t/columns", json!({"name": "extra", "basetype": "STRING"}));
    assert_eq!(st, 202);
    let job = s.wait_job(&job);
    assert_eq!(job["results"]["columns"], json!(["id", "price", "label", "extra"]));
    let (st, body) = s.delete("tables/in.c-typed.t/columns/id");
    assert_eq!(st, 400, "a key column cannot be deleted: {body}");
    let (st, job) = s.delete("tables/in.c-typed.t/columns/extra");
    assert_eq!(st, 202);
    assert_eq!(s.wait_job(&job)["results"]["columns"], json!(["id", "price", "label"]));
    s.post_form("buckets/in.c-typed/tables", &[("name", "dups"), ("dataString", "k\n1\n1\n")]);
    let (_, job) = s.post_json("tables/in.c-typed.dups/primary-key", json!({"columns": ["k"]}));
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "error", "duplicates block a key: {job}");
    let (_, job) = s.post_form("tables/in.c-typed.dups/primary-key", &[("columns[]", "k"), ("skipDuplicatesCheck", "1")]);
    assert_eq!(s.wait_job(&job)["results"]["primaryKey"], json!(["k"]));
}
