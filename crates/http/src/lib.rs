//! HTTP conventions shared by every service (the `kbstack-http` crate): error envelope, body/query parameters, the branch
//! prefix and trailing-slash normalisation, host-based routing, Keboola timestamps.
pub mod drain;
pub mod error;
pub mod host;
pub mod params;
pub mod query;
pub mod rejections;
pub mod routes;

use axum::extract::Request;
use axum::http::Uri;

pub use error::{ApiError, ApiResult, Code};
pub use kbstack_core::time::{iso, now_iso};
pub use params::{BodyLimit, Params};
pub use query::Query;
pub use routes::{Route, Routes};

/// The branch named by a `/v2/storage/branch/{id|default}/…` prefix, stripped before routing.
#[derive(Clone, Debug)]
pub struct BranchPrefix(pub String);

/// Rewrites `/v2/storage/branch/{b}/rest` to `/v2/storage/rest` (keeping `b` as an extension) and
/// drops a trailing slash, so that every route is mounted once and answers in all its forms.
pub fn normalize_request(mut req: Request) -> Request {
    let path = req.uri().path().to_string();
    let mut new_path = path.clone();
    if let Some(rest) = path.strip_prefix("/v2/storage/branch/") {
        let (branch, tail) = rest.split_once('/').unwrap_or((rest, ""));
        if !branch.is_empty() {
            req.extensions_mut().insert(BranchPrefix(branch.to_string()));
            new_path = if tail.is_empty() { "/v2/storage".to_string() } else { format!("/v2/storage/{tail}") };
        }
    }
    if new_path.len() > 1 && new_path.ends_with('/') {
        new_path = new_path.trim_end_matches('/').to_string();
        if new_path.is_empty() {
            new_path.push('/');
        }
    }
    if new_path != path {
        let pq = match req.uri().query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

pub async fn not_found(req: Request) -> ApiError {
    ApiError::new(Code::RouteNotFound, format!("Route \"{} {}\" was not found.", req.method(), req.uri().path()))
}

/// Runs the request's handler on tokio's blocking pool. Handlers call the stores synchronously
/// (SQLite, DuckDB, the file system: short calls, but calls that block), so no async worker thread
/// waits on them and a slow store call never stalls other connections. Responses stream back on
/// the async side (only the handler runs here, not the body of a download). A panic goes on
/// unwinding to the panic layer outside.
pub async fn on_blocking_pool(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let runtime = tokio::runtime::Handle::current();
    match tokio::task::spawn_blocking(move || runtime.block_on(next.run(req))).await {
        Ok(response) => response,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => axum::response::IntoResponse::into_response(ApiError::internal(format!("request cancelled: {e}"))),
    }
}
