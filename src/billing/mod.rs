//! The Billing service (pay-as-you-go credits), served at `/billing` (notes: services.md §13):
//! a project's credit balance, what its Queue jobs consumed, and the check that keeps a PAYG
//! project with no credits left from starting jobs. Credits are the Management API's ledger
//! (`ProjectAdminStore::add_credit`, given with `POST /manage/projects/{id}/credits`); a job's
//! consumption is a negative entry carrying its id, so a job is charged once. Only projects with
//! the `pay-as-you-go` feature are charged or checked (as Keboola's `CreditsChecker`).
pub mod api;

use serde_json::Value;

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, now_iso};
use crate::meta::project_admin::CreditEntry;
use crate::meta::queue_jobs::QueueJob;

/// Credits per hour of a job by its backend size. One credit is one hour of a `small` backend
/// (Keboola's Project Power Unit: "1 PPU = one hour of compute at the base rate"); a larger
/// backend consumes proportionally more ("Medium, Large consume 2–4× more per hour than Small"),
/// `xsmall` runs at half the speed of a standard project and costs half (help.keboola.com,
/// management/project/limits and management/payg-project). Unknown sizes cost as `small`.
pub const SIZE_MULTIPLIERS: &[(&str, f64)] = &[("xsmall", 0.5), ("small", 1.0), ("medium", 2.0), ("large", 4.0)];

/// The credits a job consumes:
///
/// `credits = durationSeconds / 3600 × multiplier(backend size)`
///
/// with the multipliers above and the size from the job's `backend.type` (`small` when the job
/// names none). Durations are the job's processing time (start → end, in milliseconds, so a
/// sub-second job still costs its fraction).
pub fn job_credits(duration_seconds: f64, backend_size: Option<&str>) -> f64 {
    let size = backend_size.map(str::to_ascii_lowercase).unwrap_or_else(|| "small".into());
    let multiplier = SIZE_MULTIPLIERS.iter().find(|(name, _)| *name == size).map(|(_, m)| *m).unwrap_or(1.0);
    duration_seconds.max(0.0) / 3600.0 * multiplier
}

/// A job's backend size: `backend: {type}` or `backend: "<size>"`.
pub fn backend_size(backend: &Value) -> Option<String> {
    match backend {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("type").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string),
        _ => None,
    }
}

/// Whether the project pays for its jobs with credits.
pub fn is_pay_as_you_go(state: &AppState, project_id: i64) -> ApiResult<bool> {
    Ok(state.meta.project_details(project_id)?.is_some_and(|d| d.features.iter().any(|f| f == crate::manage::PAY_AS_YOU_GO)))
}

/// `{remaining, consumed}`: the ledger's balance, and what jobs took from it.
pub struct Balance {
    pub remaining: f64,
    pub consumed: f64,
}

pub fn balance(state: &AppState, project_id: i64) -> ApiResult<Balance> {
    let entries = state.meta.credit_entries(project_id)?;
    let remaining = entries.iter().map(|e| e.amount).sum();
    let consumed = -entries.iter().filter(|e| e.amount < 0.0).map(|e| e.amount).sum::<f64>();
    Ok(Balance { remaining, consumed })
}

/// Refuse a new job of a PAYG project that has no credits left (`remaining <= 0`); other
/// projects are not looked at.
pub fn check_can_run(state: &AppState, project_id: i64) -> ApiResult<()> {
    if !is_pay_as_you_go(state, project_id)? {
        return Ok(());
    }
    if state.meta.credit_balance(project_id)? <= 0.0 {
        return Err(ApiError::new(
            Code::QueueInsufficientCredits,
            "You do not have credits to run a job. Top up the project's credits (pay-as-you-go) and run it again.",
        ));
    }
    Ok(())
}

/// Charge a PAYG project for `duration_seconds` of job `job_id` on `backend`; returns the amount
/// charged, or `None` when the project is not PAYG or the job was charged already.
pub fn charge(state: &AppState, project_id: i64, job_id: i64, duration_seconds: f64, backend: &Value, what: &str) -> ApiResult<Option<f64>> {
    if !is_pay_as_you_go(state, project_id)? {
        return Ok(None);
    }
    let size = backend_size(backend);
    let credits = job_credits(duration_seconds, size.as_deref());
    let entry = CreditEntry {
        id: 0,
        project_id,
        amount: -credits,
        description: format!("{what} {job_id}: {duration_seconds:.3} s on {}", size.as_deref().unwrap_or("small")),
        created: now_iso(),
        job_id: Some(job_id),
    };
    let (_, added) = state.meta.add_credit(&entry)?;
    Ok(added.then_some(credits))
}

/// A finished Queue job's consumption. Containers only wait for their children (which are
/// charged themselves), so only standard jobs cost credits — as Keboola, where orchestration
/// jobs consume nothing.
pub fn charge_finished_job(state: &AppState, job: &QueueJob) -> ApiResult<Option<f64>> {
    if job.kind != "standard" {
        return Ok(None);
    }
    let (Some(start), Some(end)) = (job.start_ms, job.end_ms) else { return Ok(None) };
    let seconds = (end - start).max(0) as f64 / 1000.0;
    charge(state, job.project_id, job.id, seconds, job.def("backend"), &format!("Job ({})", job.component))
}
