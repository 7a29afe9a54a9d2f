//! The Notifications HTTP API under `/notification` (notes: services.md §10). Errors use the PHP
//! services' envelope: `{error, code: <HTTP status>, status: "error", exceptionId}`.
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::Subscription;
use crate::app::AppState;
use crate::http::routes::get;
use crate::http::{ApiError, Params, Routes};
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/notification", get(index))
        .route("/notification/project-subscriptions", get(list).post(create))
        .route("/notification/project-subscriptions/{id}", get(detail).delete(remove))
        .map_router(|r| r.layer(axum::middleware::from_fn(notification_envelope)))
}

/// An `ApiError` in the Notifications envelope (integer `code`).
pub struct NotificationError(pub ApiError);

impl From<ApiError> for NotificationError {
    fn from(e: ApiError) -> Self {
        NotificationError(e)
    }
}

impl From<kbstack_core::Error> for NotificationError {
    fn from(e: kbstack_core::Error) -> Self {
        NotificationError(e.into())
    }
}

impl IntoResponse for NotificationError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "notification-", |_| {})
    }
}

type NResult<T> = Result<T, NotificationError>;

/// The middleware that renders axum's own refusals in the Notifications envelope.
async fn notification_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| NotificationError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({"api": "notification", "documentation": "https://app.swaggerhub.com/apis/odinuv/notifications-service"}))
}

async fn create(State(state): State<AppState>, auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> NResult<(StatusCode, Json<Subscription>)> {
    let auth = auth?;
    let p = p?;
    let record = super::create(&state, &auth, &p.values)?;
    Ok((StatusCode::CREATED, Json(Subscription::of(&record))))
}

/// `?event=` is accepted and, as on Keboola's server, does not narrow the list.
async fn list(State(state): State<AppState>, auth: Result<Auth, ApiError>) -> NResult<Json<Vec<Subscription>>> {
    let records = super::list(&state, &auth?)?;
    Ok(Json(records.iter().map(Subscription::of).collect()))
}

async fn detail(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> NResult<Json<Subscription>> {
    let auth = auth?;
    Ok(Json(Subscription::of(&super::load(&state, &auth, &id)?)))
}

async fn remove(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(id): Path<String>) -> NResult<StatusCode> {
    super::delete(&state, &auth?, &id)?;
    Ok(StatusCode::NO_CONTENT)
}
