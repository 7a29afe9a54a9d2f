//! Merge requests of dev branches through the real binary: the whole lifecycle (create, review,
//! approve, request changes, conflicts, merge as a `mergeRequestMerge` job applying the branch's
//! configurations and rows to the default branch, the branch deleted), the refusals Keboola makes
//! (own approval, unapproved merge, wrong state, role rights, locked branch), cancel, project
//! isolation and an interrupted merge after a restart.
mod common;

use common::{MASTER_TOKEN, Server, call, ok};
use reqwest::Method;
use serde_json::{Value, json};

const C: &str = "keboola.wr-db-mysql";

fn put(s: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    call(s, Method::PUT, token, path, Some(body))
}

struct Tokens {
    dev: String,
    dev_id: i64,
    reviewer: String,
    reviewer_id: i64,
    prod: String,
    prod_id: i64,
    reader: String,
}

fn token(s: &Server, body: Value) -> (String, i64) {
    let t = ok("token", s.post_json("tokens", body), 201);
    (t["token"].as_str().unwrap().to_string(), t["id"].as_str().unwrap().parse().unwrap())
}

fn tokens(s: &Server) -> Tokens {
    let (dev, dev_id) = token(s, json!({"description": "developer", "canManageBuckets": true}));
    let (reviewer, reviewer_id) = token(s, json!({"description": "reviewer", "canManageBuckets": true}));
    let (prod, prod_id) = token(s, json!({"description": "production manager", "canManageProtectedDefaultBranch": true}));
    let (reader, _) = token(s, json!({"description": "reader"}));
    Tokens { dev, dev_id, reviewer, reviewer_id, prod, prod_id, reader }
}

fn create_branch(s: &Server, token: &str, name: &str) -> i64 {
    let job = ok("branch", call(s, Method::POST, token, "dev-branches", Some(json!({"name": name}))), 202);
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    job["results"]["id"].as_i64().unwrap()
}

fn config(s: &Server, branch: &str, id: &str) -> (u16, Value) {
    s.get(&format!("branch/{branch}/components/{C}/configs/{id}"))
}

fn events_of(s: &Server, mr: i64) -> Vec<Value> {
    let list = ok("events", s.get("events?q=event:storage.mergeRequestStateChanged&limit=100"), 200);
    let mut mine: Vec<Value> = list.as_array().unwrap().iter().filter(|e| e["params"]["mergeRequestId"] == mr).map(|e| e["params"].clone()).collect();
    mine.reverse();
    mine.iter_mut().for_each(|p| {
        p.as_object_mut().unwrap().remove("mergeRequestId");
    });
    mine
}

#[test]
fn dev_branch_is_reviewed_approved_and_merged_into_the_default_branch() {
    let s = Server::start();
    let t = tokens(&s);

    // The default branch: a configuration with state and a row, and two more.
    ok("main-1", s.post_json(&format!("components/{C}/configs"), json!({"configurationId": "main-1", "name": "Main", "configuration": {"main": "value"}, "state": {"main-state": "state"}})), 201);
    ok("row", s.post_json(&format!("components/{C}/configs/main-1/rows"), json!({"rowId": "r1", "configuration": {"value": "row"}})), 201);
    ok("other", s.post_json(&format!("components/{C}/configs"), json!({"configurationId": "other", "name": "Other"})), 201);
    ok("gone", s.post_json(&format!("components/{C}/configs"), json!({"configurationId": "gone", "name": "Gone"})), 201);
    let before = ok("main-1", config(&s, "default", "main-1"), 200);
    let main_version = before["version"].as_i64().unwrap();

    // The developer's branch changes, creates and deletes configurations and rows.
    let b = create_branch(&s, &t.dev, "feature");
    let dev = format!("branch/{b}/components/{C}/configs");
    ok("update", put(&s, &t.dev, &format!("{dev}/main-1"), json!({"name": "first"})), 200);
    ok("update", put(&s, &t.dev, &format!("{dev}/main-1"), json!({"name": "Main updated", "configuration": {"main": "update"}, "state": {"dev": "state"}})), 200);
    ok("row update", put(&s, &t.dev, &format!("{dev}/main-1/rows/r1"), json!({"configuration": {"value": "row updated"}, "name": "row one"})), 200);
    ok("row add", call(&s, Method::POST, &t.dev, &format!("{dev}/main-1/rows"), Some(json!({"rowId": "r2", "configuration": {"value": "new row"}}))), 201);
    ok("new", call(&s, Method::POST, &t.dev, &dev, Some(json!({"configurationId": "new-1", "name": "New", "configuration": {"dev": "value"}}))), 201);
    ok("new row", call(&s, Method::POST, &t.dev, &format!("{dev}/new-1/rows"), Some(json!({"rowId": "n1"}))), 201);
    ok("delete", call(&s, Method::DELETE, &t.dev, &format!("{dev}/gone"), None), 204);
    let dev_main = ok("dev main-1", config(&s, &b.to_string(), "main-1"), 200);

    // Refusals at creation.
    let mr_body = json!({"branchFromId": b, "branchIntoId": 1, "title": "Change everything", "description": "Fix typo", "externalId": "ticket-123", "reviewerIds": [t.reviewer_id]});
    let main_id = ok("branches", s.get("dev-branches"), 200).as_array().unwrap().iter().find(|x| x["isDefault"] == true).unwrap()["id"].as_i64().unwrap();
    let mut mr_body = mr_body;
    mr_body["branchIntoId"] = json!(main_id);
    let e = ok("reader creates", call(&s, Method::POST, &t.reader, "merge-request", Some(mr_body.clone())), 403);
    assert_eq!(e["error"], "You don't have access to the resource.");
    let e = ok("into dev", call(&s, Method::POST, &t.dev, "merge-request", Some(json!({"branchFromId": main_id, "branchIntoId": b, "title": "x"}))), 400);
    assert_eq!(e["error"], "Cannot create merge request. Target branch is not default.");
    let e = ok("missing", call(&s, Method::POST, &t.dev, "merge-request", Some(json!({"branchFromId": 123, "branchIntoId": 345, "title": "x"}))), 400);
    assert_eq!(e["error"], "Cannot create merge request. Branch id:\"345\" was not found.");
    ok("no title", call(&s, Method::POST, &t.dev, "merge-request", Some(json!({"branchFromId": b, "branchIntoId": main_id}))), 400);
    ok("bad strategy", call(&s, Method::POST, &t.dev, "merge-request", Some(json!({"branchFromId": b, "branchIntoId": main_id, "title": "x", "autoMergeStrategy": "scheduled"}))), 400);

    let mr = ok("create", call(&s, Method::POST, &t.dev, "merge-request", Some(mr_body.clone())), 201);
    let id = mr["id"].as_i64().unwrap();
    assert_eq!(mr["state"], "development");
    assert_eq!(mr["creator"], json!({"id": t.dev_id, "name": "developer"}));
    assert_eq!(mr["branches"], json!({"branchFromId": b, "branchIntoId": main_id}));
    assert_eq!(mr["merge"], json!({"mergedAt": null, "mergerId": null, "mergerName": ""}));
    assert_eq!(mr["externalId"], "ticket-123");
    assert_eq!(mr["approvals"], json!([]));
    assert_eq!(mr["reviewers"], json!([{"id": t.reviewer_id, "name": "reviewer", "email": "", "status": null}]));
    let e = ok("second", call(&s, Method::POST, &t.dev, "merge-request", Some(mr_body)), 400);
    assert!(e["error"].as_str().unwrap().contains("already has an open merge request"), "{e}");

    // Anyone in the project reads; the detail lists what the branch changed.
    let list = ok("list", call(&s, Method::GET, &t.reader, "merge-request", None), 200);
    assert_eq!(list[0]["title"], "Change everything");
    let detail = ok("detail", call(&s, Method::GET, &t.reader, &format!("merge-request/{id}"), None), 200);
    let mut changed: Vec<(String, bool)> = detail["changeLog"]["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["configurationId"].as_str().unwrap().to_string(), c["isDeleted"].as_bool().unwrap()))
        .collect();
    changed.sort();
    assert_eq!(changed, vec![("gone".to_string(), true), ("main-1".to_string(), false), ("new-1".to_string(), false)]);
    assert_eq!(detail["content"], detail["changeLog"]);
    let main_change = detail["changeLog"]["configurations"].as_array().unwrap().iter().find(|c| c["configurationId"] == "main-1").unwrap().clone();
    assert_eq!(main_change["lastVersionIdentifier"], dev_main["currentVersion"]["versionIdentifier"]);
    assert_eq!(main_change["componentId"], C);
    assert_eq!(ok("conflicts", s.get(&format!("merge-request/{id}/conflicts")), 200), json!([]));
    ok("unknown", s.get("merge-request/999"), 404);
    assert_eq!(ok("unknown", s.get("merge-request/abc"), 404)["code"], "storage.mergeRequests.notFound");

    // Wrong states.
    let e = ok("approve in development", put(&s, &t.reviewer, &format!("merge-request/{id}/approve"), json!({})), 400);
    assert!(e["error"].as_str().unwrap().starts_with("Operation canot be performed due:"), "{e}");
    ok("merge in development", put(&s, &t.prod, &format!("merge-request/{id}/merge"), json!({})), 400);
    ok("changes in development", put(&s, &t.reviewer, &format!("merge-request/{id}/request-changes"), json!({})), 400);

    // Review: the branch and the request are locked; the creator cannot approve.
    ok("prod puts in review", put(&s, &t.prod, &format!("merge-request/{id}/request-review"), json!({})), 403);
    let r = ok("review", put(&s, &t.dev, &format!("merge-request/{id}/request-review"), json!({})), 200);
    assert_eq!(r["state"], "in_review");
    ok("review twice", put(&s, &t.dev, &format!("merge-request/{id}/request-review"), json!({})), 400);
    let e = ok("update in review", put(&s, &t.dev, &format!("merge-request/{id}"), json!({"title": "Lalala"})), 403);
    assert_eq!(e["error"], "You don't have access to the resource.");
    let e = ok("branch locked", put(&s, &t.dev, &format!("{dev}/main-1"), json!({"name": "late"})), 403);
    assert_eq!(e["error"], "You don't have access to the resource.");
    ok("reads still work", config(&s, &b.to_string(), "main-1"), 200);
    let e = ok("own approval", put(&s, &t.dev, &format!("merge-request/{id}/approve"), json!({})), 400);
    assert_eq!(e["error"], "Operation canot be performed due: Request creator cannot approve their own request.");
    ok("reader approves", put(&s, &t.reader, &format!("merge-request/{id}/approve"), json!({})), 403);
    let a = ok("approve", put(&s, &t.reviewer, &format!("merge-request/{id}/approve"), json!({})), 200);
    assert_eq!(a["state"], "approved");
    assert_eq!(a["approvals"][0]["approverId"], t.reviewer_id);
    assert_eq!(a["approvals"][0]["approverName"], "reviewer");
    assert_eq!(a["reviewers"][0]["status"], "approved");
    assert_eq!(
        events_of(&s, id),
        vec![
            json!({"operation": "request_review", "stateFrom": "development", "stateTo": "in_review"}),
            json!({"operation": "approve", "stateFrom": "in_review", "stateTo": "in_review"}),
            json!({"operation": "finish_review", "stateFrom": "in_review", "stateTo": "approved"}),
        ]
    );

    // Only the production manager merges.
    for who in [&t.dev, &t.reviewer, &t.reader] {
        let e = ok("merge without the right", put(&s, who, &format!("merge-request/{id}/merge"), json!({})), 403);
        assert_eq!(e["error"], "You don't have access to the resource.");
    }

    // The default branch moves on: the merge is refused and the conflict listed.
    ok("main changes", s.put_json(&format!("components/{C}/configs/other"), json!({"name": "Other changed"})), 200);
    let conflicts = ok("conflicts", s.get(&format!("merge-request/{id}/conflicts")), 200);
    assert_eq!(conflicts.as_array().unwrap().len(), 1, "{conflicts}");
    assert_eq!(conflicts[0]["configurationId"], "other");
    assert_eq!(conflicts[0]["componentId"], C);
    assert_eq!(conflicts[0]["isDeleted"], false);
    let main_other = ok("other", config(&s, "default", "other"), 200);
    assert_eq!(conflicts[0]["defaultBranchVersionIdentifier"], main_other["currentVersion"]["versionIdentifier"]);
    assert!(conflicts[0]["message"].as_str().unwrap().contains("is not based on the latest version from the default branch"));
    let e = ok("merge with conflict", put(&s, &t.prod, &format!("merge-request/{id}/merge"), json!({})), 400);
    assert_eq!(
        e["error"],
        format!("Merge request {id} cannot be merged. Problem with following configurations: componentId: \"{C}\", configurationId: \"other\"")
    );
    assert_eq!(ok("detail", s.get(&format!("merge-request/{id}")), 200)["state"], "approved");

    // Request changes: back to development, approvals dropped, the branch open again.
    let r = ok("changes", put(&s, &t.reviewer, &format!("merge-request/{id}/request-changes"), json!({"reason": "conflict"})), 200);
    assert_eq!(r["state"], "development");
    assert_eq!(r["approvals"], json!([]));
    assert_eq!(r["reviewers"][0]["status"], "rejected");
    ok("too long a reason", put(&s, &t.reviewer, &format!("merge-request/{id}/request-changes"), json!({"reason": "x".repeat(1001)})), 400);
    let u = ok("update", put(&s, &t.reviewer, &format!("merge-request/{id}"), json!({"title": "By reviewer", "autoMergeStrategy": "immediately"})), 200);
    assert_eq!(u["title"], "By reviewer");
    assert_eq!(u["autoMergeStrategy"], "immediately");
    assert_eq!(u["description"], "Fix typo");
    // Deleted in both branches: no longer a conflict.
    ok("dev deletes other", call(&s, Method::DELETE, &t.dev, &format!("{dev}/other"), None), 204);
    ok("main deletes other", s.delete(&format!("components/{C}/configs/other")), 204);
    assert_eq!(ok("conflicts", s.get(&format!("merge-request/{id}/conflicts")), 200), json!([]));
    ok("review", put(&s, &t.dev, &format!("merge-request/{id}/request-review"), json!({})), 200);
    ok("approve", put(&s, &t.reviewer, &format!("merge-request/{id}/approve"), json!({})), 200);

    // The merge: a job, then the default branch has the branch's changes and the branch is gone.
    let job = ok("merge", put(&s, &t.prod, &format!("merge-request/{id}/merge"), json!({})), 202);
    assert_eq!(job["operationName"], "mergeRequestMerge");
    assert_eq!(job["operationParams"], json!({"id": id}));
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["results"]["state"], "published");

    let merged = ok("main-1", config(&s, "default", "main-1"), 200);
    assert_eq!(merged["name"], "Main updated");
    assert_eq!(merged["configuration"], json!({"main": "update"}));
    assert_eq!(merged["state"], json!({"main-state": "state"}), "the default branch keeps its state");
    assert_eq!(merged["version"].as_i64().unwrap(), main_version + 1, "one new version");
    assert_eq!(merged["changeDescription"], "Configuration merged from branch: \"feature\"");
    assert_ne!(merged["currentVersion"]["versionIdentifier"], dev_main["currentVersion"]["versionIdentifier"]);
    let rows = merged["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], "r1");
    assert_eq!(rows[0]["configuration"], json!({"value": "row updated"}));
    assert_eq!(rows[0]["name"], "row one");
    assert_eq!(rows[0]["version"], 2);
    assert_eq!(rows[1]["id"], "r2");
    assert_eq!(rows[1]["version"], 1);
    let versions = ok("versions", s.get(&format!("components/{C}/configs/main-1/versions")), 200);
    assert_eq!(versions.as_array().unwrap().len() as i64, main_version + 1);
    let created = ok("new-1", config(&s, "default", "new-1"), 200);
    assert_eq!(created["version"], 1);
    assert_eq!(created["configuration"], json!({"dev": "value"}));
    assert_eq!(created["rows"][0]["id"], "n1");
    assert_eq!(config(&s, "default", "gone").0, 404, "deleted in the branch, deleted by the merge");

    let e = ok("branch gone", s.get(&format!("dev-branches/{b}")), 404);
    assert_eq!(e["code"], "storage.devBranches.notFound");
    let done = ok("detail", s.get(&format!("merge-request/{id}")), 200);
    assert_eq!(done["state"], "published");
    assert_eq!(done["merge"]["mergerId"], t.prod_id);
    assert_eq!(done["merge"]["mergerName"], "production manager");
    assert!(done["merge"]["mergedAt"].is_string());
    assert_eq!(done["changeLog"]["configurations"].as_array().unwrap().len(), 4, "kept after the branch is gone: {done}");
    let tail: Vec<Value> = events_of(&s, id).into_iter().rev().take(2).collect();
    assert_eq!(
        tail,
        vec![
            json!({"operation": "publish", "stateFrom": "in_merge", "stateTo": "published"}),
            json!({"operation": "merge", "stateFrom": "approved", "stateTo": "in_merge"}),
        ]
    );

    // A published request moves no more.
    ok("review after merge", put(&s, &t.dev, &format!("merge-request/{id}/request-review"), json!({})), 400);
    ok("cancel after merge", call(&s, Method::DELETE, &t.dev, &format!("merge-request/{id}"), None), 400);
    ok("merge again", put(&s, &t.prod, &format!("merge-request/{id}/merge"), json!({})), 400);
}

#[test]
fn canceled_request_frees_its_branch() {
    let s = Server::start();
    let t = tokens(&s);
    let b = create_branch(&s, &t.dev, "abandoned");
    let mr = ok("create", call(&s, Method::POST, &t.dev, "merge-request", Some(json!({"branchFromId": b, "branchIntoId": main_branch(&s), "title": "t"}))), 201);
    let id = mr["id"].as_i64().unwrap();
    ok("review", put(&s, &t.dev, &format!("merge-request/{id}/request-review"), json!({})), 200);
    ok("reader cancels", call(&s, Method::DELETE, &t.reader, &format!("merge-request/{id}"), None), 403);
    let c = ok("cancel", call(&s, Method::DELETE, &t.reviewer, &format!("merge-request/{id}"), None), 200);
    assert_eq!(c["state"], "canceled");
    assert_eq!(c["branches"]["branchFromId"], Value::Null);
    ok("branch stays", s.get(&format!("dev-branches/{b}")), 200);
    ok("branch writable", put(&s, &t.dev, &format!("branch/{b}/components/{C}/configs/x"), json!({"name": "x"})), 404);
    ok("cancel twice", call(&s, Method::DELETE, &t.dev, &format!("merge-request/{id}"), None), 400);
    ok("a new request", call(&s, Method::POST, &t.dev, "merge-request", Some(json!({"branchFromId": b, "branchIntoId": main_branch(&s), "title": "again"}))), 201);
}

fn main_branch(s: &Server) -> i64 {
    ok("branches", s.get("dev-branches"), 200).as_array().unwrap().iter().find(|x| x["isDefault"] == true).unwrap()["id"].as_i64().unwrap()
}

/// Another project sees none of this project's requests; a merge a crash interrupted is
/// approved again after the restart.
#[test]
fn requests_are_per_project_and_interrupted_merges_recover() {
    use kbstack::meta::merge_requests::MergeRequestStore;
    use kbstack::meta::tokens::TokenRecord;

    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path());
    let t = tokens(&s);
    let b = create_branch(&s, &t.dev, "feature");
    let main = main_branch(&s);
    let mr = ok("create", call(&s, Method::POST, &t.dev, "merge-request", Some(json!({"branchFromId": b, "branchIntoId": main, "title": "t"}))), 201);
    let id = mr["id"].as_i64().unwrap();
    ok("review", put(&s, &t.dev, &format!("merge-request/{id}/request-review"), json!({})), 200);
    ok("approve", put(&s, &t.reviewer, &format!("merge-request/{id}/approve"), json!({})), 200);
    s.kill();

    // A second project with its own master token, and a merge left half way by a crash.
    let other_secret = "2-99-otherprojectmastertoken00000000000000";
    {
        let meta = common::metadata_store(dir.path());
        meta.ensure_project(2, "other", "2026-01-01T00:00:00+0000").unwrap();
        meta.ensure_default_branch(2, "Main", "2026-01-01T00:00:00+0000").unwrap();
        let master = TokenRecord {
            can_manage_protected_default_branch: true,
            ..TokenRecord::master(2, "Other master", "2026-01-01T00:00:00+0000")
        };
        meta.insert_token(&master, &|_| other_secret.to_string()).unwrap();
        meta.change_merge_request(1, id, |m| -> kbstack_core::Result<()> {
            m.state = "in_merge".into();
            Ok(())
        })
        .unwrap()
        .unwrap();
    }
    let s = Server::start_in(dir.path());
    assert_eq!(ok("recovered", s.get(&format!("merge-request/{id}")), 200)["state"], "approved");

    assert_eq!(ok("other list", call(&s, Method::GET, other_secret, "merge-request", None), 200), json!([]));
    ok("other detail", call(&s, Method::GET, other_secret, &format!("merge-request/{id}"), None), 404);
    ok("other conflicts", call(&s, Method::GET, other_secret, &format!("merge-request/{id}/conflicts"), None), 404);
    ok("other merge", put(&s, other_secret, &format!("merge-request/{id}/merge"), json!({})), 404);
    ok("other cancel", call(&s, Method::DELETE, other_secret, &format!("merge-request/{id}"), None), 404);
    let e = ok(
        "other project's branch",
        call(&s, Method::POST, other_secret, "merge-request", Some(json!({"branchFromId": b, "branchIntoId": main, "title": "t"}))),
        400,
    );
    assert!(e["error"].as_str().unwrap().contains("was not found"), "{e}");

    // The recovered request merges.
    let job = ok("merge", put(&s, MASTER_TOKEN, &format!("merge-request/{id}/merge"), json!({})), 202);
    assert_eq!(s.wait_job(&job)["status"], "success");
    assert_eq!(ok("published", s.get(&format!("merge-request/{id}")), 200)["state"], "published");
}

/// A branch changing 100 configurations (each with two rows, one changed) merges in one job;
/// prints how long the analysis (detail) and the merge take.
#[test]
fn a_hundred_changed_configurations_merge_at_once() {
    let s = Server::start();
    let t = tokens(&s);
    for i in 0..100 {
        ok("config", s.post_json(&format!("components/{C}/configs"), json!({"configurationId": format!("c{i}"), "name": format!("C {i}")})), 201);
        for r in ["a", "b"] {
            ok("row", s.post_json(&format!("components/{C}/configs/c{i}/rows"), json!({"rowId": r, "configuration": {"v": 1}})), 201);
        }
    }
    let b = create_branch(&s, &t.dev, "bulk");
    for i in 0..100 {
        ok("row update", put(&s, &t.dev, &format!("branch/{b}/components/{C}/configs/c{i}/rows/a"), json!({"configuration": {"v": 2}})), 200);
    }
    let mr = ok("create", call(&s, Method::POST, &t.dev, "merge-request", Some(json!({"branchFromId": b, "branchIntoId": main_branch(&s), "title": "bulk"}))), 201);
    let id = mr["id"].as_i64().unwrap();
    let started = std::time::Instant::now();
    let detail = ok("detail", s.get(&format!("merge-request/{id}")), 200);
    let analysis = started.elapsed();
    assert_eq!(detail["changeLog"]["configurations"].as_array().unwrap().len(), 100);
    ok("review", put(&s, &t.dev, &format!("merge-request/{id}/request-review"), json!({})), 200);
    ok("approve", put(&s, &t.reviewer, &format!("merge-request/{id}/approve"), json!({})), 200);
    let started = std::time::Instant::now();
    let job = ok("merge", put(&s, &t.prod, &format!("merge-request/{id}/merge"), json!({})), 202);
    let job = s.wait_job(&job);
    let merge = started.elapsed();
    assert_eq!(job["status"], "success", "{job}");
    for i in [0, 57, 99] {
        let c = ok("merged", config(&s, "default", &format!("c{i}")), 200);
        assert_eq!(c["rows"][0]["configuration"], json!({"v": 2}));
        assert_eq!(c["rows"][0]["version"], 2);
        assert_eq!(c["rows"][1]["version"], 1, "the unchanged row keeps its version");
    }
    eprintln!("100 changed configurations: detail (analysis) {analysis:?}, merge request to finished job {merge:?}");
}
