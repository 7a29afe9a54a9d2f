//! Projects through the Management API: create in an organization, detail, update, move,
//! delete (into deleted projects), restore, purge, limits, features, Storage tokens and credits.
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::auth::{ManageAuth, SuperAdmin};
use super::wire::{CreditJson, ProjectJson};
use super::{live_project, not_found, project_json};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Params, now_iso};
use crate::meta::organizations::{MemberOf, Membership};
use crate::meta::project_admin::{CreditEntry, ProjectDetails};
use crate::storage::auth::{TokenRecord, new_token_secret};
use crate::storage::tokens::{expires_from, load_token, parse_bucket_permissions, token_json};
use crate::storage::wire::token::Token;

const PROJECT_TYPES: &[&str] = &["production", "demo", "poc", "poc6", "poc15", "trial"];

fn id_of(raw: &str, what: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| not_found(what, raw))
}

/// A live project the token may see, with the token's role in it.
fn visible_project(state: &AppState, auth: &ManageAuth, raw: &str) -> ApiResult<(ProjectDetails, String)> {
    let d = live_project(state, id_of(raw, "Project")?)?;
    // A project the token has nothing to do with is not found: its existence is not told.
    let role = auth.project_role(state, &d)?.ok_or_else(|| not_found("Project", &d.id))?;
    Ok((d, role))
}

/// A project the token may administer (organization admins and the project's admins).
pub(super) fn administered_project(state: &AppState, auth: &ManageAuth, raw: &str) -> ApiResult<ProjectDetails> {
    let (d, role) = visible_project(state, auth, raw)?;
    if role != "admin" {
        return Err(ApiError::denied("Only the project's administrators can do this."));
    }
    Ok(d)
}

pub async fn detail(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<ProjectJson>> {
    let (d, _) = visible_project(&state, &auth, &id)?;
    Ok(Json(project_json(&state, &d)?))
}

pub async fn list_of_organization(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<Vec<ProjectJson>>> {
    let org = super::organizations::administered_organization(&state, &auth, &id)?;
    let projects = state.meta.project_list(Some(org.id), false)?;
    Ok(Json(projects.iter().map(|d| project_json(&state, d)).collect::<ApiResult<_>>()?))
}

fn project_type(p: &Params) -> ApiResult<Option<String>> {
    match p.str("type") {
        Some(t) if PROJECT_TYPES.contains(&t.as_str()) => Ok(Some(t)),
        Some(t) => Err(ApiError::validation(format!("Invalid project type \"{t}\". Allowed: {}.", PROJECT_TYPES.join(", ")))),
        None => Ok(None),
    }
}

fn retention(p: &Params) -> ApiResult<Option<i64>> {
    match p.int("dataRetentionTimeInDays")? {
        Some(d) if !(0..=90).contains(&d) => Err(ApiError::validation("dataRetentionTimeInDays must be between 0 and 90.")),
        other => Ok(other),
    }
}

/// `POST /manage/organizations/{id}/projects`: the project with its default branch "Main" and a
/// master token for the creator. kbstack answers the master token's secret once, in
/// `masterToken` (Keboola gives an administrator their master token in the UI).
pub async fn create(
    State(state): State<AppState>,
    auth: ManageAuth,
    Path(org): Path<String>,
    p: Params,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let org = super::organizations::administered_organization(&state, &auth, &org)?;
    let name = p.str("name").map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).ok_or_else(|| ApiError::validation("Project name must be set."))?;
    let now = now_iso();
    let details = ProjectDetails {
        id: 0,
        name,
        created: now.clone(),
        organization_id: org.id,
        kind: project_type(&p)?.unwrap_or_else(|| "production".into()),
        description: p.str("description").unwrap_or_default(),
        expires: None,
        data_retention_days: retention(&p)?.unwrap_or(7),
        deleted_time: None,
        purged_time: None,
        features: Vec::new(),
        limits: Map::new(),
    };
    let id = state.meta.create_project(&details, "Main")?;
    let creator = auth.user.as_ref().map(|u| u.name.clone()).unwrap_or_else(|| auth.token.description.clone());
    let master = TokenRecord { can_manage_protected_default_branch: true, ..TokenRecord::master(id, &creator, &now) };
    let (token_id, secret) = state.meta.insert_token(&master, &|tid| new_token_secret(id, tid))?;
    if let Some(uid) = auth.user_id() {
        state.meta.set_member(&Membership {
            of: MemberOf::Project(id),
            user_id: uid,
            role: "admin".into(),
            created: now,
            expires: None,
            reason: String::new(),
            invitor_id: None,
        })?;
    }
    let d = live_project(&state, id)?;
    let mut body = serde_json::to_value(project_json(&state, &d)?).map_err(ApiError::internal)?;
    body["masterToken"] = json!({"id": token_id.to_string(), "token": secret});
    Ok((StatusCode::CREATED, Json(body)))
}

/// `PUT /manage/projects/{id}`: name, type, description, expiry and retention.
pub async fn update(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<Json<ProjectJson>> {
    let mut d = administered_project(&state, &auth, &id)?;
    if let Some(name) = p.str("name") {
        if name.trim().is_empty() {
            return Err(ApiError::validation("Project name must not be empty."));
        }
        d.name = name.trim().to_string();
    }
    if let Some(kind) = project_type(&p)? {
        auth.require_super()?;
        d.kind = kind;
    }
    if let Some(desc) = p.str("description") {
        d.description = desc;
    }
    if let Some(days) = retention(&p)? {
        d.data_retention_days = days;
    }
    if p.has("expirationDays") {
        auth.require_super()?;
        d.expires = match p.int("expirationDays")? {
            Some(days) if days > 0 => Some(crate::http::iso(chrono::Utc::now() + chrono::Duration::days(days))),
            _ => None,
        };
    }
    state.meta.update_project_details(&d)?;
    Ok(Json(project_json(&state, &d)?))
}

/// `POST /manage/projects/{id}/organizations`: move the project to another organization.
pub async fn change_organization(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<Json<ProjectJson>> {
    let mut d = administered_project(&state, &auth, &id)?;
    let target = p.int("organizationId")?.ok_or_else(|| ApiError::validation("organizationId must be set."))?;
    let org = super::organizations::administered_organization(&state, &auth, &target.to_string())?;
    d.organization_id = org.id;
    state.meta.update_project_details(&d)?;
    Ok(Json(project_json(&state, &d)?))
}

/// `DELETE /manage/projects/{id}`: into deleted projects; its tokens stop working.
pub async fn delete(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let mut d = administered_project(&state, &auth, &id)?;
    d.deleted_time = Some(now_iso());
    state.meta.update_project_details(&d)?;
    Ok(StatusCode::NO_CONTENT)
}

fn deleted_project(state: &AppState, raw: &str) -> ApiResult<ProjectDetails> {
    state.meta.project_details(id_of(raw, "Deleted project")?)?.filter(|d| d.is_deleted()).ok_or_else(|| not_found("Deleted project", raw))
}

pub async fn deleted_list(State(state): State<AppState>, _auth: SuperAdmin) -> ApiResult<Json<Vec<ProjectJson>>> {
    let projects = state.meta.project_list(None, true)?;
    Ok(Json(projects.iter().map(|d| project_json(&state, d)).collect::<ApiResult<_>>()?))
}

pub async fn deleted_detail(State(state): State<AppState>, _auth: SuperAdmin, Path(id): Path<String>) -> ApiResult<Json<ProjectJson>> {
    Ok(Json(project_json(&state, &deleted_project(&state, &id)?)?))
}

/// `DELETE /manage/deleted-projects/{id}`: restore (undelete) a project not yet purged.
pub async fn undelete(State(state): State<AppState>, _auth: SuperAdmin, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let mut d = deleted_project(&state, &id)?;
    if d.purged_time.is_some() {
        return Err(ApiError::validation(format!("Project {} is purged and cannot be restored.", d.id)));
    }
    d.deleted_time = None;
    state.meta.update_project_details(&d)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /manage/deleted-projects/{id}/purge`: the project's tables and files go (each through
/// Storage's own delete), then its tokens; the record stays as purged.
pub async fn purge(State(state): State<AppState>, _auth: SuperAdmin, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let d = deleted_project(&state, &id)?;
    if d.purged_time.is_none() {
        crate::storage::purge_project_data(&state, d.id)?;
        state.meta.purge_project(d.id, &now_iso())?;
    }
    Ok(Json(json!({"id": d.id, "isPurged": true})))
}

/// `POST /manage/projects/{id}/limits` `{limits: [{name, value}]}` (super admin).
pub async fn set_limits(State(state): State<AppState>, _auth: SuperAdmin, Path(id): Path<String>, p: Params) -> ApiResult<Json<ProjectJson>> {
    let mut d = live_project(&state, id_of(&id, "Project")?)?;
    let limits = p.get("limits").and_then(Value::as_array).ok_or_else(|| ApiError::validation("limits must be a list of {name, value}."))?;
    for l in limits {
        let name = l["name"].as_str().filter(|n| !n.is_empty()).ok_or_else(|| ApiError::validation("Every limit needs a name."))?;
        let value = l["value"]
            .as_f64()
            .or_else(|| l["value"].as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| ApiError::validation(format!("Limit \"{name}\" needs a numeric value.")))?;
        d.limits.insert(name.to_string(), json!({"name": name, "value": super::number(value)}));
    }
    state.meta.update_project_details(&d)?;
    Ok(Json(project_json(&state, &d)?))
}

pub async fn remove_limit(State(state): State<AppState>, _auth: SuperAdmin, Path((id, name)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let mut d = live_project(&state, id_of(&id, "Project")?)?;
    d.limits.remove(&name);
    state.meta.update_project_details(&d)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The feature named in the body, from the catalogue, of type `project` (or `admin` for users).
pub(super) fn catalogue_feature(state: &AppState, p: &Params, kind: &str) -> ApiResult<String> {
    let name = p.str("feature").filter(|f| !f.is_empty()).ok_or_else(|| ApiError::validation("feature must be set."))?;
    match state.meta.feature_by_name(&name)? {
        Some(f) if f.kind == kind => Ok(name),
        Some(f) => Err(ApiError::validation(format!("Feature \"{name}\" is of type \"{}\", not \"{kind}\".", f.kind))),
        None => Err(not_found("Feature", &name)),
    }
}

/// Whether the token may switch a project feature: super admins, and project admins for
/// features that allow it (`canBeManageByAdmin`).
fn may_switch_feature(state: &AppState, auth: &ManageAuth, name: &str) -> ApiResult<()> {
    if auth.is_super() || state.meta.feature_by_name(name)?.is_some_and(|f| f.can_be_managed_by_admin) {
        return Ok(());
    }
    Err(ApiError::denied(format!("Only a super admin can switch the feature \"{name}\".")))
}

pub async fn add_feature(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<Json<ProjectJson>> {
    let mut d = administered_project(&state, &auth, &id)?;
    let name = catalogue_feature(&state, &p, "project")?;
    may_switch_feature(&state, &auth, &name)?;
    if !d.features.contains(&name) {
        d.features.push(name);
        state.meta.update_project_details(&d)?;
    }
    Ok(Json(project_json(&state, &d)?))
}

pub async fn list_features(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<Vec<String>>> {
    let (d, _) = visible_project(&state, &auth, &id)?;
    Ok(Json(d.features))
}

pub async fn remove_feature(State(state): State<AppState>, auth: ManageAuth, Path((id, name)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let mut d = administered_project(&state, &auth, &id)?;
    may_switch_feature(&state, &auth, &name)?;
    if !d.features.contains(&name) {
        return Err(not_found("Feature", &name));
    }
    d.features.retain(|f| f != &name);
    state.meta.update_project_details(&d)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /manage/projects/{id}/tokens`: a Storage token of the project (never a master token).
pub async fn create_storage_token(
    State(state): State<AppState>,
    auth: ManageAuth,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<(StatusCode, Json<Token>)> {
    let d = administered_project(&state, &auth, &id)?;
    let description = p.str("description").filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::validation("description must be set."))?;
    let branch = state.meta.default_branch(d.id)?.ok_or_else(|| ApiError::internal(format!("project {} has no default branch", d.id)))?;
    let perms = parse_bucket_permissions(&state, d.id, branch, &p)?.unwrap_or_default();
    let now = now_iso();
    let creator = auth.user.as_ref().map(|u| u.name.clone()).unwrap_or_else(|| auth.token.description.clone());
    let record = TokenRecord {
        id: 0,
        project_id: d.id,
        description,
        is_master: false,
        can_manage_buckets: p.flag("canManageBuckets")?,
        can_manage_tokens: p.flag("canManageTokens")?,
        can_read_all_file_uploads: p.flag("canReadAllFileUploads")?,
        can_purge_trash: p.flag("canPurgeTrash")?,
        can_create_jobs: p.flag("canCreateJobs")?,
        can_manage_protected_default_branch: false,
        bucket_permissions: perms,
        component_access: if p.has("componentAccess") { Some(p.list("componentAccess")) } else { None },
        expires: expires_from(&p)?,
        created: now.clone(),
        refreshed: now,
        creator_token_id: None,
        creator_description: Some(creator),
    };
    let (tid, secret) = state.meta.insert_token(&record, &|tid| new_token_secret(d.id, tid))?;
    let token = load_token(&state, d.id, &tid.to_string())?;
    Ok((StatusCode::CREATED, Json(token_json(&state, &token, Some(&secret)))))
}

/// `POST /manage/projects/{id}/credits` `{amount, description}` (super admin).
pub async fn give_credits(State(state): State<AppState>, _auth: SuperAdmin, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<CreditJson>)> {
    let d = live_project(&state, id_of(&id, "Project")?)?;
    let amount = p
        .get("amount")
        .and_then(|v| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .filter(|a| a.is_finite() && *a != 0.0)
        .ok_or_else(|| ApiError::validation("amount must be a non-zero number."))?;
    let entry = CreditEntry { id: 0, project_id: d.id, amount, description: p.str("description").unwrap_or_default(), created: now_iso(), job_id: None };
    let (cid, _) = state.meta.add_credit(&entry)?;
    Ok((
        StatusCode::CREATED,
        Json(CreditJson { id: cid, credits_amount: amount, money_amount: None, id_stripe_invoice: None, description: entry.description, created: entry.created }),
    ))
}
