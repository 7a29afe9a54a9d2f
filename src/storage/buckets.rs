//! Buckets: `stage.c-name`, created with the legacy `c-` prefix, listed per token permissions.
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::OptionalExtension;
use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::bucket::{self as wire, BucketTables};
use super::auth::{Auth, Need};
use super::metadata::{self, Object, Scope};
use super::{events, jobs, tables};
use crate::app::AppState;
use crate::http::params::{comma_list, parse_bool};
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/storage/buckets", get(list).post(create))
        .route("/v2/storage/buckets/{id}", get(detail).put(update).delete(remove))
}

#[derive(Debug, Clone)]
pub struct Bucket {
    pub project_id: i64,
    pub branch_id: i64,
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub stage: String,
    pub description: String,
    pub backend: String,
    pub color: Option<String>,
    pub created: String,
    pub last_change_date: Option<String>,
}

const BUCKET_COLUMNS: &str =
    "project_id, branch_id, id, name, display_name, stage, description, backend, color, created, last_change_date";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        project_id: r.get(0)?,
        branch_id: r.get(1)?,
        id: r.get(2)?,
        name: r.get(3)?,
        display_name: r.get(4)?,
        stage: r.get(5)?,
        description: r.get(6)?,
        backend: r.get(7)?,
        color: r.get(8)?,
        created: r.get(9)?,
        last_change_date: r.get(10)?,
    })
}

pub fn not_found(project_id: i64, id: &str) -> ApiError {
    ApiError::new(Code::BucketNotFound, format!("The bucket \"{id}\" was not found in the project \"{project_id}\""))
}

pub fn load_bucket(state: &AppState, project_id: i64, branch_id: i64, id: &str) -> ApiResult<Bucket> {
    state
        .meta
        .with(|c| {
            c.query_row(
                &format!("SELECT {BUCKET_COLUMNS} FROM buckets WHERE project_id = ?1 AND branch_id = ?2 AND id = ?3"),
                rusqlite::params![project_id, branch_id, id],
                from_row,
            )
            .optional()
        })?
        .ok_or_else(|| not_found(project_id, id))
}

pub fn all_bucket_ids(state: &AppState, project_id: i64) -> ApiResult<Vec<String>> {
    Ok(state.meta.with(|c| {
        let mut st = c.prepare("SELECT DISTINCT id FROM buckets WHERE project_id = ?1 ORDER BY id")?;
        st.query_map([project_id], |r| r.get(0))?.collect()
    })?)
}

pub fn touch(state: &AppState, b: &Bucket) -> ApiResult<()> {
    state.meta.with(|c| {
        c.execute(
            "UPDATE buckets SET last_change_date = ?1 WHERE project_id = ?2 AND branch_id = ?3 AND id = ?4",
            rusqlite::params![now_iso(), b.project_id, b.branch_id, b.id],
        )
    })?;
    Ok(())
}

pub fn bucket_json(state: &AppState, b: &Bucket, include: &[String]) -> ApiResult<wire::Bucket> {
    let (rows, bytes) = tables::bucket_stats(state, b)?;
    let metadata = if include.iter().any(|i| i == "metadata") {
        let scope = Scope { project_id: b.project_id, branch_id: b.branch_id };
        Some(metadata::list(state, &scope, Object::Bucket, &b.id)?)
    } else {
        None
    };
    Ok(wire::Bucket {
        uri: format!("{}/buckets/{}", state.storage_url(), b.id),
        id: b.id.clone(),
        name: b.name.clone(),
        display_name: b.display_name.clone(),
        id_branch: b.branch_id,
        stage: b.stage.clone(),
        description: b.description.clone(),
        tables: BucketTables::Url(format!("{}/buckets/{}/tables", state.storage_url(), b.id)),
        created: b.created.clone(),
        last_change_date: b.last_change_date.clone(),
        updated: b.last_change_date.clone(),
        is_read_only: false,
        data_size_bytes: bytes,
        rows_count: rows,
        is_maintenance: false,
        backend: b.backend.clone(),
        sharing: None,
        has_external_schema: false,
        database_name: String::new(),
        path: format!("p{}_b{}_{}", b.project_id, b.branch_id, b.id),
        is_snowflake_shared_database: false,
        color: b.color.clone(),
        owner: None,
        attributes: Vec::new(),
        metadata,
        linked_by: include.iter().any(|i| i == "linkedBuckets").then(Vec::new),
    })
}

#[derive(Deserialize)]
struct IncludeQuery {
    include: Option<String>,
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<IncludeQuery>) -> ApiResult<Json<Vec<wire::Bucket>>> {
    let include = comma_list(q.include.as_deref());
    let buckets = state.meta.with(|c| {
        let mut st = c.prepare(&format!(
            "SELECT {BUCKET_COLUMNS} FROM buckets WHERE project_id = ?1 AND branch_id = ?2 ORDER BY id"
        ))?;
        st.query_map([auth.project_id, auth.branch_id], from_row)?.collect::<Result<Vec<_>, _>>()
    })?;
    let mut out = Vec::new();
    for b in buckets.iter().filter(|b| auth.bucket_level(&b.id).is_some()) {
        out.push(bucket_json(&state, b, &include)?);
    }
    Ok(Json(out))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, Query(q): Query<IncludeQuery>) -> ApiResult<Json<wire::Bucket>> {
    auth.bucket(&id, Need::Read)?;
    let b = load_bucket(&state, auth.project_id, auth.branch_id, &id)?;
    let mut include = comma_list(q.include.as_deref());
    include.push("metadata".into());
    let mut v = bucket_json(&state, &b, &include)?;
    // The detail lists its tables (kbcstorage asserts `tables == []` for a new bucket).
    v.tables = BucketTables::List(tables::list_bucket_tables(&state, &auth, &b, &[])?);
    Ok(Json(v))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 96 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What a new bucket is made of (the API's `POST buckets` parameters).
pub struct NewBucket {
    /// The name without the `c-` prefix.
    pub name: String,
    pub stage: String,
    pub display_name: Option<String>,
    pub description: String,
    pub backend: String,
    pub color: Option<String>,
}

impl NewBucket {
    pub fn named(name: &str, stage: &str) -> NewBucket {
        NewBucket {
            name: name.into(),
            stage: stage.into(),
            display_name: None,
            description: String::new(),
            backend: "snowflake".into(),
            color: None,
        }
    }
}

async fn create(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<(StatusCode, Json<wire::Bucket>)> {
    let nb = NewBucket {
        name: p.required_str("name")?,
        stage: p.str_or("stage", "in"),
        display_name: p.str("displayName"),
        description: p.str_or("description", ""),
        backend: p.str_or("backend", "snowflake"),
        color: p.str("color"),
    };
    let b = create_bucket(&state, &auth, nb)?;
    Ok((StatusCode::CREATED, Json(bucket_json(&state, &b, &["metadata".into()])?)))
}

/// Create a bucket (the domain side of `POST buckets`, also used by the runner's output mapping).
pub fn create_bucket(state: &AppState, auth: &Auth, nb: NewBucket) -> ApiResult<Bucket> {
    auth.require_manage_buckets()?;
    let requested = nb.name;
    if !valid_name(&requested) {
        return Err(ApiError::validation(format!(
            "Invalid request:\n - name: \"{requested}\" contains not allowed characters. Only alphanumeric characters, dash and underscores are allowed."
        )));
    }
    let stage = nb.stage;
    if stage != "in" && stage != "out" {
        return Err(ApiError::validation(format!("Invalid request:\n - stage: \"{stage}\" is not valid; allowed are in, out.")));
    }
    let name = format!("c-{requested}");
    let id = format!("{stage}.{name}");
    let display_name = nb.display_name.unwrap_or_else(|| requested.clone());
    if !valid_name(&display_name) {
        return Err(ApiError::validation(
            "Invalid data - displayName: Only alphanumeric characters dash and underscores are allowed.",
        ));
    }
    let now = now_iso();
    state.meta.tx(|tx| {
        let exists: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM buckets WHERE project_id = ?1 AND branch_id = ?2 AND id = ?3",
                rusqlite::params![auth.project_id, auth.branch_id, id],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(ApiError::new(Code::BucketAlreadyExists, format!("The bucket {id} already exists.")));
        }
        let taken: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM buckets WHERE project_id = ?1 AND branch_id = ?2 AND stage = ?3 AND display_name = ?4",
                rusqlite::params![auth.project_id, auth.branch_id, stage, display_name],
                |r| r.get(0),
            )
            .optional()?;
        if taken.is_some() {
            return Err(ApiError::new(
                Code::BucketAlreadyExists,
                format!("The display name \"{display_name}\" already exists in project."),
            ));
        }
        tx.execute(
            "INSERT INTO buckets (project_id, branch_id, id, name, display_name, stage, description, backend, color, created, last_change_date) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            rusqlite::params![
                auth.project_id, auth.branch_id, id, name, display_name, stage,
                nb.description, nb.backend, nb.color, now
            ],
        )?;
        Ok(())
    })?;
    let b = load_bucket(state, auth.project_id, auth.branch_id, &id)?;
    events::record(state, auth, events::NewEvent {
        event: "storage.bucketCreated".into(),
        component: "storage".into(),
        message: format!("Bucket {id} created"),
        kind: "info".into(),
        object_type: Some("bucket".into()),
        object_id: Some(id.clone()),
        params: json!({}),
        results: json!({}),
    })?;
    Ok(b)
}

async fn update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<wire::Bucket>> {
    auth.bucket(&id, Need::Manage)?;
    let b = load_bucket(&state, auth.project_id, auth.branch_id, &id)?;
    if let Some(dn) = p.str("displayName") {
        if !valid_name(&dn) {
            return Err(ApiError::validation("Invalid data - displayName: Only alphanumeric characters dash and underscores are allowed."));
        }
        let taken: Option<String> = state.meta.with(|c| {
            c.query_row(
                "SELECT id FROM buckets WHERE project_id = ?1 AND branch_id = ?2 AND stage = ?3 AND display_name = ?4 AND id != ?5",
                rusqlite::params![auth.project_id, auth.branch_id, b.stage, dn, b.id],
                |r| r.get(0),
            )
            .optional()
        })?;
        if taken.is_some() {
            return Err(ApiError::new(Code::BucketAlreadyExists, format!("The display name \"{dn}\" already exists in project.")));
        }
        state.meta.with(|c| {
            c.execute(
                "UPDATE buckets SET display_name = ?1 WHERE project_id = ?2 AND branch_id = ?3 AND id = ?4",
                rusqlite::params![dn, auth.project_id, auth.branch_id, b.id],
            )
        })?;
    }
    for (key, column) in [("color", "color"), ("description", "description")] {
        if let Some(v) = p.str(key) {
            state.meta.with(|c| {
                c.execute(
                    &format!("UPDATE buckets SET {column} = ?1 WHERE project_id = ?2 AND branch_id = ?3 AND id = ?4"),
                    rusqlite::params![v, auth.project_id, auth.branch_id, b.id],
                )
            })?;
        }
    }
    touch(&state, &b)?;
    let b = load_bucket(&state, auth.project_id, auth.branch_id, &id)?;
    Ok(Json(bucket_json(&state, &b, &["metadata".into()])?))
}

/// Drop a bucket's tables (data and records) and the bucket itself.
fn drop_bucket(state: &AppState, b: &Bucket, force: bool) -> ApiResult<Value> {
    let table_rows = tables::tables_of_bucket(state, b)?;
    if !table_rows.is_empty() && !force {
        return Err(ApiError::new(
            Code::BucketNotEmpty,
            format!("Bucket {} is not empty. Use force to delete it with its tables.", b.id),
        ));
    }
    for t in &table_rows {
        tables::drop_table_everywhere(state, t)?;
    }
    let scope = Scope { project_id: b.project_id, branch_id: b.branch_id };
    metadata::purge(state, &scope, Object::Bucket, &b.id)?;
    state.meta.with(|c| {
        c.execute(
            "DELETE FROM buckets WHERE project_id = ?1 AND branch_id = ?2 AND id = ?3",
            rusqlite::params![b.project_id, b.branch_id, b.id],
        )
    })?;
    Ok(json!({}))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Response> {
    auth.bucket(&id, Need::Manage)?;
    let b = load_bucket(&state, auth.project_id, auth.branch_id, &id)?;
    let force = p.get("force").and_then(parse_bool).unwrap_or(false);
    let run_async = p.get("async").and_then(parse_bool).unwrap_or(false);
    if run_async {
        let spec = jobs::JobSpec {
            operation_name: "bucketDelete",
            operation_params: json!({"bucketId": b.id, "force": force}),
            table_id: None,
            lock_key: Some(format!("bucket:{}:{}:{}", b.project_id, b.branch_id, b.id)),
        };
        return Ok(jobs::start(&state, &auth, spec, move |st| drop_bucket(st, &b, force)).await?.into_response());
    }
    drop_bucket(&state, &b, force)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
