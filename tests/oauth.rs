//! The OAuth Broker (`/oauth`) through the real binary: apps registered by a super admin, the
//! authorize flow end to end against a tiny OAuth 2.0 provider on 127.0.0.1, credentials CRUD
//! with project isolation, and a job whose `config.json` gets the credentials opened while its
//! log never shows the tokens.
mod common;
mod queue_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use common::{MANAGE_TOKEN, MASTER_TOKEN, Server, manage, ok};
use queue_support::*;
use reqwest::Method;
use serde_json::{Value, json};

const P2_MASTER: &str = "2-90-projecttwomastertoken000000000000000";
const APP_KEY: &str = "kbstack-app-key";
const APP_SECRET: &str = "kbstack-app-secret-value";
const CODE: &str = "the-authorization-code";
const ACCESS: &str = "provider-access-token-0123456789";
const REFRESH: &str = "provider-refresh-token-9876543210";

fn oauth(s: &Server, method: Method, token: Option<&str>, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, format!("{}/oauth/{}", s.url, path.trim_start_matches('/')));
    if let Some(t) = token {
        req = req.header("X-StorageApi-Token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

/// A refusal in the broker's envelope with this status.
fn refused(what: &str, (status, body): (u16, Value), expected: u16) -> Value {
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(body["code"], json!(expected), "{what}: {body}");
    assert_eq!(body["status"], "error", "{what}: {body}");
    assert!(body["error"].is_string() && body["exceptionId"].as_str().is_some_and(|e| e.starts_with("oauth-")), "{what}: {body}");
    body
}

fn app(component: &str, provider: &str) -> Value {
    json!({
        "componentId": component, "friendlyName": "Test provider", "oauthVersion": "2.0",
        "authUrl": format!("{provider}/authorize"), "tokenUrl": format!("{provider}/token"),
        "appKey": APP_KEY, "appSecret": APP_SECRET,
    })
}

fn register_app(s: &Server, component: &str, provider: &str) -> Value {
    ok("register app", manage(s, Method::POST, MANAGE_TOKEN, "/oauth/manage", Some(app(component, provider))), 201)
}

/// What the provider saw of token requests: (code, client_id, client_secret, redirect_uri).
type Seen = Arc<Mutex<Vec<std::collections::HashMap<String, String>>>>;

fn parse_form(s: &str) -> std::collections::HashMap<String, String> {
    s.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().to_string();
            (k.to_string(), v)
        })
        .collect()
}

/// A tiny OAuth 2.0 provider: `GET /authorize` sends the browser back to `redirect_uri` with a
/// code and the state; `POST /token` gives tokens for that code and the app's secret.
fn provider() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = serve(stream, &log);
        }
    });
    (url, seen)
}

fn serve(mut stream: TcpStream, seen: &Seen) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let target = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let (status, headers, out) = if request_line.starts_with("GET ") && path == "/authorize" {
        let q = parse_form(query);
        if q.get("client_id").map(String::as_str) != Some(APP_KEY) || q.get("response_type").map(String::as_str) != Some("code") {
            ("400 Bad Request", String::new(), "bad authorize request".to_string())
        } else {
            let back = format!("{}?code={CODE}&state={}", q["redirect_uri"], common::urlencode(&q["state"]));
            ("302 Found", format!("Location: {back}\r\n"), String::new())
        }
    } else if request_line.starts_with("POST ") && path == "/token" {
        let f = parse_form(&String::from_utf8_lossy(&body));
        seen.lock().unwrap().push(f.clone());
        let good = f.get("grant_type").map(String::as_str) == Some("authorization_code")
            && f.get("code").map(String::as_str) == Some(CODE)
            && f.get("client_id").map(String::as_str) == Some(APP_KEY)
            && f.get("client_secret").map(String::as_str) == Some(APP_SECRET);
        if good {
            let tokens = json!({"access_token": ACCESS, "refresh_token": REFRESH, "token_type": "bearer"}).to_string();
            ("200 OK", "Content-Type: application/json\r\n".to_string(), tokens)
        } else {
            ("400 Bad Request", "Content-Type: application/json\r\n".to_string(), json!({"error": "invalid_grant"}).to_string())
        }
    } else {
        ("404 Not Found", String::new(), String::new())
    };
    write!(stream, "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{out}", out.len())?;
    stream.flush()
}

/// A client that shows redirects instead of following them (the test is the browser).
fn browser() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn location(resp: &reqwest::blocking::Response) -> String {
    resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// A non-super manage token: an organization admin's personal token.
fn admin_manage_token(s: &Server) -> String {
    let (st, b) = manage(s, Method::POST, MANAGE_TOKEN, "/manage/organizations/1/users", Some(json!({"email": "bob@example.com"})));
    assert!(st == 204 || st == 201 || st == 200, "{st} {b}");
    let t = ok("bob's token", manage(s, Method::POST, MANAGE_TOKEN, "/manage/tokens", Some(json!({"description": "bob", "userEmail": "bob@example.com"}))), 201);
    t["token"].as_str().unwrap().to_string()
}

#[test]
fn apps_are_registered_by_super_admins_and_never_show_their_secret() {
    let s = Server::start();
    refused("no token", oauth(&s, Method::GET, None, "manage", None), 401);
    refused("a storage token", oauth(&s, Method::POST, Some(MASTER_TOKEN), "manage", Some(app("x.c", "http://p"))), 401);
    let bob = admin_manage_token(&s);
    refused("not a super admin", manage(&s, Method::POST, &bob, "/oauth/manage", Some(app("x.c", "http://p"))), 403);
    refused("not a super admin lists", manage(&s, Method::GET, &bob, "/oauth/manage", None), 403);

    let created = register_app(&s, "x.c", "http://provider.example");
    assert_eq!(created["componentId"], "x.c");
    assert_eq!(created["friendlyName"], "Test provider");
    assert_eq!(created["oauthVersion"], "2.0");
    assert_eq!(created["authUrl"], "http://provider.example/authorize");
    assert_eq!(created["tokenUrl"], "http://provider.example/token");
    assert_eq!(created["requestTokenUrl"], Value::Null);
    assert_eq!(created["appKey"], APP_KEY);
    assert_eq!(created["restrictCustomAuth"], false);
    for key in ["appSecret", "appSecretDocker"] {
        assert!(created[key].as_str().unwrap().starts_with("KBC::ComponentSecure::"), "{key}: {created}");
    }
    assert!(!created.to_string().contains(APP_SECRET), "{created}");
    refused("twice", manage(&s, Method::POST, MANAGE_TOKEN, "/oauth/manage", Some(app("x.c", "http://p"))), 400);
    // The v2 API's snake_case names are read too.
    let snake = json!({"component_id": "y.c", "friendly_name": "Y", "oauth_version": "facebook", "auth_url": "http://p/a", "token_url": "http://p/t", "app_key": "k", "app_secret": "s"});
    ok("snake case", manage(&s, Method::POST, MANAGE_TOKEN, "/oauth/manage", Some(snake)), 201);

    let list = ok("list", manage(&s, Method::GET, MANAGE_TOKEN, "/oauth/manage", None), 200);
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["componentId"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["x.c", "y.c"]);
    assert!(!list.to_string().contains(APP_SECRET));

    let patched = ok(
        "patch",
        manage(&s, Method::PATCH, MANAGE_TOKEN, "/oauth/manage/x.c", Some(json!({"friendlyName": "Renamed", "restrictCustomAuth": true}))),
        200,
    );
    assert_eq!((patched["friendlyName"].as_str(), patched["restrictCustomAuth"].as_bool(), patched["appKey"].as_str()), (Some("Renamed"), Some(true), Some(APP_KEY)));
    assert_eq!(ok("detail", manage(&s, Method::GET, MANAGE_TOKEN, "/oauth/manage/x.c", None), 200)["friendlyName"], "Renamed");
    refused("patch by bob", manage(&s, Method::PATCH, &bob, "/oauth/manage/x.c", Some(json!({"friendlyName": "Pwned"}))), 403);

    // Bad input: 422 in the envelope.
    for (what, body) in [
        ("missing fields", json!({"componentId": "z.c"})),
        ("unknown version", json!({"componentId": "z.c", "friendlyName": "Z", "oauthVersion": "3.0", "authUrl": "http://p/a", "tokenUrl": "http://p/t", "appKey": "k", "appSecret": "s"})),
        ("not a URL", json!({"componentId": "z.c", "friendlyName": "Z", "oauthVersion": "2.0", "authUrl": "javascript:alert(1)", "tokenUrl": "http://p/t", "appKey": "k", "appSecret": "s"})),
        ("wrong types", json!({"componentId": ["z"], "friendlyName": {"a": 1}})),
        ("1.0 without request token URL", json!({"componentId": "z.c", "friendlyName": "Z", "oauthVersion": "1.0", "authUrl": "http://p/a", "tokenUrl": "http://p/t", "appKey": "k", "appSecret": "s"})),
    ] {
        refused(what, manage(&s, Method::POST, MANAGE_TOKEN, "/oauth/manage", Some(body)), 422);
    }
    refused("patch unknown", manage(&s, Method::PATCH, MANAGE_TOKEN, "/oauth/manage/nope", Some(json!({"friendlyName": "x"}))), 404);

    assert_eq!(manage(&s, Method::DELETE, MANAGE_TOKEN, "/oauth/manage/y.c", None).0, 204);
    refused("deleted", manage(&s, Method::GET, MANAGE_TOKEN, "/oauth/manage/y.c", None), 404);
    refused("delete twice", manage(&s, Method::DELETE, MANAGE_TOKEN, "/oauth/manage/y.c", None), 404);
}

#[test]
fn the_authorize_flow_stores_the_providers_tokens() {
    let s = Server::start();
    let (provider_url, seen) = provider();
    let component = "test.oauth-flow";
    register_app(&s, component, &provider_url);
    let b = browser();

    // The UI posts a form with the Storage token; the answer sends the browser to the provider.
    let start = b
        .post(format!("{}/oauth/authorize/{component}", s.url))
        .form(&[("token", MASTER_TOKEN), ("id", "main"), ("authorizedFor", "Myself"), ("returnUrl", "https://app.example/back?x=1")])
        .send()
        .unwrap();
    assert_eq!(start.status().as_u16(), 302, "{}", start.text().unwrap_or_default());
    let to_provider = location(&start);
    let callback = format!("{}/oauth/authorize/{component}/callback", s.url);
    assert!(to_provider.starts_with(&format!("{provider_url}/authorize?")), "{to_provider}");
    let q = parse_form(to_provider.split_once('?').unwrap().1);
    assert_eq!(q["client_id"], APP_KEY);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], callback);
    assert!(q["state"].len() >= 32, "{to_provider}");

    // The provider sends the browser back to the callback with the code and the state.
    let at_provider = b.get(&to_provider).send().unwrap();
    assert_eq!(at_provider.status().as_u16(), 302);
    let back = location(&at_provider);
    assert!(back.starts_with(&callback), "{back}");
    let done = b.get(&back).send().unwrap();
    assert_eq!(done.status().as_u16(), 302, "{}", done.text().unwrap_or_default());
    assert_eq!(location(&done), "https://app.example/back?x=1");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["redirect_uri"], callback, "the same redirect_uri as at the start");
    }
    // The state is good once.
    refused("callback replayed", s.send(s.client.get(&back)), 400);

    let c = ok("detail", oauth(&s, Method::GET, Some(MASTER_TOKEN), &format!("credentials/{component}/main"), None), 200);
    assert_eq!(c["id"], "main");
    assert_eq!(c["authorizedFor"], "Myself");
    assert_eq!(c["oauthVersion"], "2.0");
    assert_eq!(c["appKey"], APP_KEY);
    assert_eq!(c["branchId"], Value::Null);
    assert!(c["creator"]["id"].is_string() && c["creator"]["description"].is_string(), "{c}");
    assert!(c["created"].is_string());
    for key in ["#data", "#appSecret"] {
        assert!(c[key].as_str().unwrap().starts_with("KBC::ProjectSecure::"), "{key}: {c}");
    }
    for leak in [ACCESS, REFRESH, APP_SECRET] {
        assert!(!c.to_string().contains(leak), "{leak} shown: {c}");
    }

    // Without returnUrl the callback answers the credentials; a bad code is the provider's refusal.
    let start = b
        .post(format!("{}/oauth/authorize/{component}", s.url))
        .header("X-StorageApi-Token", MASTER_TOKEN)
        .form(&[("id", "second"), ("authorizedFor", "Other")])
        .send()
        .unwrap();
    assert_eq!(start.status().as_u16(), 302);
    let state = parse_form(location(&start).split_once('?').unwrap().1)["state"].clone();
    let bad = s.send(s.client.get(format!("{callback}?code=wrong&state={}", common::urlencode(&state))));
    refused("wrong code", bad, 400);
    refused("unknown state", s.send(s.client.get(format!("{callback}?code={CODE}&state=nope"))), 400);
    refused("no code", s.send(s.client.get(format!("{callback}?state=nope"))), 400);
    refused("provider error", s.send(s.client.get(format!("{callback}?error=access_denied&state=nope"))), 400);
    let start = b.post(format!("{}/oauth/authorize/{component}", s.url)).form(&[("token", MASTER_TOKEN), ("id", "second"), ("authorizedFor", "Other")]).send().unwrap();
    let at_provider = b.get(location(&start)).send().unwrap();
    let json_done = s.send(s.client.get(location(&at_provider)));
    let c = ok("callback without returnUrl", json_done, 200);
    assert_eq!((c["id"].as_str(), c["authorizedFor"].as_str()), (Some("second"), Some("Other")));

    // Starts that cannot go on.
    let post = |form: &[(&str, &str)], comp: &str| s.send(b.post(format!("{}/oauth/authorize/{comp}", s.url)).form(form));
    refused("no token", post(&[("id", "x")], component), 401);
    refused("bad token", post(&[("token", "1-1-nope"), ("id", "x")], component), 401);
    refused("no id", post(&[("token", MASTER_TOKEN)], component), 400);
    refused("no app", post(&[("token", MASTER_TOKEN), ("id", "x")], "no.such-app"), 404);
    refused("bad return URL", post(&[("token", MASTER_TOKEN), ("id", "x"), ("returnUrl", "javascript:x")], component), 400);
}

#[test]
fn credentials_are_kept_per_project_and_only_admins_change_them() {
    let (s, _dir) = common::start_with_projects(&[(2, "Second", P2_MASTER)]);
    let component = "test.oauth-crud";
    register_app(&s, component, "http://provider.example");
    let path = format!("credentials/{component}");

    let created = ok(
        "add",
        oauth(&s, Method::POST, Some(MASTER_TOKEN), &path, Some(json!({"id": "main", "authorizedFor": "me@example.com", "data": {"access_token": ACCESS}}))),
        201,
    );
    assert_eq!(created["id"], "main");
    assert!(created["#data"].as_str().unwrap().starts_with("KBC::ProjectSecure::"), "{created}");
    assert!(!created.to_string().contains(ACCESS));
    ok("add form", s.send(s.client.post(format!("{}/oauth/{path}", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).form(&[("id", "alt"), ("authorizedFor", "x"), ("#data", "{\"token\":\"t\"}")])), 201);
    refused("twice", oauth(&s, Method::POST, Some(MASTER_TOKEN), &path, Some(json!({"id": "main", "authorizedFor": "x", "#data": "{}"}))), 400);

    let list = ok("list", oauth(&s, Method::GET, Some(MASTER_TOKEN), &path, None), 200);
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["alt", "main"]);
    let all = ok("all", oauth(&s, Method::GET, Some(MASTER_TOKEN), "credentials", None), 200);
    assert_eq!(all.as_array().unwrap().len(), 2);
    let filtered = ok("filtered", oauth(&s, Method::GET, Some(MASTER_TOKEN), "credentials?componentId=other", None), 200);
    assert!(filtered.as_array().unwrap().is_empty());

    // Another project sees none of them and cannot delete them.
    assert!(ok("p2 list", oauth(&s, Method::GET, Some(P2_MASTER), &path, None), 200).as_array().unwrap().is_empty());
    assert!(ok("p2 all", oauth(&s, Method::GET, Some(P2_MASTER), "credentials", None), 200).as_array().unwrap().is_empty());
    refused("p2 detail", oauth(&s, Method::GET, Some(P2_MASTER), &format!("{path}/main"), None), 404);
    refused("p2 delete", oauth(&s, Method::DELETE, Some(P2_MASTER), &format!("{path}/main"), None), 404);
    ok("p2 own", oauth(&s, Method::POST, Some(P2_MASTER), &path, Some(json!({"id": "main", "authorizedFor": "p2", "#data": "{}"}))), 201);
    assert_eq!(ok("p1 keeps its own", oauth(&s, Method::GET, Some(MASTER_TOKEN), &format!("{path}/main"), None), 200)["authorizedFor"], "me@example.com");

    // A token without the admin role reads but does not change.
    let (st, t) = s.post_json("tokens", json!({"description": "read only"}));
    assert_eq!(st, 201, "{t}");
    let reader = t["token"].as_str().unwrap();
    ok("reader lists", oauth(&s, Method::GET, Some(reader), &path, None), 200);
    refused("reader adds", oauth(&s, Method::POST, Some(reader), &path, Some(json!({"id": "r", "authorizedFor": "x", "#data": "{}"}))), 403);
    refused("reader deletes", oauth(&s, Method::DELETE, Some(reader), &format!("{path}/main"), None), 403);
    refused("no token", oauth(&s, Method::GET, None, &path, None), 401);

    // Bad input.
    refused("no app", oauth(&s, Method::POST, Some(MASTER_TOKEN), "credentials/no.app", Some(json!({"id": "x", "authorizedFor": "x", "#data": "{}"}))), 404);
    refused("no id", oauth(&s, Method::POST, Some(MASTER_TOKEN), &path, Some(json!({"authorizedFor": "x", "#data": "{}"}))), 422);
    refused("no data", oauth(&s, Method::POST, Some(MASTER_TOKEN), &path, Some(json!({"id": "x", "authorizedFor": "x"}))), 422);
    refused("id of wrong type", oauth(&s, Method::POST, Some(MASTER_TOKEN), &path, Some(json!({"id": {"a": 1}, "#data": "{}"}))), 422);
    refused("unknown", oauth(&s, Method::GET, Some(MASTER_TOKEN), &format!("{path}/nope"), None), 404);
    refused("list of a component without an app", oauth(&s, Method::GET, Some(MASTER_TOKEN), "credentials/no.app", None), 404);

    assert_eq!(oauth(&s, Method::DELETE, Some(MASTER_TOKEN), &format!("{path}/main"), None).0, 204);
    refused("deleted", oauth(&s, Method::GET, Some(MASTER_TOKEN), &format!("{path}/main"), None), 404);
    assert_eq!(ok("p2 untouched", oauth(&s, Method::GET, Some(P2_MASTER), &format!("{path}/main"), None), 200)["authorizedFor"], "p2");
}

/// Events of a job's run (its log).
fn job_log(s: &Server, job_id: &str) -> String {
    let (st, ev) = s.get(&format!("events?runId={job_id}&limit=1000"));
    assert_eq!(st, 200, "{ev}");
    ev.as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap_or("").to_string()).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_job_gets_the_credentials_opened_and_hides_the_tokens() {
    let s = Server::start_with_env(&[("KBSTACK_KEEP_JOB_DATA", "1")]);
    let component = "test.oauth-echo";
    register_app(&s, component, "http://provider.example");
    let data = json!({"access_token": ACCESS, "refresh_token": REFRESH, "token_type": "bearer"});
    ok(
        "add",
        oauth(&s, Method::POST, Some(MASTER_TOKEN), &format!("credentials/{component}"), Some(json!({"id": "main", "authorizedFor": "Myself", "#data": data.to_string()}))),
        201,
    );
    // The component prints its config.json and the access token alone.
    register(&s, component, sh("cat config.json; echo; grep -o 'provider-access-token-[0-9]*' config.json"));
    create_config(&s, component, "c", json!({"authorization": {"oauth_api": {"id": "main", "version": 3}}, "parameters": {"x": 1}}), vec![], false);
    let job = create_job(&s, json!({"component": component, "config": "c"}));
    let done = wait_finished(&s, &id(&job), 60);
    assert_eq!(done["status"], "success", "{done}");
    let config: Value = serde_json::from_slice(&std::fs::read(s.node_path(&format!("job-data/{}/data/config.json", id(&job)))).unwrap()).unwrap();
    let c = &config["authorization"]["oauth_api"]["credentials"];
    assert_eq!(config["authorization"]["oauth_api"]["id"], "main", "{config}");
    assert_eq!(c["id"], "main");
    assert_eq!(c["authorizedFor"], "Myself");
    assert_eq!(c["oauthVersion"], "2.0");
    assert_eq!(c["appKey"], APP_KEY);
    assert!(c["creator"]["id"].is_string() && c["created"].is_string(), "{c}");
    assert_eq!(c["#appSecret"], APP_SECRET, "opened for the component: {c}");
    let opened: Value = serde_json::from_str(c["#data"].as_str().unwrap()).unwrap();
    assert_eq!(opened, data, "#data is the provider's answer as a JSON text");
    assert!(c.get("branchId").is_none(), "{c}");

    let log = job_log(&s, &id(&job));
    assert!(log.contains("[hidden]"), "{log}");
    assert!(log.contains("oauth_api"), "the component's output is in the log: {log}");
    for leak in [ACCESS, REFRESH, APP_SECRET] {
        assert!(!log.contains(leak), "{leak} in the job log: {log}");
    }
    assert!(!done.to_string().contains(ACCESS), "{done}");

    // Credentials that are not there fail the job as the user's error, naming them.
    create_config(&s, component, "missing", json!({"authorization": {"oauth_api": {"id": "gone"}}}), vec![], false);
    let job = create_job(&s, json!({"component": component, "config": "missing"}));
    let done = wait_finished(&s, &id(&job), 60);
    assert_eq!(done["status"], "error", "{done}");
    assert_eq!(done["result"]["error"]["type"], "user", "{done}");
    assert!(done["result"]["message"].as_str().unwrap().contains("\"gone\""), "{done}");
}

#[test]
fn a_sync_action_gets_the_credentials_too() {
    let s = Server::start();
    let component = "keboola.runner-config-test";
    register_app(&s, component, "http://provider.example");
    let data = json!({"access_token": ACCESS}).to_string();
    ok("add", oauth(&s, Method::POST, Some(MASTER_TOKEN), &format!("credentials/{component}"), Some(json!({"id": "main", "authorizedFor": "me", "#data": data}))), 201);
    let act = |id: &str| {
        let body = json!({"componentId": component, "action": "dumpConfig", "configData": {"authorization": {"oauth_api": {"id": id}}, "parameters": {}}});
        s.send(s.client.post(format!("{}/sync-actions/actions", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body))
    };
    let (st, config) = act("main");
    assert_eq!(st, 201, "{config}");
    let c = &config["authorization"]["oauth_api"]["credentials"];
    assert_eq!((c["#data"].as_str(), c["#appSecret"].as_str()), (Some(data.as_str()), Some(APP_SECRET)), "{config}");
    let (st, b) = act("gone");
    assert_eq!((st, b["error"].as_str()), (400, Some("User error")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("\"gone\""), "{b}");
}
