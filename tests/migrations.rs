//! A data dir written before the metadata schema was versioned (`user_version` 0) opens with this
//! build and keeps everything; one written by a newer build is refused with a clear message.
mod common;
mod queue_support;

use common::{MASTER_TOKEN, Server};
use queue_support::*;
use serde_json::json;

fn user_version(dir: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("metadata.sqlite")).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

#[test]
fn a_data_dir_from_before_migrations_keeps_everything() {
    if common::single_node_only("rewrites an embedded data dir's SQLite file; PostgreSQL's migrations are tested in crates/store") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (file_id, job_id) = {
        let s = Server::start_in(&dir);
        assert_eq!(s.post_json("buckets", json!({"name": "keep"})).0, 201);
        let (st, t) = s.post_form("buckets/in.c-keep/tables", &[("name", "t"), ("dataString", "id,v\n1,a\n2,b\n")]);
        assert_eq!(st, 201, "{t}");
        let file_id = s.upload("kept.csv", b"id\n7\n".to_vec());
        let (st, c) = s.post_json("components/keboola.runner-config-test/configs", json!({"name": "kept", "configuration": {"parameters": {}}}));
        assert_eq!(st, 201, "{c}");
        let job = config_test_job(&s, json!({}));
        wait_finished(&s, &id(&job), 60);
        (file_id, id(&job))
    };
    assert!(user_version(&dir) >= 1, "this build records its schema version");
    // What a build from before versioned migrations left behind: schema version 0, and no
    // table stats (migration 2), which that build read from the table data on every request.
    {
        let conn = rusqlite::Connection::open(dir.join("metadata.sqlite")).unwrap();
        conn.execute_batch("DROP TABLE table_stats").unwrap();
        conn.pragma_update(None, "user_version", 0).unwrap();
    }

    let s = Server::start_in(&dir);
    assert!(user_version(&dir) >= 1, "migrated forward at start");
    assert_eq!(s.get("tokens/verify").0, 200, "the master token still works");
    let (st, b) = s.get("buckets/in.c-keep");
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["rowsCount"], 2, "stats taken from the table data at start: {b}");
    let (st, t) = s.get("tables/in.c-keep.t");
    assert_eq!(st, 200, "{t}");
    assert_eq!((t["rowsCount"].clone(), t["columns"].clone()), (json!(2), json!(["id", "v"])), "{t}");
    let (st, rows) = s.send(
        s.client.get(s.api("tables/in.c-keep.t/data-preview?format=json")).header("X-StorageApi-Token", MASTER_TOKEN),
    );
    assert_eq!(st, 200, "{rows}");
    assert_eq!(rows["rows"].as_array().map(Vec::len), Some(2), "{rows}");
    assert_eq!(s.download(file_id), b"id\n7\n");
    let (st, configs) = s.get("components/keboola.runner-config-test/configs");
    assert_eq!(st, 200);
    assert!(configs.as_array().unwrap().iter().any(|c| c["name"] == "kept"), "{configs}");
    assert_eq!(job(&s, &job_id)["status"], "success");
}

#[test]
fn a_data_dir_from_a_newer_build_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    drop(Server::start_in(&dir));
    rusqlite::Connection::open(dir.join("metadata.sqlite")).unwrap().pragma_update(None, "user_version", 9_999).unwrap();
    let bin = std::env::var("KBSTACK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kbstack").to_string());
    let out = std::process::Command::new(bin)
        .arg("serve")
        .env("KBSTACK_DATA_DIR", &dir)
        .env("KBSTACK_LISTEN", "127.0.0.1:0")
        .env("KBSTACK_MASTER_TOKEN", MASTER_TOKEN)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a newer schema is not opened");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("newer than this build"), "{stderr}");
}

#[test]
fn table_stats_cut_short_by_a_crash_are_recounted_at_start() {
    if common::single_node_only("rewrites an embedded data dir's SQLite file; PostgreSQL's migrations are tested in crates/store") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    {
        let s = Server::start_in(&dir);
        assert_eq!(s.post_json("buckets", json!({"name": "keep"})).0, 201);
        let (st, t) = s.post_form("buckets/in.c-keep/tables", &[("name", "t"), ("dataString", "id,v\n1,a\n2,b\n3,c\n")]);
        assert_eq!(st, 201, "{t}");
        assert_eq!(t["rowsCount"], 3, "recorded by the write: {t}");
        let (_, verify) = s.get("tokens/verify");
        assert_eq!(verify["owner"]["rowsCount"], 3, "{verify}");
    }
    // A crash after the data committed and before its record: the record tells the old story.
    rusqlite::Connection::open(dir.join("metadata.sqlite"))
        .unwrap()
        .execute_batch("UPDATE table_stats SET rows_count = 99, columns = '[\"id\"]'")
        .unwrap();
    let s = Server::start_in(&dir);
    let (_, t) = s.get("tables/in.c-keep.t");
    assert_eq!((t["rowsCount"].clone(), t["columns"].clone()), (json!(3), json!(["id", "v"])), "{t}");
    let (_, verify) = s.get("tokens/verify");
    assert_eq!(verify["owner"]["rowsCount"], 3, "{verify}");
}
