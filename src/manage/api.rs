//! The `/manage` routes and the manage-token handlers (maintainers and organizations are in
//! `organizations.rs`, projects in `projects.rs`, people in `members.rs` and `users.rs`, the
//! feature catalogue in `features.rs`). Errors use the
//! Storage API's envelope: the Management API is part of the same application.
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::auth::{ManageAuth, new_manage_secret};
use super::wire::{IdName, TokenVerification};
use super::{features, members, not_found, organizations, projects, user_json, users};
use crate::app::AppState;
use crate::http::routes::{delete, get, post};
use crate::http::{ApiError, ApiResult, Params, Routes, iso, now_iso};
use crate::meta::manage::{ManageToken, ManageTokenKind};

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/manage/tokens/verify", get(verify))
        .route("/manage/tokens", get(list_tokens).post(create_token))
        .route("/manage/tokens/{id}", delete(delete_token))
        .route("/manage/maintainers", get(organizations::list_maintainers).post(organizations::create_maintainer))
        .route("/manage/maintainers/{id}", get(organizations::maintainer_detail).patch(organizations::update_maintainer).delete(organizations::delete_maintainer))
        .route("/manage/maintainers/{id}/organizations", get(organizations::maintainer_organizations).post(organizations::create_organization))
        .route("/manage/maintainers/{id}/users", get(organizations::maintainer_users).post(organizations::add_maintainer_user))
        .route("/manage/maintainers/{id}/users/{user}", delete(organizations::remove_maintainer_user))
        .route("/manage/organizations", get(organizations::list_organizations))
        .route("/manage/organizations/{id}", get(organizations::organization_detail).patch(organizations::update_organization).delete(organizations::delete_organization))
        .route("/manage/organizations/{id}/projects", get(projects::list_of_organization).post(projects::create))
        .route("/manage/organizations/{id}/users", get(organizations::organization_users).post(organizations::add_organization_user))
        .route("/manage/organizations/{id}/users/{user}", delete(organizations::remove_organization_user))
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
        .route("/manage/users/{user}", get(users::user_detail).put(users::update_user).delete(users::delete_user))
        .route("/manage/users/{user}/features", post(users::add_user_feature))
        .route("/manage/users/{user}/features/{feature}", delete(users::remove_user_feature))
        .route("/manage/users/{user}/projects", get(users::user_projects))
        .route("/manage/features", get(features::list_features).post(features::create_feature))
        .route("/manage/features/{id}", get(features::feature_detail).patch(features::update_feature).delete(features::delete_feature))
        .route("/manage/features/{id}/projects", get(features::feature_projects))
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

