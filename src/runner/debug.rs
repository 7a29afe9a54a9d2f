//! Debug mode (`mode: debug`): instead of the output mapping, snapshots of the data folder are
//! stored as Storage files — `stage_0.zip` when the folder is prepared (input mapping, state,
//! `config.json`) and `stage_output.zip` after the component succeeded, just where the output
//! mapping would run (Docker Runner debug API; a failed component leaves only the stages before
//! it). Encrypted values (`#`-keys) are blanked in the snapshot's `config.json` and state files, as
//! Keboola removes them (the runner has decrypted them there); other values the log hides (an
//! encrypted Vault variable's plain value) are hidden there too. Files are tagged `debug`, the
//! component id, `jobId:<id>` and, for a row, `rowId:<id>`.
use std::io::Write;
use std::path::Path;

use serde_json::Value;
use zip::write::SimpleFileOptions;

use super::Logger;
use super::files::{StoreError, store_local};
use crate::app::AppState;
use crate::queue::store::Job;
use crate::storage::auth::Auth;
use crate::storage::files::NewFile;

/// Zip `data_dir` as `<stage>.zip` and store it; the new file's id.
pub fn upload_stage(state: &AppState, auth: &Auth, job: &Job, row: Option<&str>, data_dir: &Path, stage: &str, logger: &Logger) -> Result<i64, String> {
    let name = format!("{stage}.zip");
    // Beside the data folder, not in it: the archive must not contain itself.
    let archive = data_dir.parent().unwrap_or(data_dir).join(&name);
    write_zip(data_dir, &archive, logger).map_err(|e| format!("Cannot archive the data folder as {name}: {e}"))?;
    let mut tags = vec!["debug".to_string(), job.component.clone(), format!("jobId:{}", job.id)];
    if let Some(r) = row {
        tags.push(format!("rowId:{r}"));
    }
    let new = NewFile { name: name.clone(), is_sliced: false, is_permanent: false, is_encrypted: true, tags };
    let stored = store_local(state, auth, new, &archive);
    let _ = std::fs::remove_file(&archive);
    let file = stored.map_err(|e| match e {
        StoreError::Rejected(m) | StoreError::Failed(m) => format!("Cannot store {name}: {m}"),
    })?;
    logger.log("info", &format!("Debug mode: the data folder {stage} is stored as file {} ({name}).", file.id));
    Ok(file.id)
}

fn write_zip(data_dir: &Path, archive: &Path, logger: &Logger) -> std::io::Result<()> {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(archive)?);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
    add_dir(&mut zip, data_dir, "", options, logger)?;
    zip.finish().map_err(std::io::Error::other)?;
    Ok(())
}

fn add_dir<W: Write + std::io::Seek>(zip: &mut zip::ZipWriter<W>, dir: &Path, prefix: &str, options: SimpleFileOptions, logger: &Logger) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            zip.add_directory(format!("{name}/"), options).map_err(std::io::Error::other)?;
            add_dir(zip, &path, &format!("{name}/"), options, logger)?;
        } else {
            zip.start_file(name.as_str(), options).map_err(std::io::Error::other)?;
            if matches!(name.as_str(), "config.json" | "in/state.json" | "out/state.json") {
                // Unparsable JSON is left out rather than copied with its secrets.
                let json: Value = serde_json::from_slice(&std::fs::read(&path)?).unwrap_or(Value::Null);
                zip.write_all(&serde_json::to_vec_pretty(&hidden_strings(without_secrets(json), logger)).unwrap_or_default())?;
            } else {
                std::io::copy(&mut std::fs::File::open(&path)?, zip)?;
            }
        }
    }
    Ok(())
}

/// The value with every `#`-key's value emptied.
fn without_secrets(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| if k.starts_with('#') { (k, Value::String(String::new())) } else { (k, without_secrets(v)) })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_secrets).collect()),
        other => other,
    }
}

/// The value with what the log hides replaced in every string.
fn hidden_strings(v: Value, logger: &Logger) -> Value {
    match v {
        Value::String(s) => Value::String(logger.redact(&s)),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, hidden_strings(v, logger))).collect()),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| hidden_strings(v, logger)).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn secrets_are_blanked_at_any_depth() {
        let v = json!({"parameters": {"#password": "x", "user": "u", "list": [{"#t": 1}]}, "#top": "y"});
        assert_eq!(
            super::without_secrets(v),
            json!({"parameters": {"#password": "", "user": "u", "list": [{"#t": ""}]}, "#top": ""})
        );
    }
}
