//! Sandboxes of the Data Science service through the real binary, as the Go SDK makes them: a
//! `keboola.sandboxes` configuration, a Queue job with `task: create` that makes a Storage
//! workspace and writes its id into the configuration's `parameters.id`, the record at
//! `GET /sandboxes/{id}` (on both service ids), a `task: delete` job that drops it; a job with an
//! unknown task fails as a user error; another project sees nothing.
mod common;
mod queue_support;

use common::{MASTER_TOKEN, Server, call, ok};
use queue_support::*;
use reqwest::Method;
use serde_json::{Value, json};

const P2_MASTER: &str = "2-90-projecttwomastertoken000000000000000";

fn ds(s: &Server, token: &str, path: &str) -> (u16, Value) {
    s.send(s.client.get(format!("{}/{}", s.url, path.trim_start_matches('/'))).header("X-StorageApi-Token", token))
}

fn sandbox_job(s: &Server, config: &str, parameters: Value) -> Value {
    let created = create_job(s, json!({"component": "keboola.sandboxes", "mode": "run", "config": config, "configData": {"parameters": parameters}}));
    wait_finished(s, &id(&created), 60)
}

#[test]
fn a_sandbox_is_a_storage_workspace_made_and_dropped_by_queue_jobs() {
    let (s, _dir) = common::start_with_projects(&[(2, "two", P2_MASTER)]);
    create_config(&s, "keboola.sandboxes", "sbx1", json!({"parameters": {"type": "python", "shared": false}}), vec![], false);

    let done = sandbox_job(&s, "sbx1", json!({"task": "create", "type": "python", "shared": false, "expirationAfterHours": 0}));
    assert_eq!(done["status"], "success", "{done}");
    let config = ok("config", call(&s, Method::GET, MASTER_TOKEN, "components/keboola.sandboxes/configs/sbx1", None), 200);
    let sandbox_id = config["configuration"]["parameters"]["id"].as_str().expect("parameters.id written").to_string();
    assert_eq!(config["configuration"]["parameters"]["type"], "python", "the rest of the configuration stays");

    let record = ok("sandbox", ds(&s, MASTER_TOKEN, &format!("data-science/sandboxes/{sandbox_id}")), 200);
    assert_eq!(record["id"], json!(sandbox_id));
    assert_eq!(record["configurationId"], "sbx1");
    assert_eq!(record["componentId"], "keboola.sandboxes");
    assert_eq!(record["active"], true);
    assert!(record["workspaceDetails"]["connection"]["schema"].as_str().is_some_and(|s| !s.is_empty()), "{record}");
    assert_eq!(ok("old id", ds(&s, MASTER_TOKEN, &format!("sandboxes/sandboxes/{sandbox_id}")), 200)["id"], json!(sandbox_id));
    let listed = ok("list", ds(&s, MASTER_TOKEN, "data-science/sandboxes"), 200);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // The same workspace in Storage, under its configuration.
    let ws = ok("storage workspace", call(&s, Method::GET, MASTER_TOKEN, &format!("workspaces/{sandbox_id}"), None), 200);
    assert_eq!(ws["configurationId"], "sbx1");

    // Another project sees none of it.
    assert_eq!(ds(&s, P2_MASTER, &format!("data-science/sandboxes/{sandbox_id}")).0, 404);
    assert_eq!(ok("p2 list", ds(&s, P2_MASTER, "data-science/sandboxes"), 200), json!([]));

    let bad = sandbox_job(&s, "sbx1", json!({"task": "explode"}));
    assert_eq!(bad["status"], "error", "{bad}");
    assert!(bad["result"]["message"].as_str().unwrap_or_default().contains("explode"), "{bad}");

    let deleted = sandbox_job(&s, "sbx1", json!({"task": "delete", "id": sandbox_id}));
    assert_eq!(deleted["status"], "success", "{deleted}");
    assert_eq!(ds(&s, MASTER_TOKEN, &format!("data-science/sandboxes/{sandbox_id}")).0, 404);
    assert_eq!(call(&s, Method::GET, MASTER_TOKEN, &format!("workspaces/{sandbox_id}"), None).0, 404);
}
