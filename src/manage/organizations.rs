//! Maintainers and organizations with their members (`/manage/maintainers…`,
//! `/manage/organizations…`): only their administrators and super admins see them.
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::auth::{ManageAuth, SuperAdmin};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Params, now_iso};
use super::members;
use super::not_found;
use super::wire::{IdName, MaintainerJson, MemberJson, OrganizationJson, ProjectRef};
use crate::meta::organizations::{Maintainer, MemberOf, Organization};

pub(super) fn email_of(p: &Params) -> ApiResult<String> {
    p.str("email").ok_or_else(|| ApiError::validation("email must be set."))
}

pub(super) fn maintainer_json(m: &Maintainer) -> MaintainerJson {
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

pub(super) fn administered_maintainer(state: &AppState, auth: &ManageAuth, raw: &str) -> ApiResult<Maintainer> {
    let m = raw.parse().ok().and_then(|id| state.meta.maintainer(id).ok().flatten()).ok_or_else(|| not_found("Maintainer", raw))?;
    if !auth.can_admin_maintainer(state, m.id)? {
        return Err(not_found("Maintainer", raw));
    }
    Ok(m)
}

pub(super) async fn list_maintainers(State(state): State<AppState>, auth: ManageAuth) -> ApiResult<Json<Vec<MaintainerJson>>> {
    let mut out = Vec::new();
    for m in state.meta.maintainers()? {
        if auth.can_admin_maintainer(&state, m.id)? {
            out.push(maintainer_json(&m));
        }
    }
    Ok(Json(out))
}

pub(super) async fn create_maintainer(State(state): State<AppState>, SuperAdmin(auth): SuperAdmin, p: Params) -> ApiResult<(StatusCode, Json<MaintainerJson>)> {
    let name = p.str("name").filter(|n| !n.trim().is_empty()).ok_or_else(|| ApiError::validation("name must be set."))?;
    let mut m = Maintainer { id: 0, name, created: now_iso(), zendesk_url: p.str("zendeskUrl") };
    m.id = state.meta.insert_maintainer(&m)?;
    if let Some(u) = &auth.user {
        members::add_member(&state, &auth, MemberOf::Maintainer(m.id), &u.email)?;
    }
    Ok((StatusCode::CREATED, Json(maintainer_json(&m))))
}

pub(super) async fn maintainer_detail(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<MaintainerJson>> {
    Ok(Json(maintainer_json(&administered_maintainer(&state, &auth, &id)?)))
}

pub(super) async fn update_maintainer(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<Json<MaintainerJson>> {
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

pub(super) async fn delete_maintainer(State(state): State<AppState>, SuperAdmin(auth): SuperAdmin, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let m = administered_maintainer(&state, &auth, &id)?;
    if !state.meta.organizations(Some(m.id))?.is_empty() {
        return Err(ApiError::validation(format!("Maintainer {} has organizations; delete or move them first.", m.id)));
    }
    state.meta.delete_maintainer(m.id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn maintainer_users(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<Vec<MemberJson>>> {
    let m = administered_maintainer(&state, &auth, &id)?;
    Ok(Json(members::list_members(&state, MemberOf::Maintainer(m.id))?))
}

pub(super) async fn add_maintainer_user(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<StatusCode> {
    let m = administered_maintainer(&state, &auth, &id)?;
    members::add_member(&state, &auth, MemberOf::Maintainer(m.id), &email_of(&p)?)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn remove_maintainer_user(State(state): State<AppState>, auth: ManageAuth, Path((id, user)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let m = administered_maintainer(&state, &auth, &id)?;
    let user = super::find_user(&state, &user)?;
    if !state.meta.remove_member(MemberOf::Maintainer(m.id), user.id)? {
        return Err(not_found("Maintainer member", user.id));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn organization_json(state: &AppState, o: &Organization, with_projects: bool) -> ApiResult<OrganizationJson> {
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

pub(super) async fn list_organizations(State(state): State<AppState>, auth: ManageAuth) -> ApiResult<Json<Vec<OrganizationJson>>> {
    let mut out = Vec::new();
    for o in state.meta.organizations(None)? {
        if auth.can_admin_organization(&state, o.id)? {
            out.push(organization_json(&state, &o, false)?);
        }
    }
    Ok(Json(out))
}

pub(super) async fn maintainer_organizations(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<Vec<OrganizationJson>>> {
    let m = administered_maintainer(&state, &auth, &id)?;
    let list = state.meta.organizations(Some(m.id))?;
    Ok(Json(list.iter().map(|o| organization_json(&state, o, false)).collect::<ApiResult<_>>()?))
}

pub(super) async fn create_organization(
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

pub(super) async fn organization_detail(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<OrganizationJson>> {
    let o = administered_organization(&state, &auth, &id)?;
    Ok(Json(organization_json(&state, &o, true)?))
}

pub(super) async fn update_organization(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<Json<OrganizationJson>> {
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

pub(super) async fn delete_organization(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let o = administered_organization(&state, &auth, &id)?;
    if !state.meta.project_list(Some(o.id), false)?.is_empty() {
        return Err(ApiError::validation(format!("Organization {} has projects; delete them first.", o.id)));
    }
    state.meta.delete_organization(o.id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn organization_users(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<Vec<MemberJson>>> {
    let o = administered_organization(&state, &auth, &id)?;
    Ok(Json(members::list_members(&state, MemberOf::Organization(o.id))?))
}

pub(super) async fn add_organization_user(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<StatusCode> {
    let o = administered_organization(&state, &auth, &id)?;
    members::add_member(&state, &auth, MemberOf::Organization(o.id), &email_of(&p)?)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn remove_organization_user(State(state): State<AppState>, auth: ManageAuth, Path((id, user)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let o = administered_organization(&state, &auth, &id)?;
    let user = super::find_user(&state, &user)?;
    if !state.meta.remove_member(MemberOf::Organization(o.id), user.id)? {
        return Err(not_found("Organization member", user.id));
    }
    Ok(StatusCode::NO_CONTENT)
}

