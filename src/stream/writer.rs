//! The one thread that writes slice files, with group commit: requests hand it their rows and
//! wait; it takes everything queued, appends each sink's frames to its open slice, fsyncs every
//! file it touched once, then answers every request of the batch. Concurrent requests therefore
//! share fsyncs (one per sink per batch), and while one fsync runs the next batch queues up.
//!
//! It also closes slices: when a sink's import condition (count, size, time since opening) is
//! met, when the mapping's columns change, or when asked (`close`), the open slice is renamed
//! `.closed` (durably) and the flush loop is woken.
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::slices::{self, CLOSED, OPEN};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SinkKey {
    pub project_id: i64,
    pub branch_id: i64,
    pub source_id: String,
    pub sink_id: String,
}

impl SinkKey {
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(format!("p{}", self.project_id)).join(format!("b{}", self.branch_id)).join(&self.source_id).join(&self.sink_id)
    }

    /// The idempotency key of a slice's import (`LoadSpec::once_key`).
    pub fn once_key(&self, slice_id: i64) -> String {
        format!("stream/{}/{}/{}/{}/{slice_id}", self.project_id, self.branch_id, self.source_id, self.sink_id)
    }
}

/// When a sink's open slice is closed for import.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditions {
    pub count: u64,
    pub bytes: u64,
    pub interval: Duration,
}

impl Default for Conditions {
    /// Keboola's defaults: 50,000 records, 50 MB, 1 minute.
    fn default() -> Self {
        Conditions { count: 50_000, bytes: 50 * 1024 * 1024, interval: Duration::from_secs(60) }
    }
}

/// One sink's row of an event.
pub struct SinkRow {
    pub key: SinkKey,
    pub columns: Arc<Vec<String>>,
    pub conditions: Conditions,
    pub line: Vec<u8>,
}

/// What the open slice of a sink holds (statistics).
#[derive(Debug, Clone, Default)]
pub struct OpenStats {
    pub slice_id: i64,
    pub records: u64,
    pub bytes: u64,
    pub first_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_at: Option<chrono::DateTime<chrono::Utc>>,
}

enum Cmd {
    Append { rows: Vec<SinkRow>, done: tokio::sync::oneshot::Sender<Result<(), String>> },
    /// Close the sink's open slice now (or every sink's of the source when `sink_id` is empty).
    Close { key: SinkKey, done: tokio::sync::oneshot::Sender<()> },
}

#[derive(Clone)]
pub struct Writer {
    tx: Sender<Cmd>,
    pub stats: Arc<parking_lot::Mutex<HashMap<SinkKey, OpenStats>>>,
}

impl Writer {
    /// Start the thread; slice ids continue after `last_id`; `closed` is called after a slice closed.
    pub fn start(root: PathBuf, last_id: i64, closed: Arc<dyn Fn() + Send + Sync>) -> Writer {
        let (tx, rx) = std::sync::mpsc::channel();
        let stats = Arc::new(parking_lot::Mutex::new(HashMap::new()));
        let mut w = Worker { root, last_id, open: HashMap::new(), stats: stats.clone(), closed };
        std::thread::Builder::new().name("stream-writer".into()).spawn(move || w.run(rx)).expect("spawning the stream writer");
        Writer { tx, stats }
    }

    /// Durably append one event's rows; answers once they are fsynced.
    pub async fn append(&self, rows: Vec<SinkRow>) -> Result<(), String> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx.send(Cmd::Append { rows, done }).map_err(|_| "the stream writer stopped".to_string())?;
        wait.await.map_err(|_| "the stream writer stopped".to_string())?
    }

    pub async fn close(&self, key: SinkKey) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(Cmd::Close { key, done }).is_ok() {
            let _ = wait.await;
        }
    }
}

struct OpenSlice {
    id: i64,
    dir: PathBuf,
    file: File,
    columns: Arc<Vec<String>>,
    conditions: Conditions,
    opened: Instant,
    /// Bytes known to be whole frames on disk (a failed write is cut back to it).
    good_len: u64,
    pending: Vec<u8>,
    stats: OpenStats,
}

struct Worker {
    root: PathBuf,
    last_id: i64,
    open: HashMap<SinkKey, OpenSlice>,
    stats: Arc<parking_lot::Mutex<HashMap<SinkKey, OpenStats>>>,
    closed: Arc<dyn Fn() + Send + Sync>,
}

const MAX_BATCH: usize = 8192;

impl Worker {
    fn run(&mut self, rx: Receiver<Cmd>) {
        loop {
            let first = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut batch: Vec<Cmd> = first.into_iter().collect();
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let mut appends = Vec::new();
            let mut closes = Vec::new();
            for c in batch {
                match c {
                    Cmd::Append { rows, done } => appends.push((rows, done)),
                    Cmd::Close { key, done } => closes.push((key, done)),
                }
            }
            self.write_batch(appends);
            for (key, done) in closes {
                let keys: Vec<SinkKey> = self
                    .open
                    .keys()
                    .filter(|k| **k == key || (key.sink_id.is_empty() && k.project_id == key.project_id && k.branch_id == key.branch_id && k.source_id == key.source_id))
                    .cloned()
                    .collect();
                for k in keys {
                    self.close_slice(&k);
                }
                let _ = done.send(());
            }
            self.close_due();
        }
    }

    fn write_batch(&mut self, appends: Vec<(Vec<SinkRow>, tokio::sync::oneshot::Sender<Result<(), String>>)>) {
        if appends.is_empty() {
            return;
        }
        let now = chrono::Utc::now();
        let mut failed: HashMap<SinkKey, String> = HashMap::new();
        for (rows, _) in &appends {
            for r in rows {
                if failed.contains_key(&r.key) {
                    continue;
                }
                if let Err(e) = self.stage(r, now) {
                    failed.insert(r.key.clone(), e);
                }
            }
        }
        // Write and fsync each touched slice once.
        let touched: Vec<SinkKey> = self.open.iter().filter(|(_, s)| !s.pending.is_empty()).map(|(k, _)| k.clone()).collect();
        for key in touched {
            let slice = self.open.get_mut(&key).expect("open slice");
            let pending = std::mem::take(&mut slice.pending);
            let res = slice.file.write_all(&pending).and_then(|_| slice.file.sync_data());
            match res {
                Ok(()) => slice.good_len += pending.len() as u64,
                Err(e) => {
                    tracing::error!("stream: writing a slice failed: {e}");
                    // Cut back to the last whole frame; the rows of this batch are not acknowledged.
                    let _ = slice.file.set_len(slice.good_len);
                    failed.insert(key.clone(), format!("The event could not be stored: {e}"));
                    let (records, bytes) = (slice.stats.records, slice.stats.bytes);
                    let _ = (records, bytes);
                }
            }
        }
        {
            let mut stats = self.stats.lock();
            for (k, s) in &self.open {
                stats.insert(k.clone(), s.stats.clone());
            }
        }
        for (rows, done) in appends {
            let err = rows.iter().find_map(|r| failed.get(&r.key).cloned());
            let _ = done.send(match err {
                Some(e) => Err(e),
                None => Ok(()),
            });
        }
    }

    /// Queue one row's frame in its sink's open slice (opened, or reopened for new columns, first).
    fn stage(&mut self, r: &SinkRow, now: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
        if self.open.get(&r.key).is_some_and(|s| s.columns != r.columns) {
            self.flush_pending(&r.key)?;
            self.close_slice(&r.key);
        }
        if !self.open.contains_key(&r.key) {
            let slice = self.open_slice(&r.key, r.columns.clone()).map_err(|e| format!("The event could not be stored: {e}"))?;
            self.open.insert(r.key.clone(), slice);
        }
        let slice = self.open.get_mut(&r.key).expect("open slice");
        slice.conditions = r.conditions;
        slices::frame(&r.line, &mut slice.pending);
        slice.stats.records += 1;
        slice.stats.bytes += r.line.len() as u64;
        slice.stats.first_at.get_or_insert(now);
        slice.stats.last_at = Some(now);
        Ok(())
    }

    fn flush_pending(&mut self, key: &SinkKey) -> Result<(), String> {
        let Some(slice) = self.open.get_mut(key) else { return Ok(()) };
        let pending = std::mem::take(&mut slice.pending);
        slice.file.write_all(&pending).and_then(|_| slice.file.sync_data()).map_err(|e| e.to_string())?;
        slice.good_len += pending.len() as u64;
        Ok(())
    }

    fn open_slice(&mut self, key: &SinkKey, columns: Arc<Vec<String>>) -> std::io::Result<OpenSlice> {
        let dir = key.dir(&self.root);
        slices::create_dir_durably(&dir)?;
        let now_us = chrono::Utc::now().timestamp_micros();
        self.last_id = now_us.max(self.last_id + 1);
        let id = self.last_id;
        let mut file = OpenOptions::new().create_new(true).append(true).open(dir.join(slices::file_name(id, OPEN)))?;
        let mut header = Vec::new();
        slices::frame(serde_json::json!({"columns": *columns}).to_string().as_bytes(), &mut header);
        file.write_all(&header)?;
        file.sync_all()?;
        slices::sync_dir(&dir)?;
        Ok(OpenSlice {
            id,
            dir,
            file,
            columns,
            conditions: Conditions::default(),
            opened: Instant::now(),
            good_len: header.len() as u64,
            pending: Vec::new(),
            stats: OpenStats { slice_id: id, ..OpenStats::default() },
        })
    }

    /// Close a slice: its frames are on disk (fsynced); the rename makes it `.closed`.
    fn close_slice(&mut self, key: &SinkKey) {
        let Some(mut slice) = self.open.remove(key) else { return };
        if !slice.pending.is_empty() {
            let pending = std::mem::take(&mut slice.pending);
            if slice.file.write_all(&pending).and_then(|_| slice.file.sync_data()).is_err() {
                let _ = slice.file.set_len(slice.good_len);
            }
        }
        self.stats.lock().remove(key);
        let result = if slice.stats.records == 0 {
            std::fs::remove_file(slice.dir.join(slices::file_name(slice.id, OPEN))).and_then(|_| slices::sync_dir(&slice.dir))
        } else {
            slices::rename_durably(&slice.dir, &slices::file_name(slice.id, OPEN), &slices::file_name(slice.id, CLOSED))
        };
        match result {
            Ok(()) => (self.closed)(),
            // Left `.open`: the next start closes it (`slices::recover`).
            Err(e) => tracing::error!(slice = slice.id, "stream: closing a slice failed: {e}"),
        }
    }

    fn close_due(&mut self) {
        let due: Vec<SinkKey> = self
            .open
            .iter()
            .filter(|(_, s)| {
                let c = &s.conditions;
                s.stats.records >= c.count || s.stats.bytes >= c.bytes || s.opened.elapsed() >= c.interval
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            self.close_slice(&k);
        }
    }
}
