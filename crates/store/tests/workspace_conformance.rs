//! The workspace engines' conformance suite (DuckDB workspaces), isolation checks included: beside
//! the embedded DuckDB table store and beside a DuckLake (the scale-out profile's tables).
use std::sync::Arc;

use kbstack_store::backend::duckdb::{DuckDbBackend, DuckLakeSettings};
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

fn duckdb_over_ducklake() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.ducklake");
    let settings = DuckLakeSettings {
        extension_dir: kbstack_testkit::duckdb_extensions(),
        catalog: catalog.display().to_string(),
        data_path: format!("{}/", dir.path().join("lake-data").display()),
        s3: None,
        scratch_dir: dir.path().join("scratch"),
    };
    let tables = Arc::new(DuckDbBackend::open_ducklake(&settings, "600MB").unwrap());
    let workspaces = DuckDbWorkspaces::open(&dir.path().join("workspaces"), tables.clone()).unwrap();
    let private_files = vec![catalog, workspaces.file(2), workspaces.file(1)];
    Fixture { tables, workspaces: Box::new(workspaces), private_files, dir }
}

mod over_ducklake {
    use super::*;
    kbstack_store::workspace_backend_suite!(duckdb_over_ducklake);
}
