//! Vendors and who belongs to them: a user's vendor waits for an administrator's approval (and
//! may be renamed then); an administrator's is approved at once. Members invite others, accept
//! join requests, make service accounts. No mail is sent: an invitation's link is logged.
use serde_json::{Map, Value};

use super::auth::{self, Session};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, now_iso};
use crate::meta::developer::{Membership, PortalUser, Vendor};

pub fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::DeveloperNotFound, format!("Vendor {id} does not exist"))
}

/// Vendor ids prefix app ids: lower-case letters, digits, `-` and `_`, 3 to 64 characters.
pub fn check_id(id: &str) -> ApiResult<()> {
    let ok = (3..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(ApiError::validation("Parameter \"id\" must be 3 to 64 lower-case letters, digits, '-' or '_'")) }
}

/// The vendor, when the session may manage it (a member or an administrator): 404 when unknown,
/// 403 otherwise.
pub fn managed(state: &AppState, session: &Session, id: &str) -> ApiResult<Vendor> {
    let vendor = state.meta.vendor(id)?.ok_or_else(|| not_found(id))?;
    if session.user.is_admin || state.meta.membership(id, session.email())?.is_some_and(|m| m.status == "member") {
        Ok(vendor)
    } else {
        Err(ApiError::denied(format!("You don't have access to vendor {id}")))
    }
}

/// A vendor anyone may see: approved ones; an unapproved one only to its members and admins.
pub fn visible(state: &AppState, session: Option<&Session>, id: &str) -> ApiResult<Vendor> {
    let vendor = state.meta.vendor(id)?.ok_or_else(|| not_found(id))?;
    if vendor.is_approved {
        return Ok(vendor);
    }
    match session {
        Some(s) => managed(state, s, id).map_err(|_| not_found(id)),
        None => Err(not_found(id)),
    }
}

fn text(body: &Map<String, Value>, key: &str, max: usize, required: bool) -> ApiResult<Option<String>> {
    match body.get(key) {
        None | Some(Value::Null) if required => Err(ApiError::validation(format!("Parameter \"{key}\" is required"))),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() && required => Err(ApiError::validation(format!("Parameter \"{key}\" is required"))),
        Some(Value::String(s)) if s.chars().count() <= max && !s.contains('\0') => Ok(Some(s.trim().to_string())),
        Some(_) => Err(ApiError::validation(format!("Parameter \"{key}\" must be a string of at most {max} characters"))),
    }
}

fn email(body: &Map<String, Value>, required: bool) -> ApiResult<Option<String>> {
    text(body, "email", 128, required)?.map(|e| auth::normalize_email(&e)).transpose()
}

fn bool_field(body: &Map<String, Value>, key: &str) -> ApiResult<Option<bool>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::validation(format!("Parameter \"{key}\" must be a boolean"))),
    }
}

/// `POST /vendors` (a user: unapproved, they become its member) and `POST /admin/vendors`
/// (approved at once, `id` required).
pub fn create(state: &AppState, session: &Session, body: &Map<String, Value>, by_admin: bool) -> ApiResult<Vendor> {
    let id = match text(body, "id", 64, by_admin)? {
        Some(id) => {
            check_id(&id)?;
            id
        }
        None => format!("_v{}", &auth::random_secret(6).to_lowercase().replace(['-', '_'], "x")),
    };
    let vendor = Vendor {
        id: id.clone(),
        name: text(body, "name", 128, true)?.unwrap_or_default(),
        address: text(body, "address", 255, true)?.unwrap_or_default(),
        email: email(body, true)?.unwrap_or_default(),
        project_url: text(body, "projectUrl", 1024, false)?,
        is_public: by_admin,
        is_approved: by_admin,
        created: now_iso(),
        created_by: session.email().to_string(),
    };
    state
        .meta
        .insert_vendor(&vendor)?
        .map_err(|_| ApiError::new(Code::DeveloperAlreadyExists, format!("Vendor {id} already exists")))?;
    if !by_admin {
        join(state, &id, session.email())?;
        tracing::info!(vendor = id, by = session.email(), "developer portal: a new vendor waits for approval (POST /admin/vendors/{{vendor}}/approve)");
    }
    Ok(vendor)
}

/// `PATCH /vendors/{vendor}` (details) and `PATCH /admin/vendors/{vendor}` (also the flags).
pub fn update(state: &AppState, mut vendor: Vendor, body: &Map<String, Value>, by_admin: bool) -> ApiResult<Vendor> {
    if let Some(name) = text(body, "name", 128, false)?.filter(|s| !s.is_empty()) {
        vendor.name = name;
    }
    if let Some(address) = text(body, "address", 255, false)? {
        vendor.address = address;
    }
    if let Some(e) = email(body, false)? {
        vendor.email = e;
    }
    if let Some(url) = text(body, "projectUrl", 1024, false)? {
        vendor.project_url = Some(url).filter(|u| !u.is_empty());
    }
    if by_admin {
        if let Some(p) = bool_field(body, "isPublic")? {
            vendor.is_public = p;
        }
        if let Some(a) = bool_field(body, "isApproved")? {
            vendor.is_approved = a;
        }
    }
    state.meta.update_vendor(&vendor)?;
    Ok(vendor)
}

/// `POST /admin/vendors/{vendor}/approve {newId?}`: a vendor with apps keeps its id.
pub fn approve(state: &AppState, id: &str, new_id: Option<&str>) -> ApiResult<Vendor> {
    let mut vendor = state.meta.vendor(id)?.ok_or_else(|| not_found(id))?;
    if let Some(new_id) = new_id.filter(|n| *n != id) {
        check_id(new_id)?;
        if !state.meta.apps(Some(id), false, 1, 0)?.is_empty() {
            return Err(ApiError::validation("A vendor with apps cannot be renamed"));
        }
        state
            .meta
            .rename_vendor(id, new_id)?
            .map_err(|_| ApiError::new(Code::DeveloperAlreadyExists, format!("Vendor {new_id} already exists")))?;
        vendor.id = new_id.to_string();
    }
    vendor.is_approved = true;
    vendor.is_public = true;
    state.meta.update_vendor(&vendor)?;
    Ok(vendor)
}

fn membership(vendor: &str, email: &str, status: &str, code: Option<String>) -> Membership {
    Membership { vendor_id: vendor.into(), email: email.into(), status: status.into(), code, created: now_iso() }
}

pub fn join(state: &AppState, vendor: &str, email: &str) -> ApiResult<()> {
    Ok(state.meta.set_membership(&membership(vendor, email, "member", None))?)
}

/// `POST /vendors/{vendor}/users`: a request to join (members see it in `user-requests`).
pub fn request_join(state: &AppState, session: &Session, vendor: &str) -> ApiResult<()> {
    visible(state, Some(session), vendor)?;
    if state.meta.membership(vendor, session.email())?.is_some_and(|m| m.status == "member") {
        return Ok(());
    }
    Ok(state.meta.set_membership(&membership(vendor, session.email(), "requested", None))?)
}

/// `POST /vendors/{vendor}/users/{username}`: accept a request to join.
pub fn accept_request(state: &AppState, vendor: &str, username: &str) -> ApiResult<()> {
    let username = username.trim().to_lowercase();
    match state.meta.membership(vendor, &username)? {
        Some(m) if m.status == "requested" || m.status == "member" => join(state, vendor, &username),
        _ => Err(ApiError::new(Code::DeveloperNotFound, format!("User {username} has not requested to join vendor {vendor}"))),
    }
}

/// `DELETE /vendors/{vendor}/users/{username}`: a service account is deleted with it.
pub fn remove_user(state: &AppState, vendor: &str, username: &str) -> ApiResult<()> {
    let username = username.trim().to_lowercase();
    if let Some(user) = state.meta.portal_user(&username)?.filter(|u| u.service_vendor.as_deref() == Some(vendor)) {
        state.meta.delete_portal_user(&user.email)?;
        return Ok(());
    }
    if !state.meta.delete_membership(vendor, &username)? {
        return Err(ApiError::new(Code::DeveloperNotFound, format!("User {username} is not a member of vendor {vendor}")));
    }
    Ok(())
}

/// `POST /vendors/{vendor}/invitations/{email}`: the acceptance link goes to the log.
pub fn invite(state: &AppState, vendor: &str, email: &str) -> ApiResult<()> {
    let email = auth::normalize_email(email)?;
    if state.meta.membership(vendor, &email)?.is_some_and(|m| m.status == "member") {
        return Err(ApiError::new(Code::DeveloperAlreadyExists, format!("User {email} is already a member of vendor {vendor}")));
    }
    let code = auth::random_secret(16);
    state.meta.set_membership(&membership(vendor, &email, "invited", Some(crate::meta::tokens::hash_token(&code))))?;
    let link = format!("{}/vendors/{vendor}/invitations/{email}/{code}", state.urls.service(super::SERVICE_ID));
    tracing::info!(vendor, email, link, "developer portal: invitation to a vendor");
    Ok(())
}

/// `GET /vendors/{vendor}/invitations/{email}/{code}`: the invited address becomes a member.
pub fn accept_invitation(state: &AppState, vendor: &str, email: &str, code: &str) -> ApiResult<()> {
    let invalid = || ApiError::new(Code::DeveloperNotFound, "The invitation is invalid or was already used");
    let email = auth::normalize_email(email).map_err(|_| invalid())?;
    match state.meta.membership(vendor, &email)? {
        Some(m) if m.status == "invited" && m.code.as_deref() == Some(crate::meta::tokens::hash_token(code).as_str()) => join(state, vendor, &email),
        _ => Err(invalid()),
    }
}

/// `POST /vendors/{vendor}/credentials {name, description}`: a service account and its
/// password (shown once).
pub fn create_service_account(state: &AppState, vendor: &str, body: &Map<String, Value>) -> ApiResult<(PortalUser, String)> {
    let name = text(body, "name", 64, true)?.unwrap_or_default();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::validation("Parameter \"name\" can only contain a-z, A-Z, 0-9 and _"));
    }
    let description = text(body, "description", 256, false)?.unwrap_or_default();
    let username = format!("service.{vendor}.{name}").to_lowercase();
    let password = format!("Aa1{}", auth::random_secret(18));
    let user = PortalUser {
        email: username.clone(),
        name,
        password_hash: auth::hash_password(&password),
        is_admin: false,
        confirmed: true,
        code: None,
        service_vendor: Some(vendor.to_string()),
        description,
        created: now_iso(),
    };
    state
        .meta
        .insert_portal_user(&user)?
        .map_err(|_| ApiError::new(Code::DeveloperAlreadyExists, format!("Service account {username} already exists")))?;
    join(state, vendor, &username)?;
    Ok((user, password))
}
