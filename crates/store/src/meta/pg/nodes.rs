//! Nodes and stack-wide locks on PostgreSQL (`NodeStore`; see ../nodes.rs).
use super::{PgMetaStore, blocking};
use crate::meta::nodes::NodeStore;
use kbstack_core::Result as ApiResult;

impl NodeStore for PgMetaStore {
    fn node_heartbeat(&self, node: &str, now_ms: i64) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO nodes (id, started_ms, heartbeat_ms) VALUES ($1, $2, $2) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms",
                &[&node, &now_ms],
            )
        })?;
        Ok(())
    }

    fn node_heartbeat_ms(&self, node: &str) -> ApiResult<Option<i64>> {
        self.with(|c| c.query_opt("SELECT heartbeat_ms FROM nodes WHERE id = $1", &[&node])?.map(|r| r.try_get(0)).transpose())
    }

    fn forget_nodes(&self, before_ms: i64) -> ApiResult<usize> {
        Ok(self.with(|c| c.execute("DELETE FROM nodes WHERE heartbeat_ms < $1", &[&before_ms]))? as usize)
    }

    /// A session advisory lock on a connection of the lock pool, kept for the whole section; `f`
    /// uses the main pool. A node that dies holding it loses its connection, and the lock with it.
    fn exclusively(&self, name: &str, f: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<()> {
        // Each database call is its own `blocking` step; `f` makes its own (they do not nest).
        let mut conn = blocking(|| self.locks.get())?;
        blocking(|| conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 1))", &[&name]))?;
        let out = f();
        let released = blocking(|| conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 1))", &[&name]));
        out?;
        released?;
        Ok(())
    }
}
