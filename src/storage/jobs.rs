//! Storage jobs (in progress).
use axum::Router;

use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}

#[derive(Default)]
pub struct JobRunner {}

pub fn recover_interrupted(_state: &AppState) -> anyhow::Result<()> {
    Ok(())
}
