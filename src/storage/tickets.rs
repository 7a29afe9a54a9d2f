//! `POST /v2/storage/tickets`: unique, increasing ids (run ids).
use axum::extract::State;
use axum::http::StatusCode;
use crate::http::routes::post;
use axum::Json;
use crate::http::Routes;
use serde_json::{Value, json};

use super::auth::Auth;
use crate::app::AppState;
use crate::http::ApiResult;

pub fn routes() -> Routes<AppState> {
    Routes::new().route("/v2/storage/tickets", post(create))
}

/// 201 `{"id": "<numeric string>"}` (Go decodes the id into a string).
async fn create(State(state): State<AppState>, _auth: Auth) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = state.meta.next_ticket()?;
    Ok((StatusCode::CREATED, Json(json!({"id": id.to_string()}))))
}
