//! The apps proxy: `<stack>/hub/<id>/…` is forwarded, path unchanged, to the app's Streamlit
//! process (it serves under that base path), WebSocket upgrades included. It runs before the API
//! router (no path normalisation, no blocking pool: a proxied connection may stay open for
//! hours). A password-protected app asks for HTTP basic authentication with its password (any
//! user name), which is not passed on to the app. Each request, and an open WebSocket every few
//! seconds, counts as activity; a request to an app stopped for inactivity starts it again and
//! waits for it.
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;

use crate::app::AppState;

/// The first path segment of proxied requests.
pub const MOUNT: &str = "hub";
/// How often an open WebSocket counts as activity.
const WEBSOCKET_ACTIVITY: Duration = Duration::from_secs(5);

/// The app id of a proxied request's path (`/hub/<id>` or `/hub/<id>/…`).
pub fn app_id(req: &Request) -> Option<i64> {
    let rest = req.uri().path().strip_prefix('/')?.strip_prefix(MOUNT)?.strip_prefix('/')?;
    rest.split('/').next()?.parse().ok()
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{text}\n")).into_response()
}

pub async fn handle(state: AppState, req: Request) -> Response {
    let Some(id) = app_id(&req) else { return plain(StatusCode::NOT_FOUND, "No such data app.") };
    let target = match state.data_apps.touch(id) {
        Some(t) => t,
        None => match super::runtime::wake(&state, id).await {
            Some(t) => t,
            None => {
                let st = state.clone();
                let exists = tokio::task::spawn_blocking(move || st.meta.data_app_any(id).ok().flatten().is_some()).await.unwrap_or(false);
                return match exists {
                    true => plain(StatusCode::SERVICE_UNAVAILABLE, "This data app is not running. Deploy it to start it."),
                    false => plain(StatusCode::NOT_FOUND, "No such data app."),
                };
            }
        },
    };
    if let Some(password) = &target.password {
        if !basic_password_is(&req, password) {
            let mut resp = plain(StatusCode::UNAUTHORIZED, "This data app is protected by a password.");
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"kbstack data app\""));
            return resp;
        }
    }
    match forward(&state, id, target.port, req).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::warn!(app = id, error = %e, "data app proxy");
            plain(StatusCode::BAD_GATEWAY, "The data app did not answer.")
        }
    }
}

/// The password of an `Authorization: Basic …` header equals `expected` (compared in constant time).
fn basic_password_is(req: &Request, expected: &str) -> bool {
    use base64::Engine;
    let Some(value) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else { return false };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
    let Some(pos) = decoded.iter().position(|b| *b == b':') else { return false };
    let given = &decoded[pos + 1..];
    given.len() == expected.len() && given.iter().zip(expected.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn is_upgrade(req: &Request) -> bool {
    req.headers().get(header::UPGRADE).is_some()
        && req
            .headers()
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
}

async fn connect(port: u16) -> Result<hyper::client::conn::http1::SendRequest<Body>, String> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| format!("connecting: {e}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

async fn forward(state: &AppState, id: i64, port: u16, mut req: Request) -> Result<Response, String> {
    let client_upgrade = is_upgrade(&req).then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map(|pq| pq.as_str().to_string()).unwrap_or_else(|| "/".into());
    parts.uri = path.parse().map_err(|e| format!("path: {e}"))?;
    parts.version = axum::http::Version::HTTP_11;
    parts.headers.remove(header::AUTHORIZATION);
    if parts.headers.get(header::HOST).is_none() {
        parts.headers.insert(header::HOST, HeaderValue::from_str(&format!("127.0.0.1:{port}")).map_err(|e| e.to_string())?);
    }
    let mut sender = connect(port).await?;
    let mut resp = sender.send_request(Request::from_parts(parts, body)).await.map_err(|e| format!("request: {e}"))?;
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else { return Err("the app switched protocols unasked".into()) };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        let state = state.clone();
        tokio::spawn(async move {
            let (Ok(client), Ok(upstream)) = (client_upgrade.await, upstream_upgrade.await) else { return };
            let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
            let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
            tokio::pin!(copy);
            let mut tick = tokio::time::interval(WEBSOCKET_ACTIVITY);
            loop {
                tokio::select! {
                    _ = &mut copy => break,
                    _ = tick.tick() => {
                        if state.data_apps.touch(id).is_none() {
                            break;
                        }
                    }
                }
            }
        });
    }
    Ok(resp.map(Body::new))
}

/// A GET answered 200 by the app on `port` (its health check).
pub async fn get_ok(port: u16, path: &str) -> bool {
    let Ok(mut sender) = connect(port).await else { return false };
    let Ok(req) = Request::get(path).header(header::HOST, format!("127.0.0.1:{port}")).body(Body::empty()) else { return false };
    matches!(tokio::time::timeout(Duration::from_secs(5), sender.send_request(req)).await, Ok(Ok(resp)) if resp.status() == StatusCode::OK)
}
