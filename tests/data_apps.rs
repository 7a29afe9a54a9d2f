//! Data apps of the Data Science service through the real binary, with a real Streamlit (installed
//! by scripts/test into a venv of its own, `$HOME/.cache/kbstack-test/streamlit-venv`, or named
//! by `KBSTACK_TEST_STREAMLIT_PYTHON`): an app created from a configuration's script, deployed,
//! reached through the stack's proxy behind its password (a WebSocket upgrade included), stopped
//! after idling and started again by the next request, stopped on request, brought back after a
//! kill of kbstack, and deleted with its configuration; an app whose code is a local git
//! repository; bad input refused in the service's envelope.
mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{MASTER_TOKEN, Server, call, ok};
use reqwest::Method;
use serde_json::{Value, json};

fn streamlit_python() -> PathBuf {
    let default = std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/kbstack-test/streamlit-venv/bin/python")).unwrap_or_default();
    let python = std::env::var("KBSTACK_TEST_STREAMLIT_PYTHON").map(PathBuf::from).unwrap_or(default);
    let ok = std::process::Command::new(&python).args(["-c", "import streamlit"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "no Python with streamlit at {} (scripts/test installs it)", python.display());
    python
}

fn start(dir: &std::path::Path) -> Server {
    let python = streamlit_python();
    Server::start_with(dir, &[("KBSTACK_DATA_APPS_PYTHON", python.to_str().unwrap())])
}

fn ds(s: &Server, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, format!("{}/data-science/{}", s.url, path.trim_start_matches('/'))).header("X-StorageApi-Token", MASTER_TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

fn refused(what: &str, (status, body): (u16, Value), expected: u16) {
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(body["code"], json!(expected), "{what}: {body}");
    assert_eq!(body["status"], "error", "{what}: {body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {body}");
}

fn password_auth() -> Value {
    json!({"app_proxy": {
        "auth_providers": [{"id": "simpleAuth", "type": "password"}],
        "auth_rules": [{"type": "pathPrefix", "value": "/", "auth_required": true, "auth": ["simpleAuth"]}],
    }})
}

fn no_auth() -> Value {
    json!({"app_proxy": {"auth_providers": [], "auth_rules": [{"type": "pathPrefix", "value": "/", "auth_required": false}]}})
}

fn wait_state(s: &Server, id: &str, wanted: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let app = ok("app detail", ds(s, Method::GET, &format!("apps/{id}"), None), 200);
        if app["state"] == wanted {
            return app;
        }
        if Instant::now() > deadline {
            let runs = ds(s, Method::GET, &format!("apps/{id}/runs"), None).1;
            panic!("app {id} is not {wanted}: {app}\nruns: {runs}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A GET through the proxy: status and body.
fn get_app(s: &Server, url: &str, password: Option<&str>) -> (u16, String) {
    let mut req = s.client.get(url).timeout(Duration::from_secs(150));
    if let Some(p) = password {
        req = req.basic_auth("anyone", Some(p));
    }
    let resp = req.send().expect("proxy request");
    (resp.status().as_u16(), resp.text().unwrap_or_default())
}

/// The first line of the answer to a WebSocket handshake sent through the proxy.
fn websocket_handshake(s: &Server, path: &str, password: &str) -> String {
    use base64::Engine;
    let addr = s.url.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("x:{password}"));
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://{addr}\r\nAuthorization: Basic {auth}\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let n = tcp.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_string()
}

#[test]
fn a_streamlit_app_deployed_proxied_suspended_woken_stopped_recovered_and_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path());
    let script = "import streamlit as st\nst.title('Hello from kbstack')\n";
    let created = ok(
        "create app",
        ds(
            &s,
            Method::POST,
            "apps",
            Some(json!({
                "branchId": null, "type": "streamlit", "name": "Hello app", "description": "says hello",
                "config": {
                    "parameters": {
                        "size": "tiny", "autoSuspendAfterSeconds": 6,
                        "dataApp": {"slug": "hello-app", "streamlit": {"config.toml": "[theme]\nbase = \"light\"\n"}, "secrets": {"#GREETING": "hi there"}},
                        "script": [script],
                    },
                    "authorization": password_auth(),
                },
            })),
        ),
        200,
    );
    let id = created["id"].as_str().expect("string id").to_string();
    assert_eq!(created["state"], "created", "{created}");
    assert_eq!(created["desiredState"], "stopped");
    assert_eq!(created["componentId"], "keboola.data-apps");
    assert_eq!(created["projectId"], "1");
    assert_eq!(created["branchId"], Value::Null);
    assert_eq!(created["autoSuspendAfterSeconds"], 6);
    let config_id = created["configId"].as_str().unwrap().to_string();
    let url = created["url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("{}/hub/{id}/", s.url));

    // The configuration is in Storage, its secret encrypted there.
    let config = ok("config", call(&s, Method::GET, MASTER_TOKEN, &format!("components/keboola.data-apps/configs/{config_id}"), None), 200);
    let secret = config["configuration"]["parameters"]["dataApp"]["secrets"]["#GREETING"].as_str().unwrap();
    assert!(secret.starts_with("KBC::"), "{secret}");
    assert_eq!(config["name"], "Hello app");
    assert_eq!(config["configuration"]["parameters"]["id"], json!(id), "the app id in its configuration, as Keboola writes it");

    let listed = ok("list", ds(&s, Method::GET, "apps?limit=10", None), 200);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(ok("filtered", ds(&s, Method::GET, "apps?type[]=python-js", None), 200), json!([]));
    let password = ok("password", ds(&s, Method::GET, &format!("apps/{id}/password"), None), 200)["password"].as_str().unwrap().to_string();
    assert!(password.len() >= 16);

    // Not deployed yet: the proxy says so.
    assert_eq!(get_app(&s, &url, Some(&password)).0, 503);

    let deploying = ok(
        "deploy",
        ds(&s, Method::PATCH, &format!("apps/{id}"), Some(json!({"desiredState": "running", "configVersion": "1", "restartIfRunning": true}))),
        200,
    );
    assert_eq!(deploying["desiredState"], "running");
    let running = wait_state(&s, &id, "running", Duration::from_secs(120));
    assert!(running["lastStartTimestamp"].is_string(), "{running}");
    let runs = ok("runs", ds(&s, Method::GET, &format!("apps/{id}/runs"), None), 200);
    assert_eq!(runs[0]["state"], "running", "{runs}");
    assert!(runs[0]["startedAt"].is_string());

    // The proxy: the password guards it; Streamlit answers behind it.
    assert_eq!(get_app(&s, &url, None).0, 401);
    assert_eq!(get_app(&s, &url, Some("wrong")).0, 401);
    let (status, page) = get_app(&s, &url, Some(&password));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<html") || page.contains("<!doctype html") || page.contains("<!DOCTYPE html"), "{page}");
    let (status, health) = get_app(&s, &format!("{url}_stcore/health"), Some(&password));
    assert_eq!((status, health.trim()), (200, "ok"));
    let handshake = websocket_handshake(&s, &format!("/hub/{id}/_stcore/stream"), &password);
    assert!(handshake.contains("101"), "WebSocket through the proxy: {handshake}");

    let logs = s.client.get(format!("{}/data-science/apps/{id}/logs/tail?lines=20", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).send().unwrap();
    assert_eq!(logs.status().as_u16(), 200);
    let logs = logs.text().unwrap();
    assert!(logs.to_lowercase().contains("streamlit"), "log tail: {logs}");

    // Idle for longer than autoSuspendAfterSeconds: stopped; the next request starts it again.
    let suspended = wait_state(&s, &id, "stopped", Duration::from_secs(30));
    assert_eq!(suspended["desiredState"], "stopped");
    let runs = ok("runs", ds(&s, Method::GET, &format!("apps/{id}/runs"), None), 200);
    assert_eq!(runs[0]["state"], "finished", "{runs}");
    let (status, _) = get_app(&s, &format!("{url}_stcore/health"), Some(&password));
    assert_eq!(status, 200, "woken by a request");
    assert_eq!(ok("detail", ds(&s, Method::GET, &format!("apps/{id}"), None), 200)["state"], "running");
    assert_eq!(ok("runs", ds(&s, Method::GET, &format!("apps/{id}/runs"), None), 200).as_array().unwrap().len(), 2);

    // A kill of kbstack takes the app with it; after the restart the first request starts it.
    s.kill();
    let s = start(tmp.path());
    let after = ok("after restart", ds(&s, Method::GET, &format!("apps/{id}"), None), 200);
    // With a shared (PostgreSQL) store a starting node leaves other nodes' apps alone: the
    // record still says running until the next request starts the app again, as below.
    if !common::scale_out() {
        assert_eq!(after["state"], "stopped", "{after}");
    }
    let url = format!("{}/hub/{id}/", s.url);
    let (status, _) = get_app(&s, &format!("{url}_stcore/health"), Some(&password));
    assert_eq!(status, 200, "woken after the restart");

    // Stopped on request: it stays stopped.
    let stopped = ok("stop", ds(&s, Method::PATCH, &format!("apps/{id}"), Some(json!({"desiredState": "stopped"}))), 200);
    assert_eq!((stopped["state"].as_str(), stopped["desiredState"].as_str()), (Some("stopped"), Some("stopped")), "{stopped}");
    assert_eq!(get_app(&s, &url, Some(&password)).0, 503);

    // Deleted: the app and its configuration go.
    assert_eq!(ds(&s, Method::DELETE, &format!("apps/{id}"), None).0, 202);
    refused("deleted app", ds(&s, Method::GET, &format!("apps/{id}"), None), 404);
    assert_eq!(call(&s, Method::GET, MASTER_TOKEN, &format!("components/keboola.data-apps/configs/{config_id}"), None).0, 404);
    assert_eq!(get_app(&s, &url, Some(&password)).0, 404);
}

#[test]
fn an_app_from_a_local_git_repository_without_a_password() {
    let s = start(&tempfile::tempdir().unwrap().keep());
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("streamlit_app.py"), "import streamlit as st\nst.write('from git')\n").unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").args(args).current_dir(repo.path()).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "app"]);
    let created = ok(
        "create",
        ds(
            &s,
            Method::POST,
            "apps",
            Some(json!({
                "branchId": null, "type": "streamlit", "name": "Git app",
                "config": {"parameters": {"autoSuspendAfterSeconds": 0, "dataApp": {"slug": "git-app", "git": {"repository": repo.path().to_str().unwrap(), "branch": "main"}}}, "authorization": no_auth()},
            })),
        ),
        200,
    );
    let id = created["id"].as_str().unwrap();
    let repo_info = ok("git-repo", ds(&s, Method::GET, &format!("apps/{id}/git-repo"), None), 200);
    assert_eq!(repo_info["isManagedGitRepo"], false);
    ok("deploy", ds(&s, Method::PATCH, &format!("apps/{id}"), Some(json!({"desiredState": "running"}))), 200);
    wait_state(&s, id, "running", Duration::from_secs(120));
    let (status, health) = get_app(&s, &format!("{}_stcore/health", created["url"].as_str().unwrap()), None);
    assert_eq!((status, health.trim()), (200, "ok"), "no password asked");
    ok("stop", ds(&s, Method::PATCH, &format!("apps/{id}"), Some(json!({"desiredState": "stopped"}))), 200);
}

#[test]
fn a_failed_start_is_a_failed_run_and_bad_input_is_refused() {
    let s = start(&tempfile::tempdir().unwrap().keep());
    // No code at all: the run fails with the reason, the app goes back to stopped.
    let created = ok(
        "create",
        ds(&s, Method::POST, "/apps", Some(json!({"branchId": null, "type": "streamlit", "name": "Empty", "config": {"parameters": {"dataApp": {"slug": "x"}}}}))),
        200,
    );
    let id = created["id"].as_str().unwrap();
    ok("deploy", ds(&s, Method::PATCH, &format!("apps/{id}"), Some(json!({"desiredState": "running"}))), 200);
    wait_state(&s, id, "stopped", Duration::from_secs(60));
    let runs = ok("runs", ds(&s, Method::GET, &format!("apps/{id}/runs"), None), 200);
    assert_eq!(runs[0]["state"], "failed", "{runs}");
    assert!(runs[0]["failureReason"]["message"].as_str().unwrap().contains("parameters.script"), "{runs}");

    refused("unknown type", ds(&s, Method::POST, "apps", Some(json!({"branchId": null, "type": "python-js", "name": "x"}))), 422);
    refused("no name", ds(&s, Method::POST, "apps", Some(json!({"branchId": null, "type": "streamlit"}))), 422);
    refused("config not an object", ds(&s, Method::POST, "apps", Some(json!({"type": "streamlit", "name": "x", "config": "no"}))), 422);
    refused("unknown branch", ds(&s, Method::POST, "apps", Some(json!({"type": "streamlit", "name": "x", "branchId": "999"}))), 422);
    refused("managed repo", ds(&s, Method::POST, "apps", Some(json!({"type": "streamlit", "name": "x", "useManagedGitRepo": true}))), 400);
    refused("bad desired state", ds(&s, Method::PATCH, &format!("apps/{id}"), Some(json!({"desiredState": "flying"}))), 422);
    refused("version alone", ds(&s, Method::PATCH, &format!("apps/{id}"), Some(json!({"configVersion": "1"}))), 422);
    refused("unknown version", ds(&s, Method::PATCH, &format!("apps/{id}"), Some(json!({"desiredState": "running", "configVersion": "77"}))), 422);
    refused("unknown app", ds(&s, Method::GET, "apps/424242", None), 404);
    refused("not an id", ds(&s, Method::GET, "apps/abc", None), 404);
    refused("bad limit", ds(&s, Method::GET, "apps?limit=0", None), 422);
    refused("lines and since", ds(&s, Method::GET, &format!("apps/{id}/logs/tail?lines=3&since=2026-01-01T00:00:00Z"), None), 422);
    let (status, body) = s.send(s.client.get(format!("{}/data-science/apps", s.url)));
    assert_eq!(status, 401, "{body}");
    // The old service id serves the same API.
    assert_eq!(ok("sandboxes id", s.send(s.client.get(format!("{}/sandboxes/apps", s.url)).header("X-StorageApi-Token", MASTER_TOKEN)), 200).as_array().unwrap().len(), 1);
}
