//! Events: the server's own (`record`, e.g. `storage.tableImportDone`) and external ones
//! (`POST /v2/storage/events`), listed project-wide, per bucket, table or token.
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use crate::http::routes::get;
use axum::Json;
use crate::http::Routes;
use serde_json::{Value, json};

use super::auth::{Auth, Need};
use super::wire::event as wire;
use super::{buckets, tables, tokens};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};
use crate::meta::events::{EventField, EventFilter, EventObject, EventRecord, EventTerm, NewEventRecord};
use kbstack_core::ids::{EventId, Scope};

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/v2/storage/events", get(list).post(create))
        .route("/v2/storage/events/{id}", get(detail))
        .route("/v2/storage/buckets/{id}/events", get(list_bucket))
        .route("/v2/storage/tables/{id}/events", get(list_table))
        .route("/v2/storage/tokens/{id}/events", get(list_token))
}

/// An event the server records about its own work.
pub struct NewEvent {
    pub event: String,
    pub component: String,
    pub message: String,
    /// `info`, `success`, `warn` or `error`.
    pub kind: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub params: Value,
    pub results: Value,
}

/// Record an event of the request's token, branch and run (`X-KBC-RunId`).
pub fn record(state: &AppState, auth: &Auth, ev: NewEvent) -> ApiResult<()> {
    record_for_run(state, auth, auth.run_id.as_deref(), ev)
}

/// Record an event under an explicit run id (a job's events carry the job's run).
pub fn record_for_run(state: &AppState, auth: &Auth, run_id: Option<&str>, ev: NewEvent) -> ApiResult<()> {
    let object_name = match (&ev.object_type, &ev.object_id) {
        (Some(t), Some(id)) => Some(object_name(t, id)),
        _ => None,
    };
    insert(
        state,
        auth,
        Stored {
            event: ev.event,
            component: ev.component,
            message: ev.message,
            description: String::new(),
            kind: ev.kind,
            run_id: run_id.map(str::to_string),
            configuration_id: None,
            object_type: ev.object_type,
            object_id: ev.object_id,
            object_name,
            params: ev.params,
            results: ev.results,
            duration: None,
            context: json!({}),
        },
    )?;
    Ok(())
}

/// `in.c-b.table` → `table`; `in.c-b` → `c-b`; anything else as is.
fn object_name(object_type: &str, id: &str) -> String {
    match object_type {
        "table" | "bucket" => id.rsplit('.').next().unwrap_or(id).to_string(),
        _ => id.to_string(),
    }
}

struct Stored {
    event: String,
    component: String,
    message: String,
    description: String,
    kind: String,
    run_id: Option<String>,
    configuration_id: Option<String>,
    object_type: Option<String>,
    object_id: Option<String>,
    object_name: Option<String>,
    params: Value,
    results: Value,
    duration: Option<f64>,
    context: Value,
}

fn new_uuid_v7() -> String {
    let millis = chrono::Utc::now().timestamp_millis().max(0) as u64;
    uuid::Builder::from_unix_timestamp_millis(millis, &rand::random::<[u8; 10]>()).into_uuid().to_string()
}

fn insert(state: &AppState, auth: &Auth, e: Stored) -> ApiResult<(i64, String)> {
    let uuid = new_uuid_v7();
    let id = state.meta.insert_event(&NewEventRecord {
        uuid: uuid.clone(),
        scope: Scope::new(auth.project_id, auth.branch_id),
        token_id: auth.token.id.into(),
        token_name: auth.token.description.clone(),
        event: e.event,
        component: e.component,
        message: e.message,
        description: e.description,
        kind: e.kind,
        run_id: e.run_id,
        created: now_iso(),
        configuration_id: e.configuration_id,
        object_id: e.object_id,
        object_name: e.object_name,
        object_type: e.object_type,
        params: e.params,
        results: e.results,
        duration: e.duration,
        context: e.context,
    })?;
    Ok((id.get(), uuid))
}

const MAX_EVENT_BYTES: usize = 200 * 1024;

/// `params`/`results`: an object, or a string holding one (Go, form bodies).
fn custom_data(p: &Params, key: &str) -> ApiResult<Value> {
    match p.json_value(key)? {
        None => Ok(json!({})),
        Some(Value::Array(a)) if a.is_empty() => Ok(json!({})),
        Some(v @ (Value::Object(_) | Value::Array(_))) => Ok(v),
        Some(_) => Err(ApiError::validation(format!("Invalid request:\n - {key}: This value should be an object."))),
    }
}

async fn create(State(state): State<AppState>, auth: Auth, headers: HeaderMap, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let message = p.required_str("message")?;
    let component = p.required_str("component")?;
    let kind = p.str_or("type", "info");
    if !["info", "success", "warn", "error"].contains(&kind.as_str()) {
        return Err(ApiError::validation(format!(
            "Invalid request:\n - type: The value \"{kind}\" is not valid. Allowed: info, success, warn, error."
        )));
    }
    let duration = match p.get("duration") {
        None => None,
        Some(v) => Some(
            crate::http::params::scalar_to_string(v)
                .and_then(|s| s.trim().parse::<f64>().ok())
                .ok_or_else(|| ApiError::validation("Invalid request:\n - duration: This value should be a number."))?,
        ),
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let user_agent = header("user-agent");
    let remote = header("x-forwarded-for").split(',').next().unwrap_or("").trim().to_string();
    let stored = Stored {
        event: format!("ext.{component}."),
        component,
        message,
        description: p.str_or("description", ""),
        kind,
        run_id: p.str("runId").filter(|s| !s.is_empty()).or_else(|| auth.run_id.clone()),
        configuration_id: p.str("configurationId").filter(|s| !s.is_empty()),
        object_type: None,
        object_id: None,
        object_name: None,
        params: custom_data(&p, "params")?,
        results: custom_data(&p, "results")?,
        duration,
        context: json!({
            "remoteAddr": remote,
            "httpReferer": header("referer"),
            "httpUserAgent": user_agent,
            "userAgent": user_agent,
        }),
    };
    let size = stored.message.len() + stored.description.len() + stored.params.to_string().len() + stored.results.to_string().len();
    if size > MAX_EVENT_BYTES {
        return Err(ApiError::validation(format!("Event is too large ({size} bytes); the maximum is {MAX_EVENT_BYTES} bytes.")));
    }
    let (id, uuid) = insert(&state, &auth, stored)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id.to_string(), "uuid": uuid}))))
}

fn event_json(state: &AppState, default_branch: i64, e: EventRecord) -> wire::Event {
    let context = |key: &str| e.context.get(key).and_then(Value::as_str).map(str::to_string);
    wire::Event {
        id: e.id.to_string(),
        context: wire::Context {
            remote_addr: context("remoteAddr"),
            http_referer: context("httpReferer"),
            http_user_agent: context("httpUserAgent"),
            api_version: "v2".into(),
            user_agent: context("userAgent"),
            is_async: false,
        },
        uuid: e.uuid,
        event: e.event,
        component: e.component,
        message: e.message,
        description: e.description,
        kind: e.kind,
        run_id: e.run_id,
        created: e.created,
        configuration_id: e.configuration_id,
        object_id: e.object_id,
        object_name: e.object_name,
        object_type: e.object_type,
        params: e.params,
        results: e.results,
        performance: e.performance,
        token: wire::Token { id: e.token_id, name: e.token_name },
        // Keboola reports the branch only for development branches.
        id_branch: e.branch_id.filter(|b| *b != default_branch),
        uri: format!("{}/events/{}", state.storage_url(), e.id),
        attachments: vec![],
    }
}

/// Which events a listing covers besides the query filters.
enum Listing {
    Project,
    Bucket(String),
    Table(String),
    Token(i64),
}

/// An event id, or a uuid resolved to its id.
fn resolve_id(state: &AppState, project_id: i64, key: &str, given: &str) -> ApiResult<EventId> {
    if let Ok(id) = given.parse::<i64>() {
        return Ok(EventId(id));
    }
    let event = state.meta.event_by_uuid(project_id.into(), given)?;
    event.map(|e| EventId(e.id)).ok_or_else(|| ApiError::validation(format!("Invalid request:\n - {key}: Event \"{given}\" not found.")))
}

/// Terms one `q` may hold: each is a SQL condition, and SQLite caps an expression's depth.
const MAX_QUERY_TERMS: usize = 100;

/// The subset of the query-string syntax people use: `field:value` terms (with `*` wildcards) and
/// plain words matched inside the message or event name; all terms must match.
fn query_terms(q: &str) -> ApiResult<Vec<EventTerm>> {
    const FIELDS: &[(&str, EventField)] = &[
        ("event", EventField::Event),
        ("component", EventField::Component),
        ("type", EventField::Type),
        ("message", EventField::Message),
        ("runId", EventField::RunId),
        ("configurationId", EventField::ConfigurationId),
        ("objectId", EventField::ObjectId),
        ("objectType", EventField::ObjectType),
        ("objectName", EventField::ObjectName),
        ("token.id", EventField::TokenId),
        ("token.name", EventField::TokenName),
    ];
    let terms: Vec<&str> = q.split_whitespace().filter(|t| !matches!(*t, "AND" | "OR" | "&&" | "||")).collect();
    if terms.len() > MAX_QUERY_TERMS {
        return Err(ApiError::new(
            Code::QuerySyntax,
            format!("Failed to parse query: more than {MAX_QUERY_TERMS} terms ({} given).", terms.len()),
        ));
    }
    let unquoted = |v: &str| v.trim_matches('"').to_string();
    Ok(terms
        .into_iter()
        .map(|term| match term.split_once(':').and_then(|(k, v)| FIELDS.iter().find(|(f, _)| *f == k).map(|(_, field)| (*field, v))) {
            Some((field, v)) => EventTerm { field: Some(field), pattern: unquoted(v) },
            None => EventTerm { field: None, pattern: unquoted(term) },
        })
        .collect())
}

fn query(state: &AppState, auth: &Auth, listing: Listing, p: &Params) -> ApiResult<Vec<wire::Event>> {
    let mut filter = EventFilter::new(auth.project_id.into());
    if auth.branch_id != auth.default_branch_id {
        filter.branch = Some(auth.branch_id.into());
    }
    match listing {
        Listing::Project => {
            // Admin tokens see every event, others only their own (APIB "Events list").
            if !auth.is_admin() {
                filter.token = Some(auth.token.id.into());
            }
        }
        Listing::Bucket(id) => filter.object = Some(EventObject::Bucket(id.into())),
        Listing::Table(id) => filter.object = Some(EventObject::Table(id.into())),
        Listing::Token(id) => filter.token = Some(id.into()),
    }
    if let Some(since) = p.str("sinceId").filter(|s| !s.is_empty()) {
        filter.since_id = Some(resolve_id(state, auth.project_id, "sinceId", &since)?);
    }
    if let Some(max) = p.str("maxId").filter(|s| !s.is_empty()) {
        filter.max_id = Some(resolve_id(state, auth.project_id, "maxId", &max)?);
    }
    filter.component = p.str("component").filter(|s| !s.is_empty());
    filter.configuration_id = p.str("configurationId").filter(|s| !s.is_empty());
    filter.run_id = p.str("runId").filter(|s| !s.is_empty());
    if let Some(q) = p.str("q") {
        filter.terms = query_terms(&q)?;
    }
    filter.limit = p.int("limit")?.unwrap_or(100).clamp(0, 10_000);
    filter.offset = p.int("offset")?.unwrap_or(0).max(0);
    filter.newest_first = match p.str_or("sortOrder", "desc").to_ascii_lowercase().as_str() {
        "desc" | "" => true,
        "asc" => false,
        other => return Err(ApiError::validation(format!("Invalid request:\n - sortOrder: \"{other}\" is not one of asc, desc."))),
    };
    let events = state.meta.events(&filter)?;
    Ok(events.into_iter().map(|e| event_json(state, auth.default_branch_id, e)).collect())
}

async fn list(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<Json<Vec<wire::Event>>> {
    Ok(Json(query(&state, &auth, Listing::Project, &p)?))
}

async fn list_bucket(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Vec<wire::Event>>> {
    auth.bucket(&id, Need::Read)?;
    buckets::load_bucket(&state, auth.project_id, auth.branch_id, &id)?;
    Ok(Json(query(&state, &auth, Listing::Bucket(id), &p)?))
}

async fn list_table(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Vec<wire::Event>>> {
    let table = tables::load_table(&state, &auth, &id, Need::Read)?;
    Ok(Json(query(&state, &auth, Listing::Table(table.id), &p)?))
}

async fn list_token(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Vec<wire::Event>>> {
    let token = tokens::load_token(&state, auth.project_id, &id)?;
    if token.id != auth.token.id {
        auth.require_manage_tokens()?;
    }
    Ok(Json(query(&state, &auth, Listing::Token(token.id), &p)?))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<wire::Event>> {
    let not_found = || ApiError::new(Code::EventNotFound, format!("Event \"{id}\" not found"));
    let project = auth.project_id.into();
    let event = match id.parse::<i64>() {
        Ok(n) => state.meta.event(project, EventId(n))?,
        Err(_) => state.meta.event_by_uuid(project, &id)?,
    };
    let event = event.ok_or_else(not_found)?;
    if !auth.is_admin() && event.token_id != Some(auth.token.id) {
        return Err(not_found());
    }
    Ok(Json(event_json(&state, auth.default_branch_id, event)))
}
