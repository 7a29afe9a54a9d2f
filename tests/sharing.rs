//! Bucket sharing and linking across the projects of one kbstack (one organization), through
//! the real binary: share, `shared-buckets`, link, read-only linked tables reading the source's
//! data, unshare and delete refused while linked, force unlink, project isolation, permissions.
mod common;

use common::{MASTER_TOKEN, Server, call, ok};
use reqwest::Method;
use serde_json::{Value, json};

const P2_MASTER: &str = "2-90-projecttwomastertoken000000000000000";
const P3_MASTER: &str = "3-91-projectthreemastertoken0000000000000";

/// A server with projects 1 (`kbstack`), 2 (`two`) and 3 (`three`), each with a master token.
fn three_projects() -> (Server, tempfile::TempDir) {
    common::start_with_projects(&[(2, "two", P2_MASTER), (3, "three", P3_MASTER)])
}

/// A storage job started by `token`, waited for.
fn wait_as(s: &Server, token: &str, job: &Value) -> Value {
    let id = job["id"].as_i64().unwrap_or_else(|| panic!("not a job: {job}"));
    for _ in 0..2000 {
        let j = ok("job", s.get_as(token, &format!("jobs/{id}")), 200);
        if j["status"] == "success" || j["status"] == "error" {
            return j;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("job {id} did not finish");
}

fn job_ok(s: &Server, token: &str, what: &str, response: (u16, Value)) -> Value {
    let job = ok(what, response, 202);
    let done = wait_as(s, token, &job);
    assert_eq!(done["status"], "success", "{what}: {done}");
    done
}

/// Project 1 makes `in.c-shared` with table `orders` (two rows).
fn shared_source(s: &Server) {
    ok("bucket", s.post_json("buckets", json!({"name": "shared", "stage": "in", "description": "org data"})), 201);
    ok("table", s.post_form("buckets/in.c-shared/tables", &[("name", "orders"), ("dataString", "id,amount\n1,10\n2,20\n")]), 201);
}

fn link(s: &Server, token: &str, name: &str, project: i64) -> (u16, Value) {
    call(s, Method::POST, token, "branch/default/buckets", Some(json!({"name": name, "stage": "in", "sourceProjectId": project, "sourceBucketId": "in.c-shared"})))
}

#[test]
fn shared_bucket_is_listed_linked_and_read_only_in_the_other_project() {
    let (s, _dir) = three_projects();
    shared_source(&s);
    assert_eq!(ok("nothing shared yet", s.get_as(P2_MASTER, "branch/default/shared-buckets"), 200), json!([]));
    ok("not shared: no link", link(&s, P2_MASTER, "linked", 1), 404);

    let done = job_ok(&s, MASTER_TOKEN, "share", call(&s, Method::POST, MASTER_TOKEN, "buckets/in.c-shared/share-organization-project", None));
    assert_eq!(done["operationName"], "bucketShareToOrganizationProject");
    let detail = ok("detail", s.get("buckets/in.c-shared"), 200);
    assert_eq!(detail["sharing"], "organization-project");
    assert_eq!(detail["backendPath"], json!(["KBC_PRJ_1", "in.c-shared"]));
    assert_eq!(detail["isLinkedBucket"], false);

    // The owner does not see its own bucket as shared with it; project 2 does.
    assert_eq!(ok("own", s.get("shared-buckets"), 200), json!([]));
    let shared = ok("listed", s.get_as(P2_MASTER, "branch/default/shared-buckets"), 200);
    assert_eq!(shared.as_array().unwrap().len(), 1, "{shared}");
    let item = &shared[0];
    assert_eq!(item["id"], "in.c-shared");
    assert_eq!(item["project"], json!({"id": 1, "name": "kbstack"}));
    assert_eq!(item["tables"], json!([{"id": "in.c-shared.orders", "name": "orders", "displayName": "orders"}]));
    assert_eq!(item["rowsCount"], 2);
    assert_eq!(item["sharing"], "organization-project");

    // Linking: a bucket of project 2 showing project 1's tables.
    let linked = ok("link", link(&s, P2_MASTER, "linked", 1), 201);
    assert_eq!(linked["id"], "in.c-linked");
    assert_eq!(linked["isReadOnly"], true);
    assert_eq!(linked["isLinkedBucket"], true);
    assert_eq!(linked["sourceBucket"], json!({"id": "in.c-shared", "name": "c-shared", "description": "org data", "project": {"id": 1, "name": "kbstack"}}));
    assert_eq!(linked["backendPath"], json!(["KBC_PRJ_1", "in.c-shared"]));
    assert_eq!(linked["rowsCount"], 2);

    let tables = ok("tables of the link", s.get_as(P2_MASTER, "branch/default/buckets/in.c-linked/tables"), 200);
    assert_eq!(tables.as_array().unwrap().len(), 1);
    assert_eq!(tables[0]["id"], "in.c-linked.orders");
    assert_eq!(tables[0]["isAlias"], true);
    assert_eq!(tables[0]["sourceTable"]["id"], "in.c-shared.orders");
    assert_eq!(tables[0]["sourceTable"]["project"], json!({"id": 1, "name": "kbstack"}));
    let all_tables = ok("all tables", s.get_as(P2_MASTER, "tables"), 200);
    assert!(all_tables.as_array().unwrap().iter().any(|t| t["id"] == "in.c-linked.orders"), "{all_tables}");
    let t = ok("table detail", s.get_as(P2_MASTER, "branch/default/tables/in.c-linked.orders"), 200);
    assert_eq!((t["id"].as_str(), t["bucket"]["id"].as_str(), t["rowsCount"].as_i64()), (Some("in.c-linked.orders"), Some("in.c-linked"), Some(2)));
    assert_eq!(t["columns"], json!(["id", "amount"]));

    // Reads read the source's data, now and after the source changes.
    let (st, csv) = s.send(s.client.get(s.api("tables/in.c-linked.orders/data-preview")).header("X-StorageApi-Token", P2_MASTER));
    assert_eq!(st, 200, "{csv}");
    assert!(csv.as_str().unwrap().contains("\"2\",\"20\""), "{csv}");
    ok("source grows", s.post_form("tables/in.c-shared.orders/import", &[("dataString", "id,amount\n3,30\n"), ("incremental", "1")]), 200);
    let (_, csv) = s.send(s.client.get(s.api("tables/in.c-linked.orders/data-preview")).header("X-StorageApi-Token", P2_MASTER));
    assert!(csv.as_str().unwrap().contains("\"3\",\"30\""), "the link shows the source's current data: {csv}");
    let export = job_ok(&s, P2_MASTER, "export", call(&s, Method::POST, P2_MASTER, "tables/in.c-linked.orders/export-async", Some(json!({}))));
    assert!(export["results"]["file"]["id"].as_i64().is_some(), "{export}");

    // Writes are refused: loads, row deletes, columns, new tables, table drops.
    let e = ok(
        "import",
        s.send(s.client.post(s.api("tables/in.c-linked.orders/import")).header("X-StorageApi-Token", P2_MASTER).form(&[("dataString", "id,amount\n9,9\n")])),
        403,
    );
    assert!(e["error"].as_str().unwrap().contains("read-only"), "{e}");
    ok("delete rows", call(&s, Method::DELETE, P2_MASTER, "tables/in.c-linked.orders/rows", None), 403);
    ok("add column", call(&s, Method::POST, P2_MASTER, "tables/in.c-linked.orders/columns", Some(json!({"name": "x"}))), 403);
    ok("drop table", call(&s, Method::DELETE, P2_MASTER, "tables/in.c-linked.orders", None), 403);
    ok(
        "new table",
        s.send(s.client.post(s.api("buckets/in.c-linked/tables")).header("X-StorageApi-Token", P2_MASTER).form(&[("name", "n"), ("dataString", "a\n1\n")])),
        403,
    );
    assert_eq!(s.preview_rows("in.c-shared.orders", "").len(), 3, "the source is untouched");

    // The source lists its link; unsharing and deleting it are refused while linked.
    let listed = ok("buckets with links", s.get("buckets?include=linkedBuckets"), 200);
    let src = listed.as_array().unwrap().iter().find(|b| b["id"] == "in.c-shared").unwrap().clone();
    assert_eq!(src["linkedBy"][0]["id"], "in.c-linked");
    assert_eq!(src["linkedBy"][0]["project"], json!({"id": 2, "name": "two"}));
    let e = ok("unshare while linked", call(&s, Method::DELETE, MASTER_TOKEN, "buckets/in.c-shared/share", None), 400);
    assert_eq!(e["code"], "storage.buckets.alreadyLinked", "{e}");
    let e = ok("delete while linked", call(&s, Method::DELETE, MASTER_TOKEN, "buckets/in.c-shared?force=true", None), 400);
    assert_eq!(e["code"], "storage.buckets.alreadyLinked", "{e}");

    // Deleting the link leaves the source's data; then unsharing works.
    ok("drop link", call(&s, Method::DELETE, P2_MASTER, "buckets/in.c-linked", None), 204);
    assert_eq!(s.preview_rows("in.c-shared.orders", "").len(), 3, "dropping a link drops no data");
    job_ok(&s, MASTER_TOKEN, "unshare", call(&s, Method::DELETE, MASTER_TOKEN, "buckets/in.c-shared/share", None));
    assert_eq!(ok("unshared", s.get("buckets/in.c-shared"), 200)["sharing"], Value::Null);
    assert_eq!(ok("gone from the list", s.get_as(P2_MASTER, "shared-buckets"), 200), json!([]));
    ok("no new link", link(&s, P2_MASTER, "again", 1), 404);
}

#[test]
fn shares_reach_only_the_projects_they_name() {
    let (s, _dir) = three_projects();
    shared_source(&s);
    ok("bad targets", call(&s, Method::POST, MASTER_TOKEN, "buckets/in.c-shared/share-to-projects", Some(json!({"targetProjectIds": ["x"]}))), 400);
    ok("unknown project", call(&s, Method::POST, MASTER_TOKEN, "buckets/in.c-shared/share-to-projects", Some(json!({"targetProjectIds": [77]}))), 400);
    ok("no targets", call(&s, Method::POST, MASTER_TOKEN, "buckets/in.c-shared/share-to-projects", Some(json!({}))), 400);
    job_ok(&s, MASTER_TOKEN, "to project 3", call(&s, Method::POST, MASTER_TOKEN, "buckets/in.c-shared/share-to-projects", Some(json!({"targetProjectIds": ["3"]}))));
    let b = ok("detail", s.get("buckets/in.c-shared"), 200);
    assert_eq!((b["sharing"].as_str(), &b["sharingParameters"]), (Some("specific-projects"), &json!({"projects": [{"id": 3}]})));

    assert_eq!(ok("project 2 sees nothing", s.get_as(P2_MASTER, "shared-buckets"), 200), json!([]));
    ok("project 2 cannot link", link(&s, P2_MASTER, "linked", 1), 404);
    assert_eq!(ok("project 3 sees it", s.get_as(P3_MASTER, "shared-buckets"), 200).as_array().unwrap().len(), 1);
    ok("project 3 links", link(&s, P3_MASTER, "linked", 1), 201);
    ok("project 2 cannot read project 3's link", s.get_as(P2_MASTER, "tables/in.c-linked.orders"), 404);
    ok("nor the source", s.get_as(P2_MASTER, "tables/in.c-shared.orders"), 404);

    // A type change to the whole organization reaches project 2 too.
    job_ok(&s, MASTER_TOKEN, "change", call(&s, Method::PUT, MASTER_TOKEN, "buckets/in.c-shared/share", Some(json!({"sharing": "organization"}))));
    assert_eq!(ok("project 2 sees it", s.get_as(P2_MASTER, "shared-buckets"), 200)[0]["sharing"], "organization");
    ok("bad type", call(&s, Method::PUT, MASTER_TOKEN, "buckets/in.c-shared/share", Some(json!({"sharing": "everyone"}))), 400);

    // Force unlink from the owner's side removes project 3's link.
    ok("not linked there", call(&s, Method::DELETE, MASTER_TOKEN, "buckets/in.c-shared/links/2", None), 404);
    ok("force unlink", call(&s, Method::DELETE, MASTER_TOKEN, "buckets/in.c-shared/links/3", None), 204);
    ok("link gone", s.get_as(P3_MASTER, "buckets/in.c-linked"), 404);
    ok("source stays", s.get("tables/in.c-shared.orders"), 200);
    ok("deletable now", call(&s, Method::DELETE, MASTER_TOKEN, "buckets/in.c-shared?force=true", None), 204);
    assert_eq!(ok("a deleted bucket is no longer shared", s.get_as(P3_MASTER, "shared-buckets"), 200), json!([]));
}

#[test]
fn sharing_and_linking_need_the_right_tokens() {
    let (s, _dir) = three_projects();
    shared_source(&s);
    // A token that may only read the bucket cannot share it; nor can a non-master bucket manager.
    let reader = ok(
        "reader token",
        s.post_json("tokens", json!({"description": "reader", "bucketPermissions": {"in.c-shared": "read"}})),
        201,
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    ok("reader shares", call(&s, Method::POST, &reader, "buckets/in.c-shared/share-organization", None), 403);
    let manager = ok("manager token", s.post_json("tokens", json!({"description": "manager", "canManageBuckets": true})), 201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    ok("manager shares", call(&s, Method::POST, &manager, "buckets/in.c-shared/share-organization", None), 403);
    ok("unknown bucket", call(&s, Method::POST, MASTER_TOKEN, "buckets/in.c-nope/share-organization", None), 404);

    // `organization` sharing reaches other projects' admins (master tokens) only.
    job_ok(&s, MASTER_TOKEN, "share", call(&s, Method::POST, MASTER_TOKEN, "buckets/in.c-shared/share-organization", None));
    let p2_reader = ok("p2 token", call(&s, Method::POST, P2_MASTER, "tokens", Some(json!({"description": "p2 limited"}))), 201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(ok("limited token sees nothing", s.get_as(&p2_reader, "shared-buckets"), 200), json!([]));
    assert_eq!(ok("admin sees it", s.get_as(P2_MASTER, "shared-buckets"), 200).as_array().unwrap().len(), 1);
    ok("a token that may not create buckets cannot link", link(&s, &p2_reader, "linked", 1), 403);
    ok("no link into the owner", link(&s, MASTER_TOKEN, "self", 1), 400);
    ok("bad source project", call(&s, Method::POST, P2_MASTER, "buckets", Some(json!({"name": "x", "sourceProjectId": "abc", "sourceBucketId": "in.c-shared"}))), 400);
    ok("missing name", call(&s, Method::POST, P2_MASTER, "buckets", Some(json!({"sourceProjectId": 1, "sourceBucketId": "in.c-shared"}))), 400);

    // An async link is a bucketLink job whose result is the bucket; a second link of the same name clashes.
    let done = job_ok(
        &s,
        P2_MASTER,
        "async link",
        call(&s, Method::POST, P2_MASTER, "buckets?async=1", Some(json!({"name": "linked", "sourceProjectId": 1, "sourceBucketId": "in.c-shared"}))),
    );
    assert_eq!(done["operationName"], "bucketLink");
    assert_eq!(done["results"]["id"], "in.c-linked");
    ok("same name again", link(&s, P2_MASTER, "linked", 1), 400);
    ok("a linked bucket cannot be shared on", call(&s, Method::POST, P2_MASTER, "buckets/in.c-linked/share-organization", None), 400);
}

#[test]
fn a_workspace_of_the_linking_project_loads_the_linked_table() {
    let (s, _dir) = three_projects();
    shared_source(&s);
    job_ok(&s, MASTER_TOKEN, "share", call(&s, Method::POST, MASTER_TOKEN, "buckets/in.c-shared/share-organization-project", None));
    ok("link", link(&s, P2_MASTER, "linked", 1), 201);
    let w = ok("workspace", call(&s, Method::POST, P2_MASTER, "workspaces", Some(json!({"readOnlyStorageAccess": false}))), 201);
    let id = w["id"].as_i64().unwrap();
    let body = json!({"input": [{"source": "in.c-linked.orders", "destination": "orders"}]});
    job_ok(&s, P2_MASTER, "load", call(&s, Method::POST, P2_MASTER, &format!("workspaces/{id}/load"), Some(body)));
    let file = s.data_dir.join("workspaces").join(format!("{}.duckdb", kbstack::workspace::database_name(id)));
    let rows = kbstack::workspace::duckdb::execute_in_file(&file, id, "SELECT count(*) FROM orders", 10).unwrap().rows;
    assert_eq!(rows, vec![vec![Some("2".to_string())]], "the source's rows");
}
