//! The Notifications service through the real binary: project subscriptions (CRUD, validation,
//! read-only tokens, isolation between projects, expiry) and real delivery — a failing Queue job
//! and a flow's notification task reach a webhook listener and an SMTP sink started here.
mod common;
mod queue_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{MASTER_TOKEN, Server, ok};
use queue_support::{create_job, id, wait_finished};
use reqwest::Method;
use serde_json::{Value, json};

const P2_MASTER: &str = "2-900-notificationtestprojecttwo0000000000000";

fn call(s: &Server, method: Method, token: Option<&str>, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, format!("{}/notification/{}", s.url, path.trim_start_matches('/')));
    if let Some(t) = token {
        req = req.header("X-StorageApi-Token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

fn subscribe(s: &Server, token: &str, body: Value) -> Value {
    ok("create subscription", call(s, Method::POST, Some(token), "project-subscriptions", Some(body)), 201)
}

fn list(s: &Server, token: &str, query: &str) -> Vec<String> {
    let l = ok("list", call(s, Method::GET, Some(token), &format!("project-subscriptions{query}"), None), 200);
    l.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()
}

fn assert_refusal(what: &str, (status, body): (u16, Value), expected: u16) {
    assert_eq!(status, expected, "{what}: {body}");
    assert!(body["error"].is_string() && body["status"] == "error", "{what}: {body}");
    assert_eq!(body["code"].as_u64(), Some(expected as u64), "{what}: {body}");
    assert!(body["exceptionId"].as_str().is_some_and(|e| e.starts_with("notification-")), "{what}: {body}");
}

#[test]
fn subscriptions_are_kept_per_project_and_validated() {
    let (s, _dir) = common::start_with_projects(&[(2, "two", P2_MASTER)]);
    let email = subscribe(
        &s,
        MASTER_TOKEN,
        json!({"event": "job-failed", "filters": [{"field": "job.component.id", "value": "keboola.ex-http"}, {"field": "branch.id", "value": "5", "operator": "!="}],
               "recipient": {"channel": "email", "address": "ops@example.com"}}),
    );
    let eid = email["id"].as_str().expect("id is a string").to_string();
    assert!(eid.parse::<i64>().is_ok(), "{email}");
    assert_eq!(email["event"], "job-failed");
    assert_eq!(
        email["filters"],
        json!([{"field": "job.component.id", "value": "keboola.ex-http", "operator": "=="}, {"field": "branch.id", "value": "5", "operator": "!="}]),
        "the operator defaults to =="
    );
    assert_eq!(email["recipient"], json!({"channel": "email", "address": "ops@example.com"}));
    assert!(email["createdAt"].is_string() && email.get("expiresAt").is_none(), "{email}");

    // The Go SDK sends a webhook's URL as `address`; both clients read it back.
    let hook = subscribe(&s, MASTER_TOKEN, json!({"event": "phase-job-succeeded", "filters": [], "recipient": {"channel": "webhook", "address": "http://127.0.0.1:9/hook"}}));
    assert_eq!(hook["recipient"], json!({"channel": "webhook", "url": "http://127.0.0.1:9/hook", "address": "http://127.0.0.1:9/hook"}));
    let hid = hook["id"].as_str().unwrap().to_string();

    assert_eq!(list(&s, MASTER_TOKEN, ""), vec![eid.clone(), hid.clone()]);
    assert_eq!(list(&s, MASTER_TOKEN, "?event=job-succeeded"), vec![eid.clone(), hid.clone()], "?event= does not narrow the list");
    let got = ok("detail", call(&s, Method::GET, Some(MASTER_TOKEN), &format!("project-subscriptions/{eid}"), None), 200);
    assert_eq!(got, email);

    // Another project sees none of it.
    assert!(list(&s, P2_MASTER, "").is_empty());
    assert_refusal("other project's detail", call(&s, Method::GET, Some(P2_MASTER), &format!("project-subscriptions/{eid}"), None), 404);
    assert_refusal("other project's delete", call(&s, Method::DELETE, Some(P2_MASTER), &format!("project-subscriptions/{eid}"), None), 404);
    let theirs = subscribe(&s, P2_MASTER, json!({"event": "job-failed", "recipient": {"channel": "email", "address": "two@example.com"}}));
    assert_eq!(list(&s, P2_MASTER, ""), vec![theirs["id"].as_str().unwrap().to_string()]);
    assert_eq!(list(&s, MASTER_TOKEN, "").len(), 2);

    // Bad input is a 400 in the envelope.
    let recipient = json!({"channel": "email", "address": "ops@example.com"});
    for (what, body) in [
        ("unknown event", json!({"event": "job-exploded", "recipient": recipient})),
        ("no event", json!({"recipient": recipient})),
        ("no recipient", json!({"event": "job-failed"})),
        ("unknown channel", json!({"event": "job-failed", "recipient": {"channel": "sms", "address": "123"}})),
        ("bad email", json!({"event": "job-failed", "recipient": {"channel": "email", "address": "not-an-address"}})),
        ("bad url", json!({"event": "job-failed", "recipient": {"channel": "webhook", "url": "ftp://example.com/x"}})),
        ("bad operator", json!({"event": "job-failed", "filters": [{"field": "branch.id", "value": "1", "operator": "=~"}], "recipient": recipient})),
        ("filter without field", json!({"event": "job-failed", "filters": [{"value": "1"}], "recipient": recipient})),
        ("filters not a list", json!({"event": "job-failed", "filters": "x", "recipient": recipient})),
        ("bad expiresAt", json!({"event": "job-failed", "expiresAt": "next tuesday-ish", "recipient": recipient})),
        ("past expiresAt", json!({"event": "job-failed", "expiresAt": "2020-01-01T00:00:00+00:00", "recipient": recipient})),
    ] {
        assert_refusal(what, call(&s, Method::POST, Some(MASTER_TOKEN), "project-subscriptions", Some(body)), 400);
    }
    assert_refusal("no token", call(&s, Method::GET, None, "project-subscriptions", None), 401);
    assert_refusal("unknown id", call(&s, Method::GET, Some(MASTER_TOKEN), "project-subscriptions/99999", None), 404);
    assert_refusal("not an id", call(&s, Method::GET, Some(MASTER_TOKEN), "project-subscriptions/abc", None), 404);

    // A read-only token reads but changes nothing.
    let (st, t) = s.post_json("tokens", json!({"description": "read only"}));
    assert_eq!(st, 201, "{t}");
    let ro = t["token"].as_str().unwrap().to_string();
    assert_eq!(list(&s, &ro, "").len(), 2);
    assert_refusal("read-only create", call(&s, Method::POST, Some(&ro), "project-subscriptions", Some(json!({"event": "job-failed", "recipient": recipient}))), 403);
    assert_refusal("read-only delete", call(&s, Method::DELETE, Some(&ro), &format!("project-subscriptions/{eid}"), None), 403);

    let (st, _) = call(&s, Method::DELETE, Some(MASTER_TOKEN), &format!("project-subscriptions/{eid}"), None);
    assert_eq!(st, 204);
    assert_refusal("deleted", call(&s, Method::GET, Some(MASTER_TOKEN), &format!("project-subscriptions/{eid}"), None), 404);
    assert_eq!(list(&s, MASTER_TOKEN, ""), vec![hid]);
}

#[test]
fn subscriptions_expire() {
    let s = Server::start();
    let recipient = json!({"channel": "email", "address": "ops@example.com"});
    let before = chrono::Utc::now().timestamp();
    let hour = subscribe(&s, MASTER_TOKEN, json!({"event": "job-failed", "expiresAt": "+1 hour", "recipient": recipient}));
    let at = chrono::DateTime::parse_from_rfc3339(hour["expiresAt"].as_str().unwrap()).unwrap().timestamp();
    assert!((before + 3590..=before + 3700).contains(&at), "{hour}");
    let absolute = subscribe(&s, MASTER_TOKEN, json!({"event": "job-failed", "expiresAt": "2099-01-07 14:00:00+01:00", "recipient": recipient}));
    assert_eq!(absolute["expiresAt"], "2099-01-07T13:00:00+00:00");
    let soon = subscribe(&s, MASTER_TOKEN, json!({"event": "job-failed", "expiresAt": "+1 second", "recipient": recipient}));
    let soon_id = soon["id"].as_str().unwrap().to_string();
    assert!(list(&s, MASTER_TOKEN, "").contains(&soon_id));
    std::thread::sleep(Duration::from_millis(1500));
    let ids = list(&s, MASTER_TOKEN, "");
    assert_eq!(ids.len(), 2, "the expired one is not listed: {ids:?}");
    assert!(!ids.contains(&soon_id));
    assert_refusal("expired", call(&s, Method::GET, Some(MASTER_TOKEN), &format!("project-subscriptions/{soon_id}"), None), 404);
}

/// A local webhook receiver: every POST's path and JSON body.
struct Hooks {
    url: String,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

fn hook_listener() -> Hooks {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<(String, Value)>>> = Default::default();
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let sink = sink.clone();
            std::thread::spawn(move || {
                if let Some(request) = read_http(&stream) {
                    sink.lock().unwrap().push(request);
                }
                let _ = (&stream).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            });
        }
    });
    Hooks { url, got }
}

fn read_http(stream: &TcpStream) -> Option<(String, Value)> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let path = first.split_whitespace().nth(1)?.to_string();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// A local SMTP sink: every message's recipients and DATA.
struct Mails {
    url: String,
    got: Arc<Mutex<Vec<(Vec<String>, String)>>>,
}

fn smtp_sink() -> Mails {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<(Vec<String>, String)>>> = Default::default();
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let sink = sink.clone();
            std::thread::spawn(move || smtp_session(stream, &sink));
        }
    });
    Mails { url, got }
}

fn smtp_session(stream: TcpStream, sink: &Mutex<Vec<(Vec<String>, String)>>) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut say = |line: &str| out.write_all(format!("{line}\r\n").as_bytes()).is_ok();
    say("220 sink ESMTP");
    let mut rcpt = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let verb = line.trim().to_ascii_uppercase();
        if verb.starts_with("RCPT TO:") {
            rcpt.push(line.trim()[8..].trim().trim_matches(['<', '>']).to_string());
            say("250 ok");
        } else if verb == "DATA" {
            say("354 end with .");
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                    break;
                }
                data.push_str(&l);
            }
            sink.lock().unwrap().push((std::mem::take(&mut rcpt), data));
            say("250 queued");
        } else if verb == "QUIT" {
            say("221 bye");
            return;
        } else {
            say("250 ok");
        }
    }
}

/// Wait until `count()` reaches `n`, then a little longer to see nothing more arrives.
fn settle(what: &str, n: usize, count: impl Fn() -> usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while count() < n {
        assert!(Instant::now() < deadline, "{what}: {} of {n} arrived", count());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
}

fn job_as(s: &Server, token: &str, body: Value) -> Value {
    ok("create job", s.send(s.client.post(format!("{}/queue/jobs", s.url)).header("X-StorageApi-Token", token).json(&body)), 201)
}

#[test]
fn a_failing_job_notifies_its_project_by_webhook_and_email_once() {
    let hooks = hook_listener();
    let mails = smtp_sink();
    let (s, _dir) = common::start_with_projects_env(
        &[(2, "two", P2_MASTER)],
        &[("KBSTACK_NOTIFICATIONS_SMTP_URL", &mails.url), ("KBSTACK_NOTIFICATIONS_FROM", "kbstack@example.com")],
    );
    let component = "keboola.runner-config-test";
    let hook = |path: &str| json!({"channel": "webhook", "url": format!("{}{path}", hooks.url)});
    subscribe(&s, MASTER_TOKEN, json!({"event": "job-failed", "filters": [{"field": "job.component.id", "value": component}], "recipient": hook("/one")}));
    subscribe(&s, MASTER_TOKEN, json!({"event": "job-failed", "filters": [{"field": "project.id", "value": 1}], "recipient": {"channel": "email", "address": "one@example.com"}}));
    // These must stay silent: another event, a filter that does not hold.
    subscribe(&s, MASTER_TOKEN, json!({"event": "job-succeeded", "recipient": hook("/succeeded")}));
    subscribe(&s, MASTER_TOKEN, json!({"event": "job-failed", "filters": [{"field": "job.component.id", "value": "keboola.ex-http"}], "recipient": hook("/other-component")}));
    // Project 2's own subscriptions hear nothing of project 1's job.
    subscribe(&s, P2_MASTER, json!({"event": "job-failed", "recipient": hook("/two")}));
    subscribe(&s, P2_MASTER, json!({"event": "job-failed", "recipient": {"channel": "email", "address": "two@example.com"}}));

    let started = Instant::now();
    let job = job_as(&s, MASTER_TOKEN, json!({"component": component, "mode": "run", "configData": {"parameters": {"operation": "fail", "message": "The API refused the key"}}}));
    let done = wait_finished(&s, &id(&job), 60);
    assert_eq!(done["status"], "error", "{done}");
    let job_took = started.elapsed();

    settle("webhook", 1, || hooks.got.lock().unwrap().len());
    settle("email", 1, || mails.got.lock().unwrap().len());
    let got = hooks.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "exactly one webhook: {got:?}");
    let (path, payload) = &got[0];
    assert_eq!(path, "/one");
    assert_eq!(payload["errorMessage"], "The API refused the key", "{payload}");
    let j = &payload["job"];
    assert_eq!(j["id"], done["id"]);
    assert_eq!(j["url"], done["url"], "the job's URL");
    assert_eq!(j["component"]["id"], component);
    assert!(j["component"]["name"].as_str().is_some_and(|n| !n.is_empty()), "{payload}");
    assert_eq!(j["tasks"], json!([]));
    assert!(j["startTime"].is_string() && j["endTime"].is_string(), "{payload}");
    assert!(j.get("configuration").is_none(), "an inline configuration has no name: {payload}");
    assert_eq!(payload["project"]["id"], "1");
    assert!(payload["project"]["name"].is_string());
    assert_eq!(payload["branch"]["id"], done["branchId"]);
    let keys: Vec<&String> = payload.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["errorMessage", "job", "project", "branch"]);

    let mails_got = mails.got.lock().unwrap().clone();
    assert_eq!(mails_got.len(), 1, "exactly one email: {mails_got:?}");
    let (to, data) = &mails_got[0];
    assert_eq!(to, &vec!["one@example.com".to_string()]);
    assert!(data.contains("Subject: [kbstack]") && data.contains("failed"), "{data}");
    assert!(data.contains("From: kbstack@example.com"), "{data}");
    let flat = data.replace("=\r\n", "");
    assert!(flat.contains(done["url"].as_str().unwrap()), "the email links the job: {data}");
    assert!(flat.contains("The API refused the key"), "{data}");
    eprintln!("failing job took {job_took:?} end to end; notifications arrived after it");
}

#[test]
fn a_flow_notification_task_delivers() {
    let hooks = hook_listener();
    let mails = smtp_sink();
    let s = Server::start_with_env(&[("KBSTACK_NOTIFICATIONS_SMTP_URL", &mails.url)]);
    let flow = json!({
        "phases": [{"id": 1, "name": "Tell"}],
        "tasks": [{"id": 10, "name": "tell", "phase": 1, "enabled": true, "task": {
            "type": "notification", "title": "Nightly load", "message": "The nightly load ran.",
            "recipients": [{"channel": "webhook", "address": format!("{}/flow", hooks.url)}, {"channel": "email", "address": "flow@example.com"}]
        }}]
    });
    let (st, c) = s.post_json("components/keboola.flow/configs", json!({"name": "Nightly", "configuration": flow}));
    assert_eq!(st, 201, "{c}");
    let config_id = c["id"].as_str().unwrap().to_string();
    // A phase-job-succeeded subscription hears of the phase too.
    subscribe(&s, MASTER_TOKEN, json!({"event": "phase-job-succeeded", "filters": [{"field": "phase.id", "value": "1"}], "recipient": {"channel": "webhook", "url": format!("{}/phase", hooks.url)}}));
    let job = create_job(&s, json!({"component": "keboola.flow", "config": config_id, "mode": "run"}));
    let done = wait_finished(&s, &id(&job), 60);
    assert_eq!(done["status"], "success", "{done}");

    settle("webhooks", 2, || hooks.got.lock().unwrap().len());
    settle("email", 1, || mails.got.lock().unwrap().len());
    let got: HashMap<String, Value> = hooks.got.lock().unwrap().iter().cloned().collect();
    assert_eq!(got.len(), 2, "{got:?}");
    let note = &got["/flow"];
    assert_eq!(note["title"], "Nightly load");
    assert_eq!(note["message"], "The nightly load ran.");
    assert_eq!(note["flow"]["id"], config_id.as_str());
    assert_eq!(note["flow"]["name"], "Nightly");
    assert_eq!(note["job"]["id"], done["id"]);
    assert_eq!(note["project"]["id"], "1");
    let phase = &got["/phase"];
    assert_eq!(phase["phase"], json!({"id": "1", "name": "Tell"}), "{phase}");
    assert_eq!(phase["job"]["configuration"], json!({"id": config_id, "name": "Nightly"}), "{phase}");
    assert_eq!(phase["job"]["component"]["id"], "keboola.flow");
    let mails_got = mails.got.lock().unwrap().clone();
    assert_eq!(mails_got.len(), 1, "{mails_got:?}");
    assert_eq!(mails_got[0].0, vec!["flow@example.com".to_string()]);
    assert!(mails_got[0].1.contains("Subject: [kbstack] Nightly load"), "{}", mails_got[0].1);
    assert!(mails_got[0].1.contains("The nightly load ran."), "{}", mails_got[0].1);
}

#[test]
fn a_job_running_longer_than_its_average_is_reported_once() {
    let hooks = hook_listener();
    let s = Server::start();
    let component = "keboola.runner-config-test";
    let (st, c) = s.post_json(&format!("components/{component}/configs"), json!({"name": "Slow one", "configuration": {"parameters": {}}}));
    assert_eq!(st, 201, "{c}");
    let config = c["id"].as_str().unwrap().to_string();
    let run = |sleep: f64| create_job(&s, json!({"component": component, "config": config, "mode": "run", "configData": {"parameters": {"sleep": sleep}}}));
    // The history: one run of about a second.
    let first = wait_finished(&s, &id(&run(1.0)), 60);
    assert_eq!(first["status"], "success", "{first}");
    let hook = |path: &str| json!({"channel": "webhook", "url": format!("{}{path}", hooks.url)});
    subscribe(&s, MASTER_TOKEN, json!({"event": "job-processing-long", "filters": [{"field": "job.configuration.id", "value": config},
        {"field": "durationOvertimePercentage", "operator": ">=", "value": 1}], "recipient": hook("/long")}));
    subscribe(&s, MASTER_TOKEN, json!({"event": "job-processing-long", "filters": [{"field": "durationOvertimePercentage", "operator": ">=", "value": 50}], "recipient": hook("/never")}));

    let slow = run(7.0);
    let done = wait_finished(&s, &id(&slow), 60);
    assert_eq!(done["status"], "success", "{done}");
    settle("processing-long webhook", 1, || hooks.got.lock().unwrap().len());
    let got = hooks.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "once, and not for the 50x threshold: {got:?}");
    let (path, p) = &got[0];
    assert_eq!(path, "/long");
    assert_eq!(p["job"]["id"], slow["id"]);
    assert_eq!(p["job"]["configuration"], json!({"id": config, "name": "Slow one"}));
    assert_eq!(p["uniqueId"], slow["id"]);
    let (average, current, overtime) = (p["averageDuration"].as_f64().unwrap(), p["currentDuration"].as_f64().unwrap(), p["durationOvertimePercentage"].as_f64().unwrap());
    assert!(average > 0.5 && average < 5.0, "{p}");
    assert!(overtime >= 1.0 && (overtime - (current - average) / average).abs() < 1e-6, "{p}");
    let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["averageDuration", "currentDuration", "durationOvertimePercentage", "job", "project", "branch", "uniqueId"]);
}

/// The acceptance case: a flow fails in project 1; its subscriptions (filtered on the flow's
/// configuration, as Keboola's UI makes them) get one webhook and one email with the flow job's
/// payload; project 2, made through `/manage`, subscribed to every failure, gets nothing.
#[test]
fn a_failed_flow_notifies_its_project_once_and_no_other_project() {
    let hooks = hook_listener();
    let mails = smtp_sink();
    let s = Server::start_with_env(&[("KBSTACK_NOTIFICATIONS_SMTP_URL", &mails.url)]);
    let p2 = ok(
        "project 2",
        common::manage(&s, Method::POST, common::MANAGE_TOKEN, "/manage/organizations/1/projects", Some(json!({"name": "other"}))),
        201,
    );
    let p2_token = p2["masterToken"]["token"].as_str().unwrap().to_string();
    let test = "keboola.runner-config-test";
    let (st, bad) = s.post_json(&format!("components/{test}/configs"), json!({"name": "bad", "configuration": {"parameters": {"operation": "fail", "message": "source is down"}}}));
    assert_eq!(st, 201, "{bad}");
    let flow = json!({
        "phases": [{"id": 1, "name": "Load"}],
        "tasks": [{"id": 10, "name": "load", "phase": 1, "enabled": true, "task": {"type": "job", "componentId": test, "configId": bad["id"], "mode": "run"}}]
    });
    let (st, c) = s.post_json("components/keboola.flow/configs", json!({"name": "Nightly", "configuration": flow}));
    assert_eq!(st, 201, "{c}");
    let config_id = c["id"].as_str().unwrap().to_string();
    let on_flow = json!([{"field": "job.configuration.id", "value": config_id}]);
    subscribe(&s, MASTER_TOKEN, json!({"event": "job-failed", "filters": on_flow, "recipient": {"channel": "webhook", "url": format!("{}/flow", hooks.url)}}));
    subscribe(&s, MASTER_TOKEN, json!({"event": "job-failed", "filters": on_flow, "recipient": {"channel": "email", "address": "team@example.com"}}));
    subscribe(&s, &p2_token, json!({"event": "job-failed", "recipient": {"channel": "webhook", "url": format!("{}/other", hooks.url)}}));
    subscribe(&s, &p2_token, json!({"event": "job-failed", "recipient": {"channel": "email", "address": "other@example.com"}}));

    let job = create_job(&s, json!({"component": "keboola.flow", "config": config_id, "mode": "run"}));
    let done = wait_finished(&s, &id(&job), 60);
    assert_eq!(done["status"], "error", "{done}");
    settle("webhook", 1, || hooks.got.lock().unwrap().len());
    settle("email", 1, || mails.got.lock().unwrap().len());
    std::thread::sleep(Duration::from_millis(500));
    let got = hooks.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one webhook, none for project 2: {got:?}");
    let (path, payload) = &got[0];
    assert_eq!(path, "/flow");
    assert_eq!(payload["job"]["id"], done["id"]);
    assert_eq!(payload["job"]["component"]["id"], "keboola.flow");
    assert_eq!(payload["job"]["configuration"], json!({"id": config_id, "name": "Nightly"}));
    assert_eq!(payload["project"]["id"], "1");
    assert!(payload["errorMessage"].as_str().is_some_and(|m| m.contains("source is down")), "{payload}");
    let mails_got = mails.got.lock().unwrap().clone();
    assert_eq!(mails_got.len(), 1, "one email, none for project 2: {mails_got:?}");
    assert_eq!(mails_got[0].0, vec!["team@example.com".to_string()]);
}
