//! Billing through the real binary: credits given by the Management API show in
//! `GET /billing/credits`; a pay-as-you-go project pays for its jobs by the documented formula and
//! is refused jobs once its credits are spent; other projects are never checked; the
//! `components.jobsParallelism` limit keeps a project's jobs one after the other.
mod common;
mod queue_support;

use std::time::{Duration, Instant};

use common::{MANAGE_TOKEN, Server, manage, ok};
use queue_support::{id, register, sh};
use reqwest::Method;
use serde_json::{Value, json};

/// A new project; returns (id, master token).
fn project(s: &Server, name: &str) -> (i64, String) {
    let p = ok("create project", manage(s, Method::POST, MANAGE_TOKEN, "/manage/organizations/1/projects", Some(json!({"name": name}))), 201);
    (p["id"].as_i64().unwrap(), p["masterToken"]["token"].as_str().unwrap().to_string())
}

fn make_payg(s: &Server, project: i64) {
    let _ = manage(s, Method::POST, MANAGE_TOKEN, "/manage/features", Some(json!({"name": "pay-as-you-go", "type": "project", "title": "PAYG"})));
    let (st, b) = manage(s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{project}/features"), Some(json!({"feature": "pay-as-you-go"})));
    assert!(st < 300, "{b}");
}

fn give(s: &Server, project: i64, amount: f64) {
    let (st, b) = manage(s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{project}/credits"), Some(json!({"amount": amount, "description": "test"})));
    assert!(st < 300, "give credits: {b}");
}

fn credits(s: &Server, token: &str) -> Value {
    ok("credits", s.send(s.client.get(format!("{}/billing/credits", s.url)).header("X-StorageApi-Token", token)), 200)
}

fn post_job(s: &Server, token: &str, body: Value) -> (u16, Value) {
    s.send(s.client.post(format!("{}/queue/jobs", s.url)).header("X-StorageApi-Token", token).json(&body))
}

fn job(s: &Server, token: &str, id: &str) -> Value {
    ok("job", s.send(s.client.get(format!("{}/queue/jobs/{id}", s.url)).header("X-StorageApi-Token", token)), 200)
}

fn wait_finished(s: &Server, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let j = job(s, token, id);
        if j["isFinished"] == true {
            return j;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ms(iso: &Value) -> i64 {
    chrono::DateTime::parse_from_str(iso.as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%:z").unwrap().timestamp_millis()
}

#[test]
fn payg_credits_consumed_by_jobs_and_refused_when_spent() {
    let s = Server::start();
    register(&s, "test.nap", sh("sleep 1.2"));
    let (pid, token) = project(&s, "payg");
    make_payg(&s, pid);
    assert_eq!(credits(&s, &token)["remaining"].as_f64(), Some(0.0));
    // No credits: the first job is refused in the Queue's envelope.
    let (st, refused) = post_job(&s, &token, json!({"component": "test.nap", "mode": "run", "configData": {}}));
    assert_eq!(st, 400, "{refused}");
    assert_eq!(refused["code"], 400);
    assert!(refused["error"].as_str().unwrap().contains("do not have credits"), "{refused}");

    give(&s, pid, 0.01);
    let c = credits(&s, &token);
    assert!((c["remaining"].as_f64().unwrap() - 0.01).abs() < 1e-9, "{c}");
    assert_eq!(c["consumed"].as_f64(), Some(0.0));

    // A medium job: credits = seconds / 3600 × 2.
    let (st, j) = post_job(&s, &token, json!({"component": "test.nap", "mode": "run", "configData": {}, "backend": {"type": "medium"}}));
    assert_eq!(st, 201, "{j}");
    let done = wait_finished(&s, &token, &id(&j));
    assert_eq!(done["status"], "success", "{done}");
    let seconds = (ms(&done["endTime"]) - ms(&done["startTime"])) as f64 / 1000.0;
    let c = credits(&s, &token);
    let consumed = c["consumed"].as_f64().unwrap();
    // Wire times have whole seconds: the charge (in ms) is within a second of them.
    assert!((consumed - seconds / 3600.0 * 2.0).abs() <= 2.0 / 3600.0 * 2.0 + 1e-9, "consumed {consumed} for {seconds} s: {c}");
    assert!(consumed >= 1.2 / 3600.0 * 2.0, "at least the sleep: {consumed}");
    assert!((c["remaining"].as_f64().unwrap() - (0.01 - consumed)).abs() < 1e-9, "{c}");

    // The same job reported again (Billing's internal PUT) is not charged twice.
    let again = ok(
        "duration/job",
        s.send(
            s.client
                .put(format!("{}/billing/duration/job", s.url))
                .header("X-KBC-ManageApiToken", MANAGE_TOKEN)
                .json(&json!({"projectId": pid.to_string(), "jobId": id(&j), "durationSeconds": 3600})),
        ),
        201,
    );
    assert_eq!(again["jobId"], id(&j));
    assert_eq!(credits(&s, &token)["consumed"].as_f64(), Some(consumed), "charged once");

    // Spend the rest: a reported hour of a small job; the next job is refused, top-up is not configured.
    let (st, _) = s.send(
        s.client
            .put(format!("{}/billing/duration/job", s.url))
            .header("X-KBC-ManageApiToken", MANAGE_TOKEN)
            .json(&json!({"projectId": pid.to_string(), "jobId": "999999", "durationSeconds": 3600, "backend": {"type": "small"}})),
    );
    assert_eq!(st, 201);
    let c = credits(&s, &token);
    assert!(c["remaining"].as_f64().unwrap() < 0.0, "{c}");
    let (st, refused) = post_job(&s, &token, json!({"component": "test.nap", "mode": "run", "configData": {}}));
    assert_eq!(st, 400, "{refused}");
    let (st, top) = s.send(s.client.post(format!("{}/billing/credits", s.url)).header("X-StorageApi-Token", &token));
    assert_eq!(st, 400, "{top}");
    assert!(top["error"].as_str().unwrap().contains("not configured"), "{top}");
    assert!(top["exceptionId"].as_str().unwrap().starts_with("billing-"), "{top}");
    // Without a manage token the internal call is refused.
    let (st, _) = s.send(s.client.put(format!("{}/billing/duration/job", s.url)).header("X-StorageApi-Token", &token).json(&json!({})));
    assert_eq!(st, 401);
}

#[test]
fn other_projects_run_jobs_without_credits() {
    let s = Server::start();
    register(&s, "test.quick", sh("true"));
    let (_, token) = project(&s, "standard");
    for _ in 0..2 {
        let (st, j) = post_job(&s, &token, json!({"component": "test.quick", "mode": "run", "configData": {}}));
        assert_eq!(st, 201, "{j}");
        assert_eq!(wait_finished(&s, &token, &id(&j))["status"], "success");
    }
    let c = credits(&s, &token);
    assert_eq!((c["remaining"].as_f64(), c["consumed"].as_f64()), (Some(0.0), Some(0.0)), "not charged: {c}");
}

#[test]
fn jobs_parallelism_one_runs_jobs_one_after_the_other() {
    let s = Server::start();
    register(&s, "test.nap", sh("sleep 1"));
    let (pid, token) = project(&s, "serial");
    ok(
        "limits",
        manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{pid}/limits"), Some(json!({"limits": [{"name": "components.jobsParallelism", "value": 1}]}))),
        200,
    );
    let a = id(&ok("job a", post_job(&s, &token, json!({"component": "test.nap", "mode": "run", "configData": {}})), 201));
    let b = id(&ok("job b", post_job(&s, &token, json!({"component": "test.nap", "mode": "run", "configData": {}})), 201));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut saw_waiting = false;
    loop {
        let (ja, jb) = (job(&s, &token, &a), job(&s, &token, &b));
        assert!(!(ja["status"] == "processing" && jb["status"] == "processing"), "both processing: {ja} {jb}");
        saw_waiting |= jb["status"] == "waiting";
        if ja["isFinished"] == true && jb["isFinished"] == true {
            assert_eq!((ja["status"].as_str(), jb["status"].as_str()), (Some("success"), Some("success")));
            assert!(ms(&jb["startTime"]) >= ms(&ja["endTime"]), "b started after a ended: {ja} {jb}");
            break;
        }
        assert!(Instant::now() < deadline, "jobs did not finish: {ja} {jb}");
        std::thread::sleep(Duration::from_millis(40));
    }
    assert!(saw_waiting, "the second job waited");
}
