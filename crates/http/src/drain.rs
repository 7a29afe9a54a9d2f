//! Reading what a handler left of a request body before the answer goes out.
//!
//! A handler that refuses a request early (no token, a body over the limit) answers without
//! reading the rest of its body. hyper then closes the connection with those bytes unread, the
//! kernel answers them with a reset, and a proxy that is still sending them (nginx in front of
//! the nodes) sees the reset instead of the answer: its client gets a 502. So the rest is read and
//! dropped first, for a bounded time, as nginx's own lingering close does.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{CONNECTION, EXPECT};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

/// The longest a left body is read for, and the longest pause between two of its chunks
/// (nginx's `lingering_time` and `lingering_timeout` are 30 s and 5 s). A client that announced
/// more than it sends is answered after one pause.
const DRAIN_FOR: Duration = Duration::from_secs(30);
const DRAIN_PAUSE: Duration = Duration::from_secs(2);

/// Where a request body dropped unfinished is left for the middleware.
type Left = Arc<Mutex<Option<Body>>>;

/// Middleware (outermost): runs the request, then reads whatever its body still holds.
pub async fn drain_unread_body(req: Request, next: Next) -> Response {
    // A client that waits for `100 Continue` sends nothing after a refusal; reading its body
    // would ask it for the upload the refusal spares it.
    if req.body().is_end_stream() || req.headers().contains_key(EXPECT) {
        return next.run(req).await;
    }
    let left = Left::default();
    let (parts, body) = req.into_parts();
    let tracked = Tracked {
        inner: Some(body),
        finished: false,
        left: left.clone(),
    };
    let mut response = next
        .run(Request::from_parts(parts, Body::new(tracked)))
        .await;
    let unread = left.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(body) = unread {
        if !drain(body).await {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response
}

/// Reads `body` to its end; false when it did not end in time (the connection is then closed).
async fn drain(mut body: Body) -> bool {
    let until = Instant::now() + DRAIN_FOR;
    loop {
        let wait = until
            .saturating_duration_since(Instant::now())
            .min(DRAIN_PAUSE);
        match tokio::time::timeout(wait, body.frame()).await {
            Ok(None) => return true,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Err(_) => return false,
        }
    }
}

/// A request body that, dropped before its end, leaves itself in `left`.
struct Tracked {
    inner: Option<Body>,
    finished: bool,
    left: Left,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        // An error ends the body too: nothing more can be read from it.
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map(|b| b.size_hint())
            .unwrap_or_else(|| SizeHint::with_exact(0))
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.is_end_stream() {
            if let Some(body) = self.inner.take() {
                *self.left.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;

    async fn refuse(_: Request) -> &'static str {
        "refused"
    }

    async fn read(req: Request) -> String {
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .unwrap();
        bytes.len().to_string()
    }

    /// A body the handler never read is read to its end before the answer goes out; one it read
    /// is left alone.
    #[tokio::test]
    async fn a_refused_body_is_read_before_the_answer() {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route("/refuse", post(refuse))
            .route("/read", post(read))
            .layer(axum::middleware::from_fn(drain_unread_body));
        // A sender that fails (panics) if the body is dropped before all its chunks were taken.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::convert::Infallible>>(1);
        let body = Body::from_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        let sender = tokio::spawn(async move {
            for _ in 0..5 {
                tx.send(Ok(Bytes::from_static(b"0123456789")))
                    .await
                    .unwrap();
            }
        });
        let req = Request::post("/refuse").body(body).unwrap();
        let response = app.clone().oneshot(req).await.unwrap();
        // Every chunk was taken (the sender finished), and the connection may stay open.
        sender.await.unwrap();
        assert!(response.headers().get(CONNECTION).is_none());

        let response = app
            .oneshot(Request::post("/read").body(Body::from("abc")).unwrap())
            .await
            .unwrap();
        let text = axum::body::to_bytes(response.into_body(), 100)
            .await
            .unwrap();
        assert_eq!(&text[..], b"3");
    }
}
