//! The Developer Portal's HTTP API under `/developer` (host `developer.<suffix>`; the public
//! instance is `https://apps-api.keboola.com`), after the spec in
//! `reference/developer-portal/`. Errors use the portal's envelope `{errorMessage, errorType,
//! requestId}`. Auth: `Authorization: <token>` from `POST /auth/login` (`Bearer <token>` too).
use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::auth::{self, Session};
use super::{apps, vendors, wire};
use crate::app::AppState;
use crate::http::routes::{delete, get, patch, post};
use crate::http::{ApiError, Code, Params, Routes};
use crate::meta::developer::App;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/developer", get(index))
        .route("/developer/auth/signup", post(signup))
        .route("/developer/auth/confirm", post(resend_confirmation))
        .route("/developer/auth/confirm/{email}/{code}", post(confirm).get(confirm_page))
        .route("/developer/auth/login", post(login))
        .route("/developer/auth/logout", post(logout))
        .route("/developer/auth/token", get(refresh))
        .route("/developer/auth/profile", get(profile))
        .route("/developer/auth/forgot/{email}", post(forgot))
        .route("/developer/auth/forgot/{email}/confirm", post(reset_password))
        .route("/developer/vendors", get(public_vendors).post(create_vendor))
        .route("/developer/vendors/{vendor}", get(vendor_detail).patch(update_vendor))
        .route("/developer/vendors/{vendor}/users", get(vendor_users).post(request_join))
        .route("/developer/vendors/{vendor}/users/{username}", post(accept_request).delete(remove_user))
        .route("/developer/vendors/{vendor}/user-requests", get(user_requests))
        .route("/developer/vendors/{vendor}/invitations/{email}", post(invite))
        .route("/developer/vendors/{vendor}/invitations/{email}/{code}", get(accept_invitation))
        .route("/developer/vendors/{vendor}/credentials", post(create_service_account))
        .route("/developer/vendors/{vendor}/apps", get(vendor_apps).post(create_app))
        .route("/developer/vendors/{vendor}/apps/{app}", get(app_detail).patch(update_app).delete(delete_app))
        .route("/developer/vendors/{vendor}/apps/{app}/deprecate", post(deprecate_app))
        .route("/developer/vendors/{vendor}/apps/{app}/publish", post(publish_app))
        .route("/developer/vendors/{vendor}/apps/{app}/versions", get(app_versions))
        .route("/developer/vendors/{vendor}/apps/{app}/versions/{version}", get(app_version))
        .route("/developer/vendors/{vendor}/apps/{app}/versions/{version}/rollback", post(rollback_app))
        .route("/developer/apps", get(public_apps))
        .route("/developer/apps/{app}", get(public_app))
        .route("/developer/admin/stacks", get(admin_stacks))
        .route("/developer/admin/users", get(admin_users))
        .route("/developer/admin/users/{username}", delete(admin_delete_user))
        .route("/developer/admin/users/{username}/vendors/{vendor}", post(admin_add_to_vendor).delete(admin_remove_from_vendor))
        .route("/developer/admin/users/{username}/admin", post(admin_grant).delete(admin_revoke))
        .route("/developer/admin/apps", get(admin_apps))
        .route("/developer/admin/apps/{id}", get(admin_app).patch(admin_update_app))
        .route("/developer/admin/apps/{id}/publish", post(admin_publish))
        .route("/developer/admin/apps/{id}/reject", post(admin_reject))
        .route("/developer/admin/vendors", get(admin_vendors).post(admin_create_vendor))
        .route("/developer/admin/vendors/{vendor}", patch(admin_update_vendor).delete(admin_delete_vendor))
        .route("/developer/admin/vendors/{vendor}/approve", post(admin_approve_vendor))
        .map_router(|r| r.layer(axum::middleware::from_fn(developer_envelope)))
}

/// An `ApiError` in the portal's envelope.
pub struct DeveloperError(pub ApiError);

impl From<ApiError> for DeveloperError {
    fn from(e: ApiError) -> Self {
        DeveloperError(e)
    }
}

impl From<kbstack_core::Error> for DeveloperError {
    fn from(e: kbstack_core::Error) -> Self {
        DeveloperError(e.into())
    }
}

impl IntoResponse for DeveloperError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let request_id = uuid::Uuid::new_v4().to_string();
        let message = if status.is_server_error() {
            tracing::error!(request_id, "{}", kbstack_core::error::public_message(&self.0.message));
            "Application error".to_string()
        } else {
            self.0.message.clone()
        };
        let error_type = match status.as_u16() {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            413 => "PayloadTooLarge",
            s if s < 500 => "UserError",
            _ => "ApplicationError",
        };
        let body = json!({"errorMessage": message, "errorType": error_type, "requestId": request_id});
        let mut resp = (status, body.to_string()).into_response();
        resp.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
        resp
    }
}

type DResult<T> = Result<T, DeveloperError>;

async fn developer_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| DeveloperError(err).into_response()).await
}

/// The JSON body's object (a form or query is read the same way).
fn body(p: Result<Params, ApiError>) -> DResult<Map<String, Value>> {
    Ok(p?.values)
}

fn str_field(body: &Map<String, Value>, key: &str) -> DResult<String> {
    match body.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 1024 => Ok(s.clone()),
        None | Some(Value::Null) => Err(ApiError::validation(format!("Parameter \"{key}\" is required")).into()),
        Some(_) => Err(ApiError::validation(format!("Parameter \"{key}\" must be a non-empty string")).into()),
    }
}

/// `offset` (default 0) and `limit` (default 1000, at most 10000) of a list.
fn page(q: &Option<String>) -> DResult<(i64, i64)> {
    let p = Params::from_query(q.as_deref())?;
    let offset = p.int("offset")?.unwrap_or(0);
    let limit = p.int("limit")?.unwrap_or(1000);
    if offset < 0 || !(0..=10_000).contains(&limit) {
        return Err(ApiError::validation("Parameters \"offset\" must be at least 0 and \"limit\" between 0 and 10000").into());
    }
    Ok((limit, offset))
}

fn user_view(state: &AppState, user: &crate::meta::developer::PortalUser) -> DResult<wire::User> {
    Ok(wire::User::of(user, state.meta.member_vendors(&user.email)?))
}

async fn index(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"api": "developer-portal", "documentation": format!("{}/docs/openapi.yaml", state.urls.service(super::SERVICE_ID))}))
}

// --- auth ---

async fn signup(State(state): State<AppState>, p: Result<Params, ApiError>) -> DResult<StatusCode> {
    let b = body(p)?;
    auth::signup(&state, &str_field(&b, "name")?, &str_field(&b, "email")?, &str_field(&b, "password")?)?;
    Ok(StatusCode::CREATED)
}

async fn confirm(State(state): State<AppState>, Path((email, code)): Path<(String, String)>) -> DResult<Json<Value>> {
    auth::confirm(&state, &email, &code)?;
    Ok(Json(json!({})))
}

async fn confirm_page(State(state): State<AppState>, Path((email, code)): Path<(String, String)>) -> DResult<Html<&'static str>> {
    auth::confirm(&state, &email, &code)?;
    Ok(Html("<!doctype html><html><body><p>Your account is confirmed. You can log in now.</p></body></html>"))
}

async fn resend_confirmation(State(state): State<AppState>, p: Result<Params, ApiError>) -> DResult<StatusCode> {
    let b = body(p)?;
    auth::resend_confirmation(&state, &str_field(&b, "email")?, &str_field(&b, "password")?)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn login(State(state): State<AppState>, p: Result<Params, ApiError>) -> DResult<Json<Value>> {
    let b = body(p)?;
    let email = str_field(&b, "email")?;
    if b.get("session").is_some() || b.get("code").is_some() {
        return Err(ApiError::validation("MFA is not enabled on this stack; log in with email and password").into());
    }
    let tokens = auth::login(&state, &email, &str_field(&b, "password")?)?;
    Ok(Json(json!({
        "token": tokens.token,
        "accessToken": tokens.access_token,
        "refreshToken": tokens.refresh_token,
        "expiresIn": auth::TOKEN_SECS,
    })))
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> DResult<StatusCode> {
    let s = auth::session(&state, &headers)?;
    auth::logout(&state, &s)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn refresh(State(state): State<AppState>, headers: HeaderMap) -> DResult<Json<Value>> {
    let tokens = auth::refresh(&state, &headers)?;
    Ok(Json(json!({"token": tokens.token, "accessToken": tokens.access_token, "expiresIn": auth::TOKEN_SECS})))
}

async fn profile(State(state): State<AppState>, headers: HeaderMap) -> DResult<Json<wire::User>> {
    let s = auth::session(&state, &headers)?;
    Ok(Json(user_view(&state, &s.user)?))
}

async fn forgot(State(state): State<AppState>, Path(email): Path<String>) -> DResult<StatusCode> {
    auth::forgot(&state, &email)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset_password(State(state): State<AppState>, Path(email): Path<String>, p: Result<Params, ApiError>) -> DResult<StatusCode> {
    let b = body(p)?;
    auth::reset_password(&state, &email, &str_field(&b, "code")?, &str_field(&b, "password")?)?;
    Ok(StatusCode::NO_CONTENT)
}

// --- vendors ---

async fn public_vendors(State(state): State<AppState>, RawQuery(q): RawQuery) -> DResult<Json<Vec<wire::Vendor>>> {
    let (limit, offset) = page(&q)?;
    Ok(Json(state.meta.vendors(true, limit, offset)?.iter().map(wire::Vendor::of).collect()))
}

async fn create_vendor(State(state): State<AppState>, headers: HeaderMap, p: Result<Params, ApiError>) -> DResult<(StatusCode, Json<wire::Vendor>)> {
    let s = auth::session(&state, &headers)?;
    let v = vendors::create(&state, &s, &body(p)?, false)?;
    Ok((StatusCode::CREATED, Json(wire::Vendor::of(&v))))
}

async fn vendor_detail(State(state): State<AppState>, headers: HeaderMap, Path(vendor): Path<String>) -> DResult<Json<wire::Vendor>> {
    let s = auth::session(&state, &headers).ok();
    Ok(Json(wire::Vendor::of(&vendors::visible(&state, s.as_ref(), &vendor)?)))
}

async fn update_vendor(State(state): State<AppState>, headers: HeaderMap, Path(vendor): Path<String>, p: Result<Params, ApiError>) -> DResult<Json<wire::Vendor>> {
    let s = auth::session(&state, &headers)?;
    let v = vendors::managed(&state, &s, &vendor)?;
    Ok(Json(wire::Vendor::of(&vendors::update(&state, v, &body(p)?, false)?)))
}

async fn vendor_users(State(state): State<AppState>, headers: HeaderMap, Path(vendor): Path<String>, RawQuery(q): RawQuery) -> DResult<Json<Vec<wire::User>>> {
    let s = auth::session(&state, &headers)?;
    vendors::managed(&state, &s, &vendor)?;
    let (limit, offset) = page(&q)?;
    let service = Params::from_query(q.as_deref())?.flag("service")?;
    let users = if service {
        state.meta.portal_users(Some(&vendor), limit, offset)?
    } else {
        let members = state.meta.memberships(&vendor, "member", limit, offset)?;
        let mut out = Vec::new();
        for m in members {
            if let Some(u) = state.meta.portal_user(&m.email)?.filter(|u| u.service_vendor.is_none()) {
                out.push(u);
            }
        }
        out
    };
    Ok(Json(users.iter().map(|u| user_view(&state, u)).collect::<DResult<_>>()?))
}

async fn request_join(State(state): State<AppState>, headers: HeaderMap, Path(vendor): Path<String>) -> DResult<StatusCode> {
    let s = auth::session(&state, &headers)?;
    vendors::request_join(&state, &s, &vendor)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn accept_request(State(state): State<AppState>, headers: HeaderMap, Path((vendor, username)): Path<(String, String)>) -> DResult<StatusCode> {
    let s = auth::session(&state, &headers)?;
    vendors::managed(&state, &s, &vendor)?;
    vendors::accept_request(&state, &vendor, &username)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_user(State(state): State<AppState>, headers: HeaderMap, Path((vendor, username)): Path<(String, String)>) -> DResult<StatusCode> {
    let s = auth::session(&state, &headers)?;
    vendors::managed(&state, &s, &vendor)?;
    vendors::remove_user(&state, &vendor, &username)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn user_requests(State(state): State<AppState>, headers: HeaderMap, Path(vendor): Path<String>, RawQuery(q): RawQuery) -> DResult<Json<Vec<Value>>> {
    let s = auth::session(&state, &headers)?;
    vendors::managed(&state, &s, &vendor)?;
    let (limit, offset) = page(&q)?;
    let requests = state.meta.memberships(&vendor, "requested", limit, offset)?;
    Ok(Json(requests.iter().map(|m| json!({"username": m.email, "createdOn": m.created})).collect()))
}

async fn invite(State(state): State<AppState>, headers: HeaderMap, Path((vendor, email)): Path<(String, String)>) -> DResult<StatusCode> {
    let s = auth::session(&state, &headers)?;
    vendors::managed(&state, &s, &vendor)?;
    vendors::invite(&state, &vendor, &email)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn accept_invitation(State(state): State<AppState>, Path((vendor, email, code)): Path<(String, String, String)>) -> DResult<Html<&'static str>> {
    vendors::accept_invitation(&state, &vendor, &email, &code)?;
    Ok(Html("<!doctype html><html><body><p>Invitation accepted. You are a member of the vendor now.</p></body></html>"))
}

async fn create_service_account(State(state): State<AppState>, headers: HeaderMap, Path(vendor): Path<String>, p: Result<Params, ApiError>) -> DResult<Json<Value>> {
    let s = auth::session(&state, &headers)?;
    vendors::managed(&state, &s, &vendor)?;
    let (user, password) = vendors::create_service_account(&state, &vendor, &body(p)?)?;
    Ok(Json(json!({"username": user.email, "password": password, "description": user.description, "createdOn": user.created})))
}

// --- apps ---

async fn vendor_apps(State(state): State<AppState>, headers: HeaderMap, Path(vendor): Path<String>, RawQuery(q): RawQuery) -> DResult<Json<Vec<wire::App>>> {
    let s = auth::session(&state, &headers)?;
    vendors::managed(&state, &s, &vendor)?;
    let (limit, offset) = page(&q)?;
    Ok(Json(state.meta.apps(Some(&vendor), false, limit, offset)?.iter().map(wire::App::of).collect()))
}

async fn create_app(State(state): State<AppState>, headers: HeaderMap, Path(vendor): Path<String>, p: Result<Params, ApiError>) -> DResult<(StatusCode, Json<wire::App>)> {
    let s = auth::session(&state, &headers)?;
    vendors::managed(&state, &s, &vendor)?;
    let app = apps::create(&state, &s, &vendor, &body(p)?)?;
    Ok((StatusCode::CREATED, Json(wire::App::of(&app))))
}

/// The session and the app of a `/vendors/{vendor}/apps/{app}…` route.
fn managed_app(state: &AppState, headers: &HeaderMap, vendor: &str, app: &str) -> DResult<(Session, App)> {
    let s = auth::session(state, headers)?;
    let app = apps::managed(state, &s, vendor, app)?;
    Ok((s, app))
}

async fn app_detail(State(state): State<AppState>, headers: HeaderMap, Path((vendor, app)): Path<(String, String)>) -> DResult<Json<wire::App>> {
    let (_, app) = managed_app(&state, &headers, &vendor, &app)?;
    Ok(Json(wire::App::of(&app)))
}

async fn update_app(State(state): State<AppState>, headers: HeaderMap, Path((vendor, app)): Path<(String, String)>, p: Result<Params, ApiError>) -> DResult<Json<wire::App>> {
    let (s, app) = managed_app(&state, &headers, &vendor, &app)?;
    Ok(Json(wire::App::of(&apps::update(&state, &s, app, &body(p)?, false)?)))
}

async fn delete_app(State(state): State<AppState>, headers: HeaderMap, Path((vendor, app)): Path<(String, String)>) -> DResult<Json<Value>> {
    let (_, app) = managed_app(&state, &headers, &vendor, &app)?;
    apps::delete(&state, &app)?;
    Ok(Json(json!({})))
}

async fn deprecate_app(State(state): State<AppState>, headers: HeaderMap, Path((vendor, app)): Path<(String, String)>, p: Result<Params, ApiError>) -> DResult<Json<wire::App>> {
    let (s, app) = managed_app(&state, &headers, &vendor, &app)?;
    Ok(Json(wire::App::of(&apps::deprecate(&state, &s, app, &body(p)?)?)))
}

async fn publish_app(State(state): State<AppState>, headers: HeaderMap, Path((vendor, app)): Path<(String, String)>) -> DResult<Json<wire::App>> {
    let (s, app) = managed_app(&state, &headers, &vendor, &app)?;
    Ok(Json(wire::App::of(&apps::publish(&state, &s, app)?)))
}

async fn app_versions(State(state): State<AppState>, headers: HeaderMap, Path((vendor, app)): Path<(String, String)>, RawQuery(q): RawQuery) -> DResult<Json<Vec<wire::Version>>> {
    let (_, app) = managed_app(&state, &headers, &vendor, &app)?;
    let (limit, offset) = page(&q)?;
    Ok(Json(state.meta.app_versions(&app.id, limit, offset)?.iter().map(wire::Version::of).collect()))
}

async fn app_version(State(state): State<AppState>, headers: HeaderMap, Path((vendor, app, version)): Path<(String, String, String)>) -> DResult<Json<wire::Version>> {
    let (_, app) = managed_app(&state, &headers, &vendor, &app)?;
    Ok(Json(wire::Version::of(&apps::version(&state, &app, &version)?)))
}

async fn rollback_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((vendor, app, version)): Path<(String, String, String)>,
) -> DResult<(StatusCode, Json<wire::App>)> {
    let (s, app) = managed_app(&state, &headers, &vendor, &app)?;
    let target = apps::version(&state, &app, &version)?;
    Ok((StatusCode::CREATED, Json(wire::App::of(&apps::rollback(&state, &s, app, &target)?))))
}

async fn public_apps(State(state): State<AppState>, RawQuery(q): RawQuery) -> DResult<Json<Vec<wire::App>>> {
    let (limit, offset) = page(&q)?;
    let mut out = Vec::new();
    for app in state.meta.apps(None, true, i64::MAX, 0)?.iter().filter(|a| a.is_public).skip(offset as usize).take(limit as usize) {
        out.push(apps::public_view(&state, app)?);
    }
    Ok(Json(out))
}

async fn public_app(State(state): State<AppState>, Path(app): Path<String>) -> DResult<Json<wire::App>> {
    let found = state.meta.app(&app)?.filter(|a| a.published_version.is_some()).ok_or_else(|| apps::not_found(&app))?;
    Ok(Json(apps::public_view(&state, &found)?))
}

// --- admin ---

async fn admin_stacks(State(state): State<AppState>, headers: HeaderMap) -> DResult<Json<Vec<String>>> {
    auth::admin(&state, &headers)?;
    Ok(Json(vec![state.urls.stack_id()]))
}

async fn admin_users(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> DResult<Json<Vec<wire::User>>> {
    auth::admin(&state, &headers)?;
    let (limit, offset) = page(&q)?;
    let users = state.meta.portal_users(None, limit, offset)?;
    Ok(Json(users.iter().map(|u| user_view(&state, u)).collect::<DResult<_>>()?))
}

fn existing_user(state: &AppState, username: &str) -> DResult<crate::meta::developer::PortalUser> {
    let username = username.trim().to_lowercase();
    state
        .meta
        .portal_user(&username)?
        .ok_or_else(|| ApiError::new(Code::DeveloperNotFound, format!("User {username} does not exist")).into())
}

async fn admin_delete_user(State(state): State<AppState>, headers: HeaderMap, Path(username): Path<String>) -> DResult<StatusCode> {
    let s = auth::admin(&state, &headers)?;
    let user = existing_user(&state, &username)?;
    if user.email == s.email() {
        return Err(ApiError::validation("You cannot delete your own account").into());
    }
    state.meta.delete_portal_user(&user.email)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn admin_add_to_vendor(State(state): State<AppState>, headers: HeaderMap, Path((username, vendor)): Path<(String, String)>) -> DResult<StatusCode> {
    auth::admin(&state, &headers)?;
    let user = existing_user(&state, &username)?;
    state.meta.vendor(&vendor)?.ok_or_else(|| vendors::not_found(&vendor))?;
    vendors::join(&state, &vendor, &user.email)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn admin_remove_from_vendor(State(state): State<AppState>, headers: HeaderMap, Path((username, vendor)): Path<(String, String)>) -> DResult<StatusCode> {
    auth::admin(&state, &headers)?;
    let user = existing_user(&state, &username)?;
    vendors::remove_user(&state, &vendor, &user.email)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_admin(state: &AppState, headers: &HeaderMap, username: &str, admin: bool) -> DResult<StatusCode> {
    let s = auth::admin(state, headers)?;
    let mut user = existing_user(state, username)?;
    if !admin && user.email == s.email() {
        return Err(ApiError::validation("You cannot revoke your own administrator privilege").into());
    }
    user.is_admin = admin;
    state.meta.update_portal_user(&user)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn admin_grant(State(state): State<AppState>, headers: HeaderMap, Path(username): Path<String>) -> DResult<StatusCode> {
    set_admin(&state, &headers, &username, true).await
}

async fn admin_revoke(State(state): State<AppState>, headers: HeaderMap, Path(username): Path<String>) -> DResult<StatusCode> {
    set_admin(&state, &headers, &username, false).await
}

/// `filter`: `unapproved` (publishing requested), `published`, `deprecated`, or text in the id.
async fn admin_apps(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> DResult<Json<Vec<wire::App>>> {
    auth::admin(&state, &headers)?;
    let (limit, offset) = page(&q)?;
    let filter = Params::from_query(q.as_deref())?.str("filter").unwrap_or_default();
    let keep = |a: &App| match filter.as_str() {
        "" => true,
        "unapproved" => a.publish_requested.is_some(),
        "published" => a.published_version.is_some(),
        "deprecated" => a.is_deprecated,
        text => a.id.contains(text),
    };
    let all = state.meta.apps(None, false, i64::MAX, 0)?;
    Ok(Json(all.iter().filter(|a| keep(a)).skip(offset as usize).take(limit as usize).map(wire::App::of).collect()))
}

async fn admin_app(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> DResult<Json<wire::App>> {
    auth::admin(&state, &headers)?;
    Ok(Json(wire::App::of(&apps::load_any(&state, &id)?)))
}

async fn admin_update_app(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>, p: Result<Params, ApiError>) -> DResult<Json<wire::App>> {
    let s = auth::admin(&state, &headers)?;
    let app = apps::load_any(&state, &id)?;
    Ok(Json(wire::App::of(&apps::update(&state, &s, app, &body(p)?, true)?)))
}

async fn admin_publish(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> DResult<Json<wire::App>> {
    auth::admin(&state, &headers)?;
    let app = apps::load_any(&state, &id)?;
    Ok(Json(wire::App::of(&apps::approve(&state, app)?)))
}

async fn admin_reject(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>, p: Result<Params, ApiError>) -> DResult<Json<wire::App>> {
    auth::admin(&state, &headers)?;
    let app = apps::load_any(&state, &id)?;
    let reason = str_field(&body(p)?, "reason")?;
    Ok(Json(wire::App::of(&apps::reject(&state, app, &reason)?)))
}

async fn admin_vendors(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> DResult<Json<Vec<wire::Vendor>>> {
    auth::admin(&state, &headers)?;
    let (limit, offset) = page(&q)?;
    let filter = Params::from_query(q.as_deref())?.str("filter").unwrap_or_default();
    let all = state.meta.vendors(false, i64::MAX, 0)?;
    let keep = |v: &&crate::meta::developer::Vendor| match filter.as_str() {
        "" => true,
        "unapproved" => !v.is_approved,
        text => v.id.contains(text) || v.name.to_lowercase().contains(&text.to_lowercase()),
    };
    Ok(Json(all.iter().filter(keep).skip(offset as usize).take(limit as usize).map(wire::Vendor::of).collect()))
}

async fn admin_create_vendor(State(state): State<AppState>, headers: HeaderMap, p: Result<Params, ApiError>) -> DResult<(StatusCode, Json<wire::Vendor>)> {
    let s = auth::admin(&state, &headers)?;
    let v = vendors::create(&state, &s, &body(p)?, true)?;
    Ok((StatusCode::CREATED, Json(wire::Vendor::of(&v))))
}

async fn admin_update_vendor(State(state): State<AppState>, headers: HeaderMap, Path(vendor): Path<String>, p: Result<Params, ApiError>) -> DResult<Json<wire::Vendor>> {
    auth::admin(&state, &headers)?;
    let v = state.meta.vendor(&vendor)?.ok_or_else(|| vendors::not_found(&vendor))?;
    Ok(Json(wire::Vendor::of(&vendors::update(&state, v, &body(p)?, true)?)))
}

async fn admin_delete_vendor(State(state): State<AppState>, headers: HeaderMap, Path(vendor): Path<String>) -> DResult<StatusCode> {
    auth::admin(&state, &headers)?;
    if !state.meta.delete_vendor(&vendor)? {
        return Err(vendors::not_found(&vendor).into());
    }
    apps::sync_registry(&state)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn admin_approve_vendor(State(state): State<AppState>, headers: HeaderMap, Path(vendor): Path<String>, p: Result<Params, ApiError>) -> DResult<StatusCode> {
    auth::admin(&state, &headers)?;
    let b = body(p)?;
    let new_id = match b.get("newId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => return Err(ApiError::validation("Parameter \"newId\" must be a string").into()),
    };
    vendors::approve(&state, &vendor, new_id.as_deref())?;
    Ok(StatusCode::NO_CONTENT)
}
