//! The firing loop inside `kbstack serve`: every quarter second, each enabled schedule whose
//! next cron time (after `fired_through_ms`) has come creates a Queue job with the schedule's
//! token, through `crate::queue::jobs` (never HTTP), and records it in `executions`.
//!
//! Exactly once: the run is claimed first by moving `fired_through_ms` to now (compare-and-set
//! in the store), then the job is created. A restart therefore never repeats a claimed run, and
//! times missed while the server was down collapse into at most one catch-up run at start
//! (never a burst); a crash between the claim and the job creation loses that one run.
use std::time::Duration;

use super::definition::Definition;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult};
use crate::meta::schedules::{ScheduleExecution, ScheduleRecord};
use crate::queue::jobs::{self, JobRequest};
use crate::queue::store;
use crate::storage::auth::Auth;
use kbstack_core::ids::ScheduleId;

const TICK: Duration = Duration::from_millis(250);

pub fn start(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let st = state.clone();
            match tokio::task::spawn_blocking(move || tick(&st, crate::queue::now_ms())).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("scheduler: cannot read the schedules: {}", e.message),
                Err(e) => tracing::error!("scheduler: the firing loop panicked: {e}"),
            }
        }
    });
}

/// Fire every schedule that is due at `now_ms`.
pub fn tick(state: &AppState, now_ms: i64) -> ApiResult<()> {
    for record in state.meta.all_schedules()? {
        let Ok(def) = Definition::read(&record.body) else { continue };
        if !def.enabled {
            continue;
        }
        match def.cron.next_after(record.fired_through_ms) {
            Some(due) if due <= now_ms => {}
            _ => continue,
        }
        if !state.meta.claim_schedule_run(ScheduleId(record.id), record.fired_through_ms, now_ms)? {
            continue;
        }
        match fire(state, &record, &def) {
            Ok(job_id) => {
                tracing::info!(schedule = record.id, job = %job_id, "scheduler: job created");
                state.meta.add_schedule_execution(ScheduleId(record.id), &ScheduleExecution { job_id, execution_ms: now_ms })?;
            }
            Err(e) => tracing::warn!(schedule = record.id, "scheduler: cannot create the job: {}", e.message),
        }
    }
    Ok(())
}

/// Create the target's job as the schedule's token would through `POST /queue/jobs`.
fn fire(state: &AppState, record: &ScheduleRecord, def: &Definition) -> ApiResult<String> {
    let token = state.meta.token(record.token_id)?.ok_or_else(|| ApiError::internal("the schedule's token is gone"))?;
    let secret = state.secrets.open(&record.sealed_token_secret).ok_or_else(|| ApiError::internal("the schedule's token cannot be opened"))?;
    let default_branch_id = state.meta.default_branch(record.project_id)?.ok_or_else(|| ApiError::internal("the project has no default branch"))?;
    let auth = Auth { token, secret, project_id: record.project_id, branch_id: record.branch_id, default_branch_id, run_id: None };
    let request = JobRequest {
        component: def.component_id.clone(),
        mode: def.mode.clone(),
        config: Some(def.configuration_id.clone()),
        config_row_ids: def.configuration_row_ids.clone(),
        tag: Some(def.tag.clone()).filter(|t| !t.is_empty()),
        variable_values_id: def.variable_values_id.clone(),
        ..JobRequest::default()
    };
    let job = store::insert(state, &jobs::build(state, &auth, request)?, &auth.secret)?;
    Ok(job.id.to_string())
}
