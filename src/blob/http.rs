//! Azure-Blob-compatible endpoint (owned by the blob/files work; placeholder until it lands).
use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
