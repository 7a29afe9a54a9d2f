//! The Developer Portal, served at `/developer` (host `developer.<suffix>`): portal accounts and
//! sessions (`auth`), vendors and their members (`vendors`), apps with versions and publishing
//! (`apps`), the app definition checked and turned into the Storage index shape (`definition`),
//! HTTP in `api`, wire objects in `wire`. A published app is listed by the stack's component
//! registry (`GET /v2/storage`, `GET /v2/storage/components/{id}`) and, when its repository is
//! a `process`, run by the Queue like a registered process component. Records are kept by
//! `DeveloperStore` (`meta::developer`).
pub mod api;
pub mod apps;
pub mod auth;
pub mod definition;
pub mod vendors;
pub mod wire;

/// The service id: the `/developer` mount, the `developer.<suffix>` host, the index entry.
pub const SERVICE_ID: &str = "developer";

/// At start: the administrator (first start only) and the published apps in the registry.
pub fn start(state: &crate::app::AppState) -> anyhow::Result<Option<String>> {
    let line = auth::ensure_admin(&state.meta, &state.config)?;
    apps::sync_registry(state).map_err(|e| anyhow::anyhow!("loading the Developer Portal's published apps: {}", e.message))?;
    Ok(line)
}
