//! Events (create, read, filters, visibility), tickets, triggers, development branches and branch
//! metadata.
mod common;

use common::{MASTER_TOKEN, Server};
use serde_json::{Value, json};

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or_default()
}

fn event_ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
}

fn new_token(s: &Server, description: &str) -> (String, i64) {
    let (st, t) = s.post_json("tokens", json!({"description": description, "canManageBuckets": false}));
    assert_eq!(st, 201, "{t}");
    (t["token"].as_str().unwrap().to_string(), t["id"].as_str().unwrap().parse().unwrap())
}

#[test]
fn events_are_created_read_and_filtered() {
    let s = Server::start();
    let (st, created) = s.post_json(
        "events",
        json!({
            "component": "keboola.test-component", "message": "first warning", "type": "warn",
            "params": {"command": "sync"}, "results": "{\"rows\": 2}", "runId": "100.200",
            "configurationId": "cfg-1", "duration": 1.5, "description": "details"
        }),
    );
    assert_eq!(st, 201, "{created}");
    let id = created["id"].as_str().expect("event id is a string").to_string();
    let uuid = created["uuid"].as_str().unwrap().to_string();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "7", "uuid v7: {uuid}");

    // Go sends params as JSON strings; PHP's form variant too.
    let (st, second) = s.post_form(
        "branch/default/events",
        &[("component", "keboola.other"), ("message", "second info"), ("params", r#"{"p":1}"#)],
    );
    assert_eq!(st, 201, "{second}");
    let second_id = second["id"].as_str().unwrap().to_string();

    for key in [id.as_str(), uuid.as_str()] {
        let (st, e) = s.get(&format!("events/{key}"));
        assert_eq!(st, 200, "{e}");
        assert_eq!(e["id"], id);
        assert_eq!(e["uuid"], uuid);
        assert_eq!(e["type"], "warn");
        assert_eq!(e["message"], "first warning");
        assert_eq!(e["description"], "details");
        assert_eq!(e["component"], "keboola.test-component");
        assert_eq!(e["params"], json!({"command": "sync"}));
        assert_eq!(e["results"], json!({"rows": 2}));
        assert_eq!(e["runId"], "100.200");
        assert_eq!(e["configurationId"], "cfg-1");
        assert!(e["token"]["id"].is_i64(), "{e}");
        assert_eq!(e["context"]["apiVersion"], "v2");
        assert_eq!(e["attachments"], json!([]));
        assert!(e["uri"].as_str().unwrap().ends_with(&format!("/v2/storage/events/{id}")));
    }
    let (st, missing) = s.get("events/999999");
    assert_eq!(st, 404);
    assert_eq!(code(&missing), "storage.events.notFound");

    let (_, all) = s.get("events");
    let all_ids = event_ids(&all);
    assert_eq!(&all_ids[..2], &[second_id.clone(), id.clone()], "newest first");
    let (_, asc) = s.get("events?sortOrder=asc&limit=2");
    assert_eq!(asc.as_array().unwrap().len(), 2);
    assert_eq!(event_ids(&asc)[0], *all_ids.last().unwrap());
    assert_eq!(event_ids(&s.get("events?runId=100.200").1), vec![id.clone()]);
    assert_eq!(event_ids(&s.get("events?component=keboola.other").1), vec![second_id.clone()]);
    assert_eq!(event_ids(&s.get("events?configurationId=cfg-1").1), vec![id.clone()]);
    assert_eq!(event_ids(&s.get(&format!("events?sinceId={uuid}")).1), vec![second_id.clone()]);
    assert!(!event_ids(&s.get(&format!("events?maxId={second_id}")).1).contains(&second_id));
    assert_eq!(event_ids(&s.get("events?q=message:first*").1), vec![id.clone()]);
    assert_eq!(event_ids(&s.get("events?q=second").1), vec![second_id.clone()]);
    assert_eq!(s.get("events?limit=1&offset=1").1.as_array().unwrap().len(), 1);

    for bad in [
        json!({"component": "c", "message": "m", "type": "fatal"}),
        json!({"component": "c"}),
        json!({"message": "m"}),
        json!({"component": "c", "message": "m", "params": "{broken"}),
        json!({"component": "c", "message": "m", "duration": "long"}),
    ] {
        let (st, e) = s.post_json("events", bad.clone());
        assert_eq!(st, 400, "{bad} → {e}");
    }
    let (st, e) = s.post_json("events", json!({"component": "c", "message": "x".repeat(300 * 1024)}));
    assert_eq!(st, 400, "oversized event: {}", code(&e));
}

#[test]
fn non_admin_tokens_see_only_their_events() {
    let s = Server::start();
    let (token, token_id) = new_token(&s, "limited events");
    let (st, own) = s.post_json_as(&token, "events", json!({"component": "c", "message": "mine"}));
    assert_eq!(st, 201, "{own}");
    let (_, master) = s.post_json("events", json!({"component": "c", "message": "master's"}));

    let (st, seen) = s.get_as(&token, "events");
    assert_eq!(st, 200);
    assert_eq!(event_ids(&seen), vec![own["id"].as_str().unwrap().to_string()]);
    assert_eq!(seen[0]["token"]["id"], token_id);
    assert_eq!(seen[0]["token"]["name"], "limited events");
    let all = event_ids(&s.get("events").1);
    assert!(all.contains(&own["id"].as_str().unwrap().to_string()) && all.contains(&master["id"].as_str().unwrap().to_string()));
    assert_eq!(s.get_as(&token, &format!("events/{}", master["id"].as_str().unwrap())).0, 404);
    assert_eq!(s.get_as(&token, &format!("events/{}", own["uuid"].as_str().unwrap())).0, 200);

    let (st, by_token) = s.get(&format!("tokens/{token_id}/events"));
    assert_eq!(st, 200, "{by_token}");
    assert_eq!(event_ids(&by_token), vec![own["id"].as_str().unwrap().to_string()]);
    assert_eq!(s.get_as(&token, "tokens/1/events").0, 403);
}

#[test]
fn bucket_and_table_events_are_recorded_and_scoped() {
    let s = Server::start();
    let (st, b) = s.post_json("buckets", json!({"name": "ev", "stage": "in"}));
    assert_eq!(st, 201, "{b}");
    let (st, t) = s.post_form("buckets/in.c-ev/tables", &[("name", "t"), ("dataString", "id\n1\n")]);
    assert_eq!(st, 201, "{t}");
    let (st, bucket_events) = s.get("buckets/in.c-ev/events");
    assert_eq!(st, 200, "{bucket_events}");
    let kinds: Vec<&str> = bucket_events.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"storage.bucketCreated"), "{kinds:?}");
    for e in bucket_events.as_array().unwrap() {
        assert!(e["objectId"].as_str().unwrap().starts_with("in.c-ev"), "{e}");
    }
    let (st, table_events) = s.get("tables/in.c-ev.t/events");
    assert_eq!(st, 200, "{table_events}");
    for e in table_events.as_array().unwrap() {
        assert_eq!(e["objectType"], "table");
        assert_eq!(e["objectId"], "in.c-ev.t");
        assert_eq!(e["objectName"], "t");
    }
    assert_eq!(s.get("buckets/in.c-none/events").0, 404);
    assert_eq!(s.get("tables/in.c-ev.none/events").0, 404);
}

#[test]
fn tickets_increase() {
    let s = Server::start();
    let (st, a) = s.post_json("tickets", json!({}));
    assert_eq!(st, 201, "{a}");
    let (st, b) = s.post_json("tickets/", json!({}));
    assert_eq!(st, 201);
    let a: u64 = a["id"].as_str().expect("ticket id is a string").parse().unwrap();
    let b: u64 = b["id"].as_str().unwrap().parse().unwrap();
    assert!(b > a, "{b} > {a}");
    assert_eq!(s.send(s.client.post(s.api("tickets"))).0, 401);
}

#[test]
fn default_branch_list_detail_and_rules() {
    let s = Server::start();
    let (st, list) = s.get("dev-branches/");
    assert_eq!(st, 200, "{list}");
    let branches = list.as_array().unwrap();
    assert_eq!(branches.len(), 1);
    let main = &branches[0];
    assert!(main["id"].is_i64());
    assert_eq!(main["name"], "Main");
    assert_eq!(main["isDefault"], true);
    assert_eq!(main["creatorToken"], json!([]));
    let (st, d) = s.get("dev-branches/default");
    assert_eq!(st, 200);
    assert_eq!(&d, main);
    assert_eq!(s.get(&format!("dev-branches/{}", main["id"])).1, *main);

    let (st, e) = s.get("dev-branches/999");
    assert_eq!(st, 404, "{e}");
    assert!(code(&e).ends_with("notFound"));
    let (st, e) = s.put_json("dev-branches/default", json!({"name": "Renamed"}));
    assert_eq!(st, 400, "default branch cannot be renamed: {e}");
    let (st, u) = s.put_json("dev-branches/default", json!({"description": "production"}));
    assert_eq!(st, 200, "{u}");
    assert_eq!(u["description"], "production");
    assert_eq!(s.delete("dev-branches/default").0, 400);
    assert_eq!(s.get("branch/999/components").0, 404);
}

#[test]
fn branch_metadata() {
    let s = Server::start();
    let (st, empty) = s.get("branch/default/metadata");
    assert_eq!(st, 200);
    assert_eq!(empty, json!([]));
    let key = "KBC.integtest.lock.1";
    let (st, items) = s.post_json("branch/default/metadata", json!({"metadata": [{"key": key, "value": "held"}]}));
    assert_eq!(st, 201, "{items}");
    assert_eq!(items[0]["key"], key);
    assert_eq!(items[0]["value"], "held");
    assert!(items[0]["id"].is_string());
    assert!(items[0].get("provider").is_none());
    let (_, again) = s.post_json("branch/default/metadata", json!({"metadata": [{"key": key, "value": "renewed"}]}));
    assert_eq!(again.as_array().unwrap().len(), 1);
    assert_eq!(again[0]["value"], "renewed");
    assert_eq!(s.post_json("branch/default/metadata", json!({"metadata": []})).0, 400);

    let mid = again[0]["id"].as_str().unwrap();
    assert_eq!(s.delete(&format!("branch/default/metadata/{mid}")).0, 204);
    assert_eq!(s.get("branch/default/metadata").1, json!([]));
    assert_eq!(s.delete(&format!("branch/default/metadata/{mid}")).0, 404);
}

#[test]
fn dev_branch_lifecycle_isolates_configurations() {
    let s = Server::start();
    let cfgs = |branch: &str| format!("branch/{branch}/components/keboola.runner-config-test/configs");
    let (st, c) = s.post_json(&cfgs("default"), json!({"name": "shared", "configurationId": "shared", "configuration": {"v": 1}}));
    assert_eq!(st, 201, "{c}");
    let (st, m) = s.post_json(&format!("{}/shared/metadata", cfgs("default")), json!({"metadata": [{"key": "k", "value": "v"}]}));
    assert_eq!(st, 201, "{m}");

    let (st, job) = s.post_json("dev-branches/", json!({"name": "feature", "description": "work"}));
    assert_eq!(st, 202, "branch creation is a storage job: {job}");
    assert_eq!(job["operationName"], "devBranchCreate");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let branch = &job["results"];
    let bid = branch["id"].as_i64().expect("branch id is an int");
    assert_eq!(branch["name"], "feature");
    assert_eq!(branch["isDefault"], false);
    assert!(branch["creatorToken"]["id"].is_i64());
    assert_eq!(s.get("dev-branches").1.as_array().unwrap().len(), 2);
    let (st, dup) = s.post_json("dev-branches", json!({"name": "feature"}));
    assert_eq!(st, 400, "{dup}");
    assert!(code(&dup).ends_with("AlreadyExists"), "{dup}");

    // The branch starts with a copy of the default branch's configurations.
    let b = bid.to_string();
    let (st, copied) = s.get(&format!("{}/shared", cfgs(&b)));
    assert_eq!(st, 200, "{copied}");
    assert_eq!(copied["configuration"], json!({"v": 1}));
    assert_eq!(s.get(&format!("{}/shared/metadata", cfgs(&b))).1[0]["key"], "k");
    let (st, _) = s.put_json(&format!("{}/shared", cfgs(&b)), json!({"configuration": {"v": 2}}));
    assert_eq!(st, 200);
    s.post_json(&cfgs(&b), json!({"name": "branch only", "configurationId": "branch-only"}));

    assert_eq!(s.get(&format!("{}/shared", cfgs("default"))).1["configuration"], json!({"v": 1}));
    assert_eq!(s.get(&format!("{}/branch-only", cfgs("default"))).0, 404);
    let (_, listed) = s.get(&format!("branch/{b}/components"));
    assert_eq!(listed[0]["configurations"][0]["branchId"], bid);

    // Branch metadata is per branch.
    s.post_json(&format!("branch/{b}/metadata"), json!({"metadata": [{"key": "in-branch", "value": "1"}]}));
    assert_eq!(s.get("branch/default/metadata").1, json!([]));

    // A dev-branch configuration cannot be purged.
    assert_eq!(s.delete(&format!("{}/branch-only", cfgs(&b))).0, 204);
    assert_eq!(s.delete(&format!("{}/branch-only", cfgs(&b))).0, 400);

    let (st, rename) = s.put_json(&format!("dev-branches/{b}"), json!({"name": "feature-2"}));
    assert_eq!(st, 200, "{rename}");
    assert_eq!(rename["name"], "feature-2");

    let (st, job) = s.delete(&format!("dev-branches/{b}"));
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
    assert_eq!(s.get(&format!("dev-branches/{b}")).0, 404);
    assert_eq!(s.get(&cfgs(&b)).0, 404);
    assert_eq!(s.get(&format!("{}/shared", cfgs("default"))).0, 200, "the default branch is untouched");
}

#[test]
fn triggers_crud_with_form_updates() {
    let s = Server::start();
    let (st, _) = s.post_json("buckets", json!({"name": "trig", "stage": "in"}));
    assert_eq!(st, 201);
    for name in ["a", "b"] {
        let (st, t) = s.post_form("buckets/in.c-trig/tables", &[("name", name), ("dataString", "id\n1\n")]);
        assert_eq!(st, 201, "{t}");
    }
    let (_, me) = s.get("tokens/verify");
    let token_id = me["id"].as_str().unwrap().to_string();

    // kbcstorage sends the token id as the string verify returned.
    let (st, t) = s.post_json(
        "triggers/",
        json!({"runWithTokenId": token_id, "component": "keboola.orchestrator", "configurationId": "123",
               "coolDownPeriodMinutes": 10, "tableIds": ["in.c-trig.a"]}),
    );
    assert_eq!(st, 201, "{t}");
    let id = t["id"].as_str().expect("trigger id is a string").to_string();
    assert_eq!(t["runWithTokenId"], token_id.parse::<i64>().unwrap());
    assert_eq!(t["coolDownPeriodMinutes"], 10);
    assert_eq!(t["tables"], json!([{"tableId": "in.c-trig.a"}]));
    assert!(t["creatorToken"]["id"].is_i64());
    assert!(t["lastRun"].is_string());

    let (st, d) = s.get(&format!("triggers/{id}"));
    assert_eq!(st, 200);
    assert_eq!(d, t);
    let (_, list) = s.get("triggers");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(s.get("triggers?component=keboola.flow").1, json!([]));
    assert_eq!(s.get("triggers?configurationId=123").1.as_array().unwrap().len(), 1);

    // kbcstorage PUTs form data; lists are repeated keys.
    let (st, u) = s.send(
        s.client
            .put(s.api(&format!("triggers/{id}")))
            .header("X-StorageApi-Token", MASTER_TOKEN)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("coolDownPeriodMinutes=100&tableIds=in.c-trig.a&tableIds=in.c-trig.b"),
    );
    assert_eq!(st, 200, "{u}");
    assert_eq!(u["coolDownPeriodMinutes"], 100);
    assert_eq!(u["tables"], json!([{"tableId": "in.c-trig.a"}, {"tableId": "in.c-trig.b"}]));
    assert_eq!(u["configurationId"], "123");
    assert_eq!(s.get(&format!("triggers/{id}")).1["coolDownPeriodMinutes"], 100);

    for bad in [
        json!({"runWithTokenId": 9999, "component": "keboola.orchestrator", "configurationId": "1", "coolDownPeriodMinutes": 5, "tableIds": ["in.c-trig.a"]}),
        json!({"runWithTokenId": token_id, "component": "keboola.orchestrator", "configurationId": "1", "coolDownPeriodMinutes": 0, "tableIds": ["in.c-trig.a"]}),
        json!({"runWithTokenId": token_id, "component": "keboola.orchestrator", "configurationId": "1", "coolDownPeriodMinutes": 5}),
    ] {
        let (st, e) = s.post_json("triggers", bad.clone());
        assert_eq!(st, 400, "{bad} → {e}");
    }
    let (st, _) = s.post_json(
        "triggers",
        json!({"runWithTokenId": token_id, "component": "keboola.orchestrator", "configurationId": "1", "coolDownPeriodMinutes": 5, "tableIds": ["in.c-trig.nope"]}),
    );
    assert_eq!(st, 404);

    assert_eq!(s.delete(&format!("triggers/{id}")).0, 204);
    let (st, e) = s.get(&format!("triggers/{id}"));
    assert_eq!(st, 404);
    assert_eq!(code(&e), "storage.triggers.notFound");
}
