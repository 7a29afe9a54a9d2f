//! Container jobs through the real binary: configuration rows with a parallelism,
//! `keboola.orchestrator` (dependsOn) and `keboola.flow` (next transitions, continueOnFailure,
//! conditions), child jobs under the container's run, kill of a flow.
mod common;
mod queue_support;

use std::time::{Duration, Instant};

use common::Server;
use queue_support::*;
use serde_json::{Value, json};

const TEST: &str = "keboola.runner-config-test";

fn children(s: &Server, parent: &Value) -> Vec<Value> {
    let (st, found) = qget(s, &format!("search/jobs?parentRunId={}&sortBy=id&sortOrder=asc", parent["runId"].as_str().unwrap()));
    assert_eq!(st, 200);
    found.as_array().unwrap().clone()
}

/// The task jobs of a flow: children of its phase containers.
fn task_jobs(s: &Server, flow: &Value) -> Vec<Value> {
    children(s, flow).iter().flat_map(|phase| children(s, phase)).collect()
}

#[test]
fn rows_with_parallelism_run_as_a_container() {
    let s = Server::start();
    let rows: Vec<Value> = (1..=3).map(|i| json!({"id": format!("r{i}"), "configuration": {"parameters": {"sleep": 0.5, "state": {"row": i}}}})).collect();
    create_config(&s, TEST, "par", json!({"parameters": {}}), rows, false);
    let j = create_job(&s, json!({"component": TEST, "config": "par", "parallelism": "2"}));
    assert_eq!(j["type"], "container");
    let done = wait_finished(&s, &id(&j), 60);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["result"]["jobs"].as_array().unwrap().len(), 3);
    let kids = children(&s, &j);
    assert_eq!(kids.len(), 3);
    for k in &kids {
        assert_eq!(k["type"], "standard");
        assert_eq!(k["status"], "success");
        assert_eq!(k["parentRunId"], j["runId"]);
        assert_eq!(k["runId"], format!("{}.{}", j["runId"].as_str().unwrap(), k["id"].as_str().unwrap()));
        assert_eq!(k["configRowIds"].as_array().unwrap().len(), 1);
    }
    let body = config_body(&s, TEST, "par");
    assert_eq!(body["rows"][2]["state"]["component"], json!({"row": 3}));
}

#[test]
fn orchestrator_runs_phases_in_dependency_order() {
    let s = Server::start();
    create_config(
        &s,
        TEST,
        "extract",
        json!({"parameters": {"tables": {"t.csv": "id,v\n1,a\n2,b\n"}},
               "storage": {"output": {"tables": [{"source": "t.csv", "destination": "out.c-flow.t", "primary_key": ["id"]}]}}}),
        vec![],
        false,
    );
    create_config(
        &s,
        TEST,
        "transform",
        json!({"parameters": {"copy_tables": true},
               "storage": {"input": {"tables": [{"source": "out.c-flow.t", "destination": "t.csv"}]},
                           "output": {"tables": [{"source": "t.csv", "destination": "out.c-flow.copy"}]}}}),
        vec![],
        false,
    );
    let flow = json!({
        "phases": [{"id": 2, "name": "Transform", "dependsOn": [1]}, {"id": 1, "name": "Extract", "dependsOn": []}],
        "tasks": [
            {"id": 20, "name": "copy", "phase": 2, "task": {"componentId": TEST, "configId": "transform", "mode": "run"}, "continueOnFailure": false, "enabled": true},
            {"id": 10, "name": "extract", "phase": 1, "task": {"componentId": TEST, "configId": "extract", "mode": "run"}, "continueOnFailure": false, "enabled": true},
            {"id": 30, "name": "off", "phase": 1, "task": {"componentId": TEST, "configId": "nope", "mode": "run"}, "enabled": false}
        ]
    });
    let j = create_job(&s, json!({"component": "keboola.orchestrator", "configData": flow}));
    assert_eq!(j["type"], "orchestrationContainer");
    let done = wait_finished(&s, &id(&j), 60);
    assert_eq!(done["status"], "success", "{done}");
    let tasks = done["result"]["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{done}");
    assert_eq!(tasks[0]["name"], "extract");
    assert_eq!(tasks[1]["name"], "copy");
    assert!(tasks.iter().all(|t| t["status"] == "success" && t["jobId"].is_string()));
    assert_eq!(done["result"]["phases"].as_array().unwrap().len(), 2);
    let (st, preview) = s.get("tables/out.c-flow.copy/data-preview?format=json");
    assert_eq!(st, 200, "{preview}");
    assert_eq!(preview["rows"].as_array().unwrap().len(), 2);
    // Each phase ran as a phaseContainer child of the flow, its task as the phase's child.
    let phases = children(&s, &j);
    assert_eq!(phases.len(), 2, "{phases:?}");
    assert!(phases.iter().all(|p| p["type"] == "phaseContainer" && p["orchestrationJobId"] == j["id"] && p["status"] == "success"), "{phases:?}");
    assert_eq!(phases[0]["orchestrationPhaseId"], "1");
    assert_eq!(phases[1]["orchestrationPhaseId"], "2");
    assert_eq!(done["result"]["phases"][0]["jobId"], phases[0]["id"]);
    let kids = children(&s, &phases[0]);
    assert_eq!(kids.len(), 1, "{kids:?}");
    assert_eq!(kids[0]["orchestrationJobId"], j["id"]);
    assert_eq!(kids[0]["orchestrationTaskId"], "10");
    assert_eq!(kids[0]["runId"], format!("{}.{}.{}", id(&j), id(&phases[0]), id(&kids[0])));
}

#[test]
fn flow_transitions_tolerated_and_fatal_failures() {
    let s = Server::start();
    create_config(&s, TEST, "ok", json!({"parameters": {}}), vec![], false);
    create_config(&s, TEST, "bad", json!({"parameters": {"operation": "fail", "message": "source is down"}}), vec![], false);
    let flow = |continue_on_failure: bool| {
        json!({
            "phases": [
                {"id": "p1", "name": "First", "next": [{"id": "t1", "goto": "p2"}]},
                {"id": "p2", "name": "Second", "next": [{"id": "t2", "goto": "p3"}]},
                {"id": "p3", "name": "Third", "next": [{"id": "t3", "goto": null}]}
            ],
            "tasks": [
                {"id": "a", "name": "first ok", "phase": "p1", "task": {"type": "job", "componentId": TEST, "configId": "ok", "mode": "run"}, "enabled": true},
                {"id": "b", "name": "flaky", "phase": "p2", "task": {"type": "job", "componentId": TEST, "configId": "bad", "mode": "run"}, "continueOnFailure": continue_on_failure, "enabled": true},
                {"id": "n", "name": "notify", "phase": "p2", "task": {"type": "notification", "channel": "email", "title": "hi", "message": "x"}, "enabled": true},
                {"id": "c", "name": "last", "phase": "p3", "task": {"type": "job", "componentId": TEST, "configId": "ok", "mode": "run"}, "enabled": true}
            ]
        })
    };
    let warned = wait_finished(&s, &id(&create_job(&s, json!({"component": "keboola.flow", "configData": flow(true)}))), 60);
    assert_eq!(warned["status"], "warning", "{warned}");
    assert_eq!(warned["isFinished"], true);
    let names: Vec<&str> = warned["result"]["tasks"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["first ok", "flaky", "notify", "last"]);

    let failed = wait_finished(&s, &id(&create_job(&s, json!({"component": "keboola.flow", "configData": flow(false)}))), 60);
    assert_eq!(failed["status"], "error", "{failed}");
    assert!(failed["result"]["message"].as_str().unwrap().contains("source is down"), "{failed}");
    let names: Vec<&str> = failed["result"]["tasks"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["first ok", "flaky", "notify"], "the third phase never ran");

    // A condition on the failed phase routes to a recovery phase instead of failing the flow.
    let mut handled = flow(false);
    handled["phases"][1]["next"] = json!([
        {"id": "t-err", "goto": "p3", "condition": {"type": "operator", "operator": "EQUALS",
            "operands": [{"type": "task", "task": "b", "value": "job.status"}, {"type": "const", "value": "error"}]}}
    ]);
    let routed = wait_finished(&s, &id(&create_job(&s, json!({"component": "keboola.flow", "configData": handled}))), 60);
    assert_eq!(routed["status"], "warning", "{routed}");
    assert_eq!(routed["result"]["tasks"].as_array().unwrap().last().unwrap()["name"], "last");
}

#[test]
fn killing_a_flow_terminates_its_running_task() {
    let s = Server::start();
    create_config(&s, TEST, "slow", json!({"parameters": {"sleep": 60}}), vec![], false);
    let flow = json!({
        "phases": [{"id": "p", "name": "P"}],
        "tasks": [{"id": "t", "name": "slow", "phase": "p", "task": {"type": "job", "componentId": TEST, "configId": "slow", "mode": "run"}, "enabled": true}]
    });
    let j = create_job(&s, json!({"component": "keboola.flow", "configData": flow}));
    let deadline = Instant::now() + Duration::from_secs(10);
    let child = loop {
        let kids = task_jobs(&s, &j);
        if let Some(k) = kids.iter().find(|k| k["status"] == "processing") {
            break k.clone();
        }
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    let t0 = Instant::now();
    let (st, _) = qpost(&s, &format!("jobs/{}/kill", id(&j)), json!({}));
    assert_eq!(st, 202);
    let done = wait_finished(&s, &id(&j), 10);
    assert_eq!(done["status"], "terminated", "{done}");
    assert_eq!(wait_finished(&s, &id(&child), 5)["status"], "terminated");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

/// A process component that fails (exit 1, "temporary glitch") on its first run and succeeds after:
/// a marker file where components may write (`/dev/shm`).
fn register_flaky(s: &Server, marker: &std::path::Path) {
    let script = format!("if [ -f {m} ]; then echo recovered; else touch {m}; echo 'temporary glitch' >&2; exit 1; fi", m = marker.display());
    register(s, "kbstack-test.flaky", sh(&script));
}

#[test]
fn flow_retries_tasks_and_phases() {
    let s = Server::start();
    let marker = shared_marker("task-marker");
    register_flaky(&s, &marker);
    create_config(&s, "kbstack-test.flaky", "f", json!({"parameters": {}}), vec![], false);
    create_config(&s, TEST, "bad", json!({"parameters": {"operation": "fail", "message": "source is down"}}), vec![], false);
    let job_task = |id: &str, component: &str, config: &str, retry: Value| {
        json!({"id": id, "name": id, "phase": "p", "enabled": true,
               "task": {"type": "job", "componentId": component, "configId": config, "mode": "run", "retry": retry}})
    };
    let linear = |on: Value, max: u64| json!({"retryOn": on, "strategy": "linear", "strategyParams": {"maxRetries": max, "delay": 0}});

    // Task retry: the flaky task succeeds on its second job; a retryOn that does not match the
    // error message is not retried.
    let flow = json!({
        "phases": [{"id": "p", "name": "P"}],
        "tasks": [job_task("flaky", "kbstack-test.flaky", "f", linear(json!([{"type": "errorMessageContains", "value": "glitch"}]), 2)),
                  {"id": "n", "name": "n", "phase": "p", "enabled": true, "continueOnFailure": true,
                   "task": {"type": "job", "componentId": TEST, "configId": "bad", "mode": "run",
                            "retry": linear(json!([{"type": "errorMessageExact", "value": "other"}]), 5)}}]
    });
    let j = create_job(&s, json!({"component": "keboola.flow", "configData": flow}));
    let done = wait_finished(&s, &id(&j), 60);
    assert_eq!(done["status"], "warning", "{done}");
    let tasks = done["result"]["tasks"].as_array().unwrap();
    assert_eq!(tasks[0]["status"], "success", "{done}");
    assert_eq!(tasks[1]["status"], "error", "{done}");
    let jobs = task_jobs(&s, &j);
    let of = |task: &str| jobs.iter().filter(|k| k["orchestrationTaskId"] == task).map(|k| k["status"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(of("flaky"), vec!["error", "success"], "{jobs:?}");
    assert_eq!(of("n"), vec!["error"], "{jobs:?}");

    // Phase retry: the phase fails once (its task has no retry of its own) and passes on the rerun.
    std::fs::remove_file(&marker).unwrap();
    let flow = json!({
        "phases": [{"id": "p", "name": "P", "retry": linear(json!(null), 1), "next": [{"id": "end", "goto": null}]}],
        "tasks": [job_task("flaky", "kbstack-test.flaky", "f", json!(null))]
    });
    let j = create_job(&s, json!({"component": "keboola.flow", "configData": flow}));
    let done = wait_finished(&s, &id(&j), 60);
    assert_eq!(done["status"], "success", "{done}");
    let phases = children(&s, &j);
    assert_eq!(phases.iter().map(|p| p["status"].as_str().unwrap()).collect::<Vec<_>>(), vec!["error", "success"], "{phases:?}");
    assert_eq!(done["result"]["phases"].as_array().unwrap().len(), 2, "{done}");

    // Retries end: a task that always fails is tried 1 + maxRetries times, then fails the flow.
    let flow = json!({"phases": [{"id": "p", "name": "P"}], "tasks": [job_task("bad", TEST, "bad", linear(json!(null), 2))]});
    let j = create_job(&s, json!({"component": "keboola.flow", "configData": flow}));
    let done = wait_finished(&s, &id(&j), 60);
    assert_eq!(done["status"], "error", "{done}");
    assert!(done["result"]["message"].as_str().unwrap().contains("source is down"), "{done}");
    assert_eq!(task_jobs(&s, &j).len(), 3);
    let _ = std::fs::remove_file(&marker);
}
