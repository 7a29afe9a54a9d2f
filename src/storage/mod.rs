//! The Storage API (`/v2/storage`): one module per resource, each mounting its own routes.
//! Every route is also served under `/v2/storage/branch/{id|default}/` and with a trailing
//! slash (see `http::normalize_request`).
pub mod auth;
pub mod bootstrap;
pub mod branches;
pub mod buckets;
pub mod components;
pub mod configurations;
pub mod events;
pub mod files;
pub mod index;
pub mod jobs;
pub mod merge_requests;
pub mod metadata;
pub mod search;
pub mod sharing;
pub mod snapshots;
pub mod tables;
pub mod tickets;
pub mod tokens;
pub mod triggers;
pub mod wire;
pub mod workspaces;

use crate::http::Routes;

use crate::app::AppState;

/// Remove a deleted project's data: its buckets with their tables, and its files.
pub fn purge_project_data(state: &AppState, project_id: i64) -> crate::http::ApiResult<()> {
    buckets::drop_all_buckets(state, project_id)?;
    files::delete_all_files(state, project_id)
}

/// Every Storage route; the app wraps them in the Storage envelope's rejection middleware.
pub fn router() -> Routes<AppState> {
    Routes::new()
        .merge(index::routes())
        .merge(tokens::routes())
        .merge(buckets::routes())
        .merge(sharing::routes())
        .merge(search::routes())
        .merge(tables::routes())
        .merge(snapshots::routes())
        .merge(jobs::routes())
        .merge(files::routes())
        .merge(events::routes())
        .merge(metadata::routes())
        .merge(components::routes())
        .merge(configurations::routes())
        .merge(branches::routes())
        .merge(merge_requests::routes())
        .merge(triggers::routes())
        .merge(tickets::routes())
        .merge(workspaces::routes())
}
