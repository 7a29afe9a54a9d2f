//! Configuration rows with a `parallelism`: a `container` job with one child job per row, at most
//! `parallelism` at once; any failed row fails the container.
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::create_child;
use crate::app::AppState;
use crate::queue::configs;
use crate::queue::store::Job;
use crate::queue::worker::Outcome;
use crate::runner::Logger;
use crate::storage::auth::Auth;
use kbstack_core::QueueJobStatus;

/// Rows of a configuration as child jobs, `parallelism` at a time; any failed row fails the container.
pub async fn rows(state: &AppState, job: &Job, auth: &Auth, cancel: &CancellationToken, logger: &Logger) -> Outcome {
    let Some(cid) = &job.config else { return Outcome::user_error("A container job needs a stored configuration.", json!({})) };
    let cfg = match configs::load(state, job.project_id, job.branch_id, &job.component, cid) {
        Ok(Some(c)) => c,
        _ => return Outcome::user_error(format!("Configuration \"{cid}\" of component \"{}\" not found.", job.component), json!({})),
    };
    let rows: Vec<String> = crate::runner::rows_to_run(&cfg, &job.config_row_ids).iter().filter_map(|r| r["id"].as_str().map(str::to_string)).collect();
    let limit = match job.def("parallelism").as_str() {
        Some("infinity") | None => rows.len().max(1),
        Some(n) => n.parse::<usize>().unwrap_or(1).max(1),
    };
    logger.log("info", &format!("Running {} configuration rows, {limit} at a time.", rows.len()));
    let mut pending: std::collections::VecDeque<String> = rows.into_iter().collect();
    let mut running: Vec<(String, i64)> = Vec::new();
    let mut done: Vec<(String, Job)> = Vec::new();
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < limit && !cancel.is_cancelled() {
            let Some(row) = pending.pop_front() else { break };
            let body = json!({"component": job.component, "config": cid, "configRowIds": [row], "mode": if job.mode == "run" { "forceRun" } else { job.mode.as_str() },
                              "branchId": job.branch_id.to_string(), "tag": job.tag});
            match create_child(state, auth, job, body) {
                Ok(child) => running.push((row, child.id)),
                Err(e) => return Outcome::user_error(format!("Cannot create the job of row \"{row}\": {e}"), json!({})),
            }
        }
        if cancel.is_cancelled() && running.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut still = Vec::new();
        for (row, id) in running {
            match state.meta.queue_job(id.into()).ok().flatten() {
                Some(j) if j.is_finished() => done.push((row, j)),
                _ => still.push((row, id)),
            }
        }
        running = still;
    }
    let jobs: Vec<Value> = done
        .iter()
        .map(|(row, j)| json!({"id": j.id.to_string(), "rowId": row, "status": j.status, "durationSeconds": j.duration()}))
        .collect();
    let failed: Vec<&(String, Job)> = done.iter().filter(|(_, j)| j.status != QueueJobStatus::Success).collect();
    let result = json!({"message": "", "jobs": jobs, "configVersion": cfg.version()});
    if failed.is_empty() {
        let mut r = result;
        r["message"] = json!(format!("All {} row jobs finished successfully.", done.len()));
        return Outcome::success(r);
    }
    let (row, j) = failed[0];
    Outcome::user_error(
        format!("Row \"{row}\" (job {}) ended {}: {}", j.id, j.status, j.result["message"].as_str().unwrap_or("")),
        result,
    )
}

