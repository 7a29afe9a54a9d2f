//! The OAuth Broker's HTTP API under `/oauth` (notes: services.md §15, spec `../oauth-broker/`).
//! Errors use the PHP services' envelope: `{error, code: <HTTP status>, status: "error",
//! exceptionId}`. Apps (`/manage`) take a super admin's `X-KBC-ManageApiToken`; credentials a
//! Storage token; the authorize start takes the Storage token as a form field (`token`) as the
//! UI posts it, or in the header.
use axum::Json;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::{Consumer, Credentials};
use super::{ConsumerFields, NewCredentials};
use crate::app::AppState;
use crate::http::params::scalar_to_string;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Code, Params, Routes};
use crate::manage::auth::SuperAdmin;
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/oauth", get(index))
        .route("/oauth/health-check", get(index))
        .route("/oauth/manage", get(list_consumers).post(create_consumer))
        .route("/oauth/manage/{component_id}", get(consumer_detail).patch(update_consumer).delete(delete_consumer))
        .route("/oauth/credentials", get(list_all_credentials))
        .route("/oauth/credentials/{component_id}", get(list_credentials).post(add_credentials))
        .route("/oauth/credentials/{component_id}/{name}", get(credentials_detail).delete(delete_credentials))
        .route("/oauth/authorize/{component_id}", post(authorize))
        .route("/oauth/authorize/{component_id}/callback", get(callback))
        .map_router(|r| r.layer(axum::middleware::from_fn(oauth_envelope)))
}

/// An `ApiError` in the broker's envelope (integer `code`).
pub struct OAuthError(pub ApiError);

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        OAuthError(e)
    }
}

impl From<kbstack_core::Error> for OAuthError {
    fn from(e: kbstack_core::Error) -> Self {
        OAuthError(e.into())
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "oauth-", |_| {})
    }
}

type OResult<T> = Result<T, OAuthError>;

/// The middleware that renders axum's own refusals in the broker's envelope.
async fn oauth_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| OAuthError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "oauth", "documentation": "https://oauthapi3.docs.apiary.io"}))
}

fn invalid(message: String) -> ApiError {
    ApiError::new(Code::OAuthInvalidPayload, message)
}

/// A text field under any of `names` (the spec's camelCase, the v2 API's snake_case): `None`
/// when absent, `Some(None)` when null or empty, 422 for an object or a list.
fn text(p: &Params, names: &[&str]) -> Result<Option<Option<String>>, ApiError> {
    for name in names {
        match p.values.get(*name) {
            None => continue,
            Some(Value::Null) => return Ok(Some(None)),
            Some(v) => {
                return match scalar_to_string(v) {
                    Some(s) if s.is_empty() => Ok(Some(None)),
                    Some(s) => Ok(Some(Some(s))),
                    None => Err(invalid(format!("{}: This value should be of type string.", names[0]))),
                };
            }
        }
    }
    Ok(None)
}

fn consumer_fields(p: &Params) -> Result<ConsumerFields, ApiError> {
    let given = |names: &[&str]| text(p, names).map(Option::flatten);
    let restrict = match p.values.get("restrictCustomAuth").or_else(|| p.values.get("restrict_custom_auth")) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => match scalar_to_string(v).as_deref() {
            Some("1" | "true") => Some(true),
            Some("0" | "false" | "") => Some(false),
            _ => return Err(invalid("restrictCustomAuth: This value should be of type bool.".into())),
        },
    };
    Ok(ConsumerFields {
        component_id: given(&["componentId", "component_id", "id"])?,
        friendly_name: given(&["friendlyName", "friendly_name"])?,
        oauth_version: given(&["oauthVersion", "oauth_version"])?,
        auth_url: given(&["authUrl", "auth_url"])?,
        token_url: given(&["tokenUrl", "token_url"])?,
        request_token_url: text(p, &["requestTokenUrl", "request_token_url"])?,
        app_key: given(&["appKey", "app_key"])?,
        app_secret: given(&["appSecret", "#appSecret", "app_secret", "#app_secret"])?,
        restrict_custom_auth: restrict,
    })
}

fn consumer_json(state: &AppState, c: &crate::meta::oauth::OAuthConsumer) -> Result<Consumer, ApiError> {
    Ok(Consumer::of(c, super::component_cipher(state, c)?))
}

async fn list_consumers(State(state): State<AppState>, admin: Result<SuperAdmin, ApiError>) -> OResult<Json<Vec<Consumer>>> {
    admin?;
    let all = super::consumers(&state)?;
    Ok(Json(all.iter().map(|c| consumer_json(&state, c)).collect::<Result<_, _>>()?))
}

async fn create_consumer(State(state): State<AppState>, admin: Result<SuperAdmin, ApiError>, p: Result<Params, ApiError>) -> OResult<(StatusCode, Json<Consumer>)> {
    admin?;
    let c = super::create_consumer(&state, consumer_fields(&p?)?)?;
    Ok((StatusCode::CREATED, Json(consumer_json(&state, &c)?)))
}

async fn consumer_detail(State(state): State<AppState>, admin: Result<SuperAdmin, ApiError>, Path(component_id): Path<String>) -> OResult<Json<Consumer>> {
    admin?;
    Ok(Json(consumer_json(&state, &super::consumer(&state, &component_id)?)?))
}

async fn update_consumer(
    State(state): State<AppState>,
    admin: Result<SuperAdmin, ApiError>,
    Path(component_id): Path<String>,
    p: Result<Params, ApiError>,
) -> OResult<Json<Consumer>> {
    admin?;
    let mut fields = consumer_fields(&p?)?;
    if fields.component_id.as_ref().is_some_and(|c| *c != component_id) {
        return Err(invalid("componentId: The component of an app cannot change.".into()).into());
    }
    fields.component_id = None;
    Ok(Json(consumer_json(&state, &super::update_consumer(&state, &component_id, fields)?)?))
}

async fn delete_consumer(State(state): State<AppState>, admin: Result<SuperAdmin, ApiError>, Path(component_id): Path<String>) -> OResult<StatusCode> {
    admin?;
    super::delete_consumer(&state, &component_id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /credentials?componentId=`: the project's credentials, of one component when asked.
async fn list_all_credentials(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> OResult<Json<Vec<Credentials>>> {
    let auth = auth?;
    let q = Params::from_query(req.uri().query()).map_err(|e| ApiError::new(Code::OAuthBadRequest, e.0.message))?;
    let component = text(&q, &["componentId"]).map_err(|e| ApiError::new(Code::OAuthBadRequest, e.0.message))?.flatten();
    let mut all = super::list_credentials(&state, &auth, component.as_deref())?;
    // `branchId=null`: only the project-wide ones (spec).
    if let Some(branch) = q.str("branchId").filter(|b| !b.is_empty()) {
        all.retain(|c| if branch == "null" { c.branch_id.is_none() } else { c.branch_id.as_deref() == Some(branch.as_str()) });
    }
    Ok(Json(Credentials::list(&all)))
}

async fn list_credentials(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(component_id): Path<String>) -> OResult<Json<Vec<Credentials>>> {
    let auth = auth?;
    // A component without an app has no credentials to list: 404, as for its detail.
    super::consumer(&state, &component_id)?;
    Ok(Json(Credentials::list(&super::list_credentials(&state, &auth, Some(&component_id))?)))
}

async fn credentials_detail(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((component_id, name)): Path<(String, String)>,
) -> OResult<Json<Credentials>> {
    let auth = auth?;
    Ok(Json(Credentials::of(&super::credentials(&state, &auth, &component_id, &name)?)))
}

async fn delete_credentials(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path((component_id, name)): Path<(String, String)>) -> OResult<StatusCode> {
    let auth = auth?;
    super::delete_credentials(&state, &auth, &component_id, &name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /credentials/{componentId}`: `id`, `authorizedFor`, `#data` (a text; the v2 API's
/// `data` may also be an object, kept as its JSON), `branchId`.
async fn add_credentials(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path(component_id): Path<String>,
    p: Result<Params, ApiError>,
) -> OResult<(StatusCode, Json<Credentials>)> {
    let auth = auth?;
    super::require_modify(&auth)?;
    let p = p?;
    let name = text(&p, &["id"])?.flatten().ok_or_else(|| invalid("id: This value should not be blank.".into()))?;
    let authorized_for = text(&p, &["authorizedFor"])?.flatten().unwrap_or_default();
    let branch_id = text(&p, &["branchId"])?.flatten().filter(|b| b != "null");
    let data = match p.get("#data").or_else(|| p.get("data")) {
        None => return Err(invalid("#data: This value should not be blank.".into()).into()),
        Some(Value::String(s)) if s.is_empty() => return Err(invalid("#data: This value should not be blank.".into()).into()),
        Some(Value::String(s)) => s.clone(),
        // The v2 API's `data` object (or any other JSON), kept as its JSON text.
        Some(v) => v.to_string(),
    };
    let c = super::add_credentials(&state, &auth, &component_id, NewCredentials { name, authorized_for, branch_id, data })?;
    Ok((StatusCode::CREATED, Json(Credentials::of(&c))))
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

/// The Storage token of an authorize start: the form's `token` (or `X-StorageApi-Token`
/// field), else the header; checked as any Storage request's token is.
async fn auth_of(state: &AppState, headers: &HeaderMap, p: &Params) -> Result<Auth, ApiError> {
    let from_form = p.str("token").or_else(|| p.str("X-StorageApi-Token")).filter(|t| !t.trim().is_empty());
    let secret = match from_form {
        Some(t) => t.trim().to_string(),
        None => headers.get("x-storageapi-token").and_then(|v| v.to_str().ok()).unwrap_or_default().trim().to_string(),
    };
    let mut parts = axum::http::Request::post("/").body(()).map_err(|e| ApiError::internal(e.to_string()))?.into_parts().0;
    if let Ok(v) = axum::http::HeaderValue::from_str(&secret) {
        parts.headers.insert("x-storageapi-token", v);
    }
    Auth::from_request_parts(&mut parts, state).await
}

/// `POST /authorize/{componentId}`: a 302 to the provider.
async fn authorize(State(state): State<AppState>, Path(component_id): Path<String>, headers: HeaderMap, p: Result<Params, ApiError>) -> OResult<Response> {
    let p = p?;
    let auth = auth_of(&state, &headers, &p).await?;
    let field = |names: &[&str]| text(&p, names).map(Option::flatten).map_err(|e| ApiError::new(Code::OAuthBadRequest, e.0.message));
    let start = super::flow::Start {
        name: field(&["id"])?.ok_or_else(|| ApiError::new(Code::OAuthBadRequest, "id: This value should not be blank."))?,
        authorized_for: field(&["authorizedFor"])?.unwrap_or_default(),
        return_url: field(&["returnUrl"])?,
        branch_id: field(&["branchId"])?.filter(|b| b != "null"),
        app_key: field(&["appKey"])?,
        app_secret: field(&["appSecret"])?,
        auth_url: field(&["authUrl"])?,
        token_url: field(&["tokenUrl"])?,
    };
    let location = super::flow::start(&state, &auth, &component_id, start)?;
    Ok(found(&location))
}

/// `GET /authorize/{componentId}/callback`: back to `returnUrl`, or the credentials as JSON
/// when the start named none.
async fn callback(State(state): State<AppState>, Path(component_id): Path<String>, req: Request) -> OResult<Response> {
    let q = Params::from_query(req.uri().query()).map_err(|e| ApiError::new(Code::OAuthBadRequest, e.0.message))?;
    let finished = super::flow::finish(&state, &component_id, q.str("code"), q.str("state"), q.str("error")).await?;
    Ok(match finished.return_url {
        Some(url) => found(&url),
        None => Json(Credentials::of(&finished.credentials)).into_response(),
    })
}
