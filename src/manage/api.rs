//! The `/manage` routes and the handlers for tokens, maintainers, organizations, users and the
//! feature catalogue (projects and people are in `projects.rs` and `members.rs`). Errors use the
//! Storage API's envelope: the Management API is part of the same application.
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::auth::{ManageAuth, SuperAdmin, new_manage_secret};
use super::wire::{FeatureJson, IdName, MaintainerJson, MemberJson, OrganizationJson, ProjectRef, TokenVerification, UserJson};
use super::{members, not_found, projects, user_json};
use crate::app::AppState;
use crate::http::routes::{delete, get, post};
use crate::http::{ApiError, ApiResult, Params, Query, Routes, iso, now_iso};
use crate::meta::manage::{ManageStore, ManageToken, ManageTokenKind};
use crate::meta::organizations::{Maintainer, MemberOf, Organization, OrganizationStore};
use crate::meta::project_admin::{Feature, ProjectAdminStore};

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/manage/tokens/verify", get(verify))
        .route("/manage/tokens", get(list_tokens).post(create_token))
        .route("/manage/tokens/{id}", delete(delete_token))
        .route("/manage/maintainers", get(list_maintainers).post(create_maintainer))
        .route("/manage/maintainers/{id}", get(maintainer_detail).patch(update_maintainer).delete(delete_maintainer))
        .route("/manage/maintainers/{id}/organizations", get(maintainer_organizations).post(create_organization))
        .route("/manage/maintainers/{id}/users", get(maintainer_users).post(add_maintainer_user))
        .route("/manage/maintainers/{id}/users/{user}", delete(remove_maintainer_user))
        .route("/manage/organizations", get(list_organizations))
        .route("/manage/organizations/{id}", get(organization_detail).patch(update_organization).delete(delete_organization))
        .route("/manage/organizations/{id}/projects", get(projects::list_of_organization).post(projects::create))
        .route("/manage/organizations/{id}/users", get(organization_users).post(add_organization_user))
        .route("/manage/organizations/{id}/users/{user}", delete(remove_organization_user))
        .route("/manage/projects/{id}", get(projects::detail).put(projects::update).delete(projects::delete))
        .route("/manage/projects/{id}/organizations", post(projects::change_organization))
        .route("/manage/projects/{id}/limits", post(projects::set_limits))
        .route("/manage/projects/{id}/limits/{name}", delete(projects::remove_limit))
        .route("/manage/projects/{id}/features", get(projects::list_features).post(projects::add_feature))
        .route("/manage/projects/{id}/features/{feature}", delete(projects::remove_feature))
        .route("/manage/projects/{id}/tokens", post(projects::create_storage_token))
        .route("/manage/projects/{id}/credits", post(projects::give_credits))
        .route("/manage/projects/{id}/users", get(members::project_users).post(members::add_project_user))
        .route("/manage/projects/{id}/users/{user}", delete(members::remove_project_user).patch(members::update_project_user))
        .route("/manage/projects/{id}/invitations", get(members::project_invitations).post(members::invite))
        .route("/manage/projects/{id}/invitations/{invitation}", get(members::project_invitation_detail).delete(members::cancel_invitation))
        .route("/manage/deleted-projects", get(projects::deleted_list))
        .route("/manage/deleted-projects/{id}", get(projects::deleted_detail).delete(projects::undelete))
        .route("/manage/deleted-projects/{id}/purge", post(projects::purge))
        .route("/manage/current-user/projects-invitations", get(members::my_invitations))
        .route(
            "/manage/current-user/projects-invitations/{id}",
            get(members::my_invitation_detail).put(members::accept_invitation).delete(members::decline_invitation),
        )
        .route("/manage/users/{user}", get(user_detail).put(update_user).delete(delete_user))
        .route("/manage/users/{user}/features", post(add_user_feature))
        .route("/manage/users/{user}/features/{feature}", delete(remove_user_feature))
        .route("/manage/users/{user}/projects", get(user_projects))
        .route("/manage/features", get(list_features).post(create_feature))
        .route("/manage/features/{id}", get(feature_detail).patch(update_feature).delete(delete_feature))
        .route("/manage/features/{id}/projects", get(feature_projects))
        .map_router(|r| r.layer(axum::middleware::from_fn(crate::http::rejections::json_envelope)))
}

fn ts(unix: Option<i64>) -> Option<String> {
    unix.and_then(|e| chrono::DateTime::from_timestamp(e, 0)).map(iso)
}

fn token_json(state: &AppState, t: &ManageToken, secret: Option<String>) -> ApiResult<TokenVerification> {
    let user = match t.user_id {
        Some(id) => state.meta.user(id)?,
        None => None,
    };
    Ok(TokenVerification {
        id: t.id,
        description: t.description.clone(),
        created: t.created.clone(),
        last_used: t.last_used.clone(),
        expires: ts(t.expires),
        is_session_token: t.is_session,
        is_expired: t.is_expired(),
        is_disabled: false,
        scopes: t.scopes.clone(),
        kind: t.kind.as_str().into(),
        creator: user.as_ref().map(|u| IdName { id: u.id, name: u.name.clone() }),
        user: user.as_ref().map(user_json),
        token: secret,
    })
}

async fn verify(State(state): State<AppState>, auth: ManageAuth) -> ApiResult<Json<TokenVerification>> {
    Ok(Json(token_json(&state, &auth.token, None)?))
}

/// The tokens the caller may manage: a user's own, or (super admin) the super tokens too.
async fn list_tokens(State(state): State<AppState>, auth: ManageAuth) -> ApiResult<Json<Vec<TokenVerification>>> {
    let mut tokens = match auth.user_id() {
        Some(uid) => state.meta.manage_tokens(Some(uid))?,
        None => Vec::new(),
    };
    if auth.is_super() {
        tokens.extend(state.meta.manage_tokens(None)?);
    }
    Ok(Json(tokens.iter().map(|t| token_json(&state, t, None)).collect::<ApiResult<_>>()?))
}

/// `POST /manage/tokens` `{description, scopes?, expiresIn?, userEmail?|type: "super"}`: a
/// personal access token for oneself, or (super admin) for another user or a super token. The
/// secret is answered once. (Keboola makes these in its UI; kbstack has no UI.)
async fn create_token(State(state): State<AppState>, auth: ManageAuth, p: Params) -> ApiResult<(StatusCode, Json<TokenVerification>)> {
    let description = p.str("description").filter(|d| !d.trim().is_empty()).ok_or_else(|| ApiError::validation("description must be set."))?;
    let kind = match p.str("type").as_deref() {
        None | Some("admin") => ManageTokenKind::Admin,
        Some("super") => ManageTokenKind::Super,
        Some(other) => return Err(ApiError::validation(format!("Invalid token type \"{other}\". Allowed: admin, super."))),
    };
    let user_id = match (kind, p.str("userEmail")) {
        (ManageTokenKind::Super, _) => {
            auth.require_super()?;
            None
        }
        // A super admin may make a token for anyone, a new person too (kbstack has no sign-up).
        (ManageTokenKind::Admin, Some(email)) if auth.is_super() => Some(super::user_for_email(&state, &email)?.id),
        (ManageTokenKind::Admin, Some(email)) => {
            let user = super::find_user(&state, &email).map_err(|_| ApiError::denied("Only a super admin can make tokens for other users."))?;
            if Some(user.id) != auth.user_id() {
                return Err(ApiError::denied("Only a super admin can make tokens for other users."));
            }
            Some(user.id)
        }
        (ManageTokenKind::Admin, None) => Some(auth.user_id().ok_or_else(|| ApiError::validation("A super token must name the user (userEmail)."))?),
    };
    let token = ManageToken {
        id: 0,
        description,
        user_id,
        kind,
        scopes: p.list("scopes"),
        created: now_iso(),
        expires: crate::storage::tokens::expires_from(&p)?,
        last_used: None,
        is_session: false,
    };
    let (id, secret) = state.meta.insert_manage_token(&token, &new_manage_secret)?;
    let created = state.meta.manage_token(id)?.ok_or_else(|| not_found("Token", id))?;
    Ok((StatusCode::CREATED, Json(token_json(&state, &created, Some(secret))?)))
}

async fn delete_token(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let token = id.parse().ok().and_then(|id| state.meta.manage_token(id).ok().flatten()).ok_or_else(|| not_found("Token", &id))?;
    if token.user_id.is_none() || token.user_id != auth.user_id() {
        auth.require_super().map_err(|_| not_found("Token", &id))?;
    }
    state.meta.delete_manage_token(token.id)?;
    Ok(StatusCode::NO_CONTENT)
}

fn email_of(p: &Params) -> ApiResult<String> {
    p.str("email").ok_or_else(|| ApiError::validation("email must be set."))
}

// ---- maintainers

fn maintainer_json(m: &Maintainer) -> MaintainerJson {
    MaintainerJson {
        id: m.id,
        name: m.name.clone(),
        created: m.created.clone(),
        default_connection_mysql_id: None,
        default_connection_redshift_id: None,
        default_connection_snowflake_id: None,
        default_connection_synapse_id: None,
        default_connection_exasol_id: None,
        default_connection_teradata_id: None,
        default_file_storage_id: None,
        zendesk_url: m.zendesk_url.clone(),
    }
}

fn administered_maintainer(state: &AppState, auth: &ManageAuth, raw: &str) -> ApiResult<Maintainer> {
    let m = raw.parse().ok().and_then(|id| state.meta.maintainer(id).ok().flatten()).ok_or_else(|| not_found("Maintainer", raw))?;
    if !auth.can_admin_maintainer(state, m.id)? {
        return Err(not_found("Maintainer", raw));
    }
    Ok(m)
}

async fn list_maintainers(State(state): State<AppState>, auth: ManageAuth) -> ApiResult<Json<Vec<MaintainerJson>>> {
    let mut out = Vec::new();
    for m in state.meta.maintainers()? {
        if auth.can_admin_maintainer(&state, m.id)? {
            out.push(maintainer_json(&m));
        }
    }
    Ok(Json(out))
}

async fn create_maintainer(State(state): State<AppState>, SuperAdmin(auth): SuperAdmin, p: Params) -> ApiResult<(StatusCode, Json<MaintainerJson>)> {
    let name = p.str("name").filter(|n| !n.trim().is_empty()).ok_or_else(|| ApiError::validation("name must be set."))?;
    let mut m = Maintainer { id: 0, name, created: now_iso(), zendesk_url: p.str("zendeskUrl") };
    m.id = state.meta.insert_maintainer(&m)?;
    if let Some(u) = &auth.user {
        members::add_member(&state, &auth, MemberOf::Maintainer(m.id), &u.email)?;
    }
    Ok((StatusCode::CREATED, Json(maintainer_json(&m))))
}

async fn maintainer_detail(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<MaintainerJson>> {
    Ok(Json(maintainer_json(&administered_maintainer(&state, &auth, &id)?)))
}

async fn update_maintainer(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<Json<MaintainerJson>> {
    let mut m = administered_maintainer(&state, &auth, &id)?;
    if let Some(name) = p.str("name").filter(|n| !n.trim().is_empty()) {
        m.name = name;
    }
    if let Some(url) = p.str("zendeskUrl") {
        m.zendesk_url = Some(url);
    }
    state.meta.update_maintainer(&m)?;
    Ok(Json(maintainer_json(&m)))
}

async fn delete_maintainer(State(state): State<AppState>, SuperAdmin(auth): SuperAdmin, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let m = administered_maintainer(&state, &auth, &id)?;
    if !state.meta.organizations(Some(m.id))?.is_empty() {
        return Err(ApiError::validation(format!("Maintainer {} has organizations; delete or move them first.", m.id)));
    }
    state.meta.delete_maintainer(m.id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn maintainer_users(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<Vec<MemberJson>>> {
    let m = administered_maintainer(&state, &auth, &id)?;
    Ok(Json(members::list_members(&state, MemberOf::Maintainer(m.id))?))
}

async fn add_maintainer_user(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<StatusCode> {
    let m = administered_maintainer(&state, &auth, &id)?;
    members::add_member(&state, &auth, MemberOf::Maintainer(m.id), &email_of(&p)?)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_maintainer_user(State(state): State<AppState>, auth: ManageAuth, Path((id, user)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let m = administered_maintainer(&state, &auth, &id)?;
    let user = super::find_user(&state, &user)?;
    if !state.meta.remove_member(MemberOf::Maintainer(m.id), user.id)? {
        return Err(not_found("Maintainer member", user.id));
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- organizations

fn organization_json(state: &AppState, o: &Organization, with_projects: bool) -> ApiResult<OrganizationJson> {
    let maintainer = state.meta.maintainer(o.maintainer_id)?.map(|m| m.name).unwrap_or_default();
    let projects = if with_projects {
        Some(state.meta.project_list(Some(o.id), false)?.into_iter().map(|p| ProjectRef { id: p.id, name: p.name, created: p.created }).collect())
    } else {
        None
    };
    Ok(OrganizationJson {
        id: o.id,
        name: o.name.clone(),
        created: o.created.clone(),
        allow_auto_join: o.allow_auto_join,
        crm_id: o.crm_id.clone(),
        activity_center_project_id: None,
        mfa_required: o.mfa_required,
        maintainer: IdName { id: o.maintainer_id, name: maintainer },
        projects,
    })
}

/// An organization the token administers; others are not found.
pub(super) fn administered_organization(state: &AppState, auth: &ManageAuth, raw: &str) -> ApiResult<Organization> {
    let o = raw.parse().ok().and_then(|id| state.meta.organization(id).ok().flatten()).ok_or_else(|| not_found("Organization", raw))?;
    if !auth.can_admin_organization(state, o.id)? {
        return Err(not_found("Organization", raw));
    }
    Ok(o)
}

async fn list_organizations(State(state): State<AppState>, auth: ManageAuth) -> ApiResult<Json<Vec<OrganizationJson>>> {
    let mut out = Vec::new();
    for o in state.meta.organizations(None)? {
        if auth.can_admin_organization(&state, o.id)? {
            out.push(organization_json(&state, &o, false)?);
        }
    }
    Ok(Json(out))
}

async fn maintainer_organizations(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<Vec<OrganizationJson>>> {
    let m = administered_maintainer(&state, &auth, &id)?;
    let list = state.meta.organizations(Some(m.id))?;
    Ok(Json(list.iter().map(|o| organization_json(&state, o, false)).collect::<ApiResult<_>>()?))
}

async fn create_organization(
    State(state): State<AppState>,
    auth: ManageAuth,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<(StatusCode, Json<OrganizationJson>)> {
    let m = administered_maintainer(&state, &auth, &id)?;
    let name = p.str("name").filter(|n| !n.trim().is_empty()).ok_or_else(|| ApiError::validation("name must be set."))?;
    let mut o = Organization {
        id: 0,
        maintainer_id: m.id,
        name,
        crm_id: p.str("crmId").unwrap_or_default(),
        allow_auto_join: p.bool("allowAutoJoin")?.unwrap_or(true),
        mfa_required: false,
        created: now_iso(),
    };
    o.id = state.meta.insert_organization(&o)?;
    if let Some(u) = &auth.user {
        members::add_member(&state, &auth, MemberOf::Organization(o.id), &u.email)?;
    }
    Ok((StatusCode::CREATED, Json(organization_json(&state, &o, true)?)))
}

async fn organization_detail(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<OrganizationJson>> {
    let o = administered_organization(&state, &auth, &id)?;
    Ok(Json(organization_json(&state, &o, true)?))
}

async fn update_organization(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<Json<OrganizationJson>> {
    let mut o = administered_organization(&state, &auth, &id)?;
    if let Some(name) = p.str("name").filter(|n| !n.trim().is_empty()) {
        o.name = name;
    }
    if let Some(crm) = p.str("crmId") {
        o.crm_id = crm;
    }
    if let Some(v) = p.bool("allowAutoJoin")? {
        o.allow_auto_join = v;
    }
    if let Some(m) = p.int("maintainerId")? {
        auth.require_super()?;
        state.meta.maintainer(m)?.ok_or_else(|| not_found("Maintainer", m))?;
        o.maintainer_id = m;
    }
    state.meta.update_organization(&o)?;
    Ok(Json(organization_json(&state, &o, true)?))
}

async fn delete_organization(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let o = administered_organization(&state, &auth, &id)?;
    if !state.meta.project_list(Some(o.id), false)?.is_empty() {
        return Err(ApiError::validation(format!("Organization {} has projects; delete them first.", o.id)));
    }
    state.meta.delete_organization(o.id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn organization_users(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<Vec<MemberJson>>> {
    let o = administered_organization(&state, &auth, &id)?;
    Ok(Json(members::list_members(&state, MemberOf::Organization(o.id))?))
}

async fn add_organization_user(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<StatusCode> {
    let o = administered_organization(&state, &auth, &id)?;
    members::add_member(&state, &auth, MemberOf::Organization(o.id), &email_of(&p)?)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_organization_user(State(state): State<AppState>, auth: ManageAuth, Path((id, user)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let o = administered_organization(&state, &auth, &id)?;
    let user = super::find_user(&state, &user)?;
    if !state.meta.remove_member(MemberOf::Organization(o.id), user.id)? {
        return Err(not_found("Organization member", user.id));
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- users (super admins; anyone may read themselves)

fn visible_user(state: &AppState, auth: &ManageAuth, raw: &str) -> ApiResult<crate::meta::manage::User> {
    let user = super::find_user(state, raw)?;
    if !auth.is_super() && auth.user_id() != Some(user.id) {
        return Err(not_found("User", raw));
    }
    Ok(user)
}

async fn user_detail(State(state): State<AppState>, auth: ManageAuth, Path(user): Path<String>) -> ApiResult<Json<UserJson>> {
    Ok(Json(user_json(&visible_user(&state, &auth, &user)?)))
}

async fn update_user(State(state): State<AppState>, auth: ManageAuth, Path(user): Path<String>, p: Params) -> ApiResult<Json<UserJson>> {
    let mut u = visible_user(&state, &auth, &user)?;
    if let Some(name) = p.str("name").filter(|n| !n.trim().is_empty()) {
        u.name = name;
    }
    if let Some(v) = p.bool("canAccessLogs")? {
        auth.require_super()?;
        u.can_access_logs = v;
    }
    state.meta.update_user(&u)?;
    Ok(Json(user_json(&u)))
}

async fn delete_user(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path(user): Path<String>) -> ApiResult<StatusCode> {
    let u = super::find_user(&state, &user)?;
    state.meta.delete_user(u.id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_user_feature(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path(user): Path<String>, p: Params) -> ApiResult<Json<UserJson>> {
    let mut u = super::find_user(&state, &user)?;
    let name = projects::catalogue_feature(&state, &p, "admin")?;
    if !u.features.contains(&name) {
        u.features.push(name);
        state.meta.update_user(&u)?;
    }
    Ok(Json(user_json(&u)))
}

async fn remove_user_feature(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path((user, feature)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let mut u = super::find_user(&state, &user)?;
    if !u.features.contains(&feature) {
        return Err(not_found("Feature", &feature));
    }
    u.features.retain(|f| f != &feature);
    state.meta.update_user(&u)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn user_projects(State(state): State<AppState>, auth: ManageAuth, Path(user): Path<String>) -> ApiResult<Json<Vec<ProjectRef>>> {
    let u = visible_user(&state, &auth, &user)?;
    let mut out = Vec::new();
    for m in state.meta.memberships_of(u.id)? {
        if let MemberOf::Project(pid) = m.of
            && let Some(d) = state.meta.project_details(pid)?.filter(|d| !d.is_deleted())
        {
            out.push(ProjectRef { id: d.id, name: d.name, created: d.created });
        }
    }
    Ok(Json(out))
}

// ---- the feature catalogue

fn feature_json(f: &Feature) -> FeatureJson {
    FeatureJson {
        id: f.id,
        name: f.name.clone(),
        kind: f.kind.clone(),
        title: f.title.clone(),
        description: f.description.clone(),
        can_be_manage_by_admin: f.can_be_managed_by_admin,
        can_be_managed_via_api: f.can_be_managed_via_api,
        created: f.created.clone(),
    }
}

fn feature_of(state: &AppState, raw: &str) -> ApiResult<Feature> {
    let found = match raw.parse::<i64>() {
        Ok(id) => state.meta.feature(id)?,
        Err(_) => state.meta.feature_by_name(raw)?,
    };
    found.ok_or_else(|| not_found("Feature", raw))
}

#[derive(Deserialize)]
struct FeatureFilter {
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn list_features(State(state): State<AppState>, _auth: ManageAuth, Query(q): Query<FeatureFilter>) -> ApiResult<Json<Vec<FeatureJson>>> {
    if let Some(k) = q.kind.as_deref().filter(|k| !matches!(*k, "project" | "admin")) {
        return Err(ApiError::validation(format!("Invalid feature type \"{k}\". Allowed: project, admin.")));
    }
    Ok(Json(state.meta.features(q.kind.as_deref())?.iter().map(feature_json).collect()))
}

async fn create_feature(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, p: Params) -> ApiResult<(StatusCode, Json<FeatureJson>)> {
    let name = p.str("name").map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).ok_or_else(|| ApiError::validation("name must be set."))?;
    let kind = p.str("type").unwrap_or_default();
    if !matches!(kind.as_str(), "project" | "admin") {
        return Err(ApiError::validation(format!("Invalid feature type \"{kind}\". Allowed: project, admin.")));
    }
    let mut f = Feature {
        id: 0,
        name: name.clone(),
        kind,
        title: p.str("title").unwrap_or_else(|| name.clone()),
        description: p.str("description").unwrap_or_default(),
        can_be_managed_by_admin: p.bool("canBeManageByAdmin")?.unwrap_or(false),
        can_be_managed_via_api: p.bool("canBeManagedViaAPI")?.unwrap_or(true),
        created: now_iso(),
    };
    f.id = state.meta.insert_feature(&f)?.map_err(|_| ApiError::validation(format!("Feature \"{name}\" already exists.")))?;
    Ok((StatusCode::CREATED, Json(feature_json(&f))))
}

async fn feature_detail(State(state): State<AppState>, _auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<FeatureJson>> {
    Ok(Json(feature_json(&feature_of(&state, &id)?)))
}

async fn update_feature(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path(id): Path<String>, p: Params) -> ApiResult<Json<FeatureJson>> {
    let mut f = feature_of(&state, &id)?;
    if let Some(t) = p.str("title") {
        f.title = t;
    }
    if let Some(d) = p.str("description") {
        f.description = d;
    }
    if let Some(v) = p.bool("canBeManageByAdmin")? {
        f.can_be_managed_by_admin = v;
    }
    if let Some(v) = p.bool("canBeManagedViaAPI")? {
        f.can_be_managed_via_api = v;
    }
    state.meta.update_feature(&f)?;
    Ok(Json(feature_json(&f)))
}

async fn delete_feature(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let f = feature_of(&state, &id)?;
    state.meta.delete_feature(f.id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn feature_projects(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path(id): Path<String>) -> ApiResult<Json<Vec<ProjectRef>>> {
    let f = feature_of(&state, &id)?;
    let list = state.meta.project_list(None, false)?;
    Ok(Json(
        list.into_iter().filter(|p| p.features.contains(&f.name)).map(|p| ProjectRef { id: p.id, name: p.name, created: p.created }).collect(),
    ))
}
