//! `kbstack export` and `kbstack import` through the real binary: a stack with tables, a file, a
//! configuration with an encrypted value and a limited token is exported, imported into a new
//! data dir and served from there unchanged.
mod common;

use std::process::Command;

use common::Server;
use serde_json::{json, Value};

fn kbstack(args: &[&str], data_dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kbstack"))
        .args(args)
        .env("KBSTACK_DATA_DIR", data_dir)
        .env("KBSTACK_LOG", "warn")
        .output()
        .expect("run kbstack");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn config(s: &Server) -> Value {
    let (st, c) = s.get("branch/default/components/keboola.ex-db-snowflake/configs/exported");
    assert_eq!(st, 200, "{c}");
    c
}

/// The stack as a client sees it: table rows, table detail, the config, the file, the token.
fn observed(s: &Server, reader: &str, file_id: i64) -> (Vec<Vec<String>>, Value, Value, Vec<u8>, u16) {
    let (_, detail) = s.get("tables/in.c-moved.t");
    let detail = json!({"columns": detail["columns"], "primaryKey": detail["primaryKey"], "rowsCount": detail["rowsCount"]});
    let mut c = config(s);
    c.as_object_mut().unwrap().retain(|k, _| ["id", "name", "configuration", "version"].contains(&k.as_str()));
    let (verify, _) = s.get_as(reader, "tokens/verify");
    (s.preview_rows("in.c-moved.t", ""), detail, c, s.download(file_id), verify)
}

#[test]
fn a_stack_moves_to_a_new_data_dir_with_everything_clients_see() {
    if common::single_node_only("kbstack export reads an embedded data dir (its SQLite file); tests/ducklake_tables.rs moves a stack to DuckLake") {
        return;
    }
    let old = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(old.path());
    assert_eq!(s.post_json("buckets", json!({"name": "moved"})).0, 201);
    let (st, t) = s.post_form("buckets/in.c-moved/tables", &[("name", "t"), ("dataString", "id,v\n1,a\n2,\n3,\"x,y\"\n"), ("primaryKey", "id")]);
    assert_eq!(st, 201, "{t}");
    let (st, c) = s.post_json(
        "branch/default/components/keboola.ex-db-snowflake/configs",
        json!({"configurationId": "exported", "name": "Moved", "configuration": {"parameters": {"#password": "secret", "db": "x"}}}),
    );
    assert_eq!(st, 201, "{c}");
    let file_id = s.upload("data.csv", b"a,b\n1,2\n".to_vec());
    let (st, tok) = s.post_json("tokens", json!({"description": "reader", "bucketPermissions": {"in.c-moved": "read"}}));
    assert_eq!(st, 201, "{tok}");
    let reader = tok["token"].as_str().unwrap().to_string();
    let before = observed(&s, &reader, file_id);
    assert!(before.2["configuration"]["parameters"]["#password"].as_str().unwrap().starts_with("KBC::"));

    // The server holds the data dir: export refuses and says why.
    let export_dir = tempfile::tempdir().unwrap();
    let target = export_dir.path().join("snapshot");
    let (ok, out) = kbstack(&["export", "--to", target.to_str().unwrap()], old.path());
    assert!(!ok, "{out}");
    assert!(out.contains("stop the server"), "{out}");
    s.kill();

    let (ok, out) = kbstack(&["export", "--to", target.to_str().unwrap(), "--include-keys"], old.path());
    assert!(ok, "{out}");
    let manifest: Value = serde_json::from_slice(&std::fs::read(target.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "kbstack-export");
    assert_eq!(manifest["version"], 1);
    assert_eq!(manifest["includesKeys"], true);
    assert_eq!(manifest["files"], 1);
    assert!(manifest["metadataRows"]["tokens"].as_u64().unwrap() >= 2, "{manifest}");
    assert!(std::fs::read_to_string(target.join("metadata/tokens.jsonl")).unwrap().contains("\"reader\""));
    assert!(!std::fs::read_to_string(target.join("metadata/tokens.jsonl")).unwrap().contains(&reader), "tokens travel hashed");

    // Into a new data dir; never over an existing stack.
    let new = tempfile::tempdir().unwrap();
    let (ok, out) = kbstack(&["import", target.to_str().unwrap()], old.path());
    assert!(!ok && out.contains("holds a stack already"), "{out}");
    let (ok, out) = kbstack(&["import", target.to_str().unwrap()], new.path());
    assert!(ok, "{out}");
    let s = Server::start_in(new.path());
    assert_eq!(observed(&s, &reader, file_id), before);
    // The keys came along (asked for), so the ciphers above stay readable; tables snapshot fine.
    for key in ["keys/encryption.key", "keys/sas.key", "keys/secrets.key"] {
        assert_eq!(std::fs::read(old.path().join(key)).unwrap(), std::fs::read(new.path().join(key)).unwrap(), "{key}");
    }
    let (st, job) = s.post_json("tables/in.c-moved.t/snapshots", json!({"description": "after the move"}));
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
    // New writes keep working and ids continue.
    let more = s.upload("more.csv", b"id,v\n4,d\n".to_vec()).to_string();
    let (st, t) = s.post_form("tables/in.c-moved.t/import-async", &[("dataFileId", &more), ("incremental", "1")]);
    assert_eq!(st, 202, "{t}");
    assert_eq!(s.wait_job(&t)["status"], "success");
    assert_eq!(s.preview_rows("in.c-moved.t", "").len(), 4);
    let (st, tok2) = s.post_json("tokens", json!({"description": "after"}));
    assert_eq!(st, 201);
    assert!(tok2["id"].as_str().unwrap().parse::<i64>().unwrap() > tok["id"].as_str().unwrap().parse::<i64>().unwrap());
}

#[test]
fn an_unfinished_or_foreign_export_is_refused() {
    let empty = tempfile::tempdir().unwrap();
    let new = tempfile::tempdir().unwrap();
    let (ok, out) = kbstack(&["import", empty.path().to_str().unwrap()], new.path());
    assert!(!ok && out.contains("no manifest.json"), "{out}");
    std::fs::write(empty.path().join("manifest.json"), r#"{"format":"kbstack-export","version":99}"#).unwrap();
    let (ok, out) = kbstack(&["import", empty.path().to_str().unwrap()], new.path());
    assert!(!ok, "{out}");
    let (ok, out) = kbstack(&["export", "--to", new.path().join("x").to_str().unwrap()], empty.path());
    assert!(!ok && out.contains("no metadata.sqlite"), "{out}");
}
