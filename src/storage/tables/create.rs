//! Creating tables: `tables-async` from a file (columns from its header), `tables-definition`
//! (typed), and the deprecated multipart `POST buckets/{b}/tables`.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{Value, json};

use super::import::{
    HeaderMode, MAX_COLUMNS, build_source, check_columns, csv_options, file_id_param, run_import, too_many_columns, write_upload,
};
use super::{Table, find_table, table_json};
use crate::app::AppState;
use crate::backend::{ColumnDef, CsvSource};
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};
use crate::meta::AlreadyExists;
use crate::meta::tables::TableStore;
use crate::storage::auth::{Auth, Need};
use crate::storage::{buckets, files, jobs};

pub fn valid_table_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 96 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

struct NewTable {
    bucket: buckets::Bucket,
    name: String,
    primary_key: Vec<String>,
}

fn new_table(state: &AppState, auth: &Auth, bucket_id: &str, p: &Params) -> ApiResult<NewTable> {
    let name = p.required_str("name")?;
    let primary_key = match p.get("primaryKey") {
        Some(_) => p.csv_list("primaryKey"),
        None => p.csv_list("primaryKeysNames"),
    };
    validated(state, auth, bucket_id, name, primary_key)
}

fn validated(state: &AppState, auth: &Auth, bucket_id: &str, name: String, primary_key: Vec<String>) -> ApiResult<NewTable> {
    auth.bucket(bucket_id, Need::Write)?;
    let bucket = buckets::load_bucket(state, auth.project_id, auth.branch_id, bucket_id)?;
    if !valid_table_name(&name) {
        return Err(ApiError::validation(format!(
            "Invalid request:\n - name: \"{name}\" contains not allowed characters. Only alphanumeric characters, dash and underscores are allowed."
        )));
    }
    let id = format!("{bucket_id}.{name}");
    if find_table(state, auth.project_id, auth.branch_id, &id)?.is_some() {
        return Err(ApiError::new(Code::TableAlreadyExists, format!("The table \"{name}\" already exists in the bucket \"{bucket_id}\".")));
    }
    Ok(NewTable { bucket, name, primary_key })
}

/// Creating a name takes the lock of the table it will be.
fn create_lock_key(auth: &Auth, bucket_id: &str, name: &str) -> String {
    super::table_lock_key(auth.project_id, auth.branch_id, &format!("{bucket_id}.{name}"))
}

/// An empty untyped table with these columns (the domain side of a header-only create; the
/// runner's output mapping creates its destinations with it). Blocking: call it off the async
/// workers.
pub fn create_empty(state: &AppState, auth: &Auth, bucket_id: &str, name: &str, columns: &[String], primary_key: Vec<String>) -> ApiResult<Value> {
    let lock = state.jobs.lock_for(&create_lock_key(auth, bucket_id, name));
    let _guard = lock.lock();
    let nt = validated(state, auth, bucket_id, name.to_string(), primary_key)?;
    create_table(state, auth, &nt, untyped(columns), false, None, None)
}

/// Create the backend table and its record; then fill it from `source` if given. On failure nothing stays behind.
fn create_table(
    state: &AppState,
    auth: &Auth,
    nt: &NewTable,
    columns: Vec<ColumnDef>,
    typed: bool,
    definition: Option<Value>,
    source: Option<CsvSource>,
) -> ApiResult<Value> {
    let id = format!("{}.{}", nt.bucket.id, nt.name);
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    check_columns(&names)?;
    for pk in &nt.primary_key {
        if !names.iter().any(|n| n == pk) {
            return Err(ApiError::new(Code::ColumnNotExists, format!("Primary key column \"{pk}\" is not a column of the table.")));
        }
    }
    let created = now_iso();
    let t = Table {
        id: id.clone(),
        project_id: auth.project_id,
        branch_id: auth.branch_id,
        bucket_id: nt.bucket.id.clone(),
        name: nt.name.clone(),
        display_name: nt.name.clone(),
        primary_key: nt.primary_key.clone(),
        created: created.clone(),
        last_import_date: None,
        last_change_date: Some(created),
        is_typed: typed,
        definition: definition.unwrap_or(Value::Null),
    };
    let loc = t.location();
    // Jobs creating one name run one at a time (the job's lock key), so this check is final: a
    // job queued behind the one that created the table fails here and never touches its data.
    if find_table(state, auth.project_id, auth.branch_id, &id)?.is_some() {
        return Err(ApiError::new(Code::TableAlreadyExists, format!("The table \"{}\" already exists in the bucket \"{}\".", nt.name, nt.bucket.id)));
    }
    // A backend table without a record is a leftover of a crash between the two writes.
    state.tables.drop_table(&loc)?;
    state.tables.create_table(&loc, &columns, typed)?;
    let refused = match state.meta.insert_table(&t) {
        Ok(Ok(())) => None,
        Ok(Err(AlreadyExists)) => Some(ApiError::new(Code::TableAlreadyExists, format!("The table \"{}\" already exists.", t.name))),
        Err(e) => Some(e.into()),
    };
    if let Some(e) = refused {
        // Only this job's own backend table: no record points at it.
        let _ = state.tables.drop_table(&loc);
        return Err(e);
    }
    if let Some(source) = source {
        if let Err(e) = run_import(state, auth, &t, source, false) {
            super::drop_table_everywhere(state, &t)?;
            return Err(e);
        }
    }
    buckets::touch(state, &nt.bucket)?;
    let t = find_table(state, auth.project_id, auth.branch_id, &id)?.ok_or_else(|| ApiError::internal("created table vanished"))?;
    table_json(state, &t, &["metadata".into(), "columnMetadata".into()], true)
}

fn untyped(columns: &[String]) -> Vec<ColumnDef> {
    columns.iter().map(|c| ColumnDef { name: c.clone(), basetype: "STRING".into(), nullable: true }).collect()
}

pub async fn create_async(State(state): State<AppState>, auth: Auth, Path(bucket): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let nt = new_table(&state, &auth, &bucket, &p)?;
    let opts = csv_options(&p)?;
    let file = files::load_file(&state, &auth, file_id_param(&p)?)?;
    let spec = jobs::JobSpec {
        operation_name: "tableCreate",
        operation_params: json!({"name": nt.name, "primaryKey": nt.primary_key, "source": {"type": "file", "fileId": file.id}}),
        table_id: Some(format!("{bucket}.{}", nt.name)),
        lock_key: Some(create_lock_key(&auth, &bucket, &nt.name)),
    };
    let job_auth = auth.clone();
    jobs::start(&state, &auth, spec, move |st| {
        let paths = files::content_paths(st, &file)?;
        let source = build_source(paths, &opts, HeaderMode::FromFile)?;
        let columns = untyped(&source.columns);
        create_table(st, &job_auth, &nt, columns, false, None, Some(source))
    })
    .await
}

/// Deprecated synchronous create from a multipart `data` part (or `dataString`): 201 with the table.
pub async fn create_sync(State(state): State<AppState>, auth: Auth, Path(bucket): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let nt = new_table(&state, &auth, &bucket, &p)?;
    let opts = csv_options(&p)?;
    let tmp = write_upload(&state, &p)?;
    let st = state.clone();
    let lock = state.jobs.lock_for(&create_lock_key(&auth, &bucket, &nt.name));
    let table = tokio::task::spawn_blocking(move || {
        let _guard = lock.lock();
        let source = build_source(vec![tmp.path().to_path_buf()], &opts, HeaderMode::FromFile)?;
        let columns = untyped(&source.columns);
        create_table(&st, &auth, &nt, columns, false, None, Some(source))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(table)))
}

const BASETYPES: &[&str] = &["STRING", "INTEGER", "NUMERIC", "FLOAT", "BOOLEAN", "DATE", "TIMESTAMP"];

/// The base type of a column definition: `basetype`, or derived from `definition.type`.
fn basetype_of(col: &Value) -> ApiResult<String> {
    if let Some(b) = col.get("basetype").and_then(Value::as_str) {
        let b = b.to_ascii_uppercase();
        return if BASETYPES.contains(&b.as_str()) {
            Ok(b)
        } else {
            Err(ApiError::validation(format!("Invalid request:\n - basetype: \"{b}\" is not one of {}.", BASETYPES.join(", "))))
        };
    }
    let ty = col.pointer("/definition/type").and_then(Value::as_str).unwrap_or("VARCHAR").to_ascii_uppercase();
    let base = match ty.split('(').next().unwrap_or("").trim() {
        "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "TINYINT" | "BYTEINT" | "INT64" => "INTEGER",
        "NUMBER" | "NUMERIC" | "DECIMAL" => "NUMERIC",
        "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE" | "DOUBLE PRECISION" | "REAL" | "FLOAT64" => "FLOAT",
        "BOOLEAN" | "BOOL" => "BOOLEAN",
        "DATE" => "DATE",
        "TIMESTAMP" | "DATETIME" | "TIMESTAMP_NTZ" | "TIMESTAMP_LTZ" | "TIMESTAMP_TZ" => "TIMESTAMP",
        "VARCHAR" | "STRING" | "TEXT" | "CHAR" | "CHARACTER" => "STRING",
        other => return Err(ApiError::validation(format!("Invalid request:\n - definition.type: \"{other}\" is not a supported type."))),
    };
    Ok(base.to_string())
}

pub async fn create_definition(State(state): State<AppState>, auth: Auth, Path(bucket): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let nt = new_table(&state, &auth, &bucket, &p)?;
    let Some(Value::Array(cols)) = p.get("columns") else {
        return Err(ApiError::validation("Invalid request:\n - columns: This value should not be blank."));
    };
    // Refused before a job starts (`create_table` checks the names again).
    if cols.len() > MAX_COLUMNS {
        return Err(too_many_columns(cols.len()));
    }
    let mut defs = Vec::new();
    let mut def_json = Vec::new();
    for col in cols {
        let name = col.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let basetype = basetype_of(col)?;
        let nullable = col.pointer("/definition/nullable").and_then(crate::http::params::parse_bool).unwrap_or(true);
        let ty = col.pointer("/definition/type").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| basetype.clone());
        def_json.push(json!({
            "name": name,
            "definition": {"type": ty, "nullable": nullable, "length": col.pointer("/definition/length"), "default": col.pointer("/definition/default")},
            "basetype": basetype,
            "canBeFiltered": true,
        }));
        defs.push(ColumnDef { name, basetype, nullable });
    }
    let definition = json!({"primaryKeysNames": nt.primary_key, "columns": def_json});
    let spec = jobs::JobSpec {
        operation_name: "tableDefinitionCreate",
        operation_params: json!({"name": nt.name, "definition": definition}),
        table_id: Some(format!("{bucket}.{}", nt.name)),
        lock_key: Some(create_lock_key(&auth, &bucket, &nt.name)),
    };
    let job_auth = auth.clone();
    jobs::start(&state, &auth, spec, move |st| create_table(st, &job_auth, &nt, defs, true, Some(definition), None)).await
}
