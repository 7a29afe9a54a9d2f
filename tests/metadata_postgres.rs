//! The metadata store on PostgreSQL through the real binary (`KBSTACK_METADATA_URL`): tokens,
//! a bucket, a table loaded by an async import job, a queue job; then a restart on the same
//! database (and data dir) finds all of it. Always on PostgreSQL, whatever
//! `KBSTACK_TEST_METADATA` says (the test cluster of crates/testkit).
mod common;
mod queue_support;

use common::{MASTER_TOKEN, Server};
use queue_support::*;
use serde_json::{Value, json};

#[test]
fn a_stack_on_postgres_survives_a_restart() {
    let url = kbstack_testkit::postgres::database();
    let dir = tempfile::tempdir().unwrap();
    let envs = [("KBSTACK_METADATA_URL", url.as_str())];
    let mut s = Server::start_with(dir.path(), &envs);
    assert!(!dir.path().join("metadata.sqlite").exists(), "no SQLite file beside a PostgreSQL metadata store");

    let (st, verify) = s.get("tokens/verify");
    assert_eq!(st, 200, "{verify}");
    assert_eq!(verify["owner"]["id"], 1);

    let (st, bucket) = s.post_form("buckets", &[("name", "pg"), ("stage", "in")]);
    assert_eq!(st, 201, "{bucket}");
    let (st, table) = s.post_form("buckets/in.c-pg/tables", &[("name", "t"), ("dataString", "id,name\n1,a\n"), ("primaryKey", "id")]);
    assert_eq!(st, 201, "{table}");
    let file = s.upload("more.csv", b"id,name\n2,b\n3,c\n".to_vec());
    let (st, job) = s.post_json("tables/in.c-pg.t/import-async", json!({"dataFileId": file, "incremental": 1}));
    assert_eq!(st, 202, "{job}");
    let done = s.wait_job(&job);
    assert_eq!(done["status"], "success", "{done}");

    let queued = config_test_job(&s, json!({"message": "on postgres"}));
    let finished = wait_finished(&s, &id(&queued), 60);
    assert_eq!(finished["status"], "success", "{finished}");

    let (st, token) = s.post_json("tokens", json!({"description": "reader", "bucketPermissions": {"in.c-pg": "read"}}));
    assert_eq!(st, 201, "{token}");
    let reader = token["token"].as_str().unwrap().to_string();

    s.kill();
    let s = Server::start_with(dir.path(), &envs);
    let (st, verify) = s.get_as(&reader, "tokens/verify");
    assert_eq!(st, 200, "the token made before the restart still works: {verify}");
    assert_eq!(verify["description"], "reader");
    let (st, t) = s.get("tables/in.c-pg.t");
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["rowsCount"], 3, "{t}");
    let mut rows = s.preview_rows("in.c-pg.t", "");
    rows.sort();
    assert_eq!(rows, vec![vec!["1", "a"], vec!["2", "b"], vec!["3", "c"]]);
    let (st, old) = s.get(&format!("jobs/{}", job["id"]));
    assert_eq!((st, &old["status"]), (200, &Value::from("success")), "{old}");
    let again = queue_support::job(&s, &id(&queued));
    assert_eq!(again["status"], "success", "the queue job is still there: {again}");
    let (st, _) = s.get_as(MASTER_TOKEN, "buckets/in.c-pg");
    assert_eq!(st, 200);
}

/// Export and import carry SQLite's rows: with the metadata on PostgreSQL they refuse, saying why.
#[test]
fn export_and_import_refuse_a_postgres_metadata_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = kbstack_testkit::postgres::database();
    for args in [vec!["export", "--to", dir.path().join("out").to_str().unwrap()], vec!["import", dir.path().to_str().unwrap()]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kbstack"))
            .args(&args)
            .env("KBSTACK_DATA_DIR", dir.path().join("data"))
            .env("KBSTACK_METADATA_URL", &url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{args:?}: {text}");
        assert!(text.contains("PostgreSQL"), "{args:?}: {text}");
        assert!(!text.contains(&url), "the URL (it may hold a password) is never printed: {text}");
    }
}
