//! Tokens: verify, list, create, detail, update, delete, refresh. Only hashes are stored.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crate::http::routes::{get, post};
use axum::Json;
use crate::http::Routes;
use serde_json::{Map, Value, json};

use super::auth::{Auth, Need, TokenRecord, hash_token, new_token_secret};
use super::buckets;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params, iso, now_iso};
use super::wire::token::{Admin, BucketPermissions, CreatorToken, Organization, Owner, Token, named_values};
use crate::meta::project_admin::ProjectDetails;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/v2/storage/tokens/verify", get(verify))
        .route("/v2/storage/tokens", get(list).post(create))
        .route("/v2/storage/tokens/{id}", get(detail).put(update).delete(remove))
        .route("/v2/storage/tokens/{id}/refresh", post(refresh))
}

pub fn token_json(state: &AppState, t: &TokenRecord, secret: Option<&str>) -> Token {
    let details = state.meta.project_details(t.project_id).ok().flatten();
    let bucket_permissions = if t.is_master || t.can_manage_buckets {
        let all = state.meta.project_bucket_ids(t.project_id.into()).unwrap_or_default();
        all.into_iter().map(|b| (b, json!("manage"))).collect()
    } else {
        t.bucket_permissions.clone()
    };
    Token {
        id: t.id.to_string(),
        token: secret.map(str::to_string),
        description: t.description.clone(),
        created: t.created.clone(),
        refreshed: t.refreshed.clone(),
        uri: format!("{}/tokens/{}", state.storage_url(), t.id),
        is_master_token: t.is_master,
        can_manage_buckets: t.is_master || t.can_manage_buckets,
        can_manage_tokens: t.is_master || t.can_manage_tokens,
        can_read_all_file_uploads: t.is_master || t.can_read_all_file_uploads,
        can_purge_trash: t.is_master || t.can_purge_trash,
        can_manage_protected_default_branch: t.can_manage_protected_default_branch,
        can_create_jobs: t.is_master || t.can_create_jobs,
        expires: t.expires.and_then(|e| chrono::DateTime::from_timestamp(e, 0)).map(iso),
        is_expired: t.is_expired(),
        is_disabled: false,
        is_byodb: false,
        daily_capacity: 0,
        bucket_permissions: BucketPermissions(bucket_permissions),
        creator_token: t.creator_token_id.map(|id| CreatorToken { id, description: t.creator_description.clone() }),
        component_access: t.component_access.clone(),
        admin: t.is_master.then(|| Admin {
            id: t.id,
            name: "kbstack admin".into(),
            features: Vec::new(),
            is_organization_member: true,
            role: "admin".into(),
            is_activated: true,
        }),
        organization: Organization { id: details.as_ref().map_or(crate::manage::bootstrap::ORGANIZATION_ID, |d| d.organization_id).to_string() },
        owner: owner(state, t.project_id, details.as_ref()),
    }
}

fn owner(state: &AppState, project_id: i64, details: Option<&ProjectDetails>) -> Owner {
    let (name, created) = match details {
        Some(d) => (d.name.clone(), d.created.clone()),
        None => state.meta.project(project_id).ok().flatten().unwrap_or_else(|| ("kbstack".into(), now_iso())),
    };
    let (rows, bytes) = state.meta.project_table_stats(project_id).unwrap_or((0, 0));
    Owner {
        id: project_id,
        name,
        kind: "production".into(),
        region: "local".into(),
        created,
        expires: None,
        features: crate::manage::project_features(details),
        data_size_bytes: bytes,
        rows_count: rows,
        has_mysql: false,
        has_synapse: false,
        has_redshift: false,
        has_snowflake: true,
        has_exasol: false,
        has_teradata: false,
        has_bigquery: false,
        default_backend: "snowflake".into(),
        has_try_mode_on: "0".into(),
        limits: crate::manage::project_limits(details),
        metrics: named_values(&[("storage.dataSizeBytes", bytes as i64), ("storage.rowsCount", rows as i64)]),
        is_disabled: false,
        billed_monthly_price: None,
        data_retention_time_in_days: details.map_or(7, |d| d.data_retention_days),
        assigned_backends: vec!["snowflake".into()],
        file_storage_provider: "azure".into(),
    }
}

async fn verify(State(state): State<AppState>, auth: Auth) -> Json<Token> {
    Json(token_json(&state, &auth.token, Some(&auth.secret)))
}

/// A token a service keeps to act in the project on its own (a schedule, an orchestration, a
/// Stream sink): it manages buckets and reads every file upload, may create jobs when
/// `can_create_jobs`, and records the caller as its creator. Returns its id and secret.
pub fn create_service_token(state: &AppState, auth: &Auth, description: &str, can_create_jobs: bool) -> ApiResult<(i64, String)> {
    let now = now_iso();
    let token = TokenRecord {
        id: 0,
        project_id: auth.project_id,
        description: description.to_string(),
        is_master: false,
        can_manage_buckets: true,
        can_manage_tokens: false,
        can_read_all_file_uploads: true,
        can_purge_trash: false,
        can_create_jobs,
        can_manage_protected_default_branch: false,
        bucket_permissions: Map::new(),
        component_access: None,
        expires: None,
        created: now.clone(),
        refreshed: now,
        creator_token_id: Some(auth.token.id),
        creator_description: Some(auth.token.description.clone()),
    };
    Ok(state.meta.insert_token(&token, &|id| new_token_secret(auth.project_id, id))?)
}

pub fn load_token(state: &AppState, project_id: i64, id: &str) -> ApiResult<TokenRecord> {
    let not_found = || ApiError::new(Code::TokenNotFound, format!("Token {id} not found"));
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::validation(format!("Argument \"id\" is expected to be type \"int\", value \"{id}\" given.")))?;
    state.meta.token(id)?.filter(|t| t.project_id == project_id).ok_or_else(not_found)
}

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Token>>> {
    auth.require_manage_tokens()?;
    let tokens = state.meta.project_tokens(auth.project_id)?;
    Ok(Json(tokens.iter().map(|t| token_json(&state, t, None)).collect()))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Token>> {
    let token = load_token(&state, auth.project_id, &id)?;
    if token.id != auth.token.id {
        auth.require_manage_tokens()?;
    }
    Ok(Json(token_json(&state, &token, None)))
}

/// Keboola's rule for changing tokens: a token never hands out, or takes control of, more than it
/// has itself. The master token is changed only by itself (the project's admin).
fn ensure_within(auth: &Auth, target: &TokenRecord) -> ApiResult<()> {
    if auth.token.is_master {
        return Ok(());
    }
    if target.is_master {
        return Err(ApiError::denied("The master token can be changed only by itself or by the project's administrators."));
    }
    let me = &auth.token;
    for (name, wanted, has) in [
        ("canManageBuckets", target.can_manage_buckets, me.can_manage_buckets),
        ("canManageTokens", target.can_manage_tokens, me.can_manage_tokens),
        ("canReadAllFileUploads", target.can_read_all_file_uploads, me.can_read_all_file_uploads),
        ("canPurgeTrash", target.can_purge_trash, me.can_purge_trash),
        ("canCreateJobs", target.can_create_jobs, me.can_create_jobs),
        ("canManageProtectedDefaultBranch", target.can_manage_protected_default_branch, me.can_manage_protected_default_branch),
    ] {
        if wanted && !has {
            return Err(ApiError::denied(format!("You cannot grant \"{name}\": your token does not have it.")));
        }
    }
    for (bucket, level) in &target.bucket_permissions {
        let wanted = match level.as_str() {
            Some("read") => Need::Read,
            Some("write") => Need::Write,
            _ => Need::Manage,
        };
        if auth.bucket_level(bucket).is_none_or(|has| has < wanted) {
            return Err(ApiError::denied(format!(
                "You cannot grant \"{}\" on the bucket \"{bucket}\": your token does not have it.",
                level.as_str().unwrap_or("manage")
            )));
        }
    }
    for component in target.component_access.iter().flatten() {
        if !auth.can_access_component(component) {
            return Err(ApiError::denied(format!("You cannot grant access to the component \"{component}\": your token does not have it.")));
        }
    }
    Ok(())
}

/// Another token may be changed (refreshed, updated, deleted) only with manage rights and only
/// when it has no more rights than the caller; a token may always refresh itself.
fn ensure_may_change(auth: &Auth, target: &TokenRecord) -> ApiResult<()> {
    if target.id == auth.token.id {
        return Ok(());
    }
    auth.require_manage_tokens()?;
    ensure_within(auth, target)
}

/// `bucketPermissions` as sent: an object `{bucketId: read|write}` (JSON or `bucketPermissions[in.c-x]=read`).
/// Each bucket must exist in the project's branch (also for tokens made through `/manage`).
pub fn parse_bucket_permissions(state: &AppState, project_id: i64, branch_id: i64, p: &Params) -> ApiResult<Option<Map<String, Value>>> {
    let Some(v) = p.get("bucketPermissions") else { return Ok(None) };
    let map = match v {
        Value::Object(m) => m.clone(),
        Value::Array(a) if a.is_empty() => Map::new(),
        _ => return Err(ApiError::validation("Invalid request:\n - bucketPermissions: This value should be an object.")),
    };
    for (bucket, level) in &map {
        match level.as_str() {
            Some("read") | Some("write") => {}
            _ => {
                return Err(ApiError::new(
                    Code::InvalidPermissions,
                    format!("Invalid permission \"{}\" for bucket \"{bucket}\". Allowed: read, write.", level),
                ));
            }
        }
        buckets::load_bucket(state, project_id, branch_id, bucket)?;
    }
    Ok(Some(map))
}

/// 9999-12-31T23:59:59Z, the last expiration a token can have.
const LAST_EXPIRATION: i64 = 253_402_300_799;

/// `expiresIn` (seconds from now) as the Unix time the token expires.
pub fn expires_from(p: &Params) -> ApiResult<Option<i64>> {
    Ok(match p.int("expiresIn")? {
        Some(s) if s <= 0 => return Err(ApiError::validation("Invalid request:\n - expiresIn: must be a positive number of seconds.")),
        // An expiration must be a date the wire format can show (`expires` is ISO 8601 with a
        // four-digit year); beyond that it used to read back as `null`, a token that never expires.
        Some(s) => Some(
            chrono::Utc::now()
                .timestamp()
                .checked_add(s)
                .filter(|at| *at <= LAST_EXPIRATION)
                .ok_or_else(|| ApiError::validation("Invalid request:\n - expiresIn: the expiration is too far in the future."))?,
        ),
        None => None,
    })
}

async fn create(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<(StatusCode, Json<Token>)> {
    auth.require_manage_tokens()?;
    let perms = parse_bucket_permissions(&state, auth.project_id, auth.branch_id, &p)?.unwrap_or_default();
    let description = p.str("description").unwrap_or_else(|| format!("Created by {}", auth.token.description));
    let expires = expires_from(&p)?;
    let component_access = if p.has("componentAccess") { Some(p.list("componentAccess")) } else { None };
    let flags = [
        p.flag("canManageBuckets")?,
        p.flag("canReadAllFileUploads")?,
        p.flag("canPurgeTrash")?,
        p.flag("canManageProtectedDefaultBranch")?,
        p.flag("canCreateJobs")?,
        p.flag("canManageTokens")?,
    ];
    let now = now_iso();
    let [can_manage_buckets, can_read_all_file_uploads, can_purge_trash, can_manage_protected_default_branch, can_create_jobs, can_manage_tokens] =
        flags;
    let wanted = TokenRecord {
        id: 0,
        project_id: auth.project_id,
        description,
        is_master: false,
        can_manage_buckets,
        can_manage_tokens,
        can_read_all_file_uploads,
        can_purge_trash,
        can_create_jobs,
        can_manage_protected_default_branch,
        bucket_permissions: perms,
        component_access,
        expires,
        created: now.clone(),
        refreshed: now,
        creator_token_id: Some(auth.token.id),
        creator_description: Some(auth.token.description.clone()),
    };
    ensure_within(&auth, &wanted)?;
    let (id, secret) = state.meta.insert_token(&wanted, &|id| new_token_secret(auth.project_id, id))?;
    let token = load_token(&state, auth.project_id, &id.to_string())?;
    Ok((StatusCode::CREATED, Json(token_json(&state, &token, Some(&secret)))))
}

async fn update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Token>> {
    auth.require_manage_tokens()?;
    let token = load_token(&state, auth.project_id, &id)?;
    let perms = parse_bucket_permissions(&state, auth.project_id, auth.branch_id, &p)?;
    let mut wanted = token.clone();
    if let Some(d) = p.str("description") {
        wanted.description = d;
    }
    if let Some(perms) = perms {
        wanted.bucket_permissions = perms;
    }
    if p.has("componentAccess") {
        wanted.component_access = Some(p.list("componentAccess"));
    }
    for (key, flag) in [
        ("canReadAllFileUploads", &mut wanted.can_read_all_file_uploads),
        ("canPurgeTrash", &mut wanted.can_purge_trash),
        ("canManageProtectedDefaultBranch", &mut wanted.can_manage_protected_default_branch),
        ("canCreateJobs", &mut wanted.can_create_jobs),
    ] {
        if let Some(v) = p.bool(key)? {
            *flag = v;
        }
    }
    // Both what the token has and what it would have must be within the caller's rights.
    ensure_within(&auth, &token)?;
    ensure_within(&auth, &wanted)?;
    state.meta.update_token(&wanted)?;
    Ok(Json(token_json(&state, &load_token(&state, auth.project_id, &id)?, None)))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let token = load_token(&state, auth.project_id, &id)?;
    // The right first: a token that may not delete tokens learns nothing about the target.
    ensure_may_change(&auth, &token)?;
    if token.is_master {
        return Err(ApiError::validation("Master token cannot be deleted."));
    }
    state.meta.delete_token(token.id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn refresh(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Token>> {
    let token = load_token(&state, auth.project_id, &id)?;
    ensure_may_change(&auth, &token)?;
    let secret = new_token_secret(auth.project_id, token.id);
    state.meta.set_token_hash(token.id, &hash_token(&secret), &now_iso())?;
    Ok(Json(token_json(&state, &load_token(&state, auth.project_id, &id)?, Some(&secret))))
}
