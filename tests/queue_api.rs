//! The Queue API through the real binary: job object shape, status machine, runId ancestry, one
//! running job per configuration, kill, search in all encodings, bad input.
mod common;
mod queue_support;

use std::time::{Duration, Instant};

use common::{MASTER_TOKEN, Server};
use queue_support::*;
use serde_json::{Value, json};

const TEST: &str = "keboola.runner-config-test";

#[test]
fn created_job_has_every_key_and_finishes() {
    let s = Server::start();
    let j = config_test_job(&s, json!({"message": "hello"}));
    for key in JOB_KEYS {
        assert!(j.get(*key).is_some(), "missing {key} in {j}");
    }
    assert_eq!(j["status"], "created");
    assert_eq!(j["desiredStatus"], "processing");
    assert_eq!(j["isFinished"], false);
    assert_eq!(j["runId"], j["id"]);
    assert_eq!(j["parentRunId"], "");
    assert_eq!(j["type"], "standard");
    assert_eq!(j["mode"], "run");
    assert_eq!(j["project"]["id"], "1");
    assert!(j["token"]["id"].is_string());
    assert_eq!(j["url"], format!("{}/queue/jobs/{}", s.url, id(&j)));
    assert_eq!(j["metrics"], json!([]));
    assert_eq!(j["backend"], json!([]));
    assert_eq!(j["durationSeconds"], 0);
    assert!(j["createdTime"].as_str().unwrap().ends_with("+00:00"), "{}", j["createdTime"]);

    let done = wait_finished(&s, &id(&j), 30);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["isFinished"], true);
    assert_eq!(done["result"]["message"], "Component processing finished.");
    assert!(done["startTime"].is_string() && done["endTime"].is_string());
    for key in JOB_KEYS {
        assert!(done.get(*key).is_some(), "missing {key} in {done}");
    }
}

#[test]
fn status_machine_and_duration_count_processing_only() {
    let s = Server::start();
    let j = config_test_job(&s, json!({"sleep": 1.5}));
    let running = wait_status(&s, &id(&j), "processing", 10);
    assert_eq!(running["isFinished"], false);
    assert!(running["startTime"].is_string());
    let done = wait_finished(&s, &id(&j), 30);
    assert_eq!(done["status"], "success");
    let d = done["durationSeconds"].as_i64().unwrap();
    assert!((1..=3).contains(&d), "duration {d}");

    let failed = wait_finished(&s, &id(&config_test_job(&s, json!({"operation": "fail", "message": "bad input"}))), 30);
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["result"]["message"], "bad input");
    assert_eq!(failed["result"]["error"]["type"], "user");

    let crashed = wait_finished(&s, &id(&config_test_job(&s, json!({"operation": "crash"}))), 30);
    assert_eq!(crashed["status"], "error");
    assert_eq!(crashed["result"]["error"]["type"], "application");
    assert!(crashed["result"]["message"].as_str().unwrap().contains("exited with code 2"), "{crashed}");
}

#[test]
fn run_id_ancestry_from_header() {
    let s = Server::start();
    let (st, j) = s.send(
        s.client
            .post(queue_url(&s, "jobs"))
            .header("X-StorageApi-Token", MASTER_TOKEN)
            .header("X-KBC-RunId", "123.456")
            .json(&json!({"component": TEST, "configData": {}})),
    );
    assert_eq!(st, 201, "{j}");
    assert_eq!(j["parentRunId"], "123.456");
    assert_eq!(j["runId"], format!("123.456.{}", id(&j)));
    let (_, found) = qget(&s, "search/jobs?parentRunId=123.456");
    assert_eq!(found.as_array().unwrap().len(), 1);
}

#[test]
fn one_running_job_per_configuration_and_kill() {
    let s = Server::start();
    create_config(&s, TEST, "cfg1", json!({"parameters": {"sleep": 30}}), vec![], false);
    let first = create_job(&s, json!({"component": TEST, "config": "cfg1"}));
    wait_status(&s, &id(&first), "processing", 10);
    let second = create_job(&s, json!({"component": TEST, "config": "cfg1", "mode": "run"}));
    let waiting = wait_status(&s, &id(&second), "waiting", 10);
    assert_eq!(waiting["isFinished"], false);
    // Another configuration is not held up.
    let other = wait_finished(&s, &id(&config_test_job(&s, json!({}))), 30);
    assert_eq!(other["status"], "success");

    // Kill the waiting one: cancelled at once, never started.
    let (st, k) = qpost(&s, &format!("jobs/{}/kill", id(&second)), json!({}));
    assert_eq!(st, 202, "{k}");
    assert_eq!(k["desiredStatus"], "terminating");
    let cancelled = job(&s, &id(&second));
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["isFinished"], true);
    assert!(cancelled["startTime"].is_null());
    assert_eq!(cancelled["durationSeconds"], 0);

    // Kill the running one: terminated within 2 s.
    let t0 = Instant::now();
    let (st, k) = qpost(&s, &format!("jobs/{}/kill", id(&first)), json!({}));
    assert_eq!(st, 202, "{k}");
    assert!(k["status"] == "terminating" || k["status"] == "terminated", "{k}");
    let done = wait_finished(&s, &id(&first), 5);
    assert!(t0.elapsed() < Duration::from_secs(2), "terminated after {:?}", t0.elapsed());
    assert_eq!(done["status"], "terminated");

    // A finished job cannot be killed.
    let (st, e) = qpost(&s, &format!("jobs/{}/kill", id(&first)), json!({}));
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["code"], 400);
    assert!(e["error"].as_str().unwrap().contains("killable"), "{e}");
}

#[test]
fn bad_input_is_a_clear_4xx() {
    let s = Server::start();
    create_config(&s, TEST, "off", json!({"parameters": {}}), vec![], true);
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"component": "no.such-component", "configData": {}}), 404, "Component \"no.such-component\" not found"),
        (json!({"component": TEST, "config": "missing"}), 404, "Configuration \"missing\""),
        (json!({"component": TEST, "config": "off"}), 400, "is disabled"),
        (json!({"component": TEST, "configData": {}, "mode": "sideways"}), 400, "mode"),
        (json!({"component": TEST, "configData": "not json"}), 400, "configData"),
        (json!({"component": TEST, "configData": [1, 2]}), 400, "configData"),
        (json!({"component": TEST, "configData": {"parameters": "x"}}), 400, "configData.parameters"),
        (json!({"configData": {}}), 400, "component"),
        (json!({"component": TEST}), 400, "either \"config\""),
        (json!({"component": TEST, "config": "off", "configRowIds": ["nope"], "mode": "forceRun"}), 404, "Row \"nope\""),
        (json!({"component": TEST, "configData": {}, "backend": {"type": "huge"}}), 400, "backend.type"),
        (json!({"component": TEST, "configData": {}, "parallelism": "lots"}), 400, "parallelism"),
    ];
    for (body, status, needle) in cases {
        let (st, e) = qpost(&s, "jobs", body.clone());
        assert_eq!(st, status, "{body} -> {e}");
        assert_eq!(e["code"], status, "integer code: {e}");
        assert_eq!(e["status"], "error");
        assert!(e["exceptionId"].is_string());
        assert!(e["error"].as_str().unwrap().contains(needle), "{body} -> {e}");
    }
    // Malformed JSON body.
    let (st, e) = s.send(
        s.client.post(queue_url(&s, "jobs")).header("X-StorageApi-Token", MASTER_TOKEN).header("Content-Type", "application/json").body("{nope"),
    );
    assert_eq!(st, 400, "{e}");
    // forceRun runs a disabled configuration.
    let forced = create_job(&s, json!({"component": TEST, "config": "off", "mode": "forceRun"}));
    assert_eq!(wait_finished(&s, &id(&forced), 30)["status"], "success");
    // Unknown job, no token.
    let (st, e) = qget(&s, "jobs/999999999");
    assert_eq!(st, 404);
    assert_eq!(e["error"], "Job \"999999999\" not found");
    let (st, _) = s.send(s.client.get(queue_url(&s, "jobs/1")));
    assert_eq!(st, 401);
    // A backend given as a bare string (Go SDK) is accepted and shown as an object.
    let j = create_job(&s, json!({"component": TEST, "configData": {}, "backend": "large", "parallelism": 5, "tag": "1.2.3"}));
    assert_eq!(j["backend"]["type"], "large");
    assert_eq!(j["parallelism"], "5");
    assert_eq!(j["tag"], "1.2.3");
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn search_filters_sorting_and_encodings() {
    let s = Server::start();
    create_config(&s, TEST, "a", json!({"parameters": {}}), vec![], false);
    let ok1 = create_job(&s, json!({"component": TEST, "config": "a"}));
    wait_finished(&s, &id(&ok1), 30);
    let bad = config_test_job(&s, json!({"operation": "fail"}));
    wait_finished(&s, &id(&bad), 30);
    let ok2 = config_test_job(&s, json!({}));
    wait_finished(&s, &id(&ok2), 30);

    let (st, all) = qget(&s, "search/jobs");
    assert_eq!(st, 200);
    assert_eq!(ids(&all), vec![id(&ok2), id(&bad), id(&ok1)], "default: id desc");
    let (_, asc) = qget(&s, "search/jobs?sortBy=id&sortOrder=asc&limit=2");
    assert_eq!(ids(&asc), vec![id(&ok1), id(&bad)]);
    let (_, page) = qget(&s, "search/jobs?sortBy=createdTime&sortOrder=asc&limit=2&offset=2");
    assert_eq!(ids(&page), vec![id(&ok2)]);
    for q in ["status[]=success&status[]=error", "status[0]=success&status[1]=error", "status=success&status=error"] {
        let (_, r) = qget(&s, &format!("search/jobs?{q}"));
        assert_eq!(r.as_array().unwrap().len(), 3, "{q}");
    }
    for q in ["status[]=error", "status=error", "status[0]=error"] {
        let (_, r) = qget(&s, &format!("search/jobs?{q}"));
        assert_eq!(ids(&r), vec![id(&bad)], "{q}");
    }
    let (_, r) = qget(&s, &format!("search/jobs?componentId={TEST}&configId=a"));
    assert_eq!(ids(&r), vec![id(&ok1)]);
    let (_, r) = qget(&s, &format!("search/jobs?component[]={TEST}&config[]=a"));
    assert_eq!(ids(&r), vec![id(&ok1)]);
    let (_, r) = qget(&s, &format!("search/jobs?id[]={}&id[]={}", id(&ok1), id(&ok2)));
    assert_eq!(r.as_array().unwrap().len(), 2);
    let (_, r) = qget(&s, "search/jobs?createdTimeFrom=-8%20hours");
    assert_eq!(r.as_array().unwrap().len(), 3);
    let (_, r) = qget(&s, "search/jobs?createdTimeTo=-8%20hours");
    assert_eq!(r.as_array().unwrap().len(), 0);
    let (_, r) = qget(&s, "search/jobs?startTimeFrom=today&endTimeTo=tomorrow");
    assert_eq!(r.as_array().unwrap().len(), 3);
    let (_, r) = qget(&s, "search/jobs?branchId=null&durationSecondsTo=100&sortBy=startTime&sortOrder=desc");
    assert_eq!(r.as_array().unwrap().len(), 3);
    let (st, e) = qget(&s, "search/jobs?sortBy=nonsense");
    assert_eq!(st, 400, "{e}");
    let (st, e) = qget(&s, "search/jobs?createdTimeFrom=someday%20maybe");
    assert_eq!(st, 400, "{e}");
    let (st, e) = qget(&s, "search/jobs?status=sleeping");
    assert_eq!(st, 400, "{e}");

    let (_, grouped) = qget(&s, "search/grouped-jobs?groupBy[]=componentId&groupBy[]=configId&jobsPerGroup=1&sortBy=id&sortOrder=desc");
    let groups = grouped.as_array().unwrap();
    assert_eq!(groups.len(), 2, "{grouped}");
    assert_eq!(groups[0]["group"], json!({"componentId": TEST, "configId": null}));
    assert_eq!(ids(&groups[0]["jobs"]), vec![id(&ok2)]);
    assert_eq!(groups[1]["group"]["configId"], "a");

    let (_, cj) = qget(&s, &format!("configurations-jobs?componentId={TEST}&configId[]=a&jobsPerConfiguration=5"));
    assert_eq!(ids(&cj), vec![id(&ok1)]);

    let (_, stats) = qget(&s, "stats/project");
    assert!(stats["jobs"]["durationSum"].is_i64(), "{stats}");
    let (st, legacy) = qget(&s, "jobs?limit=1");
    assert_eq!(st, 200);
    assert_eq!(legacy.as_array().unwrap().len(), 1);
}

#[test]
fn queue_url_is_advertised_in_the_index() {
    let s = Server::start();
    let (_, index) = s.get("");
    let queue = index["services"].as_array().unwrap().iter().find(|x| x["id"] == "queue").unwrap();
    assert_eq!(queue["url"], format!("{}/queue", s.url));
    let (st, _) = s.send(s.client.get(format!("{}/jobs/1", queue["url"].as_str().unwrap())).header("X-StorageApi-Token", MASTER_TOKEN));
    assert_eq!(st, 404);
}

#[test]
fn the_index_lists_only_services_that_answer() {
    let s = Server::start();
    let (_, index) = s.send(s.client.get(s.api("")));
    for service in index["services"].as_array().unwrap() {
        let url = service["url"].as_str().unwrap();
        let resp = s.client.get(url).header("X-StorageApi-Token", MASTER_TOKEN).send().unwrap();
        assert_ne!(resp.status().as_u16(), 404, "{} is advertised at {url} but not served", service["id"]);
    }
}
