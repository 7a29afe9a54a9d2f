//! `POST /v2/storage/tickets`: unique, increasing ids (run ids), and the named sequences behind them.
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use rusqlite::Connection;
use serde_json::{Value, json};

use super::auth::Auth;
use crate::app::AppState;
use crate::http::ApiResult;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v2/storage/tickets", post(create))
}

/// The next value of a named counter in the `sequences` table (1, 2, …), kept across restarts.
pub fn next_sequence(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "INSERT INTO sequences (name, value) VALUES (?1, 1) \
         ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        [name],
        |r| r.get(0),
    )
}

/// 201 `{"id": "<numeric string>"}` (Go decodes the id into a string).
async fn create(State(state): State<AppState>, _auth: Auth) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = state.meta.with(|c| next_sequence(c, "tickets"))?;
    Ok((StatusCode::CREATED, Json(json!({"id": id.to_string()}))))
}
