//! Creating tables: `tables-async` from a file (columns from its header), `tables-definition`
//! (typed), and the deprecated multipart `POST buckets/{b}/tables`.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{Value, json};

use super::import::{
    HeaderMode, MAX_COLUMNS, build_source, check_columns, csv_options, file_id_param, run_import, too_many_columns, write_upload,
};
use super::{Table, TableStats, copy, datatype, find_table, table_json, types};
use crate::app::AppState;
use crate::backend::{ColumnDef, CsvSource};
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};
use crate::meta::AlreadyExists;
use crate::storage::auth::{Auth, Need};
use crate::meta::snapshots::Snapshot;
use crate::storage::{buckets, files, jobs, snapshots, workspaces};
use crate::meta::workspaces::Workspace;

pub fn valid_table_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 96 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

struct NewTable {
    bucket: buckets::Bucket,
    name: String,
    primary_key: Vec<String>,
}

fn new_table(state: &AppState, auth: &Auth, bucket_id: &str, p: &Params) -> ApiResult<NewTable> {
    // The right before the parameters: a token without it is refused whatever it sent.
    auth.bucket(bucket_id, Need::Write)?;
    let name = p.required_str("name")?;
    let primary_key = match p.get("primaryKey") {
        Some(_) => p.csv_list("primaryKey"),
        None => p.csv_list("primaryKeysNames"),
    };
    validated(state, auth, bucket_id, name, primary_key)
}

/// The request's table, checked for access and a valid name; whether the name is free is
/// checked where the create happens (`ensure_name_free`).
fn validated(state: &AppState, auth: &Auth, bucket_id: &str, name: String, primary_key: Vec<String>) -> ApiResult<NewTable> {
    auth.bucket(bucket_id, Need::Write)?;
    let bucket = buckets::load_bucket(state, auth.project_id, auth.branch_id, bucket_id)?;
    if crate::storage::sharing::link_of(state, bucket.scope(), &bucket.id)?.is_some() {
        return Err(crate::storage::sharing::read_only(bucket_id));
    }
    if !valid_table_name(&name) {
        return Err(ApiError::validation(format!(
            "Invalid request:\n - name: \"{name}\" contains not allowed characters. Only alphanumeric characters, dash and underscores are allowed."
        )));
    }
    Ok(NewTable { bucket, name, primary_key })
}

/// Keboola's refusal of a name another table of the bucket has as its name or display name
/// (clients match on "already has the same display name").
fn name_taken(existing: &str, name: &str) -> ApiError {
    ApiError::new(Code::TableAlreadyExists, format!("The table \"{existing}\" in the bucket already has the same display name \"{name}\"."))
}

/// Fails when a table of the bucket is named, or displayed, as `name`.
pub fn ensure_name_free(state: &AppState, bucket: &buckets::Bucket, name: &str, except_id: Option<&str>) -> ApiResult<()> {
    let taken = super::tables_of_bucket(state, bucket)?
        .into_iter()
        .find(|t| Some(t.id.as_str()) != except_id && (t.name == name || t.display_name == name));
    match taken {
        Some(t) => Err(name_taken(&t.name, name)),
        None => Ok(()),
    }
}

/// Creating a name takes the lock of the table it will be.
fn create_lock_key(auth: &Auth, bucket_id: &str, name: &str) -> String {
    super::table_lock_key(auth.project_id, auth.branch_id, &format!("{bucket_id}.{name}"))
}

/// An empty untyped table with these columns (the domain side of a header-only create; the
/// runner's output mapping creates its destinations with it). Blocking: call it off the async
/// workers.
pub fn create_empty(state: &AppState, auth: &Auth, bucket_id: &str, name: &str, columns: &[String], primary_key: Vec<String>) -> ApiResult<Value> {
    jobs::with_lock(state, &create_lock_key(auth, bucket_id, name), || {
        let nt = validated(state, auth, bucket_id, name.to_string(), primary_key)?;
        ensure_name_free(state, &nt.bucket, &nt.name, None)?;
        create_table(state, auth, &nt, untyped(columns), false, None, None)
    })
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
        stats: TableStats { columns: names.clone(), rows_count: 0, data_size_bytes: 0 },
    };
    let loc = t.location();
    // Jobs creating one name run one at a time (the job's lock key), so this check is final: a
    // job queued behind the one that created the table fails here and never touches its data.
    ensure_name_free(state, &nt.bucket, &nt.name, None)?;
    // A backend table without a record is a leftover of a crash between the two writes.
    state.tables.drop_table(&loc)?;
    state.tables.create_table(&loc, &columns, typed)?;
    let refused = match state.meta.insert_table(&t) {
        Ok(Ok(())) => None,
        Ok(Err(AlreadyExists)) => Some(name_taken(&t.name, &t.name)),
        Err(e) => Some(e.into()),
    };
    if let Some(e) = refused {
        // Only this job's own backend table: no record points at it.
        let _ = state.tables.drop_table(&loc);
        return Err(e);
    }
    if typed {
        if let Err(e) = datatype::store_definition(state, &t) {
            super::drop_table_everywhere(state, &t)?;
            return Err(e);
        }
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
    columns.iter().map(|c| ColumnDef::untyped(c)).collect()
}

pub async fn create_async(State(state): State<AppState>, auth: Auth, Path(bucket): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    if let Some(snapshot_id) = p.str("snapshotId") {
        return create_from_snapshot(state, auth, bucket, p, snapshot_id).await;
    }
    let nt = new_table(&state, &auth, &bucket, &p)?;
    ensure_name_free(&state, &nt.bucket, &nt.name, None)?;
    if let Some((w, object)) = workspaces::source_param(&state, &auth, &p)? {
        return create_from_workspace(state, auth, bucket, nt, w, object).await;
    }
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
        let copies = files::content_paths(st, &file)?;
        let source = build_source(files::paths_of(&copies), &opts, HeaderMode::FromFile)?;
        let columns = untyped(&source.columns);
        create_table(st, &job_auth, &nt, columns, false, None, Some(source))
    })
    .await
}

/// `tables-async` with `dataWorkspaceId` and `dataObject` (or `dataTableName`): a new untyped
/// table with the workspace table's columns and rows.
async fn create_from_workspace(state: AppState, auth: Auth, bucket: String, nt: NewTable, w: Workspace, object: String) -> ApiResult<(StatusCode, Json<Value>)> {
    let spec = jobs::JobSpec {
        operation_name: "tableCreate",
        operation_params: json!({
            "name": nt.name,
            "primaryKey": nt.primary_key,
            "source": {"type": "workspace", "workspaceId": w.id, "dataObject": object},
        }),
        table_id: Some(format!("{bucket}.{}", nt.name)),
        lock_key: Some(create_lock_key(&auth, &bucket, &nt.name)),
    };
    let job_auth = auth.clone();
    jobs::start(&state, &auth, spec, move |st| {
        let (source, _staging) = workspaces::export_source(st, &w, &object)?;
        let columns = untyped(&source.columns);
        create_table(st, &job_auth, &nt, columns, false, None, Some(source))
    })
    .await
}

/// Deprecated synchronous create from a multipart `data` part (or `dataString`): 201 with the table.
pub async fn create_sync(State(state): State<AppState>, auth: Auth, Path(bucket): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let nt = new_table(&state, &auth, &bucket, &p)?;
    ensure_name_free(&state, &nt.bucket, &nt.name, None)?;
    let opts = csv_options(&p)?;
    let tmp = write_upload(&state, &p)?;
    let st = state.clone();
    let key = create_lock_key(&auth, &bucket, &nt.name);
    let table = tokio::task::spawn_blocking(move || {
        jobs::with_lock(&st, &key, || {
            let source = build_source(vec![tmp.path().to_path_buf()], &opts, HeaderMode::FromFile)?;
            let columns = untyped(&source.columns);
            create_table(&st, &auth, &nt, columns, false, None, Some(source))
        })
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(table)))
}

/// One column of a typed table from its request form `{name, definition{type, length,
/// nullable, default}, basetype}`: the backend column and its `definition.columns[]` entry. A
/// `definition.type` is checked against the bucket backend's type names; without one the base
/// type (default STRING) stands for the type.
pub fn typed_column(backend: &str, col: &Value) -> ApiResult<(ColumnDef, Value)> {
    let name = col.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    let def = col.get("definition").cloned().unwrap_or(Value::Null);
    let nullable = def.get("nullable").and_then(crate::http::params::parse_bool).unwrap_or(true);
    let length_given = def.get("length").and_then(crate::http::params::scalar_to_string);
    let default = def.get("default").filter(|v| !v.is_null()).cloned();
    let (ty, length, basetype, native) = match def.get("type").and_then(Value::as_str).filter(|t| !t.trim().is_empty()) {
        Some(raw) => {
            let t = types::resolve(backend, raw, length_given)?;
            let native = (t.name.clone(), t.effective_length.clone());
            (t.name, t.length, t.basetype.to_string(), Some(native))
        }
        None => {
            let b = col.get("basetype").and_then(Value::as_str).unwrap_or("STRING").to_ascii_uppercase();
            if !types::BASETYPES.contains(&b.as_str()) {
                return Err(ApiError::validation(format!(
                    "Invalid request:\n - basetype: \"{b}\" is not one of {}.",
                    types::BASETYPES.join(", ")
                )));
            }
            (b.clone(), length_given, b, None)
        }
    };
    let entry = json!({
        "name": name,
        "definition": {"type": ty, "nullable": nullable, "length": length, "default": default},
        "basetype": basetype,
        "canBeFiltered": true,
    });
    let (native_type, effective_length) = native.map_or((None, None), |(n, l)| (Some(n), l));
    Ok((ColumnDef { name, basetype, nullable, native_type, length: effective_length }, entry))
}

/// `tables-definition`: validated at once (a bad type is a 400); a name already taken fails the
/// job, as Keboola does, with the error clients look for.
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
        let (def, entry) = typed_column(&nt.bucket.backend, col)?;
        defs.push(def);
        def_json.push(entry);
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

/// `tables-async` with `snapshotId`: a new table with the snapshot's columns, primary key,
/// definition, rows and metadata.
async fn create_from_snapshot(state: AppState, auth: Auth, bucket: String, p: Params, snapshot_id: String) -> ApiResult<(StatusCode, Json<Value>)> {
    let snapshot = snapshots::load_snapshot(&state, &auth, &snapshot_id, Need::Read)?;
    let nt = validated(&state, &auth, &bucket, p.required_str("name")?, snapshot.primary_key.clone())?;
    ensure_name_free(&state, &nt.bucket, &nt.name, None)?;
    let spec = jobs::JobSpec {
        operation_name: "tableCreate",
        operation_params: json!({
            "name": nt.name,
            "params": {"delimiter": ",", "enclosure": "\"", "escapedBy": ""},
            "source": {"type": "snapshot", "snapshotId": snapshot.id},
        }),
        table_id: Some(format!("{bucket}.{}", nt.name)),
        lock_key: Some(create_lock_key(&auth, &bucket, &nt.name)),
    };
    let job_auth = auth.clone();
    jobs::start(&state, &auth, spec, move |st| restore_snapshot(st, &job_auth, &nt, &snapshot)).await
}

fn restore_snapshot(state: &AppState, auth: &Auth, nt: &NewTable, s: &Snapshot) -> ApiResult<Value> {
    ensure_name_free(state, &nt.bucket, &nt.name, None)?;
    let created = now_iso();
    let t = Table {
        id: format!("{}.{}", nt.bucket.id, nt.name),
        project_id: auth.project_id,
        branch_id: auth.branch_id,
        bucket_id: nt.bucket.id.clone(),
        name: nt.name.clone(),
        display_name: nt.name.clone(),
        primary_key: s.primary_key.clone(),
        created: created.clone(),
        last_import_date: None,
        last_change_date: Some(created),
        is_typed: s.is_typed,
        definition: s.definition.clone(),
        stats: TableStats { columns: s.columns.clone(), rows_count: 0, data_size_bytes: 0 },
    };
    state.tables.copy_table(&snapshots::location(s), &t.location())?;
    match state.meta.insert_table(&t) {
        Ok(Ok(())) => {}
        refused => {
            let _ = state.tables.drop_table(&t.location());
            return Err(match refused {
                Ok(Err(AlreadyExists)) => name_taken(&t.name, &t.name),
                Err(e) => e.into(),
                Ok(Ok(())) => unreachable!(),
            });
        }
    }
    let restored = copy::restore_metadata(state, t.scope(), &t.id, &s.table_metadata, &s.column_metadata)
        .and_then(|_| super::mark_changed(state, &t, true));
    if let Err(e) = restored {
        super::drop_table_everywhere(state, &t)?;
        return Err(e);
    }
    buckets::touch(state, &nt.bucket)?;
    let t = find_table(state, auth.project_id, auth.branch_id, &t.id)?.ok_or_else(|| ApiError::internal("created table vanished"))?;
    table_json(state, &t, &["metadata".into(), "columnMetadata".into()], true)
}
