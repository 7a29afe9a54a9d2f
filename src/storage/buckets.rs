//! Buckets: `stage.c-name`, created with the legacy `c-` prefix, listed per token permissions.
use axum::extract::{Path, State};
use crate::http::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crate::http::routes::get;
use axum::Json;
use crate::http::Routes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::bucket::{self as wire, BucketTables};
use super::auth::{Auth, Need};
use super::metadata::{self, Object};
use super::{events, jobs, sharing, tables};
use crate::app::AppState;
use crate::http::params::{comma_list, parse_bool};
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};
use crate::meta::AlreadyExists;
use crate::meta::buckets::{BucketChanges, BucketConflict};
use kbstack_core::Scope;

pub use crate::meta::buckets::Bucket;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/v2/storage/buckets", get(list).post(create))
        .route("/v2/storage/buckets/{id}", get(detail).put(update).delete(remove))
}

pub fn not_found(project_id: i64, id: &str) -> ApiError {
    ApiError::new(Code::BucketNotFound, format!("The bucket \"{id}\" was not found in the project \"{project_id}\""))
}

pub fn load_bucket(state: &AppState, project_id: i64, branch_id: i64, id: &str) -> ApiResult<Bucket> {
    state.meta.bucket(Scope::new(project_id, branch_id), id)?.ok_or_else(|| not_found(project_id, id))
}

/// Record a change of the bucket (of its tables) now.
pub fn touch(state: &AppState, b: &Bucket) -> ApiResult<()> {
    Ok(state.meta.touch_bucket(b.scope(), &b.id, &now_iso())?)
}

pub fn bucket_json(state: &AppState, b: &Bucket, include: &[String]) -> ApiResult<wire::Bucket> {
    let included = |name: &str| include.iter().any(|i| i == name);
    let metadata = if included("metadata") { Some(metadata::list(state, &b.scope(), Object::Bucket, &b.id)?) } else { None };
    let with_links = included("linkedBuckets");
    let view = sharing::view(state, b, with_links)?;
    let (rows, bytes) = tables::stats_of(&view.tables);
    let is_linked = view.source.is_some();
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
        is_read_only: is_linked,
        data_size_bytes: bytes,
        rows_count: rows,
        is_maintenance: false,
        backend: b.backend.clone(),
        sharing: view.sharing,
        sharing_parameters: view.sharing_parameters,
        bucket_sharing_allowed: !is_linked,
        has_external_schema: false,
        database_name: String::new(),
        path: format!("p{}_b{}_{}", b.project_id, b.branch_id, b.id),
        is_snowflake_shared_database: false,
        color: b.color.clone(),
        is_linked_bucket: is_linked,
        backend_path: view.backend_path,
        owner: None,
        source_bucket: view.source,
        attributes: Vec::new(),
        metadata,
        linked_by: with_links.then_some(view.linked_by),
    })
}

#[derive(Deserialize)]
struct IncludeQuery {
    include: Option<String>,
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<IncludeQuery>) -> ApiResult<Json<Vec<wire::Bucket>>> {
    let include = comma_list(q.include.as_deref());
    let buckets = state.meta.buckets(auth.scope())?;
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
    include.push("linkedBuckets".into());
    let mut v = bucket_json(&state, &b, &include)?;
    // The detail lists its tables (kbcstorage asserts `tables == []` for a new bucket).
    v.tables = BucketTables::List(tables::list_bucket_tables(&state, &auth, &b, &[])?);
    Ok(Json(v))
}

fn display_name_taken(display_name: &str) -> ApiError {
    ApiError::new(Code::BucketAlreadyExists, format!("The display name \"{display_name}\" already exists in project."))
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

async fn create(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<Response> {
    if p.has("sourceProjectId") || p.has("sourceBucketId") {
        return sharing::link(state, auth, p).await;
    }
    // The right before the parameters: a token that may not create buckets is told so.
    auth.require_manage_buckets()?;
    let nb = NewBucket {
        name: p.required_str("name")?,
        stage: p.str_or("stage", "in"),
        display_name: p.str("displayName"),
        description: p.str_or("description", ""),
        backend: p.str_or("backend", "snowflake"),
        color: p.str("color"),
    };
    let b = create_bucket(&state, &auth, nb)?;
    Ok((StatusCode::CREATED, Json(bucket_json(&state, &b, &["metadata".into()])?)).into_response())
}

/// Create a bucket (the domain side of `POST buckets`, also used by the runner's output mapping).
pub fn create_bucket(state: &AppState, auth: &Auth, nb: NewBucket) -> ApiResult<Bucket> {
    let bucket = validated_bucket(auth, nb)?;
    let id = bucket.id.clone();
    match state.meta.insert_bucket(&bucket)? {
        Ok(()) => {}
        Err(BucketConflict::Id) => return Err(ApiError::new(Code::BucketAlreadyExists, format!("The bucket {id} already exists."))),
        Err(BucketConflict::DisplayName) => return Err(display_name_taken(&bucket.display_name)),
    }
    record_created(state, auth, &id, &format!("Bucket {id} created"))?;
    Ok(bucket)
}

/// The `storage.bucketCreated` event.
pub fn record_created(state: &AppState, auth: &Auth, id: &str, message: &str) -> ApiResult<()> {
    events::record(state, auth, events::NewEvent {
        event: "storage.bucketCreated".into(),
        component: "storage".into(),
        message: message.into(),
        kind: "info".into(),
        object_type: Some("bucket".into()),
        object_id: Some(id.into()),
        params: json!({}),
        results: json!({}),
    })
}

/// The bucket `nb` describes, its name, stage and display name checked (not yet stored).
pub fn validated_bucket(auth: &Auth, nb: NewBucket) -> ApiResult<Bucket> {
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
    let bucket = Bucket {
        project_id: auth.project_id,
        branch_id: auth.branch_id,
        id: id.clone(),
        name,
        display_name,
        stage,
        description: nb.description,
        backend: nb.backend,
        color: nb.color,
        created: now.clone(),
        last_change_date: Some(now),
    };
    Ok(bucket)
}

async fn update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<wire::Bucket>> {
    auth.bucket(&id, Need::Manage)?;
    let b = load_bucket(&state, auth.project_id, auth.branch_id, &id)?;
    let changes = BucketChanges { display_name: p.str("displayName"), color: p.str("color"), description: p.str("description") };
    if let Some(dn) = &changes.display_name
        && !valid_name(dn)
    {
        return Err(ApiError::validation("Invalid data - displayName: Only alphanumeric characters dash and underscores are allowed."));
    }
    if let Err(AlreadyExists) = state.meta.update_bucket(b.scope(), &b.id, &changes, &now_iso())? {
        // Only a new display name can be taken.
        return Err(display_name_taken(changes.display_name.as_deref().unwrap_or_default()));
    }
    let b = load_bucket(&state, auth.project_id, auth.branch_id, &id)?;
    Ok(Json(bucket_json(&state, &b, &["metadata".into()])?))
}

/// Drop a bucket's tables (data and records) and the bucket itself.
fn drop_bucket(state: &AppState, b: &Bucket, force: bool) -> ApiResult<Value> {
    // A linked bucket's tables are its source's: only the link goes.
    if sharing::link_of(state, b.scope(), &b.id)?.is_some() {
        state.meta.delete_bucket(b.scope(), &b.id)?;
        return Ok(json!({}));
    }
    sharing::ensure_not_linked(state, b)?;
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
    state.meta.delete_bucket(b.scope(), &b.id)?;
    Ok(json!({}))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Response> {
    auth.bucket(&id, Need::Manage)?;
    let b = load_bucket(&state, auth.project_id, auth.branch_id, &id)?;
    let force = p.get("force").and_then(parse_bool).unwrap_or(false);
    // Refused at once while other projects link to it (the job checks again).
    sharing::ensure_not_linked(&state, &b)?;
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

/// Drop every bucket of every branch of a project with its tables (a purge).
pub fn drop_all_buckets(state: &AppState, project_id: i64) -> ApiResult<()> {
    for branch in state.meta.branches(project_id.into())? {
        for b in state.meta.buckets(kbstack_core::Scope::new(project_id, branch.id))? {
            drop_bucket(state, &b, true)?;
        }
    }
    Ok(())
}
