//! People in projects, organizations and maintainers: members with roles, invitations, and the
//! current user's invitations (accepting one makes them a member).
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::auth::ManageAuth;
use super::projects::administered_project;
use super::wire::{IdName, InvitationJson, MemberJson};
use super::{not_found, user_for_email, user_ref};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Params, iso, now_iso};
use crate::meta::organizations::{Invitation, MemberOf, Membership};

/// Keboola's project roles (notes: services.md §0 Permissions).
pub const PROJECT_ROLES: &[&str] = &["admin", "guest", "readOnly", "share", "developer", "reviewer", "productionManager"];

fn role(p: &Params) -> ApiResult<String> {
    let role = p.str("role").unwrap_or_else(|| "admin".into());
    if PROJECT_ROLES.contains(&role.as_str()) {
        Ok(role)
    } else {
        Err(ApiError::validation(format!("Invalid role \"{role}\". Allowed: {}.", PROJECT_ROLES.join(", "))))
    }
}

fn expires(p: &Params) -> ApiResult<Option<String>> {
    match p.int("expirationSeconds")? {
        Some(s) if s > 0 => Ok(Some(iso(chrono::Utc::now() + chrono::Duration::seconds(s)))),
        Some(_) => Err(ApiError::validation("expirationSeconds must be positive.")),
        None => Ok(None),
    }
}

fn member_json(state: &AppState, m: &Membership) -> ApiResult<Option<MemberJson>> {
    let Some(u) = state.meta.user(m.user_id)? else { return Ok(None) };
    Ok(Some(MemberJson {
        id: u.id,
        name: u.name,
        email: u.email,
        features: u.features,
        expires: m.expires.clone(),
        created: m.created.clone(),
        reason: m.reason.clone(),
        role: m.role.clone(),
        status: "active".into(),
        invitor: user_ref(state, m.invitor_id),
        approver: None,
    }))
}

fn members_json(state: &AppState, of: MemberOf) -> ApiResult<Vec<MemberJson>> {
    let mut out = Vec::new();
    for m in state.meta.members(of)? {
        out.extend(member_json(state, &m)?);
    }
    Ok(out)
}

pub async fn project_users(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<Vec<MemberJson>>> {
    let d = administered_project(&state, &auth, &id)?;
    Ok(Json(members_json(&state, MemberOf::Project(d.id))?))
}

/// `POST /manage/projects/{id}/users` `{email, role, expirationSeconds?, reason?}`: add at once.
pub async fn add_project_user(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<StatusCode> {
    let d = administered_project(&state, &auth, &id)?;
    let email = p.str("email").ok_or_else(|| ApiError::validation("email must be set."))?;
    let user = user_for_email(&state, &email)?;
    let of = MemberOf::Project(d.id);
    if state.meta.member(of, user.id)?.is_some() {
        return Err(ApiError::validation(format!("User {} is already a member of the project.", user.email)));
    }
    state.meta.set_member(&Membership {
        of,
        user_id: user.id,
        role: role(&p)?,
        created: now_iso(),
        expires: expires(&p)?,
        reason: p.str("reason").unwrap_or_default(),
        invitor_id: auth.user_id(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /manage/projects/{id}/users/{userId}` `{role}`.
pub async fn update_project_user(
    State(state): State<AppState>,
    auth: ManageAuth,
    Path((id, user)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Json<MemberJson>> {
    let d = administered_project(&state, &auth, &id)?;
    let user = super::find_user(&state, &user)?;
    let of = MemberOf::Project(d.id);
    let mut m = state.meta.member(of, user.id)?.ok_or_else(|| not_found("Project member", &user.id))?;
    m.role = role(&p)?;
    state.meta.set_member(&m)?;
    member_json(&state, &m)?.map(Json).ok_or_else(|| not_found("User", &user.id))
}

pub async fn remove_project_user(State(state): State<AppState>, auth: ManageAuth, Path((id, user)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let d = administered_project(&state, &auth, &id)?;
    let user = super::find_user(&state, &user)?;
    if !state.meta.remove_member(MemberOf::Project(d.id), user.id)? {
        return Err(not_found("Project member", &user.id));
    }
    Ok(StatusCode::NO_CONTENT)
}

fn invitation_json(state: &AppState, i: &Invitation, for_current_user: bool) -> ApiResult<InvitationJson> {
    let project = match i.of {
        MemberOf::Project(pid) if for_current_user => state.meta.project(pid)?.map(|(name, _)| IdName { id: pid, name }),
        _ => None,
    };
    Ok(InvitationJson {
        id: i.id,
        created: i.created.clone(),
        expires: i.expires.clone(),
        reason: i.reason.clone(),
        role: i.role.clone(),
        user: if for_current_user { None } else { user_ref(state, Some(i.user_id)) },
        project,
        creator: user_ref(state, i.creator_id),
    })
}

pub async fn project_invitations(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<Vec<InvitationJson>>> {
    let d = administered_project(&state, &auth, &id)?;
    let list = state.meta.invitations(MemberOf::Project(d.id))?;
    Ok(Json(list.iter().map(|i| invitation_json(&state, i, false)).collect::<ApiResult<_>>()?))
}

/// `POST /manage/projects/{id}/invitations` `{email, role, expirationSeconds?, reason?}`.
pub async fn invite(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<InvitationJson>)> {
    let d = administered_project(&state, &auth, &id)?;
    let email = p.str("email").ok_or_else(|| ApiError::validation("email must be set."))?;
    let user = user_for_email(&state, &email)?;
    let of = MemberOf::Project(d.id);
    // keboola-cli treats these two answers as "nothing to do" by their wording.
    if state.meta.member(of, user.id)?.is_some() {
        return Err(ApiError::validation(format!("User {} is already a member of the project.", user.email)));
    }
    if state.meta.invitations(of)?.iter().any(|i| i.user_id == user.id) {
        return Err(ApiError::validation(format!("This user has already been invited to the project {}.", d.id)));
    }
    let mut inv = Invitation {
        id: 0,
        of,
        user_id: user.id,
        role: role(&p)?,
        reason: p.str("reason").unwrap_or_default(),
        created: now_iso(),
        expires: expires(&p)?,
        creator_id: auth.user_id(),
    };
    inv.id = state.meta.insert_invitation(&inv)?;
    Ok((StatusCode::CREATED, Json(invitation_json(&state, &inv, false)?)))
}

fn project_invitation(state: &AppState, project_id: i64, raw: &str) -> ApiResult<Invitation> {
    raw.parse()
        .ok()
        .and_then(|id| state.meta.invitation(id).ok().flatten())
        .filter(|i| i.of == MemberOf::Project(project_id))
        .ok_or_else(|| not_found("Invitation", raw))
}

pub async fn project_invitation_detail(
    State(state): State<AppState>,
    auth: ManageAuth,
    Path((id, inv)): Path<(String, String)>,
) -> ApiResult<Json<InvitationJson>> {
    let d = administered_project(&state, &auth, &id)?;
    Ok(Json(invitation_json(&state, &project_invitation(&state, d.id, &inv)?, false)?))
}

pub async fn cancel_invitation(State(state): State<AppState>, auth: ManageAuth, Path((id, inv)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let d = administered_project(&state, &auth, &id)?;
    let i = project_invitation(&state, d.id, &inv)?;
    state.meta.delete_invitation(i.id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The current user's own project invitation.
fn my_invitation(state: &AppState, auth: &ManageAuth, raw: &str) -> ApiResult<Invitation> {
    let uid = auth.user_id().ok_or_else(|| ApiError::denied("A super token has no user and no invitations."))?;
    raw.parse()
        .ok()
        .and_then(|id| state.meta.invitation(id).ok().flatten())
        .filter(|i| i.user_id == uid && matches!(i.of, MemberOf::Project(_)))
        .ok_or_else(|| not_found("Invitation", raw))
}

pub async fn my_invitations(State(state): State<AppState>, auth: ManageAuth) -> ApiResult<Json<Vec<InvitationJson>>> {
    let Some(uid) = auth.user_id() else { return Ok(Json(Vec::new())) };
    let list: Vec<Invitation> = state.meta.invitations_of(uid)?.into_iter().filter(|i| matches!(i.of, MemberOf::Project(_))).collect();
    Ok(Json(list.iter().map(|i| invitation_json(&state, i, true)).collect::<ApiResult<_>>()?))
}

pub async fn my_invitation_detail(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<InvitationJson>> {
    Ok(Json(invitation_json(&state, &my_invitation(&state, &auth, &id)?, true)?))
}

/// `PUT /manage/current-user/projects-invitations/{id}`: accept; the user becomes a member.
pub async fn accept_invitation(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let i = my_invitation(&state, &auth, &id)?;
    if !state.meta.accept_invitation(i.id, &now_iso())? {
        return Err(not_found("Invitation", &id));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn decline_invitation(State(state): State<AppState>, auth: ManageAuth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let i = my_invitation(&state, &auth, &id)?;
    state.meta.delete_invitation(i.id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Members of an organization or a maintainer (`GET …/users`).
pub fn list_members(state: &AppState, of: MemberOf) -> ApiResult<Vec<MemberJson>> {
    members_json(state, of)
}

/// `POST …/users` `{email}` on an organization or a maintainer: an admin at once.
pub fn add_member(state: &AppState, auth: &ManageAuth, of: MemberOf, email: &str) -> ApiResult<()> {
    let user = user_for_email(state, email)?;
    Ok(state.meta.set_member(&Membership {
        of,
        user_id: user.id,
        role: "admin".into(),
        created: now_iso(),
        expires: None,
        reason: String::new(),
        invitor_id: auth.user_id(),
    })?)
}
