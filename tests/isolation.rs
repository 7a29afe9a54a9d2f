//! Projects are isolated in every service: two projects made through `/manage`, project A full
//! of objects, and every route of every service (the router's own table, so a route added later
//! is covered) called with project B's Storage master token — and, for `/manage`, the manage
//! token of B's administrator — naming A's objects. Nothing succeeds on A's objects, no answer
//! carries A's data, nothing is a 5xx, and afterwards A's objects are as they were.
mod common;

use std::time::Duration;

use common::{MANAGE_TOKEN, Server, call, manage, ok, parse_connection_string};
use reqwest::Method;
use serde_json::{Value, json};

/// In every piece of A's data; no answer to B may contain it.
const SECRET: &str = "alphasecret";

struct ProjectA {
    id: i64,
    token: String,
    branch: String,
    token_id: String,
    file_id: String,
    config_id: String,
    storage_job_id: String,
    queue_job_id: String,
    workspace_id: String,
    schedule_id: String,
    vault_hash: String,
    subscription_id: String,
    invitation_id: String,
    model_id: String,
    data_app_id: String,
    instance_id: String,
    template_task_id: String,
    stream_task_id: String,
    provisioning_id: String,
    orchestration_id: String,
    orchestration_job_id: String,
}

fn upload(s: &Server, token: &str, name: &str, data: &[u8]) -> i64 {
    let f = ok("prepare", call(s, Method::POST, token, "files/prepare", Some(json!({"name": name, "tags": [SECRET]}))), 201);
    let params = &f["absUploadParams"];
    let (endpoint, sas) = parse_connection_string(params["absCredentials"]["SASConnectionString"].as_str().unwrap());
    let url = format!("{endpoint}/{}/{}?{sas}", params["container"].as_str().unwrap(), params["blobName"].as_str().unwrap());
    let resp = s.client.put(url).header("x-ms-blob-type", "BlockBlob").body(data.to_vec()).send().unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    f["id"].as_i64().unwrap()
}

fn service(s: &Server, method: Method, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, format!("{}{path}", s.url)).header("X-StorageApi-Token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

fn fill_project_a(s: &Server) -> ProjectA {
    let p = ok("project A", manage(s, Method::POST, MANAGE_TOKEN, "/manage/organizations/1/projects", Some(json!({"name": format!("{SECRET} project")}))), 201);
    let (id, token) = (p["id"].as_i64().unwrap(), p["masterToken"]["token"].as_str().unwrap().to_string());
    let me = ok("verify", call(s, Method::GET, &token, "tokens/verify", None), 200);
    let branches = ok("branches", call(s, Method::GET, &token, "dev-branches", None), 200);
    ok("bucket", call(s, Method::POST, &token, "buckets", Some(json!({"name": "alpha", "stage": "in", "description": SECRET}))), 201);
    ok(
        "bucket metadata",
        call(s, Method::POST, &token, "buckets/in.c-alpha/metadata", Some(json!({"provider": "user", "metadata": [{"key": "k", "value": SECRET}]}))),
        201,
    );
    let data = upload(s, &token, &format!("{SECRET}.csv"), format!("id,v\n1,{SECRET}1\n2,{SECRET}2\n").as_bytes());
    let job = ok("table", call(s, Method::POST, &token, "buckets/in.c-alpha/tables-async", Some(json!({"name": "t", "dataFileId": data}))), 202);
    let job = wait_storage_job(s, &token, &job);
    let config = ok(
        "config",
        call(s, Method::POST, &token, "components/keboola.ex-http/configs", Some(json!({"name": format!("{SECRET} config"), "description": SECRET}))),
        201,
    );
    let config_id = config["id"].as_str().unwrap().to_string();
    let qjob = ok(
        "queue job",
        service(s, Method::POST, &token, "/queue/jobs", Some(json!({"component": "keboola.ex-http", "config": config_id, "mode": "run"}))),
        201,
    );
    let ws = ok("workspace", call(s, Method::POST, &token, "workspaces", Some(json!({"backend": "snowflake"}))), 201);
    let schedule_cfg = ok(
        "schedule config",
        call(
            s,
            Method::POST,
            &token,
            "components/keboola.scheduler/configs",
            Some(json!({"name": SECRET, "configuration": {"schedule": {"cronTab": "0 0 1 1 *", "timezone": "UTC", "state": "disabled"},
                "target": {"componentId": "keboola.ex-http", "configurationId": config_id, "mode": "run"}}})),
        ),
        201,
    );
    let schedule = ok(
        "schedule",
        service(s, Method::POST, &token, "/scheduler/schedules", Some(json!({"configurationId": schedule_cfg["id"]}))),
        201,
    );
    let var = ok(
        "vault",
        service(s, Method::POST, &token, "/vault/variables", Some(json!({"key": "alphakey", "value": SECRET, "flags": []}))),
        201,
    );
    let sub = ok(
        "subscription",
        service(
            s,
            Method::POST,
            &token,
            "/notification/project-subscriptions",
            Some(json!({"event": "job-failed", "filters": [], "recipient": {"channel": "email", "address": format!("{SECRET}@example.com")}})),
        ),
        201,
    );
    let inv = ok(
        "invitation",
        manage(s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{id}/invitations"), Some(json!({"email": "carol@example.com", "role": "guest", "reason": SECRET}))),
        201,
    );
    let app = json!({"componentId": "keboola.ex-http", "friendlyName": "HTTP", "oauthVersion": "2.0", "authUrl": "http://provider.example/a",
        "tokenUrl": "http://provider.example/t", "appKey": "key", "appSecret": "secret"});
    ok("oauth app", manage(s, Method::POST, MANAGE_TOKEN, "/oauth/manage", Some(app)), 201);
    ok(
        "oauth credentials",
        service(s, Method::POST, &token, "/oauth/credentials/keboola.ex-http", Some(json!({"id": "alphacred", "authorizedFor": SECRET, "data": {"access_token": SECRET}}))),
        201,
    );
    let model = ok(
        "semantic model",
        service(s, Method::POST, &token, "/metastore/api/v1/repository/semantic-model", Some(json!({"name": SECRET, "data": {"description": SECRET}}))),
        201,
    );
    // Created, never deployed: the sweep needs no Streamlit.
    let data_app = ok(
        "data app",
        service(s, Method::POST, &token, "/data-science/apps", Some(json!({"branchId": null, "type": "streamlit", "name": SECRET, "description": SECRET}))),
        200,
    );
    let task = ok(
        "template instance",
        service(
            s,
            Method::POST,
            &token,
            "/templates/v1/repositories/keboola/templates/csv-duckdb-report/1.0.0/use",
            Some(json!({"name": format!("{SECRET} instance"), "branch": "default", "steps": [
                {"id": "g01-s01", "inputs": [{"id": "source-table", "value": "in.c-alpha.t"}, {"id": "group-column", "value": "v"}, {"id": "value-column", "value": "id"}]},
                {"id": "g02-s01", "inputs": [{"id": "output-bucket", "value": "alpha"}, {"id": "output-table", "value": "report"}]}
            ]})),
        ),
        202,
    );
    assert_eq!(task["status"], "success", "{task}");
    ok(
        "stream source",
        service(s, Method::POST, &token, "/stream/v1/branches/default/sources", Some(json!({"sourceId": "alphastream", "name": "alpha stream", "type": "http", "description": SECRET}))),
        202,
    );
    let columns = json!([{"name": "body", "type": "body"}]);
    let stream_task = ok(
        "stream sink",
        service(s, Method::POST, &token, "/stream/v1/branches/default/sources/alphastream/sinks",
            Some(json!({"sinkId": "alphasink", "name": "alpha sink", "type": "table", "description": SECRET,
                "table": {"type": "keboola", "tableId": "in.c-alpha-stream.events", "mapping": {"columns": columns}}}))),
        202,
    );
    let credentials = ok("provisioning", service(s, Method::POST, &token, "/syrup/provisioning/snowflake", Some(json!({"type": "sandbox"}))), 201);
    let orchestration = ok(
        "orchestration",
        service(s, Method::POST, &token, "/syrup/orchestrator/orchestrations", Some(json!({"name": SECRET, "notifications": [{"email": format!("{SECRET}@example.com"), "channel": "error"}]}))),
        201,
    );
    let orchestration_job = ok(
        "orchestration job",
        service(s, Method::POST, &token, &format!("/syrup/orchestrator/orchestrations/{}/jobs", orchestration["id"]), Some(json!({}))),
        201,
    );
    ProjectA {
        provisioning_id: credentials["id"].to_string(),
        orchestration_id: orchestration["id"].to_string(),
        orchestration_job_id: orchestration_job["id"].to_string(),
        data_app_id: data_app["id"].as_str().unwrap().to_string(),
        instance_id: task["outputs"]["instanceId"].as_str().unwrap().to_string(),
        template_task_id: task["id"].as_str().unwrap().to_string(),
        stream_task_id: stream_task["taskId"].as_str().unwrap().to_string(),
        model_id: model["data"]["id"].as_str().unwrap().to_string(),
        id,
        token,
        branch: branches[0]["id"].to_string(),
        token_id: me["id"].as_str().unwrap().to_string(),
        file_id: data.to_string(),
        config_id,
        storage_job_id: job["id"].to_string(),
        queue_job_id: qjob["id"].as_str().map(str::to_string).unwrap_or_else(|| qjob["id"].to_string()),
        workspace_id: ws["id"].to_string(),
        schedule_id: schedule["id"].as_str().map(str::to_string).unwrap_or_else(|| schedule["id"].to_string()),
        vault_hash: var["hash"].as_str().unwrap().to_string(),
        subscription_id: sub["id"].as_str().map(str::to_string).unwrap_or_else(|| sub["id"].to_string()),
        invitation_id: inv["id"].to_string(),
    }
}

fn wait_storage_job(s: &Server, token: &str, job: &Value) -> Value {
    for _ in 0..200 {
        let j = ok("job", call(s, Method::GET, token, &format!("jobs/{}", job["id"]), None), 200);
        if j["status"] == "success" {
            return j;
        }
        assert_ne!(j["status"], "error", "{j}");
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("storage job did not finish");
}

/// The path with A's objects in its parameters; true when one of them is A's.
fn fill(path: &str, a: &ProjectA) -> (String, bool) {
    let segments: Vec<&str> = path.split('/').collect();
    let mut names_a = false;
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            out.push(seg.to_string());
            continue;
        };
        let prev = if i > 0 { segments[i - 1] } else { "" };
        let top = segments.get(1).copied().unwrap_or("");
        let of_a = |v: &str| Some(v.to_string());
        let value: Option<String> = match (top, prev, name) {
            (_, "branch", _) => of_a(&a.branch),
            ("v2", "buckets", _) => of_a("in.c-alpha"),
            ("v2", "tables", _) => of_a("in.c-alpha.t"),
            ("v2", "columns", _) => of_a("in.c-alpha.t.v"),
            ("v2", "files", _) => of_a(&a.file_id),
            ("v2", "configs", _) | ("scheduler", "configurations", _) => of_a(&a.config_id),
            ("v2", "tokens", _) => of_a(&a.token_id),
            ("v2", "jobs", _) => of_a(&a.storage_job_id),
            ("v2", "workspaces", _) | ("query", "workspaces", _) | ("editor", "workspaces", _) => of_a(&a.workspace_id),
            ("v2", "dev-branches", _) => of_a(&a.branch),
            ("queue", "jobs", _) | ("queue", "job", _) => of_a(&a.queue_job_id),
            ("syrup", "jobs", _) if segments.get(2) == Some(&"orchestrator") => of_a(&a.orchestration_job_id),
            ("syrup", "jobs", _) | ("syrup", "job", _) => of_a(&a.queue_job_id),
            ("syrup", "{backend}", "id") => of_a(&a.provisioning_id),
            ("scheduler", "schedules", _) => of_a(&a.schedule_id),
            ("vault", "variables", _) => of_a(&a.vault_hash),
            ("notification", "project-subscriptions", _) => of_a(&a.subscription_id),
            ("oauth", _, "name") => of_a("alphacred"),
            ("metastore", _, "id") => of_a(&a.model_id),
            ("data-science", "apps", _) | ("sandboxes", "apps", _) => of_a(&a.data_app_id),
            ("templates", "project", _) => of_a(&a.branch),
            ("templates", "instances", _) => of_a(&a.instance_id),
            ("templates", "tasks", _) => of_a(&a.template_task_id),
            ("stream", _, "branchId") => of_a(&a.branch),
            ("stream", _, "sourceId") | ("stream-in", _, "sourceId") => of_a("alphastream"),
            ("stream", _, "sinkId") => of_a("alphasink"),
            ("stream", "tasks", _) => of_a(&a.stream_task_id),
            ("stream-in", _, "projectId") => of_a(&a.id.to_string()),
            ("syrup", "orchestrations", _) => of_a(&a.orchestration_id),
            ("graph", "tables", _) => of_a("in.c-alpha.t"),
            ("graph", "configs", _) => of_a(&a.config_id),
            ("manage", "projects", _) | ("manage", "deleted-projects", _) => of_a(&a.id.to_string()),
            ("manage", "organizations", _) | ("manage", "maintainers", _) => of_a("1"),
            ("manage", "users", _) => of_a("admin@kbstack.local"),
            ("manage", "projects-invitations", _) | ("manage", "invitations", _) => of_a(&a.invitation_id),
            ("manage", "tokens", _) => of_a("1"),
            _ => None,
        };
        match value {
            Some(v) => {
                names_a = true;
                out.push(v);
            }
            // A component is the stack's, not A's.
            None if prev == "components" || name == "component_id" => out.push("keboola.ex-http".into()),
            None if top == "metastore" && name == "type" => out.push("semantic-model".into()),
            None if top == "syrup" && name == "backend" => out.push("snowflake".into()),
            None => out.push("9999999".into()),
        }
    }
    (out.join("/"), names_a)
}

#[test]
fn project_b_reaches_nothing_of_project_a_in_any_service() {
    let mut s = Server::start_with_env(&[("KBSTACK_JOB_WAIT_MS", "0")]);
    let a = fill_project_a(&s);
    let b = ok("project B", manage(&s, Method::POST, MANAGE_TOKEN, "/manage/organizations/1/projects", Some(json!({"name": "beta"}))), 201);
    let (b_id, b_token) = (b["id"].as_i64().unwrap(), b["masterToken"]["token"].as_str().unwrap().to_string());
    // B's administrator: a member of project B, of nothing else.
    ok("b admin", manage(&s, Method::POST, MANAGE_TOKEN, &format!("/manage/projects/{b_id}/users"), Some(json!({"email": "bea@example.com", "role": "admin"}))), 204);
    let b_manage = ok(
        "b admin token",
        manage(&s, Method::POST, MANAGE_TOKEN, "/manage/tokens", Some(json!({"description": "bea", "userEmail": "bea@example.com"}))),
        201,
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let before = snapshot_a(&s, &a);

    s.client = reqwest::blocking::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(60)).build().unwrap();
    let mut wrong = Vec::new();
    let (mut checked, mut on_a, mut b_successes) = (0, 0, 0);
    for route in kbstack::app::routes().table() {
        // The Developer Portal is not project-scoped (vendors; tests/developer.rs), the blob
        // endpoint answers SAS signatures per file (tests/permissions.rs).
        if route.path.starts_with("/developer") || route.path.starts_with("/abs") {
            continue;
        }
        let (path, names_a) = fill(&route.path, &a);
        let is_manage = route.path.starts_with("/manage");
        for m in &route.methods {
            let method = Method::from_bytes(m.as_str().as_bytes()).unwrap();
            let mut req = s.client.request(method.clone(), format!("{}{path}", s.url));
            req = if is_manage { req.header("X-KBC-ManageApiToken", &b_manage) } else { req.header("X-StorageApi-Token", &b_token) };
            if method != Method::GET && method != Method::DELETE {
                req = req.json(&json!({}));
            }
            let resp = req.send().expect("request");
            let status = resp.status().as_u16();
            let text = resp.text().unwrap_or_default();
            checked += 1;
            if status < 400 {
                b_successes += 1;
            }
            let what = format!("{method} {path}");
            if status >= 500 {
                wrong.push(format!("{what}: a 5xx ({status}): {}", &text[..text.len().min(300)]));
            }
            if text.contains(SECRET) {
                wrong.push(format!("{what}: answered A's data ({status}): {}", &text[..text.len().min(300)]));
            }
            if names_a {
                on_a += 1;
                if status < 400 {
                    wrong.push(format!("{what}: succeeded on A's object ({status}): {}", &text[..text.len().min(300)]));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong answers:\n{}", wrong.len(), wrong.join("\n"));
    eprintln!("{checked} requests, {on_a} on A's objects");
    assert!(on_a > 100, "the sweep named A's objects only {on_a} times");
    // B's tokens worked all along (a sweep of refusals by a dead token would prove nothing).
    assert!(b_successes > 30, "only {b_successes} of B's own requests succeeded");
    ok("B's token still works", call(&s, Method::GET, &b_token, "tokens/verify", None), 200);
    ok("B's manage token still works", manage(&s, Method::GET, &b_manage, "/manage/tokens/verify", None), 200);
    assert_eq!(snapshot_a(&s, &a), before, "A's objects are as they were");
}

/// What A has, read with A's own token.
fn snapshot_a(s: &Server, a: &ProjectA) -> Vec<Value> {
    let t = a.token.as_str();
    let rows = ok("preview", s.send(s.client.get(s.api("tables/in.c-alpha.t/data-preview?format=json")).header("X-StorageApi-Token", t)), 200);
    vec![
        ok("verify", call(s, Method::GET, t, "tokens/verify", None), 200)["id"].clone(),
        ok("bucket", call(s, Method::GET, t, "buckets/in.c-alpha", None), 200)["description"].clone(),
        rows,
        ok("file", call(s, Method::GET, t, &format!("files/{}", a.file_id), None), 200)["name"].clone(),
        ok("config", call(s, Method::GET, t, &format!("components/keboola.ex-http/configs/{}", a.config_id), None), 200)["version"].clone(),
        ok("workspace", call(s, Method::GET, t, &format!("workspaces/{}", a.workspace_id), None), 200)["id"].clone(),
        ok("queue job", service(s, Method::GET, t, &format!("/queue/jobs/{}", a.queue_job_id), None), 200)["id"].clone(),
        ok("schedule", service(s, Method::GET, t, &format!("/scheduler/schedules/{}", a.schedule_id), None), 200)["id"].clone(),
        ok("vault", service(s, Method::GET, t, "/vault/variables", None), 200),
        ok("subscription", service(s, Method::GET, t, &format!("/notification/project-subscriptions/{}", a.subscription_id), None), 200)["id"].clone(),
        ok("project", manage(s, Method::GET, MANAGE_TOKEN, &format!("/manage/projects/{}", a.id), None), 200)["name"].clone(),
        ok("invitations", manage(s, Method::GET, MANAGE_TOKEN, &format!("/manage/projects/{}/invitations", a.id), None), 200),
        ok("oauth", service(s, Method::GET, t, "/oauth/credentials/keboola.ex-http/alphacred", None), 200)["authorizedFor"].clone(),
        ok("model", service(s, Method::GET, t, &format!("/metastore/api/v1/repository/semantic-model/{}", a.model_id), None), 200)["data"]["attributes"].clone(),
        ok("data app", service(s, Method::GET, t, &format!("/data-science/apps/{}", a.data_app_id), None), 200)["state"].clone(),
        ok("instance", service(s, Method::GET, t, &format!("/templates/v1/project/default/instances/{}", a.instance_id), None), 200)["name"].clone(),
        ok("template task", service(s, Method::GET, t, &format!("/templates/v1/tasks/{}", a.template_task_id), None), 200)["status"].clone(),
        ok("stream source", service(s, Method::GET, t, "/stream/v1/branches/default/sources/alphastream", None), 200)["version"].clone(),
        ok("stream sink", service(s, Method::GET, t, "/stream/v1/branches/default/sources/alphastream/sinks/alphasink", None), 200)["version"].clone(),
        ok("provisioning", service(s, Method::GET, t, &format!("/syrup/provisioning/snowflake/{}", a.provisioning_id), None), 200)["touch"].clone(),
        ok("orchestration", service(s, Method::GET, t, &format!("/syrup/orchestrator/orchestrations/{}", a.orchestration_id), None), 200)["tasks"].clone(),
    ]
}
