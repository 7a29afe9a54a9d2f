//! Manage-token authentication (`X-KBC-ManageApiToken`) and the proofs handlers ask for.
//!
//! `ManageAuth` is any valid manage token with its user; `SuperAdmin` is the proof that the
//! token may do anything on the stack (a super token, or a super admin's personal token). What an
//! ordinary administrator may touch follows from their memberships: a maintainer's admins manage
//! its organizations, an organization's admins its projects, a project's members that project.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, now_iso};
use crate::meta::manage::{ManageToken, ManageTokenKind, User};
use crate::meta::organizations::MemberOf;
use crate::meta::project_admin::ProjectDetails;
use crate::storage::auth::hash_token;

#[derive(Debug, Clone)]
pub struct ManageAuth {
    pub token: ManageToken,
    /// The user an `admin` token acts for.
    pub user: Option<User>,
}

impl FromRequestParts<AppState> for ManageAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let secret = parts.headers.get("x-kbc-manageapitoken").and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or_default();
        if secret.is_empty() {
            return Err(ApiError::new(Code::TokenMissing, "Manage API token must be set (header X-KBC-ManageApiToken)."));
        }
        let Some(token) = state.meta.manage_token_by_hash(&hash_token(secret))? else {
            return Err(ApiError::new(Code::TokenInvalid, "Invalid access token"));
        };
        if token.is_expired() {
            return Err(ApiError::new(Code::TokenInvalid, "Your access token has expired."));
        }
        let user = match token.user_id {
            Some(id) => match state.meta.user(id)? {
                Some(u) => Some(u),
                // A token outlives no user.
                None => return Err(ApiError::new(Code::TokenInvalid, "Invalid access token")),
            },
            None => None,
        };
        state.meta.touch_manage_token(token.id, &now_iso())?;
        Ok(ManageAuth { token, user })
    }
}

/// Proof that the token acts as a super admin.
#[derive(Debug, Clone)]
pub struct SuperAdmin(pub ManageAuth);

impl FromRequestParts<AppState> for SuperAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let auth = ManageAuth::from_request_parts(parts, state).await?;
        auth.require_super()?;
        Ok(SuperAdmin(auth))
    }
}

impl ManageAuth {
    pub fn is_super(&self) -> bool {
        self.token.kind == ManageTokenKind::Super || self.user.as_ref().is_some_and(|u| u.is_super_admin)
    }

    pub fn require_super(&self) -> ApiResult<()> {
        if self.is_super() { Ok(()) } else { Err(ApiError::denied("Only a super admin can do this.")) }
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user.as_ref().map(|u| u.id)
    }

    fn member_of(&self, state: &AppState, of: MemberOf) -> ApiResult<Option<String>> {
        match self.user_id() {
            Some(uid) => Ok(state.meta.member(of, uid)?.map(|m| m.role)),
            None => Ok(None),
        }
    }

    /// May administer the maintainer (its admins, or a super admin).
    pub fn can_admin_maintainer(&self, state: &AppState, maintainer_id: i64) -> ApiResult<bool> {
        Ok(self.is_super() || self.member_of(state, MemberOf::Maintainer(maintainer_id))?.is_some())
    }

    /// May administer the organization: its admins, its maintainer's admins, a super admin.
    pub fn can_admin_organization(&self, state: &AppState, organization_id: i64) -> ApiResult<bool> {
        if self.is_super() || self.member_of(state, MemberOf::Organization(organization_id))?.is_some() {
            return Ok(true);
        }
        match state.meta.organization(organization_id)? {
            Some(o) => self.can_admin_maintainer(state, o.maintainer_id),
            None => Ok(false),
        }
    }

    /// The token's role in the project: `admin` for those who administer its organization.
    pub fn project_role(&self, state: &AppState, project: &ProjectDetails) -> ApiResult<Option<String>> {
        if self.can_admin_organization(state, project.organization_id)? {
            return Ok(Some("admin".into()));
        }
        self.member_of(state, MemberOf::Project(project.id))
    }
}

/// A new manage token secret: `<tokenId>-<40 random characters>`.
pub fn new_manage_secret(token_id: i64) -> String {
    use rand::Rng;
    let random: String = rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(40).map(char::from).collect();
    format!("{token_id}-{random}")
}
