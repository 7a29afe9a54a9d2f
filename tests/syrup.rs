//! The Syrup-era APIs through the real binary: Syrup's `run` (an old `curl --data` script) and
//! its queue (`q=` searches, kill), `encrypt`; the Docker Runner (run, branch, tag, debug, sync
//! actions, configuration/resolve, stats, migrate) at `/syrup/docker` and `/docker-runner`; the
//! Provisioning API (credentials = workspaces queried through the Query API, kill, extend,
//! delete); GoodData Provisioning's 410; the blueprints' examples replayed and their shapes
//! compared; another project reaching none of it.
mod common;
mod queue_support;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{MASTER_TOKEN, Server};
use queue_support::create_config;
use serde_json::{Value, json};

const TEST: &str = "keboola.runner-config-test";
const P2_MASTER: &str = "2-90-projecttwomastertoken000000000000000";

fn url(s: &Server, path: &str) -> String {
    format!("{}/{}", s.url, path.trim_start_matches('/'))
}

fn get(s: &Server, path: &str) -> (u16, Value) {
    s.send(s.client.get(url(s, path)).header("X-StorageApi-Token", MASTER_TOKEN))
}

fn get_as(s: &Server, token: &str, path: &str) -> (u16, Value) {
    s.send(s.client.get(url(s, path)).header("X-StorageApi-Token", token))
}

fn post(s: &Server, path: &str, body: Value) -> (u16, Value) {
    s.send(s.client.post(url(s, path)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body))
}

fn post_as(s: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    s.send(s.client.post(url(s, path)).header("X-StorageApi-Token", token).json(&body))
}

fn delete(s: &Server, path: &str) -> (u16, Value) {
    s.send(s.client.delete(url(s, path)).header("X-StorageApi-Token", MASTER_TOKEN))
}

/// Syrup's error envelope.
fn assert_error(st: u16, b: &Value, status: u16) {
    assert_eq!(st, status, "{b}");
    assert_eq!(b["status"], "error", "{b}");
    assert_eq!(b["code"], status, "{b}");
    assert!(b["error"].is_string() && b["message"].is_string(), "{b}");
    assert!(b["exceptionId"].as_str().is_some_and(|e| !e.is_empty()), "{b}");
}

/// The `202 {id, url, status: waiting}` of a run; returns the job id.
fn accepted(st: u16, b: &Value, s: &Server) -> String {
    assert_eq!(st, 202, "{b}");
    let id = b["id"].as_str().expect("id is a string").to_string();
    assert!(id.parse::<i64>().is_ok(), "{b}");
    assert_eq!(b["url"], format!("{}/syrup/queue/job/{id}", s.url), "{b}");
    assert_eq!(b["status"], "waiting", "{b}");
    id
}

fn syrup_job(s: &Server, id: &str) -> Value {
    let (st, j) = get(s, &format!("syrup/queue/job/{id}"));
    assert_eq!(st, 200, "{j}");
    j
}

fn wait_syrup(s: &Server, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = syrup_job(s, id);
        if j["isFinished"] == true {
            return j;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A value's shape: its JSON types, objects by key (null matches any type).
fn same_shape(example: &Value, got: &Value, path: &str) {
    match (example, got) {
        (Value::Null, _) => {}
        (Value::Object(e), Value::Object(g)) => {
            for (k, v) in e {
                let g = g.get(k).unwrap_or_else(|| panic!("{path}.{k} missing in {got}"));
                same_shape(v, g, &format!("{path}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(g)) => {
            if let (Some(e0), Some(g0)) = (e.first(), g.first()) {
                same_shape(e0, g0, &format!("{path}[0]"));
            }
        }
        (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => {}
        (Value::Number(_), Value::Number(_)) => {}
        _ => panic!("{path}: example {example} but got {got}"),
    }
}

#[test]
fn old_curl_script_runs_a_stored_configuration_to_success() {
    let s = Server::start();
    create_config(&s, TEST, "cfg1", json!({"parameters": {"logs": ["from syrup"]}}), vec![], false);
    // What 2016's scripts did: curl --data (a form Content-Type) with a JSON body.
    let out = Command::new("curl")
        .args(["-s", "-X", "POST", "-H", &format!("X-StorageApi-Token: {MASTER_TOKEN}"), "--data", r#"{"config": "cfg1"}"#])
        .arg(url(&s, "syrup/keboola.runner-config-test/run"))
        .args(["-w", "\n%{http_code}"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    let created: Value = serde_json::from_str(body).unwrap();
    let id = accepted(code.parse().unwrap(), &created, &s);

    let done = wait_syrup(&s, &id);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["id"], id.parse::<i64>().unwrap(), "Syrup's job ids are integers");
    assert_eq!(done["params"]["config"], "cfg1");
    assert_eq!(done["params"]["component"], TEST);
    assert_eq!(done["component"], TEST);
    assert_eq!(done["command"], "run");
    assert_eq!(done["lockName"], format!("{TEST}-1-{TEST}-cfg1"));
    assert_eq!(done["project"]["id"], 1);
    assert!(done["process"]["host"].is_string() && done["process"]["pid"].is_i64(), "{done}");
    assert!(done["durationSeconds"].is_i64() && done["startTime"].is_string() && done["endTime"].is_string(), "{done}");
    assert_eq!(done["url"], created["url"]);
    // The same job through the Queue API.
    let (st, q) = get(&s, &format!("queue/jobs/{id}"));
    assert_eq!((st, &q["status"]), (200, &json!("success")), "{q}");

    // A job not picked up yet is `waiting`, never `created`.
    let (st, b) = post(&s, &format!("syrup/{TEST}/run"), json!({"configData": {"parameters": {"sleep": 2}}}));
    let waiting = accepted(st, &b, &s);
    let j = syrup_job(&s, &waiting);
    assert!(["waiting", "processing"].contains(&j["status"].as_str().unwrap()), "{j}");

    // `X-KBC-RunId` (sent by keboola/syrup-php-client) makes the job a child of that run.
    let (st, b) = s.send(
        s.client.post(url(&s, &format!("syrup/{TEST}/run"))).header("X-StorageApi-Token", MASTER_TOKEN).header("X-KBC-RunId", "555").json(&json!({"config": "cfg1"})),
    );
    let child = accepted(st, &b, &s);
    assert_eq!(syrup_job(&s, &child)["runId"], format!("555.{child}"));

    // A token without access to the component is refused.
    let (st, limited) = s.post_json("tokens", json!({"description": "ex-http only", "componentAccess": ["keboola.ex-http"]}));
    assert_eq!(st, 201, "{limited}");
    let limited = limited["token"].as_str().unwrap();
    let (st, b) = post_as(&s, limited, &format!("syrup/{TEST}/run"), json!({"config": "cfg1"}));
    assert_error(st, &b, 403);
    let (st, b) = post_as(&s, limited, &format!("syrup/queue/jobs/{waiting}/kill"), json!({}));
    assert_error(st, &b, 403);

    // Bad input: 4xx in Syrup's envelope.
    let (st, b) = post(&s, &format!("syrup/{TEST}/run"), json!({}));
    assert_error(st, &b, 400);
    let (st, b) = post(&s, &format!("syrup/{TEST}/run"), json!({"config": "missing"}));
    assert_error(st, &b, 404);
    let (st, b) = post(&s, "syrup/no.such-component/run", json!({"config": "1"}));
    assert_error(st, &b, 404);
    let (st, b) = s.send(s.client.post(url(&s, &format!("syrup/{TEST}/run"))).header("X-StorageApi-Token", MASTER_TOKEN).body("{not json"));
    assert_error(st, &b, 400);
    let (st, b) = s.send(s.client.post(url(&s, &format!("syrup/{TEST}/run"))).json(&json!({"config": "cfg1"})));
    assert_error(st, &b, 401);
    let (st, b) = get(&s, "syrup/queue/job/999999");
    assert_error(st, &b, 404);
}

#[test]
fn queue_searches_with_query_strings_and_kills() {
    let s = Server::start();
    create_config(&s, TEST, "ok", json!({"parameters": {}}), vec![], false);
    create_config(&s, TEST, "bad", json!({"parameters": {"operation": "fail", "message": "nope"}}), vec![], false);
    let (st, b) = post(&s, &format!("syrup/docker/{TEST}/run"), json!({"config": "ok"}));
    let ok = accepted(st, &b, &s);
    let (st, b) = post(&s, &format!("syrup/docker/{TEST}/run"), json!({"config": "bad"}));
    let bad = accepted(st, &b, &s);
    assert_eq!(wait_syrup(&s, &ok)["status"], "success");
    let failed = wait_syrup(&s, &bad);
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["error"], "user", "{failed}");
    assert_eq!(failed["component"], "docker");
    assert_eq!(failed["lockName"], format!("docker-1-{TEST}-bad"));

    let ids = |q: &str| -> Vec<i64> {
        let (st, list) = s.send(s.client.get(url(&s, &format!("syrup/queue/jobs?q={}&limit=100", common::urlencode(q)))).header("X-StorageApi-Token", MASTER_TOKEN));
        assert_eq!(st, 200, "{q}: {list}");
        list.as_array().unwrap().iter().map(|j| j["id"].as_i64().unwrap()).collect()
    };
    let (ok, bad): (i64, i64) = (ok.parse().unwrap(), bad.parse().unwrap());
    assert_eq!(ids(""), vec![bad, ok], "newest first");
    assert_eq!(ids("status:success"), vec![ok]);
    assert_eq!(ids("status:error AND params.config:bad"), vec![bad]);
    assert_eq!(ids("status:(success OR error)"), vec![bad, ok]);
    assert_eq!(ids("status:error OR status:success"), vec![bad, ok]);
    assert_eq!(ids(&format!("component:docker AND params.component:{TEST} AND params.config:\"ok\"")), vec![ok]);
    assert_eq!(ids(&format!("runId:{ok}")), vec![ok]);
    assert_eq!(ids("createdTime:[2020-01-01 TO *]"), vec![bad, ok]);
    assert_eq!(ids("createdTime:[* TO 2020-01-01]"), Vec::<i64>::new());
    assert_eq!(ids("createdTime:>=2020-01-01 AND endTime:<2999-01-01"), vec![bad, ok]);
    assert_eq!(ids("status:waiting"), Vec::<i64>::new());
    assert_eq!(ids("project.id:2"), Vec::<i64>::new());
    let (st, page) = get(&s, "syrup/queue/jobs?limit=1&offset=1");
    assert_eq!(st, 200);
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], ok);
    for q in ["status:created", "nonsense", "foo:bar", "status:error OR params.config:x", "createdTime:[x TO y]"] {
        let (st, b) = s.send(s.client.get(url(&s, &format!("syrup/queue/jobs?q={}", common::urlencode(q)))).header("X-StorageApi-Token", MASTER_TOKEN));
        assert_error(st, &b, 400);
    }

    // Kill: a running job ends terminated; a finished one cannot be killed.
    let (st, b) = post(&s, &format!("syrup/{TEST}/run"), json!({"configData": {"parameters": {"sleep": 30}}}));
    let long = accepted(st, &b, &s);
    let deadline = Instant::now() + Duration::from_secs(20);
    while syrup_job(&s, &long)["status"] != "processing" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (st, k) = post(&s, &format!("syrup/queue/jobs/{long}/kill"), json!({}));
    assert_eq!(st, 202, "{k}");
    assert_eq!(k["id"], long.parse::<i64>().unwrap());
    let done = wait_syrup(&s, &long);
    assert_eq!(done["status"], "terminated", "{done}");
    assert!(done["terminatedBy"]["id"].is_string(), "{done}");
    let (st, b) = post(&s, &format!("syrup/queue/jobs/{ok}/kill"), json!({}));
    assert_error(st, &b, 400);
}

#[test]
fn encrypt_makes_ciphers_of_the_component_and_project() {
    let s = Server::start();
    for path in [
        format!("syrup/{TEST}/encrypt"),
        format!("syrup/docker/{TEST}/encrypt"),
        format!("syrup/docker/{TEST}/configs/encrypt"),
        format!("syrup/docker/encrypt?componentId={TEST}&projectId=1"),
    ] {
        let resp = s.client.post(url(&s, &path)).header("X-StorageApi-Token", MASTER_TOKEN).header("Content-Type", "text/plain").body("secret").send().unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        assert!(resp.text().unwrap().starts_with("KBC::ProjectSecure::"));
        let (st, b) = post(&s, &path, json!({"#password": "x", "user": "u", "nested": {"#p": "y"}}));
        assert_eq!(st, 200, "{b}");
        assert!(b["#password"].as_str().unwrap().starts_with("KBC::ProjectSecure::"), "{b}");
        assert!(b["nested"]["#p"].as_str().unwrap().starts_with("KBC::ProjectSecure::"), "{b}");
        assert_eq!(b["user"], "u");
    }
    // A cipher made here opens in the component's jobs of the project.
    let (_, b) = post(&s, &format!("syrup/{TEST}/encrypt"), json!({"#v": "opened"}));
    let (st, job) = post(&s, &format!("syrup/{TEST}/run"), json!({"configData": {"parameters": {"#v": b["#v"], "dump": ["config"]}}}));
    let id = accepted(st, &job, &s);
    assert_eq!(wait_syrup(&s, &id)["status"], "success");
    let (st, b) = s.send(s.client.post(url(&s, &format!("syrup/{TEST}/encrypt"))).header("Content-Type", "text/plain").body("x"));
    assert_error(st, &b, 401);
    let (st, b) = post(&s, &format!("syrup/docker/encrypt?componentId={TEST}&projectId=2"), json!({"#a": "b"}));
    assert_error(st, &b, 403);
    let (st, b) = post(&s, "syrup/docker/encrypt?projectId=1", json!({"#a": "b"}));
    assert_error(st, &b, 400);
    let (st, b) = post(&s, &format!("syrup/docker/encrypt?componentId={TEST}&configId=1"), json!({"#a": "b"}));
    assert_error(st, &b, 400);
}

#[test]
fn docker_runner_runs_branches_tags_debug_actions_and_stats() {
    let s = Server::start();
    // Run with a tag, at both mounts.
    for prefix in ["syrup/docker", "docker-runner"] {
        let (st, b) = post(&s, &format!("{prefix}/{TEST}/run/tag/1.2.3"), json!({"configData": {"parameters": {}}}));
        let id = accepted(st, &b, &s);
        let done = wait_syrup(&s, &id);
        assert_eq!(done["status"], "success", "{done}");
        assert_eq!(done["params"]["tag"], "1.2.3");
        let (_, q) = get(&s, &format!("queue/jobs/{id}"));
        assert_eq!(q["tag"], "1.2.3");
    }
    // A branch run reads the branch's configuration.
    let (st, job) = s.post_json("dev-branches", json!({"name": "feature"}));
    assert_eq!(st, 202, "{job}");
    let branch = s.wait_job(&job)["results"]["id"].as_i64().unwrap();
    let (st, c) = s.post_json(&format!("branch/{branch}/components/{TEST}/configs"), json!({"name": "dev only", "configuration": {"parameters": {}}}));
    assert_eq!(st, 201, "{c}");
    let cid = c["id"].as_str().unwrap();
    let (st, b) = post(&s, &format!("syrup/docker/branch/{branch}/{TEST}/run"), json!({"config": cid}));
    let id = accepted(st, &b, &s);
    assert_eq!(wait_syrup(&s, &id)["status"], "success");
    assert_eq!(get(&s, &format!("queue/jobs/{id}")).1["branchId"], branch.to_string());
    let (st, b) = post(&s, &format!("syrup/docker/branch/{branch}/{TEST}/run/tag/2.0.0"), json!({"config": cid}));
    let id = accepted(st, &b, &s);
    assert_eq!(wait_syrup(&s, &id)["params"]["tag"], "2.0.0");
    let (st, b) = post(&s, &format!("syrup/docker/{TEST}/run"), json!({"config": cid}));
    assert_error(st, &b, 404);
    let (st, b) = post(&s, &format!("syrup/docker/branch/999999/{TEST}/run"), json!({"config": cid}));
    assert_error(st, &b, 404);

    // Debug: the Queue's debug mode, its data folder uploaded to Storage Files.
    for path in [format!("syrup/docker/{TEST}/debug"), format!("syrup/docker/branch/{branch}/{TEST}/debug")] {
        let (st, b) = post(&s, &path, json!({"configData": {"parameters": {}}}));
        let id = accepted(st, &b, &s);
        let done = wait_syrup(&s, &id);
        assert_eq!(done["status"], "success", "{done}");
        assert_eq!(done["params"]["mode"], "debug");
        assert_eq!(get(&s, &format!("queue/jobs/{id}")).1["mode"], "debug");
    }
    let (st, files) = s.get("files?tags[]=debug");
    assert_eq!(st, 200);
    assert!(!files.as_array().unwrap().is_empty(), "debug stages uploaded: {files}");

    // Sync actions at both mounts and in a branch; keboola/syrup-php-client's `runSyncAction` with
    // `super: docker` against the docker-runner URL.
    for prefix in ["syrup/docker", "docker-runner", "docker-runner/docker", &format!("docker-runner/branch/{branch}")] {
        let (st, b) = post(&s, &format!("{prefix}/{TEST}/action/emptyJsonObject"), json!({"configData": {"parameters": {}}}));
        assert_eq!((st, b), (200, json!({})));
        let (st, b) = post(&s, &format!("{prefix}/{TEST}/action/dumpConfig"), json!({"configData": {"parameters": {"a": 1}}}));
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["parameters"]["a"], 1, "{b}");
    }
    let (st, b) = post(&s, &format!("docker-runner/{TEST}/action/userError"), json!({"configData": {}}));
    assert_eq!(st, 400, "{b}");
    assert_eq!(b["error"], "User error");
    let (st, b) = post(&s, &format!("docker-runner/{TEST}/action/noSuchAction"), json!({}));
    assert_error(st, &b, 400);

    // Stats from the job history.
    let (st, stats) = get(&s, "syrup/docker/stats/project");
    assert_eq!(st, 200, "{stats}");
    assert!(stats["jobs"]["durationSum"].is_i64(), "{stats}");
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today - chrono::Duration::days(2), today + chrono::Duration::days(1));
    let (st, daily) = s.send(
        s.client
            .get(url(&s, &format!("docker-runner/stats/project/daily?fromDate={from}&toDate={to}&timezoneOffset=%2B00:00")))
            .header("X-StorageApi-Token", MASTER_TOKEN),
    );
    assert_eq!(st, 200, "{daily}");
    let days = daily["jobs"].as_array().unwrap();
    assert_eq!(days.len(), 4);
    assert_eq!(days[2]["date"], today.to_string());
    let sum: i64 = days.iter().map(|d| d["durationSum"].as_i64().unwrap()).sum();
    assert_eq!(sum, days[2]["durationSum"].as_i64().unwrap(), "today's jobs only");
    for q in ["fromDate=2020-01-02&toDate=2020-01-01", "fromDate=x&toDate=2020-01-01", "toDate=2020-01-01", "fromDate=2020-01-01&toDate=2020-01-02&timezoneOffset=abc"] {
        let (st, b) = get(&s, &format!("syrup/docker/stats/project/daily?{q}"));
        assert_error(st, &b, 400);
    }
}

#[test]
fn configuration_resolve_renders_variables_and_migrate_reencrypts() {
    let s = Server::start();
    let (st, vars) = s.post_json("components/keboola.variables/configs", json!({"name": "vars", "configuration": {"variables": [{"name": "who", "type": "string"}]}}));
    assert_eq!(st, 201, "{vars}");
    let vid = vars["id"].as_str().unwrap();
    let (st, row) = s.post_json(&format!("components/keboola.variables/configs/{vid}/rows"), json!({"name": "defaults", "configuration": {"values": [{"name": "who", "value": "default"}]}}));
    assert_eq!(st, 201, "{row}");
    let (st, c) = s.post_json(
        &format!("components/{TEST}/configs"),
        json!({"name": "templated", "configuration": {"parameters": {"greeting": "hello {{ who }}"}, "variables_id": vid, "variables_values_id": row["id"]}}),
    );
    assert_eq!(st, 201, "{c}");
    let cid = c["id"].as_str().unwrap();
    let version = c["version"].to_string();

    // The blueprint's request: componentId, configId, configVersion.
    let (st, r) = post(&s, "syrup/docker/configuration/resolve", json!({"componentId": TEST, "configId": cid, "configVersion": version}));
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["configuration"]["parameters"]["greeting"], "hello default", "{r}");
    assert_eq!(r["state"], json!([]));
    for key in ["version", "created", "creatorToken", "changeDescription", "isDeleted", "name", "description", "configuration"] {
        assert!(r.get(key).is_some(), "{key} missing: {r}");
    }
    let (st, r) = post(
        &s,
        "docker-runner/configuration/resolve",
        json!({"componentId": TEST, "configurationId": cid, "configVersion": version, "variableValuesData": {"values": [{"name": "who", "value": "inline"}]}}),
    );
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["configuration"]["parameters"]["greeting"], "hello inline");
    let (st, r) = post(&s, "syrup/docker/branch/default/configuration/resolve", json!({"componentId": TEST, "configId": cid, "configVersion": "1"}));
    assert_eq!((st, &r["configuration"]["parameters"]["greeting"]), (200, &json!("hello default")), "{r}");
    let (st, b) = post(&s, "syrup/docker/configuration/resolve", json!({"componentId": TEST, "configId": cid, "configVersion": "99"}));
    assert_error(st, &b, 404);
    let (st, b) = post(&s, "syrup/docker/configuration/resolve", json!({"componentId": TEST}));
    assert_error(st, &b, 400);

    // Shared code: a script line `{{ rowId }}` becomes the shared code row's lines.
    let (st, shared) = s.post_json("components/keboola.shared-code/configs", json!({"name": "shared", "configuration": {"componentId": "keboola.python-transformation-v2"}}));
    assert_eq!(st, 201, "{shared}");
    let sid = shared["id"].as_str().unwrap();
    let (st, srow) = s.post_json(&format!("components/keboola.shared-code/configs/{sid}/rows"), json!({"name": "helpers", "configuration": {"code_content": ["def helper():", "    return 1"]}}));
    assert_eq!(st, 201, "{srow}");
    let srid = srow["id"].as_str().unwrap();
    let (st, t) = s.post_json(
        "components/keboola.python-transformation-v2/configs",
        json!({"name": "uses shared", "configuration": {"shared_code_id": sid, "shared_code_row_ids": [srid],
            "parameters": {"blocks": [{"name": "b", "codes": [{"name": "c", "script": [format!("{{{{ {srid} }}}}"), "print(helper())"]}]}]}}}),
    );
    assert_eq!(st, 201, "{t}");
    let (st, r) = post(&s, "syrup/docker/configuration/resolve", json!({"componentId": "keboola.python-transformation-v2", "configId": t["id"], "configVersion": "1"}));
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["configuration"]["parameters"]["blocks"][0]["codes"][0]["script"], json!(["def helper():", "    return 1", "print(helper())"]), "{r}");

    // Migrate: plain # values encrypted in the scope asked for; current ciphers kept; legacy refused.
    let (st, b) = post(&s, &format!("syrup/docker/migrate?componentId={TEST}&projectId=1&configId={cid}"), json!({"config": 1, "#test": "plain"}));
    assert_eq!(st, 202, "{b}");
    assert_eq!(b["config"], 1);
    let cipher = b["#test"].as_str().unwrap().to_string();
    assert!(cipher.starts_with("KBC::ConfigSecure::"), "{b}");
    let (st, again) = post(&s, &format!("syrup/docker/migrate?componentId={TEST}&projectId=1"), json!({"#test": cipher}));
    assert_eq!((st, &again["#test"]), (202, &json!(cipher)));
    let resp = s
        .client
        .post(url(&s, &format!("docker-runner/migrate?componentId={TEST}")))
        .header("X-StorageApi-Token", MASTER_TOKEN)
        .header("Content-Type", "text/plain")
        .body("KBC::Encrypted==ENCODEDSTRING==")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (st, b) = post(&s, "syrup/docker/migrate?projectId=1", json!({"#a": "b"}));
    assert_error(st, &b, 400);
    let (st, b) = post(&s, &format!("syrup/docker/migrate?componentId={TEST}&projectId=2"), json!({"#a": "b"}));
    assert_error(st, &b, 403);
}

#[test]
fn provisioning_credentials_are_workspaces_a_client_queries() {
    let s = Server::start();
    let (st, created) = post(&s, "syrup/provisioning/snowflake", json!({"type": "sandbox"}));
    assert_eq!(st, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["credentials"]["id"], id);
    assert_eq!(created["url"], format!("snowflake/{id}"));
    let ws = created["credentials"]["workspaceId"].as_str().unwrap().to_string();
    assert!(created["credentials"]["password"].as_str().is_some_and(|p| !p.is_empty()));
    // The same token asking again gets the same credentials; another type gets new ones.
    let (st, again) = post(&s, "syrup/provisioning/snowflake", json!({"type": "sandbox"}));
    assert_eq!((st, again["id"].as_i64()), (201, Some(id)));
    let (_, other) = post(&s, "syrup/provisioning/snowflake", json!({}));
    assert_ne!(other["id"].as_i64(), Some(id), "type transformations by default");
    let (st, found) = get(&s, "syrup/provisioning/snowflake?type=sandbox");
    assert_eq!((st, found["id"].as_i64()), (200, Some(id)), "{found}");
    assert_eq!(found["inUse"], false);
    assert_eq!(found["credentials"]["password"], created["credentials"]["password"]);

    // The Query API reaches the workspace with the token and the workspaceId.
    let q = |path: &str| format!("{}/query/api/v1/{path}", s.url);
    let (st, job) = s.send(
        s.client
            .post(q(&format!("branches/default/workspaces/{ws}/queries")))
            .header("X-StorageApi-Token", MASTER_TOKEN)
            .json(&json!({"statements": ["CREATE TABLE t AS SELECT 42 AS answer", "SELECT answer FROM t"]})),
    );
    assert_eq!(st, 201, "{job}");
    let job_id = job["queryJobId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let (_, b) = s.send(s.client.get(q(&format!("queries/{job_id}"))).header("X-StorageApi-Token", MASTER_TOKEN));
        if b["status"] == "completed" || b["status"] == "failed" {
            break b;
        }
        assert!(Instant::now() < deadline, "{b}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(done["status"], "completed", "{done}");
    let stmt = done["statements"][1]["id"].as_str().unwrap();
    let (st, rows) = s.send(s.client.get(q(&format!("queries/{job_id}/{stmt}/results"))).header("X-StorageApi-Token", MASTER_TOKEN));
    assert_eq!((st, &rows["data"]), (200, &json!([["42"]])), "{rows}");

    // Detail, extend, kill, delete.
    let (st, d) = get(&s, &format!("syrup/provisioning/snowflake/{id}"));
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["canExtend"], true);
    let before = d["touch"].as_i64().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let (st, e) = post(&s, &format!("syrup/provisioning/snowflake/{id}/extend"), json!({}));
    assert_eq!(st, 200, "{e}");
    assert!(e["touch"].as_i64().unwrap() > before, "{e}");
    assert_eq!(e["id"], id);
    assert_eq!(get(&s, &format!("syrup/provisioning/snowflake/{id}")).1["expiration"], e["expiration"]);
    let (st, k) = post(&s, &format!("syrup/provisioning/snowflake/{id}/kill"), json!({}));
    assert_eq!((st, k), (200, json!({"status": "ok"})));
    let (st, b) = get(&s, &format!("syrup/provisioning/redshift/{id}"));
    assert_error(st, &b, 404);
    let (st, b) = delete(&s, &format!("syrup/provisioning/snowflake/{id}"));
    assert_eq!((st, b), (200, json!({"status": "ok"})));
    let (st, b) = get(&s, &format!("syrup/provisioning/snowflake/{id}"));
    assert_error(st, &b, 404);
    let (st, _) = s.get(&format!("workspaces/{ws}"));
    assert_eq!(st, 404, "the workspace went with the credentials");

    // The Docker backend: async create and delete are Queue jobs polled through Syrup's queue.
    let (st, b) = post(&s, "syrup/provisioning/async/docker", json!({"type": "rstudio"}));
    assert_eq!(st, 202, "{b}");
    let job_id = b["id"].as_i64().expect("an integer id, as in the spec's example");
    assert_eq!(b["url"], format!("{}/syrup/queue/job/{job_id}", s.url));
    let done = wait_syrup(&s, &job_id.to_string());
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!((&done["component"], &done["command"]), (&json!("provisioning"), &json!("create")), "{done}");
    assert_eq!(done["params"]["type"], "rstudio");
    assert_eq!(done["result"]["status"], "ok", "{done}");
    let docker_id = done["result"]["credentials"]["id"].as_i64().unwrap();
    assert_eq!(done["result"]["url"], format!("docker/{docker_id}"));
    let (st, d) = get(&s, &format!("syrup/provisioning/docker/{docker_id}"));
    assert_eq!(st, 200, "{d}");
    assert!(d["credentials"]["workspaceId"].is_string(), "{d}");
    let (st, found) = get(&s, "syrup/provisioning/docker?type=rstudio");
    assert_eq!((st, found["id"].as_i64()), (200, Some(docker_id)));
    let (st, b) = delete(&s, &format!("syrup/provisioning/async/docker/{docker_id}"));
    assert_eq!(st, 200, "{b}");
    let done = wait_syrup(&s, &b["id"].to_string());
    assert_eq!((&done["status"], &done["command"], &done["result"]["status"]), (&json!("success"), &json!("delete"), &json!("ok")), "{done}");
    let (st, b) = get(&s, &format!("syrup/provisioning/docker/{docker_id}"));
    assert_error(st, &b, 404);
    let (st, b) = delete(&s, &format!("syrup/provisioning/async/docker/{docker_id}"));
    assert_error(st, &b, 404);

    // Bad input, and what no container here can do.
    for (path, body) in [
        ("syrup/provisioning/mysql", json!({})),
        ("syrup/provisioning/snowflake", json!({"type": "bogus"})),
        ("syrup/provisioning/snowflake", json!({"type": "rstudio"})),
        ("syrup/provisioning/docker", json!({"type": "rstudio"})),
        ("syrup/provisioning/async/docker", json!({"type": "sandbox"})),
        ("syrup/provisioning/async/snowflake", json!({})),
        ("syrup/provisioning/async/docker/transformation", json!({"transformation": {"config_id": "1", "config_version": "1", "row_id": "1"}})),
        ("syrup/provisioning/async/docker/1/input", json!({})),
    ] {
        let (st, b) = post(&s, path, body);
        assert_error(st, &b, 400);
    }
    let (st, b) = get(&s, "syrup/provisioning/snowflake/abc");
    assert_error(st, &b, 404);
}

#[test]
fn another_project_reaches_no_job_and_no_credentials() {
    let (s, _dir) = common::start_with_projects(&[(2, "two", P2_MASTER)]);
    let (st, b) = post(&s, &format!("syrup/{TEST}/run"), json!({"configData": {"parameters": {}}}));
    let id = accepted(st, &b, &s);
    let (_, c) = post(&s, "syrup/provisioning/snowflake", json!({"type": "sandbox"}));
    let cred = c["id"].as_i64().unwrap();
    let (st, b) = get_as(&s, P2_MASTER, &format!("syrup/queue/job/{id}"));
    assert_error(st, &b, 404);
    let (st, b) = post_as(&s, P2_MASTER, &format!("syrup/queue/jobs/{id}/kill"), json!({}));
    assert_error(st, &b, 404);
    let (st, list) = get_as(&s, P2_MASTER, "syrup/queue/jobs");
    assert_eq!((st, list), (200, json!([])));
    let (st, b) = get_as(&s, P2_MASTER, &format!("syrup/provisioning/snowflake/{cred}"));
    assert_error(st, &b, 404);
    let (st, b) = get_as(&s, P2_MASTER, "syrup/provisioning/snowflake?type=sandbox");
    assert_error(st, &b, 404);
    let (st, b) = post_as(&s, P2_MASTER, &format!("syrup/provisioning/snowflake/{cred}/extend"), json!({}));
    assert_error(st, &b, 404);
    let (st, b) = s.send(s.client.delete(url(&s, &format!("syrup/provisioning/snowflake/{cred}"))).header("X-StorageApi-Token", P2_MASTER));
    assert_error(st, &b, 404);
    let (st, stats) = get_as(&s, P2_MASTER, "syrup/docker/stats/project");
    assert_eq!((st, &stats["jobs"]["durationSum"]), (200, &json!(0)));
}

#[test]
fn gooddata_provisioning_answers_gone_and_the_index_lists_the_legacy_ids() {
    let s = Server::start();
    for (method, path) in [(reqwest::Method::GET, "gooddata-provisioning"), (reqwest::Method::GET, "gooddata-provisioning/projects/1"), (reqwest::Method::PATCH, "gooddata-provisioning/jobs/5"), (reqwest::Method::GET, "gooddata-provisioning/tokens")] {
        let (st, b) = s.send(s.client.request(method, url(&s, path)).header("X-KBC-ManageApiToken", "x"));
        assert_eq!(st, 410, "{b}");
        assert_eq!(b["status"], "error");
        assert_eq!(b["code"], 410);
        assert!(b["message"].as_str().unwrap().contains("retired"), "{b}");
    }
    let (st, index) = s.get("?exclude=components");
    assert_eq!(st, 200);
    let services = index["services"].as_array().unwrap();
    for id in ["syrup", "docker-runner", "gooddata-provisioning"] {
        let svc = services.iter().find(|x| x["id"] == id).unwrap_or_else(|| panic!("{id} not in {index}"));
        assert_eq!(svc["url"], format!("{}/{id}", s.url));
    }
    let (st, b) = get(&s, "syrup/nothing/here/at/all");
    assert_error(st, &b, 404);
}

/// The blueprints' request examples, sent as they are; each response has the example's shape.
#[test]
fn blueprint_examples_replay_with_their_shapes() {
    let s = Server::start();
    let run_example = json!({"id": "67121676", "url": "https://syrup.keboola.com/queue/job/67121676", "status": "waiting"});
    create_config(&s, TEST, "next-order-1", json!({"parameters": {}}), vec![json!({"id": "my-row", "configuration": {"parameters": {"x": 1}}})], false);
    // "Custom configuration" (the blueprint's JSON lacks a comma before "runtime"; fixed here).
    let custom = json!({"configData": {
        "storage": {
            "input": {"files": [{"query": "name: testfile.png"}], "tables": [{"source": "in.c-redshift.table1", "destination": "table1.csv"}]},
            "output": {"files": [{"source": "file.csv", "tags": ["processed-file", "csv"]}], "tables": [{"source": "sliced.csv", "destination": "out.c-main.data"}]}
        },
        "parameters": {"foo": "bar", "script": null},
        "runtime": {"baz": "bar"}
    }});
    let stored = json!({"config": "next-order-1", "row": "my-row"});
    for path in [
        format!("syrup/docker/{TEST}/run"),
        "syrup/docker/branch/default/keboola.runner-config-test/run".into(),
        format!("syrup/docker/{TEST}/run/tag/1.0.0"),
        format!("syrup/docker/branch/default/{TEST}/run/tag/1.0.0"),
        format!("syrup/docker/{TEST}/debug"),
        format!("syrup/docker/branch/default/{TEST}/debug"),
    ] {
        for body in [&stored, &custom] {
            let (st, b) = post(&s, &path, body.clone());
            assert_eq!(st, 202, "{path}: {b}");
            same_shape(&run_example, &b, &path);
        }
    }
    // The stored example ran its one row.
    let (_, b) = post(&s, &format!("syrup/docker/{TEST}/run"), stored.clone());
    let j = wait_syrup(&s, b["id"].as_str().unwrap());
    assert_eq!(j["params"]["row"], "my-row", "{j}");

    let (_, stats) = get(&s, "syrup/docker/stats/project");
    same_shape(&json!({"jobs": {"durationSum": 12345}}), &stats, "stats");
    let (_, daily) = get(&s, "syrup/docker/stats/project/daily?fromDate=2020-08-01&toDate=2020-08-03&timezoneOffset=+02:00");
    same_shape(
        &json!({"jobs": [{"date": "2020-08-01", "durationSum": 12}, {"date": "2020-08-02", "durationSum": 0}, {"date": "2020-08-03", "durationSum": 220}]}),
        &daily,
        "daily",
    );
    assert_eq!(daily["jobs"].as_array().unwrap().len(), 3);

    // Migrate: the JSON example (202) and the text one (200).
    let (st, m) = post(&s, &format!("syrup/docker/migrate?componentId={TEST}&projectId=1"), json!({"config": 1, "#test": "secret"}));
    assert_eq!(st, 202);
    same_shape(&json!({"config": 1, "#test": "KBC::ProjectSecure::ENCODEDSTRING=="}), &m, "migrate");

    // Provisioning.
    let (st, c) = post(&s, "syrup/provisioning/snowflake", json!({"type": "sandbox"}));
    assert_eq!(st, 201);
    let create_example = json!({
        "credentials": {"id": 49, "hostname": "keboola.snowflakecomputing.com", "port": null, "db": "sapi_232", "schema": "WORKSPACE_485895075",
                        "warehouse": "KEBOOLA_PROD", "user": "SAPI_WORKSPACE_485895075", "password": "ZG7dHp5wUHXCzm5zu99uVRStvvuk4Bjb", "workspaceId": "485895075"},
        "id": 49, "touch": 1551197297, "expiration": "2019-08-26T20:50:01+02:00", "url": "snowflake/49"
    });
    same_shape(&create_example, &c, "provisioning create");
    let mut detail_example = create_example.clone();
    detail_example.as_object_mut().unwrap().remove("url");
    detail_example["inUse"] = json!(false);
    detail_example["canExtend"] = json!(false);
    let (_, list) = get(&s, "syrup/provisioning/snowflake?type=sandbox");
    same_shape(&detail_example, &list, "provisioning list");
    let id = c["id"].as_i64().unwrap();
    let (_, d) = get(&s, &format!("syrup/provisioning/snowflake/{id}"));
    same_shape(&detail_example, &d, "provisioning detail");
    let (_, e) = s.send(s.client.post(url(&s, &format!("syrup/provisioning/snowflake/{id}/extend"))).header("X-StorageApi-Token", MASTER_TOKEN).header("X-KBC-RunId", "myRunId"));
    same_shape(&json!({"touch": 1551197297, "expiration": "2019-08-26T20:50:01+02:00", "id": 1386700227}), &e, "extend");
    let (_, k) = s.send(s.client.post(url(&s, &format!("syrup/provisioning/snowflake/{id}/kill"))).header("X-StorageApi-Token", MASTER_TOKEN).header("X-KBC-RunId", "myRunId"));
    same_shape(&json!({"status": "ok"}), &k, "kill");
    let (_, dropped) = delete(&s, &format!("syrup/provisioning/snowflake/{id}"));
    same_shape(&json!({"status": "ok"}), &dropped, "drop");
    let async_example = json!({"id": 206197185, "url": "http://syrup.keboola.com/queue/job/206197185", "status": "waiting"});
    let (st, created) = post(&s, "syrup/provisioning/async/docker", json!({"type": "rstudio"}));
    assert_eq!(st, 202);
    same_shape(&async_example, &created, "async create");
    let job = wait_syrup(&s, &created["id"].to_string());
    let job_example = json!({"id": 43, "runId": "206296230", "component": "keboola-provisioning-bundle", "command": "create",
        "params": {"backend": "docker", "type": "rstudio", "input": []},
        "result": {"status": "ok", "credentials": {"port": 8330, "id": 43, "hostname": "ec2-54-165-252-226.compute-1.amazonaws.com", "password": "p", "user": "rstu_572_30680"}, "url": "docker/43"},
        "status": "success"});
    same_shape(&job_example, &job, "async create job");
    let docker_id = job["result"]["credentials"]["id"].as_i64().unwrap();
    let (st, dropped) = delete(&s, &format!("syrup/provisioning/async/docker/{docker_id}"));
    assert_eq!(st, 200);
    same_shape(&json!({"id": 43, "url": "http://syrup-queue/queue/job/206298086", "status": "waiting"}), &dropped, "async drop");
}

/// Shared code reaches the runner, not only `configuration/resolve`: a DuckDB transformation whose
/// one script line names a shared code row runs that row's SQL.
#[test]
fn a_transformation_runs_its_shared_code() {
    let s = Server::start();
    let (st, shared) = s.post_json("components/keboola.shared-code/configs", json!({"name": "shared", "configuration": {"componentId": "keboola.duckdb-transformation"}}));
    assert_eq!(st, 201, "{shared}");
    let sid = shared["id"].as_str().unwrap();
    let (st, row) = s.post_json(
        &format!("components/keboola.shared-code/configs/{sid}/rows"),
        json!({"name": "answer", "configuration": {"code_content": "CREATE TABLE \"answer.csv\" AS SELECT 42 AS answer;"}}),
    );
    assert_eq!(st, 201, "{row}");
    let rid = row["id"].as_str().unwrap();
    let (st, t) = s.post_json(
        "components/keboola.duckdb-transformation/configs",
        json!({"name": "uses shared", "configuration": {
            "shared_code_id": sid, "shared_code_row_ids": [rid],
            "storage": {"output": {"tables": [{"source": "answer.csv", "destination": "out.c-shared.answer"}]}},
            "parameters": {"blocks": [{"name": "b", "codes": [{"name": "c", "script": [format!("{{{{ {rid} }}}}")]}]}]}
        }}),
    );
    assert_eq!(st, 201, "{t}");
    let (st, b) = post(&s, "syrup/docker/keboola.duckdb-transformation/run", json!({"config": t["id"]}));
    let id = accepted(st, &b, &s);
    let done = wait_syrup(&s, &id);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(s.preview_rows("out.c-shared.answer", ""), vec![vec!["42".to_string()]]);
}
