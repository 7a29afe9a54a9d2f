//! The OAuth Broker, served at `/oauth` (`api`, notes: services.md §15, spec `../oauth-broker/`).
//! A super admin registers a component's OAuth app ("consumer": app key and secret, the
//! provider's URLs); a project then keeps credentials for the component: obtained through the
//! authorize flow (`flow`) or added directly. Their secrets (`#data`, the provider's answer, and
//! `#appSecret`) are kept and shown as ciphers bound to the project and component (Encryption
//! service), so only that component's jobs open them: the runner puts them into the job's
//! `config.json` at `authorization.oauth_api.credentials` (`for_job`).
//! Records are kept by `OAuthStore` (`meta::oauth`).
pub mod api;
pub mod flow;
pub mod wire;

use serde_json::Value;

use crate::app::AppState;
use crate::encryption::Scope;
use crate::http::{ApiError, ApiResult, Code, now_iso};
use crate::meta::oauth::{OAuthConsumer, OAuthCredentials};
use crate::storage::auth::Auth;

/// The versions an app may name (Keboola's broker: OAuth 1.0, 2.0 and the providers that speak
/// their own dialect of 2.0).
pub const VERSIONS: [&str; 4] = ["1.0", "2.0", "facebook", "quickbooks"];

/// Longest id, name or URL accepted (ids are path segments).
const MAX_FIELD: usize = 2048;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::OAuthInvalidPayload, message)
}

fn consumer_not_found(component_id: &str) -> ApiError {
    ApiError::new(Code::OAuthNotFound, format!("Consumer \"{component_id}\" not found."))
}

fn credentials_not_found(component_id: &str, name: &str) -> ApiError {
    ApiError::new(Code::OAuthNotFound, format!("Credentials \"{name}\" for component \"{component_id}\" not found."))
}

/// An id the broker keeps (component id, credentials name): non-empty, printable, no `/`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && !id.chars().any(|c| c.is_control() || c == '/')
}

fn valid_url(url: &str) -> bool {
    url.len() <= MAX_FIELD && (url.starts_with("http://") || url.starts_with("https://")) && !url.chars().any(char::is_control)
}

// ---- consumers (apps), super admins only: the handlers take `SuperAdmin`.

/// A consumer's fields as a request gives them; `None`: not given (a patch keeps the value).
#[derive(Debug, Clone, Default)]
pub struct ConsumerFields {
    pub component_id: Option<String>,
    pub friendly_name: Option<String>,
    pub oauth_version: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    /// `Some(None)`: set to null.
    pub request_token_url: Option<Option<String>>,
    pub app_key: Option<String>,
    pub app_secret: Option<String>,
    pub restrict_custom_auth: Option<bool>,
}

fn check_consumer(c: &OAuthConsumer, app_secret: &str) -> ApiResult<()> {
    if !valid_id(&c.component_id) {
        return Err(invalid("componentId: This value is not a valid component id."));
    }
    for (name, v) in [("friendlyName", &c.friendly_name), ("appKey", &c.app_key), ("appSecret", &app_secret.to_string())] {
        if v.trim().is_empty() {
            return Err(invalid(format!("{name}: This value should not be blank.")));
        }
        if v.len() > MAX_FIELD || v.contains('\0') {
            return Err(invalid(format!("{name}: This value is too long or not text.")));
        }
    }
    if !VERSIONS.contains(&c.oauth_version.as_str()) {
        return Err(invalid(format!("oauthVersion: The value \"{}\" is not a valid choice ({}).", c.oauth_version, VERSIONS.join(", "))));
    }
    for (name, v) in [("authUrl", Some(&c.auth_url)), ("tokenUrl", Some(&c.token_url)), ("requestTokenUrl", c.request_token_url.as_ref())] {
        if let Some(v) = v {
            if !valid_url(v) {
                return Err(invalid(format!("{name}: This value is not a valid URL.")));
            }
        }
    }
    if c.oauth_version == "1.0" && c.request_token_url.is_none() {
        return Err(invalid("requestTokenUrl: OAuth 1.0 apps need a request token URL."));
    }
    Ok(())
}

/// `POST /manage`: register a component's app; its secret is kept sealed.
pub fn create_consumer(state: &AppState, f: ConsumerFields) -> ApiResult<OAuthConsumer> {
    let required = |name: &str, v: Option<String>| v.ok_or_else(|| invalid(format!("{name}: This value should not be blank.")));
    let app_secret = required("appSecret", f.app_secret)?;
    let consumer = OAuthConsumer {
        component_id: required("componentId", f.component_id)?,
        friendly_name: required("friendlyName", f.friendly_name)?,
        oauth_version: required("oauthVersion", f.oauth_version)?,
        auth_url: required("authUrl", f.auth_url)?,
        token_url: required("tokenUrl", f.token_url)?,
        request_token_url: f.request_token_url.flatten(),
        app_key: required("appKey", f.app_key)?,
        sealed_app_secret: String::new(),
        restrict_custom_auth: f.restrict_custom_auth.unwrap_or(false),
        created: now_iso(),
    };
    check_consumer(&consumer, &app_secret)?;
    let consumer = OAuthConsumer { sealed_app_secret: state.secrets.seal(&app_secret), ..consumer };
    match state.meta.insert_oauth_consumer(&consumer)? {
        Ok(()) => Ok(consumer),
        Err(_) => Err(ApiError::new(Code::OAuthAlreadyExists, format!("Consumer \"{}\" already exists.", consumer.component_id))),
    }
}

pub fn consumers(state: &AppState) -> ApiResult<Vec<OAuthConsumer>> {
    Ok(state.meta.oauth_consumers()?)
}

pub fn consumer(state: &AppState, component_id: &str) -> ApiResult<OAuthConsumer> {
    state.meta.oauth_consumer(component_id)?.ok_or_else(|| consumer_not_found(component_id))
}

/// `PATCH /manage/{componentId}`: the fields given replace the app's.
pub fn update_consumer(state: &AppState, component_id: &str, f: ConsumerFields) -> ApiResult<OAuthConsumer> {
    let old = consumer(state, component_id)?;
    let mut c = old.clone();
    if let Some(v) = f.friendly_name {
        c.friendly_name = v;
    }
    if let Some(v) = f.oauth_version {
        c.oauth_version = v;
    }
    if let Some(v) = f.auth_url {
        c.auth_url = v;
    }
    if let Some(v) = f.token_url {
        c.token_url = v;
    }
    if let Some(v) = f.request_token_url {
        c.request_token_url = v;
    }
    if let Some(v) = f.app_key {
        c.app_key = v;
    }
    if let Some(v) = f.restrict_custom_auth {
        c.restrict_custom_auth = v;
    }
    let secret = match f.app_secret {
        Some(s) => s,
        None => state.secrets.open(&old.sealed_app_secret).ok_or_else(|| ApiError::internal("the app secret cannot be opened"))?,
    };
    check_consumer(&c, &secret)?;
    c.sealed_app_secret = state.secrets.seal(&secret);
    if !state.meta.update_oauth_consumer(&c)? {
        return Err(consumer_not_found(component_id));
    }
    Ok(c)
}

pub fn delete_consumer(state: &AppState, component_id: &str) -> ApiResult<()> {
    if state.meta.delete_oauth_consumer(component_id)? { Ok(()) } else { Err(consumer_not_found(component_id)) }
}

/// A plain value as a cipher only `component_id`'s jobs in `project_id` open.
pub fn cipher_for(state: &AppState, project_id: i64, component_id: &str, plain: &str) -> ApiResult<String> {
    let scope = Scope::project(component_id, project_id);
    match crate::encryption::encrypt_value(state, &scope, Value::String(plain.to_string())) {
        Ok(Value::String(cipher)) => Ok(cipher),
        Ok(_) => Err(ApiError::internal("the cipher of a string is not a string")),
        Err(e) => Err(invalid(e)),
    }
}

/// A consumer's secret as a cipher any project's job of the component opens (`appSecretDocker`).
pub fn component_cipher(state: &AppState, c: &OAuthConsumer) -> ApiResult<String> {
    let plain = state.secrets.open(&c.sealed_app_secret).ok_or_else(|| ApiError::internal("the app secret cannot be opened"))?;
    let scope = Scope { component: Some(c.component_id.clone()), ..Scope::default() };
    match crate::encryption::encrypt_value(state, &scope, Value::String(plain)) {
        Ok(Value::String(cipher)) => Ok(cipher),
        _ => Err(ApiError::internal("the app secret cannot be encrypted")),
    }
}

// ---- credentials, per project (Storage token)

/// Changing credentials is refused to the roles `none` and `readOnly`, as Vault decides it:
/// tokens here carry no role but the master token's `admin`.
pub fn require_modify(auth: &Auth) -> ApiResult<()> {
    if auth.is_admin() { Ok(()) } else { Err(ApiError::denied("Role \"none\" is not allowed to modify credentials")) }
}

/// Credentials to add directly (`POST /credentials/{componentId}`): tokens obtained elsewhere.
#[derive(Debug, Clone)]
pub struct NewCredentials {
    pub name: String,
    pub authorized_for: String,
    pub branch_id: Option<String>,
    /// The provider's answer: a JSON text (or a cipher of it made for the project and component).
    pub data: String,
}

/// Who made credentials: the token's id and description.
fn creator(auth: &Auth) -> (String, String) {
    (auth.token.id.to_string(), auth.token.description.clone())
}

fn check_name(name: &str, authorized_for: &str) -> ApiResult<()> {
    if !valid_id(name) {
        return Err(invalid("id: This value should be a non-blank name without \"/\"."));
    }
    if authorized_for.len() > MAX_FIELD || authorized_for.contains('\0') {
        return Err(invalid("authorizedFor: This value is too long or not text."));
    }
    Ok(())
}

/// Keep credentials of the project for a registered component (404 when it has no app).
/// `replace`: a re-authorization overwrites credentials of the same name.
pub fn store_credentials(
    state: &AppState,
    project_id: i64,
    component_id: &str,
    new: NewCredentials,
    creator: (String, String),
    app: (&str, &str, &str),
    replace: bool,
) -> ApiResult<OAuthCredentials> {
    check_name(&new.name, &new.authorized_for)?;
    let (oauth_version, app_key, app_secret) = app;
    let credentials = OAuthCredentials {
        project_id,
        component_id: component_id.to_string(),
        name: new.name,
        branch_id: new.branch_id,
        authorized_for: new.authorized_for,
        creator_id: creator.0,
        creator_description: creator.1,
        created: now_iso(),
        oauth_version: oauth_version.to_string(),
        app_key: app_key.to_string(),
        app_secret: cipher_for(state, project_id, component_id, app_secret)?,
        data: cipher_for(state, project_id, component_id, &new.data)?,
    };
    match state.meta.insert_oauth_credentials(&credentials, replace)? {
        Ok(()) => Ok(credentials),
        Err(_) => Err(ApiError::new(
            Code::OAuthAlreadyExists,
            format!("Credentials \"{}\" for component \"{component_id}\" already exist.", credentials.name),
        )),
    }
}

/// `POST /credentials/{componentId}`.
pub fn add_credentials(state: &AppState, auth: &Auth, component_id: &str, new: NewCredentials) -> ApiResult<OAuthCredentials> {
    require_modify(auth)?;
    let c = consumer(state, component_id)?;
    let secret = state.secrets.open(&c.sealed_app_secret).ok_or_else(|| ApiError::internal("the app secret cannot be opened"))?;
    store_credentials(state, auth.project_id, component_id, new, creator(auth), (&c.oauth_version, &c.app_key, &secret), false)
}

/// `GET /credentials[/{componentId}]`: the project's credentials.
pub fn list_credentials(state: &AppState, auth: &Auth, component_id: Option<&str>) -> ApiResult<Vec<OAuthCredentials>> {
    Ok(state.meta.oauth_credentials_list(auth.project_id, component_id)?)
}

pub fn credentials(state: &AppState, auth: &Auth, component_id: &str, name: &str) -> ApiResult<OAuthCredentials> {
    state.meta.oauth_credentials(auth.project_id, component_id, name)?.ok_or_else(|| credentials_not_found(component_id, name))
}

pub fn delete_credentials(state: &AppState, auth: &Auth, component_id: &str, name: &str) -> ApiResult<()> {
    require_modify(auth)?;
    if state.meta.delete_oauth_credentials(auth.project_id, component_id, name)? {
        Ok(())
    } else {
        Err(credentials_not_found(component_id, name))
    }
}

// ---- the runner's side

/// Put the credentials a job's configuration names (`authorization.oauth_api.id`) at
/// `authorization.oauth_api.credentials`, still as ciphers: the runner's decryption of the `#`
/// values opens them for the job (they are bound to its project and component). A configuration
/// without `oauth_api.id` is left alone; an id without credentials is the user's error.
pub fn for_job(state: &AppState, project_id: i64, component_id: &str, configuration: &mut Value) -> Result<(), String> {
    let id = match configuration.pointer("/authorization/oauth_api/id") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(s)) if s.is_empty() => return Ok(()),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err("The authorization.oauth_api.id must be a string.".into()),
    };
    let found = state.meta.oauth_credentials(project_id, component_id, &id).map_err(|e| e.message)?;
    let Some(c) = found else {
        return Err(format!("OAuth credentials \"{id}\" for component \"{component_id}\" not found. Authorize the configuration again."));
    };
    let mut injected = serde_json::to_value(wire::Credentials::of(&c)).map_err(|e| e.to_string())?;
    // The API's object without the API-only `branchId` (docs: the interface's keys).
    if let Some(o) = injected.as_object_mut() {
        o.shift_remove("branchId");
    }
    configuration["authorization"]["oauth_api"]["credentials"] = injected;
    Ok(())
}

/// The values inside an opened `#data` (the tokens themselves), for the runner to hide in the
/// job's log besides the whole text: a component printing just its access token is caught too.
pub fn data_secrets(configuration: &Value) -> Vec<String> {
    let Some(Value::String(data)) = configuration.pointer("/authorization/oauth_api/credentials/#data") else { return Vec::new() };
    let mut out = Vec::new();
    if let Ok(parsed) = serde_json::from_str::<Value>(data) {
        collect_strings(&parsed, &mut out);
    }
    out
}

/// Strings long enough to be secrets (not `bearer`, not an expiry).
fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.len() >= 8 => out.push(s.clone()),
        Value::Object(m) => m.values().for_each(|v| collect_strings(v, out)),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids() {
        for yes in ["main", "keboola.ex-google-drive", "123", "a b"] {
            assert!(valid_id(yes), "{yes}");
        }
        for no in ["", "a/b", "a\0b", &"x".repeat(256)] {
            assert!(!valid_id(no), "{no}");
        }
    }

    #[test]
    fn secrets_of_the_opened_data() {
        let cfg = json!({"authorization": {"oauth_api": {"credentials": {"#data": "{\"access_token\":\"tok-123456\",\"token_type\":\"bearer\",\"n\":{\"r\":\"refresh-1234\"}}"}}}});
        assert_eq!(data_secrets(&cfg), vec!["tok-123456".to_string(), "refresh-1234".to_string()]);
        assert!(data_secrets(&json!({})).is_empty());
        assert!(data_secrets(&json!({"authorization": {"oauth_api": {"credentials": {"#data": "not json"}}}})).is_empty());
    }
}
