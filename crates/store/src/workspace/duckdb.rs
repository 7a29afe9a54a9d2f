//! DuckDB workspaces: each workspace is its own database file,
//! `<dir>/KBSTACK_WS_<id>.duckdb` (database `KBSTACK_WS_<id>`), with its tables in the schema
//! `WORKSPACE_<id>`.
//!
//! Isolation. DuckDB has no users or grants, so a workspace is isolated by what its SQL can
//! open, not by permissions:
//! - User SQL (`execute`) runs in a DuckDB instance of its own, opened on the workspace's file
//!   only, with `enable_external_access = false` (no `read_csv('/etc/passwd')`, no `ATTACH`, no
//!   `COPY ... TO` a file, no extension install/load) and then `lock_configuration = true`, so the
//!   statement cannot switch any of it back. The instance holds no other database: Storage
//!   tables and other workspaces are not reachable by any name.
//! - Data moves in and out by kbstack's own SQL, never the user's: a load or an export attaches
//!   the workspace file to the table backend's instance for one operation
//!   (`ATTACH ... AS kbws_<id>`), copies with one `CREATE TABLE AS SELECT` (types kept, filters
//!   pushed down) or one `COPY ... TO` a staging CSV, and detaches it again.
//! - One process must never have the same file open in two DuckDB instances at once (they
//!   would each write it), so every operation on a workspace holds that workspace's lock: the
//!   attach of a load and the instance of a query never overlap. User instances are opened per
//!   statement and closed after it.
//!
//! The conformance suite checks the refusals on the bundled DuckDB (`isolation_*` cases).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use duckdb::{Config, Connection};
use parking_lot::Mutex;

use super::{
    Interrupter, LoadColumn, QueryResult, ResultColumn, RowSink, StatementOutcome, UserSession, WorkspaceBackend, WorkspaceLoad, WorkspaceTable,
    database_name, schema_name,
};
use crate::backend::duckdb::{DuckDbBackend, column_sql_type, ident, internal, lit};
use crate::backend::{BackendError, BackendResult, ColumnDef, CsvSource, Select, TableLocation};
use kbstack_core::Code;

pub struct DuckDbWorkspaces {
    dir: PathBuf,
    tables: Arc<DuckDbBackend>,
    locks: Mutex<HashMap<i64, Arc<Mutex<()>>>>,
}

/// `memory_limit` of a user statement's instance (larger work spills to `<file>.tmp`).
const USER_MEMORY_LIMIT: &str = "256MB";

fn alias(id: i64) -> String {
    format!("kbws_{id}")
}

fn user_error(e: impl std::fmt::Display) -> BackendError {
    BackendError::UserError(e.to_string(), Code::WorkspaceQueryFailed)
}

impl DuckDbWorkspaces {
    /// Workspaces in `dir` (created when missing), filled from and exported through `tables`.
    pub fn open(dir: &Path, tables: Arc<DuckDbBackend>) -> anyhow::Result<DuckDbWorkspaces> {
        std::fs::create_dir_all(dir)?;
        Ok(DuckDbWorkspaces { dir: dir.to_path_buf(), tables, locks: Mutex::new(HashMap::new()) })
    }

    /// The workspace's database file.
    pub fn file(&self, id: i64) -> PathBuf {
        // DuckDB names the database after the file.
        self.dir.join(format!("{}.duckdb", database_name(id)))
    }

    fn lock(&self, id: i64) -> Arc<Mutex<()>> {
        self.locks.lock().entry(id).or_default().clone()
    }

    fn remove_files(&self, id: i64) -> BackendResult<()> {
        let file = self.file(id);
        for path in [file.clone(), file.with_extension("duckdb.wal"), file.with_extension("duckdb.tmp")] {
            let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(internal(e)),
            }
        }
        Ok(())
    }

    /// Run `f` with the workspace attached to the table backend's instance; `f` gets the
    /// qualified schema (`"kbws_1"."WORKSPACE_1"`). The caller holds the workspace's lock.
    fn attached<T>(&self, id: i64, read_only: bool, f: impl FnOnce(&Connection, &str) -> BackendResult<T>) -> BackendResult<T> {
        let file = self.file(id);
        if read_only && !file.exists() {
            return Err(not_found(id));
        }
        let conn = self.tables.conn()?;
        let a = ident(&alias(id));
        conn.execute_batch(&format!(
            "DETACH DATABASE IF EXISTS {a}; ATTACH {} AS {a}{};",
            lit(&file.display().to_string()),
            if read_only { " (READ_ONLY)" } else { "" }
        ))
        .map_err(internal)?;
        let out = f(&conn, &format!("{a}.{}", ident(&schema_name(id))));
        let detached = conn.execute_batch(&format!("DETACH DATABASE IF EXISTS {a}")).map_err(internal);
        let value = out?;
        detached?;
        Ok(value)
    }

    fn is_view(conn: &Connection, id: i64, name: &str) -> BackendResult<bool> {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM duckdb_views() WHERE database_name = ? AND schema_name = ? AND view_name = ?",
                duckdb::params![alias(id), schema_name(id), name],
                |r| r.get(0),
            )
            .map_err(internal)?;
        Ok(n > 0)
    }

    fn columns_of(conn: &Connection, id: i64, table: Option<&str>) -> BackendResult<Vec<(String, String, String)>> {
        let mut sql = String::from(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = ? AND schema_name = ?",
        );
        let mut args = vec![alias(id), schema_name(id)];
        if let Some(t) = table {
            sql.push_str(" AND table_name = ?");
            args.push(t.to_string());
        }
        sql.push_str(" ORDER BY table_name, column_index");
        let mut st = conn.prepare(&sql).map_err(internal)?;
        st.query_map(duckdb::params_from_iter(args.iter()), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(internal)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)
    }
}

/// A fresh instance on a workspace's file that can open nothing else, its configuration
/// locked; unqualified names resolve in the workspace's schema.
fn user_instance(file: &Path, id: i64, memory_limit: &str) -> BackendResult<Connection> {
    if !file.exists() {
        return Err(not_found(id));
    }
    let config = Config::default()
        .enable_external_access(false)
        .and_then(|c| c.enable_autoload_extension(false))
        .and_then(|c| c.with("autoinstall_known_extensions", "false"))
        .and_then(|c| c.with("allow_community_extensions", "false"))
        .and_then(|c| c.max_memory(memory_limit))
        .and_then(|c| c.threads(2))
        .map_err(internal)?;
    let conn = Connection::open_with_flags(file, config).map_err(internal)?;
    conn.execute_batch(&format!("SET search_path = {}; SET lock_configuration = true;", lit(&format!("{}.{}", database_name(id), schema_name(id)))))
        .map_err(internal)?;
    Ok(conn)
}

/// Run one statement as workspace `id`'s user on its file (what `execute` does under the
/// workspace's lock). Public for tests that check a running server's workspaces from outside:
/// the caller makes sure nothing else has the file open.
pub fn execute_in_file(file: &Path, id: i64, sql: &str, max_rows: usize) -> BackendResult<QueryResult> {
    use duckdb::arrow::array::Array;
    use duckdb::arrow::util::display::array_value_to_string;

    let conn = user_instance(file, id, USER_MEMORY_LIMIT)?;
    let mut st = conn.prepare(sql).map_err(user_error)?;
    // Streamed: only the batches up to `max_rows` are read.
    let batches = st.stream_arrow([]).map_err(user_error)?;
    let schema = batches.get_schema();
    let columns: Vec<ResultColumn> = schema
        .fields()
        .iter()
        .map(|f| ResultColumn { name: f.name().clone(), data_type: sql_type(f.data_type()) })
        .collect();
    let mut result = QueryResult { columns, rows: Vec::new(), truncated: false };
    'batches: for batch in batches {
        for row in 0..batch.num_rows() {
            if result.rows.len() >= max_rows {
                result.truncated = true;
                break 'batches;
            }
            let values = batch
                .columns()
                .iter()
                .map(|col| if col.is_null(row) { Ok(None) } else { array_value_to_string(col, row).map(Some) })
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            result.rows.push(values);
        }
    }
    Ok(result)
}

fn not_found(id: i64) -> BackendError {
    BackendError::UserError(format!("Workspace \"{id}\" not found."), Code::WorkspaceNotFound)
}

/// The SQL type a load column asks for (`VARCHAR`, `NUMBER`, `INTEGER`, a base type, ...).
fn load_type(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    let (base, length) = match upper.split_once('(') {
        Some((b, rest)) => (b.trim().to_string(), Some(rest.trim_end_matches(')').to_string())),
        None => (upper.clone(), None),
    };
    let def = ColumnDef { name: String::new(), basetype: base.clone(), nullable: true, native_type: Some(base), length };
    column_sql_type(&def)
}

/// DuckDB's name for an Arrow result type.
fn sql_type(t: &duckdb::arrow::datatypes::DataType) -> String {
    use duckdb::arrow::datatypes::DataType as D;
    match t {
        D::Utf8 | D::LargeUtf8 | D::Utf8View => "VARCHAR".into(),
        D::Boolean => "BOOLEAN".into(),
        D::Int8 => "TINYINT".into(),
        D::Int16 => "SMALLINT".into(),
        D::Int32 => "INTEGER".into(),
        D::Int64 => "BIGINT".into(),
        D::UInt8 => "UTINYINT".into(),
        D::UInt16 => "USMALLINT".into(),
        D::UInt32 => "UINTEGER".into(),
        D::UInt64 => "UBIGINT".into(),
        D::Float32 => "FLOAT".into(),
        D::Float64 => "DOUBLE".into(),
        D::Decimal128(p, s) | D::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        D::Date32 | D::Date64 => "DATE".into(),
        D::Time32(_) | D::Time64(_) => "TIME".into(),
        D::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        D::Timestamp(_, None) => "TIMESTAMP".into(),
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => "BLOB".into(),
        D::Interval(_) => "INTERVAL".into(),
        D::Null => "NULL".into(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}

impl WorkspaceBackend for DuckDbWorkspaces {
    fn create(&self, id: i64) -> BackendResult<()> {
        let lock = self.lock(id);
        let _guard = lock.lock();
        self.remove_files(id)?;
        self.attached(id, false, |conn, schema| conn.execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).map_err(internal))
    }

    fn remove(&self, id: i64) -> BackendResult<()> {
        let lock = self.lock(id);
        let _guard = lock.lock();
        self.remove_files(id)?;
        self.locks.lock().remove(&id);
        Ok(())
    }

    fn clear(&self, id: i64) -> BackendResult<()> {
        let lock = self.lock(id);
        let _guard = lock.lock();
        if !self.file(id).exists() {
            return Err(not_found(id));
        }
        // A new file is the only sure way to drop every object a user created, in any schema.
        self.remove_files(id)?;
        self.attached(id, false, |conn, schema| conn.execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).map_err(internal))
    }

    fn load(&self, id: i64, load: &WorkspaceLoad) -> BackendResult<u64> {
        let lock = self.lock(id);
        let _guard = lock.lock();
        if !self.file(id).exists() {
            return Err(not_found(id));
        }
        self.attached(id, false, |conn, schema| {
            let select = Select {
                columns: (!load.columns.is_empty()).then(|| load.columns.iter().map(|c| c.source.clone()).collect()),
                include_timestamp: false,
                ..load.select.clone()
            };
            let (sql, names) = self.tables.select_sql(conn, &load.source, &select, false)?;
            let columns: Vec<LoadColumn> = if load.columns.is_empty() {
                names.iter().map(|n| LoadColumn { source: n.clone(), destination: n.clone(), data_type: None }).collect()
            } else {
                load.columns.clone()
            };
            let mut seen = std::collections::HashSet::new();
            for c in &columns {
                if c.destination.is_empty() || !seen.insert(c.destination.to_ascii_lowercase()) {
                    return Err(BackendError::UserError(
                        format!("Invalid destination column name \"{}\" (empty or repeated).", c.destination),
                        Code::ValidationFailed,
                    ));
                }
            }
            let exprs: Vec<String> = columns
                .iter()
                .map(|c| match &c.data_type {
                    Some(t) => format!("CAST(NULLIF(CAST({} AS VARCHAR), '') AS {}) AS {}", ident(&c.source), load_type(t), ident(&c.destination)),
                    None => format!("{} AS {}", ident(&c.source), ident(&c.destination)),
                })
                .collect();
            let exists = !Self::columns_of(conn, id, Some(&load.destination))?.is_empty();
            if exists && !load.overwrite {
                return Err(BackendError::UserError(
                    format!("Table \"{}\" already exists in the workspace.", load.destination),
                    Code::WorkspaceTableExists,
                ));
            }
            let target = format!("{schema}.{}", ident(&load.destination));
            let replace = match (exists, Self::is_view(conn, id, &load.destination)?) {
                (false, _) => String::new(),
                (true, true) => format!("DROP VIEW {target};"),
                (true, false) => format!("DROP TABLE {target};"),
            };
            conn.execute_batch(&format!(
                "BEGIN TRANSACTION; {replace} CREATE TABLE {target} AS SELECT {} FROM ({sql}) AS src; COMMIT;",
                exprs.join(", ")
            ))
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                let msg = e.to_string();
                if msg.contains("Conversion Error") || msg.contains("Could not convert") {
                    BackendError::UserError(format!("Load error: {}", msg.lines().next().unwrap_or("")), Code::ValidationFailed)
                } else {
                    internal(msg)
                }
            })?;
            let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {target}"), [], |r| r.get(0)).map_err(internal)?;
            Ok(rows as u64)
        })
    }

    fn mirror(&self, id: i64, source: &TableLocation, schema: &str, table: &str) -> BackendResult<u64> {
        let lock = self.lock(id);
        let _guard = lock.lock();
        if !self.file(id).exists() {
            return Err(not_found(id));
        }
        self.attached(id, false, |conn, _| {
            let select = Select { include_timestamp: false, ..Select::default() };
            let (sql, _) = self.tables.select_sql(conn, source, &select, false)?;
            let db = ident(&alias(id));
            let target = format!("{db}.{}.{}", ident(schema), ident(table));
            conn.execute_batch(&format!(
                "BEGIN TRANSACTION; CREATE SCHEMA IF NOT EXISTS {db}.{}; CREATE OR REPLACE TABLE {target} AS SELECT * FROM ({sql}) AS src; COMMIT;",
                ident(schema)
            ))
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                internal(e)
            })?;
            let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {target}"), [], |r| r.get(0)).map_err(internal)?;
            Ok(rows as u64)
        })
    }

    fn tables(&self, id: i64) -> BackendResult<Vec<WorkspaceTable>> {
        let lock = self.lock(id);
        let _guard = lock.lock();
        self.attached(id, true, |conn, _| {
            let mut out: Vec<WorkspaceTable> = Vec::new();
            for (table, column, ty) in Self::columns_of(conn, id, None)? {
                match out.last_mut() {
                    Some(t) if t.name == table => t.columns.push((column, ty)),
                    _ => out.push(WorkspaceTable { name: table, columns: vec![(column, ty)] }),
                }
            }
            Ok(out)
        })
    }

    fn export(&self, id: i64, table: &str, dir: &Path) -> BackendResult<CsvSource> {
        let lock = self.lock(id);
        let _guard = lock.lock();
        self.attached(id, true, |conn, schema| {
            let columns: Vec<String> = Self::columns_of(conn, id, Some(table))?.into_iter().map(|(_, c, _)| c).collect();
            if columns.is_empty() {
                return Err(BackendError::UserError(
                    format!("Table \"{table}\" not found in the workspace \"{id}\"."),
                    Code::WorkspaceTableNotFound,
                ));
            }
            let file = dir.join("part0001.csv");
            let quoted: Vec<String> = columns.iter().map(|c| ident(c)).collect();
            conn.execute_batch(&format!(
                "COPY (SELECT * FROM {schema}.{}) TO {} (FORMAT csv, HEADER true, QUOTE '\"', ESCAPE '\"', FORCE_QUOTE ({}))",
                ident(table),
                lit(&file.display().to_string()),
                quoted.join(", ")
            ))
            .map_err(internal)?;
            Ok(CsvSource { paths: vec![file], delimiter: ',', enclosure: Some('"'), escaped_by: None, columns, has_header: true })
        })
    }

    fn execute(&self, id: i64, sql: &str, max_rows: usize) -> BackendResult<QueryResult> {
        let lock = self.lock(id);
        let _guard = lock.lock();
        execute_in_file(&self.file(id), id, sql, max_rows)
    }

    fn session(&self, id: i64, f: &mut dyn FnMut(&mut dyn UserSession) -> BackendResult<()>) -> BackendResult<()> {
        let lock = self.lock(id);
        let _guard = lock.lock();
        let conn = user_instance(&self.file(id), id, USER_MEMORY_LIMIT)?;
        let mut session = DuckDbSession { conn };
        let out = f(&mut session);
        // Whatever `f` left open is undone, never committed by the instance's close.
        let _ = session.conn.execute_batch("ROLLBACK");
        out
    }
}

/// A Query service session: one user instance on the workspace's file for a whole job.
struct DuckDbSession {
    conn: Connection,
}

/// The first keyword of a statement, upper case (comments and opening parentheses skipped).
fn first_keyword(sql: &str) -> String {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map(|(_, r)| r).unwrap_or("").trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map(|(_, r)| r).unwrap_or("").trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    rest.chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>().to_ascii_uppercase()
}

/// Statements whose result is the number of rows they changed (DuckDB's one `Count` column).
const CHANGING: &[&str] = &["INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE"];
/// Statements that return nothing a client reads.
const SILENT: &[&str] = &[
    "CREATE", "DROP", "ALTER", "SET", "RESET", "USE", "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "COMMENT", "CHECKPOINT",
    "VACUUM", "ANALYZE", "GRANT", "REVOKE",
];

impl UserSession for DuckDbSession {
    fn interrupter(&self) -> Interrupter {
        let handle = self.conn.interrupt_handle();
        std::sync::Arc::new(move || handle.interrupt())
    }

    fn run(&mut self, sql: &str, sink: &mut dyn RowSink) -> BackendResult<StatementOutcome> {
        use duckdb::arrow::array::Array;
        use duckdb::arrow::util::display::array_value_to_string;

        let keyword = first_keyword(sql);
        let mut st = self.conn.prepare(sql).map_err(user_error)?;
        let batches = st.stream_arrow([]).map_err(user_error)?;
        let schema = batches.get_schema();
        let columns: Vec<ResultColumn> =
            schema.fields().iter().map(|f| ResultColumn { name: f.name().clone(), data_type: sql_type(f.data_type()) }).collect();
        let counted = columns.len() == 1 && columns[0].name == "Count";
        if CHANGING.contains(&keyword.as_str()) && counted {
            let mut affected = 0u64;
            for batch in batches {
                        if batch.num_rows() > 0 {
                    affected += array_value_to_string(batch.column(0), 0).map_err(internal)?.parse::<u64>().unwrap_or(0);
                }
            }
            return Ok(StatementOutcome::Affected(affected));
        }
        if SILENT.contains(&keyword.as_str()) {
            for batch in batches {
                drop(batch);
            }
            return Ok(StatementOutcome::Done);
        }
        sink.columns(&columns)?;
        let mut count = 0u64;
        let mut values: Vec<Option<String>> = Vec::with_capacity(columns.len());
        for batch in batches {
                for row in 0..batch.num_rows() {
                values.clear();
                for col in batch.columns() {
                    values.push(if col.is_null(row) { None } else { Some(array_value_to_string(col, row).map_err(internal)?) });
                }
                sink.row(&values)?;
                count += 1;
            }
        }
        Ok(StatementOutcome::Rows(count))
    }

    fn begin(&mut self) -> BackendResult<()> {
        self.conn.execute_batch("BEGIN TRANSACTION").map_err(user_error)
    }

    fn commit(&mut self) -> BackendResult<()> {
        self.conn.execute_batch("COMMIT").map_err(user_error)
    }

    fn rollback(&mut self) -> BackendResult<()> {
        match self.conn.execute_batch("ROLLBACK") {
            Ok(()) => Ok(()),
            Err(e) if e.to_string().contains("no transaction is active") => Ok(()),
            Err(e) => Err(user_error(e)),
        }
    }
}
