//! The runner through the real binary: config.json and environment, input and output mapping,
//! state, process components (exit codes, timeout, kill), restart recovery.
mod common;
mod queue_support;

use std::time::{Duration, Instant};

use common::Server;
use queue_support::*;
use serde_json::{Value, json};

const TEST: &str = "keboola.runner-config-test";

fn table(s: &Server, bucket: &str, name: &str, csv: &str, pk: &str) -> String {
    let (st, b) = s.post_form("buckets", &[("name", bucket), ("stage", "in")]);
    assert!(st == 201 || st == 400, "{b}");
    let (st, t) = s.post_form(&format!("buckets/in.c-{bucket}/tables"), &[("name", name), ("dataString", csv), ("primaryKey", pk)]);
    assert_eq!(st, 201, "{t}");
    t["id"].as_str().unwrap().to_string()
}

fn rows(s: &Server, table: &str) -> Vec<Vec<String>> {
    let (st, body) = s.get(&format!("tables/{table}/data-preview?format=json&limit=1000"));
    assert_eq!(st, 200, "{body}");
    let mut out: Vec<Vec<String>> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|c| c["value"].as_str().unwrap().to_string()).collect())
        .collect();
    out.sort();
    out
}

fn v(rows: &[&[&str]]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    out.sort();
    out
}

/// Log lines of a job: Storage events of its run (`runId` = the job id).
fn job_events(s: &Server, job_id: &str) -> Option<Vec<String>> {
    let (st, ev) = s.get(&format!("events?runId={job_id}&limit=1000"));
    assert_eq!(st, 200, "{ev}");
    Some(ev.as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap_or("").to_string()).collect())
}

#[test]
fn config_json_environment_and_data_folder() {
    let s = Server::start_with_env(&[("KBSTACK_KEEP_JOB_DATA", "1")]);
    create_config(&s, TEST, "c1", json!({"parameters": {"dump": ["config", "env"], "#secret": "x"}, "runtime": {"foo": 1}}), vec![], false);
    let j = create_job(&s, json!({"component": TEST, "config": "c1"}));
    let done = wait_finished(&s, &id(&j), 30);
    assert_eq!(done["status"], "success", "{done}");
    let data = s.node_path(&format!("job-data/{}/data", id(&j)));
    let config: Value = serde_json::from_slice(&std::fs::read(data.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["action"], "run");
    assert_eq!(config["parameters"]["#secret"], "x");
    assert_eq!(config["runtime"]["foo"], 1);
    for key in ["storage", "image_parameters", "authorization"] {
        assert!(config[key].is_object(), "{key}: {config}");
    }
    for d in ["in/tables", "in/files", "out/tables", "out/files"] {
        assert!(data.join(d).is_dir(), "{d}");
    }
    assert_eq!(std::fs::read_to_string(data.join("in/state.json")).unwrap().trim(), "{}");
    if let Some(lines) = job_events(&s, &id(&j)) {
        let env_line = lines.iter().find(|l| l.starts_with("{\"env\"")).expect("env dumped as an event");
        let env: Value = serde_json::from_str(env_line).unwrap();
        assert_eq!(env["env"]["KBC_CONFIGID"], "c1");
        assert_eq!(env["env"]["KBC_RUNID"], id(&j));
        assert_eq!(env["env"]["KBC_PROJECTID"], "1");
        assert_eq!(env["env"]["KBC_COMPONENTID"], TEST);
        assert!(env["env"]["KBC_DATADIR"].as_str().unwrap().ends_with("/data/"));
        assert!(env["env"].get("KBC_TOKEN").is_none(), "token not forwarded by default");
    }
}

#[test]
fn process_component_environment_exit_codes_and_logs() {
    let s = Server::start();
    register(
        &s,
        "test.env",
        json!({"type": "extractor", "forward_token": true,
               "command": ["/bin/sh", "-c", "echo \"rows=$KBC_CONFIGROWID id=$KBC_CONFIGID run=$KBC_RUNID\"; env | grep ^KBC_ | sort > out/files/env.txt; test -f config.json && test -d in/tables && echo ok-data-folder"]}),
    );
    let j = create_job(&s, json!({"component": "test.env", "configData": {"parameters": {}}}));
    let done = wait_finished(&s, &id(&j), 30);
    assert_eq!(done["status"], "success", "{done}");
    if let Some(lines) = job_events(&s, &id(&j)) {
        assert!(lines.iter().any(|l| l == "ok-data-folder"), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains(&format!("run={}", id(&j)))), "{lines:?}");
    }

    register(&s, "test.usage", sh("echo '[{\"metric\": \"API calls\", \"value\": 42}]' > out/usage.json"));
    let u = wait_finished(&s, &id(&create_job(&s, json!({"component": "test.usage", "configData": {}}))), 30);
    assert_eq!(u["usageData"], json!([{"metric": "API calls", "value": 42}]), "{u}");

    register(&s, "test.user-error", sh("echo working; echo 'Invalid credentials for the API' >&2; exit 1"));
    let e = wait_finished(&s, &id(&create_job(&s, json!({"component": "test.user-error", "configData": {}}))), 30);
    assert_eq!(e["status"], "error");
    assert_eq!(e["result"]["error"]["type"], "user");
    assert!(e["result"]["message"].as_str().unwrap().contains("Invalid credentials for the API"), "{e}");

    register(&s, "test.app-error", sh("echo 'Traceback: boom' >&2; exit 3"));
    let e = wait_finished(&s, &id(&create_job(&s, json!({"component": "test.app-error", "configData": {}}))), 30);
    assert_eq!(e["status"], "error");
    assert_eq!(e["result"]["error"]["type"], "application");
    assert!(e["result"]["message"].as_str().unwrap().contains("exited with code 3"), "{e}");

    register(&s, "test.missing-binary", json!({"command": ["/nonexistent/program"]}));
    let e = wait_finished(&s, &id(&create_job(&s, json!({"component": "test.missing-binary", "configData": {}}))), 30);
    assert_eq!(e["status"], "error");
    assert!(e["result"]["message"].as_str().unwrap().contains("could not run"), "{e}");

    register(&s, "test.slow", json!({"command": ["/bin/sh", "-c", "sleep 30"], "process_timeout": 1}));
    let t0 = Instant::now();
    let e = wait_finished(&s, &id(&create_job(&s, json!({"component": "test.slow", "configData": {}}))), 30);
    assert_eq!(e["status"], "error");
    assert!(e["result"]["message"].as_str().unwrap().contains("timeout"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[test]
fn kill_terminates_a_process_within_two_seconds() {
    let s = Server::start();
    let (started, marker) = (shared_marker("started"), shared_marker("still-running"));
    register(&s, "test.sleeper", sh(&format!("touch {}; sleep 0.2; (sleep 3; touch {}) & sleep 60", started.display(), marker.display())));
    let j = create_job(&s, json!({"component": "test.sleeper", "configData": {}}));
    wait_status(&s, &id(&j), "processing", 10);
    std::thread::sleep(Duration::from_millis(500));
    assert!(started.exists(), "the component can write the marker's folder");
    let _ = std::fs::remove_file(&started);
    let t0 = Instant::now();
    let (st, k) = qpost(&s, &format!("jobs/{}/kill", id(&j)), json!({}));
    assert_eq!(st, 202, "{k}");
    let done = wait_finished(&s, &id(&j), 5);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(done["status"], "terminated");
    std::thread::sleep(Duration::from_secs(4));
    assert!(!marker.exists(), "a child of the component survived the kill");
    let _ = std::fs::remove_file(&marker);
}

#[test]
fn input_and_output_mapping_with_state() {
    let s = Server::start();
    let src = table(&s, "src", "people", "id,name,city\n1,Ann,Prague\n2,Bob,Brno\n3,Cid,Prague\n", "id");
    let configuration = json!({
        "storage": {
            "input": {"tables": [{"source": src, "destination": "people.csv", "columns": ["id", "name"], "where_column": "city", "where_values": ["Prague"]}]},
            "output": {"tables": [{"source": "people.csv", "destination": "out.c-dst.people", "primary_key": ["id"], "incremental": true}]}
        },
        "parameters": {"copy_tables": true, "state": {"cursor": 7}}
    });
    create_config(&s, TEST, "map", configuration, vec![], false);
    let j = create_job(&s, json!({"component": TEST, "config": "map"}));
    let done = wait_finished(&s, &id(&j), 60);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(rows(&s, "out.c-dst.people"), v(&[&["1", "Ann"], &["3", "Cid"]]));
    let (_, t) = s.get("tables/out.c-dst.people");
    assert_eq!(t["primaryKey"], json!(["id"]));
    assert_eq!(done["result"]["input"]["tables"][0]["id"], src);
    assert_eq!(done["result"]["output"]["tables"][0]["id"], "out.c-dst.people");
    assert_eq!(done["result"]["output"]["tables"][0]["columns"], json!([{"name": "id"}, {"name": "name"}]));
    assert_eq!(config_body(&s, TEST, "map")["state"]["component"], json!({"cursor": 7}));
    assert!(done["metrics"]["storage"]["inputTablesBytesSum"].as_u64().unwrap() > 0, "{done}");
    assert!(done["metrics"]["storage"]["outputTablesBytesSum"].as_u64().unwrap() > 0, "{done}");

    // Incremental upsert by primary key on a second run; the state is seen and replaced.
    let (st, r) = s.post_form(&format!("tables/{src}/import"), &[("dataString", "id,name,city\n3,Cyd,Prague\n4,Dan,Prague\n"), ("incremental", "1")]);
    assert_eq!(st, 200, "{r}");
    let second = create_job(&s, json!({"component": TEST, "configData": {
        "storage": {
            "input": {"tables": [{"source": src, "destination": "people.csv", "columns": ["id", "name"], "where_column": "city", "where_values": ["Prague"]}]},
            "output": {"tables": [{"source": "people.csv", "destination": "out.c-dst.people", "primary_key": ["id"], "incremental": true}]}
        },
        "parameters": {"copy_tables": true}
    }}));
    assert_eq!(wait_finished(&s, &id(&second), 60)["status"], "success");
    assert_eq!(rows(&s, "out.c-dst.people"), v(&[&["1", "Ann"], &["3", "Cyd"], &["4", "Dan"]]));
    // configData runs never touch the stored state.
    assert_eq!(config_body(&s, TEST, "map")["state"]["component"], json!({"cursor": 7}));
    // A run without out/state.json clears the state.
    create_config(&s, TEST, "stateful", json!({"parameters": {"keep_state": true}}), vec![], false);
    let k = create_job(&s, json!({"component": TEST, "config": "stateful"}));
    assert_eq!(wait_finished(&s, &id(&k), 30)["status"], "success");
}

#[test]
fn output_destinations_manifests_sliced_and_delete_where() {
    let s = Server::start();
    register(
        &s,
        "test.writer",
        json!({"type": "extractor", "default_bucket": true, "command": ["/bin/sh", "-c",
            "printf 'id,v\\n1,a\\n2,b\\n' > out/tables/plain.csv; \
             printf 'id,v\\n5,x\\n' > out/tables/in.c-named.by-file.csv; \
             printf 'id,v\\n7,m\\n' > out/tables/m.csv; echo '{\"destination\": \"in.c-man.from-manifest\"}' > out/tables/m.csv.manifest; \
             mkdir out/tables/sliced.csv; printf '\"1\",\"p\"\\n' > out/tables/sliced.csv/part1; printf '\"2\",\"q\"\\n' > out/tables/sliced.csv/part2; \
             echo '{\"destination\": \"in.c-man.sliced\", \"columns\": [\"id\", \"v\"]}' > out/tables/sliced.csv.manifest"]}),
    );
    create_config(&s, "test.writer", "77", json!({"parameters": {}}), vec![], false);
    let j = create_job(&s, json!({"component": "test.writer", "config": "77"}));
    let done = wait_finished(&s, &id(&j), 60);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(rows(&s, "in.c-test-writer-77.plain"), v(&[&["1", "a"], &["2", "b"]]));
    assert_eq!(rows(&s, "in.c-named.by-file"), v(&[&["5", "x"]]));
    assert_eq!(rows(&s, "in.c-man.from-manifest"), v(&[&["7", "m"]]));
    assert_eq!(rows(&s, "in.c-man.sliced"), v(&[&["1", "p"], &["2", "q"]]));

    // delete_where before an incremental load.
    let t = table(&s, "dw", "t", "id,v\n1,a\n2,b\n3,c\n", "id");
    register(&s, "test.dw", sh("printf 'id,v\\n9,z\\n' > out/tables/t.csv"));
    let j = create_job(&s, json!({"component": "test.dw", "configData": {"storage": {"output": {"tables": [{
        "source": "t.csv", "destination": t, "incremental": true,
        "delete_where": [{"where_filters": [{"column": "v", "operator": "eq", "values_from_set": ["a", "b"]}]}]
    }]}}}}));
    assert_eq!(wait_finished(&s, &id(&j), 60)["status"], "success");
    assert_eq!(rows(&s, &t), v(&[&["3", "c"], &["9", "z"]]));

    // A mapping whose source the component did not write is a user error.
    let j = create_job(&s, json!({"component": "test.dw", "configData": {"storage": {"output": {"tables": [
        {"source": "t.csv", "destination": t}, {"source": "missing.csv", "destination": "out.c-x.y"}
    ]}}}}));
    let e = wait_finished(&s, &id(&j), 60);
    assert_eq!(e["status"], "error");
    assert!(e["result"]["message"].as_str().unwrap().contains("missing.csv"), "{e}");
    // An input table that does not exist is a user error.
    let j = config_test_job(&s, json!({}));
    let _ = j;
    let j = create_job(&s, json!({"component": TEST, "configData": {"storage": {"input": {"tables": [{"source": "in.c-nope.nope"}]}}}}));
    let e = wait_finished(&s, &id(&j), 60);
    assert_eq!(e["status"], "error");
    assert_eq!(e["result"]["error"]["type"], "user");
    assert!(e["result"]["message"].as_str().unwrap().contains("in.c-nope.nope"), "{e}");
}

#[test]
fn configuration_rows_run_in_order_with_their_state() {
    let s = Server::start();
    create_config(
        &s,
        TEST,
        "rows",
        json!({"parameters": {"copy_tables": false}}),
        vec![
            json!({"id": "r1", "configuration": {"parameters": {"state": {"row": 1}}}}),
            json!({"id": "r2", "configuration": {"parameters": {"state": {"row": 2}}}, "isDisabled": true}),
            json!({"id": "r3", "configuration": {"parameters": {"operation": "fail", "message": "row three failed"}}}),
        ],
        false,
    );
    let j = create_job(&s, json!({"component": TEST, "config": "rows", "configRowIds": ["r1", "r2"]}));
    assert_eq!(j["configRowIds"], json!(["r1", "r2"]));
    assert_eq!(wait_finished(&s, &id(&j), 30)["status"], "success");
    let body = config_body(&s, TEST, "rows");
    let states: Vec<Value> = body["rows"].as_array().unwrap().iter().map(|r| r["state"]["component"].clone()).collect();
    assert_eq!(states[0], json!({"row": 1}));
    assert_eq!(states[1], json!({"row": 2}));
    // Without configRowIds the enabled rows run (r1, r3); r3 fails the job.
    let j = create_job(&s, json!({"component": TEST, "config": "rows"}));
    let e = wait_finished(&s, &id(&j), 30);
    assert_eq!(e["status"], "error");
    assert_eq!(e["result"]["message"], "row three failed");
}

#[test]
fn restart_ends_running_jobs_as_error_and_runs_queued_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (started, marker) = (shared_marker("started"), shared_marker("survivor"));
    let mut s = Server::start_with(&dir, &[("KBSTACK_QUEUE_WORKERS", "1")]);
    register(&s, "test.long", sh(&format!("touch {}; sleep 3; touch {}; sleep 60", started.display(), marker.display())));
    let running = create_job(&s, json!({"component": "test.long", "configData": {}}));
    wait_status(&s, &id(&running), "processing", 10);
    let queued = config_test_job(&s, json!({"message": "after restart"}));
    std::thread::sleep(Duration::from_millis(300));
    // One worker per node: on one node the second job waits (on a stack another node runs it).
    if !common::scale_out() {
        assert_eq!(job(&s, &id(&queued))["status"], "created", "one worker: the second job waits for it");
    }
    assert!(started.exists(), "the component can write the marker's folder");
    let _ = std::fs::remove_file(&started);
    s.kill(); // SIGKILL
    std::thread::sleep(Duration::from_millis(200));

    let s = Server::start_with(&dir, &[("KBSTACK_QUEUE_WORKERS", "1")]);
    // One node ends the jobs of the process before it at start; on a stack every node is new,
    // and the dead nodes' jobs end once their leases expire.
    let dead = if common::scale_out() { wait_finished(&s, &id(&running), 60) } else { job(&s, &id(&running)) };
    assert_eq!(dead["status"], "error", "{dead}");
    assert_eq!(dead["isFinished"], true);
    assert!(dead["result"]["message"].as_str().unwrap().contains("interrupted"), "{dead}");
    assert!(dead["endTime"].is_string());
    let after = wait_finished(&s, &id(&queued), 30);
    assert_eq!(after["status"], "success", "{after}");
    std::thread::sleep(Duration::from_secs(4));
    assert!(!marker.exists(), "the component of the dead server kept running");
    let _ = std::fs::remove_file(&marker);
}

#[test]
fn files_by_tags_in_and_out() {
    let s = Server::start();
    let up = s.upload("notes.txt", b"hello from storage".to_vec());
    let (st, r) = s.post_form(&format!("files/{up}/tags"), &[("tag", "invoices")]);
    assert!(st == 200 || st == 201 || st == 204, "{r}");
    let other = s.upload("other.txt", b"not me".to_vec());
    let _ = other;
    register(&s, "test.files", sh("for f in in/files/*; do echo \"in: $f\"; done; cp in/files/*_notes.txt out/files/copy.txt; \
        echo '{\"tags\": [\"from-manifest\"]}' > out/files/copy.txt.manifest"));
    let j = create_job(&s, json!({"component": "test.files", "configData": {"storage": {
        "input": {"files": [{"tags": ["invoices"]}]},
        "output": {"files": [{"source": "copy.txt", "tags": ["processed"]}]}
    }}}));
    let done = wait_finished(&s, &id(&j), 60);
    assert_eq!(done["status"], "success", "{done}");
    let events = job_events(&s, &id(&j)).unwrap();
    assert_eq!(done["result"]["input"]["files"].as_array().map(|a| a.len()), Some(1), "{done} {events:?}");
    let out_id: i64 = done["result"]["output"]["files"][0]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(s.download(out_id), b"hello from storage".to_vec());
    let (_, f) = s.get(&format!("files/{out_id}"));
    let tags: Vec<&str> = f["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tags.contains(&"from-manifest") && tags.contains(&"processed"), "{tags:?}");
    let lines = job_events(&s, &id(&j)).unwrap();
    assert!(lines.iter().any(|l| l.starts_with("in: in/files/") && l.ends_with("_notes.txt")), "{lines:?}");
}

/// The names and contents of a zip archive.
fn unzip(bytes: Vec<u8>) -> std::collections::BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        out.insert(entry.name().unwrap().to_string(), text);
    }
    out
}

/// `mode: debug` stores the data folder before (`stage_0`) and after (`stage_output`) the component
/// as files tagged `debug`, blanks encrypted values, and stores no output table and no state.
#[test]
fn debug_mode_uploads_the_data_folder_stages_instead_of_the_output() {
    let s = Server::start();
    table(&s, "dbg", "src", "id,v\n1,a\n", "id");
    create_config(
        &s,
        TEST,
        "dbg",
        json!({
            "storage": {"input": {"tables": [{"source": "in.c-dbg.src", "destination": "src.csv"}]},
                        "output": {"tables": [{"source": "made.csv", "destination": "out.c-dbg.made"}]}},
            "parameters": {"#secret": "hunter2", "tables": {"made.csv": "id\n7\n"}, "state": {"n": 1, "#kept": "state-secret"}}
        }),
        vec![],
        false,
    );
    let job = create_job(&s, json!({"component": TEST, "config": "dbg", "mode": "debug"}));
    let done = wait_finished(&s, &id(&job), 30);
    assert_eq!(done["status"], "success", "{done}");

    let (st, files) = s.get("files?tags[]=debug");
    assert_eq!(st, 200, "{files}");
    let files = files.as_array().unwrap();
    let by_name = |n: &str| files.iter().find(|f| f["name"] == n).unwrap_or_else(|| panic!("no {n} in {files:?}")).clone();
    let (stage0, output) = (by_name("stage_0.zip"), by_name("stage_output.zip"));
    for f in [&stage0, &output] {
        let tags: Vec<&str> = f["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert!(tags.contains(&TEST) && tags.contains(&format!("jobId:{}", id(&job)).as_str()), "{tags:?}");
    }
    let before = unzip(s.download(stage0["id"].as_i64().unwrap()));
    assert_eq!(before["in/tables/src.csv"].lines().count(), 2, "{before:?}");
    assert!(!before.contains_key("out/tables/made.csv"), "{before:?}");
    let config: Value = serde_json::from_str(&before["config.json"]).unwrap();
    assert_eq!(config["parameters"]["#secret"], "", "{config}");
    let after = unzip(s.download(output["id"].as_i64().unwrap()));
    assert_eq!(after["out/tables/made.csv"], "id\n7\n", "{after:?}");
    // State files lose their secrets too.
    let out_state: Value = serde_json::from_str(&after["out/state.json"]).unwrap();
    assert_eq!(out_state, json!({"n": 1, "#kept": ""}), "{after:?}");

    // Nothing reached Storage: no output table, no state.
    assert_eq!(s.get("tables/out.c-dbg.made").0, 404);
    let (st, cfg) = s.get(&format!("components/{TEST}/configs/dbg"));
    assert_eq!(st, 200, "{cfg}");
    assert!(cfg["state"].as_object().is_none_or(|o| o.is_empty()) || cfg["state"] == json!([]), "{}", cfg["state"]);
}
