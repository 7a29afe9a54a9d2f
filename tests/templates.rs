//! The Templates API through the real binary: the built-in repository, inputs and their
//! validation, using a template (configurations + flow in the branch, recorded in branch and
//! configuration metadata as Keboola does), running the flow through the Queue, instances
//! (list, detail, rename, upgrade, delete) and another project not seeing them.
mod common;
mod queue_support;

use common::{MASTER_TOKEN, Server, start_with_projects};
use queue_support::*;
use reqwest::Method;
use serde_json::{Value, json};

const REPORT: &str = "/templates/v1/repositories/keboola/templates/csv-duckdb-report";

fn t(s: &Server, method: Method, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, format!("{}{path}", s.url)).header("X-StorageApi-Token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

fn tget(s: &Server, path: &str) -> (u16, Value) {
    t(s, Method::GET, MASTER_TOKEN, path, None)
}

fn tpost(s: &Server, path: &str, body: Value) -> (u16, Value) {
    t(s, Method::POST, MASTER_TOKEN, path, Some(body))
}

fn report_steps(source: &str, bucket: &str) -> Value {
    json!([
        {"id": "g01-s01", "inputs": [
            {"id": "source-table", "value": source},
            {"id": "group-column", "value": "city"},
            {"id": "value-column", "value": "amount"}
        ]},
        {"id": "g02-s01", "inputs": [{"id": "output-bucket", "value": bucket}, {"id": "output-table", "value": "by_city"}]}
    ])
}

fn orders(s: &Server) {
    let (st, b) = s.post_form("buckets", &[("name", "sales"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let (st, b) = s.post_form(
        "buckets/in.c-sales/tables",
        &[("name", "orders"), ("dataString", "id,city,amount\n1,Prague,10\n2,Brno,5\n3,Prague,7\n4,Brno,1\n5,Ostrava,2\n")],
    );
    assert_eq!(st, 201, "{b}");
}

/// Uses a template; returns the finished task's instance id.
fn use_template(s: &Server, path: &str, name: &str, steps: Value) -> String {
    let (st, task) = tpost(s, &format!("{path}/use"), json!({"name": name, "branch": "default", "steps": steps}));
    assert_eq!(st, 202, "{task}");
    assert_eq!(task["type"], "template.use");
    assert_eq!(task["isFinished"], true, "{task}");
    assert_eq!(task["status"], "success", "{task}");
    // The task can be read back by its id (which has a slash in it).
    let (st, again) = tget(s, &format!("/templates/v1/tasks/{}", task["id"].as_str().unwrap()));
    assert_eq!(st, 200, "{again}");
    assert_eq!(again["outputs"], task["outputs"]);
    assert!(task["url"].as_str().unwrap().ends_with(&format!("/v1/tasks/{}", task["id"].as_str().unwrap())), "{task}");
    task["outputs"]["instanceId"].as_str().unwrap().to_string()
}

fn run_flow(s: &Server, flow_id: &str) -> Value {
    let job = create_job(s, json!({"component": "keboola.flow", "config": flow_id, "mode": "run"}));
    wait_finished(s, &id(&job), 120)
}

#[test]
fn repository_templates_versions_and_inputs() {
    let s = Server::start();
    let (st, repos) = tget(&s, "/templates/v1/repositories");
    assert_eq!(st, 200, "{repos}");
    assert_eq!(repos["repositories"][0]["name"], "keboola");
    assert!(repos["repositories"][0]["author"]["name"].is_string());
    let (st, list) = tget(&s, "/templates/v1/repositories/keboola/templates");
    assert_eq!(st, 200, "{list}");
    let ids: Vec<&str> = list["templates"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    for want in ["csv-duckdb-report", "python-transformation-flow", "duckdb-data-quality"] {
        assert!(ids.contains(&want), "{ids:?}");
    }
    let (st, detail) = tget(&s, REPORT);
    assert_eq!(st, 200, "{detail}");
    assert_eq!(detail["defaultVersion"], "1.1.0");
    assert_eq!(detail["repository"]["name"], "keboola");
    assert_eq!(detail["versions"].as_array().unwrap().len(), 2);
    assert!(detail["components"].as_array().unwrap().contains(&json!("keboola.duckdb-transformation")));
    let (st, v) = tget(&s, &format!("{REPORT}/1.0.0"));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["version"], "1.0.0");
    assert!(v["readme"].as_str().unwrap().contains("DuckDB"));
    assert_eq!(v["template"]["id"], "csv-duckdb-report");
    let (st, inputs) = tget(&s, &format!("{REPORT}/1.0.0/inputs"));
    assert_eq!(st, 200, "{inputs}");
    let g = &inputs["stepGroups"][0];
    assert_eq!(g["id"], "g01");
    assert_eq!(g["required"], "all");
    assert_eq!(g["steps"][0]["id"], "g01-s01");
    let first = &g["steps"][0]["inputs"][0];
    assert_eq!(first["id"], "source-table");
    assert_eq!(first["type"], "string");
    assert_eq!(first["kind"], "input");
    assert!(first.get("rules").is_none(), "rules stay internal: {first}");
    assert_eq!(inputs["stepGroups"][1]["steps"][0]["inputs"][0]["default"], "report");
    assert_eq!(inputs["initialState"]["valid"], false, "required inputs without defaults: {}", inputs["initialState"]);

    // Not found, each in its own goa error.
    for (path, name) in [
        ("/templates/v1/repositories/nope", "templates.repositoryNotFound"),
        ("/templates/v1/repositories/keboola/templates/nope", "templates.templateNotFound"),
        (&format!("{REPORT}/9.9.9") as &str, "templates.versionNotFound"),
        ("/templates/v1/tasks/template.use/nope", "templates.taskNotFound"),
        ("/templates/v1/project/424242/instances", "templates.branchNotFound"),
    ] {
        let (st, e) = tget(&s, path);
        assert_eq!(st, 404, "{path}: {e}");
        assert_eq!(e["error"], name, "{path}: {e}");
        assert_eq!(e["statusCode"], 404);
        assert!(e["message"].is_string());
    }
    let (st, e) = t(&s, Method::GET, "nonsense-token", "/templates/v1/repositories", None);
    assert_eq!(st, 401, "{e}");
    assert_eq!(e["error"], "templates.unauthorized");
}

#[test]
fn validate_good_and_bad_inputs() {
    let s = Server::start();
    let path = format!("{REPORT}/1.0.0/validate");
    let (st, ok) = tpost(&s, &path, json!({"steps": report_steps("in.c-sales.orders", "report")}));
    assert_eq!(st, 200, "{ok}");
    assert_eq!(ok["valid"], true, "{ok}");
    assert_eq!(ok["stepGroups"][0]["steps"][0]["configured"], true);

    // A bad regex, a wrong type, a too long value and an unconfigured required group.
    let (st, bad) = tpost(
        &s,
        &path,
        json!({"steps": [{"id": "g01-s01", "inputs": [
            {"id": "source-table", "value": "not a table"},
            {"id": "group-column", "value": 5},
            {"id": "value-column", "value": ""}
        ]}]}),
    );
    assert_eq!(st, 200, "{bad}");
    assert_eq!(bad["valid"], false);
    let inputs = &bad["stepGroups"][0]["steps"][0]["inputs"];
    assert_eq!(inputs[0]["error"], "Source table is not valid.", "{bad}");
    assert_eq!(inputs[1]["error"], "Group by column should be a string.", "{bad}");
    assert_eq!(inputs[2]["error"], "Value column is a required field.", "{bad}");
    assert_eq!(bad["stepGroups"][1]["valid"], false);
    assert_eq!(bad["stepGroups"][1]["error"], "All steps must be configured.");
    assert_eq!(bad["stepGroups"][1]["steps"][0]["configured"], false);

    // min/max on an int, select options, zeroOrOne.
    let dq = "/templates/v1/repositories/keboola/templates/duckdb-data-quality/1.0.0/validate";
    let (st, r) = tpost(
        &s,
        dq,
        json!({"steps": [
            {"id": "g01-s01", "inputs": [{"id": "table", "value": "in.c-a.b"}, {"id": "max-duplicates", "value": -1}]},
            {"id": "g02-s01", "inputs": [{"id": "timezone", "value": "Mars/Olympus"}]}
        ]}),
    );
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["stepGroups"][0]["steps"][0]["inputs"][4]["error"], "Allowed duplicates must be 0 or greater.", "{r}");
    assert!(r["stepGroups"][1]["steps"][0]["inputs"][1]["error"].as_str().unwrap().contains("is not one of the options"), "{r}");

    // A payload that does not fit the template is a 400, not a result.
    let (st, e) = tpost(&s, &path, json!({"steps": [{"id": "g09-s01", "inputs": []}]}));
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["error"], "templates.badRequest");
    let (st, e) = tpost(&s, &path, json!({"steps": [{"id": "g01-s01", "inputs": [{"id": "nope", "value": 1}]}]}));
    assert_eq!(st, 400, "{e}");
    let (st, e) = tpost(&s, &path, json!({}));
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["message"], "missing required field \"steps\"");

    // `use` with invalid inputs: goa's ValidationError.
    let (st, e) = tpost(&s, &format!("{REPORT}/1.0.0/use"), json!({"name": "x", "branch": "default", "steps": report_steps("bad", "report")}));
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["error"], "InvalidInputs");
    assert_eq!(e["message"], "Inputs are not valid.");
    assert_eq!(e["ValidationResult"]["valid"], false);
    let (st, e) = tpost(&s, &format!("{REPORT}/1.0.0/use"), json!({"branch": "default", "steps": []}));
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["message"], "missing required field \"name\"");
    let (st, e) = tpost(&s, &format!("{REPORT}/1.0.0/use"), json!({"name": "x", "branch": "777", "steps": report_steps("in.c-a.b", "r")}));
    assert_eq!(st, 404, "{e}");
    assert_eq!(e["error"], "templates.branchNotFound");
}

#[test]
fn use_run_upgrade_rename_and_delete_an_instance() {
    let s = Server::start();
    orders(&s);
    let instance = use_template(&s, &format!("{REPORT}/1.0.0"), "Sales by city", report_steps("in.c-sales.orders", "report"));

    // The instance, its configurations and its main config (the flow).
    let (st, list) = tget(&s, "/templates/v1/project/default/instances");
    assert_eq!(st, 200, "{list}");
    let listed = &list["instances"][0];
    assert_eq!(listed["instanceId"], instance.as_str());
    assert_eq!(listed["templateId"], "csv-duckdb-report");
    assert_eq!(listed["version"], "1.0.0");
    assert_eq!(listed["repositoryName"], "keboola");
    assert_eq!(listed["name"], "Sales by city");
    assert_eq!(listed["mainConfig"]["componentId"], "keboola.flow");
    assert_eq!(listed["configurations"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["created"]["tokenId"], listed["updated"]["tokenId"]);
    let flow_id = listed["mainConfig"]["configId"].as_str().unwrap().to_string();
    let report = listed["configurations"].as_array().unwrap().iter().find(|c| c["componentId"] == "keboola.duckdb-transformation").unwrap().clone();
    let report_id = report["configId"].as_str().unwrap().to_string();
    assert_eq!(report["name"], "Report: Sales by city");

    // Recorded as Keboola records it: branch metadata and configuration metadata.
    let (st, bm) = s.get("branch/default/metadata");
    assert_eq!(st, 200, "{bm}");
    let value = bm.as_array().unwrap().iter().find(|m| m["key"] == "KBC.KAC.templates.instances").expect("instances metadata")["value"].clone();
    let recorded: Value = serde_json::from_str(value.as_str().unwrap()).unwrap();
    assert_eq!(recorded[0]["instanceId"], instance.as_str());
    assert_eq!(recorded[0]["instanceName"], "Sales by city");
    assert_eq!(recorded[0]["mainConfig"], json!({"configId": flow_id, "componentId": "keboola.flow"}));
    let (st, cm) = s.get(&format!("components/keboola.duckdb-transformation/configs/{report_id}/metadata"));
    assert_eq!(st, 200, "{cm}");
    let meta = |key: &str| cm.as_array().unwrap().iter().find(|m| m["key"] == key).map(|m| m["value"].as_str().unwrap().to_string());
    assert_eq!(meta("KBC.KAC.templates.instanceId").as_deref(), Some(instance.as_str()));
    assert_eq!(meta("KBC.KAC.templates.templateId").as_deref(), Some("csv-duckdb-report"));
    assert_eq!(meta("KBC.KAC.templates.repository").as_deref(), Some("keboola"));
    assert_eq!(meta("KBC.KAC.templates.configId").as_deref(), Some(r#"{"idInTemplate":"report"}"#));
    let usages: Value = serde_json::from_str(&meta("KBC.KAC.templates.configInputs").unwrap()).unwrap();
    assert!(usages.as_array().unwrap().contains(&json!({"input": "source-table", "key": "storage.input.tables[0].source"})), "{usages}");

    // The flow runs through the Queue and writes the report.
    let done = run_flow(&s, &flow_id);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(
        s.preview_rows("out.c-report.by_city", ""),
        vec![vec!["Brno", "2", "6.0"], vec!["Ostrava", "1", "2.0"], vec!["Prague", "2", "17.0"]]
    );

    // Detail, rename.
    let path = format!("/templates/v1/project/default/instances/{instance}");
    let (st, d) = tget(&s, &path);
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["templateDetail"]["id"], "csv-duckdb-report");
    assert_eq!(d["versionDetail"]["version"], "1.0.0");
    let (st, d) = t(&s, Method::PUT, MASTER_TOKEN, &path, Some(json!({"name": "Renamed"})));
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["name"], "Renamed");

    // Upgrade: the inputs come back with the instance's values; the new version adds a column.
    let (st, up) = tget(&s, &format!("{path}/upgrade/1.1.0/inputs"));
    assert_eq!(st, 200, "{up}");
    assert_eq!(up["stepGroups"][0]["steps"][0]["inputs"][0]["default"], "in.c-sales.orders");
    assert_eq!(up["stepGroups"][1]["steps"][0]["inputs"][1]["default"], "by_city");
    let (st, v) = tpost(&s, &format!("{path}/upgrade/1.1.0/inputs"), json!({"steps": report_steps("in.c-sales.orders", "report")}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["valid"], true);
    let (st, task) = tpost(&s, &format!("{path}/upgrade/1.1.0"), json!({"steps": report_steps("in.c-sales.orders", "report")}));
    assert_eq!(st, 202, "{task}");
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(task["type"], "template.upgrade");
    let (_, d) = tget(&s, &path);
    assert_eq!(d["version"], "1.1.0");
    assert_eq!(d["mainConfig"]["configId"], flow_id.as_str(), "the same configurations, updated");
    let (st, cfg) = s.get(&format!("components/keboola.duckdb-transformation/configs/{report_id}"));
    assert_eq!(st, 200);
    assert!(cfg["configuration"]["parameters"]["blocks"][0]["codes"][0]["script"][0].as_str().unwrap().contains("AVG("), "{cfg}");
    let done = run_flow(&s, &flow_id);
    assert_eq!(done["status"], "success", "{done}");
    let (st, prev) = s.get("tables/out.c-report.by_city/data-preview?format=json");
    assert_eq!(st, 200);
    assert!(prev["columns"].as_array().unwrap().contains(&json!("average")), "{prev}");

    // Delete: the configurations go to the trash, the instance from the list.
    let (st, task) = t(&s, Method::DELETE, MASTER_TOKEN, &path, None);
    assert_eq!(st, 202, "{task}");
    assert_eq!(task["status"], "success", "{task}");
    let (_, list) = tget(&s, "/templates/v1/project/default/instances");
    assert_eq!(list["instances"], json!([]));
    let (st, _) = s.get(&format!("components/keboola.flow/configs/{flow_id}"));
    assert_eq!(st, 404);
    let (st, e) = tget(&s, &path);
    assert_eq!(st, 404);
    assert_eq!(e["error"], "templates.instanceNotFound");
}

#[test]
fn python_and_data_quality_templates_run_as_flows() {
    let s = Server::start();
    orders(&s);
    let py = use_template(
        &s,
        "/templates/v1/repositories/keboola/templates/python-transformation-flow/default",
        "Numbered",
        json!([{"id": "g01-s01", "inputs": [{"id": "source-table", "value": "in.c-sales.orders"}, {"id": "output-table", "value": "out.c-py.numbered"}]}]),
    );
    let (_, d) = tget(&s, &format!("/templates/v1/project/default/instances/{py}"));
    let done = run_flow(&s, d["mainConfig"]["configId"].as_str().unwrap());
    assert_eq!(done["status"], "success", "{done}");
    let rows = s.preview_rows("out.c-py.numbered", "");
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(rows[0], vec!["1", "1", "Prague", "10"]);

    // The quality check with a schedule: it fails on duplicates when asked to.
    let (st, b) = s.post_form("buckets/in.c-sales/tables", &[("name", "dupes"), ("dataString", "id,v\n1,a\n1,b\n,c\n")]);
    assert_eq!(st, 201, "{b}");
    let dq = use_template(
        &s,
        "/templates/v1/repositories/keboola/templates/duckdb-data-quality/1.0.0",
        "Dupes check",
        json!([
            {"id": "g01-s01", "inputs": [{"id": "table", "value": "in.c-sales.dupes"}, {"id": "fail-on-issues", "value": true}]},
            {"id": "g02-s01", "inputs": [{"id": "cron", "value": "0 5 * * *"}]}
        ]),
    );
    let (_, d) = tget(&s, &format!("/templates/v1/project/default/instances/{dq}"));
    let configs = d["configurations"].as_array().unwrap();
    assert_eq!(configs.len(), 3, "{d}");
    let scheduler = configs.iter().find(|c| c["componentId"] == "keboola.scheduler").unwrap()["configId"].as_str().unwrap().to_string();
    let (st, schedules) = s.send(s.client.get(format!("{}/scheduler/schedules", s.url)).header("X-StorageApi-Token", MASTER_TOKEN));
    assert_eq!(st, 200, "{schedules}");
    let schedule = schedules.as_array().unwrap().iter().find(|x| x["configurationId"] == scheduler.as_str()).expect("schedule activated").clone();
    assert_eq!(schedule["target"]["configurationId"], d["mainConfig"]["configId"]);
    let failed = run_flow(&s, d["mainConfig"]["configId"].as_str().unwrap());
    assert_eq!(failed["status"], "error", "{failed}");
    // Deleting the instance removes its schedule too.
    let (st, _) = t(&s, Method::DELETE, MASTER_TOKEN, &format!("/templates/v1/project/default/instances/{dq}"), None);
    assert_eq!(st, 202);
    let (_, schedules) = s.send(s.client.get(format!("{}/scheduler/schedules", s.url)).header("X-StorageApi-Token", MASTER_TOKEN));
    assert!(schedules.as_array().unwrap().iter().all(|x| x["configurationId"] != scheduler.as_str()), "{schedules}");
}

#[test]
fn another_project_sees_no_instance_and_limited_tokens_cannot_use() {
    let (s, _dir) = start_with_projects(&[(2, "beta", "2-9-betamastertoken000000000000000000000000")]);
    let beta = "2-9-betamastertoken000000000000000000000000";
    orders(&s);
    let instance = use_template(&s, &format!("{REPORT}/1.0.0"), "Mine", report_steps("in.c-sales.orders", "report"));
    let (st, list) = t(&s, Method::GET, beta, "/templates/v1/project/default/instances", None);
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["instances"], json!([]));
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let (st, e) = t(&s, method.clone(), beta, &format!("/templates/v1/project/default/instances/{instance}"), Some(json!({"name": "x"})));
        assert_eq!(st, 404, "{method}: {e}");
    }
    // A token that is not a master token reads, but cannot use a template.
    let (st, tok) = s.post_json("tokens", json!({"description": "limited", "canManageBuckets": true}));
    assert_eq!(st, 201, "{tok}");
    let limited = tok["token"].as_str().unwrap();
    let (st, _) = t(&s, Method::GET, limited, "/templates/v1/project/default/instances", None);
    assert_eq!(st, 200);
    let (st, e) = t(&s, Method::POST, limited, &format!("{REPORT}/1.0.0/use"), Some(json!({"name": "x", "branch": "default", "steps": report_steps("in.c-sales.orders", "r")})));
    assert_eq!(st, 403, "{e}");
    assert_eq!(e["error"], "templates.forbidden");
    let (_, list) = tget(&s, "/templates/v1/project/default/instances");
    assert_eq!(list["instances"].as_array().unwrap().len(), 1);
}

#[test]
fn a_local_repository_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("hello/v1")).unwrap();
    std::fs::write(
        repo.join("repository.json"),
        json!({"author": {"name": "Me", "url": "https://example.com"}, "templates": [
            {"id": "hello", "name": "Hello", "description": "A table with a greeting.", "path": "hello",
             "versions": [{"version": "0.1.0", "description": "", "stable": false, "path": "v1"}]}
        ]})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        repo.join("hello/v1/template.json"),
        json!({
            "components": ["keboola.duckdb-transformation"], "longDescription": "Greets.", "readme": "Greets.",
            "stepGroups": [{"description": "Who", "required": "all", "steps": [{"icon": "common:settings", "name": "Who", "description": "Who to greet",
                "dialogName": "Who", "dialogDescription": "Who to greet", "inputs": [
                    {"id": "who", "name": "Who", "description": "Name", "type": "string", "kind": "input", "default": "world", "rules": "required"}]}]}],
            "mainConfig": "hello",
            "configurations": [{"id": "hello", "componentId": "keboola.duckdb-transformation", "name": "Hello {{input:who}}", "configuration": {
                "storage": {"output": {"tables": [{"source": "hello.csv", "destination": "out.c-hello.greeting"}]}},
                "parameters": {"blocks": [{"name": "b", "codes": [{"name": "c", "script": ["CREATE TABLE \"hello.csv\" AS SELECT 'hello {{input:who}}' AS greeting;"]}]}]}
            }}]
        })
        .to_string(),
    )
    .unwrap();
    let config = dir.path().join("kbstack.toml");
    std::fs::write(&config, format!("[templates]\nrepositories = [{{name = \"mine\", path = \"{}\"}}]\n", repo.display())).unwrap();
    let s = Server::start_with_env(&[("KBSTACK_CONFIG", config.to_str().unwrap())]);
    let (st, repos) = tget(&s, "/templates/v1/repositories");
    assert_eq!(st, 200, "{repos}");
    let names: Vec<&str> = repos["repositories"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["keboola", "mine"]);
    let instance = use_template(&s, "/templates/v1/repositories/mine/templates/hello/0.1.0", "Hi", json!([{"id": "g01-s01", "inputs": [{"id": "who", "value": "kbstack"}]}]));
    let (_, d) = tget(&s, &format!("/templates/v1/project/default/instances/{instance}"));
    assert_eq!(d["repositoryName"], "mine");
    assert_eq!(d["templateDetail"]["author"]["name"], "Me");
    assert_eq!(d["mainConfig"]["componentId"], "keboola.duckdb-transformation");
    let job = create_job(&s, json!({"component": "keboola.duckdb-transformation", "config": d["mainConfig"]["configId"], "mode": "run"}));
    let done = wait_finished(&s, &id(&job), 120);
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(s.preview_rows("out.c-hello.greeting", ""), vec![vec!["hello kbstack"]]);
}

#[test]
fn an_instance_in_a_development_branch_stays_there() {
    let s = Server::start();
    let (st, job) = s.post_json("dev-branches", json!({"name": "feature"}));
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let branch = job["results"]["id"].as_i64().unwrap().to_string();
    let (st, task) = tpost(&s, &format!("{REPORT}/1.0.0/use"), json!({"name": "In dev", "branch": branch, "steps": report_steps("in.c-sales.orders", "report")}));
    assert_eq!(st, 202, "{task}");
    assert_eq!(task["status"], "success", "{task}");
    let (_, default) = tget(&s, "/templates/v1/project/default/instances");
    assert_eq!(default["instances"], json!([]));
    let (st, dev) = tget(&s, &format!("/templates/v1/project/{branch}/instances"));
    assert_eq!(st, 200, "{dev}");
    assert_eq!(dev["instances"][0]["branch"], branch.as_str());
    let flow = dev["instances"][0]["mainConfig"]["configId"].as_str().unwrap();
    let (st, _) = s.get(&format!("branch/{branch}/components/keboola.flow/configs/{flow}"));
    assert_eq!(st, 200, "the flow is in the development branch");
    let (st, _) = s.get(&format!("components/keboola.flow/configs/{flow}"));
    assert_eq!(st, 404, "and not in the default one");
}
