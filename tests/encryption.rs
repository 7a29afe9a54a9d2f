//! The Encryption service through the real binary: `POST /encryption/encrypt` for every scope,
//! bodies and passthrough, Keboola's errors for bad parameter combinations; configurations saved
//! through Storage keep ciphers; the runner opens ciphers only for the job's own scope and keeps
//! the plain values out of the job's events.
mod common;
mod queue_support;

use common::{MASTER_TOKEN, Server};
use queue_support::*;
use serde_json::{Value, json};

const TEST: &str = "keboola.runner-config-test";

fn encrypt_url(s: &Server, query: &str) -> String {
    format!("{}/encryption/encrypt{query}", s.url)
}

/// `POST /encrypt` with a JSON body and no token (as the MCP server calls it).
fn encrypt_json(s: &Server, query: &str, body: Value) -> (u16, Value) {
    s.send(s.client.post(encrypt_url(s, query)).json(&body))
}

/// One value encrypted as a `#` key for the scope the query names.
fn cipher(s: &Server, query: &str, secret: &str) -> String {
    let (st, out) = encrypt_json(s, query, json!({"#v": secret}));
    assert_eq!(st, 200, "{out}");
    out["#v"].as_str().unwrap().to_string()
}

/// Events of a job's run (its log).
fn job_log(s: &Server, job_id: &str) -> Vec<String> {
    let (st, ev) = s.get(&format!("events?runId={job_id}&limit=1000"));
    assert_eq!(st, 200, "{ev}");
    ev.as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap_or("").to_string()).collect()
}

#[test]
fn every_parameter_combination_gives_its_prefix() {
    let s = Server::start();
    let cases = [
        ("", "KBC::Secure::"),
        ("?componentId=keboola.ex-db-snowflake", "KBC::ComponentSecure::"),
        ("?componentId=keboola.ex-db-snowflake&projectId=123", "KBC::ProjectSecure::"),
        ("?componentId=keboola.ex-db-snowflake&projectId=123&configId=456", "KBC::ConfigSecure::"),
        ("?projectId=123", "KBC::ProjectWideSecure::"),
        ("?componentId=keboola.ex-db-snowflake&projectId=123&branchType=dev", "KBC::BranchTypeSecure::"),
        ("?componentId=keboola.ex-db-snowflake&projectId=123&configId=456&branchType=default", "KBC::BranchTypeConfigSecure::"),
        ("?projectId=123&branchType=default", "KBC::ProjectWideBranchTypeSecure::"),
        // Empty parameters count as absent (http_build_query of nulls).
        ("?componentId=keboola.ex-db-snowflake&projectId=123&configId=", "KBC::ProjectSecure::"),
    ];
    for (query, prefix) in cases {
        let (st, out) = encrypt_json(&s, query, json!({"#password": "hunter2", "user": "john"}));
        assert_eq!(st, 200, "{query}: {out}");
        let c = out["#password"].as_str().unwrap();
        assert!(c.starts_with(prefix) && c.len() > prefix.len() + 20, "{query}: {c}");
        assert!(!c.contains("hunter2"));
        assert_eq!(out["user"], "john", "{query}");
        assert_eq!(out.as_object().unwrap().keys().collect::<Vec<_>>(), vec!["#password", "user"], "key order kept");
    }
    // A fresh nonce each time: the same secret never gives the same cipher.
    assert_ne!(cipher(&s, "?projectId=1", "x"), cipher(&s, "?projectId=1", "x"));
}

#[test]
fn nested_keys_arrays_ciphers_and_placeholders() {
    let s = Server::start();
    let own = cipher(&s, "?componentId=a&projectId=1", "already");
    let body = json!({
        "parameters": {
            "db": {"#password": "p1", "host": "h"},
            "accounts": [{"#token": "t1", "name": "n"}, {"list": [{"#deep": 7}]}],
            "#number": 42,
            "#own": own,
            "#foreign": "KBC::ProjectSecureKV::abcdef==",
            "#legacy": "KBC::Encrypted==abc",
            "#var": "{{ my_var }}",
            "#vault": "{{ vault.api-key }}",
            "#not-whole": "x {{ my_var }}",
            "#object": {"plain": "stays"}
        },
        "plain": ["#not-a-key"]
    });
    let (st, out) = encrypt_json(&s, "?componentId=a&projectId=1", body);
    assert_eq!(st, 200, "{out}");
    let p = &out["parameters"];
    for ptr in ["/db/#password", "/accounts/0/#token", "/accounts/1/list/0/#deep", "/#number", "/#not-whole"] {
        let v = p.pointer(ptr).and_then(Value::as_str).unwrap_or_else(|| panic!("{ptr}: {out}"));
        assert!(v.starts_with("KBC::ProjectSecure::"), "{ptr}: {v}");
    }
    assert_eq!(p["db"]["host"], "h");
    assert_eq!(p["accounts"][0]["name"], "n");
    assert_eq!(p["#own"], own.as_str(), "our cipher is not encrypted again");
    assert_eq!(p["#foreign"], "KBC::ProjectSecureKV::abcdef==");
    assert_eq!(p["#legacy"], "KBC::Encrypted==abc");
    assert_eq!(p["#var"], "{{ my_var }}");
    assert_eq!(p["#vault"], "{{ vault.api-key }}");
    assert_eq!(p["#object"], json!({"plain": "stays"}));
    assert_eq!(out["plain"], json!(["#not-a-key"]));
}

#[test]
fn plain_text_and_json_string_bodies() {
    let s = Server::start();
    let resp = s
        .client
        .post(encrypt_url(&s, "?componentId=keboola.ex-db-mysql&projectId=1"))
        .header("Content-Type", "text/plain")
        .body("mySecretPassword")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = resp.text().unwrap();
    assert!(text.starts_with("KBC::ProjectSecure::") && !text.contains("mySecret"), "{text}");
    // A cipher sent as text comes back unchanged.
    let again = s.client.post(encrypt_url(&s, "?projectId=1")).header("Content-Type", "text/plain").body(text.clone()).send().unwrap();
    assert_eq!(again.text().unwrap(), text);
    // The MCP server sends a string as a JSON string and reads a JSON string back.
    let (st, out) = encrypt_json(&s, "?componentId=keboola.ex-db-mysql&projectId=1&configId=9", json!("s3cret"));
    assert_eq!(st, 200, "{out}");
    assert!(out.as_str().unwrap().starts_with("KBC::ConfigSecure::"), "{out}");
}

fn assert_envelope(st: u16, body: &Value, needle: &str) {
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["code"], 400, "the code is an integer: {body}");
    assert!(body["exceptionId"].as_str().is_some_and(|e| e.starts_with("encryption-")), "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains(needle), "{needle}: {body}");
    assert_eq!(body["message"], body["error"], "the PHP client reads message: {body}");
}

#[test]
fn invalid_parameter_combinations_and_bodies_are_400s() {
    let s = Server::start();
    let cases = [
        ("?componentId=c&configId=1", "requires the \"projectId\""),
        ("?configId=1", "requires the \"projectId\""),
        ("?projectId=1&configId=1", "requires the \"componentId\""),
        ("?branchType=dev", "requires the \"projectId\""),
        ("?componentId=c&branchType=default", "requires the \"projectId\""),
        ("?componentId=c&projectId=1&branchType=production", "Invalid branchType"),
    ];
    for (query, needle) in cases {
        let (st, body) = encrypt_json(&s, query, json!({"#a": "b"}));
        assert_envelope(st, &body, needle);
    }
    let (st, body) = s.send(s.client.post(encrypt_url(&s, "?projectId=1")).header("Content-Type", "application/json").body("{\"#a\": "));
    assert_envelope(st, &body, "Invalid JSON");
    let (st, body) = s.send(s.client.post(encrypt_url(&s, "?projectId=1")).header("Content-Type", "application/x-www-form-urlencoded").body("a=b"));
    assert_envelope(st, &body, "Content-Type");
    let (st, body) = encrypt_json(&s, "?projectId=1", Value::Null);
    assert_envelope(st, &body, "can be encrypted");
}

#[test]
fn index_advertises_the_service_and_it_answers_without_a_token() {
    let s = Server::start();
    let (st, index) = s.send(s.client.get(s.api("")));
    assert_eq!(st, 200, "{index}");
    let services = index["services"].as_array().unwrap();
    let enc = services.iter().find(|x| x["id"] == "encryption").expect("encryption listed");
    assert_eq!(enc["url"], format!("{}/encryption", s.url));
    let (st, health) = s.send(s.client.get(format!("{}/encryption/health-check", s.url)));
    assert_eq!((st, health), (200, json!({"status": "ok"})));
    let (st, info) = s.send(s.client.get(format!("{}/encryption", s.url)));
    assert_eq!(st, 200);
    assert_eq!(info["appName"], "encryption-api");
    // A token is accepted and ignored (the Go SDK and the PHP client send one).
    let (st, out) = s.send(s.client.post(encrypt_url(&s, "?projectId=1")).header("X-StorageApi-Token", MASTER_TOKEN).json(&json!({"#a": "b"})));
    assert_eq!(st, 200, "{out}");
}

#[test]
fn configurations_are_saved_with_their_secrets_encrypted() {
    let s = Server::start();
    let c = "keboola.ex-db-snowflake";
    let (st, created) = s.post_json(
        &format!("components/{c}/configs"),
        json!({"name": "db", "configurationId": "db", "configuration": {"parameters": {"user": "u", "#password": "plain-pass-1", "list": [{"#key": "k1"}], "#var": "{{ v }}"}}}),
    );
    assert_eq!(st, 201, "{created}");
    let params = &created["configuration"]["parameters"];
    let stored = params["#password"].as_str().unwrap().to_string();
    assert!(stored.starts_with("KBC::ProjectSecure::"), "{created}");
    assert!(params["list"][0]["#key"].as_str().unwrap().starts_with("KBC::ProjectSecure::"));
    assert_eq!(params["#var"], "{{ v }}");
    assert_eq!(params["user"], "u");
    let (_, detail) = s.get(&format!("components/{c}/configs/db"));
    assert_eq!(detail["configuration"]["parameters"]["#password"], stored.as_str());

    // An update sending the cipher back keeps it; a new plain value is encrypted (form body too).
    let (st, updated) = s.put_json(&format!("components/{c}/configs/db"), json!({"configuration": detail["configuration"]}));
    assert_eq!(st, 200, "{updated}");
    assert_eq!(updated["configuration"]["parameters"]["#password"], stored.as_str());
    let (st, form) = s.send(
        s.client
            .put(s.api(&format!("components/{c}/configs/db")))
            .header("X-StorageApi-Token", MASTER_TOKEN)
            .form(&[("configuration", r##"{"parameters": {"#password": "plain-pass-2"}}"##)]),
    );
    assert_eq!(st, 200, "{form}");
    let second = form["configuration"]["parameters"]["#password"].as_str().unwrap();
    assert!(second.starts_with("KBC::ProjectSecure::") && second != stored, "{form}");

    // Rows likewise.
    let (st, row) = s.post_json(&format!("components/{c}/configs/db/rows"), json!({"rowId": "r1", "configuration": {"#rowSecret": "plain-row-3"}}));
    assert_eq!(st, 201, "{row}");
    assert!(row["configuration"]["#rowSecret"].as_str().unwrap().starts_with("KBC::ProjectSecure::"), "{row}");
    let (st, row) = s.put_json(&format!("components/{c}/configs/db/rows/r1"), json!({"configuration": {"#rowSecret": "plain-row-4"}}));
    assert_eq!(st, 200, "{row}");
    assert!(row["configuration"]["#rowSecret"].as_str().unwrap().starts_with("KBC::ProjectSecure::"), "{row}");

    // No plain value anywhere in what Storage keeps (configuration, rows, versions).
    let (_, versions) = s.get(&format!("components/{c}/configs/db/versions?include=configuration"));
    // The store's files, its write-ahead log included.
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(&s.data_dir).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("metadata.sqlite") {
            raw.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    // (The scale-out profile keeps metadata in PostgreSQL: no file to read; the answers are checked.)
    assert!(common::scale_out() || raw.windows(4).any(|w| w == b"KBC:"), "the ciphers are in the files read");
    for plain in ["plain-pass-1", "plain-pass-2", "plain-row-3", "plain-row-4"] {
        assert!(!versions.to_string().contains(plain), "{plain} in versions");
        assert!(!raw.windows(plain.len()).any(|w| w == plain.as_bytes()), "{plain} kept in clear in the metadata store");
    }
}

#[test]
fn the_runner_decrypts_for_the_job_and_hides_the_values_in_its_log() {
    let s = Server::start_with_env(&[("KBSTACK_KEEP_JOB_DATA", "1")]);
    // A configuration cipher made through the API for this very configuration, and a branch-type
    // one for the default branch, beside what Storage encrypts itself on save.
    let config_cipher = cipher(&s, &format!("?componentId={TEST}&projectId=1&configId=sec"), "cfg-secret-value");
    let branch_cipher = cipher(&s, &format!("?componentId={TEST}&projectId=1&branchType=default"), "branch-secret-value");
    let wide_cipher = cipher(&s, "?projectId=1", "wide-secret-value");
    create_config(
        &s,
        TEST,
        "sec",
        json!({"parameters": {
            "#plain": "saved-secret-value", "#config": config_cipher, "#branch": branch_cipher, "#wide": wide_cipher,
            "nested": [{"#deep": "deep-secret-value"}],
            "dump": ["config"], "logs": ["the password is saved-secret-value"],
            "state": {"#token": "state-secret-value", "n": 1}
        }}),
        vec![json!({"id": "r1", "configuration": {"parameters": {"#row": "row-secret-value"}}})],
        false,
    );
    let stored = config_body(&s, TEST, "sec");
    assert!(stored["configuration"]["parameters"]["#plain"].as_str().unwrap().starts_with("KBC::ProjectSecure::"), "{stored}");

    let job = create_job(&s, json!({"component": TEST, "config": "sec"}));
    let done = wait_finished(&s, &id(&job), 30);
    assert_eq!(done["status"], "success", "{done}");
    let data = s.node_path(&format!("job-data/{}-r1/data", id(&job)));
    let config: Value = serde_json::from_slice(&std::fs::read(data.join("config.json")).unwrap()).unwrap();
    let p = &config["parameters"];
    assert_eq!(p["#plain"], "saved-secret-value", "{config}");
    assert_eq!(p["#config"], "cfg-secret-value");
    assert_eq!(p["#branch"], "branch-secret-value");
    assert_eq!(p["#wide"], "wide-secret-value");
    assert_eq!(p["nested"][0]["#deep"], "deep-secret-value");
    assert_eq!(p["#row"], "row-secret-value");

    // The log shows none of them, in clear or base64.
    let log = job_log(&s, &id(&job)).join("\n");
    assert!(log.contains("the password is [hidden]"), "{log}");
    for plain in ["saved-secret-value", "cfg-secret-value", "branch-secret-value", "deep-secret-value", "row-secret-value", "c2F2ZWQtc2VjcmV0LXZhbHVl"] {
        assert!(!log.contains(plain), "{plain} in the job log: {log}");
    }
    assert!(!done.to_string().contains("saved-secret-value"), "{done}");

    // The state the run left keeps its secret as a cipher, and the next run gets it in clear.
    let stored = config_body(&s, TEST, "sec");
    let kept = stored["rows"][0]["state"]["component"]["#token"].as_str().unwrap_or_default().to_string();
    assert!(kept.starts_with("KBC::ProjectSecure::"), "{stored}");
    let job = create_job(&s, json!({"component": TEST, "config": "sec"}));
    assert_eq!(wait_finished(&s, &id(&job), 30)["status"], "success");
    let data = s.node_path(&format!("job-data/{}-r1/data", id(&job)));
    let in_state: Value = serde_json::from_slice(&std::fs::read(data.join("in/state.json")).unwrap()).unwrap();
    assert_eq!(in_state["#token"], "state-secret-value", "{in_state}");
}

/// The cipher with one character of its body changed.
fn tampered(c: &str) -> String {
    let mut bytes = c.as_bytes().to_vec();
    let at = bytes.len() - 6;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_cipher_of_another_scope_fails_the_job_as_a_user_error() {
    let s = Server::start();
    let foreign = [
        ("another project", cipher(&s, &format!("?componentId={TEST}&projectId=2"), "x-secret")),
        ("another component", cipher(&s, "?componentId=keboola.ex-other&projectId=1", "x-secret")),
        ("another configuration", cipher(&s, &format!("?componentId={TEST}&projectId=1&configId=other"), "x-secret")),
        ("another branch type", cipher(&s, &format!("?componentId={TEST}&projectId=1&branchType=dev"), "x-secret")),
        ("another project, project-wide", cipher(&s, "?projectId=2", "x-secret")),
        ("another stack", "KBC::ProjectSecureGKMS::abcdef".to_string()),
        ("a tampered cipher", tampered(&cipher(&s, &format!("?componentId={TEST}&projectId=1"), "x-secret"))),
    ];
    for (i, (what, c)) in foreign.iter().enumerate() {
        let cid = format!("f{i}");
        create_config(&s, TEST, &cid, json!({"parameters": {"#password": c}}), vec![], false);
        let job = create_job(&s, json!({"component": TEST, "config": cid}));
        let done = wait_finished(&s, &id(&job), 30);
        assert_eq!(done["status"], "error", "{what}: {done}");
        assert_eq!(done["result"]["error"]["type"], "user", "{what}: {done}");
        let message = done["result"]["message"].as_str().unwrap();
        assert!(message.contains("Invalid cipher text for key #password"), "{what}: {message}");
    }
    // Inline configData: a configuration cipher needs the job's configuration.
    let c = cipher(&s, &format!("?componentId={TEST}&projectId=1&configId=x"), "x-secret");
    let job = create_job(&s, json!({"component": TEST, "configData": {"parameters": {"#p": c}}}));
    let done = wait_finished(&s, &id(&job), 30);
    assert_eq!((done["status"].as_str(), done["result"]["error"]["type"].as_str()), (Some("error"), Some("user")), "{done}");
    // Plain inline secrets are kept by the job as ciphers (the job object shows no clear value).
    let job = create_job(&s, json!({"component": TEST, "configData": {"parameters": {"#p": "inline-secret-value"}}}));
    let shown = job["configData"]["parameters"]["#p"].as_str().unwrap();
    assert!(shown.starts_with("KBC::ProjectSecure::"), "{job}");
    assert_eq!(wait_finished(&s, &id(&job), 30)["status"], "success");
    // …while a project cipher of the job's component opens in it.
    let c = cipher(&s, &format!("?componentId={TEST}&projectId=1"), "x-secret");
    let job = create_job(&s, json!({"component": TEST, "configData": {"parameters": {"#p": c}}}));
    assert_eq!(wait_finished(&s, &id(&job), 30)["status"], "success");
}

#[test]
fn the_key_is_private_and_ciphers_survive_a_restart() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path());
    let key = dir.path().join("keys/encryption.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&key).unwrap().len(), 32);
    let (st, created) = s.post_json(&format!("components/{TEST}/configs"), json!({"name": "r", "configurationId": "r", "configuration": {"parameters": {"#p": "kept-secret"}}}));
    assert_eq!(st, 201, "{created}");
    s.kill();
    let s = Server::start_in(dir.path());
    let job = create_job(&s, json!({"component": TEST, "config": "r"}));
    assert_eq!(wait_finished(&s, &id(&job), 30)["status"], "success");
}

/// keboola-mcp-server's own Encryption client, and a job that runs with what it encrypted.
#[test]
fn mcp_server_encryption_client() {
    let Some(python) = python_with_mcp() else {
        eprintln!("SKIPPED: no Python with keboola-mcp-server (scripts/test installs it into $HOME/.cache/kbstack-test/venv)");
        return;
    };
    let s = Server::start_with_env(&[("KBSTACK_KEEP_JOB_DATA", "1")]);
    let out = std::process::Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/mcp_encryption_client.py"))
        .env("KBSTACK_URL", &s.url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    let cipher = stdout.lines().find_map(|l| l.strip_prefix("CIPHER ")).expect("the cipher printed").to_string();
    create_config(&s, TEST, "mcp", json!({"parameters": {"#password": cipher}}), vec![], false);
    let job = create_job(&s, json!({"component": TEST, "config": "mcp"}));
    assert_eq!(wait_finished(&s, &id(&job), 30)["status"], "success");
    let config: Value = serde_json::from_slice(&std::fs::read(s.node_path(&format!("job-data/{}/data/config.json", id(&job)))).unwrap()).unwrap();
    assert_eq!(config["parameters"]["#password"], "mcp-secret");
}
