//! The long-lived Python process that runs sqlglot (`snowflake_to_duckdb.py`): started on first
//! use, one JSON request and answer a line over its stdin and stdout, so a translation costs
//! milliseconds instead of a Python start and a sqlglot import (a few hundred).
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use serde_json::{Value, json};

/// The translator's source, kept in the repository and handed to Python with `-c`.
const SOURCE: &str = include_str!("snowflake_to_duckdb.py");

/// Python's start and the sqlglot import.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the worker gave no answer.
#[derive(Debug)]
pub enum WorkerError {
    /// The runner's Python cannot run or has no sqlglot: the user's setup.
    Missing(String),
    /// It died or hung: kbstack's problem, the worker is restarted on the next request.
    Broken(String),
}

pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    /// The stdout lines, read by a thread so that a hung worker can time out.
    lines: Receiver<String>,
}

impl Worker {
    pub fn start(python: &str) -> Result<Worker, WorkerError> {
        let mut cmd = Command::new(python);
        cmd.args(["-u", "-c", SOURCE]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        // It only translates SQL: none of the server's environment (tokens, keys) is its business.
        cmd.env_clear();
        for key in ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYENV_ROOT", "PYENV_VERSION", "CONDA_PREFIX"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        let mut child = cmd.spawn().map_err(|e| WorkerError::Missing(format!("cannot start the runner's Python \"{python}\": {e}")))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::Builder::new()
            .name("sqlglot-worker-out".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| WorkerError::Broken(format!("cannot start the reader thread: {e}")))?;
        let mut worker = Worker { child, stdin, lines };
        let hello = worker.next_line(START_TIMEOUT).map_err(|e| match e {
            WorkerError::Broken(m) => WorkerError::Missing(format!("the runner's Python \"{python}\" did not start the translator: {m}")),
            other => other,
        })?;
        match hello["ready"].as_bool() {
            Some(true) => Ok(worker),
            Some(false) => Err(WorkerError::Missing(format!(
                "the runner's Python \"{python}\" cannot import sqlglot ({})",
                hello["error"].as_str().unwrap_or("unknown error")
            ))),
            None => Err(WorkerError::Broken(format!("unexpected first line from the translator: {hello}"))),
        }
    }

    /// The answer to one request.
    pub fn translate(&mut self, sql: &str, timeout: Duration) -> Result<Value, WorkerError> {
        let mut line = serde_json::to_string(&json!({ "sql": sql })).expect("a JSON string");
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|_| self.stdin.flush())
            .map_err(|e| WorkerError::Broken(format!("the translator is gone: {e}")))?;
        let answer = self.next_line(timeout)?;
        match answer.get("failed").and_then(Value::as_str) {
            Some(why) => Err(WorkerError::Broken(format!("the translator failed: {why}"))),
            None => Ok(answer),
        }
    }

    #[cfg(test)]
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    #[cfg(test)]
    pub fn is_dead(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Value, WorkerError> {
        let line = self.lines.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => WorkerError::Broken(format!("no answer within {} s", timeout.as_secs())),
            RecvTimeoutError::Disconnected => {
                let status = self.child.try_wait().ok().flatten().map(|s| s.to_string()).unwrap_or_else(|| "closed its output".into());
                WorkerError::Broken(format!("the translator exited ({status})"))
            }
        })?;
        serde_json::from_str(&line).map_err(|e| WorkerError::Broken(format!("unreadable answer ({e}): {line}")))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Our own child, by handle: it would also end on its own when its stdin closes.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
