//! Table snapshots (notes: storage-api.md §7.6): `POST tables/{id}/snapshots` (a job copying the
//! table's rows aside and recording its definition and metadata), the table's list, a
//! snapshot's detail and its deletion (a job). Restoring is `tables-async` with `snapshotId`
//! (`tables::create`). Snapshot ids are per project, not per branch.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Auth, Need};
use super::jobs;
use super::tables::{self, Table, copy, split_table_id};
use super::wire::snapshot as wire;
use crate::app::AppState;
use crate::backend::TableLocation;
use crate::http::routes::{get, post};
use crate::http::{ApiError, ApiResult, Code, Params, Query, Routes, now_iso};
use crate::meta::snapshots::Snapshot;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/v2/storage/tables/{id}/snapshots", post(create).get(list))
        .route("/v2/storage/snapshots/{id}", get(detail).delete(remove))
}

/// Where a snapshot's rows live in the table backend: a bucket id no real bucket can have.
pub fn location(s: &Snapshot) -> TableLocation {
    TableLocation { project_id: s.project_id, branch_id: s.branch_id, bucket_id: "_snapshots".into(), table: format!("snapshot_{}", s.id) }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::SnapshotNotFound, format!("Snapshot {id} not found"))
}

/// A snapshot of this project whose table's bucket the token may use at `need` (404 when it
/// cannot see the bucket at all).
pub fn load_snapshot(state: &AppState, auth: &Auth, id: &str, need: Need) -> ApiResult<Snapshot> {
    let numeric: i64 = id.parse().map_err(|_| not_found(id))?;
    let s = state.meta.snapshot(auth.project_id, numeric)?.ok_or_else(|| not_found(id))?;
    let bucket = split_table_id(&s.table_id).map(|(b, _)| b).unwrap_or_default();
    if auth.bucket_level(&bucket).is_none() {
        return Err(not_found(id));
    }
    auth.bucket(&bucket, need)?;
    Ok(s)
}

pub fn snapshot_wire(state: &AppState, s: &Snapshot, detail: bool) -> wire::Snapshot {
    wire::Snapshot {
        id: s.id.to_string(),
        description: s.description.clone(),
        created_time: s.created.clone(),
        kind: "table".into(),
        creator_token: wire::CreatorToken { id: s.creator_token_id, description: s.creator_description.clone() },
        uri: (!detail).then(|| format!("{}/snapshots/{}", state.storage_url(), s.id)),
        data_file_id: None,
        table: detail.then(|| wire::SnapshotTable { id: s.table_id.clone(), primary_key: s.primary_key.clone(), columns: s.columns.clone() }),
    }
}

fn snapshot_json(state: &AppState, s: &Snapshot, detail: bool) -> ApiResult<Value> {
    serde_json::to_value(snapshot_wire(state, s, detail)).map_err(ApiError::internal)
}

/// Record the table as it stands and copy its rows aside; nothing stays behind on failure.
/// Blocking.
pub fn take_snapshot(state: &AppState, auth: &Auth, t: &Table, description: &str) -> ApiResult<Snapshot> {
    let (table_metadata, column_metadata) = copy::metadata_of(state, t)?;
    let mut s = Snapshot {
        id: 0,
        project_id: t.project_id,
        branch_id: t.branch_id,
        table_id: t.id.clone(),
        description: description.to_string(),
        created: now_iso(),
        creator_token_id: auth.token.id,
        creator_description: auth.token.description.clone(),
        primary_key: t.primary_key.clone(),
        columns: t.stats.columns.clone(),
        is_typed: t.is_typed,
        definition: t.definition.clone(),
        table_metadata,
        column_metadata,
    };
    s.id = state.meta.insert_snapshot(&s)?;
    if let Err(e) = state.tables.copy_table(&t.location(), &location(&s)) {
        let _ = state.meta.delete_snapshot(s.project_id, s.id);
        return Err(e.into());
    }
    Ok(s)
}

async fn create(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = tables::load_table(&state, &auth, &id, Need::Write)?;
    let description = p.str("description");
    let spec = jobs::JobSpec {
        operation_name: "tableSnapshotCreate",
        operation_params: json!({"description": description, "queue": "main_fast"}),
        table_id: Some(t.id.clone()),
        lock_key: Some(tables::lock_key(&t)),
    };
    let job_auth = auth.clone();
    jobs::start(&state, &auth, spec, move |st| {
        let s = take_snapshot(st, &job_auth, &t, description.as_deref().unwrap_or(""))?;
        snapshot_json(st, &s, true)
    })
    .await
}

#[derive(Deserialize)]
struct Page {
    limit: Option<String>,
    offset: Option<String>,
}

async fn list(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, Query(q): Query<Page>) -> ApiResult<Json<Value>> {
    let t = tables::load_table(&state, &auth, &id, Need::Read)?;
    let limit: i64 = q.limit.and_then(|l| l.parse().ok()).unwrap_or(20).clamp(1, 1000);
    let offset: i64 = q.offset.and_then(|o| o.parse().ok()).unwrap_or(0).max(0);
    let items = state.meta.table_snapshots(t.project_id, t.branch_id, &t.id, limit, offset)?;
    Ok(Json(Value::Array(items.iter().map(|s| snapshot_json(&state, s, false)).collect::<ApiResult<_>>()?)))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let s = load_snapshot(&state, &auth, &id, Need::Read)?;
    Ok(Json(snapshot_json(&state, &s, true)?))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<Value>)> {
    let s = load_snapshot(&state, &auth, &id, Need::Write)?;
    let spec = jobs::JobSpec {
        operation_name: "tableSnapshotDelete",
        operation_params: json!({"snapshotId": s.id.to_string()}),
        table_id: Some(s.table_id.clone()),
        lock_key: Some(format!("snapshot:{}:{}", s.project_id, s.id)),
    };
    jobs::start(&state, &auth, spec, move |st| {
        st.tables.drop_table(&location(&s))?;
        st.meta.delete_snapshot(s.project_id, s.id)?;
        Ok(json!({}))
    })
    .await
}
