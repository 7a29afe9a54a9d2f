//! The metadata store: projects, branches, tokens, buckets, tables, files, jobs, events,
//! metadata, configurations, triggers, schedules, workspaces, Vault variables. SQLite on the embedded default.
pub mod branches;
pub mod buckets;
mod conditions;
pub mod configurations;
pub mod data_apps;
pub mod developer;
pub mod editor_sessions;
pub mod dump;
pub mod events;
pub mod files;
mod handle;
mod lookup_cache;
pub mod manage;
pub mod merge_requests;
pub mod metadata;
pub mod metastore;
pub mod nodes;
pub mod organizations;
pub mod project_admin;
pub mod provisioning;
pub mod notification_subscriptions;
pub mod oauth;
pub mod pg;
pub mod query_jobs;
pub mod queue_jobs;
mod schema;
pub mod schedules;
pub mod search;
pub mod sharing;
pub mod snapshots;
pub mod stream;
pub mod storage_jobs;
pub mod tables;
pub mod tickets;
pub mod tokens;
pub mod triggers;
pub mod vault_variables;
pub mod workspaces;

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::Connection;

use kbstack_core::Result as ApiResult;

pub use handle::{MetaBackend, MetaStore};

/// The metadata store on SQLite (the embedded default: one file in the data dir). Services hold
/// it through `MetaStore`, which may be this or the PostgreSQL store.
pub struct SqliteMetaStore {
    conn: Mutex<Connection>,
    /// Disk space given back when the disk fills up, so job ends still land (none in memory).
    reserve: Option<crate::reserve::SpaceReserve>,
    /// The per-request lookups, kept while their tables are unchanged (only when no other
    /// process can write the file).
    cache: Option<lookup_cache::LookupCache>,
}

/// How hard a commit is pushed to disk before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit is fsynced: what a client was told survives a power cut (the default).
    #[default]
    Full,
    /// The WAL is fsynced only at checkpoints: survives a process crash, may lose the last
    /// commits on power loss. Faster on slow disks.
    Normal,
}

/// Who may open the store's file while kbstack has it open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locking {
    /// kbstack alone (the default): the file lock is taken once and held, so no read pays a
    /// lock and unlock system call pair (a third of a token verification's cost), and a second
    /// server on the same data dir is refused.
    #[default]
    Exclusive,
    /// Other processes may read and write the live file (the sqlite3 shell, tests).
    Shared,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

impl SqliteMetaStore {
    /// The store in the file at `path`, shared with other processes (tools and tests that open a
    /// live server's file); the server itself opens it with `open_with`.
    pub fn open(path: &Path) -> anyhow::Result<SqliteMetaStore> {
        SqliteMetaStore::open_with(path, Durability::default(), Locking::Shared)
    }

    /// The store in the file at `path`, with a space reserve beside it (`<path>.reserve`).
    pub fn open_with(path: &Path, durability: Durability, locking: Locking) -> anyhow::Result<SqliteMetaStore> {
        let conn = Connection::open(path)?;
        if locking == Locking::Exclusive {
            // Before the first access, so that WAL mode never uses the shared-memory index.
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        }
        let mut store = SqliteMetaStore::from_connection(conn, durability, locking == Locking::Exclusive)?;
        let mut reserve_path = path.as_os_str().to_owned();
        reserve_path.push(".reserve");
        store.reserve =
            Some(crate::reserve::SpaceReserve::claim(Path::new(&reserve_path), crate::reserve::RESERVE_BYTES));
        Ok(store)
    }

    /// Gives back the space reserve (the disk is full and a job's end must be written); true
    /// when space was freed.
    pub fn release_reserve(&self) -> bool {
        self.reserve.as_ref().is_some_and(|r| r.release())
    }

    /// Takes the space reserve again if it was given back and the disk has room now.
    pub fn reclaim_reserve(&self) {
        if let Some(r) = &self.reserve {
            if !r.is_held() {
                r.reclaim();
            }
        }
    }

    /// A private in-memory store (conformance suites, tests).
    pub fn open_in_memory() -> anyhow::Result<SqliteMetaStore> {
        SqliteMetaStore::from_connection(Connection::open_in_memory()?, Durability::default(), true)
    }

    /// The `synchronous` setting in force (SQLite's number: 1 NORMAL, 2 FULL).
    pub fn synchronous(&self) -> ApiResult<i64> {
        self.with(|c| c.query_row("PRAGMA synchronous", [], |r| r.get(0)))
    }

    /// `exclusive`: no other process can change the file, so lookups may be cached.
    fn from_connection(mut conn: Connection, durability: Durability, exclusive: bool) -> anyhow::Result<SqliteMetaStore> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", durability.pragma())?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted and overwritten content (a finished job's sealed token) is zeroed, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Room for every statement the store runs (the default keeps 16).
        conn.set_prepared_statement_cache_capacity(256);
        migrate(&mut conn)?;
        let cache = exclusive.then(lookup_cache::LookupCache::new);
        if let Some(cache) = &cache {
            let generations = cache.generations.clone();
            conn.update_hook(Some(move |_: rusqlite::hooks::Action, _: &str, table: &str, _: i64| generations.touch(table)));
        }
        Ok(SqliteMetaStore { conn: Mutex::new(conn), reserve: None, cache })
    }

    /// `read` through the cache's `slot` (straight to the database when there is no cache).
    /// `keep` says whether an answer may be cached.
    pub(crate) fn cached<K, Q, V>(
        &self,
        slot: impl Fn(&lookup_cache::LookupCache) -> &lookup_cache::Slot<K, V>,
        key: &Q,
        keep: impl Fn(&V) -> bool,
        read: impl FnOnce(&Connection) -> rusqlite::Result<V>,
    ) -> ApiResult<V>
    where
        K: std::borrow::Borrow<Q> + Eq + std::hash::Hash,
        Q: ToOwned<Owned = K> + Eq + std::hash::Hash + ?Sized,
        V: Clone,
    {
        let Some(cache) = &self.cache else { return self.with(read) };
        let slot = slot(cache);
        if let Some(v) = slot.get(key, cache.generations.current(slot.group())) {
            return Ok(v);
        }
        // The generation is read with the connection held: a write after it bumps it.
        let (generation, value) = self.with(|c| {
            let generation = cache.generations.current(slot.group());
            read(c).map(|v| (generation, v))
        })?;
        if keep(&value) {
            slot.put(key.to_owned(), generation, value.clone());
        }
        Ok(value)
    }

    /// Run `f` on the connection. Keep it short: the store is shared by every request.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> ApiResult<T> {
        let conn = self.conn.lock();
        Ok(f(&conn)?)
    }

    /// Run `f` in one transaction, committed only when it returns Ok.
    pub(crate) fn tx<T, E: From<rusqlite::Error>>(&self, f: impl FnOnce(&rusqlite::Transaction) -> Result<T, E>) -> Result<T, E> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// Statements through the connection's prepared-statement cache: the same SQL is parsed and
/// planned once per connection, not on every call (parsing was the largest part of a token
/// lookup's cost).
pub(crate) trait Cached {
    fn query_row_cached<T, P: rusqlite::Params, F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T>;
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
}

impl Cached for Connection {
    fn query_row_cached<T, P: rusqlite::Params, F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }
}

/// A create or rename refused because the name is taken in its scope; the caller words the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyExists;

/// Bring the schema to the newest version, one migration per transaction. A data dir written by a
/// newer build is refused rather than misread.
fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    migrate_to(conn, schema::MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0))
}

/// Bring the schema to version `target` (a restore stops at its export's version).
fn migrate_to(conn: &mut Connection, target: i64) -> anyhow::Result<()> {
    let current: i64 = conn.query_row_cached("PRAGMA user_version", [], |r| r.get(0))?;
    let newest = schema::MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0);
    if current > newest {
        anyhow::bail!(
            "the metadata store is at schema version {current}, newer than this build knows ({newest}): run a newer kbstack on this data dir"
        );
    }
    for (version, sql) in schema::MIGRATIONS.iter().filter(|(v, _)| *v > current && *v <= target) {
        let tx = conn.transaction()?;
        apply_migration(&tx, sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "metadata schema migrated");
    }
    Ok(())
}

/// Run one migration's SQL in order. SQLite has no `ADD COLUMN IF NOT EXISTS`, so a line
/// `ALTER TABLE t ADD COLUMN c …;` runs only when `t` lacks `c`: every migration can run again on
/// a store that has it (a data dir whose version was reset, as tests/migrations.rs does).
fn apply_migration(tx: &rusqlite::Transaction<'_>, sql: &str) -> rusqlite::Result<()> {
    let mut batch = String::new();
    for line in sql.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let ["ALTER", "TABLE", table, "ADD", "COLUMN", column, ..] = words[..] else {
            batch.push_str(line);
            batch.push('\n');
            continue;
        };
        tx.execute_batch(&std::mem::take(&mut batch))?;
        let present: bool =
            tx.query_row("SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2", [table, column], |r| r.get(0))?;
        if !present {
            tx.execute_batch(line)?;
        }
    }
    tx.execute_batch(&batch)
}

/// JSON column helpers: stored as text, read back as values.
pub fn json_col(text: Option<String>) -> serde_json::Value {
    text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_recorded() {
        let versions: Vec<i64> = schema::MIGRATIONS.iter().map(|(v, _)| *v).collect();
        assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        drop(SqliteMetaStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let v: i64 = conn.query_row_cached("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, *versions.last().unwrap());
        // Opening again applies nothing and keeps the version.
        drop(conn);
        drop(SqliteMetaStore::open(&path).unwrap());
        // A data dir from a newer build is refused.
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 999).unwrap();
        let err = SqliteMetaStore::open(&path).err().expect("refused").to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
