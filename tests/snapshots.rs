//! Table snapshots (create, list, detail, delete, restore through `tables-async` with
//! `snapshotId`) and pulling a default-branch table into a dev branch, through the real binary.
mod common;

use common::Server;
use serde_json::{Value, json};

fn token(s: &Server, body: Value) -> String {
    let (st, t) = s.post_json("tokens", body);
    assert_eq!(st, 201, "{t}");
    t["token"].as_str().unwrap().to_string()
}

fn success(s: &Server, (st, job): (u16, Value)) -> Value {
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    job
}

fn table_with_rows(s: &Server, bucket: &str) {
    assert_eq!(s.post_json("buckets", json!({"name": bucket})).0, 201);
    let (st, t) = s.post_form(
        &format!("buckets/in.c-{bucket}/tables"),
        &[("name", "t"), ("dataString", "id,v\n1,a\n2,b\n"), ("primaryKey", "id")],
    );
    assert_eq!(st, 201, "{t}");
    let (st, m) = s.post_json(
        &format!("tables/in.c-{bucket}.t/metadata"),
        json!({"provider": "user", "metadata": [{"key": "tk", "value": "tv"}], "columnsMetadata": {"v": [{"key": "ck", "value": "cv"}]}}),
    );
    assert_eq!(st, 201, "{m}");
}

#[test]
fn snapshot_is_taken_listed_restored_and_deleted() {
    let s = Server::start();
    table_with_rows(&s, "snap");

    let job = success(&s, s.post_json("tables/in.c-snap.t/snapshots", json!({"description": "before the change"})));
    assert_eq!(job["operationName"], "tableSnapshotCreate");
    assert_eq!(job["tableId"], "in.c-snap.t");
    let snap = &job["results"];
    let id = snap["id"].as_str().expect("a numeric string id").to_string();
    assert_eq!(snap["table"], json!({"id": "in.c-snap.t", "primaryKey": ["id"], "columns": ["id", "v"]}));

    // The table changes after the snapshot; the snapshot does not.
    let (st, _) = s.send(
        reqwest::blocking::Client::new()
            .delete(s.api("tables/in.c-snap.t/rows?allowTruncate=1"))
            .header("X-StorageApi-Token", common::MASTER_TOKEN),
    );
    assert_eq!(st, 202);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(s.preview_rows("in.c-snap.t", "").is_empty());

    let (st, list) = s.get("tables/in.c-snap.t/snapshots");
    assert_eq!(st, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["description"], "before the change");
    assert_eq!(list[0]["type"], "table");
    assert!(list[0]["uri"].as_str().unwrap().ends_with(&format!("/v2/storage/snapshots/{id}")), "{list}");
    assert!(list[0]["creatorToken"]["id"].is_i64(), "{list}");
    let (st, detail) = s.get(&format!("snapshots/{id}"));
    assert_eq!(st, 200, "{detail}");
    assert_eq!(detail["table"]["columns"], json!(["id", "v"]));
    assert!(detail.get("uri").is_none());

    // Restore into a new table (Keboola's `createTableFromSnapshot`): rows, key, metadata.
    let job = success(&s, s.post_json("buckets/in.c-snap/tables-async", json!({"snapshotId": id.parse::<i64>().unwrap(), "name": "restored"})));
    assert_eq!(job["operationParams"]["source"], json!({"type": "snapshot", "snapshotId": id.parse::<i64>().unwrap()}));
    assert_eq!(job["results"]["id"], "in.c-snap.restored");
    assert_eq!(job["results"]["primaryKey"], json!(["id"]));
    assert_eq!(s.preview_rows("in.c-snap.restored", ""), vec![vec!["1", "a"], vec!["2", "b"]]);
    let (_, restored) = s.get("tables/in.c-snap.restored");
    assert_eq!(restored["rowsCount"], 2, "{restored}");
    assert_eq!(restored["metadata"][0]["key"], "tk", "{restored}");
    assert_eq!(restored["columnMetadata"]["v"][0]["value"], "cv", "{restored}");
    // The name is taken now: the same restore fails with Keboola's code.
    let (st, err) = s.post_form("buckets/in.c-snap/tables-async", &[("snapshotId", &id), ("name", "restored")]);
    assert_eq!(st, 400, "{err}");
    assert_eq!(err["code"], "storage.buckets.tableAlreadyExists");

    // Delete: a job, then the snapshot is gone and cannot be restored.
    let job = success(&s, s.delete(&format!("snapshots/{id}")));
    assert_eq!(job["operationName"], "tableSnapshotDelete");
    assert_eq!(job["operationParams"]["snapshotId"], id);
    let (st, err) = s.get(&format!("snapshots/{id}"));
    assert_eq!(st, 404, "{err}");
    assert_eq!(err["code"], "storage.snapshots.notFound");
    assert_eq!(s.get("tables/in.c-snap.t/snapshots").1, json!([]));
    assert_eq!(s.post_form("buckets/in.c-snap/tables-async", &[("snapshotId", &id), ("name", "again")]).0, 404);
    assert_eq!(s.get("snapshots/not-a-number").0, 404);
}

#[test]
fn snapshots_follow_bucket_permissions() {
    let s = Server::start();
    table_with_rows(&s, "perm");
    table_with_rows(&s, "other");
    let job = success(&s, s.post_json("tables/in.c-perm.t/snapshots", json!({})));
    let id = job["results"]["id"].as_str().unwrap().to_string();

    let reader = token(&s, json!({"description": "reader", "bucketPermissions": {"in.c-perm": "read"}}));
    let (st, err) = s.post_json_as(&reader, "tables/in.c-perm.t/snapshots", json!({}));
    assert_eq!(st, 403, "a read-only token cannot snapshot: {err}");
    assert_eq!(s.get_as(&reader, "tables/in.c-perm.t/snapshots").0, 200, "but may list");
    assert_eq!(s.get_as(&reader, &format!("snapshots/{id}")).0, 200);
    let delete = |tok: &str| {
        s.send(reqwest::blocking::Client::new().delete(s.api(&format!("snapshots/{id}"))).header("X-StorageApi-Token", tok))
    };
    assert_eq!(delete(&reader).0, 403, "nor delete");

    // A token without the bucket does not see its snapshots at all.
    let outsider = token(&s, json!({"description": "outsider", "bucketPermissions": {"in.c-other": "write"}}));
    assert_eq!(s.get_as(&outsider, &format!("snapshots/{id}")).0, 404);
    assert_eq!(delete(&outsider).0, 404);
    assert_eq!(s.get_as(&outsider, "tables/in.c-perm.t/snapshots").0, 404);
    let (st, _) = s.post_json_as(&outsider, "buckets/in.c-other/tables-async", json!({"snapshotId": id, "name": "stolen"}));
    assert_eq!(st, 404, "nor restores them elsewhere");
    assert_eq!(s.get(&format!("snapshots/{id}")).0, 200, "still there");
}

#[test]
fn pull_copies_a_default_table_into_a_dev_branch() {
    let s = Server::start();
    table_with_rows(&s, "prod");
    let job = success(&s, s.post_json("dev-branches", json!({"name": "feature"})));
    let branch = job["results"]["id"].as_i64().unwrap();

    // Not from the default branch, and not a table the default branch lacks.
    let (st, err) = s.post_json("tables/in.c-prod.t/pull", json!({}));
    assert_eq!(st, 400, "{err}");
    let (st, err) = s.post_json("branch/default/tables/in.c-prod.t/pull", json!({}));
    assert_eq!(st, 400, "{err}");
    let (st, err) = s.post_json(&format!("branch/{branch}/tables/in.c-prod.missing/pull"), json!({}));
    assert_eq!(st, 404, "{err}");
    assert_eq!(err["code"], "storage.tables.notFound");
    assert_eq!(s.get(&format!("branch/{branch}/tables/in.c-prod.t")).0, 404, "not in the branch before the pull");

    let job = success(&s, s.post_json(&format!("branch/{branch}/tables/in.c-prod.t/pull"), json!({})));
    assert_eq!(job["operationName"], "devBranchTablePull");
    assert_eq!(job["operationParams"]["targetBranchId"], branch);
    assert!(job["operationParams"]["sourceBranchId"].is_i64(), "{job}");
    let (st, t) = s.get(&format!("branch/{branch}/tables/in.c-prod.t"));
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["primaryKey"], json!(["id"]));
    assert_eq!(t["rowsCount"], 2);
    assert_eq!(t["metadata"][0]["key"], "tk", "{t}");
    assert_eq!(t["columnMetadata"]["v"][0]["key"], "ck", "{t}");
    assert_eq!(s.get(&format!("branch/{branch}/buckets/in.c-prod")).0, 200, "the bucket came along");
    let preview = |prefix: &str| {
        let (st, body) = s.get(&format!("{prefix}tables/in.c-prod.t/data-preview?format=json"));
        assert_eq!(st, 200, "{body}");
        body["rows"].as_array().unwrap().len()
    };
    assert_eq!(preview(&format!("branch/{branch}/")), 2);

    // The branch's copy is apart: emptying it leaves the default table whole; a second pull
    // overwrites the copy.
    let (st, _) = s.send(
        reqwest::blocking::Client::new()
            .delete(s.api(&format!("branch/{branch}/tables/in.c-prod.t/rows?allowTruncate=1")))
            .header("X-StorageApi-Token", common::MASTER_TOKEN),
    );
    assert_eq!(st, 202);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(preview(&format!("branch/{branch}/")), 0);
    assert_eq!(preview(""), 2);
    success(&s, s.post_json(&format!("branch/{branch}/tables/in.c-prod.t/pull"), json!({})));
    assert_eq!(preview(&format!("branch/{branch}/")), 2);

    // A read-only token cannot pull.
    let reader = token(&s, json!({"description": "reader", "bucketPermissions": {"in.c-prod": "read"}}));
    let (st, err) = s.post_json_as(&reader, &format!("branch/{branch}/tables/in.c-prod.t/pull"), json!({}));
    assert_eq!(st, 403, "{err}");
}
