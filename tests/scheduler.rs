//! The Scheduler through the real binary: activation of `keboola.scheduler` configurations, the
//! Schedule's wire shape, list filters, removal, token refresh, refusals in the Scheduler's
//! envelope, and schedules that really fire Queue jobs across a restart.
mod common;
mod queue_support;

use std::time::{Duration, Instant};

use common::{MASTER_TOKEN, Server};
use queue_support::{create_config, wait_finished};
use serde_json::{Value, json};

const TEST: &str = "keboola.runner-config-test";

fn url(s: &Server, path: &str) -> String {
    format!("{}/scheduler/{}", s.url, path.trim_start_matches('/'))
}

fn sget(s: &Server, path: &str) -> (u16, Value) {
    s.send(s.client.get(url(s, path)).header("X-StorageApi-Token", MASTER_TOKEN))
}

fn spost(s: &Server, path: &str, body: Value) -> (u16, Value) {
    s.send(s.client.post(url(s, path)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body))
}

fn sdelete(s: &Server, path: &str) -> (u16, Value) {
    s.send(s.client.delete(url(s, path)).header("X-StorageApi-Token", MASTER_TOKEN))
}

/// A `keboola.scheduler` configuration through the Storage API, as the MCP server writes it.
fn scheduler_config(s: &Server, id: &str, cron: &str, timezone: &str, state: &str, target: &str) {
    let configuration = json!({
        "schedule": {"cronTab": cron, "timezone": timezone, "state": state},
        "target": {"componentId": TEST, "configurationId": target, "mode": "run"},
    });
    let (st, body) = s.post_json("components/keboola.scheduler/configs", json!({"configurationId": id, "name": id, "configuration": configuration}));
    assert_eq!(st, 201, "{body}");
}

fn target_config(s: &Server, id: &str) {
    create_config(s, TEST, id, json!({"parameters": {"message": "scheduled"}}), vec![], false);
}

fn assert_envelope(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], expected, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    assert!(body["exceptionId"].as_str().is_some_and(|e| e.starts_with("scheduler-")), "{body}");
}

#[test]
fn activation_list_detail_refresh_and_removal() {
    let s = Server::start();
    target_config(&s, "t1");
    scheduler_config(&s, "500", "0 9 * * MON", "Europe/Prague", "enabled", "t1");

    let (st, created) = spost(&s, "schedules", json!({"configurationId": "500"}));
    assert_eq!(st, 201, "{created}");
    let id = created["id"].as_str().expect("id is a string").to_string();
    assert_eq!(created["configurationId"], "500");
    assert_eq!(created["configurationVersionId"], "1");
    assert_eq!(created["schedule"], json!({"cronTab": "0 9 * * MON", "timezone": "Europe/Prague", "state": "enabled"}));
    assert_eq!(created["target"], json!({"componentId": TEST, "configurationId": "t1", "configurationRowIds": [], "mode": "run", "tag": ""}));
    assert_eq!(created["executions"], json!([]));

    // The schedule's own token: Keboola's description, listed in the project's tokens.
    let token_id = created["tokenId"].as_str().expect("tokenId is a string").to_string();
    let (st, token) = s.get(&format!("tokens/{token_id}"));
    assert_eq!(st, 200, "{token}");
    assert_eq!(token["description"], "[_internal] Scheduler");

    // Re-activation after a change keeps the schedule and takes the new definition.
    let (st, _) = s.put_json(
        "components/keboola.scheduler/configs/500",
        json!({"configuration": {"schedule": {"cronTab": "*/5 * * * *", "timezone": "+0100", "state": "disabled"},
                                 "target": {"componentId": TEST, "configurationId": "t1", "mode": "run"}}}),
    );
    assert_eq!(st, 200);
    let (st, again) = spost(&s, "schedules", json!({"configurationId": 500}));
    assert_eq!(st, 201, "{again}");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["configurationVersionId"], "2");
    assert_eq!(again["schedule"]["state"], "disabled");
    assert_eq!(again["schedule"]["timezone"], "+0100");

    let (st, detail) = sget(&s, &format!("schedules/{id}"));
    assert_eq!(st, 200);
    assert_eq!(detail, again);
    let (st, all) = sget(&s, "schedules");
    assert_eq!((st, all.as_array().map(Vec::len)), (200, Some(1)), "{all}");
    let (_, by_target) = sget(&s, &format!("schedules?componentId={TEST}&configurationId=t1"));
    assert_eq!(by_target.as_array().unwrap().len(), 1);
    let (_, other_target) = sget(&s, &format!("schedules?componentId={TEST}&configurationId=nope"));
    assert_eq!(other_target, json!([]));
    let (st, half) = sget(&s, &format!("schedules?componentId={TEST}"));
    assert_envelope(st, &half, 400);

    // refreshToken: a new token replaces the old one.
    let (st, refreshed) = spost(&s, &format!("schedules/{id}/refreshToken"), json!({}));
    assert_eq!(st, 200, "{refreshed}");
    assert_ne!(refreshed["tokenId"], token_id.as_str());
    let (st, _) = s.get(&format!("tokens/{token_id}"));
    assert_eq!(st, 404, "the old token is gone");

    // Removal by configuration, then by id; the token goes with its schedule.
    let (st, _) = sdelete(&s, "configurations/500");
    assert_eq!(st, 204);
    let (st, gone) = sget(&s, &format!("schedules/{id}"));
    assert_envelope(st, &gone, 404);
    let (st, none) = sdelete(&s, "configurations/500");
    assert_envelope(st, &none, 404);
    let (st, _) = s.get(&format!("tokens/{}", refreshed["tokenId"].as_str().unwrap()));
    assert_eq!(st, 404);

    let (st, b) = spost(&s, "schedules", json!({"configurationId": "500"}));
    assert_eq!(st, 201, "{b}");
    let (st, _) = sdelete(&s, &format!("schedules/{}", b["id"].as_str().unwrap()));
    assert_eq!(st, 204);
    assert_eq!(sget(&s, "schedules").1, json!([]));
}

#[test]
fn refusals_in_the_schedulers_envelope() {
    let s = Server::start();
    target_config(&s, "t1");
    let (st, b) = spost(&s, "schedules", json!({"configurationId": "404404"}));
    assert_envelope(st, &b, 404);
    let (st, b) = spost(&s, "schedules", json!({}));
    assert_envelope(st, &b, 400);
    scheduler_config(&s, "1", "61 * * * *", "UTC", "enabled", "t1");
    let (st, b) = spost(&s, "schedules", json!({"configurationId": "1"}));
    assert_envelope(st, &b, 400);
    assert!(b["error"].as_str().unwrap().contains("cronTab"), "{b}");
    scheduler_config(&s, "2", "* * * * * *", "UTC", "enabled", "t1");
    let (st, b) = spost(&s, "schedules", json!({"configurationId": "2"}));
    assert_envelope(st, &b, 400);
    scheduler_config(&s, "3", "* * * * *", "Mars/Olympus", "enabled", "t1");
    let (st, b) = spost(&s, "schedules", json!({"configurationId": "3"}));
    assert_envelope(st, &b, 400);
    assert!(b["error"].as_str().unwrap().contains("timezone"), "{b}");
    scheduler_config(&s, "4", "* * * * *", "UTC", "sometimes", "t1");
    let (st, b) = spost(&s, "schedules", json!({"configurationId": "4"}));
    assert_envelope(st, &b, 400);
    assert!(b["error"].as_str().unwrap().contains("state"), "{b}");
    let (st, b) = sget(&s, "schedules/999");
    assert_envelope(st, &b, 404);
    let (st, b) = sget(&s, "schedules/not-a-number");
    assert_envelope(st, &b, 404);
    let (st, b) = s.send(s.client.get(url(&s, "schedules")));
    assert_envelope(st, &b, 401);
    let (st, b) = sget(&s, "no-such-route");
    assert_envelope(st, &b, 404);

    // A non-master token may read schedules but not change them.
    let (st, token) = s.post_form("tokens", &[("description", "reader"), ("canManageBuckets", "1")]);
    assert_eq!(st, 201, "{token}");
    scheduler_config(&s, "5", "* * * * *", "UTC", "enabled", "t1");
    let secret = token["token"].as_str().unwrap();
    let (st, b) = s.send(s.client.post(url(&s, "schedules")).header("X-StorageApi-Token", secret).json(&json!({"configurationId": "5"})));
    assert_envelope(st, &b, 403);
    let (st, _) = s.send(s.client.get(url(&s, "schedules")).header("X-StorageApi-Token", secret));
    assert_eq!(st, 200);
}

fn schedule(s: &Server, id: &str) -> Value {
    let (st, b) = sget(s, &format!("schedules/{id}"));
    assert_eq!(st, 200, "{b}");
    b
}

fn executions(s: &Server, id: &str) -> Vec<Value> {
    schedule(s, id)["executions"].as_array().cloned().unwrap_or_default()
}

fn wait_executions(s: &Server, id: &str, n: usize, secs: u64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let runs = executions(s, id);
        if runs.len() >= n {
            return runs;
        }
        assert!(Instant::now() < deadline, "schedule {id} did not run {n} times in {secs}s: {runs:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Seconds into the current minute.
fn second_of_minute() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60
}

fn config_jobs(s: &Server, config: &str) -> Vec<Value> {
    let (st, jobs) = s.send(
        s.client
            .get(format!("{}/queue/search/jobs?component={TEST}&config={config}", s.url))
            .header("X-StorageApi-Token", MASTER_TOKEN),
    );
    assert_eq!(st, 200, "{jobs}");
    jobs.as_array().cloned().unwrap_or_default()
}

/// An every-minute schedule in Europe/Prague fires twice, with a restart between the runs that
/// neither loses nor doubles one; a disabled schedule beside it never fires. (~2 minutes.)
#[test]
fn schedules_fire_across_a_restart_and_disabled_ones_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(tmp.path());
    target_config(&s, "fired");
    target_config(&s, "quiet");
    scheduler_config(&s, "10", "* * * * *", "Europe/Prague", "enabled", "fired");
    scheduler_config(&s, "11", "* * * * *", "Europe/Prague", "disabled", "quiet");
    // Activate away from a minute boundary so the first run is the next full minute.
    while !(3..50).contains(&second_of_minute()) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (st, on) = spost(&s, "schedules", json!({"configurationId": "10"}));
    assert_eq!(st, 201, "{on}");
    let (st, off) = spost(&s, "schedules", json!({"configurationId": "11"}));
    assert_eq!(st, 201, "{off}");
    let (on, off) = (on["id"].as_str().unwrap().to_string(), off["id"].as_str().unwrap().to_string());

    let first = wait_executions(&s, &on, 1, 75);
    let fired_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
    assert!(fired_at < 5, "fired {fired_at}s after the minute, not at it");
    let job = wait_finished(&s, first[0]["jobId"].as_str().unwrap(), 60);
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["token"]["description"], "[_internal] Scheduler", "{job}");
    assert_eq!(job["config"], "fired");

    // Restart between the two runs: nothing is replayed at start.
    s.kill();
    let s = Server::start_in(tmp.path());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(executions(&s, &on).len(), 1, "a restart does not repeat the run");
    assert_eq!(config_jobs(&s, "fired").len(), 1);

    let runs = wait_executions(&s, &on, 2, 75);
    assert_eq!(runs.len(), 2, "{runs:?}");
    let job = wait_finished(&s, runs[0]["jobId"].as_str().unwrap(), 60);
    assert_eq!(job["status"], "success", "{job}");
    assert_ne!(runs[0]["jobId"], runs[1]["jobId"]);
    assert!(runs[0]["executionTime"].as_str().unwrap().ends_with("+00:00"), "{runs:?}");
    assert_eq!(config_jobs(&s, "fired").len(), 2, "exactly one job per run");

    assert_eq!(executions(&s, &off), Vec::<Value>::new(), "a disabled schedule does not fire");
    assert_eq!(config_jobs(&s, "quiet"), Vec::<Value>::new());
}
