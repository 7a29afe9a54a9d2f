//! Files (File Storage): the file records and their blobs. The HTTP handlers are in `files/api.rs`,
//! list filtering and the `q` search syntax in `files/search.rs`; this module is the record store
//! other modules use (table export creates files, table import reads their content).
//!
//! Every file owns one blob directory `p{project}/f{id}/`; SAS tokens are bound to it. A plain file
//! is the blob `p{project}/f{id}/{name}`; a sliced file uses that same string as a prefix: slices are
//! `<prefix><sliceName>` and the manifest is `<prefix>manifest`.
mod api;
pub mod search;

use std::path::PathBuf;

use rusqlite::OptionalExtension;
use serde_json::{Value, json};

use super::auth::Auth;
use crate::app::AppState;
use crate::blob::{BlobStore, valid_blob_name};
use crate::http::{ApiError, ApiResult, Code, iso};
use crate::meta::json_col;

pub use api::{file_json, routes};

/// Files that are not permanent are hidden (and their blobs may go) after this many days.
pub const MAX_AGE_DAYS: i64 = 15;

/// What a server-side producer (table export) asks for.
pub struct NewFile {
    pub name: String,
    pub is_sliced: bool,
    pub is_permanent: bool,
    pub is_encrypted: bool,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FileRow {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub is_sliced: bool,
    /// Blob name (non-sliced) or blob-name prefix (sliced: slices are `<prefix><slice>`, manifest `<prefix>manifest`).
    pub blob_path: String,
    pub size_bytes: Option<i64>,
    pub branch_id: i64,
    pub content_type: Option<String>,
    pub is_public: bool,
    pub is_encrypted: bool,
    pub is_permanent: bool,
    pub created: String,
    /// Unix seconds; `None` for permanent files.
    pub expires_at: Option<i64>,
    pub creator_token_id: i64,
    pub creator_description: String,
    pub run_id: Option<String>,
    pub run_ids: Vec<String>,
    pub tags: Vec<String>,
}

const FILE_COLUMNS: &str = "id, project_id, name, is_sliced, blob_path, size_bytes, branch_id, content_type, \
    is_public, is_encrypted, is_permanent, created, expires_at, creator_token_id, creator_description, run_id, \
    run_ids, tags";

impl FileRow {
    fn from_row(r: &rusqlite::Row) -> rusqlite::Result<FileRow> {
        Ok(FileRow {
            id: r.get(0)?,
            project_id: r.get(1)?,
            name: r.get(2)?,
            is_sliced: r.get(3)?,
            blob_path: r.get(4)?,
            size_bytes: r.get(5)?,
            branch_id: r.get(6)?,
            content_type: r.get(7)?,
            is_public: r.get(8)?,
            is_encrypted: r.get(9)?,
            is_permanent: r.get(10)?,
            created: r.get(11)?,
            expires_at: r.get(12)?,
            creator_token_id: r.get(13)?,
            creator_description: r.get(14)?,
            run_id: r.get(15)?,
            run_ids: string_list(r.get(16)?),
            tags: string_list(r.get(17)?),
        })
    }

    /// The blob directory this file owns, which its SAS tokens open.
    pub fn dir(&self) -> String {
        file_dir(self.project_id, self.id)
    }

    /// The blob a plain GET of the file reads: the content, or for sliced files the manifest.
    pub fn download_blob(&self) -> String {
        if self.is_sliced { self.manifest_blob() } else { self.blob_path.clone() }
    }

    pub fn manifest_blob(&self) -> String {
        format!("{}manifest", self.blob_path)
    }

    pub fn is_expired(&self) -> bool {
        self.expires_at.is_some_and(|e| e <= chrono::Utc::now().timestamp())
    }
}

fn string_list(text: Option<String>) -> Vec<String> {
    match json_col(text) {
        Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

pub fn file_dir(project_id: i64, file_id: i64) -> String {
    format!("p{project_id}/f{file_id}/")
}

/// The (project, file) whose directory a blob name lies in.
fn parse_file_dir(blob_name: &str) -> Option<(i64, i64)> {
    let mut parts = blob_name.splitn(3, '/');
    let project = parts.next()?.strip_prefix('p')?.parse().ok()?;
    let file = parts.next()?.strip_prefix('f')?.parse().ok()?;
    parts.next().filter(|rest| !rest.is_empty())?;
    Some((project, file))
}

/// Keboola stores file names lower-cased with anything outside `[a-z0-9._-]` replaced by `_`
/// (`someFile.csv` → `somefile.csv`); the name also becomes the blob name, so it must stay one
/// path segment.
pub fn sanitize_name(name: &str) -> String {
    let clean: String = name
        .trim()
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    // `.` and `..` are not blob names.
    if clean.chars().all(|c| c == '.') { clean.replace('.', "_") } else { clean }
}

/// Longest file name kept in a blob's path: a file system takes 255 bytes a name, and sliced
/// files add `manifest` and slice names after it. The file keeps its full `name`.
const MAX_BLOB_NAME_BYTES: usize = 160;

/// The sanitized (ASCII) name, shortened from the middle so its end (`.csv.gz`) survives.
fn blob_file_name(name: &str) -> String {
    if name.len() <= MAX_BLOB_NAME_BYTES {
        return name.to_string();
    }
    let tail = &name[name.len() - 40..];
    format!("{}_{tail}", &name[..MAX_BLOB_NAME_BYTES - 41])
}

/// Run ids nest as `parent.child`; a file belongs to every run on its chain (`1.2.3` → `1`, `1.2`, `1.2.3`).
fn run_chain(run_id: Option<&str>) -> Vec<String> {
    let Some(run_id) = run_id else { return Vec::new() };
    let parts: Vec<&str> = run_id.split('.').collect();
    (1..=parts.len()).map(|n| parts[..n].join(".")).collect()
}

/// Upload-only attributes `files/prepare` takes beyond `NewFile`.
#[derive(Default)]
struct UploadAttrs {
    is_public: bool,
    size_bytes: Option<i64>,
    content_type: Option<String>,
}

pub fn create_file(state: &AppState, auth: &Auth, f: NewFile) -> ApiResult<FileRow> {
    insert_file(state, auth, f, UploadAttrs::default())
}

fn insert_file(state: &AppState, auth: &Auth, f: NewFile, attrs: UploadAttrs) -> ApiResult<FileRow> {
    let name = sanitize_name(&f.name);
    if name.is_empty() {
        return Err(ApiError::validation("Invalid request:\n - name: This value should not be blank."));
    }
    let mut tags: Vec<String> = Vec::new();
    for t in f.tags.into_iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let now = chrono::Utc::now();
    let expires_at = (!f.is_permanent).then(|| (now + chrono::Duration::days(MAX_AGE_DAYS)).timestamp());
    let run_ids = run_chain(auth.run_id.as_deref());
    let id = state.meta.tx(|tx| {
        // Ids come from a sequence, never reused: a SAS issued for a deleted file must not open a new one.
        let id: i64 = tx.query_row(
            "INSERT INTO sequences (name, value) VALUES ('files', (SELECT COALESCE(MAX(id), 0) + 1 FROM files)) \
             ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
            [],
            |r| r.get(0),
        )?;
        let blob_path = format!("{}{}", file_dir(auth.project_id, id), blob_file_name(&name));
        tx.execute(
            "INSERT INTO files (id, project_id, branch_id, name, size_bytes, content_type, is_public, is_sliced, \
             is_encrypted, is_permanent, created, expires_at, creator_token_id, creator_description, run_id, run_ids, \
             blob_path, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            rusqlite::params![
                id,
                auth.project_id,
                auth.branch_id,
                name,
                attrs.size_bytes,
                attrs.content_type,
                attrs.is_public,
                f.is_sliced,
                f.is_encrypted,
                f.is_permanent,
                iso(now),
                expires_at,
                auth.token.id,
                auth.token.description,
                auth.run_id,
                json!(run_ids).to_string(),
                blob_path,
                json!(tags).to_string(),
            ],
        )?;
        Ok::<_, ApiError>(id)
    })?;
    fetch(state, auth.project_id, id)?.ok_or_else(|| ApiError::internal("file vanished after insert"))
}

fn fetch(state: &AppState, project_id: i64, id: i64) -> ApiResult<Option<FileRow>> {
    Ok(state.meta.with(|c| {
        c.query_row(
            &format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1 AND project_id = ?2"),
            [id, project_id],
            FileRow::from_row,
        )
        .optional()
    })?)
}

fn not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::new(Code::FileNotFound, format!("File {id} not found"))
}

/// Whether the token may see files it did not create.
fn reads_all(auth: &Auth) -> bool {
    auth.token.is_master || auth.token.can_read_all_file_uploads
}

/// A file the token may see: its own, or any of the project's with `canReadAllFileUploads`.
pub fn load_file(state: &AppState, auth: &Auth, id: i64) -> ApiResult<FileRow> {
    match fetch(state, auth.project_id, id)? {
        Some(f) if reads_all(auth) || f.creator_token_id == auth.token.id => Ok(f),
        _ => Err(not_found(id)),
    }
}

/// The file whose directory holds `blob_name` (the blob endpoint's owner check; no token involved).
pub fn file_for_blob(state: &AppState, blob_name: &str) -> ApiResult<Option<FileRow>> {
    match parse_file_dir(blob_name) {
        Some((project, id)) => fetch(state, project, id),
        None => Ok(None),
    }
}

/// Local paths of the file's content, slices in manifest order.
pub fn content_paths(state: &AppState, file: &FileRow) -> ApiResult<Vec<PathBuf>> {
    let never_uploaded =
        || ApiError::validation(format!("File {} ({}) has no content: it was never uploaded.", file.id, file.name));
    if !file.is_sliced {
        let path = state.blobs.local_path(&file.blob_path);
        return if path.is_file() { Ok(vec![path]) } else { Err(never_uploaded()) };
    }
    let manifest = std::fs::read(state.blobs.local_path(&file.manifest_blob())).map_err(|_| {
        ApiError::validation(format!("Sliced file {} ({}) has no manifest: it was never uploaded.", file.id, file.name))
    })?;
    let bad = |why: String| ApiError::validation(format!("Manifest of sliced file {} is invalid: {why}", file.id));
    let manifest: Value = serde_json::from_slice(&manifest).map_err(|e| bad(e.to_string()))?;
    let entries = manifest.get("entries").and_then(Value::as_array).ok_or_else(|| bad("no \"entries\" array".into()))?;
    let dir = file.dir();
    entries
        .iter()
        .map(|entry| {
            let url = entry.get("url").and_then(Value::as_str).ok_or_else(|| bad("an entry has no \"url\"".into()))?;
            // Slices must lie in the file's own directory: a manifest must not reach other files' blobs.
            let blob = BlobStore::blob_name_from_entry(url)
                .filter(|b| b.starts_with(&dir) && valid_blob_name(b))
                .ok_or_else(|| bad(format!("entry \"{url}\" is not a slice of this file")))?;
            let path = state.blobs.local_path(&blob);
            if path.is_file() { Ok(path) } else { Err(bad(format!("slice \"{url}\" was never uploaded"))) }
        })
        .collect()
}

/// Record the final size after a server-side producer wrote the blobs.
pub fn set_size(state: &AppState, file_id: i64, size: i64) -> ApiResult<()> {
    state.meta.with(|c| c.execute("UPDATE files SET size_bytes = ?1 WHERE id = ?2", [size, file_id]))?;
    Ok(())
}

/// Write the manifest of a sliced file listing `slices` (blob names, in order) and record the size
/// of the slices. For server-side producers that wrote the slices themselves.
pub fn write_manifest(state: &AppState, file: &FileRow, slices: &[String]) -> ApiResult<()> {
    let entries: Vec<Value> = slices.iter().map(|s| json!({"url": BlobStore::entry_url(s)})).collect();
    let body = json!({"entries": entries}).to_string();
    let dest = state.blobs.local_path(&file.manifest_blob());
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Written beside and renamed, so a reader never sees half a manifest.
    let tmp = state.blobs.staging_dir().join(format!("{}.manifest", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, &dest)?;
    refresh_size(state, file)
}

/// After a blob was written through the blob endpoint: refresh the size of the file owning it.
pub fn blob_written(state: &AppState, blob_name: &str) -> ApiResult<()> {
    match file_for_blob(state, blob_name)? {
        Some(file) => refresh_size(state, &file),
        None => Ok(()),
    }
}

/// The content size: the blob, or for sliced files every blob of the directory but the manifest.
fn refresh_size(state: &AppState, file: &FileRow) -> ApiResult<()> {
    let size = if file.is_sliced {
        let manifest = state.blobs.local_path(&file.manifest_blob());
        dir_size(&state.blobs.local_path(&file.dir()), &manifest)?
    } else {
        match std::fs::metadata(state.blobs.local_path(&file.blob_path)) {
            Ok(m) => m.len(),
            Err(_) => return Ok(()),
        }
    };
    set_size(state, file.id, size as i64)
}

fn dir_size(dir: &std::path::Path, skip: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let meta = entry.metadata()?;
        if meta.is_dir() {
            total += dir_size(&path, skip)?;
        } else if path != skip {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Where the blob endpoint keeps uncommitted blocks (Put Block) of the file's blobs; kept per file
/// so that deleting the file also drops blocks that were never committed.
pub fn block_staging_dir(state: &AppState, file: &FileRow) -> PathBuf {
    state.blobs.staging_dir().join("blocks").join(file.dir())
}

/// Remove the record, every blob of the file and its uncommitted blocks.
/// Data first, then the record: on a full disk the metadata store cannot write until space is
/// freed, so removing the data is what makes the delete (and everything else) work again; a
/// retried delete finds the data gone and removes the record.
fn delete_file(state: &AppState, file: &FileRow) -> ApiResult<()> {
    for dir in [state.blobs.local_path(&file.dir()), block_staging_dir(state, file)] {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    state.meta.with(|c| c.execute("DELETE FROM files WHERE id = ?1", [file.id]))?;
    Ok(())
}

fn set_tags(state: &AppState, file_id: i64, tags: &[String]) -> ApiResult<()> {
    state.meta.with(|c| c.execute("UPDATE files SET tags = ?1 WHERE id = ?2", rusqlite::params![json!(tags).to_string(), file_id]))?;
    Ok(())
}

/// The files the token may see that match `filter`, newest first, a page of them (`GET files`,
/// and the runner's input mapping).
pub fn search(
    state: &AppState,
    auth: &Auth,
    filter: &search::Filter,
    ids: (Option<i64>, Option<i64>),
    offset: usize,
    limit: usize,
) -> ApiResult<Vec<FileRow>> {
    let files = visible_files(state, auth, ids.0, ids.1)?;
    Ok(files.into_iter().filter(|f| filter.matches(f)).skip(offset).take(limit).collect())
}

/// The project's files the token may see, newest first (filters beyond visibility are the caller's).
fn visible_files(state: &AppState, auth: &Auth, since_id: Option<i64>, max_id: Option<i64>) -> ApiResult<Vec<FileRow>> {
    let all = reads_all(auth);
    Ok(state.meta.with(|c| {
        let mut st = c.prepare(&format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE project_id = ?1 AND (?2 OR creator_token_id = ?3) \
             AND (?4 IS NULL OR id > ?4) AND (?5 IS NULL OR id < ?5) ORDER BY id DESC"
        ))?;
        st.query_map(rusqlite::params![auth.project_id, all, auth.token.id, since_id, max_id], FileRow::from_row)?
            .collect()
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized_like_keboola() {
        assert_eq!(sanitize_name("someFile.csv"), "somefile.csv");
        assert_eq!(sanitize_name("my file (1).CSV.gz"), "my_file__1_.csv.gz");
        let long = format!("{}.csv.gz", "a".repeat(300));
        let short = blob_file_name(&sanitize_name(&long));
        assert_eq!(short.len(), MAX_BLOB_NAME_BYTES);
        assert!(short.ends_with("aaa.csv.gz"));
        assert_eq!(sanitize_name("../x"), ".._x");
        assert_eq!(sanitize_name(".."), "__");
    }

    #[test]
    fn blob_directories_parse() {
        assert_eq!(parse_file_dir("p1/f23/name.csv"), Some((1, 23)));
        assert_eq!(parse_file_dir("p1/f23/"), None);
        assert_eq!(parse_file_dir("x1/f23/a"), None);
    }

    #[test]
    fn run_ids_form_a_chain() {
        assert_eq!(run_chain(Some("1.2.3")), vec!["1", "1.2", "1.2.3"]);
        assert!(run_chain(None).is_empty());
    }
}
