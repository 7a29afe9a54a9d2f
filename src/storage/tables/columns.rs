//! Columns and primary key changes, each a storage job with the table as its result.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{Value, json};

use super::import::check_columns;
use super::create::typed_column;
use super::{Table, datatype, find_table, load_table, lock_key, mark_changed, table_json};
use crate::app::AppState;
use crate::backend::ColumnDef;
use crate::http::{ApiError, ApiResult, Code, Params};
use crate::meta::metadata::Object;
use crate::storage::auth::{Auth, Need};
use crate::storage::{buckets, jobs};

fn reload(st: &AppState, t: &Table) -> ApiResult<Value> {
    let t = find_table(st, t.project_id, t.branch_id, &t.id)?.ok_or_else(|| ApiError::new(Code::TableNotFound, "table vanished"))?;
    table_json(st, &t, &["metadata".into(), "columnMetadata".into()], true)
}

fn job(name: &'static str, t: &Table, params: Value) -> jobs::JobSpec {
    jobs::JobSpec { operation_name: name, operation_params: params, table_id: Some(t.id.clone()), lock_key: Some(lock_key(t)) }
}

/// Add a column. On a typed table the column takes `definition` (checked against the bucket
/// backend's types, as in `tables-definition`) or `basetype`, and gets its `KBC.datatype.*`
/// metadata; on an untyped table it is text.
pub async fn add_column(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = load_table(&state, &auth, &id, Need::Write)?;
    let name = p.required_str("name")?;
    let mut all = t.stats.columns.clone();
    all.push(name.clone());
    check_columns(&all)?;
    let (column, entry) = if t.is_typed {
        let bucket = buckets::load_bucket(&state, t.project_id, t.branch_id, &t.bucket_id)?;
        let request = json!({"name": name, "definition": p.get("definition").cloned(), "basetype": p.str("basetype")});
        let (column, entry) = typed_column(&bucket.backend, &request)?;
        if !column.nullable {
            // Rows already there would have no value for it, and DuckDB adds no constrained column.
            return Err(ApiError::validation(format!(
                "Invalid request:\n - definition.nullable: column \"{name}\" is added to an existing table, so it must be nullable."
            )));
        }
        (column, Some(entry))
    } else {
        (ColumnDef::untyped(&name), None)
    };
    let spec = job("tableColumnAdd", &t, json!({"name": name}));
    jobs::start(&state, &auth, spec, move |st| {
        st.tables.add_column(&t.location(), &column, t.is_typed)?;
        if let Some(entry) = &entry {
            datatype::store(st, &t, entry)?;
        }
        mark_changed(st, &t, false)?;
        reload(st, &t)
    })
    .await
}

pub async fn delete_column(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, column)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = load_table(&state, &auth, &id, Need::Write)?;
    let columns = &t.stats.columns;
    if !columns.contains(&column) {
        return Err(ApiError::new(Code::ColumnNotExists, format!("Column \"{column}\" not found in table \"{}\".", t.id)));
    }
    if t.primary_key.contains(&column) {
        return Err(ApiError::validation(format!("Cannot delete column \"{column}\": it is part of the primary key.")));
    }
    if columns.len() == 1 {
        return Err(ApiError::validation("Cannot delete the last column of a table."));
    }
    let spec = job("tableColumnDelete", &t, json!({"name": column}));
    jobs::start(&state, &auth, spec, move |st| {
        st.tables.drop_column(&t.location(), &column)?;
        st.meta.purge_metadata(t.scope(), Object::Column, &format!("{}.{column}", t.id))?;
        mark_changed(st, &t, false)?;
        reload(st, &t)
    })
    .await
}

pub async fn add_primary_key(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = load_table(&state, &auth, &id, Need::Write)?;
    let pk = p.csv_list("columns");
    if pk.is_empty() {
        return Err(ApiError::validation("Invalid request:\n - columns: This value should not be blank."));
    }
    if !t.primary_key.is_empty() {
        return Err(ApiError::validation(format!("Table \"{}\" already has a primary key; delete it first.", t.id)));
    }
    let columns = &t.stats.columns;
    if let Some(missing) = pk.iter().find(|c| !columns.contains(c)) {
        return Err(ApiError::new(Code::ColumnNotExists, format!("Primary key column \"{missing}\" does not exist.")));
    }
    let skip_check = p.flag("skipDuplicatesCheck")?;
    let spec = job("tablePrimaryKeyAdd", &t, json!({"columns": pk}));
    jobs::start(&state, &auth, spec, move |st| {
        if !skip_check && st.tables.has_duplicates(&t.location(), &pk)? {
            return Err(ApiError::validation(format!(
                "The table \"{}\" contains duplicate values in the columns {}; the primary key cannot be created.",
                t.id,
                pk.join(", ")
            )));
        }
        st.meta.set_primary_key(t.scope(), &t.id, &pk)?;
        reload(st, &t)
    })
    .await
}

pub async fn delete_primary_key(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = load_table(&state, &auth, &id, Need::Write)?;
    let spec = job("tablePrimaryKeyDelete", &t, json!({}));
    jobs::start(&state, &auth, spec, move |st| {
        st.meta.set_primary_key(t.scope(), &t.id, &[])?;
        reload(st, &t)
    })
    .await
}
