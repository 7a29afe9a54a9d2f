//! Events: the server's own (`record`, e.g. `storage.tableImportDone`) and external ones
//! (`POST /v2/storage/events`), listed project-wide, per bucket, table or token.
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::OptionalExtension;
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::auth::{Auth, Need};
use super::{buckets, tables, tokens};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};
use crate::meta::json_col;

pub fn routes() -> Router<AppState> {
    Router::new()
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
    let id = state.meta.with(|c| {
        c.execute(
            "INSERT INTO events (uuid, project_id, branch_id, token_id, token_name, event, component, message, description, \
             type, run_id, created, configuration_id, object_id, object_name, object_type, params, results, duration, context) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            rusqlite::params![
                uuid,
                auth.project_id,
                auth.branch_id,
                auth.token.id,
                auth.token.description,
                e.event,
                e.component,
                e.message,
                e.description,
                e.kind,
                e.run_id,
                now_iso(),
                e.configuration_id,
                e.object_id,
                e.object_name,
                e.object_type,
                e.params.to_string(),
                e.results.to_string(),
                e.duration,
                e.context.to_string(),
            ],
        )?;
        Ok(c.last_insert_rowid())
    })?;
    Ok((id, uuid))
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

const COLUMNS: &str = "id, uuid, event, component, message, description, type, run_id, created, configuration_id, \
    object_id, object_name, object_type, context, params, results, performance, token_id, token_name, branch_id";

fn event_json(state: &AppState, default_branch: i64, r: &rusqlite::Row) -> rusqlite::Result<Value> {
    let id: i64 = r.get(0)?;
    let context = json_col(r.get(13)?);
    let branch: Option<i64> = r.get(19)?;
    Ok(json!({
        "id": id.to_string(),
        "uuid": r.get::<_, String>(1)?,
        "event": r.get::<_, String>(2)?,
        "component": r.get::<_, String>(3)?,
        "message": r.get::<_, String>(4)?,
        "description": r.get::<_, String>(5)?,
        "type": r.get::<_, String>(6)?,
        "runId": r.get::<_, Option<String>>(7)?,
        "created": r.get::<_, String>(8)?,
        "configurationId": r.get::<_, Option<String>>(9)?,
        "objectId": r.get::<_, Option<String>>(10)?,
        "objectName": r.get::<_, Option<String>>(11)?,
        "objectType": r.get::<_, Option<String>>(12)?,
        "context": {
            "remoteAddr": context.get("remoteAddr").cloned().unwrap_or(Value::Null),
            "httpReferer": context.get("httpReferer").cloned().unwrap_or(Value::Null),
            "httpUserAgent": context.get("httpUserAgent").cloned().unwrap_or(Value::Null),
            "apiVersion": "v2",
            "userAgent": context.get("userAgent").cloned().unwrap_or(Value::Null),
            "async": false,
        },
        "params": json_col(r.get(14)?),
        "results": json_col(r.get(15)?),
        "performance": json_col(r.get(16)?),
        "token": {"id": r.get::<_, Option<i64>>(17)?, "name": r.get::<_, Option<String>>(18)?},
        // Keboola reports the branch only for development branches.
        "idBranch": branch.filter(|b| *b != default_branch),
        "uri": format!("{}/events/{id}", state.storage_url()),
        "attachments": [],
    }))
}

/// Which events a listing covers besides the query filters.
enum Scope {
    Project,
    Bucket(String),
    Table(String),
    Token(i64),
}

/// A SQL condition with its parameters, built up clause by clause. Clauses use anonymous `?`
/// placeholders, which SQLite numbers in order of appearance, i.e. in the order they were pushed.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    args: Vec<SqlValue>,
}

impl Where {
    fn push(&mut self, clause: &str, args: impl IntoIterator<Item = SqlValue>) {
        self.clauses.push(clause.to_string());
        self.args.extend(args);
    }
}

fn text(s: impl Into<String>) -> SqlValue {
    SqlValue::Text(s.into())
}

/// An event id, or a uuid resolved to its id.
fn resolve_id(state: &AppState, project_id: i64, key: &str, given: &str) -> ApiResult<i64> {
    if let Ok(id) = given.parse::<i64>() {
        return Ok(id);
    }
    state
        .meta
        .with(|c| {
            c.query_row("SELECT id FROM events WHERE uuid = ?1 AND project_id = ?2", rusqlite::params![given, project_id], |r| r.get(0))
                .optional()
        })?
        .ok_or_else(|| ApiError::validation(format!("Invalid request:\n - {key}: Event \"{given}\" not found.")))
}

/// The subset of the query-string syntax people use: `field:value` terms (with `*` wildcards) and
/// plain words matched inside the message or event name; all terms must match.
/// Terms one `q` may hold: each is a SQL condition, and SQLite caps an expression's depth.
const MAX_QUERY_TERMS: usize = 100;

fn push_query(w: &mut Where, q: &str) -> ApiResult<()> {
    const FIELDS: &[(&str, &str)] = &[
        ("event", "event"),
        ("component", "component"),
        ("type", "type"),
        ("message", "message"),
        ("runId", "run_id"),
        ("configurationId", "configuration_id"),
        ("objectId", "object_id"),
        ("objectType", "object_type"),
        ("objectName", "object_name"),
        ("token.id", "token_id"),
        ("token.name", "token_name"),
    ];
    let terms: Vec<&str> = q.split_whitespace().filter(|t| !matches!(*t, "AND" | "OR" | "&&" | "||")).collect();
    if terms.len() > MAX_QUERY_TERMS {
        return Err(ApiError::new(
            Code::QuerySyntax,
            format!("Failed to parse query: more than {MAX_QUERY_TERMS} terms ({} given).", terms.len()),
        ));
    }
    for term in terms {
        let like = |v: &str| {
            let v = v.trim_matches('"');
            if v.contains('*') { v.replace('*', "%") } else { v.to_string() }
        };
        match term.split_once(':').and_then(|(k, v)| FIELDS.iter().find(|(f, _)| *f == k).map(|(_, col)| (*col, v))) {
            Some((col, v)) => w.push(&format!("CAST({col} AS TEXT) LIKE ?"), [text(like(v))]),
            None => {
                let pattern = format!("%{}%", like(term));
                w.push("(message LIKE ? OR event LIKE ?)", [text(pattern.clone()), text(pattern)]);
            }
        }
    }
    Ok(())
}

fn query(state: &AppState, auth: &Auth, scope: Scope, p: &Params) -> ApiResult<Vec<Value>> {
    let mut w = Where::default();
    w.push("project_id = ?", [SqlValue::Integer(auth.project_id)]);
    if auth.branch_id != auth.default_branch_id {
        w.push("branch_id = ?", [SqlValue::Integer(auth.branch_id)]);
    }
    match scope {
        Scope::Project => {
            // Admin tokens see every event, others only their own (APIB "Events list").
            if !auth.is_admin() {
                w.push("token_id = ?", [SqlValue::Integer(auth.token.id)]);
            }
        }
        Scope::Bucket(id) => w.push(
            "((object_type = 'bucket' AND object_id = ?) OR (object_type = 'table' AND substr(object_id, 1, length(?)) = ?))",
            [text(id.clone()), text(format!("{id}.")), text(format!("{id}."))],
        ),
        Scope::Table(id) => w.push("object_type = 'table' AND object_id = ?", [text(id)]),
        Scope::Token(id) => w.push("token_id = ?", [SqlValue::Integer(id)]),
    }
    if let Some(since) = p.str("sinceId").filter(|s| !s.is_empty()) {
        w.push("id > ?", [SqlValue::Integer(resolve_id(state, auth.project_id, "sinceId", &since)?)]);
    }
    if let Some(max) = p.str("maxId").filter(|s| !s.is_empty()) {
        w.push("id < ?", [SqlValue::Integer(resolve_id(state, auth.project_id, "maxId", &max)?)]);
    }
    for (key, col) in [("component", "component"), ("configurationId", "configuration_id"), ("runId", "run_id")] {
        if let Some(v) = p.str(key).filter(|s| !s.is_empty()) {
            w.push(&format!("{col} = ?"), [text(v)]);
        }
    }
    if let Some(q) = p.str("q") {
        push_query(&mut w, &q)?;
    }
    let limit = p.int("limit")?.unwrap_or(100).clamp(0, 10_000);
    let offset = p.int("offset")?.unwrap_or(0).max(0);
    let order = match p.str_or("sortOrder", "desc").to_ascii_lowercase().as_str() {
        "desc" | "" => "DESC",
        "asc" => "ASC",
        other => return Err(ApiError::validation(format!("Invalid request:\n - sortOrder: \"{other}\" is not one of asc, desc."))),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE {} ORDER BY id {order} LIMIT {limit} OFFSET {offset}",
        w.clauses.join(" AND ")
    );
    let default_branch = auth.default_branch_id;
    Ok(state.meta.with(|c| {
        let mut st = c.prepare(&sql)?;
        st.query_map(rusqlite::params_from_iter(w.args.iter()), |r| event_json(state, default_branch, r))?.collect()
    })?)
}

async fn list(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Array(query(&state, &auth, Scope::Project, &p)?)))
}

async fn list_bucket(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    auth.bucket(&id, Need::Read)?;
    buckets::load_bucket(&state, auth.project_id, auth.branch_id, &id)?;
    Ok(Json(Value::Array(query(&state, &auth, Scope::Bucket(id), &p)?)))
}

async fn list_table(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    let table = tables::load_table(&state, &auth, &id, Need::Read)?;
    Ok(Json(Value::Array(query(&state, &auth, Scope::Table(table.id), &p)?)))
}

async fn list_token(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    let token = tokens::load_token(&state, auth.project_id, &id)?;
    if token.id != auth.token.id {
        auth.require_manage_tokens()?;
    }
    Ok(Json(Value::Array(query(&state, &auth, Scope::Token(token.id), &p)?)))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let not_found = || ApiError::new(Code::EventNotFound, format!("Event \"{id}\" not found"));
    let (column, key) = match id.parse::<i64>() {
        Ok(n) => ("id", SqlValue::Integer(n)),
        Err(_) => ("uuid", text(id.clone())),
    };
    let (event, token_id) = state
        .meta
        .with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM events WHERE {column} = ?1 AND project_id = ?2"),
                rusqlite::params![key, auth.project_id],
                |r| Ok((event_json(&state, auth.default_branch_id, r)?, r.get::<_, Option<i64>>(17)?)),
            )
            .optional()
        })?
        .ok_or_else(not_found)?;
    if !auth.is_admin() && token_id != Some(auth.token.id) {
        return Err(not_found());
    }
    Ok(Json(event))
}
