//! Table data behind one trait. Every backend (DuckDB now, PostgreSQL later) must pass the
//! conformance suite in `tests/backend_conformance.rs`.
pub mod duckdb;
pub mod filter;

use std::path::{Path, PathBuf};

use kbstack_core::Error as ApiError;

pub use filter::{Filter, Operator, OrderBy, Select};

/// Where a table lives: project, branch, bucket id and table name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableLocation {
    pub project_id: i64,
    pub branch_id: i64,
    pub bucket_id: String,
    pub table: String,
}

/// A column of a typed table (`tables-definition`); untyped tables are all strings.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub name: String,
    /// Keboola base type: STRING, INTEGER, NUMERIC, FLOAT, BOOLEAN, DATE, TIMESTAMP.
    pub basetype: String,
    pub nullable: bool,
    /// The type the client named for the bucket's backend (Snowflake `NUMBER`, `TIMESTAMP_TZ`,
    /// `VARIANT`, BigQuery `INT64`, ...); `None` when only a base type was given.
    pub native_type: Option<String>,
    /// Length or precision of `native_type` with the backend's default filled in (`"38,0"` for
    /// a bare Snowflake `NUMBER`), so the stored values round as the real backend would.
    pub length: Option<String>,
}

impl ColumnDef {
    /// A column of an untyped table (text).
    pub fn untyped(name: &str) -> ColumnDef {
        ColumnDef { name: name.to_string(), basetype: "STRING".into(), nullable: true, native_type: None, length: None }
    }
}

/// What `export` writes: Keboola's CSV (headerless, every value quoted, maybe gzipped) or Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv { gzip: bool },
    Parquet,
}

/// Longest CSV line a load reads (decompressed): above it the load fails instead of buffering it.
pub const MAX_LINE_BYTES: u64 = 8 * 1024 * 1024;

/// The CSV reader's buffer: four longest lines, which is DuckDB's own default size (16 × its
/// 2 MiB default line). DuckDB's default for our line limit, 16 × 8 MiB, took the server's peak
/// RSS in the 1 GB import of `bench/` to 780–1190 MB; with this it is 630–700 MB, as fast.
pub const CSV_BUFFER_BYTES: u64 = 4 * MAX_LINE_BYTES;

/// A CSV source as the import library sees it: one or more local files (slices), maybe gzipped.
#[derive(Debug, Clone)]
pub struct CsvSource {
    pub paths: Vec<PathBuf>,
    pub delimiter: char,
    /// `None` when the file is escaped instead of enclosed.
    pub enclosure: Option<char>,
    pub escaped_by: Option<char>,
    /// Column names in file order; when the file has a header it has been read already and is skipped.
    pub columns: Vec<String>,
    pub has_header: bool,
}

#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub source: CsvSource,
    pub incremental: bool,
    pub primary_key: Vec<String>,
    /// Typed tables keep NULLs and compare with IS DISTINCT FROM; untyped tables store '' for NULL.
    pub typed: bool,
    /// `_timestamp` written on inserted and changed rows.
    pub timestamp: chrono::DateTime<chrono::Utc>,
    /// Makes the load happen at most once: the key is recorded in the same transaction as the
    /// rows, and a load whose key is already recorded changes nothing (`LoadResult::already_loaded`).
    /// The Stream service's flush relies on it for exactly-once imports across crashes.
    pub once_key: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub imported_rows: u64,
    pub imported_columns: Vec<String>,
    pub added_columns: Vec<String>,
    /// The load's `once_key` was recorded by an earlier load: nothing was changed.
    pub already_loaded: bool,
}

#[derive(Debug, Clone)]
pub struct ExportSpec {
    pub select: Select,
    /// Directory the slices go into (created by the caller); returns the slice file names.
    pub dir: PathBuf,
    pub format: ExportFormat,
}

/// Failures the backend reports, each with its Keboola code. Not a `std::error::Error`: it
/// converts into the domain error by its own `From`, not the blanket one for library failures.
#[derive(Debug)]
pub enum BackendError {
    UserError(String, kbstack_core::Code),
    Internal(String),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::UserError(msg, _) => f.write_str(msg),
            BackendError::Internal(msg) => write!(f, "backend error: {msg}"),
        }
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> ApiError {
        match e {
            BackendError::UserError(msg, code) => ApiError::new(code, msg),
            BackendError::Internal(msg) => ApiError::internal(msg),
        }
    }
}

pub type BackendResult<T> = Result<T, BackendError>;

pub trait TableBackend: Send + Sync {
    /// Create an empty table. `columns` untyped when `typed` is false.
    fn create_table(&self, loc: &TableLocation, columns: &[ColumnDef], typed: bool) -> BackendResult<()>;
    fn drop_table(&self, loc: &TableLocation) -> BackendResult<()>;
    /// User columns in table order (without `_timestamp`).
    fn columns(&self, loc: &TableLocation) -> BackendResult<Vec<String>>;
    fn add_column(&self, loc: &TableLocation, column: &ColumnDef, typed: bool) -> BackendResult<()>;
    fn drop_column(&self, loc: &TableLocation, column: &str) -> BackendResult<()>;
    /// (rows, approximate bytes), counted: callers record them with each write (`TableStats` in
    /// the metadata store) rather than ask on every read.
    fn stats(&self, loc: &TableLocation) -> BackendResult<(u64, u64)>;
    /// One atomic load with Keboola's semantics: the table ends with the old rows or the new ones.
    fn load(&self, loc: &TableLocation, spec: &LoadSpec) -> BackendResult<LoadResult>;
    /// Write the selection as slices of `spec.format` (CSV: headerless, every value quoted);
    /// returns slice paths.
    fn export(&self, loc: &TableLocation, spec: &ExportSpec) -> BackendResult<Vec<PathBuf>>;
    /// Rows of a selection (values as text, NULL as None) with their column names.
    fn preview(&self, loc: &TableLocation, select: &Select) -> BackendResult<(Vec<String>, Vec<Vec<Option<String>>>)>;
    /// Delete matching rows; returns how many were deleted.
    fn delete_rows(&self, loc: &TableLocation, select: &Select) -> BackendResult<u64>;
    /// Rows whose primary key repeats (for primary-key add checks).
    fn has_duplicates(&self, loc: &TableLocation, columns: &[String]) -> BackendResult<bool>;
    /// Replace `to` with a copy of `from`: the same columns (types, nullability, defaults), rows
    /// and `_timestamp`s, in one step (snapshots, restores, dev-branch pulls). `from` is unchanged.
    fn copy_table(&self, from: &TableLocation, to: &TableLocation) -> BackendResult<()>;
    /// Whether a load with this `once_key` committed.
    fn loaded_once(&self, key: &str) -> BackendResult<bool>;
    /// Forget a `once_key` (its source data is gone for good, so it can never be loaded again).
    fn forget_once(&self, key: &str) -> BackendResult<()>;
    /// Write every table (columns, types, rows, `_timestamp`s, once-keys) to `dir` with the SQL
    /// that recreates them: what `kbstack export` carries to another build or profile.
    fn export_all(&self, dir: &Path) -> BackendResult<()>;
    /// Read what `export_all` wrote into this backend, which holds no tables yet.
    fn import_all(&self, dir: &Path) -> BackendResult<()>;
}
