//! Workspaces: private SQL databases a client loads Storage tables into, runs its own SQL in
//! (the Query service) and reads results back from (`tables-async` with `dataWorkspaceId`).
//! Every engine must pass `workspace_backend_suite!` (instantiated in
//! `tests/workspace_conformance.rs`), which includes the isolation checks: SQL run in one
//! workspace sees neither other workspaces, nor Storage tables it did not load, nor files.
pub mod duckdb;
#[doc(hidden)]
pub mod suite;

use std::path::Path;

use crate::backend::{BackendResult, CsvSource, Select, TableLocation};

/// One column of a load: the Storage column, its name in the workspace and an optional type
/// (a Snowflake/BigQuery/base type name; `None` keeps the Storage column's type).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadColumn {
    pub source: String,
    pub destination: String,
    pub data_type: Option<String>,
}

/// Copy a selection of a Storage table into a workspace table (`input[]` of `workspaces/{id}/load`).
#[derive(Debug, Clone)]
pub struct WorkspaceLoad {
    pub source: TableLocation,
    pub destination: String,
    /// Rows to copy: `whereFilters`, `changedSince`/`changedUntil`, `rows` (limit). Its `columns`
    /// is ignored: `columns` below picks and names them.
    pub select: Select,
    /// Columns to copy, in order; empty = every column of the table under its own name.
    pub columns: Vec<LoadColumn>,
    /// Replace an existing destination table instead of refusing the load.
    pub overwrite: bool,
}

/// A table (or view) of a workspace with its columns and their SQL types.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceTable {
    pub name: String,
    pub columns: Vec<(String, String)>,
}

/// A result column: name and SQL type name (`VARCHAR`, `BIGINT`, `DECIMAL(38,2)`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultColumn {
    pub name: String,
    pub data_type: String,
}

/// What one statement returned: its columns and up to `max_rows` rows as text (NULL as None).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<ResultColumn>,
    pub rows: Vec<Vec<Option<String>>>,
    /// More rows existed than `max_rows`; they were not read.
    pub truncated: bool,
}

pub trait WorkspaceBackend: Send + Sync {
    /// Make an empty workspace (schema `schema_name(id)` in database `database_name(id)`); an
    /// existing one is emptied.
    fn create(&self, id: i64) -> BackendResult<()>;
    /// Remove the workspace and everything in it; a missing workspace is not an error.
    fn remove(&self, id: i64) -> BackendResult<()>;
    /// Drop every table and view of the workspace (a load without `preserve`).
    fn clear(&self, id: i64) -> BackendResult<()>;
    /// Copy a Storage table's selection in; returns the rows copied.
    fn load(&self, id: i64, load: &WorkspaceLoad) -> BackendResult<u64>;
    /// Copy a whole Storage table (without `_timestamp`) to `schema.table` of the workspace,
    /// replacing an older copy: how a workspace with read-only Storage access reads Storage
    /// tables by their Keboola names (`"in.c-bucket"."table"`) while its SQL still reaches
    /// nothing outside its own file.
    fn mirror(&self, id: i64, source: &TableLocation, schema: &str, table: &str) -> BackendResult<u64>;
    /// Tables and views of the workspace's schema, by name.
    fn tables(&self, id: i64) -> BackendResult<Vec<WorkspaceTable>>;
    /// Write a workspace table as CSV with a header into `dir` (created by the caller), as a
    /// source for a Storage table load. Values as text, NULL as an empty field.
    fn export(&self, id: i64, table: &str, dir: &Path) -> BackendResult<CsvSource>;
    /// Run one SQL statement as the workspace's user and return at most `max_rows` rows. The
    /// statement can reach nothing outside the workspace.
    fn execute(&self, id: i64, sql: &str, max_rows: usize) -> BackendResult<QueryResult>;
    /// Open one user session on the workspace (the Query service's job): `f` runs statements
    /// in order on the same connection, so a transaction spans them. The workspace's lock is
    /// held until `f` returns (no load or other session meanwhile).
    fn session(&self, id: i64, f: &mut dyn FnMut(&mut dyn UserSession) -> BackendResult<()>) -> BackendResult<()>;
}

/// Stops the statement a session is running, from any thread (a cancel, a timeout); the
/// statement then fails. Harmless when nothing runs.
pub type Interrupter = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Where a statement's result goes, row by row: nothing is kept in memory.
pub trait RowSink {
    /// The result's columns, once, before any row.
    fn columns(&mut self, columns: &[ResultColumn]) -> BackendResult<()>;
    /// One row, values as text (NULL as None).
    fn row(&mut self, values: &[Option<String>]) -> BackendResult<()>;
}

/// What a statement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementOutcome {
    /// It returned rows (a query): how many went to the sink.
    Rows(u64),
    /// It changed rows (INSERT, UPDATE, DELETE, MERGE): how many; no rows went to the sink.
    Affected(u64),
    /// It returned nothing (DDL, SET, ...).
    Done,
}

/// A connection of a workspace's user, open for the duration of `WorkspaceBackend::session`.
pub trait UserSession {
    fn interrupter(&self) -> Interrupter;
    /// Run one statement, its rows streamed into `sink`.
    fn run(&mut self, sql: &str, sink: &mut dyn RowSink) -> BackendResult<StatementOutcome>;
    fn begin(&mut self) -> BackendResult<()>;
    fn commit(&mut self) -> BackendResult<()>;
    /// Undo the open transaction; no error when none is open.
    fn rollback(&mut self) -> BackendResult<()>;
}

/// The schema a workspace's tables live in, as reported in `connection.schema`.
pub fn schema_name(id: i64) -> String {
    format!("WORKSPACE_{id}")
}

/// The database (catalog) holding that schema, as reported in `connection.database`. Not the
/// schema's name: `"WORKSPACE_1".t` would then be ambiguous between catalog and schema.
pub fn database_name(id: i64) -> String {
    format!("KBSTACK_WS_{id}")
}
