//! The Storage API Importer, served at `/import` (`api`; notes: services.md §17, spec
//! `../importer/`): one HTTP request puts a CSV into a table (`write-table`) or a file into
//! Storage Files (`upload-file`). The upload is streamed to a staging file, becomes a Storage
//! file, and a table write is the Storage `tableImport` job `import-async` runs, awaited here:
//! the answer is the job's result. Keboola's importer takes at most 2 GB a request.
pub mod api;

use std::path::Path;

use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, Params};
use crate::storage::auth::Auth;
use crate::storage::files::{self, FileRecord, NewFile};
use crate::storage::jobs;
use crate::storage::tables::{Table, import};

/// Keboola's limit: "The maximum limit for a file size is 2GB" (developers docs, importer).
pub const MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The upload limit; `KBSTACK_IMPORT_MAX_BYTES` lowers it (tests check the limit without
/// sending gigabytes).
pub fn max_bytes() -> u64 {
    std::env::var("KBSTACK_IMPORT_MAX_BYTES").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(MAX_BYTES)
}

pub fn too_large(max: u64) -> ApiError {
    ApiError::new(Code::PayloadTooLarge, format!("The uploaded data is larger than the limit of {max} bytes."))
}

/// An uploaded `data` part, staged on disk.
pub struct Staged {
    pub file: tempfile::NamedTempFile,
    /// The part's file name, when the client sent one.
    pub file_name: Option<String>,
    pub bytes: u64,
}

fn is_gzip(path: &Path) -> bool {
    crate::backend::duckdb::is_gzip(path)
}

/// The Storage file name of a table upload: the sent name, or the table's; a gzip body (told by
/// its magic bytes) ends in `.gz` whatever it was called.
fn table_file_name(t: &Table, data: &Staged) -> String {
    let base = data.file_name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("{}.csv", t.name));
    if is_gzip(data.file.path()) && !base.ends_with(".gz") { format!("{base}.gz") } else { base }
}

/// `write-table`: the CSV becomes a Storage file, imported into `t` by a `tableImport` job; the
/// answer is the job's result (`transaction, warnings, importedColumns, totalRowsCount,
/// totalDataSizeBytes`, …), a failed job an error.
pub async fn write_table(state: &AppState, auth: &Auth, t: Table, p: &Params, data: Staged) -> ApiResult<Value> {
    let opts = import::csv_options(p)?;
    let incremental = p.flag("incremental")?;
    let mode = import::header_mode(p, t.stats.columns.clone())?;
    if data.bytes == 0 {
        return Err(ApiError::validation("Invalid request:\n - data: The uploaded file is empty."));
    }
    let new = NewFile { name: table_file_name(&t, &data), is_sliced: false, is_permanent: false, is_encrypted: true, tags: Vec::new() };
    let file = files::create_from_staged(state, auth, new, false, data.file.path())?;
    let (_, axum::Json(job)) = import::start_file_import(state, auth, t, file, opts, mode, incremental).await?;
    let id = job["id"].as_i64().ok_or_else(|| ApiError::internal("the import job has no id"))?;
    let job = jobs::wait_finished(state, auth.project_id, id).await?;
    if job["status"] == "success" {
        return Ok(job["results"].clone());
    }
    Err(job_error(id, &job["error"]))
}

/// A failed job as the Importer's error: the job's message; its Storage code and id in `context`.
fn job_error(job_id: i64, error: &Value) -> ApiError {
    let parsed;
    let error = match error {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
            &parsed
        }
        v => v,
    };
    let code = error["code"].as_str().unwrap_or("");
    let message = error["message"].as_str().unwrap_or("The import job failed.").to_string();
    let server_side = [Code::Internal, Code::DiskFull].iter().any(|c| c.as_str() == code);
    let kind = if server_side { Code::Internal } else { Code::ValidationFailed };
    let mut context = json!({"storageJobId": job_id, "storageCode": code});
    if let Some(extra) = error.get("contextParams").and_then(Value::as_object) {
        for (k, v) in extra {
            context[k] = v.clone();
        }
    }
    ApiError::new(kind, message).with_context(context)
}

/// `upload-file`: the content becomes a Storage file with the options sent (`name`, `tags[]`,
/// `isPublic`, `isPermanent`, `notify`); answered like `GET /v2/storage/files/{id}`.
pub fn upload_file(state: &AppState, auth: &Auth, p: &Params, data: Staged) -> ApiResult<FileRecord> {
    let name = p
        .str("name")
        .filter(|n| !n.trim().is_empty())
        .or(data.file_name.clone().filter(|n| !n.trim().is_empty()))
        .ok_or_else(|| ApiError::validation("Invalid request:\n - name: This value should not be blank."))?;
    // `notify` mails project members in Keboola; kbstack has no per-upload mail, it is accepted.
    p.flag("notify")?;
    let new = NewFile {
        name,
        is_sliced: false,
        is_permanent: p.flag("isPermanent")?,
        is_encrypted: true,
        tags: p.list("tags"),
    };
    files::create_from_staged(state, auth, new, p.flag("isPublic")?, data.file.path())
}
