//! Helpers for the Queue tests: calls to `/queue`, polling jobs, stored configurations.
#![allow(dead_code)]
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{MASTER_TOKEN, Server};

pub fn queue_url(s: &Server, path: &str) -> String {
    format!("{}/queue/{}", s.url, path.trim_start_matches('/'))
}

pub fn qget(s: &Server, path: &str) -> (u16, Value) {
    s.send(s.client.get(queue_url(s, path)).header("X-StorageApi-Token", MASTER_TOKEN))
}

pub fn qpost(s: &Server, path: &str, body: Value) -> (u16, Value) {
    s.send(s.client.post(queue_url(s, path)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body))
}

/// Create a job; panics unless 201.
pub fn create_job(s: &Server, body: Value) -> Value {
    let (st, job) = qpost(s, "jobs", body);
    assert_eq!(st, 201, "{job}");
    job
}

pub fn job(s: &Server, id: &str) -> Value {
    let (st, j) = qget(s, &format!("jobs/{id}"));
    assert_eq!(st, 200, "{j}");
    j
}

pub fn id(job: &Value) -> String {
    job["id"].as_str().expect("job id is a string").to_string()
}

/// Poll until the job is finished.
pub fn wait_finished(s: &Server, id: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let j = job(s, id);
        if j["isFinished"] == true {
            return j;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish in {secs}s: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Poll until the job has the status.
pub fn wait_status(s: &Server, id: &str, status: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let j = job(s, id);
        if j["status"] == status {
            return j;
        }
        assert!(Instant::now() < deadline, "job {id} never became {status}: {j}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A runner-config-test job with inline parameters.
pub fn config_test_job(s: &Server, parameters: Value) -> Value {
    create_job(s, json!({"component": "keboola.runner-config-test", "mode": "run", "configData": {"parameters": parameters}}))
}

/// Store a configuration: through the Storage API when it serves configurations of the
/// component, otherwise written into the metadata store in the same document shape.
pub fn create_config(s: &Server, component: &str, id: &str, configuration: Value, rows: Vec<Value>, disabled: bool) {
    let (st, _) = s.post_json(
        &format!("components/{component}/configs"),
        json!({"configurationId": id, "name": id, "configuration": configuration, "isDisabled": disabled}),
    );
    if st == 201 {
        for row in rows {
            let (st, r) = s.post_json(
                &format!("components/{component}/configs/{id}/rows"),
                json!({"rowId": row["id"], "name": row["id"], "configuration": row["configuration"], "isDisabled": row["isDisabled"]}),
            );
            assert_eq!(st, 201, "{r}");
        }
        return;
    }
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({"id": r["id"], "name": r["id"], "description": "", "isDisabled": r["isDisabled"].as_bool().unwrap_or(false),
                   "version": 1, "created": "2024-01-01T00:00:00+0000", "configuration": r["configuration"], "state": {},
                   "changeDescription": "", "creatorToken": {"id": 1, "description": "Master Token"}})
        })
        .collect();
    let body = json!({
        "id": id, "name": id, "description": "", "created": "2024-01-01T00:00:00+0000",
        "creatorToken": {"id": 1, "description": "Master Token"}, "version": 1, "changeDescription": "",
        "isDeleted": false, "isDisabled": disabled, "configuration": configuration, "rowsSortOrder": [],
        "rows": rows, "state": {}, "currentVersion": {}
    });
    use crate::common::sql_text;
    crate::common::metadata_sql(
        &s.data_dir,
        &format!(
            "INSERT INTO configurations (project_id, branch_id, component_id, id, body, is_deleted) \
             VALUES (1, (SELECT id FROM branches WHERE project_id = 1 AND is_default = 1), {}, {}, {}, 0)",
            sql_text(component),
            sql_text(id),
            sql_text(&body.to_string())
        ),
    );
}

/// The stored configuration document (state included).
pub fn config_body(s: &Server, component: &str, id: &str) -> Value {
    use crate::common::sql_text;
    let sql = format!("SELECT body FROM configurations WHERE project_id = 1 AND component_id = {} AND id = {}", sql_text(component), sql_text(id));
    let body = crate::common::metadata_query(&s.data_dir, &sql).expect("the configuration is stored");
    serde_json::from_str(&body).unwrap()
}

/// Every key of the Job object (services.md §1).
pub const JOB_KEYS: &[&str] = &[
    "id", "runId", "parentRunId", "project", "token", "status", "desiredStatus", "mode", "component", "config",
    "configData", "configRowIds", "tag", "createdTime", "startTime", "endTime", "durationSeconds", "result",
    "usageData", "isFinished", "url", "branchId", "variableValuesId", "variableValuesData", "backend", "executor",
    "metrics", "behavior", "parallelism", "type", "orchestrationJobId", "orchestrationTaskId",
    "onlyOrchestrationTaskIds", "previousJobId",
];

/// Register a process component by dropping its definition into `<data-dir>/components` (of
/// every node: each node reads its own).
pub fn register(s: &Server, id: &str, definition: Value) {
    let mut d = definition;
    d["id"] = json!(id);
    for node in s.node_data_dirs() {
        let dir = node.join("components");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{id}.json")), d.to_string()).unwrap();
    }
}

pub fn sh(script: &str) -> Value {
    json!({"type": "application", "name": "shell", "command": ["/bin/sh", "-c", script]})
}

/// A path a component may write and the test may read: components are sandboxed to their job
/// folder, `/dev/shm` excepted (as in a container). Unique per call; removed by the caller.
pub fn shared_marker(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/dev/shm/kbstack-test-{}-{name}", uuid::Uuid::new_v4().simple()))
}

/// A Python with keboola-mcp-server installed (scripts/test puts it in the test venv).
pub fn python_with_mcp() -> Option<std::path::PathBuf> {
    crate::common::venv_python("keboola_mcp_server.clients.jobs_queue")
}
