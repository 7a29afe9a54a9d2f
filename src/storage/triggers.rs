//! Triggers (`/v2/storage/triggers`): run a configuration when watched tables change. Not
//! branch-scoped. The body is stored as the wire object minus its id.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crate::http::routes::get;
use axum::Json;
use crate::http::Routes;
use serde_json::{Value, json};

use super::auth::{Auth, Need};
use super::{tables, tokens};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params, now_iso};

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/v2/storage/triggers", get(list).post(create))
        .route("/v2/storage/triggers/{id}", get(detail).put(update).delete(remove))
}

fn with_id(id: i64, body: Value) -> Value {
    let mut out = json!({"id": id.to_string()});
    if let (Some(o), Value::Object(b)) = (out.as_object_mut(), body) {
        o.extend(b);
    }
    out
}

fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<(i64, Value)> {
    let not_found = || ApiError::new(Code::TriggerNotFound, format!("Trigger \"{id}\" not found"));
    let tid: i64 = id.parse().map_err(|_| not_found())?;
    let trigger = state.meta.trigger(auth.project_id.into(), tid.into())?.ok_or_else(not_found)?;
    Ok((trigger.id, trigger.body))
}

/// Apply the given fields onto `body`, validating each; `required` on create.
fn apply(state: &AppState, auth: &Auth, p: &Params, body: &mut Value, required: bool) -> ApiResult<()> {
    let missing = |key: &str| ApiError::validation(format!("Invalid request:\n - {key}: This value should not be blank."));
    match p.int("runWithTokenId")? {
        Some(token_id) => {
            let token = tokens::load_token(state, auth.project_id, &token_id.to_string()).map_err(|_| {
                ApiError::validation(format!("Invalid request:\n - runWithTokenId: Token \"{token_id}\" not found in the project."))
            })?;
            body["runWithTokenId"] = json!(token.id);
        }
        None if required => return Err(missing("runWithTokenId")),
        None => {}
    }
    match p.str("component").filter(|c| !c.is_empty()) {
        Some(component) => {
            auth.require_component(&component)?;
            body["component"] = json!(component);
        }
        None if required => return Err(missing("component")),
        None => {}
    }
    match p.str("configurationId").filter(|c| !c.is_empty()) {
        Some(config) => body["configurationId"] = json!(config),
        None if required => return Err(missing("configurationId")),
        None => {}
    }
    match p.int("coolDownPeriodMinutes")? {
        Some(m) if m < 1 => {
            return Err(ApiError::validation("Invalid request:\n - coolDownPeriodMinutes: Minimal cool down period is 1 minute."));
        }
        Some(m) => body["coolDownPeriodMinutes"] = json!(m),
        None if required => return Err(missing("coolDownPeriodMinutes")),
        None => {}
    }
    let table_ids = p.list("tableIds");
    if !table_ids.is_empty() {
        let mut watched = Vec::new();
        for id in table_ids {
            let table = tables::load_table(state, auth, &id, Need::Read)?;
            watched.push(json!({"tableId": table.id}));
        }
        body["tables"] = Value::Array(watched);
    } else if required {
        return Err(missing("tableIds"));
    }
    Ok(())
}

async fn create(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut body = json!({
        "runWithTokenId": null,
        "component": null,
        "configurationId": null,
        // A new trigger counts as just run, so the cool-down starts now.
        "lastRun": now_iso(),
        "coolDownPeriodMinutes": null,
        "creatorToken": auth.token.creator_json(),
        "tables": [],
    });
    apply(&state, &auth, &p, &mut body, true)?;
    let id = state.meta.insert_trigger(auth.project_id.into(), &body)?;
    Ok((StatusCode::CREATED, Json(with_id(id.get(), body))))
}

async fn list(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<Json<Value>> {
    let rows = state.meta.triggers(auth.project_id.into())?.into_iter().map(|t| with_id(t.id, t.body));
    let component = p.str("component").filter(|s| !s.is_empty());
    let config = p.str("configurationId").filter(|s| !s.is_empty());
    let matches = |t: &Value| {
        component.as_deref().is_none_or(|c| t["component"] == c) && config.as_deref().is_none_or(|c| t["configurationId"] == c)
    };
    Ok(Json(Value::Array(rows.filter(matches).collect())))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let (tid, body) = load(&state, &auth, &id)?;
    Ok(Json(with_id(tid, body)))
}

/// Partial update; changing the component needs access to both the old and the new one.
async fn update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    let (tid, mut body) = load(&state, &auth, &id)?;
    auth.require_component(body["component"].as_str().unwrap_or_default())?;
    apply(&state, &auth, &p, &mut body, false)?;
    state.meta.update_trigger(auth.project_id.into(), tid.into(), &body)?;
    Ok(Json(with_id(tid, body)))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let (tid, body) = load(&state, &auth, &id)?;
    auth.require_component(body["component"].as_str().unwrap_or_default())?;
    state.meta.delete_trigger(auth.project_id.into(), tid.into())?;
    Ok(StatusCode::NO_CONTENT)
}
