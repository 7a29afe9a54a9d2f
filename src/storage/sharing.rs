//! Bucket sharing and linking (notes: storage-api.md §6.2; APIB "Bucket Sharing", "Link Shared
//! Bucket", "List Shared Buckets"). Every project of a kbstack belongs to one organization.
//!
//! A project shares a bucket of its default branch to the organization (`organization`: every
//! other project's admins, i.e. master tokens; `organization-project`: every token of every other
//! project), to listed projects (`specific-projects`) or to listed users (`specific-users`: a
//! master token whose admin id or description is listed). A project the share reaches lists it
//! in `shared-buckets` and may link it: `POST buckets` with `sourceProjectId` + `sourceBucketId`
//! makes a bucket whose tables are the source's, read-only. A share is kept while linked, and a
//! linked source bucket is not deleted (the linking projects delete their links first, or the
//! source project force-unlinks them).
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{Auth, Need};
use super::buckets::{self, Bucket};
use super::jobs;
use super::tables::Table;
use super::wire::bucket::{LinkedBy, ProjectRef, SourceBucket};
use super::wire::shared_bucket::{SharedBucket, SharedBy, SharedTable};
use crate::app::AppState;
use crate::http::params::comma_list;
use crate::http::routes::{delete, get, post, put};
use crate::http::{ApiError, ApiResult, Code, Params, Query, Routes, now_iso};
use crate::meta::buckets::BucketConflict;
use crate::meta::sharing::{BucketLink, BucketShare, LinkRefused, StillLinked};
use kbstack_core::Scope;

/// The one organization every project of this stack belongs to.
pub const ORGANIZATION_ID: i64 = 1;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/v2/storage/buckets/{id}/share", put(change_sharing).delete(unshare))
        .route("/v2/storage/buckets/{id}/share-organization", post(share_organization))
        .route("/v2/storage/buckets/{id}/share-organization-project", post(share_organization_project))
        .route("/v2/storage/buckets/{id}/share-to-projects", post(share_to_projects))
        .route("/v2/storage/buckets/{id}/share-to-users", post(share_to_users))
        .route("/v2/storage/buckets/{id}/links/{project}", delete(force_unlink))
        .route("/v2/storage/shared-buckets", get(shared_buckets))
}

// ---- what other modules ask ----------------------------------------------------------------

/// The link of a bucket, when it is a linked bucket.
pub fn link_of(state: &AppState, scope: Scope, bucket_id: &str) -> ApiResult<Option<BucketLink>> {
    Ok(state.meta.bucket_link(scope, bucket_id)?)
}

/// The refusal of a write to a linked bucket or its tables.
pub fn read_only(bucket_id: &str) -> ApiError {
    ApiError::denied(format!(
        "The bucket \"{bucket_id}\" is a linked bucket: it is read-only (its data belongs to the project that shares it)."
    ))
}

/// The tables a linked bucket shows: its source bucket's.
pub fn source_tables(state: &AppState, link: &BucketLink) -> ApiResult<Vec<Table>> {
    Ok(state.meta.bucket_tables(link.source_scope(), &link.source_bucket_id)?)
}

/// The source table that `bucket_id.name` of a linked bucket shows (None when the bucket is
/// not linked or its source has no such table).
pub fn linked_table(state: &AppState, scope: Scope, bucket_id: &str, name: &str) -> ApiResult<Option<Table>> {
    let Some(link) = link_of(state, scope, bucket_id)? else { return Ok(None) };
    Ok(state.meta.table(link.source_scope(), &format!("{}.{name}", link.source_bucket_id))?)
}

pub fn project_ref(state: &AppState, project_id: i64) -> ProjectRef {
    let name = state.meta.project(project_id).ok().flatten().map(|(name, _)| name).unwrap_or_default();
    ProjectRef { id: project_id, name }
}

/// Where a bucket lives in the backend, as Keboola reports it on Snowflake: the project's
/// database and the bucket's schema (prefixed by the branch id in development branches).
pub fn backend_path(state: &AppState, scope: Scope, bucket_id: &str) -> Vec<String> {
    let project = scope.project.get();
    let default = state.meta.default_branch(project).ok().flatten();
    let schema = if default == Some(scope.branch.get()) { bucket_id.to_string() } else { format!("{}_{bucket_id}", scope.branch.get()) };
    vec![format!("KBC_PRJ_{project}"), schema]
}

/// What `bucket_json` shows of a bucket's sharing, and the tables it shows (a linked bucket's
/// are its source's).
pub struct SharingView {
    pub tables: Vec<Table>,
    pub sharing: Option<String>,
    pub sharing_parameters: Value,
    pub source: Option<SourceBucket>,
    pub linked_by: Vec<LinkedBy>,
    pub backend_path: Vec<String>,
}

pub fn view(state: &AppState, b: &Bucket, with_links: bool) -> ApiResult<SharingView> {
    if let Some(link) = link_of(state, b.scope(), &b.id)? {
        let source = state.meta.bucket(link.source_scope(), &link.source_bucket_id)?;
        let (name, description) = source.map(|s| (s.name, s.description)).unwrap_or_default();
        return Ok(SharingView {
            tables: source_tables(state, &link)?,
            sharing: None,
            sharing_parameters: json!([]),
            source: Some(SourceBucket {
                id: link.source_bucket_id.clone(),
                name,
                description,
                project: project_ref(state, link.source_project_id),
            }),
            linked_by: Vec::new(),
            backend_path: backend_path(state, link.source_scope(), &link.source_bucket_id),
        });
    }
    let share = state.meta.bucket_share(b.scope(), &b.id)?;
    let linked_by = if with_links { linked_by(state, b.scope(), &b.id)? } else { Vec::new() };
    Ok(SharingView {
        tables: state.meta.bucket_tables(b.scope(), &b.id)?,
        sharing_parameters: share.as_ref().map(sharing_parameters).unwrap_or_else(|| json!([])),
        sharing: share.map(|s| s.sharing),
        source: None,
        linked_by,
        backend_path: backend_path(state, b.scope(), &b.id),
    })
}

fn linked_by(state: &AppState, scope: Scope, bucket_id: &str) -> ApiResult<Vec<LinkedBy>> {
    Ok(state
        .meta
        .links_to(scope, bucket_id)?
        .into_iter()
        .map(|l| LinkedBy { id: l.bucket_id, created: l.created, project: project_ref(state, l.project_id) })
        .collect())
}

fn sharing_parameters(s: &BucketShare) -> Value {
    match s.sharing.as_str() {
        "specific-projects" => json!({"projects": s.target_project_ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()}),
        "specific-users" => json!({"users": s.target_users.iter().map(|u| json!({"id": u})).collect::<Vec<_>>()}),
        _ => json!([]),
    }
}

/// Refuse deleting a shared bucket other projects link to.
pub fn ensure_not_linked(state: &AppState, b: &Bucket) -> ApiResult<()> {
    let links = state.meta.links_to(b.scope(), &b.id)?;
    if links.is_empty() {
        return Ok(());
    }
    let projects: Vec<String> = links.iter().map(|l| l.project_id.to_string()).collect();
    Err(ApiError::new(
        Code::BucketLinked,
        format!(
            "The bucket \"{}\" is linked in other projects ({}). Delete the linked buckets first or force unlink them.",
            b.id,
            projects.join(", ")
        ),
    ))
}

// ---- sharing -------------------------------------------------------------------------------

/// A share reaches the token's project (never the owner's own project).
fn reaches(share: &BucketShare, auth: &Auth) -> bool {
    if share.project_id == auth.project_id {
        return false;
    }
    match share.sharing.as_str() {
        "organization" => auth.is_admin(),
        "organization-project" => true,
        "specific-projects" => share.target_project_ids.contains(&auth.project_id),
        "specific-users" => {
            auth.is_admin()
                && share.target_users.iter().any(|u| *u == auth.token.id.to_string() || *u == auth.token.description)
        }
        _ => false,
    }
}

/// The bucket a sharing call is about: sharing is an organization admin's act (a master token)
/// on a bucket of the default branch that is not itself a link.
fn shareable(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Bucket> {
    auth.require_master()?;
    auth.bucket(id, Need::Manage)?;
    let b = buckets::load_bucket(state, auth.project_id, auth.branch_id, id)?;
    if auth.branch_id != auth.default_branch_id {
        return Err(ApiError::validation("Bucket sharing is not supported in development branches."));
    }
    if link_of(state, b.scope(), &b.id)?.is_some() {
        return Err(ApiError::validation(format!("The bucket \"{id}\" is a linked bucket and cannot be shared.")));
    }
    Ok(b)
}

/// Record the share in a job (`operation`), answering 202 with it; its result is the bucket.
async fn share_job(
    state: &AppState,
    auth: &Auth,
    b: Bucket,
    operation: &'static str,
    mut params: Value,
    share: BucketShare,
) -> ApiResult<Response> {
    params["queue"] = json!("main");
    let spec = jobs::JobSpec {
        operation_name: operation,
        operation_params: json!({"params": params}),
        table_id: None,
        lock_key: Some(format!("bucket:{}:{}:{}", b.project_id, b.branch_id, b.id)),
    };
    Ok(jobs::start(state, auth, spec, move |st| {
        st.meta.share_bucket(&share)?;
        serde_json::to_value(buckets::bucket_json(st, &b, &[])?).map_err(ApiError::internal)
    })
    .await?
    .into_response())
}

fn new_share(auth: &Auth, b: &Bucket, sharing: &str) -> BucketShare {
    BucketShare {
        project_id: b.project_id,
        branch_id: b.branch_id,
        bucket_id: b.id.clone(),
        sharing: sharing.into(),
        target_project_ids: Vec::new(),
        target_users: Vec::new(),
        shared_by_id: auth.token.id,
        shared_by_name: auth.token.description.clone(),
        shared_date: now_iso(),
    }
}

async fn share_organization(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let b = shareable(&state, &auth, &id)?;
    let share = new_share(&auth, &b, "organization");
    share_job(&state, &auth, b, "bucketShareToOrganization", json!({}), share).await
}

async fn share_organization_project(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let b = shareable(&state, &auth, &id)?;
    let share = new_share(&auth, &b, "organization-project");
    share_job(&state, &auth, b, "bucketShareToOrganizationProject", json!({}), share).await
}

async fn share_to_projects(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Response> {
    let b = shareable(&state, &auth, &id)?;
    let mut targets = Vec::new();
    for raw in p.list("targetProjectIds") {
        let target: i64 = raw
            .trim()
            .parse()
            .map_err(|_| ApiError::validation(format!("Invalid request:\n - targetProjectIds: \"{raw}\" is not a project id.")))?;
        if state.meta.project(target)?.is_none() {
            return Err(ApiError::validation(format!("Project \"{target}\" is not a project of the organization.")));
        }
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    if targets.is_empty() {
        return Err(ApiError::validation("Invalid request:\n - targetProjectIds: This value should not be blank."));
    }
    let mut share = new_share(&auth, &b, "specific-projects");
    share.target_project_ids = targets.clone();
    share_job(&state, &auth, b, "bucketShareToProjects", json!({"targetProjectIds": targets}), share).await
}

async fn share_to_users(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Response> {
    let b = shareable(&state, &auth, &id)?;
    let mut targets: Vec<String> = p.list("targetUsers").into_iter().map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect();
    targets.dedup();
    if targets.is_empty() {
        return Err(ApiError::validation("Invalid request:\n - targetUsers: This value should not be blank."));
    }
    let mut share = new_share(&auth, &b, "specific-users");
    share.target_users = targets.clone();
    share_job(&state, &auth, b, "bucketShareToAdmins", json!({"targetUsers": targets}), share).await
}

async fn change_sharing(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Response> {
    let b = shareable(&state, &auth, &id)?;
    let sharing = p.required_str("sharing")?;
    if sharing != "organization" && sharing != "organization-project" {
        return Err(ApiError::validation(format!(
            "Invalid request:\n - sharing: \"{sharing}\" is not valid; allowed are organization, organization-project."
        )));
    }
    let Some(current) = state.meta.bucket_share(b.scope(), &b.id)? else {
        return Err(ApiError::validation(format!("The bucket \"{id}\" is not shared.")));
    };
    let share = BucketShare { sharing: sharing.clone(), target_project_ids: Vec::new(), target_users: Vec::new(), ..current };
    share_job(&state, &auth, b, "bucketShareUpdate", json!({"sharingType": sharing}), share).await
}

async fn unshare(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let b = shareable(&state, &auth, &id)?;
    // Refused at once while linked (the job re-checks in the same transaction as the delete).
    if !state.meta.links_to(b.scope(), &b.id)?.is_empty() {
        return Err(still_linked(&b.id));
    }
    let spec = jobs::JobSpec {
        operation_name: "bucketRemoveShare",
        operation_params: json!({"params": {"queue": "main"}}),
        table_id: None,
        lock_key: Some(format!("bucket:{}:{}:{}", b.project_id, b.branch_id, b.id)),
    };
    Ok(jobs::start(&state, &auth, spec, move |st| match st.meta.unshare_bucket(b.scope(), &b.id)? {
        Ok(()) => serde_json::to_value(buckets::bucket_json(st, &b, &[])?).map_err(ApiError::internal),
        Err(StillLinked) => Err(still_linked(&b.id)),
    })
    .await?
    .into_response())
}

fn still_linked(id: &str) -> ApiError {
    ApiError::new(
        Code::BucketLinked,
        format!("The bucket \"{id}\" is already linked in other projects. Delete the linked buckets in those projects (or force unlink them) before you stop sharing it."),
    )
}

/// `DELETE buckets/{id}/links/{project}`: the owner removes another project's link to its bucket.
async fn force_unlink(State(state): State<AppState>, auth: Auth, Path((id, project)): Path<(String, String)>, p: Params) -> ApiResult<Response> {
    let b = shareable(&state, &auth, &id)?;
    let project: i64 = project.parse().map_err(|_| ApiError::validation(format!("Invalid project id \"{project}\".")))?;
    let links: Vec<BucketLink> = state.meta.links_to(b.scope(), &b.id)?.into_iter().filter(|l| l.project_id == project).collect();
    if links.is_empty() {
        return Err(ApiError::new(
            Code::BucketNotFound,
            format!("The bucket \"{id}\" is not linked in the project \"{project}\"."),
        ));
    }
    let unlink = move |st: &AppState| -> ApiResult<Value> {
        for l in &links {
            st.meta.delete_bucket(l.scope(), &l.bucket_id)?;
        }
        Ok(json!({}))
    };
    if p.flag("async")? {
        let spec = jobs::JobSpec {
            operation_name: "bucketForceUnlink",
            operation_params: json!({"params": {"linkedIdBucket": id, "linkedIdProject": project, "async": true}}),
            table_id: None,
            lock_key: Some(format!("bucket:{}:{}:{}", b.project_id, b.branch_id, b.id)),
        };
        return Ok(jobs::start(&state, &auth, spec, unlink).await?.into_response());
    }
    unlink(&state)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- listing and linking -------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct IncludeQuery {
    include: Option<String>,
}

/// `GET shared-buckets`: the buckets other projects share with this one (linked or not).
async fn shared_buckets(State(state): State<AppState>, auth: Auth, Query(q): Query<IncludeQuery>) -> ApiResult<Json<Vec<SharedBucket>>> {
    let with_metadata = comma_list(q.include.as_deref()).iter().any(|i| i == "metadata");
    let mut out = Vec::new();
    for share in state.meta.bucket_shares()?.into_iter().filter(|s| reaches(s, &auth)) {
        let Some(b) = state.meta.bucket(share.scope(), &share.bucket_id)? else { continue };
        let tables = state.meta.bucket_tables(b.scope(), &b.id)?;
        let (rows, bytes) = tables.iter().fold((0, 0), |(r, s), t| (r + t.stats.rows_count, s + t.stats.data_size_bytes));
        let metadata = if with_metadata {
            Some(super::metadata::list(&state, &b.scope(), super::metadata::Object::Bucket, &b.id)?)
        } else {
            None
        };
        out.push(SharedBucket {
            id: b.id.clone(),
            name: b.name.clone(),
            display_name: b.display_name.clone(),
            stage: b.stage.clone(),
            description: b.description.clone(),
            sharing: share.sharing.clone(),
            created: b.created.clone(),
            last_change_date: b.last_change_date.clone(),
            data_size_bytes: bytes,
            rows_count: rows,
            backend: b.backend.clone(),
            project: project_ref(&state, b.project_id),
            tables: tables.iter().map(|t| SharedTable { id: t.id.clone(), name: t.name.clone(), display_name: t.display_name.clone() }).collect(),
            color: b.color.clone(),
            sharing_parameters: sharing_parameters(&share),
            shared_by: SharedBy { id: share.shared_by_id, name: share.shared_by_name.clone(), date: share.shared_date.clone() },
            owner: None,
            updated: b.last_change_date.clone(),
            metadata,
        });
    }
    Ok(Json(out))
}

/// `POST buckets` with `sourceProjectId` + `sourceBucketId`: a new bucket showing the shared
/// bucket's tables (201 with the bucket, or 202 with a `bucketLink` job when `async`).
pub async fn link(state: AppState, auth: Auth, p: Params) -> ApiResult<Response> {
    auth.require_manage_buckets()?;
    let name = p.required_str("name")?;
    let stage = p.str_or("stage", "in");
    let source_bucket_id = p.required_str("sourceBucketId")?;
    let raw_project = p.required_str("sourceProjectId")?;
    let source_project: i64 = raw_project
        .trim()
        .parse()
        .map_err(|_| ApiError::validation("Invalid request:\n - sourceProjectId: This value should be of type int."))?;
    let display_name = p.str("displayName");
    if auth.branch_id != auth.default_branch_id {
        return Err(ApiError::validation("Linking a shared bucket is not supported in development branches."));
    }
    if source_project == auth.project_id {
        return Err(ApiError::validation("A bucket cannot be linked into the project that shares it."));
    }
    let not_shared = || {
        ApiError::new(Code::BucketNotFound, format!("The bucket \"{source_bucket_id}\" was not found in the project \"{source_project}\""))
    };
    let source_branch = state.meta.default_branch(source_project)?.ok_or_else(not_shared)?;
    let source_scope = Scope::new(source_project, source_branch);
    let share = state.meta.bucket_share(source_scope, &source_bucket_id)?.filter(|s| reaches(s, &auth)).ok_or_else(not_shared)?;
    let source = state.meta.bucket(source_scope, &share.bucket_id)?.ok_or_else(not_shared)?;

    // The new bucket's name and stage are checked as for any bucket.
    let mut nb = buckets::NewBucket::named(&name, &stage);
    nb.display_name = display_name;
    nb.description = source.description.clone();
    nb.backend = source.backend.clone();
    let bucket = buckets::validated_bucket(&auth, nb)?;
    let run = {
        let auth = auth.clone();
        move |st: &AppState| -> ApiResult<Value> {
            match st.meta.insert_linked_bucket(&bucket, source_scope, &source.id)? {
                Ok(()) => {}
                Err(LinkRefused::NotShared) => return Err(not_shared_error(&source.id, source_project)),
                Err(LinkRefused::Conflict(BucketConflict::Id)) => {
                    return Err(ApiError::new(Code::BucketAlreadyExists, format!("The bucket {} already exists.", bucket.id)));
                }
                Err(LinkRefused::Conflict(BucketConflict::DisplayName)) => {
                    return Err(ApiError::new(
                        Code::BucketAlreadyExists,
                        format!("The display name \"{}\" already exists in project.", bucket.display_name),
                    ));
                }
            }
            buckets::record_created(st, &auth, &bucket.id, &format!("Bucket {} linked from {}/{}", bucket.id, source_project, source.id))?;
            serde_json::to_value(buckets::bucket_json(st, &bucket, &["metadata".into()])?).map_err(ApiError::internal)
        }
    };
    if p.flag("async")? {
        let spec = jobs::JobSpec {
            operation_name: "bucketLink",
            operation_params: json!({"params": {
                "bucketName": name, "displayName": p.str("displayName").unwrap_or_else(|| name.clone()), "bucketStage": stage,
                "sourceProjectId": source_project, "sourceBucketId": source_bucket_id, "devBranchId": auth.branch_id, "queue": "main"
            }}),
            table_id: None,
            lock_key: None,
        };
        return Ok(jobs::start(&state, &auth, spec, run).await?.into_response());
    }
    let created = run(&state)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

fn not_shared_error(source_bucket_id: &str, source_project: i64) -> ApiError {
    ApiError::new(Code::BucketNotFound, format!("The bucket \"{source_bucket_id}\" was not found in the project \"{source_project}\""))
}
