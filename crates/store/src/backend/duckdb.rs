//! DuckDB table backend: one database file, or a DuckLake catalog that several nodes share
//! (`open_ducklake`: catalog in PostgreSQL, Parquet data in S3); a schema per (project, branch,
//! bucket); untyped tables are VARCHAR columns plus `_timestamp`. Loads follow Keboola's import
//! library (notes: storage-api.md §8) and run in one transaction each, so a crash leaves the old
//! or the new table, never a mix.
use std::path::{Path, PathBuf};

use duckdb::Connection;
use parking_lot::Mutex;

use super::filter::{Filter, Operator, Select};
use super::{
    BackendError, BackendResult, ColumnDef, CsvSource, ExportFormat, ExportSpec, LoadResult, LoadSpec, TableBackend,
    TableLocation,
};
use kbstack_core::Code;

pub struct DuckDbBackend {
    /// A handle used only to open per-operation connections (DuckDB connections are not `Sync`).
    root: Mutex<Connection>,
    /// Idle connections for reads, reused: opening one builds a client context (parser,
    /// optimizer rules, a temp catalog), which cost more than a small preview's query.
    readers: Mutex<Vec<Connection>>,
    /// Tables live in the attached DuckLake `lake`, which each new connection must `USE`.
    lake: bool,
}

/// A DuckLake the tables are kept in instead of a local file: the scale-out profile.
#[derive(Debug, Clone)]
pub struct DuckLakeSettings {
    /// Holds `ducklake`, `httpfs` and `postgres_scanner` `.duckdb_extension` files (DuckDB's
    /// official builds; nothing is downloaded at run time).
    pub extension_dir: PathBuf,
    /// The catalog: a `postgres://` URL (shared by every node) or a local `.ducklake` file.
    pub catalog: String,
    /// Where data files go: `s3://bucket/prefix/` or a local directory.
    pub data_path: String,
    /// Credentials for an `s3://` data path.
    pub s3: Option<crate::s3::S3Settings>,
    /// Node-local scratch space (spills of large operations).
    pub scratch_dir: PathBuf,
}

/// How often a load or schema change is tried again when another node's commit to the same
/// table conflicts with it (DuckLake's optimistic concurrency).
const CONFLICT_RETRIES: u32 = 20;

/// Only engine errors: a user error's text may quote a CSV line that says "conflict".
fn is_conflict(e: &BackendError) -> bool {
    matches!(e, BackendError::Internal(m) if m.contains("conflict") || m.contains("Conflict"))
}

/// Runs `op` again (after a short random pause) while it fails with a commit conflict.
fn retry_conflicts<T>(mut op: impl FnMut() -> BackendResult<T>) -> BackendResult<T> {
    let mut attempt = 0;
    loop {
        match op() {
            Err(e) if attempt < CONFLICT_RETRIES && is_conflict(&e) => {
                attempt += 1;
                let pause = 5 + rand::random::<u64>() % (10 * attempt as u64);
                std::thread::sleep(std::time::Duration::from_millis(pause));
            }
            other => return other,
        }
    }
}

/// Idle reader connections kept (as many as requests read at once on a small machine).
const MAX_IDLE_READERS: usize = 16;

const TS: &str = "_timestamp";
/// The `once_key`s of committed loads (`LoadSpec::once_key`), beside the tables they loaded.
const ONCE_TABLE: &str = "__kbstack_loads_once";

pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// SQL string literal. Values are inlined (COPY cannot take parameters); quotes are doubled.
pub fn lit(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn schema_name(loc: &TableLocation) -> String {
    format!("p{}_b{}_{}", loc.project_id, loc.branch_id, loc.bucket_id)
}

fn qualified(loc: &TableLocation) -> String {
    format!("{}.{}", ident(&schema_name(loc)), ident(&loc.table))
}

pub(crate) fn internal(e: impl std::fmt::Display) -> BackendError {
    BackendError::Internal(e.to_string())
}

/// Type for a Keboola base type in a typed table.
fn basetype_sql(basetype: &str) -> &'static str {
    match basetype.to_ascii_uppercase().as_str() {
        "INTEGER" => "BIGINT",
        "NUMERIC" => "DECIMAL(38,9)",
        "FLOAT" => "DOUBLE",
        "BOOLEAN" => "BOOLEAN",
        "DATE" => "DATE",
        "TIMESTAMP" => "TIMESTAMP",
        _ => "VARCHAR",
    }
}

/// `DECIMAL(p,s)` for a `p[,s]` length; DuckDB stops at 38 digits, so wider BigQuery
/// BIGNUMERICs are narrowed (their scale kept below the precision).
fn decimal_sql(length: Option<&str>) -> String {
    let mut parts = length.unwrap_or("38,0").split(',').map(|p| p.trim().parse::<u32>().unwrap_or(0));
    let precision = parts.next().unwrap_or(38).clamp(1, 38);
    let scale = parts.next().unwrap_or(0).min(precision);
    format!("DECIMAL({precision},{scale})")
}

/// DuckDB type for a column of a typed table: from the native type the client named (Snowflake
/// or BigQuery spelling) or, without one, from the base type. Semi-structured, spatial and
/// binary types are kept as their text.
pub(crate) fn column_sql_type(c: &ColumnDef) -> String {
    let Some(native) = &c.native_type else {
        return basetype_sql(&c.basetype).to_string();
    };
    match native.to_ascii_uppercase().as_str() {
        "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "TINYINT" | "BYTEINT" | "INT64" => "BIGINT".into(),
        "NUMBER" | "DECIMAL" | "DEC" | "NUMERIC" | "BIGNUMERIC" | "BIGDECIMAL" => decimal_sql(c.length.as_deref()),
        "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE" | "DOUBLE PRECISION" | "REAL" | "FLOAT64" => "DOUBLE".into(),
        "BOOLEAN" | "BOOL" => "BOOLEAN".into(),
        "DATE" => "DATE".into(),
        "TIME" => "TIME".into(),
        "DATETIME" | "TIMESTAMP" | "TIMESTAMP_NTZ" => "TIMESTAMP".into(),
        "TIMESTAMP_LTZ" | "TIMESTAMP_TZ" => "TIMESTAMPTZ".into(),
        _ => "VARCHAR".into(),
    }
}

fn ts_literal(ts: &chrono::DateTime<chrono::Utc>) -> String {
    format!("TIMESTAMP '{}'", ts.format("%Y-%m-%d %H:%M:%S%.6f"))
}

impl DuckDbBackend {
    /// Open with the default memory limit (tests, tools).
    pub fn open(path: &Path) -> anyhow::Result<DuckDbBackend> {
        DuckDbBackend::open_with_memory_limit(path, "600MB")
    }

    /// `memory`: DuckDB's `memory_limit` (larger work spills to `<file>.tmp`).
    pub fn open_with_memory_limit(path: &Path, memory: &str) -> anyhow::Result<DuckDbBackend> {
        let conn = Connection::open(path)?;
        let tmp = path.with_extension("tmp");
        conn.execute_batch(&format!(
            "SET memory_limit = {}; SET temp_directory = {}; SET preserve_insertion_order = false;",
            lit(memory),
            lit(&tmp.display().to_string())
        ))?;
        conn.execute_batch(&format!("CREATE TABLE IF NOT EXISTS main.{ONCE_TABLE} (key VARCHAR PRIMARY KEY, loaded_at TIMESTAMP);"))?;
        Ok(DuckDbBackend { root: Mutex::new(conn), readers: Mutex::new(Vec::new()), lake: false })
    }

    /// Tables in a DuckLake (`settings`); the node's own DuckDB is in memory, with spills in the
    /// scratch dir. Nodes opening the same catalog see one set of tables.
    pub fn open_ducklake(settings: &DuckLakeSettings, memory: &str) -> anyhow::Result<DuckDbBackend> {
        use anyhow::Context;
        std::fs::create_dir_all(&settings.scratch_dir)?;
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(&format!(
            "SET memory_limit = {}; SET temp_directory = {}; SET preserve_insertion_order = false; \
             SET autoinstall_known_extensions = false; SET autoload_known_extensions = false;",
            lit(memory),
            lit(&settings.scratch_dir.join("duckdb.tmp").display().to_string())
        ))?;
        for ext in ["postgres_scanner", "httpfs", "ducklake"] {
            let file = settings.extension_dir.join(format!("{ext}.duckdb_extension"));
            conn.execute_batch(&format!("LOAD {}", lit(&file.display().to_string())))
                .with_context(|| format!("loading DuckDB's {ext} extension from {}", file.display()))?;
        }
        // Object stores answer 5xx now and then under load; httpfs retries those.
        conn.execute_batch("SET http_retries = 8; SET http_retry_wait_ms = 200; SET http_retry_backoff = 1.5;")?;
        if let Some(s3) = &settings.s3 {
            let (host, tls) = s3.host_and_tls();
            let mut options = vec![
                format!("KEY_ID {}", lit(&s3.access_key_id)),
                format!("SECRET {}", lit(&s3.secret_access_key)),
                format!("REGION {}", lit(if s3.region.is_empty() { "us-east-1" } else { &s3.region })),
                format!("USE_SSL {tls}"),
                format!("URL_STYLE {}", lit(if s3.path_style { "path" } else { "vhost" })),
            ];
            if !host.is_empty() {
                options.push(format!("ENDPOINT {}", lit(&host)));
            }
            // The error, not the statement, is reported: the statement holds the secret.
            conn.execute_batch(&format!("CREATE SECRET kbstack_s3 (TYPE s3, {})", options.join(", ")))
                .map_err(|e| anyhow::anyhow!("configuring S3 access for DuckLake: {e}"))?;
        }
        let catalog = if settings.catalog.starts_with("postgres://") || settings.catalog.starts_with("postgresql://") {
            format!("ducklake:postgres:{}", settings.catalog)
        } else {
            format!("ducklake:{}", settings.catalog)
        };
        // Every row goes to a data file: rows inlined into the catalog would make the catalog
        // database hold table data.
        let attach = format!("ATTACH {} AS lake (DATA_PATH {}, DATA_INLINING_ROW_LIMIT 0); USE lake;", lit(&catalog), lit(&settings.data_path));
        let mut attached = conn.execute_batch(&attach);
        // Nodes starting at once on an empty catalog race to create its tables; the losers find
        // them made on a second look.
        for _ in 0..10 {
            match &attached {
                Err(e) if e.to_string().contains("Failed to initialize DuckLake") => {
                    std::thread::sleep(std::time::Duration::from_millis(100 + rand::random::<u64>() % 400));
                    attached = conn.execute_batch(&attach);
                }
                _ => break,
            }
        }
        attached
        // The catalog URL may hold a password: the error is reported without it.
        .map_err(|e| {
            anyhow::anyhow!(
                "attaching the DuckLake catalog (data in {}): {}",
                settings.data_path,
                e.to_string().replace(&settings.catalog, "<catalog>")
            )
        })?;
        retry_conflicts(|| {
            conn.execute_batch(&format!("CREATE TABLE IF NOT EXISTS main.{ONCE_TABLE} (key VARCHAR, loaded_at TIMESTAMP);"))
                .map_err(internal)
        })
        .map_err(|e| anyhow::anyhow!("creating the load log table in the DuckLake: {e}"))?;
        Ok(DuckDbBackend { root: Mutex::new(conn), readers: Mutex::new(Vec::new()), lake: true })
    }

    /// The type of a column added to an untyped table: '' in the rows it had, never NULL. DuckDB
    /// 1.5 (and DuckLake) cannot add a column with a NOT NULL constraint; the default fills the
    /// old rows and loads never write NULL into an untyped table, so the column holds no NULL.
    fn untyped_added_column(&self) -> &'static str {
        "VARCHAR DEFAULT ''"
    }

    /// The DuckDB version (`v1.5.5`), for export manifests.
    pub fn engine_version(&self) -> BackendResult<String> {
        self.conn()?.query_row("SELECT version()", [], |r| r.get(0)).map_err(internal)
    }

    /// A connection of the table backend's instance (the workspace engine attaches workspace files to it).
    pub(crate) fn conn(&self) -> BackendResult<Connection> {
        let conn = self.root.lock().try_clone().map_err(internal)?;
        if self.lake {
            conn.execute_batch("USE lake").map_err(internal)?;
        }
        Ok(conn)
    }

    /// `read` on an idle reader connection (or a new one). Only for work that leaves no state
    /// on the connection: it goes back to the pool when `read` is done and no transaction is open.
    fn with_reader<T>(&self, read: impl FnOnce(&Connection) -> BackendResult<T>) -> BackendResult<T> {
        let pooled = self.readers.lock().pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.conn()?,
        };
        let out = read(&conn);
        if conn.is_autocommit() {
            let mut idle = self.readers.lock();
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        out
    }

    /// One attempt at `TableBackend::load`, in one transaction.
    fn try_load(&self, loc: &TableLocation, spec: &LoadSpec) -> BackendResult<LoadResult> {
        let conn = self.conn()?;
        // Loads with the same key are never concurrent (their caller holds the table's lock), so
        // a check before the transaction and the insert inside it are enough.
        if let Some(key) = &spec.once_key {
            if self.loaded_once(key)? {
                return Ok(LoadResult { already_loaded: true, ..LoadResult::default() });
            }
        }
        let existing = self.column_types(&conn, loc)?;
        let existing_names: Vec<&str> = existing.iter().map(|(c, _)| c.as_str()).collect();
        let file_cols = &spec.source.columns;
        let added: Vec<String> = file_cols.iter().filter(|c| !existing_names.contains(&c.as_str())).cloned().collect();
        let ts = ts_literal(&spec.timestamp);
        let source = Self::read_csv_sql(&spec.source, !spec.typed)?;
        // Value of each file column as stored: untyped tables keep strings with NULL → '';
        // typed tables treat '' as NULL and cast to the column type.
        let value_expr = |c: &str| -> String {
            let ty = existing.iter().find(|(n, _)| n == c).map(|(_, t)| t.as_str()).unwrap_or("VARCHAR");
            if spec.typed {
                if ty == "VARCHAR" {
                    format!("NULLIF({}, '')", ident(c))
                } else {
                    format!("CAST(NULLIF({}, '') AS {ty})", ident(c))
                }
            } else {
                // Empty fields already read as '' (force_not_null).
                ident(c)
            }
        };
        let values: Vec<String> = file_cols.iter().map(|c| value_expr(c)).collect();
        let staged: Vec<String> = file_cols.iter().zip(&values).map(|(c, v)| format!("{v} AS {}", ident(c))).collect();
        let pk_partition: Vec<String> = spec.primary_key.iter().map(|c| ident(c)).collect();
        let dedup = if pk_partition.is_empty() {
            String::new()
        } else {
            format!(" QUALIFY row_number() OVER (PARTITION BY {}) = 1", pk_partition.join(", "))
        };
        let target = qualified(loc);
        let col_list: Vec<String> = file_cols.iter().map(|c| ident(c)).collect();

        let mut sql = String::from("BEGIN TRANSACTION;\n");
        for c in &added {
            let ty = if spec.typed { "VARCHAR" } else { self.untyped_added_column() };
            sql.push_str(&format!("ALTER TABLE {target} ADD COLUMN {} {ty};\n", ident(c)));
        }
        conn.execute_batch(&sql).map_err(internal)?;
        let run = || -> BackendResult<u64> {
            if !spec.incremental {
                conn.execute_batch(&format!("DELETE FROM {target};")).map_err(internal)?;
            }
            if !spec.incremental || spec.primary_key.is_empty() {
                let n = conn
                    .execute(
                        &format!(
                            "INSERT INTO {target} ({}, {}) SELECT {}, {ts} FROM {source}{dedup}",
                            col_list.join(", "),
                            ident(TS),
                            values.join(", "),
                        ),
                        [],
                    )
                    .map_err(csv_error)?;
                return Ok(n as u64);
            }
            // Incremental load with a primary key (IncrementalImporter): update rows whose values
            // differ (bumping _timestamp), insert new keys once, never delete.
            conn.execute_batch(&format!(
                "CREATE TEMP TABLE __kbstack_stage AS SELECT {} FROM {source}{dedup};",
                staged.join(", ")
            ))
            .map_err(csv_error)?;
            let staged_rows: i64 =
                conn.query_row("SELECT count(*) FROM __kbstack_stage", [], |r| r.get(0)).map_err(internal)?;
            let pk_match: Vec<String> =
                spec.primary_key.iter().map(|c| format!("t.{} = s.{}", ident(c), ident(c))).collect();
            let non_pk: Vec<&String> = file_cols.iter().filter(|c| !spec.primary_key.contains(c)).collect();
            if !non_pk.is_empty() {
                let sets: Vec<String> = non_pk.iter().map(|c| format!("{} = s.{}", ident(c), ident(c))).collect();
                let differs: Vec<String> =
                    non_pk.iter().map(|c| format!("t.{} IS DISTINCT FROM s.{}", ident(c), ident(c))).collect();
                conn.execute_batch(&format!(
                    "UPDATE {target} AS t SET {}, {} = {ts} FROM __kbstack_stage AS s WHERE {} AND ({});",
                    sets.join(", "),
                    ident(TS),
                    pk_match.join(" AND "),
                    differs.join(" OR ")
                ))
                .map_err(internal)?;
            }
            conn.execute_batch(&format!(
                "INSERT INTO {target} ({}, {}) SELECT {}, {ts} FROM __kbstack_stage AS s \
                 WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {});\nDROP TABLE __kbstack_stage;",
                col_list.join(", "),
                ident(TS),
                file_cols.iter().map(|c| format!("s.{}", ident(c))).collect::<Vec<_>>().join(", "),
                pk_match.join(" AND ")
            ))
            .map_err(internal)?;
            Ok(staged_rows as u64)
        };
        let run = || -> BackendResult<u64> {
            let n = run()?;
            if let Some(key) = &spec.once_key {
                conn.execute(&format!("INSERT INTO main.{ONCE_TABLE} VALUES (?, now()::TIMESTAMP)"), [key]).map_err(internal)?;
            }
            Ok(n)
        };
        match run() {
            Ok(n) => {
                if let Err(e) = conn.execute_batch("COMMIT;") {
                    let _ = conn.execute_batch("ROLLBACK;");
                    return Err(internal(e));
                }
                Ok(LoadResult { imported_rows: n, imported_columns: file_cols.clone(), added_columns: added, already_loaded: false })
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK;");
                Err(e)
            }
        }
    }

    fn column_types(&self, conn: &Connection, loc: &TableLocation) -> BackendResult<Vec<(String, String)>> {
        // `pragma_table_info` looks up the one table; `duckdb_columns()` builds a row for every
        // column of every table and system view first (most of a small preview's CPU).
        // DuckDB 1.5 cannot parse a name with an escaped quote in `pragma_table_info`'s
        // argument; such rare names take the slow way.
        let (sql, params) = if schema_name(loc).contains('"') || loc.table.contains('"') {
            (
                "SELECT column_name, data_type FROM duckdb_columns() \
                 WHERE database_name = current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index",
                vec![schema_name(loc), loc.table.clone()],
            )
        } else {
            ("SELECT name, type FROM pragma_table_info(?)", vec![qualified(loc)])
        };
        let rows = conn.prepare_cached(sql).and_then(|mut st| {
            st.query_map(duckdb::params_from_iter(params), |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()
        });
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) if e.to_string().contains("does not exist") => Vec::new(),
            Err(e) => return Err(internal(e)),
        };
        if rows.is_empty() {
            return Err(BackendError::UserError(format!("Table \"{}\" does not exist.", loc.table), Code::TableNotFound));
        }
        Ok(rows.into_iter().filter(|(c, _)| c != TS).collect())
    }

    /// `read_csv(...)` over the source with every file column as VARCHAR. `empty_as_text`: empty
    /// fields read as '' instead of NULL (`force_not_null`), what untyped tables store.
    fn read_csv_sql(src: &CsvSource, empty_as_text: bool) -> BackendResult<String> {
        let files: Vec<String> = src.paths.iter().map(|p| lit(&p.display().to_string())).collect();
        let gz = src.paths.first().map(|p| is_gzip(p)).unwrap_or(false);
        let columns: Vec<String> = src.columns.iter().map(|c| format!("{}: 'VARCHAR'", lit(c))).collect();
        let quote = src.enclosure.map(|c| c.to_string()).unwrap_or_default();
        let escape = match (src.escaped_by, src.enclosure) {
            (Some(e), _) => e.to_string(),
            (None, Some(q)) => q.to_string(),
            (None, None) => String::new(),
        };
        Ok(format!(
            "read_csv([{}], delim = {}, quote = {}, escape = {}, header = {}, columns = {{{}}}, auto_detect = false, \
             compression = {}, strict_mode = true, null_padding = false, max_line_size = {}, buffer_size = {}{})",
            files.join(", "),
            lit(&src.delimiter.to_string()),
            lit(&quote),
            lit(&escape),
            src.has_header,
            columns.join(", "),
            if gz { "'gzip'" } else { "'none'" },
            super::MAX_LINE_BYTES,
            super::CSV_BUFFER_BYTES,
            if empty_as_text {
                format!(", force_not_null = [{}]", src.columns.iter().map(|c| lit(c)).collect::<Vec<_>>().join(", "))
            } else {
                String::new()
            },
        ))
    }

    fn where_sql(select: &Select, columns: &[(String, String)]) -> BackendResult<String> {
        select.nul_free().map_err(|msg| BackendError::UserError(msg, Code::ValidationFailed))?;
        let mut parts = Vec::new();
        for f in &select.filters {
            if !columns.iter().any(|(c, _)| *c == f.column) {
                return Err(BackendError::UserError(
                    format!("Cannot filter by column \"{}\", column does not exist", f.column),
                    Code::ColumnNotExists,
                ));
            }
            parts.push(filter_sql(f)?);
        }
        if let Some(since) = &select.changed_since {
            parts.push(format!("{} >= {}", ident(TS), ts_literal(since)));
        }
        if let Some(until) = &select.changed_until {
            parts.push(format!("{} < {}", ident(TS), ts_literal(until)));
        }
        Ok(if parts.is_empty() { String::new() } else { format!(" WHERE {}", parts.join(" AND ")) })
    }

    pub(crate) fn select_sql(&self, conn: &Connection, loc: &TableLocation, select: &Select, as_text: bool) -> BackendResult<(String, Vec<String>)> {
        let columns = self.column_types(conn, loc)?;
        let wanted: Vec<String> = match &select.columns {
            Some(cols) if !cols.is_empty() => {
                for c in cols {
                    if !columns.iter().any(|(n, _)| n == c) {
                        return Err(BackendError::UserError(
                            format!("Column \"{c}\" does not exist in table \"{}\".", loc.table),
                            Code::ColumnNotExists,
                        ));
                    }
                }
                cols.clone()
            }
            _ => columns.iter().map(|(c, _)| c.clone()).collect(),
        };
        let mut exprs: Vec<String> = wanted
            .iter()
            .map(|c| if as_text { format!("CAST({} AS VARCHAR) AS {}", ident(c), ident(c)) } else { ident(c) })
            .collect();
        let mut names = wanted.clone();
        if select.include_timestamp {
            exprs.push(format!("strftime({}, '%Y-%m-%d %H:%M:%S') AS {}", ident(TS), ident(TS)));
            names.push(TS.to_string());
        }
        let mut sql = format!("SELECT {} FROM {}{}", exprs.join(", "), qualified(loc), Self::where_sql(select, &columns)?);
        if !select.order_by.is_empty() {
            let mut order = Vec::new();
            for o in &select.order_by {
                if o.column != TS && !columns.iter().any(|(n, _)| *n == o.column) {
                    return Err(BackendError::UserError(
                        format!("Cannot order by column \"{}\", column does not exist", o.column),
                        Code::ColumnNotExists,
                    ));
                }
                let expr = match o.data_type.as_deref() {
                    Some(t) => format!("TRY_CAST({} AS {})", ident(&o.column), numeric_type(t)?),
                    None => ident(&o.column),
                };
                order.push(format!("{} {}", expr, if o.descending { "DESC" } else { "ASC" }));
            }
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        if let Some(limit) = select.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        Ok((sql, names))
    }
}

fn numeric_type(t: &str) -> BackendResult<&'static str> {
    Ok(match t.to_ascii_uppercase().as_str() {
        "INTEGER" | "BIGINT" => "BIGINT",
        "DOUBLE" | "REAL" | "DECIMAL" | "FLOAT" | "NUMERIC" => "DOUBLE",
        other => {
            return Err(BackendError::UserError(
                format!("Invalid dataType \"{other}\"; allowed: INTEGER, DOUBLE, BIGINT, REAL, DECIMAL."),
                Code::ValidationFailed,
            ));
        }
    })
}

fn filter_sql(f: &Filter) -> BackendResult<String> {
    if f.values.is_empty() {
        return Err(BackendError::UserError(
            format!("Filter on column \"{}\" has no values.", f.column),
            Code::ValidationFailed,
        ));
    }
    let (expr, vals): (String, Vec<String>) = match f.data_type.as_deref() {
        Some(t) => {
            let ty = numeric_type(t)?;
            (
                format!("TRY_CAST({} AS {ty})", ident(&f.column)),
                f.values.iter().map(|v| format!("TRY_CAST({} AS {ty})", lit(v))).collect(),
            )
        }
        None => (format!("CAST({} AS VARCHAR)", ident(&f.column)), f.values.iter().map(|v| lit(v)).collect()),
    };
    let single = |op: &str| -> BackendResult<String> {
        if vals.len() != 1 {
            return Err(BackendError::UserError(
                format!("Operator \"{op}\" on column \"{}\" takes exactly one value.", f.column),
                Code::ValidationFailed,
            ));
        }
        Ok(format!("{expr} {op} {}", vals[0]))
    };
    Ok(match f.operator {
        Operator::Eq => format!("{expr} IN ({})", vals.join(", ")),
        Operator::Ne => format!("{expr} NOT IN ({})", vals.join(", ")),
        Operator::Gt => single(">")?,
        Operator::Ge => single(">=")?,
        Operator::Lt => single("<")?,
        Operator::Le => single("<=")?,
    })
}

pub fn is_gzip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 2];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == [0x1f, 0x8b]
}

/// DuckDB's CSV errors are user errors (bad file), reported with Keboola's CSV code.
fn csv_error(e: duckdb::Error) -> BackendError {
    let msg = e.to_string();
    if msg.contains("CSV") || msg.contains("csv") || msg.contains("Conversion Error") || msg.contains("Could not convert") {
        let first = msg.lines().take(3).collect::<Vec<_>>().join(" ");
        BackendError::UserError(format!("Load error: {first}"), Code::InvalidCsv)
    } else {
        internal(msg)
    }
}

/// `CREATE SCHEMA IF NOT EXISTS`, again when a concurrent transaction created the same schema
/// first: DuckDB reports that as a write-write conflict (two jobs of a flow phase writing their
/// first tables into the same new bucket at once), and the retry then finds the schema there.
/// Creates the schema unless it exists; concurrent creators (two loads, two nodes) conflict and retry.
fn ensure_schema(conn: &duckdb::Connection, name: &str) -> BackendResult<()> {
    let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", ident(name));
    retry_conflicts(|| conn.execute_batch(&sql).map_err(internal))
}

impl TableBackend for DuckDbBackend {
    fn create_table(&self, loc: &TableLocation, columns: &[ColumnDef], typed: bool) -> BackendResult<()> {
        let conn = self.conn()?;
        let cols: Vec<String> = columns
            .iter()
            .map(|c| {
                if typed {
                    format!("{} {}{}", ident(&c.name), column_sql_type(c), if c.nullable { "" } else { " NOT NULL" })
                } else {
                    format!("{} VARCHAR NOT NULL DEFAULT ''", ident(&c.name))
                }
            })
            .collect();
        ensure_schema(&conn, &schema_name(loc))?;
        conn.execute_batch(&format!("CREATE TABLE {} ({}, {} TIMESTAMP);", qualified(loc), cols.join(", "), ident(TS))).map_err(internal)
    }

    fn drop_table(&self, loc: &TableLocation) -> BackendResult<()> {
        self.conn()?.execute_batch(&format!("DROP TABLE IF EXISTS {}", qualified(loc))).map_err(internal)
    }

    fn columns(&self, loc: &TableLocation) -> BackendResult<Vec<String>> {
        let conn = self.conn()?;
        Ok(self.column_types(&conn, loc)?.into_iter().map(|(c, _)| c).collect())
    }

    fn add_column(&self, loc: &TableLocation, column: &ColumnDef, typed: bool) -> BackendResult<()> {
        let ty = if typed { column_sql_type(column) } else { self.untyped_added_column().to_string() };
        self.conn()?
            .execute_batch(&format!("ALTER TABLE {} ADD COLUMN {} {ty}", qualified(loc), ident(&column.name)))
            .map_err(internal)
    }

    fn drop_column(&self, loc: &TableLocation, column: &str) -> BackendResult<()> {
        self.conn()?
            .execute_batch(&format!("ALTER TABLE {} DROP COLUMN {}", qualified(loc), ident(column)))
            .map_err(internal)
    }

    fn stats(&self, loc: &TableLocation) -> BackendResult<(u64, u64)> {
        let conn = self.conn()?;
        let columns = self.column_types(&conn, loc)?;
        let rows: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {}", qualified(loc)), [], |r| r.get(0))
            .map_err(internal)?;
        // An estimate: DuckDB keeps no per-table byte count; 8 bytes per value is its compressed order of magnitude.
        Ok((rows as u64, rows as u64 * (columns.len() as u64 + 1) * 8))
    }

    fn load(&self, loc: &TableLocation, spec: &LoadSpec) -> BackendResult<LoadResult> {
        // A conflict means another node committed to the table first: the whole load (its
        // once-key check included) runs again on the new state.
        retry_conflicts(|| self.try_load(loc, spec))
    }

    fn export(&self, loc: &TableLocation, spec: &ExportSpec) -> BackendResult<Vec<PathBuf>> {
        let conn = self.conn()?;
        let (sql, names) = self.select_sql(&conn, loc, &spec.select, false)?;
        let (file, options) = match spec.format {
            ExportFormat::Csv { gzip } => {
                let quoted: Vec<String> = names.iter().map(|c| ident(c)).collect();
                (
                    spec.dir.join(if gzip { "part0001.csv.gz" } else { "part0001.csv" }),
                    format!(
                        "FORMAT csv, HEADER false, QUOTE '\"', ESCAPE '\"', FORCE_QUOTE ({}), COMPRESSION {}",
                        quoted.join(", "),
                        if gzip { "gzip" } else { "none" }
                    ),
                )
            }
            // Snappy inside the format, as Keboola's Parquet unloads are.
            ExportFormat::Parquet => {
                (spec.dir.join("part0001.parquet"), "FORMAT parquet, COMPRESSION snappy".to_string())
            }
        };
        conn.execute_batch(&format!("COPY ({sql}) TO {} ({options})", lit(&file.display().to_string())))
            .map_err(internal)?;
        Ok(vec![file])
    }

    fn preview(&self, loc: &TableLocation, select: &Select) -> BackendResult<(Vec<String>, Vec<Vec<Option<String>>>)> {
        self.with_reader(|conn| {
            let (sql, names) = self.select_sql(conn, loc, select, true)?;
            let mut st = conn.prepare(&sql).map_err(internal)?;
            let n = names.len();
            let rows = st
                .query_map([], |r| (0..n).map(|i| r.get::<_, Option<String>>(i)).collect::<Result<Vec<_>, _>>())
                .map_err(internal)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            Ok((names, rows))
        })
    }

    fn delete_rows(&self, loc: &TableLocation, select: &Select) -> BackendResult<u64> {
        let conn = self.conn()?;
        let columns = self.column_types(&conn, loc)?;
        let n = conn
            .execute(&format!("DELETE FROM {}{}", qualified(loc), Self::where_sql(select, &columns)?), [])
            .map_err(internal)?;
        Ok(n as u64)
    }

    fn has_duplicates(&self, loc: &TableLocation, columns: &[String]) -> BackendResult<bool> {
        let conn = self.conn()?;
        let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
        let dup: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM (SELECT 1 FROM {} GROUP BY {} HAVING count(*) > 1 LIMIT 1)",
                    qualified(loc),
                    cols.join(", ")
                ),
                [],
                |r| r.get(0),
            )
            .map_err(internal)?;
        Ok(dup > 0)
    }

    fn loaded_once(&self, key: &str) -> BackendResult<bool> {
        let conn = self.conn()?;
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM main.{ONCE_TABLE} WHERE key = ?"), [key], |r| r.get(0))
            .map_err(internal)?;
        Ok(n > 0)
    }

    fn export_all(&self, dir: &Path) -> BackendResult<()> {
        // DuckDB's own: `schema.sql` (schemas, tables with their types, NOT NULLs and defaults),
        // `load.sql` and a Parquet file per table, readable by any later DuckDB.
        self.conn()?.execute_batch(&format!("EXPORT DATABASE {} (FORMAT parquet)", lit(&dir.display().to_string()))).map_err(internal)
    }

    fn import_all(&self, dir: &Path) -> BackendResult<()> {
        let conn = self.conn()?;
        // The once-key table exists in a new backend already; the export recreates it.
        conn.execute_batch(&format!("DROP TABLE IF EXISTS main.{ONCE_TABLE}")).map_err(internal)?;
        if !self.lake {
            return conn.execute_batch(&format!("IMPORT DATABASE {}", lit(&dir.display().to_string()))).map_err(internal);
        }
        // DuckLake has no PRIMARY KEY constraint, which a DuckDB file's export declares on the
        // once-key table: the schema is read without it, beside links to everything else (DuckDB
        // reads load.sql's data files from the directory it imports).
        let staged = tempfile::tempdir().map_err(internal)?;
        for entry in std::fs::read_dir(dir).map_err(internal)? {
            let entry = entry.map_err(internal)?;
            if entry.file_name() != "schema.sql" {
                std::os::unix::fs::symlink(entry.path(), staged.path().join(entry.file_name())).map_err(internal)?;
            }
        }
        let schema = std::fs::read_to_string(dir.join("schema.sql")).map_err(internal)?;
        std::fs::write(staged.path().join("schema.sql"), schema.replace(" PRIMARY KEY", "")).map_err(internal)?;
        conn.execute_batch(&format!("IMPORT DATABASE {}", lit(&staged.path().display().to_string()))).map_err(internal)
    }

    fn forget_once(&self, key: &str) -> BackendResult<()> {
        self.conn()?.execute(&format!("DELETE FROM main.{ONCE_TABLE} WHERE key = ?"), [key]).map_err(internal)?;
        Ok(())
    }

    fn copy_table(&self, from: &TableLocation, to: &TableLocation) -> BackendResult<()> {
        let mut conn = self.conn()?;
        // Column by column rather than `CREATE TABLE AS`, which would drop the NOT NULL and
        // DEFAULT '' that untyped tables' loads rely on.
        let columns: Vec<(String, String, bool, Option<String>)> = {
            let mut st = conn
                .prepare(
                    "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() \
                     WHERE database_name = current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index",
                )
                .map_err(internal)?;
            st.query_map([schema_name(from), from.table.clone()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(internal)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?
        };
        if columns.is_empty() {
            return Err(BackendError::UserError(format!("Table \"{}\" does not exist.", from.table), Code::TableNotFound));
        }
        let defs: Vec<String> = columns
            .iter()
            .map(|(name, ty, nullable, default)| {
                let not_null = if *nullable { "" } else { " NOT NULL" };
                let default = default.as_ref().map(|d| format!(" DEFAULT {d}")).unwrap_or_default();
                format!("{} {ty}{not_null}{default}", ident(name))
            })
            .collect();
        let tx = conn.transaction().map_err(internal)?;
        tx.execute_batch(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; DROP TABLE IF EXISTS {to}; CREATE TABLE {to} ({defs}); INSERT INTO {to} SELECT * FROM {from};",
            schema = ident(&schema_name(to)),
            to = qualified(to),
            defs = defs.join(", "),
            from = qualified(from),
        ))
        .map_err(internal)?;
        tx.commit().map_err(internal)
    }
}
