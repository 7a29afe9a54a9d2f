//! `MetaStore`, the metadata store the services hold: SQLite in the data dir (the embedded
//! default) or PostgreSQL (`[metadata] url`, several nodes on one database). It derefs to
//! `dyn MetaBackend`, every repository trait, so a service calls `state.meta.<method>()`
//! whichever backend is behind it. What only one backend has (SQLite's disk-full reserve, its
//! dump) is a method here with a meaning on the other: a no-op, or a clear refusal.
use std::ops::Deref;
use std::path::Path;

use super::pg::PgMetaStore;
use super::{Durability, Locking, SqliteMetaStore};
use super::{
    branches::BranchStore, buckets::BucketStore, configurations::ConfigurationStore, data_apps::DataAppStore, developer::DeveloperStore,
    editor_sessions::EditorSessionStore, events::EventStore, files::FileRecordStore, manage::ManageStore, merge_requests::MergeRequestStore,
    metadata::MetadataStore, metastore::MetastoreStore, nodes::NodeStore, notification_subscriptions::SubscriptionStore, oauth::OAuthStore,
    organizations::OrganizationStore, project_admin::ProjectAdminStore, provisioning::ProvisioningStore, query_jobs::QueryJobStore,
    queue_jobs::QueueJobStore, schedules::ScheduleStore, search::SearchStore, sharing::SharingStore, snapshots::SnapshotStore,
    storage_jobs::StorageJobStore, stream::StreamStore, tables::TableStore, tickets::TicketStore, tokens::ProjectStore, tokens::TokenStore,
    triggers::TriggerStore, vault_variables::VaultVariableStore, workspaces::WorkspaceStore,
};
use super::configurations::{ComponentScope, ConfigurationTx, StoredConfiguration};
use super::merge_requests::{BranchHasOpenRequest, MergeRequest, MergeTx};
use kbstack_core::ids::{ComponentId, Scope};
use kbstack_core::Result as ApiResult;

/// Every repository of the metadata store, as one trait object.
pub trait MetaBackend:
    BranchStore
    + BucketStore
    + ConfigurationStore
    + DataAppStore
    + DeveloperStore
    + EditorSessionStore
    + EventStore
    + FileRecordStore
    + ManageStore
    + MergeRequestStore
    + MetadataStore
    + MetastoreStore
    + NodeStore
    + SubscriptionStore
    + OAuthStore
    + OrganizationStore
    + ProjectAdminStore
    + ProvisioningStore
    + QueryJobStore
    + QueueJobStore
    + ScheduleStore
    + SearchStore
    + SharingStore
    + SnapshotStore
    + StorageJobStore
    + StreamStore
    + TableStore
    + TicketStore
    + ProjectStore
    + TokenStore
    + TriggerStore
    + VaultVariableStore
    + WorkspaceStore
    + Send
    + Sync
{
}

impl<T> MetaBackend for T where
    T: BranchStore
        + BucketStore
        + ConfigurationStore
        + DataAppStore
        + DeveloperStore
        + EditorSessionStore
        + EventStore
        + FileRecordStore
        + ManageStore
        + MergeRequestStore
        + MetadataStore
        + MetastoreStore
        + NodeStore
        + SubscriptionStore
        + OAuthStore
        + OrganizationStore
        + ProjectAdminStore
        + ProvisioningStore
        + QueryJobStore
        + QueueJobStore
        + ScheduleStore
        + SearchStore
        + SharingStore
        + SnapshotStore
        + StorageJobStore
        + StreamStore
        + TableStore
        + TicketStore
        + ProjectStore
        + TokenStore
        + TriggerStore
        + VaultVariableStore
        + WorkspaceStore
        + Send
        + Sync
{
}

enum Backend {
    Sqlite(SqliteMetaStore),
    Postgres(PgMetaStore),
}

pub struct MetaStore {
    backend: Backend,
}

impl From<SqliteMetaStore> for MetaStore {
    fn from(s: SqliteMetaStore) -> MetaStore {
        MetaStore { backend: Backend::Sqlite(s) }
    }
}

impl From<PgMetaStore> for MetaStore {
    fn from(p: PgMetaStore) -> MetaStore {
        MetaStore { backend: Backend::Postgres(p) }
    }
}

impl Deref for MetaStore {
    type Target = dyn MetaBackend;
    fn deref(&self) -> &(dyn MetaBackend + 'static) {
        match &self.backend {
            Backend::Sqlite(s) => s,
            Backend::Postgres(p) => p,
        }
    }
}

impl MetaStore {
    /// The SQLite store in the file at `path`, shared with other processes (tools and tests that
    /// open a live server's file).
    pub fn open(path: &Path) -> anyhow::Result<MetaStore> {
        Ok(SqliteMetaStore::open(path)?.into())
    }

    /// The SQLite store in the file at `path`, with a space reserve beside it.
    pub fn open_with(path: &Path, durability: Durability, locking: Locking) -> anyhow::Result<MetaStore> {
        Ok(SqliteMetaStore::open_with(path, durability, locking)?.into())
    }

    /// A private in-memory SQLite store (tests).
    pub fn open_in_memory() -> anyhow::Result<MetaStore> {
        Ok(SqliteMetaStore::open_in_memory()?.into())
    }

    /// The PostgreSQL store in the database at `url`, its schema brought to the newest version.
    pub fn connect(url: &str) -> anyhow::Result<MetaStore> {
        Ok(PgMetaStore::connect(url)?.into())
    }

    /// The SQLite store, when that is the backend.
    pub fn sqlite(&self) -> Option<&SqliteMetaStore> {
        match &self.backend {
            Backend::Sqlite(s) => Some(s),
            Backend::Postgres(_) => None,
        }
    }

    /// "SQLite" or "PostgreSQL" (logs, refusals).
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }

    /// The schema version (the number of the last migration applied; both backends number
    /// their migrations alike).
    pub fn schema_version(&self) -> anyhow::Result<i64> {
        match &self.backend {
            Backend::Sqlite(s) => s.schema_version(),
            Backend::Postgres(p) => p.schema_version(),
        }
    }

    /// Gives back SQLite's space reserve (the disk is full and a job's end must be written);
    /// true when space was freed. PostgreSQL's disk is the database server's: nothing to free.
    pub fn release_reserve(&self) -> bool {
        self.sqlite().is_some_and(SqliteMetaStore::release_reserve)
    }

    /// Takes SQLite's space reserve again if it was given back and the disk has room now.
    pub fn reclaim_reserve(&self) {
        if let Some(s) = self.sqlite() {
            s.reclaim_reserve();
        }
    }

    /// Writes a job's final state until it lands: when the disk is full the reserve is given
    /// back first, then the write is retried every second (a full disk frees up, a database
    /// comes back).
    pub async fn store_until_it_lands<E: std::fmt::Display>(&self, job_id: i64, mut write: impl FnMut() -> Result<(), E>) {
        for attempt in 0u32.. {
            match write() {
                Ok(()) => return,
                Err(e) => {
                    if self.release_reserve() {
                        continue;
                    }
                    if attempt % 60 == 0 {
                        tracing::error!(job = job_id, attempt, "cannot record the job's end, retrying: {e}");
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}

/// The two repositories with generic methods (a unit of work run in one transaction) are
/// implemented on the handle too, so `state.meta.configuration_tx(…)` reads as on a store.
impl ConfigurationStore for MetaStore {
    fn configurations(&self, scope: Scope, component: Option<&ComponentId>, deleted: bool) -> ApiResult<Vec<StoredConfiguration>> {
        (**self).configurations(scope, component, deleted)
    }

    fn configuration_tx_dyn(&self, at: &ComponentScope, work: &mut dyn FnMut(&dyn ConfigurationTx) -> bool) -> ApiResult<()> {
        (**self).configuration_tx_dyn(at, work)
    }
}

impl MergeRequestStore for MetaStore {
    fn insert_merge_request(&self, mr: &MergeRequest) -> ApiResult<Result<i64, BranchHasOpenRequest>> {
        (**self).insert_merge_request(mr)
    }

    fn merge_request(&self, project_id: i64, id: i64) -> ApiResult<Option<MergeRequest>> {
        (**self).merge_request(project_id, id)
    }

    fn merge_requests(&self, project_id: i64) -> ApiResult<Vec<MergeRequest>> {
        (**self).merge_requests(project_id)
    }

    fn branch_locked(&self, project_id: i64, branch_id: i64) -> ApiResult<bool> {
        (**self).branch_locked(project_id, branch_id)
    }

    fn change_merge_request_dyn(&self, project_id: i64, id: i64, change: &mut dyn FnMut(&mut MergeRequest) -> bool) -> ApiResult<bool> {
        (**self).change_merge_request_dyn(project_id, id, change)
    }

    fn reset_merge_requests(&self, from: &str, to: &str) -> ApiResult<usize> {
        (**self).reset_merge_requests(from, to)
    }

    fn merge_tx_dyn(&self, work: &mut dyn FnMut(&dyn MergeTx) -> bool) -> ApiResult<()> {
        (**self).merge_tx_dyn(work)
    }
}
