//! The authorize flow (OAuth 2.0 authorization code grant, spec `/authorize/{componentId}`):
//! `start` keeps a session under a random `state` and sends the browser to the provider's
//! `authUrl`; the provider sends it back to `/authorize/{componentId}/callback` with `code` and
//! `state`, and `finish` exchanges the code at the `tokenUrl` and keeps the provider's answer as
//! the credentials' `#data`. OAuth 1.0 apps are not authorized here (their credentials can be
//! added directly).
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::NewCredentials;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};
use crate::meta::oauth::{OAuthCredentials, OAuthSession};
use crate::storage::auth::Auth;

/// How long a started authorization waits for its callback.
pub const SESSION_TTL_MS: i64 = 60 * 60 * 1000;

const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::OAuthBadRequest, message)
}

/// Everything but RFC 3986's unreserved characters: safe in a path segment and a query value.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// What `POST /authorize/{componentId}` gives (form fields of the spec).
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub name: String,
    pub authorized_for: String,
    pub return_url: Option<String>,
    pub branch_id: Option<String>,
    /// A custom app (`appKey`, `appSecret`, `authUrl`, `tokenUrl`), unless the app restricts it.
    pub app_key: Option<String>,
    pub app_secret: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
}

/// The callback URL the provider returns the browser to.
pub fn redirect_uri(state: &AppState, component_id: &str) -> String {
    format!("{}/authorize/{}/callback", state.urls.service("oauth"), enc(component_id))
}

/// The provider's authorization URL: Keboola's app URLs may hold `%%client_id%%`,
/// `%%redirect_uri%%` (and `%%app_key%%`, `%%state%%`) placeholders; the standard parameters
/// are added where they are not.
fn authorization_url(auth_url: &str, client_id: &str, redirect: &str, session_state: &str) -> String {
    let mut url = auth_url
        .replace("%%client_id%%", &enc(client_id))
        .replace("%%app_key%%", &enc(client_id))
        .replace("%%redirect_uri%%", &enc(redirect))
        .replace("%%state%%", &enc(session_state));
    let query = url.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default();
    let has = |name: &str| query.split('&').any(|kv| kv.split('=').next() == Some(name));
    let mut add = Vec::new();
    for (name, value) in [("client_id", client_id), ("redirect_uri", redirect), ("response_type", "code"), ("state", session_state)] {
        if !has(name) {
            add.push(format!("{name}={}", enc(value)));
        }
    }
    if !add.is_empty() {
        if !url.contains('?') {
            url.push('?');
        } else if !url.ends_with('?') && !url.ends_with('&') {
            url.push('&');
        }
        url.push_str(&add.join("&"));
    }
    url
}

/// `POST /authorize/{componentId}`: the URL to send the browser to.
pub fn start(state: &AppState, auth: &Auth, component_id: &str, s: Start) -> ApiResult<String> {
    super::require_modify(auth)?;
    let consumer = super::consumer(state, component_id)?;
    super::check_name(&s.name, &s.authorized_for)?;
    if !matches!(consumer.oauth_version.as_str(), "2.0" | "facebook" | "quickbooks") {
        return Err(bad(format!(
            "OAuth {} authorization is not supported by this stack; add the credentials directly (POST /credentials/{component_id}).",
            consumer.oauth_version
        )));
    }
    let custom = s.app_key.is_some() || s.app_secret.is_some() || s.auth_url.is_some() || s.token_url.is_some();
    if custom && consumer.restrict_custom_auth {
        return Err(bad(format!("Custom authorization is not allowed for component \"{component_id}\".")));
    }
    for url in [&s.auth_url, &s.token_url, &s.return_url].into_iter().flatten() {
        if !super::valid_url(url) {
            return Err(bad(format!("\"{url}\" is not a valid URL.")));
        }
    }
    let app_key = s.app_key.unwrap_or(consumer.app_key);
    let sealed_app_secret = match s.app_secret {
        Some(secret) => state.secrets.seal(&secret),
        None => consumer.sealed_app_secret,
    };
    let auth_url = s.auth_url.unwrap_or(consumer.auth_url);
    let session_state: String = {
        use rand::Rng;
        rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(40).map(char::from).collect()
    };
    let redirect = redirect_uri(state, component_id);
    let session = OAuthSession {
        state: session_state.clone(),
        project_id: auth.project_id,
        component_id: component_id.to_string(),
        name: s.name,
        branch_id: s.branch_id,
        authorized_for: s.authorized_for,
        return_url: s.return_url,
        creator_id: auth.token.id.to_string(),
        creator_description: auth.token.description.clone(),
        oauth_version: consumer.oauth_version,
        app_key: app_key.clone(),
        sealed_app_secret,
        token_url: s.token_url.unwrap_or(consumer.token_url),
        redirect_uri: redirect.clone(),
        created_ms: now_ms(),
    };
    state.meta.insert_oauth_session(&session)?;
    Ok(authorization_url(&auth_url, &app_key, &redirect, &session_state))
}

fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(TOKEN_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("kbstack-oauth")
            .build()
            .unwrap_or_default()
    })
}

/// The finished authorization: the credentials kept and where to send the browser.
pub struct Finished {
    pub credentials: OAuthCredentials,
    pub return_url: Option<String>,
}

/// `GET /authorize/{componentId}/callback?code=&state=`: exchange the code (RFC 6749 §4.1.3)
/// and keep the provider's answer, replacing credentials of the same name.
pub async fn finish(state: &AppState, component_id: &str, code: Option<String>, session_state: Option<String>, error: Option<String>) -> ApiResult<Finished> {
    if let Some(e) = error {
        return Err(bad(format!("The provider refused the authorization: {}", e.chars().take(200).collect::<String>())));
    }
    let session_state = session_state.filter(|s| !s.is_empty()).ok_or_else(|| bad("The \"state\" parameter is missing."))?;
    let code = code.filter(|c| !c.is_empty()).ok_or_else(|| bad("The \"code\" parameter is missing."))?;
    let session = state
        .meta
        .take_oauth_session(&session_state, now_ms() - SESSION_TTL_MS)?
        .ok_or_else(|| bad("The authorization session is unknown or has expired; start the authorization again."))?;
    if session.component_id != component_id {
        return Err(bad("The authorization session was started for another component."));
    }
    let secret = state.secrets.open(&session.sealed_app_secret).ok_or_else(|| ApiError::internal("the app secret cannot be opened"))?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", session.app_key.as_str()),
        ("client_secret", secret.as_str()),
        ("redirect_uri", session.redirect_uri.as_str()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", enc(v)))
    .collect::<Vec<_>>()
    .join("&");
    let resp = client()
        .post(&session.token_url)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(form)
        .send()
        .await
        .map_err(|e| bad(format!("The token endpoint cannot be reached: {}", e.without_url())))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| bad(format!("The token endpoint's answer cannot be read: {}", e.without_url())))?;
    if !status.is_success() {
        return Err(bad(format!("Failed to get the access token: the token endpoint answered {}.", status.as_u16())));
    }
    if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(&body) {
        if o.contains_key("error") && !o.contains_key("access_token") {
            return Err(bad(format!("Failed to get the access token: {}", o["error"].to_string().chars().take(200).collect::<String>())));
        }
    }
    let new = NewCredentials { name: session.name.clone(), authorized_for: session.authorized_for.clone(), branch_id: session.branch_id.clone(), data: body };
    let credentials = super::store_credentials(
        state,
        session.project_id,
        component_id,
        new,
        (session.creator_id.clone(), session.creator_description.clone()),
        (&session.oauth_version, &session.app_key, &secret),
        true,
    )?;
    Ok(Finished { credentials, return_url: session.return_url })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_urls() {
        assert_eq!(
            authorization_url("http://p/authorize", "k y", "http://s/cb", "st"),
            "http://p/authorize?client_id=k%20y&redirect_uri=http%3A%2F%2Fs%2Fcb&response_type=code&state=st"
        );
        assert_eq!(
            authorization_url("http://p/a?scope=x&response_type=code", "k", "r", "st"),
            "http://p/a?scope=x&response_type=code&client_id=k&redirect_uri=r&state=st"
        );
        assert_eq!(
            authorization_url("http://p/a?client_id=%%client_id%%&redirect_uri=%%redirect_uri%%", "k", "http://s", "st"),
            "http://p/a?client_id=k&redirect_uri=http%3A%2F%2Fs&response_type=code&state=st"
        );
        assert_eq!(authorization_url("http://p/a?", "k", "r", "s"), "http://p/a?client_id=k&redirect_uri=r&response_type=code&state=s");
    }
}
