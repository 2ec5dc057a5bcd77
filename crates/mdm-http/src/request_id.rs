//! A request id and a log line for every HTTP request.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use futures_util::future::BoxFuture;
use http::Request;
use mdm_service::RequestId;
use tower::{Layer, Service};
use tracing::Instrument;

/// Gives each request a [`RequestId`] (in its extensions; an id already there is kept), runs it
/// in a `tracing` span `http` carrying the id, method and path (and, for device requests, the
/// enrollment id and message type), and logs its status and duration when it completes.
///
/// The MDM handlers pass the id on to the service, so the service's logs and the webhook's
/// `event_id` carry the same id. Like NanoMDM's trace id it is never sent to the client.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestLogLayer;

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLog { inner }
    }
}

/// The service [`RequestLogLayer`] produces.
#[derive(Clone, Debug)]
pub struct RequestLog<S> {
    inner: S,
}

impl<S> Service<Request<Body>> for RequestLog<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let id = request
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::random);
        request.extensions_mut().insert(id.clone());
        // The path is recorded with `?` (quoted, control characters escaped), so that it cannot
        // start a log line of its own whatever the subscriber. (A method is a token: no
        // control characters.)
        let span = tracing::info_span!(
            "http",
            request_id = %id,
            method = %request.method(),
            path = ?crate::target::path(request.uri(), request.extensions()),
            // Filled in by the device endpoints once the body is decoded.
            enrollment_id = tracing::field::Empty,
            message_type = tracing::field::Empty,
        );
        let endpoint = endpoint(&crate::target::path(request.uri(), request.extensions()));
        let method = method_label(request.method());
        let start = Instant::now();
        let future = self.inner.call(request);
        Box::pin(
            async move {
                let response = future.await;
                if let Ok(response) = &response {
                    let elapsed = start.elapsed();
                    tracing::info!(
                        status = response.status().as_u16(),
                        elapsed = ?elapsed,
                        "request"
                    );
                    metrics::counter!(
                        "http_requests_total",
                        "endpoint" => endpoint,
                        "method" => method,
                        "status" => status_class(response.status().as_u16()),
                    )
                    .increment(1);
                    metrics::histogram!("http_request_duration_seconds", "endpoint" => endpoint)
                        .record(elapsed.as_secs_f64());
                }
                response
            }
            .instrument(span),
        )
    }
}

/// The endpoint a path is for, as a metrics label from a closed set: enrollment ids and other
/// path parameters never become labels.
fn endpoint(path: &str) -> &'static str {
    const PREFIXES: &[&str] = &["/v1/enqueue/", "/v1/push/", "/v1/commands/", "/authproxy/"];
    const EXACT: &[&str] = &[
        "/mdm",
        "/checkin",
        "/v1/pushcert",
        "/v1/escrowkeyunlock",
        "/migration",
        "/version",
        "/metrics",
    ];
    PREFIXES
        .iter()
        .find(|p| path.starts_with(**p))
        .or_else(|| EXACT.iter().find(|e| path == **e))
        .copied()
        .unwrap_or("other")
}

fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::PUT => "PUT",
        http::Method::POST => "POST",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    const EXACT: &[(u16, &str)] = &[
        (200, "200"),
        (301, "301"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (408, "408"),
        (410, "410"),
        (413, "413"),
        (500, "500"),
        (503, "503"),
    ];
    if let Some((_, label)) = EXACT.iter().find(|(code, _)| *code == status) {
        return label;
    }
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
