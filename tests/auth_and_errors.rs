//! Token rights on every kind of call, and bad input answered with 4xx Keboola envelopes.
mod common;

use common::{MASTER_TOKEN, Server};
use serde_json::json;

fn setup(s: &Server) -> String {
    for name in ["one", "two"] {
        let (st, b) = s.post_json("buckets", json!({"name": name}));
        assert_eq!(st, 201, "{b}");
    }
    let (st, t) = s.post_form("buckets/in.c-one/tables", &[("name", "t"), ("dataString", "id\n1\n")]);
    assert_eq!(st, 201, "{t}");
    let (st, t) = s.post_form("buckets/in.c-two/tables", &[("name", "t"), ("dataString", "id\n1\n")]);
    assert_eq!(st, 201, "{t}");
    "in.c-one.t".into()
}

fn token(s: &Server, body: serde_json::Value) -> String {
    let (st, t) = s.post_json("tokens", body);
    assert_eq!(st, 201, "{t}");
    assert!(t["id"].is_string());
    t["token"].as_str().unwrap().to_string()
}

#[test]
fn missing_invalid_and_expired_tokens() {
    let s = Server::start();
    let (st, body) = s.send(s.client.get(s.api("tokens/verify")));
    assert_eq!(st, 401);
    assert_eq!(body["error"], "Access token must be set");
    let (st, body) = s.get_as("1-1-nope", "tokens/verify");
    assert_eq!(st, 401);
    assert_eq!(body["code"], "storage.tokenInvalid");
    assert!(!body.to_string().contains("1-1-nope"), "the token is not echoed");
    // Expiry has one-second resolution: leave the first call enough margin on a loaded machine.
    let short = token(&s, json!({"description": "short", "expiresIn": 4}));
    let (st, _) = s.get_as(&short, "tokens/verify");
    assert_eq!(st, 200);
    std::thread::sleep(std::time::Duration::from_millis(5100));
    let (st, body) = s.get_as(&short, "buckets");
    assert_eq!(st, 401, "{body}");
    assert_eq!(body["code"], "storage.tokenInvalid");
    // The index answers without a token.
    let (st, index) = s.send(s.client.get(s.api("")));
    assert_eq!(st, 200);
    assert_eq!(index["api"], "storage");
    assert!(index["services"].as_array().unwrap().iter().any(|x| x["id"] == "queue"));
}

#[test]
fn verify_has_the_owner_and_admin_shape() {
    let s = Server::start();
    let (st, v) = s.get("tokens/verify");
    assert_eq!(st, 200);
    assert_eq!(v["token"], MASTER_TOKEN);
    assert!(v["id"].is_string());
    assert_eq!(v["owner"]["id"], 1);
    assert!(v["owner"]["hasRedshift"].is_boolean());
    assert!(v["organization"]["id"].is_string());
    assert_eq!(v["admin"]["role"], "admin");
    assert_eq!(v["isMasterToken"], true);
    let limited = token(&s, json!({"description": "x"}));
    let (_, lv) = s.get_as(&limited, "tokens/verify");
    assert!(lv.get("admin").is_none());
    assert_eq!(lv["creatorToken"]["id"].as_i64().unwrap().to_string(), v["id"].as_str().unwrap());
}

#[test]
fn read_only_and_bucket_scoped_tokens() {
    let s = Server::start();
    let t = setup(&s);
    let reader = token(&s, json!({"description": "reader", "bucketPermissions": {"in.c-one": "read"}}));
    // Visible bucket only.
    let (st, buckets) = s.get_as(&reader, "buckets");
    assert_eq!(st, 200);
    let ids: Vec<&str> = buckets.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["in.c-one"]);
    let (st, _) = s.get_as(&reader, &format!("tables/{t}"));
    assert_eq!(st, 200);
    let (st, body) = s.get_as(&reader, "tables/in.c-two.t");
    assert_eq!(st, 404, "{body}");
    // Reading is allowed, writing is not.
    let (st, _) = s.get_as(&reader, &format!("tables/{t}/data-preview"));
    assert_eq!(st, 200);
    let (st, body) = s.send(
        s.client.post(s.api(&format!("tables/{t}/import"))).header("X-StorageApi-Token", &reader).form(&[("dataString", "id\n2\n")]),
    );
    assert_eq!(st, 403, "{body}");
    assert_eq!(body["code"], "accessDenied");
    let (st, body) = s.send(s.client.delete(s.api(&format!("tables/{t}/rows?allowTruncate=1"))).header("X-StorageApi-Token", &reader));
    assert_eq!(st, 403, "{body}");
    let (st, _) = s.post_json_as(&reader, "buckets", json!({"name": "nope"}));
    assert_eq!(st, 403);
    let (st, _) = s.post_json_as(&reader, "tokens", json!({"description": "escalate"}));
    assert_eq!(st, 403);
    // A write token may import into its bucket.
    let writer = token(&s, json!({"description": "writer", "bucketPermissions": {"in.c-one": "write"}}));
    let (st, body) = s.send(
        s.client.post(s.api(&format!("tables/{t}/import"))).header("X-StorageApi-Token", &writer).form(&[("dataString", "id\n2\n"), ("incremental", "1")]),
    );
    assert_eq!(st, 200, "{body}");
    let (st, _) = s.send(s.client.delete(s.api("buckets/in.c-one?force=1")).header("X-StorageApi-Token", &writer));
    assert_eq!(st, 403, "deleting a bucket needs manage");
    // `manage` cannot be granted.
    let (st, body) = s.post_json("tokens", json!({"bucketPermissions": {"in.c-one": "manage"}}));
    assert_eq!(st, 400);
    assert_eq!(body["code"], "storage.tokens.invalidPermissions");
}

#[test]
fn token_lifecycle() {
    let s = Server::start();
    let (st, t) = s.post_form("tokens", &[("description", "form"), ("canReadAllFileUploads", "1"), ("componentAccess[]", "keboola.ex-http")]);
    assert_eq!(st, 201, "{t}");
    assert_eq!(t["canReadAllFileUploads"], true);
    assert_eq!(t["componentAccess"], json!(["keboola.ex-http"]));
    let id = t["id"].as_str().unwrap().to_string();
    let old = t["token"].as_str().unwrap().to_string();
    let (st, r) = s.post_json(&format!("tokens/{id}/refresh"), json!({}));
    assert_eq!(st, 200);
    let new = r["token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(s.get_as(&old, "tokens/verify").0, 401);
    assert_eq!(s.get_as(new, "tokens/verify").0, 200);
    let (st, body) = s.get("tokens/foo");
    assert_eq!(st, 400, "{body}");
    let (st, list) = s.get("tokens");
    assert_eq!(st, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(s.delete(&format!("tokens/{id}")).0, 204);
    assert_eq!(s.get_as(new, "tokens/verify").0, 401);
    let (st, _) = s.delete("tokens/1");
    assert_eq!(st, 400, "the master token cannot be deleted");
}

#[test]
fn bad_input_gets_a_4xx_envelope() {
    let s = Server::start_with_env(&[("KBSTACK_MAX_BODY_BYTES", "1000")]);
    let (st, body) = s.post_json("buckets", json!({"name": "bad name!"}));
    assert_eq!((st, body["code"].as_str()), (400, Some("validation.failed")), "{body}");
    let (st, body) = s.post_json("buckets", json!({"name": "ok", "stage": "sys2"}));
    assert_eq!(st, 400, "{body}");
    let (st, _) = s.post_json("buckets", json!({"name": "ok"}));
    assert_eq!(st, 201);
    let (st, body) = s.post_json("buckets", json!({"name": "ok"}));
    assert_eq!((st, body["code"].as_str()), (400, Some("storage.buckets.alreadyExists")));
    let (st, body) = s.post_form("buckets/in.c-ok/tables", &[("name", "bad.name"), ("dataString", "a\n1\n")]);
    assert_eq!((st, body["code"].as_str()), (400, Some("validation.failed")), "{body}");
    let (st, body) = s.get("buckets/in.c-nope");
    assert_eq!((st, body["code"].as_str()), (404, Some("storage.buckets.notFound")));
    let (st, body) = s.get("tables/in.c-ok.nope");
    assert_eq!((st, body["code"].as_str()), (404, Some("storage.tables.notFound")));
    let (st, body) = s.get("tables/garbage");
    assert_eq!(st, 404, "{body}");
    let (st, body) = s.send(
        s.client.post(s.api("buckets")).header("X-StorageApi-Token", MASTER_TOKEN).header("Content-Type", "application/json").body("{\"name\": "),
    );
    assert_eq!((st, body["code"].as_str()), (400, Some("validation.failed")), "{body}");
    let (st, body) = s.post_json("buckets", json!({"name": "x".repeat(2000)}));
    assert_eq!(st, 413, "{body}");
    assert_eq!(body["status"], "error");
    let (st, body) = s.get("no/such/route");
    assert_eq!(st, 404, "{body}");
    assert!(body["exceptionId"].is_string());
}

#[test]
fn every_route_answers_under_the_branch_prefix_and_with_a_trailing_slash() {
    let s = Server::start();
    setup(&s);
    for path in ["buckets", "buckets/", "branch/default/buckets", "branch/default/buckets/", "branch/1/tables/in.c-one.t/"] {
        let (st, body) = s.get(path);
        assert_eq!(st, 200, "{path}: {body}");
    }
    let (st, body) = s.get("branch/999/buckets");
    assert_eq!(st, 404, "{body}");
}
