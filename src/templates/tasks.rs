//! Tasks (`GET /v1/tasks/{id}`): the record of a `use`, `upgrade` or `delete`. kbstack does the
//! work inside the request, so a task is born finished; clients that poll until `isFinished`
//! see it at once. Tasks live in memory (a restart forgets them, as Keboola's expire), the
//! newest `KEPT` of them, each readable only from its own project.
use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use serde_json::Value;

use super::wire::Task;

const KEPT: usize = 10_000;

struct Stored {
    project_id: i64,
    task: Task,
}

static TASKS: LazyLock<Mutex<VecDeque<Stored>>> = LazyLock::new(|| Mutex::new(VecDeque::new()));

/// A task of `task_type` (`template.use`, …) that started at `started`.
pub struct Started {
    pub task_type: &'static str,
    pub created_at: String,
    pub started: Instant,
    pub project_id: i64,
}

pub fn start(task_type: &'static str, project_id: i64) -> Started {
    Started { task_type, created_at: now(), started: Instant::now(), project_id }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..5).map(|_| ALPHABET[rand::random::<u8>() as usize % ALPHABET.len()] as char).collect()
}

impl Started {
    /// Records the finished task: `Ok(result text)` or `Err(error message)`.
    pub fn finish(self, base_url: &str, outcome: Result<String, String>, outputs: Value) -> Task {
        let id = format!("{}/{}_{}", self.task_type, self.created_at, random_suffix());
        let (status, result, error) = match outcome {
            Ok(r) => ("success", Some(r), None),
            Err(e) => ("error", None, Some(e)),
        };
        let task = Task {
            url: format!("{}/v1/tasks/{id}", base_url.trim_end_matches('/')),
            id,
            task_type: self.task_type.into(),
            status: status.into(),
            is_finished: true,
            created_at: self.created_at,
            finished_at: Some(now()),
            duration: Some(self.started.elapsed().as_millis() as i64),
            result,
            error,
            outputs: Some(outputs),
        };
        let mut all = TASKS.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() >= KEPT {
            all.pop_front();
        }
        all.push_back(Stored { project_id: self.project_id, task: task.clone() });
        task
    }
}

pub fn get(project_id: i64, id: &str) -> Option<Task> {
    let all = TASKS.lock().unwrap_or_else(|e| e.into_inner());
    all.iter().find(|t| t.project_id == project_id && t.task.id == id).map(|t| t.task.clone())
}
