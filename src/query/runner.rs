//! Runs one query job: its statements in order on one session of the workspace, rows into the
//! result files, states into the metadata store as they change. A failed statement stops the
//! job (the rest are `notExecuted`; a transactional job is rolled back). A watchdog thread per
//! statement interrupts it on cancel or when it passes the statement timeout.
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::{dialect, now, results};
use crate::app::AppState;
use crate::backend::{BackendError, BackendResult};
use crate::meta::query_jobs::{QueryJobState, QueryStatement, StatementState};
use crate::workspace::{Interrupter, StatementOutcome, UserSession};
use kbstack_core::error::public_message;

/// How often the watchdog looks at the cancel flag and the clock.
const TICK: Duration = Duration::from_millis(25);

const RAN: u8 = 0;
const CANCELED: u8 = 1;
const TIMED_OUT: u8 = 2;

/// Run `f` (one statement) under a watchdog; returns its result and whether the watchdog
/// stopped it (`CANCELED`, `TIMED_OUT`) or not (`RAN`).
fn watched<T>(interrupt: &Interrupter, cancel: &AtomicBool, timeout: Duration, f: impl FnOnce() -> T) -> (T, u8) {
    let stopped = AtomicU8::new(RAN);
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let started = Instant::now();
    let stopped_ref = &stopped;
    let out = std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(TICK) {
                let why = if cancel.load(Ordering::SeqCst) {
                    CANCELED
                } else if started.elapsed() >= timeout {
                    TIMED_OUT
                } else {
                    continue;
                };
                // Set before interrupting, and again on every tick until the statement returns.
                let _ = stopped_ref.compare_exchange(RAN, why, Ordering::SeqCst, Ordering::SeqCst);
                interrupt();
            }
        });
        let out = f();
        drop(done);
        out
    });
    (out, stopped.load(Ordering::SeqCst))
}

fn store_error(e: kbstack_core::Error) -> BackendError {
    BackendError::Internal(e.message)
}

/// Run job `job_id`; every failure ends up in the job's state, never in a panic.
pub fn run(state: &AppState, job_id: &str, cancel: &AtomicBool, timeout: Duration) {
    if let Err(e) = run_job(state, job_id, cancel, timeout) {
        tracing::error!(job_id, "query job: {e}");
        let _ = state.meta.set_query_job_state(job_id, QueryJobState::Failed, &now());
    }
}

fn run_job(state: &AppState, job_id: &str, cancel: &AtomicBool, timeout: Duration) -> BackendResult<()> {
    let Some(job) = state.meta.query_job(job_id).map_err(store_error)? else { return Ok(()) };
    let mut statements = job.statements.clone();
    if !state.meta.set_query_job_state(job_id, QueryJobState::Enqueued, &now()).map_err(store_error)? {
        // Canceled before it started.
        return not_executed(state, &mut statements);
    }
    let mut failed = false;
    // Storage tables the statements name, copied in first when the workspace may read Storage.
    let session = super::storage_access::mirror_named_tables(state, &job).and_then(|_| {
        state.workspaces.session(job.workspace_id, &mut |session| {
        state.meta.set_query_job_state(job_id, QueryJobState::Processing, &now()).map_err(store_error)?;
            failed = run_statements(state, job_id, job.transactional, session, &mut statements, cancel, timeout)?;
            Ok(())
        })
    });
    if let Err(e) = session {
        // The workspace is gone (or its engine failed): the first statement not done carries it.
        failed = true;
        if let Some(s) = statements.iter_mut().find(|s| matches!(s.state, StatementState::Waiting | StatementState::Processing)) {
            s.state = StatementState::Failed;
            s.error = Some(public_message(&e.to_string()));
            s.completed_at = Some(now());
            state.meta.update_query_statement(s).map_err(store_error)?;
        }
        not_executed(state, &mut statements)?;
    }
    let end = if failed { QueryJobState::Failed } else { QueryJobState::Completed };
    // No effect when a cancel came first: the job stays canceled.
    state.meta.set_query_job_state(job_id, end, &now()).map_err(store_error)?;
    Ok(())
}

/// Every statement still waiting: `notExecuted`.
fn not_executed(state: &AppState, statements: &mut [QueryStatement]) -> BackendResult<()> {
    for s in statements.iter_mut().filter(|s| s.state == StatementState::Waiting) {
        s.state = StatementState::NotExecuted;
        state.meta.update_query_statement(s).map_err(store_error)?;
    }
    Ok(())
}

/// The statements in order; true when the job failed (a cancel is not a failure: the job's
/// state is already `canceled`).
fn run_statements(
    state: &AppState,
    job_id: &str,
    transactional: bool,
    session: &mut dyn UserSession,
    statements: &mut [QueryStatement],
    cancel: &AtomicBool,
    timeout: Duration,
) -> BackendResult<bool> {
    let interrupt = session.interrupter();
    if transactional {
        session.begin()?;
    }
    let mut stopped = false;
    let mut failed = false;
    for s in statements.iter_mut() {
        if cancel.load(Ordering::SeqCst) {
            stopped = true;
            break;
        }
        s.state = StatementState::Processing;
        s.executed_at = Some(now());
        state.meta.update_query_statement(s).map_err(store_error)?;
        let outcome = match dialect::prepare_statement(&state.snowflake_sql, &s.query) {
            Err(e) => (Err(BackendError::UserError(e.message.clone(), e.code)), RAN),
            Ok(None) => (Ok((StatementOutcome::Done, Vec::new())), RAN),
            Ok(Some(sql)) => {
                let mut writer = results::ResultWriter::create(&state.query.results_dir, job_id, &s.id)?;
                let (ran, why) = watched(&interrupt, cancel, timeout, || session.run(&sql, &mut writer));
                let ran = ran.and_then(|outcome| {
                    let columns = std::mem::take(&mut writer.columns);
                    writer.finish()?;
                    Ok((outcome, columns))
                });
                (ran, why)
            }
        };
        s.completed_at = Some(now());
        match outcome {
            (Ok(_), CANCELED) | (Err(_), CANCELED) => {
                s.state = StatementState::Canceled;
                stopped = true;
            }
            (Ok((outcome, columns)), _) => {
                s.state = StatementState::Completed;
                let (rows, affected) = match outcome {
                    StatementOutcome::Rows(n) => (n as i64, None),
                    StatementOutcome::Affected(n) => (0, Some(n as i64)),
                    StatementOutcome::Done => (0, Some(0)),
                };
                s.number_of_rows = Some(rows);
                s.rows_affected = affected;
                let cols: Vec<serde_json::Value> = columns.iter().map(|c| serde_json::json!({"name": c.name, "type": c.data_type})).collect();
                s.columns = Some(serde_json::Value::Array(cols).to_string());
            }
            (Err(_), TIMED_OUT) => {
                s.state = StatementState::Failed;
                s.error = Some(format!("Statement reached its statement timeout of {} seconds and was canceled.", timeout.as_secs_f64()));
                failed = true;
            }
            (Err(e), _) => {
                s.state = StatementState::Failed;
                s.error = Some(public_message(&e.to_string()));
                failed = true;
            }
        }
        state.meta.update_query_statement(s).map_err(store_error)?;
        if failed || stopped {
            break;
        }
    }
    if transactional {
        if failed || stopped {
            session.rollback()?;
        } else if let Err(e) = session.commit() {
            failed = true;
            if let Some(last) = statements.last_mut() {
                last.state = StatementState::Failed;
                last.error = Some(format!("The transaction could not be committed: {}", public_message(&e.to_string())));
                state.meta.update_query_statement(last).map_err(store_error)?;
            }
        }
    }
    not_executed(state, statements)?;
    Ok(failed)
}
