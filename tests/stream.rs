//! The Stream service through the real binary: the management API (sources, sinks, settings,
//! tasks, enable/disable, delete/undelete, secrets), the mapping of events to rows, and
//! exactly-once delivery of 100,000 events from 8 concurrent clients across a SIGKILL.
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::{MASTER_TOKEN, Server};
use reqwest::Method;
use serde_json::{Value, json};

fn stream(s: &Server, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, format!("{}/stream/v1/{}", s.url, path.trim_start_matches('/'))).header("X-StorageApi-Token", MASTER_TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

fn ok(what: &str, (status, body): (u16, Value), expected: u16) -> Value {
    assert_eq!(status, expected, "{what}: {body}");
    body
}

const SOURCES: &str = "branches/default/sources";

fn create_source(s: &Server, name: &str) -> Value {
    let task = ok("create source", stream(s, Method::POST, SOURCES, Some(json!({"name": name, "type": "http"}))), 202);
    assert_eq!(task["isFinished"], true, "{task}");
    assert_eq!(task["status"], "success", "{task}");
    let id = task["outputs"]["sourceId"].as_str().unwrap().to_string();
    ok("get source", stream(s, Method::GET, &format!("{SOURCES}/{id}"), None), 200)
}

fn create_sink(s: &Server, source: &str, table: &str, columns: Value, settings: Value) {
    let body = json!({"name": "Events", "type": "table", "table": {"type": "keboola", "tableId": table, "mapping": {"columns": columns}}});
    let task = ok("create sink", stream(s, Method::POST, &format!("{SOURCES}/{source}/sinks"), Some(body)), 202);
    assert_eq!(task["outputs"]["sinkId"], "events", "{task}");
    ok("settings", stream(s, Method::PATCH, &format!("{SOURCES}/{source}/sinks/events/settings"), Some(json!({"settings": settings}))), 202);
}

/// POST an event to a source's URL: (status, text).
fn post_event(client: &reqwest::blocking::Client, url: &str, body: &str, headers: &[(&str, &str)]) -> reqwest::Result<(u16, String)> {
    let mut req = client.post(url).header("Content-Type", "application/json").body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send()?;
    let status = resp.status().as_u16();
    Ok((status, resp.text()?))
}

fn wait_rows(s: &Server, table: &str, rows: u64) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (st, t) = s.get(&format!("tables/{table}"));
        if st == 200 && t["rowsCount"].as_u64().unwrap_or(0) >= rows {
            return;
        }
        assert!(Instant::now() < deadline, "{table} did not reach {rows} rows: {t}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sources_sinks_and_the_mapping() {
    let s = Server::start();
    let source = create_source(&s, "My Source");
    assert_eq!(source["sourceId"], "my-source");
    assert_eq!(source["type"], "http");
    assert_eq!(source["version"]["number"], 1);
    let url = source["http"]["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/stream-in/stream/1/my-source/", s.url)), "{url}");
    assert!(source.get("_internal").is_none(), "{source}");

    // Lists: plain, paged, aggregated (with sinks), and a conflict.
    let list = ok("list", stream(&s, Method::GET, SOURCES, None), 200);
    assert_eq!(list["page"]["totalCount"], 1, "{list}");
    assert_eq!(list["sources"][0]["sourceId"], "my-source");
    ok("conflict", stream(&s, Method::POST, SOURCES, Some(json!({"name": "my source", "type": "http"}))), 409);
    let bad = ok("bad type", stream(&s, Method::POST, SOURCES, Some(json!({"name": "x", "type": "kafka"}))), 422);
    assert_eq!((bad["statusCode"].as_u64(), bad["error"].as_str()), (Some(422), Some("stream.api.unprocessable")), "{bad}");
    assert!(bad["message"].as_str().unwrap().contains("type"), "{bad}");
    let missing = ok("missing", stream(&s, Method::GET, &format!("{SOURCES}/nope"), None), 404);
    assert_eq!(missing["error"], "stream.api.notFound", "{missing}");
    ok("otlp source", stream(&s, Method::POST, SOURCES, Some(json!({"name": "Traces", "type": "otlp"}))), 202);
    let otlp = ok("otlp", stream(&s, Method::GET, &format!("{SOURCES}/traces"), None), 200);
    assert!(otlp["otlp"]["url"].as_str().unwrap().ends_with(otlp["otlp"]["secret"].as_str().unwrap()), "{otlp}");
    let paged = ok("page", stream(&s, Method::GET, &format!("{SOURCES}?limit=1"), None), 200);
    assert_eq!((paged["sources"].as_array().unwrap().len(), &paged["page"]["lastId"]), (1, &json!("my-source")), "{paged}");
    let next = ok("page 2", stream(&s, Method::GET, &format!("{SOURCES}?limit=1&afterId=my-source"), None), 200);
    assert_eq!(next["sources"][0]["sourceId"], "traces", "{next}");

    // A template outside the supported subset is refused; then the full mapping.
    let unsupported = json!([{"name": "x", "type": "template", "template": {"language": "jsonnet", "content": "std.length(Body())"}}]);
    let body = json!({"name": "Bad", "type": "table", "table": {"type": "keboola", "tableId": "in.c-stream.bad", "mapping": {"columns": unsupported}}});
    ok("unsupported template", stream(&s, Method::POST, &format!("{SOURCES}/my-source/sinks"), Some(body)), 422);
    let columns = json!([
        {"name": "id", "type": "uuid"},
        {"name": "datetime", "type": "datetime"},
        {"name": "ip", "type": "ip"},
        {"name": "body", "type": "body"},
        {"name": "headers", "type": "headers"},
        {"name": "user_id", "type": "path", "path": "user.id"},
        {"name": "user_name", "type": "path", "path": "user.name", "rawString": true},
        {"name": "tag", "type": "path", "path": "tags[1]", "defaultValue": "none", "rawString": true},
        {"name": "country", "type": "template", "template": {"language": "jsonnet", "content": "Body('geo.country', null)"}},
        {"name": "agent", "type": "template", "template": {"language": "jsonnet", "content": "Header('X-Agent')"}},
    ]);
    create_sink(&s, "my-source", "in.c-stream.events", columns, json!([
        {"key": "storage.level.target.import.trigger.count", "value": 2},
        {"key": "storage.level.target.import.trigger.interval", "value": "1s"},
    ]));
    let settings = ok("settings", stream(&s, Method::GET, &format!("{SOURCES}/my-source/sinks/events/settings"), None), 200);
    let count = settings["settings"].as_array().unwrap().iter().find(|x| x["key"] == "storage.level.target.import.trigger.count").unwrap().clone();
    assert_eq!((&count["value"], &count["overwritten"]), (&json!(2), &json!(true)), "{settings}");
    ok("bad setting", stream(&s, Method::PATCH, &format!("{SOURCES}/my-source/sinks/events/settings"), Some(json!({"settings": [{"key": "storage.level.target.import.trigger.count", "value": 0}]}))), 422);
    let agg = ok("aggregation", stream(&s, Method::GET, "branches/default/aggregation/sources?afterId=&limit=100", None), 200);
    let mine = agg["sources"].as_array().unwrap().iter().find(|x| x["sourceId"] == "my-source").unwrap().clone();
    assert_eq!(mine["sinks"][0]["table"]["tableId"], "in.c-stream.events", "{agg}");

    let client = reqwest::blocking::Client::new();
    let agent = [("X-Agent", "tester"), ("X-Forwarded-For", "10.1.2.3")];
    assert_eq!(post_event(&client, &url, r#"{"user": {"id": 7, "name": "Ann"}, "tags": ["a", "b"], "geo": {"country": "CZ"}}"#, &agent).unwrap(), (200, "OK".to_string()));
    let (st, text) = post_event(&client, &url, r#"{"user": {"id": "x8", "name": "Bob"}}"#, &agent).unwrap();
    assert_eq!((st, text.as_str()), (200, "OK"));
    // A body the mapping cannot read: 400, nothing stored.
    let (st, text) = post_event(&client, &url, "not json", &agent).unwrap();
    assert_eq!(st, 400, "{text}");
    let (st, text) = post_event(&client, &url, r#"{"user": {}}"#, &agent).unwrap();
    assert_eq!(st, 400, "a path without default is required: {text}");
    // Wrong secret, unknown source.
    let wrong = format!("{}x", url);
    assert_eq!(post_event(&client, &wrong, "{}", &[]).unwrap().0, 401);
    let unknown = url.replace("/my-source/", "/nope/");
    assert_eq!(post_event(&client, &unknown, "{}", &[]).unwrap().0, 404);

    wait_rows(&s, "in.c-stream.events", 2);
    let (st, t) = s.get("tables/in.c-stream.events");
    assert_eq!(st, 200);
    let names: Vec<&str> = t["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(names, ["id", "datetime", "ip", "body", "headers", "user_id", "user_name", "tag", "country", "agent"]);
    let rows = s.preview_rows("in.c-stream.events", "");
    let by_name: HashMap<String, Vec<String>> = rows.into_iter().map(|r| (r[6].clone(), r)).collect();
    let ann = &by_name["Ann"];
    assert_eq!(ann[0].len(), 36, "a uuid: {ann:?}");
    assert!(ann[1].ends_with('Z') && ann[1].len() == 24, "a datetime: {ann:?}");
    assert_eq!(ann[2], "10.1.2.3");
    assert!(ann[3].contains("\"geo\""), "{ann:?}");
    let headers: Value = serde_json::from_str(&ann[4]).unwrap();
    assert_eq!(headers["X-Agent"], "tester", "{headers}");
    assert_eq!((ann[5].as_str(), ann[7].as_str(), ann[8].as_str(), ann[9].as_str()), ("7", "b", "CZ", "tester"));
    let bob = &by_name["Bob"];
    assert_eq!((bob[5].as_str(), bob[7].as_str(), bob[8].as_str()), ("\"x8\"", "none", ""), "JSON-encoded without rawString, defaults: {bob:?}");

    let files = ok("files", stream(&s, Method::GET, &format!("{SOURCES}/my-source/sinks/events/statistics/files"), None), 200);
    assert!(files["files"].as_array().unwrap().iter().any(|f| f["state"] == "imported"), "{files}");
    let total = ok("total", stream(&s, Method::GET, &format!("{SOURCES}/my-source/sinks/events/statistics/total"), None), 200);
    assert_eq!(total["levels"]["target"]["recordsCount"], 2, "{total}");

    // Disable → 403; enable → OK again.
    ok("disable", stream(&s, Method::PUT, &format!("{SOURCES}/my-source/disable"), None), 202);
    let (st, text) = post_event(&client, &url, r#"{"user": {"id": 1, "name": "C"}}"#, &[]).unwrap();
    assert_eq!(st, 403, "{text}");
    assert!(text.contains("disabled"), "{text}");
    ok("enable", stream(&s, Method::PUT, &format!("{SOURCES}/my-source/enable"), None), 202);
    assert_eq!(post_event(&client, &url, r#"{"user": {"id": 1, "name": "C"}}"#, &agent).unwrap().0, 200);

    // Rotating the secret: the old URL stops working.
    let rotated = ok("rotate", stream(&s, Method::POST, &format!("{SOURCES}/my-source/rotate-secret"), None), 200);
    let new_url = rotated["http"]["url"].as_str().unwrap();
    assert_ne!(new_url, url);
    assert_eq!(post_event(&client, &url, "{}", &[]).unwrap().0, 401);

    // Update, delete, deleted list, undelete.
    let task = ok("update", stream(&s, Method::PATCH, &format!("{SOURCES}/my-source"), Some(json!({"name": "Renamed", "changeDescription": "rename"}))), 202);
    let task = ok("task", stream(&s, Method::GET, &format!("tasks/{}", task["taskId"].as_str().unwrap()), None), 200);
    assert_eq!(task["isFinished"], true);
    let got = ok("get", stream(&s, Method::GET, &format!("{SOURCES}/my-source"), None), 200);
    assert_eq!((&got["name"], &got["version"]["description"]), (&json!("Renamed"), &json!("rename")), "{got}");
    ok("delete", stream(&s, Method::DELETE, &format!("{SOURCES}/my-source"), None), 202);
    ok("gone", stream(&s, Method::GET, &format!("{SOURCES}/my-source"), None), 404);
    assert_eq!(post_event(&client, new_url, "{}", &[]).unwrap().0, 404);
    let deleted = ok("deleted", stream(&s, Method::GET, &format!("{SOURCES}/deleted"), None), 200);
    assert_eq!(deleted["sources"][0]["sourceId"], "my-source", "{deleted}");
    ok("undelete", stream(&s, Method::PUT, &format!("{SOURCES}/my-source/undelete"), None), 202);
    ok("back", stream(&s, Method::GET, &format!("{SOURCES}/my-source/sinks/events"), None), 200);
    ok("unknown task", stream(&s, Method::GET, "tasks/nope", None), 404);
}

/// The ids of the `events` table's `eid` column (its first), from an export of the table.
fn ids_through_export(s: &Server, table: &str) -> Vec<u64> {
    let (st, job) = s.post_form(&format!("tables/{table}/export-async"), &[]);
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let csv = String::from_utf8(s.download(job["results"]["file"]["id"].as_i64().unwrap())).unwrap();
    csv.lines().filter(|l| !l.is_empty()).map(|l| l.split(',').next().unwrap().trim_matches('"').parse().unwrap()).collect()
}

/// The ids of the `events` table's `id` column, read from the table backend of a stopped server.
fn ids_in_table(data_dir: &std::path::Path) -> Vec<u64> {
    let conn = duckdb::Connection::open(data_dir.join("tables.duckdb")).unwrap();
    let schema: String = conn
        .query_row("SELECT table_schema FROM information_schema.tables WHERE table_name = 'events' AND table_schema LIKE 'p1_%in.c-load'", [], |r| r.get(0))
        .unwrap();
    let mut st = conn.prepare(&format!("SELECT \"eid\" FROM \"{schema}\".\"events\"")).unwrap();
    st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(|v| v.unwrap().parse().unwrap()).collect()
}

#[test]
fn acknowledged_events_land_exactly_once_across_a_sigkill() {
    const EVENTS: usize = 100_000;
    const CLIENTS: usize = 8;
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(tmp.path());
    let source = create_source(&s, "Load");
    let columns = json!([{"name": "eid", "type": "path", "path": "eid"}, {"name": "body", "type": "body"}]);
    create_sink(&s, "load", "in.c-load.events", columns, json!([
        {"key": "storage.level.target.import.trigger.count", "value": 7000},
        {"key": "storage.level.target.import.trigger.interval", "value": "1s"},
    ]));
    let path = source["http"]["url"].as_str().unwrap().strip_prefix(&s.url).unwrap().to_string();
    let base = Arc::new(RwLock::new(s.url.clone()));
    let acked = Arc::new(AtomicUsize::new(0));
    // Ids whose attempt failed after it may have reached the server (it may have stored them).
    let ambiguous: Arc<Mutex<HashMap<u64, u32>>> = Arc::new(Mutex::new(HashMap::new()));
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (base, acked, ambiguous, path) = (base.clone(), acked.clone(), ambiguous.clone(), path.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                for id in (c..EVENTS).step_by(CLIENTS) {
                    let body = format!(r#"{{"eid": {id}, "client": {c}}}"#);
                    loop {
                        let url = format!("{}{path}", base.read().unwrap());
                        match post_event(&client, &url, &body, &[]) {
                            Ok((200, _)) => break,
                            Ok((st, text)) => panic!("event {id}: {st} {text}"),
                            Err(e) => {
                                if !e.is_connect() {
                                    *ambiguous.lock().unwrap().entry(id as u64).or_default() += 1;
                                }
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                    }
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // SIGKILL mid-stream, then restart on the same data dir (a new port: clients follow `base`).
    while acked.load(Ordering::Relaxed) < EVENTS * 2 / 5 {
        std::thread::sleep(Duration::from_millis(5));
    }
    s.kill();
    let at_kill = acked.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    s = Server::start_in(tmp.path());
    *base.write().unwrap() = s.url.clone();
    for c in clients {
        c.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    wait_rows(&s, "in.c-load.events", EVENTS as u64);
    // Let any (wrong) second import of a slice land before counting.
    std::thread::sleep(Duration::from_secs(3));
    // The scale-out profile's table is in a DuckLake: read through the API (an export) instead.
    let ids = if common::scale_out() { ids_through_export(&s, "in.c-load.events") } else { Vec::new() };
    s.kill();
    let ids = if common::scale_out() { ids } else { ids_in_table(tmp.path()) };
    let mut counts: HashMap<u64, u32> = HashMap::new();
    for id in &ids {
        *counts.entry(*id).or_default() += 1;
    }
    let ambiguous = ambiguous.lock().unwrap();
    let mut duplicates = 0;
    for id in 0..EVENTS as u64 {
        let n = counts.get(&id).copied().unwrap_or(0);
        assert!(n >= 1, "acknowledged event {id} is missing");
        let allowed = 1 + ambiguous.get(&id).copied().unwrap_or(0);
        assert!(n <= allowed, "event {id} is in the table {n} times (attempts that may have been stored before the acknowledged one: {})", allowed - 1);
        duplicates += n - 1;
    }
    assert_eq!(counts.len(), EVENTS, "no id that was never sent");
    eprintln!(
        "{EVENTS} events by {CLIENTS} clients in {elapsed:?} (SIGKILL after {at_kill} acknowledged); {} ambiguous attempts, {duplicates} stored twice",
        ambiguous.values().sum::<u32>()
    );
}

/// Imported slices stay on local disk for the retention time (7 days; 1 s here), then their
/// files go.
#[test]
fn imported_slices_are_removed_after_the_retention_time() {
    let s = Server::start_with_env(&[("KBSTACK_STREAM_KEEP_IMPORTED_SECS", "1")]);
    let source = create_source(&s, "Kept");
    create_sink(&s, "kept", "in.c-kept.events", json!([{"name": "body", "type": "body"}]), json!([
        {"key": "storage.level.target.import.trigger.count", "value": 1},
    ]));
    let url = source["http"]["url"].as_str().unwrap();
    let client = reqwest::blocking::Client::new();
    assert_eq!(post_event(&client, url, r#"{"a": 1}"#, &[]).unwrap().0, 200);
    wait_rows(&s, "in.c-kept.events", 1);
    let files = |s: &Server| ok("files", stream(s, Method::GET, &format!("{SOURCES}/kept/sinks/events/statistics/files"), None), 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let f = files(&s);
        if f["files"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the imported slice is still kept: {f}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let left: Vec<_> = walk(&s.data_dir.join("stream"));
    assert!(left.iter().all(|p| !p.to_string_lossy().ends_with(".imported")), "{left:?}");
    assert_eq!(s.preview_rows("in.c-kept.events", "").len(), 1, "the table keeps its rows");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// A crash after a slice's rows were loaded but before the slice was marked imported: after the
/// restart the slice is imported again, and its once-key makes that repeat change nothing.
#[test]
fn a_crash_between_the_load_and_its_record_imports_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Server::start_with(tmp.path(), &[("KBSTACK_STREAM_TEST_CRASH_AFTER_IMPORT", "1")]);
    let source = create_source(&s, "Crash");
    create_sink(&s, "crash", "in.c-crash.events", json!([{"name": "body", "type": "body"}]), json!([
        {"key": "storage.level.target.import.trigger.count", "value": 3},
    ]));
    let url = source["http"]["url"].as_str().unwrap().to_string();
    let client = reqwest::blocking::Client::new();
    for i in 0..3 {
        assert_eq!(post_event(&client, &url, &format!(r#"{{"i": {i}}}"#), &[]).unwrap().0, 200);
    }
    // The server aborts right after the import job succeeded.
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server did not crash after the import");
        std::thread::sleep(Duration::from_millis(50));
    }
    let closed = walk(&tmp.path().join("stream")).into_iter().filter(|p| p.to_string_lossy().ends_with(".closed")).count();
    assert_eq!(closed, 1, "the slice is still waiting for its import");
    s = Server::start_in(tmp.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let files = ok("files", stream(&s, Method::GET, &format!("{SOURCES}/crash/sinks/events/statistics/files"), None), 200);
        if files["files"].as_array().unwrap().iter().any(|f| f["state"] == "imported") {
            break;
        }
        assert!(Instant::now() < deadline, "the slice was not marked imported after the restart: {files}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.preview_rows("in.c-crash.events", "").len(), 3, "the three events, once");
}
