//! The metadata store's conformance suites, instantiated for every implementation (the embedded
//! SQLite store now; PostgreSQL adds one line per suite).
use kbstack_store::meta::SqliteMetaStore;

fn sqlite() -> SqliteMetaStore {
    SqliteMetaStore::open_in_memory().expect("in-memory SQLite store")
}

kbstack_store::token_store_suite!(sqlite);
kbstack_store::storage_job_store_suite!(sqlite);
kbstack_store::node_store_suite!(sqlite);
kbstack_store::branch_store_suite!(sqlite);
kbstack_store::configuration_store_suite!(sqlite);
kbstack_store::file_record_store_suite!(sqlite);
kbstack_store::event_store_suite!(sqlite);
kbstack_store::trigger_store_suite!(sqlite);
kbstack_store::schedule_store_suite!(sqlite);
kbstack_store::subscription_store_suite!(sqlite);
kbstack_store::ticket_store_suite!(sqlite);
kbstack_store::bucket_store_suite!(sqlite);
kbstack_store::table_store_suite!(sqlite);
kbstack_store::metadata_store_suite!(sqlite);
kbstack_store::snapshot_store_suite!(sqlite);
kbstack_store::workspace_store_suite!(sqlite);
kbstack_store::merge_request_store_suite!(sqlite);

kbstack_store::queue_job_store_suite!(sqlite);
kbstack_store::query_job_store_suite!(sqlite);
kbstack_store::editor_session_store_suite!(sqlite);
kbstack_store::sharing_store_suite!(sqlite);
kbstack_store::search_store_suite!(sqlite);
kbstack_store::manage_store_suite!(sqlite);
kbstack_store::organization_store_suite!(sqlite);
kbstack_store::project_admin_store_suite!(sqlite);
kbstack_store::vault_variable_store_suite!(sqlite);
kbstack_store::data_app_store_suite!(sqlite);
kbstack_store::developer_store_suite!(sqlite);
kbstack_store::oauth_store_suite!(sqlite);
kbstack_store::metastore_store_suite!(sqlite);
kbstack_store::text_index_suite!(kbstack_store::text_index::Fts5Index::build);
kbstack_store::stream_store_suite!(sqlite);
kbstack_store::provisioning_store_suite!(sqlite);
