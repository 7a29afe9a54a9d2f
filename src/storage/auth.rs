//! Token authentication and the permission proofs handlers ask for.
//!
//! A handler takes `Auth` (any valid token, project and branch resolved) and asks it for a
//! proof: `auth.bucket(&id, Need::Write)?` returns a `BucketGrant` only when the token may write.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::Value;

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, BranchPrefix, Code};
use crate::meta::merge_requests::MergeRequestStore;
use kbstack_core::Scope;

pub use crate::meta::tokens::{TokenRecord, hash_token};

/// A new secret in Keboola's shape: `<project>-<tokenId>-<40 random characters>`.
pub fn new_token_secret(project_id: i64, token_id: i64) -> String {
    use rand::Rng;
    let random: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    format!("{project_id}-{token_id}-{random}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    Read,
    Write,
    Manage,
}

/// Proof that the token may act on a bucket at the level asked.
#[derive(Debug, Clone)]
pub struct BucketGrant {
    pub bucket_id: String,
    pub level: Need,
}

/// An authenticated request: token, project and the branch it addresses.
#[derive(Debug, Clone)]
pub struct Auth {
    pub token: TokenRecord,
    /// The secret as presented (echoed by `tokens/verify`; never logged).
    pub secret: String,
    pub project_id: i64,
    pub branch_id: i64,
    pub default_branch_id: i64,
    pub run_id: Option<String>,
}

impl Auth {
    /// The project and branch the request works in.
    pub fn scope(&self) -> Scope {
        Scope::new(self.project_id, self.branch_id)
    }

    /// The token acts as the project's administrator (Keboola's role `admin`): a master token.
    /// Other tokens carry no role (`none`).
    pub fn is_admin(&self) -> bool {
        self.token.is_master
    }

    pub fn require_master(&self) -> ApiResult<()> {
        if self.token.is_master {
            Ok(())
        } else {
            Err(ApiError::denied("This operation requires a master token."))
        }
    }

    pub fn require_manage_tokens(&self) -> ApiResult<()> {
        if self.token.is_master || self.token.can_manage_tokens {
            Ok(())
        } else {
            Err(ApiError::denied("You don't have access to manage tokens."))
        }
    }

    pub fn can_manage_buckets(&self) -> bool {
        self.token.is_master || self.token.can_manage_buckets
    }

    pub fn require_manage_buckets(&self) -> ApiResult<()> {
        if self.can_manage_buckets() {
            Ok(())
        } else {
            Err(ApiError::denied("You don't have access to manage buckets."))
        }
    }

    pub fn bucket_level(&self, bucket_id: &str) -> Option<Need> {
        if self.can_manage_buckets() {
            return Some(Need::Manage);
        }
        match self.token.bucket_permissions.get(bucket_id).and_then(Value::as_str) {
            Some("manage") => Some(Need::Manage),
            Some("write") => Some(Need::Write),
            Some("read") => Some(Need::Read),
            _ => None,
        }
    }

    /// Proof of access to a bucket. A bucket the token cannot see at all is reported as absent.
    pub fn bucket(&self, bucket_id: &str, need: Need) -> ApiResult<BucketGrant> {
        match self.bucket_level(bucket_id) {
            Some(level) if level >= need => Ok(BucketGrant { bucket_id: bucket_id.to_string(), level }),
            Some(_) => Err(ApiError::denied(format!(
                "You don't have access to the bucket \"{bucket_id}\" ({} permission required).",
                match need {
                    Need::Read => "read",
                    Need::Write => "write",
                    Need::Manage => "manage",
                }
            ))),
            None => Err(ApiError::new(
                Code::BucketNotFound,
                format!("The bucket \"{bucket_id}\" was not found in the project \"{}\"", self.project_id),
            )),
        }
    }

    pub fn can_access_component(&self, component_id: &str) -> bool {
        self.can_manage_buckets()
            || self.token.component_access.as_ref().is_some_and(|c| c.iter().any(|x| x == component_id))
    }

    pub fn require_component(&self, component_id: &str) -> ApiResult<()> {
        if self.can_access_component(component_id) {
            Ok(())
        } else {
            Err(ApiError::denied(format!("You don't have access to the component \"{component_id}\".")))
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let secret = match header("x-storageapi-token") {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => match header("authorization").and_then(|a| a.strip_prefix("Bearer ")) {
                Some(t) if !t.trim().is_empty() => t.trim().to_string(),
                _ => return Err(ApiError::new(Code::TokenMissing, "Access token must be set")),
            },
        };
        let token = state.meta.token_by_hash(&hash_token(&secret))?;
        let Some(token) = token else {
            return Err(ApiError::new(Code::TokenInvalid, "Invalid access token"));
        };
        if token.is_expired() {
            return Err(ApiError::new(Code::TokenInvalid, "Your access token has expired."));
        }
        let default_branch_id = state
            .meta
            .default_branch(token.project_id)?
            .ok_or_else(|| ApiError::internal(format!("project {} has no default branch", token.project_id)))?;
        let branch_id = match parts.extensions.get::<BranchPrefix>() {
            None => default_branch_id,
            Some(BranchPrefix(b)) if b == "default" => default_branch_id,
            Some(BranchPrefix(b)) => {
                let id: i64 = b
                    .parse()
                    .map_err(|_| ApiError::new(Code::BranchNotFound, format!("Branch \"{b}\" not found.")))?;
                if !state.meta.branch_exists(token.project_id, id)? {
                    return Err(ApiError::new(Code::BranchNotFound, format!("Branch \"{b}\" not found.")));
                }
                id
            }
        };
        // A branch whose merge request is past development takes no changes (Keboola: locked).
        let reads = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
        if !reads && branch_id != default_branch_id && state.meta.branch_locked(token.project_id, branch_id)? {
            return Err(ApiError::denied("You don't have access to the resource."));
        }
        let run_id = header("x-kbc-runid").filter(|s| !s.is_empty()).map(str::to_string);
        Ok(Auth { project_id: token.project_id, token, secret, branch_id, default_branch_id, run_id })
    }
}
