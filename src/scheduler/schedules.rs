//! Schedules, the domain side: activation from a `keboola.scheduler` configuration (with the
//! schedule's own Storage token), listing, removal and token refresh. The HTTP handlers
//! (`api`) and nothing else call these.

use super::definition::{Definition, SCHEDULER_COMPONENT};
use super::wire::Schedule;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};
use crate::meta::schedules::{NewSchedule, ScheduleRecord};
use crate::queue::configs;
use crate::runner::registry;
use crate::storage::auth::Auth;
use kbstack_core::ids::{ProjectId, ScheduleId};

/// What Keboola's Scheduler names the tokens it creates (jobs show it as their token).
pub const TOKEN_DESCRIPTION: &str = "[_internal] Scheduler";

pub fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::ScheduleNotFound, format!("Schedule \"{id}\" not found."))
}

/// The schedule as the wire shows it, with its recent runs.
pub fn to_wire(state: &AppState, record: &ScheduleRecord) -> ApiResult<Schedule> {
    let executions = state.meta.schedule_executions(ScheduleId(record.id))?;
    Ok(Schedule::of(record, &executions))
}

/// A schedule of the caller's project (404 otherwise).
pub fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<ScheduleRecord> {
    let n: i64 = id.trim().parse().map_err(|_| not_found(id))?;
    state.meta.schedule(ProjectId(auth.project_id), ScheduleId(n))?.ok_or_else(|| not_found(id))
}

/// Changing schedules takes a master token (Keboola: role admin or share).
fn require_modify(auth: &Auth) -> ApiResult<()> {
    if auth.token.is_master {
        Ok(())
    } else {
        Err(ApiError::denied("Changing schedules requires a master token (role admin or share)."))
    }
}

/// `POST /schedules {configurationId}`: (re)load the configuration. A configuration already
/// activated keeps its schedule (id, token, runs) with the new definition, as Keboola's
/// re-activation after every change expects; a new one gets a schedule and its own token.
pub fn activate(state: &AppState, auth: &Auth, configuration_id: &str, version: Option<&str>) -> ApiResult<ScheduleRecord> {
    require_modify(auth)?;
    let config = configs::load(state, auth.project_id, auth.branch_id, SCHEDULER_COMPONENT, configuration_id)?.ok_or_else(|| {
        ApiError::new(
            Code::ConfigurationNotFound,
            format!("Configuration \"{configuration_id}\" of component \"{SCHEDULER_COMPONENT}\" not found."),
        )
    })?;
    let current = config.version().unwrap_or_else(|| "1".into());
    if let Some(v) = version.filter(|v| *v != current) {
        // Only the current version is kept readable here; say so rather than run another one.
        return Err(ApiError::validation(format!(
            "Invalid request:\n - configurationVersionId: only the configuration's current version ({current}) can be activated, not \"{v}\"."
        )));
    }
    let def = Definition::read(&config.configuration()).map_err(|e| ApiError::validation(format!("Invalid configuration \"{configuration_id}\": {e}")))?;
    if !registry::is_known(state, &def.component_id) {
        return Err(ApiError::new(Code::ComponentNotFound, format!("Target component \"{}\" not found.", def.component_id)));
    }
    let project = ProjectId(auth.project_id);
    let now = crate::queue::now_ms();
    if let Some(existing) = state.meta.schedules(project, Some(configuration_id))?.into_iter().next() {
        state.meta.reload_schedule(project, ScheduleId(existing.id), &current, &def.body(), now)?;
        return load(state, auth, &existing.id.to_string());
    }
    let (token_id, secret) = new_token(state, auth)?;
    let record = state.meta.insert_schedule(&NewSchedule {
        project_id: auth.project_id,
        branch_id: auth.branch_id,
        configuration_id: configuration_id.to_string(),
        configuration_version_id: current,
        token_id,
        sealed_token_secret: state.secrets.seal(&secret),
        body: def.body(),
        now_ms: now,
    })?;
    Ok(record)
}

/// The schedule's own token: it runs the target in the project whoever activated it, and is
/// removed with the schedule.
fn new_token(state: &AppState, auth: &Auth) -> ApiResult<(i64, String)> {
    crate::storage::tokens::create_service_token(state, auth, TOKEN_DESCRIPTION, true)
}

/// `POST /schedules/{id}/refreshToken`: a new token replaces the schedule's (the old one stops working).
pub fn refresh_token(state: &AppState, auth: &Auth, id: &str) -> ApiResult<ScheduleRecord> {
    require_modify(auth)?;
    let record = load(state, auth, id)?;
    let (token_id, secret) = new_token(state, auth)?;
    state.meta.set_schedule_token(ProjectId(auth.project_id), ScheduleId(record.id), token_id, &state.secrets.seal(&secret))?;
    state.meta.delete_token(record.token_id)?;
    load(state, auth, id)
}

/// `DELETE /schedules/{id}`: the schedule, its runs and its token.
pub fn delete(state: &AppState, auth: &Auth, id: &str) -> ApiResult<()> {
    require_modify(auth)?;
    let record = load(state, auth, id)?;
    remove(state, &record)
}

/// `DELETE /configurations/{id}`: every schedule of a `keboola.scheduler` configuration (the
/// Storage configuration stays); 404 when it has none.
pub fn delete_for_configuration(state: &AppState, auth: &Auth, configuration_id: &str) -> ApiResult<()> {
    require_modify(auth)?;
    let records = state.meta.schedules(ProjectId(auth.project_id), Some(configuration_id))?;
    if records.is_empty() {
        return Err(ApiError::new(Code::ScheduleNotFound, format!("No schedule of configuration \"{configuration_id}\" found.")));
    }
    records.iter().try_for_each(|r| remove(state, r))
}

fn remove(state: &AppState, record: &ScheduleRecord) -> ApiResult<()> {
    state.meta.delete_schedule(ProjectId(record.project_id), ScheduleId(record.id))?;
    state.meta.delete_token(record.token_id)?;
    Ok(())
}

/// `GET /schedules[?componentId&configurationId]`: the project's schedules, optionally those
/// whose target is that configuration.
pub fn list(state: &AppState, auth: &Auth, target: Option<(&str, &str)>) -> ApiResult<Vec<ScheduleRecord>> {
    let all = state.meta.schedules(ProjectId(auth.project_id), None)?;
    Ok(match target {
        None => all,
        Some((component, config)) => all
            .into_iter()
            .filter(|r| r.body["target"]["componentId"] == component && r.body["target"]["configurationId"] == config)
            .collect(),
    })
}
