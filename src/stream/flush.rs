//! The flush loop: every closed slice of a live sink is imported into the sink's table (created
//! with the mapping's columns when missing) through Storage's own import, at most once per slice
//! (the once-key; see the module comment of `stream`), then renamed `.imported` and recorded.
//! Failures are retried with a growing pause (recorded as the slice's `retryAttempt`,
//! `retryReason`, `retryAfter`). Imported slices' files and once-keys go after 7 days.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::entities;
use super::slices::{self, CLOSED, IMPORTED, OPEN};
use super::writer::SinkKey;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult};
use crate::meta::stream::{SliceRecord, StreamEntity};
use crate::storage::auth::Auth;
use crate::storage::buckets::{self, NewBucket};
use crate::storage::files::{self, NewFile};
use crate::storage::jobs;
use crate::storage::tables::import::{CsvOptions, HeaderMode, start_file_import_once};
use crate::storage::tables::{self, create};

/// How long imported slices stay on local disk.
pub const KEEP_IMPORTED: Duration = Duration::from_secs(7 * 24 * 3600);

/// `KEEP_IMPORTED`, or `KBSTACK_STREAM_KEEP_IMPORTED_SECS` (tests check the removal without
/// waiting a week).
pub fn keep_imported() -> Duration {
    std::env::var("KBSTACK_STREAM_KEEP_IMPORTED_SECS").ok().and_then(|v| v.trim().parse().ok()).map(Duration::from_secs).unwrap_or(KEEP_IMPORTED)
}

pub fn start(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut backoff: HashMap<SinkKey, (u32, Instant)> = HashMap::new();
        let keep = keep_imported();
        let cleanup_every = keep.min(Duration::from_secs(60));
        let mut last_cleanup = Instant::now();
        loop {
            let _ = tokio::time::timeout(Duration::from_millis(500), state.stream.flush_wake.notified()).await;
            if let Err(e) = flush_all(&state, &mut backoff).await {
                tracing::warn!("stream: flushing failed: {}", e.message);
            }
            if last_cleanup.elapsed() >= cleanup_every {
                last_cleanup = Instant::now();
                let st = state.clone();
                match tokio::task::spawn_blocking(move || remove_expired(&st, chrono::Utc::now().timestamp_millis(), keep)).await {
                    Ok(Err(e)) => tracing::warn!("stream: removing old slices failed: {}", e.message),
                    Err(e) => tracing::error!("stream: cleanup panicked: {e}"),
                    Ok(Ok(_)) => {}
                }
            }
        }
    });
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

/// Import every closed slice of every live sink, oldest first per sink.
pub async fn flush_all(state: &AppState, backoff: &mut HashMap<SinkKey, (u32, Instant)>) -> ApiResult<()> {
    let st = state.clone();
    let sinks: Vec<StreamEntity> = blocking(move || Ok(st.meta.all_stream_entities()?)).await?;
    for sink in sinks.into_iter().filter(|e| !e.sink_id.is_empty() && !e.deleted) {
        let key = entities::sink_key(&sink);
        if backoff.get(&key).is_some_and(|(_, until)| Instant::now() < *until) {
            continue;
        }
        let dir = key.dir(&state.stream.root);
        let pending: Vec<i64> = slices::list(&dir).into_iter().filter(|(_, s)| s == CLOSED).map(|(id, _)| id).collect();
        for slice_id in pending {
            match import_slice(state, &sink, &dir, slice_id).await {
                Ok(()) => {
                    backoff.remove(&key);
                }
                Err(e) => {
                    let attempt = backoff.get(&key).map_or(1, |(a, _)| a + 1);
                    let pause = Duration::from_secs((1u64 << attempt.min(8)).min(300));
                    backoff.insert(key.clone(), (attempt, Instant::now() + pause));
                    tracing::warn!(sink = %sink.sink_id, slice = slice_id, attempt, "stream: importing a slice failed: {}", e.message);
                    let st = state.clone();
                    let (k, msg) = (key.clone(), e.message.clone());
                    let after = chrono::Utc::now() + chrono::Duration::from_std(pause).unwrap_or_default();
                    let _ = blocking(move || record_retry(&st, &k, slice_id, attempt, &msg, after)).await;
                    break;
                }
            }
        }
    }
    Ok(())
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn opened_at(slice_id: i64) -> String {
    chrono::DateTime::from_timestamp_micros(slice_id).map(iso).unwrap_or_default()
}

fn record_retry(state: &AppState, key: &SinkKey, slice_id: i64, attempt: u32, reason: &str, after: chrono::DateTime<chrono::Utc>) -> ApiResult<()> {
    let rec = SliceRecord {
        project_id: key.project_id,
        branch_id: key.branch_id,
        source_id: key.source_id.clone(),
        sink_id: key.sink_id.clone(),
        slice_id,
        state: CLOSED.into(),
        body: json!({"openedAt": opened_at(slice_id), "retryAttempt": attempt, "retryReason": reason, "retryAfter": iso(after)}),
        imported_ms: None,
    };
    Ok(state.meta.put_stream_slice(&rec)?)
}

/// The sink's token as an `Auth` in the sink's branch.
fn sink_auth(state: &AppState, sink: &StreamEntity) -> ApiResult<Auth> {
    let token_id = sink.body["_internal"]["tokenId"].as_i64().ok_or_else(|| ApiError::internal("the sink has no token"))?;
    let token = state.meta.token(token_id)?.ok_or_else(|| ApiError::internal("the sink's token is gone"))?;
    let secret = sink.body["_internal"]["sealedToken"].as_str().and_then(|s| state.secrets.open(s)).unwrap_or_default();
    let default_branch_id = state.meta.default_branch(sink.project_id)?.ok_or_else(|| ApiError::internal("the project has no default branch"))?;
    Ok(Auth { token, secret, project_id: sink.project_id, branch_id: sink.branch_id, default_branch_id, run_id: None })
}

/// The sink's table, created (with its bucket) when missing.
fn ensure_table(state: &AppState, auth: &Auth, table_id: &str, columns: &[String]) -> ApiResult<tables::Table> {
    if let Some(t) = tables::find_table(state, auth.project_id, auth.branch_id, table_id)? {
        return Ok(t);
    }
    let (bucket_id, name) = tables::split_table_id(table_id).ok_or_else(|| ApiError::validation(format!("\"{table_id}\" is not a table id.")))?;
    if buckets::load_bucket(state, auth.project_id, auth.branch_id, &bucket_id).is_err() {
        let (stage, rest) = bucket_id.split_once('.').unwrap_or(("in", &bucket_id));
        let bucket_name = rest.strip_prefix("c-").unwrap_or(rest);
        buckets::create_bucket(state, auth, NewBucket::named(bucket_name, stage))?;
    }
    create::create_empty(state, auth, &bucket_id, &name, columns, Vec::new())?;
    tables::find_table(state, auth.project_id, auth.branch_id, table_id)?.ok_or_else(|| ApiError::internal("the sink's table was not created"))
}

/// Import one closed slice, once (see the `stream` module comment for why a repeat is safe).
async fn import_slice(state: &AppState, sink: &StreamEntity, dir: &Path, slice_id: i64) -> ApiResult<()> {
    let key = entities::sink_key(sink);
    let path: PathBuf = dir.join(slices::file_name(slice_id, CLOSED));
    let st = state.clone();
    let (staged, columns, rows) = blocking(move || {
        let mut staged = tempfile::NamedTempFile::new_in(st.blobs.staging_dir())?;
        let (columns, rows) = slices::to_csv(&path, &mut std::io::BufWriter::new(staged.as_file_mut()))?;
        staged.as_file().sync_all()?;
        Ok((staged, columns, rows))
    })
    .await?;
    let mut result = json!({"importedRowsCount": 0});
    if rows > 0 {
        let auth = sink_auth(state, sink)?;
        let table_id = sink.body["table"]["tableId"].as_str().unwrap_or_default().to_string();
        let (st, a, tid, cols) = (state.clone(), auth.clone(), table_id.clone(), columns.clone());
        let table = blocking(move || ensure_table(&st, &a, &tid, &cols)).await?;
        let (st, a) = (state.clone(), auth.clone());
        let name = format!("stream-{}-{}-{slice_id}.csv", sink.source_id, sink.sink_id);
        let file = blocking(move || {
            let new = NewFile { name, is_sliced: false, is_permanent: false, is_encrypted: true, tags: vec!["stream".into()] };
            files::create_from_staged(&st, &a, new, false, staged.path())
        })
        .await?;
        let opts = CsvOptions { delimiter: ',', enclosure: Some('"'), escaped_by: None };
        let (_, axum::Json(job)) = start_file_import_once(state, &auth, table, file, opts, HeaderMode::FromFile, true, Some(key.once_key(slice_id))).await?;
        let job_id = job["id"].as_i64().ok_or_else(|| ApiError::internal("the import job has no id"))?;
        let job = jobs::wait_finished(state, auth.project_id, job_id).await?;
        if job["status"] != "success" {
            let message = job["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| job["error"].to_string());
            return Err(ApiError::validation(format!("The import into \"{table_id}\" failed: {message}")));
        }
        result = job["results"].clone();
        result["storageJobId"] = json!(job_id);
        // Tests: die in the worst place, after the rows are in and before the slice is marked
        // imported, so that the restart must find the once-key and not import it again.
        if std::env::var_os("KBSTACK_STREAM_TEST_CRASH_AFTER_IMPORT").is_some() {
            tracing::error!("stream: crashing after an import, as KBSTACK_STREAM_TEST_CRASH_AFTER_IMPORT asks");
            std::process::abort();
        }
    }
    let st = state.clone();
    let dir = dir.to_path_buf();
    blocking(move || {
        let now = chrono::Utc::now();
        let closed_at = std::fs::metadata(dir.join(slices::file_name(slice_id, CLOSED))).and_then(|m| m.modified()).ok().map(|t| iso(t.into()));
        let rec = SliceRecord {
            project_id: key.project_id,
            branch_id: key.branch_id,
            source_id: key.source_id.clone(),
            sink_id: key.sink_id.clone(),
            slice_id,
            state: IMPORTED.into(),
            body: json!({
                "openedAt": opened_at(slice_id), "closingAt": closed_at, "importedAt": iso(now), "recordsCount": rows,
                "alreadyLoaded": result["alreadyLoaded"].as_bool().unwrap_or(false), "storageJobId": result["storageJobId"],
            }),
            imported_ms: Some(now.timestamp_millis()),
        };
        st.meta.put_stream_slice(&rec)?;
        slices::rename_durably(&dir, &slices::file_name(slice_id, CLOSED), &slices::file_name(slice_id, IMPORTED))?;
        Ok(())
    })
    .await
}

/// Remove the files and once-keys of slices imported more than `keep` ago.
pub fn remove_expired(state: &AppState, now_ms: i64, keep: Duration) -> ApiResult<usize> {
    let due = state.meta.stream_slices_imported_before(now_ms - keep.as_millis() as i64)?;
    for s in &due {
        let key = SinkKey { project_id: s.project_id, branch_id: s.branch_id, source_id: s.source_id.clone(), sink_id: s.sink_id.clone() };
        let dir = key.dir(&state.stream.root);
        match std::fs::remove_file(dir.join(slices::file_name(s.slice_id, IMPORTED))) {
            Ok(()) => slices::sync_dir(&dir)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        // The file is gone for good, so the key can never be needed again.
        state.tables.forget_once(&key.once_key(s.slice_id))?;
        state.meta.delete_stream_slice(s)?;
    }
    Ok(due.len())
}

fn level(records: u64, bytes: u64, first: Option<String>, last: Option<String>) -> Value {
    json!({"recordsCount": records, "compressedSize": bytes, "uncompressedSize": bytes, "firstRecordAt": first, "lastRecordAt": last})
}

/// `statistics/total`: records waiting on local disk (open and closed slices) and imported.
pub fn statistics_total(state: &AppState, sink: &StreamEntity) -> Value {
    let key = entities::sink_key(sink);
    let dir = key.dir(&state.stream.root);
    let (mut local_records, mut local_bytes) = (0u64, 0u64);
    if let Some(open) = state.stream.writer().and_then(|w| w.stats.lock().get(&key).cloned()) {
        local_records += open.records;
        local_bytes += open.bytes;
    }
    for (id, s) in slices::list(&dir) {
        if s == CLOSED {
            if let Ok((frames, len)) = slices::read_frames(&dir.join(slices::file_name(id, CLOSED))) {
                local_records += frames.len().saturating_sub(1) as u64;
                local_bytes += len;
            }
        }
    }
    let imported = state.meta.stream_slices(sink.project_id, sink.branch_id, &sink.source_id, &sink.sink_id).unwrap_or_default();
    let target: u64 = imported.iter().filter(|s| s.state == IMPORTED).map(|s| s.body["recordsCount"].as_u64().unwrap_or(0)).sum();
    let total = local_records + target;
    json!({
        "total": level(total, local_bytes, None, None),
        "levels": {"local": level(local_records, local_bytes, None, None), "target": level(target, 0, None, None)},
    })
}

/// `statistics/files`: the sink's slices as files (`writing`, `closing`/`importing`, `imported`).
pub fn statistics_files(state: &AppState, sink: &StreamEntity) -> ApiResult<Value> {
    let key = entities::sink_key(sink);
    let dir = key.dir(&state.stream.root);
    let records: HashMap<i64, SliceRecord> =
        state.meta.stream_slices(sink.project_id, sink.branch_id, &sink.source_id, &sink.sink_id)?.into_iter().map(|r| (r.slice_id, r)).collect();
    let mut files: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (id, s) in slices::list(&dir) {
        seen.insert(id);
        let rec = records.get(&id);
        let mut f = json!({"sliceId": id.to_string(), "openedAt": opened_at(id)});
        match s.as_str() {
            OPEN => f["state"] = json!("writing"),
            CLOSED => {
                f["state"] = json!("importing");
                if let Some(r) = rec {
                    for k in ["retryAttempt", "retryReason", "retryAfter"] {
                        f[k] = r.body[k].clone();
                    }
                }
            }
            _ => {
                f["state"] = json!("imported");
                if let Some(r) = rec {
                    f["importedAt"] = r.body["importedAt"].clone();
                    f["statistics"] = json!({"recordsCount": r.body["recordsCount"]});
                }
            }
        }
        files.push(f);
    }
    for r in records.values().filter(|r| !seen.contains(&r.slice_id)) {
        files.push(json!({"sliceId": r.slice_id.to_string(), "state": r.state, "openedAt": opened_at(r.slice_id), "importedAt": r.body["importedAt"]}));
    }
    Ok(json!({"files": files}))
}
