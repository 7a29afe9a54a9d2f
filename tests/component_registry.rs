//! The component registry through the real binary: Keboola's component ids (also ones that
//! only run on Keboola) accept configurations and are listed with their schemas, running one
//! that kbstack cannot run is a user error, and an imported catalog is listed after a restart.
mod common;
mod queue_support;

use std::process::Command;
use std::time::Instant;

use common::{MASTER_TOKEN, Server};
use queue_support::{create_job, id, wait_finished};
use serde_json::{Value, json};

const POHODA: &str = "keboola.ex-pohoda-mserver";
const MCP_TOOL: &str = "keboola.mcp-server-tool";

fn index(s: &Server, query: &str) -> (u16, Value) {
    s.send(s.client.get(format!("{}/v2/storage{query}", s.url)))
}

fn component<'a>(index: &'a Value, id: &str) -> &'a Value {
    index["components"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id} is not in the index"))
}

fn create_config(s: &Server, component: &str, name: &str) -> String {
    let (st, c) = s.post_json(
        &format!("branch/default/components/{component}/configs"),
        json!({"name": name, "configuration": {"parameters": {"#password": "secret", "host": "pohoda.local"}}}),
    );
    assert_eq!(st, 201, "{c}");
    c["id"].as_str().unwrap().to_string()
}

#[test]
fn configurations_of_real_keboola_components_are_stored_and_listed() {
    let s = Server::start();
    let pohoda = create_config(&s, POHODA, "Účetnictví");
    let mcp = create_config(&s, MCP_TOOL, "MCP workspace");
    // Ids established from Keboola's public repositories (PROVENANCE.md) are stored too.
    for id in ["kds-team.app-custom-python", "keboola.ex-google-analytics", "keboola.processor-decompress-v2"] {
        create_config(&s, id, "from the public catalog");
    }

    let (st, listed) = s.get("branch/default/components?include=configuration");
    assert_eq!(st, 200, "{listed}");
    for (cid, config) in [(POHODA, &pohoda), (MCP_TOOL, &mcp)] {
        let c = listed.as_array().unwrap().iter().find(|c| c["id"] == cid).unwrap_or_else(|| panic!("{cid} not listed: {listed}"));
        assert_eq!(c["configurations"][0]["id"], json!(config));
        assert!(c["configurations"][0]["configuration"]["parameters"]["#password"].as_str().unwrap().starts_with("KBC::"), "{c}");
    }
    let (st, only_extractors) = s.get("branch/default/components?componentType=extractor");
    assert_eq!(st, 200);
    let ids: Vec<&str> = only_extractors.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [POHODA, "keboola.ex-google-analytics"], "the extractors with configurations");

    // The public detail of each, and the index lists them as Keboola does.
    let (st, detail) = s.send(s.client.get(s.api(&format!("components/{MCP_TOOL}"))));
    assert_eq!(st, 200, "{detail}");
    assert_eq!(detail["type"], "application");
    let (st, idx) = index(&s, "");
    assert_eq!(st, 200);
    assert_eq!(component(&idx, POHODA)["type"], "extractor");
    assert_eq!(component(&idx, MCP_TOOL)["uri"], format!("{}/v2/storage/components/{MCP_TOOL}", s.url));
    assert!(idx["components"].as_array().unwrap().len() >= 300, "the catalog lists Keboola's public components");
}

#[test]
fn flows_and_transformations_carry_real_configuration_schemas() {
    let s = Server::start();
    let (_, idx) = index(&s, "");
    let flow = &component(&idx, "keboola.flow")["configurationSchema"];
    assert_eq!(flow["required"], json!(["phases", "tasks"]), "{flow}");
    assert!(flow["properties"]["tasks"]["items"]["properties"]["task"].is_object());
    let orchestrator = &component(&idx, "keboola.orchestrator")["configurationSchema"];
    assert!(orchestrator["properties"]["phases"].is_object(), "{orchestrator}");
    for id in ["keboola.snowflake-transformation", "keboola.duckdb-transformation", "keboola.python-transformation-v2"] {
        let schema = &component(&idx, id)["configurationSchema"];
        assert_eq!(schema["required"], json!(["blocks"]), "{id}: {schema}");
        assert!(schema["properties"]["blocks"]["items"]["properties"]["codes"].is_object(), "{id}");
    }
    assert!(component(&idx, "keboola.python-transformation-v2")["configurationSchema"]["properties"]["packages"].is_object());
    // The same schema behind the component's own detail (what keboola-mcp-server fetches for flows).
    let (st, detail) = s.send(s.client.get(s.api("components/keboola.flow")));
    assert_eq!(st, 200);
    assert_eq!(&detail["configurationSchema"], flow);
}

#[test]
fn the_index_can_leave_components_out_or_short() {
    let s = Server::start();
    let (st, bare) = index(&s, "?exclude=components");
    assert_eq!(st, 200);
    assert!(bare.get("components").is_none(), "{bare}");
    assert_eq!(bare["api"], "storage");
    let (_, short) = index(&s, "?exclude=componentDetails");
    let pohoda = component(&short, POHODA);
    assert_eq!(pohoda.as_object().unwrap().len(), 9, "{pohoda}");
    assert!(pohoda.get("configurationSchema").is_none());
    let (_, full) = index(&s, "/");
    assert_eq!(full["components"].as_array().unwrap().len(), short["components"].as_array().unwrap().len());

    // The index is asked often: it stays small and quick.
    let t0 = Instant::now();
    let resp = s.client.get(format!("{}/v2/storage", s.url)).send().unwrap();
    let bytes = resp.bytes().unwrap().len();
    let took = t0.elapsed();
    eprintln!("index: {bytes} bytes in {took:?}");
    assert!(bytes < 1_000_000, "index is {bytes} bytes");
}

#[test]
fn running_a_component_that_only_runs_on_keboola_is_a_user_error() {
    let s = Server::start();
    let config = create_config(&s, POHODA, "invoices");
    let job = create_job(&s, json!({"component": POHODA, "config": config, "mode": "run"}));
    let done = wait_finished(&s, &id(&job), 30);
    assert_eq!(done["status"], "error", "{done}");
    assert_eq!(done["result"]["error"]["type"], "user", "{done}");
    let message = done["result"]["message"].as_str().unwrap();
    assert!(message.contains(POHODA) && message.contains("cannot run on this stack"), "{message}");

    // An id no catalog lists is refused up front.
    let (st, e) = queue_support::qpost(&s, "jobs", json!({"component": "keboola.ex-no-such-thing", "configData": {}}));
    assert_eq!(st, 404, "{e}");
}

#[test]
fn an_imported_developer_portal_catalog_is_listed_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps.json");
    std::fs::write(
        &apps,
        json!([
            {"id": "acme.ex-widgets", "type": "extractor", "name": "Widgets", "shortDescription": "Reads widgets.",
             "icon": {"32": "https://example.test/32.png", "64": "https://example.test/64.png"},
             "repository": {"type": "ecr", "uri": "acme/ex-widgets", "tag": "2.0.1"},
             "flags": ["genericDockerUI"], "configurationSchema": {"type": "object", "required": ["token"]}},
            {"id": POHODA, "type": "extractor", "name": "Pohoda (imported)", "shortDescription": "Imported entry wins."},
            {"name": "no id"}
        ])
        .to_string(),
    )
    .unwrap();
    let bin = std::env::var("KBSTACK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kbstack").to_string());
    let out = Command::new(&bin)
        .args(["component", "import-catalog"])
        .arg(&apps)
        .env("KBSTACK_DATA_DIR", dir.path())
        .env("KBSTACK_MASTER_TOKEN", MASTER_TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("imported 2 components") && said.contains("1 entries without a valid id skipped"), "{said}");

    let s = Server::start_in(dir.path());
    let (_, idx) = index(&s, "");
    let widgets = component(&idx, "acme.ex-widgets");
    assert_eq!(widgets["description"], "Reads widgets.");
    assert_eq!(widgets["ico64"], "https://example.test/64.png");
    assert_eq!(widgets["data"]["definition"]["tag"], "2.0.1");
    assert_eq!(widgets["configurationSchema"]["required"], json!(["token"]));
    assert_eq!(component(&idx, POHODA)["name"], "Pohoda (imported)");
    assert!(component(&idx, "keboola.flow")["configurationSchema"].is_object(), "built-in entries stay");
    create_config(&s, "acme.ex-widgets", "w");

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"api": "storage"}"#).unwrap();
    let out = Command::new(&bin).args(["component", "import-catalog"]).arg(&bad).env("KBSTACK_DATA_DIR", dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("components"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn keboola_mcp_server_reads_the_flow_schema_and_validates_its_flows() {
    let Some(python) = common::venv_python("keboola_mcp_server") else {
        eprintln!("SKIPPED: no Python with keboola-mcp-server (scripts/test installs it into $HOME/.cache/kbstack-test/venv)");
        return;
    };
    let s = Server::start();
    let out = Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/mcp_component_schemas.py"))
        .env("KBSTACK_URL", &s.url)
        .env("KBSTACK_TOKEN", MASTER_TOKEN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("mcp component schemas ok"), "{stdout}");
}
