//! Tables: records in the metadata store, data in the table backend. Sub-modules: `create`
//! (tables-async from a file or a snapshot, tables-definition), `import` (import-async and its
//! CSV handling), `export` (export-async, data-preview, row deletion), `columns` (columns and
//! primary key), `pull` (a default-branch table into a dev branch), `copy` (metadata copied
//! between tables and snapshots), `select`, `types` (typed columns' type names per backend) and
//! `datatype` (their `KBC.datatype.*` column metadata).
mod columns;
pub mod copy;
pub mod create;
mod datatype;
mod export;
pub mod import;
mod pull;
pub mod select;
mod types;

use axum::extract::{Path, State};
use crate::http::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crate::http::routes::{delete, get, post};
use axum::Json;
use crate::http::Routes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::table as wire;
use super::auth::{Auth, Need};
use super::buckets::{self, Bucket};
use super::{jobs, sharing};
use super::metadata::{self, Object};
use crate::app::AppState;
use crate::http::params::{comma_list, parse_bool};
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};
use kbstack_core::Scope;

pub use crate::meta::tables::{Table, TableStats};

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/v2/storage/tables", get(list))
        .route("/v2/storage/buckets/{id}/tables", get(list_in_bucket).post(create::create_sync))
        .route("/v2/storage/buckets/{id}/tables-async", post(create::create_async))
        .route("/v2/storage/buckets/{id}/tables-definition", post(create::create_definition))
        .route("/v2/storage/tables/{id}", get(detail).put(update).delete(remove))
        .route("/v2/storage/tables/{id}/import-async", post(import::import_async))
        .route("/v2/storage/tables/{id}/import", post(import::import_sync))
        .route("/v2/storage/tables/{id}/export-async", post(export::export_async))
        .route("/v2/storage/tables/{id}/data-preview", get(export::preview))
        .route("/v2/storage/tables/{id}/rows", delete(export::delete_rows))
        .route("/v2/storage/tables/{id}/columns", post(columns::add_column))
        .route("/v2/storage/tables/{id}/columns/{column}", delete(columns::delete_column))
        .route("/v2/storage/tables/{id}/primary-key", post(columns::add_primary_key).delete(columns::delete_primary_key))
        .route("/v2/storage/tables/{id}/optimize", post(optimize))
        .route("/v2/storage/tables/{id}/pull", post(pull::pull))
}

/// Jobs and calls that write one table (or create one name) run one at a time under this key.
pub fn table_lock_key(project_id: i64, branch_id: i64, table_id: &str) -> String {
    format!("table:{project_id}:{branch_id}:{table_id}")
}

/// Key for serialising jobs on this table.
pub fn lock_key(t: &Table) -> String {
    table_lock_key(t.project_id, t.branch_id, &t.id)
}

/// `stage.c-bucket.table` → (bucket id, table name).
pub fn split_table_id(id: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = id.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    Some((format!("{}.{}", parts[0], parts[1]), parts[2].to_string()))
}

pub(crate) fn table_not_found(auth: &Auth, id: &str) -> ApiError {
    ApiError::new(Code::TableNotFound, format!("The table \"{id}\" was not found in the project \"{}\"", auth.project_id))
}

pub fn find_table(state: &AppState, project_id: i64, branch_id: i64, id: &str) -> ApiResult<Option<Table>> {
    Ok(state.meta.table(Scope::new(project_id, branch_id), id)?)
}

/// A table the token may use at the level asked (404 when invisible, 403 when visible but not enough).
pub fn load_table(state: &AppState, auth: &Auth, id: &str, need: Need) -> ApiResult<Table> {
    let (bucket_id, _) = split_table_id(id).ok_or_else(|| table_not_found(auth, id))?;
    if auth.bucket_level(&bucket_id).is_none() {
        return Err(table_not_found(auth, id));
    }
    let table = match find_table(state, auth.project_id, auth.branch_id, id)? {
        Some(t) => t,
        None => {
            // A table of a linked bucket is its source's table, read-only.
            let (_, name) = split_table_id(id).ok_or_else(|| table_not_found(auth, id))?;
            let t = sharing::linked_table(state, auth.scope(), &bucket_id, &name)?.ok_or_else(|| table_not_found(auth, id))?;
            auth.bucket(&bucket_id, need)?;
            if need > Need::Read {
                return Err(sharing::read_only(&bucket_id));
            }
            return Ok(t);
        }
    };
    auth.bucket(&bucket_id, need)?;
    Ok(table)
}

/// Whether `t` is shown through a linked bucket of the request's project (it is another
/// project's table).
pub fn is_foreign(auth: &Auth, t: &Table) -> bool {
    t.project_id != auth.project_id
}

/// The bucket's tables; a linked bucket's are its source's.
pub fn tables_of_bucket(state: &AppState, b: &Bucket) -> ApiResult<Vec<Table>> {
    match sharing::link_of(state, b.scope(), &b.id)? {
        Some(link) => sharing::source_tables(state, &link),
        None => Ok(state.meta.bucket_tables(b.scope(), &b.id)?),
    }
}

/// `(rows, bytes)` of these tables together.
pub fn stats_of(tables: &[Table]) -> (u64, u64) {
    tables.iter().fold((0, 0), |(rows, bytes), t| (rows + t.stats.rows_count, bytes + t.stats.data_size_bytes))
}

/// Remove data, record and metadata of a table.
pub fn drop_table_everywhere(state: &AppState, t: &Table) -> ApiResult<()> {
    state.tables.drop_table(&t.location())?;
    Ok(state.meta.delete_table(t.scope(), &t.id)?)
}

pub fn column_metadata_json(state: &AppState, scope: &Scope, table_id: &str, columns: &[String]) -> ApiResult<Value> {
    let prefix = format!("{table_id}.");
    let mut map = serde_json::Map::new();
    for (object_id, item) in metadata::list_by_prefix(state, scope, Object::Column, &prefix)? {
        let col = object_id[prefix.len()..].to_string();
        if columns.contains(&col) {
            map.entry(col).or_insert_with(|| json!([])).as_array_mut().map(|a| a.push(item));
        }
    }
    // Always an object, even when empty. PHP would serialise an empty map as [], but
    // keboola-mcp-server's `get_tables` calls `.get(column)` on it (tools/storage/tools.py
    // `_get_table`) and fails on a list, while kbcstorage, keboola-cli and the Go SDK read both.
    Ok(Value::Object(map))
}

pub fn table_json(state: &AppState, t: &Table, include: &[String], with_bucket: bool) -> ApiResult<Value> {
    serde_json::to_value(table_wire(state, t, include, with_bucket)?).map_err(ApiError::internal)
}

/// A source table as the linked bucket `linked` shows it: its id in that bucket, an alias of
/// the shared table (`sourceTable` names it and its project).
pub fn linked_table_json(state: &AppState, linked: &Bucket, t: &Table, include: &[String], with_bucket: bool) -> ApiResult<Value> {
    let mut w = table_wire(state, t, include, false)?;
    let id = format!("{}.{}", linked.id, t.name);
    w.source_table = Some(json!({
        "id": t.id,
        "uri": w.uri,
        "name": t.name,
        "project": sharing::project_ref(state, t.project_id),
    }));
    w.uri = format!("{}/tables/{id}", state.storage_url());
    w.id = id;
    w.is_alias = true;
    w.is_aliasable = false;
    w.path = format!("/{}/{}", linked.id, t.name);
    if with_bucket {
        w.bucket = Some(buckets::bucket_json(state, linked, &[])?);
    }
    serde_json::to_value(w).map_err(ApiError::internal)
}

/// `t` as the request sees it: through its linked bucket when it is another project's table.
pub fn table_json_for(state: &AppState, auth: &Auth, t: &Table, requested_id: &str, include: &[String], with_bucket: bool) -> ApiResult<Value> {
    if !is_foreign(auth, t) {
        return table_json(state, t, include, with_bucket);
    }
    let (bucket_id, _) = split_table_id(requested_id).ok_or_else(|| table_not_found(auth, requested_id))?;
    let linked = buckets::load_bucket(state, auth.project_id, auth.branch_id, &bucket_id)?;
    linked_table_json(state, &linked, t, include, with_bucket)
}

fn table_wire(state: &AppState, t: &Table, include: &[String], with_bucket: bool) -> ApiResult<wire::Table> {
    let columns = t.stats.columns.clone();
    let (rows, bytes) = (t.stats.rows_count, t.stats.data_size_bytes);
    let scope = t.scope();
    let included = |name: &str| include.iter().any(|i| i == name);
    let metadata = if included("metadata") { Some(metadata::list(state, &scope, Object::Table, &t.id)?) } else { None };
    let column_metadata = if included("columnMetadata") { Some(column_metadata_json(state, &scope, &t.id, &columns)?) } else { None };
    let bucket = if with_bucket {
        let b = buckets::load_bucket(state, t.project_id, t.branch_id, &t.bucket_id)?;
        Some(buckets::bucket_json(state, &b, &[])?)
    } else {
        None
    };
    Ok(wire::Table {
        uri: format!("{}/tables/{}", state.storage_url(), t.id),
        id: t.id.clone(),
        name: t.name.clone(),
        display_name: t.display_name.clone(),
        transactional: false,
        primary_key: t.primary_key.clone(),
        index_type: None,
        index_key: Vec::new(),
        distribution_type: None,
        distribution_key: Vec::new(),
        synthetic_primary_key_enabled: false,
        created: t.created.clone(),
        last_import_date: t.last_import_date.clone(),
        last_change_date: t.last_change_date.clone(),
        rows_count: rows,
        data_size_bytes: bytes,
        is_alias: false,
        is_aliasable: true,
        is_typed: t.is_typed,
        table_type: "table".into(),
        timestamp_type: "MANAGED".into(),
        path: format!("/{}/{}", t.bucket_id, t.name),
        backend_path: {
            let mut path = sharing::backend_path(state, scope, &t.bucket_id);
            path.push(t.name.clone());
            path
        },
        columns,
        metadata,
        column_metadata,
        definition: t.is_typed.then(|| t.definition.clone()),
        source_table: None,
        bucket,
    })
}

pub fn list_bucket_tables(state: &AppState, _auth: &Auth, b: &Bucket, include: &[String]) -> ApiResult<Vec<Value>> {
    let linked = sharing::link_of(state, b.scope(), &b.id)?.is_some();
    tables_of_bucket(state, b)?
        .iter()
        .map(|t| if linked { linked_table_json(state, b, t, include, false) } else { table_json(state, t, include, false) })
        .collect()
}

#[derive(Deserialize)]
struct IncludeQuery {
    include: Option<String>,
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<IncludeQuery>) -> ApiResult<Json<Value>> {
    let include = comma_list(q.include.as_deref());
    let with_buckets = include.iter().any(|i| i == "buckets" || i == "bucketsWithoutSourceTables");
    let all = state.meta.tables(auth.scope())?;
    let mut out = Vec::new();
    for t in all.iter().filter(|t| auth.bucket_level(&t.bucket_id).is_some()) {
        out.push(table_json(&state, t, &include, with_buckets)?);
    }
    // Linked buckets have no tables of their own: they show their sources'.
    for b in state.meta.buckets(auth.scope())?.iter().filter(|b| auth.bucket_level(&b.id).is_some()) {
        if let Some(link) = sharing::link_of(&state, b.scope(), &b.id)? {
            for t in sharing::source_tables(&state, &link)? {
                out.push(linked_table_json(&state, b, &t, &include, with_buckets)?);
            }
        }
    }
    Ok(Json(Value::Array(out)))
}

async fn list_in_bucket(
    State(state): State<AppState>,
    auth: Auth,
    Path(bucket): Path<String>,
    Query(q): Query<IncludeQuery>,
) -> ApiResult<Json<Value>> {
    auth.bucket(&bucket, Need::Read)?;
    let b = buckets::load_bucket(&state, auth.project_id, auth.branch_id, &bucket)?;
    Ok(Json(Value::Array(list_bucket_tables(&state, &auth, &b, &comma_list(q.include.as_deref()))?)))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let t = load_table(&state, &auth, &id, Need::Read)?;
    Ok(Json(table_json_for(&state, &auth, &t, &id, &["metadata".into(), "columnMetadata".into()], true)?))
}

async fn update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    let t = load_table(&state, &auth, &id, Need::Write)?;
    if let Some(dn) = p.str("displayName") {
        if !create::valid_table_name(&dn) {
            return Err(ApiError::validation("Invalid request:\n - displayName: Only alphanumeric characters dash and underscores are allowed."));
        }
        let b = buckets::load_bucket(&state, t.project_id, t.branch_id, &t.bucket_id)?;
        create::ensure_name_free(&state, &b, &dn, Some(&t.id))?;
        state.meta.set_table_display_name(t.scope(), &t.id, &dn, &now_iso())?;
    }
    let t = load_table(&state, &auth, &id, Need::Read)?;
    Ok(Json(table_json(&state, &t, &["metadata".into(), "columnMetadata".into()], true)?))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Response> {
    let t = load_table(&state, &auth, &id, Need::Write)?;
    let run_async = p.get("async").and_then(parse_bool).unwrap_or(false);
    let b = buckets::load_bucket(&state, t.project_id, t.branch_id, &t.bucket_id)?;
    if run_async {
        let spec = jobs::JobSpec {
            operation_name: "tableDrop",
            operation_params: json!({"tableId": t.id}),
            table_id: Some(t.id.clone()),
            lock_key: Some(lock_key(&t)),
        };
        return Ok(jobs::start(&state, &auth, spec, move |st| {
            drop_table_everywhere(st, &t)?;
            buckets::touch(st, &b)?;
            Ok(json!({}))
        })
        .await?
        .into_response());
    }
    // Waiting for a running import's lock blocks: on the blocking pool, never an async worker.
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        jobs::with_lock(&st, &lock_key(&t), || {
            drop_table_everywhere(&st, &t)?;
            buckets::touch(&st, &b)
        })
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Legacy Redshift call kbcstorage still exposes; a no-op job on this backend.
async fn optimize(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = load_table(&state, &auth, &id, Need::Write)?;
    let spec = jobs::JobSpec {
        operation_name: "tableOptimize",
        operation_params: json!({"tableId": t.id}),
        table_id: Some(t.id.clone()),
        lock_key: Some(lock_key(&t)),
    };
    jobs::start(&state, &auth, spec, |_| Ok(json!({}))).await
}

/// Record a write to the table's data (an import when `imported`): its change date, its bucket's,
/// and its data as written, counted once here so that reads never count.
pub fn mark_changed(state: &AppState, t: &Table, imported: bool) -> ApiResult<TableStats> {
    let stats = current_stats(state, t)?;
    state.meta.mark_table_changed(t.scope(), &t.id, &now_iso(), imported, &stats)?;
    Ok(stats)
}

fn current_stats(state: &AppState, t: &Table) -> ApiResult<TableStats> {
    let loc = t.location();
    let columns = state.tables.columns(&loc)?;
    let (rows_count, data_size_bytes) = state.tables.stats(&loc)?;
    Ok(TableStats { columns, rows_count, data_size_bytes })
}

/// At start: every table's recorded stats checked against its data, so that a data dir from
/// before stats were kept, or a write cut short between its commit and its record by a crash,
/// reads right. Blocking (one count per table); run before serving.
pub fn reconcile_stats(state: &AppState) -> ApiResult<usize> {
    let mut fixed = 0;
    for t in state.meta.every_table()? {
        match current_stats(state, &t) {
            Ok(stats) if stats != t.stats => {
                state.meta.set_table_stats(t.scope(), &t.id, &stats)?;
                fixed += 1;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(table = %t.id, project = t.project_id, "table data unreadable at start: {}", e.message),
        }
    }
    Ok(fixed)
}
