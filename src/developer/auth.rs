//! Portal accounts: sign-up with confirmation, login sessions, password reset, the administrator
//! made at first start.
//!
//! Passwords are kept as PBKDF2-HMAC-SHA256 hashes (ring; a random salt per password). Tokens
//! are random strings handed out once; the store keeps their SHA-256 (as for Storage tokens).
//! Login gives `token` (1 hour; the `Authorization` header of every call, with or without
//! `Bearer `), `accessToken` (1 hour; logout) and `refreshToken` (30 days; `GET /auth/token`).
//!
//! No mail is sent from this stack: a sign-up's confirmation code, a password-reset code and a
//! vendor invitation link are written to the server log (info level) for the operator to pass
//! on, unless `KBSTACK_DEVELOPER_AUTO_CONFIRM` confirms new accounts at once.
use std::io::Write;
use std::num::NonZeroU32;
use std::os::unix::fs::OpenOptionsExt;

use axum::http::HeaderMap;
use base64::Engine;

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, now_iso};
use crate::meta::MetaStore;
use crate::meta::developer::PortalUser;
use crate::meta::tokens::hash_token;

const PBKDF2_ROUNDS: u32 = 120_000;
pub const TOKEN_SECS: i64 = 3600;
const REFRESH_SECS: i64 = 30 * 86400;
/// Where the administrator's generated password is kept (0600, beside `master-token`).
pub const ADMIN_PASSWORD_FILE: &str = "developer-admin-password";

/// The signed-in portal user of a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: PortalUser,
}

impl Session {
    pub fn email(&self) -> &str {
        &self.user.email
    }
}

pub fn unauthorized(message: &str) -> ApiError {
    ApiError::new(Code::DeveloperUnauthorized, message)
}

pub fn hash_password(password: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let mut out = [0u8; 32];
    ring::pbkdf2::derive(ring::pbkdf2::PBKDF2_HMAC_SHA256, NonZeroU32::new(PBKDF2_ROUNDS).unwrap(), &salt, password.as_bytes(), &mut out);
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    format!("pbkdf2-sha256${PBKDF2_ROUNDS}${}${}", b64.encode(salt), b64.encode(out))
}

pub fn verify_password(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let [kind, rounds, salt, hash] = parts.as_slice() else { return false };
    let (Some(rounds), Ok(salt), Ok(hash)) = (rounds.parse::<u32>().ok().and_then(NonZeroU32::new), b64.decode(salt), b64.decode(hash)) else {
        return false;
    };
    *kind == "pbkdf2-sha256" && ring::pbkdf2::verify(ring::pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password.as_bytes(), &hash).is_ok()
}

/// A random secret (tokens, codes, generated passwords).
pub fn random_secret(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// A six-digit code, as a mail would carry it.
fn new_code() -> String {
    format!("{:06}", rand::random::<u32>() % 1_000_000)
}

/// The spec's rule: 8+ characters, a lower-case letter, an upper-case letter, a digit, no space.
pub fn check_password(password: &str) -> ApiResult<()> {
    let ok = password.chars().count() >= 8
        && password.len() <= 256
        && password.chars().any(|c| c.is_lowercase())
        && password.chars().any(|c| c.is_uppercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && !password.chars().any(|c| c.is_whitespace() || c == '\0');
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(
            "Parameter \"password\" must have at least 8 characters with one lowercase, one uppercase and one number; no whitespace",
        ))
    }
}

/// An email as kept: trimmed, lower case, checked for a plausible shape.
pub fn normalize_email(email: &str) -> ApiResult<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 128
        && e.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'))
        && !e.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\' | '"' | '<' | '>'));
    if valid { Ok(e) } else { Err(ApiError::validation("Parameter \"email\" must be a valid email address")) }
}

/// A login name: an email, or a service account's `service.<vendor>.<name>`.
fn normalize_username(name: &str) -> Option<String> {
    let n = name.trim().to_lowercase();
    let service = n.starts_with("service.") && n.len() <= 160 && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if service { Some(n) } else { normalize_email(&n).ok() }
}

fn now_ms() -> i64 {
    crate::queue::now_ms()
}

/// The user of the request's `Authorization` header (`<token>` or `Bearer <token>`).
pub fn session(state: &AppState, headers: &HeaderMap) -> ApiResult<Session> {
    let raw = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| unauthorized("Authorization header is missing"))?;
    let token = raw.strip_prefix("Bearer ").or_else(|| raw.strip_prefix("bearer ")).unwrap_or(raw).trim();
    let (email, kind) =
        state.meta.portal_session(&hash_token(token), now_ms())?.ok_or_else(|| unauthorized("Token is invalid or expired"))?;
    if kind != "token" && kind != "access" {
        return Err(unauthorized("Token is invalid or expired"));
    }
    let user = state.meta.portal_user(&email)?.ok_or_else(|| unauthorized("Token is invalid or expired"))?;
    Ok(Session { user })
}

/// The session of an administrator (403 for anybody else).
pub fn admin(state: &AppState, headers: &HeaderMap) -> ApiResult<Session> {
    let s = session(state, headers)?;
    if !s.user.is_admin {
        return Err(ApiError::denied("This action requires an administrator"));
    }
    Ok(s)
}

fn issue(meta: &MetaStore, email: &str, kind: &str, secs: i64) -> ApiResult<String> {
    let token = random_secret(32);
    meta.insert_portal_session(&hash_token(&token), email, kind, now_ms() + secs * 1000)?;
    Ok(token)
}

pub struct Tokens {
    pub token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

/// `POST /auth/login`: a wrong email and a wrong password look the same.
pub fn login(state: &AppState, email: &str, password: &str) -> ApiResult<Tokens> {
    let wrong = || unauthorized("Incorrect username or password");
    let email = normalize_username(email).ok_or_else(wrong)?;
    let user = state.meta.portal_user(&email)?.ok_or_else(wrong)?;
    if !verify_password(password, &user.password_hash) {
        return Err(wrong());
    }
    if !user.confirmed {
        return Err(unauthorized("User is not confirmed"));
    }
    Ok(Tokens {
        token: issue(&state.meta, &email, "token", TOKEN_SECS)?,
        access_token: issue(&state.meta, &email, "access", TOKEN_SECS)?,
        refresh_token: Some(issue(&state.meta, &email, "refresh", REFRESH_SECS)?),
    })
}

/// `GET /auth/token`: fresh tokens for the refresh token in `Authorization`.
pub fn refresh(state: &AppState, headers: &HeaderMap) -> ApiResult<Tokens> {
    let raw = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("").trim();
    let token = raw.strip_prefix("Bearer ").unwrap_or(raw);
    let invalid = || unauthorized("Refresh token is invalid or expired");
    let (email, kind) = state.meta.portal_session(&hash_token(token), now_ms())?.ok_or_else(invalid)?;
    if kind != "refresh" {
        return Err(invalid());
    }
    Ok(Tokens {
        token: issue(&state.meta, &email, "token", TOKEN_SECS)?,
        access_token: issue(&state.meta, &email, "access", TOKEN_SECS)?,
        refresh_token: None,
    })
}

pub fn logout(state: &AppState, session: &Session) -> ApiResult<()> {
    Ok(state.meta.delete_portal_sessions(session.email(), now_ms())?)
}

/// `POST /auth/signup`. The code goes to the log (there is no mail) unless sign-ups are
/// confirmed at once (`KBSTACK_DEVELOPER_AUTO_CONFIRM`).
pub fn signup(state: &AppState, name: &str, email: &str, password: &str) -> ApiResult<()> {
    let email = normalize_email(email)?;
    if name.trim().is_empty() || name.chars().count() > 128 || name.contains('\0') {
        return Err(ApiError::validation("Parameter \"name\" is required (at most 128 characters)"));
    }
    check_password(password)?;
    let auto = state.config.developer_auto_confirm;
    let code = new_code();
    let user = PortalUser {
        email: email.clone(),
        name: name.trim().to_string(),
        password_hash: hash_password(password),
        is_admin: false,
        confirmed: auto,
        code: (!auto).then(|| hash_token(&code)),
        service_vendor: None,
        description: String::new(),
        created: now_iso(),
    };
    state
        .meta
        .insert_portal_user(&user)?
        .map_err(|_| ApiError::new(Code::DeveloperAlreadyExists, "An account with the given email already exists"))?;
    if !auto {
        tracing::info!(email, code, "developer portal: confirmation code of a new account (POST /auth/confirm/{{email}}/{{code}})");
    }
    Ok(())
}

/// `POST /auth/confirm/{email}/{code}`.
pub fn confirm(state: &AppState, email: &str, code: &str) -> ApiResult<()> {
    let invalid = || ApiError::validation("Invalid confirmation code");
    let email = normalize_email(email).map_err(|_| invalid())?;
    let mut user = state.meta.portal_user(&email)?.ok_or_else(invalid)?;
    if user.confirmed {
        return Ok(());
    }
    if user.code.as_deref() != Some(hash_token(code).as_str()) {
        return Err(invalid());
    }
    user.confirmed = true;
    user.code = None;
    state.meta.update_portal_user(&user)?;
    Ok(())
}

/// `POST /auth/confirm {email, password}`: a new confirmation code (to the log).
pub fn resend_confirmation(state: &AppState, email: &str, password: &str) -> ApiResult<()> {
    let wrong = || unauthorized("Incorrect username or password");
    let email = normalize_email(email).map_err(|_| wrong())?;
    let mut user = state.meta.portal_user(&email)?.ok_or_else(wrong)?;
    if !verify_password(password, &user.password_hash) {
        return Err(wrong());
    }
    if user.confirmed {
        return Err(ApiError::validation("The account is already confirmed"));
    }
    let code = new_code();
    user.code = Some(hash_token(&code));
    state.meta.update_portal_user(&user)?;
    tracing::info!(email, code, "developer portal: new confirmation code");
    Ok(())
}

/// `POST /auth/forgot/{email}`: a reset code to the log; unknown emails answer the same.
pub fn forgot(state: &AppState, email: &str) -> ApiResult<()> {
    let email = normalize_email(email)?;
    if let Some(mut user) = state.meta.portal_user(&email)?.filter(|u| u.service_vendor.is_none()) {
        let code = new_code();
        user.code = Some(hash_token(&code));
        state.meta.update_portal_user(&user)?;
        tracing::info!(email, code, "developer portal: password reset code (POST /auth/forgot/{{email}}/confirm)");
    }
    Ok(())
}

/// `POST /auth/forgot/{email}/confirm {code, password}`: sessions end with the old password.
pub fn reset_password(state: &AppState, email: &str, code: &str, password: &str) -> ApiResult<()> {
    let invalid = || ApiError::validation("Invalid code");
    let email = normalize_email(email).map_err(|_| invalid())?;
    check_password(password)?;
    let mut user = state.meta.portal_user(&email)?.ok_or_else(invalid)?;
    if code.is_empty() || user.code.as_deref() != Some(hash_token(code).as_str()) {
        return Err(invalid());
    }
    user.code = None;
    user.confirmed = true;
    user.password_hash = hash_password(password);
    state.meta.update_portal_user(&user)?;
    state.meta.delete_portal_sessions(&email, now_ms())?;
    Ok(())
}

/// First start: the portal's administrator (`developer_admin_email`), with a generated password
/// kept only in `<data-dir>/developer-admin-password` (0600), as the master token is kept.
/// Returns the line to print when it was made now.
pub fn ensure_admin(meta: &MetaStore, config: &crate::config::Config) -> anyhow::Result<Option<String>> {
    if meta.any_portal_admin().map_err(|e| anyhow::anyhow!("{}", e.message))? {
        return Ok(None);
    }
    let email = normalize_email(&config.developer_admin_email).map_err(|e| anyhow::anyhow!("developer admin email: {}", e.message))?;
    // Two of each class, so the generated password passes the portal's own rule.
    let password = format!("Aa1{}", random_secret(18));
    let user = PortalUser {
        email: email.clone(),
        name: "Administrator".into(),
        password_hash: hash_password(&password),
        is_admin: true,
        confirmed: true,
        code: None,
        service_vendor: None,
        description: String::new(),
        created: now_iso(),
    };
    match meta.insert_portal_user(&user).map_err(|e| anyhow::anyhow!("{}", e.message))? {
        Ok(()) => {}
        Err(_) => {
            // The address exists as a plain account: it becomes the administrator, password kept.
            let mut existing = meta.portal_user(&email).map_err(|e| anyhow::anyhow!("{}", e.message))?.expect("exists");
            existing.is_admin = true;
            meta.update_portal_user(&existing).map_err(|e| anyhow::anyhow!("{}", e.message))?;
            return Ok(Some(format!("developer portal admin: {email} (existing account made administrator)")));
        }
    }
    let file = config.data_dir.join(ADMIN_PASSWORD_FILE);
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&file)?;
    f.write_all(password.as_bytes())?;
    Ok(Some(format!("developer portal admin: {email}, password in {}", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_salt_and_verify() {
        let a = hash_password("Secret123");
        assert_ne!(a, hash_password("Secret123"), "salted");
        assert!(verify_password("Secret123", &a));
        assert!(!verify_password("Secret124", &a));
        assert!(!verify_password("Secret123", "garbage"));
    }

    #[test]
    fn password_rule_and_emails() {
        assert!(check_password("superSecret1").is_ok());
        for bad in ["short1A", "nouppercase1", "NOLOWER1", "NoDigitsHere", "Has space1A"] {
            assert!(check_password(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_email(" John@Keboola.com ").unwrap(), "john@keboola.com");
        for bad in ["x", "a@b", "@b.c", "a b@c.d", "a@b.c/../x"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
