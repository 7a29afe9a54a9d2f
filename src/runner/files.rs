//! Files in the data folder: input mapping `storage.input.files[]` (`tags`: files having all of
//! them; `query`: the Files search syntax; `limit`) into `in/files/<id>_<name>` with manifests, and
//! every file in `out/files` uploaded to Storage Files with the tags of its manifest and of
//! `storage.output.files[]`.
use std::path::Path;

use serde_json::{Value, json};

use super::Logger;
use crate::app::AppState;
use crate::http::params::scalar_to_string;
use crate::queue::configs::truthy;
use crate::queue::worker::Outcome;
use crate::storage::auth::Auth;
use crate::storage::files;

fn user(msg: String) -> Outcome {
    Outcome::user_error(msg, json!({}))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(scalar_to_string).collect(),
        _ => Vec::new(),
    }
}

pub fn input(state: &AppState, auth: &Auth, cfg: &Value, data_dir: &Path, logger: &Logger) -> Result<Vec<Value>, Outcome> {
    let mut out = Vec::new();
    let Some(mappings) = cfg["storage"]["input"]["files"].as_array() else { return Ok(out) };
    for m in mappings {
        let tags = strings(&m["tags"]);
        let source_tags: Vec<String> = m["source"]["tags"].as_array().map(|a| a.iter().filter_map(|t| t["name"].as_str().map(str::to_string)).collect()).unwrap_or_default();
        let tags: Vec<String> = tags.into_iter().chain(source_tags).collect();
        let query = m["query"].as_str().filter(|q| !q.is_empty());
        if tags.is_empty() && query.is_none() {
            return Err(user("Input mapping of files: each item needs \"tags\" or \"query\".".into()));
        }
        let limit = m["limit"].as_u64().unwrap_or(100) as usize;
        // As `GET files` would answer (any of the tags, the query, 1,000 newest), then only the
        // files having every tag.
        let filter = files::search::Filter::new(tags.clone(), query).map_err(|e| user(format!("Input mapping of files: {}", e.message)))?;
        let found = files::search(state, auth, &filter, (None, None), 0, 1000).map_err(|e| Outcome::app_error(e.0.message, json!({})))?;
        let matching: Vec<&files::FileRecord> = found.iter().filter(|f| tags.iter().all(|t| f.tags.contains(t))).take(limit).collect();
        for found in matching {
            let id = found.id;
            // The manifest describes the file as the Files API shows it.
            let f = &files::file_json(state, found);
            let row = files::load_file(state, auth, id).map_err(|e| user(format!("Input mapping of file {id}: {}", e.message)))?;
            let paths = files::content_paths(state, &row).map_err(|e| user(format!("Input mapping of file {id}: {}", e.message)))?;
            let name = format!("{id}_{}", row.name);
            let target = data_dir.join("in/files").join(&name);
            let copy = || -> std::io::Result<()> {
                if row.is_sliced {
                    std::fs::create_dir_all(&target)?;
                    for (i, p) in paths.iter().enumerate() {
                        std::fs::copy(p, target.join(format!("part{i:04}")))?;
                    }
                } else if let Some(p) = paths.first() {
                    std::fs::copy(p, &target)?;
                }
                Ok(())
            };
            copy().map_err(|e| Outcome::app_error(format!("Input mapping of file {id}: {e}"), json!({})))?;
            let manifest = json!({
                "id": id, "name": row.name, "created": f["created"], "is_public": f["isPublic"], "is_encrypted": f["isEncrypted"],
                "is_sliced": row.is_sliced, "tags": f["tags"], "max_age_days": f["maxAgeDays"], "size_bytes": f["sizeBytes"],
                "is_permanent": f["isExpiring"].as_bool().map(|e| !e).unwrap_or(false),
            });
            std::fs::write(data_dir.join("in/files").join(format!("{name}.manifest")), serde_json::to_vec_pretty(&manifest).unwrap_or_default())
                .map_err(|e| Outcome::app_error(e.to_string(), json!({})))?;
            logger.log("info", &format!("Fetched file {id} ({}) as in/files/{name}.", row.name));
            out.push(json!({"id": id.to_string(), "name": row.name}));
        }
    }
    Ok(out)
}

pub fn output(state: &AppState, auth: &Auth, component: &str, cfg: &Value, data_dir: &Path, logger: &Logger) -> Result<Vec<Value>, Outcome> {
    let dir = data_dir.join("out/files");
    let mappings: Vec<Value> = cfg["storage"]["output"]["files"].as_array().cloned().unwrap_or_default();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).filter(|e| e.path().is_file()).map(|e| e.file_name().to_string_lossy().to_string()).collect())
        .unwrap_or_default();
    names.retain(|n| !n.ends_with(".manifest") && !n.starts_with('.'));
    names.sort();
    let missing: Vec<&str> = mappings.iter().filter_map(|m| m["source"].as_str()).filter(|s| !names.iter().any(|n| n == s)).collect();
    if !missing.is_empty() {
        return Err(user(format!("Output mapping: file sources not found in out/files: {}.", missing.join(", "))));
    }
    let mut out = Vec::new();
    for name in names {
        let manifest: Value = std::fs::read(dir.join(format!("{name}.manifest"))).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(json!({}));
        let mapping = mappings.iter().find(|m| m["source"].as_str() == Some(name.as_str())).cloned().unwrap_or(json!({}));
        let opt = |k: &str| if mapping.get(k).is_some_and(|v| !v.is_null()) { mapping[k].clone() } else { manifest[k].clone() };
        let mut tags = strings(&manifest["tags"]);
        for t in strings(&mapping["tags"]) {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        tags.push(format!("componentId: {component}"));
        let new = files::NewFile { name: name.clone(), is_sliced: false, is_permanent: truthy(&opt("is_permanent")), is_encrypted: true, tags };
        let file = store_local(state, auth, new, &dir.join(&name)).map_err(|e| match e {
            StoreError::Rejected(msg) => user(format!("Output mapping of file \"{name}\": {msg}")),
            StoreError::Failed(msg) => Outcome::app_error(format!("Output mapping of file \"{name}\": {msg}"), json!({})),
        })?;
        logger.log("info", &format!("Uploaded out/files/{name} as file {}.", file.id));
        out.push(json!({"id": file.id.to_string(), "name": name}));
    }
    Ok(out)
}

pub enum StoreError {
    /// Storage refused the file (a user error: name, rights).
    Rejected(String),
    /// Writing it failed (an application error).
    Failed(String),
}

/// A file of the job's folder stored as a new Storage file (its content copied into the blob store).
pub fn store_local(state: &AppState, auth: &Auth, new: files::NewFile, src: &Path) -> Result<files::FileRecord, StoreError> {
    let file = files::create_file(state, auth, new).map_err(|e| StoreError::Rejected(e.0.message))?;
    // A copy in scratch is published (the job folder keeps its own file).
    let write = || -> crate::http::ApiResult<()> {
        let tmp = tempfile::NamedTempFile::new_in(state.blobs.staging_dir())?.into_temp_path();
        std::fs::copy(src, &tmp)?;
        state.blobs.put_file(&file.blob_path, &tmp)?;
        Ok(())
    };
    write().map_err(|e| StoreError::Failed(e.0.message))?;
    files::blob_written(state, &file.blob_path).map_err(|e| StoreError::Failed(e.0.message))?;
    Ok(file)
}
