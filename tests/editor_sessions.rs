//! Editor (SQL editor) sessions through the real binary: create backed by a Storage workspace
//! (plain or under a configuration), list (own, `listAll`, `branchId`), detail, credentials
//! reset, delete dropping the workspace, the Query service running SQL in a session's
//! workspace, refusals in the service's envelope.
mod common;

use common::{MASTER_TOKEN, Server};
use serde_json::{Value, json};

fn ed(s: &Server, path: &str) -> String {
    format!("{}/editor/sql/{path}", s.url)
}

fn send_as(s: &Server, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, ed(s, path)).header("X-StorageApi-Token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

fn send(s: &Server, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    send_as(s, MASTER_TOKEN, method, path, body)
}

fn assert_envelope(st: u16, b: &Value, status: u16) {
    assert_eq!(st, status, "{b}");
    assert!(b["error"].is_string() && b["message"] == b["error"] && b["code"] == json!(status), "{b}");
    assert!(b["exceptionId"].as_str().is_some_and(|e| e.starts_with("editor-")) && b["status"] == "error", "{b}");
}

#[test]
fn sessions_are_backed_by_workspaces() {
    let s = Server::start();
    let (st, session) = send(&s, reqwest::Method::POST, "sessions", Some(json!({"branchId": "default", "loadMode": "clean"})));
    assert_eq!(st, 201, "{session}");
    assert_eq!(session["status"], "ready");
    let ws = session["workspaceId"].as_str().expect("a string id").to_string();
    assert_eq!(session["workspaceSchema"], format!("WORKSPACE_{ws}"));
    assert_eq!(session["workspaceDatabase"], format!("KBSTACK_WS_{ws}"));
    assert_eq!((session["backendType"].clone(), session["workspaceLoginType"].clone()), (json!("snowflake"), json!("snowflake-person-sso")));
    assert_eq!((session["workspaceLoadJobs"].clone(), session["shared"].clone(), session["lastError"].clone()), (json!([]), json!(false), Value::Null));
    for key in ["id", "createdAt", "updatedAt", "userId", "branchId", "componentId", "configurationId"] {
        assert!(session[key].is_string(), "{key}: {session}");
    }
    let id = session["id"].as_str().unwrap().to_string();
    let (st, w) = s.get(&format!("workspaces/{ws}"));
    assert_eq!(st, 200, "the Storage workspace exists: {w}");

    // The Query service runs SQL in the session's workspace (numeric branch id, as MCP sends it).
    let branch = session["branchId"].as_str().unwrap();
    let (st, job) = s.send(
        s.client
            .post(format!("{}/query/api/v1/branches/{branch}/workspaces/{ws}/queries", s.url))
            .header("X-StorageApi-Token", MASTER_TOKEN)
            .json(&json!({"statements": ["SELECT 1 AS one"]})),
    );
    assert_eq!(st, 201, "{job}");

    // Under a configuration.
    let (st, c) = s.post_json("components/keboola.snowflake-transformation/configs", json!({"name": "t"}));
    assert_eq!(st, 201, "{c}");
    let config = c["id"].as_str().unwrap();
    let (st, second) = send(
        &s,
        reqwest::Method::POST,
        "sessions",
        Some(json!({"branchId": branch, "componentId": "keboola.snowflake-transformation", "configurationId": config, "loginType": "snowflake-person-keypair"})),
    );
    assert_eq!(st, 201, "{second}");
    assert_eq!((second["componentId"].as_str(), second["configurationId"].as_str()), (Some("keboola.snowflake-transformation"), Some(config)));
    let (_, cw) = s.get(&format!("components/keboola.snowflake-transformation/configs/{config}/workspaces"));
    assert_eq!(cw.as_array().unwrap().len(), 1, "{cw}");

    // Lists: the token's own; listAll; per branch.
    let (st, mine) = send(&s, reqwest::Method::GET, "sessions", None);
    assert_eq!(st, 200, "{mine}");
    assert_eq!(mine.as_array().unwrap().len(), 2);
    let (_, all) = send(&s, reqwest::Method::GET, &format!("sessions?listAll=1&branchId={branch}"), None);
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (st, detail) = send(&s, reqwest::Method::GET, &format!("sessions/{id}"), None);
    assert_eq!((st, &detail["id"]), (200, &json!(id)), "{detail}");

    // Another token without bucket management sees neither of them.
    let (st, t) = s.post_json("tokens", json!({"description": "other"}));
    assert_eq!(st, 201, "{t}");
    let other = t["token"].as_str().unwrap();
    let (st, b) = send_as(&s, other, reqwest::Method::GET, &format!("sessions/{id}"), None);
    assert_envelope(st, &b, 404);
    let (_, none) = send_as(&s, other, reqwest::Method::GET, "sessions?listAll=1", None);
    assert_eq!(none, json!([]));

    // Credentials reset: a key pair, the public key set on the workspace.
    let (st, keys) = send(&s, reqwest::Method::POST, &format!("sessions/{id}/reset-credentials"), None);
    assert_eq!(st, 200, "{keys}");
    assert!(keys["privateKey"].as_str().unwrap().starts_with("-----BEGIN PRIVATE KEY-----"), "{keys}");
    assert!(keys["publicKey"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"), "{keys}");

    // Delete: 204, the workspace goes with it.
    let (st, _) = send(&s, reqwest::Method::DELETE, &format!("sessions/{id}"), None);
    assert_eq!(st, 204);
    let (st, _) = s.get(&format!("workspaces/{ws}"));
    assert_eq!(st, 404);
    let (st, b) = send(&s, reqwest::Method::GET, &format!("sessions/{id}"), None);
    assert_envelope(st, &b, 404);
    let (st, b) = send(&s, reqwest::Method::DELETE, &format!("sessions/{id}"), None);
    assert_envelope(st, &b, 404);
    // The service is listed in the Storage index (the Go SDK panics without it).
    let (_, index) = s.get("");
    assert!(index["services"].as_array().unwrap().iter().any(|v| v["id"] == "editor"), "{index}");
}

#[test]
fn bad_session_requests_are_refused() {
    let s = Server::start();
    for (body, status) in [
        (json!({}), 400),
        (json!({"branchId": {"x": 1}}), 400),
        (json!({"branchId": "424242"}), 404),
        (json!({"branchId": "default", "componentId": "keboola.snowflake-transformation"}), 400),
        (json!({"branchId": "default", "componentId": "keboola.snowflake-transformation", "configurationId": "nope"}), 404),
        (json!({"branchId": "default", "loadMode": "everything"}), 400),
        (json!({"branchId": "default", "loginType": "magic"}), 400),
    ] {
        let (st, b) = send(&s, reqwest::Method::POST, "sessions", Some(body.clone()));
        assert_envelope(st, &b, status);
    }
    let (st, b) = s.send(s.client.get(ed(&s, "sessions")));
    assert_envelope(st, &b, 401);
    let (st, b) = send(&s, reqwest::Method::GET, "sessions?listAll=2", None);
    assert_envelope(st, &b, 400);
    let (st, b) = send(&s, reqwest::Method::POST, "sessions/no-such/reset-credentials", None);
    assert_envelope(st, &b, 404);
}
