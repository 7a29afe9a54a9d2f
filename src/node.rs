//! This process as one node of its stack: an id, a heartbeat in the metadata store, and the
//! clean-up of work that nodes which stopped beating left unfinished.
//!
//! Why: in the scale-out profile several nodes share one metadata store, so "what was running
//! when I started" is no longer "what a dead process left" — another node may be running it. Work
//! a node runs carries its id (storage jobs, Queue jobs, Query jobs); a node whose heartbeat is
//! older than `LEASE_MS` is dead, and whichever live node notices ends its work as `error`
//! (never re-runs it: a job runs at most once, and every end is a compare-and-set on the
//! unfinished state, so the dead node's late word is refused). A node that cannot record its
//! heartbeat for a whole lease stops its own Queue jobs, since others will have ended them.
//! With the embedded SQLite store the data dir is this process's alone: at start every other
//! node is dead at once, without waiting for a lease to run out, and no heartbeat runs.
use std::time::Duration;

use crate::app::AppState;
use crate::http::ApiResult;

/// How often a node records that it is alive.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a node may stay silent before its work is ended by others (five missed heartbeats).
pub const LEASE_MS: i64 = 10_000;
/// Nodes silent this long are forgotten (their work ended long before).
const FORGET_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;

/// A fresh id for this process.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// At start, before serving: the first heartbeat, then the work of dead nodes ended.
pub fn start_up(state: &AppState) -> anyhow::Result<()> {
    let now = crate::queue::now_ms();
    state.meta.node_heartbeat(&state.node_id, now).map_err(|e| anyhow::anyhow!("recording this node: {}", e.message))?;
    let live_since = if state.meta.sqlite().is_some() { i64::MAX } else { now - LEASE_MS };
    end_work_of_dead_nodes(state, live_since).map_err(|e| anyhow::anyhow!("ending the work of stopped nodes: {}", e.message))
}

/// Storage, Queue and Query jobs of nodes without a heartbeat since `live_since_ms` end as `error`.
fn end_work_of_dead_nodes(state: &AppState, live_since_ms: i64) -> ApiResult<()> {
    crate::storage::jobs::end_orphaned(state, live_since_ms)?;
    crate::queue::worker::end_orphaned(state, live_since_ms)?;
    crate::query::end_orphaned(state, live_since_ms)?;
    Ok(())
}

/// The heartbeat loop: beat, then look for dead nodes' work. Only on a store other nodes can
/// share: on the embedded SQLite store there is no other node to beat for or to watch.
pub fn start(state: &AppState) {
    if state.meta.sqlite().is_some() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(HEARTBEAT);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_beat = crate::queue::now_ms();
        loop {
            interval.tick().await;
            let st = state.clone();
            let beat = tokio::task::spawn_blocking(move || beat(&st)).await;
            let now = crate::queue::now_ms();
            match beat {
                Ok(Ok(())) => last_beat = now,
                Ok(Err(e)) => tracing::warn!("node heartbeat: {}", e.message),
                Err(e) => tracing::error!("node heartbeat panicked: {e}"),
            }
            if now - last_beat > LEASE_MS {
                fence_self(&state);
            }
        }
    });
}

fn beat(state: &AppState) -> ApiResult<()> {
    let now = crate::queue::now_ms();
    state.meta.node_heartbeat(&state.node_id, now)?;
    end_work_of_dead_nodes(state, now - LEASE_MS)?;
    crate::queue::worker::cancel_jobs_killed_elsewhere(state)?;
    state.meta.forget_nodes(now - FORGET_AFTER_MS)?;
    Ok(())
}

/// Past a lease without a recorded heartbeat, the others take this node for dead and end its
/// jobs: stop running them too, so that nothing keeps writing for a job already ended.
fn fence_self(state: &AppState) {
    let running: Vec<_> = state.queue.running.lock().values().cloned().collect();
    if !running.is_empty() {
        tracing::error!(jobs = running.len(), "no heartbeat recorded for a whole lease: stopping this node's Queue jobs");
        for cancel in running {
            cancel.cancel();
        }
    }
}
