//! The Sync Actions HTTP API under `/sync-actions`: `POST /actions` runs an action, `GET /actions`
//! lists a component's actions. A Storage token is required (MCP sends its raw Storage token).
//! Refusals use the PHP services' envelope with an integer `code`; a component's own failure
//! uses Keboola's docker-error shape (`wire::ComponentError`).
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::{ActionList, ComponentError};
use super::{ActionRequest, SyncActionError};
use crate::app::AppState;
use crate::http::routes::get;
use crate::http::{ApiError, Params, Routes};
use crate::runner::action::ActionFailure;
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/sync-actions", get(index))
        .route("/sync-actions/actions", get(list).post(run))
        .map_router(|r| r.layer(axum::middleware::from_fn(sync_actions_envelope)))
}

async fn sync_actions_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| SyncActionsError(err).into_response()).await
}

/// An `ApiError` in the service's envelope.
pub struct SyncActionsError(pub ApiError);

impl From<ApiError> for SyncActionsError {
    fn from(e: ApiError) -> Self {
        SyncActionsError(e)
    }
}

impl IntoResponse for SyncActionsError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "sync-actions-", |_| {})
    }
}

async fn index() -> Json<Value> {
    Json(json!({"api": "sync-actions", "documentation": "https://app.swaggerhub.com/apis/odinuv/sync-actions"}))
}

async fn list(State(state): State<AppState>, auth: Result<Auth, ApiError>, req: Request) -> Result<Json<ActionList>, SyncActionsError> {
    let _auth = auth?;
    let p = Params::from_query(req.uri().query())?;
    let component_id = p.str("componentId").filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::validation("The \"componentId\" query parameter is required."))?;
    Ok(Json(ActionList { actions: super::list_actions(&state, &component_id)? }))
}

async fn run(State(state): State<AppState>, auth: Result<Auth, ApiError>, p: Result<Params, ApiError>) -> Response {
    let outcome = async {
        let auth = auth?;
        let req = ActionRequest::parse(&p?.values)?;
        super::run(&state, &auth, &req).await
    }
    .await;
    match outcome {
        // 201 as in Keboola's published spec ("Action Succeeded"); the clients take any 2xx.
        Ok(body) => (StatusCode::CREATED, Json(body)).into_response(),
        Err(SyncActionError::Refused(e)) => SyncActionsError(e).into_response(),
        Err(SyncActionError::Failed(failure)) => failed(failure),
    }
}

pub fn failed(failure: ActionFailure) -> Response {
    let exception_id = format!("docker-{}", uuid::Uuid::new_v4().simple());
    let body = match failure {
        ActionFailure::User(message) => {
            tracing::debug!(exception_id, "sync action user error");
            ComponentError::user(message, exception_id)
        }
        ActionFailure::Application(detail) => {
            // The detail has the action's secrets hidden (`runner::action`).
            tracing::error!(exception_id, "sync action application error: {detail}");
            ComponentError::application(exception_id)
        }
    };
    let status = StatusCode::from_u16(body.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}
