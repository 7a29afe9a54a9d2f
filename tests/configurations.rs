//! Components and configurations: CRUD, trash, versions, rollback and copy, rows, state, metadata,
//! search, the component listing's `include` semantics, permissions and bad input.
mod common;

use common::{MASTER_TOKEN, Server};
use serde_json::{Value, json};

const C: &str = "keboola.runner-config-test";

fn configs(path: &str) -> String {
    format!("branch/default/components/{C}/configs{path}")
}

fn create(s: &Server, body: Value) -> Value {
    let (st, c) = s.post_json(&configs("/"), body);
    assert_eq!(st, 201, "{c}");
    c
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or_default()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

/// A token without `canManageBuckets`, optionally allowed to manage some components.
fn limited_token(s: &Server, components: &[&str]) -> String {
    let mut body = json!({"description": "limited", "canManageBuckets": false});
    if !components.is_empty() {
        body["componentAccess"] = json!(components);
    }
    let (st, t) = s.post_json("tokens", body);
    assert_eq!(st, 201, "{t}");
    t["token"].as_str().unwrap().to_string()
}

fn put_form(s: &Server, path: &str, form: &str) -> (u16, Value) {
    s.send(
        s.client
            .put(s.api(path))
            .header("X-StorageApi-Token", MASTER_TOKEN)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.to_string()),
    )
}

#[test]
fn create_detail_update_and_the_wire_shape() {
    let s = Server::start();
    let c = create(&s, json!({"name": "first", "configuration": {"a": 1}, "changeDescription": "init", "state": null}));
    let id = c["id"].as_str().expect("id is a string");
    assert!(id.parse::<u64>().is_ok(), "generated ids are numeric strings: {id}");
    assert_eq!(c["version"], 1);
    assert_eq!(c["name"], "first");
    assert_eq!(c["description"], "");
    assert_eq!(c["configuration"], json!({"a": 1}));
    assert_eq!(c["state"], json!({}), "empty state is an object");
    assert_eq!(c["rows"], json!([]));
    assert_eq!(c["rowsSortOrder"], json!([]));
    assert_eq!(c["isDisabled"], false);
    assert_eq!(c["isDeleted"], false);
    assert_eq!(c["changeDescription"], "init");
    assert!(c["creatorToken"]["id"].is_i64());
    assert_eq!(c["currentVersion"]["changeDescription"], "init");
    assert_eq!(c["currentVersion"]["versionIdentifier"].as_str().unwrap().len(), 26);
    let created = c["created"].as_str().unwrap();
    assert_eq!(created.len(), 24, "Keboola timestamp: {created}");

    // Empty configuration is an object, never [].
    let empty = create(&s, json!({"name": "empty", "configuration": []}));
    assert_eq!(empty["configuration"], json!({}));

    // Form body with the configuration as a JSON string and an explicit id.
    let (st, f) = s.post_form(
        &configs(""),
        &[("name", "form"), ("configurationId", "form-config"), ("configuration", r#"{"x":{"y":[1,2]}}"#), ("isDisabled", "1")],
    );
    assert_eq!(st, 201, "{f}");
    assert_eq!(f["id"], "form-config");
    assert_eq!(f["configuration"], json!({"x": {"y": [1, 2]}}));
    assert_eq!(f["isDisabled"], true);

    let (st, dup) = s.post_json(&configs(""), json!({"name": "again", "configurationId": "form-config"}));
    assert_eq!(st, 400, "{dup}");
    assert!(code(&dup).ends_with("AlreadyExists"), "{dup}");

    // The deprecated path without the branch prefix is the same resource.
    let (st, d) = s.get(&format!("components/{C}/configs/{id}"));
    assert_eq!(st, 200, "{d}");
    assert_eq!(d, c);

    let (st, u) = s.put_json(&configs(&format!("/{id}")), json!({"configuration": {"a": 2}, "description": "changed"}));
    assert_eq!(st, 200, "{u}");
    assert_eq!(u["version"], 2);
    assert_eq!(u["name"], "first", "partial update keeps the name");
    assert_eq!(u["description"], "changed");
    assert_eq!(u["configuration"], json!({"a": 2}));
    assert_eq!(u["created"], c["created"]);

    // State is not versioned.
    let (st, with_state) = s.put_json(&configs(&format!("/{id}/state")), json!({"state": {"last": 7}}));
    assert_eq!(st, 200, "{with_state}");
    assert_eq!(with_state["version"], 2);
    assert_eq!(with_state["state"], json!({"last": 7}));

    // Form update: isDisabled as a PHP bool string.
    let (st, disabled) = put_form(&s, &configs(&format!("/{id}")), "isDisabled=true&changeDescription=off");
    assert_eq!(st, 200, "{disabled}");
    assert_eq!(disabled["isDisabled"], true);
    assert_eq!(disabled["version"], 3);
    assert_eq!(disabled["currentVersion"]["changeDescription"], "off");

    let (st, list) = s.get(&configs(""));
    assert_eq!(st, 200);
    assert_eq!(ids(&list), vec![id.to_string(), empty["id"].as_str().unwrap().to_string(), "form-config".to_string()]);
    for c in list.as_array().unwrap() {
        for key in ["id", "name", "description", "configuration", "rows", "state", "currentVersion"] {
            assert!(c.get(key).is_some(), "{key} in {c}");
        }
    }
}

#[test]
fn versions_rollback_and_copy() {
    let s = Server::start();
    let c = create(&s, json!({"name": "v", "configuration": {"a": 1}}));
    let id = c["id"].as_str().unwrap();
    s.put_json(&configs(&format!("/{id}")), json!({"configuration": {"a": 2}, "name": "v2", "changeDescription": "two"}));
    s.put_json(&configs(&format!("/{id}/state")), json!({"state": {"keep": true}}));

    let (st, versions) = s.get(&configs(&format!("/{id}/versions")));
    assert_eq!(st, 200, "{versions}");
    let vs: Vec<i64> = versions.as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(vs, vec![2, 1], "newest first");
    assert_eq!(versions[0]["name"], "v2");
    assert_eq!(versions[0]["changeDescription"], "two");
    assert!(versions[0].get("configuration").is_none(), "configuration only when included");
    let (_, with_config) = s.get(&configs(&format!("/{id}/versions?include=configuration&limit=1")));
    assert_eq!(with_config.as_array().unwrap().len(), 1);
    assert_eq!(with_config[0]["configuration"], json!({"a": 2}));

    let (st, v1) = s.get(&configs(&format!("/{id}/versions/1")));
    assert_eq!(st, 200, "{v1}");
    assert_eq!(v1["configuration"], json!({"a": 1}));
    assert_eq!(v1["name"], "v");
    assert_eq!(v1["rows"], json!([]));

    let (st, missing) = s.get(&configs(&format!("/{id}/versions/99")));
    assert_eq!(st, 404, "{missing}");
    assert!(code(&missing).ends_with("versionNotFound"), "{missing}");

    let (st, rb) = s.post_json(&configs(&format!("/{id}/versions/1/rollback")), json!({}));
    assert_eq!(st, 201, "{rb}");
    assert_eq!(rb, json!({"version": 3}));
    let (_, now) = s.get(&configs(&format!("/{id}")));
    assert_eq!(now["configuration"], json!({"a": 1}));
    assert_eq!(now["name"], "v");
    assert_eq!(now["state"], json!({"keep": true}), "rollback keeps state");
    assert_eq!(now["changeDescription"], "Rollback to version 1");

    let (st, copy) = s.post_json(&configs(&format!("/{id}/versions/2/create")), json!({"name": "copy"}));
    assert_eq!(st, 201, "{copy}");
    let copy_id = copy["id"].as_str().expect("copy id is a string");
    assert_ne!(copy_id, id);
    let (_, copied) = s.get(&configs(&format!("/{copy_id}")));
    assert_eq!(copied["name"], "copy");
    assert_eq!(copied["configuration"], json!({"a": 2}));
    assert_eq!(copied["version"], 1);
    assert_eq!(copied["state"], json!({}));
}

#[test]
fn trash_restore_and_purge() {
    let s = Server::start();
    let c = create(&s, json!({"name": "trash me"}));
    let id = c["id"].as_str().unwrap();
    assert_eq!(s.delete(&configs(&format!("/{id}"))).0, 204);

    let (st, gone) = s.get(&configs(&format!("/{id}")));
    assert_eq!(st, 404, "{gone}");
    assert_eq!(code(&gone), "storage.configuration.notFound");
    assert!(ids(&s.get(&configs("")).1).is_empty());
    let (_, deleted) = s.get(&configs("?isDeleted=true"));
    assert_eq!(ids(&deleted), vec![id.to_string()]);
    assert_eq!(deleted[0]["isDeleted"], true);
    assert_eq!(deleted[0]["version"], 2);
    assert_eq!(deleted[0]["changeDescription"], "Configuration deleted");
    let (_, listing) = s.get("branch/default/components?isDeleted=1");
    assert_eq!(listing[0]["configurations"][0]["id"], id);

    // Deleted configurations cannot be changed.
    assert_eq!(s.put_json(&configs(&format!("/{id}")), json!({"name": "x"})).0, 404);

    let (st, restored) = s.post_json(&configs(&format!("/{id}/restore")), json!({}));
    assert_eq!(st, 200, "{restored}");
    assert_eq!(restored["isDeleted"], false);
    assert_eq!(restored["version"], 3);
    assert_eq!(restored["changeDescription"], "Configuration restored");
    assert_eq!(s.post_json(&configs(&format!("/{id}/restore")), json!({})).0, 404, "only deleted ones restore");

    // Delete twice (as keboola-mcp-server's skip_trash does): purged for good.
    assert_eq!(s.delete(&configs(&format!("/{id}"))).0, 204);
    assert_eq!(s.delete(&configs(&format!("/{id}"))).0, 204);
    assert!(ids(&s.get(&configs("?isDeleted=true")).1).is_empty());
    assert_eq!(s.delete(&configs(&format!("/{id}"))).0, 404);
    // The id is free again.
    create(&s, json!({"name": "reborn", "configurationId": id}));
}

/// The kbcstorage suite's teardown only trashes; its next run re-creates the same fixed ids.
#[test]
fn an_id_held_only_by_the_trash_can_be_created_again() {
    let s = Server::start();
    create(&s, json!({"name": "old", "configurationId": "fixed", "configuration": {"old": true}}));
    let (st, _) = s.post_json(&configs("/fixed/metadata"), json!({"metadata": [{"key": "k", "value": "v"}]}));
    assert_eq!(st, 201);
    s.put_json(&configs("/fixed"), json!({"name": "old 2"}));
    assert_eq!(s.delete(&configs("/fixed")).0, 204);

    let fresh = create(&s, json!({"name": "new", "configurationId": "fixed"}));
    assert_eq!(fresh["version"], 1);
    assert_eq!(fresh["configuration"], json!({}));
    assert_eq!(s.get(&configs("/fixed/versions")).1.as_array().unwrap().len(), 1, "old history is gone");
    assert_eq!(s.get(&configs("/fixed/metadata")).1, json!([]), "old metadata is gone");
    assert_eq!(s.get(&configs("?isDeleted=true")).1, json!([]));
    let (st, dup) = s.post_json(&configs(""), json!({"name": "again", "configurationId": "fixed"}));
    assert_eq!(st, 400, "a live configuration still blocks its id: {dup}");
}

#[test]
fn rows_state_versions_and_sort_order() {
    let s = Server::start();
    let c = create(&s, json!({"name": "with rows"}));
    let id = c["id"].as_str().unwrap();
    let rows = |tail: &str| configs(&format!("/{id}/rows{tail}"));

    let (st, r1) = s.post_json(&rows(""), json!({"name": "r1", "configuration": {"x": 1}}));
    assert_eq!(st, 201, "{r1}");
    let r1_id = r1["id"].as_str().unwrap().to_string();
    assert_eq!(r1["version"], 1);
    assert_eq!(r1["state"], json!({}));
    assert_eq!(r1["isDisabled"], false);
    assert_eq!(r1["changeDescription"], format!("Row {r1_id} added"));
    let (st, r2) = s.post_form(&rows(""), &[("rowId", "second"), ("configuration", r#"{"y":2}"#)]);
    assert_eq!(st, 201, "{r2}");
    assert_eq!(r2["id"], "second");
    let (st, dup) = s.post_json(&rows(""), json!({"rowId": "second"}));
    assert_eq!(st, 400, "{dup}");
    assert!(code(&dup).ends_with("AlreadyExists"), "{dup}");

    let (_, cfg) = s.get(&configs(&format!("/{id}")));
    assert_eq!(cfg["version"], 3, "every row change is a configuration version");
    assert_eq!(ids(&cfg["rows"]), vec![r1_id.clone(), "second".into()]);

    let (st, sorted) = s.put_json(&configs(&format!("/{id}")), json!({"rowsSortOrder": ["second", r1_id]}));
    assert_eq!(st, 200, "{sorted}");
    assert_eq!(ids(&sorted["rows"]), vec!["second".to_string(), r1_id.clone()]);
    assert_eq!(sorted["rowsSortOrder"], json!(["second", r1_id]));
    let (st, bad) = s.put_json(&configs(&format!("/{id}")), json!({"rowsSortOrder": ["second"]}));
    assert_eq!(st, 400, "incomplete sort order: {bad}");

    let (st, changed) = s.put_json(&rows(&format!("/{r1_id}")), json!({"configuration": {"x": 2}, "changeDescription": "x=2"}));
    assert_eq!(st, 200, "{changed}");
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["configuration"], json!({"x": 2}));
    assert_eq!(changed["name"], "r1");
    let (st, stated) = s.put_json(&rows(&format!("/{r1_id}/state")), json!({"state": {"cursor": 5}}));
    assert_eq!(st, 200, "{stated}");
    assert_eq!(stated["version"], 2, "state is not versioned");
    assert_eq!(stated["state"], json!({"cursor": 5}));

    let (st, versions) = s.get(&rows(&format!("/{r1_id}/versions")));
    assert_eq!(st, 200, "{versions}");
    assert_eq!(versions.as_array().unwrap().len(), 2);
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[0]["changeDescription"], "x=2");
    let (_, v1) = s.get(&rows(&format!("/{r1_id}/versions/1")));
    assert_eq!(v1["configuration"], json!({"x": 1}));
    assert!(v1.get("state").is_none());

    let (st, rolled) = s.post_json(&rows(&format!("/{r1_id}/versions/1/rollback")), json!({}));
    assert_eq!(st, 201, "{rolled}");
    assert_eq!(rolled["configuration"], json!({"x": 1}));
    assert_eq!(rolled["version"], 3);
    assert_eq!(rolled["state"], json!({"cursor": 5}), "row rollback keeps the state");

    let (st, copied) = s.post_json(&rows(&format!("/{r1_id}/versions/2/create")), json!({}));
    assert_eq!(st, 201, "{copied}");
    assert_ne!(copied["id"], r1_id);
    assert_eq!(copied["configuration"], json!({"x": 2}));

    let (_, before_delete) = s.get(&configs(&format!("/{id}")));
    let version_with_row = before_delete["version"].as_i64().unwrap();
    let (st, _) = s.send(
        s.client
            .delete(s.api(&rows(&format!("/{r1_id}"))))
            .header("X-StorageApi-Token", MASTER_TOKEN)
            .json(&json!({"changeDescription": "bye"})),
    );
    assert_eq!(st, 204);
    let (_, after) = s.get(&configs(&format!("/{id}")));
    assert_eq!(after["changeDescription"], "bye");
    assert!(!ids(&after["rows"]).contains(&r1_id));
    assert_eq!(after["rowsSortOrder"], json!(["second", copied["id"]]));
    let (st, missing) = s.get(&rows(&format!("/{r1_id}")));
    assert_eq!(st, 404, "{missing}");
    assert!(code(&missing).to_lowercase().ends_with("notfound"), "{missing}");

    // A configuration rollback brings the row back with its last state.
    let (st, _) = s.post_json(&configs(&format!("/{id}/versions/{version_with_row}/rollback")), json!({}));
    assert_eq!(st, 201);
    let (st, back) = s.get(&rows(&format!("/{r1_id}")));
    assert_eq!(st, 200, "{back}");
    assert_eq!(back["configuration"], json!({"x": 1}));
    assert_eq!(back["state"], json!({"cursor": 5}));
}

#[test]
fn component_listing_includes_only_what_is_asked() {
    let s = Server::start();
    create(&s, json!({"name": "listed", "configuration": {"k": "v"}}));
    let (st, list) = s.get("branch/default/components");
    assert_eq!(st, 200, "{list}");
    let components = list.as_array().unwrap();
    assert_eq!(components.len(), 1, "only components with configurations");
    let comp = &components[0];
    assert_eq!(comp["id"], C);
    for key in ["id", "name", "type", "uri", "data", "flags"] {
        assert!(comp.get(key).is_some(), "{key}");
    }
    let cfg = &comp["configurations"][0];
    assert_eq!(cfg["name"], "listed");
    assert!(cfg["branchId"].is_i64(), "{cfg}");
    assert!(cfg.get("currentVersion").is_some());
    for key in ["configuration", "rows", "state"] {
        assert!(cfg.get(key).is_none(), "{key} not included: {cfg}");
    }

    let (_, full) = s.get("branch/default/components?include=configuration,rows,state");
    let cfg = &full[0]["configurations"][0];
    assert_eq!(cfg["configuration"], json!({"k": "v"}));
    assert_eq!(cfg["rows"], json!([]));
    assert_eq!(cfg["state"], json!({}));

    let (_, writers) = s.get("components?componentType=writer");
    assert_eq!(writers, json!([]));

    // Component detail: public without the branch prefix, token needed with it.
    let (st, detail) = s.send(s.client.get(s.api(&format!("components/{C}"))));
    assert_eq!(st, 200, "{detail}");
    assert_eq!(detail["id"], C);
    assert!(detail["uri"].as_str().unwrap().ends_with(&format!("/v2/storage/components/{C}")));
    assert_eq!(s.send(s.client.get(s.api(&format!("branch/default/components/{C}")))).0, 401);
    let (st, unknown) = s.get("components/keboola.no-such-component");
    assert_eq!(st, 404);
    assert_eq!(code(&unknown), "storage.components.notFound");

    // The index lists the registry.
    let (_, index) = s.send(s.client.get(s.api("")));
    let registered: Vec<&str> = index["components"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    for id in [C, "keboola.orchestrator", "keboola.flow", "keboola.snowflake-transformation", "keboola.ex-http"] {
        assert!(registered.contains(&id), "{id}");
    }
}

#[test]
fn configuration_metadata_and_search() {
    let s = Server::start();
    create(&s, json!({"name": "meta", "configurationId": "meta-cfg"}));
    create(&s, json!({"name": "plain", "configurationId": "plain-cfg"}));
    let meta = configs("/meta-cfg/metadata");

    let (st, items) = s.post_json(&meta, json!({"metadata": [{"key": "KBC.folder", "value": "a"}, {"key": "other", "value": "b"}]}));
    assert_eq!(st, 201, "{items}");
    assert_eq!(items.as_array().unwrap().len(), 2);
    assert!(items[0]["id"].is_string());
    assert!(items[0].get("provider").is_none(), "configuration metadata has no provider");
    assert!(items[0]["timestamp"].is_string());
    let (st, items) = s.post_json(&meta, json!({"metadata": [{"key": "KBC.folder", "value": "c"}]}));
    assert_eq!(st, 201);
    assert_eq!(items.as_array().unwrap().len(), 2, "upsert by key");
    let (_, listed) = s.get(&meta);
    assert_eq!(listed[0]["value"], "c");

    let (st, found) = s.get(&format!(
        "branch/default/search/component-configurations?componentId={C}&metadataKeys[]=KBC.folder&include=filteredMetadata"
    ));
    assert_eq!(st, 200, "{found}");
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["idComponent"], C);
    assert_eq!(found[0]["configurationId"], "meta-cfg");
    assert_eq!(found[0]["metadata"].as_array().unwrap().len(), 1, "filtered to the asked keys");
    let (_, all) = s.get("branch/default/search/component-configurations");
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, none) = s.get("branch/default/search/component-configurations?metadataKeys[0]=nothing");
    assert_eq!(none, json!([]));

    let mid = listed[1]["id"].as_str().unwrap();
    assert_eq!(s.delete(&format!("{meta}/{mid}")).0, 204);
    assert_eq!(s.get(&meta).1.as_array().unwrap().len(), 1);
    let (st, again) = s.delete(&format!("{meta}/{mid}"));
    assert_eq!(st, 404, "{again}");
    assert!(code(&again).ends_with("notFound"));
    let (st, _) = s.post_json(&configs("/no-such/metadata"), json!({"metadata": [{"key": "k", "value": "v"}]}));
    assert_eq!(st, 404);
}

#[test]
fn bad_input_is_rejected() {
    let s = Server::start();
    let (st, e) = s.get("branch/default/components/keboola.no-such-component/configs");
    assert_eq!(st, 404, "{e}");
    assert_eq!(code(&e), "storage.components.notFound");
    let (st, e) = s.get(&configs("/does-not-exist"));
    assert_eq!(st, 404, "{e}");
    assert_eq!(code(&e), "storage.configuration.notFound");

    let (st, e) = s.post_form(&configs(""), &[("name", "x"), ("configuration", "{not json")]);
    assert_eq!(st, 400, "invalid JSON string: {e}");
    assert_eq!(code(&e), "validation.failed");
    let (st, e) = s.post_json(&configs(""), json!({"name": "x", "configuration": [1, 2]}));
    assert_eq!(st, 400, "non-object configuration: {e}");
    let (st, e) = s.post_json(&configs(""), json!({"configuration": {}}));
    assert_eq!(st, 400, "missing name: {e}");
    let (st, e) = s.post_json(&configs(""), json!({"name": "x", "configurationId": "a b"}));
    assert_eq!(st, 400, "bad id: {e}");
    let (st, e) = s.post_json(&configs(""), json!({"name": "x", "isDisabled": "perhaps"}));
    assert_eq!(st, 400, "bad bool: {e}");

    let c = create(&s, json!({"name": "ok"}));
    let id = c["id"].as_str().unwrap();
    let (st, e) = s.put_json(&configs(&format!("/{id}/state")), json!({}));
    assert_eq!(st, 400, "state is required: {e}");
    let (st, e) = s.put_json(&configs(&format!("/{id}")), json!({"name": ""}));
    assert_eq!(st, 400, "blank name: {e}");
    let (st, e) = s.get(&configs(&format!("/{id}/rows/nope")));
    assert_eq!(st, 404, "{e}");
    assert_eq!(code(&e), "storage.configurationRows.notFound");
}

#[test]
fn component_access_governs_limited_tokens() {
    let s = Server::start();
    let none = limited_token(&s, &[]);
    let (st, e) = s.get_as(&none, &configs(""));
    assert_eq!(st, 403, "{e}");
    assert_eq!(code(&e), "accessDenied");
    let (st, listing) = s.get_as(&none, "branch/default/components");
    assert_eq!(st, 200);
    assert_eq!(listing, json!([]));

    let allowed = limited_token(&s, &[C]);
    let (st, c) = s.post_json_as(&allowed, &configs(""), json!({"name": "mine"}));
    assert_eq!(st, 201, "{c}");
    assert_eq!(s.get_as(&allowed, &configs("")).0, 200);
    let (st, e) = s.post_json_as(&allowed, "branch/default/components/keboola.ex-http/configs", json!({"name": "other"}));
    assert_eq!(st, 403, "{e}");
}
