//! The Query service through the real binary: submit, poll, paged results with column types,
//! DML counts, transactional rollback, a failed statement with `notExecuted` after it, cancel
//! and statement timeout of a long query, history, CSV export, another project's workspace and
//! job refused, bad input in the service's envelope.
mod common;

use std::time::{Duration, Instant};

use common::{MASTER_TOKEN, Server};
use serde_json::{Value, json};

/// Long enough to be cancelled or to time out; DuckDB stops it on an interrupt.
const LONG: &str = "SELECT count(*) FROM range(10000000000) a, range(100) b WHERE a.range * b.range = -1";

fn qs(s: &Server, path: &str) -> String {
    format!("{}/query/api/v1/{path}", s.url)
}

fn get(s: &Server, path: &str) -> (u16, Value) {
    s.send(s.client.get(qs(s, path)).header("X-StorageApi-Token", MASTER_TOKEN))
}

fn post(s: &Server, path: &str, body: Value) -> (u16, Value) {
    s.send(s.client.post(qs(s, path)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body))
}

fn workspace(s: &Server) -> i64 {
    let (st, w) = s.post_form("workspaces", &[("readOnlyStorageAccess", "false")]);
    assert_eq!(st, 201, "{w}");
    w["id"].as_i64().unwrap()
}

fn default_branch(s: &Server) -> i64 {
    let (st, branches) = s.get("dev-branches");
    assert_eq!(st, 200, "{branches}");
    branches.as_array().unwrap().iter().find(|b| b["isDefault"] == true).unwrap()["id"].as_i64().unwrap()
}

fn submit(s: &Server, ws: i64, statements: &[&str], transactional: bool) -> String {
    let (st, b) = post(s, &format!("branches/default/workspaces/{ws}/queries"), json!({"statements": statements, "transactional": transactional, "actorType": "user"}));
    assert_eq!(st, 201, "{b}");
    b["queryJobId"].as_str().unwrap().to_string()
}

fn wait(s: &Server, job: &str) -> Value {
    let started = Instant::now();
    loop {
        let (st, b) = get(s, &format!("queries/{job}"));
        assert_eq!(st, 200, "{b}");
        if ["completed", "failed", "canceled"].contains(&b["status"].as_str().unwrap()) {
            return b;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "job did not finish: {b}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn statuses(job: &Value) -> Vec<&str> {
    job["statements"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect()
}

fn page(s: &Server, job: &Value, statement: usize, query: &str) -> Value {
    let id = job["statements"][statement]["id"].as_str().unwrap();
    let (st, b) = get(s, &format!("queries/{}/{id}/results?{query}", job["queryJobId"].as_str().unwrap()));
    assert_eq!(st, 200, "{b}");
    b
}

fn assert_envelope(st: u16, b: &Value, status: u16) {
    assert_eq!(st, status, "{b}");
    assert!(b["exception"].is_string() && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("query-")), "{b}");
    assert!(b["context"].is_object() && b["status"] == "error" && b["error"] == json!(status), "{b}");
}

#[test]
fn submit_poll_and_read_pages_with_types() {
    let s = Server::start();
    let ws = workspace(&s);
    let job = submit(
        &s,
        ws,
        &[
            "CREATE TABLE t AS SELECT range AS id, 'n' || range AS name, CAST(range / 4 AS DECIMAL(10,2)) AS v, range % 2 = 0 AS even, \
             DATE '2024-01-01' + CAST(range AS INTEGER) AS d, CAST(NULL AS VARCHAR) AS nothing FROM range(2500)",
            "INSERT INTO t SELECT id + 2500, name, v, even, d, nothing FROM t WHERE id < 10",
            "SELECT * FROM t ORDER BY id",
        ],
        false,
    );
    let done = wait(&s, &job);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(statuses(&done), vec!["completed"; 3]);
    assert_eq!(done["actorType"], "user");
    for key in ["createdAt", "changedAt"] {
        assert!(done[key].as_str().is_some_and(|t| t.ends_with('Z')), "{key}: {done}");
    }
    let select = &done["statements"][2];
    assert_eq!(select["numberOfRows"], 2510);
    assert!(select["executedAt"].is_string() && select["completedAt"].is_string(), "{select}");
    assert_eq!(done["statements"][1]["rowsAffected"], 10);

    let first = page(&s, &done, 2, "offset=0&pageSize=2");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["numberOfRows"], 2510);
    let types: Vec<(&str, &str)> = first["columns"].as_array().unwrap().iter().map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap())).collect();
    assert_eq!(types, vec![("id", "fixed"), ("name", "text"), ("v", "fixed"), ("even", "boolean"), ("d", "date"), ("nothing", "text")]);
    assert!(first["columns"].as_array().unwrap().iter().all(|c| c["nullable"] == true && c["length"].is_i64()));
    assert_eq!(first["data"], json!([["0", "n0", "0.00", "true", "2024-01-01", null], ["1", "n1", "0.25", "false", "2024-01-02", null]]));
    assert!(first.as_object().unwrap().contains_key("message"), "message is always there (MCP reads it): {first}");
    let middle = page(&s, &done, 2, "offset=1999&pageSize=3");
    let ids: Vec<&str> = middle["data"].as_array().unwrap().iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["1999", "2000", "2001"]);
    assert_eq!(page(&s, &done, 2, "offset=2508&pageSize=100")["data"].as_array().unwrap().len(), 2);
    assert_eq!(page(&s, &done, 2, "offset=5000")["data"], json!([]));
    // A DML statement's result: its count, no rows.
    let insert = page(&s, &done, 1, "");
    assert_eq!((insert["rowsAffected"].clone(), insert["data"].clone()), (json!(10), json!([])), "{insert}");

    // The numeric branch id as MCP sends it (`main` as PHP tests do).
    let branch = default_branch(&s);
    let (st, b) = post(&s, &format!("branches/{branch}/workspaces/{ws}/queries"), json!({"statements": ["SELECT 1 AS one"]}));
    assert_eq!(st, 201, "{b}");
    let one = wait(&s, b["queryJobId"].as_str().unwrap());
    assert_eq!(page(&s, &one, 0, "")["data"], json!([["1"]]));
    let (st, b) = post(&s, &format!("branches/main/workspaces/{ws}/queries"), json!({"statements": ["SELECT 2"]}));
    assert_eq!(st, 201, "{b}");

    // History: the workspace's statements, newest first, paged by afterId.
    let (st, h) = get(&s, &format!("branches/{branch}/workspaces/{ws}/queries?pageSize=2"));
    assert_eq!(st, 200, "{h}");
    let items = h["statements"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["query"], "SELECT 2");
    assert_eq!(items[1]["query"], "SELECT 1 AS one");
    assert!(items[1]["queryJobId"].is_string(), "{h}");
    let after = items[1]["id"].as_str().unwrap();
    let (_, older) = get(&s, &format!("branches/{branch}/workspaces/{ws}/queries?afterId={after}"));
    let queries: Vec<&str> = older["statements"].as_array().unwrap().iter().map(|s| s["query"].as_str().unwrap()).collect();
    assert_eq!(queries, vec!["SELECT * FROM t ORDER BY id", "INSERT INTO t SELECT id + 2500, name, v, even, d, nothing FROM t WHERE id < 10", &done["statements"][0]["query"].as_str().unwrap()[..]]);

    // CSV export of a result; NDJSON stream.
    let stmt = done["statements"][2]["id"].as_str().unwrap();
    let csv = s.client.get(qs(&s, &format!("queries/{job}/{stmt}/export?fileType=csv"))).header("X-StorageApi-Token", MASTER_TOKEN).send().unwrap();
    assert_eq!(csv.status(), 200);
    let text = csv.text().unwrap();
    assert!(text.starts_with("id,name,v,even,d,nothing\n0,n0,0.00,true,2024-01-01,\n"), "{}", &text[..100]);
    assert_eq!(text.lines().count(), 2511);
    let stream = s.client.get(qs(&s, &format!("queries/{job}/{stmt}/results/stream"))).header("X-StorageApi-Token", MASTER_TOKEN).send().unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.text().unwrap().lines().count(), 2510);
}

#[test]
fn failed_statement_rolls_back_a_transactional_job() {
    let s = Server::start();
    let ws = workspace(&s);
    assert_eq!(wait(&s, &submit(&s, ws, &["CREATE TABLE kept (a INTEGER)"], false))["status"], "completed");
    let statements = ["INSERT INTO kept VALUES (1)", "SELECT * FROM missing_table", "INSERT INTO kept VALUES (2)"];
    let failed = wait(&s, &submit(&s, ws, &statements, true));
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(statuses(&failed), vec!["completed", "failed", "notExecuted"]);
    assert!(failed["statements"][1]["error"].as_str().unwrap().contains("missing_table"), "{failed}");
    let result = page(&s, &failed, 1, "");
    assert_eq!(result["status"], "failed");
    assert!(result["message"].as_str().unwrap().contains("missing_table"), "{result}");
    let count = |s: &Server| {
        let job = wait(s, &submit(s, ws, &["SELECT count(*) AS n FROM kept"], false));
        page(s, &job, 0, "")["data"][0][0].as_str().unwrap().to_string()
    };
    assert_eq!(count(&s), "0", "the transaction was rolled back");
    // Not transactional: what ran before the failure stays.
    let failed = wait(&s, &submit(&s, ws, &statements, false));
    assert_eq!(statuses(&failed), vec!["completed", "failed", "notExecuted"]);
    assert_eq!(count(&s), "1");
    // Results of a statement that never ran.
    assert_eq!(page(&s, &failed, 2, "")["status"], "notExecuted");
}

#[test]
fn a_long_query_is_canceled_and_a_slow_one_times_out() {
    let s = Server::start_with_env(&[("KBSTACK_QUERY_STATEMENT_TIMEOUT_SECS", "2")]);
    let ws = workspace(&s);
    let job = submit(&s, ws, &[LONG, "SELECT 1"], true);
    let started = Instant::now();
    loop {
        let (_, b) = get(&s, &format!("queries/{job}"));
        if b["statements"][0]["status"] == "processing" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never started: {b}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (st, b) = post(&s, &format!("queries/{job}/cancel"), json!({"reason": "too slow"}));
    assert_eq!((st, b["queryJobId"].as_str()), (200, Some(job.as_str())), "{b}");
    let canceled = wait(&s, &job);
    assert!(started.elapsed() < Duration::from_secs(5), "the statement was interrupted");
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    assert_eq!(canceled["cancellationReason"], "too slow");
    assert!(canceled["canceledAt"].is_string());
    // The interrupted statement is `canceled`; the one after it never ran.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = canceled.clone();
    while statuses(&after) != vec!["canceled", "notExecuted"] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        after = get(&s, &format!("queries/{job}")).1;
    }
    assert_eq!(statuses(&after), vec!["canceled", "notExecuted"], "{after}");
    let (st, b) = post(&s, &format!("queries/{job}/cancel"), json!({}));
    assert_envelope(st, &b, 400);

    // The configured statement timeout (2 s) stops a statement that runs longer.
    let started = Instant::now();
    let timed_out = wait(&s, &submit(&s, ws, &[LONG], false));
    assert_eq!(timed_out["status"], "failed", "{timed_out}");
    assert!(timed_out["statements"][0]["error"].as_str().unwrap().contains("timeout"), "{timed_out}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The workspace is free again.
    assert_eq!(wait(&s, &submit(&s, ws, &["SELECT 1"], false))["status"], "completed");
}

#[test]
fn other_projects_workspaces_and_jobs_are_not_found() {
    use kbstack::meta::query_jobs::suite::job;
    use kbstack::meta::workspaces::suite::workspace as ws_record;
    let s = Server::start();
    let own = workspace(&s);
    // Another project's workspace and job, written beside the running server.
    let meta = common::metadata_store(&s.data_dir);
    let foreign_ws = meta.insert_workspace(&ws_record(2, 99, None)).unwrap();
    meta.insert_query_job(&job("foreign-job", 2, foreign_ws, 1, &["SELECT 1"])).unwrap();
    drop(meta);

    let (st, b) = post(&s, &format!("branches/default/workspaces/{foreign_ws}/queries"), json!({"statements": ["SELECT 1"]}));
    assert_envelope(st, &b, 404);
    let (st, b) = get(&s, &format!("branches/default/workspaces/{foreign_ws}/queries"));
    assert_envelope(st, &b, 404);
    let (st, b) = get(&s, "queries/foreign-job");
    assert_envelope(st, &b, 404);
    let (st, b) = post(&s, "queries/foreign-job/cancel", json!({}));
    assert_envelope(st, &b, 404);
    let (st, b) = get(&s, "queries/foreign-job/foreign-job-s0/results");
    assert_envelope(st, &b, 404);
    // A branch the project does not have.
    let (st, b) = post(&s, &format!("branches/424242/workspaces/{own}/queries"), json!({"statements": ["SELECT 1"]}));
    assert_envelope(st, &b, 404);

    // A token without bucket management sees only the workspaces it made.
    let (st, t) = s.post_json("tokens", json!({"description": "reader"}));
    assert_eq!(st, 201, "{t}");
    let reader = t["token"].as_str().unwrap();
    let (st, b) = s.send(
        s.client.post(qs(&s, &format!("branches/default/workspaces/{own}/queries"))).header("X-StorageApi-Token", reader).json(&json!({"statements": ["SELECT 1"]})),
    );
    assert_envelope(st, &b, 404);
}

#[test]
fn bad_requests_are_refused_in_the_envelope() {
    let s = Server::start();
    let ws = workspace(&s);
    let path = format!("branches/default/workspaces/{ws}/queries");
    for body in [
        json!({}),
        json!({"statements": []}),
        json!({"statements": "SELECT 1"}),
        json!({"statements": [1]}),
        json!({"statements": [""]}),
        json!({"statements": ["SELECT 1"], "transactional": "yes"}),
        json!({"statements": ["SELECT 1"], "actorType": "robot"}),
        json!({"statements": ["SELECT 1"], "timeout": "soon"}),
        json!({"statements": vec!["SELECT 1"; 101]}),
    ] {
        let (st, b) = post(&s, &path, body.clone());
        assert_envelope(st, &b, 400);
        assert!(!b["exception"].as_str().unwrap().is_empty(), "{body}: {b}");
    }
    let (st, b) = s.send(s.client.post(qs(&s, &path)).json(&json!({"statements": ["SELECT 1"]})));
    assert_envelope(st, &b, 401);
    let (st, b) = s.send(s.client.get(qs(&s, "queries/x")).header("X-StorageApi-Token", "1-1-wrong"));
    assert_envelope(st, &b, 401);
    let (st, b) = get(&s, "queries/no-such-job");
    assert_envelope(st, &b, 404);
    let job = wait(&s, &submit(&s, ws, &["SELECT 1"], false));
    let id = job["queryJobId"].as_str().unwrap();
    let (st, b) = get(&s, &format!("queries/{id}/no-such-statement/results"));
    assert_envelope(st, &b, 404);
    for query in ["pageSize=0", "pageSize=10001", "offset=-1", "pageSize=x"] {
        let stmt = job["statements"][0]["id"].as_str().unwrap();
        let (st, b) = get(&s, &format!("queries/{id}/{stmt}/results?{query}"));
        assert_envelope(st, &b, 400);
    }
    let (st, b) = get(&s, &format!("{path}?pageSize=0"));
    assert_envelope(st, &b, 400);
    let (st, b) = get(&s, "no/such/route");
    assert_envelope(st, &b, 404);
    // The service is listed in the Storage index.
    let (_, index) = s.get("");
    assert!(index["services"].as_array().unwrap().iter().any(|v| v["id"] == "query" && v["url"].as_str().unwrap().ends_with("/query")), "{index}");
}

#[test]
fn a_restart_fails_the_running_job_and_old_jobs_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path());
    let ws = workspace(&s);
    let job = submit(&s, ws, &[LONG, "SELECT 1"], false);
    let started = Instant::now();
    while get(&s, &format!("queries/{job}")).1["statements"][0]["status"] != "processing" {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    s.kill();
    let mut s = Server::start_in(dir.path());
    let after = wait(&s, &job);
    assert_eq!(after["status"], "failed", "{after}");
    assert_eq!(statuses(&after), vec!["failed", "notExecuted"]);
    assert!(after["statements"][0]["error"].as_str().unwrap().contains("restarted"), "{after}");
    let done = wait(&s, &submit(&s, ws, &["SELECT 1"], false));
    let done_id = done["queryJobId"].as_str().unwrap().to_string();
    assert!(dir.path().join("query-results").join(&done_id).exists());
    s.kill();
    // Kept for 0 hours: finished jobs go (at start and at each submit), with their result files.
    let s = Server::start_with(dir.path(), &[("KBSTACK_QUERY_RESULT_RETENTION_HOURS", "0")]);
    for id in [&job, &done_id] {
        let (st, b) = get(&s, &format!("queries/{id}"));
        assert_envelope(st, &b, 404);
    }
    assert!(!dir.path().join("query-results").join(&done_id).exists(), "its results went with it");
    let next = wait(&s, &submit(&s, ws, &["SELECT 2"], false));
    wait(&s, &submit(&s, ws, &["SELECT 3"], false));
    let (st, b) = get(&s, &format!("queries/{}", next["queryJobId"].as_str().unwrap()));
    assert_envelope(st, &b, 404);
}
