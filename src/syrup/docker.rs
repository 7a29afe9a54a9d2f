//! The Docker Runner API (notes: services.md §21; spec `docker-runner/apiary.apib`), mounted at
//! `/syrup/docker` and at `/docker-runner` (the legacy index id's host serves it at its root):
//! runs (with `branch` and image `tag` variants) and debug runs are Queue jobs (`mode: debug`);
//! actions go to the Sync Actions domain; `configuration/resolve` renders variables as the
//! runner does; stats come from the project's job history; `migrate` re-encrypts ciphers.
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, FixedOffset, NaiveDate, TimeZone};
use serde_json::{Map, Value, json};

use super::api::{SResult, SyrupBody, SyrupError, bad};
use super::RunTarget;
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Code, Params, Routes};
use crate::meta::queue_jobs::{QueueJobFilter, QueueJobPage, QueueJobSort, QueueJobSortField};
use crate::storage::auth::Auth;
use crate::sync_actions::{ActionRequest, SyncActionError};

/// The Docker Runner's routes under `prefix`.
pub fn routes(prefix: &str) -> Routes<AppState> {
    let r = |path: &str| format!("{prefix}{path}");
    Routes::new()
        .route(prefix, get(index))
        .route(&r("/{component}/run"), post(run))
        .route(&r("/{component}/run/tag/{tag}"), post(run))
        .route(&r("/branch/{branch}/{component}/run"), post(run))
        .route(&r("/branch/{branch}/{component}/run/tag/{tag}"), post(run))
        .route(&r("/{component}/debug"), post(debug))
        .route(&r("/branch/{branch}/{component}/debug"), post(debug))
        .route(&r("/{component}/action/{action}"), post(action))
        .route(&r("/branch/{branch}/{component}/action/{action}"), post(action))
        .route(&r("/{component}/encrypt"), post(super::api::encrypt))
        .route(&r("/{component}/configs/encrypt"), post(super::api::encrypt))
        .route(&r("/encrypt"), post(encrypt_for))
        .route(&r("/stats/project"), get(stats))
        .route(&r("/stats/project/daily"), get(daily_stats))
        .route(&r("/configuration/resolve"), post(resolve))
        .route(&r("/branch/{branch}/configuration/resolve"), post(resolve))
        .route(&r("/migrate"), post(migrate))
}

/// `POST /encrypt?componentId=&projectId=&configId=`: ciphers in the scope the parameters
/// name (the Encryption API's rules), for the token's own project only.
async fn encrypt_for(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> SResult<Response> {
    let auth = auth?;
    let p = Params::from_query(req.uri().query())?;
    let given = |key: &str| p.str(key).filter(|s| !s.is_empty());
    let component = given("componentId").ok_or_else(|| bad("The \"componentId\" parameter is required."))?;
    let component = super::component_id(&component)?.to_string();
    let project = given("projectId");
    if project.as_ref().is_some_and(|pid| pid != &auth.project_id.to_string()) {
        return Err(SyrupError(ApiError::new(Code::AccessDenied, "The token cannot encrypt values for another project.")));
    }
    let scope = crate::encryption::Scope { component: Some(component), project, config: given("configId"), branch_type: None };
    scope.kind().map_err(bad)?;
    super::api::encrypt_body(&state, scope, req).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "docker-runner", "documentation": "https://kebooladocker.docs.apiary.io/"}))
}

fn path_component(p: &HashMap<String, String>) -> SResult<&str> {
    Ok(super::component_id(p.get("component").map(String::as_str).unwrap_or_default())?)
}

fn queue_job(state: &AppState, auth: &Auth, p: &HashMap<String, String>, body: &Map<String, Value>, mode: &str) -> SResult<(StatusCode, Json<super::wire::Created>)> {
    let target = RunTarget {
        syrup_component: "docker",
        component: path_component(p)?,
        branch: p.get("branch").map(String::as_str),
        tag: p.get("tag").map(String::as_str),
        mode,
    };
    let job = super::run(state, auth, body, &target)?;
    Ok((StatusCode::ACCEPTED, Json(super::created(state, &job))))
}

async fn run(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): Path<HashMap<String, String>>, body: SyrupBody) -> SResult<(StatusCode, Json<super::wire::Created>)> {
    queue_job(&state, &auth?, &p, &body.0, "run")
}

/// A debug job: the Queue's `mode: debug` (the data folder uploaded at each stage to Storage
/// Files, `runner::debug`).
async fn debug(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): Path<HashMap<String, String>>, body: SyrupBody) -> SResult<(StatusCode, Json<super::wire::Created>)> {
    queue_job(&state, &auth?, &p, &body.0, "debug")
}

/// A synchronous action with the body's `configData`: the component's stdout JSON (200), or
/// its failure in Keboola's docker-error shape.
async fn action(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): Path<HashMap<String, String>>, body: SyrupBody) -> Response {
    let outcome = async {
        let auth = auth?;
        let mut fields = Map::new();
        fields.insert("componentId".into(), json!(path_component(&p).map_err(|e| e.0)?));
        fields.insert("action".into(), json!(p.get("action").cloned().unwrap_or_default()));
        if let Some(cd) = body.0.get("configData") {
            fields.insert("configData".into(), cd.clone());
        }
        if let Some(b) = p.get("branch") {
            fields.insert("branchId".into(), json!(b));
        }
        let req = ActionRequest::parse(&fields)?;
        crate::sync_actions::run(&state, &auth, &req).await
    }
    .await;
    match outcome {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(SyncActionError::Refused(e)) => SyrupError(e).into_response(),
        Err(SyncActionError::Failed(failure)) => crate::sync_actions::api::failed(failure),
    }
}

/// Seconds the project's jobs ran (the Queue's own sum).
async fn stats(State(state): State<AppState>, auth: Result<Auth, ApiError>) -> SResult<Json<Value>> {
    let auth = auth?;
    let sum = state.meta.queue_duration_sum(auth.project_id.into())?;
    Ok(Json(json!({"jobs": {"durationSum": sum}})))
}

fn date_param(p: &Params, key: &str) -> SResult<NaiveDate> {
    let raw = p.str(key).filter(|s| !s.is_empty()).ok_or_else(|| bad(format!("The \"{key}\" parameter is required (YYYY-MM-DD).")))?;
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| bad(format!("The \"{key}\" parameter \"{raw}\" is not a date (YYYY-MM-DD).")))
}

/// `+02:00`, `-0530`, `Z`, or empty (UTC).
fn offset_param(p: &Params) -> SResult<FixedOffset> {
    let raw = p.str("timezoneOffset").unwrap_or_default();
    let raw = raw.trim();
    if raw.is_empty() || raw == "Z" {
        return FixedOffset::east_opt(0).ok_or_else(|| bad("bad offset"));
    }
    let invalid = || bad(format!("The \"timezoneOffset\" parameter \"{raw}\" is not an offset such as +02:00."));
    // A `+` in a query string arrives as a space.
    let (sign, rest) = match raw.chars().next() {
        Some('+') | Some(' ') => (1, &raw[1..]),
        Some('-') => (-1, &raw[1..]),
        Some(c) if c.is_ascii_digit() => (1, raw),
        _ => return Err(invalid()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid());
    }
    let hours: i32 = digits[..2].parse().map_err(|_| invalid())?;
    let minutes: i32 = digits[2..].parse().map_err(|_| invalid())?;
    if hours > 14 || minutes > 59 {
        return Err(invalid());
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or_else(invalid)
}

/// Each day's sum of the runtime of the project's jobs that ended that day (in the given
/// offset), every day of the range listed.
async fn daily_stats(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> SResult<Json<Value>> {
    let auth = auth?;
    let p = Params::from_query(req.uri().query())?;
    let (from, to) = (date_param(&p, "fromDate")?, date_param(&p, "toDate")?);
    let offset = offset_param(&p)?;
    if to < from {
        return Err(bad("\"toDate\" is before \"fromDate\"."));
    }
    if (to - from).num_days() > 366 {
        return Err(bad("The range may span at most 366 days."));
    }
    let start_of = |d: NaiveDate| offset.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()).single().map(|t| t.timestamp_millis());
    let (lo, hi) = (start_of(from).unwrap_or(0), start_of(to + Duration::days(1)).unwrap_or(0));
    let filter = QueueJobFilter { end_from_ms: Some(lo), end_to_ms: Some(hi), types: vec!["standard".into()], ..Default::default() };
    let mut sums: Vec<(NaiveDate, i64)> = (0..=(to - from).num_days()).map(|i| (from + Duration::days(i), 0)).collect();
    let mut offset_rows = 0;
    loop {
        let page = QueueJobPage { sort: QueueJobSort { field: QueueJobSortField::Id, descending: false }, limit: 1000, offset: offset_rows };
        let jobs = state.meta.search_queue_jobs(auth.project_id.into(), &filter, &page)?;
        for job in &jobs {
            let Some(end) = job.end_ms.and_then(|ms| offset.timestamp_millis_opt(ms).single()) else { continue };
            if let Some(slot) = sums.iter_mut().find(|(d, _)| *d == end.date_naive()) {
                slot.1 += job.duration();
            }
        }
        if jobs.len() < 1000 {
            break;
        }
        offset_rows += 1000;
    }
    let days: Vec<Value> = sums.into_iter().map(|(d, s)| json!({"date": d.format("%Y-%m-%d").to_string(), "durationSum": s})).collect();
    Ok(Json(json!({"jobs": days})))
}

fn field(body: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| body.get(*k).and_then(crate::http::params::scalar_to_string)).filter(|s| !s.is_empty())
}

/// A configuration version as it would run: variables (and Vault variables) rendered as the
/// runner renders them; with rows, each row merged over the configuration and rendered, the
/// configuration itself left as it is. State comes back empty. Values of encrypted Vault
/// variables are not shown.
async fn resolve(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(p): Path<HashMap<String, String>>, body: SyrupBody) -> SResult<Json<Value>> {
    let auth = auth?;
    let body = body.0;
    let component = field(&body, &["componentId"]).ok_or_else(|| bad("The \"componentId\" field is required."))?;
    let config_id = field(&body, &["configId", "configurationId"]).ok_or_else(|| bad("The \"configId\" field is required."))?;
    let version = field(&body, &["configVersion"]).ok_or_else(|| bad("The \"configVersion\" field is required."))?;
    let component = super::component_id(&component)?.to_string();
    auth.require_component(&component)?;
    let branch_id = match p.get("branch").map(String::as_str) {
        None | Some("default") => auth.default_branch_id,
        Some(b) => {
            let not_found = || ApiError::new(Code::BranchNotFound, format!("Branch \"{b}\" not found."));
            let id: i64 = b.parse().map_err(|_| not_found())?;
            if !state.meta.branch_exists(auth.project_id, id)? {
                return Err(not_found().into());
            }
            id
        }
    };
    let not_found = || ApiError::new(Code::ConfigurationNotFound, format!("Configuration \"{config_id}\" of component \"{component}\" not found."));
    // In a development branch the latest version is used (the spec: `configVersion` is ignored there).
    let mut doc = if branch_id == auth.default_branch_id {
        crate::storage::configurations::version_in_branch(&state, auth.project_id, branch_id, &component, &config_id, &version)?
    } else {
        crate::queue::configs::load(&state, auth.project_id, branch_id, &component, &config_id)?.ok_or_else(not_found)?.body
    };
    let values_data = match body.get("variableValuesData") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(Value::Array(a)) => Some(json!({"values": a})),
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err(bad("\"variableValuesData\" must be {values: [{name, value}]}.")),
    };
    let job = pseudo_job(&auth, branch_id, &component, &config_id, field(&body, &["variableValuesId"]), values_data);
    let scope = crate::encryption::Scope {
        component: Some(component.clone()),
        project: Some(auth.project_id.to_string()),
        config: Some(config_id.clone()),
        branch_type: Some(if branch_id == auth.default_branch_id { "default" } else { "dev" }.into()),
    };
    let render = |configuration: &Value| -> SResult<Value> {
        let rendered = crate::runner::variables::render(&state, &job, configuration, &scope).map_err(bad)?;
        let mut text = rendered.configuration.to_string();
        for secret in &rendered.secrets {
            let escaped = serde_json::to_string(secret).unwrap_or_default();
            text = text.replace(&escaped[1..escaped.len() - 1], "[hidden]");
        }
        serde_json::from_str(&text).map_err(|e| SyrupError(ApiError::internal(e)))
    };
    let base = match &doc["configuration"] {
        Value::Object(o) => Value::Object(o.clone()),
        _ => json!({}),
    };
    let has_rows = doc["rows"].as_array().is_some_and(|r| !r.is_empty());
    if has_rows {
        if let Some(rows) = doc["rows"].as_array_mut() {
            for row in rows.iter_mut() {
                let merged = crate::runner::merge(&base, &row["configuration"]);
                row["configuration"] = render(&merged)?;
                row["state"] = json!([]);
            }
        }
    } else {
        doc["configuration"] = render(&base)?;
    }
    doc["state"] = json!([]);
    Ok(Json(doc))
}

/// The job `variables::render` reads: its project, branch and variable values.
fn pseudo_job(auth: &Auth, branch_id: i64, component: &str, config: &str, values_id: Option<String>, values_data: Option<Value>) -> crate::queue::store::Job {
    crate::queue::store::Job {
        id: 0,
        project_id: auth.project_id,
        branch_id,
        run_id: String::new(),
        parent_run_id: String::new(),
        token_id: auth.token.id,
        token_description: auth.token.description.clone(),
        token_secret: None,
        component: component.into(),
        config: Some(config.into()),
        config_row_ids: Vec::new(),
        mode: "run".into(),
        kind: "standard".into(),
        status: kbstack_core::QueueJobStatus::Created,
        desired_status: kbstack_core::QueueJobStatus::Processing,
        tag: None,
        variable_values_id: values_id,
        lock_key: None,
        created_ms: 0,
        updated_ms: 0,
        start_ms: None,
        end_ms: None,
        delayed_start_ms: None,
        duration_seconds: 0,
        definition: json!({"variableValuesData": values_data}),
        result: Value::Null,
        usage_data: Value::Null,
        metrics: Value::Null,
    }
}

const LEGACY_PREFIXES: [&str; 3] = ["KBC::Encrypted==", "KBC::ComponentEncrypted==", "KBC::ComponentProjectEncrypted=="];

fn legacy_ciphers(v: &Value, out: &mut usize) {
    match v {
        Value::String(s) if LEGACY_PREFIXES.iter().any(|p| s.starts_with(p)) => *out += 1,
        Value::Object(o) => o.values().for_each(|v| legacy_ciphers(v, out)),
        Value::Array(a) => a.iter().for_each(|v| legacy_ciphers(v, out)),
        _ => {}
    }
}

/// `POST /migrate?componentId=&projectId=&configId=`: values in the scope the parameters name.
/// Current ciphers stay as they are and plain `#` values are encrypted; a legacy
/// `KBC::Encrypted==` cipher was made with another stack's key, which this one does not have,
/// so it is refused (a 400 naming how many there are) rather than passed on unopenable.
async fn migrate(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> SResult<Response> {
    let auth = auth?;
    let p = Params::from_query(req.uri().query())?;
    let given = |key: &str| p.str(key).filter(|s| !s.is_empty());
    let component = given("componentId").ok_or_else(|| bad("The \"componentId\" parameter is required."))?;
    let component = super::component_id(&component)?.to_string();
    let project = given("projectId");
    if let Some(pid) = &project {
        if pid != &auth.project_id.to_string() {
            return Err(SyrupError(ApiError::new(Code::AccessDenied, format!("The token cannot migrate ciphers of project \"{pid}\"."))));
        }
    }
    let scope = crate::encryption::Scope { component: Some(component), project, config: given("configId"), branch_type: None };
    scope.kind().map_err(bad)?;
    let is_json = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase().contains("json");
    let limit = state.config.max_body_bytes;
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| SyrupError(ApiError::new(Code::PayloadTooLarge, format!("Request body is larger than the limit of {limit} bytes."))))?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| bad("The request body must be UTF-8 text."))?;
    let value: Value = if is_json { serde_json::from_str(&text).map_err(|e| bad(format!("Invalid JSON in request body: {e}")))? } else { Value::String(text) };
    if value.as_str().is_some_and(str::is_empty) {
        return Err(bad("Nothing to migrate: send a cipher as text/plain or a JSON object."));
    }
    let mut legacy = 0;
    legacy_ciphers(&value, &mut legacy);
    if legacy > 0 {
        return Err(bad(format!(
            "{legacy} legacy cipher(s) (KBC::Encrypted==…) cannot be migrated: they were made with another stack's key. Encrypt the plain values again."
        )));
    }
    let out = crate::encryption::encrypt_value(&state, &scope, value).map_err(bad)?;
    Ok(match out {
        Value::String(s) if !is_json => super::api::text_response(s),
        other => (StatusCode::ACCEPTED, Json(other)).into_response(),
    })
}
