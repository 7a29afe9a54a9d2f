//! Host-based routing: Keboola clients (the MCP server, keboola-cli) find every service by host name
//! (`connection.<suffix>` → `queue.<suffix>`, ...), always on `https://...:443`. Services are mounted
//! by path (`/queue/...`), so one rewrite before routing serves each of them by host as well:
//! host `<id>.<suffix>` + path `/x` → path `/<id>/x`. Path-based serving is untouched.
use axum::extract::Request;
use axum::http::{Uri, header};

use crate::{ApiError, Code};

/// The host label of the Storage API (and the Manage API later): its paths are used as they are.
pub const STORAGE_LABEL: &str = "connection";

#[derive(Clone, Debug)]
pub struct HostRouting {
    /// `local.keboola.dev`: lower case, no leading or trailing dot.
    pub suffix: String,
    /// Ids of the services mounted at `/<id>`; `<id>.<suffix>` reaches them.
    pub services: Vec<String>,
    /// Hosts outside the suffix served from a path prefix (the Azure-style blob host
    /// `kbstack.blob.core.windows.net` → `/abs/kbstack`).
    pub aliases: Vec<(String, String)>,
}

impl HostRouting {
    /// The request with its path moved under the service its host names; requests for hosts this
    /// stack does not know (an IP, `localhost`, a name outside the suffix) pass unchanged, so the
    /// plain listener keeps path-based serving.
    pub fn route(&self, mut req: Request) -> Result<Request, ApiError> {
        let Some(host) = request_host(&req) else { return Ok(req) };
        let prefix = if let Some(label) = host.strip_suffix(&self.suffix).and_then(|h| h.strip_suffix('.')) {
            if label == STORAGE_LABEL {
                return Ok(req);
            }
            if !self.services.iter().any(|s| s == label) {
                return Err(ApiError::new(
                    Code::RouteNotFound,
                    format!("Host \"{host}\" names no service of this stack."),
                ));
            }
            format!("/{label}")
        } else if let Some((_, prefix)) = self.aliases.iter().find(|(h, _)| *h == host) {
            prefix.clone()
        } else {
            return Ok(req);
        };
        let path = req.uri().path();
        let pq = match req.uri().query() {
            Some(q) => format!("{prefix}{path}?{q}"),
            None => format!("{prefix}{path}"),
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(pq.parse().map_err(|_| ApiError::validation("Invalid request path."))?);
        *req.uri_mut() = Uri::from_parts(parts).map_err(|_| ApiError::validation("Invalid request path."))?;
        Ok(req)
    }
}

/// The host a request is for, lower case, without port or trailing dot: the URI's authority
/// (HTTP/2, absolute-form) or the `Host` header.
fn request_host(req: &Request) -> Option<String> {
    let raw = match req.uri().host() {
        Some(h) => h.to_string(),
        None => {
            let value = req.headers().get(header::HOST)?.to_str().ok()?;
            // `[::1]:8000` keeps its brackets; `name:443` loses its port.
            match value.rsplit_once(':') {
                Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => {
                    h.to_string()
                }
                _ => value.to_string(),
            }
        }
    };
    Some(raw.trim_end_matches('.').to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn routing() -> HostRouting {
        HostRouting {
            suffix: "local.keboola.dev".into(),
            services: vec!["queue".into(), "abs".into()],
            aliases: vec![("kbstack.blob.core.windows.net".into(), "/abs/kbstack".into())],
        }
    }

    fn routed(host: &str, path: &str) -> Result<String, ApiError> {
        let req = Request::builder().uri(path).header(header::HOST, host).body(Body::empty()).unwrap();
        routing().route(req).map(|r| r.uri().to_string())
    }

    #[test]
    fn service_hosts_reach_their_mount() {
        assert_eq!(routed("queue.local.keboola.dev", "/jobs?limit=1").unwrap(), "/queue/jobs?limit=1");
        assert_eq!(routed("QUEUE.local.keboola.dev:8443", "/").unwrap(), "/queue/");
        assert_eq!(routed("queue.local.keboola.dev.", "/search/jobs").unwrap(), "/queue/search/jobs");
        assert_eq!(routed("kbstack.blob.core.windows.net", "/kbstack-files/a/b").unwrap(), "/abs/kbstack/kbstack-files/a/b");
    }

    #[test]
    fn storage_and_foreign_hosts_keep_their_paths() {
        assert_eq!(routed("connection.local.keboola.dev", "/v2/storage").unwrap(), "/v2/storage");
        assert_eq!(routed("127.0.0.1:8000", "/queue/jobs").unwrap(), "/queue/jobs");
        assert_eq!(routed("[::1]:8000", "/v2/storage").unwrap(), "/v2/storage");
        assert_eq!(routed("local.keboola.dev", "/v2/storage").unwrap(), "/v2/storage");
        assert_eq!(routed("other.blob.core.windows.net", "/x").unwrap(), "/x");
    }

    #[test]
    fn unknown_service_hosts_are_not_found() {
        let err = routed("nope.local.keboola.dev", "/v2/storage").unwrap_err();
        assert_eq!(err.code, Code::RouteNotFound);
        assert!(routed("a.queue.local.keboola.dev", "/jobs").is_err());
    }
}
