//! The Developer Portal through the real binary: accounts and login, vendors and apps with their
//! checks, one vendor's user kept off another's apps, publishing into the component registry, a
//! Queue job of the published process app, new versions and rollback changing what runs.
mod common;
mod queue_support;

use common::Server;
use queue_support::*;
use reqwest::Method;
use serde_json::{Value, json};

fn dev(s: &Server, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, format!("{}/developer{path}", s.url));
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

fn ok(what: &str, (status, body): (u16, Value), expected: u16) -> Value {
    assert_eq!(status, expected, "{what}: {body}");
    body
}

/// A refusal in the portal's envelope with the status.
fn refused(what: &str, (status, body): (u16, Value), expected: u16) -> Value {
    assert_eq!(status, expected, "{what}: {body}");
    assert!(body["errorMessage"].is_string() && body["errorType"].is_string() && body["requestId"].is_string(), "{what}: envelope {body}");
    body
}

fn login(s: &Server, email: &str, password: &str) -> String {
    let b = ok("login", dev(s, Method::POST, "/auth/login", None, Some(json!({"email": email, "password": password}))), 200);
    assert!(b["accessToken"].is_string() && b["refreshToken"].is_string() && b["expiresIn"] == 3600, "{b}");
    b["token"].as_str().unwrap().to_string()
}

fn admin_login(s: &Server) -> String {
    let password = std::fs::read_to_string(s.data_dir.join("developer-admin-password")).expect("admin password file");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.data_dir.join("developer-admin-password")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the admin password file is the owner's only");
    login(s, "admin@kbstack.local", password.trim())
}

/// Log text without the terminal's colour sequences.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The code the server logged for `email` after `marker`.
fn logged_code(s: &Server, marker: &str, email: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log = plain(&s.log_text());
        if let Some(line) = log.lines().rev().find(|l| l.contains(marker) && l.contains(email)) {
            let after = line.split("code=").nth(1).expect("a code field");
            return after.trim_start_matches('"').chars().take_while(|c| c.is_ascii_digit()).collect();
        }
        assert!(std::time::Instant::now() < deadline, "no {marker:?} logged for {email}: {log}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn accounts_sign_up_confirm_log_in_refresh_and_log_out() {
    let s = Server::start_logging(&[]);
    let admin = admin_login(&s);
    refused("wrong password", dev(&s, Method::POST, "/auth/login", None, Some(json!({"email": "admin@kbstack.local", "password": "Wrong1234"}))), 401);
    refused("unknown user", dev(&s, Method::POST, "/auth/login", None, Some(json!({"email": "nobody@x.test", "password": "Wrong1234"}))), 401);
    refused("no password", dev(&s, Method::POST, "/auth/login", None, Some(json!({"email": "admin@kbstack.local"}))), 400);
    let me = ok("profile", dev(&s, Method::GET, "/auth/profile", Some(&admin), None), 200);
    assert_eq!(me["isAdmin"], true, "{me}");
    let bearer = format!("Bearer {admin}");
    ok("Bearer form", dev(&s, Method::GET, "/auth/profile", Some(&bearer), None), 200);
    refused("no token", dev(&s, Method::GET, "/auth/profile", None, None), 401);
    refused("bad token", dev(&s, Method::GET, "/auth/profile", Some("nope"), None), 401);

    refused("weak password", dev(&s, Method::POST, "/auth/signup", None, Some(json!({"name": "Ann", "email": "ann@x.test", "password": "weak"}))), 400);
    refused("bad email", dev(&s, Method::POST, "/auth/signup", None, Some(json!({"name": "Ann", "email": "ann", "password": "Secret123"}))), 400);
    ok("signup", dev(&s, Method::POST, "/auth/signup", None, Some(json!({"name": "Ann", "email": "Ann@X.test", "password": "Secret123"}))), 201);
    refused("again", dev(&s, Method::POST, "/auth/signup", None, Some(json!({"name": "Ann", "email": "ann@x.test", "password": "Secret123"}))), 400);
    refused("unconfirmed", dev(&s, Method::POST, "/auth/login", None, Some(json!({"email": "ann@x.test", "password": "Secret123"}))), 401);
    let code = logged_code(&s, "confirmation code", "ann@x.test");
    assert_eq!(code.len(), 6, "{code}");
    refused("wrong code", dev(&s, Method::POST, "/auth/confirm/ann@x.test/000000x", None, None), 400);
    ok("confirm", dev(&s, Method::POST, &format!("/auth/confirm/ann@x.test/{code}"), None, None), 200);
    let b = ok("login", dev(&s, Method::POST, "/auth/login", None, Some(json!({"email": "ann@x.test", "password": "Secret123"}))), 200);
    let (token, refresh) = (b["token"].as_str().unwrap().to_string(), b["refreshToken"].as_str().unwrap().to_string());
    let me = ok("profile", dev(&s, Method::GET, "/auth/profile", Some(&token), None), 200);
    assert_eq!((me["email"].as_str(), me["isAdmin"].as_bool(), me["vendors"].clone()), (Some("ann@x.test"), Some(false), json!([])), "{me}");
    refused("a refresh token is not an auth token", dev(&s, Method::GET, "/auth/profile", Some(&refresh), None), 401);
    let fresh = ok("refresh", dev(&s, Method::GET, "/auth/token", Some(&refresh), None), 200);
    ok("refreshed token", dev(&s, Method::GET, "/auth/profile", Some(fresh["token"].as_str().unwrap()), None), 200);
    refused("admin only", dev(&s, Method::GET, "/admin/users", Some(&token), None), 403);
    let users = ok("admin users", dev(&s, Method::GET, "/admin/users", Some(&admin), None), 200);
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
    ok("logout", dev(&s, Method::POST, "/auth/logout", Some(&token), None), 204);
    refused("logged out", dev(&s, Method::GET, "/auth/profile", Some(&token), None), 401);
    refused("refresh after logout", dev(&s, Method::GET, "/auth/token", Some(&refresh), None), 401);

    // Password reset with the logged code.
    ok("forgot", dev(&s, Method::POST, "/auth/forgot/ann@x.test", None, None), 204);
    let code = logged_code(&s, "password reset code", "ann@x.test");
    refused("weak new password", dev(&s, Method::POST, "/auth/forgot/ann@x.test/confirm", None, Some(json!({"code": code, "password": "x"}))), 400);
    ok("reset", dev(&s, Method::POST, "/auth/forgot/ann@x.test/confirm", None, Some(json!({"code": code, "password": "Another123"}))), 204);
    login(&s, "ann@x.test", "Another123");
}

fn usage_of_job(s: &Server, component: &str) -> Value {
    let j = create_job(s, json!({"component": component, "mode": "run", "configData": {"parameters": {}}}));
    let done = wait_finished(s, &id(&j), 60);
    assert_eq!(done["status"], "success", "{done}");
    done["usageData"].clone()
}

fn registry_entry(s: &Server, id: &str) -> (u16, Value) {
    s.send(s.client.get(s.api(&format!("components/{id}"))))
}

fn process_repository(tag: &str, value: i64) -> Value {
    json!({"type": "process", "uri": "local/hello", "tag": tag,
           "options": {"command": format!("echo hello-{tag}; echo '[{{\"metric\": \"v\", \"value\": {value}}}]' > out/usage.json")}})
}

#[test]
fn vendors_and_apps_publish_into_the_registry_and_run_on_the_queue() {
    let s = Server::start_with_env(&[("KBSTACK_DEVELOPER_AUTO_CONFIRM", "true")]);
    let admin = admin_login(&s);
    let index = ok("index", s.get(""), 200);
    assert!(index["services"].as_array().unwrap().iter().any(|x| x["id"] == "developer"), "listed in the index");

    // Vendors: made by the administrator (approved), listed publicly.
    for (id, name) in [("acme", "Acme"), ("beta", "Beta")] {
        let v = ok("vendor", dev(&s, Method::POST, "/admin/vendors", Some(&admin), Some(json!({"id": id, "name": name, "address": "Street 1", "email": format!("info@{id}.test")}))), 201);
        assert_eq!(v["isApproved"], true, "{v}");
    }
    refused("duplicate vendor", dev(&s, Method::POST, "/admin/vendors", Some(&admin), Some(json!({"id": "acme", "name": "A", "address": "S", "email": "a@a.test"}))), 400);
    refused("bad vendor id", dev(&s, Method::POST, "/admin/vendors", Some(&admin), Some(json!({"id": "A!", "name": "A", "address": "S", "email": "a@a.test"}))), 400);
    let listed = ok("vendors", dev(&s, Method::GET, "/vendors", None, None), 200);
    assert_eq!(listed.as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect::<Vec<_>>(), vec!["acme", "beta"]);
    refused("vendors need a login", dev(&s, Method::POST, "/vendors", None, Some(json!({"name": "X", "address": "S", "email": "x@x.test"}))), 401);

    // A user's own vendor waits for approval and is not listed until then.
    for (email, vendor) in [("alice@acme.test", "acme"), ("bob@beta.test", "beta")] {
        ok("signup", dev(&s, Method::POST, "/auth/signup", None, Some(json!({"name": email, "email": email, "password": "Secret123"}))), 201);
        ok("add to vendor", dev(&s, Method::POST, &format!("/admin/users/{email}/vendors/{vendor}"), Some(&admin), None), 204);
    }
    let alice = login(&s, "alice@acme.test", "Secret123");
    let bob = login(&s, "bob@beta.test", "Secret123");
    let own = ok("own vendor", dev(&s, Method::POST, "/vendors", Some(&bob), Some(json!({"name": "Bob's", "address": "S", "email": "b@b.test"}))), 201);
    assert_eq!(own["isApproved"], false, "{own}");
    assert_eq!(ok("vendors", dev(&s, Method::GET, "/vendors", None, None), 200).as_array().unwrap().len(), 2, "an unapproved vendor is not listed");

    // Apps: checked field by field.
    let app = json!({"id": "ex-hello", "name": "Hello", "type": "extractor", "shortDescription": "Says hello",
                     "repository": process_repository("1.0.0", 1), "processTimeout": 60, "uiOptions": ["genericDockerUI"],
                     "configurationSchema": {"type": "object", "properties": {}}});
    for (what, bad) in [
        ("no type", json!({"id": "ex-x", "name": "X"})),
        ("bad type", json!({"id": "ex-x", "name": "X", "type": "robot"})),
        ("bad id", json!({"id": "Ex X!", "name": "X", "type": "writer"})),
        ("process without command", json!({"id": "ex-x", "name": "X", "type": "writer", "repository": {"type": "process"}})),
        ("schema not an object", json!({"id": "ex-x", "name": "X", "type": "writer", "configurationSchema": "x"})),
        ("timeout", json!({"id": "ex-x", "name": "X", "type": "writer", "processTimeout": -1})),
    ] {
        refused(what, dev(&s, Method::POST, "/vendors/acme/apps", Some(&alice), Some(bad)), 400);
    }
    let created = ok("create app", dev(&s, Method::POST, "/vendors/acme/apps", Some(&alice), Some(app.clone())), 201);
    assert_eq!((created["id"].as_str(), created["version"].as_i64(), created["vendor"].as_str()), (Some("acme.ex-hello"), Some(1), Some("acme")), "{created}");
    refused("duplicate app", dev(&s, Method::POST, "/vendors/acme/apps", Some(&alice), Some(app.clone())), 400);
    refused("unknown vendor", dev(&s, Method::POST, "/vendors/nobody/apps", Some(&admin), Some(json!({"id": "ex-x", "name": "X", "type": "other"}))), 404);
    ok("vendor keboola", dev(&s, Method::POST, "/admin/vendors", Some(&admin), Some(json!({"id": "keboola", "name": "K", "address": "S", "email": "k@k.test"}))), 201);
    let taken = refused("a builtin's id", dev(&s, Method::POST, "/vendors/keboola/apps", Some(&admin), Some(json!({"id": "runner-config-test", "name": "X", "type": "other"}))), 400);
    assert!(taken["errorMessage"].as_str().unwrap().contains("taken"), "{taken}");
    let patched = ok("patch", dev(&s, Method::PATCH, "/vendors/acme/apps/ex-hello", Some(&alice), Some(json!({"longDescription": "Longer"}))), 200);
    assert_eq!(patched["version"], 2, "{patched}");
    refused("bad patch", dev(&s, Method::PATCH, "/vendors/acme/apps/acme.ex-hello", Some(&alice), Some(json!({"defaultBucketStage": "sys"}))), 400);
    let listed = ok("vendor apps", dev(&s, Method::GET, "/vendors/acme/apps", Some(&alice), None), 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Bob (vendor beta) cannot touch acme's apps.
    refused("list other vendor", dev(&s, Method::GET, "/vendors/acme/apps", Some(&bob), None), 403);
    refused("patch other vendor", dev(&s, Method::PATCH, "/vendors/acme/apps/ex-hello", Some(&bob), Some(json!({"name": "Pwned"}))), 403);
    refused("publish other vendor", dev(&s, Method::POST, "/vendors/acme/apps/ex-hello/publish", Some(&bob), None), 403);
    refused("delete other vendor", dev(&s, Method::DELETE, "/vendors/acme/apps/ex-hello", Some(&bob), None), 403);
    refused("through his own vendor", dev(&s, Method::GET, "/vendors/beta/apps/acme.ex-hello", Some(&bob), None), 404);
    refused("no token", dev(&s, Method::GET, "/vendors/acme/apps", None, None), 401);
    refused("admin approval is the admin's", dev(&s, Method::POST, "/admin/apps/acme.ex-hello/publish", Some(&alice), None), 403);

    // Publishing: requested by the vendor, live once the administrator approves.
    assert_eq!(registry_entry(&s, "acme.ex-hello").0, 404, "not in the registry before publishing");
    let requested = ok("publish", dev(&s, Method::POST, "/vendors/acme/apps/ex-hello/publish", Some(&alice), None), 200);
    assert_eq!(requested["publishingStatus"], "requested", "{requested}");
    assert_eq!(registry_entry(&s, "acme.ex-hello").0, 404, "not before approval");
    let pending = ok("admin apps", dev(&s, Method::GET, "/admin/apps?filter=unapproved", Some(&admin), None), 200);
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    let approved = ok("approve", dev(&s, Method::POST, "/admin/apps/acme.ex-hello/publish", Some(&admin), None), 200);
    assert_eq!((approved["publishedVersion"].as_i64(), approved["isPublic"].as_bool()), (Some(2), Some(true)), "{approved}");
    let entry = ok("registry", registry_entry(&s, "acme.ex-hello"), 200);
    assert_eq!(entry["type"], "extractor");
    assert_eq!(entry["name"], "Hello");
    assert_eq!(entry["description"], "Says hello");
    assert_eq!(entry["longDescription"], "Longer");
    assert_eq!(entry["version"], 2);
    assert_eq!(entry["flags"], json!(["genericDockerUI"]));
    assert_eq!(entry["configurationSchema"]["type"], "object");
    assert_eq!(entry["data"]["definition"]["type"], "process");
    assert_eq!(entry["data"]["definition"]["tag"], "1.0.0");
    assert_eq!(entry["data"]["process_timeout"], 60);
    assert!(entry["uri"].as_str().unwrap().ends_with("/v2/storage/components/acme.ex-hello"), "{entry}");
    let index = ok("index", s.get(""), 200);
    assert!(index["components"].as_array().unwrap().iter().any(|c| c["id"] == "acme.ex-hello"), "listed in the index");
    let public = ok("public apps", dev(&s, Method::GET, "/apps", None, None), 200);
    assert_eq!(public.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect::<Vec<_>>(), vec!["acme.ex-hello"]);
    ok("public app", dev(&s, Method::GET, "/apps/acme.ex-hello", None, None), 200);

    // The Queue runs the published process.
    assert_eq!(usage_of_job(&s, "acme.ex-hello"), json!([{"metric": "v", "value": 1}]));

    // A new version changes nothing until it is published.
    let v3 = ok("new version", dev(&s, Method::PATCH, "/vendors/acme/apps/ex-hello", Some(&alice), Some(json!({"repository": process_repository("2.0.0", 2)}))), 200);
    assert_eq!(v3["version"], 3);
    assert_eq!(ok("registry", registry_entry(&s, "acme.ex-hello"), 200)["data"]["definition"]["tag"], "1.0.0");
    ok("publish v3", dev(&s, Method::POST, "/vendors/acme/apps/ex-hello/publish", Some(&alice), None), 200);
    ok("approve v3", dev(&s, Method::POST, "/admin/apps/acme.ex-hello/publish", Some(&admin), None), 200);
    let entry = ok("registry", registry_entry(&s, "acme.ex-hello"), 200);
    assert_eq!((entry["data"]["definition"]["tag"].as_str(), entry["version"].as_i64()), (Some("2.0.0"), Some(3)), "{entry}");
    assert_eq!(usage_of_job(&s, "acme.ex-hello"), json!([{"metric": "v", "value": 2}]));

    // Versions, and a rollback by the administrator (applied at once).
    let versions = ok("versions", dev(&s, Method::GET, "/vendors/acme/apps/ex-hello/versions", Some(&alice), None), 200);
    assert_eq!(versions.as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect::<Vec<_>>(), vec![3, 2, 1]);
    let v2 = ok("version 2", dev(&s, Method::GET, "/vendors/acme/apps/ex-hello/versions/2", Some(&alice), None), 200);
    assert_eq!(v2["repository"]["tag"], "1.0.0", "{v2}");
    refused("no version 99", dev(&s, Method::GET, "/vendors/acme/apps/ex-hello/versions/99", Some(&alice), None), 404);
    let rolled = ok("rollback", dev(&s, Method::POST, "/vendors/acme/apps/ex-hello/versions/2/rollback", Some(&admin), None), 201);
    assert_eq!((rolled["version"].as_i64(), rolled["publishedVersion"].as_i64()), (Some(4), Some(4)), "{rolled}");
    let entry = ok("registry", registry_entry(&s, "acme.ex-hello"), 200);
    assert_eq!((entry["data"]["definition"]["tag"].as_str(), entry["version"].as_i64()), (Some("1.0.0"), Some(4)), "{entry}");
    assert_eq!(usage_of_job(&s, "acme.ex-hello"), json!([{"metric": "v", "value": 1}]));

    // A vendor's rollback is a request: what runs stays until approved.
    let asked = ok("vendor rollback", dev(&s, Method::POST, "/vendors/acme/apps/ex-hello/versions/3/rollback", Some(&alice), None), 201);
    assert_eq!((asked["version"].as_i64(), asked["publishingStatus"].as_str()), (Some(5), Some("requested")), "{asked}");
    assert_eq!(ok("registry", registry_entry(&s, "acme.ex-hello"), 200)["data"]["definition"]["tag"], "1.0.0");

    // Deprecation flags the entry; deletion takes it out of the registry.
    let dep = ok("deprecate", dev(&s, Method::POST, "/vendors/acme/apps/ex-hello/deprecate", Some(&alice), Some(json!({"expiredOn": "2030-01-01"}))), 200);
    assert_eq!((dep["isDeprecated"].as_bool(), dep["isPublic"].as_bool()), (Some(true), Some(false)), "{dep}");
    refused("bad date", dev(&s, Method::POST, "/vendors/acme/apps/ex-hello/deprecate", Some(&alice), Some(json!({"expiredOn": "soon"}))), 400);
    let entry = ok("registry", registry_entry(&s, "acme.ex-hello"), 200);
    assert!(entry["flags"].as_array().unwrap().contains(&json!("deprecated")), "{entry}");
    ok("delete", dev(&s, Method::DELETE, "/vendors/acme/apps/ex-hello", Some(&alice), None), 200);
    assert_eq!(registry_entry(&s, "acme.ex-hello").0, 404, "gone from the registry");
}

#[test]
fn vendor_members_invitations_and_service_accounts() {
    let s = Server::start_logging(&[("KBSTACK_DEVELOPER_AUTO_CONFIRM", "true")]);
    let admin = admin_login(&s);
    ok("vendor", dev(&s, Method::POST, "/admin/vendors", Some(&admin), Some(json!({"id": "acme", "name": "Acme", "address": "S", "email": "i@acme.test"}))), 201);
    for email in ["carl@x.test", "dana@x.test"] {
        ok("signup", dev(&s, Method::POST, "/auth/signup", None, Some(json!({"name": "U", "email": email, "password": "Secret123"}))), 201);
    }
    ok("add carl", dev(&s, Method::POST, "/admin/users/carl@x.test/vendors/acme", Some(&admin), None), 204);
    let carl = login(&s, "carl@x.test", "Secret123");
    let dana = login(&s, "dana@x.test", "Secret123");
    // Dana asks to join, Carl accepts.
    ok("request", dev(&s, Method::POST, "/vendors/acme/users", Some(&dana), None), 204);
    refused("not yet a member", dev(&s, Method::GET, "/vendors/acme/users", Some(&dana), None), 403);
    let requests = ok("requests", dev(&s, Method::GET, "/vendors/acme/user-requests", Some(&carl), None), 200);
    assert_eq!(requests[0]["username"], "dana@x.test", "{requests}");
    ok("accept", dev(&s, Method::POST, "/vendors/acme/users/dana@x.test", Some(&carl), None), 204);
    let users = ok("users", dev(&s, Method::GET, "/vendors/acme/users", Some(&dana), None), 200);
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
    ok("remove", dev(&s, Method::DELETE, "/vendors/acme/users/dana@x.test", Some(&carl), None), 204);
    refused("removed", dev(&s, Method::GET, "/vendors/acme/apps", Some(&dana), None), 403);
    // An invitation link (logged) makes a member.
    ok("invite", dev(&s, Method::POST, "/vendors/acme/invitations/dana@x.test", Some(&carl), None), 204);
    let log = plain(&s.log_text());
    let link = log.lines().rev().find(|l| l.contains("invitation to a vendor")).expect("invitation logged");
    let code = link.split("/invitations/dana@x.test/").nth(1).unwrap().trim_end_matches('"').split(['"', ' ']).next().unwrap().to_string();
    refused("wrong code", dev(&s, Method::GET, "/vendors/acme/invitations/dana@x.test/nope", None, None), 404);
    let (st, _) = dev(&s, Method::GET, &format!("/vendors/acme/invitations/dana@x.test/{code}"), None, None);
    assert_eq!(st, 200);
    ok("member again", dev(&s, Method::GET, "/vendors/acme/apps", Some(&dana), None), 200);
    // A service account logs in with its generated password.
    let sa = ok("service account", dev(&s, Method::POST, "/vendors/acme/credentials", Some(&carl), Some(json!({"name": "ci_bot", "description": "CI"}))), 200);
    assert_eq!(sa["username"], "service.acme.ci_bot", "{sa}");
    let token = login(&s, "service.acme.ci_bot", sa["password"].as_str().unwrap());
    ok("service lists apps", dev(&s, Method::GET, "/vendors/acme/apps", Some(&token), None), 200);
    let services = ok("service accounts", dev(&s, Method::GET, "/vendors/acme/users?service=1", Some(&carl), None), 200);
    assert_eq!(services.as_array().unwrap().len(), 1, "{services}");
    refused("bad name", dev(&s, Method::POST, "/vendors/acme/credentials", Some(&carl), Some(json!({"name": "no spaces allowed"}))), 400);
}

#[test]
fn published_apps_and_the_administrator_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path());
    let admin = admin_login(&s);
    ok("vendor", dev(&s, Method::POST, "/admin/vendors", Some(&admin), Some(json!({"id": "acme", "name": "Acme", "address": "S", "email": "i@acme.test"}))), 201);
    let app = json!({"id": "ex-kept", "name": "Kept", "type": "extractor", "repository": process_repository("1.0.0", 7)});
    ok("app", dev(&s, Method::POST, "/vendors/acme/apps", Some(&admin), Some(app)), 201);
    let published = ok("publish", dev(&s, Method::POST, "/vendors/acme/apps/ex-kept/publish", Some(&admin), None), 200);
    assert_eq!(published["publishedVersion"], 1, "an administrator's publish applies at once: {published}");
    s.kill();
    let s = Server::start_in(dir.path());
    assert!(!s.stdout.lock().unwrap().iter().any(|l| l.starts_with("developer portal admin")), "no second administrator");
    admin_login(&s);
    assert_eq!(ok("registry", registry_entry(&s, "acme.ex-kept"), 200)["name"], "Kept");
    assert_eq!(usage_of_job(&s, "acme.ex-kept"), json!([{"metric": "v", "value": 7}]));
}
