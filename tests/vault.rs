//! The Vault service through the real binary: variables created, listed, filtered, scoped to
//! branches and deleted; encrypted values kept as ciphers; bad input refused in the Vault's
//! envelope; projects isolated; tokens without the admin role refused changes. And the runner:
//! `{{ vault.KEY }}` in a job's configuration replaced with the branch's values (an encrypted
//! one in clear for the component, hidden in the job's log), a missing one failing the job.
mod common;
mod queue_support;

use common::{MASTER_TOKEN, Server, call, ok};
use queue_support::*;
use reqwest::Method;
use serde_json::{Value, json};

const P2_MASTER: &str = "2-90-projecttwomastertoken000000000000000";

fn vault(s: &Server, method: Method, token: Option<&str>, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, format!("{}/vault/{}", s.url, path.trim_start_matches('/')));
    if let Some(t) = token {
        req = req.header("X-StorageApi-Token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

fn vget(s: &Server, path: &str) -> Value {
    ok(path, vault(s, Method::GET, Some(MASTER_TOKEN), path, None), 200)
}

/// Create a variable as the master token; its Variable object.
fn create(s: &Server, body: Value) -> Value {
    ok("create variable", vault(s, Method::POST, Some(MASTER_TOKEN), "variables", Some(body)), 201)
}

/// A refusal in the Vault's envelope with this status.
fn refused(what: &str, (status, body): (u16, Value), expected: u16) -> Value {
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(body["code"], json!(expected), "{what}: {body}");
    assert_eq!(body["status"], "error", "{what}: {body}");
    assert!(body["error"].is_string() && body["exceptionId"].as_str().is_some_and(|e| e.starts_with("vault-")), "{what}: {body}");
    body
}

/// `key=value` of a variable list, in order.
fn pairs(list: &Value) -> Vec<(String, String)> {
    list.as_array().unwrap().iter().map(|v| (v["key"].as_str().unwrap().to_string(), v["value"].as_str().unwrap().to_string())).collect()
}

fn keys(list: &Value) -> Vec<String> {
    pairs(list).into_iter().map(|(k, _)| k).collect()
}

fn create_branch(s: &Server, name: &str) -> i64 {
    let job = ok("branch", call(s, Method::POST, MASTER_TOKEN, "dev-branches", Some(json!({"name": name}))), 202);
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    job["results"]["id"].as_i64().unwrap()
}

fn default_branch(s: &Server) -> i64 {
    let (_, branches) = s.get("dev-branches");
    branches.as_array().unwrap().iter().find(|b| b["isDefault"] == true).unwrap()["id"].as_i64().unwrap()
}

#[test]
fn variables_are_created_listed_scoped_and_deleted() {
    let s = Server::start();
    // The service is found as Keboola's clients find it.
    let (_, index) = s.get("");
    assert!(index["services"].as_array().unwrap().iter().any(|x| x["id"] == "vault"), "{index}");
    assert_eq!(vget(&s, "")["api"], "vault");
    assert_eq!(ok("health", vault(&s, Method::POST, None, "health-check", None), 200)["api"], "vault");

    let main = default_branch(&s);
    let dev = create_branch(&s, "feature");

    let host = create(&s, json!({"key": "db_host", "value": "db.example.com"}));
    assert_eq!(host["key"], "db_host");
    assert_eq!(host["value"], "db.example.com");
    assert_eq!(host["flags"], json!([]));
    assert_eq!(host["attributes"], json!({}));
    assert_eq!(host["isEncrypted"], false);
    let hash = host["hash"].as_str().unwrap().to_string();
    assert!(hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{host}");
    // The same key with the same attributes is the same variable; with other attributes, another.
    let dup = refused("duplicate", vault(&s, Method::POST, Some(MASTER_TOKEN), "variables", Some(json!({"key": "db_host", "value": "x"}))), 400);
    assert!(dup["error"].as_str().unwrap().contains("db_host"), "{dup}");
    let dev_host = create(&s, json!({"key": "db_host", "value": "dev-db.example.com", "attributes": {"branchId": dev.to_string()}}));
    assert_ne!(dev_host["hash"], host["hash"]);
    assert_eq!(dev_host["attributes"], json!({"branchId": dev.to_string()}));
    // An encrypted value is kept and shown as a project-wide cipher, never in clear.
    let password = create(&s, json!({"key": "db_password", "value": "s3cret-pass", "flags": ["encrypted"], "attributes": []}));
    let cipher = password["value"].as_str().unwrap();
    assert!(cipher.starts_with("KBC::ProjectWideSecure::") && !cipher.contains("s3cret"), "{password}");
    assert_eq!((password["flags"].clone(), password["isEncrypted"].clone()), (json!(["encrypted"]), json!(true)));
    // A branch id sent as a number (the spec's example) is kept as text.
    create(&s, json!({"key": "only_dev", "value": "dev only", "flags": ["oauthCredentialsId"], "attributes": {"branchId": dev}}));

    // Lists: by key, with attribute filters (an empty value: "has no such attribute"), paged.
    assert_eq!(keys(&vget(&s, "variables")), ["db_host", "db_host", "db_password", "only_dev"]);
    assert_eq!(pairs(&vget(&s, "variables?key=db_host")), [("db_host".into(), "db.example.com".into()), ("db_host".into(), "dev-db.example.com".into())]);
    assert_eq!(keys(&vget(&s, &format!("variables?attributes[branchId]={dev}"))), ["db_host", "only_dev"]);
    assert_eq!(keys(&vget(&s, "variables?attributes[branchId]=")), ["db_host", "db_password"]);
    assert_eq!(keys(&vget(&s, "variables?offset=1&limit=2")), ["db_host", "db_password"]);
    for bad in ["limit=0", "limit=101", "offset=-1", "limit=x", "attributes=7"] {
        refused(bad, vault(&s, Method::GET, Some(MASTER_TOKEN), &format!("variables?{bad}"), None), 404);
    }

    // Scoped to a branch: the project-wide ones, the branch's own replacing them by key.
    let on_main = vget(&s, &format!("variables/scoped/branch/{main}"));
    assert_eq!(pairs(&on_main), [("db_host".into(), "db.example.com".into()), ("db_password".into(), cipher.to_string())]);
    assert_eq!(vget(&s, "variables/scoped/branch/default"), on_main);
    let on_dev = vget(&s, &format!("variables/scoped/branch/{dev}"));
    assert_eq!(keys(&on_dev), ["db_host", "db_password", "only_dev"]);
    assert_eq!(on_dev[0]["value"], "dev-db.example.com");
    assert_eq!(keys(&vget(&s, &format!("variables/scoped/branch/{dev}?key=only_dev"))), ["only_dev"]);
    assert_eq!(vget(&s, &format!("variables/merged/branch?branchId={dev}")), on_dev, "the deprecated form");
    refused("merged without a branch", vault(&s, Method::GET, Some(MASTER_TOKEN), "variables/merged/branch", None), 404);
    refused("unknown branch", vault(&s, Method::GET, Some(MASTER_TOKEN), "variables/scoped/branch/999999", None), 404);

    // Deleted once.
    let (st, _) = vault(&s, Method::DELETE, Some(MASTER_TOKEN), &format!("variables/{hash}"), None);
    assert_eq!(st, 204);
    refused("deleted again", vault(&s, Method::DELETE, Some(MASTER_TOKEN), &format!("variables/{hash}"), None), 404);
    assert_eq!(pairs(&vget(&s, &format!("variables/scoped/branch/{main}"))), [("db_password".into(), cipher.to_string())]);
}

#[test]
fn bad_input_is_refused_in_the_vault_envelope() {
    let s = Server::start();
    let post = |body: Value| vault(&s, Method::POST, Some(MASTER_TOKEN), "variables", Some(body));
    for (what, body) in [
        ("no key", json!({"value": "v"})),
        ("blank key", json!({"key": "", "value": "v"})),
        ("key starting with a digit", json!({"key": "1abc", "value": "v"})),
        ("key with a dot", json!({"key": "a.b", "value": "v"})),
        ("key with a space", json!({"key": "a b", "value": "v"})),
        ("no value", json!({"key": "k"})),
        ("value of another type", json!({"key": "k", "value": {"a": 1}})),
        ("unknown flag", json!({"key": "k", "value": "v", "flags": ["bogus"]})),
        ("flags of another type", json!({"key": "k", "value": "v", "flags": {"a": 1}})),
        ("nested attribute", json!({"key": "k", "value": "v", "attributes": {"branchId": {"x": 1}}})),
        ("attributes as a list", json!({"key": "k", "value": "v", "attributes": ["a"]})),
    ] {
        refused(what, post(body), 422);
    }
    let invalid_json = s.send(
        s.client.post(format!("{}/vault/variables", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).header("Content-Type", "application/json").body("{\"key\": "),
    );
    refused("invalid JSON", invalid_json, 400);
    refused("no token", vault(&s, Method::GET, None, "variables", None), 401);
    refused("a wrong token", vault(&s, Method::GET, Some("1-1-nosuchtoken"), "variables", None), 401);
    refused("no route", vault(&s, Method::GET, Some(MASTER_TOKEN), "nothing-here", None), 404);
    assert!(vget(&s, "variables").as_array().unwrap().is_empty(), "nothing was created");
}

#[test]
fn projects_are_isolated_and_only_admins_change_variables() {
    let (s, _dir) = common::start_with_projects(&[(2, "two", P2_MASTER)]);
    let mine = create(&s, json!({"key": "shared_name", "value": "project one"}));
    let hash = mine["hash"].as_str().unwrap();
    // Project 2 neither sees nor deletes it, and has its own variable of the same key.
    let (st, theirs) = vault(&s, Method::GET, Some(P2_MASTER), "variables", None);
    assert_eq!((st, theirs), (200, json!([])));
    refused("another project's variable", vault(&s, Method::DELETE, Some(P2_MASTER), &format!("variables/{hash}"), None), 404);
    let (st, own) = vault(&s, Method::POST, Some(P2_MASTER), "variables", Some(json!({"key": "shared_name", "value": "project two"})));
    assert_eq!(st, 201, "{own}");
    let (_, two) = vault(&s, Method::GET, Some(P2_MASTER), "variables/scoped/branch/default", None);
    assert_eq!(pairs(&two), [("shared_name".into(), "project two".into())]);
    assert_eq!(pairs(&vget(&s, "variables")), [("shared_name".into(), "project one".into())]);
    // Project 2's branch is not project 1's.
    let (_, branches) = call(&s, Method::GET, P2_MASTER, "dev-branches", None);
    let p2_main = branches[0]["id"].as_i64().unwrap();
    if p2_main != default_branch(&s) {
        refused("another project's branch", vault(&s, Method::GET, Some(MASTER_TOKEN), &format!("variables/scoped/branch/{p2_main}"), None), 404);
    }

    // A token without the admin role (role "none") reads but does not change variables.
    let t = ok("token", s.post_json("tokens", json!({"description": "reader", "canManageBuckets": true})), 201);
    let reader = t["token"].as_str().unwrap();
    let (st, list) = vault(&s, Method::GET, Some(reader), "variables", None);
    assert_eq!((st, list.as_array().map(Vec::len)), (200, Some(1)), "{list}");
    let denied = refused("create as role none", vault(&s, Method::POST, Some(reader), "variables", Some(json!({"key": "k", "value": "v"}))), 403);
    assert!(denied["error"].as_str().unwrap().contains("Role \"none\" is not allowed to modify variable"), "{denied}");
    refused("delete as role none", vault(&s, Method::DELETE, Some(reader), &format!("variables/{hash}"), None), 403);
    assert_eq!(vget(&s, "variables").as_array().unwrap().len(), 1);
}

/// Events of a job's run (its log).
fn job_log(s: &Server, job_id: &str) -> String {
    let (st, ev) = s.get(&format!("events?runId={job_id}&limit=1000"));
    assert_eq!(st, 200, "{ev}");
    ev.as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap_or("").to_string()).collect::<Vec<_>>().join("\n")
}

const SECRET: &str = "vault-secret-token-value";

#[test]
fn a_job_gets_the_branch_values_and_hides_encrypted_ones() {
    let s = Server::start_with_env(&[("KBSTACK_KEEP_JOB_DATA", "1")]);
    let main = default_branch(&s);
    let dev = create_branch(&s, "feature");
    create(&s, json!({"key": "api_host", "value": "project.example.com"}));
    create(&s, json!({"key": "api_host", "value": "main.example.com", "attributes": {"branchId": main.to_string()}}));
    create(&s, json!({"key": "api_host", "value": "dev.example.com", "attributes": {"branchId": dev.to_string()}}));
    create(&s, json!({"key": "api_token", "value": SECRET, "flags": ["encrypted"]}));
    create(&s, json!({"key": "quote", "value": "he said \"hi\"\n\\o/"}));
    create(&s, json!({"key": "dev_only", "value": "x", "attributes": {"branchId": dev.to_string()}}));
    // The component prints its config.json: the log shows what the component got.
    register(&s, "test.vault-echo", sh("cat config.json; echo"));
    create_config(
        &s,
        "test.vault-echo",
        "v",
        json!({"parameters": {
            "host": "{{ vault.api_host }}", "url": "https://{{vault.api_host}}/v1", "token": "{{  vault.api_token }}",
            "#token": "{{ vault.api_token }}", "raw": "{{{ vault.api_host }}}", "quote": "{{ vault.quote }}",
            "nested": [{"{{ vault.api_host }}": "as a key"}]
        }}),
        vec![],
        false,
    );
    let job = create_job(&s, json!({"component": "test.vault-echo", "config": "v"}));
    let done = wait_finished(&s, &id(&job), 60);
    assert_eq!(done["status"], "success", "{done}");
    let config: Value = serde_json::from_slice(&std::fs::read(s.node_path(&format!("job-data/{}/data/config.json", id(&job)))).unwrap()).unwrap();
    let p = &config["parameters"];
    assert_eq!(p["host"], "main.example.com", "the branch's own value wins: {config}");
    assert_eq!(p["url"], "https://main.example.com/v1");
    assert_eq!(p["token"], SECRET, "an encrypted value reaches the component in clear");
    assert_eq!(p["#token"], SECRET);
    assert_eq!(p["raw"], "{{{ vault.api_host }}}", "a triple brace is not a placeholder");
    assert_eq!(p["quote"], "he said \"hi\"\n\\o/", "values are JSON-escaped in place");
    assert_eq!(p["nested"][0]["main.example.com"], "as a key");

    let log = job_log(&s, &id(&job));
    assert!(log.contains("main.example.com"), "{log}");
    assert!(log.contains("[hidden]"), "{log}");
    assert!(log.contains("Replaced values for variables: vault.api_host, vault.api_token, vault.quote"), "{log}");
    use base64::Engine;
    for leak in [SECRET.to_string(), base64::engine::general_purpose::STANDARD.encode(SECRET)] {
        assert!(!log.contains(&leak), "{leak} in the job log: {log}");
    }
    assert!(!done.to_string().contains(SECRET), "{done}");

    // In the dev branch the dev values apply.
    let job = ok("dev job", s.send(
        s.client.post(queue_url(&s, "jobs")).header("X-StorageApi-Token", MASTER_TOKEN)
            .json(&json!({"component": "test.vault-echo", "branchId": dev.to_string(), "configData": {"parameters": {"host": "{{ vault.api_host }}", "only": "{{ vault.dev_only }}"}}})),
    ), 201);
    let done = wait_finished(&s, &id(&job), 60);
    assert_eq!(done["status"], "success", "{done}");
    let config: Value = serde_json::from_slice(&std::fs::read(s.node_path(&format!("job-data/{}/data/config.json", id(&job)))).unwrap()).unwrap();
    assert_eq!((config["parameters"]["host"].as_str(), config["parameters"]["only"].as_str()), (Some("dev.example.com"), Some("x")), "{config}");
}

#[test]
fn a_missing_variable_fails_the_job_as_a_user_error() {
    let s = Server::start();
    let dev = create_branch(&s, "feature");
    create(&s, json!({"key": "present", "value": "here"}));
    create(&s, json!({"key": "elsewhere", "value": "dev only", "attributes": {"branchId": dev.to_string()}}));
    let job = config_test_job(&s, json!({"a": "{{ vault.present }}", "b": "{{ vault.nope }}", "c": "{{ vault.elsewhere }}", "d": "{{vault.nope}}"}));
    let done = wait_finished(&s, &id(&job), 60);
    assert_eq!(done["status"], "error", "{done}");
    assert_eq!(done["result"]["error"]["type"], "user", "{done}");
    assert_eq!(done["result"]["message"], "Missing values for placeholders: vault.nope, vault.elsewhere", "{done}");
}

#[test]
fn a_sync_action_gets_the_values_too() {
    let s = Server::start();
    create(&s, json!({"key": "host", "value": "db.example.com"}));
    create(&s, json!({"key": "password", "value": SECRET, "flags": ["encrypted"]}));
    let act = |parameters: Value| {
        let body = json!({"componentId": "keboola.runner-config-test", "action": "dumpConfig", "configData": {"parameters": parameters}});
        s.send(s.client.post(format!("{}/sync-actions/actions", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body))
    };
    let (st, config) = act(json!({"host": "{{ vault.host }}", "#password": "{{ vault.password }}"}));
    assert_eq!(st, 201, "{config}");
    assert_eq!((config["parameters"]["host"].as_str(), config["parameters"]["#password"].as_str()), (Some("db.example.com"), Some(SECRET)), "{config}");
    let (st, b) = act(json!({"host": "{{ vault.nope }}"}));
    assert_eq!((st, b["error"].as_str()), (400, Some("User error")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("Missing values for placeholders: vault.nope"), "{b}");
}

/// The entries of a zip file as text.
fn unzip(bytes: Vec<u8>) -> std::collections::BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            (entry.name().unwrap().to_string(), text)
        })
        .collect()
}

#[test]
fn debug_mode_snapshots_hide_encrypted_values_outside_hash_keys() {
    let s = Server::start();
    create(&s, json!({"key": "host", "value": "db.example.com"}));
    create(&s, json!({"key": "password", "value": SECRET, "flags": ["encrypted"]}));
    let job = create_job(
        &s,
        json!({"component": "keboola.runner-config-test", "mode": "debug",
               "configData": {"parameters": {"host": "{{ vault.host }}", "dsn": "pg://u:{{ vault.password }}@h"}}}),
    );
    assert_eq!(wait_finished(&s, &id(&job), 60)["status"], "success");
    let (st, files) = s.get("files?tags[]=debug");
    assert_eq!(st, 200, "{files}");
    let stage0 = files.as_array().unwrap().iter().find(|f| f["name"] == "stage_0.zip").expect("stage_0.zip").clone();
    let config: Value = serde_json::from_str(&unzip(s.download(stage0["id"].as_i64().unwrap()))["config.json"]).unwrap();
    assert_eq!(config["parameters"]["host"], "db.example.com", "{config}");
    assert_eq!(config["parameters"]["dsn"], "pg://u:[hidden]@h", "{config}");
}
