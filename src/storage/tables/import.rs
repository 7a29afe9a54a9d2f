//! `import-async` (and the deprecated multipart `import`): resolve the file, read its header,
//! check columns against the table, then one atomic load in the backend.
use std::io::Read;
use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{Value, json};

use super::{Table, load_table, lock_key, mark_changed};
use crate::app::AppState;
use crate::backend::{CsvSource, LoadSpec};
use crate::http::{ApiError, ApiResult, Code, Params};
use crate::storage::auth::{Auth, Need};
use crate::storage::{events, files, jobs, workspaces};

/// CSV dialect options as sent (`delimiter`, `enclosure`, `escapedBy`).
#[derive(Debug, Clone)]
pub struct CsvOptions {
    pub delimiter: char,
    pub enclosure: Option<char>,
    pub escaped_by: Option<char>,
}

fn single_char(p: &Params, key: &str, default: Option<char>) -> ApiResult<Option<char>> {
    let Some(raw) = p.str(key) else { return Ok(default) };
    let raw = if raw == "\\t" { "\t".to_string() } else { raw };
    let mut chars = raw.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(None),
        // The CSV reader and the loader work on bytes, and a line break or NUL cannot separate fields.
        (Some(c), None) if !c.is_ascii() || matches!(c, '\0' | '\n' | '\r') => Err(ApiError::new(
            Code::InvalidCsv,
            format!("Invalid {key} \"{}\": it must be a single ASCII character other than a line break or NUL.", c.escape_default()),
        )),
        (Some(c), None) => Ok(Some(c)),
        _ => Err(ApiError::new(
            Code::InvalidCsv,
            format!("Invalid {key} \"{raw}\": it must be a single character."),
        )),
    }
}

pub fn csv_options(p: &Params) -> ApiResult<CsvOptions> {
    let delimiter = single_char(p, "delimiter", Some(','))?
        .ok_or_else(|| ApiError::new(Code::InvalidCsv, "Invalid delimiter: it must not be empty."))?;
    let escaped_by = single_char(p, "escapedBy", None)?;
    let enclosure = single_char(p, "enclosure", Some('"'))?;
    if enclosure.is_some() && escaped_by.is_some() {
        return Err(ApiError::new(Code::InvalidCsv, "Only one of enclosure and escapedBy may be set."));
    }
    if escaped_by == Some(delimiter) {
        return Err(ApiError::new(Code::InvalidCsv, "The delimiter and the escape character must differ."));
    }
    if enclosure == Some(delimiter) {
        return Err(ApiError::new(Code::InvalidCsv, "The delimiter and the enclosure must differ."));
    }
    Ok(CsvOptions { delimiter, enclosure, escaped_by })
}

pub fn valid_column_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.eq_ignore_ascii_case("_timestamp")
}

/// Most columns a table may have. Keboola limits columns per table (its backends do); a wider
/// header is refused before any load starts (a 50,000-column CSV ran DuckDB out of memory).
pub const MAX_COLUMNS: usize = 1000;

pub fn too_many_columns(count: usize) -> ApiError {
    ApiError::new(
        Code::TooManyColumns,
        format!("The table would have {count} columns; a table can have at most {MAX_COLUMNS} columns."),
    )
}

/// Column names must be valid and unique (DuckDB and Snowflake compare them case-insensitively),
/// and at most `MAX_COLUMNS` of them.
pub fn check_columns(columns: &[String]) -> ApiResult<()> {
    if columns.is_empty() {
        return Err(ApiError::new(Code::ValidationFailed, "No columns found: the file is empty or has no header.")
            .with_context(json!({"code": "storage.tables.validation.noColumns"})));
    }
    if columns.len() > MAX_COLUMNS {
        return Err(too_many_columns(columns.len()));
    }
    let invalid: Vec<&String> = columns.iter().filter(|c| !valid_column_name(c)).collect();
    if !invalid.is_empty() {
        return Err(ApiError::validation(format!(
            "Invalid columns: {}. Only alphanumeric characters and underscores are allowed in column names (max 64 characters; \"_timestamp\" is reserved).",
            invalid.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for c in columns {
        if !seen.insert(c.to_ascii_lowercase()) {
            return Err(ApiError::new(Code::DuplicateColumns, format!("There are duplicate columns in CSV file: {c}")));
        }
    }
    Ok(())
}

/// The longest header row read (the loader's own line limit is the same): a gzip bomb whose
/// first line expands to gigabytes is refused, not read into memory.
pub const MAX_HEADER_BYTES: u64 = crate::backend::MAX_LINE_BYTES;

/// The header row of the first slice (gzip or plain).
fn read_header(path: &PathBuf, opts: &CsvOptions) -> ApiResult<Vec<String>> {
    let file = std::fs::File::open(path)?;
    let reader: Box<dyn Read> = if crate::backend::duckdb::is_gzip(path) {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let reader = reader.take(MAX_HEADER_BYTES + 1);
    let mut builder = csv::ReaderBuilder::new();
    builder.has_headers(false).flexible(true).delimiter(opts.delimiter as u8);
    match opts.enclosure {
        Some(q) => {
            builder.quote(q as u8);
        }
        None => {
            builder.quoting(false);
        }
    }
    if let Some(e) = opts.escaped_by {
        builder.escape(Some(e as u8)).double_quote(false);
    }
    let mut rdr = builder.from_reader(reader);
    let mut record = csv::StringRecord::new();
    let read = rdr.read_record(&mut record);
    if rdr.position().byte() > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            Code::InvalidCsv,
            format!("The CSV header row is longer than the limit of {} MB.", MAX_HEADER_BYTES / (1024 * 1024)),
        ));
    }
    match read {
        Ok(true) => Ok(record.iter().map(|s| s.trim_start_matches('\u{feff}').to_string()).collect()),
        Ok(false) => Ok(Vec::new()),
        Err(e) => Err(ApiError::new(Code::InvalidCsv, format!("Cannot read the CSV header: {e}"))),
    }
}

/// How the file's columns are known: a header row, or the `columns` parameter / the table's columns.
pub enum HeaderMode {
    FromFile,
    Given(Vec<String>),
}

pub fn build_source(paths: Vec<PathBuf>, opts: &CsvOptions, mode: HeaderMode) -> ApiResult<CsvSource> {
    if paths.is_empty() {
        return Err(ApiError::validation("The file has no content to import."));
    }
    let (columns, has_header) = match mode {
        HeaderMode::FromFile => (read_header(&paths[0], opts)?, true),
        HeaderMode::Given(cols) => (cols, false),
    };
    check_columns(&columns)?;
    Ok(CsvSource {
        paths,
        delimiter: opts.delimiter,
        enclosure: opts.enclosure,
        escaped_by: opts.escaped_by,
        columns,
        has_header,
    })
}

/// Match file columns to the table's (case-insensitively, adopting the table's spelling); every
/// table column must be present (`csvImport.columnsNotMatch`).
pub fn align_columns(source: &mut CsvSource, table_columns: &[String], typed: bool) -> ApiResult<()> {
    for c in source.columns.iter_mut() {
        if let Some(tc) = table_columns.iter().find(|t| t.eq_ignore_ascii_case(c)) {
            *c = tc.clone();
        }
    }
    let missing: Vec<&String> = table_columns.iter().filter(|t| !source.columns.contains(t)).collect();
    if !missing.is_empty() {
        return Err(ApiError::new(
            Code::ColumnsNotMatch,
            format!(
                "Some columns are missing in the csv file. Missing columns: {}. Expected columns: {}. Please check if the expected delimiter \"{}\" is used in the csv file.",
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
                table_columns.join(","),
                source.delimiter
            ),
        )
        .with_context(json!({"missingColumns": missing, "expectedColumns": table_columns})));
    }
    let new_columns = source.columns.iter().filter(|c| !table_columns.contains(c)).count();
    if table_columns.len() + new_columns > MAX_COLUMNS {
        return Err(too_many_columns(table_columns.len() + new_columns));
    }
    if typed {
        let extra: Vec<&String> = source.columns.iter().filter(|c| !table_columns.contains(c)).collect();
        if !extra.is_empty() {
            return Err(ApiError::new(
                Code::ColumnsNotMatch,
                format!("Typed tables cannot get new columns by import: {}.", extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")),
            ));
        }
    }
    Ok(())
}

/// Load a prepared source into a table (the work of a `tableImport` job).
pub fn run_import(state: &AppState, auth: &Auth, t: &Table, source: CsvSource, incremental: bool) -> ApiResult<Value> {
    run_import_once(state, auth, t, source, incremental, None)
}

/// `run_import` that happens at most once per `once_key` (`LoadSpec::once_key`): a repeat
/// answers `alreadyLoaded: true` and changes nothing.
pub fn run_import_once(state: &AppState, auth: &Auth, t: &Table, mut source: CsvSource, incremental: bool, once_key: Option<String>) -> ApiResult<Value> {
    let loc = t.location();
    let table_columns = state.tables.columns(&loc)?;
    align_columns(&mut source, &table_columns, t.is_typed)?;
    let spec = LoadSpec {
        source,
        incremental,
        primary_key: t.primary_key.clone(),
        typed: t.is_typed,
        timestamp: chrono::Utc::now(),
        once_key,
    };
    let result = state.tables.load(&loc, &spec)?;
    if result.already_loaded {
        return Ok(json!({"alreadyLoaded": true, "importedRowsCount": 0, "importedColumns": [], "warnings": []}));
    }
    let stats = mark_changed(state, t, true)?;
    events::record(state, auth, events::NewEvent {
        event: "storage.tableImportDone".into(),
        component: "storage".into(),
        message: format!("Imported table {}", t.id),
        kind: "info".into(),
        object_type: Some("table".into()),
        object_id: Some(t.id.clone()),
        params: json!({"incremental": incremental}),
        results: json!({"importedRowsCount": result.imported_rows}),
    })?;
    Ok(json!({
        "importedColumns": result.imported_columns,
        "warnings": [],
        "transaction": null,
        "totalRowsCount": stats.rows_count,
        "totalDataSizeBytes": stats.data_size_bytes,
        "importedRowsCount": result.imported_rows,
        "newColumns": result.added_columns,
    }))
}

pub fn header_mode(p: &Params, table_columns: Vec<String>) -> ApiResult<HeaderMode> {
    let columns = p.list("columns");
    if !columns.is_empty() {
        return Ok(HeaderMode::Given(columns));
    }
    if p.flag("withoutHeaders")? {
        return Ok(HeaderMode::Given(table_columns));
    }
    Ok(HeaderMode::FromFile)
}

pub fn file_id_param(p: &Params) -> ApiResult<i64> {
    p.int("dataFileId")?.ok_or_else(|| {
        ApiError::validation("Invalid request:\n - dataFileId: a source is required (dataFileId or dataWorkspaceId with dataObject; dataUrl is not supported by this stack).")
    })
}

pub async fn import_async(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = load_table(&state, &auth, &id, Need::Write)?;
    let opts = csv_options(&p)?;
    let incremental = p.flag("incremental")?;
    if let Some((w, object)) = workspaces::source_param(&state, &auth, &p)? {
        let spec = jobs::JobSpec {
            operation_name: "tableImport",
            operation_params: json!({"tableId": t.id, "incremental": incremental, "source": {"type": "workspace", "workspaceId": w.id, "dataObject": object}}),
            table_id: Some(t.id.clone()),
            lock_key: Some(lock_key(&t)),
        };
        let job_auth = auth.clone();
        return jobs::start(&state, &auth, spec, move |st| {
            let (source, _staging) = workspaces::export_source(st, &w, &object)?;
            check_columns(&source.columns)?;
            run_import(st, &job_auth, &t, source, incremental)
        })
        .await;
    }
    let file = files::load_file(&state, &auth, file_id_param(&p)?)?;
    let mode = header_mode(&p, t.stats.columns.clone())?;
    start_file_import(&state, &auth, t, file, opts, mode, incremental).await
}

/// Start the `tableImport` job of a Storage file into a table (`import-async` with `dataFileId`,
/// and the Importer service): 202 with the job as it stands after the short wait.
pub async fn start_file_import(
    state: &AppState,
    auth: &Auth,
    t: Table,
    file: files::FileRecord,
    opts: CsvOptions,
    mode: HeaderMode,
    incremental: bool,
) -> ApiResult<(StatusCode, Json<Value>)> {
    start_file_import_once(state, auth, t, file, opts, mode, incremental, None).await
}

/// `start_file_import` that loads at most once per `once_key` (the Stream service's slices).
#[allow(clippy::too_many_arguments)]
pub async fn start_file_import_once(
    state: &AppState,
    auth: &Auth,
    t: Table,
    file: files::FileRecord,
    opts: CsvOptions,
    mode: HeaderMode,
    incremental: bool,
    once_key: Option<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let spec = jobs::JobSpec {
        operation_name: "tableImport",
        operation_params: json!({"tableId": t.id, "incremental": incremental, "source": {"type": "file", "fileId": file.id}}),
        table_id: Some(t.id.clone()),
        lock_key: Some(lock_key(&t)),
    };
    let job_auth = auth.clone();
    jobs::start(state, auth, spec, move |st| {
        let copies = files::content_paths(st, &file)?;
        let source = build_source(files::paths_of(&copies), &opts, mode)?;
        run_import_once(st, &job_auth, &t, source, incremental, once_key)
    })
    .await
}

/// Deprecated synchronous import (multipart `data` or `dataString`); answers 200 with the result.
pub async fn import_sync(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    let t = load_table(&state, &auth, &id, Need::Write)?;
    let opts = csv_options(&p)?;
    let incremental = p.flag("incremental")?;
    let tmp = write_upload(&state, &p)?;
    let mode = header_mode(&p, t.stats.columns.clone())?;
    let st = state.clone();
    let key = lock_key(&t);
    let result = tokio::task::spawn_blocking(move || {
        jobs::with_lock(&st, &key, || {
            let source = build_source(vec![tmp.path().to_path_buf()], &opts, mode)?;
            run_import(&st, &auth, &t, source, incremental)
        })
    })
    .await
    .map_err(ApiError::internal)??;
    let mut v = result;
    v["status"] = json!("ok");
    Ok(Json(v))
}

/// The body of a deprecated sync call (`data` part or `dataString`) in a temporary file.
pub fn write_upload(state: &AppState, p: &Params) -> ApiResult<tempfile::NamedTempFile> {
    let data: Vec<u8> = match p.files.iter().find(|(name, _)| name == "data") {
        Some((_, bytes)) => bytes.to_vec(),
        None => p
            .str("dataString")
            .map(String::into_bytes)
            .ok_or_else(|| ApiError::validation("Invalid request:\n - data: a \"data\" file part or \"dataString\" is required."))?,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(state.blobs.staging_dir())?;
    std::io::Write::write_all(&mut tmp, &data)?;
    Ok(tmp)
}
