//! The metadata store: projects, branches, tokens, buckets, tables, files, jobs, events,
//! metadata, configurations, triggers. SQLite on the embedded default.
mod schema;

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::Connection;

use crate::http::ApiResult;

pub struct MetaStore {
    conn: Mutex<Connection>,
}

impl MetaStore {
    pub fn open(path: &Path) -> anyhow::Result<MetaStore> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(schema::SCHEMA)?;
        Ok(MetaStore { conn: Mutex::new(conn) })
    }

    /// Run `f` on the connection. Keep it short: the store is shared by every request.
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> ApiResult<T> {
        let conn = self.conn.lock();
        Ok(f(&conn)?)
    }

    /// Run `f` in one transaction, committed only when it returns Ok.
    pub fn tx<T>(&self, f: impl FnOnce(&rusqlite::Transaction) -> ApiResult<T>) -> ApiResult<T> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// JSON column helpers: stored as text, read back as values.
pub fn json_col(text: Option<String>) -> serde_json::Value {
    text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(serde_json::Value::Null)
}
