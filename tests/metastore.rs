//! The Metastore (semantic layer repository) through the real binary: objects created, read,
//! replaced, patched and deleted with revisions kept; lists filtered and paged as keboola-cli and
//! the MCP server ask; scopes (organization, targeted) and the elevation request; projects
//! isolated; bad input refused in the Metastore's envelope.
mod common;

use common::{MASTER_TOKEN, Server, ok};
use reqwest::Method;
use serde_json::{Value, json};

const P2_MASTER: &str = "2-90-projecttwomastertoken000000000000000";
const P3_MASTER: &str = "3-91-projectthreemastertoken0000000000000";

fn ms(s: &Server, method: Method, token: Option<&str>, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, format!("{}/metastore/api/v1/{}", s.url, path.trim_start_matches('/')));
    if let Some(t) = token {
        req = req.header("X-StorageApi-Token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

fn get(s: &Server, token: &str, path: &str) -> Value {
    ok(path, ms(s, Method::GET, Some(token), path, None), 200)
}

fn create(s: &Server, token: &str, ty: &str, body: Value) -> Value {
    ok("create", ms(s, Method::POST, Some(token), &format!("repository/{ty}"), Some(body)), 201)["data"].clone()
}

fn refused(what: &str, (status, body): (u16, Value), expected: u16) -> Value {
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(body["code"], json!(expected), "{what}: {body}");
    assert_eq!(body["status"], "error", "{what}: {body}");
    assert!(body["error"].is_string() && body["exception"] == body["error"], "{what}: {body}");
    assert!(body["exceptionId"].as_str().is_some_and(|e| e.starts_with("metastore-")), "{what}: {body}");
    body
}

fn names(list: &Value) -> Vec<String> {
    list["data"].as_array().unwrap().iter().map(|o| o["meta"]["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn objects_are_created_revised_and_deleted() {
    let s = Server::start();
    let model = create(&s, MASTER_TOKEN, "semantic-model", json!({"name": "sales", "data": {"name": "sales", "sql_dialect": "snowflake"}, "branch": "main", "scope": "project"}));
    assert_eq!(model["type"], "semantic-model");
    assert_eq!(model["attributes"], json!({"name": "sales", "sql_dialect": "snowflake"}));
    assert_eq!(model["meta"]["revision"], 1);
    assert_eq!(model["meta"]["scope"], "project");
    assert_eq!(model["meta"]["projectId"], 1);
    assert_eq!(model["meta"]["schemaVersion"], "1.0.0");
    assert!(model["meta"]["organizationId"].is_string(), "{model}");
    let id = model["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(get(&s, MASTER_TOKEN, &format!("repository/semantic-model/{id}"))["data"], model);

    // PUT replaces name and data: a new revision; scope stays.
    let put = ok("put", ms(&s, Method::PUT, Some(MASTER_TOKEN), &format!("repository/semantic-model/{id}"), Some(json!({"name": "sales2", "data": {"name": "sales2"}, "branch": "main"}))), 200)["data"].clone();
    assert_eq!(put["meta"]["revision"], 2);
    assert_eq!(put["meta"]["name"], "sales2");
    assert_eq!(put["attributes"], json!({"name": "sales2"}));
    // PATCH merges data.
    let patched = ok("patch", ms(&s, Method::PATCH, Some(MASTER_TOKEN), &format!("repository/semantic-model/{id}"), Some(json!({"data": {"description": "d"}}))), 200)["data"].clone();
    assert_eq!(patched["meta"]["revision"], 3);
    assert_eq!(patched["attributes"], json!({"name": "sales2", "description": "d"}));

    // History: every revision of the type, and one by number.
    let revs = get(&s, MASTER_TOKEN, "repository/semantic-model/revisions");
    let numbers: Vec<i64> = revs["data"].as_array().unwrap().iter().map(|r| r["meta"]["revision"].as_i64().unwrap()).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    let first = get(&s, MASTER_TOKEN, &format!("repository/semantic-model/{id}/revisions/1"));
    assert_eq!(first["data"]["attributes"], json!({"name": "sales", "sql_dialect": "snowflake"}));
    assert_eq!(get(&s, MASTER_TOKEN, &format!("repository/semantic-model/{id}/revisions"))["data"].as_array().unwrap().len(), 3);
    refused("the current revision", ms(&s, Method::DELETE, Some(MASTER_TOKEN), &format!("repository/semantic-model/{id}/revisions/3"), None), 400);
    assert_eq!(ms(&s, Method::DELETE, Some(MASTER_TOKEN), &format!("repository/semantic-model/{id}/revisions/1"), None).0, 204);
    refused("deleted revision", ms(&s, Method::GET, Some(MASTER_TOKEN), &format!("repository/semantic-model/{id}/revisions/1"), None), 404);

    // Names are unique per project and type: 409.
    refused("duplicate", ms(&s, Method::POST, Some(MASTER_TOKEN), "repository/semantic-model", Some(json!({"name": "sales2", "data": {}}))), 409);

    assert_eq!(ms(&s, Method::DELETE, Some(MASTER_TOKEN), &format!("repository/semantic-model/{id}"), None).0, 204);
    refused("deleted", ms(&s, Method::GET, Some(MASTER_TOKEN), &format!("repository/semantic-model/{id}"), None), 404);
    refused("deleted twice", ms(&s, Method::DELETE, Some(MASTER_TOKEN), &format!("repository/semantic-model/{id}"), None), 404);
    assert!(get(&s, MASTER_TOKEN, "repository/semantic-model/revisions")["data"].as_array().unwrap().is_empty());
}

#[test]
fn schemas_list_versions_and_documents() {
    let s = Server::start();
    let versions = get(&s, MASTER_TOKEN, "schema/semantic-glossary");
    assert_eq!(versions["versions"], json!([{"version": "1.0.0", "isDefault": true}]));
    let schema = get(&s, MASTER_TOKEN, "schema/semantic-glossary/1.0.0");
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["term", "definition"]));
    refused("unknown version", ms(&s, Method::GET, Some(MASTER_TOKEN), "schema/semantic-glossary/9.9.9", None), 404);
    refused("unknown type", ms(&s, Method::GET, Some(MASTER_TOKEN), "schema/no-such-type", None), 404);
    // The schema is enforced: a glossary term without a definition is a 422 with `errors`.
    let b = refused(
        "no definition",
        ms(&s, Method::POST, Some(MASTER_TOKEN), "repository/semantic-glossary", Some(json!({"name": "ARR", "data": {"term": "ARR"}}))),
        422,
    );
    assert!(b["errors"].as_array().is_some_and(|e| !e.is_empty()), "{b}");
}

#[test]
fn lists_filter_and_page() {
    let s = Server::start();
    let m1 = create(&s, MASTER_TOKEN, "semantic-model", json!({"name": "m1", "data": {"name": "m1"}}))["id"].as_str().unwrap().to_string();
    let m2 = create(&s, MASTER_TOKEN, "semantic-model", json!({"name": "m2", "data": {"name": "m2"}}))["id"].as_str().unwrap().to_string();
    for (name, model) in [("orders", &m1), ("customers", &m1), ("stock", &m2)] {
        create(&s, MASTER_TOKEN, "semantic-dataset", json!({"name": name, "data": {"name": name, "modelUUID": model, "tableId": format!("in.c-x.{name}")}}));
    }
    assert_eq!(names(&get(&s, MASTER_TOKEN, "repository/semantic-dataset")), ["orders", "customers", "stock"], "oldest first");
    assert_eq!(names(&get(&s, MASTER_TOKEN, &format!("repository/semantic-dataset?modelUUID={m1}"))), ["orders", "customers"]);
    assert_eq!(names(&get(&s, MASTER_TOKEN, &format!("repository/semantic-model?modelUUID={m1}"))).len(), 2, "a model has no modelUUID: not filtered");
    assert_eq!(names(&get(&s, MASTER_TOKEN, "repository/semantic-dataset?limit=2")), ["orders", "customers"]);
    assert_eq!(names(&get(&s, MASTER_TOKEN, "repository/semantic-dataset?limit=2&offset=2")), ["stock"]);
    assert_eq!(names(&get(&s, MASTER_TOKEN, "repository/semantic-dataset?filter=CUST")), ["customers"]);
    assert_eq!(names(&get(&s, MASTER_TOKEN, "repository/semantic-dataset?name=stock")), ["stock"]);
    assert_eq!(names(&get(&s, MASTER_TOKEN, "repository/semantic-dataset?name[not]=stock")), ["orders", "customers"]);
    assert_eq!(names(&get(&s, MASTER_TOKEN, "repository/semantic-dataset?tableId[like]=in.c-x.ord")), ["orders"]);
    assert_eq!(names(&get(&s, MASTER_TOKEN, "repository/semantic-dataset?scope_elevation_requested_at[not][null]=true")), Vec::<String>::new());
    for bad in ["limit=0", "limit=abc", "limit=100000", "offset=-1", "name[bogus]=x"] {
        refused(bad, ms(&s, Method::GET, Some(MASTER_TOKEN), &format!("repository/semantic-dataset?{bad}"), None), 400);
    }
}

#[test]
fn projects_are_isolated_and_scopes_share() {
    let (s, _dir) = common::start_with_projects(&[(2, "two", P2_MASTER), (3, "three", P3_MASTER)]);
    let own = create(&s, MASTER_TOKEN, "semantic-metric", json!({"name": "revenue", "data": {"name": "revenue", "sql": "SUM(x)"}}));
    let id = own["id"].as_str().unwrap();
    let path = format!("repository/semantic-metric/{id}");
    // Another project neither sees, changes nor deletes it.
    refused("read across", ms(&s, Method::GET, Some(P2_MASTER), &path, None), 404);
    refused("put across", ms(&s, Method::PUT, Some(P2_MASTER), &path, Some(json!({"name": "x", "data": {}}))), 404);
    refused("delete across", ms(&s, Method::DELETE, Some(P2_MASTER), &path, None), 404);
    refused("revision across", ms(&s, Method::GET, Some(P2_MASTER), &format!("{path}/revisions/1"), None), 404);
    assert!(get(&s, P2_MASTER, "repository/semantic-metric")["data"].as_array().unwrap().is_empty());
    assert!(get(&s, P2_MASTER, "repository/semantic-metric/revisions")["data"].as_array().unwrap().is_empty());
    // Names are per project.
    create(&s, P2_MASTER, "semantic-metric", json!({"name": "revenue", "data": {}}));

    // Targeted: the granted projects read it (and only read it); grants are replaced as a whole.
    let targeted = create(&s, MASTER_TOKEN, "semantic-metric", json!({"name": "margin", "data": {}, "scope": "targeted", "targetProjectIds": [2]}));
    assert_eq!(targeted["meta"]["targetProjectIds"], json!([2]));
    let tpath = format!("repository/semantic-metric/{}", targeted["id"].as_str().unwrap());
    ok("granted read", ms(&s, Method::GET, Some(P2_MASTER), &tpath, None), 200);
    refused("granted, not owner", ms(&s, Method::DELETE, Some(P2_MASTER), &tpath, None), 403);
    refused("not granted", ms(&s, Method::GET, Some(P3_MASTER), &tpath, None), 404);
    assert_eq!(ms(&s, Method::PUT, Some(MASTER_TOKEN), &format!("{tpath}/target-projects"), Some(json!({"targetProjectIds": [3]}))).0, 204);
    refused("grant withdrawn", ms(&s, Method::GET, Some(P2_MASTER), &tpath, None), 404);
    ok("granted now", ms(&s, Method::GET, Some(P3_MASTER), &tpath, None), 200);
    refused("targets of a project object", ms(&s, Method::PUT, Some(MASTER_TOKEN), &format!("{path}/target-projects"), Some(json!({"targetProjectIds": [2]}))), 400);
    refused("targets with scope project", ms(&s, Method::POST, Some(MASTER_TOKEN), "repository/semantic-metric", Some(json!({"name": "z", "data": {}, "targetProjectIds": [2]}))), 400);

    // Elevation request, then the step up to organization scope: the organization sees it.
    let requested = ok("request", ms(&s, Method::PUT, Some(MASTER_TOKEN), &format!("{path}/scope-elevation-request"), None), 200)["data"].clone();
    assert!(requested["meta"]["scopeElevationRequestedAt"].is_string(), "{requested}");
    let pending = get(&s, MASTER_TOKEN, "repository/semantic-metric/organization?scope_elevation_requested_at[not][null]=true");
    assert_eq!(names(&pending), ["revenue"]);
    let withdrawn = ok("withdraw", ms(&s, Method::DELETE, Some(MASTER_TOKEN), &format!("{path}/scope-elevation-request"), None), 200)["data"].clone();
    assert!(withdrawn["meta"]["scopeElevationRequestedAt"].is_null(), "{withdrawn}");
    refused("scope with data", ms(&s, Method::PATCH, Some(MASTER_TOKEN), &path, Some(json!({"scope": "organization", "name": "x"}))), 400);
    refused("scope down", ms(&s, Method::PATCH, Some(MASTER_TOKEN), &path, Some(json!({"scope": "project"}))), 400);
    let elevated = ok("elevate", ms(&s, Method::PATCH, Some(MASTER_TOKEN), &path, Some(json!({"scope": "organization"}))), 200)["data"].clone();
    assert_eq!(elevated["meta"]["scope"], "organization");
    assert_eq!(elevated["meta"]["sourceProjectId"], 1);
    assert_eq!(names(&get(&s, P3_MASTER, "repository/semantic-metric/organization")), ["revenue"]);
    ok("organization read", ms(&s, Method::GET, Some(P3_MASTER), &path, None), 200);
    assert!(names(&get(&s, P3_MASTER, "repository/semantic-metric")).contains(&"revenue".to_string()));
}

#[test]
fn bad_input_and_tokens_are_refused() {
    let s = Server::start();
    refused("no token", ms(&s, Method::GET, None, "repository/semantic-model", None), 401);
    refused("bad token", ms(&s, Method::GET, Some("nope"), "repository/semantic-model", None), 401);
    refused("unknown type", ms(&s, Method::GET, Some(MASTER_TOKEN), "repository/no-such", None), 404);
    refused("no data", ms(&s, Method::POST, Some(MASTER_TOKEN), "repository/semantic-model", Some(json!({"name": "x"}))), 422);
    refused("data not an object", ms(&s, Method::POST, Some(MASTER_TOKEN), "repository/semantic-model", Some(json!({"name": "x", "data": [1]}))), 422);
    refused("no name", ms(&s, Method::POST, Some(MASTER_TOKEN), "repository/semantic-model", Some(json!({"data": {}}))), 422);
    refused("bad scope", ms(&s, Method::POST, Some(MASTER_TOKEN), "repository/semantic-model", Some(json!({"name": "x", "data": {}, "scope": "world"}))), 422);
    refused("bad version", ms(&s, Method::POST, Some(MASTER_TOKEN), "repository/semantic-model", Some(json!({"name": "x", "data": {}, "schemaVersion": "7"}))), 422);
    refused("unknown id", ms(&s, Method::GET, Some(MASTER_TOKEN), "repository/semantic-model/00000000-0000-0000-0000-000000000000", None), 404);
    refused("bad revision", ms(&s, Method::GET, Some(MASTER_TOKEN), "repository/semantic-model/x/revisions/abc", None), 404);
    let m = create(&s, MASTER_TOKEN, "semantic-model", json!({"name": "m", "data": {}}));
    let path = format!("repository/semantic-model/{}", m["id"].as_str().unwrap());
    refused("put without name", ms(&s, Method::PUT, Some(MASTER_TOKEN), &path, Some(json!({"data": {}}))), 422);
    refused("empty patch", ms(&s, Method::PATCH, Some(MASTER_TOKEN), &path, Some(json!({}))), 422);

    // A token that is not the project admin's reads but does not write.
    let t = ok("token", s.post_json("tokens", json!({"description": "reader", "canManageBuckets": true})), 201);
    let reader = t["token"].as_str().unwrap();
    ok("reader lists", ms(&s, Method::GET, Some(reader), "repository/semantic-model", None), 200);
    refused("reader creates", ms(&s, Method::POST, Some(reader), "repository/semantic-model", Some(json!({"name": "y", "data": {}}))), 403);
    refused("reader deletes", ms(&s, Method::DELETE, Some(reader), &path, None), 403);
    // Bearer works as the token.
    let (st, _) = s.send(s.client.get(format!("{}/metastore/api/v1/repository/semantic-model", s.url)).bearer_auth(MASTER_TOKEN));
    assert_eq!(st, 200);
}
