//! Snowflake SQL on DuckDB: tokens report `defaultBackend: snowflake`, so clients (the MCP server,
//! users copying from real Keboola) write Snowflake SQL into `keboola.snowflake-transformation`
//! and queries; the stack runs DuckDB. A script is split into statements and each one translated
//! by sqlglot (no Rust transpiler covers Snowflake as well: polyglot-sql 0.13 leaves e.g.
//! `TRY_TO_NUMBER` and `STARTSWITH` as they are), run by the runner's Python in a long-lived
//! worker (`worker`), with a few corrections where sqlglot's DuckDB SQL gives other results than
//! Snowflake (`snowflake_to_duckdb.py`: `:path::STRING` without JSON quotes, DATEADD of a DATE
//! stays a DATE, LATERAL FLATTEN over json_each, VARIANT columns as JSON, `$variables`).
//! Session statements (`ALTER SESSION`, `USE ...`) are dropped with a note; a statement with no
//! DuckDB meaning is an error naming it. Answers are cached by script, as transformations re-run
//! the same SQL.
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Deserialize;

use worker::{Worker, WorkerError};

/// The sqlglot release kbstack is tested with (scripts/test installs it in the test venv).
pub const SQLGLOT_VERSION: &str = "30.30.0";

/// A translation of a large script may take a while; a hung worker must not hold a job forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Cached scripts; the cache is emptied when it is full (the scripts of a stack's
/// transformations fit many times over).
const CACHE_ENTRIES: usize = 2048;
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// One statement: the Snowflake source text and the DuckDB SQL to run for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Statement {
    pub snowflake: String,
    pub duckdb: String,
}

/// A statement left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Dropped {
    pub snowflake: String,
    pub reason: String,
}

/// A script on DuckDB: its statements in order and what was dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translation {
    pub statements: Vec<Statement>,
    pub dropped: Vec<Dropped>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranslateError {
    /// A statement with no DuckDB translation (the user's SQL).
    Untranslatable { statement: String, reason: String },
    /// The runner's Python cannot run sqlglot (the stack's setup, which the user can fix).
    TranspilerMissing(String),
    /// The translator crashed or hung (kbstack's fault).
    Failed(String),
}

impl std::fmt::Display for TranslateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TranslateError::Untranslatable { statement, reason } => {
                let mut shown: String = statement.chars().take(300).collect();
                if shown.len() < statement.len() {
                    shown.push('…');
                }
                write!(f, "Snowflake SQL statement \"{shown}\" cannot run on DuckDB: {reason}")
            }
            TranslateError::TranspilerMissing(why) => write!(
                f,
                "Snowflake SQL is translated to DuckDB by sqlglot, which is not available: {why}. Install it for the runner's Python ([runner] transformation_python): `<python> -m pip install sqlglot=={SQLGLOT_VERSION}`."
            ),
            TranslateError::Failed(why) => write!(f, "The Snowflake SQL translator failed: {why}"),
        }
    }
}

/// The translator: one worker (one translation at a time; answers take milliseconds) and the
/// cache. Shared by the runner and any service that accepts Snowflake SQL.
pub struct SnowflakeToDuckDb {
    python: String,
    worker: Mutex<Option<Worker>>,
    cache: Mutex<Cache>,
    /// When sqlglot was last found missing, and why: asked again only after `RECHECK_MISSING`,
    /// so that a stack without it does not start a Python for every statement.
    missing: Mutex<Option<(std::time::Instant, String)>>,
}

/// How long a missing sqlglot is believed before the runner's Python is asked again.
const RECHECK_MISSING: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Default)]
struct Cache {
    answers: HashMap<String, Arc<Result<Translation, TranslateError>>>,
    bytes: usize,
}

/// The worker's answer to one script.
#[derive(Deserialize)]
struct Answer {
    statements: Vec<Statement>,
    dropped: Vec<Dropped>,
    error: Option<AnswerError>,
}

#[derive(Deserialize)]
struct AnswerError {
    statement: String,
    reason: String,
}

impl SnowflakeToDuckDb {
    /// `python`: the runner's Python (`[runner] transformation_python`); nothing starts before
    /// the first translation.
    pub fn new(python: &str) -> SnowflakeToDuckDb {
        SnowflakeToDuckDb {
            python: python.to_string(),
            worker: Mutex::new(None),
            cache: Mutex::new(Cache::default()),
            missing: Mutex::new(None),
        }
    }

    /// A Snowflake script (one or more statements) as DuckDB statements. Blocking: call it from
    /// the blocking pool.
    pub fn translate(&self, sql: &str) -> Result<Translation, TranslateError> {
        if let Some(hit) = self.cache.lock().answers.get(sql) {
            return (**hit).clone();
        }
        if let Some((since, why)) = self.missing.lock().as_ref() {
            if since.elapsed() < RECHECK_MISSING {
                return Err(TranslateError::TranspilerMissing(why.clone()));
            }
        }
        let result = self.ask(sql);
        *self.missing.lock() = match &result {
            Err(TranslateError::TranspilerMissing(why)) => Some((std::time::Instant::now(), why.clone())),
            _ => None,
        };
        // Setup problems and crashes may go away; a script's translation does not.
        if matches!(result, Ok(_) | Err(TranslateError::Untranslatable { .. })) {
            let mut cache = self.cache.lock();
            if cache.answers.len() >= CACHE_ENTRIES || cache.bytes + sql.len() > CACHE_BYTES {
                *cache = Cache::default();
            }
            cache.bytes += sql.len();
            cache.answers.insert(sql.to_string(), Arc::new(result.clone()));
        }
        result
    }

    /// Ask the worker, starting it when there is none; a worker that died or hung is replaced
    /// and asked once more.
    fn ask(&self, sql: &str) -> Result<Translation, TranslateError> {
        let mut slot = self.worker.lock();
        let mut last = String::new();
        for _ in 0..2 {
            if slot.is_none() {
                *slot = Some(Worker::start(&self.python).map_err(|e| match e {
                    WorkerError::Missing(m) => TranslateError::TranspilerMissing(m),
                    WorkerError::Broken(m) => TranslateError::Failed(m),
                })?);
            }
            let worker = slot.as_mut().expect("just started");
            match worker.translate(sql, REQUEST_TIMEOUT) {
                Ok(value) => {
                    let answer: Answer = serde_json::from_value(value).map_err(|e| TranslateError::Failed(format!("unreadable answer: {e}")))?;
                    return match answer.error {
                        Some(e) => Err(TranslateError::Untranslatable { statement: e.statement, reason: e.reason }),
                        None => Ok(Translation { statements: answer.statements, dropped: answer.dropped }),
                    };
                }
                Err(WorkerError::Broken(m) | WorkerError::Missing(m)) => {
                    tracing::warn!(error = %m, "the Snowflake SQL translator failed; restarting it");
                    *slot = None;
                    last = m;
                }
            }
        }
        Err(TranslateError::Failed(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_python_is_the_setups_error_with_the_fix() {
        let t = SnowflakeToDuckDb::new("/nonexistent/python3");
        let e = t.translate("SELECT 1").unwrap_err();
        assert!(matches!(e, TranslateError::TranspilerMissing(_)), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("/nonexistent/python3") && msg.contains("pip install sqlglot=="), "{msg}");
        // Not cached: installing it fixes the next run.
        assert!(t.cache.lock().answers.is_empty());
    }

    /// The test venv's Python when it has sqlglot (scripts/test installs it).
    fn python_with_sqlglot() -> Option<String> {
        let venv = std::env::var("HOME").ok().map(|h| format!("{h}/.cache/kbstack-test/venv/bin/python"));
        std::env::var("KBSTACK_TEST_PYTHON").ok().into_iter().chain(venv).find(|p| {
            std::process::Command::new(p).args(["-c", "import sqlglot"]).output().is_ok_and(|o| o.status.success())
        })
    }

    #[test]
    fn a_dead_worker_is_replaced() {
        let Some(python) = python_with_sqlglot() else {
            eprintln!("a_dead_worker_is_replaced: no Python with sqlglot; not run");
            return;
        };
        let t = SnowflakeToDuckDb::new(&python);
        assert_eq!(t.translate("SELECT IFF(a, 1, 2)").unwrap().statements[0].duckdb, "SELECT CASE WHEN a THEN 1 ELSE 2 END");
        // Our own child, killed by its handle.
        t.worker.lock().as_mut().unwrap().kill();
        let tr = t.translate("SELECT NVL(a, 1)").unwrap();
        assert_eq!(tr.statements[0].duckdb, "SELECT COALESCE(a, 1)");
        // And the first answer came from the cache, not a worker.
        t.worker.lock().as_mut().unwrap().kill();
        assert!(t.translate("SELECT IFF(a, 1, 2)").is_ok());
        assert!(t.worker.lock().as_mut().unwrap().is_dead());
    }

    #[test]
    fn untranslatable_names_the_statement_shortened() {
        let e = TranslateError::Untranslatable { statement: "x".repeat(400), reason: "why".into() };
        let msg = e.to_string();
        assert!(msg.contains(&format!("\"{}…\"", "x".repeat(300))) && msg.ends_with("why"), "{msg}");
    }
}
