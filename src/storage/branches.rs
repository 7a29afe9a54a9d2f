//! Development branches (`/v2/storage/dev-branches`) and branch metadata
//! (`/v2/storage/branch/{b}/metadata`, reached here as `/v2/storage/metadata`).
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use rusqlite::OptionalExtension;
use serde_json::{Value, json};

use super::auth::Auth;
use super::{buckets, configurations, jobs, tables};
use super::metadata::{self, Object, Scope};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/storage/dev-branches", get(list).post(create))
        .route("/v2/storage/dev-branches/{id}", get(detail).put(update).delete(remove))
        .route("/v2/storage/metadata", get(list_metadata).post(post_metadata))
        .route("/v2/storage/metadata/{mid}", delete(delete_metadata))
}

const COLUMNS: &str = "id, name, description, created, is_default, creator_token_id, creator_description";

fn branch_json(r: &rusqlite::Row) -> rusqlite::Result<Value> {
    let creator: Option<i64> = r.get(5)?;
    Ok(json!({
        "id": r.get::<_, i64>(0)?,
        "name": r.get::<_, String>(1)?,
        "description": r.get::<_, String>(2)?,
        "created": r.get::<_, String>(3)?,
        "isDefault": r.get::<_, bool>(4)?,
        // The default branch has no creator; PHP serialises that as an empty array.
        "creatorToken": match creator {
            Some(id) => json!({"id": id, "name": r.get::<_, Option<String>>(6)?}),
            None => json!([]),
        },
    }))
}

fn find(state: &AppState, project_id: i64, id: i64) -> ApiResult<Option<Value>> {
    Ok(state.meta.with(|c| {
        c.query_row(&format!("SELECT {COLUMNS} FROM branches WHERE id = ?1 AND project_id = ?2"), [id, project_id], branch_json)
            .optional()
    })?)
}

/// A branch of the token's project by numeric id or `default`.
pub fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Value> {
    let branch_id = if id == "default" { Some(auth.default_branch_id) } else { id.parse::<i64>().ok() };
    let found = match branch_id {
        Some(bid) => find(state, auth.project_id, bid)?,
        None => None,
    };
    found.ok_or_else(|| ApiError::new(Code::BranchNotFound, format!("Branch \"{id}\" not found.")))
}

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    let branches = state.meta.with(|c| {
        let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM branches WHERE project_id = ?1 ORDER BY id"))?;
        st.query_map([auth.project_id], branch_json)?.collect::<Result<Vec<_>, _>>()
    })?;
    Ok(Json(Value::Array(branches)))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(load(&state, &auth, &id)?))
}

fn name_taken(c: &rusqlite::Connection, project_id: i64, name: &str, except: i64) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT 1 FROM branches WHERE project_id = ?1 AND name = ?2 AND id != ?3",
        rusqlite::params![project_id, name, except],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
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
    if state.meta.with(|c| name_taken(c, auth.project_id, &name, 0))? {
        return Err(already_exists(&name));
    }
    let spec = jobs::JobSpec {
        operation_name: "devBranchCreate",
        operation_params: json!({"values": {"name": name, "description": description}}),
        table_id: None,
        lock_key: Some(format!("branches:{}", auth.project_id)),
    };
    let (project_id, default_branch, creator) = (auth.project_id, auth.default_branch_id, auth.token.clone());
    jobs::start(&state, &auth, spec, move |st| {
        let id = st.meta.tx(|tx| {
            if name_taken(tx, project_id, &name, 0)? {
                return Err(already_exists(&name));
            }
            tx.execute(
                "INSERT INTO branches (project_id, name, description, is_default, created, creator_token_id, creator_description) \
                 VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6)",
                rusqlite::params![project_id, name, description, now_iso(), creator.id, creator.description],
            )?;
            let id = tx.last_insert_rowid();
            configurations::copy_branch(tx, project_id, default_branch, id)?;
            Ok(id)
        })?;
        find(st, project_id, id)?.ok_or_else(|| ApiError::internal("created branch vanished"))
    })
    .await
}

async fn update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    auth.require_manage_buckets()?;
    let branch = load(&state, &auth, &id)?;
    let branch_id = branch["id"].as_i64().unwrap_or_default();
    let name = p.str("name");
    if let Some(n) = &name {
        if branch["isDefault"] == true && branch["name"] != n.as_str() {
            return Err(ApiError::validation("Update of a default branch name is not allowed."));
        }
        if n.is_empty() {
            return Err(ApiError::validation("Invalid request:\n - name: This value should not be blank."));
        }
    }
    state.meta.tx(|tx| {
        if let Some(n) = &name {
            if name_taken(tx, auth.project_id, n, branch_id)? {
                return Err(already_exists(n));
            }
            tx.execute("UPDATE branches SET name = ?1 WHERE id = ?2", rusqlite::params![n, branch_id])?;
        }
        if let Some(d) = p.str("description") {
            tx.execute("UPDATE branches SET description = ?1 WHERE id = ?2", rusqlite::params![d, branch_id])?;
        }
        Ok(())
    })?;
    Ok(Json(load(&state, &auth, &id)?))
}

/// A `devBranchDelete` storage job: the branch goes with its buckets, tables, configurations and
/// metadata.
async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require_manage_buckets()?;
    let branch = load(&state, &auth, &id)?;
    if branch["isDefault"] == true {
        return Err(ApiError::validation("The default branch cannot be deleted."));
    }
    let branch_id = branch["id"].as_i64().unwrap_or_default();
    let spec = jobs::JobSpec {
        operation_name: "devBranchDelete",
        operation_params: json!({"values": {"id": branch_id}}),
        table_id: None,
        lock_key: Some(format!("branches:{}", auth.project_id)),
    };
    let project_id = auth.project_id;
    jobs::start(&state, &auth, spec, move |st| {
        let bucket_ids: Vec<String> = st.meta.with(|c| {
            let mut q = c.prepare("SELECT id FROM buckets WHERE project_id = ?1 AND branch_id = ?2")?;
            q.query_map([project_id, branch_id], |r| r.get(0))?.collect()
        })?;
        for bucket_id in bucket_ids {
            let bucket = buckets::load_bucket(st, project_id, branch_id, &bucket_id)?;
            for table in tables::tables_of_bucket(st, &bucket)? {
                tables::drop_table_everywhere(st, &table)?;
            }
        }
        st.meta.tx(|tx| {
            configurations::drop_branch(tx, project_id, branch_id)?;
            // Records and metadata of every object in the branch (their data is gone above).
            tx.execute("DELETE FROM buckets WHERE project_id = ?1 AND branch_id = ?2", [project_id, branch_id])?;
            tx.execute("DELETE FROM metadata WHERE project_id = ?1 AND branch_id = ?2", [project_id, branch_id])?;
            tx.execute("DELETE FROM branches WHERE id = ?1 AND project_id = ?2", [branch_id, project_id])?;
            Ok::<_, ApiError>(())
        })?;
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

/// The object id branch metadata hangs on: the branch itself.
fn branch_object(auth: &Auth) -> String {
    auth.branch_id.to_string()
}

async fn list_metadata(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    let scope: Scope = (&auth).into();
    Ok(Json(without_provider(metadata::list(&state, &scope, Object::Branch, &branch_object(&auth))?)))
}

async fn post_metadata(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require_manage_buckets()?;
    let scope: Scope = (&auth).into();
    metadata::upsert(&state, &scope, Object::Branch, &branch_object(&auth), "", &metadata_items(&p)?)?;
    Ok((StatusCode::CREATED, Json(without_provider(metadata::list(&state, &scope, Object::Branch, &branch_object(&auth))?))))
}

async fn delete_metadata(State(state): State<AppState>, auth: Auth, Path(mid): Path<String>) -> ApiResult<StatusCode> {
    auth.require_manage_buckets()?;
    metadata::remove(&state, &(&auth).into(), Object::Branch, &branch_object(&auth), &mid)?;
    Ok(StatusCode::NO_CONTENT)
}
