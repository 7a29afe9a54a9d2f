//! The kbstack nodes that share one metadata store, and the stack-wide locks they take.
//!
//! Why: in the scale-out profile several nodes serve one stack. Work a node runs in its own
//! process (a storage job, a Queue job, a Query job) carries the node's id; each node records a
//! heartbeat every few seconds. A node whose heartbeat is older than the lease is dead, and any
//! live node ends its unfinished work (`fail_orphaned_storage_jobs`, `orphaned_queue_jobs`,
//! `orphaned_query_jobs` with the same `live_since_ms`). A job ends once: every end is a
//! compare-and-set on its unfinished state, so a late end from a node presumed dead is refused.
//! The embedded default has one process: its start treats every other node as dead.
use rusqlite::OptionalExtension;

use super::{Cached, SqliteMetaStore};
use kbstack_core::Result as ApiResult;

/// The SQL condition "the row's node (column `col`) is not live", with the live-since time as the
/// statement's parameter `param` (`?N` or `$N`). A row without a node (written before nodes
/// existed) has no live owner.
pub(crate) fn not_live(col: &str, param: &str) -> String {
    format!("({col} IS NULL OR {col} NOT IN (SELECT id FROM nodes WHERE heartbeat_ms >= {param}))")
}

pub trait NodeStore {
    /// Record that `node` is alive at `now_ms` (registered by its first heartbeat).
    fn node_heartbeat(&self, node: &str, now_ms: i64) -> ApiResult<()>;
    /// The node's last heartbeat, if it has one.
    fn node_heartbeat_ms(&self, node: &str) -> ApiResult<Option<i64>>;
    /// Forget the nodes silent since before `before_ms` (their work was ended long ago).
    fn forget_nodes(&self, before_ms: i64) -> ApiResult<usize>;
    /// Run `f` holding the stack-wide lock `name`: a node that asks for it meanwhile waits.
    /// PostgreSQL: a session advisory lock (several nodes). SQLite: the store belongs to one
    /// process, which takes a process-wide lock.
    fn exclusively(&self, name: &str, f: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<()>;
}

/// One process-wide lock for `exclusively` on SQLite (names are few; one lock serves them all).
static SQLITE_EXCLUSIVE: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

impl NodeStore for SqliteMetaStore {
    fn node_heartbeat(&self, node: &str, now_ms: i64) -> ApiResult<()> {
        self.with(|c| {
            c.execute_cached(
                "INSERT INTO nodes (id, started_ms, heartbeat_ms) VALUES (?1, ?2, ?2) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms",
                rusqlite::params![node, now_ms],
            )
        })?;
        Ok(())
    }

    fn node_heartbeat_ms(&self, node: &str) -> ApiResult<Option<i64>> {
        self.with(|c| c.query_row_cached("SELECT heartbeat_ms FROM nodes WHERE id = ?1", [node], |r| r.get(0)).optional())
    }

    fn forget_nodes(&self, before_ms: i64) -> ApiResult<usize> {
        self.with(|c| c.execute_cached("DELETE FROM nodes WHERE heartbeat_ms < ?1", [before_ms]))
    }

    fn exclusively(&self, _name: &str, f: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<()> {
        let _held = SQLITE_EXCLUSIVE.lock();
        f()
    }
}

/// The behaviour every `NodeStore` must have; `node_store_suite!` runs each check as a named test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::storage_jobs::{JobStatus, NewStorageJob, StorageJobStore};
    use crate::meta::tokens::ProjectStore;

    pub fn heartbeats_are_recorded_and_old_nodes_forgotten<S: NodeStore>(s: &S) {
        assert_eq!(s.node_heartbeat_ms("a").unwrap(), None);
        s.node_heartbeat("a", 1_000).unwrap();
        s.node_heartbeat("b", 1_500).unwrap();
        s.node_heartbeat("a", 2_000).unwrap();
        assert_eq!(s.node_heartbeat_ms("a").unwrap(), Some(2_000));
        assert_eq!(s.forget_nodes(1_800).unwrap(), 1, "b fell silent before 1800");
        assert_eq!(s.node_heartbeat_ms("b").unwrap(), None);
        assert_eq!(s.node_heartbeat_ms("a").unwrap(), Some(2_000));
    }

    fn job(project_id: i64, node: &str) -> NewStorageJob {
        NewStorageJob {
            project_id,
            branch_id: 1,
            operation_name: "tableImport".into(),
            operation_params: serde_json::json!({}),
            table_id: None,
            created: "2026-01-01T00:00:00+0000".into(),
            run_id: None,
            creator_token_id: 1,
            creator_description: "t".into(),
            node_id: node.into(),
        }
    }

    /// Only the jobs of nodes without a heartbeat since `live_since_ms` end, once; a late end
    /// from their node is refused.
    pub fn only_the_jobs_of_dead_nodes_are_failed<S: NodeStore + StorageJobStore + ProjectStore>(s: &S) {
        s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
        s.node_heartbeat("alive", 10_000).unwrap();
        s.node_heartbeat("dead", 1_000).unwrap();
        let mine = s.insert_storage_job(&job(1, "alive")).unwrap();
        let orphan = s.insert_storage_job(&job(1, "dead")).unwrap();
        let unknown = s.insert_storage_job(&job(1, "never-seen")).unwrap();
        s.set_storage_job_processing(orphan, "2026-01-01T00:00:01+0000").unwrap();
        assert_eq!(s.fail_orphaned_storage_jobs(5_000, r#"{"code":"interrupted"}"#, "t").unwrap(), 2);
        assert_eq!(s.fail_orphaned_storage_jobs(5_000, r#"{"code":"interrupted"}"#, "t").unwrap(), 0, "ended once");
        let status = |id| s.storage_job(1, id).unwrap().unwrap().status;
        assert_eq!((status(mine), status(orphan), status(unknown)), (JobStatus::Waiting, JobStatus::Error, JobStatus::Error));
        // The dead node comes back and reports success: the job stays as the survivor ended it.
        s.finish_storage_job(orphan, JobStatus::Success, Some("{}"), None, "t2").unwrap();
        assert_eq!(status(orphan), JobStatus::Error);
        // A start after a crash (one process): everyone else is dead.
        assert_eq!(s.fail_orphaned_storage_jobs(i64::MAX, "{}", "t").unwrap(), 1);
        assert_eq!(status(mine), JobStatus::Error);
    }

    /// `exclusively` runs the closure and hands back its error.
    pub fn exclusive_sections_run_one_at_a_time<S: NodeStore + Sync>(s: &S) {
        let inside = std::sync::atomic::AtomicUsize::new(0);
        let most = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    s.exclusively("suite", &mut || {
                        let now = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        Ok(())
                    })
                    .unwrap();
                });
            }
        });
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 1);
        let err = s.exclusively("suite", &mut || anyhow::bail!("inner failure")).unwrap_err();
        assert!(err.to_string().contains("inner failure"));
        s.exclusively("suite", &mut || Ok(())).expect("the lock was given back after an error");
    }
}

#[macro_export]
macro_rules! node_store_suite {
    ($make:expr) => {
        #[test]
        fn node_store_heartbeats_are_recorded_and_old_nodes_forgotten() {
            $crate::meta::nodes::suite::heartbeats_are_recorded_and_old_nodes_forgotten(&$make());
        }
        #[test]
        fn node_store_only_the_jobs_of_dead_nodes_are_failed() {
            $crate::meta::nodes::suite::only_the_jobs_of_dead_nodes_are_failed(&$make());
        }
        #[test]
        fn node_store_exclusive_sections_run_one_at_a_time() {
            $crate::meta::nodes::suite::exclusive_sections_run_one_at_a_time(&$make());
        }
    };
}
