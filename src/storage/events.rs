//! Events (owned by the components/configurations work; `record` is the contract others use).
use axum::Router;
use serde_json::Value;

use super::auth::Auth;
use crate::app::AppState;
use crate::http::ApiResult;

pub fn routes() -> Router<AppState> {
    Router::new()
}

pub struct NewEvent {
    pub event: String,
    pub component: String,
    pub message: String,
    pub kind: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub params: Value,
    pub results: Value,
}

pub fn record(_state: &AppState, _auth: &Auth, _ev: NewEvent) -> ApiResult<()> {
    Ok(())
}
