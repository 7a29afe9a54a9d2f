//! A read-through cache of the lookups every request repeats: a token by its hash and its
//! project's default branch (the `Auth` extractor), and the project facts a token verification
//! answers (details, bucket ids, table totals).
//!
//! Why: the store is one SQLite connection behind a mutex. Every Storage request authenticates,
//! and `tokens/verify` took that mutex five times; with ~32 blocking-pool threads on 2 cores, a
//! holder preempted mid-query stalls everyone queued behind it, which was most of verify's p99.
//!
//! Why it stays correct: SQLite's update hook reports every row this connection inserts,
//! updates or deletes, by table, before the statement returns. Each group of tables has a
//! generation the hook bumps; an entry is valid only while its group's generation equals the
//! one it was read under, and it is read while the connection is held, so no write can fall
//! between the read and its stamp. The cache is on only when no other process can write the
//! file (exclusive locking, or in memory). SQLite skips the hook for the truncate optimization
//! (`DELETE FROM t` with no `WHERE`) and for rows REPLACE removes; the store does neither on
//! the watched tables (a REPLACE's insert is reported anyway).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use super::project_admin::ProjectDetails;
use super::tokens::TokenRecord;

/// Entries per map before it is emptied: bounds memory whatever the number of tokens.
const MAX_ENTRIES: usize = 4096;

/// Which tables an entry was read from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Group {
    /// Tokens and default branches: tokens, branches, projects, project_details.
    Auth,
    /// Project details, bucket ids, table totals: projects, project_details, buckets, tables, table_stats.
    Facts,
}

/// The change counters the update hook bumps.
#[derive(Default)]
pub(crate) struct Generations {
    auth: AtomicU64,
    facts: AtomicU64,
}

impl Generations {
    /// Called by SQLite for every changed row.
    pub(crate) fn touch(&self, table: &str) {
        let (auth, facts) = match table {
            "tokens" | "branches" => (true, false),
            "projects" | "project_details" => (true, true),
            "buckets" | "tables" | "table_stats" => (false, true),
            _ => (false, false),
        };
        if auth {
            self.auth.fetch_add(1, Ordering::SeqCst);
        }
        if facts {
            self.facts.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn current(&self, group: Group) -> u64 {
        match group {
            Group::Auth => self.auth.load(Ordering::SeqCst),
            Group::Facts => self.facts.load(Ordering::SeqCst),
        }
    }
}

/// One lookup's entries, each stamped with the generation it was read under.
pub(crate) struct Slot<K, V> {
    group: Group,
    entries: RwLock<HashMap<K, (u64, V)>>,
}

impl<K: Eq + Hash, V: Clone> Slot<K, V> {
    fn new(group: Group) -> Self {
        Slot { group, entries: RwLock::new(HashMap::new()) }
    }

    pub(crate) fn group(&self) -> Group {
        self.group
    }

    pub(crate) fn get<Q>(&self, key: &Q, generation: u64) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.read();
        entries.get(key).filter(|(stamp, _)| *stamp == generation).map(|(_, v)| v.clone())
    }

    pub(crate) fn put(&self, key: K, generation: u64, value: V) {
        let mut entries = self.entries.write();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (generation, value));
    }
}

pub(crate) struct LookupCache {
    pub(crate) generations: Arc<Generations>,
    /// Only tokens that exist: unknown hashes are not kept (anyone can send those).
    pub(crate) tokens: Slot<String, Option<TokenRecord>>,
    pub(crate) default_branches: Slot<i64, Option<i64>>,
    pub(crate) details: Slot<i64, Option<ProjectDetails>>,
    pub(crate) bucket_ids: Slot<i64, Vec<String>>,
    pub(crate) table_stats: Slot<i64, (u64, u64)>,
}

impl LookupCache {
    pub(crate) fn new() -> LookupCache {
        LookupCache {
            generations: Arc::default(),
            tokens: Slot::new(Group::Auth),
            default_branches: Slot::new(Group::Auth),
            details: Slot::new(Group::Facts),
            bucket_ids: Slot::new(Group::Facts),
            table_stats: Slot::new(Group::Facts),
        }
    }
}
