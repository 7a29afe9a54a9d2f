//! Bad input against every route, through the real binary. The routes come from the router's
//! own table (`kbstack::app::routes().table()`), so a route added later is covered without
//! touching this file. Whatever the input, the answer is never a 5xx, and a refusal is a 4xx in
//! the service's own envelope (Storage: string `code`; Queue and Encryption: integer `code`,
//! Encryption with `message` too; the blob API: Azure XML, only checked for "no 5xx").
mod common;

use std::time::{Duration, Instant};

use common::{MASTER_TOKEN, Server};
use reqwest::Method;
use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Service {
    Storage,
    Queue,
    Encryption,
    SyncActions,
    Scheduler,
    Notification,
    Query,
    Editor,
    Vault,
    Metastore,
    Ai,
    Developer,
    Billing,
    OAuth,
    Import,
    DataScience,
    Templates,
    Stream,
    Syrup,
    GoodDataProvisioning,
    /// JSON Parser, SQLdep analyzer, Graph: the PHP envelope, integer code, exception ids by service.
    JsonParser,
    Sqldep,
    Graph,
    Blob,
}

fn service_of(path: &str) -> Service {
    if path.starts_with("/queue") {
        Service::Queue
    } else if path.starts_with("/encryption") {
        Service::Encryption
    } else if path.starts_with("/sync-actions") {
        Service::SyncActions
    } else if path.starts_with("/scheduler") {
        Service::Scheduler
    } else if path.starts_with("/notification") {
        Service::Notification
    } else if path.starts_with("/billing") {
        Service::Billing
    } else if path.starts_with("/editor") {
        Service::Editor
    } else if path.starts_with("/developer") {
        Service::Developer
    } else if path.starts_with("/query") {
        Service::Query
    } else if path.starts_with("/vault") {
        Service::Vault
    } else if path.starts_with("/metastore") {
        Service::Metastore
    } else if path == "/ai" || path.starts_with("/ai/") {
        Service::Ai
    } else if path.starts_with("/oauth") {
        Service::OAuth
    } else if path == "/import" || path.starts_with("/import/") {
        Service::Import
    } else if path.starts_with("/data-science") || path.starts_with("/sandboxes") {
        Service::DataScience
    } else if path.starts_with("/templates") {
        Service::Templates
    } else if path == "/stream" || path.starts_with("/stream/") || path.starts_with("/stream-in") {
        Service::Stream
    } else if path == "/syrup" || path.starts_with("/syrup/") || path.starts_with("/docker-runner") {
        Service::Syrup
    } else if path.starts_with("/gooddata-provisioning") {
        Service::GoodDataProvisioning
    } else if path == "/json-parser" || path.starts_with("/json-parser/") {
        Service::JsonParser
    } else if path == "/sqldep-analyzer" || path.starts_with("/sqldep-analyzer/") {
        Service::Sqldep
    } else if path == "/graph" || path.starts_with("/graph/") {
        Service::Graph
    } else if path.starts_with("/abs/") {
        Service::Blob
    } else {
        Service::Storage
    }
}

struct Answer {
    status: u16,
    content_type: String,
    allow: Option<String>,
    body: Value,
    text: String,
}

fn send(req: RequestBuilder) -> Answer {
    let resp = req.header("X-StorageApi-Token", MASTER_TOKEN).send().expect("request");
    let status = resp.status().as_u16();
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = header("content-type").unwrap_or_default();
    let allow = header("allow");
    let full = resp.text().unwrap_or_default();
    let body = serde_json::from_str(&full).unwrap_or(Value::Null);
    // Only quoted in failure messages.
    let text: String = full.chars().take(600).collect();
    Answer { status, content_type, allow, body, text }
}

/// The envelope of a refusal, by service.
fn check_envelope(service: Service, a: &Answer, what: &str) {
    assert!(a.status < 500, "{what}: a 5xx ({}): {}", a.status, a.text);
    if a.status < 400 || service == Service::Blob {
        return;
    }
    assert_eq!(a.content_type, "application/json", "{what}: a refusal is JSON: {} {}", a.status, a.text);
    let b = &a.body;
    if service == Service::Developer {
        // The Developer Portal's own envelope (spec schema `Error`).
        assert!(
            b["errorMessage"].is_string() && b["errorType"].is_string() && b["requestId"].is_string(),
            "{what}: not the Developer Portal's envelope: {}",
            a.text
        );
        return;
    }
    if service == Service::Templates {
        // goa's GenericError `{statusCode, error, message}`; invalid inputs: `ValidationError`.
        let generic = b["statusCode"].as_u64() == Some(a.status as u64) && b["error"].as_str().is_some_and(|e| e.starts_with("templates."));
        let invalid_inputs = b["error"] == "InvalidInputs" && b["ValidationResult"].is_object();
        assert!((generic || invalid_inputs) && b["message"].is_string(), "{what}: not the Templates service's goa envelope: {}", a.text);
        return;
    }
    if service == Service::Query {
        // keboola-query-service reads `exception`, `exceptionId`, `context`; `error` is the status.
        assert!(
            b["exception"].is_string()
                && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("query-"))
                && b["context"].is_object()
                && b["error"].as_u64() == Some(a.status as u64)
                && b["status"] == "error",
            "{what}: not the Query service's envelope: {}",
            a.text
        );
        return;
    }
    assert!(b["error"].is_string() && b["status"] == "error" && b["exceptionId"].is_string(), "{what}: not an envelope: {}", a.text);
    match service {
        Service::Storage => assert!(b["code"].is_string(), "{what}: Storage codes are strings: {}", a.text),
        Service::Queue => assert_eq!(b["code"].as_u64(), Some(a.status as u64), "{what}: Queue codes are the status: {}", a.text),
        Service::Billing => assert!(
            b["code"].as_u64() == Some(a.status as u64) && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("billing-")),
            "{what}: Billing codes are the status, exception ids `billing-…`: {}",
            a.text
        ),
        Service::Scheduler => assert!(
            b["code"].as_u64() == Some(a.status as u64) && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("scheduler-")),
            "{what}: Scheduler codes are the status, exception ids `scheduler-…`: {}",
            a.text
        ),
        Service::Notification => assert!(
            b["code"].as_u64() == Some(a.status as u64) && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("notification-")),
            "{what}: Notifications codes are the status, exception ids `notification-…`: {}",
            a.text
        ),
        Service::Encryption => assert!(
            b["code"].as_u64() == Some(a.status as u64) && b["message"] == b["error"],
            "{what}: Encryption codes are the status, with the error also in `message`: {}",
            a.text
        ),
        Service::SyncActions => assert_eq!(b["code"].as_u64(), Some(a.status as u64), "{what}: Sync Actions codes are the status: {}", a.text),
        Service::Editor => assert!(
            b["code"].as_u64() == Some(a.status as u64) && b["message"] == b["error"] && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("editor-")),
            "{what}: Editor codes are the status, the error also in `message` (the Go SDK reads it): {}",
            a.text
        ),
        Service::Vault => assert!(
            b["code"].as_u64() == Some(a.status as u64) && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("vault-")),
            "{what}: Vault codes are the status, exception ids `vault-…`: {}",
            a.text
        ),
        Service::Ai => assert!(
            b["code"].as_u64() == Some(a.status as u64) && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("ai-")),
            "{what}: AI service codes are the status, exception ids `ai-…`: {}",
            a.text
        ),
        Service::Metastore => assert!(
            b["code"].as_u64() == Some(a.status as u64) && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("metastore-")),
            "{what}: Metastore codes are the status, exception ids `metastore-…`: {}",
            a.text
        ),
        Service::OAuth => assert!(
            b["code"].as_u64() == Some(a.status as u64) && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("oauth-")),
            "{what}: OAuth codes are the status, exception ids `oauth-…`: {}",
            a.text
        ),
        Service::Import => assert!(
            b["code"].as_u64() == Some(a.status as u64)
                && b["message"] == b["error"]
                && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("import-")),
            "{what}: Importer codes are the status, the error also in `message` (spec `Error`), exception ids `import-…`: {}",
            a.text
        ),
        Service::DataScience => assert!(
            b["code"].as_u64() == Some(a.status as u64) && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("data-science-")),
            "{what}: Data Science codes are the status, exception ids `data-science-…`: {}",
            a.text
        ),
        Service::Stream => assert!(
            b["statusCode"].as_u64() == Some(a.status as u64)
                && b["error"].as_str().is_some_and(|e| e.starts_with("stream."))
                && b["message"].is_string()
                && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("stream-")),
            "{what}: the Stream service's goa envelope {{statusCode, error: <name>, message}}: {}",
            a.text
        ),
        Service::Syrup => assert!(
            b["code"].as_u64() == Some(a.status as u64)
                && b["message"] == b["error"]
                && b["exceptionId"].as_str().is_some_and(|e| e.starts_with("syrup-")),
            "{what}: Syrup codes are the status, the error also in `message`, exception ids `syrup-…`: {}",
            a.text
        ),
        Service::GoodDataProvisioning => assert!(
            a.status == 410 && b["code"].as_u64() == Some(410) && b["message"].as_str().is_some_and(|m| m.contains("retired")),
            "{what}: GoodData Provisioning answers 410 Gone: {}",
            a.text
        ),
        Service::JsonParser | Service::Sqldep | Service::Graph => {
            let prefix = match service {
                Service::JsonParser => "json-parser-",
                Service::Sqldep => "sqldep-",
                _ => "graph-",
            };
            assert!(
                b["code"].as_u64() == Some(a.status as u64) && b["exceptionId"].as_str().is_some_and(|e| e.starts_with(prefix)),
                "{what}: codes are the status, exception ids `{prefix}…`: {}",
                a.text
            )
        }
        Service::Blob | Service::Query | Service::Developer | Service::Templates => {}
    }
}

fn check_refusal(service: Service, a: &Answer, what: &str) {
    assert!((400..500).contains(&a.status), "{what}: expected a 4xx, got {}: {}", a.status, a.text);
    check_envelope(service, a, what);
}

/// Ids that exist (so that bad parameters reach the handlers' own parsing).
struct Fixtures {
    file_id: String,
    config_id: String,
}

fn fixtures(s: &Server) -> Fixtures {
    let (st, b) = s.post_form("buckets", &[("name", "b"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let form = reqwest::blocking::multipart::Form::new()
        .text("name", "t")
        .part("data", reqwest::blocking::multipart::Part::bytes(b"id,v\n1,a\n2,b\n".to_vec()).file_name("t.csv"));
    let (st, t) = s.send(s.client.post(s.api("buckets/in.c-b/tables")).header("X-StorageApi-Token", MASTER_TOKEN).multipart(form));
    assert!(st == 201 || st == 200, "{t}");
    let file_id = s.upload("f.csv", b"id,v\n3,c\n".to_vec()).to_string();
    let (st, c) = s.post_json("components/keboola.ex-http/configs", json!({"name": "c"}));
    assert_eq!(st, 201, "{c}");
    Fixtures { file_id, config_id: c["id"].as_str().unwrap().to_string() }
}

/// The path with each `{param}` replaced: by `value` when given, else by an existing id where
/// one is known (and the method cannot destroy the fixtures), else by an unknown id.
fn fill(path: &str, method: &Method, value: Option<&str>, fx: &Fixtures) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            out.push(seg.to_string());
            continue;
        };
        if let Some(v) = value {
            out.push(v.to_string());
            continue;
        }
        let prev = if i > 0 { segments[i - 1] } else { "" };
        let known = match (prev, name) {
            _ if *method == Method::DELETE => None,
            ("buckets", "id") => Some("in.c-b".to_string()),
            ("tables", "id") => Some("in.c-b.t".to_string()),
            ("columns", "id") => Some("in.c-b.t.v".to_string()),
            ("files", "id") => Some(fx.file_id.clone()),
            ("components", "id") => Some("keboola.ex-http".to_string()),
            ("configs", "config") => Some(fx.config_id.clone()),
            ("versions", "version") => Some("1".to_string()),
            _ => None,
        };
        out.push(known.unwrap_or_else(|| "9999999".to_string()));
    }
    out.join("/")
}

/// A query string and bodies of wrong types, out-of-range values, NUL bytes.
const BAD_QUERIES: &[&str] = &[
    "changedSince=100000000000%20days&changedUntil=-100000000000%20days&createdTimeFrom=100000000000%20days&createdTimeTo=99999999999999999999&startTimeFrom=9223372036854775807%20years",
    "limit=99999999999999999999999&offset=-5&sinceId=99999999999999999999&maxId=-1&jobsPerConfiguration=-3&expiresIn=8640000000000000",
    "include=a%00b&whereColumn=id&whereValues[]=a%00b&columns=id%00&q=a%00b&componentId=a%00b&status=a%00b&orderBy[0][column]=i%00d",
    "a[[[=1&include[x][y]=1&limit[]=x&whereFilters=notjson&orderBy=7&delimiter=%FF",
];

fn bad_bodies() -> Vec<(&'static str, String, &'static str)> {
    // Far beyond every field limit, yet small enough that a handler that never reads the body
    // does not make the server close the connection under a client still sending.
    let big = "x".repeat(20_000);
    let wrong_types = json!({
        "name": {"a": [1]}, "description": [1, 2], "displayName": 7, "stage": {"x": 1}, "limit": {"x": 1}, "offset": "minus",
        "configuration": 7, "state": [1], "rows": "no", "isEncrypted": {}, "expiresIn": "soon", "dataFileId": [1],
        "columns": 5, "primaryKey": {"a": 1}, "primaryKeysNames": 3, "whereFilters": "x", "whereValues": {"a": {}},
        "provider": [], "metadata": "x", "columnsMetadata": 4, "tags": 3, "changeDescription": {}, "component": [],
        "componentId": [], "config": {}, "mode": 7, "bucketPermissions": "all", "canManageBuckets": "maybe",
        "definition": "x", "incremental": "sometimes", "delimiter": 5, "enclosure": [], "sizeBytes": -1,
        "variableValuesData": 5, "configData": [], "branchId": "x", "runWithTokenId": "x", "tableId": [],
    });
    let oversized = format!(
        "name={big}&description={big}&limit=99999999999999999999999&expiresIn=8640000000000000&sizeBytes=1e400&changedSince=100000000000%20days"
    );
    let nul = "name=a%00b&description=a%00b&displayName=a%00b&stage=in&whereColumn=id&whereValues[]=a%00b&dataFileId=a%00b&\
               component=a%00b&mode=a%00b&delimiter=%00&enclosure=%00&columns[]=a%00b&tags[]=a%00b&provider=a%00b&metadata[0][key]=a%00b&metadata[0][value]=x"
        .to_string();
    vec![
        ("invalid JSON", "{\"name\": ".to_string(), "application/json"),
        ("JSON of wrong types", wrong_types.to_string(), "application/json"),
        ("a JSON array", "[1, 2]".to_string(), "application/json"),
        ("oversized values", oversized, "application/x-www-form-urlencoded"),
        ("NUL bytes", nul, "application/x-www-form-urlencoded"),
    ]
}

/// Ids no route may choke on: unknown, not UTF-8, a path traversal, a NUL, a huge one. (A bare
/// `..` segment is resolved by the client before sending, so it is sent encoded.)
fn bad_ids() -> Vec<String> {
    let mut ids = vec![
        "kbstack-no-such-id".to_string(),
        "%FF%FE".to_string(),
        "..%2F..%2F..%2Fetc%2Fpasswd".to_string(),
        "..%2F".to_string(),
        "a%00b".to_string(),
        "9".repeat(5000),
    ];
    // nginx in front of the scale-out profile's nodes refuses a NUL and a climb above the root
    // in a path itself (its own 400 page): such requests never reach kbstack.
    if common::scale_out() {
        ids.retain(|id| !id.contains("%00") && !id.contains(".."));
    }
    ids
}

#[test]
fn every_route_answers_bad_input_in_its_envelope() {
    let started = Instant::now();
    let mut s = Server::start_with_env(&[("KBSTACK_JOB_WAIT_MS", "0")]);
    let fx = fixtures(&s);
    // A fresh connection per request: a server that answers without reading a refused body
    // closes the connection, and a pooled one would fail the next request on the client side.
    s.client = reqwest::blocking::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(60)).build().unwrap();
    let routes = kbstack::app::routes();
    let table = routes.table();
    assert!(table.len() > 50, "the route table lists every route ({} found)", table.len());
    let bodies = bad_bodies();
    let mut requests = 0usize;
    for route in table {
        let service = service_of(&route.path);
        let methods: Vec<Method> = if route.any {
            vec![Method::GET, Method::PUT, Method::DELETE]
        } else {
            route.methods.iter().map(|m| Method::from_bytes(m.as_str().as_bytes()).unwrap()).collect()
        };
        let url = |path: &str| format!("{}{path}", s.url);
        let has_params = route.path.contains('{');

        // An unsupported method: 405 in the envelope, naming the methods that are.
        if !route.any {
            // The first of these the route does not serve (a route may serve both PUT and PATCH).
            let unsupported = [Method::PATCH, Method::PUT, Method::POST].into_iter().find(|m| !methods.contains(m)).unwrap_or(Method::TRACE);
            let a = send(s.client.request(unsupported.clone(), url(&fill(&route.path, &Method::GET, None, &fx))));
            requests += 1;
            check_refusal(service, &a, &format!("{unsupported} {}", route.path));
            assert_eq!(a.status, 405, "{unsupported} {}: {}", route.path, a.text);
            if service == Service::Developer {
                assert_eq!(a.body["errorType"], "MethodNotAllowed", "{unsupported} {}: {}", route.path, a.text);
            } else if service == Service::Templates {
                assert_eq!(a.body["statusCode"], 405, "{unsupported} {}: {}", route.path, a.text);
            } else {
                assert_eq!(
                    a.body["code"],
                    if matches!(service, Service::Queue | Service::Encryption | Service::SyncActions | Service::Scheduler | Service::Notification | Service::Editor | Service::Vault | Service::Billing | Service::OAuth | Service::Import | Service::Metastore | Service::DataScience | Service::Ai | Service::Stream | Service::Syrup | Service::JsonParser | Service::Sqldep | Service::Graph) { json!(405) } else { json!("methodNotAllowed") }
                );
            }
            assert!(a.allow.is_some_and(|h| h.contains(methods[0].as_str())), "{unsupported} {}: no Allow header", route.path);
        }

        for method in &methods {
            let what = |case: &str| format!("{method} {} ({case})", route.path);
            // Bad ids: unknown, unreadable, traversing: always a refusal (the blob API only: no 5xx).
            if has_params {
                for id in bad_ids() {
                    let a = send(s.client.request(method.clone(), url(&fill(&route.path, method, Some(&id), &fx))));
                    requests += 1;
                    let case = what(&format!("id {}", &id[..id.len().min(30)]));
                    if service == Service::Blob { check_envelope(service, &a, &case) } else { check_refusal(service, &a, &case) }
                }
            }
            let path = fill(&route.path, method, None, &fx);
            // The plain request, then the same with a repeated query key: PHP reads the last value,
            // so a repetition changes nothing about success.
            let baseline = send(s.client.request(method.clone(), url(&path)));
            check_envelope(service, &baseline, &what("plain"));
            if *method == Method::GET {
                let a = send(s.client.get(format!("{}?include=a&include=b&limit=1&limit=2&offset=0&offset=0", url(&path))));
                check_envelope(service, &a, &what("repeated keys"));
                assert_eq!(a.status / 100, baseline.status / 100, "{}: {}", what("repeated keys"), a.text);
                requests += 1;
            }
            for query in BAD_QUERIES {
                let a = send(s.client.request(method.clone(), format!("{}?{query}", url(&path))));
                check_envelope(service, &a, &what(&format!("query {}", &query[..40])));
                requests += 1;
            }
            if *method != Method::GET {
                for (case, body, content_type) in &bodies {
                    let a = send(s.client.request(method.clone(), url(&path)).header("Content-Type", *content_type).body(body.clone()));
                    check_envelope(service, &a, &what(case));
                    requests += 1;
                }
            }
            requests += 1;
        }
    }
    // The server is still up and the fixtures are intact.
    let (st, t) = s.get("tables/in.c-b.t");
    assert_eq!(st, 200, "{t}");
    eprintln!("{requests} bad requests over {} routes in {:?}", table.len(), started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(120), "the sweep stays fast");
}

fn table_with_rows(s: &Server) {
    let (st, b) = s.post_form("buckets", &[("name", "b"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let file = s.upload("t.csv", b"id,v\n1,a\n2,b\n".to_vec()).to_string();
    let (st, job) = s.post_form("buckets/in.c-b/tables-async", &[("name", "t"), ("dataFileId", &file)]);
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
}

#[test]
fn a_nul_in_a_filter_is_refused_as_bad_input() {
    let s = Server::start();
    table_with_rows(&s);
    let nul = "whereColumn=id&whereValues[]=a%00b";
    let refused = |a: Answer, what: &str| {
        check_refusal(Service::Storage, &a, what);
        assert_eq!(a.body["code"], "validation.failed", "{what}: {}", a.text);
        assert!(a.body["error"].as_str().unwrap().contains("NUL"), "{what}: {}", a.text);
    };
    refused(send(s.client.get(format!("{}?{nul}", s.api("tables/in.c-b.t/data-preview")))), "data-preview");
    refused(
        send(s.client.post(s.api("tables/in.c-b.t/export-async")).header("Content-Type", "application/x-www-form-urlencoded").body(nul)),
        "export-async",
    );
    refused(send(s.client.delete(format!("{}?{nul}", s.api("tables/in.c-b.t/rows")))), "delete rows");
    let json_filter = json!({"whereFilters": [{"column": "id", "operator": "eq", "values": ["a\u{0}b"]}]});
    refused(send(s.client.post(s.api("tables/in.c-b.t/export-async")).json(&json_filter)), "export-async (whereFilters)");
    assert_eq!(s.preview_rows("in.c-b.t", "").len(), 2, "no row was deleted");
}

fn header(n: usize) -> String {
    (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",")
}

#[test]
fn tables_wider_than_the_column_limit_are_refused_early() {
    let s = Server::start();
    let (st, b) = s.post_form("buckets", &[("name", "b"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let too_many = |code: &Value, what: &str| assert_eq!(code, "storage.tables.tooManyColumns", "{what}");

    // tables-async from a 50,000-column header: a user error within seconds (it was a DuckDB
    // out-of-memory application error after 74 s).
    let started = Instant::now();
    let wide = s.upload("wide.csv", format!("{}\n{}\n", header(50_000), vec!["1"; 50_000].join(",")).into_bytes()).to_string();
    let (st, job) = s.post_form("buckets/in.c-b/tables-async", &[("name", "wide"), ("dataFileId", &wide)]);
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "error");
    too_many(&job["error"]["code"], "tables-async");
    assert!(job["error"]["message"].as_str().unwrap().contains("at most 1000 columns"), "{job}");
    assert!(started.elapsed() < Duration::from_secs(30), "refused early: {:?}", started.elapsed());
    let (st, _) = s.get("tables/in.c-b.wide");
    assert_eq!(st, 404, "nothing stays behind");

    // tables-definition with 1001 columns: refused before a job starts.
    let columns: Vec<Value> = (0..1001).map(|i| json!({"name": format!("c{i}"), "definition": {"type": "VARCHAR"}})).collect();
    let a = send(s.client.post(s.api("buckets/in.c-b/tables-definition")).json(&json!({"name": "typed", "columns": columns})));
    check_refusal(Service::Storage, &a, "tables-definition");
    too_many(&a.body["code"], "tables-definition");

    // A table at the limit takes no new column, by add-column or by import.
    let full = s.upload("full.csv", format!("{}\n{}\n", header(1000), vec!["1"; 1000].join(",")).into_bytes()).to_string();
    let (st, job) = s.post_form("buckets/in.c-b/tables-async", &[("name", "full"), ("dataFileId", &full)]);
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success", "exactly 1000 columns are allowed");
    let a = send(s.client.post(s.api("tables/in.c-b.full/columns")).json(&json!({"name": "extra"})));
    check_refusal(Service::Storage, &a, "add column");
    too_many(&a.body["code"], "add column");
    let wider = s.upload("wider.csv", format!("{},extra\n{},1\n", header(1000), vec!["1"; 1000].join(",")).into_bytes()).to_string();
    let (st, job) = s.post_form("tables/in.c-b.full/import-async", &[("dataFileId", &wider), ("incremental", "1")]);
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "error");
    too_many(&job["error"]["code"], "import with a new column");
}

#[test]
fn out_of_range_times_are_refused_in_each_services_envelope() {
    let s = Server::start();
    for path in ["/queue/search/jobs", "/queue/search/grouped-jobs", "/queue/configurations-jobs", "/queue/jobs"] {
        for query in ["createdTimeFrom=100000000000%20days", "createdTimeTo=-100000000000%20days%20ago", "startTimeFrom=9223372036854775807"] {
            let a = send(s.client.get(format!("{}{path}?{query}", s.url)));
            check_envelope(Service::Queue, &a, &format!("{path}?{query}"));
            if path != "/queue/jobs" {
                check_refusal(Service::Queue, &a, &format!("{path}?{query}"));
            }
        }
        let a = send(s.client.get(format!("{}{path}?changedSince=100000000000%20days", s.url)));
        check_envelope(Service::Queue, &a, path);
    }
    let a = send(s.client.get(format!("{}?changedSince=100000000000%20days", s.api("buckets/in.c-x/events"))));
    check_envelope(Service::Storage, &a, "events");
    for expires_in in [json!(8_640_000_000_000_000i64), json!(864_000_000_000i64), json!(1e300), json!("9999999999999999999999")] {
        let a = send(s.client.post(s.api("tokens")).json(&json!({"description": "t", "expiresIn": expires_in})));
        check_refusal(Service::Storage, &a, &format!("expiresIn {expires_in}"));
    }
    let (st, token) = s.post_json("tokens", json!({"description": "t", "expiresIn": 3600}));
    assert_eq!(st, 201, "{token}");
    assert!(token["expires"].is_string(), "{token}");
}

#[test]
fn the_frameworks_own_refusals_carry_the_envelope() {
    let s = Server::start();
    let a = send(s.client.patch(s.api("buckets")));
    check_refusal(Service::Storage, &a, "PATCH buckets");
    assert_eq!((a.status, a.body["code"].as_str()), (405, Some("methodNotAllowed")), "{}", a.text);
    assert_eq!(a.allow.as_deref(), Some("GET,HEAD,POST"));
    let a = send(s.client.patch(format!("{}/queue/jobs", s.url)));
    check_refusal(Service::Queue, &a, "PATCH queue jobs");
    assert_eq!(a.status, 405);
    let a = send(s.client.get(s.api("buckets/%FF")));
    check_refusal(Service::Storage, &a, "non-UTF-8 bucket id");
    assert_eq!(a.body["code"], "validation.failed");
    let a = send(s.client.get(format!("{}/queue/jobs/%FF", s.url)));
    check_refusal(Service::Queue, &a, "non-UTF-8 job id");
    let a = send(s.client.get(format!("{}/queue/no-such-route", s.url)));
    check_refusal(Service::Queue, &a, "unknown queue route");
    let a = send(s.client.get(format!("{}/query/api/v1/no-such-route", s.url)));
    check_refusal(Service::Query, &a, "unknown query route");
    // A repeated query key is read as PHP reads it: the last value.
    for path in ["buckets?include=a&include=b", "tables?include=columns&include=metadata", "jobs?limit=1&limit=2", "?exclude=a&exclude=b"] {
        let a = send(s.client.get(s.api(path)));
        assert_eq!(a.status, 200, "{path}: {}", a.text);
    }
}
