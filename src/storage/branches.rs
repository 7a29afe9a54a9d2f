//! Development branches (`/v2/storage/dev-branches`) and branch metadata
//! (`/v2/storage/branch/{b}/metadata`, reached here as `/v2/storage/metadata`).
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crate::http::routes::{delete, get};
use axum::Json;
use crate::http::Routes;
use serde_json::{Value, json};

use super::auth::Auth;
use super::metadata::{self, Object};
use super::{jobs, tables};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};
use crate::meta::AlreadyExists;
use crate::meta::branches::{Branch, NewBranch};
use kbstack_core::Scope;
use kbstack_core::ids::{BranchId, ProjectId};

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/v2/storage/dev-branches", get(list).post(create))
        .route("/v2/storage/dev-branches/{id}", get(detail).put(update).delete(remove))
        .route("/v2/storage/metadata", get(list_metadata).post(post_metadata))
        .route("/v2/storage/metadata/{mid}", delete(delete_metadata))
}

/// A branch as the API shows it.
fn branch_json(b: &Branch) -> Value {
    json!({
        "id": b.id,
        "name": b.name,
        "description": b.description,
        "created": b.created,
        "isDefault": b.is_default,
        // The default branch has no creator; PHP serialises that as an empty array.
        "creatorToken": match b.creator_token_id {
            Some(id) => json!({"id": id, "name": b.creator_description}),
            None => json!([]),
        },
    })
}

/// A branch of the token's project by numeric id or `default`.
fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Branch> {
    let branch_id = if id == "default" { Some(auth.default_branch_id) } else { id.parse::<i64>().ok() };
    let found = match branch_id {
        Some(bid) => state.meta.branch(auth.project_id.into(), bid.into())?,
        None => None,
    };
    found.ok_or_else(|| ApiError::new(Code::BranchNotFound, format!("Branch \"{id}\" not found.")))
}

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    let branches = state.meta.branches(auth.project_id.into())?;
    Ok(Json(Value::Array(branches.iter().map(branch_json).collect())))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(branch_json(&load(&state, &auth, &id)?)))
}

fn already_exists(name: &str) -> ApiError {
    ApiError::new(Code::BranchAlreadyExists, format!("There already is a branch with name \"{name}\"."))
}

/// A `devBranchCreate` storage job whose results are the branch; the branch starts with copies of
/// the default branch's configurations. The name is checked before the job starts.
async fn create(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require_manage_buckets()?;
    let name = p.required_str("name")?;
    let description = p.str_or("description", "");
    if state.meta.branch_name_taken(auth.project_id.into(), &name)? {
        return Err(already_exists(&name));
    }
    let spec = jobs::JobSpec {
        operation_name: "devBranchCreate",
        operation_params: json!({"values": {"name": name, "description": description}}),
        table_id: None,
        lock_key: Some(format!("branches:{}", auth.project_id)),
    };
    let (project, default_branch) = (ProjectId::from(auth.project_id), BranchId::from(auth.default_branch_id));
    let creator = auth.token.clone();
    jobs::start(&state, &auth, spec, move |st| {
        let new = NewBranch { name, description, created: now_iso(), creator_token_id: creator.id, creator_description: creator.description };
        let id = st.meta.create_dev_branch(project, default_branch, &new)?.map_err(|AlreadyExists| already_exists(&new.name))?;
        let branch = st.meta.branch(project, id)?.ok_or_else(|| ApiError::internal("created branch vanished"))?;
        Ok(branch_json(&branch))
    })
    .await
}

async fn update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    auth.require_manage_buckets()?;
    let branch = load(&state, &auth, &id)?;
    let name = p.str("name");
    if let Some(n) = &name {
        if branch.is_default && branch.name != *n {
            return Err(ApiError::validation("Update of a default branch name is not allowed."));
        }
        if n.is_empty() {
            return Err(ApiError::validation("Invalid request:\n - name: This value should not be blank."));
        }
    }
    let description = p.str("description");
    let updated = state.meta.update_branch(auth.project_id.into(), branch.id.into(), name.as_deref(), description.as_deref())?;
    if let (Err(AlreadyExists), Some(n)) = (updated, &name) {
        return Err(already_exists(n));
    }
    Ok(Json(branch_json(&load(&state, &auth, &id)?)))
}

/// A `devBranchDelete` storage job: the branch goes with its buckets, tables, configurations and
/// metadata.
async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require_manage_buckets()?;
    let branch = load(&state, &auth, &id)?;
    if branch.is_default {
        return Err(ApiError::validation("The default branch cannot be deleted."));
    }
    let spec = jobs::JobSpec {
        operation_name: "devBranchDelete",
        operation_params: json!({"values": {"id": branch.id}}),
        table_id: None,
        lock_key: Some(format!("branches:{}", auth.project_id)),
    };
    let scope = Scope::new(auth.project_id, branch.id);
    jobs::start(&state, &auth, spec, move |st| {
        // The tables' data first; the records of everything in the branch go in one transaction.
        for bucket in st.meta.buckets(scope)? {
            for table in tables::tables_of_bucket(st, &bucket)? {
                tables::drop_table_everywhere(st, &table)?;
            }
        }
        super::workspaces::drop_branch_workspaces(st, scope.project.get(), scope.branch.get())?;
        st.meta.delete_branch(scope.project, scope.branch)?;
        Ok(Value::Null)
    })
    .await
}

/// Branch metadata items carry no provider on the wire (APIB "Development Branch Metadata").
pub fn without_provider(items: Vec<Value>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|mut it| {
                if let Some(o) = it.as_object_mut() {
                    o.remove("provider");
                }
                it
            })
            .collect(),
    )
}

pub fn metadata_items(p: &Params) -> ApiResult<Vec<Value>> {
    match p.get("metadata") {
        Some(Value::Array(items)) if !items.is_empty() => Ok(items.clone()),
        Some(Value::Object(o)) if !o.is_empty() => Ok(o.values().cloned().collect()),
        _ => Err(ApiError::validation("Invalid request:\n - metadata: This value should not be blank.")),
    }
}

/// For other services (Templates): the metadata items `{id, key, value, timestamp}` of the
/// token's branch.
pub fn branch_metadata(state: &AppState, auth: &Auth) -> ApiResult<Vec<Value>> {
    metadata::list(state, &auth.scope(), Object::Branch, &branch_object(auth))
}

/// For other services: upsert `{key, value}` items on the token's branch (no provider, as the API).
pub fn set_branch_metadata(state: &AppState, auth: &Auth, items: &[Value]) -> ApiResult<()> {
    metadata::upsert(state, &auth.scope(), Object::Branch, &branch_object(auth), "", items)
}

/// The object id branch metadata hangs on: the branch itself.
fn branch_object(auth: &Auth) -> String {
    auth.branch_id.to_string()
}

async fn list_metadata(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    let scope = auth.scope();
    Ok(Json(without_provider(metadata::list(&state, &scope, Object::Branch, &branch_object(&auth))?)))
}

async fn post_metadata(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require_manage_buckets()?;
    let scope = auth.scope();
    metadata::upsert(&state, &scope, Object::Branch, &branch_object(&auth), "", &metadata_items(&p)?)?;
    Ok((StatusCode::CREATED, Json(without_provider(metadata::list(&state, &scope, Object::Branch, &branch_object(&auth))?))))
}

async fn delete_metadata(State(state): State<AppState>, auth: Auth, Path(mid): Path<String>) -> ApiResult<StatusCode> {
    auth.require_manage_buckets()?;
    metadata::remove(&state, &(&auth).into(), Object::Branch, &branch_object(&auth), &mid)?;
    Ok(StatusCode::NO_CONTENT)
}
