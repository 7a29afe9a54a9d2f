//! The Queue service (Job Queue v2), served at `/queue`: component jobs persisted in the metadata
//! store (`store`), their HTTP API (`api`, `search`), and the worker pool inside `kbstack serve`
//! (`worker`) that hands each job to the runner (`crate::runner`).
//!
//! Status machine: created → (waiting →) processing → success | warning | error; a kill sets
//! `desiredStatus: terminating` and ends a job that never started as `cancelled`, a running one as
//! `terminating` → `terminated`. One job per configuration runs at a time (`lock_key`).
pub mod api;
pub mod configs;
pub mod jobs;
pub mod search;
pub mod store;
pub mod wire;
pub mod worker;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;

use crate::http::Routes;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;

pub use store::Job;

/// The in-process side of the queue: who runs what, and how to wake the dispatcher.
pub struct Queue {
    /// Standard jobs running at once.
    pub workers: usize,
    /// This node's id (`crate::node`), recorded as the `runner_id` of the jobs it claims.
    pub instance: String,
    pub(crate) notify: tokio::sync::Notify,
    /// Cancellation of each running job (kill).
    pub(crate) running: Mutex<HashMap<i64, CancellationToken>>,
    pub(crate) busy: AtomicUsize,
}

impl Queue {
    pub fn new(workers: usize, node_id: &str) -> Queue {
        Queue {
            workers: workers.max(1),
            instance: node_id.to_string(),
            notify: tokio::sync::Notify::new(),
            running: Mutex::new(HashMap::new()),
            busy: AtomicUsize::new(0),
        }
    }

    /// Wake the dispatcher (a job was created or finished).
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Whether this node runs the job (it claimed it and has not finished it).
    pub fn runs_here(&self, id: i64) -> bool {
        self.running.lock().contains_key(&id)
    }

    /// Signal a running job to stop.
    pub fn cancel(&self, id: i64) -> bool {
        match self.running.lock().get(&id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

/// Every Queue route, with the framework's own refusals (405, unreadable path or query) in the
/// Queue's envelope.
pub fn router() -> Routes<AppState> {
    api::routes().map_router(|r| r.layer(axum::middleware::from_fn(api::queue_envelope)))
}

/// At start-up: finish what a dead process left behind, then start the worker pool.
pub fn start(state: &AppState) -> anyhow::Result<()> {
    let sealed = state.meta.seal_plain_queue_token_secrets(&state.secrets).map_err(|e| anyhow::anyhow!("{e}"))?;
    if sealed > 0 {
        tracing::info!(jobs = sealed, "sealed the tokens of queued jobs kept in clear by an older version");
    }
    // The jobs dead processes left running were ended by `crate::node::start_up`.
    let st = state.clone();
    tokio::spawn(async move { worker::dispatcher(st).await });
    Ok(())
}

/// Queue timestamps: ISO-8601 with a colon in the offset (`2022-01-25T16:34:40+00:00`).
pub fn iso_ms(ms: i64) -> String {
    use chrono::TimeZone;
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
        .unwrap_or_default()
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
