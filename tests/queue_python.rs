//! Acceptance (issue 3): a Python component written with keboola-component (installed from PyPI
//! by scripts/test into $HOME/.cache/kbstack-test/venv), registered as a `process` component with
//! `kbstack component register`, reads an input table and writes an incremental output with a
//! primary key and a state; run twice through `POST /queue/jobs`, the second run sees the first
//! run's state, the table holds the upserted rows, and the log lines are events of the job.
mod common;
mod queue_support;

use std::path::PathBuf;
use std::process::Command;

use common::Server;
use queue_support::*;
use serde_json::{Value, json};

const COMPONENT: &str = "kbstack.python-upsert";

fn rows(s: &Server, table: &str) -> Vec<Vec<String>> {
    s.preview_rows(table, "&limit=1000")
}

#[test]
fn keboola_component_runs_twice_with_state_and_upsert() {
    let Some(python) = common::venv_python("keboola.component") else {
        eprintln!("SKIPPED: no Python with keboola-component (run scripts/test, which installs it into $HOME/.cache/kbstack-test/venv)");
        return;
    };
    let s = Server::start();
    // Register through the CLI, from a definition next to the component's source.
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python-upsert");
    let mut def: Value = serde_json::from_str(&std::fs::read_to_string(fixture.join("component.json")).unwrap()).unwrap();
    def["command"] = json!([python.display().to_string(), "${COMPONENT_DIR}/src/component.py"]);
    def["component_dir"] = json!(fixture.display().to_string());
    let def_file = s.data_dir.join("python-upsert.json");
    std::fs::write(&def_file, def.to_string()).unwrap();
    let bin = std::env::var("KBSTACK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kbstack").to_string());
    // On every node: each reads its own registrations.
    for node in s.node_data_dirs() {
        let out = Command::new(&bin)
            .args(["component", "register"])
            .arg(&def_file)
            .env("KBSTACK_DATA_DIR", &node)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains(COMPONENT));
    }

    let (st, b) = s.post_form("buckets", &[("name", "src"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let (st, t) = s.post_form("buckets/in.c-src/tables", &[("name", "people"), ("dataString", "id,name\n1,ann\n2,bob\n"), ("primaryKey", "id")]);
    assert_eq!(st, 201, "{t}");
    create_config(
        &s,
        COMPONENT,
        "py1",
        json!({
            "storage": {"input": {"tables": [{"source": "in.c-src.people", "destination": "people.csv"}]}},
            "parameters": {"destination": "out.c-python.people"}
        }),
        vec![],
        false,
    );

    let first = create_job(&s, json!({"component": COMPONENT, "config": "py1", "mode": "run"}));
    let done = wait_finished(&s, &id(&first), 120);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(rows(&s, "out.c-python.people"), vec![vec!["1", "ANN", "1"], vec!["2", "BOB", "1"]]);
    let state = config_body(&s, COMPONENT, "py1")["state"].clone();
    assert_eq!(state["component"], json!({"runs": 1, "ids": ["1", "2"]}), "{state}");
    let (_, t) = s.get("tables/out.c-python.people");
    assert_eq!(t["primaryKey"], json!(["id"]));

    // The source changes: bob renamed, cid added. The second run sees the first run's state.
    let (st, r) = s.post_form("tables/in.c-src.people/import", &[("dataString", "id,name\n2,bobby\n3,cid\n"), ("incremental", "1")]);
    assert_eq!(st, 200, "{r}");
    let second = create_job(&s, json!({"component": COMPONENT, "config": "py1"}));
    let done = wait_finished(&s, &id(&second), 120);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(
        rows(&s, "out.c-python.people"),
        vec![vec!["1", "ANN", "2"], vec!["2", "BOBBY", "2"], vec!["3", "CID", "2"]],
        "upserted by primary key, not appended"
    );
    assert_eq!(config_body(&s, COMPONENT, "py1")["state"]["component"]["runs"], 2);
    assert_eq!(done["result"]["output"]["tables"][0]["id"], "out.c-python.people");
    assert_eq!(done["result"]["input"]["tables"][0]["id"], "in.c-src.people");

    // The log lines are events of the job, readable by the job id (as MCP and kbagent read them).
    let (st, events) = s.get(&format!("events?runId={}&limit=200&forceUuid=true", id(&second)));
    assert_eq!(st, 200, "{events}");
    let messages: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["message"].as_str()).collect();
    assert!(
        messages.iter().any(|m| m.contains("Run number 2; previous state: {\"ids\": [\"1\", \"2\"], \"runs\": 1}")),
        "{messages:?}"
    );
    assert!(messages.iter().any(|m| m.contains("Wrote 3 rows to out.c-python.people")), "{messages:?}");
    let e = events.as_array().unwrap().iter().find(|e| e["message"].as_str().is_some_and(|m| m.contains("Wrote 3 rows"))).unwrap();
    assert_eq!(e["component"], COMPONENT);
    assert_eq!(e["runId"], id(&second));

    // A user error of the component fails the job (exit 1), never the server.
    let j = create_job(&s, json!({"component": COMPONENT, "configData": {"parameters": {"fail": "The API key is wrong."}}}));
    let e = wait_finished(&s, &id(&j), 120);
    assert_eq!(e["status"], "error");
    assert_eq!(e["result"]["error"]["type"], "user");
    assert!(e["result"]["message"].as_str().unwrap().contains("The API key is wrong."), "{e}");
}

/// Acceptance: a `keboola.flow` with two phases (the Python component → a DuckDB transformation)
/// succeeds; a failing task fails the flow, or leaves it `warning` with `continueOnFailure`.
#[test]
fn flow_python_component_then_duckdb_transformation() {
    let Some(python) = common::venv_python("keboola.component") else {
        eprintln!("SKIPPED: no Python with keboola-component");
        return;
    };
    let s = Server::start();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python-upsert");
    let mut def: Value = serde_json::from_str(&std::fs::read_to_string(fixture.join("component.json")).unwrap()).unwrap();
    def["command"] = json!([python.display().to_string(), "${COMPONENT_DIR}/src/component.py"]);
    def["component_dir"] = json!(fixture.display().to_string());
    for node in s.node_data_dirs() {
        std::fs::create_dir_all(node.join("components")).unwrap();
        std::fs::write(node.join("components").join(format!("{COMPONENT}.json")), def.to_string()).unwrap();
    }

    let (st, _) = s.post_form("buckets", &[("name", "src"), ("stage", "in")]);
    assert_eq!(st, 201);
    let (st, t) = s.post_form("buckets/in.c-src/tables", &[("name", "people"), ("dataString", "id,name\n1,ann\n2,bob\n3,cid\n"), ("primaryKey", "id")]);
    assert_eq!(st, 201, "{t}");
    create_config(
        &s,
        COMPONENT,
        "py",
        json!({"storage": {"input": {"tables": [{"source": "in.c-src.people", "destination": "people.csv"}]}},
               "parameters": {"destination": "out.c-python.people"}}),
        vec![],
        false,
    );
    create_config(
        &s,
        "keboola.duckdb-transformation",
        "sql",
        json!({
            "storage": {"input": {"tables": [{"source": "out.c-python.people", "destination": "people.csv"}]},
                        "output": {"tables": [{"source": "summary.csv", "destination": "out.c-report.summary"}]}},
            "parameters": {"blocks": [{"name": "b", "codes": [{"name": "c", "script": [
                "CREATE VIEW \"summary.csv\" AS SELECT COUNT(*) AS people, string_agg(name, '|' ORDER BY id) AS names FROM people"
            ]}]}]}
        }),
        vec![],
        false,
    );
    create_config(&s, "keboola.runner-config-test", "broken", json!({"parameters": {"operation": "fail", "message": "broken task"}}), vec![], false);
    let flow = |extra_task: Option<bool>| {
        let mut tasks = vec![
            json!({"id": "t1", "name": "python", "phase": "extract", "task": {"type": "job", "componentId": COMPONENT, "configId": "py", "mode": "run"}, "continueOnFailure": false, "enabled": true}),
            json!({"id": "t2", "name": "duckdb", "phase": "transform", "task": {"type": "job", "componentId": "keboola.duckdb-transformation", "configId": "sql", "mode": "run"}, "continueOnFailure": false, "enabled": true}),
        ];
        if let Some(tolerated) = extra_task {
            tasks.push(json!({"id": "t3", "name": "broken", "phase": "extract", "task": {"type": "job", "componentId": "keboola.runner-config-test", "configId": "broken", "mode": "run"}, "continueOnFailure": tolerated, "enabled": true}));
        }
        json!({
            "phases": [
                {"id": "extract", "name": "Extract", "next": [{"id": "n1", "goto": "transform"}]},
                {"id": "transform", "name": "Transform", "next": [{"id": "n2", "goto": null}]}
            ],
            "tasks": tasks
        })
    };
    create_config(&s, "keboola.flow", "f-ok", flow(None), vec![], false);
    let j = create_job(&s, json!({"component": "keboola.flow", "config": "f-ok"}));
    assert_eq!(j["type"], "orchestrationContainer");
    let done = wait_finished(&s, &id(&j), 180);
    assert_eq!(done["status"], "success", "{done}");
    let (st, preview) = s.get("tables/out.c-report.summary/data-preview?format=json");
    assert_eq!(st, 200, "{preview}");
    let row: Vec<&str> = preview["rows"][0].as_array().unwrap().iter().map(|c| c["value"].as_str().unwrap()).collect();
    assert_eq!(row, vec!["3", "ANN|BOB|CID"]);
    let phases: Vec<&str> = done["result"]["phases"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(phases, vec!["success", "success"]);

    create_config(&s, "keboola.flow", "f-warn", flow(Some(true)), vec![], false);
    let warned = wait_finished(&s, &id(&create_job(&s, json!({"component": "keboola.flow", "config": "f-warn"}))), 180);
    assert_eq!(warned["status"], "warning", "{warned}");
    create_config(&s, "keboola.flow", "f-fail", flow(Some(false)), vec![], false);
    let failed = wait_finished(&s, &id(&create_job(&s, json!({"component": "keboola.flow", "config": "f-fail"}))), 180);
    assert_eq!(failed["status"], "error", "{failed}");
    assert!(failed["result"]["message"].as_str().unwrap().contains("broken task"), "{failed}");
    assert_eq!(failed["result"]["phases"].as_array().unwrap().len(), 1, "the transform phase did not run");
}
