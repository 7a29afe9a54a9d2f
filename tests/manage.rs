//! The Management API through the real binary: manage tokens, projects made through `/manage`
//! as full Storage projects, features and limits that show in `tokens/verify`, members and
//! invitations, deleted projects, and the refusals.
mod common;

use common::{MANAGE_TOKEN, MASTER_TOKEN, Server, call, manage, ok};
use reqwest::Method;
use serde_json::{Value, json};

fn create_project(s: &Server, name: &str) -> (i64, String) {
    let p = ok("create project", manage(s, Method::POST, MANAGE_TOKEN, "/manage/organizations/1/projects", Some(json!({"name": name}))), 201);
    (p["id"].as_i64().unwrap(), p["masterToken"]["token"].as_str().unwrap().to_string())
}

fn feature(s: &Server, name: &str, kind: &str) {
    ok("feature", manage(s, Method::POST, MANAGE_TOKEN, "/manage/features", Some(json!({"name": name, "type": kind, "title": name}))), 201);
}

/// A personal manage token for `email` (made by the super admin).
fn user_token(s: &Server, email: &str) -> String {
    let t = ok(
        "user token",
        manage(s, Method::POST, MANAGE_TOKEN, "/manage/tokens", Some(json!({"description": "pat", "userEmail": email}))),
        201,
    );
    t["token"].as_str().unwrap().to_string()
}

#[test]
fn the_super_admin_token_verifies_and_the_stack_starts_with_organization_1() {
    let s = Server::start();
    let v = ok("verify", manage(&s, Method::GET, MANAGE_TOKEN, "/manage/tokens/verify", None), 200);
    assert_eq!(v["type"], "admin");
    assert_eq!(v["user"]["email"], "admin@kbstack.local");
    assert_eq!(v["user"]["isSuperAdmin"], true);
    assert!(v.get("token").is_none(), "the secret is never echoed: {v}");
    let (st, e) = manage(&s, Method::GET, "nope", "/manage/tokens/verify", None);
    assert_eq!((st, e["code"].as_str()), (401, Some("storage.tokenInvalid")), "{e}");
    let (st, _) = s.send(s.client.get(format!("{}/manage/tokens/verify", s.url)));
    assert_eq!(st, 401);
    // A Storage token is not a manage token.
    let (st, _) = manage(&s, Method::GET, MASTER_TOKEN, "/manage/tokens/verify", None);
    assert_eq!(st, 401);

    let org = ok("org", manage(&s, Method::GET, MANAGE_TOKEN, "/manage/organizations/1", None), 200);
    assert_eq!(org["projects"][0]["id"], 1, "project 1 belongs to organization 1: {org}");
    let p1 = ok("project 1", manage(&s, Method::GET, MANAGE_TOKEN, "/manage/projects/1", None), 200);
    assert_eq!((p1["organization"]["id"].as_i64(), p1["limits"]["components.jobsParallelism"]["value"].as_i64()), (Some(1), Some(10)), "{p1}");
    let token_file = std::fs::read_to_string(s.data_dir.join("manage-token")).unwrap();
    assert_eq!(token_file, MANAGE_TOKEN);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(s.data_dir.join("manage-token")).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn projects_made_through_manage_are_separate_storage_projects() {
    let s = Server::start();
    let (a, token_a) = create_project(&s, "Alpha");
    let (b, token_b) = create_project(&s, "Beta");
    assert_ne!(a, b);
    let va = ok("verify a", call(&s, Method::GET, &token_a, "tokens/verify", None), 200);
    assert_eq!((va["owner"]["id"].as_i64(), va["owner"]["name"].as_str(), va["isMasterToken"].as_bool()), (Some(a), Some("Alpha"), Some(true)));
    assert_eq!(va["organization"]["id"], "1");
    // Each has its own default branch and data.
    let branches = ok("branches", call(&s, Method::GET, &token_a, "dev-branches", None), 200);
    assert_eq!((branches.as_array().unwrap().len(), &branches[0]["isDefault"]), (1, &json!(true)));
    ok("bucket in a", call(&s, Method::POST, &token_a, "buckets", Some(json!({"name": "only-a", "stage": "in"}))), 201);
    let listed = ok("b's buckets", call(&s, Method::GET, &token_b, "buckets", None), 200);
    assert_eq!(listed, json!([]));
    let (st, _) = call(&s, Method::GET, &token_b, "buckets/in.c-only-a", None);
    assert_eq!(st, 404);
    let listed = ok("project 1's buckets", call(&s, Method::GET, MASTER_TOKEN, "buckets", None), 200);
    assert!(listed.as_array().unwrap().is_empty(), "{listed}");

    // A Storage token made through /manage works in its project only.
    let t = ok(
        "storage token",
        manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{b}/tokens"), Some(json!({"description": "ci", "canManageBuckets": true}))),
        201,
    );
    assert_eq!((t["isMasterToken"].as_bool(), t["canManageBuckets"].as_bool()), (Some(false), Some(true)), "{t}");
    let vt = ok("verify", call(&s, Method::GET, t["token"].as_str().unwrap(), "tokens/verify", None), 200);
    assert_eq!(vt["owner"]["id"].as_i64(), Some(b));

    let list = ok("org projects", manage(&s, Method::GET, MANAGE_TOKEN, "/manage/organizations/1/projects", None), 200);
    let ids: Vec<i64> = list.as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![1, a, b]);
}

#[test]
fn features_and_limits_show_in_the_projects_tokens() {
    let s = Server::start();
    let (a, token_a) = create_project(&s, "Alpha");
    // Only catalogue features of the right type.
    let (st, e) = manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{a}/features"), Some(json!({"feature": "beta-x"})));
    assert_eq!(st, 404, "{e}");
    feature(&s, "beta-x", "project");
    feature(&s, "ui-beta", "admin");
    let (st, _) = manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{a}/features"), Some(json!({"feature": "ui-beta"})));
    assert_eq!(st, 400);
    let p = ok("add", manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{a}/features"), Some(json!({"feature": "beta-x"}))), 200);
    assert_eq!(p["features"], json!(["beta-x"]));
    let features = |token: &str| ok("verify", call(&s, Method::GET, token, "tokens/verify", None), 200)["owner"]["features"].clone();
    assert!(features(&token_a).as_array().unwrap().contains(&json!("beta-x")));
    assert!(!features(MASTER_TOKEN).as_array().unwrap().contains(&json!("beta-x")), "other projects do not get it");
    ok("remove", manage(&s, Method::DELETE, MANAGE_TOKEN, &format!("/manage/projects/{a}/features/beta-x"), None), 204);
    assert!(!features(&token_a).as_array().unwrap().contains(&json!("beta-x")));
    let catalogue = ok("features", manage(&s, Method::GET, MANAGE_TOKEN, "/manage/features?type=project", None), 200);
    let names: Vec<&str> = catalogue.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["pay-as-you-go", "queuev2", "beta-x"], "the seeded catalogue and the new one: {catalogue}");

    let limits = json!({"limits": [{"name": "components.jobsParallelism", "value": 2}, {"name": "storage.dataSizeBytes", "value": "5000"}]});
    ok("limits", manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{a}/limits"), Some(limits)), 200);
    let owner = ok("verify", call(&s, Method::GET, &token_a, "tokens/verify", None), 200)["owner"].clone();
    assert_eq!(owner["limits"]["components.jobsParallelism"], json!({"name": "components.jobsParallelism", "value": 2}));
    assert_eq!(owner["limits"]["storage.dataSizeBytes"]["value"], 5000);
    ok("remove limit", manage(&s, Method::DELETE, MANAGE_TOKEN, &format!("/manage/projects/{a}/limits/components.jobsParallelism"), None), 204);
    let owner = ok("verify", call(&s, Method::GET, &token_a, "tokens/verify", None), 200)["owner"].clone();
    assert_eq!(owner["limits"]["components.jobsParallelism"]["value"], 10, "back to the default");
    let (st, _) = manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{a}/limits"), Some(json!({"limits": [{"name": "x"}]})));
    assert_eq!(st, 400);
}

#[test]
fn invitations_make_members_and_members_see_only_their_projects() {
    let s = Server::start();
    let (a, _) = create_project(&s, "Alpha");
    let (b, _) = create_project(&s, "Beta");
    let inv = ok(
        "invite",
        manage(
            &s,
            Method::POST,
            MANAGE_TOKEN,
            &format!("/manage/projects/{a}/invitations"),
            Some(json!({"email": "ann@example.com", "role": "guest", "reason": "help"})),
        ),
        201,
    );
    assert_eq!((inv["role"].as_str(), inv["user"]["email"].as_str(), inv["creator"]["email"].as_str()), (Some("guest"), Some("ann@example.com"), Some("admin@kbstack.local")));
    let (st, again) =
        manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{a}/invitations"), Some(json!({"email": "ann@example.com", "role": "guest"})));
    assert_eq!(st, 400);
    assert!(again["error"].as_str().unwrap().contains("already been invited"), "{again}");
    let (st, _) = manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{a}/invitations"), Some(json!({"email": "ann@", "role": "guest"})));
    assert_eq!(st, 400);
    let (st, _) = manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{a}/invitations"), Some(json!({"email": "x@example.com", "role": "king"})));
    assert_eq!(st, 400);
    let listed = ok("invitations", manage(&s, Method::GET, MANAGE_TOKEN, &format!("/manage/projects/{a}/invitations"), None), 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let ann = user_token(&s, "ann@example.com");
    // Not a member yet: the project is not there for her.
    let (st, _) = manage(&s, Method::GET, &ann, &format!("/manage/projects/{a}"), None);
    assert_eq!(st, 404);
    let mine = ok("my invitations", manage(&s, Method::GET, &ann, "/manage/current-user/projects-invitations", None), 200);
    assert_eq!(mine[0]["project"]["id"].as_i64(), Some(a), "{mine}");
    let id = mine[0]["id"].as_i64().unwrap();
    ok("accept", manage(&s, Method::PUT, &ann, &format!("/manage/current-user/projects-invitations/{id}"), Some(json!({}))), 204);
    let (st, _) = manage(&s, Method::PUT, &ann, &format!("/manage/current-user/projects-invitations/{id}"), Some(json!({})));
    assert_eq!(st, 404, "accepted once");
    let users = ok("users", manage(&s, Method::GET, MANAGE_TOKEN, &format!("/manage/projects/{a}/users"), None), 200);
    let roles: Vec<(String, String)> =
        users.as_array().unwrap().iter().map(|u| (u["email"].as_str().unwrap().to_string(), u["role"].as_str().unwrap().to_string())).collect();
    assert!(roles.contains(&("ann@example.com".into(), "guest".into())), "{users}");

    // A guest reads the project, changes nothing, and never sees project B.
    ok("guest reads", manage(&s, Method::GET, &ann, &format!("/manage/projects/{a}"), None), 200);
    let (st, _) = manage(&s, Method::POST, &ann, &format!("/manage/projects/{a}/tokens"), Some(json!({"description": "x"})));
    assert_eq!(st, 403);
    let (st, _) = manage(&s, Method::GET, &ann, &format!("/manage/projects/{b}"), None);
    assert_eq!(st, 404);
    let (st, _) = manage(&s, Method::GET, &ann, "/manage/organizations/1", None);
    assert_eq!(st, 404);
    let (st, _) = manage(&s, Method::POST, &ann, "/manage/features", Some(json!({"name": "x", "type": "project"})));
    assert_eq!(st, 403);
    let (st, _) = manage(&s, Method::GET, &ann, "/manage/users/admin@kbstack.local", None);
    assert_eq!(st, 404);
    ok("self", manage(&s, Method::GET, &ann, "/manage/users/ann@example.com", None), 200);

    // Promoted to admin she administers A.
    let uid = users.as_array().unwrap().iter().find(|u| u["email"] == "ann@example.com").unwrap()["id"].as_i64().unwrap();
    let m = ok("role", manage(&s, Method::PATCH, MANAGE_TOKEN, &format!("/manage/projects/{a}/users/{uid}"), Some(json!({"role": "admin"}))), 200);
    assert_eq!(m["role"], "admin");
    let t = ok("token as admin", manage(&s, Method::POST, &ann, &format!("/manage/projects/{a}/tokens"), Some(json!({"description": "ann"}))), 201);
    assert_eq!(ok("verify", call(&s, Method::GET, t["token"].as_str().unwrap(), "tokens/verify", None), 200)["owner"]["id"].as_i64(), Some(a));
    ok("remove", manage(&s, Method::DELETE, MANAGE_TOKEN, &format!("/manage/projects/{a}/users/{uid}"), None), 204);
    let (st, _) = manage(&s, Method::GET, &ann, &format!("/manage/projects/{a}"), None);
    assert_eq!(st, 404);
}

#[test]
fn deleted_projects_stop_working_come_back_and_are_purged() {
    let s = Server::start();
    let (a, token_a) = create_project(&s, "Alpha");
    ok("bucket", call(&s, Method::POST, &token_a, "buckets", Some(json!({"name": "b", "stage": "in"}))), 201);
    let file = ok("file", call(&s, Method::POST, &token_a, "files/prepare", Some(json!({"name": "f.csv"}))), 201);
    assert!(file["id"].as_i64().is_some());
    ok("delete", manage(&s, Method::DELETE, MANAGE_TOKEN, &format!("/manage/projects/{a}"), None), 204);
    let (st, e) = call(&s, Method::GET, &token_a, "tokens/verify", None);
    assert_eq!(st, 401, "a deleted project's token stops working: {e}");
    let (st, _) = manage(&s, Method::GET, MANAGE_TOKEN, &format!("/manage/projects/{a}"), None);
    assert_eq!(st, 404);
    let deleted = ok("deleted", manage(&s, Method::GET, MANAGE_TOKEN, "/manage/deleted-projects", None), 200);
    assert_eq!((deleted[0]["id"].as_i64(), &deleted[0]["isDeleted"], &deleted[0]["isPurged"]), (Some(a), &json!(true), &json!(false)), "{deleted}");

    ok("undelete", manage(&s, Method::DELETE, MANAGE_TOKEN, &format!("/manage/deleted-projects/{a}"), None), 204);
    ok("back", call(&s, Method::GET, &token_a, "tokens/verify", None), 200);
    assert_eq!(ok("bucket back", call(&s, Method::GET, &token_a, "buckets", None), 200).as_array().unwrap().len(), 1);

    ok("delete again", manage(&s, Method::DELETE, MANAGE_TOKEN, &format!("/manage/projects/{a}"), None), 204);
    let purged = ok("purge", manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/deleted-projects/{a}/purge"), Some(json!({}))), 200);
    assert_eq!(purged["isPurged"], true);
    let d = ok("detail", manage(&s, Method::GET, MANAGE_TOKEN, &format!("/manage/deleted-projects/{a}"), None), 200);
    assert_eq!(d["isPurged"], true);
    let (st, _) = manage(&s, Method::DELETE, MANAGE_TOKEN, &format!("/manage/deleted-projects/{a}"), None);
    assert_eq!(st, 400, "a purged project does not come back");
    assert!(!s.data_dir.join(format!("files/p{a}")).exists() || std::fs::read_dir(s.data_dir.join(format!("files/p{a}"))).unwrap().next().is_none());
}

#[test]
fn manage_tokens_are_made_listed_and_deleted() {
    let s = Server::start();
    let sup = ok(
        "super token",
        manage(&s, Method::POST, MANAGE_TOKEN, "/manage/tokens", Some(json!({"description": "ci", "type": "super", "scopes": ["billing:manage"], "expiresIn": 3600}))),
        201,
    );
    assert_eq!((sup["type"].as_str(), &sup["scopes"]), (Some("super"), &json!(["billing:manage"])));
    assert!(sup["expires"].is_string());
    let secret = sup["token"].as_str().unwrap();
    let v = ok("verify", manage(&s, Method::GET, secret, "/manage/tokens/verify", None), 200);
    assert_eq!((v["type"].as_str(), v.get("user")), (Some("super"), None));
    let listed = ok("list", manage(&s, Method::GET, MANAGE_TOKEN, "/manage/tokens", None), 200);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(listed.as_array().unwrap().iter().all(|t| t.get("token").is_none()), "secrets are shown once");
    // An ordinary user cannot make super tokens or tokens for others.
    let ann = user_token(&s, "ann@example.com");
    let (st, _) = manage(&s, Method::POST, &ann, "/manage/tokens", Some(json!({"description": "x", "type": "super"})));
    assert_eq!(st, 403);
    let (st, _) = manage(&s, Method::POST, &ann, "/manage/tokens", Some(json!({"description": "x", "userEmail": "admin@kbstack.local"})));
    assert_eq!(st, 403);
    let (st, _) = manage(&s, Method::DELETE, &ann, &format!("/manage/tokens/{}", sup["id"]), None);
    assert_eq!(st, 404);
    let (st, _) = manage(&s, Method::POST, MANAGE_TOKEN, "/manage/tokens", Some(json!({"type": "super"})));
    assert_eq!(st, 400, "a description is required");
    ok("delete", manage(&s, Method::DELETE, MANAGE_TOKEN, &format!("/manage/tokens/{}", sup["id"]), None), 204);
    let (st, _) = manage(&s, Method::GET, secret, "/manage/tokens/verify", None);
    assert_eq!(st, 401);
}

#[test]
fn maintainers_organizations_and_users() {
    let s = Server::start();
    let m = ok("maintainer", manage(&s, Method::POST, MANAGE_TOKEN, "/manage/maintainers", Some(json!({"name": "Partner"}))), 201);
    let mid = m["id"].as_i64().unwrap();
    let o = ok(
        "organization",
        manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/maintainers/{mid}/organizations"), Some(json!({"name": "Acme", "crmId": "42"}))),
        201,
    );
    let oid = o["id"].as_i64().unwrap();
    assert_eq!((o["maintainer"]["id"].as_i64(), o["crmId"].as_str()), (Some(mid), Some("42")));
    let p = ok("project", manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/organizations/{oid}/projects"), Some(json!({"name": "P", "type": "demo"}))), 201);
    assert_eq!((p["organization"]["id"].as_i64(), p["type"].as_str()), (Some(oid), Some("demo")));
    let (st, _) = manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/organizations/{oid}/projects"), Some(json!({"name": "P", "type": "space"})));
    assert_eq!(st, 400);
    let (st, _) = manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/organizations/{oid}/projects"), Some(json!({})));
    assert_eq!(st, 400);
    let (st, _) = manage(&s, Method::DELETE, MANAGE_TOKEN, &format!("/manage/organizations/{oid}"), None);
    assert_eq!(st, 400, "an organization with projects stays");

    // An organization admin sees their organization's projects only.
    ok("org admin", manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/organizations/{oid}/users"), Some(json!({"email": "bob@example.com"}))), 204);
    let bob = user_token(&s, "bob@example.com");
    let pid = p["id"].as_i64().unwrap();
    ok("bob reads P", manage(&s, Method::GET, &bob, &format!("/manage/projects/{pid}"), None), 200);
    let (st, _) = manage(&s, Method::GET, &bob, "/manage/projects/1", None);
    assert_eq!(st, 404);
    let orgs = ok("bob's organizations", manage(&s, Method::GET, &bob, "/manage/organizations", None), 200);
    assert_eq!(orgs.as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect::<Vec<_>>(), vec![oid]);
    let renamed = ok("rename", manage(&s, Method::PUT, &bob, &format!("/manage/projects/{pid}"), Some(json!({"name": "P2"}))), 200);
    assert_eq!(renamed["name"], "P2");

    feature(&s, "early-adopter", "admin");
    let u = ok("user feature", manage(&s, Method::POST, MANAGE_TOKEN, "/manage/users/bob@example.com/features", Some(json!({"feature": "early-adopter"}))), 200);
    assert_eq!(u["features"], json!(["early-adopter"]));
    let u = ok("user", manage(&s, Method::GET, MANAGE_TOKEN, &format!("/manage/users/{}", u["id"]), None), 200);
    assert_eq!(u["email"], "bob@example.com");
    ok("remove feature", manage(&s, Method::DELETE, MANAGE_TOKEN, "/manage/users/bob@example.com/features/early-adopter", None), 204);
    let (st, _) = manage(&s, Method::GET, MANAGE_TOKEN, "/manage/users/nobody@example.com", None);
    assert_eq!(st, 404);
    let e: Value = manage(&s, Method::GET, MANAGE_TOKEN, "/manage/projects/99999", None).1;
    assert_eq!((e["status"].as_str(), e["code"].as_str()), (Some("error"), Some("manage.notFound")), "{e}");
}
