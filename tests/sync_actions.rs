//! The Sync Actions service through the real binary: `POST /sync-actions/actions` runs a declared
//! action of the built-in `keboola.runner-config-test` (the real image's actions), of a shell
//! process component and of a Python component written with keboola-component; failures take
//! Keboola's shapes (exit 1 → 400 "User error", exit ≥ 2 → 500 "Application error", timeout →
//! user error); `#` secrets arrive decrypted and stay out of the log; `GET /actions` lists.
mod common;
mod queue_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{MASTER_TOKEN, Server};
use queue_support::{python_with_mcp, register, sh};
use serde_json::{Value, json};

const CONFIG_TEST: &str = "keboola.runner-config-test";

fn actions_url(s: &Server) -> String {
    format!("{}/sync-actions/actions", s.url)
}

/// `POST /sync-actions/actions` with the master token.
fn action(s: &Server, component: &str, action: &str, config_data: Value) -> (u16, Value) {
    let body = json!({"componentId": component, "action": action, "configData": config_data});
    s.send(s.client.post(actions_url(s)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body))
}

fn list(s: &Server, component: &str) -> (u16, Value) {
    s.send(s.client.get(format!("{}?componentId={component}", actions_url(s))).header("X-StorageApi-Token", MASTER_TOKEN))
}

/// `#v` encrypted through the Encryption API for a component of project 1.
fn cipher(s: &Server, component: &str, secret: &str) -> String {
    let url = format!("{}/encryption/encrypt?componentId={component}&projectId=1", s.url);
    let (st, out) = s.send(s.client.post(url).json(&json!({"#v": secret})));
    assert_eq!(st, 200, "{out}");
    let c = out["#v"].as_str().unwrap().to_string();
    assert!(c.starts_with("KBC::ProjectSecure::"), "{c}");
    c
}

/// Keboola's shape of a component's failure.
fn assert_component_error(status: u16, body: &Value, code: u16, error: &str) {
    assert_eq!(status, code, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["runId"], 0, "{body}");
    let id = body["exceptionId"].as_str().unwrap();
    assert!(id.starts_with("docker-") && id.len() == 39, "{body}");
}

/// A refusal in the service's own envelope.
fn assert_refusal(status: u16, body: &Value, code: u16, needle: &str) {
    assert_eq!(status, code, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["exceptionId"].as_str().is_some_and(|i| i.starts_with("sync-actions-")), "{body}");
    assert!(body["error"].as_str().unwrap().contains(needle), "expected {needle:?} in {body}");
}

#[test]
fn config_test_actions_answer_with_the_components_json_and_are_listed() {
    let s = Server::start();
    let (st, b) = list(&s, CONFIG_TEST);
    assert_eq!(st, 200, "{b}");
    let names: Vec<&str> = b["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    for a in ["dumpConfig", "dumpEnv", "timeout", "emptyJsonArray", "emptyJsonObject", "invalidJson", "userError", "applicationError"] {
        assert!(names.contains(&a), "{a} missing from {b}");
    }
    // The component's definition declares them (MCP reads `data.synchronous_actions`).
    let (st, c) = s.get(&format!("components/{CONFIG_TEST}"));
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["data"]["synchronous_actions"], b["actions"], "{c}");
    // The service is advertised in the Storage index.
    let (_, index) = s.get("");
    assert!(index["services"].as_array().unwrap().iter().any(|x| x["id"] == "sync-actions"), "{index}");

    assert_eq!(action(&s, CONFIG_TEST, "emptyJsonObject", json!({})), (201, json!({})));
    assert_eq!(action(&s, CONFIG_TEST, "emptyJsonArray", json!({})), (201, json!([])));
    let (st, config) = action(&s, CONFIG_TEST, "dumpConfig", json!({"parameters": {"a": [1, 2]}, "storage": {}}));
    assert_eq!(st, 201, "{config}");
    assert_eq!(config["action"], "dumpConfig", "{config}");
    assert_eq!(config["parameters"], json!({"a": [1, 2]}), "{config}");
    assert_eq!(config["authorization"], json!({}), "{config}");
    let (st, env) = action(&s, CONFIG_TEST, "dumpEnv", json!({}));
    assert_eq!(st, 201, "{env}");
    assert_eq!(env["KBC_COMPONENTID"], CONFIG_TEST, "{env}");
    assert_eq!(env["KBC_PROJECTID"], "1", "{env}");
    assert!(env.get("KBC_TOKEN").is_none(), "no token without forward_token: {env}");
    // A branch id given as MCP gives it.
    let body = json!({"componentId": CONFIG_TEST, "action": "emptyJsonObject", "configData": {}, "branchId": "default"});
    let (st, b) = s.send(s.client.post(actions_url(&s)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body));
    assert_eq!((st, b), (201, json!({})));
    // Nothing is left behind in the stack's job folders.
    let left: Vec<_> = std::fs::read_dir(s.data_dir.join("job-data")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn failures_take_keboolas_error_shapes() {
    let s = Server::start_with_env(&[("KBSTACK_SYNC_ACTION_TIMEOUT_SECS", "2")]);
    let (st, b) = action(&s, CONFIG_TEST, "userError", json!({}));
    assert_component_error(st, &b, 400, "User error");
    assert_eq!(b["message"], "User Error", "the component's output is the message: {b}");

    let (st, b) = action(&s, CONFIG_TEST, "applicationError", json!({}));
    assert_component_error(st, &b, 500, "Application error");
    assert_eq!(b["message"], "Contact support@keboola.com and attach this exception id.", "{b}");

    // Output that is not JSON is an application error too.
    let (st, b) = action(&s, CONFIG_TEST, "invalidJson", json!({}));
    assert_component_error(st, &b, 500, "Application error");
    let (st, b) = action(&s, CONFIG_TEST, "noResponse", json!({}));
    assert_component_error(st, &b, 500, "Application error");

    // The time limit: a user error, on time.
    let started = Instant::now();
    let (st, b) = action(&s, CONFIG_TEST, "timeout", json!({}));
    assert_component_error(st, &b, 400, "User error");
    assert_eq!(b["message"], "Running keboola.runner-config-test container exceeded the timeout of 2 seconds.", "{b}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());

    // A process component: exit 1 with stderr, exit 3, a process killed at the limit.
    register(&s, "kbstack.sh-actions", {
        let mut d = sh(r#"a=$(sed -n 's/.*"action": "\([a-z]*\)".*/\1/p' "$KBC_DATADIR/config.json")
case "$a" in
  ok) echo '{"status": "success", "tables": ["a", "b"]}' ;;
  fail) echo "some stdout"; echo "Cannot connect: refused" >&2; exit 1 ;;
  crash) exit 3 ;;
  hang) sleep 60 ;;
esac"#);
        d["synchronous_actions"] = json!(["ok", "fail", "crash", "hang"]);
        d
    });
    assert_eq!(action(&s, "kbstack.sh-actions", "ok", json!({})), (201, json!({"status": "success", "tables": ["a", "b"]})));
    let (st, b) = action(&s, "kbstack.sh-actions", "fail", json!({}));
    assert_component_error(st, &b, 400, "User error");
    assert_eq!(b["message"], "Cannot connect: refused", "stderr wins over stdout: {b}");
    let (st, b) = action(&s, "kbstack.sh-actions", "crash", json!({}));
    assert_component_error(st, &b, 500, "Application error");
    let started = Instant::now();
    let (st, b) = action(&s, "kbstack.sh-actions", "hang", json!({}));
    assert_component_error(st, &b, 400, "User error");
    assert!(b["message"].as_str().unwrap().contains("exceeded the timeout of 2 seconds"), "{b}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

#[test]
fn unknown_components_undeclared_actions_and_bad_requests_are_refused() {
    let s = Server::start();
    let (st, b) = action(&s, "kbstack.no-such-component", "testConnection", json!({}));
    assert_refusal(st, &b, 404, "kbstack.no-such-component");
    let (st, b) = list(&s, "kbstack.no-such-component");
    assert_refusal(st, &b, 404, "not found");
    let (st, b) = action(&s, CONFIG_TEST, "testConnection", json!({}));
    assert_refusal(st, &b, 400, "not a synchronous action");
    let (st, b) = action(&s, CONFIG_TEST, "run", json!({}));
    assert_refusal(st, &b, 400, "not a synchronous action");
    // A component that declares no actions lists none and runs none.
    let (st, b) = list(&s, "keboola.duckdb-transformation");
    assert_eq!((st, b), (200, json!({"actions": []})));
    let (st, b) = action(&s, "keboola.duckdb-transformation", "run", json!({}));
    assert_refusal(st, &b, 400, "declares none");

    let post = |body: Value| s.send(s.client.post(actions_url(&s)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body));
    let (st, b) = post(json!({"action": "dumpEnv", "configData": {}}));
    assert_refusal(st, &b, 400, "componentId");
    let (st, b) = post(json!({"componentId": CONFIG_TEST, "configData": {}}));
    assert_refusal(st, &b, 400, "action");
    let (st, b) = post(json!({"componentId": CONFIG_TEST, "action": "dumpEnv", "configData": "x"}));
    assert_refusal(st, &b, 400, "configData");
    let (st, b) = post(json!({"componentId": CONFIG_TEST, "action": "dumpEnv", "configData": {}, "branchId": "12345"}));
    assert_refusal(st, &b, 404, "12345");
    let (st, b) = s.send(s.client.get(actions_url(&s)).header("X-StorageApi-Token", MASTER_TOKEN));
    assert_refusal(st, &b, 400, "componentId");
    // A token is required.
    let (st, b) = s.send(s.client.post(actions_url(&s)).json(&json!({"componentId": CONFIG_TEST, "action": "dumpEnv"})));
    assert_eq!(st, 401, "{b}");
    assert_eq!(b["code"], 401, "{b}");
    // An unknown route of the service answers in its envelope.
    let (st, b) = s.send(s.client.get(format!("{}/sync-actions/nope", s.url)));
    assert_refusal(st, &b, 404, "not found");
}

#[test]
fn secrets_reach_the_action_decrypted_and_stay_out_of_the_log() {
    let s = Server::start_logging(&[]);
    let secret = "kbstack-sync-secret-4f1d2c";
    let encrypted = cipher(&s, CONFIG_TEST, secret);
    let (st, config) = action(&s, CONFIG_TEST, "dumpConfig", json!({"parameters": {"#password": encrypted, "user": "ann"}}));
    assert_eq!(st, 201, "{config}");
    assert_eq!(config["parameters"]["#password"], secret, "the component sees the secret decrypted: {config}");

    // A cipher made for another component does not open: a user error naming the key.
    let foreign = cipher(&s, "keboola.other", secret);
    let (st, b) = action(&s, CONFIG_TEST, "dumpConfig", json!({"parameters": {"#password": foreign}}));
    assert_component_error(st, &b, 400, "User error");
    assert!(b["message"].as_str().unwrap().contains("#password"), "{b}");

    // A component that prints the secret when it fails: hidden in a user error's message; an
    // application error shows the caller nothing and logs the detail with the secret hidden.
    register(&s, "kbstack.leaky", {
        let mut d = sh(r#"grep -q '"action": "fail"' "$KBC_DATADIR/config.json" && { cat "$KBC_DATADIR/config.json" >&2; exit 1; }
cat "$KBC_DATADIR/config.json" >&2; exit 2"#);
        d["synchronous_actions"] = json!(["fail", "crash"]);
        d
    });
    let encrypted = cipher(&s, "kbstack.leaky", secret);
    let (st, b) = action(&s, "kbstack.leaky", "fail", json!({"parameters": {"#password": encrypted}}));
    assert_component_error(st, &b, 400, "User error");
    let message = b["message"].as_str().unwrap();
    assert!(message.contains("[hidden]") && !message.contains(secret), "{b}");
    let (st, b) = action(&s, "kbstack.leaky", "crash", json!({"parameters": {"#password": encrypted}}));
    assert_component_error(st, &b, 500, "Application error");
    assert!(!b.to_string().contains(secret), "{b}");
    let exception_id = b["exceptionId"].as_str().unwrap().to_string();

    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.log_text().contains(&exception_id) {
        assert!(Instant::now() < deadline, "the application error is logged under its exception id:\n{}", s.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = s.log_text();
    assert!(log.contains("[hidden]"), "the detail is logged, secret hidden:\n{log}");
    assert!(!log.contains(secret), "the secret is in the server's log:\n{log}");
    // Sync actions write no Storage events (they have no Storage access).
    let (st, events) = s.get("events?limit=100");
    assert_eq!(st, 200, "{events}");
    assert!(!events.to_string().contains(secret), "{events}");
    assert!(!events.as_array().unwrap().iter().any(|e| e["component"] == "kbstack.leaky"), "{events}");
}

#[test]
fn python_component_actions_written_with_keboola_component() {
    let Some(python) = common::venv_python("keboola.component") else {
        eprintln!("SKIPPED: no Python with keboola-component (scripts/test installs it into $HOME/.cache/kbstack-test/venv)");
        return;
    };
    let s = Server::start();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python-actions");
    let mut def: Value = serde_json::from_str(&std::fs::read_to_string(fixture.join("component.json")).unwrap()).unwrap();
    def["command"] = json!([python.display().to_string(), "${COMPONENT_DIR}/src/component.py"]);
    def["component_dir"] = json!(fixture.display().to_string());
    const ID: &str = "kbstack.python-actions";
    register(&s, ID, def);

    let (st, b) = list(&s, ID);
    assert_eq!((st, b), (200, json!({"actions": ["testConnection", "listTables", "failConnection", "crash"]})));
    let secret = "py-secret-9b7e";
    let encrypted = cipher(&s, ID, secret);
    let (st, b) = action(&s, ID, "testConnection", json!({"parameters": {"#password": encrypted}}));
    assert_eq!(st, 201, "{b}");
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(secret.as_bytes()));
    assert_eq!(b, json!({"message": format!("sha256:{digest}"), "type": "success", "status": "success"}));
    let (st, b) = action(&s, ID, "listTables", json!({}));
    assert_eq!(st, 201, "{b}");
    assert_eq!(b, json!([{"value": "in.c-a.t1", "label": "t1"}, {"value": "in.c-a.t2", "label": "in.c-a.t2"}]));
    let (st, b) = action(&s, ID, "failConnection", json!({"parameters": {"user": "ann"}}));
    assert_component_error(st, &b, 400, "User error");
    assert_eq!(b["message"], "Cannot connect as ann", "{b}");
    let (st, b) = action(&s, ID, "crash", json!({"parameters": {"#password": encrypted}}));
    assert_component_error(st, &b, 500, "Application error");
    assert!(!b.to_string().contains(secret), "{b}");
}

#[test]
fn mcp_server_sync_actions_client_runs_actions() {
    let Some(python) = python_with_mcp() else {
        eprintln!("SKIPPED: no Python with keboola-mcp-server (scripts/test installs it into $HOME/.cache/kbstack-test/venv)");
        return;
    };
    let s = Server::start();
    let out = Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/mcp_sync_actions_client.py"))
        .env("KBSTACK_URL", &s.url)
        .env("KBSTACK_TOKEN", MASTER_TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("mcp sync actions client ok"));
}
