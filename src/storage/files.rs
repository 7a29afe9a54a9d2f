//! Files (File Storage): the file records and their blobs. The HTTP handlers are in `files/api.rs`,
//! list filtering and the `q` search syntax in `files/search.rs`; this module holds the domain
//! functions other modules use (table export creates files, table import reads their content).
//! The records themselves are kept behind `FileRecordStore`.
//!
//! Every file owns one blob directory `p{project}/f{id}/`; SAS tokens are bound to it. A plain file
//! is the blob `p{project}/f{id}/{name}`; a sliced file uses that same string as a prefix: slices are
//! `<prefix><sliceName>` and the manifest is `<prefix>manifest`.
mod api;
pub mod search;

use std::path::PathBuf;

use serde_json::{Value, json};

use super::auth::Auth;
use crate::app::AppState;
use crate::blob::{BlobStore, LocalCopy, valid_blob_name};
use crate::http::{ApiError, ApiResult, Code, iso};
use crate::meta::files::{FileSearch, NewFileRecord};
use kbstack_core::ids::{FileId, Scope};

pub use crate::meta::files::FileRecord;
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

/// Where a file's content lies in the blob store.
trait BlobLayout {
    /// The blob directory this file owns, which its SAS tokens open.
    fn dir(&self) -> String;
    /// The blob a plain GET of the file reads: the content, or for sliced files the manifest.
    fn download_blob(&self) -> String;
    fn manifest_blob(&self) -> String;
}

impl BlobLayout for FileRecord {
    fn dir(&self) -> String {
        file_dir(self.project_id, self.id)
    }

    fn download_blob(&self) -> String {
        if self.is_sliced { self.manifest_blob() } else { self.blob_path.clone() }
    }

    fn manifest_blob(&self) -> String {
        format!("{}manifest", self.blob_path)
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

pub fn create_file(state: &AppState, auth: &Auth, f: NewFile) -> ApiResult<FileRecord> {
    insert_file(state, auth, f, UploadAttrs::default())
}

fn insert_file(state: &AppState, auth: &Auth, f: NewFile, attrs: UploadAttrs) -> ApiResult<FileRecord> {
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
    let record = NewFileRecord {
        scope: Scope::new(auth.project_id, auth.branch_id),
        name: name.clone(),
        size_bytes: attrs.size_bytes,
        content_type: attrs.content_type,
        is_public: attrs.is_public,
        is_sliced: f.is_sliced,
        is_encrypted: f.is_encrypted,
        is_permanent: f.is_permanent,
        created: iso(now),
        expires_at,
        creator_token_id: auth.token.id.into(),
        creator_description: auth.token.description.clone(),
        run_id: auth.run_id.clone(),
        run_ids: run_chain(auth.run_id.as_deref()),
        tags,
    };
    let blob_path_for = |id: FileId| format!("{}{}", file_dir(auth.project_id, id.get()), blob_file_name(&name));
    let id = state.meta.insert_file(&record, &blob_path_for)?;
    fetch(state, auth.project_id, id.get())?.ok_or_else(|| ApiError::internal("file vanished after insert"))
}

/// A file whose content the server received itself (the Importer's uploads): the record is
/// created and the staged content (in the blob store's staging dir) renamed into its blob, so the
/// file is never listed without its content.
pub fn create_from_staged(state: &AppState, auth: &Auth, f: NewFile, is_public: bool, staged: &std::path::Path) -> ApiResult<FileRecord> {
    let size = std::fs::metadata(staged)?.len() as i64;
    let file = insert_file(state, auth, f, UploadAttrs { is_public, size_bytes: Some(size), content_type: None })?;
    if let Err(e) = state.blobs.put_file(&file.blob_path, staged) {
        let _ = delete_file(state, &file);
        return Err(e.into());
    }
    Ok(file)
}

fn fetch(state: &AppState, project_id: i64, id: i64) -> ApiResult<Option<FileRecord>> {
    Ok(state.meta.file(project_id.into(), id.into())?)
}

fn not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::new(Code::FileNotFound, format!("File {id} not found"))
}

/// Whether the token may see files it did not create.
fn reads_all(auth: &Auth) -> bool {
    auth.token.is_master || auth.token.can_read_all_file_uploads
}

/// A file the token may see: its own, or any of the project's with `canReadAllFileUploads`.
pub fn load_file(state: &AppState, auth: &Auth, id: i64) -> ApiResult<FileRecord> {
    match fetch(state, auth.project_id, id)? {
        Some(f) if reads_all(auth) || f.creator_token_id == auth.token.id => Ok(f),
        _ => Err(not_found(id)),
    }
}

/// The file whose directory holds `blob_name` (the blob endpoint's owner check; no token involved).
pub fn file_for_blob(state: &AppState, blob_name: &str) -> ApiResult<Option<FileRecord>> {
    match parse_file_dir(blob_name) {
        Some((project, id)) => fetch(state, project, id),
        None => Ok(None),
    }
}

/// The file's content as local files, slices in manifest order (the objects themselves on local
/// disk; downloaded temp copies, removed on drop, from an object store).
pub fn content_paths(state: &AppState, file: &FileRecord) -> ApiResult<Vec<LocalCopy>> {
    let never_uploaded =
        || ApiError::validation(format!("File {} ({}) has no content: it was never uploaded.", file.id, file.name));
    if !file.is_sliced {
        return Ok(vec![state.blobs.local_copy(&file.blob_path)?.ok_or_else(never_uploaded)?]);
    }
    let manifest = state.blobs.read_small(&file.manifest_blob())?.ok_or_else(|| {
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
            state.blobs.local_copy(&blob)?.ok_or_else(|| bad(format!("slice \"{url}\" was never uploaded")))
        })
        .collect()
}

/// Plain paths of `content_paths` (the copies must outlive their use).
pub fn paths_of(copies: &[LocalCopy]) -> Vec<PathBuf> {
    copies.iter().map(|c| c.path().to_path_buf()).collect()
}

/// Record the final size after a server-side producer wrote the blobs.
pub fn set_size(state: &AppState, file_id: i64, size: i64) -> ApiResult<()> {
    Ok(state.meta.set_file_size(file_id.into(), size)?)
}

/// Write the manifest of a sliced file listing `slices` (blob names, in order) and record the size
/// of the slices. For server-side producers that wrote the slices themselves.
pub fn write_manifest(state: &AppState, file: &FileRecord, slices: &[String]) -> ApiResult<()> {
    let entries: Vec<Value> = slices.iter().map(|s| json!({"url": BlobStore::entry_url(s)})).collect();
    // Objects are replaced whole: a reader never sees half a manifest.
    state.blobs.put_bytes(&file.manifest_blob(), json!({"entries": entries}).to_string())?;
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
fn refresh_size(state: &AppState, file: &FileRecord) -> ApiResult<()> {
    let size = if file.is_sliced {
        let manifest = file.manifest_blob();
        state.blobs.list(&file.dir())?.iter().filter(|o| o.name != manifest).map(|o| o.size).sum()
    } else {
        match state.blobs.head(&file.blob_path)? {
            Some(m) => m.size,
            None => return Ok(()),
        }
    };
    set_size(state, file.id, size as i64)
}

/// Remove the record, every blob of the file and its uncommitted blocks.
/// Data first, then the record: on a full disk the metadata store cannot write until space is
/// freed, so removing the data is what makes the delete (and everything else) work again; a
/// retried delete finds the data gone and removes the record.
fn delete_file(state: &AppState, file: &FileRecord) -> ApiResult<()> {
    state.blobs.delete_prefix(&file.dir())?;
    Ok(state.meta.delete_file(file.id.into())?)
}

fn set_tags(state: &AppState, file_id: i64, tags: &[String]) -> ApiResult<()> {
    Ok(state.meta.set_file_tags(file_id.into(), tags)?)
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
) -> ApiResult<Vec<FileRecord>> {
    let files = state.meta.search_files(&FileSearch {
        project: auth.project_id.into(),
        creator: (!reads_all(auth)).then_some(auth.token.id.into()),
        since_id: ids.0.map(FileId),
        max_id: ids.1.map(FileId),
        any_tags: &filter.tags,
        run_id: filter.run_id.as_deref(),
        query: filter.query.as_ref(),
        alive_at: (!filter.show_expired).then(|| chrono::Utc::now().timestamp()),
        offset,
        limit,
    })?;
    Ok(files)
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

/// Delete every file of a project with its content (a purge).
pub fn delete_all_files(state: &AppState, project_id: i64) -> ApiResult<()> {
    loop {
        let batch = state.meta.search_files(&FileSearch {
            project: project_id.into(),
            creator: None,
            since_id: None,
            max_id: None,
            any_tags: &[],
            run_id: None,
            query: None,
            alive_at: None,
            offset: 0,
            limit: 500,
        })?;
        if batch.is_empty() {
            return Ok(());
        }
        for file in &batch {
            delete_file(state, file)?;
        }
    }
}
