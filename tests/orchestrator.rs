//! Orchestrator v2 (`/syrup/orchestrator`, the legacy Syrup API) through the real binary, with
//! requests shaped as the blueprint's examples and keboola/orchestrator-php-client send them:
//! orchestrations are `keboola.orchestrator` configurations, their jobs Queue flow jobs, their
//! crontab a Scheduler schedule.
mod common;
mod queue_support;

use std::time::{Duration, Instant};

use common::{MASTER_TOKEN, Server, ok};
use queue_support::create_config;
use reqwest::Method;
use serde_json::{Value, json};

const P2_MASTER: &str = "2-9-kbstackorchestratorprojecttwo000000000";

fn orch(s: &Server, method: Method, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, format!("{}/syrup/orchestrator{path}", s.url)).header("X-StorageApi-Token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

/// Fields the blueprint shows both as a value and as `null` (`startTime: null` beside an
/// `endTime` in the same job; `results: null` of a job not finished).
const NULLABLE: &[&str] = &["startTime", "endTime", "lastScheduledTime", "nextScheduledTime", "crontabRecord", "timeoutMinutes", "results"];

/// `actual` has every field of the blueprint's `example`, with the same JSON type (a `null` in
/// the example allows any type, a nullable field may be `null`); objects recursively, arrays by
/// their first items.
fn same_shape(what: &str, example: &Value, actual: &Value) {
    match (example, actual) {
        (Value::Null, _) => {}
        (_, Value::Null) if NULLABLE.iter().any(|f| what.ends_with(&format!(".{f}"))) => {}
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let got = a.get(k).unwrap_or_else(|| panic!("{what}: no \"{k}\" in {actual}"));
                same_shape(&format!("{what}.{k}"), v, got);
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(x), Some(y)) = (e.first(), a.first()) {
                same_shape(&format!("{what}[0]"), x, y);
            }
        }
        (Value::String(_), Value::String(_)) | (Value::Number(_), Value::Number(_)) | (Value::Bool(_), Value::Bool(_)) => {}
        _ => panic!("{what}: the example has {example}, the response {actual}"),
    }
}

/// The blueprint's examples (reference/orchestrator-v2/apiary.apib).
fn example_tasks() -> Value {
    json!([
        {"component": "ex-facebook", "action": "run", "actionParameters": {}, "continueOnFailure": false, "timeoutMinutes": null, "active": true},
        {"component": "transformation", "action": "run", "actionParameters": {}, "continueOnFailure": false, "timeoutMinutes": null, "active": true},
        {"componentUrl": "https://syrup.keboola.com/gooddata-writer/execute-reports", "actionParameters": {}, "continueOnFailure": true, "timeoutMinutes": 10, "active": true}
    ])
}

fn example_notifications() -> Value {
    json!([
        {"email": "someone@somewhere.com", "channel": "error", "parameters": {}},
        {"email": "someone@somewhere.com", "channel": "waiting", "parameters": {"timeout": 10}},
        {"email": "someone@somewhere.com", "channel": "processing", "parameters": {"tolerance": 20}}
    ])
}

fn example_orchestration() -> Value {
    json!({
        "id": 2362, "name": "Main orchestrator", "crontabRecord": "0 * * * *", "createdTime": "2013-03-02T11:11:24+01:00",
        "lastScheduledTime": null, "nextScheduledTime": "2013-03-02T11:12:00+01:00", "active": true,
        "token": {"id": 1661, "description": "Orchestrator token"},
        "uri": "http://keboolaorchestratorv2api.apiary-mock.com/orchestrations/2362",
        "notifications": example_notifications(), "tasks": example_tasks()
    })
}

fn example_job() -> Value {
    json!({
        "id": 123, "orchestrationId": 2362, "createdTime": "2013-03-02T11:11:24+01:00", "startTime": null,
        "endTime": "2013-03-02T11:11:50+01:00", "status": "cancelled", "initializedBy": "manually",
        "token": {"id": 1661, "description": "Orchestrator token"},
        "initiatorToken": {"id": 1661, "description": "Orchestrator token", "userAgent": "Mozilla/5.0"},
        "results": null, "notificationsEmails": [], "tasks": example_tasks(), "runId": 123,
        "uri": "http://keboolaorchestratorv2api.apiary-mock.com/orchestrations/2362"
    })
}

fn master_token_id(s: &Server) -> i64 {
    let v = ok("verify", s.get("tokens/verify"), 200);
    v["id"].as_i64().or_else(|| v["id"].as_str().and_then(|i| i.parse().ok())).expect("token id")
}

fn assert_envelope(what: &str, (status, body): (u16, Value), expected: u16) {
    assert_eq!(status, expected, "{what}: {body}");
    assert!(
        body["status"] == "error" && body["code"] == json!(expected) && body["error"].is_string() && body["message"] == body["error"],
        "{what}: not Syrup's envelope: {body}"
    );
}

fn wait_orchestration_job(s: &Server, id: i64, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let j = ok("job", orch(s, Method::GET, MASTER_TOKEN, &format!("/jobs/{id}"), None), 200);
        if ["success", "error", "warning", "cancelled"].contains(&j["status"].as_str().unwrap_or("")) {
            return j;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {j}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn blueprint_examples_replay_with_their_shapes() {
    let (s, _dir) = common::start_with_projects(&[(2, "two", P2_MASTER)]);
    let mut create = json!({"name": "Main orchestrator", "crontabRecord": "0 * * * *", "tokenId": master_token_id(&s),
                            "notifications": example_notifications(), "tasks": example_tasks()});
    let o = ok("create", orch(&s, Method::POST, MASTER_TOKEN, "/orchestrations", Some(create.clone())), 201);
    same_shape("create", &example_orchestration(), &o);
    let id = o["id"].as_i64().unwrap();
    assert_eq!(o["token"]["id"], json!(master_token_id(&s)));
    assert!(o["nextScheduledTime"].as_str().is_some_and(|t| t.ends_with(":00+00:00")), "{o}");
    assert!(o["uri"].as_str().unwrap().ends_with(&format!("/orchestrations/{id}")), "{o}");
    assert_eq!(o["tasks"][2]["componentUrl"], "https://syrup.keboola.com/gooddata-writer/execute-reports");

    // Without tokenId a new token is created for it.
    create.as_object_mut().unwrap().remove("tokenId");
    create["name"] = json!("Second");
    let second = ok("create without tokenId", orch(&s, Method::POST, MASTER_TOKEN, "/orchestrations", Some(create)), 201);
    assert_ne!(second["token"]["id"], json!(master_token_id(&s)));
    assert_eq!(second["token"]["description"], "Orchestrator Second");

    let all = ok("list", orch(&s, Method::GET, MASTER_TOKEN, "/orchestrations", None), 200);
    assert_eq!(all.as_array().unwrap().len(), 2);
    let mut collection_item = example_orchestration();
    collection_item.as_object_mut().unwrap().remove("notifications");
    collection_item.as_object_mut().unwrap().remove("tasks");
    same_shape("list", &collection_item, &all[0]);
    same_shape("detail", &example_orchestration(), &ok("detail", orch(&s, Method::GET, MASTER_TOKEN, &format!("/orchestrations/{id}"), None), 200));

    // It is a `keboola.orchestrator` configuration in Storage, with a schedule.
    let cfg = ok("config", s.get(&format!("components/keboola.orchestrator/configs/{id}")), 200);
    assert_eq!(cfg["name"], "Main orchestrator");
    assert_eq!(cfg["configuration"]["tasks"].as_array().unwrap().len(), 3, "{cfg}");
    assert!(cfg["configuration"]["orchestratorV2"]["#token"].as_str().unwrap().starts_with("KBC::"), "the token is stored encrypted: {cfg}");
    let schedules = ok("schedules", s.send(s.client.get(format!("{}/scheduler/schedules", s.url)).header("X-StorageApi-Token", MASTER_TOKEN)), 200);
    assert!(schedules.as_array().unwrap().iter().any(|x| x["target"]["configurationId"] == json!(id.to_string())), "{schedules}");

    // Update: `{"active": false}` as the blueprint sends it.
    let updated = ok("update", orch(&s, Method::PUT, MASTER_TOKEN, &format!("/orchestrations/{id}"), Some(json!({"active": false}))), 200);
    same_shape("update", &example_orchestration(), &updated);
    assert_eq!(updated["active"], false);
    assert_envelope("trigger a disabled orchestration", orch(&s, Method::POST, MASTER_TOKEN, &format!("/orchestrations/{id}/trigger"), Some(json!({}))), 409);

    // Tasks: the PHP client's updateTasks sends the array as a JSON string body.
    let (st, tasks) = s.send(
        s.client
            .put(format!("{}/syrup/orchestrator/orchestrations/{id}/tasks", s.url))
            .header("X-StorageApi-Token", MASTER_TOKEN)
            .header("Content-Type", "application/json")
            .body(example_tasks().to_string()),
    );
    assert_eq!(st, 202, "{tasks}");
    same_shape("put tasks", &example_tasks(), &tasks);
    same_shape("get tasks", &example_tasks(), &ok("tasks", orch(&s, Method::GET, MASTER_TOKEN, &format!("/orchestrations/{id}/tasks"), None), 200));
    let n = ok("put notifications", orch(&s, Method::PUT, MASTER_TOKEN, &format!("/orchestrations/{id}/nofitications"), Some(example_notifications())), 202);
    same_shape("put notifications", &example_notifications(), &n);
    same_shape("get notifications", &example_notifications(), &ok("n", orch(&s, Method::GET, MASTER_TOKEN, &format!("/orchestrations/{id}/nofitications"), None), 200));

    let refreshed = ok("create-token", orch(&s, Method::POST, MASTER_TOKEN, &format!("/orchestrations/{id}/create-token"), Some(json!({}))), 200);
    same_shape("create-token", &example_orchestration(), &refreshed);
    assert_ne!(refreshed["token"]["id"], o["token"]["id"]);

    // A manual job (the blueprint's body): an inactive orchestration runs when asked.
    let job_body = json!({"notificationsEmails": ["notify@me.com"], "tasks": [
        {"component": "ex-facebook", "action": "run", "actionParameters": {}, "continueOnFailure": false, "timeoutMinutes": null, "active": false},
        {"component": "transformation", "action": "run", "actionParameters": {}, "continueOnFailure": false, "timeoutMinutes": null, "active": false},
        {"componentUrl": "https://syrup.keboola.com/gooddata-writer/execute-reports", "actionParameters": {}, "continueOnFailure": true, "timeoutMinutes": 10, "active": true}
    ]});
    let job = ok("create job", orch(&s, Method::POST, MASTER_TOKEN, &format!("/orchestrations/{id}/jobs"), Some(job_body)), 201);
    same_shape("create job", &example_job(), &job);
    assert_eq!(job["orchestrationId"], json!(id));
    assert_eq!(job["notificationsEmails"], json!(["notify@me.com"]));
    assert_eq!(job["initiatorToken"]["id"], json!(master_token_id(&s)));
    let done = wait_orchestration_job(&s, job["id"].as_i64().unwrap(), 60);
    same_shape("job detail", &example_job(), &done);
    // Only the active (unknown) component ran, and it may fail: the job ends with a warning.
    assert_eq!(done["status"], "warning", "{done}");
    let ran: Vec<&Value> = done["results"]["tasks"].as_array().unwrap().iter().collect();
    assert_eq!(ran.len(), 1, "{done}");

    // The jobs list, with X-Total-Count.
    let resp = s.client.get(format!("{}/syrup/orchestrator/orchestrations/{id}/jobs?limit=20&offset=0", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["X-Total-Count"], "1");
    let list: Value = resp.json().unwrap();
    let mut collection_job = example_job();
    collection_job.as_object_mut().unwrap().remove("tasks");
    same_shape("jobs list", &collection_job, &list[0]);

    // The PHP client's runOrchestration: `POST /run {config}`.
    let run = ok("run", orch(&s, Method::POST, MASTER_TOKEN, "/run", Some(json!({"config": id}))), 202);
    same_shape("run", &example_job(), &run);
    assert_eq!(run["orchestrationId"], json!(id));
    wait_orchestration_job(&s, run["id"].as_i64().unwrap(), 60);
    assert_envelope("run without config", orch(&s, Method::POST, MASTER_TOKEN, "/run", Some(json!({}))), 400);

    // Another project sees none of it.
    assert_eq!(ok("p2 list", orch(&s, Method::GET, P2_MASTER, "/orchestrations", None), 200), json!([]));
    assert_envelope("p2 detail", orch(&s, Method::GET, P2_MASTER, &format!("/orchestrations/{id}"), None), 404);
    assert_envelope("p2 job", orch(&s, Method::GET, P2_MASTER, &format!("/jobs/{}", job["id"]), None), 404);
    assert_envelope("p2 trigger", orch(&s, Method::POST, P2_MASTER, &format!("/orchestrations/{id}/trigger"), None), 404);

    // Bad input is a 400 in the envelope.
    assert_envelope("no name", orch(&s, Method::POST, MASTER_TOKEN, "/orchestrations", Some(json!({"crontabRecord": "0 * * * *"}))), 400);
    assert_envelope("bad crontab", orch(&s, Method::POST, MASTER_TOKEN, "/orchestrations", Some(json!({"name": "x", "crontabRecord": "61 * * * *"}))), 400);
    assert_envelope("bad task", orch(&s, Method::PUT, MASTER_TOKEN, &format!("/orchestrations/{id}/tasks"), Some(json!([{"action": "run"}]))), 400);
    assert_envelope("bad channel", orch(&s, Method::PUT, MASTER_TOKEN, &format!("/orchestrations/{id}/nofitications"), Some(json!([{"email": "a@b.cz", "channel": "sms"}]))), 400);

    let (st, _) = orch(&s, Method::DELETE, MASTER_TOKEN, &format!("/orchestrations/{id}"), None);
    assert_eq!(st, 204);
    assert_envelope("deleted", orch(&s, Method::GET, MASTER_TOKEN, &format!("/orchestrations/{id}"), None), 404);
    let schedules = ok("schedules", s.send(s.client.get(format!("{}/scheduler/schedules", s.url)).header("X-StorageApi-Token", MASTER_TOKEN)), 200);
    assert!(!schedules.as_array().unwrap().iter().any(|x| x["target"]["configurationId"] == json!(id.to_string())), "its schedule went with it: {schedules}");
}

/// Two phases (two config-test tasks in "extract", run together, then one in "load") on a
/// manual trigger and on a one-minute crontab through the Scheduler. (Up to ~70 s.)
#[test]
fn a_two_phase_orchestration_runs_on_trigger_and_on_its_crontab() {
    let s = Server::start();
    let ct = "keboola.runner-config-test";
    for (cid, csv) in [("ex1", "a\n1\n"), ("ex2", "b\n2\n"), ("load", "c\n3\n")] {
        create_config(&s, ct, cid, json!({"parameters": {"tables": {format!("{cid}.csv"): csv}},
            "storage": {"output": {"tables": [{"source": format!("{cid}.csv"), "destination": format!("out.c-orch.{cid}")}]}}}), vec![], false);
    }
    let task = |config: &str, phase: &str| json!({"component": ct, "action": "run", "actionParameters": {"config": config}, "continueOnFailure": false, "timeoutMinutes": null, "active": true, "phase": phase});
    let o = ok(
        "create",
        orch(&s, Method::POST, MASTER_TOKEN, "/orchestrations", Some(json!({"name": "Nightly", "crontabRecord": "* * * * *",
            "tasks": [task("ex1", "extract"), task("ex2", "extract"), task("load", "load")]}))),
        201,
    );
    let id = o["id"].as_i64().unwrap();
    let cfg = ok("config", s.get(&format!("components/keboola.orchestrator/configs/{id}")), 200);
    assert_eq!(cfg["configuration"]["phases"].as_array().unwrap().len(), 2, "{cfg}");

    let job = ok("trigger", orch(&s, Method::POST, MASTER_TOKEN, &format!("/orchestrations/{id}/trigger"), Some(json!({}))), 202);
    assert!(["waiting", "processing"].contains(&job["status"].as_str().unwrap()), "{job}");
    assert_eq!(job["initializedBy"], "manually");
    let done = wait_orchestration_job(&s, job["id"].as_i64().unwrap(), 60);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["results"]["phases"].as_array().unwrap().len(), 2, "{done}");
    assert_eq!(done["results"]["tasks"].as_array().unwrap().len(), 3, "{done}");
    assert_eq!(s.preview_rows("out.c-orch.load", ""), vec![vec!["3"]]);
    // The job id is the Queue's: the flow job is there, run with the orchestration's token.
    let q = ok("queue job", s.send(s.client.get(format!("{}/queue/jobs/{}", s.url, job["id"])).header("X-StorageApi-Token", MASTER_TOKEN)), 200);
    assert_eq!(q["component"], "keboola.orchestrator");
    assert_eq!(q["token"]["id"].to_string().trim_matches('"'), o["token"]["id"].to_string(), "{q}");

    // The crontab: within a minute the Scheduler creates a job of it.
    let deadline = Instant::now() + Duration::from_secs(75);
    let scheduled = loop {
        let jobs = ok("jobs", orch(&s, Method::GET, MASTER_TOKEN, &format!("/orchestrations/{id}/jobs"), None), 200);
        if let Some(j) = jobs.as_array().unwrap().iter().find(|j| j["initializedBy"] == "scheduler") {
            break j.clone();
        }
        assert!(Instant::now() < deadline, "no scheduled job: {jobs}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let done = wait_orchestration_job(&s, scheduled["id"].as_i64().unwrap(), 60);
    assert_eq!(done["status"], "success", "{done}");
    let detail = ok("detail", orch(&s, Method::GET, MASTER_TOKEN, &format!("/orchestrations/{id}"), None), 200);
    assert!(detail["lastScheduledTime"].is_string(), "{detail}");
}

/// An SMTP server that keeps what it is sent: (recipients, data).
fn smtp_sink() -> (String, std::sync::Arc<std::sync::Mutex<Vec<(Vec<String>, String)>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let got: std::sync::Arc<std::sync::Mutex<Vec<(Vec<String>, String)>>> = Default::default();
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let sink = sink.clone();
            std::thread::spawn(move || {
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
            });
        }
    });
    (url, got)
}

/// A failing orchestration emails its `error` notification and the job's `notificationsEmails`,
/// through Notifications subscriptions (the SMTP server of the stack).
#[test]
fn a_failing_orchestration_emails_its_error_notifications() {
    let (smtp, mails) = smtp_sink();
    let s = Server::start_with_env(&[("KBSTACK_NOTIFICATIONS_SMTP_URL", &smtp), ("KBSTACK_NOTIFICATIONS_FROM", "kbstack@example.com")]);
    create_config(&s, "keboola.runner-config-test", "boom", json!({"parameters": {"operation": "fail", "message": "The source refused the key"}}), vec![], false);
    let o = ok(
        "create",
        orch(&s, Method::POST, MASTER_TOKEN, "/orchestrations", Some(json!({"name": "Failing",
            "notifications": [{"email": "ops@example.com", "channel": "error", "parameters": {}}, {"email": "late@example.com", "channel": "waiting", "parameters": {"timeout": 10}}],
            "tasks": [{"component": "keboola.runner-config-test", "action": "run", "actionParameters": {"config": "boom"}, "active": true}]}))),
        201,
    );
    let id = o["id"].as_i64().unwrap();
    let subs = ok("subscriptions", s.send(s.client.get(format!("{}/notification/project-subscriptions", s.url)).header("X-StorageApi-Token", MASTER_TOKEN)), 200);
    assert!(
        subs.as_array().unwrap().iter().any(|x| x["event"] == "job-failed" && x["recipient"]["address"] == "ops@example.com"),
        "the error channel is a job-failed subscription: {subs}"
    );
    let job = ok("job", orch(&s, Method::POST, MASTER_TOKEN, &format!("/orchestrations/{id}/jobs"), Some(json!({"notificationsEmails": ["notify@me.com"]}))), 201);
    let done = wait_orchestration_job(&s, job["id"].as_i64().unwrap(), 60);
    assert_eq!(done["status"], "error", "{done}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while mails.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "emails: {:?}", mails.lock().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let got = mails.lock().unwrap().clone();
    let mut to: Vec<String> = got.iter().flat_map(|(r, _)| r.clone()).collect();
    to.sort();
    assert_eq!(to, vec!["notify@me.com", "ops@example.com"], "one email each: {got:?}");
    assert!(got.iter().all(|(_, data)| data.contains("Failing")), "the email names the orchestration: {got:?}");
}

/// A token that may not schedule gets a 403 for a crontab and nothing is left behind; without
/// a crontab it may create and run orchestrations.
#[test]
fn scheduling_takes_a_master_token() {
    let s = Server::start();
    let limited = ok("token", s.post_json("tokens", json!({"description": "writer", "canManageBuckets": true})), 201);
    let limited = limited["token"].as_str().expect("token string").to_string();
    assert_envelope(
        "crontab by a non-master token",
        orch(&s, Method::POST, &limited, "/orchestrations", Some(json!({"name": "Hourly", "crontabRecord": "0 * * * *"}))),
        403,
    );
    assert_eq!(ok("list", orch(&s, Method::GET, MASTER_TOKEN, "/orchestrations", None), 200), json!([]), "nothing half-made");
    let o = ok("create", orch(&s, Method::POST, &limited, "/orchestrations", Some(json!({"name": "Manual"}))), 201);
    assert!(o["crontabRecord"].is_null() && o["nextScheduledTime"].is_null(), "{o}");
}
