//! The workspace engines' conformance suite (DuckDB now), isolation checks included.
use std::sync::Arc;

use kbstack_store::backend::duckdb::DuckDbBackend;
use kbstack_store::workspace::duckdb::DuckDbWorkspaces;
use kbstack_store::workspace::suite::Fixture;

fn duckdb() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let tables_file = dir.path().join("tables.duckdb");
    let tables = Arc::new(DuckDbBackend::open(&tables_file).unwrap());
    let workspaces = DuckDbWorkspaces::open(&dir.path().join("workspaces"), tables.clone()).unwrap();
    let private_files = vec![tables_file, workspaces.file(2), workspaces.file(1)];
    Fixture { tables, workspaces: Box::new(workspaces), private_files, dir }
}

kbstack_store::workspace_backend_suite!(duckdb);
