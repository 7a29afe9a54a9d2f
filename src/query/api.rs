//! The Query service's HTTP API under `/query` (host `query.<suffix>`). Errors use its envelope
//! as keboola-query-service reads it: `{exception, exceptionId, context, error: <status>,
//! code, status: "error"}` (spec `httperrors.ErrorResponse`).
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire;
use crate::app::AppState;
use crate::http::routes::{get, post};
use crate::http::{ApiError, Code, Params, Routes};
use crate::meta::query_jobs::{QueryJob, QueryStatement, StatementState};
use crate::storage::auth::Auth;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/query", get(index))
        .route("/query/health-check", get(health))
        .route("/query/api/v1/branches/{branch}/workspaces/{workspace}/queries", get(history).post(submit))
        .route("/query/api/v1/queries/{job}", get(status))
        .route("/query/api/v1/queries/{job}/cancel", post(cancel))
        .route("/query/api/v1/queries/{job}/{statement}/results", get(results))
        .route("/query/api/v1/queries/{job}/{statement}/results/stream", get(stream))
        .route("/query/api/v1/queries/{job}/{statement}/export", get(export))
        .map_router(|r| r.layer(axum::middleware::from_fn(query_envelope)))
}

/// An `ApiError` in the Query service's envelope.
pub struct QueryError(pub ApiError);

impl From<ApiError> for QueryError {
    fn from(e: ApiError) -> Self {
        QueryError(e)
    }
}

impl From<kbstack_core::Error> for QueryError {
    fn from(e: kbstack_core::Error) -> Self {
        QueryError(e.into())
    }
}

impl From<crate::backend::BackendError> for QueryError {
    fn from(e: crate::backend::BackendError) -> Self {
        QueryError(e.into())
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let code = self.0.code.as_str();
        crate::http::error::service_error_response(self.0, "query-", |body| {
            body["exception"] = body["error"].take();
            body["error"] = body["code"].take();
            body["code"] = json!(code);
            if body.get("context").is_none() {
                body["context"] = json!({});
            }
        })
    }
}

type QResult<T> = Result<T, QueryError>;

async fn query_envelope(req: Request, next: axum::middleware::Next) -> Response {
    crate::http::rejections::in_envelope(req, next, |err| QueryError(err).into_response()).await
}

async fn index(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "appName": "query",
        "appVersion": env!("CARGO_PKG_VERSION"),
        "apiDocs": format!("{}/api/v1/documentation", state.urls.service("query")),
    }))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn submit(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((branch, workspace)): Path<(String, String)>,
    p: Result<Params, ApiError>,
) -> QResult<(StatusCode, Json<wire::JobId>)> {
    let auth = auth?;
    let workspace = super::workspace_for(&state, &auth, &branch, &workspace)?;
    let req = super::SubmitRequest::parse(&p?.values)?;
    let id = super::submit(&state, &auth, &workspace, req)?;
    Ok((StatusCode::CREATED, Json(wire::JobId { query_job_id: id })))
}

fn statement_wire(s: &QueryStatement) -> wire::Statement {
    wire::Statement {
        id: s.id.clone(),
        query: s.query.clone(),
        status: s.state.as_str().into(),
        query_id: s.executed_at.as_ref().map(|_| s.id.clone()),
        error: s.error.clone(),
        rows_affected: s.rows_affected,
        number_of_rows: s.number_of_rows,
        created_at: s.created.clone(),
        executed_at: s.executed_at.clone(),
        completed_at: s.completed_at.clone(),
    }
}

pub fn job_wire(job: &QueryJob) -> wire::JobStatus {
    wire::JobStatus {
        query_job_id: job.id.clone(),
        status: job.state.as_str().into(),
        actor_type: job.actor_type.clone(),
        statements: job.statements.iter().map(statement_wire).collect(),
        created_at: job.created.clone(),
        changed_at: job.changed.clone(),
        canceled_at: job.canceled_at.clone(),
        cancellation_reason: job.cancellation_reason.clone(),
    }
}

async fn status(State(state): State<AppState>, auth: Result<Auth, ApiError>, Path(job): Path<String>) -> QResult<Json<wire::JobStatus>> {
    let auth = auth?;
    Ok(Json(job_wire(&super::job_for(&state, &auth, &job)?)))
}

async fn cancel(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path(job): Path<String>,
    p: Result<Params, ApiError>,
) -> QResult<Json<wire::JobId>> {
    let auth = auth?;
    let p = p?;
    let reason = match p.get("reason") {
        None => "Canceled by user".to_string(),
        Some(Value::String(s)) if !s.contains('\0') && s.chars().count() <= 1000 => s.clone(),
        Some(_) => return Err(ApiError::validation("The \"reason\" field must be a string of at most 1000 characters.").into()),
    };
    super::cancel(&state, &auth, &job, &reason)?;
    Ok(Json(wire::JobId { query_job_id: job }))
}

/// A non-negative integer query parameter within `max`.
fn bounded(p: &Params, key: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    match p.int(key)? {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(_) => Err(ApiError::validation(format!("The \"{key}\" parameter must be between {min} and {max}."))),
    }
}

/// The statement of a job of the token's project.
fn statement_of(state: &AppState, auth: &Auth, job: &str, statement: &str) -> Result<(QueryJob, QueryStatement), ApiError> {
    let job = super::job_for(state, auth, job)?;
    let Some(s) = job.statements.iter().find(|s| s.id == statement).cloned() else {
        return Err(ApiError::new(Code::QueryStatementNotFound, format!("Statement \"{statement}\" not found in query job \"{}\".", job.id)));
    };
    Ok((job, s))
}

fn columns_wire(s: &QueryStatement) -> Vec<wire::Column> {
    let parsed: Vec<Value> = s.columns.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
    parsed
        .iter()
        .map(|c| {
            let (kind, length) = super::snowflake_type(c["type"].as_str().unwrap_or_default());
            wire::Column { name: c["name"].as_str().unwrap_or_default().to_string(), kind: kind.into(), nullable: true, length }
        })
        .collect()
}

fn not_ready(s: &QueryStatement) -> ApiError {
    ApiError::new(Code::QueryResultsNotReady, format!("Statement \"{}\" is still running or not completed yet ({}).", s.id, s.state.as_str()))
}

async fn results(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((job, statement)): Path<(String, String)>,
    req: Request,
) -> QResult<Json<wire::ResultPage>> {
    let auth = auth?;
    let p = Params::from_query(req.uri().query())?;
    let offset = bounded(&p, "offset", 0, 0, i64::MAX)?;
    let page_size = bounded(&p, "pageSize", 500, 1, super::MAX_PAGE_SIZE)?;
    let (job, s) = statement_of(&state, &auth, &job, &statement)?;
    let page = match s.state {
        StatementState::Waiting | StatementState::Processing => return Err(not_ready(&s).into()),
        StatementState::Completed => {
            let data = super::results::read_page(&state.query.results_dir, &job.id, &s.id, offset as u64, page_size as u64)?;
            let message = match (s.rows_affected, s.columns.as_deref()) {
                (Some(n), _) if n > 0 => Some(format!("{n} rows affected")),
                (Some(_), _) => Some("Statement executed successfully.".to_string()),
                _ => None,
            };
            wire::ResultPage {
                status: s.state.as_str().into(),
                columns: columns_wire(&s),
                data,
                rows_affected: s.rows_affected,
                number_of_rows: s.number_of_rows.unwrap_or(0),
                message,
            }
        }
        other => wire::ResultPage {
            status: other.as_str().into(),
            columns: Vec::new(),
            data: Vec::new(),
            rows_affected: None,
            number_of_rows: 0,
            message: Some(s.error.clone().unwrap_or_else(|| match other {
                StatementState::Canceled => "The statement was canceled.".into(),
                _ => "The statement was not executed.".into(),
            })),
        },
    };
    Ok(Json(page))
}

/// The completed statement's result file, or why there is none.
fn completed_rows(state: &AppState, auth: &Auth, job: &str, statement: &str) -> Result<(QueryStatement, Option<std::fs::File>), ApiError> {
    let (job, s) = statement_of(state, auth, job, statement)?;
    match s.state {
        StatementState::Completed => {
            let file = super::results::open_rows(&state.query.results_dir, &job.id, &s.id);
            Ok((s, file))
        }
        StatementState::Waiting | StatementState::Processing => Err(not_ready(&s)),
        other => Err(ApiError::validation(format!("Statement \"{}\" has no results ({}).", s.id, other.as_str()))),
    }
}

/// `…/results/stream`: NDJSON, one JSON array of values per row (the result file as it is).
async fn stream(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((job, statement)): Path<(String, String)>,
) -> QResult<Response> {
    let auth = auth?;
    let (_, file) = completed_rows(&state, &auth, &job, &statement)?;
    let body = match file {
        Some(f) => Body::from_stream(tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(f), 256 * 1024)),
        None => Body::empty(),
    };
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    Ok(resp)
}

/// `…/export?fileType=csv[&gzip=true]`: the result as CSV with a header. Written to an unlinked
/// temporary file first (the response streams from it), so memory stays bounded.
async fn export(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((job, statement)): Path<(String, String)>,
    req: Request,
) -> QResult<Response> {
    use std::io::{BufRead, Seek, Write};
    let auth = auth?;
    let p = Params::from_query(req.uri().query())?;
    match p.str("fileType").as_deref() {
        Some("csv") => {}
        Some("parquet") => return Err(ApiError::new(Code::NotImplemented, "Parquet export is not supported by this stack; use fileType=csv.").into()),
        _ => return Err(ApiError::validation("The \"fileType\" parameter must be \"csv\" or \"parquet\".").into()),
    }
    let gzip = p.flag("gzip")?;
    let (s, file) = completed_rows(&state, &auth, &job, &statement)?;
    let tmp = tempfile::tempfile().map_err(ApiError::internal)?;
    let write = |tmp: &std::fs::File| -> std::io::Result<()> {
        let out: Box<dyn Write> = if gzip {
            Box::new(flate2::write::GzEncoder::new(std::io::BufWriter::new(tmp), flate2::Compression::fast()))
        } else {
            Box::new(std::io::BufWriter::new(tmp))
        };
        let mut csv = csv::WriterBuilder::new().from_writer(out);
        let header: Vec<String> = columns_wire(&s).into_iter().map(|c| c.name).collect();
        csv.write_record(&header)?;
        if let Some(f) = file {
            for line in std::io::BufReader::new(f).lines() {
                let values: Vec<Option<String>> = serde_json::from_str(&line?)?;
                csv.write_record(values.iter().map(|v| v.as_deref().unwrap_or("")))?;
            }
        }
        let out = csv.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
        drop(out);
        Ok(())
    };
    write(&tmp).map_err(ApiError::internal)?;
    let mut tmp = tmp;
    tmp.flush().map_err(ApiError::internal)?;
    tmp.rewind().map_err(ApiError::internal)?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(tmp), 256 * 1024));
    let name = format!("{}.csv{}", s.id, if gzip { ".gz" } else { "" });
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(if gzip { "application/gzip" } else { "text/csv" }));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

async fn history(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((branch, workspace)): Path<(String, String)>,
    req: Request,
) -> QResult<Json<wire::History>> {
    let auth = auth?;
    let workspace = super::workspace_for(&state, &auth, &branch, &workspace)?;
    let p = Params::from_query(req.uri().query())?;
    let page_size = bounded(&p, "pageSize", 500, 1, super::MAX_PAGE_SIZE)?;
    let after = p.str("afterId").filter(|s| !s.is_empty() && s.len() <= 64);
    let statements = state.meta.query_history(auth.project_id, workspace.id, after.as_deref(), page_size)?;
    Ok(Json(wire::History {
        statements: statements
            .iter()
            .map(|s| wire::HistoryStatement {
                statement: statement_wire(s),
                query_job_id: s.job_id.clone(),
                warehouse: "KBSTACK".into(),
                backend_size: workspace.backend_size.clone(),
            })
            .collect(),
    }))
}
