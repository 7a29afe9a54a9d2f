//! The Graph service's HTTP API under `/graph` (legacy service id; no public spec, so the
//! endpoints are kbstack's own, Keboola-style). Every call but the index needs a valid Storage
//! token. Errors use the PHP services' envelope
//! `{error, code: <HTTP status>, status: "error", exceptionId: "graph-…"}`.
//!
//! - `GET /graph/v1/lineage`: the project (of the token's branch)
//! - `GET /graph/v1/lineage/tables/{tableId}`: around a table
//! - `GET /graph/v1/lineage/components/{componentId}/configs/{configId}`: around a configuration or flow
//!
//! Query: `depth` (steps from the focus, default any), `direction` (`upstream`, `downstream`,
//! `both`), `format` (`json`, default, or `svg`). Each route also answers SVG under `…/svg`.
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Direction;
use super::wire::Graph;
use crate::app::AppState;
use crate::http::routes::get;
use crate::http::{ApiError, Query, Routes};
use crate::storage::auth::Auth;

/// Deepest `depth` taken (a larger one is the same as any).
const MAX_DEPTH: u32 = 1000;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/graph", get(index))
        .route("/graph/v1/lineage", get(project))
        .route("/graph/v1/lineage/svg", get(project_svg))
        .route("/graph/v1/lineage/tables/{tableId}", get(table))
        .route("/graph/v1/lineage/tables/{tableId}/svg", get(table_svg))
        .route("/graph/v1/lineage/components/{componentId}/configs/{configId}", get(configuration))
        .route("/graph/v1/lineage/components/{componentId}/configs/{configId}/svg", get(configuration_svg))
        .map_router(|r| r.layer(axum::middleware::from_fn(envelope)))
}

/// An `ApiError` in the Graph service's envelope (integer `code`).
pub struct GraphError(pub ApiError);

impl From<ApiError> for GraphError {
    fn from(e: ApiError) -> Self {
        GraphError(e)
    }
}

impl From<kbstack_core::Error> for GraphError {
    fn from(e: kbstack_core::Error) -> Self {
        GraphError(e.into())
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        crate::http::error::service_error_response(self.0, "graph-", |_| {})
    }
}

type GResult<T> = Result<T, GraphError>;

async fn envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| GraphError(err).into_response()).await
}

async fn index() -> Json<Value> {
    Json(json!({
        "api": "graph",
        "description": "Project lineage from mappings, transformation SQL, flows and job history",
        "formats": ["json", "svg"],
    }))
}

#[derive(Deserialize, Default)]
pub struct LineageQuery {
    depth: Option<String>,
    direction: Option<String>,
    format: Option<String>,
}

struct Asked {
    depth: Option<u32>,
    direction: Direction,
    svg: bool,
}

fn asked(q: &LineageQuery, svg_route: bool) -> Result<Asked, ApiError> {
    let depth = match q.depth.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(
            d.parse::<u32>()
                .map_err(|_| ApiError::validation("Invalid request:\n - depth: a whole number of steps, 0 or more."))?
                .min(MAX_DEPTH),
        ),
    };
    let svg = svg_route
        || match q.format.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("json") => false,
            Some("svg") => true,
            Some(_) => return Err(ApiError::validation("Invalid request:\n - format: json or svg.")),
        };
    Ok(Asked { depth, direction: Direction::parse(q.direction.as_deref())?, svg })
}

fn answer(graph: Graph, svg: bool) -> Response {
    if svg {
        ([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], super::svg::render(&graph)).into_response()
    } else {
        Json(graph).into_response()
    }
}

fn project_answer(state: &AppState, auth: Result<Auth, ApiError>, q: Result<Query<LineageQuery>, ApiError>, svg: bool) -> GResult<Response> {
    let auth = auth?;
    let a = asked(&q?.0, svg)?;
    let graph = super::project_graph(state, &auth)?;
    // A project graph takes depth and direction only around a focus: none here.
    Ok(answer(graph, a.svg))
}

async fn project(State(state): State<AppState>, auth: Result<Auth, ApiError>, q: Result<Query<LineageQuery>, ApiError>) -> GResult<Response> {
    project_answer(&state, auth, q, false)
}

async fn project_svg(State(state): State<AppState>, auth: Result<Auth, ApiError>, q: Result<Query<LineageQuery>, ApiError>) -> GResult<Response> {
    project_answer(&state, auth, q, true)
}

fn table_answer(
    state: &AppState,
    auth: Result<Auth, ApiError>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    q: Result<Query<LineageQuery>, ApiError>,
    svg: bool,
) -> GResult<Response> {
    let auth = auth?;
    let Path(id) = id.map_err(|e| ApiError::validation(format!("Invalid request: {e}")))?;
    let a = asked(&q?.0, svg)?;
    Ok(answer(super::table_graph(state, &auth, &id, a.direction, a.depth)?, a.svg))
}

async fn table(State(state): State<AppState>, auth: Result<Auth, ApiError>, id: Result<Path<String>, axum::extract::rejection::PathRejection>, q: Result<Query<LineageQuery>, ApiError>) -> GResult<Response> {
    table_answer(&state, auth, id, q, false)
}

async fn table_svg(State(state): State<AppState>, auth: Result<Auth, ApiError>, id: Result<Path<String>, axum::extract::rejection::PathRejection>, q: Result<Query<LineageQuery>, ApiError>) -> GResult<Response> {
    table_answer(&state, auth, id, q, true)
}

type ConfigPath = Result<Path<(String, String)>, axum::extract::rejection::PathRejection>;

fn configuration_answer(state: &AppState, auth: Result<Auth, ApiError>, ids: ConfigPath, q: Result<Query<LineageQuery>, ApiError>, svg: bool) -> GResult<Response> {
    let auth = auth?;
    let Path((component, config)) = ids.map_err(|e| ApiError::validation(format!("Invalid request: {e}")))?;
    let a = asked(&q?.0, svg)?;
    Ok(answer(super::configuration_graph(state, &auth, &component, &config, a.direction, a.depth)?, a.svg))
}

async fn configuration(State(state): State<AppState>, auth: Result<Auth, ApiError>, ids: ConfigPath, q: Result<Query<LineageQuery>, ApiError>) -> GResult<Response> {
    configuration_answer(&state, auth, ids, q, false)
}

async fn configuration_svg(State(state): State<AppState>, auth: Result<Auth, ApiError>, ids: ConfigPath, q: Result<Query<LineageQuery>, ApiError>) -> GResult<Response> {
    configuration_answer(&state, auth, ids, q, true)
}
