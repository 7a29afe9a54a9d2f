//! `keboola.runner-config-test`: a built-in component whose `parameters` choose what it does, so
//! that tests reach every runner path without an external program. Steps run in this order:
//!
//! - `sleep`: seconds to sleep first (a kill interrupts it);
//! - `logs`: lines to log, strings (info) or `{"type": "info|warn|error", "message": …}`;
//! - `dump`: list of `config`, `env`, `state`, `files` — logged as JSON lines
//!   (`config.json`, the `KBC_*` variables, `in/state.json`, the data folder listing);
//! - `copy_tables: true`: every `in/tables/*` copied to `out/tables/*` (manifests dropped);
//! - `tables`: `{"name.csv": "csv text", …}` written to `out/tables` (and `manifests`:
//!   `{"name.csv": {manifest}}` beside them); `files`: `{"name": "text"}` to `out/files`
//!   (`file_manifests` likewise);
//! - `state`: written as `out/state.json`; `keep_state: true` copies `in/state.json` instead
//!   (neither: no out state, which clears the stored state);
//! - `operation`: `success` (default), `fail` (user error, exit 1, `message`), `crash`
//!   (application error, exit 2), `exit` (exit code `exit_code`), `sleep` (same as `success`).
//!
//! Its synchronous actions (`ACTIONS`) are those of the real `keboola/runner-config-test` image.
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Logger, Stream};
use super::process::Exit;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn run(data_dir: &Path, env: &[(String, String)], cancel: &CancellationToken, logger: &Logger) -> Exit {
    match tokio::select! {
        r = steps(data_dir, env, logger) => Some(r),
        _ = cancel.cancelled() => None,
    } {
        Some(Ok(exit)) => exit,
        Some(Err(e)) => {
            logger.log("error", &e);
            Exit::Code(2, vec![e])
        }
        None => Exit::Cancelled,
    }
}

async fn steps(data_dir: &Path, env: &[(String, String)], logger: &Logger) -> Result<Exit, String> {
    let config: Value = std::fs::read(data_dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("config.json is missing or invalid")?;
    let p = &config["parameters"];
    if let Some(secs) = p["sleep"].as_f64().or_else(|| p["sleep"].as_str().and_then(|s| s.parse().ok())) {
        tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
    }
    if let Some(lines) = p["logs"].as_array() {
        for l in lines {
            match l {
                Value::Object(o) => logger.log(o.get("type").and_then(Value::as_str).unwrap_or("info"), &text(o.get("message").unwrap_or(&Value::Null))),
                other => logger.log("info", &text(other)),
            }
        }
    }
    if let Some(dumps) = p["dump"].as_array() {
        for d in dumps.iter().filter_map(Value::as_str) {
            let line = match d {
                "config" => json!({"config": config}),
                "env" => json!({"env": env.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>()}),
                "state" => json!({"state": std::fs::read(data_dir.join("in/state.json")).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())}),
                "files" => json!({"files": list_files(data_dir)}),
                other => json!({"unknown": other}),
            };
            logger.log("info", &line.to_string());
        }
    }
    let out_tables = data_dir.join("out/tables");
    if p["copy_tables"] == json!(true) {
        let entries = std::fs::read_dir(data_dir.join("in/tables")).map_err(|e| e.to_string())?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".manifest") {
                continue;
            }
            copy_all(&e.path(), &out_tables.join(&name)).map_err(|e| format!("copying {name}: {e}"))?;
        }
    }
    for (key, dir) in [("tables", "out/tables"), ("files", "out/files")] {
        if let Some(items) = p[key].as_object() {
            for (name, content) in items {
                std::fs::write(data_dir.join(dir).join(name), text(content)).map_err(|e| e.to_string())?;
            }
        }
    }
    for (key, dir) in [("manifests", "out/tables"), ("file_manifests", "out/files")] {
        if let Some(items) = p[key].as_object() {
            for (name, m) in items {
                std::fs::write(data_dir.join(dir).join(format!("{name}.manifest")), m.to_string()).map_err(|e| e.to_string())?;
            }
        }
    }
    if p["keep_state"] == json!(true) {
        if let Ok(s) = std::fs::read(data_dir.join("in/state.json")) {
            std::fs::write(data_dir.join("out/state.json"), s).map_err(|e| e.to_string())?;
        }
    } else if let Some(state) = p.get("state") {
        std::fs::write(data_dir.join("out/state.json"), state.to_string()).map_err(|e| e.to_string())?;
    }
    let message = p["message"].as_str().map(str::to_string);
    Ok(match p["operation"].as_str().unwrap_or("success") {
        "fail" => {
            let m = message.unwrap_or_else(|| "User error requested by the configuration.".into());
            logger.log("error", &m);
            Exit::Code(1, vec![m])
        }
        "crash" => {
            let m = message.unwrap_or_else(|| "Application error requested by the configuration.".into());
            logger.log("error", &m);
            Exit::Code(2, vec![m])
        }
        "exit" => Exit::Code(p["exit_code"].as_i64().unwrap_or(0) as i32, message.into_iter().collect()),
        "success" | "sleep" => {
            logger.log("info", message.as_deref().unwrap_or("Runner config test finished."));
            Exit::Code(0, Vec::new())
        }
        other => return Err(format!("Unknown operation \"{other}\"; use success, fail, crash, exit or sleep.")),
    })
}

fn copy_all(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)?.flatten() {
            copy_all(&e.path(), &to.join(e.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

fn list_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else if let Ok(rel) = p.strip_prefix(base) {
                    out.push(rel.display().to_string());
                }
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The synchronous actions the real image declares (its `getSyncActions()`), same names.
pub const ACTIONS: &[&str] = &[
    "dumpConfig",
    "dumpEnv",
    "timeout",
    "emptyJsonArray",
    "emptyJsonObject",
    "invalidJson",
    "noResponse",
    "userError",
    "applicationError",
    "printLogs",
];

/// One synchronous action (`config.json` `action`), printing to stdout as the image does:
/// `dumpConfig` the config file, `dumpEnv` the environment as a JSON object, `timeout` sleeps
/// 60 s, `userError` / `applicationError` print a message and exit 1 / 2, `invalidJson` and
/// `noResponse` print what their names say. (The image maps `emptyJsonArray` to its timeout
/// method by mistake; here it prints `[]` as named.)
pub async fn action(data_dir: &Path, env: &[(String, String)], logger: &Logger) -> Exit {
    let raw = match std::fs::read_to_string(data_dir.join("config.json")) {
        Ok(r) => r,
        Err(e) => return Exit::Failed(format!("config.json cannot be read: {e}")),
    };
    let config: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let print = |text: &str| {
        for line in text.lines() {
            logger.output(Stream::Stdout, line);
        }
    };
    match config["action"].as_str().unwrap_or("") {
        "dumpConfig" => print(&raw),
        "dumpEnv" => print(&Value::Object(env.iter().map(|(k, v)| (k.clone(), json!(v))).collect()).to_string()),
        "timeout" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            print("[]");
        }
        "emptyJsonArray" => print("[]"),
        "emptyJsonObject" | "printLogs" => print("{}"),
        "invalidJson" => print(r#"{"tables": ["a", "b", "c"]"#),
        "noResponse" => {}
        "userError" => {
            print("User Error");
            return Exit::Code(1, vec!["User Error".into()]);
        }
        "applicationError" => {
            print("Application Error");
            return Exit::Code(2, vec!["Application Error".into()]);
        }
        other => {
            let m = format!("Action \"{other}\" is not supported by the component.");
            logger.output(Stream::Stderr, &m);
            return Exit::Code(1, vec![m]);
        }
    }
    Exit::Code(0, Vec::new())
}
