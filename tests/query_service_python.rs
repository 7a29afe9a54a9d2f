//! The official Python clients of the Query service against kbstack: keboola-query-service
//! 0.3.0 (its whole client surface) and keboola-mcp-server's `QueryServiceClient` (what its
//! `query_data` tool sends). scripts/test installs both into $HOME/.cache/kbstack-test/venv.
mod common;

use std::process::Command;

use common::{MASTER_TOKEN, Server};

fn run(python: std::path::PathBuf, script: &str, marker: &str) {
    let s = Server::start();
    let (st, w) = s.post_form("workspaces", &[("readOnlyStorageAccess", "false")]);
    assert_eq!(st, 201, "{w}");
    let (_, branches) = s.get("dev-branches");
    let branch = branches.as_array().unwrap().iter().find(|b| b["isDefault"] == true).unwrap()["id"].to_string();
    let out = Command::new(python)
        .arg(format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR")))
        .env("KBSTACK_URL", &s.url)
        .env("KBSTACK_TOKEN", MASTER_TOKEN)
        .env("KBSTACK_BRANCH", branch)
        .env("KBSTACK_WORKSPACE", w["id"].to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(marker));
}

#[test]
fn keboola_query_service_client_round_trips() {
    let Some(python) = common::venv_python("keboola_query_service") else {
        eprintln!("SKIPPED: no Python with keboola-query-service==0.3.0 (scripts/test installs it into $HOME/.cache/kbstack-test/venv)");
        return;
    };
    run(python, "query_service_client.py", "query service client ok");
}

#[test]
fn mcp_server_query_client_submits_pages_and_cancels() {
    let Some(python) = common::venv_python("keboola_mcp_server.clients.query") else {
        eprintln!("SKIPPED: no Python with keboola-mcp-server (scripts/test installs it into $HOME/.cache/kbstack-test/venv)");
        return;
    };
    run(python, "mcp_query_client.py", "mcp query client ok");
}
