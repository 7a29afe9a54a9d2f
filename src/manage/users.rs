//! Users by id or email (`/manage/users/{idOrEmail}…`): super admins see everyone, a user sees
//! themselves.
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::auth::{ManageAuth, SuperAdmin};
use crate::app::AppState;
use crate::http::{ApiResult, Params};
use super::projects;
use super::wire::{ProjectRef, UserJson};
use super::{not_found, user_json};
use crate::meta::organizations::MemberOf;

pub(super) fn visible_user(state: &AppState, auth: &ManageAuth, raw: &str) -> ApiResult<crate::meta::manage::User> {
    let user = super::find_user(state, raw)?;
    if !auth.is_super() && auth.user_id() != Some(user.id) {
        return Err(not_found("User", raw));
    }
    Ok(user)
}

pub(super) async fn user_detail(State(state): State<AppState>, auth: ManageAuth, Path(user): Path<String>) -> ApiResult<Json<UserJson>> {
    Ok(Json(user_json(&visible_user(&state, &auth, &user)?)))
}

pub(super) async fn update_user(State(state): State<AppState>, auth: ManageAuth, Path(user): Path<String>, p: Params) -> ApiResult<Json<UserJson>> {
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

pub(super) async fn delete_user(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path(user): Path<String>) -> ApiResult<StatusCode> {
    let u = super::find_user(&state, &user)?;
    state.meta.delete_user(u.id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn add_user_feature(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path(user): Path<String>, p: Params) -> ApiResult<Json<UserJson>> {
    let mut u = super::find_user(&state, &user)?;
    let name = projects::catalogue_feature(&state, &p, "admin")?;
    if !u.features.contains(&name) {
        u.features.push(name);
        state.meta.update_user(&u)?;
    }
    Ok(Json(user_json(&u)))
}

pub(super) async fn remove_user_feature(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path((user, feature)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let mut u = super::find_user(&state, &user)?;
    if !u.features.contains(&feature) {
        return Err(not_found("Feature", &feature));
    }
    u.features.retain(|f| f != &feature);
    state.meta.update_user(&u)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn user_projects(State(state): State<AppState>, auth: ManageAuth, Path(user): Path<String>) -> ApiResult<Json<Vec<ProjectRef>>> {
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

