//! The Stream service (Keboola "Data Streams", formerly Buffer; notes: services.md §8): sources
//! receive events over HTTP, table sinks map each event to a row and load the rows into a
//! Storage table in batches.
//!
//! - `api`: the management API under `/stream/v1/...` (host `stream.<suffix>`), errors in the
//!   goa envelope `{statusCode, error, message}`; `entities`: its domain (sources, sinks,
//!   settings, tasks); `wire`: the objects it shows.
//! - `ingest`: `POST /stream-in/stream/{projectId}/{sourceId}/{secret}` (host
//!   `stream-in.<suffix>`, the source's `http.url`); `mapping`: event → row.
//! - `writer`: the group-commit writer of slice files; `slices`: their format on disk.
//! - `flush`: the loop that imports closed slices into their tables and removes old ones.
//!
//! # Exactly once, across crashes
//!
//! 1. *Nothing acknowledged is lost.* The answer "OK" is sent only after the event's row frame
//!    was written to the sink's open slice file and that file was fsynced (the file's creation
//!    and its directory entry were fsynced when it was opened). A SIGKILL afterwards cannot undo
//!    it. A torn frame at the end of an `.open` slice (a crash mid-write) belongs to a batch that
//!    was never acknowledged; at start `slices::recover` cuts it and closes the slice.
//! 2. *A slice's content never changes once closed.* Closing is a durable rename
//!    `.open` → `.closed` after the last fsync; later rows go to a new slice with a new id. Slice
//!    ids are never reused (microseconds at opening, strictly increasing past every id on disk).
//! 3. *A closed slice is imported at most once.* Its import is a Storage `tableImport` job whose
//!    load carries the once-key `stream/<project>/<branch>/<source>/<sink>/<slice id>`. The table
//!    backend records the key in the same transaction as the rows (`LoadSpec::once_key`) and skips
//!    a load whose key is recorded. So whatever point a crash hits — before the load's commit (no
//!    rows, no key: the slice is imported again after the restart), after it but before the slice
//!    is marked imported (the retried load finds the key and changes nothing) — the rows land
//!    exactly once.
//! 4. *Every closed slice is imported eventually.* The flush loop imports every `.closed` file it
//!    finds (after a restart too) and retries failures with a backoff; only after a successful or
//!    already-done load is the slice renamed `.imported` and recorded as such.
//!
//! An event whose request failed or got no answer may have been stored anyway (a crash between
//! the fsync and the answer): a client retrying it may then find it twice. That is at-least-once
//! delivery on the client's side; what the server acknowledged is in the table exactly once.
//! `.imported` slices and their once-keys are removed 7 days after the import.
pub mod api;
pub mod entities;
pub mod flush;
pub mod ingest;
pub mod mapping;
pub mod slices;
pub mod wire;
pub mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::app::AppState;
use crate::http::ApiResult;
use writer::{Conditions, SinkKey, Writer};

/// The id of the ingestion endpoint's mount (`/stream-in`, host `stream-in.<suffix>`).
pub const INGEST_MOUNT: &str = "stream-in";

/// A sink as the ingestion path needs it.
pub struct LiveSink {
    pub key: SinkKey,
    pub mapping: Vec<mapping::Column>,
    pub columns: Arc<Vec<String>>,
    pub conditions: Conditions,
}

/// A source as the ingestion path needs it: its secret, state and enabled sinks.
pub struct LiveSource {
    pub branch_id: i64,
    pub secret: String,
    pub disabled: bool,
    pub sinks: Vec<LiveSink>,
}

/// The Stream service's in-process side: the writer, and the sources in memory (reloaded after
/// every change through the API) so that an event costs no metadata read.
pub struct StreamRuntime {
    pub root: PathBuf,
    writer: OnceLock<Writer>,
    sources: parking_lot::RwLock<Arc<HashMap<(i64, String), Arc<LiveSource>>>>,
    pub flush_wake: Arc<tokio::sync::Notify>,
}

impl StreamRuntime {
    pub fn new(root: PathBuf) -> StreamRuntime {
        StreamRuntime { root, writer: OnceLock::new(), sources: Default::default(), flush_wake: Arc::new(tokio::sync::Notify::new()) }
    }

    pub fn writer(&self) -> Option<&Writer> {
        self.writer.get()
    }

    pub fn source(&self, project_id: i64, source_id: &str) -> Option<Arc<LiveSource>> {
        self.sources.read().get(&(project_id, source_id.to_string())).cloned()
    }
}

/// Rebuild the in-memory sources from the metadata store (after every change).
pub fn reload(state: &AppState) -> ApiResult<()> {
    let all = state.meta.all_stream_entities()?;
    let mut sources: HashMap<(i64, String), LiveSource> = HashMap::new();
    for e in all.iter().filter(|e| e.sink_id.is_empty() && !e.deleted) {
        let key = (e.project_id, e.source_id.clone());
        // One ingestion URL per project and source id: the lowest branch (the default) wins.
        if sources.get(&key).is_some_and(|s| s.branch_id < e.branch_id) {
            continue;
        }
        sources.insert(
            key,
            LiveSource {
                branch_id: e.branch_id,
                secret: entities::secret_of(&e.body),
                disabled: !e.body["disabled"].is_null(),
                sinks: Vec::new(),
            },
        );
    }
    for e in all.iter().filter(|e| !e.sink_id.is_empty() && !e.deleted && e.body["disabled"].is_null()) {
        let Some(source) = sources.get_mut(&(e.project_id, e.source_id.clone())) else { continue };
        if source.branch_id != e.branch_id {
            continue;
        }
        let Ok(mapping) = mapping::parse_columns(&e.body["table"]["mapping"]["columns"]) else { continue };
        source.sinks.push(LiveSink {
            key: SinkKey { project_id: e.project_id, branch_id: e.branch_id, source_id: e.source_id.clone(), sink_id: e.sink_id.clone() },
            columns: Arc::new(mapping::names(&mapping)),
            mapping,
            conditions: entities::conditions_of(&e.body),
        });
    }
    let map = sources.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
    *state.stream.sources.write() = Arc::new(map);
    Ok(())
}

/// At `kbstack serve`: close what a crash left open, start the writer and the flush loop.
pub fn start(state: &AppState) -> anyhow::Result<()> {
    let root = state.stream.root.clone();
    slices::create_dir_durably(&root)?;
    let last_id = slices::recover(&root)?;
    let wake = state.stream.flush_wake.clone();
    let writer = Writer::start(root, last_id, Arc::new(move || wake.notify_one()));
    let _ = state.stream.writer.set(writer);
    reload(state).map_err(|e| anyhow::anyhow!("loading the stream sources: {}", e.message))?;
    flush::start(state);
    Ok(())
}
