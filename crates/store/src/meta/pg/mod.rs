//! The metadata store on PostgreSQL (the scale-out profile: several stateless nodes share one
//! database). The same tables and columns as the SQLite store (so a dump's rows move a stack
//! between the two), the same repository traits, proven by the same conformance suites.
//!
//! The client is the synchronous `postgres` crate without TLS (loopback, or an operator's TLS
//! terminator in front of the server). Its calls block: run them where blocking is allowed (the
//! handlers' blocking pool, tests), never on an async runtime's worker thread.
//!
//! Every repository trait has its PostgreSQL implementation here (one file per repository, as on
//! SQLite), each proven by the SQLite store's conformance suite (tests/meta_conformance_pg.rs).
mod branches;
mod buckets;
mod configurations;
mod data_apps;
mod developer;
mod editor_sessions;
mod events;
mod files;
mod manage;
mod merge_requests;
mod metadata;
mod metastore;
mod migrate;
mod nodes;
mod notification_subscriptions;
mod oauth;
mod organizations;
mod pool;
mod project_admin;
mod provisioning;
mod query_jobs;
mod queue_jobs;
mod schedules;
mod search;
mod sharing;
mod snapshots;
mod storage_jobs;
mod stream;
mod tables;
mod tokens;
mod triggers;
mod vault_variables;
mod workspaces;

use kbstack_core::Result as ApiResult;
use postgres::GenericClient;

pub use migrate::MIGRATIONS;

/// Connections a store opens at most when the caller does not say.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// Connections that hold stack-wide locks (`NodeStore::exclusively`) at most, apart from the
/// pool the locked work itself uses: a section waiting for its lock never holds a connection
/// the sections running meanwhile need, so locks cannot starve the pool.
const LOCK_CONNECTIONS: usize = 8;

pub struct PgMetaStore {
    pool: pool::Pool,
    locks: pool::Pool,
}

impl PgMetaStore {
    /// The store in the database at `url` (`postgres://user@host:port/db`), its schema brought
    /// to the newest version (once, whichever node gets there first).
    pub fn connect(url: &str) -> anyhow::Result<PgMetaStore> {
        PgMetaStore::connect_with(url, DEFAULT_MAX_CONNECTIONS)
    }

    /// As `connect`, with at most `max_connections` open at once.
    pub fn connect_with(url: &str, max_connections: usize) -> anyhow::Result<PgMetaStore> {
        let config: postgres::Config = url.parse()?;
        let store = PgMetaStore { pool: pool::Pool::new(config.clone(), max_connections.max(1)), locks: pool::Pool::new(config, LOCK_CONNECTIONS) };
        blocking(|| migrate::migrate(&mut *store.pool.get()?))?;
        Ok(store)
    }

    /// The schema version (the number of the last migration applied).
    pub fn schema_version(&self) -> anyhow::Result<i64> {
        blocking(|| Ok(migrate::current_version(&mut *self.pool.get()?)?))
    }

    /// Run `f` on a connection of the pool (its statements autocommit).
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error>) -> ApiResult<T> {
        blocking(|| {
            let mut conn = self.pool.get()?;
            Ok(f(&mut conn)?)
        })
    }

    /// Run `f` in one transaction, committed only when it returns Ok (rolled back otherwise).
    pub(crate) fn tx<T, E: From<postgres::Error>>(
        &self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        blocking(|| {
            let mut conn = self.pool.get()?;
            let mut tx = conn.transaction()?;
            let out = f(&mut tx)?;
            tx.commit()?;
            Ok(out)
        })
    }
}

/// Runs `f`, which blocks on the database. The `postgres` client drives its own runtime, which
/// may not be started from a worker thread of the server's (multi-threaded) runtime: there the
/// worker first hands its other tasks off (`block_in_place`). The blocking pool's threads and
/// threads outside any runtime run `f` as it is.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Serializes the transactions that check a name and then write it (a branch name, a bucket's
/// display name), across every node, until the transaction ends. `key` names what is guarded.
pub(crate) fn lock_until_commit(tx: &mut impl GenericClient, key: &str) -> Result<(), postgres::Error> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&key])?;
    Ok(())
}

/// A flag column (0/1, as SQLite stores them) as a bool.
pub(crate) fn flag(r: &postgres::Row, i: usize) -> Result<bool, postgres::Error> {
    Ok(r.try_get::<_, i64>(i)? != 0)
}

/// Parameters built for SQLite (`rusqlite` values, by the builders both stores share) as
/// PostgreSQL takes them.
pub(crate) fn pg_params(values: Vec<rusqlite::types::Value>) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    use rusqlite::types::Value;
    values
        .into_iter()
        .map(|v| -> Box<dyn postgres::types::ToSql + Sync> {
            match v {
                Value::Integer(i) => Box::new(i),
                Value::Real(f) => Box::new(f),
                Value::Text(t) => Box::new(t),
                Value::Null => Box::new(None::<String>),
                Value::Blob(b) => Box::new(b),
            }
        })
        .collect()
}
