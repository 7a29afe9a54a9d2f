//! Orchestrator v2 (legacy Syrup API, notes: services.md §20), served at `/syrup/orchestrator`.
//!
//! An orchestration is a `keboola.orchestrator` Storage configuration (so it shows in Storage,
//! the UI and the CLI as the flow it became on Keboola, and the existing flow runner runs it):
//! `phases`/`tasks` derived from the v2 tasks (`definition::flow`), and under `orchestratorV2`
//! what only the v2 API knows: the v2 tasks, `crontabRecord`, `active`, `notifications`, the
//! token it runs with (`#token` is stored encrypted, as any `#` value), the id of its
//! `keboola.scheduler` configuration and of its notification subscriptions.
//!
//! Its jobs are Queue jobs of that configuration (`orchestrationContainer`; the job id is the
//! Queue's); its crontab is a Scheduler schedule; its email notifications are Notifications
//! subscriptions. Services are called through their domain functions, never HTTP.
pub mod api;
pub mod definition;
pub mod jobs;
pub mod wire;

use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};
use crate::runner::registry::ORCHESTRATOR;
use crate::scheduler::definition::SCHEDULER_COMPONENT;
use crate::storage::auth::Auth;
use crate::storage::configurations::{self, NewConfiguration};

/// The key of the configuration that holds what only the v2 API knows.
pub const V2: &str = "orchestratorV2";

pub fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::OrchestrationNotFound, format!("Orchestration \"{id}\" not found."))
}

/// An orchestration as stored: the configuration document.
#[derive(Debug, Clone)]
pub struct Orchestration {
    pub id: String,
    pub body: Value,
}

impl Orchestration {
    pub fn v2(&self) -> &Value {
        &self.body["configuration"][V2]
    }
    pub fn name(&self) -> String {
        self.body["name"].as_str().unwrap_or("").to_string()
    }
    pub fn active(&self) -> bool {
        self.v2()["active"] != json!(false)
    }
    pub fn crontab(&self) -> Option<String> {
        self.v2()["crontabRecord"].as_str().filter(|s| !s.is_empty()).map(str::to_string)
    }
    pub fn tasks(&self) -> Vec<Value> {
        self.v2()["tasks"].as_array().cloned().unwrap_or_default()
    }
    pub fn notifications(&self) -> Vec<Value> {
        self.v2()["notifications"].as_array().cloned().unwrap_or_default()
    }
    pub fn token_id(&self) -> i64 {
        self.v2()["token"]["id"].as_i64().unwrap_or(0)
    }
}

/// The orchestration of the caller's project and branch (404 otherwise, and for a flow the v2
/// API did not create).
pub fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Orchestration> {
    let id = id.trim();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(not_found(id));
    }
    auth.require_component(ORCHESTRATOR).map_err(|_| not_found(id))?;
    let body = configurations::find_active(state, auth.project_id, auth.branch_id, ORCHESTRATOR, id)?.ok_or_else(|| not_found(id))?;
    if !body["configuration"][V2].is_object() {
        return Err(not_found(id));
    }
    Ok(Orchestration { id: id.to_string(), body })
}

pub fn list(state: &AppState, auth: &Auth) -> ApiResult<Vec<Orchestration>> {
    if !auth.can_access_component(ORCHESTRATOR) {
        return Ok(Vec::new());
    }
    let mut out: Vec<Orchestration> = configurations::list_configurations(state, auth, auth.branch_id, ORCHESTRATOR)?
        .into_iter()
        .filter(|b| b["configuration"][V2].is_object())
        .map(|body| Orchestration { id: body["id"].as_str().unwrap_or("").to_string(), body })
        .collect();
    out.sort_by_key(|o| o.id.parse::<i64>().unwrap_or(i64::MAX));
    Ok(out)
}

/// Creating and changing orchestrations writes configurations and creates tokens: not for a
/// read-only token.
fn require_modify(auth: &Auth) -> ApiResult<()> {
    let t = &auth.token;
    if t.is_master || t.can_manage_buckets || t.can_manage_tokens {
        Ok(())
    } else {
        Err(ApiError::denied("Changing orchestrations requires a token that may manage buckets (or a master token)."))
    }
}

/// A crontab becomes a Scheduler schedule, which takes a master token (Keboola: role admin or
/// share); checked before anything is written, so a refusal leaves nothing half-made.
fn require_schedule_rights(auth: &Auth, crontab: Option<&Option<String>>) -> ApiResult<()> {
    if crontab.is_some_and(Option::is_some) && !auth.token.is_master {
        return Err(ApiError::denied("Scheduling an orchestration (crontabRecord) requires a master token (role admin or share)."));
    }
    Ok(())
}

/// What a create or update request sets.
#[derive(Debug, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub crontab: Option<Option<String>>,
    pub active: Option<bool>,
    pub token_id: Option<i64>,
    pub tasks: Option<Vec<Value>>,
    pub notifications: Option<Vec<Value>>,
}

impl Changes {
    /// Read a request body; `Err` is the 400's message.
    pub fn read(body: &Map<String, Value>) -> Result<Changes, String> {
        let present = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
        let name = match body.get("name") {
            None | Some(Value::Null) => None,
            Some(v) => Some(crate::http::params::scalar_to_string(v).ok_or("Invalid request:\n - name: This value should be a string.")?),
        };
        let active = match body.get("active") {
            None | Some(Value::Null) => None,
            Some(v) => Some(crate::http::params::parse_bool(v).ok_or("Invalid request:\n - active: This value should be a boolean.")?),
        };
        let token_id = match body.get("tokenId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) => Some(
                crate::http::params::scalar_to_string(v)
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .ok_or("Invalid request:\n - tokenId: This value should be an integer.")?,
            ),
        };
        Ok(Changes {
            name,
            crontab: if body.contains_key("crontabRecord") { Some(definition::crontab(body.get("crontabRecord"))?) } else { None },
            active,
            token_id,
            tasks: if present("tasks") { Some(definition::tasks(&body["tasks"])?) } else { None },
            notifications: if present("notifications") { Some(definition::notifications(&body["notifications"])?) } else { None },
        })
    }
}

/// The token an orchestration runs with: `tokenId` must be the calling token (its secret is the
/// one kbstack holds; other tokens' secrets are kept only as hashes), else a new token with
/// `canManageBuckets` and `canReadAllFileUploads`, as Keboola creates.
fn run_token(state: &AppState, auth: &Auth, name: &str, token_id: Option<i64>) -> ApiResult<(Value, String, bool)> {
    if let Some(id) = token_id {
        if id != auth.token.id {
            let known = state.meta.token(id)?.is_some_and(|t| t.project_id == auth.project_id);
            return Err(ApiError::validation(if known {
                format!(
                    "Invalid request:\n - tokenId: kbstack can run an orchestration only with the calling token ({}) or a new one (omit tokenId), not token {id}: it keeps other tokens' secrets only as hashes.",
                    auth.token.id
                )
            } else {
                format!("Invalid request:\n - tokenId: Token {id} not found.")
            }));
        }
        return Ok((json!({"id": auth.token.id, "description": auth.token.description}), auth.secret.clone(), false));
    }
    let description = format!("Orchestrator {name}");
    let (id, secret) = crate::storage::tokens::create_service_token(state, auth, &description, true)?;
    Ok((json!({"id": id, "description": description}), secret, true))
}

/// The `configuration` node for the v2 state `v2`.
fn configuration_of(v2: &Value) -> Value {
    let tasks = v2["tasks"].as_array().cloned().unwrap_or_default();
    let (phases, flow_tasks) = definition::flow(&tasks);
    json!({"phases": phases, "tasks": flow_tasks, V2: v2})
}

/// `POST /orchestrations`.
pub fn create(state: &AppState, auth: &Auth, changes: Changes) -> ApiResult<Orchestration> {
    require_modify(auth)?;
    require_schedule_rights(auth, changes.crontab.as_ref())?;
    let name = changes.name.clone().map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| ApiError::validation("Invalid request:\n - name: This value should not be blank."))?;
    let (token, secret, own_token) = run_token(state, auth, &name, changes.token_id)?;
    let v2 = json!({
        "crontabRecord": changes.crontab.clone().flatten(),
        "active": changes.active.unwrap_or(true),
        "token": token,
        "#token": secret,
        "ownToken": own_token,
        "tasks": changes.tasks.clone().unwrap_or_default(),
        "notifications": changes.notifications.clone().unwrap_or_default(),
        "scheduleConfigurationId": null,
        "subscriptionIds": [],
    });
    let created = configurations::create_configuration(
        state,
        auth,
        auth.branch_id,
        ORCHESTRATOR,
        NewConfiguration {
            id: None,
            name: name.clone(),
            description: "Orchestrator v2 orchestration".into(),
            configuration: configuration_of(&v2),
            state: json!({}),
            is_disabled: false,
            change: "Orchestration created".into(),
        },
    );
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            if own_token {
                let _ = state.meta.delete_token(token["id"].as_i64().unwrap_or(0));
            }
            return Err(e);
        }
    };
    let orchestration = Orchestration { id: created["id"].as_str().unwrap_or("").to_string(), body: created };
    sync_services(state, auth, orchestration)
}

/// `PUT /orchestrations/{id}` (and the tasks/notifications endpoints): the given attributes.
pub fn update(state: &AppState, auth: &Auth, id: &str, changes: Changes) -> ApiResult<Orchestration> {
    require_modify(auth)?;
    let current = load(state, auth, id)?;
    // Any change re-activates the schedule of a scheduled orchestration.
    require_schedule_rights(auth, Some(&changes.crontab.clone().unwrap_or_else(|| current.crontab())))?;
    let mut v2 = current.v2().clone();
    let mut name = current.name();
    if let Some(n) = changes.name.map(|n| n.trim().to_string()) {
        if n.is_empty() {
            return Err(ApiError::validation("Invalid request:\n - name: This value should not be blank."));
        }
        name = n;
    }
    if let Some(c) = changes.crontab {
        v2["crontabRecord"] = json!(c);
    }
    if let Some(a) = changes.active {
        v2["active"] = json!(a);
    }
    if let Some(t) = changes.tasks {
        v2["tasks"] = json!(t);
    }
    if let Some(n) = changes.notifications {
        v2["notifications"] = json!(n);
    }
    if let Some(token_id) = changes.token_id.filter(|t| *t != current.token_id()) {
        let (token, secret, own) = run_token(state, auth, &name, Some(token_id))?;
        drop_own_token(state, &current);
        v2["token"] = token;
        v2["#token"] = json!(secret);
        v2["ownToken"] = json!(own);
    }
    save(state, auth, &current.id, &name, &v2, "Orchestration updated")?;
    sync_services(state, auth, load(state, auth, &current.id)?)
}

fn save(state: &AppState, auth: &Auth, id: &str, name: &str, v2: &Value, change: &str) -> ApiResult<()> {
    configurations::replace_configuration(state, auth, ORCHESTRATOR, id, name, "Orchestrator v2 orchestration", configuration_of(v2), change)?;
    Ok(())
}

fn drop_own_token(state: &AppState, o: &Orchestration) {
    if o.v2()["ownToken"] == json!(true) {
        let _ = state.meta.delete_token(o.token_id());
    }
}

/// `POST /orchestrations/{id}/create-token`: a new token replaces the orchestration's.
pub fn refresh_token(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Orchestration> {
    require_modify(auth)?;
    let current = load(state, auth, id)?;
    let (token, secret, own) = run_token(state, auth, &current.name(), None)?;
    drop_own_token(state, &current);
    let mut v2 = current.v2().clone();
    v2["token"] = token;
    v2["#token"] = json!(secret);
    v2["ownToken"] = json!(own);
    save(state, auth, &current.id, &current.name(), &v2, "Orchestration token refreshed")?;
    load(state, auth, id)
}

/// `DELETE /orchestrations/{id}`: its schedule, subscriptions and own token go with it.
pub fn delete(state: &AppState, auth: &Auth, id: &str) -> ApiResult<()> {
    require_modify(auth)?;
    let current = load(state, auth, id)?;
    require_schedule_rights(auth, Some(&current.crontab()))?;
    remove_schedule(state, auth, &current)?;
    remove_subscriptions(state, auth, &current);
    drop_own_token(state, &current);
    configurations::trash_configuration(state, auth, auth.branch_id, ORCHESTRATOR, &current.id, "Orchestration deleted")
}

/// Bring the schedule and the subscriptions in line with the stored orchestration.
fn sync_services(state: &AppState, auth: &Auth, o: Orchestration) -> ApiResult<Orchestration> {
    let mut v2 = o.v2().clone();
    // The crontab: a `keboola.scheduler` configuration targeting the orchestration, activated.
    let schedule_cfg = v2["scheduleConfigurationId"].as_str().map(str::to_string);
    match o.crontab() {
        Some(cron) => {
            let body = json!({
                "schedule": {"cronTab": cron, "timezone": "UTC", "state": if o.active() { "enabled" } else { "disabled" }},
                "target": {"componentId": ORCHESTRATOR, "configurationId": o.id, "mode": "run"},
            });
            let name = format!("Schedule of orchestration {}", o.name());
            let cfg_id = match schedule_cfg.filter(|c| configurations::find_active(state, auth.project_id, auth.branch_id, SCHEDULER_COMPONENT, c).ok().flatten().is_some()) {
                Some(c) => {
                    configurations::replace_configuration(state, auth, SCHEDULER_COMPONENT, &c, &name, "", body, "Orchestration schedule updated")?;
                    c
                }
                None => {
                    let new = NewConfiguration {
                        id: None,
                        name,
                        description: String::new(),
                        configuration: body,
                        state: json!({}),
                        is_disabled: false,
                        change: "Orchestration schedule created".into(),
                    };
                    configurations::create_configuration(state, auth, auth.branch_id, SCHEDULER_COMPONENT, new)?["id"].as_str().unwrap_or("").to_string()
                }
            };
            crate::scheduler::schedules::activate(state, auth, &cfg_id, None)?;
            v2["scheduleConfigurationId"] = json!(cfg_id);
        }
        None => {
            remove_schedule(state, auth, &o)?;
            v2["scheduleConfigurationId"] = Value::Null;
        }
    }
    // Notifications: `error` and `processing` are subscriptions of the job's events; `waiting`
    // has no event here and is only kept.
    remove_subscriptions(state, auth, &o);
    let mut ids = Vec::new();
    for n in o.notifications() {
        let mut filters = vec![
            json!({"field": "job.component.id", "value": ORCHESTRATOR}),
            json!({"field": "job.configuration.id", "value": o.id}),
        ];
        let event = match n["channel"].as_str() {
            Some("error") => "job-failed",
            Some("processing") => {
                let tolerance = crate::http::params::scalar_to_string(&n["parameters"]["tolerance"]).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
                filters.push(json!({"field": "durationOvertimePercentage", "operator": ">=", "value": tolerance / 100.0}));
                "job-processing-long"
            }
            _ => continue,
        };
        let body = json!({"event": event, "filters": filters, "recipient": {"channel": "email", "address": n["email"]}});
        let record = crate::notification::create(state, auth, body.as_object().unwrap_or(&Map::new()))?;
        ids.push(json!(record.id));
    }
    v2["subscriptionIds"] = json!(ids);
    if &v2 != o.v2() {
        save(state, auth, &o.id, &o.name(), &v2, "Orchestration schedule and notifications")?;
        return load(state, auth, &o.id);
    }
    Ok(o)
}

fn remove_schedule(state: &AppState, auth: &Auth, o: &Orchestration) -> ApiResult<()> {
    let Some(cfg) = o.v2()["scheduleConfigurationId"].as_str() else { return Ok(()) };
    let _ = crate::scheduler::schedules::delete_for_configuration(state, auth, cfg);
    match configurations::trash_configuration(state, auth, auth.branch_id, SCHEDULER_COMPONENT, cfg, "Orchestration schedule removed") {
        Ok(()) => Ok(()),
        Err(e) if e.0.code == Code::ConfigurationNotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn remove_subscriptions(state: &AppState, auth: &Auth, o: &Orchestration) {
    for id in o.v2()["subscriptionIds"].as_array().into_iter().flatten() {
        let _ = crate::notification::delete(state, auth, &crate::http::params::scalar_to_string(id).unwrap_or_default());
    }
}

/// The orchestration's token as an `Auth` (jobs run with it, as Orchestrator v2 ran them).
pub fn run_auth(state: &AppState, auth: &Auth, o: &Orchestration) -> ApiResult<Auth> {
    let token = state
        .meta
        .token(o.token_id())?
        .filter(|t| t.project_id == auth.project_id)
        .ok_or_else(|| ApiError::validation(format!("The token of orchestration \"{}\" no longer exists; refresh it (create-token).", o.id)))?;
    let cipher = o.v2()["#token"].as_str().unwrap_or("");
    let scope = crate::encryption::Scope::project(ORCHESTRATOR, auth.project_id);
    let secret = crate::encryption::decrypt_one(state, &scope, "#token", cipher, &mut Vec::new()).map_err(ApiError::validation)?;
    let default_branch_id = state.meta.default_branch(auth.project_id)?.unwrap_or(auth.default_branch_id);
    Ok(Auth { token, secret, project_id: auth.project_id, branch_id: auth.branch_id, default_branch_id, run_id: None })
}
