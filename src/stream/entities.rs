//! Sources and sinks, the domain side of the management API: ids, versions, enable/disable,
//! soft delete and undelete, secrets, sink settings (import conditions), and the tasks their
//! changes answer with. Each change is done before the answer, so its task is already finished.
use std::time::Duration;

use serde_json::{Value, json};

use super::mapping;
use super::writer::{Conditions, SinkKey};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};
use crate::meta::stream::StreamEntity;
use crate::storage::auth::Auth;

/// Keboola's limit per source.
pub const MAX_SINKS: usize = 20;
/// Keboola's page size cap (and its limit of sources per branch).
pub const MAX_PAGE: usize = 100;

pub const SETTING_COUNT: &str = "storage.level.target.import.trigger.count";
pub const SETTING_SIZE: &str = "storage.level.target.import.trigger.size";
pub const SETTING_INTERVAL: &str = "storage.level.target.import.trigger.interval";

pub fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(Code::StreamNotFound, format!("{what} \"{id}\" not found."))
}

pub fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(Code::StreamInvalidPayload, msg.into())
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The branch of `{branchId}`: `default` or the id of one of the project's branches.
pub fn branch_of(state: &AppState, auth: &Auth, branch: &str) -> ApiResult<i64> {
    if branch == "default" {
        return Ok(auth.default_branch_id);
    }
    let id: i64 = branch.parse().map_err(|_| not_found("Branch", branch))?;
    if !state.meta.branch_exists(auth.project_id, id)? {
        return Err(not_found("Branch", branch));
    }
    Ok(id)
}

/// Changes need a token that may manage buckets (the sinks create buckets and tables).
pub fn require_write(auth: &Auth) -> ApiResult<()> {
    if auth.can_manage_buckets() {
        Ok(())
    } else {
        Err(ApiError::denied("Changing Data Streams requires a token that can manage buckets."))
    }
}

fn by(auth: &Auth) -> Value {
    json!({"type": "user", "tokenId": auth.token.id.to_string(), "tokenDesc": auth.token.description})
}

/// `My Source!` → `my-source` (Keboola derives ids from names so).
pub fn id_from(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(48).collect::<String>().trim_end_matches('-').to_string()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 48 && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn new_secret() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..48).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

pub fn secret_of(body: &Value) -> String {
    body["_internal"]["secret"].as_str().unwrap_or_default().to_string()
}

fn version(number: i64, description: &str, auth: &Auth, body: &Value) -> Value {
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(body.to_string().as_bytes())[..8]);
    json!({"number": number, "hash": hash, "description": description, "at": now(), "by": by(auth)})
}

fn bump(body: &mut Value, auth: &Auth, description: &str) {
    let number = body["version"]["number"].as_i64().unwrap_or(0) + 1;
    let mut hashed = body.clone();
    hashed.as_object_mut().map(|m| m.remove("version"));
    body["version"] = version(number, description, auth, &hashed);
}

pub fn name_of(p: &Value) -> ApiResult<String> {
    let name = p["name"].as_str().map(str::trim).unwrap_or_default();
    if name.is_empty() || name.chars().count() > 40 {
        return Err(invalid("\"name\" is required, at most 40 characters."));
    }
    Ok(name.to_string())
}

fn description_of(p: &Value) -> ApiResult<String> {
    match &p["description"] {
        Value::Null => Ok(String::new()),
        Value::String(s) if s.chars().count() <= 4096 => Ok(s.clone()),
        _ => Err(invalid("\"description\" must be a string of at most 4096 characters.")),
    }
}

// Sources -----------------------------------------------------------------------------------

pub fn load_source(state: &AppState, auth: &Auth, branch_id: i64, source_id: &str) -> ApiResult<StreamEntity> {
    state
        .meta
        .stream_entity(auth.project_id, branch_id, source_id, "")?
        .filter(|e| !e.deleted)
        .ok_or_else(|| not_found("Source", source_id))
}

pub fn load_deleted_source(state: &AppState, auth: &Auth, branch_id: i64, source_id: &str) -> ApiResult<StreamEntity> {
    state
        .meta
        .stream_entity(auth.project_id, branch_id, source_id, "")?
        .filter(|e| e.deleted)
        .ok_or_else(|| not_found("Deleted source", source_id))
}

/// `POST sources {name, type, sourceId?, description?}`.
pub fn create_source(state: &AppState, auth: &Auth, branch_id: i64, p: &Value) -> ApiResult<StreamEntity> {
    require_write(auth)?;
    let name = name_of(p)?;
    let kind = p["type"].as_str().unwrap_or_default();
    if kind != "http" && kind != "otlp" {
        return Err(invalid("\"type\" must be \"http\" or \"otlp\"."));
    }
    let source_id = match p["sourceId"].as_str().filter(|s| !s.is_empty()) {
        Some(id) if valid_id(id) => id.to_string(),
        Some(id) => return Err(invalid(format!("\"sourceId\" \"{id}\" must be lowercase letters, digits and dashes, at most 48."))),
        None => id_from(&name),
    };
    if source_id.is_empty() {
        return Err(invalid("\"name\" must contain a letter or a digit."));
    }
    if state.meta.stream_entity(auth.project_id, branch_id, &source_id, "")?.is_some() {
        return Err(ApiError::new(Code::StreamConflict, format!("Source \"{source_id}\" already exists in the branch.")));
    }
    let live = state.meta.stream_entities(auth.project_id, branch_id, None)?.iter().filter(|e| !e.deleted).count();
    if live >= MAX_PAGE {
        return Err(invalid(format!("A branch has at most {MAX_PAGE} sources.")));
    }
    let mut body = json!({
        "projectId": auth.project_id,
        "branchId": branch_id,
        "sourceId": source_id,
        "type": kind,
        "name": name,
        "description": description_of(p)?,
        "created": {"at": now(), "by": by(auth)},
        "_internal": {"secret": new_secret()},
    });
    bump(&mut body, auth, "New source.");
    let e = StreamEntity { project_id: auth.project_id, branch_id, source_id, sink_id: String::new(), body, deleted: false };
    state.meta.put_stream_entity(&e)?;
    super::reload(state)?;
    Ok(e)
}

/// `PATCH sources/{id} {name?, description?, changeDescription?}`.
pub fn update_source(state: &AppState, auth: &Auth, branch_id: i64, source_id: &str, p: &Value) -> ApiResult<StreamEntity> {
    require_write(auth)?;
    let mut e = load_source(state, auth, branch_id, source_id)?;
    if !p["name"].is_null() {
        e.body["name"] = json!(name_of(p)?);
    }
    if !p["description"].is_null() {
        e.body["description"] = json!(description_of(p)?);
    }
    if let Some(t) = p["type"].as_str() {
        if e.body["type"] != t {
            return Err(invalid("The type of a source cannot change."));
        }
    }
    let change = p["changeDescription"].as_str().unwrap_or("Updated.").to_string();
    bump(&mut e.body, auth, &change);
    save(state, &e)?;
    Ok(e)
}

fn save(state: &AppState, e: &StreamEntity) -> ApiResult<()> {
    state.meta.put_stream_entity(e)?;
    super::reload(state)
}

/// Disable (`Some(reason)`) or enable a source or sink.
pub fn set_disabled(state: &AppState, auth: &Auth, mut e: StreamEntity, disabled: bool) -> ApiResult<StreamEntity> {
    require_write(auth)?;
    if disabled {
        e.body["disabled"] = json!({"at": now(), "by": by(auth), "reason": "Disabled by the user."});
    } else {
        e.body.as_object_mut().map(|m| m.remove("disabled"));
    }
    bump(&mut e.body, auth, if disabled { "Disabled." } else { "Enabled." });
    save(state, &e)?;
    Ok(e)
}

pub fn set_deleted(state: &AppState, auth: &Auth, mut e: StreamEntity, deleted: bool) -> ApiResult<StreamEntity> {
    require_write(auth)?;
    e.deleted = deleted;
    if deleted {
        e.body["deleted"] = json!({"at": now(), "by": by(auth)});
    } else {
        e.body.as_object_mut().map(|m| m.remove("deleted"));
    }
    save(state, &e)?;
    Ok(e)
}

pub fn rotate_secret(state: &AppState, auth: &Auth, mut e: StreamEntity) -> ApiResult<StreamEntity> {
    require_write(auth)?;
    e.body["_internal"]["secret"] = json!(new_secret());
    bump(&mut e.body, auth, "Secret rotated.");
    save(state, &e)?;
    Ok(e)
}

// Sinks -------------------------------------------------------------------------------------

pub fn load_sink(state: &AppState, auth: &Auth, branch_id: i64, source_id: &str, sink_id: &str, deleted: bool) -> ApiResult<StreamEntity> {
    load_source(state, auth, branch_id, source_id)?;
    state
        .meta
        .stream_entity(auth.project_id, branch_id, source_id, sink_id)?
        .filter(|e| e.deleted == deleted)
        .ok_or_else(|| not_found(if deleted { "Deleted sink" } else { "Sink" }, sink_id))
}

/// `table{type:"keboola", tableId, mapping{columns}}` checked.
fn table_of(p: &Value) -> ApiResult<Value> {
    let t = &p["table"];
    if !t.is_object() {
        return Err(invalid("\"table\" is required for a sink of type \"table\"."));
    }
    let kind = t["type"].as_str().unwrap_or("keboola");
    if kind != "keboola" {
        return Err(invalid("\"table.type\" must be \"keboola\"."));
    }
    let table_id = t["tableId"].as_str().unwrap_or_default();
    let valid_table = crate::storage::tables::split_table_id(table_id).is_some_and(|(bucket, name)| {
        crate::storage::tables::create::valid_table_name(&name)
            && (bucket.starts_with("in.c-") || bucket.starts_with("out.c-"))
            && bucket.len() > 5
    });
    if !valid_table {
        return Err(invalid(format!("\"table.tableId\" \"{table_id}\" is not a table id like \"in.c-bucket.table\".")));
    }
    mapping::parse_columns(&t["mapping"]["columns"])?;
    Ok(json!({"type": "keboola", "tableId": table_id, "mapping": {"columns": t["mapping"]["columns"].clone()}}))
}

fn signals_of(p: &Value) -> ApiResult<Option<Value>> {
    match &p["allowedSignals"] {
        Value::Null => Ok(None),
        Value::Array(list) if list.iter().all(|s| matches!(s.as_str(), Some("logs" | "metrics" | "traces"))) => Ok(Some(json!(list))),
        _ => Err(invalid("\"allowedSignals\" must be a list of \"logs\", \"metrics\", \"traces\".")),
    }
}

/// The sink's own Storage token: it creates and loads the sink's table, whoever made the sink.
fn new_sink_token(state: &AppState, auth: &Auth, source_id: &str, sink_id: &str) -> ApiResult<(i64, String)> {
    crate::storage::tokens::create_service_token(state, auth, &format!("[_internal] Stream Sink {source_id}/{sink_id}"), false)
}

/// `POST sources/{id}/sinks {name, type:"table", sinkId?, description?, allowedSignals?, table}`.
pub fn create_sink(state: &AppState, auth: &Auth, branch_id: i64, source_id: &str, p: &Value) -> ApiResult<StreamEntity> {
    require_write(auth)?;
    load_source(state, auth, branch_id, source_id)?;
    let name = name_of(p)?;
    if p["type"].as_str() != Some("table") {
        return Err(invalid("\"type\" must be \"table\"."));
    }
    let table = table_of(p)?;
    let sink_id = match p["sinkId"].as_str().filter(|s| !s.is_empty()) {
        Some(id) if valid_id(id) => id.to_string(),
        Some(id) => return Err(invalid(format!("\"sinkId\" \"{id}\" must be lowercase letters, digits and dashes, at most 48."))),
        None => id_from(&name),
    };
    if sink_id.is_empty() {
        return Err(invalid("\"name\" must contain a letter or a digit."));
    }
    if state.meta.stream_entity(auth.project_id, branch_id, source_id, &sink_id)?.is_some() {
        return Err(ApiError::new(Code::StreamConflict, format!("Sink \"{sink_id}\" already exists in the source.")));
    }
    if state.meta.stream_entities(auth.project_id, branch_id, Some(source_id))?.iter().filter(|e| !e.deleted).count() >= MAX_SINKS {
        return Err(invalid(format!("A source has at most {MAX_SINKS} sinks.")));
    }
    let (token_id, secret) = new_sink_token(state, auth, source_id, &sink_id)?;
    let mut body = json!({
        "projectId": auth.project_id,
        "branchId": branch_id,
        "sourceId": source_id,
        "sinkId": sink_id,
        "type": "table",
        "name": name,
        "description": description_of(p)?,
        "table": table,
        "created": {"at": now(), "by": by(auth)},
        "_internal": {"tokenId": token_id, "sealedToken": state.secrets.seal(&secret), "settings": {}},
    });
    if let Some(signals) = signals_of(p)? {
        body["allowedSignals"] = signals;
    }
    bump(&mut body, auth, "New sink.");
    let e = StreamEntity { project_id: auth.project_id, branch_id, source_id: source_id.into(), sink_id, body, deleted: false };
    save(state, &e)?;
    Ok(e)
}

/// `PATCH sinks/{id} {name?, description?, table?, allowedSignals?, changeDescription?}`.
pub fn update_sink(state: &AppState, auth: &Auth, mut e: StreamEntity, p: &Value) -> ApiResult<StreamEntity> {
    require_write(auth)?;
    if !p["name"].is_null() {
        e.body["name"] = json!(name_of(p)?);
    }
    if !p["description"].is_null() {
        e.body["description"] = json!(description_of(p)?);
    }
    if !p["table"].is_null() {
        e.body["table"] = table_of(p)?;
    }
    if let Some(signals) = signals_of(p)? {
        e.body["allowedSignals"] = signals;
    }
    let change = p["changeDescription"].as_str().unwrap_or("Updated.").to_string();
    bump(&mut e.body, auth, &change);
    save(state, &e)?;
    Ok(e)
}

// Settings ----------------------------------------------------------------------------------

/// `50MB`, `100KB`, `123` (bytes) → bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "KB" | "K" => 1024.0,
        "MB" | "M" => 1024.0 * 1024.0,
        "GB" | "G" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * mult) as u64)
}

/// Go durations: `1m0s`, `30s`, `1h30m`, `500ms`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..u_end];
        rest = &rest[u_end..];
        total += n * match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
    }
    Some(Duration::from_secs_f64(total))
}

fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// The import conditions of a sink (its settings over Keboola's defaults).
pub fn conditions_of(body: &Value) -> Conditions {
    let s = &body["_internal"]["settings"];
    let d = Conditions::default();
    Conditions {
        count: s[SETTING_COUNT].as_u64().unwrap_or(d.count),
        bytes: s[SETTING_SIZE].as_str().and_then(parse_size).unwrap_or(d.bytes),
        interval: s[SETTING_INTERVAL].as_str().and_then(parse_duration).unwrap_or(d.interval),
    }
}

/// The settings list (`SettingsResult.settings`) of a sink.
pub fn sink_settings(body: &Value) -> Value {
    let s = &body["_internal"]["settings"];
    let d = Conditions::default();
    let item = |key: &str, kind: &str, description: &str, default: Value, validation: &str| {
        let value = if s[key].is_null() { default.clone() } else { s[key].clone() };
        json!({"key": key, "type": kind, "description": description, "value": value, "defaultValue": default,
               "overwritten": !s[key].is_null(), "protected": false, "validation": validation})
    };
    json!([
        item(SETTING_COUNT, "int", "Import is triggered when the number of records is reached.", json!(d.count), "required,min=1,max=10000000"),
        item(SETTING_SIZE, "string", "Import is triggered when the size of the records is reached.", json!("50MB"), "required,minBytes=100B,maxBytes=500MB"),
        item(SETTING_INTERVAL, "string", "Import is triggered when the time since the first record is reached.", json!(go_duration(d.interval)), "required,minDuration=1s,maxDuration=24h"),
    ])
}

/// `PATCH sinks/{id}/settings {settings: [{key, value}]}`; `value: null` resets a key.
pub fn patch_sink_settings(state: &AppState, auth: &Auth, mut e: StreamEntity, p: &Value) -> ApiResult<StreamEntity> {
    require_write(auth)?;
    let list = p["settings"].as_array().ok_or_else(|| invalid("\"settings\" must be a list of {key, value}."))?;
    let mut settings = e.body["_internal"]["settings"].as_object().cloned().unwrap_or_default();
    for item in list {
        let key = item["key"].as_str().unwrap_or_default();
        let value = &item["value"];
        if value.is_null() {
            settings.remove(key);
            continue;
        }
        let ok = match key {
            SETTING_COUNT => value.as_u64().is_some_and(|n| (1..=10_000_000).contains(&n)),
            SETTING_SIZE => value.as_str().and_then(parse_size).is_some_and(|n| (100..=500 * 1024 * 1024).contains(&n)),
            SETTING_INTERVAL => value.as_str().and_then(parse_duration).is_some_and(|d| d >= Duration::from_secs(1) && d <= Duration::from_secs(86_400)),
            _ => return Err(invalid(format!("Unknown setting \"{key}\"; a sink has {SETTING_COUNT}, {SETTING_SIZE}, {SETTING_INTERVAL}."))),
        };
        if !ok {
            return Err(invalid(format!("Invalid value {value} of \"{key}\" (see the setting's validation).")));
        }
        settings.insert(key.to_string(), value.clone());
    }
    e.body["_internal"]["settings"] = Value::Object(settings);
    bump(&mut e.body, auth, p["changeDescription"].as_str().unwrap_or("Settings updated."));
    save(state, &e)?;
    Ok(e)
}

pub fn sink_key(e: &StreamEntity) -> SinkKey {
    SinkKey { project_id: e.project_id, branch_id: e.branch_id, source_id: e.source_id.clone(), sink_id: e.sink_id.clone() }
}

// Tasks -------------------------------------------------------------------------------------

/// A finished task of an operation (`type` e.g. `create.source`), recorded for `GET /v1/tasks/{id}`.
pub fn finished_task(state: &AppState, auth: &Auth, kind: &str, e: &StreamEntity) -> ApiResult<Value> {
    let task_id = format!("{kind}.{}", uuid::Uuid::new_v4().simple());
    let at = now();
    let mut outputs = json!({"projectId": e.project_id, "branchId": e.branch_id, "sourceId": e.source_id});
    let base = format!("{}/v1/branches/{}/sources/{}", state.urls.service("stream"), e.branch_id, e.source_id);
    outputs["url"] = json!(base);
    if !e.sink_id.is_empty() {
        outputs["sinkId"] = json!(e.sink_id);
        outputs["url"] = json!(format!("{base}/sinks/{}", e.sink_id));
    }
    let task = super::wire::Task {
        task_id: task_id.clone(),
        kind: kind.to_string(),
        url: format!("{}/v1/tasks/{task_id}", state.urls.service("stream")),
        status: "success".into(),
        is_finished: true,
        created_at: at.clone(),
        finished_at: Some(at),
        duration: Some(0),
        result: Some(format!("{kind} done")),
        error: None,
        outputs,
    };
    let body = serde_json::to_value(&task).map_err(ApiError::internal)?;
    state.meta.put_stream_task(auth.project_id, &task_id, &body)?;
    Ok(body)
}

pub fn load_task(state: &AppState, auth: &Auth, task_id: &str) -> ApiResult<Value> {
    state.meta.stream_task(auth.project_id, task_id)?.ok_or_else(|| not_found("Task", task_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sizes_durations() {
        assert_eq!(id_from("My Source!"), "my-source");
        assert_eq!(parse_size("50MB"), Some(50 * 1024 * 1024));
        assert_eq!(parse_size("100B"), Some(100));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
    }
}
