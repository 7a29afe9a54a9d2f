//! keboola-mcp-server's Queue client class (installed from PyPI by scripts/test) creates, gets and
//! searches jobs against kbstack's queue URL.
mod common;
mod queue_support;

use std::process::Command;

use common::{MASTER_TOKEN, Server};
use queue_support::*;
use serde_json::json;

#[test]
fn mcp_server_queue_client_creates_gets_and_searches() {
    let Some(python) = python_with_mcp() else {
        eprintln!("SKIPPED: no Python with keboola-mcp-server (scripts/test installs it into $HOME/.cache/kbstack-test/venv)");
        return;
    };
    let s = Server::start();
    create_config(&s, "keboola.runner-config-test", "mcp", json!({"parameters": {"message": "from mcp"}}), vec![], false);
    let out = Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/mcp_queue_client.py"))
        .env("KBSTACK_URL", &s.url)
        .env("KBSTACK_TOKEN", MASTER_TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("mcp queue client ok"));
}
